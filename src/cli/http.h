/* http.h - tern's HTTP client: JSON requests to ternd over its unix socket,
 * or over HTTPS with a client certificate and a pinned server key.  Never
 * prints; every failure is -errno plus a sentence in err. */
#pragma once

#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define HTTP_CONNECT_TIMEOUT_MS 5000
#define HTTP_TIMEOUT_MS 30000
#define HTTP_MAX_ANSWER (16 * 1024 * 1024)	/* largest answer read */

struct http;

struct http_conf {
	const char *socket_path;	/* used when url is NULL */
	const char *url;		/* "https://ADDR:PORT", or NULL */
	const char *fingerprint;	/* "sha256:HEX"; required with url */
	const char *cert;		/* client certificate (PEM), with url */
	const char *key;		/* its private key (PEM), with url */
	const char *user_agent;
	/* When *interrupted becomes non-zero, a transfer in flight is
	 * abandoned within about a second and fails with -EINTR. */
	volatile sig_atomic_t *interrupted;
};

/* A client for conf (whose strings must outlive it).  Fails with -EINVAL
 * for a malformed fingerprint and -ENOENT (or another -errno) when the
 * client certificate or key cannot be read. */
int http_new(const struct http_conf *conf, struct http **ret_http,
    struct err *err);

/* NULL-safe; returns NULL. */
struct http *http_free(struct http *h);

/* Send method (GET, POST, PUT, DELETE) to path ("/v1/vms", already escaped),
 * with body as JSON unless NULL.  On a 2xx answer stores its JSON object
 * (an empty object for an empty body) in *ret_answer; the caller owns it.
 * A non-2xx answer fails with the errno of its status (404 -ENOENT, 409
 * -EBUSY, 400 -EINVAL, ...) and the server's message verbatim; a daemon
 * that cannot be reached fails with the connect errno and a message that
 * says where and why; an interrupted transfer fails with -EINTR. */
int http_call(struct http *h, const char *method, const char *path,
    const json_t *body, json_t **ret_answer, struct err *err);

/* s percent-escaped for one URL path segment or query value; the caller
 * frees the result. */
char *http_escape(struct http *h, const char *s);

/* GET path; on a 2xx answer its bytes in *ret_data (NUL-terminated, the
 * caller frees) and their count in *ret_len.  Failures as http_call(). */
int http_get_bytes(struct http *h, const char *path, char **ret_data,
    size_t *ret_len, struct err *err);

/* A WebSocket's connection to path (subprotocol "binary") on the same
 * transport as h: opened once ternd answered 101; a refusal fails with
 * ternd's status and message as http_call() does.  The frames are the
 * caller's; recv and send are non-blocking (-EAGAIN: poll the fd), recv
 * returns 0 when ternd closed the connection, other failures -EIO. */
struct http_tunnel;
int http_tunnel_open(struct http *h, const char *path,
    struct http_tunnel **ret, struct err *err);
int http_tunnel_fd(const struct http_tunnel *t);
ssize_t http_tunnel_recv(struct http_tunnel *t, void *buf, size_t len);
ssize_t http_tunnel_send(struct http_tunnel *t, const void *buf, size_t len);
/* NULL-safe; returns NULL. */
struct http_tunnel *http_tunnel_free(struct http_tunnel *t);
