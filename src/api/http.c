/* http.c - libmicrohttpd in external-epoll mode inside our loop, and the
 * streamed pseudo-random bodies of link probes.  Never logs above debug;
 * never blocks (MHD sockets are non-blocking). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "jsonutil.h"
#include "tls_front.h"
#include "util.h"

struct http_server {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	int epfd;
	bool tls;
	struct tls_front *front;	/* the HTTPS server's TLS */
	http_handler_fn fn;
	void *ud;
	struct loop_timer *timer;
	char *unix_path;
	struct http_sse **sse;	/* the open event streams */
	size_t n_sse;
};

/* Invariant: off <= len <= HTTP_SSE_MAX_QUEUE; suspended while MHD holds
 * the connection suspended (nothing to send); freed by MHD's response
 * free callback, after on_close. */
struct http_sse {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char *buf;
	size_t len, off;
	bool suspended, closing;
	http_sse_close_fn on_close;
	void *data;
};

#define HTTP_MAX_CONNS 256	/* per server, TLS handshakes included */

static void http_arm_timer(struct http_server *srv);
static void http_upgrade_abort(struct http_upgrade *up);

static void
http_run(struct http_server *srv)
{
	(void)MHD_run(srv->mhd);
	http_arm_timer(srv);
}

static void
http_on_timer(struct loop *l, void *data)
{
	struct http_server *srv = data;

	(void)l;
	srv->timer = NULL;
	http_run(srv);
}

static void
http_arm_timer(struct http_server *srv)
{
	MHD_UNSIGNED_LONG_LONG t = 1000;

	if (MHD_get_timeout(srv->mhd, &t) != MHD_YES || t > 1000)
		t = 1000;
	srv->timer = loop_timer_cancel(srv->loop, srv->timer);
	srv->timer = loop_timer_add(srv->loop, t, http_on_timer, srv);
}

static void
http_on_epoll(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	http_run(data);
}

static void
http_req_addr(struct http_req *req)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
	    req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    req->client_addr, sizeof(req->client_addr));
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    req->client_addr, sizeof(req->client_addr));
}

