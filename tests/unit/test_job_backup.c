/* test_job_backup.c - vm.backup (src/backup/create.c, copy.c, teardown.c)
 * driven against the fake QMP peer: a whole point (the real qemu-img and
 * sha256sum, a fake tern-blockcopy that writes the map and the summary),
 * a QMP error at each of the job's QMP steps and a failing copier (the
 * job fails, the teardown goes back: QEMU's things removed, the point's
 * directory and the scratch image gone, no reference point), and a ternd
 * restart during the copy (goes back) or once the manifest is written
 * (the point stands). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "backup.h"
#include "desc.h"
#include "fsutil.h"
#include "jobtest.h"
#include "refpoint.h"
#include "repo.h"
#include "test.h"
#include "util.h"

#define TIMEOUT_MS 10000

static bool backup_q(bool quiesce);

static bool
backup(void)
{
	return backup_q(false);
}

/* The job's QMP commands before the copy, in order. */
enum { ST_QBLOCK, ST_QNODES, ST_ADD, ST_TX, ST_GETFD, ST_NBD, ST_EXPORT,
       ST__COUNT };
static const char *const steps[ST__COUNT] = { "query-block",
	"query-named-block-nodes", "blockdev-add", "transaction", "getfd",
	"nbd-server-start", "block-export-add" };

/* What the fake tern-blockcopy does; BC_HASHED gives the sha256 of its
 * files in its summary, as the real one does (FAKE_SUM for the image). */
enum { BC_OK, BC_FAIL, BC_SLOW, BC_HASHED };
#define FAKE_SUM "0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

static struct jobtest t;
static char blockcopy[128];
static char repo[PATH_MAX];
static struct fake_qmp *qga;	/* the guest agent, when a test has one */

/* The job under test and the names it gives QEMU's things. */
static struct {
	int64_t id;
	char point[BK_POINT_ID_LEN];
	char ref[TRACK_NAME_MAX + 8];	/* "tern-bk-POINT" */
	char xfer[TRACK_NAME_MAX + 8];
	char fl_node[64], fl_job[64];
	char *dir, *scratch, *sock;
} j;

static void
on_host(struct host *h)
{
	backup_init(h);
	h->cfg.blockcopy = blockcopy;	/* static: nobody frees it */
}

static void
blockcopy_install(int how)
{
	static const char fmt[] =
	    "#!/bin/sh\n"
	    "echo \"$*\" >> \"$0.args\"\n"
	    "while [ $# -gt 0 ]; do\n"
	    "\tcase \"$1\" in\n"
	    "\t--map-out) map=$2; shift ;;\n"
	    "\t--summary) sum=$2; shift ;;\n"
	    "\t--progress) prog=$2; shift ;;\n"
	    "\tesac\n"
	    "\tshift\n"
	    "done\n"
	    "%s"
	    "printf 'a fake block map\\n' > \"$map\" || exit 1\n"
	    "%s"
	    "echo '1048576 1048576' > \"$prog\"\n"
	    "printf '{\"changed_bytes\":1048576,\"read_bytes\":1048576,"
	    "\"written_bytes\":4096%s}\\n' > \"$sum\"\n";
	static const char hashed[] = ",\"image_sha256\":\"" FAKE_SUM "\","
	    "\"map_sha256\":\"'$(sha256sum < \"$map\" | cut -c1-64)'\"";
	_cleanup_free_ char *text = xasprintf(fmt, how == BC_FAIL ?
	    "echo 'fake-blockcopy: injected failure' >&2; exit 1\n" : "",
	    how == BC_SLOW ? "exec sleep 30\n" : "",
	    how == BC_HASHED ? hashed : "");

	snprintf(blockcopy, sizeof(blockcopy), "%s/fake-blockcopy", t.dir);
	if (file_write_atomic(blockcopy, text, strlen(text), 0700) < 0)
		abort();
}

/* A running VM "web" (disk vda) attached to its fake QEMU, an empty
 * directory for the repository, the fake copier. */
