/* test_http.c - unit tests for the streamed bodies of src/api/http.c
 * (http_reply_stream, behind GET /v1/link-probe/N): the real local-socket
 * server in our loop, read by a raw non-blocking client in the same loop,
 * so the bytes themselves can be checked. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "fsutil.h"
#include "http.h"
#include "test.h"
#include "util.h"

#define BLOCK (64 * 1024)

static struct loop *l;
static struct http_server *srv;
static char dir[64], sock[100];

struct raw {
	char *buf;
	size_t len;
	bool eof;
};

/* The server-sent event stream and the deferred request under test. */
static struct http_sse *sse;
static int sse_closed;
static struct http_req *deferred;

static void
on_sse_close(struct http_sse *s, void *data)
{
	(void)data;
	if (s == sse)
		sse = NULL;
	sse_closed++;
}

static void
on_defer_timer(struct loop *lp, void *data)
{
	(void)lp;
	(void)data;
	http_req_add_header(deferred, "X-Late", "yes");
	http_reply_text(deferred, 200, "text/plain", "late answer");
	deferred = NULL;
}

static void
srv_handle(struct http_req *req, void *ud)
{
	_cleanup_free_ char *url = xstrdup(req->url);
	char *params[API_MAX_SEGS] = { 0 };
	struct err e = { 0 };
	bool found;
	api_fn fn;

	(void)ud;
	if (streq(req->url, "/test/sse")) {
		sse = http_reply_sse(req, on_sse_close, NULL);
		return;
	}
	if (streq(req->url, "/test/defer")) {
		deferred = req;
		http_req_defer(req);
		(void)loop_timer_add(l, 50, on_defer_timer, NULL);
		return;
	}
	fn = api_route_find(req->method, url, params, &found);
	if (!fn || fn(NULL, req, params, &e) < 0)
		http_reply_json(req, 400, json_pack("{s{ss}}", "error",
		    "message", e.msg));
}

static void
on_raw(struct loop *lp, int fd, uint32_t events, void *data)
{
	struct raw *r = data;
	char buf[65536];
	ssize_t n;

	(void)events;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		r->buf = xrealloc(r->buf, r->len + (size_t)n + 1);
		memcpy(r->buf + r->len, buf, (size_t)n);
		r->len += (size_t)n;
		r->buf[r->len] = '\0';
	}
	if (n == 0 || (n == -1 && errno != EAGAIN)) {
		r->eof = true;
		loop_del_fd(lp, fd);
	}
}

/* Send GET target on a new connection read into r by the loop: the fd,
 * or -1. */
static int
raw_open(const char *target, struct raw *r)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_free_ char *req = xasprintf("GET %s HTTP/1.1\r\nHost: t\r\n"
	    "Connection: close\r\n\r\n", target);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd == -1 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    write(fd, req, strlen(req)) != (ssize_t)strlen(req) ||
	    fd_set_cloexec_nonblock(fd) < 0 ||
	    loop_add_fd(l, fd, EPOLLIN, on_raw, r) < 0)
		return -1;
	return fd;
}

/* Run the loop until r holds text (or ended); true when it does. */
static bool
raw_wait(struct raw *r, const char *text)
{
	uint64_t end = now_ms() + 5000;

	while (!(r->buf && strstr(r->buf, text)) && !r->eof &&
	    now_ms() < end)
		loop_run_once(l, 20);
	return r->buf && strstr(r->buf, text);
}

/* GET target over the local socket; the whole answer, headers and all. */
static int
raw_get(const char *target, struct raw *r)
{
	int fd = raw_open(target, r);
	uint64_t end = now_ms() + 10000;

	if (fd < 0)
		return -1;
	while (!r->eof && now_ms() < end)
		loop_run_once(l, 20);
	loop_del_fd(l, fd);
	close(fd);
	return r->eof ? 0 : -1;
}

static const uint8_t *
raw_body(const struct raw *r, size_t *ret_len)
{
	const char *p = r->buf ? strstr(r->buf, "\r\n\r\n") : NULL;

	if (!p)
		return NULL;
	*ret_len = r->len - (size_t)(p + 4 - r->buf);
	return (const uint8_t *)p + 4;
}

/* An event stream: headers at once, each event as it is sent (also
 * after the stream slept with nothing to send), the end on close, and the
 * owner told once. */