static void
http_req_peer(struct http_server *srv, struct http_req *req)
{
	const union MHD_ConnectionInfo *ci;

	req->tls = srv->tls;
	if (!srv->tls)
		return;
	http_req_addr(req);
	/* the front knows the certificate by the fd MHD got */
	ci = MHD_get_connection_info(req->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	if (ci && tls_front_peer_fp(srv->front, ci->connect_fd, req->peer_fp))
		req->has_peer_fp = true;
}

static enum MHD_Result
http_on_request(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req *req = *con_cls;

	(void)version;
	if (!req) {
		req = xzalloc(sizeof(*req));
		req->conn = conn;
		req->srv = srv;
		req->method = method;
		req->url = url;
		http_req_peer(srv, req);
		*con_cls = req;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (req->body_len + *upload_size > JSON_MAX_BODY) {
			req->too_large = true;
		} else {
			req->body = xrealloc(req->body,
			    req->body_len + *upload_size + 1);
			memcpy(req->body + req->body_len, upload,
			    *upload_size);
			req->body_len += *upload_size;
			req->body[req->body_len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (!req->answered && !req->deferred)
		srv->fn(req, srv->ud);
	if (!req->answered && !req->deferred)
		http_reply_json(req, 500, json_pack("{s{ss ss}}", "error",
		    "code", "internal", "message", "no answer"));
	return MHD_YES;
}

static void
http_on_done(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode code)
{
	struct http_req *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)code;
	if (req && req->up)	/* the 101 never went out */
		http_upgrade_abort(req->up);
	if (req) {
		for (size_t i = 0; i < req->n_hdr; i++) {
			free(req->hdr[i][0]);
			free(req->hdr[i][1]);
		}
		free(req->body);
		free(req);
		*con_cls = NULL;
	}
}

static int
http_attach(struct loop *l, struct http_server *srv, struct err *err)
{
	const union MHD_DaemonInfo *di;
	int r;

	di = MHD_get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!di)
		return err_set(err, -EIO, "HTTP server has no epoll fd");
	srv->epfd = di->epoll_fd;
	r = loop_add_fd(l, srv->epfd, EPOLLIN, http_on_epoll, srv);
	if (r < 0)
		return err_setf_errno(err, r, "cannot watch HTTP server");
	http_arm_timer(srv);
	return 0;
}

static int
unix_listen(const char *path, struct err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return err_set(err, -ENAMETOOLONG, "socket path '%s' is too "
		    "long", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot create socket");
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    chmod(path, 0600) == -1 || listen(fd, 64) == -1) {
		int r = -errno;

		close(fd);
		return err_setf_errno(err, r, "cannot listen on '%s'", path);
	}
	return fd;
}

int
http_server_start_unix(struct loop *l, const char *path, http_handler_fn fn,
    void *ud, struct http_server **ret_srv, struct err *err)
{
	struct http_server *srv;
	int fd = unix_listen(path, err);

	if (fd < 0)
		return fd;
	srv = xzalloc(sizeof(*srv));
	*srv = (struct http_server){ .loop = l, .fn = fn, .ud = ud,
		.unix_path = xstrdup(path) };
	srv->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_ALLOW_UPGRADE, 0, NULL, NULL, http_on_request, srv,
	    MHD_OPTION_LISTEN_SOCKET, fd,
	    MHD_OPTION_NOTIFY_COMPLETED, http_on_done, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
	    MHD_OPTION_END);
	if (!srv->mhd) {
		close(fd);
		http_server_stop(srv);
		return err_set(err, -EIO, "cannot start HTTP server on '%s'",
		    path);
	}
	if (http_attach(l, srv, err) < 0) {
		http_server_stop(srv);
		return err->code;
	}
	*ret_srv = srv;
	return 0;
}

static int
parse_listen(const char *listen, struct sockaddr_storage *ss,
    struct err *err)
{
	char host[64];
	const char *colon = strrchr(listen, ':');
	long port = colon ? strtol(colon + 1, NULL, 10) : 0;
	size_t n = colon ? (size_t)(colon - listen) : 0;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	if (!colon || port <= 0 || port > 65535 || n == 0 || n >= sizeof(host))
		return err_set(err, -EINVAL, "invalid listen address '%s': "
		    "expected ADDR:PORT", listen);
	memcpy(host, listen, n);
	host[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		return 0;
	}
	if (host[0] == '[' && host[n - 1] == ']') {
		host[n - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1) {
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(port);
			return 0;
		}
	}
	return err_set(err, -EINVAL, "invalid listen address '%s': expected "
	    "an IP address and port", listen);
}

/* MHD takes fd (and closes it if it fails) and runs at once: the
 * client's request may be waiting already. */
static int
http_hand(int fd, const struct sockaddr *sa, socklen_t sa_len, void *data)
{
	struct http_server *srv = data;

	if (MHD_add_connection(srv->mhd, fd, sa, sa_len) != MHD_YES)
		return errno ? -errno : -EIO;
	srv->timer = loop_timer_cancel(srv->loop, srv->timer);
	srv->timer = loop_timer_add(srv->loop, 0, http_on_timer, srv);
	return 0;
}

int
http_server_start_tls(struct loop *l, const char *listen, const char *key_pem,
    const char *cert_pem, http_handler_fn fn, void *ud,
    struct http_server **ret_srv, struct err *err)
{
	struct sockaddr_storage ss;
	struct http_server *srv;
	int r = parse_listen(listen, &ss, err);

	if (r < 0)
		return r;
	srv = xzalloc(sizeof(*srv));
	*srv = (struct http_server){ .loop = l, .fn = fn, .ud = ud,
		.tls = true };
	/* No MHD_USE_TLS: MHD 0.9.75 relays upgraded TLS connections 4
	 * bytes at a time (tls_front.h).  The front does TLS and hands MHD
	 * plaintext socketpairs. */
	srv->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_ALLOW_UPGRADE | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
	    http_on_request, srv,
	    MHD_OPTION_NOTIFY_COMPLETED, http_on_done, srv,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNS,
	    MHD_OPTION_END);
	if (!srv->mhd) {
		http_server_stop(srv);
		return err_set(err, -EIO, "cannot start HTTPS server on '%s'",
		    listen);
	}
	if ((r = http_attach(l, srv, err)) < 0 ||
	    (r = tls_front_start(l, &ss, listen, key_pem, cert_pem,
	    HTTP_MAX_CONNS, http_hand, srv, &srv->front, err)) < 0) {
		http_server_stop(srv);
		return r;
	}
	*ret_srv = srv;
	return 0;
}

