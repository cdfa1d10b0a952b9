/* session.c - browser sessions, login rate limits and the access decision
 * (session.h).  Pure but for getrandom(); never logs, never keeps a
 * password. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "jsonutil.h"
#include "session.h"
#include "util.h"

const char *
session_role_name(enum session_role r)
{
	return r == ROLE_ADMIN ? "admin" : "viewer";
}

bool
session_token_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;

	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

static bool
is_hex_token(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!strchr("0123456789abcdef", s[n]))
			return false;
	return n == SESSION_HEX;
}

static int
random_hex(char out[SESSION_HEX + 1])
{
	uint8_t b[SESSION_HEX / 2];
	size_t done = 0;

	while (done < sizeof(b)) {
		ssize_t n = getrandom(b + done, sizeof(b) - done, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		done += (size_t)n;
	}
	hex_encode(b, sizeof(b), out);
	explicit_bzero(b, sizeof(b));
	return 0;
}

static void
session_remove_at(struct session_store *st, size_t i)
{
	explicit_bzero(&st->v[i], sizeof(st->v[i]));
	memmove(&st->v[i], &st->v[i + 1], (st->n - i - 1) * sizeof(*st->v));
	st->n--;
}

static bool
session_expired(const struct session *s, uint64_t now_ms)
{
	return now_ms - s->used_ms >= SESSION_IDLE_MS ||
	    now_ms - s->created_ms >= SESSION_MAX_AGE_MS;
}

int
session_new(struct session_store *st, const char *user,
    enum session_role role, uint64_t now_ms, struct session **ret)
{
	struct session s = { .role = role, .created_ms = now_ms,
		.used_ms = now_ms };

	if (random_hex(s.id) < 0 || random_hex(s.csrf) < 0)
		return -EIO;
	snprintf(s.user, sizeof(s.user), "%s", user);
	for (size_t i = st->n; i-- > 0;)
		if (session_expired(&st->v[i], now_ms))
			session_remove_at(st, i);
	if (st->n == SESSION_MAX)
		session_remove_at(st, 0);	/* the oldest */
	if (!st->v)
		st->v = xmalloc(SESSION_MAX * sizeof(*st->v));
	st->v[st->n] = s;
	*ret = &st->v[st->n++];
	explicit_bzero(&s, sizeof(s));
	return 0;
}

struct session *
session_find(struct session_store *st, const char *id, uint64_t now_ms)
{
	struct session *hit = NULL;
	size_t at = 0;

	if (!id || !is_hex_token(id))
		return NULL;
	/* every session compared: the time says nothing of which matched */
	for (size_t i = 0; i < st->n; i++)
		if (session_token_eq(st->v[i].id, id)) {
			hit = &st->v[i];
			at = i;
		}
	if (!hit)
		return NULL;
	if (session_expired(hit, now_ms)) {
		session_remove_at(st, at);
		return NULL;
	}
	hit->used_ms = now_ms;
	return hit;
}

bool
session_alive(struct session_store *st, const char *id, uint64_t now_ms)
{
	bool alive = false;

	for (size_t i = 0; id && i < st->n; i++)
		if (session_token_eq(st->v[i].id, id))
			alive = !session_expired(&st->v[i], now_ms);
	return alive;
}

void
session_drop(struct session_store *st, const char *id)
{
	for (size_t i = 0; id && i < st->n; i++)
		if (session_token_eq(st->v[i].id, id)) {
			session_remove_at(st, i);
			return;
		}
}

void
session_store_done(struct session_store *st)
{
	if (st->v)
		explicit_bzero(st->v, st->n * sizeof(*st->v));
	free(st->v);
	*st = (struct session_store){ 0 };
}

bool
session_cookie_get(const char *header, const char *name, char *out,
    size_t outsz)
{
	size_t nl = strlen(name);
	const char *p = header;

	while (p && *p) {
		const char *end;
		size_t vl;

		p += strspn(p, " \t;");
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 &&
		    p[nl] == '=') {
			vl = (size_t)(end - p) - nl - 1;
			while (vl > 0 && strchr(" \t", p[nl + vl]))
				vl--;
			if (vl >= outsz)
				return false;
			memcpy(out, p + nl + 1, vl);
			out[vl] = '\0';
			return true;
		}
		p = *end ? end + 1 : end;
	}
	return false;
}