static void
test_sse(void)
{
	struct raw r = { 0 };
	int fd = raw_open("/test/sse", &r);
	uint64_t idle;

	ASSERT_TRUE(fd >= 0);
	ASSERT_TRUE(raw_wait(&r, "\r\n\r\n"));
	ASSERT_CONTAINS(r.buf, "HTTP/1.1 200");
	ASSERT_CONTAINS(r.buf, "Content-Type: text/event-stream");
	ASSERT_TRUE(sse != NULL);
	http_sse_send(sse, "event: a\ndata: 1\n\n", 18);
	ASSERT_TRUE(raw_wait(&r, "event: a\ndata: 1\n\n"));
	idle = now_ms() + 200;	/* MHD suspends the idle stream */
	while (now_ms() < idle)
		loop_run_once(l, 20);
	http_sse_send(sse, ": ping\n\n", 8);
	http_sse_send(sse, "event: b\ndata: {}\n\n", 19);
	ASSERT_TRUE(raw_wait(&r, "event: b\ndata: {}\n\n"));
	ASSERT_CONTAINS(r.buf, ": ping");
	http_sse_close(sse);
	while (!r.eof && sse_closed == 0)
		loop_run_once(l, 20);
	idle = now_ms() + 1000;
	while (!r.eof && now_ms() < idle)
		loop_run_once(l, 20);
	ASSERT_TRUE(r.eof);
	ASSERT_EQ(sse_closed, 1);
	ASSERT_TRUE(sse == NULL);
	loop_del_fd(l, fd);
	close(fd);
	free(r.buf);
}

/* A deferred request is answered later, with its extra headers. */
static void
test_deferred(void)
{
	struct raw r = { 0 };

	ASSERT_EQ(raw_get("/test/defer", &r), 0);
	ASSERT_CONTAINS(r.buf, "HTTP/1.1 200");
	ASSERT_CONTAINS(r.buf, "X-Late: yes");
	ASSERT_CONTAINS(r.buf, "late answer");
	ASSERT_TRUE(deferred == NULL);
	free(r.buf);
}

/* Every byte value about as often as any other; 64 KiB blocks distinct,
 * and not one another XORed with an 8-byte pattern (the pool is rotated). */
static void
test_stream_bytes(void)
{
	size_t n = 4 * BLOCK + 123, len = 0, hist[256] = { 0 };
	_cleanup_free_ char *target = xasprintf("/v1/link-probe/%zu", n);
	struct raw r = { 0 }, r2 = { 0 };
	const uint8_t *b, *b2;
	bool periodic = true;

	ASSERT_EQ(raw_get(target, &r), 0);
	ASSERT_CONTAINS(r.buf, "HTTP/1.1 200");
	ASSERT_CONTAINS(r.buf, "application/octet-stream");
	b = raw_body(&r, &len);
	ASSERT_TRUE(b != NULL);
	ASSERT_EQ(len, n);
	for (size_t i = 0; i < n; i++)
		hist[b[i]]++;
	for (size_t i = 0; i < 256; i++)
		ASSERT_TRUE(hist[i] > n / 256 * 7 / 10 &&
		    hist[i] < n / 256 * 13 / 10);
	ASSERT_TRUE(memcmp(b, b + BLOCK, BLOCK) != 0);
	for (size_t i = 0; i + 8 < BLOCK && periodic; i++)
		periodic = (b[i] ^ b[BLOCK + i]) ==
		    (b[i + 8] ^ b[BLOCK + i + 8]);
	ASSERT_TRUE(!periodic);
	/* another stream is other bytes */
	ASSERT_EQ(raw_get(target, &r2), 0);
	b2 = raw_body(&r2, &len);
	ASSERT_TRUE(b2 != NULL && len == n && memcmp(b, b2, n) != 0);
	free(r.buf);
	free(r2.buf);
}

static void
test_stream_one_byte_and_bad_sizes(void)
{
	struct raw one = { 0 }, zero = { 0 }, big = { 0 };
	size_t len = 0;

	ASSERT_EQ(raw_get("/v1/link-probe/1", &one), 0);
	ASSERT_TRUE(raw_body(&one, &len) != NULL);
	ASSERT_EQ(len, 1);
	ASSERT_EQ(raw_get("/v1/link-probe/0", &zero), 0);
	ASSERT_CONTAINS(zero.buf, "HTTP/1.1 400");
	ASSERT_CONTAINS(zero.buf, "link probe size '0' is not a number of "
	    "bytes from 1 to 1073741824");
	ASSERT_EQ(raw_get("/v1/link-probe/1073741825", &big), 0);
	ASSERT_CONTAINS(big.buf, "HTTP/1.1 400");
	free(one.buf);
	free(zero.buf);
	free(big.buf);
}

