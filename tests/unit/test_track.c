/* test_track.c - reference points (src/track/refpoint.c) driven against
 * the fake QMP peer: the look at every QEMU run's dirty bitmaps that a
 * real vm.start job makes before the vCPUs run (points kept and counted,
 * lost to a crash or a missing bitmap, stray tern- bitmaps removed,
 * foreign ones left alone, a refused query), the API's JSON, deleting a
 * point.  The "QEMU" is the harness's fake launcher. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobtest.h"
#include "refpoint.h"
#include "test.h"
#include "util.h"
#include "vm_job.h"

#define TIMEOUT_MS 5000

static struct jobtest t;

static void
on_host(struct host *h)
{
	track_init(h);
}

/* A VM "web" that is off, with two disks and points "a" and "b" on
 * both; its QEMU is the fake launcher, its QMP the fake (paused: -S). */
static void
fixture(void)
{
	struct err err = { 0 };

	jt_setup(&t);
	t.on_host_init = on_host;
	on_host(&t.h);
	(void)jt_vm_add(&t, "web", 2, "off");
	if (track_refpoint_add(jt_vm(&t), "a", "backup", "/r", "P1", NULL,
	    &err) < 0 || track_refpoint_add(jt_vm(&t), "b", "user", NULL,
	    NULL, NULL, &err) < 0)
		abort();
	jt_fake_qemu_install(&t, false);
	jt_qmp_new(&t, false);
}

static void
finish(void)
{
	(void)jt_qemu_launched(&t);
	jt_teardown(&t);
}

/* One disk's node in query-named-block-nodes' reply, its bitmaps
 * (JSON objects, comma-separated). */
static char *
node(const char *disk, const char *bitmaps)
{
	return xasprintf("{\"node-name\":\"%s-fmt\",\"driver\":\"qcow2\","
	    "\"dirty-bitmaps\":[%s]}", disk, bitmaps);
}

static char *
bitmap(const char *name, bool inconsistent)
{
	return xasprintf("{\"name\":\"%s\",\"count\":65536,\"granularity\":"
	    "65536,\"recording\":true,\"busy\":false,\"persistent\":true%s}",
	    name, inconsistent ? ",\"inconsistent\":true" : "");
}

/* Script the answer to the hook's query (vda's and vdb's bitmaps). */
static void
script_nodes(const char *vda, const char *vdb)
{
	_cleanup_free_ char *a = node("vda", vda), *b = node("vdb", vdb);
	_cleanup_free_ char *ret = xasprintf("[%s,%s]", a, b);

	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp,
	    "query-named-block-nodes", NULL), ret);
}

static void
expect_remove(const char *disk, const char *name)
{
	_cleanup_free_ char *args = xasprintf("{\"node\":\"%s-fmt\","
	    "\"name\":\"%s\"}", disk, name);

	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp,
	    "block-dirty-bitmap-remove", args), "{}");
}

static void
expect_cont(void)
{
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, "cont", NULL), "{}");
	fake_qmp_event(t.qmp, "RESUME", NULL);
}

/* Start the VM; the job must succeed with the whole script run. */
static bool
start_vm(void)
{
	int64_t id = jt_job_start(&t, &job_vm_start, NULL);

	if (!jt_run_until_ended(&t, id, TIMEOUT_MS) ||
	    !streq(jt_job_state(&t, id), "succeeded")) {
		fprintf(stderr, "vm.start: %s %s\n", jt_job_state(&t, id),
		    jt_job_error(&t, id));
		return false;
	}
	return fake_qmp_is_done(t.qmp) && fake_qmp_n_mismatches(t.qmp) == 0;
}

/* The row of point name on disk (a copy in *ret, freed by the caller
 * with refpoint_rows_free(ret, 1)); false when there is none. */
static bool
row_of(const char *name, const char *disk, struct refpoint_row **ret)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;

	*ret = NULL;
	if (store_refpoint_list(t.st, t.uuid, &rows, &n) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (!streq(rows[i].name, name) || !streq(rows[i].disk, disk))
			continue;
		*ret = xzalloc(sizeof(**ret));
		**ret = rows[i];
		rows[i] = (struct refpoint_row){ 0 };
	}
	refpoint_rows_free(rows, n);
	return *ret != NULL;
}

/* The row's completeness, gen and reason ("" when none). */
static bool
row_is(const char *name, const char *disk, bool complete, int64_t gen,
    const char *reason_part)
{
	struct refpoint_row *r;
	bool ok;

	if (!row_of(name, disk, &r))
		return false;
	ok = r->complete == complete && r->gen == gen &&
	    (reason_part ? r->reason && strstr(r->reason, reason_part) :
	    r->reason == NULL);
	if (!ok)
		fprintf(stderr, "  row %s/%s: complete=%d gen=%lld reason=%s\n",
		    name, disk, r->complete, (long long)r->gen,
		    r->reason ? r->reason : "(none)");
	refpoint_rows_free(r, 1);
	return ok;
}

