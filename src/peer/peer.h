/* peer.h - ternd's asynchronous HTTPS client to other ternds (peers): a
 * libcurl multi handle driven by our loop, mutual TLS with this host's
 * identity, the peer's key pinned to its fingerprint (no CA, no host
 * name).  Never blocks the loop and never logs above debug. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"
#include "loop.h"

#define PEER_MAX_REPLY (4 * 1024 * 1024)	/* largest reply body read */
/* The largest peer_measure(); the same bound as the server's
 * API_LINK_PROBE_MAX. */
#define PEER_MEASURE_MAX_BYTES (1024ULL * 1024 * 1024)
/* The largest peer_download(): a delta of the largest disk. */
#define PEER_DOWNLOAD_MAX_BYTES (1ULL << 46)
/* A download that moves no byte for this long fails (a dead link). */
#define PEER_STALL_S 30

struct peer_client;	/* one per ternd: a curl multi bound to the loop */
struct peer_call;	/* one request in flight */

/* A client on loop l (which must outlive it) presenting key_pem/cert_pem,
 * this host's identity (copied into two sealed memfds, never to a disk),
 * to every peer.  Fails with -ENOTSUP when this libcurl cannot pin keys,
 * -EIO when libcurl cannot be set up, -errno when the memfds cannot be
 * made or read back through /proc/self/fd. */
int peer_client_new(struct loop *l, const char *key_pem, const char *cert_pem,
    struct peer_client **ret, struct err *err);
/* Cancels every call in flight without calling back, closes every
 * connection.  NULL-safe; returns NULL.  May be called from inside a
 * callback of one of its own calls. */
struct peer_client *peer_client_free(struct peer_client *pc);

/* status: HTTP status (0 when the transport failed: then e is set, e.g.
 * "cannot reach https://10.1.0.2:7443: Connection refused" or "peer
 * certificate does not match the pinned fingerprint sha256:..." or "timed out
 * after 5000 ms"); body: the parsed JSON reply, borrowed (NULL when the reply
 * was not JSON or empty); e: NULL on transport success.  Called on the loop,
 * never from inside peer_call() itself.
 *
 * e->code is -ECONNREFUSED (or another connect errno), -ETIMEDOUT,
 * -EKEYREJECTED (pin mismatch), -ECONNABORTED (TLS failed), -EFBIG (reply
 * over PEER_MAX_REPLY), -EIO (anything else).  Inside fn, the call that
 * fired is already forgotten (cancelling it does nothing); fn may cancel
 * other calls, start new ones and free the client. */
typedef void (*peer_reply_fn)(long status, json_t *body, const struct err *e,
    void *data);

/* Send METHOD base_url+path ("https://10.1.0.2:7443" + "/v1/jobs/5") with
 * body (stolen; NULL: none; sent as application/json), pinning the server key
 * to fingerprint.  timeout_ms bounds the whole call (connect included).  Reply
 * bodies over 4 MiB fail.  ret may be NULL; otherwise *ret is valid until fn
 * runs or peer_call_cancel().
 *
 * Returns 0, or without calling fn (body freed all the same): -EINVAL when
 * base_url is not https://, fingerprint is not "sha256:" and 64 hex digits,
 * method is not an upper-case word, path does not start with '/', or
 * timeout_ms is 0; -ENOTSUP when libcurl refuses an option (the pin
 * among them); -ENOMEM when libcurl cannot make or add a handle. */
int peer_call(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *method, const char *path,
    json_t *body, uint64_t timeout_ms, peer_reply_fn fn, void *data,
    struct peer_call **ret);
/* Forget a call: fn is never called. NULL-safe; returns NULL. */
struct peer_call *peer_call_cancel(struct peer_call *c);

/* GET base_url+path whose answer is passed on as bytes (a screenshot's
 * PNG): fn(status, content_type or NULL, body, len, NULL, data) when the
 * peer answered (any status), fn(0, NULL, NULL, 0, e, data) when the
 * transport failed (e as for peer_reply_fn).  body is borrowed, len at
 * most PEER_MAX_REPLY.  Returns as peer_call(). */
