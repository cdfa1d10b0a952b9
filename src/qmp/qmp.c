/* qmp.c - the QMP/QGA client object: non-blocking connect, reads into the
 * line buffer, queued writes (with SCM_RIGHTS), close and lifetime.  The
 * protocol itself lives in proto.c.  Must never block, never log above
 * debug, and never free q while one of its callbacks is on the stack. */
#include <assert.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "log.h"
#include "qmp_internal.h"
#include "util.h"

#define QMP_READ_CHUNK (64 * 1024)
#define QMP_READ_BUDGET (1024 * 1024)	/* per callback, for fairness */
#define QMP_RBUF_KEEP (1024 * 1024)	/* shrink rbuf above this, idle */

static const char *const qmp_state_names[QMP_STATE__COUNT] = {
	[QMP_CONNECTING] = "connecting",
	[QMP_READY] = "ready",
	[QMP_CLOSED] = "closed",
};

static const char *const qmp_mode_names[QMP_MODE__COUNT] = {
	[QMP_MODE_QMP] = "qmp",
	[QMP_MODE_QGA] = "qga",
};

static const char *const qmp_pstate_names[P__COUNT] = {
	[P_CONNECTING] = "connecting",
	[P_GREETING] = "greeting",
	[P_CAPS] = "capabilities",
	[P_SYNCING] = "syncing",
	[P_READY] = "ready",
	[P_CLOSED] = "closed",
};

const char *
qmp_pstate_name(enum qmp_pstate pstate)
{
	return (unsigned)pstate < P__COUNT ? qmp_pstate_names[pstate] :
	    "invalid";
}

const char *
qmp_state_name(enum qmp_state state)
{
	return (unsigned)state < QMP_STATE__COUNT ? qmp_state_names[state] :
	    "invalid";
}

const char *
qmp_mode_name(enum qmp_mode mode)
{
	return (unsigned)mode < QMP_MODE__COUNT ? qmp_mode_names[mode] :
	    "invalid";
}

void
qmp_ref(struct qmp *q)
{
	q->n_ref++;
}

void
qmp_unref(struct qmp *q)
{
	assert(q->n_ref > 0);
	if (--q->n_ref > 0)
		return;
	assert(q->pstate == P_CLOSED);
	assert(TAILQ_EMPTY(&q->queue) && TAILQ_EMPTY(&q->sent));
	free(q->rbuf);
	free(q->path);
	free(q);
}

static struct qmp *
qmp_alloc(struct loop *l, const char *path, enum qmp_mode mode,
    qmp_event_fn on_event, qmp_state_fn on_state, void *ud)
{
	struct qmp *q = xzalloc(sizeof(*q));

	assert((unsigned)mode < QMP_MODE__COUNT);
	q->n_ref = 1;
	q->loop = l;
	q->mode = mode;
	q->pstate = P_CONNECTING;
	q->fd = -1;
	q->path = xstrdup(path);
	q->on_event = on_event;
	q->on_state = on_state;
	q->ud = ud;
	q->max_line = MAX_QMP_LINE;
	q->next_id = 1;
	q->handshake_timeout_ms = QMP_HANDSHAKE_TIMEOUT_MS;
	q->sync_timeout_ms = QGA_SYNC_TIMEOUT_MS;
	TAILQ_INIT(&q->outq);
	TAILQ_INIT(&q->queue);
	TAILQ_INIT(&q->sent);
	return q;
}

static void
chunk_free(struct qmp_chunk *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->data);
	free(c);
}