static void
fixture(int how)
{
	_cleanup_free_ char *state = NULL;
	char real[PATH_MAX];

	jt_setup(&t);
	t.on_host_init = on_host;
	blockcopy_install(how);
	on_host(&t.h);
	(void)jt_vm_add(&t, "web", 1, "running");
	/* As vm.create makes it: the job logs its helpers into it. */
	state = vm_state_path(jt_vm(&t), NULL);
	if (mkdir_p(state, 0700) < 0)
		abort();
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	if (!jt_qemu_attach(&t))
		abort();
	snprintf(repo, sizeof(repo), "%s/repo", t.dir);
	if (mkdir_p(repo, 0700) < 0 || !realpath(repo, real))
		abort();
	snprintf(repo, sizeof(repo), "%s", real);
}

/* Idempotent: a test that failed early is finished by run(). */
static void
finish(void)
{
	if (!t.loop)
		return;
	qga = fake_qmp_free(qga);
	free(j.dir);
	free(j.scratch);
	free(j.sock);
	memset(&j, 0, sizeof(j));
	jt_teardown(&t);
}

/* A reference point row of disk vda. */
static void
refpoint_insert(const char *name, const char *target)
{
	struct refpoint_row r = { .vm_uuid = t.uuid, .name = (char *)name,
		.disk = "vda", .created_ms = 1, .complete = true,
		.owner = "backup", .target = (char *)target,
		.point = "20000101T000000000Z" };

	if (store_refpoint_insert(t.st, &r) < 0)
		abort();
}

static bool
refpoint_exists(const char *name)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;
	bool found = false;

	if (store_refpoint_list(t.st, t.uuid, &rows, &n) < 0)
		abort();
	for (size_t i = 0; i < n; i++)
		found = found || streq(rows[i].name, name);
	refpoint_rows_free(rows, n);
	return found;
}

/* Start the backup (quiesced: the guest's file systems frozen for the
 * snap); fills j. */
static bool
backup_q(bool quiesce)
{
	json_t *body = json_pack("{ss sb}", "repo", repo, "quiesce", quiesce);
	struct job *job = NULL;
	struct err err = { 0 };
	int r = backup_start(&t.h, jt_vm(&t), body, &job, &err);

	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "backup_start: %s\n", err.msg);
		return false;
	}
	j.id = job->row->id;
	snprintf(j.point, sizeof(j.point), "%s", json_string_value(
	    json_object_get(job->details, "point")));
	track_bitmap_name(j.ref, json_string_value(json_object_get(
	    job->details, "ref")));
	snprintf(j.xfer, sizeof(j.xfer), "tern-x%lld", (long long)j.id);
	snprintf(j.fl_node, sizeof(j.fl_node), "vda-fl-J%lld",
	    (long long)j.id);
	snprintf(j.fl_job, sizeof(j.fl_job), "bk-vda-%lld", (long long)j.id);
	j.dir = xasprintf("%s/%s/%s", repo, t.uuid, j.point);
	j.scratch = xasprintf("%s/.web-vda.fleece-%lld.qcow2", t.pool,
	    (long long)j.id);
	free(j.sock);
	j.sock = xasprintf("%s/run/vms/%s/backup.sock", t.dir, t.uuid);
	return true;
}

static void
reply(const char *cmd, const char *args, const char *ret)
{
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, cmd, args), ret);
}

/* Script the commands before the copy with QEMU's answers, QEMU
 * refusing step err (ST__COUNT: none); the export's three go out
 * together, so all of them are answered.  nodes: the disk's bitmaps in
 * query-named-block-nodes' answer; bitmap: the export must carry the
 * job's frozen bitmap. */
