/* console.c - the web console's side of the HTTPS listener: who may call
 * what (session.c decides, this file answers), login through the PAM
 * helper tern-auth in a watched child (PAM may sleep: never in the loop),
 * sessions, and the static files of www-dir.  Never logs or keeps a
 * password: it goes down a pipe to the helper and is wiped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "ws.h"
#include "child.h"
#include "fsutil.h"
#include "log.h"
#include "util.h"
#include "www.h"

#define LOGIN_TIMEOUT_MS 15000
#define PAM_SERVICE_FILE "/etc/pam.d/tern"
/* tern-auth's exit codes (src/daemon/auth_helper.c) */
#define AUTH_ADMIN 10
#define AUTH_VIEWER 11

struct api_login {
	struct api *a;
	struct http_req *req;
	struct child *child;
	struct loop_timer *timeout;
	char user[SESSION_USER_MAX + 1];
	char addr[64];
};

static const char login_failed[] = "login failed: wrong user name or "
    "password, or not a member of tern-admin or tern-viewer";

static void
reply_session(struct http_req *req, const struct session *s)
{
	http_reply_json(req, 200, json_pack("{ss ss ss sI}", "user", s->user,
	    "role", session_role_name(s->role), "csrf", s->csrf,
	    "idle_timeout_s", (json_int_t)(SESSION_IDLE_MS / 1000)));
}

static void
login_forget(struct api_login *l)
{
	struct api *a = l->a;

	for (size_t i = 0; i < a->n_logins; i++)
		if (a->logins[i] == l) {
			a->logins[i] = a->logins[--a->n_logins];
			break;
		}
	l->timeout = loop_timer_cancel(a->h->loop, l->timeout);
	l->child = child_free(l->child);
	free(l);
}

static void
login_answer(struct api_login *l, int status)
{
	struct api *a = l->a;
	char ka[96], ku[96];
	struct session *s;
	char cookie[160];

	snprintf(ka, sizeof(ka), "a:%s", l->addr);
	snprintf(ku, sizeof(ku), "u:%s", l->user);
	if (status != AUTH_ADMIN && status != AUTH_VIEWER) {
		rate_fail(&a->rate, ka, now_ms());
		rate_fail(&a->rate, ku, now_ms());
		log_info("console login failed user='%s' addr=%s", l->user,
		    l->addr);
		api_reply_error_code(l->req, 401, "login_failed", login_failed);
		return;
	}
	if (session_new(&a->sessions, l->user, status == AUTH_ADMIN ?
	    ROLE_ADMIN : ROLE_VIEWER, now_ms(), &s) < 0) {
		api_reply_error_code(l->req, 500, "internal",
		    "cannot draw a session id: try again");
		return;
	}
	rate_clear(&a->rate, ka);
	rate_clear(&a->rate, ku);
	snprintf(cookie, sizeof(cookie), SESSION_COOKIE "=%s; Path=/; Secure; "
	    "HttpOnly; SameSite=Strict", s->id);
	http_req_add_header(l->req, "Set-Cookie", cookie);
	log_info("console login user='%s' role=%s addr=%s", s->user,
	    session_role_name(s->role), l->addr);
	reply_session(l->req, s);
}

static void
login_on_exit(struct child *c, int status, void *data)
{
	struct api_login *l = data;

	(void)c;
	login_answer(l, status);
	login_forget(l);
}

static void
login_on_timeout(struct loop *lp, void *data)
{
	struct api_login *l = data;

	(void)lp;
	l->timeout = NULL;
	api_reply_error_code(l->req, 503, "not_yet", "the login check "
	    "(PAM) did not answer in time: try again");
	login_forget(l);
}

/* Start tern-auth with "USER\0PASSWORD\0" on its fd 3 (a pipe, written
 * whole before it starts: 4 KiB fit in a pipe's buffer). */