static bool
user_name_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > SESSION_USER_MAX || u[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", u[i]))
			return false;
	return true;
}

int
session_login_parse(const char *body, size_t len, char *user, size_t usz,
    char *password, size_t psz, struct err *err)
{
	static const char *const fields[] = { "user", "password", NULL };
	_cleanup_json_ json_t *o = NULL;
	const char *u = NULL, *pw = NULL;
	size_t pl;
	int r;

	if (len > SESSION_MAX_BODY)
		return err_set(err, -E2BIG, "login body is over %d bytes",
		    SESSION_MAX_BODY);
	if ((r = json_parse_object(body ? body : "{}", body ? len : 2, &o,
	    err)) < 0 ||
	    (r = json_check_fields(o, fields, "login", err)) < 0 ||
	    (r = json_get_str(o, "user", true, &u, err)) < 0 ||
	    (r = json_get_str(o, "password", true, &pw, err)) < 0)
		return r;
	pl = json_string_length(json_object_get(o, "password"));
	if (!user_name_ok(u) || strlen(u) >= usz)
		return err_set(err, -EINVAL, "user must be a Unix user name "
		    "(letters, digits, '.', '_', '-', at most %d)",
		    SESSION_USER_MAX);
	if (pl == 0 || pl > 1024 || pl >= psz || strlen(pw) != pl)
		return err_set(err, -EINVAL, "password must be 1 to 1024 "
		    "bytes without NUL");
	strcpy(user, u);
	memcpy(password, pw, pl + 1);
	/* jansson's copy of the password goes with o: wipe it first */
	explicit_bzero((char *)pw, pl);
	return 0;
}

/* ---- rate limits ---- */

static struct rate_entry *
rate_find(struct rate_limiter *rl, const char *key)
{
	for (size_t i = 0; i < rl->n; i++)
		if (streq(rl->v[i].key, key))
			return &rl->v[i];
	return NULL;
}

/* The failures of e still inside the window. */
static unsigned
rate_live(const struct rate_entry *e, uint64_t now_ms, uint64_t *oldest)
{
	unsigned live = 0;

	*oldest = UINT64_MAX;
	for (unsigned i = 0; i < e->n; i++)
		if (now_ms - e->fails[i] < RATE_WINDOW_MS) {
			live++;
			*oldest = MIN(*oldest, e->fails[i]);
		}
	return live;
}

unsigned
rate_check(struct rate_limiter *rl, const char *key, uint64_t now_ms)
{
	struct rate_entry *e = rate_find(rl, key);
	uint64_t oldest;

	if (!e || rate_live(e, now_ms, &oldest) < RATE_MAX_FAILS)
		return 0;
	return (unsigned)((oldest + RATE_WINDOW_MS - now_ms + 999) / 1000);
}

/* An entry for key: a new one, or when full the one whose last failure
 * is the oldest (reused). */
static struct rate_entry *
rate_slot(struct rate_limiter *rl, const char *key)
{
	struct rate_entry *e = rate_find(rl, key);
	size_t stale = 0;
	uint64_t best = UINT64_MAX;

	if (e)
		return e;
	if (!rl->v)
		rl->v = xmalloc(RATE_MAX_KEYS * sizeof(*rl->v));
	if (rl->n < RATE_MAX_KEYS) {
		stale = rl->n++;
	} else {
		for (size_t i = 0; i < rl->n; i++) {
			struct rate_entry *x = &rl->v[i];
			uint64_t last = x->n ? x->fails[(x->head +
			    RATE_MAX_FAILS - 1) % RATE_MAX_FAILS] : 0;

			if (last < best) {
				best = last;
				stale = i;
			}
		}
	}
	e = &rl->v[stale];
	*e = (struct rate_entry){ 0 };
	snprintf(e->key, sizeof(e->key), "%s", key);
	return e;
}

void
rate_fail(struct rate_limiter *rl, const char *key, uint64_t now_ms)
{
	struct rate_entry *e = rate_slot(rl, key);

	e->fails[e->head] = now_ms;
	e->head = (e->head + 1) % RATE_MAX_FAILS;
	if (e->n < RATE_MAX_FAILS)
		e->n++;
}

