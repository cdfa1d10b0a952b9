/* qmp.h - asynchronous client for JSON-lines monitor sockets: QEMU's QMP and
 * the qemu-guest-agent channel (QGA).  Runs on the caller's loop, never
 * blocks, never logs above debug, and never calls a callback from inside
 * qmp_connect() or qmp_send*(): every callback comes from the loop.
 *
 * Lifetime: qmp_connect() hands the caller the one owning reference;
 * qmp_free() drops it.  After QMP_CLOSED the object stays valid (and
 * answers qmp_close_reason()) until the caller frees it. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "loop.h"

/* The longest line accepted from the peer.  query-qmp-schema is ~200 KiB
 * and guest-exec-status can carry 2 x 16 MiB of base64 in theory; a longer
 * line closes the connection with -EPROTO. */
#define MAX_QMP_LINE (16 * 1024 * 1024)
/* QMP mode: greeting + qmp_capabilities must finish within this, else the
 * connection closes with -ETIMEDOUT.  QEMU serves one QMP client at a time:
 * a second client is accepted by the kernel but gets no greeting until the
 * first leaves, and this is how that shows. */
#define QMP_HANDSHAKE_TIMEOUT_MS 30000
/* QGA mode: how long one guest-sync-delimited may stay unanswered before it
 * is sent again (only while commands are waiting).  The agent may be absent
 * for minutes (guest booting), so this never closes the connection. */
#define QGA_SYNC_TIMEOUT_MS 5000

struct qmp;

enum qmp_mode { QMP_MODE_QMP, QMP_MODE_QGA, QMP_MODE__COUNT };

/* What the state callback reports.  CONNECTING is never reported; it is
 * only what a fresh object is in. */
enum qmp_state { QMP_CONNECTING, QMP_READY, QMP_CLOSED, QMP_STATE__COUNT };

/* Called exactly once per successful qmp_send*().  Success: err is NULL and
 * ret is the "return" value (borrowed, valid during the call; JSON null for
 * a no-reply command).  Failure: ret is NULL and err->code is
 *   -EIO        QEMU answered {"error":{"class","desc"}}; err->msg is
 *               "<class>: <desc>" (see qmp_err_is_class(), qmp_err_desc())
 *   -ETIMEDOUT  no reply within timeout_ms
 *   -ECANCELED  qmp_free() while the command was pending
 *   otherwise   the connection closed; the code is qmp_close_reason()'s
 *               (-ECONNRESET when the peer went away, -EPROTO ...). */
typedef void (*qmp_reply_fn)(struct qmp *q, json_t *ret,
    const struct err *err, void *data);
/* An asynchronous event.  data is borrowed and NULL when the event has no
 * "data" member (STOP, RESUME ...). */
typedef void (*qmp_event_fn)(struct qmp *q, const char *name, json_t *data,
    void *ud);
/* state is QMP_READY (once: after greeting + qmp_capabilities in QMP mode,
 * after the first guest-sync-delimited in QGA mode) or QMP_CLOSED (once;
 * qmp_close_reason() tells why).  Pending commands have all been failed
 * before QMP_CLOSED is reported. */
typedef void (*qmp_state_fn)(struct qmp *q, int state, void *ud);

const char *qmp_state_name(enum qmp_state state);
const char *qmp_mode_name(enum qmp_mode mode);

/* Start a non-blocking connect to the unix socket socket_path and return
 * the new object in *ret_q.  Fails at once with -ENAMETOOLONG (path does not
 * fit sun_path), -EINVAL (empty path) or the -errno of socket()/epoll; every
 * other outcome (READY, or CLOSED with -ENOENT, -ECONNREFUSED, -EAGAIN when
 * the listen backlog is full ...) comes later through on_state.  Callbacks
 * may be NULL. */
int qmp_connect(struct loop *l, const char *socket_path, enum qmp_mode mode,
    qmp_event_fn on_event, qmp_state_fn on_state, void *ud,
    struct qmp **ret_q);

/* Queue command with args (an object or NULL; always stolen, also on
 * failure).  It is written once the connection is ready (QMP) or when the
 * previous command has been answered (QGA, one command in flight at a time).
 * timeout_ms counts from this call, queueing included; 0 means none.  fn
 * may be NULL.  Fails with -ENOTCONN when closed, -EINVAL for an empty
 * command name or args that is not an object. */
int qmp_send(struct qmp *q, const char *command, json_t *args,
    uint64_t timeout_ms, qmp_reply_fn fn, void *data);

/* qmp_send() for a command that gets no reply on success (guest-shutdown):
 * fn gets success (ret JSON null) as soon as the line is written.  In QGA
 * mode the channel is resynchronised before the next command, so that an
 * error reply the agent might still send is not taken for another
 * command's. */
int qmp_send_noreply(struct qmp *q, const char *command, json_t *args,
    uint64_t timeout_ms, qmp_reply_fn fn, void *data);

/* qmp_send() that also passes fd (borrowed: a duplicate is made and closed
 * once sent) as SCM_RIGHTS with the command's first bytes, for getfd and
 * add-fd.  -EBADF for a bad fd; -EOPNOTSUPP in QGA mode. */
int qmp_send_fd(struct qmp *q, const char *command, json_t *args, int fd,
    uint64_t timeout_ms, qmp_reply_fn fn, void *data);

/* True once READY was reported and until the connection closes.  In QGA
 * mode commands may still wait for a resync after a timeout. */
bool qmp_is_ready(const struct qmp *q);

/* 0 while the connection is open; after it closed, its -errno (and the
 * message in err, if not NULL). */
int qmp_close_reason(const struct qmp *q, struct err *err);

/* The socket path given to qmp_connect() ("" for a detached object). */
const char *qmp_path(const struct qmp *q);

/* For an err from a qmp_reply_fn: is it QEMU's error of class cls
 * ("CommandNotFound", "GenericError", "DeviceNotFound" ...)? */
bool qmp_err_is_class(const struct err *err, const char *cls);
/* For an err from a qmp_reply_fn: QEMU's "desc" without the class prefix
 * (the whole message for errors that are not QEMU's). */
const char *qmp_err_desc(const struct err *err);

/* NULL-safe.  Fail every pending command with -ECANCELED (their callbacks
 * run, here and now), close the socket and drop the caller's reference; no
 * other callback runs afterwards.  Safe to call from inside any callback of
 * this q: the memory is released when the outermost callback returns.
 * Returns NULL. */
struct qmp *qmp_free(struct qmp *q);
