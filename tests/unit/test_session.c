/* test_session.c - the web console's pure rules (src/api/session.c,
 * www.c): sessions (ids, expiry, the cap), login rate limits, the access
 * decision table (roles, CSRF, host-only paths), cookie and login body
 * parsing, static file paths. */
#include <errno.h>
#include <stdlib.h>

#include "session.h"
#include "ws.h"
#include "test.h"
#include "www.h"

#define MIN_MS 60000ULL

static void
test_session_new_find(void)
{
	struct session_store st = { 0 };
	struct session *s, *f;
	char id[SESSION_HEX + 1], csrf[SESSION_HEX + 1];

	ASSERT_EQ(session_new(&st, "ann", ROLE_ADMIN, 1000, &s), 0);
	ASSERT_EQ(strlen(s->id), SESSION_HEX);
	ASSERT_EQ(strlen(s->csrf), SESSION_HEX);
	ASSERT_TRUE(strcmp(s->id, s->csrf) != 0);
	strcpy(id, s->id);
	strcpy(csrf, s->csrf);
	f = session_find(&st, id, 2000);
	ASSERT_TRUE(f != NULL);
	ASSERT_STREQ(f->user, "ann");
	ASSERT_STREQ(f->csrf, csrf);
	ASSERT_EQ(f->role, ROLE_ADMIN);
	id[0] = id[0] == 'a' ? 'b' : 'a';	/* forged: one digit off */
	ASSERT_TRUE(session_find(&st, id, 2000) == NULL);
	ASSERT_TRUE(session_find(&st, "short", 2000) == NULL);
	ASSERT_TRUE(session_find(&st, NULL, 2000) == NULL);
	session_store_done(&st);
}

static void
test_session_idle_and_max_age(void)
{
	struct session_store st = { 0 };
	struct session *s;
	char id[SESSION_HEX + 1];
	uint64_t t = 1000;

	ASSERT_EQ(session_new(&st, "ann", ROLE_VIEWER, t, &s), 0);
	strcpy(id, s->id);
	/* used every 29 minutes: alive until 12 h */
	while (t + 29 * MIN_MS < 1000 + SESSION_MAX_AGE_MS) {
		t += 29 * MIN_MS;
		ASSERT_TRUE(session_find(&st, id, t) != NULL);
	}
	ASSERT_TRUE(session_find(&st, id, 1000 + SESSION_MAX_AGE_MS) == NULL);
	ASSERT_EQ(st.n, 0);
	ASSERT_EQ(session_new(&st, "bob", ROLE_VIEWER, t, &s), 0);
	strcpy(id, s->id);
	ASSERT_TRUE(session_find(&st, id, t + SESSION_IDLE_MS - 1) != NULL);
	ASSERT_TRUE(session_find(&st, id, t + 2 * SESSION_IDLE_MS) == NULL);
	session_store_done(&st);
}

static void
test_session_cap_and_drop(void)
{
	struct session_store st = { 0 };
	struct session *s;
	char first[SESSION_HEX + 1], last[SESSION_HEX + 1];

	for (int i = 0; i <= SESSION_MAX; i++) {
		ASSERT_EQ(session_new(&st, "u", ROLE_VIEWER, 1000 + i, &s), 0);
		if (i == 0)
			strcpy(first, s->id);
		strcpy(last, s->id);
	}
	ASSERT_EQ(st.n, SESSION_MAX);
	ASSERT_TRUE(session_find(&st, first, 5000) == NULL);	/* oldest */
	ASSERT_TRUE(session_find(&st, last, 5000) != NULL);
	ASSERT_TRUE(session_alive(&st, last, 5000));
	ASSERT_TRUE(!session_alive(&st, last, 5000 + SESSION_IDLE_MS));
	session_drop(&st, last);
	ASSERT_TRUE(!session_alive(&st, last, 5000));
	ASSERT_TRUE(session_find(&st, last, 5000) == NULL);
	ASSERT_EQ(st.n, SESSION_MAX - 1);
	session_store_done(&st);
}

static void
test_token_eq(void)
{
	ASSERT_TRUE(session_token_eq("abc", "abc"));
	ASSERT_TRUE(!session_token_eq("abc", "abd"));
	ASSERT_TRUE(!session_token_eq("abc", "ab"));
	ASSERT_TRUE(!session_token_eq("", "a"));
}

