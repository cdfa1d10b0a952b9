/* test_qmp.c - the QMP/QGA client against the scripted fake peer, a byte
 * feeder, a real QEMU and (when installed) a real qemu-ga.  Every wait is
 * bounded by a deadline; child processes are killed by PID at the end.
 * Over the 1,200-line budget on purpose: one binary per module, and each
 * test is a flat script that reads best whole. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "fake_qmp.h"
#include "log.h"
#include "loop.h"
#include "qmp.h"
#include "qmp_internal.h"
#include "test.h"
#include "util.h"

extern char **environ;

static struct loop *L;
static int g_order;

/* Run the loop until expr holds or ms pass; fail the test on timeout. */
#define WAIT_FOR(expr, ms) do { \
	uint64_t d_ = now_ms() + (ms); \
	while (!(expr)) { \
		uint64_t n_ = now_ms(); \
		if (n_ >= d_) \
			break; \
		(void)loop_run_once(L, (int)MIN(d_ - n_, (uint64_t)200)); \
	} \
	ASSERT_TRUE(expr); \
} while (0)

/* Run the loop for ms, whatever happens. */
static void
run_for(uint64_t ms)
{
	uint64_t d = now_ms() + ms;

	for (uint64_t n = now_ms(); n < d; n = now_ms())
		(void)loop_run_once(L, (int)(d - n));
}

#define ASSERT_FAKE_OK(f) do { \
	ASSERT_TRUE(fake_qmp_is_done(f)); \
	if (fake_qmp_mismatch(f)) \
		fprintf(stderr, "fake: %s\n", fake_qmp_mismatch(f)); \
	ASSERT_EQ(fake_qmp_n_mismatches(f), 0); \
} while (0)

/* ---- callback recorders ---- */

struct ctx {
	struct qmp *q;
	int n_ready, n_closed, close_code;
	int n_events;
	char ev_name[8][64];
	json_t *ev_data[8];
	bool free_on_ready, free_on_closed, free_on_event;
};

struct reply {
	int n, code, order;
	char msg[240];
	struct err err;		/* a copy of the last err, or zeroed */
	json_t *ret;
	bool free_q;		/* qmp_free(q) inside the callback */
};

static void
ctx_done(struct ctx *c)
{
	for (int i = 0; i < c->n_events && i < 8; i++)
		json_decref(c->ev_data[i]);
	c->q = qmp_free(c->q);
}

static void
reply_done(struct reply *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(r[i].ret);
}

static void
on_state(struct qmp *q, int state, void *ud)
{
	struct ctx *c = ud;

	if (state == QMP_READY) {
		c->n_ready++;
		if (c->free_on_ready)
			c->q = qmp_free(q);
		return;
	}
	c->n_closed++;
	c->close_code = qmp_close_reason(q, NULL);
	if (c->free_on_closed)
		c->q = qmp_free(q);
}

static void
on_event(struct qmp *q, const char *name, json_t *data, void *ud)
{
	struct ctx *c = ud;

	if (c->n_events < 8) {
		snprintf(c->ev_name[c->n_events], 64, "%s", name);
		c->ev_data[c->n_events] = json_incref(data);
	}
	c->n_events++;
	if (c->free_on_event)
		c->q = qmp_free(q);
}

static void
on_reply(struct qmp *q, json_t *ret, const struct err *err, void *data)
{
	struct reply *r = data;

	r->n++;
	r->order = ++g_order;
	r->code = err ? err->code : 0;
	snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
	r->err = err ? *err : (struct err){0};
	json_decref(r->ret);
	r->ret = json_incref(ret);
	if (r->free_q)
		(void)qmp_free(q);
}

static int
connect_to(struct fake_qmp *f, enum qmp_mode mode, struct ctx *c)
{
	return qmp_connect(L, fake_qmp_path(f), mode, on_event, on_state, c,
	    &c->q);
}

static const char *
ret_str(const struct reply *r, const char *key)
{
	return json_string_value(key ? json_object_get(r->ret, key) : r->ret);
}

/* ---- QMP mode against the fake ---- */

static void
test_handshake_ready(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_TRUE(!qmp_is_ready(c.q));
	WAIT_FOR(c.n_ready == 1, 2000);
	ASSERT_TRUE(qmp_is_ready(c.q));
	ASSERT_EQ(qmp_close_reason(c.q, NULL), 0);
	ASSERT_FAKE_OK(f);
	ctx_done(&c);
	ASSERT_EQ(c.n_closed, 0);	/* qmp_free reports nothing */
	fake_qmp_free(f);
}

