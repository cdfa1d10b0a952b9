/* http.h - the API's HTTP servers on libmicrohttpd, driven by our loop
 * (MHD's epoll fd is one of the loop's fds): plain HTTP on a root-only unix
 * socket, HTTPS with client certificates on TCP.  Bodies are collected up
 * to JSON_MAX_BODY; the handler answers synchronously, once. */
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
	const char *method;
	const char *url;
	char *body;		/* NUL-terminated; NULL when empty */
	size_t body_len;
	bool too_large;		/* body over JSON_MAX_BODY (discarded) */
	bool tls;		/* came over HTTPS */
	bool has_peer_fp;	/* TLS client sent a certificate */
	char peer_fp[TLS_FP_LEN];
	bool answered;
	const char *route;	/* the route pattern api.c matched, or NULL */
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

/* Query argument, or NULL. */
const char *http_req_arg(struct http_req *req, const char *name);
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
