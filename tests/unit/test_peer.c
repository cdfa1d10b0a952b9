/* test_peer.c - unit tests for src/peer against the real HTTPS server of
 * src/api/http.c (http_server_start_tls) in the same loop, with identities
 * made by src/api/tls.c in a temporary directory.  The server's handler is
 * the test's own (no struct host), except that /v1/link-probe/ goes through
 * api.c's route table to api_link_probe(). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "http.h"
#include "jsonutil.h"
#include "peer.h"
#include "test.h"
#include "tls.h"
#include "util.h"

#define MIB (1024 * 1024)

static struct {
	struct loop *l;
	struct http_server *srv;
	struct peer_client *pc;
	char dir[64];
	char url[64];
	char srv_fp[TLS_FP_LEN], cli_fp[TLS_FP_LEN];
	char *srv_key, *srv_crt, *cli_key, *cli_crt;
	int hits;			/* requests the server saw */
} fx;

/* What a callback saw; the hooks make it act from inside the callback. */
struct reply {
	int n;
	long status;
	json_t *body;
	struct err e;
	uint64_t bytes, usec;
	struct peer_call *cancel;	/* cancel this one */
	struct peer_call *self;		/* cancel the call that fired */
	struct peer_client **free_pc;	/* free this client */
	struct reply *chain;		/* start GET /echo into this */
};

static void
reply_done(struct reply *r)
{
	json_decref(r->body);
	r->body = NULL;
}

static void on_reply(long status, json_t *body, const struct err *e,
    void *data);

static void
reply_hooks(struct reply *r)
{
	r->cancel = peer_call_cancel(r->cancel);
	r->self = peer_call_cancel(r->self);
	if (r->free_pc)
		*r->free_pc = peer_client_free(*r->free_pc);
	if (r->chain && peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/echo",
	    NULL, 5000, on_reply, r->chain, NULL) < 0)
		r->chain->n = -1;
}

static void
on_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct reply *r = data;

	r->n++;
	r->status = status;
	r->body = json_incref(body);
	if (e)
		r->e = *e;
	reply_hooks(r);
}

static void
on_measure(uint64_t bytes, uint64_t usec, const struct err *e, void *data)
{
	struct reply *r = data;

	r->n++;
	r->bytes = bytes;
	r->usec = usec;
	if (e)
		r->e = *e;
}

static bool
run_until(const int *n, int want, uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (*n < want && now_ms() < end)
		loop_run_once(fx.l, 20);
	return *n >= want;
}

static void
run_for(uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		loop_run_once(fx.l, 20);
}

static void
srv_link_probe(struct http_req *req)
{
	_cleanup_free_ char *url = xstrdup(req->url);
	char *params[API_MAX_SEGS] = { 0 };
	struct err e = { 0 };
	bool found;
	api_fn fn = api_route_find(req->method, url, params, &found);
	int r = fn ? fn(NULL, req, params, &e) : -ENOENT;

	if (r < 0)
		http_reply_json(req, api_status_of(r), json_pack("{s{ss}}",
		    "error", "message", e.msg));
}

static void
srv_big(struct http_req *req)
{
	size_t n = 5 * MIB;
	_cleanup_free_ char *s = xmalloc(n + 3);

	memset(s, 'a', n + 2);
	s[0] = s[n + 1] = '"';
	s[n + 2] = '\0';
	http_reply_text(req, 200, "application/json", s);
}

static void
srv_echo(struct http_req *req)
{
	json_t *body = req->body ? json_loads(req->body, 0, NULL) : NULL;

	http_reply_json(req, 200, json_pack("{ss so* ss}", "method",
	    req->method, "body", body, "peer", req->has_peer_fp ?
	    req->peer_fp : "none"));
}

/* /ws: a WebSocket upgrade whose bytes are echoed (the frames do not
 * matter to a tunnel), the one connection at a time. */
static struct {
	struct http_upgrade *up;
	int fd;
} ws_srv;

static void
srv_ws_io(struct loop *l, int fd, uint32_t events, void *data)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), 0);

	(void)events;
	(void)data;
	if (n > 0 && send(fd, buf, (size_t)n, MSG_NOSIGNAL) == n)
		return;
	if (n == -1 && errno == EAGAIN)
		return;
	loop_del_fd(l, fd);
	http_upgrade_close(ws_srv.up);
	ws_srv.up = NULL;
}