static void
test_rate_limit(void)
{
	struct rate_limiter rl = { 0 };
	uint64_t t = 100000;

	for (int i = 0; i < RATE_MAX_FAILS; i++) {
		ASSERT_EQ(rate_check(&rl, "a:10.0.0.1", t + i), 0);
		rate_fail(&rl, "a:10.0.0.1", t + i);
	}
	/* the sixth try in the window is refused */
	ASSERT_EQ(rate_check(&rl, "a:10.0.0.1", t + 10), 60);
	ASSERT_EQ(rate_check(&rl, "a:10.0.0.1", t + 30000), 30);
	ASSERT_EQ(rate_check(&rl, "a:10.0.0.2", t + 10), 0);
	ASSERT_EQ(rate_check(&rl, "u:ann", t + 10), 0);
	/* the oldest failure leaves the window: one more try */
	ASSERT_EQ(rate_check(&rl, "a:10.0.0.1", t + RATE_WINDOW_MS), 0);
	rate_fail(&rl, "a:10.0.0.1", t + RATE_WINDOW_MS);
	ASSERT_TRUE(rate_check(&rl, "a:10.0.0.1", t + RATE_WINDOW_MS) > 0);
	rate_clear(&rl, "a:10.0.0.1");
	ASSERT_EQ(rate_check(&rl, "a:10.0.0.1", t + RATE_WINDOW_MS), 0);
	rate_limiter_done(&rl);
}

static void
test_rate_limit_many_keys(void)
{
	struct rate_limiter rl = { 0 };
	char key[32];

	for (int i = 0; i < RATE_MAX_KEYS + 10; i++) {
		snprintf(key, sizeof(key), "u:x%d", i);
		rate_fail(&rl, key, 1000 + i);
	}
	ASSERT_EQ(rl.n, RATE_MAX_KEYS);
	for (int i = 0; i < RATE_MAX_FAILS; i++)
		rate_fail(&rl, "u:last", 90000);
	ASSERT_TRUE(rate_check(&rl, "u:last", 90001) > 0);
	rate_limiter_done(&rl);
}

static enum access
decide(const char *method, const char *path, int who, bool csrf)
{
	/* who: 0 nobody, 1 viewer session, 2 admin session, 3 trusted
	 * certificate, 4 local socket, 5 untrusted certificate */
	struct access_in in = { .method = method, .path = path,
		.local = who == 4, .cert_trusted = who == 3,
		.cert_sent = who == 3 || who == 5,
		.has_session = who == 1 || who == 2,
		.role = who == 2 ? ROLE_ADMIN : ROLE_VIEWER, .csrf_ok = csrf };

	return access_decide(&in);
}

static void
test_access_table(void)
{
	/* static files: anyone */
	ASSERT_EQ(decide("GET", "/", 0, false), ACCESS_STATIC);
	ASSERT_EQ(decide("GET", "/vms/g1", 0, false), ACCESS_STATIC);
	ASSERT_EQ(decide("GET", "/assets/a.js", 3, false), ACCESS_STATIC);
	/* login is open, the rest needs a session */
	ASSERT_EQ(decide("POST", "/v1/session", 0, false), ACCESS_LOGIN);
	ASSERT_EQ(decide("GET", "/v1/session", 0, false), ACCESS_LOGIN);
	ASSERT_EQ(decide("DELETE", "/v1/session", 0, false),
	    ACCESS_NO_SESSION);
	ASSERT_EQ(decide("GET", "/v1/vms", 0, false), ACCESS_NO_SESSION);
	ASSERT_EQ(decide("GET", "/v1/vms", 5, false), ACCESS_UNTRUSTED);
	ASSERT_EQ(decide("GET", "/metrics", 0, false), ACCESS_UNTRUSTED);
	/* viewer: reads only */
	ASSERT_EQ(decide("GET", "/v1/vms", 1, false), ACCESS_OK);
	ASSERT_EQ(decide("GET", "/v1/stream", 1, false), ACCESS_OK);
	ASSERT_EQ(decide("POST", "/v1/vms/g1/start", 1, true), ACCESS_VIEWER);
	ASSERT_EQ(decide("DELETE", "/v1/session", 1, true), ACCESS_OK);
	/* CSRF on every non-GET with a session */
	ASSERT_EQ(decide("POST", "/v1/vms/g1/start", 2, false), ACCESS_CSRF);
	ASSERT_EQ(decide("POST", "/v1/vms/g1/start", 1, false), ACCESS_CSRF);
	ASSERT_EQ(decide("DELETE", "/v1/session", 2, false), ACCESS_CSRF);
	ASSERT_EQ(decide("POST", "/v1/vms/g1/start", 2, true), ACCESS_OK);
	ASSERT_EQ(decide("POST", "/v1/hosts/h2/v1/vms/g1/start", 2, true),
	    ACCESS_OK);
	ASSERT_EQ(decide("POST", "/v1/hosts/h2/v1/vms/g1/start", 1, true),
	    ACCESS_VIEWER);
	/* certificates and the local socket: everything, no CSRF */
	ASSERT_EQ(decide("POST", "/v1/vms/g1/start", 3, false), ACCESS_OK);
	ASSERT_EQ(decide("POST", "/v1/migrations", 3, false), ACCESS_OK);
	ASSERT_EQ(decide("POST", "/v1/migrations", 4, false), ACCESS_OK);
	ASSERT_EQ(decide("GET", "/metrics", 3, false), ACCESS_OK);
}

