/* proto.c - the monitor protocol over the bytes qmp.c moves: line framing,
 * message dispatch, "tern-N" ids (QMP) or FIFO order (QGA), timeouts, the
 * QMP handshake and the QGA guest-sync-delimited resynchronisation.  Does
 * no I/O itself and never logs above debug; never logs arguments or reply
 * contents (they may carry secrets). */
#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "jsonutil.h"
#include "log.h"
#include "qmp_internal.h"
#include "util.h"

#define QMP_ID_PREFIX "tern-"

static void
cmd_free(struct qmp_cmd *cmd)
{
	if (cmd->fd >= 0)
		close(cmd->fd);
	free(cmd->line);
	free(cmd->name);
	free(cmd);
}

/* Take cmd off its list, cancel its timer, run its callback once, free
 * it.  The callback may do anything, including qmp_free(q). */
static void
cmd_finish(struct qmp *q, struct qmp_cmd *cmd, json_t *ret,
    const struct err *err)
{
	if (cmd->where == CMD_QUEUED)
		TAILQ_REMOVE(&q->queue, cmd, link);
	else if (cmd->where == CMD_SENT)
		TAILQ_REMOVE(&q->sent, cmd, link);
	cmd->where = CMD_DONE;
	cmd->timer = loop_timer_cancel(q->loop, cmd->timer);
	log_debug("qmp: path=%s command=%s id=" QMP_ID_PREFIX "%" PRIu64
	    " done code=%d", q->path, cmd->name, cmd->id,
	    err ? err->code : 0);
	if (cmd->fn)
		cmd->fn(q, ret, err, cmd->data);
	cmd_free(cmd);
}

void
proto_fail_all(struct qmp *q)
{
	struct qmp_cmd *cmd;

	while ((cmd = TAILQ_FIRST(&q->sent)) ||
	    (cmd = TAILQ_FIRST(&q->queue))) {
		struct err e = {0};

		err_set(&e, q->close_err.code, "QMP command '%s': %s",
		    cmd->name, q->close_err.msg);
		cmd_finish(q, cmd, NULL, &e);
	}
}

/* Move cmd from queue to sent and its line (and fd) to the output. */
static void
cmd_commit(struct qmp *q, struct qmp_cmd *cmd)
{
	assert(cmd->where == CMD_QUEUED);
	TAILQ_REMOVE(&q->queue, cmd, link);
	TAILQ_INSERT_TAIL(&q->sent, cmd, link);
	cmd->where = CMD_SENT;
	qmp_queue_chunk(q, TAKE_PTR(cmd->line), cmd->len, TAKE_FD(cmd->fd));
	cmd->wend = q->n_committed;
	log_debug("qmp: path=%s command=%s id=" QMP_ID_PREFIX "%" PRIu64
	    " sent", q->path, cmd->name, cmd->id);
}

static uint32_t
qga_new_sync_id(const struct qmp *q)
{
	uint32_t id;

	if (q->fixed_sync_id)
		return q->fixed_sync_id;
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != sizeof(id))
		id = (uint32_t)(now_ms() * 2654435761u) ^ (uint32_t)getpid();
	id &= 0x7fffffff;
	if (id == 0 || id == q->sync_id)
		id = (id + 1) & 0x7fffffff;
	return id ? id : 1;
}

static void qga_on_sync_timeout(struct loop *l, void *data);

/* Send 0xFF (the agent drops any partial input on it) and a new
 * guest-sync-delimited; everything read until its answer is dropped. */
static void
qga_start_sync(struct qmp *q)
{
	char *line;

	q->sync_id = qga_new_sync_id(q);
	q->pstate = P_SYNCING;
	q->need_sync = false;
	q->sync_stale = false;
	line = xasprintf("\xff{\"execute\":\"guest-sync-delimited\","
	    "\"arguments\":{\"id\":%" PRIu32 "}}\n", q->sync_id);
	qmp_queue_chunk(q, line, strlen(line), -1);
	q->state_timer = loop_timer_cancel(q->loop, q->state_timer);
	q->state_timer = loop_timer_add(q->loop, q->sync_timeout_ms,
	    qga_on_sync_timeout, q);
	log_debug("qmp: path=%s sync id=%" PRIu32, q->path, q->sync_id);
}