static void
script_with(int err, const char *bitmaps, bool bitmap)
{
	_cleanup_free_ char *fl = xasprintf("{\"node-name\":\"%s\"}",
	    j.fl_node);
	_cleanup_free_ char *ex = xasprintf("{\"id\":\"%s\",\"node-name\":"
	    "\"%s\",\"name\":\"vda\"%s%s%s}", j.fl_node, j.fl_node,
	    bitmap ? ",\"bitmaps\":[\"" : "", bitmap ? j.xfer : "",
	    bitmap ? "\"]" : "");
	_cleanup_free_ char *nodes = xasprintf("[{\"node-name\":\"vda-fmt\","
	    "\"dirty-bitmaps\":[%s]}]", bitmaps);
	const char *args[ST__COUNT] = { NULL, NULL, fl, NULL,
		"{\"fdname\":\"tern-backup\"}", NULL, ex };
	const char *ret[ST__COUNT] = { "[{\"device\":\"\",\"qdev\":"
		"\"/machine/peripheral/vda/virtio-backend\",\"inserted\":"
		"{\"node-name\":\"vda-fmt\",\"file\":\"x\"}}]",
		nodes, "{}", "{}", "{}", "{}", "{}" };

	for (int i = 0; i < ST__COUNT; i++) {
		int h = i == ST_GETFD ? fake_qmp_expect_fd(t.qmp, steps[i],
		    args[i]) : fake_qmp_expect(t.qmp, steps[i], args[i]);

		if (i == err)
			fake_qmp_error(t.qmp, h, "GenericError", "injected");
		else
			fake_qmp_reply(t.qmp, h, ret[i]);
		if (i >= err && i < ST_GETFD)
			return;
		if (i >= err && i == ST_EXPORT)
			return;
	}
}

static void
script(int err)
{
	script_with(err, "", false);
}

/* The teardown: every QEMU thing of the job removed; going back (back),
 * the new point's bitmap too; the disk's node unknown (no_node), no
 * bitmap at all. */
static void
script_teardown(bool back, bool no_node)
{
	_cleanup_free_ char *id = xasprintf("{\"id\":\"%s\"}", j.fl_node);
	_cleanup_free_ char *jid = xasprintf("{\"id\":\"%s\"}", j.fl_job);
	_cleanup_free_ char *nn = xasprintf("{\"node-name\":\"%s\"}",
	    j.fl_node);
	_cleanup_free_ char *xb = xasprintf("{\"node\":\"vda-fmt\","
	    "\"name\":\"%s\"}", j.xfer);
	_cleanup_free_ char *rb = xasprintf("{\"node\":\"vda-fmt\","
	    "\"name\":\"%s\"}", j.ref);

	reply("block-export-del", id, "{}");
	reply("query-block-exports", NULL, "[]");
	reply("job-cancel", jid, "{}");
	reply("query-jobs", NULL, "[]");
	reply("job-dismiss", jid, "{}");
	reply("blockdev-del", nn, "{}");
	if (!no_node)
		reply("block-dirty-bitmap-remove", xb, "{}");
	if (!no_node && back)
		reply("block-dirty-bitmap-remove", rb, "{}");
	reply("nbd-server-stop", NULL, "{}");
}

/* The job failed and went back: nothing of the point is left. */
static void
assert_gone_back(const char *why)
{
	struct bk_manifest *pts = NULL;
	size_t n = 1;
	struct err err = { 0 };

	ASSERT_STREQ(jt_job_state(&t, j.id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, j.id), "vm 'web' not backed up");
	ASSERT_CONTAINS(jt_job_error(&t, j.id), why);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(!jt_exists(j.dir));
	ASSERT_TRUE(!jt_exists(j.scratch));
	ASSERT_TRUE(!jt_exists(j.sock));
	ASSERT_TRUE(!refpoint_exists(j.ref + strlen(TRACK_BITMAP_PREFIX)));
	ASSERT_EQ(bk_points_list(repo, t.uuid, &pts, &n, NULL, NULL, &err),
	    0);
	ASSERT_EQ(n, 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
}

static void
error_at(int k)
{
	fixture(BC_OK);
	ASSERT_TRUE(backup());
	script(k);
	script_teardown(true, k == ST_QBLOCK);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_gone_back("injected");
	finish();
}

static void
test_backup_error_at_every_step(void)
{
	for (int k = 0; k < ST__COUNT; k++) {
		int before = test_failed_asserts;

		error_at(k);
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (QMP error at step %d: %s)\n", k,
			    steps[k]);
			finish();
			return;
		}
	}
}