static void
test_commands_before_ready_wait(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};
	int h;

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	h = fake_qmp_expect(f, "query-status", NULL);
	fake_qmp_reply(f, h, "{\"status\": \"running\", \"running\": true}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_EQ(r.code, 0);
	ASSERT_STREQ(ret_str(&r, "status"), "running");
	ASSERT_EQ(c.n_ready, 1);
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_out_of_order_replies(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[3] = {0};
	int a, b, d;

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	a = fake_qmp_expect(f, "cmd-a", "{\"x\": 1}");
	b = fake_qmp_expect(f, "cmd-b", NULL);
	d = fake_qmp_expect(f, "cmd-c", NULL);
	fake_qmp_reply(f, d, "\"c\"");
	fake_qmp_reply(f, b, "\"b\"");
	fake_qmp_reply(f, a, "\"a\"");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "cmd-a", json_pack("{s:i,s:s}", "x", 1, "y",
	    "z"), 2000, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "cmd-b", NULL, 2000, on_reply, &r[1]), 0);
	ASSERT_EQ(qmp_send(c.q, "cmd-c", json_object(), 2000, on_reply,
	    &r[2]), 0);
	WAIT_FOR(r[0].n && r[1].n && r[2].n, 2000);
	ASSERT_STREQ(ret_str(&r[0], NULL), "a");
	ASSERT_STREQ(ret_str(&r[1], NULL), "b");
	ASSERT_STREQ(ret_str(&r[2], NULL), "c");
	ASSERT_TRUE(r[2].order < r[1].order && r[1].order < r[0].order);
	ASSERT_FAKE_OK(f);
	reply_done(r, 3);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_error_reply(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "blockdev-del", "{\"node-name\": \"n1\"}");
	fake_qmp_error(f, FAKE_LAST, "GenericError",
	    "Failed to find node with node-name='n1'");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "blockdev-del", json_pack("{s:s}",
	    "node-name", "n1"), 2000, on_reply, &r), 0);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_EQ(r.code, -EIO);
	ASSERT_TRUE(r.ret == NULL);
	ASSERT_STREQ(r.msg, "GenericError: Failed to find node with "
	    "node-name='n1'");
	ASSERT_TRUE(qmp_err_is_class(&r.err, "GenericError"));
	ASSERT_TRUE(!qmp_err_is_class(&r.err, "Generic"));
	ASSERT_STREQ(qmp_err_desc(&r.err),
	    "Failed to find node with node-name='n1'");
	ASSERT_TRUE(qmp_is_ready(c.q));	/* an error reply is fine */
	ASSERT_FAKE_OK(f);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_err_helpers(void)
{
	struct err e = {0};

	err_set(&e, -ETIMEDOUT, "QMP command 'x': timed out: yes");
	ASSERT_TRUE(!qmp_err_is_class(&e, "QMP"));
	ASSERT_STREQ(qmp_err_desc(&e), e.msg);
	ASSERT_TRUE(!qmp_err_is_class(NULL, "GenericError"));
	ASSERT_STREQ(qmp_err_desc(NULL), "");
	e = (struct err){0};
	err_set(&e, -EIO, "no class here: desc");
	ASSERT_TRUE(!qmp_err_is_class(&e, "no class here"));
	ASSERT_STREQ(qmp_err_desc(&e), "no class here: desc");
	ASSERT_STREQ(qmp_state_name(QMP_READY), "ready");
	ASSERT_STREQ(qmp_mode_name(QMP_MODE_QGA), "qga");
	ASSERT_STREQ(qmp_state_name(QMP_STATE__COUNT), "invalid");
}

static void
test_timeout_then_late_reply_ignored(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};
	int a, b;

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	a = fake_qmp_expect(f, "slow", NULL);
	b = fake_qmp_expect(f, "fast", NULL);
	fake_qmp_wait(f, 300);
	fake_qmp_reply(f, a, "\"late\"");
	fake_qmp_reply(f, b, "\"b\"");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "slow", NULL, 100, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "fast", NULL, 3000, on_reply, &r[1]), 0);
	WAIT_FOR(r[0].n == 1, 2000);
	ASSERT_EQ(r[0].code, -ETIMEDOUT);
	ASSERT_CONTAINS(r[0].msg, "'slow'");
	ASSERT_EQ(r[1].n, 0);
	WAIT_FOR(r[1].n == 1, 2000);
	ASSERT_STREQ(ret_str(&r[1], NULL), "b");
	ASSERT_EQ(r[0].n, 1);		/* the late reply went nowhere */
	ASSERT_TRUE(qmp_is_ready(c.q));
	ASSERT_FAKE_OK(f);
	reply_done(r, 2);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_event_delivery(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_event(f, "STOP", NULL);
	fake_qmp_event(f, "MIGRATION", "{\"status\": \"active\"}");
	fake_qmp_raw(f, "{\"event\": 5}\r\n{\"no\": \"kind\"}\r\n", 30);
	fake_qmp_event(f, "RESUME", NULL);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	WAIT_FOR(c.n_events == 3, 2000);
	ASSERT_STREQ(c.ev_name[0], "STOP");
	ASSERT_TRUE(c.ev_data[0] == NULL);
	ASSERT_STREQ(c.ev_name[1], "MIGRATION");
	ASSERT_STREQ(json_string_value(json_object_get(c.ev_data[1],
	    "status")), "active");
	ASSERT_STREQ(c.ev_name[2], "RESUME");
	ASSERT_TRUE(qmp_is_ready(c.q));
	ASSERT_FAKE_OK(f);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_unknown_ids_ignored(void)
{
	static const char junk[] =
	    "{\"return\": 1, \"id\": \"other-2\"}\r\n"
	    "{\"return\": 1, \"id\": \"tern-99\"}\r\n"
	    "{\"return\": 1, \"id\": \"tern-\"}\r\n"
	    "{\"return\": 1, \"id\": \"tern-2x\"}\r\n"
	    "{\"return\": 1, \"id\": \"tern-99999999999999999999999\"}\r\n"
	    "{\"return\": 1, \"id\": 2}\r\n"
	    "{\"return\": 1}\r\n"
	    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"x\"}}\r\n"
	    "\r\n   \r\n";
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "query-status", NULL);
	fake_qmp_raw(f, junk, sizeof(junk) - 1);
	fake_qmp_reply(f, FAKE_LAST, "\"mine\"");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_STREQ(ret_str(&r, NULL), "mine");
	ASSERT_TRUE(qmp_is_ready(c.q));
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_peer_closes(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};
	struct err e = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "a", NULL);
	fake_qmp_expect(f, "b", NULL);
	fake_qmp_hangup(f);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "a", NULL, 2000, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "b", NULL, 0, on_reply, &r[1]), 0);
	WAIT_FOR(c.n_closed == 1, 2000);
	ASSERT_EQ(c.close_code, -ECONNRESET);
	ASSERT_EQ(r[0].n, 1);
	ASSERT_EQ(r[0].code, -ECONNRESET);
	ASSERT_EQ(r[1].code, -ECONNRESET);
	ASSERT_TRUE(r[0].order < r[1].order);
	ASSERT_TRUE(!qmp_is_ready(c.q));
	ASSERT_EQ(qmp_close_reason(c.q, &e), -ECONNRESET);
	ASSERT_CONTAINS(e.msg, "closed the connection");
	ASSERT_EQ(qmp_send(c.q, "a", json_object(), 100, on_reply, &r[0]),
	    -ENOTCONN);
	run_for(20);
	ASSERT_EQ(c.n_closed, 1);
	ASSERT_FAKE_OK(f);
	ctx_done(&c);
	fake_qmp_free(f);
}