static void
srv_ws_upgraded(struct http_upgrade *up, int fd, const char *extra,
    size_t n_extra, void *data)
{
	(void)data;
	if (fd < 0)
		return;
	ws_srv.up = up;
	ws_srv.fd = fd;
	if (n_extra > 0)
		(void)!send(fd, extra, n_extra, MSG_NOSIGNAL);
	(void)loop_add_fd(fx.l, fd, EPOLLIN, srv_ws_io, NULL);
	(void)!send(fd, "hello", 5, MSG_NOSIGNAL);	/* a banner */
}

static void
srv_ws(struct http_req *req)
{
	static const char *const hdrs[] = { "Upgrade", "websocket",
		"Sec-WebSocket-Accept", "x", NULL };

	http_reply_upgrade(req, hdrs, srv_ws_upgraded, NULL);
}

/* /echo: {method, body, peer}; /text: not JSON; /big: 5 MiB of JSON;
 * /v1/link-probe/N: the real handler; else 404 as the API says it. */
static void
srv_handle(struct http_req *req, void *ud)
{
	(void)ud;
	fx.hits++;
	if (strncmp(req->url, "/v1/link-probe/", 15) == 0)
		srv_link_probe(req);
	else if (streq(req->url, "/text"))
		http_reply_text(req, 200, "text/plain", "hello");
	else if (streq(req->url, "/big"))
		srv_big(req);
	else if (streq(req->url, "/echo"))
		srv_echo(req);
	else if (streq(req->url, "/ws"))
		srv_ws(req);
	else
		http_reply_json(req, 404, json_pack("{s{ss}}", "error",
		    "message", "no such thing here"));
}

/* A TCP port on 127.0.0.1 nobody listens on (for now). */
static int
free_port(int *ret_fd, bool listening)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1 ||
	    (listening && listen(fd, 4) == -1))
		abort();
	if (ret_fd)
		*ret_fd = fd;
	else
		close(fd);
	return ntohs(sa.sin_port);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static void
test_bad_arguments(void)
{
	struct reply r = { 0 };

	ASSERT_EQ(peer_call(fx.pc, "http://127.0.0.1:1", fx.srv_fp, "GET",
	    "/echo", json_object(), 1000, on_reply, &r, NULL), -EINVAL);
	ASSERT_EQ(peer_call(fx.pc, fx.url, "sha256:12", "GET", "/echo", NULL,
	    1000, on_reply, &r, NULL), -EINVAL);
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "get", "/echo", NULL,
	    1000, on_reply, &r, NULL), -EINVAL);
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/a b\r\nX: y",
	    NULL, 1000, on_reply, &r, NULL), -EINVAL);
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/echo", NULL, 0,
	    on_reply, &r, NULL), -EINVAL);
	ASSERT_EQ(peer_measure(fx.pc, fx.url, fx.srv_fp, 0, 1000, on_measure,
	    &r, NULL), -EINVAL);
	ASSERT_EQ(peer_measure(fx.pc, fx.url, fx.srv_fp,
	    PEER_MEASURE_MAX_BYTES + 1, 1000, on_measure, &r, NULL), -EINVAL);
	run_for(50);
	ASSERT_EQ(r.n, 0);
}

static void
test_get_and_post(void)
{
	struct reply g = { 0 }, p = { 0 }, t = { 0 }, nf = { 0 };

	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/echo", NULL,
	    5000, on_reply, &g, NULL), 0);
	ASSERT_EQ(g.n, 0);	/* never from inside peer_call() */
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "POST", "/echo",
	    json_pack("{si ss}", "a", 1, "s", "x"), 5000, on_reply, &p, NULL),
	    0);
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/text", NULL,
	    5000, on_reply, &t, NULL), 0);
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "DELETE", "/nothing",
	    NULL, 5000, on_reply, &nf, NULL), 0);
	ASSERT_TRUE(run_until(&g.n, 1, 5000) && run_until(&p.n, 1, 5000) &&
	    run_until(&t.n, 1, 5000) && run_until(&nf.n, 1, 5000));
	ASSERT_EQ(g.e.code, 0);
	ASSERT_EQ(g.status, 200);
	ASSERT_STREQ(json_string_value(json_object_get(g.body, "method")),
	    "GET");
	/* the server saw this host's identity, from the in-memory PEM */
	ASSERT_STREQ(json_string_value(json_object_get(g.body, "peer")),
	    fx.cli_fp);
	ASSERT_EQ(p.status, 200);
	ASSERT_STREQ(json_string_value(json_object_get(p.body, "method")),
	    "POST");
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(p.body,
	    "body"), "a")), 1);
	ASSERT_EQ(t.status, 200);
	ASSERT_TRUE(t.body == NULL && t.e.code == 0);
	ASSERT_EQ(nf.status, 404);
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(
	    nf.body, "error"), "message")), "no such thing here");
	reply_done(&g);
	reply_done(&p);
	reply_done(&t);
	reply_done(&nf);
}