/* The copier fails: the teardown goes back. */
static void
test_backup_copy_fails(void)
{
	fixture(BC_FAIL);
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	script_teardown(true, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_gone_back("copying disk vda failed");
	finish();
}

/* The point stands: listed, with the files the manifest names; its
 * reference point recorded, the repository's older one dropped. */
static void
assert_point_stands(void)
{
	struct bk_manifest *pts = NULL;
	size_t n = 0;
	struct err err = { 0 };
	_cleanup_free_ char *img = xasprintf("%s/vda.qcow2", j.dir);
	_cleanup_free_ char *map = xasprintf("%s/vda.map", j.dir);

	ASSERT_STREQ(jt_job_state(&t, j.id), "succeeded");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(jt_exists(img));
	ASSERT_TRUE(jt_exists(map));
	ASSERT_TRUE(!jt_exists(j.scratch));
	ASSERT_TRUE(!jt_exists(j.sock));
	ASSERT_EQ(bk_points_list(repo, t.uuid, &pts, &n, NULL, NULL, &err),
	    0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(pts[0].point, j.point);
	ASSERT_EQ(pts[0].kind, BK_FULL);
	ASSERT_EQ(pts[0].n_disks, 1);
	ASSERT_EQ(bk_point_check_files(repo, &pts[0], &err), 0);
	bk_points_free(pts, n);
	ASSERT_TRUE(refpoint_exists(j.ref + strlen(TRACK_BITMAP_PREFIX)));
	ASSERT_TRUE(!refpoint_exists("bk-old"));
	ASSERT_TRUE(refpoint_exists("bk-other"));
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
}

/* A whole full point. */
static void
test_backup_success(void)
{
	fixture(BC_OK);
	refpoint_insert("bk-old", repo);	/* this repository's */
	refpoint_insert("bk-other", "/elsewhere");
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	reply("block-dirty-bitmap-remove", "{\"node\":\"vda-fmt\","
	    "\"name\":\"tern-bk-old\"}", "{}");
	script_teardown(false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_point_stands();
	finish();
}

/* A copier that gives the sha256 of its files: the manifest takes them
 * as they are (no sha256sum reads the files again), so a wrong one (the
 * fake's FAKE_SUM for the image) shows in the manifest and in the check. */
static void
test_backup_copier_hashes(void)
{
	struct bk_manifest *pts = NULL;
	size_t n = 0;
	struct err err = { 0 };
	char map_sum[65];
	_cleanup_free_ char *map = NULL;

	fixture(BC_HASHED);
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	script_teardown(false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, j.id), "succeeded");
	ASSERT_EQ(bk_points_list(repo, t.uuid, &pts, &n, NULL, NULL, &err),
	    0);
	ASSERT_EQ(n, 1);
	map = xasprintf("%s/vda.map", j.dir);
	ASSERT_EQ(bk_file_sha256(map, map_sum, &err), 0);
	ASSERT_STREQ(pts[0].disks[0].image_sha256, FAKE_SUM);
	ASSERT_STREQ(pts[0].disks[0].map_sha256, map_sum);
	ASSERT_EQ(bk_point_check_files(repo, &pts[0], &err), -EBADMSG);
	bk_points_free(pts, n);
	finish();
}

/* A second point on the first: its reference point's bitmap there and
 * consistent (bitmap), only the blocks it names are read (incremental);
 * else every block is compared with the first point's map (resync), the
 * first reference point lost.  Either way the image is backed by the
 * first point's and the first reference point is dropped. */
static void
second_point(bool bitmap)
{
	char p1[BK_POINT_ID_LEN], ref1[TRACK_NAME_MAX + 8];
	_cleanup_free_ char *bm = NULL, *rm = NULL, *argsf = NULL;
	_cleanup_free_ char *args = NULL, *want = NULL, *backing = NULL;
	struct bk_manifest *pts = NULL;
	size_t n = 0;
	struct err err = { 0 };

	fixture(BC_OK);
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	script_teardown(false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, j.id), "succeeded");
	snprintf(p1, sizeof(p1), "%s", j.point);
	snprintf(ref1, sizeof(ref1), "%s", j.ref);
	argsf = xasprintf("%s.args", blockcopy);
	(void)unlink(argsf);
	free(j.dir);
	free(j.scratch);
	ASSERT_TRUE(backup());
	bm = bitmap ? xasprintf("{\"name\":\"%s\",\"count\":0,"
	    "\"recording\":true,\"busy\":false,\"persistent\":true}",
	    ref1) : xstrdup("");
	script_with(ST__COUNT, bm, bitmap);
	rm = xasprintf("{\"node\":\"vda-fmt\",\"name\":\"%s\"}", ref1);
	reply("block-dirty-bitmap-remove", rm, "{}");
	script_teardown(false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, j.id), "succeeded");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(file_read_all(argsf, 1 << 16, &args, NULL), 0);
	want = bitmap ? xasprintf("--bitmap %s --map-in %s/../%s/vda.map",
	    j.xfer, j.dir, p1) : xasprintf("--compare --map-in "
	    "%s/../%s/vda.map", j.dir, p1);
	ASSERT_CONTAINS(args, want);
	ASSERT_EQ(bk_points_list(repo, t.uuid, &pts, &n, NULL, NULL, &err),
	    0);
	ASSERT_EQ(n, 2);
	backing = xasprintf("../%s/vda.qcow2", p1);
	ASSERT_STREQ(pts[1].parent, p1);
	ASSERT_EQ(pts[1].kind, bitmap ? BK_INCREMENTAL : BK_RESYNC);
	ASSERT_STREQ(pts[1].disks[0].backing, backing);
	ASSERT_EQ(bk_point_check_files(repo, &pts[1], &err), 0);
	bk_points_free(pts, n);
	ASSERT_TRUE(!refpoint_exists(ref1 + strlen(TRACK_BITMAP_PREFIX)));
	ASSERT_TRUE(refpoint_exists(j.ref + strlen(TRACK_BITMAP_PREFIX)));
	finish();
}