/* Send bytes after the handshake with one command pending; expect the
 * connection to close with -EPROTO and the command to fail with it. */
static void
expect_eproto(const char *bytes, size_t len)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "query-status", NULL);
	fake_qmp_raw(f, bytes, len);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 5000, on_reply, &r), 0);
	WAIT_FOR(c.n_closed == 1, 5000);
	ASSERT_EQ(c.close_code, -EPROTO);
	ASSERT_EQ(r.n, 1);
	ASSERT_EQ(r.code, -EPROTO);
	ASSERT_TRUE(fake_qmp_is_done(f));
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_garbage_is_eproto(void)
{
	int before = test_failed_asserts;

#define EPROTO_CASE(s) expect_eproto(s, sizeof(s) - 1)
	EPROTO_CASE("this is not json\r\n");
	EPROTO_CASE("[1, 2]\r\n");
	EPROTO_CASE("\"a string\"\r\n");
	EPROTO_CASE("{\"return\": {}, \"id\": \"tern-2\"\r\n");
	EPROTO_CASE("\xff{\"return\": {}}\r\n");	/* no 0xFF in QMP */
	EPROTO_CASE("{\"a\": \"\\u0000\"}\r\n");
#undef EPROTO_CASE
	ASSERT_EQ(test_failed_asserts, before);
}

static void
test_oversized_line_is_eproto(void)
{
	size_t n = (size_t)MAX_QMP_LINE + 2;
	char *big = xmalloc(n);

	memset(big, 'x', n);
	expect_eproto(big, n);		/* no newline at all */
	big[n - 1] = '\n';
	expect_eproto(big, n);		/* newline one byte too late */
	free(big);
}

static void
test_big_reply_ok(void)
{
	size_t n = 4 * 1024 * 1024;
	char *json = xmalloc(n + 3);
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	json[0] = '"';
	memset(json + 1, 'y', n);
	json[n + 1] = '"';
	json[n + 2] = '\0';
	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "query-qmp-schema", NULL);
	fake_qmp_reply(f, FAKE_LAST, json);
	free(json);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-qmp-schema", NULL, 5000, on_reply, &r),
	    0);
	WAIT_FOR(r.n == 1, 5000);
	ASSERT_EQ(r.code, 0);
	ASSERT_EQ(json_string_length(r.ret), n);
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_big_command_backpressure(void)
{
	size_t n = 8 * 1024 * 1024;
	char *s = xmalloc(n + 1);
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};

	memset(s, 'z', n);
	s[n] = '\0';
	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "guest-file-write", "{\"handle\": 7}");
	fake_qmp_reply(f, FAKE_LAST, "{\"count\": 8388608}");
	fake_qmp_expect(f, "next", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-file-write", json_pack("{s:i,s:s}",
	    "handle", 7, "buf-b64", s), 10000, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "next", NULL, 10000, on_reply, &r[1]), 0);
	free(s);
	WAIT_FOR(r[1].n == 1, 10000);
	ASSERT_EQ(r[0].code, 0);
	ASSERT_EQ(json_integer_value(json_object_get(r[0].ret, "count")),
	    8388608);
	ASSERT_FAKE_OK(f);
	reply_done(r, 2);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_partial_lines(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_raw(f, "{\"QMP\": {\"version\"", 18);
	fake_qmp_wait(f, 20);
	fake_qmp_raw(f, ": {}, \"capabilities\": []}}\r", 27);
	fake_qmp_wait(f, 20);
	fake_qmp_raw(f, "\n", 1);
	fake_qmp_expect(f, "qmp_capabilities", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	fake_qmp_expect(f, "query-status", NULL);
	fake_qmp_raw(f, "{\"return\": {\"a\"", 15);
	fake_qmp_wait(f, 20);
	/* query-status was queued first: tern-1; capabilities got tern-2 */
	fake_qmp_raw(f, ": 1}, \"id\": \"tern-1\"}\r\n{\"event\": \"ST", 36);
	fake_qmp_wait(f, 20);
	fake_qmp_raw(f, "OP\"}\r\n", 6);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(c.n_events == 1, 2000);
	ASSERT_EQ(r.n, 1);
	ASSERT_EQ(json_integer_value(json_object_get(r.ret, "a")), 1);
	ASSERT_STREQ(c.ev_name[0], "STOP");
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_numeric_overflow_survives(void)
{
	static const char line[] = "{\"return\": {\"big\": "
	    "18446744073709551615, \"small\": 3}, \"id\": \"tern-1\"}\r\n";
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "query-memdev", NULL);
	fake_qmp_raw(f, line, sizeof(line) - 1);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-memdev", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_EQ(r.code, 0);
	ASSERT_TRUE(json_number_value(json_object_get(r.ret, "big")) >
	    1.8e19);
	ASSERT_TRUE(qmp_is_ready(c.q));
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_caps_error_closes(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_greeting(f);
	fake_qmp_expect(f, "qmp_capabilities", NULL);
	fake_qmp_error(f, FAKE_LAST, "CommandNotFound", "nope");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	WAIT_FOR(c.n_closed == 1, 2000);
	ASSERT_EQ(c.close_code, -EPROTO);
	ASSERT_EQ(c.n_ready, 0);
	ASSERT_FAKE_OK(f);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_handshake_timeout(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	/* No greeting: what a second client of a real QEMU sees. */
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	qmp_set_timeouts(c.q, 100, 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 0, on_reply, &r), 0);
	WAIT_FOR(c.n_closed == 1, 2000);
	ASSERT_EQ(c.close_code, -ETIMEDOUT);
	ASSERT_EQ(r.code, -ETIMEDOUT);
	ASSERT_EQ(fake_qmp_n_received(f), 0);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_send_fd(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};
	int p[2], got;
	char buf[8] = "";

	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "query-status", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	fake_qmp_expect_fd(f, "getfd", "{\"fdname\": \"migrate\"}");
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 2000, NULL, NULL), 0);
	ASSERT_EQ(qmp_send_fd(c.q, "getfd", json_pack("{s:s}", "fdname",
	    "migrate"), p[0], 2000, on_reply, &r), 0);
	close(p[0]);			/* borrowed: qmp keeps a dup */
	ASSERT_EQ(qmp_send_fd(c.q, "getfd", NULL, -1, 0, NULL, NULL), -EBADF);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_EQ(r.code, 0);
	got = fake_qmp_take_fd(f);
	ASSERT_TRUE(got >= 0);
	ASSERT_EQ(write(p[1], "hello", 5), 5);
	ASSERT_EQ(read(got, buf, sizeof(buf)), 5);
	ASSERT_STREQ(buf, "hello");
	close(got);
	close(p[1]);
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_send_invalid(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "", NULL, 0, NULL, NULL), -EINVAL);
	ASSERT_EQ(qmp_send(c.q, NULL, NULL, 0, NULL, NULL), -EINVAL);
	ASSERT_EQ(qmp_send(c.q, "x", json_integer(1), 0, NULL, NULL),
	    -EINVAL);
	ASSERT_EQ(qmp_send(c.q, "bad\xff", NULL, 0, NULL, NULL), -EINVAL);
	ctx_done(&c);
	fake_qmp_free(f);
}