struct http_server *
http_server_stop(struct http_server *srv)
{
	if (!srv)
		return NULL;
	srv->timer = loop_timer_cancel(srv->loop, srv->timer);
	/* MHD must not stop with a connection suspended */
	for (size_t i = 0; i < srv->n_sse; i++)
		http_sse_close(srv->sse[i]);
	/* resumed connections (streams closed, deferred answers sent)
	 * leave the suspended list only inside MHD_run */
	if (srv->mhd)
		(void)MHD_run(srv->mhd);
	if (srv->mhd) {
		loop_del_fd(srv->loop, srv->epfd);
		MHD_stop_daemon(srv->mhd);
	}
	/* after MHD: a request it finishes may still look a peer up */
	srv->front = tls_front_stop(srv->front);
	if (srv->unix_path)
		(void)unlink(srv->unix_path);
	free(srv->unix_path);
	free(srv->sse);
	free(srv);
	return NULL;
}

const char *
http_req_arg(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

const char *
http_req_header(struct http_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

void
http_req_add_header(struct http_req *req, const char *name,
    const char *value)
{
	if (req->n_hdr == ARRAY_SIZE(req->hdr))
		return;
	req->hdr[req->n_hdr][0] = xstrdup(name);
	req->hdr[req->n_hdr][1] = xstrdup(value);
	req->n_hdr++;
}

/* Queue resp (NULL: 500 for want of memory) with req's extra headers. */
static void
http_queue(struct http_req *req, unsigned status, struct MHD_Response *resp,
    const char *ct)
{
	if (!resp) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\","
		    "\"message\":\"cannot make a response\"}}";

		ct = "application/json";
		status = 500;
		resp = MHD_create_response_from_buffer(strlen(oom),
		    (void *)oom, MHD_RESPMEM_PERSISTENT);
	}
	if (ct)
		MHD_add_response_header(resp, "Content-Type", ct);
	for (size_t i = 0; i < req->n_hdr; i++)
		MHD_add_response_header(resp, req->hdr[i][0], req->hdr[i][1]);
	MHD_queue_response(req->conn, status, resp);
	MHD_destroy_response(resp);
	req->answered = true;
	if (req->deferred) {
		struct http_server *srv = req->srv;

		req->deferred = false;
		MHD_resume_connection(req->conn);
		srv->timer = loop_timer_cancel(srv->loop, srv->timer);
		srv->timer = loop_timer_add(srv->loop, 0, http_on_timer, srv);
	}
}

void
http_req_defer(struct http_req *req)
{
	req->deferred = true;
	MHD_suspend_connection(req->conn);
}

void
http_reply_text(struct http_req *req, unsigned status, const char *ct,
    const char *text)
{
	http_queue(req, status, MHD_create_response_from_buffer(strlen(text),
	    (void *)text, MHD_RESPMEM_MUST_COPY), ct);
	http_record(req, status, ct, text);
}

void
http_queue_bytes(struct http_req *req, unsigned status, const char *ct,
    const void *buf, size_t len)
{
	http_queue(req, status, MHD_create_response_from_buffer(len,
	    (void *)buf, MHD_RESPMEM_MUST_COPY), ct);
	http_record(req, status, ct, NULL);
}

void
http_reply_empty(struct http_req *req, unsigned status)
{
	http_queue(req, status, MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT), NULL);
	http_record(req, status, NULL, NULL);
}

void
http_reply_fd(struct http_req *req, unsigned status, int fd, uint64_t size,
    const char *ct)
{
	struct MHD_Response *resp = MHD_create_response_from_fd64(size, fd);

	if (!resp)
		close(fd);
	http_queue(req, status, resp, ct);
	http_record(req, status, ct, NULL);
}

void
http_reply_json(struct http_req *req, unsigned status, json_t *body)
{
	char *s = json_dumps(body ? body : json_object(),
	    JSON_COMPACT | JSON_ENCODE_ANY);

	json_decref(body);
	http_reply_text(req, status, "application/json", s ? s : "{}");
	free(s);
}

/*
 * Streamed bodies.  One 64 KiB pool of random bytes is filled once per
 * process; a stream serves it block by block, each 64 KiB block XORed with
 * its own 64-bit key and read from its own rotation of the pool, both drawn
 * from the stream's seed.  That costs a copy and an XOR per byte, is not
 * compressible, and repeats neither within a stream nor across streams.
 * (TLS does not compress anyway; this keeps a plain-HTTP probe honest.)
 */
#define STREAM_BLOCK (64 * 1024)	/* a power of two, multiple of 8 */

static uint64_t stream_pool[STREAM_BLOCK / 8];
static bool stream_pool_ready;

struct stream {
	uint64_t seed;
	uint64_t nbytes;
};

static uint64_t
splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* getrandom() does not fail on Linux >= 3.17 once booted; should it, the
 * pool is filled from a splitmix64 sequence, which is as incompressible
 * for this purpose. */
