/* http.h - the API's HTTP servers on libmicrohttpd, driven by our loop
 * (MHD's epoll fd is one of the loop's fds): plain HTTP on a root-only unix
 * socket, HTTPS with client certificates on TCP (TLS done by tls_front.c,
 * MHD given the plaintext).  Bodies are collected up to JSON_MAX_BODY; the
 * handler answers synchronously, once. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"
#include "tls.h"

struct http_server;

struct http_req {
	struct MHD_Connection *conn;
	struct http_server *srv;
	const char *method;
	const char *url;
	char *body;		/* NUL-terminated; NULL when empty */
	size_t body_len;
	bool too_large;		/* body over JSON_MAX_BODY (discarded) */
	bool tls;		/* came over HTTPS */
	bool has_peer_fp;	/* TLS client sent a certificate */
	char peer_fp[TLS_FP_LEN];
	bool deferred;		/* http_req_defer(): answered later */
	char client_addr[64];	/* the client's IP address ("" on the
				 * local socket) */
	bool answered;
	/* Headers every answer to this request carries (Set-Cookie,
	 * security headers): names and values copied, at most 12. */
	char *hdr[12][2];
	size_t n_hdr;
	const char *route;	/* the route pattern api.c matched, or NULL */
	struct http_upgrade *up;	/* http_reply_upgrade() not yet done */
};

typedef void (*http_handler_fn)(struct http_req *req, void *ud);

int http_server_start_unix(struct loop *l, const char *path,
    http_handler_fn fn, void *ud, struct http_server **ret_srv,
    struct err *err);
/* listen is "ADDR:PORT" or "[ADDR6]:PORT". */
int http_server_start_tls(struct loop *l, const char *listen,
    const char *key_pem, const char *cert_pem, http_handler_fn fn, void *ud,
    struct http_server **ret_srv, struct err *err);
struct http_server *http_server_stop(struct http_server *srv);

/* A request header (case-insensitive name), or NULL. */
const char *http_req_header(struct http_req *req, const char *name);
/* Add a header to whatever answer req gets (copied; silently dropped past
 * the twelfth). */
void http_req_add_header(struct http_req *req, const char *name,
    const char *value);
/* The handler answers later, from the loop (a login's PAM check, a call
 * to peers): MHD holds the connection until one of the http_reply_*()
 * functions answers req, which stays valid until then.  An answer must
 * come (the client cannot be seen leaving meanwhile). */
void http_req_defer(struct http_req *req);
/* Answer status with no body (204, ...). */
void http_reply_empty(struct http_req *req, unsigned status);
/* Answer status with the first size bytes of the file open at fd (taken:
 * closed when sent, or now on failure) as content type ct. */
void http_reply_fd(struct http_req *req, unsigned status, int fd,
    uint64_t size, const char *ct);

/*
 * Server-sent events.  http_reply_sse() answers 200 text/event-stream and
 * keeps the connection: the owner sends with http_sse_send() whenever it
 * likes (MHD is suspended while nothing is queued, so an idle stream costs
 * no CPU) and ends it with http_sse_close().  on_close(s, data) runs once
 * when the connection ends for any reason (the client left, the server
 * stopped, http_sse_close()); s is freed right after it: the owner forgets
 * s there.  A client that does not read is dropped once HTTP_SSE_MAX_QUEUE
 * bytes wait for it.
 */
#define HTTP_SSE_MAX_QUEUE (256 * 1024)	/* 64 streams: 16 MiB at worst */
struct http_sse;
typedef void (*http_sse_close_fn)(struct http_sse *s, void *data);
/* NULL (req answered 500) when MHD cannot make the response. */
struct http_sse *http_reply_sse(struct http_req *req,
    http_sse_close_fn on_close, void *data);
/* Queue len bytes of ready-made event text ("event: x\ndata: y\n\n"). */
void http_sse_send(struct http_sse *s, const char *text, size_t len);
/* Bytes queued and not yet taken by MHD (a producer that can wait, such
 * as a followed console, waits while this is large). */
size_t http_sse_queued(const struct http_sse *s);
/* End the stream once what is queued is sent. */
void http_sse_close(struct http_sse *s);

/*
 * Upgraded connections (WebSocket).  http_reply_upgrade() answers 101 with
 * the headers hdrs (name, value, ..., NULL).  Once MHD has sent it, fn(up,
 * fd, extra, n, data) hands over the connection: fd (non-blocking) is the
 * owner's to read and write, never to close; extra holds bytes MHD read
 * past the request.  The owner ends it with http_upgrade_close(), which
 * frees up.  Should the 101 never go out (the client left), fn gets
 * fd -1 (up already freed) so that the owner frees data.
 */
struct http_upgrade;
typedef void (*http_upgrade_fn)(struct http_upgrade *up, int fd,
    const char *extra, size_t n_extra, void *data);
void http_reply_upgrade(struct http_req *req, const char *const *hdrs,
    http_upgrade_fn fn, void *data);
void http_upgrade_close(struct http_upgrade *up);

/* Answer status with len bytes at buf (copied) as content type ct. */
void http_queue_bytes(struct http_req *req, unsigned status, const char *ct,
    const void *buf, size_t len);

/* Query argument, or NULL. */
const char *http_req_arg(struct http_req *req, const char *name);
/* Request header (name case-insensitive), or NULL. */
const char *http_req_header(struct http_req *req, const char *name);
/* Answer with status and body (stolen; NULL: {}). */
void http_reply_json(struct http_req *req, unsigned status, json_t *body);
void http_reply_text(struct http_req *req, unsigned status, const char *ct,
    const char *text);
/* Answer 200 with nbytes (at least 1) of incompressible pseudo-random bytes
 * as application/octet-stream, made as MHD sends them: a stream costs a
 * few bytes of state, whatever nbytes is.  Not secret, just not
 * compressible nor repeating within a stream. */
void http_reply_stream(struct http_req *req, uint64_t nbytes);
/* Answer 200 with the first size bytes of the file open at fd (taken:
 * closed when sent, or now on failure), as application/octet-stream. */
void http_reply_file(struct http_req *req, int fd, uint64_t size);
/* record.c: with TERN_API_RECORD=FILE set, append the answer (body
 * NUL-terminated, or NULL) to FILE as a JSON line (tests only; see
 * docs/api.md); otherwise nothing. */
void http_record(const struct http_req *req, unsigned status, const char *ct,
    const char *body);