/* Also after a good call, so a cached connection must not carry the
 * wrong pin through. */
static void
test_wrong_pin(void)
{
	struct reply ok = { 0 }, bad = { 0 };
	int hits;

	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/echo", NULL,
	    5000, on_reply, &ok, NULL), 0);
	ASSERT_TRUE(run_until(&ok.n, 1, 5000));
	ASSERT_EQ(ok.status, 200);
	hits = fx.hits;
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.cli_fp, "GET", "/echo", NULL,
	    5000, on_reply, &bad, NULL), 0);
	ASSERT_TRUE(run_until(&bad.n, 1, 5000));
	ASSERT_EQ(bad.status, 0);
	ASSERT_TRUE(bad.body == NULL);
	ASSERT_EQ(bad.e.code, -EKEYREJECTED);
	ASSERT_CONTAINS(bad.e.msg, "does not match the pinned fingerprint");
	ASSERT_CONTAINS(bad.e.msg, fx.cli_fp);
	ASSERT_EQ(fx.hits, hits);	/* nothing was sent */
	reply_done(&ok);
}

static void
test_connection_refused(void)
{
	struct reply r = { 0 };
	char url[64], want[128];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", free_port(NULL,
	    false));
	snprintf(want, sizeof(want), "cannot reach %s: Connection refused",
	    url);
	ASSERT_EQ(peer_call(fx.pc, url, fx.srv_fp, "GET", "/echo", NULL,
	    5000, on_reply, &r, NULL), 0);
	ASSERT_TRUE(run_until(&r.n, 1, 5000));
	ASSERT_EQ(r.status, 0);
	ASSERT_EQ(r.e.code, -ECONNREFUSED);
	ASSERT_STREQ(r.e.msg, want);
}

/* A server that accepts TCP (the kernel's backlog) but never speaks. */
static void
test_timeout(void)
{
	struct reply r = { 0 };
	char url[64];
	int fd, port = free_port(&fd, true);
	uint64_t t0 = now_ms(), took;

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	ASSERT_EQ(peer_call(fx.pc, url, fx.srv_fp, "GET", "/echo", NULL, 300,
	    on_reply, &r, NULL), 0);
	run_until(&r.n, 1, 5000);
	took = now_ms() - t0;
	close(fd);
	ASSERT_EQ(r.n, 1);
	ASSERT_EQ(r.e.code, -ETIMEDOUT);
	ASSERT_CONTAINS(r.e.msg, "timed out after 300 ms");
	ASSERT_TRUE(took >= 290 && took < 2000);
}

/* A callback cancels another call in flight, cancels itself (nothing
 * happens) and starts a new call, which completes. */
static void
test_cancel_in_callback(void)
{
	struct reply a = { 0 }, b = { 0 }, c = { 0 };
	struct peer_call *ca = NULL;
	char url[64];
	int fd, port = free_port(&fd, true);

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	ASSERT_EQ(peer_call(fx.pc, url, fx.srv_fp, "GET", "/echo", NULL,
	    5000, on_reply, &b, &a.cancel), 0);
	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/echo", NULL,
	    5000, on_reply, &a, &ca), 0);
	a.self = ca;
	a.chain = &c;
	ASSERT_TRUE(run_until(&a.n, 1, 5000));
	ASSERT_EQ(a.status, 200);
	ASSERT_TRUE(run_until(&c.n, 1, 5000));
	ASSERT_EQ(c.status, 200);
	run_for(100);
	close(fd);
	ASSERT_EQ(b.n, 0);
	ASSERT_EQ(a.n, 1);
	reply_done(&a);
	reply_done(&c);
}

/* Two calls time out in one curl action, so both are finished when the
 * first callback cancels the other: that one must never fire. */
static void
test_cancel_finished_in_callback(void)
{
	struct reply a = { 0 }, b = { 0 };
	char url[64];
	int fd, port = free_port(&fd, true);

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	ASSERT_EQ(peer_call(fx.pc, url, fx.srv_fp, "GET", "/echo", NULL, 200,
	    on_reply, &a, &b.cancel), 0);
	ASSERT_EQ(peer_call(fx.pc, url, fx.srv_fp, "GET", "/echo", NULL, 200,
	    on_reply, &b, &a.cancel), 0);
	run_for(50);
	usleep(300 * 1000);	/* the loop is late: both expire at once */
	run_for(300);
	close(fd);
	ASSERT_EQ(a.n + b.n, 1);
	ASSERT_EQ(a.n ? a.e.code : b.e.code, -ETIMEDOUT);
}