static void
qga_on_sync_timeout(struct loop *l, void *data)
{
	struct qmp *q = data;

	(void)l;
	q->state_timer = NULL;
	if (!TAILQ_EMPTY(&q->outq)) {
		/* The peer is not reading (guest port closed): more syncs
		 * would only pile up.  Look again later. */
		q->state_timer = loop_timer_add(q->loop, q->sync_timeout_ms,
		    qga_on_sync_timeout, q);
		return;
	}
	if (!q->ready_reported || !TAILQ_EMPTY(&q->queue))
		qga_start_sync(q);
	else
		q->sync_stale = true;
	qmp_update_events(q);
}

void
qmp_pump(struct qmp *q)
{
	struct qmp_cmd *cmd;

	if (q->pstate == P_SYNCING && q->sync_stale &&
	    !TAILQ_EMPTY(&q->queue) && TAILQ_EMPTY(&q->outq))
		qga_start_sync(q);
	while (q->pstate == P_READY && (cmd = TAILQ_FIRST(&q->queue)) &&
	    TAILQ_EMPTY(&q->outq)) {
		/* One command at a time in QGA mode: replies carry no id. */
		if (q->mode == QMP_MODE_QGA && !TAILQ_EMPTY(&q->sent))
			break;
		if (q->mode == QMP_MODE_QGA && q->need_sync) {
			qga_start_sync(q);
			break;
		}
		cmd_commit(q, cmd);
	}
	qmp_update_events(q);
}

/* Build the command line; -EINVAL when jansson cannot encode it. */
static int
cmd_encode(struct qmp *q, struct qmp_cmd *cmd, json_t *args)
{
	_cleanup_json_ json_t *msg = json_object();
	char *s;
	size_t n;

	if (json_object_set_new(msg, "execute", json_string(cmd->name)) < 0)
		return -EINVAL;
	if (args && json_object_set(msg, "arguments", args) < 0)
		return -EINVAL;
	if (q->mode == QMP_MODE_QMP && json_object_set_new(msg, "id",
	    json_sprintf(QMP_ID_PREFIX "%" PRIu64, cmd->id)) < 0)
		return -EINVAL;
	s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return -EINVAL;
	n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	cmd->line = s;
	cmd->len = n + 1;
	return 0;
}

static void
cmd_on_timeout(struct loop *l, void *data)
{
	struct qmp_cmd *cmd = data;
	struct qmp *q = cmd->q;
	struct err e = {0};

	(void)l;
	cmd->timer = NULL;
	qmp_ref(q);
	/* A late answer to a command already written would be taken for
	 * the next one's: QGA replies carry no id. */
	if (q->mode == QMP_MODE_QGA && cmd->where == CMD_SENT)
		q->need_sync = true;
	err_set(&e, -ETIMEDOUT, "QMP command '%s' got no reply within "
	    "%" PRIu64 " ms", cmd->name, cmd->timeout_ms);
	cmd_finish(q, cmd, NULL, &e);
	if (q->pstate != P_CLOSED)
		qmp_pump(q);
	qmp_unref(q);
}

static int
cmd_submit(struct qmp *q, const char *command, json_t *args, int fd,
    bool noreply, uint64_t timeout_ms, qmp_reply_fn fn, void *data)
{
	_cleanup_json_ json_t *a = args;
	struct qmp_cmd *cmd;
	int r;

	if (!command || !*command || (a && !json_is_object(a)))
		return -EINVAL;
	if (q->pstate == P_CLOSED)
		return -ENOTCONN;
	cmd = xzalloc(sizeof(*cmd));
	cmd->q = q;
	cmd->fd = -1;
	cmd->name = xstrdup(command);
	cmd->id = q->next_id++;
	r = cmd_encode(q, cmd, a);
	if (r == 0 && fd >= 0) {
		cmd->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		r = cmd->fd == -1 ? -errno : 0;
	}
	if (r < 0) {
		cmd_free(cmd);
		return r;
	}
	cmd->noreply = noreply;
	cmd->timeout_ms = timeout_ms;
	cmd->fn = fn;
	cmd->data = data;
	cmd->where = CMD_QUEUED;
	TAILQ_INSERT_TAIL(&q->queue, cmd, link);
	if (timeout_ms > 0)
		cmd->timer = loop_timer_add(q->loop, timeout_ms,
		    cmd_on_timeout, cmd);
	qmp_pump(q);
	return 0;
}