static void
stream_pool_fill(void)
{
	uint8_t *p = (uint8_t *)stream_pool;
	size_t done = 0;
	uint64_t x = now_ms() ^ (uint64_t)getpid() << 32;

	while (done < sizeof(stream_pool)) {
		ssize_t n = getrandom(p + done, sizeof(stream_pool) - done, 0);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			break;
		done += (size_t)n;
	}
	for (size_t i = done / 8; i < ARRAY_SIZE(stream_pool); i++)
		stream_pool[i] = x = splitmix64(x);
	stream_pool_ready = true;
}

/* out[i] = pool[src + i] ^ key byte (src + i) % 8; src + len stays in the
 * pool.  Word-wise in the middle, so it runs at memcpy-like speed. */
static void
stream_xor(uint8_t *out, size_t src, size_t len, uint64_t key)
{
	const uint8_t *in = (const uint8_t *)stream_pool + src;
	size_t i = 0;

	for (; i < len && (src + i) % 8 != 0; i++)
		out[i] = in[i] ^ (uint8_t)(key >> 8 * ((src + i) % 8));
	for (; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, in + i, 8);
		w ^= key;
		memcpy(out + i, &w, 8);
	}
	for (; i < len; i++)
		out[i] = in[i] ^ (uint8_t)(key >> 8 * ((src + i) % 8));
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	const struct stream *s = cls;
	size_t n, done = 0;

	if (pos >= s->nbytes)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = (size_t)MIN((uint64_t)max, s->nbytes - pos);
	while (done < n) {
		uint64_t p = pos + done;
		uint64_t key = splitmix64(s->seed ^ p / STREAM_BLOCK);
		size_t off = p % STREAM_BLOCK;
		/* rotated by a multiple of 8: src and p agree on key bytes */
		size_t src = (off + (key >> 32 & ~(uint64_t)7)) % STREAM_BLOCK;
		size_t len = MIN(n - done, STREAM_BLOCK - MAX(off, src));

		stream_xor((uint8_t *)buf + done, src, len, key);
		done += len;
	}
	return (ssize_t)n;
}

/* Answer 200 with resp as application/octet-stream (NULL: MHD could not
 * make it: 500). */
static void
http_reply_octets(struct http_req *req, struct MHD_Response *resp)
{
	http_queue(req, MHD_HTTP_OK, resp, "application/octet-stream");
	http_record(req, MHD_HTTP_OK, "application/octet-stream", NULL);
}

void
http_reply_stream(struct http_req *req, uint64_t nbytes)
{
	struct stream *s = xzalloc(sizeof(*s));
	struct MHD_Response *resp;

	if (!stream_pool_ready)
		stream_pool_fill();
	if (getrandom(&s->seed, sizeof(s->seed), GRND_NONBLOCK) !=
	    sizeof(s->seed))
		s->seed = splitmix64(now_ms() ^ (uintptr_t)s);
	s->nbytes = nbytes;
	resp = MHD_create_response_from_callback(nbytes, STREAM_BLOCK,
	    stream_read, s, free);
	if (!resp)
		free(s);
	http_reply_octets(req, resp);
}

void
http_reply_file(struct http_req *req, int fd, uint64_t size)
{
	http_reply_fd(req, MHD_HTTP_OK, fd, size, "application/octet-stream");
}

/* ---- server-sent events ---- */

static ssize_t
sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_sse *s = cls;
	size_t n;

	(void)pos;
	if (s->off == s->len) {
		s->off = s->len = 0;
		if (s->closing)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* nothing to send: sleep until http_sse_send() */
		s->suspended = true;
		MHD_suspend_connection(s->conn);
		return 0;
	}
	n = MIN(max, s->len - s->off);
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static void
sse_forget(struct http_sse *s)
{
	struct http_server *srv = s->srv;

	for (size_t i = 0; i < srv->n_sse; i++)
		if (srv->sse[i] == s) {
			srv->sse[i] = srv->sse[--srv->n_sse];
			break;
		}
}

static void
sse_free(void *cls)
{
	struct http_sse *s = cls;

	sse_forget(s);
	if (s->on_close)
		s->on_close(s, s->data);
	free(s->buf);
	free(s);
}

/* Wake a suspended stream and have MHD look at it at once. */
static void
sse_wake(struct http_sse *s)
{
	struct http_server *srv = s->srv;

	if (!s->suspended)
		return;
	s->suspended = false;
	MHD_resume_connection(s->conn);
	srv->timer = loop_timer_cancel(srv->loop, srv->timer);
	srv->timer = loop_timer_add(srv->loop, 0, http_on_timer, srv);
}