void
qmp_close(struct qmp *q, bool notify, int code, const char *fmt, ...)
{
	struct qmp_chunk *c;
	char msg[sizeof(q->close_err.msg)];
	va_list ap;

	assert(code < 0);
	if (q->pstate == P_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	err_set(&q->close_err, code, "%s", msg);
	log_debug("qmp: path=%s mode=%s closed state=%s code=%d: %s",
	    q->path, qmp_mode_name(q->mode), qmp_pstate_name(q->pstate),
	    code, msg);
	q->pstate = P_CLOSED;
	if (q->fd >= 0) {
		loop_del_fd(q->loop, q->fd);
		close(q->fd);
		q->fd = -1;
	}
	q->state_timer = loop_timer_cancel(q->loop, q->state_timer);
	while ((c = TAILQ_FIRST(&q->outq))) {
		TAILQ_REMOVE(&q->outq, c, link);
		chunk_free(c);
	}
	qmp_ref(q);
	proto_fail_all(q);
	if (notify && !q->freed && q->on_state)
		q->on_state(q, QMP_CLOSED, q->ud);
	qmp_unref(q);
}

void
qmp_update_events(struct qmp *q)
{
	uint32_t want = EPOLLIN;

	if (q->fd < 0 || q->pstate == P_CONNECTING || q->pstate == P_CLOSED)
		return;
	if (!TAILQ_EMPTY(&q->outq))
		want |= EPOLLOUT;
	if (want == q->events)
		return;
	/* Cannot fail for a watched fd short of kernel memory exhaustion;
	 * a stale mask only costs a spurious wakeup. */
	if (loop_mod_fd(q->loop, q->fd, want) == 0)
		q->events = want;
}

void
qmp_queue_chunk(struct qmp *q, char *data, size_t len, int fd)
{
	struct qmp_chunk *c = xzalloc(sizeof(*c));

	c->data = data;
	c->len = len;
	c->fd = fd;
	TAILQ_INSERT_TAIL(&q->outq, c, link);
	q->n_committed += len;
	qmp_update_events(q);
}

void
qmp_rbuf_reserve(struct qmp *q, size_t n)
{
	size_t cap = q->rcap ? q->rcap : QMP_READ_CHUNK;

	if (q->rcap - q->rlen >= n)
		return;
	while (cap - q->rlen < n)
		cap *= 2;
	q->rbuf = xrealloc(q->rbuf, cap);
	q->rcap = cap;
}

/* After a burst of reads: give back the memory of one huge reply. */
static void
rbuf_shrink(struct qmp *q)
{
	if (q->rcap > QMP_RBUF_KEEP && q->rlen < QMP_READ_CHUNK) {
		q->rbuf = xrealloc(q->rbuf, 2 * QMP_READ_CHUNK);
		q->rcap = 2 * QMP_READ_CHUNK;
	}
}

static void
qmp_read(struct qmp *q)
{
	size_t budget = QMP_READ_BUDGET;

	while (q->pstate != P_CLOSED && budget > 0) {
		ssize_t n;

		qmp_rbuf_reserve(q, QMP_READ_CHUNK);
		n = read(q->fd, q->rbuf + q->rlen, q->rcap - q->rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			int r = -errno;

			qmp_close(q, true, r, "reading from '%s': %s",
			    q->path, strerror(-r));
			return;
		}
		if (n == 0) {
			qmp_close(q, true, -ECONNRESET, "'%s' closed the "
			    "connection", q->path);
			return;
		}
		q->rlen += (size_t)n;
		budget -= MIN(budget, (size_t)n);
		proto_process(q);
	}
	if (q->pstate != P_CLOSED)
		rbuf_shrink(q);
}

/* sendmsg() of what is left of c, with c->fd attached if it has one. */
static ssize_t
chunk_send(int fd, struct qmp_chunk *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = { c->data + c->off, c->len - c->off };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cmsg;

	if (c->fd >= 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		cmsg = CMSG_FIRSTHDR(&mh);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &c->fd, sizeof(int));
	}
	return sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Account n bytes of the head chunk as written; may run callbacks. */
static void
chunk_advance(struct qmp *q, struct qmp_chunk *c, size_t n)
{
	c->off += n;
	q->n_written += n;
	if (c->fd >= 0) {
		/* The kernel attached it to the bytes just sent. */
		close(c->fd);
		c->fd = -1;
	}
	if (c->off < c->len)
		return;
	TAILQ_REMOVE(&q->outq, c, link);
	chunk_free(c);
	proto_on_written(q);
}

static void
qmp_flush(struct qmp *q)
{
	struct qmp_chunk *c;

	while (q->pstate != P_CLOSED && (c = TAILQ_FIRST(&q->outq))) {
		ssize_t n = chunk_send(q->fd, c);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n == -1) {
			int r = errno == EPIPE ? -ECONNRESET : -errno;

			qmp_close(q, true, r, "writing to '%s': %s", q->path,
			    strerror(errno));
			return;
		}
		chunk_advance(q, c, (size_t)n);
	}
	qmp_update_events(q);
}

/* CONNECTING and the socket became writable: did connect() work? */
static void
qmp_finish_connect(struct qmp *q)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0) {
		qmp_close(q, true, -e, "connecting to '%s': %s", q->path,
		    strerror(e));
		return;
	}
	proto_on_connected(q);
}

