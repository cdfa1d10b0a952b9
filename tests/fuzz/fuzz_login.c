/* fuzz_login.c - fuzz what the web console reads from a browser before
 * any login: the login body parser, the Cookie header parser, the static
 * file path check and the access decision.  Input: the first line is a
 * Cookie header and a URL path (split at the first space), the rest the
 * login body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "www.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *nl, *sp;
	char user[SESSION_USER_MAX + 1], pw[1025], v[SESSION_HEX + 1];
	char path[256];
	struct access_in in = { .method = "POST" };

	memcpy(buf, data, size);
	buf[size] = '\0';
	(void)session_login_parse(buf, size, user, sizeof(user), pw,
	    sizeof(pw), NULL);
	nl = strchr(buf, '\n');
	if (nl) {
		*nl = '\0';
		sp = strchr(buf, ' ');
		if (sp)
			*sp = '\0';
		(void)session_cookie_get(buf, SESSION_COOKIE, v, sizeof(v));
		if (sp) {
			(void)www_path(sp + 1, path, sizeof(path));
			in.path = sp + 1;
			(void)access_decide(&in);
			(void)access_inner_path(sp + 1);
		}
		(void)session_login_parse(nl + 1, size - (size_t)(nl + 1 - buf),
		    user, sizeof(user), pw, sizeof(pw), NULL);
	}
	free(buf);
	return 0;
}