static void
test_backup_incremental(void)
{
	second_point(true);
}

static void
test_backup_resync(void)
{
	second_point(false);
}

/* ternd restarts while the copier runs (QEMU still up): the copier died
 * with it; the point goes back. */
static void
test_backup_restart_copy(void)
{
	_cleanup_free_ char *map = NULL;

	fixture(BC_SLOW);
	ASSERT_TRUE(backup());
	map = xasprintf("%s/vda.map", j.dir);
	script(ST__COUNT);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "copy", TIMEOUT_MS));
	jt_run_for(&t, 300);
	ASSERT_TRUE(jt_exists(j.dir));
	ASSERT_TRUE(jt_exists(j.scratch));
	jt_restart(&t, true, true);
	script_teardown(true, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_gone_back("ternd restarted");
	finish();
}

/* ternd and QEMU die during the copy: nothing to ask QEMU; the files
 * go back, the VM crashed. */
static void
test_backup_restart_copy_qemu_gone(void)
{
	fixture(BC_SLOW);
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "copy", TIMEOUT_MS));
	jt_run_for(&t, 300);
	jt_restart(&t, false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, j.id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, j.id), "ternd restarted");
	ASSERT_TRUE(!jt_exists(j.dir));
	ASSERT_TRUE(!jt_exists(j.scratch));
	ASSERT_TRUE(!refpoint_exists(j.ref + strlen(TRACK_BITMAP_PREFIX)));
	ASSERT_EQ(jt_vm(&t)->state, VM_CRASHED);
	finish();
}

/* A cancel during the copy: the copier is stopped, the teardown goes
 * back. */
static void
test_backup_cancel_copy(void)
{
	struct err err = { 0 };

	fixture(BC_SLOW);
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "copy", TIMEOUT_MS));
	jt_run_for(&t, 300);
	script_teardown(true, false);
	ASSERT_EQ(job_cancel(&t.h.jobs, j.id, &err), 0);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, j.id), "cancelled");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(!jt_exists(j.dir));
	ASSERT_TRUE(!jt_exists(j.scratch));
	ASSERT_TRUE(!refpoint_exists(j.ref + strlen(TRACK_BITMAP_PREFIX)));
	finish();
}

/* A cancel while qemu-img makes the images: it is stopped, the
 * teardown goes back and the job ends once qemu-img has exited. */