void
rate_clear(struct rate_limiter *rl, const char *key)
{
	struct rate_entry *e = rate_find(rl, key);

	if (e)
		e->n = 0;
}

void
rate_limiter_done(struct rate_limiter *rl)
{
	free(rl->v);
	*rl = (struct rate_limiter){ 0 };
}

/* ---- the access decision ---- */

static bool
prefix_is(const char *path, const char *prefix)
{
	return strncmp(path, prefix, strlen(prefix)) == 0;
}

/* The 2nd path segment after /v1/cluster/ when it is a peer message. */
static bool
cluster_peer_message(const char *method, const char *path)
{
	static const char *const ops[] = { "nodes", "settings", "balance",
		"maintain", "maintenance", "validate", "facts", "vms", NULL };
	const char *rest = path + strlen("/v1/cluster/");

	if (!streq(method, "POST"))
		return false;
	for (size_t i = 0; ops[i]; i++) {
		size_t n = strlen(ops[i]);

		if (strncmp(rest, ops[i], n) == 0 &&
		    (rest[n] == '\0' || rest[n] == '/'))
			return false;
	}
	return true;
}

bool
access_host_only(const char *method, const char *path)
{
	const char *slash;

	if (streq(path, "/v1/migrations") || prefix_is(path, "/v1/migrations/"))
		return true;
	if (prefix_is(path, "/v1/replica/"))
		return !(streq(method, "GET") &&
		    streq(path, "/v1/replica/server"));
	if (prefix_is(path, "/v1/link-probe/"))
		return true;
	if (prefix_is(path, "/v1/cluster/"))
		return cluster_peer_message(method, path);
	if (prefix_is(path, "/v1/replications/")) {
		slash = strrchr(path, '/');
		return streq(slash, "/failed-over") ||
		    streq(slash, "/replica-moved");
	}
	return false;
}

const char *
access_inner_path(const char *path)
{
	const char *p;

	if (!prefix_is(path, "/v1/hosts/"))
		return path;
	p = strchr(path + strlen("/v1/hosts/"), '/');
	return p ? p : "";
}

static bool
is_api_path(const char *path)
{
	return streq(path, "/v1") || prefix_is(path, "/v1/") ||
	    streq(path, "/metrics") || prefix_is(path, "/metrics/");
}

bool
access_is_vnc(const char *path)
{
	const char *name, *slash;

	if (!prefix_is(path, "/v1/vms/"))
		return false;
	name = path + strlen("/v1/vms/");
	slash = strchr(name, '/');
	return slash && slash > name && streq(slash, "/vnc");
}

enum access
access_decide(const struct access_in *in)
{
	bool get = streq(in->method, "GET") || streq(in->method, "HEAD");

	if (!is_api_path(in->path))
		return get && !in->local ? ACCESS_STATIC : ACCESS_OK;
	if (in->local || in->cert_trusted)
		return ACCESS_OK;
	if (!prefix_is(in->path, "/v1/"))
		return ACCESS_UNTRUSTED;	/* /metrics */
	if (streq(in->path, "/v1/session") && (streq(in->method, "POST") ||
	    streq(in->method, "GET")))
		return ACCESS_LOGIN;
	if (access_host_only(in->method, in->path) ||
	    access_host_only(in->method, access_inner_path(in->path)))
		return in->cert_sent ? ACCESS_UNTRUSTED : ACCESS_HOST_ONLY;
	if (!in->has_session)
		return in->cert_sent ? ACCESS_UNTRUSTED : ACCESS_NO_SESSION;
	if (access_is_vnc(in->path) || access_is_vnc(access_inner_path(
	    in->path))) {
		if (!in->origin_ok)
			return ACCESS_CSRF;
		return in->role == ROLE_ADMIN ? ACCESS_OK : ACCESS_VIEWER;
	}
	if (streq(in->method, "GET"))
		return ACCESS_OK;
	if (!in->csrf_ok)
		return ACCESS_CSRF;
	if (in->role != ROLE_ADMIN && !streq(in->path, "/v1/session"))
		return ACCESS_VIEWER;
	return ACCESS_OK;
}