static enum access
decide_vnc(const char *path, int who, bool origin)
{
	struct access_in in = { .method = "GET", .path = path,
		.local = who == 4, .cert_trusted = who == 3,
		.has_session = who == 1 || who == 2,
		.role = who == 2 ? ROLE_ADMIN : ROLE_VIEWER,
		.origin_ok = origin };

	return access_decide(&in);
}

/* The VNC WebSocket types into the VM: admin sessions only, and (no CSRF
 * header possible) only from a page of this host. */
static void
test_access_vnc(void)
{
	ASSERT_TRUE(access_is_vnc("/v1/vms/g1/vnc"));
	ASSERT_TRUE(!access_is_vnc("/v1/vms/vnc"));
	ASSERT_TRUE(!access_is_vnc("/v1/vms/g1/vnc/x"));
	ASSERT_TRUE(!access_is_vnc("/v1/vms/g1/screenshot"));
	ASSERT_EQ(decide_vnc("/v1/vms/g1/vnc", 2, true), ACCESS_OK);
	ASSERT_EQ(decide_vnc("/v1/vms/g1/vnc", 2, false), ACCESS_CSRF);
	ASSERT_EQ(decide_vnc("/v1/vms/g1/vnc", 1, true), ACCESS_VIEWER);
	ASSERT_EQ(decide_vnc("/v1/vms/g1/vnc", 0, true), ACCESS_NO_SESSION);
	ASSERT_EQ(decide_vnc("/v1/hosts/h2/v1/vms/g1/vnc", 1, true),
	    ACCESS_VIEWER);
	ASSERT_EQ(decide_vnc("/v1/vms/g1/vnc", 3, false), ACCESS_OK);
	ASSERT_EQ(decide_vnc("/v1/vms/g1/vnc", 4, false), ACCESS_OK);
	/* a viewer still sees the screenshot */
	ASSERT_EQ(decide_vnc("/v1/vms/g1/screenshot", 1, false), ACCESS_OK);
}

