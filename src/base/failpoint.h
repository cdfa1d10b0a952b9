/* failpoint.h - fault injection for tests.  TERN_FAILPOINT="name=action,..."
 * where action is "kill" (SIGKILL this process right there), "fail" (the
 * caller fails the step with -EIO) or "delay:MS" (the caller waits MS).
 * Unset in production: then every check is one branch. */
#pragma once

#include <stdint.h>

enum failpoint_action { FP_NONE, FP_FAIL, FP_DELAY };

/* Check failpoint name.  Never returns for "kill".  For "delay:MS" sets
 * *ret_ms (if not NULL).  */
enum failpoint_action failpoint_check(const char *name, uint64_t *ret_ms);