struct http_sse *
http_reply_sse(struct http_req *req, http_sse_close_fn on_close, void *data)
{
	struct http_server *srv = req->srv;
	struct http_sse *s = xzalloc(sizeof(*s));
	struct MHD_Response *resp;

	*s = (struct http_sse){ .srv = srv, .conn = req->conn,
		.on_close = on_close, .data = data };
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
	    sse_read, s, sse_free);
	if (!resp) {
		free(s);
		http_queue(req, 500, NULL, NULL);
		return NULL;
	}
	/* an idle stream is not a dead one: pings show a dead one */
	(void)MHD_set_connection_option(req->conn,
	    MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
	MHD_add_response_header(resp, "Cache-Control", "no-cache");
	srv->sse = xrealloc(srv->sse, (srv->n_sse + 1) * sizeof(*srv->sse));
	srv->sse[srv->n_sse++] = s;
	http_queue(req, MHD_HTTP_OK, resp, "text/event-stream");
	return s;
}

void
http_sse_send(struct http_sse *s, const char *text, size_t len)
{
	if (s->closing)
		return;
	if (s->len - s->off + len > HTTP_SSE_MAX_QUEUE) {
		s->len = s->off;	/* a client that does not read */
		http_sse_close(s);
		return;
	}
	if (s->off > 0) {
		memmove(s->buf, s->buf + s->off, s->len - s->off);
		s->len -= s->off;
		s->off = 0;
	}
	s->buf = xrealloc(s->buf, s->len + len);
	memcpy(s->buf + s->len, text, len);
	s->len += len;
	sse_wake(s);
}

size_t
http_sse_queued(const struct http_sse *s)
{
	return s->len - s->off;
}

void
http_sse_close(struct http_sse *s)
{
	s->closing = true;
	sse_wake(s);
}

/* ---- upgraded connections ---- */

/* Invariant: urh is NULL until MHD handed the connection over; req is the
 * request until then (and NULL after). */
struct http_upgrade {
	struct http_server *srv;
	struct http_req *req;
	struct MHD_UpgradeResponseHandle *urh;
	http_upgrade_fn fn;
	void *data;
};

static void
http_upgrade_abort(struct http_upgrade *up)
{
	up->req->up = NULL;
	up->fn(NULL, -1, NULL, 0, up->data);
	free(up);
}

static void
http_on_upgraded(void *cls, struct MHD_Connection *conn, void *con_cls,
    const char *extra, size_t n_extra, MHD_socket sock,
    struct MHD_UpgradeResponseHandle *urh)
{
	struct http_upgrade *up = cls;

	(void)conn;
	(void)con_cls;
	up->req->up = NULL;
	up->req = NULL;
	up->urh = urh;
	up->fn(up, sock, extra, n_extra, up->data);
}

void
http_reply_upgrade(struct http_req *req, const char *const *hdrs,
    http_upgrade_fn fn, void *data)
{
	struct http_upgrade *up = xzalloc(sizeof(*up));
	struct MHD_Response *resp;

	*up = (struct http_upgrade){ .srv = req->srv, .req = req, .fn = fn,
		.data = data };
	resp = MHD_create_response_for_upgrade(http_on_upgraded, up);
	if (!resp) {
		free(up);
		fn(NULL, -1, NULL, 0, data);
		http_queue(req, 500, NULL, NULL);
		return;
	}
	for (size_t i = 0; hdrs[i] && hdrs[i + 1]; i += 2)
		MHD_add_response_header(resp, hdrs[i], hdrs[i + 1]);
	/* an idle console is not a dead one */
	(void)MHD_set_connection_option(req->conn,
	    MHD_CONNECTION_OPTION_TIMEOUT, (unsigned)0);
	req->up = up;
	http_queue(req, MHD_HTTP_SWITCHING_PROTOCOLS, resp, NULL);
	http_record(req, MHD_HTTP_SWITCHING_PROTOCOLS, NULL, NULL);
}

void
http_upgrade_close(struct http_upgrade *up)
{
	struct http_server *srv = up->srv;

	(void)MHD_upgrade_action(up->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(up);
	/* MHD finishes the connection inside MHD_run */
	srv->timer = loop_timer_cancel(srv->loop, srv->timer);
	srv->timer = loop_timer_add(srv->loop, 0, http_on_timer, srv);
}