static int
login_spawn(struct api *a, struct api_login *l, const char *password,
    struct err *e)
{
	_cleanup_free_ char *helper = helper_exe_path("tern-auth");
	const char *argv[] = { helper, NULL };
	struct child_opts o = { .argv = argv, .n_keep_fds = 1,
		.die_with_parent = true };
	int p[2], r;
	size_t ul = strlen(l->user) + 1, pl = strlen(password) + 1;

	if (pipe2(p, O_CLOEXEC) == -1)
		return err_setf_errno(e, -errno, "cannot make a pipe");
	if (write(p[1], l->user, ul) != (ssize_t)ul ||
	    write(p[1], password, pl) != (ssize_t)pl) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return err_setf_errno(e, r, "cannot write to the login pipe");
	}
	close(p[1]);
	o.keep_fds = &p[0];
	r = child_spawn(a->h->loop, &o, login_on_exit, l, &l->child);
	close(p[0]);
	if (r < 0)
		return err_setf_errno(e, r, "cannot start '%s'", helper);
	return 0;
}

static int
session_login(struct api *a, struct http_req *req, struct err *e)
{
	char user[SESSION_USER_MAX + 1], pw[1025], ka[96], ku[96], ra[16];
	struct api_login *l;
	unsigned wait;
	int r;

	if (req->too_large || req->body_len > SESSION_MAX_BODY)
		return err_set(e, -E2BIG, "login body is over %d bytes",
		    SESSION_MAX_BODY);
	r = session_login_parse(req->body, req->body_len, user, sizeof(user),
	    pw, sizeof(pw), e);
	if (req->body)
		explicit_bzero(req->body, req->body_len);
	if (r < 0)
		return r;
	snprintf(ka, sizeof(ka), "a:%s", req->client_addr);
	snprintf(ku, sizeof(ku), "u:%s", user);
	wait = MAX(rate_check(&a->rate, ka, now_ms()),
	    rate_check(&a->rate, ku, now_ms()));
	if (wait > 0) {
		explicit_bzero(pw, sizeof(pw));
		snprintf(ra, sizeof(ra), "%u", wait);
		http_req_add_header(req, "Retry-After", ra);
		api_reply_error_code(req, 429, "rate_limited", "too many "
		    "failed logins: wait before trying again");
		return 0;
	}
	if (a->n_logins >= API_MAX_LOGINS) {
		explicit_bzero(pw, sizeof(pw));
		return err_set(e, -EAGAIN, "too many logins at once: try "
		    "again");
	}
	l = xzalloc(sizeof(*l));
	*l = (struct api_login){ .a = a, .req = req };
	snprintf(l->user, sizeof(l->user), "%s", user);
	snprintf(l->addr, sizeof(l->addr), "%s", req->client_addr);
	r = login_spawn(a, l, pw, e);
	explicit_bzero(pw, sizeof(pw));
	if (r < 0) {
		free(l);
		return r;
	}
	a->logins = xrealloc(a->logins, (a->n_logins + 1) *
	    sizeof(*a->logins));
	a->logins[a->n_logins++] = l;
	l->timeout = loop_timer_add(a->h->loop, LOGIN_TIMEOUT_MS,
	    login_on_timeout, l);
	http_req_defer(req);
	return 0;
}

static void
reply_no_session(struct http_req *req)
{
	api_reply_error_code(req, 401, "session", "not logged in or the "
	    "session expired: log in again");
}

/* GET, POST (login), DELETE (logout) /v1/session */
int
api_session(struct api *a, struct http_req *req, char **p, struct err *e)
{
	(void)p;
	if (streq(req->method, "POST"))
		return session_login(a, req, e);
	if (!a->cur) {
		reply_no_session(req);
		return 0;
	}
	if (streq(req->method, "GET")) {
		reply_session(req, a->cur);
		return 0;
	}
	log_info("console logout user='%s'", a->cur->user);
	session_drop(&a->sessions, a->cur->id);
	a->cur = NULL;
	http_req_add_header(req, "Set-Cookie", SESSION_COOKIE "=; Path=/; "
	    "Secure; HttpOnly; SameSite=Strict; Max-Age=0");
	http_reply_empty(req, 204);
	return 0;
}