static void
qmp_on_io(struct loop *l, int fd, uint32_t events, void *data)
{
	struct qmp *q = data;

	(void)l;
	(void)fd;
	qmp_ref(q);
	if (q->pstate == P_CONNECTING)
		qmp_finish_connect(q);
	if (q->pstate != P_CLOSED &&
	    (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		qmp_read(q);
	/* Flush also without EPOLLOUT: reading may have queued a command. */
	if (q->pstate != P_CLOSED && !TAILQ_EMPTY(&q->outq))
		qmp_flush(q);
	qmp_unref(q);
}

static void
qmp_on_connect_failed(struct loop *l, void *data)
{
	struct qmp *q = data;
	int r = q->connect_err;

	(void)l;
	q->state_timer = NULL;
	qmp_close(q, true, r, "connecting to '%s': %s", q->path,
	    strerror(-r));
}

/* connect() and register; on failure the close is reported from the loop,
 * because the caller does not have q yet. */
static int
qmp_start_connect(struct qmp *q, const struct sockaddr_un *sa)
{
	int r, rc;

	if (connect(q->fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		r = 0;
	else if (errno == EINPROGRESS)
		r = 1;
	else {
		q->connect_err = -errno;
		close(q->fd);
		q->fd = -1;
		q->state_timer = loop_timer_add(q->loop, 0,
		    qmp_on_connect_failed, q);
		return 0;
	}
	q->events = EPOLLIN | EPOLLOUT;
	rc = loop_add_fd(q->loop, q->fd, q->events, qmp_on_io, q);
	if (rc < 0)
		return rc;
	if (q->mode == QMP_MODE_QMP)
		q->state_timer = loop_timer_add(q->loop,
		    q->handshake_timeout_ms, proto_on_handshake_timeout, q);
	if (r == 0)
		proto_on_connected(q);
	return 0;
}

int
qmp_connect(struct loop *l, const char *socket_path, enum qmp_mode mode,
    qmp_event_fn on_event, qmp_state_fn on_state, void *ud,
    struct qmp **ret_q)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qmp *q;
	size_t n = socket_path ? strlen(socket_path) : 0;
	int fd, r;

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -errno;
	q = qmp_alloc(l, socket_path, mode, on_event, on_state, ud);
	q->fd = fd;
	r = qmp_start_connect(q, &sa);
	if (r < 0) {
		q->pstate = P_CLOSED;	/* nothing queued: no callbacks */
		q->state_timer = loop_timer_cancel(l, q->state_timer);
		loop_del_fd(l, fd);
		close(fd);
		qmp_unref(q);
		return r;
	}
	log_debug("qmp: path=%s mode=%s connecting", socket_path,
	    qmp_mode_name(mode));
	*ret_q = q;
	return 0;
}

bool
qmp_is_ready(const struct qmp *q)
{
	return q->ready_reported && q->pstate != P_CLOSED;
}

int
qmp_close_reason(const struct qmp *q, struct err *err)
{
	if (q->pstate != P_CLOSED)
		return 0;
	return err_set(err, q->close_err.code, "%s", q->close_err.msg);
}

const char *
qmp_path(const struct qmp *q)
{
	return q->path;
}

struct qmp *
qmp_free(struct qmp *q)
{
	if (!q || q->freed)
		return NULL;
	q->freed = true;
	qmp_close(q, false, -ECANCELED, "connection to '%s' closed by its "
	    "owner", q->path);
	qmp_unref(q);
	return NULL;
}

/* ---- hooks for tests and the fuzzer (qmp_internal.h) ---- */

int
qmp_new_detached(struct loop *l, enum qmp_mode mode, uint32_t sync_id,
    qmp_event_fn on_event, qmp_state_fn on_state, void *ud,
    struct qmp **ret_q)
{
	struct qmp *q = qmp_alloc(l, "", mode, on_event, on_state, ud);

	q->fixed_sync_id = sync_id;
	proto_on_connected(q);
	*ret_q = q;
	return 0;
}

int
qmp_feed(struct qmp *q, const void *buf, size_t len)
{
	const char *p = buf;
	int r;

	qmp_ref(q);
	while (len > 0 && q->pstate != P_CLOSED) {
		size_t n = MIN(len, (size_t)QMP_READ_CHUNK);

		qmp_rbuf_reserve(q, n);
		memcpy(q->rbuf + q->rlen, p, n);
		q->rlen += n;
		p += n;
		len -= n;
		proto_process(q);
	}
	r = q->pstate == P_CLOSED ? q->close_err.code : 0;
	qmp_unref(q);
	return r;
}

char *
qmp_take_output(struct qmp *q, size_t *ret_len)
{
	struct qmp_chunk *c;
	char *out = NULL;
	size_t len = 0;

	qmp_ref(q);
	while (q->pstate != P_CLOSED && (c = TAILQ_FIRST(&q->outq))) {
		size_t n = c->len - c->off;

		out = xrealloc(out, len + n + 1);
		memcpy(out + len, c->data + c->off, n);
		len += n;
		out[len] = '\0';
		chunk_advance(q, c, n);
	}
	qmp_unref(q);
	*ret_len = len;
	return out;
}

void
qmp_set_max_line(struct qmp *q, size_t max_line)
{
	q->max_line = max_line;
}