/* The first callback frees the client: no other callback runs, nothing
 * is left open. */
static void
test_free_in_callback(void)
{
	struct peer_client *pc;
	struct reply r[5] = { 0 }, hang = { 0 };
	int fds = count_fds(), fd, port = free_port(&fd, true), sum = 0;
	char url[64];

	snprintf(url, sizeof(url), "https://127.0.0.1:%d", port);
	ASSERT_EQ(peer_client_new(fx.l, fx.cli_key, fx.cli_crt, &pc, NULL), 0);
	ASSERT_EQ(peer_call(pc, url, fx.srv_fp, "GET", "/echo", NULL, 5000,
	    on_reply, &hang, NULL), 0);
	for (int i = 0; i < 5; i++) {
		r[i].free_pc = &pc;
		ASSERT_EQ(peer_call(pc, fx.url, fx.srv_fp, "GET", "/echo",
		    NULL, 5000, on_reply, &r[i], NULL), 0);
	}
	for (uint64_t end = now_ms() + 5000; pc && now_ms() < end;)
		loop_run_once(fx.l, 20);
	ASSERT_TRUE(pc == NULL);
	run_for(200);
	close(fd);
	for (int i = 0; i < 5; i++) {
		sum += r[i].n;
		reply_done(&r[i]);
	}
	ASSERT_EQ(sum, 1);
	ASSERT_EQ(hang.n, 0);
	ASSERT_EQ(count_fds(), fds);
}

static void
test_measure(void)
{
	struct reply m = { 0 }, one = { 0 }, bad = { 0 };
	char base[80];

	ASSERT_EQ(peer_measure(fx.pc, fx.url, fx.srv_fp, 8 * MIB, 20000,
	    on_measure, &m, NULL), 0);
	ASSERT_EQ(peer_measure(fx.pc, fx.url, fx.srv_fp, 1, 5000, on_measure,
	    &one, NULL), 0);
	/* a server answering an error: its message comes through */
	snprintf(base, sizeof(base), "%s/nowhere", fx.url);
	ASSERT_EQ(peer_measure(fx.pc, base, fx.srv_fp, 100, 5000, on_measure,
	    &bad, NULL), 0);
	ASSERT_TRUE(run_until(&m.n, 1, 20000) && run_until(&one.n, 1, 5000) &&
	    run_until(&bad.n, 1, 5000));
	ASSERT_EQ(m.e.code, 0);
	ASSERT_EQ(m.bytes, 8 * MIB);
	ASSERT_TRUE(m.usec > 0 && m.usec < 20 * 1000 * 1000);
	printf("# 8 MiB in %llu us over loopback TLS (%.0f MiB/s)\n",
	    (unsigned long long)m.usec, 8e6 / (double)m.usec);
	ASSERT_EQ(one.e.code, 0);
	ASSERT_EQ(one.bytes, 1);
	ASSERT_EQ(bad.e.code, -EPROTO);
	ASSERT_CONTAINS(bad.e.msg, "HTTP 404: no such thing here");
}

/* The server's checks of the probe size, through the route table. */
static void
test_link_probe_sizes(void)
{
	const char *bad[] = { "0", "-1", "12x", "1073741825",
		"99999999999999999999999", "+5" };
	struct reply r[ARRAY_SIZE(bad)] = { 0 };
	char path[64];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(path, sizeof(path), "/v1/link-probe/%s", bad[i]);
		ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", path,
		    NULL, 5000, on_reply, &r[i], NULL), 0);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_TRUE(run_until(&r[i].n, 1, 5000));
		ASSERT_EQ(r[i].status, 400);
		ASSERT_CONTAINS(json_string_value(json_object_get(
		    json_object_get(r[i].body, "error"), "message")),
		    "is not a number of bytes from 1 to 1073741824");
		reply_done(&r[i]);
	}
}

static void
test_big_reply(void)
{
	struct reply r = { 0 };

	ASSERT_EQ(peer_call(fx.pc, fx.url, fx.srv_fp, "GET", "/big", NULL,
	    5000, on_reply, &r, NULL), 0);
	ASSERT_TRUE(run_until(&r.n, 1, 5000));
	ASSERT_EQ(r.status, 0);
	ASSERT_EQ(r.e.code, -EFBIG);
	ASSERT_CONTAINS(r.e.msg, "is over 4 MiB");
}