typedef void (*peer_bytes_fn)(long status, const char *content_type,
    const void *body, size_t len, const struct err *e, void *data);
int peer_get_bytes(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *path, uint64_t timeout_ms,
    peer_bytes_fn fn, void *data, struct peer_call **ret);

/* Measure the path to a peer: GET base_url/v1/link-probe/BYTES (the server
 * streams BYTES of incompressible data over the same TLS transport) and
 * report bytes received and elapsed microseconds from the first byte after
 * the TLS handshake to the last (so the handshake is not counted).
 *
 * The time runs from the end of the handshake (or the start, on a reused
 * connection) to the last byte received, so it includes the request's one
 * round trip: small probes measure latency, large ones throughput.  Data is
 * counted and dropped, never kept.  On success bytes == the asked bytes
 * and e is NULL; otherwise e is set (an HTTP error status is -EPROTO with
 * the server's message).  Returns as peer_call(), and -EINVAL when bytes
 * is not 1 .. PEER_MEASURE_MAX_BYTES. */
typedef void (*peer_measure_fn)(uint64_t bytes, uint64_t usec,
    const struct err *e, void *data);
int peer_measure(struct peer_client *pc, const char *base_url,
    const char *fingerprint, uint64_t bytes, uint64_t timeout_ms,
    peer_measure_fn fn, void *data, struct peer_call **ret);

/* GET base_url+path, whose 200 body of exactly bytes (a file the peer
 * serves) is written to fd as it arrives, and report as peer_measure()
 * (an answer shorter or longer than bytes fails with -EPROTO; a write to
 * fd that fails, -EIO).  timeout_ms bounds the whole transfer.  Returns
 * as peer_measure(), -EINVAL for fd < 0 or bytes over
 * PEER_DOWNLOAD_MAX_BYTES. */
int peer_download(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *path, int fd, uint64_t bytes,
    uint64_t timeout_ms, peer_measure_fn fn, void *data,
    struct peer_call **ret);

/*
 * A WebSocket to a peer: GET base_url+path upgraded, over the same pinned
 * mutual TLS as peer_call().  libcurl 7.88 (Debian 12) has no WebSocket,
 * so this is a CONNECT_ONLY transfer with the upgrade written and its
 * answer read by hand (src/base/wsc.c, shared with the CLI).  After the
 * 101 the bytes are the caller's: WebSocket frames both ways.
 *
 * fn(t, status, e, data) runs once, from the loop: status 101 and e NULL
 * when upgraded (t is then the caller's, to use with peer_tunnel_fd/recv/
 * send and end with peer_tunnel_free); otherwise the peer's status with
 * its error message in e (0: the transport failed, e as for peer_reply_fn)
 * and t is freed once fn returns.  timeout_ms bounds the connection and
 * the upgrade.  The client pc must outlive t.  Returns 0, or -EINVAL /
 * -ENOTSUP / -ENOMEM as peer_call() without calling fn.
 */
struct peer_tunnel;
typedef void (*peer_tunnel_fn)(struct peer_tunnel *t, long status,
    const struct err *e, void *data);
int peer_tunnel_open(struct peer_client *pc, const char *base_url,
    const char *fingerprint, const char *path, uint64_t timeout_ms,
    peer_tunnel_fn fn, void *data, struct peer_tunnel **ret);
/* The socket to watch (level-triggered) once upgraded.  Bytes may wait
 * inside TLS that the socket does not show: read until -EAGAIN. */
int peer_tunnel_fd(const struct peer_tunnel *t);
/* Bytes read (the peer's bytes past its 101 first), 0 when the peer
 * closed, -EAGAIN, or -EIO. */
ssize_t peer_tunnel_recv(struct peer_tunnel *t, void *buf, size_t len);
/* Bytes taken, -EAGAIN (retry with the same bytes) or -EIO. */
ssize_t peer_tunnel_send(struct peer_tunnel *t, const void *buf,
    size_t len);
/* Closes the connection, never calls back.  NULL-safe; returns NULL. */
struct peer_tunnel *peer_tunnel_free(struct peer_tunnel *t);