/* (a) Every bitmap there and consistent: every row complete, gen + 1;
 * nothing removed; the dirty bytes noted. */
static void
test_start_points_kept(void)
{
	_cleanup_free_ char *a = bitmap("tern-a", false);
	_cleanup_free_ char *b = bitmap("tern-b", false);
	_cleanup_free_ char *both = NULL;
	json_t *j;

	fixture();
	both = xasprintf("%s,%s", a, b);
	script_nodes(both, both);
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_TRUE(row_is("a", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("a", "vdb", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vdb", true, 1, NULL));
	j = track_refpoints_json(jt_vm(&t));
	ASSERT_EQ(json_integer_value(json_object_get(json_array_get(
	    json_object_get(json_array_get(j, 0), "disks"), 0),
	    "changed_bytes")), 65536);
	json_decref(j);
	finish();
}

/* (b) An inconsistent bitmap (QEMU crashed): that point and disk are
 * lost, with a reason naming the crash, and its bitmap is removed; the
 * others are kept. */
static void
test_start_inconsistent(void)
{
	_cleanup_free_ char *a = bitmap("tern-a", false);
	_cleanup_free_ char *ab = bitmap("tern-a", true);
	_cleanup_free_ char *b = bitmap("tern-b", false);
	_cleanup_free_ char *vda = NULL, *vdb = NULL;

	fixture();
	vda = xasprintf("%s,%s", a, b);
	vdb = xasprintf("%s,%s", ab, b);
	script_nodes(vda, vdb);
	expect_remove("vdb", "tern-a");
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_TRUE(row_is("a", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("a", "vdb", false, 0, "a crash"));
	ASSERT_TRUE(row_is("b", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vdb", true, 1, NULL));
	finish();
}

/* (c) A bitmap not in the image: that point and disk are lost. */
static void
test_start_missing(void)
{
	_cleanup_free_ char *a = bitmap("tern-a", false);
	_cleanup_free_ char *b = bitmap("tern-b", false);
	_cleanup_free_ char *both = NULL;

	fixture();
	both = xasprintf("%s,%s", a, b);
	script_nodes(both, a);
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_TRUE(row_is("a", "vdb", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vdb", false, 0, "not in the disk image"));
	finish();
}

/* (d) A tern- bitmap no point keeps goes; someone else's stays. */
static void
test_start_stray(void)
{
	_cleanup_free_ char *a = bitmap("tern-a", false);
	_cleanup_free_ char *b = bitmap("tern-b", false);
	_cleanup_free_ char *x = bitmap("tern-xyz", false);
	_cleanup_free_ char *f = bitmap("foreign", false);
	_cleanup_free_ char *vda = NULL, *vdb = NULL;

	fixture();
	vda = xasprintf("%s,%s,%s,%s", f, a, x, b);
	vdb = xasprintf("%s,%s,%s", a, b, f);
	script_nodes(vda, vdb);
	expect_remove("vda", "tern-xyz");
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_TRUE(row_is("a", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vdb", true, 1, NULL));
	finish();
}

/* A stray bitmap QEMU refuses to remove: the start goes on (it goes at
 * a later start). */
static void
test_start_remove_refused(void)
{
	_cleanup_free_ char *a = bitmap("tern-a", false);
	_cleanup_free_ char *b = bitmap("tern-b", false);
	_cleanup_free_ char *x = bitmap("tern-xyz", false);
	_cleanup_free_ char *vda = NULL, *vdb = NULL;

	fixture();
	vda = xasprintf("%s,%s,%s", a, b, x);
	vdb = xasprintf("%s,%s,%s", a, x, b);
	script_nodes(vda, vdb);
	fake_qmp_error(t.qmp, fake_qmp_expect(t.qmp,
	    "block-dirty-bitmap-remove", "{\"node\":\"vda-fmt\"}"),
	    "GenericError", "injected");
	expect_remove("vdb", "tern-xyz");
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_TRUE(row_is("a", "vda", true, 1, NULL));
	ASSERT_TRUE(row_is("b", "vdb", true, 1, NULL));
	finish();
}

/* (e) The query refused: nothing known, every point lost; the VM runs. */
static void
test_start_query_refused(void)
{
	fixture();
	fake_qmp_error(t.qmp, fake_qmp_expect(t.qmp,
	    "query-named-block-nodes", NULL), "GenericError", "injected");
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(row_is("a", "vda", false, 0, "could not read"));
	ASSERT_TRUE(row_is("a", "vdb", false, 0, "could not read"));
	ASSERT_TRUE(row_is("b", "vda", false, 0, "could not read"));
	ASSERT_TRUE(row_is("b", "vdb", false, 0, "could not read"));
	finish();
}

/* A lost point's bitmap, consistent again at a later start, is removed
 * (it no longer tracks from the point) and the row stays lost. */
static void
test_start_lost_stays_lost(void)
{
	_cleanup_free_ char *a = bitmap("tern-a", false);
	_cleanup_free_ char *b = bitmap("tern-b", false);
	_cleanup_free_ char *both = NULL;

	fixture();
	track_lose(jt_vm(&t), "a", "vda", "test");
	both = xasprintf("%s,%s", a, b);
	script_nodes(both, both);
	expect_remove("vda", "tern-a");
	expect_cont();
	ASSERT_TRUE(start_vm());
	ASSERT_TRUE(row_is("a", "vda", false, 0, "test"));
	ASSERT_TRUE(row_is("a", "vdb", true, 1, NULL));
	finish();
}

/* The API's list: a point per name, its disks under it. */
static void
test_refpoints_json(void)
{
	json_t *j, *p, *d;

	fixture();
	track_lose(jt_vm(&t), "b", "vdb", "a test");
	j = track_refpoints_json(jt_vm(&t));
	ASSERT_EQ(json_array_size(j), 2);
	p = json_array_get(j, 0);
	ASSERT_STREQ(json_string_value(json_object_get(p, "name")), "a");
	ASSERT_STREQ(json_string_value(json_object_get(p, "owner")), "backup");
	ASSERT_STREQ(json_string_value(json_object_get(p, "target")), "/r");
	ASSERT_STREQ(json_string_value(json_object_get(p, "point")), "P1");
	ASSERT_TRUE(json_is_integer(json_object_get(p, "created_ms")));
	ASSERT_TRUE(json_is_integer(json_object_get(p, "age_s")));
	ASSERT_EQ(json_array_size(json_object_get(p, "disks")), 2);
	d = json_array_get(json_object_get(p, "disks"), 1);
	ASSERT_STREQ(json_string_value(json_object_get(d, "disk")), "vdb");
	ASSERT_EQ(json_integer_value(json_object_get(d, "gen")), 0);
	ASSERT_TRUE(json_is_true(json_object_get(d, "complete")));
	ASSERT_TRUE(!json_object_get(d, "reason"));
	ASSERT_TRUE(!json_object_get(d, "changed_bytes"));
	p = json_array_get(j, 1);
	ASSERT_STREQ(json_string_value(json_object_get(p, "name")), "b");
	ASSERT_TRUE(!json_object_get(p, "target"));
	ASSERT_TRUE(!json_object_get(p, "point"));
	d = json_array_get(json_object_get(p, "disks"), 1);
	ASSERT_TRUE(json_is_false(json_object_get(d, "complete")));
	ASSERT_STREQ(json_string_value(json_object_get(d, "reason")),
	    "a test");
	json_decref(j);
	finish();
}

/* Deleting: an unknown name says where to look; a busy VM refuses; a
 * known one goes (rows; its bitmaps while QEMU runs). */
static void
test_refpoint_delete(void)
{
	struct refpoint_row *r = NULL;
	struct err err = { 0 };
	struct job *job = NULL;
	int64_t id;

	fixture();
	ASSERT_EQ(track_refpoint_delete(jt_vm(&t), "nope", &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "tern vm refpoint list");
	ASSERT_CONTAINS(err.msg, "'nope'");
	/* A vm.start that waits for QMP holds the VM. */
	id = jt_job_start(&t, &job_vm_start, NULL);
	ASSERT_TRUE(id > 0);
	job = job_find(&t.h.jobs, id);
	ASSERT_TRUE(job != NULL);
	memset(&err, 0, sizeof(err));
	ASSERT_EQ(track_refpoint_delete(jt_vm(&t), "a", &err), -EBUSY);
	ASSERT_CONTAINS(err.msg, "busy");
	ASSERT_TRUE(row_of("a", "vda", &r));
	refpoint_rows_free(r, 1);
	/* Let it run to the end, then delete with QEMU up. */
	script_nodes("", "");
	expect_cont();
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	expect_remove("vda", "tern-a");
	expect_remove("vdb", "tern-a");
	ASSERT_EQ(track_refpoint_delete(jt_vm(&t), "a", &err), 0);
	ASSERT_TRUE(!row_of("a", "vda", &r));
	ASSERT_TRUE(!row_of("a", "vdb", &r));
	ASSERT_TRUE(row_of("b", "vda", &r));
	refpoint_rows_free(r, 1);
	jt_run_for(&t, 200);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	finish();
}

static void
run(void (*fn)(void), const char *name)
{
	int before = test_failed_asserts;

	fn();
	if (test_failed_asserts != before) {
		test_failed++;
		printf("FAIL %s\n", name);
		finish();	/* the test returned early */
	} else {
		test_passed++;
		printf("ok %s\n", name);
	}
}

#define RUN(fn) run(fn, #fn)

int
main(void)
{
	RUN(test_start_points_kept);
	RUN(test_start_inconsistent);
	RUN(test_start_missing);
	RUN(test_start_stray);
	RUN(test_start_remove_refused);
	RUN(test_start_query_refused);
	RUN(test_start_lost_stays_lost);
	RUN(test_refpoints_json);
	RUN(test_refpoint_delete);
	return TEST_REPORT();
}