int
qmp_send(struct qmp *q, const char *command, json_t *args,
    uint64_t timeout_ms, qmp_reply_fn fn, void *data)
{
	return cmd_submit(q, command, args, -1, false, timeout_ms, fn, data);
}

int
qmp_send_noreply(struct qmp *q, const char *command, json_t *args,
    uint64_t timeout_ms, qmp_reply_fn fn, void *data)
{
	return cmd_submit(q, command, args, -1, true, timeout_ms, fn, data);
}

int
qmp_send_fd(struct qmp *q, const char *command, json_t *args, int fd,
    uint64_t timeout_ms, qmp_reply_fn fn, void *data)
{
	if (fd < 0) {
		json_decref(args);
		return -EBADF;
	}
	if (q->mode != QMP_MODE_QMP) {
		json_decref(args);
		return -EOPNOTSUPP;
	}
	return cmd_submit(q, command, args, fd, false, timeout_ms, fn, data);
}

void
proto_on_written(struct qmp *q)
{
	for (;;) {
		struct qmp_cmd *cmd;

		TAILQ_FOREACH(cmd, &q->sent, link)
			if (cmd->noreply && cmd->wend <= q->n_written)
				break;
		if (!cmd)
			break;
		if (q->mode == QMP_MODE_QGA)
			q->need_sync = true;
		cmd_finish(q, cmd, json_null(), NULL);
		if (q->pstate == P_CLOSED)
			return;
	}
	qmp_pump(q);
}

/* ---- the handshake ---- */

static void
set_ready(struct qmp *q)
{
	q->pstate = P_READY;
	q->state_timer = loop_timer_cancel(q->loop, q->state_timer);
	qmp_pump(q);
	if (q->ready_reported)
		return;
	q->ready_reported = true;
	log_debug("qmp: path=%s mode=%s ready", q->path,
	    qmp_mode_name(q->mode));
	if (q->on_state && !q->freed)
		q->on_state(q, QMP_READY, q->ud);
}

void
proto_on_connected(struct qmp *q)
{
	if (q->mode == QMP_MODE_QMP)
		q->pstate = P_GREETING;
	else
		qga_start_sync(q);
	qmp_update_events(q);
}

void
proto_on_handshake_timeout(struct loop *l, void *data)
{
	struct qmp *q = data;

	(void)l;
	q->state_timer = NULL;
	qmp_close(q, true, -ETIMEDOUT, "no QMP greeting from '%s' within "
	    "%" PRIu64 " ms (another client connected?)", q->path,
	    q->handshake_timeout_ms);
}

void
qmp_set_timeouts(struct qmp *q, uint64_t handshake_ms, uint64_t sync_ms)
{
	bool handshake = q->mode == QMP_MODE_QMP && !q->connect_err &&
	    (q->pstate == P_CONNECTING || q->pstate == P_GREETING ||
	    q->pstate == P_CAPS);
	bool syncing = q->mode == QMP_MODE_QGA && q->pstate == P_SYNCING;

	if (handshake_ms)
		q->handshake_timeout_ms = handshake_ms;
	if (sync_ms)
		q->sync_timeout_ms = sync_ms;
	if (!q->state_timer || (!handshake && !syncing))
		return;
	q->state_timer = loop_timer_cancel(q->loop, q->state_timer);
	if (handshake)
		q->state_timer = loop_timer_add(q->loop,
		    q->handshake_timeout_ms, proto_on_handshake_timeout, q);
	else
		q->state_timer = loop_timer_add(q->loop, q->sync_timeout_ms,
		    qga_on_sync_timeout, q);
}