static void
test_ws_handshake(void)
{
	struct ws_request rq = { .method = "GET", .upgrade = "websocket",
		.connection = "keep-alive, Upgrade", .version = "13",
		.key = "dGhlIHNhbXBsZSBub25jZQ==", .protocol = "binary" };
	char out[WS_ACCEPT_LEN];
	struct err e = { 0 };

	/* RFC 6455 section 1.3's example */
	ASSERT_EQ(ws_upgrade_check(&rq, out, &e), 0);
	ASSERT_STREQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	rq.protocol = NULL;
	ASSERT_EQ(ws_upgrade_check(&rq, out, NULL), 0);
	rq.protocol = "base64";
	ASSERT_EQ(ws_upgrade_check(&rq, out, &e), -EINVAL);
	ASSERT_TRUE(strstr(e.msg, "binary") != NULL);
	rq.protocol = "binary";
	rq.key = "short==";
	ASSERT_EQ(ws_upgrade_check(&rq, out, NULL), -EINVAL);
	rq.key = "dGhlIHNhbXBsZSBub25jZQ!=";
	ASSERT_EQ(ws_upgrade_check(&rq, out, NULL), -EINVAL);
	rq.key = "dGhlIHNhbXBsZSBub25jZQ==";
	rq.version = "8";
	ASSERT_EQ(ws_upgrade_check(&rq, out, NULL), -EINVAL);
	rq.version = "13";
	rq.connection = "keep-alive";
	ASSERT_EQ(ws_upgrade_check(&rq, out, NULL), -EINVAL);
	rq.connection = "upgrade";
	rq.method = "POST";
	ASSERT_EQ(ws_upgrade_check(&rq, out, NULL), -EINVAL);
	ASSERT_TRUE(ws_list_has(" a ,Binary ", "binary"));
	ASSERT_TRUE(!ws_list_has("binaryx", "binary"));
	ASSERT_TRUE(!ws_list_has(NULL, "binary"));
	ASSERT_TRUE(ws_origin_ok("https://h1:8443", "H1:8443"));
	ASSERT_TRUE(!ws_origin_ok("http://h1:8443", "h1:8443"));
	ASSERT_TRUE(!ws_origin_ok("https://evil", "h1:8443"));
	ASSERT_TRUE(!ws_origin_ok(NULL, "h1"));
	ASSERT_TRUE(!ws_origin_ok("https://", ""));
}

static void
test_access_host_only(void)
{
	static const char *const host_only[][2] = {
		{ "POST", "/v1/migrations" },
		{ "POST", "/v1/migrations/5/commit" },
		{ "PUT", "/v1/replica/server" },
		{ "POST", "/v1/replica/vms" },
		{ "GET", "/v1/replica/deltas/a/b/c" },
		{ "POST", "/v1/replications/u/failed-over" },
		{ "POST", "/v1/replications/u/replica-moved" },
		{ "POST", "/v1/cluster/join" },
		{ "POST", "/v1/cluster/state" },
		{ "GET", "/v1/link-probe/1000" },
		{ "POST", "/v1/hosts/h2/v1/migrations" },
	};
	static const char *const operator[][2] = {
		{ "GET", "/v1/replica/server" },
		{ "GET", "/v1/replications" },
		{ "POST", "/v1/cluster/nodes" },
		{ "POST", "/v1/cluster/nodes/h2/drain" },
		{ "POST", "/v1/cluster/validate" },
		{ "POST", "/v1/cluster" },
		{ "GET", "/v1/cluster/vms" },
		{ "POST", "/v1/vms/g1/replication/drill" },
	};

	for (size_t i = 0; i < sizeof(host_only) / sizeof(host_only[0]); i++) {
		ASSERT_EQ(decide(host_only[i][0], host_only[i][1], 2, true),
		    ACCESS_HOST_ONLY);
		ASSERT_EQ(decide(host_only[i][0], host_only[i][1], 0, false),
		    ACCESS_HOST_ONLY);
	}
	for (size_t i = 0; i < sizeof(operator) / sizeof(operator[0]); i++)
		ASSERT_EQ(decide(operator[i][0], operator[i][1], 2, true),
		    ACCESS_OK);
}

static void
test_cookie_get(void)
{
	char v[SESSION_HEX + 1];

	ASSERT_TRUE(session_cookie_get("tern_session=abc", SESSION_COOKIE, v,
	    sizeof(v)));
	ASSERT_STREQ(v, "abc");
	ASSERT_TRUE(session_cookie_get("a=1; tern_session=xyz; b=2",
	    SESSION_COOKIE, v, sizeof(v)));
	ASSERT_STREQ(v, "xyz");
	ASSERT_TRUE(!session_cookie_get("xtern_session=abc", SESSION_COOKIE, v,
	    sizeof(v)));
	ASSERT_TRUE(!session_cookie_get("a=1", SESSION_COOKIE, v, sizeof(v)));
	ASSERT_TRUE(!session_cookie_get("", SESSION_COOKIE, v, sizeof(v)));
	ASSERT_TRUE(!session_cookie_get("tern_session=", SESSION_COOKIE, v,
	    1) || v[0] == '\0');
}

