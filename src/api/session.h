/* session.h - the web console's browser sessions, login rate limits and
 * the access decision for a request, all pure (no I/O but getrandom, time
 * passed in) so that tests/unit/test_session.c drives every rule.  Never
 * keeps or logs a password; ids and CSRF tokens are compared in constant
 * time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SESSION_MAX 1000
#define SESSION_IDLE_MS (30ULL * 60 * 1000)
#define SESSION_MAX_AGE_MS (12ULL * 3600 * 1000)
#define SESSION_HEX 64			/* 256 bits as hex */
#define SESSION_COOKIE "tern_session"
#define SESSION_MAX_BODY 4096		/* a login body */
#define SESSION_USER_MAX 64		/* a user name's bytes */

enum session_role { ROLE_VIEWER, ROLE_ADMIN, ROLE__COUNT };
const char *session_role_name(enum session_role r);

/* Invariant: id and csrf are SESSION_HEX lower-case hex digits; used_ms
 * >= created_ms. */
struct session {
	char id[SESSION_HEX + 1];
	char csrf[SESSION_HEX + 1];
	char user[SESSION_USER_MAX + 1];
	enum session_role role;
	uint64_t created_ms, used_ms;	/* monotonic */
};

/* Invariant: n <= SESSION_MAX; v in creation order (oldest first). */
struct session_store {
	struct session *v;
	size_t n;
};

/* A new session for user with role, made at now_ms (the oldest dropped
 * when SESSION_MAX live).  Returned pointer valid until the next call on
 * st.  -EIO when the kernel gives no random bytes. */
int session_new(struct session_store *st, const char *user,
    enum session_role role, uint64_t now_ms, struct session **ret);
/* The live session with this id (compared in constant time), its idle
 * time restarted; NULL when none, expired (then dropped) or id is not
 * SESSION_HEX hex digits. */
struct session *session_find(struct session_store *st, const char *id,
    uint64_t now_ms);
/* Whether a live session has this id, its idle time left as it is (a
 * stream asks this: an open page is not a user's action). */
bool session_alive(struct session_store *st, const char *id,
    uint64_t now_ms);
/* Forget the session with this id (if any). */
void session_drop(struct session_store *st, const char *id);
void session_store_done(struct session_store *st);
/* Equal strings, in time that depends only on their lengths. */
bool session_token_eq(const char *a, const char *b);

/* The value of cookie name in a Cookie header (copied into out, at most
 * outsz - 1 bytes), or false when absent or too long. */
bool session_cookie_get(const char *header, const char *name, char *out,
    size_t outsz);
/* A login body {"user":"NAME","password":"PW"}: user a valid Unix name
 * (letters, digits, . _ -, not starting with -, at most
 * SESSION_USER_MAX), password 1..1024 bytes with no NUL.  Copies both;
 * -EINVAL (err says what is wrong) otherwise, -E2BIG over
 * SESSION_MAX_BODY.  The fuzz target drives it. */
int session_login_parse(const char *body, size_t len, char *user,
    size_t usz, char *password, size_t psz, struct err *err);

/*
 * Login rate limits: the failures of one key ("a:ADDR" or "u:NAME") in a
 * sliding window; more than RATE_MAX_FAILS failures in RATE_WINDOW_MS and
 * the key is refused until the oldest counted one is RATE_WINDOW_MS old.
 * At most RATE_MAX_KEYS keys (the stalest dropped).
 */
#define RATE_MAX_FAILS 5
#define RATE_WINDOW_MS 60000ULL
#define RATE_MAX_KEYS 4096

struct rate_entry {
	char key[96];
	uint64_t fails[RATE_MAX_FAILS];	/* ring of failure times */
	unsigned n, head;
};

struct rate_limiter {
	struct rate_entry *v;
	size_t n;
};

/* 0 when key may try now, else the seconds to wait (>= 1). */
unsigned rate_check(struct rate_limiter *rl, const char *key,
    uint64_t now_ms);
void rate_fail(struct rate_limiter *rl, const char *key, uint64_t now_ms);
/* A success forgets the key's failures. */
void rate_clear(struct rate_limiter *rl, const char *key);
void rate_limiter_done(struct rate_limiter *rl);

/*
 * Who may call what on the HTTPS listener (CONSOLE-CONTRACT.md).  The
 * caller says what it knows; the answer is what to do.
 */
enum access {
	ACCESS_OK,		/* route it */
	ACCESS_STATIC,		/* a file of www-dir */
	ACCESS_LOGIN,		/* POST/GET /v1/session: no session needed */
	ACCESS_UNTRUSTED,	/* 403: the certificate is not trusted */
	ACCESS_HOST_ONLY,	/* 403: a path for tern hosts only */
	ACCESS_NO_SESSION,	/* 401 code session */
	ACCESS_CSRF,		/* 403 code csrf */
	ACCESS_VIEWER,		/* 403 code forbidden: viewer acting */
	ACCESS__COUNT
};

struct access_in {
	const char *method;
	const char *path;	/* without the query */
	bool local;		/* the root-only unix socket */
	bool cert_trusted;	/* a trusted client certificate */
	bool cert_sent;		/* any client certificate */
	bool has_session;	/* a live session cookie */
	enum session_role role;
	bool csrf_ok;		/* X-CSRF-Token equals the session's */
	bool origin_ok;		/* Origin is https://HOST (ws_origin_ok) */
};

enum access access_decide(const struct access_in *in);
/* GET /v1/vms/NAME/vnc (a WebSocket: no CSRF header, and it types into
 * the VM): a session needs the admin role and an Origin of this host. */
bool access_is_vnc(const char *path);
/* The path a forwarded request asks of a peer: "/v1/x" of
 * "/v1/hosts/NAME/v1/x" ("" when there is none); path itself otherwise. */
const char *access_inner_path(const char *path);
/* Paths only another tern host calls (certificate only). */
bool access_host_only(const char *method, const char *path);