/* ---- qmp_free() from inside callbacks ---- */

static void
test_free_in_reply_callback(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[3] = {0};
	int a, b;

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	a = fake_qmp_expect(f, "a", NULL);
	b = fake_qmp_expect(f, "b", NULL);
	fake_qmp_expect(f, "c", NULL);
	fake_qmp_reply(f, a, "\"a\"");
	fake_qmp_event(f, "STOP", NULL);
	fake_qmp_reply(f, b, "\"b\"");
	r[0].free_q = true;
	r[1].free_q = true;		/* a second qmp_free is harmless */
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "a", NULL, 2000, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "b", NULL, 2000, on_reply, &r[1]), 0);
	ASSERT_EQ(qmp_send(c.q, "c", NULL, 2000, on_reply, &r[2]), 0);
	c.q = NULL;			/* freed by the callback */
	WAIT_FOR(r[0].n == 1, 2000);
	ASSERT_EQ(r[0].code, 0);
	ASSERT_EQ(r[1].code, -ECANCELED);
	ASSERT_EQ(r[2].code, -ECANCELED);
	ASSERT_TRUE(r[1].order < r[2].order);
	run_for(50);
	ASSERT_EQ(r[1].n, 1);
	ASSERT_EQ(c.n_events, 0);
	ASSERT_EQ(c.n_closed, 0);
	reply_done(r, 3);
	fake_qmp_free(f);
}

static void
test_free_in_event_callback(void)
{
	static const char both[] = "{\"event\": \"STOP\"}\r\n"
	    "{\"return\": {}, \"id\": \"tern-2\"}\r\n";
	struct fake_qmp *f;
	struct ctx c = { .free_on_event = true };
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "a", NULL);
	fake_qmp_raw(f, both, sizeof(both) - 1);	/* one read */
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "a", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(c.n_events == 1, 2000);
	ASSERT_TRUE(c.q == NULL);
	ASSERT_EQ(r.n, 1);
	ASSERT_EQ(r.code, -ECANCELED);	/* the reply after: not read */
	run_for(20);
	ASSERT_EQ(c.n_events, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_free_in_state_callbacks(void)
{
	struct fake_qmp *f;
	struct ctx c = { .free_on_ready = true };
	struct ctx d = { .free_on_closed = true };
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_event(f, "STOP", NULL);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "a", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(c.n_ready == 1, 2000);
	ASSERT_TRUE(c.q == NULL);
	ASSERT_EQ(r.code, -ECANCELED);
	run_for(30);
	ASSERT_EQ(c.n_events, 0);
	fake_qmp_free(f);

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_hangup(f);
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &d), 0);
	WAIT_FOR(d.n_closed == 1, 2000);
	ASSERT_TRUE(d.q == NULL);
	fake_qmp_free(f);
}

/* ---- connecting ---- */

