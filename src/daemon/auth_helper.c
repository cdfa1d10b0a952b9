/* auth_helper.c - tern-auth, ternd's PAM helper for the web console's
 * login (src/api/console.c).  ternd writes "USER\0PASSWORD\0" on fd 3 and
 * reads the answer from the exit status: 10 admin (member of tern-admin),
 * 11 viewer (of tern-viewer), 1 refused (any cause: wrong user or
 * password, account refused, in neither group), 2 a usage error.  It runs
 * PAM service "tern" (/etc/pam.d/tern); PAM may sleep (a failure delay),
 * which is why this is a child and not ternd's loop.  Never prints or
 * keeps the password beyond PAM's conversation. */
#include <grp.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AUTH_ADMIN 10
#define AUTH_VIEWER 11
#define AUTH_REFUSED 1
#define AUTH_USAGE 2

static char input[4096 + 2];

static int
conv(int n, const struct pam_message **msg, struct pam_response **resp,
    void *data)
{
	struct pam_response *r = calloc((size_t)n, sizeof(*r));

	if (!r)
		return PAM_BUF_ERR;
	for (int i = 0; i < n; i++) {
		if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF ||
		    msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
			r[i].resp = strdup(data);
			if (!r[i].resp) {
				free(r);
				return PAM_BUF_ERR;
			}
		}
	}
	*resp = r;
	return PAM_SUCCESS;
}

static bool
pam_ok(const char *user, const char *password)
{
	struct pam_conv c = { conv, (void *)password };
	pam_handle_t *ph = NULL;
	int r = pam_start("tern", user, &c, &ph);

	if (r == PAM_SUCCESS)
		r = pam_authenticate(ph, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
	if (r == PAM_SUCCESS)
		r = pam_acct_mgmt(ph, PAM_SILENT);
	if (ph)
		pam_end(ph, r);
	return r == PAM_SUCCESS;
}

static bool
in_group(const char *user, gid_t base, const char *group)
{
	struct group *g = getgrnam(group);
	gid_t gids[1024];
	int n = 1024;

	if (!g)
		return false;
	if (getgrouplist(user, base, gids, &n) == -1)
		return false;
	for (int i = 0; i < n; i++)
		if (gids[i] == g->gr_gid)
			return true;
	return false;
}

int
main(void)
{
	size_t len = 0;
	ssize_t n;
	const char *user, *pw;
	struct passwd *p;
	int rc;

	while (len < sizeof(input) - 1 &&
	    (n = read(3, input + len, sizeof(input) - 1 - len)) > 0)
		len += (size_t)n;
	close(3);
	user = input;
	if (len == 0 || strlen(user) + 1 >= len)
		return AUTH_USAGE;
	pw = user + strlen(user) + 1;
	if (!pam_ok(user, pw)) {
		rc = AUTH_REFUSED;
	} else if (!(p = getpwnam(user))) {
		rc = AUTH_REFUSED;
	} else {
		rc = in_group(user, p->pw_gid, "tern-admin") ? AUTH_ADMIN :
		    in_group(user, p->pw_gid, "tern-viewer") ? AUTH_VIEWER :
		    AUTH_REFUSED;
	}
	explicit_bzero(input, sizeof(input));
	return rc;
}