static void
caps_done(struct qmp *q, json_t *ret, const struct err *err, void *data)
{
	(void)ret;
	(void)data;
	if (!err)
		set_ready(q);
	else if (err->code == -EIO)
		qmp_close(q, true, -EPROTO, "qmp_capabilities failed: %s",
		    err->msg);
	/* else: closing already */
}

static void
qmp_on_greeting(struct qmp *q)
{
	struct qmp_cmd *cmd;

	if (q->pstate != P_GREETING) {
		log_debug("qmp: path=%s ignoring a second greeting", q->path);
		return;
	}
	cmd = xzalloc(sizeof(*cmd));
	cmd->q = q;
	cmd->fd = -1;
	cmd->name = xstrdup("qmp_capabilities");
	cmd->id = q->next_id++;
	cmd->fn = caps_done;
	if (cmd_encode(q, cmd, NULL) < 0)
		abort();	/* a fixed ASCII object always encodes */
	cmd->where = CMD_QUEUED;
	TAILQ_INSERT_HEAD(&q->queue, cmd, link);
	cmd_commit(q, cmd);
	q->pstate = P_CAPS;
}

/* ---- incoming messages ---- */

/* {"error":{"class","desc"}} -> -EIO "<class>: <desc>". */
static void
error_to_err(json_t *error, struct err *e)
{
	const char *cls = json_string_value(json_object_get(error, "class"));
	const char *desc = json_string_value(json_object_get(error, "desc"));

	err_set(e, -EIO, "%s: %s", cls && *cls ? cls : "GenericError",
	    desc ? desc : "(no description)");
}

static void
cmd_answer(struct qmp *q, struct qmp_cmd *cmd, json_t *msg)
{
	json_t *error = json_object_get(msg, "error");
	struct err e = {0};

	if (error) {
		error_to_err(error, &e);
		cmd_finish(q, cmd, NULL, &e);
		return;
	}
	cmd_finish(q, cmd, json_object_get(msg, "return"), NULL);
}

static struct qmp_cmd *
cmd_find_sent(struct qmp *q, json_t *id)
{
	const char *s = json_string_value(id);
	struct qmp_cmd *cmd;
	uint64_t n;
	char *end;

	if (!s || strncmp(s, QMP_ID_PREFIX, strlen(QMP_ID_PREFIX)) != 0)
		return NULL;
	s += strlen(QMP_ID_PREFIX);
	if (*s < '0' || *s > '9')
		return NULL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || *end)
		return NULL;
	TAILQ_FOREACH(cmd, &q->sent, link)
		if (cmd->id == n && !cmd->noreply)
			return cmd;
	return NULL;
}

static void
qmp_on_message(struct qmp *q, json_t *msg)
{
	json_t *ev = json_object_get(msg, "event");
	struct qmp_cmd *cmd;

	if (json_object_get(msg, "QMP")) {
		qmp_on_greeting(q);
	} else if (ev) {
		if (!json_is_string(ev))
			log_debug("qmp: path=%s event without a name", q->path);
		else if (q->on_event && !q->freed)
			q->on_event(q, json_string_value(ev),
			    json_object_get(msg, "data"), q->ud);
	} else if (json_object_get(msg, "return") ||
	    json_object_get(msg, "error")) {
		cmd = cmd_find_sent(q, json_object_get(msg, "id"));
		if (cmd)
			cmd_answer(q, cmd, msg);
		else
			log_debug("qmp: path=%s reply with unknown id, "
			    "ignoring", q->path);
	} else {
		log_debug("qmp: path=%s unknown message, ignoring", q->path);
	}
}

static void
qga_on_message(struct qmp *q, json_t *msg)
{
	struct qmp_cmd *cmd = TAILQ_FIRST(&q->sent);

	if (!json_object_get(msg, "return") && !json_object_get(msg, "error")) {
		log_debug("qmp: path=%s unknown agent message, ignoring",
		    q->path);
		return;
	}
	if (!cmd || cmd->noreply) {
		log_debug("qmp: path=%s agent reply with nothing in flight, "
		    "ignoring", q->path);
		return;
	}
	cmd_answer(q, cmd, msg);
}

