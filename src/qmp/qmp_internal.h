/* qmp_internal.h - what qmp.c (socket, bytes, lifetime) and proto.c (lines,
 * messages, commands) share, plus hooks for unit tests and the fuzzer.
 * Nothing outside src/qmp/ and tests/ may include it. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "qmp.h"

/* Protocol states, finer than enum qmp_state.
 *
 *   QMP:  CONNECTING --> GREETING --> CAPS --> READY
 *   QGA:  CONNECTING --> SYNCING  --> READY --(timeout/no-reply)--> SYNCING
 *   any   --> CLOSED
 *
 *   CONNECTING -> GREETING/SYNCING  proto_on_connected()  (socket connected)
 *   GREETING   -> CAPS              qmp_on_greeting()     ({"QMP":...} seen)
 *   CAPS       -> READY             caps_done()           (its reply seen)
 *   SYNCING    -> READY             qga_on_sync_line()    ({"return":id} seen)
 *   READY      -> SYNCING           qga_start_sync()      from qmp_pump(), when
 *                                    need_sync was set by cmd_on_timeout() or
 *                                    proto_on_written() (QGA only)
 *   any        -> CLOSED            qmp_close()
 */
enum qmp_pstate {
	P_CONNECTING, P_GREETING, P_CAPS, P_SYNCING, P_READY, P_CLOSED,
	P__COUNT
};

/* Bytes to write, in order.  fd (owned, -1 for none) travels as SCM_RIGHTS
 * with the first byte written; off < len while queued. */
struct qmp_chunk {
	TAILQ_ENTRY(qmp_chunk) link;
	char *data;
	size_t len, off;
	int fd;
};

enum qmp_cmd_where { CMD_QUEUED, CMD_SENT, CMD_DONE };

/* One command from qmp_send*() until its callback has run.
 * Invariants: where == CMD_QUEUED <=> on q->queue, line != NULL;
 * where == CMD_SENT <=> on q->sent, line == NULL and fd == -1 (both handed
 * to a chunk).  timer != NULL <=> a timeout is pending. */
struct qmp_cmd {
	TAILQ_ENTRY(qmp_cmd) link;
	struct qmp *q;
	enum qmp_cmd_where where;
	uint64_t id;			/* N of "tern-N" (QMP mode only) */
	char *name;
	char *line;			/* the JSON line with '\n' */
	size_t len;
	int fd;				/* dup to pass along, or -1 */
	bool noreply;
	uint64_t wend;			/* q->n_written once written */
	uint64_t timeout_ms;
	struct loop_timer *timer;
	qmp_reply_fn fn;
	void *data;
};

TAILQ_HEAD(qmp_cmd_list, qmp_cmd);
TAILQ_HEAD(qmp_chunk_list, qmp_chunk);

/* Invariants: n_ref counts the owner (until qmp_free) plus every callback
 * frame of this q on the stack; memory goes when it reaches 0, which needs
 * pstate == P_CLOSED.  fd >= 0 <=> watched by the loop.  rscan <= rlen:
 * rbuf[0..rscan) holds no '\n'.  QGA mode: at most one command on sent. */
struct qmp {
	unsigned n_ref;
	bool freed;			/* qmp_free() was called */
	bool ready_reported;
	struct loop *loop;
	enum qmp_mode mode;
	enum qmp_pstate pstate;
	int fd;
	uint32_t events;		/* the epoll mask set for fd */
	int connect_err;		/* connect() failed at once: -errno */
	char *path;
	qmp_event_fn on_event;
	qmp_state_fn on_state;
	void *ud;
	struct err close_err;		/* set by qmp_close() */

	char *rbuf;			/* received, not yet dispatched */
	size_t rlen, rcap, rscan;
	size_t max_line;

	struct qmp_chunk_list outq;
	uint64_t n_committed;		/* bytes ever queued on outq */
	uint64_t n_written;		/* bytes ever written */

	struct qmp_cmd_list queue;	/* waiting to be committed, FIFO */
	struct qmp_cmd_list sent;	/* committed, awaiting reply/write */
	uint64_t next_id;

	struct loop_timer *state_timer;	/* handshake/sync/connect */
	uint64_t handshake_timeout_ms;
	uint64_t sync_timeout_ms;
	uint32_t sync_id;		/* QGA: the guest-sync id awaited */
	uint32_t fixed_sync_id;		/* tests: instead of random */
	bool need_sync;			/* QGA: resync before next cmd */
	bool sync_stale;		/* QGA: sync timed out; resend */
};

/* qmp.c */
const char *qmp_pstate_name(enum qmp_pstate pstate);
/* Hold q across callbacks; the last unref frees it (q must be closed). */
void qmp_ref(struct qmp *q);
void qmp_unref(struct qmp *q);
/* Close with code (-errno) and a message: fails every pending command,
 * then reports QMP_CLOSED unless notify is false or qmp_free() was called.
 * No-op when already closed. */
void qmp_close(struct qmp *q, bool notify, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Append data (malloc'ed, taken) and fd (taken, -1 for none) to outq. */
void qmp_queue_chunk(struct qmp *q, char *data, size_t len, int fd);
/* Make the epoll mask match: EPOLLOUT only while outq is not empty. */
void qmp_update_events(struct qmp *q);
/* Grow rbuf so that at least n more bytes fit. */
void qmp_rbuf_reserve(struct qmp *q, size_t n);

/* proto.c */
/* The socket is connected: wait for the greeting (QMP) or start the
 * first sync (QGA). */
void proto_on_connected(struct qmp *q);
/* Dispatch the complete lines in rbuf; may close q and run callbacks. */
void proto_process(struct qmp *q);
/* Called after bytes were written: completes no-reply commands. */
void proto_on_written(struct qmp *q);
/* Fail every queued and sent command with q->close_err. */
void proto_fail_all(struct qmp *q);
/* Commit what the protocol state allows to outq.  Runs no callbacks. */
void qmp_pump(struct qmp *q);
/* Timer callback (data: q): close with -ETIMEDOUT. */
void proto_on_handshake_timeout(struct loop *l, void *data);

/* ---- hooks for tests and the fuzzer ---- */

/* A q with no socket, already "connected": QMP waits for the greeting, QGA
 * has queued its sync with sync_id (0: random).  Bytes come in through
 * qmp_feed() and go out through qmp_take_output(). */
int qmp_new_detached(struct loop *l, enum qmp_mode mode, uint32_t sync_id,
    qmp_event_fn on_event, qmp_state_fn on_state, void *ud,
    struct qmp **ret_q);
/* Feed received bytes as if read from the socket.  Returns 0, or the
 * close reason if q is (or became) closed. */
int qmp_feed(struct qmp *q, const void *buf, size_t len);
/* Everything queued for writing, as if written (malloc'ed, NUL-terminated;
 * NULL when nothing).  Completes no-reply commands. */
char *qmp_take_output(struct qmp *q, size_t *ret_len);
void qmp_set_max_line(struct qmp *q, size_t max_line);
/* Replace QMP_HANDSHAKE_TIMEOUT_MS / QGA_SYNC_TIMEOUT_MS (0 keeps); re-arms
 * a pending timer. */
void qmp_set_timeouts(struct qmp *q, uint64_t handshake_ms, uint64_t sync_ms);