static void
test_backup_cancel_prepare(void)
{
	/* It takes its time to stop, as qemu-img may: the job's step
	 * after the cancel comes first and must be woken again. */
	const char text[] = "#!/bin/bash\ntrap 'sleep 0.3; exit 1' TERM\n"
	    "sleep 30 &\nwait\n";
	_cleanup_free_ char *img = NULL;
	struct err err = { 0 };

	fixture(BC_OK);
	img = xasprintf("%s/slow-qemu-img", t.dir);
	if (file_write_atomic(img, text, strlen(text), 0700) < 0)
		abort();
	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = xstrdup(img);
	ASSERT_TRUE(backup());
	reply("query-block", NULL, "[{\"device\":\"\",\"qdev\":"
	    "\"/machine/peripheral/vda/virtio-backend\",\"inserted\":"
	    "{\"node-name\":\"vda-fmt\",\"file\":\"x\"}}]");
	reply("query-named-block-nodes", NULL, "[]");
	script_teardown(true, false);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "prepare", TIMEOUT_MS));
	jt_run_for(&t, 300);
	ASSERT_TRUE(jt_exists(j.dir));
	ASSERT_EQ(job_cancel(&t.h.jobs, j.id, &err), 0);
	/* qemu-img is gone after 0.3 s; the teardown is quick after it. */
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, 2000));
	ASSERT_STREQ(jt_job_state(&t, j.id), "cancelled");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(!jt_exists(j.dir));
	ASSERT_TRUE(!jt_exists(j.scratch));
	finish();
}

/* ternd restarts during the teardown of a sealed point (QEMU has not
 * answered block-export-del): the teardown runs again, forward. */
static void
test_backup_restart_teardown(void)
{
	fixture(BC_OK);
	refpoint_insert("bk-old", repo);
	refpoint_insert("bk-other", "/elsewhere");
	ASSERT_TRUE(backup());
	script(ST__COUNT);
	reply("block-dirty-bitmap-remove", "{\"node\":\"vda-fmt\","
	    "\"name\":\"tern-bk-old\"}", "{}");
	(void)fake_qmp_expect(t.qmp, "block-export-del", NULL);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "teardown", TIMEOUT_MS));
	jt_run_for(&t, 200);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	jt_restart(&t, true, true);
	script_teardown(false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_point_stands();
	finish();
}

/* A cancel while the guest is frozen for the snap (the transaction not
 * yet answered): the guest is thawed at once, not when the freeze's
 * limit (BK_FREEZE_MS) runs out. */
static void
test_backup_cancel_frozen(void)
{
	static const char *const quiet[] = { "guest-fsfreeze-status",
		"guest-ping", "guest-get-host-name", "guest-get-osinfo",
		"guest-network-get-interfaces", "guest-file-open",
		"guest-file-write", "guest-file-close" };
	_cleanup_free_ char *sock = NULL;
	struct err err = { 0 };
	int h;

	fixture(BC_OK);
	sock = xasprintf("%s/run/vms/%s/qga.sock", t.dir, t.uuid);
	if (fake_qmp_new(t.loop, FAKE_QMP_QGA, &qga) < 0 ||
	    symlink(fake_qmp_path(qga), sock) == -1)
		abort();
	fake_qga_sync(qga);
	for (size_t i = 0; i < ARRAY_SIZE(quiet); i++)
		fake_qmp_always(qga, quiet[i], i == 0 ? "\"thawed\"" : "{}");
	fake_qmp_reply(qga, fake_qmp_expect(qga, "guest-fsfreeze-freeze",
	    NULL), "1");
	fake_qmp_reply(qga, fake_qmp_expect(qga, "guest-fsfreeze-thaw",
	    NULL), "1");
	/* The agent connects within a tick of the VM's. */
	for (int i = 0; i < 500 && !agent_is_ready(jt_vm(&t)); i++)
		jt_run_for(&t, 10);
	ASSERT_TRUE(agent_is_ready(jt_vm(&t)));
	ASSERT_TRUE(backup_q(true));
	reply("query-block", NULL, "[{\"device\":\"\",\"qdev\":"
	    "\"/machine/peripheral/vda/virtio-backend\",\"inserted\":"
	    "{\"node-name\":\"vda-fmt\",\"file\":\"x\"}}]");
	reply("query-named-block-nodes", NULL, "[]");
	reply("blockdev-add", NULL, "{}");
	h = fake_qmp_expect(t.qmp, "transaction", NULL);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "snap", TIMEOUT_MS));
	jt_run_for(&t, 100);
	ASSERT_TRUE(jt_vm(&t)->agent.frozen);
	ASSERT_EQ(job_cancel(&t.h.jobs, j.id, &err), 0);
	jt_run_for(&t, 300);
	ASSERT_TRUE(fake_qmp_is_done(qga));
	ASSERT_TRUE(!jt_vm(&t)->agent.frozen);
	fake_qmp_reply(t.qmp, h, "{}");
	script_teardown(true, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, j.id), "cancelled");
	ASSERT_EQ(fake_qmp_n_mismatches(qga), 0);
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(!jt_exists(j.dir));
	finish();
}