static void
test_login_parse(void)
{
	char u[SESSION_USER_MAX + 1], p[1025];
	struct err e = { 0 };
	const char *ok = "{\"user\":\"ann\",\"password\":\"pw 1\"}";
	char big[SESSION_MAX_BODY + 2];

	ASSERT_EQ(session_login_parse(ok, strlen(ok), u, sizeof(u), p,
	    sizeof(p), &e), 0);
	ASSERT_STREQ(u, "ann");
	ASSERT_STREQ(p, "pw 1");
	ASSERT_EQ(session_login_parse("{\"user\":\"-x\",\"password\":\"p\"}",
	    30, u, sizeof(u), p, sizeof(p), &e), -EINVAL);
	ASSERT_EQ(session_login_parse("{\"user\":\"a b\",\"password\":\"p\"}",
	    31, u, sizeof(u), p, sizeof(p), &e), -EINVAL);
	ASSERT_EQ(session_login_parse("{\"user\":\"a\",\"password\":\"\"}",
	    27, u, sizeof(u), p, sizeof(p), &e), -EINVAL);
	ASSERT_EQ(session_login_parse("{\"user\":\"a\"}", 12, u, sizeof(u), p,
	    sizeof(p), &e), -EINVAL);
	ASSERT_EQ(session_login_parse("{\"user\":\"a\",\"password\":\"x\","
	    "\"role\":\"admin\"}", 41, u, sizeof(u), p, sizeof(p), &e),
	    -EINVAL);
	ASSERT_EQ(session_login_parse("not json", 8, u, sizeof(u), p,
	    sizeof(p), &e), -EINVAL);
	memset(big, ' ', sizeof(big));
	ASSERT_EQ(session_login_parse(big, sizeof(big), u, sizeof(u), p,
	    sizeof(p), &e), -E2BIG);
}

static void
test_www_path(void)
{
	char out[64];

	ASSERT_EQ(www_path("/", out, sizeof(out)), 0);
	ASSERT_STREQ(out, "");
	ASSERT_EQ(www_path("/assets/app-1a2b.js", out, sizeof(out)), 0);
	ASSERT_STREQ(out, "assets/app-1a2b.js");
	ASSERT_EQ(www_path("/vms/", out, sizeof(out)), 0);
	ASSERT_STREQ(out, "vms");
	ASSERT_EQ(www_path("/../etc/passwd", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("/assets/../../x", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("/a/..", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("/./x", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("//etc/passwd", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("/a\\..\\b", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("/a\nb", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("x", out, sizeof(out)), -EINVAL);
	ASSERT_EQ(www_path("/..a/b..", out, sizeof(out)), 0);
	ASSERT_EQ(www_path("/0123456789012345678901234567890123456789"
	    "012345678901234567890123456789", out, sizeof(out)),
	    -ENAMETOOLONG);
}

static void
test_www_types_routes(void)
{
	ASSERT_STREQ(www_content_type("index.html"),
	    "text/html; charset=utf-8");
	ASSERT_STREQ(www_content_type("assets/a.js"),
	    "text/javascript; charset=utf-8");
	ASSERT_STREQ(www_content_type("assets/a.css"),
	    "text/css; charset=utf-8");
	ASSERT_STREQ(www_content_type("logo.svg"), "image/svg+xml");
	ASSERT_STREQ(www_content_type("x"), "application/octet-stream");
	ASSERT_TRUE(www_is_route("vms/g1"));
	ASSERT_TRUE(www_is_route("hosts"));
	ASSERT_TRUE(!www_is_route("assets/missing.js"));
	ASSERT_TRUE(!www_is_route("favicon.ico"));
}

int
main(void)
{
	RUN_TEST(test_session_new_find);
	RUN_TEST(test_session_idle_and_max_age);
	RUN_TEST(test_session_cap_and_drop);
	RUN_TEST(test_token_eq);
	RUN_TEST(test_rate_limit);
	RUN_TEST(test_rate_limit_many_keys);
	RUN_TEST(test_access_table);
	RUN_TEST(test_access_host_only);
	RUN_TEST(test_access_vnc);
	RUN_TEST(test_ws_handshake);
	RUN_TEST(test_cookie_get);
	RUN_TEST(test_login_parse);
	RUN_TEST(test_www_path);
	RUN_TEST(test_www_types_routes);
	return TEST_REPORT();
}