/* 50 calls at once on a fresh client; all answer, and freeing the client
 * closes every connection it made. */
static void
test_many_in_flight(void)
{
	struct peer_client *pc;
	struct reply r[50] = { 0 };
	int fds, done = 0;

	/* the server closes test_big_reply's aborted connection (three fds
	 * since the TLS front: TCP, socketpair) a few loop turns after the
	 * client did: count from after that */
	run_for(200);
	fds = count_fds();
	ASSERT_EQ(peer_client_new(fx.l, fx.cli_key, fx.cli_crt, &pc, NULL), 0);
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		ASSERT_EQ(peer_call(pc, fx.url, fx.srv_fp, "POST", "/echo",
		    json_pack("{si}", "i", (int)i), 10000, on_reply, &r[i],
		    NULL), 0);
	for (uint64_t end = now_ms() + 10000; done < 50 && now_ms() < end;) {
		loop_run_once(fx.l, 20);
		done = 0;
		for (size_t i = 0; i < ARRAY_SIZE(r); i++)
			done += r[i].n;
	}
	ASSERT_EQ(done, 50);
	for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
		ASSERT_EQ(r[i].status, 200);
		ASSERT_EQ(json_integer_value(json_object_get(json_object_get(
		    r[i].body, "body"), "i")), (long long)i);
		reply_done(&r[i]);
	}
	ASSERT_TRUE(count_fds() > fds);	/* connections kept for reuse */
	pc = peer_client_free(pc);
	/* the server closes its ends once it sees ours closed */
	for (uint64_t end = now_ms() + 3000; count_fds() != fds &&
	    now_ms() < end;)
		loop_run_once(fx.l, 20);
	ASSERT_EQ(count_fds(), fds);
}

struct tunnel_seen {
	int n;
	long status;
	struct err e;
	struct peer_tunnel *t;
};

static void
on_tunnel(struct peer_tunnel *t, long status, const struct err *e,
    void *data)
{
	struct tunnel_seen *s = data;

	s->n++;
	s->status = status;
	s->t = status == 101 ? t : NULL;
	if (e)
		s->e = *e;
}

/* Read until want bytes came (or 5 s went by). */
static size_t
tunnel_read(struct peer_tunnel *t, char *buf, size_t want)
{
	uint64_t end = now_ms() + 5000;
	size_t got = 0;

	while (got < want && now_ms() < end) {
		ssize_t n = peer_tunnel_recv(t, buf + got, want - got);

		if (n > 0)
			got += (size_t)n;
		else if (n == -EAGAIN)
			loop_run_once(fx.l, 20);
		else
			break;
	}
	return got;
}

/* The upgrade over pinned mutual TLS, the peer's first bytes, bytes both
 * ways; a refusal with the server's message; a wrong pin. */
static void
test_tunnel(void)
{
	struct tunnel_seen ok = { 0 }, nf = { 0 }, bad = { 0 };
	char buf[64] = { 0 };
	int fds;

	ASSERT_EQ(peer_tunnel_open(fx.pc, fx.url, fx.srv_fp, "/ws", 5000,
	    on_tunnel, &ok, NULL), 0);
	ASSERT_EQ(peer_tunnel_open(fx.pc, fx.url, fx.srv_fp, "/nothing", 5000,
	    on_tunnel, &nf, NULL), 0);
	ASSERT_EQ(peer_tunnel_open(fx.pc, fx.url, fx.cli_fp, "/ws", 5000,
	    on_tunnel, &bad, NULL), 0);
	ASSERT_EQ(peer_tunnel_open(fx.pc, "http://x", fx.srv_fp, "/ws", 5000,
	    on_tunnel, &bad, NULL), -EINVAL);
	ASSERT_TRUE(run_until(&ok.n, 1, 5000) && run_until(&nf.n, 1, 5000) &&
	    run_until(&bad.n, 1, 5000));
	ASSERT_EQ(nf.status, 404);
	ASSERT_STREQ(nf.e.msg, "no such thing here");
	ASSERT_EQ(bad.status, 0);
	ASSERT_EQ(bad.e.code, -EKEYREJECTED);
	ASSERT_EQ(ok.status, 101);
	ASSERT_TRUE(ok.t != NULL && peer_tunnel_fd(ok.t) >= 0);
	ASSERT_EQ(tunnel_read(ok.t, buf, 5), 5);
	ASSERT_TRUE(memcmp(buf, "hello", 5) == 0);
	ASSERT_EQ(peer_tunnel_send(ok.t, "ping!", 5), 5);
	ASSERT_EQ(tunnel_read(ok.t, buf, 5), 5);
	ASSERT_TRUE(memcmp(buf, "ping!", 5) == 0);
	/* long after the connect phase, still open (curl forgot nothing) */
	run_for(200);
	ASSERT_EQ(peer_tunnel_send(ok.t, "again", 5), 5);
	ASSERT_EQ(tunnel_read(ok.t, buf, 5), 5);
	/* freeing closes the connection (its socket, in a multi of its
	 * own); whether MHD's TLS proxy tells the server at once is MHD's
	 * business, so the count of our fds is what is checked */
	fds = count_fds();
	ok.t = peer_tunnel_free(ok.t);
	ASSERT_TRUE(count_fds() < fds);
	if (ws_srv.up) {
		loop_del_fd(fx.l, ws_srv.fd);
		http_upgrade_close(ws_srv.up);
		ws_srv.up = NULL;
	}
}