/* The failover routes (src/api/failover_api.c) are found, and the
 * peer-only ones refuse a request that did not come over mutual TLS
 * before anything of the host is touched (a is NULL here). */
static void
test_failover_routes(void)
{
	static const struct { const char *url; api_fn fn; } r[] = {
		{ "/v1/vms/c1/failover", api_vm_failover },
		{ "/v1/vms/c1/failover/complete", api_vm_failover_end },
		{ "/v1/vms/c1/failover/cancel", api_vm_failover_end },
		{ "/v1/replica/vms/U/failover", api_replica_failover },
		{ "/v1/replications/U/failed-over",
		  api_replication_failed_over },
		{ "/v1/replica/vms/U/adopt", api_replica_adopt },
	};
	api_fn peer_only[] = { api_replica_failover,
		api_replication_failed_over, api_replica_adopt };

	for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
		char url[64], *params[API_MAX_SEGS] = { 0 };
		bool found = false;

		snprintf(url, sizeof(url), "%s", r[i].url);
		ASSERT_TRUE(api_route_find("POST", url, params, &found) ==
		    r[i].fn);
		ASSERT_TRUE(found);
	}
	for (size_t i = 0; i < ARRAY_SIZE(peer_only); i++) {
		struct http_req req = { .method = "POST", .url = "/x" };
		char *params[API_MAX_SEGS] = { "U", NULL };
		struct err e = { 0 };

		ASSERT_EQ(peer_only[i](NULL, &req, params, &e), -EACCES);
		ASSERT_CONTAINS(e.msg, "over HTTPS only");
	}
}

/* The alternate-IP routes are found (apply-ip before the failover
 * wildcard after it), and the primary's push refuses a request
 * that did not come over mutual TLS (a is NULL here). */
static void
test_altip_routes(void)
{
	static const struct { const char *method, *url; api_fn fn; } r[] = {
		{ "PUT", "/v1/vms/c1/replication/settings", api_vm_failover_ip },
		{ "PUT", "/v1/replica/vms/U/settings", api_replica_settings },
		{ "POST", "/v1/vms/c1/failover/apply-ip",
		  api_vm_failover_apply_ip },
	};
	struct http_req req = { .method = "PUT", .url = "/x" };
	char *params[API_MAX_SEGS] = { "U", NULL };
	struct err e = { 0 };

	for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
		char url[64], *p[API_MAX_SEGS] = { 0 };
		bool found = false;

		snprintf(url, sizeof(url), "%s", r[i].url);
		ASSERT_TRUE(api_route_find(r[i].method, url, p, &found) ==
		    r[i].fn);
		ASSERT_TRUE(found);
	}
	ASSERT_EQ(api_replica_settings(NULL, &req, params, &e), -EACCES);
	ASSERT_CONTAINS(e.msg, "over HTTPS only");
}

/* The cluster routes (src/api/cluster_api.c) are found; a GET of
 * validate is 405, not 404. */
static void
test_cluster_routes(void)
{
	static const struct { const char *method, *url; api_fn fn; } r[] = {
		{ "GET", "/v1/cluster/facts", api_cluster_facts },
		{ "POST", "/v1/cluster/validate", api_cluster_validate },
	};
	char url[64], *p[API_MAX_SEGS] = { 0 };
	bool found = false;

	for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
		found = false;
		snprintf(url, sizeof(url), "%s", r[i].url);
		ASSERT_TRUE(api_route_find(r[i].method, url, p, &found) ==
		    r[i].fn);
		ASSERT_TRUE(found);
	}
	snprintf(url, sizeof(url), "/v1/cluster/validate");
	ASSERT_TRUE(api_route_find("GET", url, p, &found) == NULL);
	ASSERT_TRUE(found);
}

int
main(void)
{
	_cleanup_free_ char *cmd = NULL;

	snprintf(dir, sizeof(dir), "/tmp/test_http.XXXXXX");
	if (!mkdtemp(dir) || loop_new(&l) < 0)
		return 1;
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	if (http_server_start_unix(l, sock, srv_handle, NULL, &srv, NULL) < 0)
		return 1;
	RUN_TEST(test_sse);
	RUN_TEST(test_deferred);
	RUN_TEST(test_stream_bytes);
	RUN_TEST(test_stream_one_byte_and_bad_sizes);
	RUN_TEST(test_failover_routes);
	RUN_TEST(test_altip_routes);
	RUN_TEST(test_cluster_routes);
	srv = http_server_stop(srv);
	loop_free(l);
	cmd = xasprintf("rm -rf '%s'", dir);
	(void)!system(cmd);
	return TEST_REPORT();
}
