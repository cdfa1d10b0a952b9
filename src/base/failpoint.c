/* failpoint.c - parse TERN_FAILPOINT once and answer checks.  Used only by
 * tests; must cost nothing when the variable is unset. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "log.h"
#include "util.h"

enum failpoint_action
failpoint_check(const char *name, uint64_t *ret_ms)
{
	const char *spec = getenv("TERN_FAILPOINT");
	size_t n = strlen(name);

	if (!spec || !*spec)
		return FP_NONE;
	for (const char *p = spec; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
		if (strncmp(p, name, n) != 0 || p[n] != '=')
			continue;
		p += n + 1;
		log_msg(LOG_LVL_WARN, "failpoint=%s hit", name);
		if (strncmp(p, "kill", 4) == 0) {
			kill(getpid(), SIGKILL);
			pause();
		}
		if (strncmp(p, "delay:", 6) == 0) {
			if (ret_ms)
				*ret_ms = strtoull(p + 6, NULL, 10);
			return FP_DELAY;
		}
		return FP_FAIL;
	}
	return FP_NONE;
}