static void
on_bytes(long status, const char *ct, const void *body, size_t len,
    const struct err *e, void *data)
{
	struct reply *r = data;

	(void)e;
	r->n++;
	r->status = status;
	r->bytes = len;
	if (ct && len == 5 && memcmp(body, "hello", 5) == 0 &&
	    streq(ct, "text/plain"))
		r->usec = 1;	/* body and type as sent */
}

static void
test_get_bytes(void)
{
	struct reply r = { 0 };

	ASSERT_EQ(peer_get_bytes(fx.pc, fx.url, fx.srv_fp, "/text", 5000,
	    on_bytes, &r, NULL), 0);
	ASSERT_TRUE(run_until(&r.n, 1, 5000));
	ASSERT_EQ(r.status, 200);
	ASSERT_EQ(r.usec, 1);
}

static int
setup(void)
{
	_cleanup_free_ char *sd = NULL, *cd = NULL;
	char listen[64];
	struct err e = { 0 };
	int r;

	snprintf(fx.dir, sizeof(fx.dir), "/tmp/test_peer.XXXXXX");
	if (!mkdtemp(fx.dir) || loop_new(&fx.l) < 0)
		return -1;
	sd = xasprintf("%s/srv", fx.dir);
	cd = xasprintf("%s/cli", fx.dir);
	if (tls_identity_load(sd, "srv", &fx.srv_key, &fx.srv_crt, fx.srv_fp,
	    &e) < 0 || tls_identity_load(cd, "cli", &fx.cli_key, &fx.cli_crt,
	    fx.cli_fp, &e) < 0)
		goto fail;
	for (int i = 0; i < 20 && !fx.srv; i++) {
		int port = free_port(NULL, false);

		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		snprintf(fx.url, sizeof(fx.url), "https://127.0.0.1:%d/", port);
		r = http_server_start_tls(fx.l, listen, fx.srv_key, fx.srv_crt,
		    srv_handle, NULL, &fx.srv, NULL);
	}
	if (!fx.srv || (r = peer_client_new(fx.l, fx.cli_key, fx.cli_crt,
	    &fx.pc, &e)) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "setup: %s\n", e.msg);
	return -1;
}

static void
teardown(void)
{
	_cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", fx.dir);

	fx.pc = peer_client_free(fx.pc);
	fx.srv = http_server_stop(fx.srv);
	loop_free(fx.l);
	free(fx.srv_key);
	free(fx.srv_crt);
	free(fx.cli_key);
	free(fx.cli_crt);
	(void)!system(cmd);
}

int
main(void)
{
	if (setup() < 0)
		return 1;
	RUN_TEST(test_bad_arguments);
	RUN_TEST(test_get_and_post);
	RUN_TEST(test_wrong_pin);
	RUN_TEST(test_connection_refused);
	RUN_TEST(test_timeout);
	RUN_TEST(test_cancel_in_callback);
	RUN_TEST(test_cancel_finished_in_callback);
	RUN_TEST(test_free_in_callback);
	RUN_TEST(test_measure);
	RUN_TEST(test_link_probe_sizes);
	RUN_TEST(test_big_reply);
	RUN_TEST(test_many_in_flight);
	RUN_TEST(test_tunnel);
	RUN_TEST(test_get_bytes);
	teardown();
	return TEST_REPORT();
}