static void
test_connect_failures(void)
{
	char dir[] = "/tmp/test-qmp-XXXXXX", path[96], lng[200];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctx c = {0}, d = {0};
	struct reply r = {0};
	struct qmp *q = NULL;
	int fd;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/missing.sock", dir);
	ASSERT_EQ(qmp_connect(L, path, QMP_MODE_QMP, on_event, on_state, &c,
	    &c.q), 0);
	ASSERT_EQ(qmp_send(c.q, "a", NULL, 0, on_reply, &r), 0);
	ASSERT_EQ(c.n_closed, 0);	/* reported from the loop only */
	WAIT_FOR(c.n_closed == 1, 2000);
	ASSERT_EQ(c.close_code, -ENOENT);
	ASSERT_EQ(r.code, -ENOENT);
	ctx_done(&c);

	/* A socket file nobody listens on. */
	snprintf(path, sizeof(path), "%s/dead.sock", dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	ASSERT_EQ(qmp_connect(L, path, QMP_MODE_QGA, NULL, on_state, &d,
	    &d.q), 0);
	WAIT_FOR(d.n_closed == 1, 2000);
	ASSERT_EQ(d.close_code, -ECONNREFUSED);
	ctx_done(&d);
	unlink(path);
	rmdir(dir);

	memset(lng, 'a', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = '\0';
	lng[0] = '/';
	ASSERT_EQ(qmp_connect(L, lng, QMP_MODE_QMP, NULL, NULL, NULL, &q),
	    -ENAMETOOLONG);
	ASSERT_EQ(qmp_connect(L, "", QMP_MODE_QMP, NULL, NULL, NULL, &q),
	    -EINVAL);
	ASSERT_TRUE(q == NULL);
	ASSERT_TRUE(qmp_free(NULL) == NULL);
}

/* ---- QGA mode against the fake ---- */

static void
test_qga_sync_skips_stray_replies(void)
{
	static const char junk[] = "garbage that is not json\n\xff\xff\n"
	    "{\"return\": 1}\n\xff{\"return\": \"x\"}\n[]\n";
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_expect_sync(f);	/* 0xFF gets the stray error */
	fake_qmp_raw(f, junk, sizeof(junk) - 1);
	fake_qmp_wait(f, 30);
	fake_qga_reply_sync(f);
	fake_qmp_expect(f, "guest-ping", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-ping", NULL, 2000, on_reply, &r), 0);
	run_for(15);
	ASSERT_EQ(c.n_ready, 0);
	WAIT_FOR(c.n_ready == 1, 2000);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_EQ(r.code, 0);
	ASSERT_TRUE(json_is_object(r.ret));
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

struct fifo_probe {
	struct reply r;
	struct fake_qmp *f;
	unsigned seen;		/* lines the fake had at the reply */
};

static void
on_fifo_reply(struct qmp *q, json_t *ret, const struct err *err, void *data)
{
	struct fifo_probe *p = data;

	p->seen = fake_qmp_n_received(p->f);
	on_reply(q, ret, err, &p->r);
}

static void
test_qga_fifo(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct fifo_probe p[3] = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_sync(f);
	fake_qmp_expect(f, "guest-get-host-name", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{\"host-name\": \"vm1\"}");
	fake_qmp_expect(f, "guest-get-time", NULL);
	fake_qmp_wait(f, 30);
	fake_qmp_reply(f, FAKE_LAST, "1700000000000000000");
	fake_qmp_expect(f, "guest-exec", "{\"path\": \"/bin/true\"}");
	fake_qmp_error(f, FAKE_LAST, "CommandNotFound",
	    "Command guest-exec has been disabled");
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	for (int i = 0; i < 3; i++)
		p[i].f = f;
	ASSERT_EQ(qmp_send(c.q, "guest-get-host-name", NULL, 2000,
	    on_fifo_reply, &p[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-get-time", NULL, 2000, on_fifo_reply,
	    &p[1]), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-exec", json_pack("{s:s}", "path",
	    "/bin/true"), 2000, on_fifo_reply, &p[2]), 0);
	ASSERT_EQ(qmp_send_fd(c.q, "x", NULL, 0, 0, NULL, NULL), -EOPNOTSUPP);
	WAIT_FOR(p[2].r.n == 1, 2000);
	ASSERT_STREQ(ret_str(&p[0].r, "host-name"), "vm1");
	ASSERT_EQ(json_integer_value(p[1].r.ret), 1700000000000000000LL);
	ASSERT_EQ(p[2].r.code, -EIO);
	ASSERT_STREQ(p[2].r.msg, "CommandNotFound: Command guest-exec has "
	    "been disabled");
	/* One in flight: sync + the command itself, never the next one. */
	ASSERT_EQ(p[0].seen, 2);
	ASSERT_EQ(p[1].seen, 3);
	ASSERT_EQ(p[2].seen, 4);
	ASSERT_FAKE_OK(f);
	for (int i = 0; i < 3; i++)
		reply_done(&p[i].r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_qga_timeout_resyncs(void)
{
	static const char late[] = "{\"return\": \"late\"}\n";
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_sync(f);
	fake_qmp_expect(f, "guest-fsfreeze-freeze", NULL);
	fake_qga_expect_sync(f);	/* the resync after the timeout */
	fake_qmp_raw(f, late, sizeof(late) - 1);
	fake_qga_reply_sync(f);
	fake_qmp_expect(f, "guest-fsfreeze-thaw", NULL);
	fake_qmp_reply(f, FAKE_LAST, "2");
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-fsfreeze-freeze", NULL, 150, on_reply,
	    &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-fsfreeze-thaw", NULL, 3000, on_reply,
	    &r[1]), 0);
	WAIT_FOR(r[0].n == 1, 2000);
	ASSERT_EQ(r[0].code, -ETIMEDOUT);
	WAIT_FOR(r[1].n == 1, 2000);
	ASSERT_EQ(r[1].code, 0);
	ASSERT_EQ(json_integer_value(r[1].ret), 2);	/* not "late" */
	ASSERT_EQ(c.n_ready, 1);		/* READY is reported once */
	ASSERT_TRUE(qmp_is_ready(c.q));
	ASSERT_FAKE_OK(f);
	reply_done(r, 2);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_qga_queued_timeout_needs_no_resync(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[3] = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_sync(f);
	fake_qmp_expect(f, "a", NULL);
	fake_qmp_wait(f, 200);
	fake_qmp_reply(f, FAKE_LAST, "\"a\"");
	fake_qmp_expect(f, "c", NULL);
	fake_qmp_reply(f, FAKE_LAST, "\"c\"");
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "a", NULL, 2000, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "b", NULL, 50, on_reply, &r[1]), 0);
	ASSERT_EQ(qmp_send(c.q, "c", NULL, 2000, on_reply, &r[2]), 0);
	WAIT_FOR(r[2].n == 1, 2000);
	ASSERT_EQ(r[1].code, -ETIMEDOUT);	/* never written */
	ASSERT_STREQ(ret_str(&r[0], NULL), "a");
	ASSERT_STREQ(ret_str(&r[2], NULL), "c");
	ASSERT_FAKE_OK(f);
	reply_done(r, 3);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_qga_noreply(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_sync(f);
	fake_qmp_expect(f, "guest-shutdown", "{\"mode\": \"powerdown\"}");
	fake_qga_sync(f);		/* before the next command */
	fake_qmp_expect(f, "guest-ping", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	ASSERT_EQ(qmp_send_noreply(c.q, "guest-shutdown", json_pack("{s:s}",
	    "mode", "powerdown"), 2000, on_reply, &r[0]), 0);
	WAIT_FOR(r[0].n == 1, 2000);
	ASSERT_EQ(r[0].code, 0);
	ASSERT_TRUE(json_is_null(r[0].ret));
	ASSERT_EQ(qmp_send(c.q, "guest-ping", NULL, 2000, on_reply, &r[1]), 0);
	WAIT_FOR(r[1].n == 1, 2000);
	ASSERT_EQ(r[1].code, 0);
	ASSERT_FAKE_OK(f);
	reply_done(r, 2);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_qmp_noreply(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "quit", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");	/* ignored: no one waits */
	fake_qmp_expect(f, "b", NULL);
	fake_qmp_reply(f, FAKE_LAST, "\"b\"");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send_noreply(c.q, "quit", NULL, 0, on_reply, &r[0]), 0);
	ASSERT_EQ(qmp_send(c.q, "b", NULL, 2000, on_reply, &r[1]), 0);
	WAIT_FOR(r[1].n == 1, 2000);
	ASSERT_EQ(r[0].n, 1);
	ASSERT_TRUE(r[0].order < r[1].order);
	ASSERT_STREQ(ret_str(&r[1], NULL), "b");
	ASSERT_FAKE_OK(f);
	reply_done(r, 2);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_qga_sync_retried(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_expect_sync(f);	/* lost: the agent restarted */
	fake_qga_sync(f);
	fake_qmp_expect(f, "guest-ping", NULL);
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	qmp_set_timeouts(c.q, 0, 100);
	WAIT_FOR(c.n_ready == 1, 2000);
	ASSERT_EQ(qmp_send(c.q, "guest-ping", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(r.n == 1, 2000);
	ASSERT_EQ(r.code, 0);
	ASSERT_FAKE_OK(f);
	reply_done(&r, 1);
	ctx_done(&c);
	fake_qmp_free(f);
}

static void
test_qga_peer_closes(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QGA, &f), 0);
	fake_qga_sync(f);
	fake_qmp_expect(f, "guest-ping", NULL);
	fake_qmp_raw(f, "{\"return\": {}, ", 15);
	fake_qmp_hangup(f);
	ASSERT_EQ(connect_to(f, QMP_MODE_QGA, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "guest-ping", NULL, 2000, on_reply, &r), 0);
	WAIT_FOR(c.n_closed == 1, 2000);
	ASSERT_EQ(r.code, -ECONNRESET);
	ASSERT_EQ(c.close_code, -ECONNRESET);
	ASSERT_FAKE_OK(f);
	ctx_done(&c);
	fake_qmp_free(f);
}

/* ---- the stream parser without a socket ---- */

static void
feed_bytewise(struct qmp *q, const char *s)
{
	for (; *s; s++)
		(void)qmp_feed(q, s, 1);
}

static void
test_feed_bytewise_qmp(void)
{
	struct ctx c = {0};
	struct reply r = {0};
	struct qmp *q;
	size_t len;
	char *out;

	ASSERT_EQ(qmp_new_detached(L, QMP_MODE_QMP, 0, on_event, on_state, &c,
	    &q), 0);
	c.q = q;
	ASSERT_EQ(qmp_send(q, "query-status", NULL, 0, on_reply, &r), 0);
	out = qmp_take_output(q, &len);
	ASSERT_TRUE(out == NULL);	/* nothing before the greeting */
	feed_bytewise(q, "{\"QMP\": {\"version\": {}, \"capabilities\": "
	    "[\"oob\"]}}\r\n");
	out = qmp_take_output(q, &len);
	ASSERT_STREQ(out, "{\"execute\":\"qmp_capabilities\","
	    "\"id\":\"tern-2\"}\n");
	free(out);
	feed_bytewise(q, "{\"return\": {}, \"id\": \"tern-2\"}\r\n");
	ASSERT_EQ(c.n_ready, 1);
	out = qmp_take_output(q, &len);
	ASSERT_STREQ(out, "{\"execute\":\"query-status\",\"id\":\"tern-1\"}\n");
	free(out);
	feed_bytewise(q, "{\"event\": \"RESUME\", \"timestamp\": {}}\r\n"
	    "{\"id\": \"tern-1\", \"return\": 42}\r\n");
	ASSERT_EQ(c.n_events, 1);
	ASSERT_EQ(json_integer_value(r.ret), 42);
	ASSERT_EQ(qmp_feed(q, "nope\n", 5), -EPROTO);
	ASSERT_EQ(c.close_code, -EPROTO);
	reply_done(&r, 1);
	ctx_done(&c);
}

static void
test_feed_qga_ff_prefix(void)
{
	struct ctx c = {0};
	struct reply r[2] = {0};
	struct qmp *q;
	size_t len;
	char *out;

	ASSERT_EQ(qmp_new_detached(L, QMP_MODE_QGA, 4242, on_event, on_state,
	    &c, &q), 0);
	c.q = q;
	out = qmp_take_output(q, &len);
	ASSERT_STREQ(out, "\xff{\"execute\":\"guest-sync-delimited\","
	    "\"arguments\":{\"id\":4242}}\n");
	free(out);
	feed_bytewise(q, "{\"error\": {\"class\": \"GenericError\", \"desc\":"
	    " \"JSON parse error, stray '\\uFFFD'\"}}\n\xff\xff{\"return\": "
	    "4241}\n\xff{\"return\":4242}");
	ASSERT_EQ(c.n_ready, 0);	/* not before the newline */
	feed_bytewise(q, "\n");
	ASSERT_EQ(c.n_ready, 1);
	ASSERT_EQ(qmp_send_noreply(q, "guest-shutdown", NULL, 0, on_reply,
	    &r[0]), 0);
	ASSERT_EQ(qmp_send(q, "guest-ping", NULL, 0, on_reply, &r[1]), 0);
	out = qmp_take_output(q, &len);
	/* Written: the no-reply command succeeds, then a resync first. */
	ASSERT_EQ(r[0].n, 1);
	ASSERT_STREQ(out, "{\"execute\":\"guest-shutdown\"}\n"
	    "\xff{\"execute\":\"guest-sync-delimited\","
	    "\"arguments\":{\"id\":4242}}\n");
	free(out);
	feed_bytewise(q, "{\"error\": {\"class\": \"GenericError\", "
	    "\"desc\": \"shutdown failed\"}}\n\xff{\"return\": 4242}\n");
	out = qmp_take_output(q, &len);
	ASSERT_STREQ(out, "{\"execute\":\"guest-ping\"}\n");
	free(out);
	feed_bytewise(q, "{\"return\": {}}\n");
	ASSERT_EQ(r[1].n, 1);
	ASSERT_EQ(r[1].code, 0);
	ASSERT_EQ(qmp_feed(q, "\xff\xff\n   \n", 6), 0);
	ASSERT_EQ(qmp_feed(q, "{\"x\": 1}\n", 9), 0);	/* not a reply */
	ASSERT_EQ(qmp_feed(q, "garbage\n", 8), -EPROTO);
	reply_done(r, 2);
	ctx_done(&c);
}

static void
test_feed_small_max_line(void)
{
	struct ctx c = {0};
	struct qmp *q;

	ASSERT_EQ(qmp_new_detached(L, QMP_MODE_QMP, 0, NULL, on_state, &c,
	    &q), 0);
	c.q = q;
	qmp_set_max_line(q, 16);
	ASSERT_EQ(qmp_feed(q, "{\"a\":        1}\n", 16), 0);	/* 15 */
	ASSERT_EQ(qmp_feed(q, "{\"a\":         1}", 16), 0);	/* 16 */
	ASSERT_EQ(qmp_feed(q, "\n", 1), 0);
	ASSERT_EQ(qmp_feed(q, "{\"a\":          1}\n", 18), -EPROTO);
	ctx_done(&c);
}

static void
test_fake_records_mismatch(void)
{
	struct fake_qmp *f;
	struct ctx c = {0};
	struct reply r[2] = {0};

	ASSERT_EQ(fake_qmp_new(L, FAKE_QMP_QEMU, &f), 0);
	fake_qmp_always(f, "query-status", "{\"status\": \"paused\"}");
	fake_qmp_handshake(f);
	fake_qmp_expect(f, "cont", "{\"x\": 1}");
	fake_qmp_reply(f, FAKE_LAST, "{}");
	ASSERT_EQ(connect_to(f, QMP_MODE_QMP, &c), 0);
	ASSERT_EQ(qmp_send(c.q, "query-status", NULL, 2000, on_reply, &r[0]),
	    0);
	ASSERT_EQ(qmp_send(c.q, "cont", json_pack("{s:i}", "x", 2), 2000,
	    on_reply, &r[1]), 0);
	WAIT_FOR(r[1].n == 1, 2000);
	ASSERT_STREQ(ret_str(&r[0], "status"), "paused");	/* the rule */
	ASSERT_EQ(fake_qmp_n_mismatches(f), 1);
	ASSERT_CONTAINS(fake_qmp_mismatch(f), "arguments do not match");
	reply_done(r, 2);
	ctx_done(&c);
	fake_qmp_free(f);
}

/* ---- real QEMU and qemu-ga ---- */

static bool
have_program(const char *name)
{
	const char *path = getenv("PATH");
	char buf[512];

	for (const char *p = path; p && *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, p, name);
		if (access(buf, X_OK) == 0)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static pid_t
spawn(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	r = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	return r == 0 ? pid : -1;
}

/* Wait up to ms for pid to exit; SIGKILL it if it does not. */
static bool
reap(pid_t pid, uint64_t ms)
{
	uint64_t d = now_ms() + ms;
	int st;

	while (now_ms() < d) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return false;
}

/* Connect until READY; the peer creates its socket a little after start. */
static int
connect_retry(const char *path, enum qmp_mode mode, struct ctx *c)
{
	uint64_t d = now_ms() + 10000;

	while (now_ms() < d) {
		int r;

		*c = (struct ctx){0};
		r = qmp_connect(L, path, mode, on_event, on_state, c, &c->q);
		if (r < 0)
			return r;
		while (!c->n_ready && !c->n_closed && now_ms() < d)
			(void)loop_run_once(L, 100);
		if (c->n_ready)
			return 0;
		c->q = qmp_free(c->q);
		usleep(50000);
	}
	return -ETIMEDOUT;
}

static void
test_real_qemu(void)
{
	char dir[] = "/tmp/test-qmp-XXXXXX", path[128], chardev[160];
	char *argv[] = { "qemu-system-x86_64", "-machine", "none",
	    "-nodefaults", "-display", "none", "-qmp", chardev, NULL };
	struct ctx c = {0};
	struct reply r[6] = {0};
	int p[2];
	pid_t pid;

	if (!have_program(argv[0])) {
		printf("skip test_real_qemu: %s not found\n", argv[0]);
		return;
	}
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	snprintf(chardev, sizeof(chardev), "unix:%s,server=on,wait=off", path);
	pid = spawn(argv);
	ASSERT_TRUE(pid > 0);
	if (connect_retry(path, QMP_MODE_QMP, &c) < 0) {
		reap(pid, 0);
		ASSERT_TRUE(!"no QMP from qemu-system-x86_64");
	}
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	qmp_send(c.q, "query-status", NULL, 5000, on_reply, &r[0]);
	qmp_send(c.q, "query-version", NULL, 5000, on_reply, &r[1]);
	qmp_send(c.q, "tern-no-such-command", NULL, 5000, on_reply, &r[2]);
	qmp_send_fd(c.q, "getfd", json_pack("{s:s}", "fdname", "tfd"), p[1],
	    5000, on_reply, &r[3]);
	qmp_send(c.q, "closefd", json_pack("{s:s}", "fdname", "tfd"), 5000,
	    on_reply, &r[4]);
	qmp_send(c.q, "quit", NULL, 5000, on_reply, &r[5]);
	close(p[1]);
	WAIT_FOR(c.n_closed == 1 || !c.q, 10000);
	reap(pid, 5000);
	ASSERT_EQ(r[0].code, 0);
	ASSERT_TRUE(json_is_string(json_object_get(r[0].ret, "status")));
	ASSERT_EQ(r[1].code, 0);
	ASSERT_TRUE(json_integer_value(json_object_get(json_object_get(
	    r[1].ret, "qemu"), "major")) >= 7);	/* tern needs 7.2+ */
	ASSERT_EQ(r[2].code, -EIO);
	ASSERT_TRUE(qmp_err_is_class(&r[2].err, "CommandNotFound"));
	ASSERT_STREQ(qmp_err_desc(&r[2].err),
	    "The command tern-no-such-command has not been found");
	ASSERT_EQ(r[3].code, 0);	/* the fd arrived ... */
	ASSERT_EQ(r[4].code, 0);	/* ... and had that name */
	ASSERT_EQ(r[5].code, 0);
	ASSERT_EQ(c.n_closed, 1);
	ASSERT_EQ(c.close_code, -ECONNRESET);
	/* QEMU runs from the start (no -S): a RESUME may come first when
	 * QMP was up before the vCPUs started; quit's SHUTDOWN is last. */
	ASSERT_TRUE(c.n_events >= 1 && c.n_events <= 8);
	ASSERT_STREQ(c.ev_name[c.n_events < 1 ? 0 : c.n_events > 8 ? 7 :
	    c.n_events - 1], "SHUTDOWN");
	ASSERT_TRUE(r[5].order > 0);
	close(p[0]);
	reply_done(r, 6);
	ctx_done(&c);
	unlink(path);
	rmdir(dir);
}

static void
test_real_qga(void)
{
	char dir[] = "/tmp/test-qga-XXXXXX", path[128], pidf[128];
	/* Refuse everything with side effects on this host. */
	char *argv[] = { "qemu-ga", "-m", "unix-listen", "-p", path, "-t", dir,
	    "-f", pidf, "-b", "guest-shutdown,guest-suspend-disk,"
	    "guest-suspend-ram,guest-suspend-hybrid,guest-fsfreeze-freeze,"
	    "guest-fsfreeze-freeze-list,guest-fsfreeze-thaw,guest-exec,"
	    "guest-file-open,guest-set-time,guest-set-user-password,"
	    "guest-set-vcpus,guest-set-memory-blocks,guest-fstrim,"
	    "guest-ssh-add-authorized-keys,guest-ssh-remove-authorized-keys",
	    NULL };
	struct ctx c = {0};
	struct reply r[4] = {0};
	pid_t pid;

	if (!have_program(argv[0])) {
		printf("skip test_real_qga: %s not found\n", argv[0]);
		return;
	}
	ASSERT_TRUE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/qga.sock", dir);
	snprintf(pidf, sizeof(pidf), "%s/qga.pid", dir);
	pid = spawn(argv);
	ASSERT_TRUE(pid > 0);
	if (connect_retry(path, QMP_MODE_QGA, &c) < 0) {
		reap(pid, 0);
		ASSERT_TRUE(!"no sync from qemu-ga");
	}
	qmp_send(c.q, "guest-ping", NULL, 5000, on_reply, &r[0]);
	qmp_send(c.q, "guest-info", NULL, 5000, on_reply, &r[1]);
	qmp_send(c.q, "guest-exec", json_pack("{s:s}", "path", "/bin/true"),
	    5000, on_reply, &r[2]);
	qmp_send(c.q, "guest-get-host-name", NULL, 5000, on_reply, &r[3]);
	WAIT_FOR(r[3].n == 1, 10000);
	kill(pid, SIGTERM);
	reap(pid, 5000);
	ASSERT_EQ(r[0].code, 0);
	ASSERT_EQ(r[1].code, 0);
	ASSERT_TRUE(ret_str(&r[1], "version") != NULL);
	ASSERT_TRUE(json_is_array(json_object_get(r[1].ret,
	    "supported_commands")));
	ASSERT_EQ(r[2].code, -EIO);
	ASSERT_TRUE(qmp_err_is_class(&r[2].err, "CommandNotFound"));
	ASSERT_CONTAINS(r[2].msg, "disabled");
	ASSERT_EQ(r[3].code, 0);
	ASSERT_TRUE(json_is_string(json_object_get(r[3].ret, "host-name")));
	reply_done(r, 4);
	ctx_done(&c);
	(void)unlink(path);
	(void)unlink(pidf);
	snprintf(path, sizeof(path), "%s/qga.state", dir);	/* qemu-ga's */
	(void)unlink(path);
	(void)rmdir(dir);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (getenv("TEST_DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	if (loop_new(&L) < 0)
		return 1;
	RUN_TEST(test_handshake_ready);
	RUN_TEST(test_commands_before_ready_wait);
	RUN_TEST(test_out_of_order_replies);
	RUN_TEST(test_error_reply);
	RUN_TEST(test_err_helpers);
	RUN_TEST(test_timeout_then_late_reply_ignored);
	RUN_TEST(test_event_delivery);
	RUN_TEST(test_unknown_ids_ignored);
	RUN_TEST(test_peer_closes);
	RUN_TEST(test_garbage_is_eproto);
	RUN_TEST(test_oversized_line_is_eproto);
	RUN_TEST(test_big_reply_ok);
	RUN_TEST(test_big_command_backpressure);
	RUN_TEST(test_partial_lines);
	RUN_TEST(test_numeric_overflow_survives);
	RUN_TEST(test_caps_error_closes);
	RUN_TEST(test_handshake_timeout);
	RUN_TEST(test_send_fd);
	RUN_TEST(test_send_invalid);
	RUN_TEST(test_free_in_reply_callback);
	RUN_TEST(test_free_in_event_callback);
	RUN_TEST(test_free_in_state_callbacks);
	RUN_TEST(test_connect_failures);
	RUN_TEST(test_qga_sync_skips_stray_replies);
	RUN_TEST(test_qga_fifo);
	RUN_TEST(test_qga_timeout_resyncs);
	RUN_TEST(test_qga_queued_timeout_needs_no_resync);
	RUN_TEST(test_qga_noreply);
	RUN_TEST(test_qmp_noreply);
	RUN_TEST(test_qga_sync_retried);
	RUN_TEST(test_qga_peer_closes);
	RUN_TEST(test_feed_bytewise_qmp);
	RUN_TEST(test_feed_qga_ff_prefix);
	RUN_TEST(test_feed_small_max_line);
	RUN_TEST(test_fake_records_mismatch);
	RUN_TEST(test_real_qemu);
	RUN_TEST(test_real_qga);
	L = loop_free(L);
	return TEST_REPORT();
}