/* The manifest of the job's point, as seal writes it. */
static int
manifest_write(void)
{
	struct bk_manifest *m = xzalloc(sizeof(*m));
	struct bk_disk *d = &m->disks[0];
	struct vm_desc desc = { 0 };
	struct err err = { 0 };
	_cleanup_free_ char *img = xasprintf("%s/vda.qcow2", j.dir);
	_cleanup_free_ char *map = xasprintf("%s/vda.map", j.dir);
	json_t *details = job_find(&t.h.jobs, j.id)->details;
	int r;

	snprintf(m->point, sizeof(m->point), "%s", j.point);
	m->time_ms = json_integer_value(json_object_get(details, "time_ms"));
	snprintf(m->vm_uuid, sizeof(m->vm_uuid), "%s", t.uuid);
	snprintf(m->vm_name, sizeof(m->vm_name), "web");
	vm_desc_from_row(&desc, jt_vm(&t)->row);
	m->desc = vm_desc_to_json(&desc);
	vm_desc_done(&desc);
	m->kind = BK_FULL;
	m->consistency = BK_CRASH;
	m->block_size = 65536;
	m->n_disks = 1;
	snprintf(d->name, sizeof(d->name), "vda");
	d->size = 1 << 20;
	snprintf(d->image, sizeof(d->image), "vda.qcow2");
	snprintf(d->map, sizeof(d->map), "vda.map");
	r = bk_file_sha256(img, d->image_sha256, &err);
	if (r == 0)
		r = bk_file_sha256(map, d->map_sha256, &err);
	if (r == 0)
		r = bk_manifest_write(j.dir, m, &err);
	if (r < 0)
		fprintf(stderr, "manifest: %s\n", err.msg);
	bk_manifest_clear(m);
	free(m);
	return r;
}

/* ternd restarts once the manifest is on disk, before the job recorded
 * more: the point stands, its reference point is recorded, the teardown
 * runs forward (the new bitmap stays). */
static void
test_backup_restart_sealed(void)
{
	_cleanup_free_ char *map = NULL;

	fixture(BC_SLOW);
	ASSERT_TRUE(backup());
	map = xasprintf("%s/vda.map", j.dir);
	script(ST__COUNT);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "copy", TIMEOUT_MS));
	for (int i = 0; i < 200 && !jt_exists(map); i++)
		jt_run_for(&t, 10);
	ASSERT_EQ(manifest_write(), 0);
	refpoint_insert("bk-old", repo);
	refpoint_insert("bk-other", "/elsewhere");
	jt_restart(&t, true, true);
	reply("block-dirty-bitmap-remove", "{\"node\":\"vda-fmt\","
	    "\"name\":\"tern-bk-old\"}", "{}");
	script_teardown(false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_point_stands();
	finish();
}

static void
run(void (*fn)(void), const char *name)
{
	int before = test_failed_asserts;

	fn();
	finish();	/* when the test returned early */
	if (test_failed_asserts != before) {
		test_failed++;
		printf("FAIL %s\n", name);
	} else {
		test_passed++;
		printf("ok %s\n", name);
	}
}

#define RUN(fn) run(fn, #fn)

int
main(void)
{
	RUN(test_backup_success);
	RUN(test_backup_copier_hashes);
	RUN(test_backup_incremental);
	RUN(test_backup_resync);
	RUN(test_backup_error_at_every_step);
	RUN(test_backup_copy_fails);
	RUN(test_backup_restart_copy);
	RUN(test_backup_restart_copy_qemu_gone);
	RUN(test_backup_cancel_copy);
	RUN(test_backup_cancel_prepare);
	RUN(test_backup_cancel_frozen);
	RUN(test_backup_restart_sealed);
	RUN(test_backup_restart_teardown);
	return TEST_REPORT();
}
