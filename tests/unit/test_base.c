/* test_base.c - unit tests for src/base: errors, sizes, names, JSON
 * request reading, paths. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "size.h"
#include "test.h"
#include "wsc.h"
#include "util.h"

static void
test_err_set_returns_code(void)
{
	struct err e = { 0 };

	ASSERT_EQ(err_set(&e, -ENOENT, "vm '%s' not found", "a"), -ENOENT);
	ASSERT_STREQ(e.msg, "vm 'a' not found");
	/* set at most once */
	err_set(&e, -EINVAL, "second");
	ASSERT_EQ(e.code, -ENOENT);
	ASSERT_EQ(err_set(NULL, -EIO, "x"), -EIO);
}

static void
test_size_parse(void)
{
	uint64_t v = 0;
	struct err e = { 0 };

	ASSERT_EQ(size_parse("512M", &v, NULL), 0);
	ASSERT_EQ(v, 512ULL << 20);
	ASSERT_EQ(size_parse("1GiB", &v, NULL), 0);
	ASSERT_EQ(v, 1ULL << 30);
	ASSERT_EQ(size_parse("4096", &v, NULL), 0);
	ASSERT_EQ(v, 4096);
	ASSERT_EQ(size_parse("2t", &v, NULL), 0);
	ASSERT_EQ(v, 2ULL << 40);
	ASSERT_EQ(size_parse("12X", &v, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "invalid size '12X'");
	ASSERT_EQ(size_parse("0", &v, NULL), -EINVAL);
	ASSERT_EQ(size_parse("-1", &v, NULL), -EINVAL);
	ASSERT_EQ(size_parse("", &v, NULL), -EINVAL);
	ASSERT_EQ(size_parse("17T", &v, NULL), -EINVAL);
	ASSERT_EQ(size_parse("99999999999999999999999", &v, NULL), -EINVAL);
}

static void
test_names_and_uuids(void)
{
	char u[37];

	ASSERT_TRUE(name_is_valid("web-1.prod_a"));
	ASSERT_TRUE(!name_is_valid(""));
	ASSERT_TRUE(!name_is_valid("-x"));
	ASSERT_TRUE(!name_is_valid("a/b"));
	ASSERT_TRUE(!name_is_valid("a b"));
	ASSERT_TRUE(!name_is_valid(
	    "0123456789012345678901234567890123456789012345678901234567890123"));
	uuid_generate_text(u);
	ASSERT_TRUE(uuid_is_valid(u));
	ASSERT_EQ(u[14], '4');
	ASSERT_TRUE(!uuid_is_valid("not-a-uuid"));
	{
		uint8_t raw[16];

		ASSERT_EQ(uuid_parse_raw("00112233-4455-6677-8899-AaBbCcDdEeFf",
		    raw), 0);
		ASSERT_EQ(raw[0], 0x00);
		ASSERT_EQ(raw[4], 0x44);
		ASSERT_EQ(raw[10], 0xaa);
		ASSERT_EQ(raw[15], 0xff);
		ASSERT_EQ(uuid_parse_raw("not-a-uuid", raw), -EINVAL);
	}
}

static void
test_json_strict(void)
{
	static const char *const allowed[] = { "name", "cpus", NULL };
	json_t *o = NULL;
	struct err e = { 0 };
	const char *s = NULL;
	int64_t i = 0;

	ASSERT_EQ(json_parse_object("{\"name\":\"a\",\"cpus\":2}", 21, &o,
	    NULL), 0);
	ASSERT_EQ(json_check_fields(o, allowed, "vm", NULL), 0);
	ASSERT_EQ(json_get_str(o, "name", true, &s, NULL), 0);
	ASSERT_STREQ(s, "a");
	ASSERT_EQ(json_get_int(o, "cpus", true, 1, 64, &i, NULL), 0);
	ASSERT_EQ(i, 2);
	ASSERT_EQ(json_get_int(o, "cpus", true, 3, 64, &i, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "between 3 and 64");
	json_decref(o);

	memset(&e, 0, sizeof(e));
	ASSERT_EQ(json_parse_object("{\"name\":1,\"bogus\":2}", 20, &o,
	    NULL), 0);
	ASSERT_EQ(json_check_fields(o, allowed, "vm create", &e), -EINVAL);
	ASSERT_STREQ(e.msg, "unknown field 'bogus' in vm create request");
	ASSERT_EQ(json_get_str(o, "name", true, &s, NULL), -EINVAL);
	json_decref(o);

	memset(&e, 0, sizeof(e));
	ASSERT_EQ(json_parse_object("{\"a\":", 5, &o, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "malformed JSON");
	ASSERT_EQ(json_parse_object("[1]", 3, &o, NULL), -EINVAL);
	ASSERT_EQ(json_parse_object("{\"a\":1,\"a\":2}", 13, &o, NULL),
	    -EINVAL);
	ASSERT_EQ(json_parse_object("{}", JSON_MAX_BODY + 1, &o, NULL),
	    -E2BIG);
}

static void
test_path_is_under(void)
{
	char dir[] = "/tmp/tern-test-XXXXXX";
	_cleanup_free_ char *sub = NULL, *link = NULL, *in = NULL,
	    *dotdot = NULL, *sibling = NULL;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	sub = xasprintf("%s/pool", dir);
	link = xasprintf("%s/pool/escape", dir);
	in = xasprintf("%s/pool/a.qcow2", dir);
	dotdot = xasprintf("%s/pool/../a.qcow2", dir);
	sibling = xasprintf("%s/poolx/a.qcow2", dir);
	ASSERT_EQ(mkdir_p(sub, 0700), 0);
	ASSERT_TRUE(path_is_under(in, sub));
	ASSERT_TRUE(!path_is_under(dotdot, sub));
	ASSERT_TRUE(!path_is_under(sibling, sub));
	ASSERT_TRUE(!path_is_under("/etc/passwd", sub));
	ASSERT_EQ(symlink("/etc/passwd", link), 0);
	ASSERT_TRUE(!path_is_under(link, sub));
	unlink(link);
	rmdir(sub);
	rmdir(dir);
}

static void
test_file_atomic(void)
{
	char dir[] = "/tmp/tern-test-XXXXXX";
	char *p, *buf = NULL;
	size_t len = 0;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	p = xasprintf("%s/f", dir);
	ASSERT_EQ(file_write_atomic(p, "hello", 5, 0600), 0);
	ASSERT_EQ(file_read_all(p, 100, &buf, &len), 0);
	ASSERT_STREQ(buf, "hello");
	ASSERT_EQ(len, 5);
	free(buf);
	ASSERT_EQ(file_read_all(p, 3, &buf, &len), -EFBIG);
	unlink(p);
	rmdir(dir);
	free(p);
}

static void
test_file_last_line(void)
{
	char dir[] = "/tmp/tern-test-XXXXXX";
	char *p, *l, big[10000];

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	p = xasprintf("%s/out", dir);
	ASSERT_TRUE(file_last_line(p) == NULL);		/* no file */
	ASSERT_EQ(file_write_atomic(p, "", 0, 0600), 0);
	ASSERT_TRUE(file_last_line(p) == NULL);		/* empty */
	ASSERT_EQ(file_write_atomic(p, "\n\r\n", 3, 0600), 0);
	ASSERT_TRUE(file_last_line(p) == NULL);		/* no text */
	ASSERT_EQ(file_write_atomic(p, "one\ntwo\n\n", 9, 0600), 0);
	l = file_last_line(p);
	ASSERT_STREQ(l, "two");
	free(l);
	/* qemu-img -p: progress rewritten with \r, then the error */
	l = "(1.00/100%)\r(2.00/100%)\rerr: full\r";
	ASSERT_EQ(file_write_atomic(p, l, strlen(l), 0600), 0);
	l = file_last_line(p);
	ASSERT_STREQ(l, "err: full");
	free(l);
	/* far more than the 4 KiB it reads: the last line still comes */
	memset(big, 'x', sizeof(big));
	memcpy(big + sizeof(big) - 6, "\nlast\n", 6);
	ASSERT_EQ(file_write_atomic(p, big, sizeof(big), 0600), 0);
	l = file_last_line(p);
	ASSERT_STREQ(l, "last");
	free(l);
	unlink(p);
	rmdir(dir);
	free(p);
}

static void
test_tls_pin(void)
{
	char fp[80], pin[TLS_PIN_LEN];

	ASSERT_EQ(tls_pin_from_fingerprint("sha256:"
	    "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191A1B1C1D1E1F", pin, sizeof(pin)), 0);
	ASSERT_STREQ(pin,
	    "sha256//AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	snprintf(fp, sizeof(fp), "sha256:%064d", 0);
	ASSERT_EQ(tls_pin_from_fingerprint(fp, pin, sizeof(pin)), 0);
	ASSERT_STREQ(pin, "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	    "AAA=");
	memset(fp + 7, 'F', 64);
	ASSERT_EQ(tls_pin_from_fingerprint(fp, pin, sizeof(pin)), 0);
	ASSERT_STREQ(pin, "sha256//////////////////////////////////////////"
	    "//8=");
	fp[70] = 'g';		/* not hex */
	ASSERT_EQ(tls_pin_from_fingerprint(fp, pin, sizeof(pin)), -EINVAL);
	ASSERT_EQ(tls_pin_from_fingerprint("sha256:00", pin, sizeof(pin)),
	    -EINVAL);
	ASSERT_EQ(tls_pin_from_fingerprint("md5:"
	    "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f", pin, sizeof(pin)), -EINVAL);
	ASSERT_EQ(tls_pin_from_fingerprint(NULL, pin, sizeof(pin)), -EINVAL);
	fp[70] = '0';		/* valid again, but the buffer is short */
	ASSERT_EQ(tls_pin_from_fingerprint(fp, pin, TLS_PIN_LEN - 1),
	    -EINVAL);
}

/* The text /metrics serves: HELP and TYPE per family, constant labels
 * first, samples in the order they appeared, values escaped. */
static void
test_metrics_text(void)
{
	struct metrics *m = metrics_new();
	char *t;

	metrics_const_label(m, "host", "a\"b");
	metrics_declare(m, "x_vms", METRIC_GAUGE, "VMs by state.");
	metrics_declare(m, "x_jobs", METRIC_COUNTER, "Jobs.");
	metrics_declare(m, "x_vms", METRIC_COUNTER, "ignored");
	metrics_add(m, "x_vms", (const char *const[]){ "state", "off", NULL },
	    0);
	metrics_add(m, "x_vms", (const char *const[]){ "state", "on", NULL },
	    2);
	metrics_add(m, "x_vms", (const char *const[]){ "state", "off", NULL },
	    1);
	metrics_add(m, "x_vms", (const char *const[]){ "state", "on", NULL },
	    -1);
	metrics_add(m, "x_jobs", NULL, 3);
	ASSERT_EQ(metrics_get(m, "x_vms", (const char *const[]){ "state", "on",
	    NULL }), 1);
	t = metrics_text(m);
	ASSERT_STREQ(t, "# HELP x_vms VMs by state.\n# TYPE x_vms gauge\n"
	    "x_vms{host=\"a\\\"b\",state=\"off\"} 1\n"
	    "x_vms{host=\"a\\\"b\",state=\"on\"} 1\n"
	    "# HELP x_jobs Jobs.\n# TYPE x_jobs counter\n"
	    "x_jobs{host=\"a\\\"b\"} 3\n");
	free(t);
	m = metrics_free(m);
	m = metrics_new();
	metrics_declare(m, "y", METRIC_GAUGE, "Y.");
	metrics_set(m, "y", NULL, -4);
	t = metrics_text(m);
	ASSERT_STREQ(t, "# HELP y Y.\n# TYPE y gauge\ny -4\n");
	free(t);
	ASSERT_TRUE(metrics_free(m) == NULL);
}

/* A histogram: cumulative _bucket lines with le, +Inf, _sum and _count;
 * an observation on a bound falls in that bucket. */
static void
test_metrics_histogram(void)
{
	struct metrics *m = metrics_new();
	const double les[] = { 1, 2.5, 10 };
	const char *const l[] = { "type", "live", NULL };
	char *t;

	metrics_const_label(m, "host", "h");
	metrics_declare_histogram(m, "x_seconds", "Downtime.", les, 3);
	metrics_declare_histogram(m, "x_seconds", "ignored", les, 1);
	metrics_observe(m, "x_seconds", l, 0.5);
	metrics_observe(m, "x_seconds", l, 2.5);
	metrics_observe(m, "x_seconds", l, 100);
	ASSERT_EQ(metrics_get(m, "x_seconds", l), 3);
	t = metrics_text(m);
	ASSERT_STREQ(t, "# HELP x_seconds Downtime.\n"
	    "# TYPE x_seconds histogram\n"
	    "x_seconds_bucket{host=\"h\",type=\"live\",le=\"1\"} 1\n"
	    "x_seconds_bucket{host=\"h\",type=\"live\",le=\"2.5\"} 2\n"
	    "x_seconds_bucket{host=\"h\",type=\"live\",le=\"10\"} 2\n"
	    "x_seconds_bucket{host=\"h\",type=\"live\",le=\"+Inf\"} 3\n"
	    "x_seconds_sum{host=\"h\",type=\"live\"} 103\n"
	    "x_seconds_count{host=\"h\",type=\"live\"} 3\n");
	free(t);
	m = metrics_free(m);
	m = metrics_new();
	metrics_declare_histogram(m, "y_bytes", "Y.", les, 1);
	metrics_observe(m, "y_bytes", NULL, 0.25);
	metrics_declare(m, "z", METRIC_GAUGE, "Z.");
	metrics_setf(m, "z", NULL, 0.1);
	t = metrics_text(m);
	ASSERT_STREQ(t, "# HELP y_bytes Y.\n# TYPE y_bytes histogram\n"
	    "y_bytes_bucket{le=\"1\"} 1\ny_bytes_bucket{le=\"+Inf\"} 1\n"
	    "y_bytes_sum 0.25\ny_bytes_count 1\n"
	    "# HELP z Z.\n# TYPE z gauge\nz 0.1\n");
	free(t);
	metrics_free(m);
}

/* Dropping by label: every family's samples with that exact pair go,
 * the others stay in order and are still found (the index rebuilt);
 * a value that merely contains the pair's text is not matched. */
static void
test_metrics_drop(void)
{
	struct metrics *m = metrics_new();
	const double les[] = { 1 };
	char name[32], *t;

	metrics_declare(m, "a", METRIC_GAUGE, "A.");
	metrics_declare_histogram(m, "h", "H.", les, 1);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		metrics_set(m, "a", (const char *const[]){ "vm", name,
		    "disk", "d", NULL }, i);
	}
	metrics_observe(m, "h", (const char *const[]){ "vm", "vm7", NULL }, 1);
	metrics_set(m, "a", (const char *const[]){ "x", "vm=\"vm7\"", NULL },
	    5);
	metrics_set(m, "a", (const char *const[]){ "xvm", "vm7", NULL }, 6);
	ASSERT_EQ(metrics_n_samples(m, "a"), 1002);
	ASSERT_EQ(metrics_drop(m, "vm", "vm7"), 2);
	ASSERT_EQ(metrics_drop(m, "vm", "vm7"), 0);
	ASSERT_EQ(metrics_n_samples(m, "a"), 1001);
	ASSERT_EQ(metrics_n_samples(m, "h"), 0);
	ASSERT_EQ(metrics_get(m, "a", (const char *const[]){ "xvm", "vm7",
	    NULL }), 6);
	ASSERT_EQ(metrics_get(m, "a", (const char *const[]){ "vm", "vm999",
	    "disk", "d", NULL }), 999);
	ASSERT_EQ(metrics_get(m, "a", (const char *const[]){ "x",
	    "vm=\"vm7\"", NULL }), 5);
	metrics_remove(m, "a", (const char *const[]){ "vm", "vm5", "disk",
	    "d", NULL });
	metrics_remove(m, "a", (const char *const[]){ "vm", "vm5", NULL });
	ASSERT_EQ(metrics_n_samples(m, "a"), 1000);
	ASSERT_EQ(metrics_get(m, "a", (const char *const[]){ "vm", "vm6",
	    "disk", "d", NULL }), 6);
	ASSERT_EQ(metrics_drop(m, "disk", "d"), 998);
	metrics_set(m, "a", (const char *const[]){ "vm", "vm7", NULL }, 3);
	metrics_zero(m, "a");
	metrics_observe(m, "h", NULL, 1);
	metrics_clear(m, "h");
	ASSERT_EQ(metrics_n_samples(m, "h"), 0);
	ASSERT_EQ(metrics_get(m, "h", NULL), 0);
	t = metrics_text(m);
	ASSERT_STREQ(t, "# HELP a A.\n# TYPE a gauge\n"
	    "a{x=\"vm=\\\"vm7\\\"\"} 0\na{xvm=\"vm7\"} 0\n"
	    "a{vm=\"vm7\"} 0\n"
	    "# HELP h H.\n# TYPE h histogram\n");
	free(t);
	metrics_free(m);
}

static struct log_ctx sunk_ctx;
static char sunk_msg[256], sunk_host[64];
static int sunk_level;

static void
test_sink(enum log_level level, const char *host, const struct log_ctx *ctx,
    const char *msg)
{
	sunk_level = (int)level;
	sunk_ctx = *ctx;
	snprintf(sunk_msg, sizeof(sunk_msg), "%s", msg);
	snprintf(sunk_host, sizeof(sunk_host), "%s", host);
}

/* A job step's context reaches every line, nested steps restore the
 * outer one, and a line's own vm=/job= facts fill what the context
 * lacks (job=0 is host_event's "no job"). */
static void
test_log_ctx(void)
{
	struct log_ctx outer, inner;

	log_set_prefix("h1");
	log_set_sink(test_sink);
	log_ctx_enter("7", "web1", &outer);
	log_info("copying disk=%d", 1);
	ASSERT_STREQ(sunk_msg, "copying disk=1");
	ASSERT_STREQ(sunk_host, "h1");
	ASSERT_STREQ(sunk_ctx.job, "7");
	ASSERT_STREQ(sunk_ctx.vm, "web1");
	ASSERT_EQ(sunk_level, LOG_LVL_INFO);
	log_ctx_enter("8", NULL, &inner);
	log_warn("inner vm=db2");
	ASSERT_STREQ(sunk_ctx.job, "8");
	ASSERT_STREQ(sunk_ctx.vm, "db2");
	log_ctx_leave(&inner);
	log_error("outer again");
	ASSERT_STREQ(sunk_ctx.job, "7");
	ASSERT_STREQ(sunk_ctx.vm, "web1");
	log_ctx_leave(&outer);
	log_info("event vm=g1 job=0 started");
	ASSERT_STREQ(sunk_ctx.vm, "g1");
	ASSERT_STREQ(sunk_ctx.job, "");
	log_info("event job=12 done novm=x");
	ASSERT_STREQ(sunk_ctx.vm, "");
	ASSERT_STREQ(sunk_ctx.job, "12");
	log_debug("below the level");
	ASSERT_STREQ(sunk_msg, "event job=12 done novm=x");
	log_set_sink(NULL);
	log_set_prefix(NULL);
}

/* Helpers are found next to the executable first, else in libexec. */
static void
test_helper_path(void)
{
	char dir[] = "/tmp/tern-helper-XXXXXX";
	char *p, *exe;
	FILE *f;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	p = helper_exe_path_in(dir, "/usr/libexec/tern", "tern-lease");
	ASSERT_STREQ(p, "/usr/libexec/tern/tern-lease");
	free(p);
	exe = xasprintf("%s/tern-lease", dir);
	f = fopen(exe, "w");
	ASSERT_TRUE(f != NULL);
	fclose(f);
	ASSERT_EQ(chmod(exe, 0755), 0);
	p = helper_exe_path_in(dir, "/usr/libexec/tern", "tern-lease");
	ASSERT_STREQ(p, exe);
	free(p);
	p = helper_exe_path_in(NULL, "/usr/libexec/tern", "tern-lease");
	ASSERT_STREQ(p, "/usr/libexec/tern/tern-lease");
	free(p);
	unlink(exe);
	free(exe);
	rmdir(dir);
}

/* The client's WebSocket handshake (base/wsc.c): its key is what the
 * server checks, its answer parsed from any prefix. */
static void
test_wsc(void)
{
	static const char up[] = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: websocket\r\n\r\nRFB";
	static const char no[] = "HTTP/1.1 409 Conflict\r\n"
	    "content-length: 7\r\n\r\n{\"a\":1}";
	char key[WSC_KEY_LEN];
	struct wsc_answer w = { 0 };
	_cleanup_free_ char *req = NULL;

	wsc_key(key);
	ASSERT_EQ(strlen(key), 24);
	ASSERT_STREQ(key + 22, "==");
	req = wsc_request("/v1/vms/a/vnc", "h:1", key);
	ASSERT_CONTAINS(req, "GET /v1/vms/a/vnc HTTP/1.1\r\nHost: h:1\r\n");
	ASSERT_CONTAINS(req, key);
	for (size_t n = 0; n < sizeof(up) - 4; n++)
		ASSERT_EQ(wsc_answer_parse(up, n, &w), -EAGAIN);
	ASSERT_EQ(wsc_answer_parse(up, sizeof(up) - 1, &w), 0);
	ASSERT_EQ(w.status, 101);
	ASSERT_EQ(w.head_len, sizeof(up) - 4);
	ASSERT_EQ(w.body_len, 0);
	ASSERT_EQ(wsc_answer_parse(no, sizeof(no) - 1, &w), 0);
	ASSERT_EQ(w.status, 409);
	ASSERT_EQ(w.body_len, 7);
	ASSERT_EQ(wsc_answer_parse("SSH-2.0-x\r\n\r\n", 13, &w), -EPROTO);
	ASSERT_EQ(wsc_answer_parse("HTTP/1.1 99x\r\n\r\n", 16, &w),
	    -EPROTO);
	ASSERT_EQ(wsc_answer_parse("HTTP/1.1 200 OK\r\nContent-Length: "
	    "-1\r\n\r\n", 39, &w), -EPROTO);
}

int
main(void)
{
	RUN_TEST(test_err_set_returns_code);
	RUN_TEST(test_size_parse);
	RUN_TEST(test_names_and_uuids);
	RUN_TEST(test_json_strict);
	RUN_TEST(test_path_is_under);
	RUN_TEST(test_file_atomic);
	RUN_TEST(test_file_last_line);
	RUN_TEST(test_tls_pin);
	RUN_TEST(test_metrics_text);
	RUN_TEST(test_metrics_histogram);
	RUN_TEST(test_metrics_drop);
	RUN_TEST(test_log_ctx);
	RUN_TEST(test_helper_path);
	RUN_TEST(test_wsc);
	return TEST_REPORT();
}