/* The live session of req's cookie into a->cur (NULL: none). */
static void
gate_session(struct api *a, struct http_req *req)
{
	const char *cookie = http_req_header(req, "Cookie");
	char id[SESSION_HEX + 1];

	a->cur = NULL;
	if (req->tls && cookie && session_cookie_get(cookie, SESSION_COOKIE,
	    id, sizeof(id)))
		a->cur = session_find(&a->sessions, id, now_ms());
}

static void
reply_untrusted(struct http_req *req)
{
	bool scrape = streq(req->url, "/metrics");
	char msg[300];

	snprintf(msg, sizeof(msg), "client certificate %s is not trusted by "
	    "this host: add it with 'tern peer add'%s",
	    req->has_peer_fp ? req->peer_fp : "(none sent)", scrape ?
	    ", or send 'Authorization: Bearer TOKEN' with the token in "
	    "ternd's metrics-token-file (docs/metrics.md)" : "");
	api_reply_error_code(req, scrape ? 401 : 403, scrape ? "unauthorized" :
	    "forbidden", msg);
}

bool
api_console_gate(struct api *a, struct http_req *req)
{
	const char *tok = http_req_header(req, "X-CSRF-Token");
	struct access_in in = { .method = req->method, .path = req->url,
		.local = !req->tls, .cert_sent = req->has_peer_fp };

	gate_session(a, req);
	in.cert_trusted = req->tls && req->has_peer_fp && api_trusted(a, req);
	in.has_session = a->cur != NULL;
	in.role = a->cur ? a->cur->role : ROLE_VIEWER;
	in.csrf_ok = a->cur && tok && session_token_eq(tok, a->cur->csrf);
	in.origin_ok = ws_origin_ok(http_req_header(req, "Origin"),
	    http_req_header(req, "Host"));
	switch (access_decide(&in)) {
	case ACCESS_OK:
	case ACCESS_LOGIN:
		return true;
	case ACCESS_STATIC:
		www_serve(a->h->cfg.www_dir, req);
		break;
	case ACCESS_UNTRUSTED:
		reply_untrusted(req);
		break;
	case ACCESS_HOST_ONLY:
		api_reply_error_code(req, 403, "forbidden",
		    "this path is for tern hosts only");
		break;
	case ACCESS_NO_SESSION:
		reply_no_session(req);
		break;
	case ACCESS_CSRF:
		api_reply_error_code(req, 403, "csrf", "missing or wrong "
		    "CSRF token: reload the page");
		break;
	default:
		api_reply_error_code(req, 403, "forbidden", "the viewer role "
		    "cannot act: ask a member of tern-admin");
		break;
	}
	a->cur = NULL;
	return false;
}

void
api_console_check(struct api *a)
{
	_cleanup_free_ char *helper = helper_exe_path("tern-auth");
	_cleanup_free_ char *index = xasprintf("%s/index.html",
	    a->h->cfg.www_dir);

	if (access(PAM_SERVICE_FILE, R_OK) != 0)
		log_warn("web console logins will fail: no PAM service file "
		    "'" PAM_SERVICE_FILE "' (install packaging/pam.d/tern "
		    "there), ignoring");
	if (access(helper, X_OK) != 0)
		log_warn("web console logins will fail: no login helper "
		    "'%s', ignoring", helper);
	if (access(index, R_OK) != 0)
		log_info("web console not installed: no '%s'", index);
}

void
api_console_stop(struct api *a)
{
	while (a->n_logins > 0) {
		struct api_login *l = a->logins[0];

		api_reply_error_code(l->req, 503, "not_yet",
		    "ternd is stopping");
		login_forget(l);
	}
	free(a->logins);
	a->logins = NULL;
	session_store_done(&a->sessions);
	rate_limiter_done(&a->rate);
}