/* SYNCING: drop everything but {"return": sync_id}. */
static void
qga_on_sync_line(struct qmp *q, json_t *v)
{
	json_t *ret = json_object_get(v, "return");

	if (json_is_integer(ret) && json_integer_value(ret) == q->sync_id) {
		log_debug("qmp: path=%s synced id=%" PRIu32, q->path,
		    q->sync_id);
		set_ready(q);
		return;
	}
	log_debug("qmp: path=%s dropping a line while syncing", q->path);
}

static json_t *
parse_line(const char *line, size_t len, json_error_t *je)
{
	json_t *v = json_loadb(line, len, 0, je);

	/* QEMU prints uint64 values beyond INT64_MAX (rare); jansson refuses
	 * them.  Keeping the connection matters more than exact integers
	 * in that one message. */
	if (!v && json_error_code(je) == json_error_numeric_overflow)
		v = json_loadb(line, len, JSON_DECODE_INT_AS_REAL, je);
	return v;
}

static bool
is_blank(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
			return false;
	return true;
}

static void
proto_line(struct qmp *q, const char *line, size_t len)
{
	json_error_t je;
	json_t *v;

	/* The agent prefixes the sync reply with 0xFF and may send stray
	 * ones; they never start valid JSON. */
	while (q->mode == QMP_MODE_QGA && len > 0 && (uint8_t)*line == 0xFF) {
		line++;
		len--;
	}
	if (is_blank(line, len))
		return;
	v = parse_line(line, len, &je);
	if (q->pstate == P_SYNCING) {
		qga_on_sync_line(q, v);
	} else if (!v) {
		qmp_close(q, true, -EPROTO, "malformed JSON from '%s' at "
		    "column %d: %s", q->path, je.column, je.text);
	} else if (!json_is_object(v)) {
		qmp_close(q, true, -EPROTO, "message from '%s' is not a JSON "
		    "object", q->path);
	} else if (q->mode == QMP_MODE_QMP) {
		qmp_on_message(q, v);
	} else {
		qga_on_message(q, v);
	}
	json_decref(v);
}

void
proto_process(struct qmp *q)
{
	size_t start = 0;

	while (q->pstate != P_CLOSED) {
		char *nl = memchr(q->rbuf + q->rscan, '\n',
		    q->rlen - q->rscan);
		size_t len;

		if (!nl)
			break;
		len = (size_t)(nl - q->rbuf) - start;
		q->rscan = start + len + 1;
		if (len > q->max_line) {
			qmp_close(q, true, -EPROTO, "line of %zu bytes from "
			    "'%s' is over the limit of %zu", len, q->path,
			    q->max_line);
			return;
		}
		proto_line(q, q->rbuf + start, len);
		start = q->rscan;
	}
	if (q->pstate == P_CLOSED)
		return;
	memmove(q->rbuf, q->rbuf + start, q->rlen - start);
	q->rlen -= start;
	q->rscan = q->rlen;
	if (q->rlen > q->max_line) {
		qmp_close(q, true, -EPROTO, "unterminated line of over %zu "
		    "bytes from '%s'", q->max_line, q->path);
		return;
	}
	qmp_pump(q);
}

/* ---- error helpers ---- */

/* QEMU class names are one CamelCase word: "Class: desc". */
static size_t
err_class_len(const struct err *err)
{
	const char *colon;

	if (!err || err->code != -EIO)
		return 0;
	colon = strstr(err->msg, ": ");
	if (!colon || colon == err->msg ||
	    strcspn(err->msg, " ") < (size_t)(colon - err->msg))
		return 0;
	return (size_t)(colon - err->msg);
}

bool
qmp_err_is_class(const struct err *err, const char *cls)
{
	size_t n = err_class_len(err);

	return n > 0 && cls && strlen(cls) == n &&
	    strncmp(err->msg, cls, n) == 0;
}

const char *
qmp_err_desc(const struct err *err)
{
	size_t n = err_class_len(err);

	if (!err)
		return "";
	return n > 0 ? err->msg + n + 2 : err->msg;
}
