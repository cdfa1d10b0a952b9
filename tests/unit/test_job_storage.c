/* test_job_storage.c - vm.move-storage (src/storage/) driven against the
 * fake QMP peer: the exact command sequence of a live move of a running
 * VM's disk from pool p1 to p2 (the target made by the real qemu-img; one
 * disk, then two), a QMP error at each of its steps (before the switch
 * the disk stays on its file and the target goes; after it a failed query
 * is asked again), and a ternd restart in each phase, QEMU up or gone
 * (the outcomes of docs/architecture.md's restart table).  Then the copy
 * of a VM that is down (qemu-img convert, cp for a saved state; no QMP):
 * its success, a failed helper, and a restart mid-copy and after the
 * rename.  Not covered: a restart in pivot (the job leaves that phase
 * within the same loop turn). */
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "jobtest.h"
#include "storage.h"
#include "test.h"
#include "util.h"

#define TIMEOUT_MS 10000

extern char **environ;

/* The commands of a live move of one disk, in order, as QEMU sees them. */
enum { LV_BLOCK, LV_NODES, LV_ADD, LV_MIRROR, LV_CHANGE, LV_SYNC1, LV_SYNC2,
       LV_COMPLETE, LV_JOBS1, LV_DISMISS, LV_JOBS2, LV_WHERE, LV_CLEAN1,
       LV_DEL1, LV_CLEAN2, LV_DEL2, LV_CLEAN3, LV__COUNT };
static const char *const steps[LV__COUNT] = { "query-block",
	"query-named-block-nodes", "blockdev-add", "blockdev-mirror",
	"block-job-change", "query-block-jobs", "query-block-jobs",
	"job-complete", "query-jobs", "job-dismiss", "query-jobs",
	"query-block", "query-named-block-nodes", "blockdev-del",
	"query-named-block-nodes", "blockdev-del", "query-named-block-nodes" };

static struct jobtest t;
static char src[256], dst[256];	/* the disk's file in p1, in p2 */
static char jid[24];		/* the job's id, as text */
static char mid[32], fmt[40], file[40];	/* the mirror, the new nodes */

/* A running VM "web" with one disk in p1, attached to its fake QEMU (in
 * a fresh jobtest: fixture()). */
static void
fixture_add_web(void)
{
	(void)jt_vm_add(&t, "web", 1, "running");
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	if (!jt_qemu_attach(&t))
		abort();
	snprintf(src, sizeof(src), "%s/web-vda.qcow2", t.pool);
	snprintf(dst, sizeof(dst), "%s/web-vda.qcow2", t.pool2);
}

static void
fixture(void)
{
	jt_setup(&t);
	fixture_add_web();
}

/* Tear down what fixture() set up, once (a failed assert returns early:
 * RUN() calls it after every test). */
static void
cleanup(void)
{
	_cleanup_free_ char *pidfile = NULL, *buf = NULL;

	if (!t.st)
		return;
	/* a slow qemu-img (slow_qemu_img()) a failed test left waiting */
	pidfile = xasprintf("%s/slow.pid", t.dir);
	if (file_read_all(pidfile, 64, &buf, NULL) == 0 && atoi(buf) > 0)
		(void)kill((pid_t)atoi(buf), SIGKILL);
	jt_teardown(&t);
}

#define RUN(fn) do { RUN_TEST(fn); cleanup(); } while (0)

/* Start the move of every disk to p2; the job's id (0: refused). */
static int64_t
move_start(void)
{
	json_t *body = json_pack("{ss}", "to", "p2");
	struct job *job;
	struct err err = { 0 };
	int64_t id;
	int r = storage_move_start(&t.h, jt_vm(&t), body, &job, &err);

	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "move_start: %s\n", err.msg);
		return 0;
	}
	id = job->row->id;
	snprintf(jid, sizeof(jid), "%lld", (long long)id);
	snprintf(mid, sizeof(mid), "mv-vda-%lld", (long long)id);
	snprintf(fmt, sizeof(fmt), "vda-fmt-J%lld", (long long)id);
	snprintf(file, sizeof(file), "vda-file-J%lld", (long long)id);
	return id;
}

/* query-block: disk vda on path (its format node node). */
static char *
block_on(const char *node, const char *path)
{
	return xasprintf("[{\"device\":\"\",\"qdev\":\"/machine/peripheral/"
	    "vda/virtio-backend\",\"inserted\":{\"node-name\":\"%s\","
	    "\"file\":\"%s\"}}]", node, path);
}

/* query-named-block-nodes: of the format and file nodes on the old and
 * on the new file, the last n_old and n_new (2: both, 1: the file node). */
static char *
nodes(int n_old, int n_new)
{
	const char *name[4] = { "vda-fmt", "vda-file", fmt, file };
	const char *drv[4] = { "qcow2", "file", "qcow2", "file" };
	const char *path[4] = { src, src, dst, dst };
	char buf[2048];
	size_t k = 0;

	k += snprintf(buf + k, sizeof(buf) - k, "[");
	for (int i = 0; i < 4; i++) {
		if ((i < 2 && i < 2 - n_old) || (i >= 2 && i < 4 - n_new))
			continue;
		k += snprintf(buf + k, sizeof(buf) - k, "%s{\"node-name\":"
		    "\"%s\",\"drv\":\"%s\",\"file\":\"%s\"}", k > 1 ? "," : "",
		    name[i], drv[i], path[i]);
	}
	snprintf(buf + k, sizeof(buf) - k, "]");
	return xstrdup(buf);
}

/* query-jobs: our mirror in status s, or no job (s NULL). */
static char *
jobs(const char *s)
{
	return s ? xasprintf("[{\"id\":\"%s\",\"type\":\"mirror\",\"status\":"
	    "\"%s\",\"current-progress\":1048576,\"total-progress\":1048576}]",
	    mid, s) : xstrdup("[]");
}

static char *
block_job_data(void)
{
	return xasprintf("{\"device\":\"%s\",\"type\":\"mirror\",\"len\":"
	    "1048576,\"offset\":1048576,\"speed\":0}", mid);
}

/* The arguments step i must carry (NULL: any). */
static char *
step_args(int i)
{
	switch (i) {
	case LV_ADD:
		return xasprintf("{\"driver\":\"qcow2\",\"node-name\":\"%s\","
		    "\"file\":{\"filename\":\"%s\",\"node-name\":\"%s\"}}",
		    fmt, dst, file);
	case LV_MIRROR:
		return xasprintf("{\"job-id\":\"%s\",\"device\":\"vda-fmt\","
		    "\"target\":\"%s\",\"sync\":\"full\",\"copy-mode\":"
		    "\"background\",\"auto-dismiss\":false}", mid, fmt);
	case LV_CHANGE:
		return xasprintf("{\"id\":\"%s\",\"copy-mode\":"
		    "\"write-blocking\"}", mid);
	case LV_COMPLETE:
	case LV_DISMISS:
		return xasprintf("{\"id\":\"%s\"}", mid);
	case LV_DEL1:
		return xstrdup("{\"node-name\":\"vda-fmt\"}");
	case LV_DEL2:
		return xstrdup("{\"node-name\":\"vda-file\"}");
	default:
		return NULL;
	}
}

/* QEMU's answer to step i of a move that goes well. */
static char *
step_reply(int i)
{
	switch (i) {
	case LV_BLOCK:
		return block_on("vda-fmt", src);
	case LV_NODES:
		return nodes(2, 0);
	case LV_SYNC1:
	case LV_SYNC2:
		return xasprintf("[{\"device\":\"%s\",\"type\":\"mirror\","
		    "\"len\":1048576,\"offset\":1048576,\"ready\":true,"
		    "\"actively-synced\":true}]", mid);
	case LV_JOBS1:
		return jobs("concluded");
	case LV_JOBS2:
		return jobs(NULL);
	case LV_WHERE:
		return block_on(fmt, dst);
	case LV_CLEAN1:
		return nodes(2, 2);
	case LV_CLEAN2:
		return nodes(1, 2);
	case LV_CLEAN3:
		return nodes(0, 2);
	default:
		return xstrdup("{}");
	}
}

/* Expect cmd (args may be NULL) and answer it with ret. */
static void
expect_reply(const char *cmd, const char *args, const char *ret)
{
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, cmd, args), ret);
}

/* Script steps from .. upto (not including upto) with QEMU's answers and
 * events; returns the handle of upto's expect (-1 for LV__COUNT). */
static int
script(int from, int upto)
{
	_cleanup_free_ char *ev = block_job_data();

	for (int i = from; i <= upto && i < LV__COUNT; i++) {
		_cleanup_free_ char *args = step_args(i);
		_cleanup_free_ char *ret = NULL;
		int h = fake_qmp_expect(t.qmp, steps[i], args);

		if (i == upto)
			return h;
		ret = step_reply(i);
		fake_qmp_reply(t.qmp, h, ret);
		if (i == LV_MIRROR)
			fake_qmp_event(t.qmp, "BLOCK_JOB_READY", ev);
		else if (i == LV_COMPLETE)
			fake_qmp_event(t.qmp, "BLOCK_JOB_COMPLETED", ev);
	}
	return -1;
}

/* The disk moved: the row and the store name the new file, the old one
 * is gone. */
static void
assert_moved(int64_t id)
{
	struct vm *vm = jt_vm(&t);

	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(vm->state, VM_RUNNING);
	ASSERT_STREQ(vm->row->disks[0].path, dst);
	ASSERT_STREQ(vm->row->disks[0].pool, "p2");
	ASSERT_TRUE(jt_exists(dst));
	ASSERT_TRUE(!jt_exists(src));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
}

static void
test_live_success(void)
{
	int64_t id;

	fixture();
	ASSERT_TRUE((id = move_start()) > 0);
	(void)script(0, LV__COUNT);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_moved(id);
}

/* QEMU's side of going back: our mirror (in status s; NULL: there is
 * none) cancelled and dismissed, the disk still on its old file, and the
 * new nodes (n_new of them) deleted.  A READY mirror is ended with
 * block-job-cancel, not force-cancelled (resolve.c: cancel_cmd): it ends
 * as completed, without a switch. */
static void
script_back(const char *s, int n_new)
{
	_cleanup_free_ char *ev = block_job_data();
	_cleanup_free_ char *id = xasprintf("{\"id\":\"%s\"}", mid);
	_cleanup_free_ char *dev = xasprintf("{\"device\":\"%s\"}", mid);
	_cleanup_free_ char *cur = jobs(s), *done = jobs("concluded");
	_cleanup_free_ char *none = jobs(NULL), *old = block_on("vda-fmt", src);
	bool ready = s && streq(s, "ready");

	if (s && !streq(s, "concluded")) {
		expect_reply("query-jobs", NULL, cur);
		expect_reply(ready ? "block-job-cancel" : "job-cancel",
		    ready ? dev : id, "{}");
		fake_qmp_event(t.qmp, ready ? "BLOCK_JOB_COMPLETED" :
		    "BLOCK_JOB_CANCELLED", ev);
	}
	if (s) {
		expect_reply("query-jobs", NULL, done);
		expect_reply("job-dismiss", id, "{}");
	}
	expect_reply("query-jobs", NULL, none);
	expect_reply("query-block", NULL, old);
	for (int n = n_new; n >= 0; n--) {
		_cleanup_free_ char *ret = nodes(2, n);
		_cleanup_free_ char *del = xasprintf("{\"node-name\":\"%s\"}",
		    n == 2 ? fmt : file);

		expect_reply("query-named-block-nodes", NULL, ret);
		if (n > 0)
			expect_reply("blockdev-del", del, "{}");
	}
}

/* The move failed and changed nothing: the disk runs on its old file,
 * recorded there, and no target is left in p2. */
static void
assert_not_moved(int64_t id)
{
	struct vm *vm = jt_vm(&t);

	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "vm 'web' storage not moved");
	ASSERT_EQ(vm->state, VM_RUNNING);
	ASSERT_STREQ(vm->row->disks[0].path, src);
	ASSERT_STREQ(vm->row->disks[0].pool, "p1");
	ASSERT_TRUE(jt_exists(src));
	ASSERT_TRUE(!jt_exists(dst));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
}

/* Where the script goes on after a failed step k the job asks again (or,
 * after a refused blockdev-del or job-dismiss, asks what is left); -1
 * when the move goes back. */
static int
retry_from(int k)
{
	switch (k) {
	case LV_SYNC1:
	case LV_JOBS1:
	case LV_JOBS2:
	case LV_WHERE:
	case LV_CLEAN1:
	case LV_CLEAN2:
	case LV_CLEAN3:
		return k;
	case LV_SYNC2:
		return LV_COMPLETE;	/* synced by the first answer */
	case LV_DISMISS:
		return LV_JOBS1;
	case LV_DEL1:
	case LV_DEL2:
		return k - 1;
	default:
		return -1;
	}
}

/* QEMU's side after step k failed (see retry_from()). */
static void
script_after_error(int k)
{
	_cleanup_free_ char *ret = NULL, *ev = NULL, *id = NULL;

	if (retry_from(k) >= 0) {
		(void)script(retry_from(k), LV__COUNT);
	} else if (k == LV_ADD) {
		script_back(NULL, 0);
	} else if (k == LV_MIRROR) {
		script_back(NULL, 2);
	} else if (k == LV_CHANGE) {
		/* sent along with block-job-change */
		ret = step_reply(LV_SYNC1);
		expect_reply("query-block-jobs", NULL, ret);
		script_back("ready", 2);
	} else if (k == LV_COMPLETE) {
		/* Not switched: the mirror stays ready until the job gives
		 * up on the switch (ST_PIVOT_MS, 30 s) and cancels it. */
		ret = jobs("ready");
		ev = block_job_data();
		id = xasprintf("{\"id\":\"%s\"}", mid);
		fake_qmp_always(t.qmp, "query-jobs", ret);
		expect_reply("job-cancel", id, "{}");
		fake_qmp_event(t.qmp, "BLOCK_JOB_CANCELLED", ev);
		script_back("concluded", 2);
	}
}

static void
live_error_at(int k)
{
	int64_t id;

	fixture();
	ASSERT_TRUE((id = move_start()) > 0);
	fake_qmp_error(t.qmp, script(0, k), "GenericError", "injected");
	script_after_error(k);
	ASSERT_TRUE(jt_run_until_ended(&t, id, k == LV_COMPLETE ? 40000 :
	    TIMEOUT_MS));
	if (retry_from(k) >= 0) {
		assert_moved(id);
		return;
	}
	assert_not_moved(id);
	ASSERT_CONTAINS(jt_job_error(&t, id), k <= LV_NODES ?
	    "nothing was changed" : "vda stays in p1");
	ASSERT_CONTAINS(jt_job_error(&t, id), k == LV_COMPLETE ?
	    "QEMU did not switch every disk" : "injected");
}

/* Every step (a refused job-complete takes 30 s: ST_PIVOT_MS). */
static void
test_live_error_at_every_step(void)
{
	for (int k = 0; k < LV__COUNT; k++) {
		int before = test_failed_asserts;

		live_error_at(k);
		cleanup();
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (QMP error at step %d: %s)\n", k,
			    steps[k]);
			return;
		}
	}
}

/* ---- two disks ---- */

/* vda or vdb (i): its file in p1 or p2, its node now (node: format or
 * file; new: the move's node). */
static char *
path2(int i, bool new_file)
{
	return xasprintf("%s/web-vd%c.qcow2", new_file ? t.pool2 : t.pool,
	    'a' + i);
}

static char *
node2(int i, const char *kind, bool new_node)
{
	return new_node ? xasprintf("vd%c-%s-J%s", 'a' + i, kind, jid) :
	    xasprintf("vd%c-%s", 'a' + i, kind);
}

/* query-block: both disks, on their old or new files. */
static char *
block2(bool moved)
{
	_cleanup_free_ char *n0 = node2(0, "fmt", moved);
	_cleanup_free_ char *n1 = node2(1, "fmt", moved);
	_cleanup_free_ char *f0 = path2(0, moved), *f1 = path2(1, moved);

	return xasprintf("[{\"qdev\":\"/machine/peripheral/vda/virtio-"
	    "backend\",\"inserted\":{\"node-name\":\"%s\",\"file\":\"%s\"}},"
	    "{\"qdev\":\"/machine/peripheral/vdb/virtio-backend\","
	    "\"inserted\":{\"node-name\":\"%s\",\"file\":\"%s\"}}]", n0, f0,
	    n1, f1);
}

/* query-named-block-nodes: the old nodes of both disks (n_old: 2 format
 * and file, 1 file, 0 none) and, with_new, the move's. */
static char *
nodes2(int n_old, bool with_new)
{
	char buf[4096];
	size_t k = 0;

	k += snprintf(buf, sizeof(buf), "[");
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < 2; j++) {
			bool is_new = j == 1;
			_cleanup_free_ char *f = path2(i, is_new);

			for (int kind = 0; kind < 2; kind++) {
				_cleanup_free_ char *n = node2(i, kind ?
				    "file" : "fmt", is_new);

				if (is_new ? !with_new : kind < 2 - n_old)
					continue;
				k += snprintf(buf + k, sizeof(buf) - k,
				    "%s{\"node-name\":\"%s\",\"drv\":\"%s\","
				    "\"file\":\"%s\"}", k > 1 ? "," : "", n,
				    kind ? "file" : "qcow2", f);
			}
		}
	}
	snprintf(buf + k, sizeof(buf) - k, "]");
	return xstrdup(buf);
}

/* Expect cmd with arguments {key: value of disk i}, answer {}. */
static void
expect_each(const char *cmd, const char *fmt_args, const char *kind,
    bool new_node)
{
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *n = kind ? node2(i, kind, new_node) :
		    xasprintf("mv-vd%c-%s", 'a' + i, jid);
		_cleanup_free_ char *args = xasprintf(fmt_args, n);

		expect_reply(cmd, args, "{}");
	}
}

static void
script2_mirror(void)
{
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *src_node = node2(i, "fmt", false);
		_cleanup_free_ char *dst_node = node2(i, "fmt", true);
		_cleanup_free_ char *id = xasprintf("mv-vd%c-%s", 'a' + i,
		    jid);
		_cleanup_free_ char *args = xasprintf("{\"job-id\":\"%s\","
		    "\"device\":\"%s\",\"target\":\"%s\"}", id, src_node,
		    dst_node);
		_cleanup_free_ char *ev = xasprintf("{\"device\":\"%s\","
		    "\"type\":\"mirror\",\"len\":1,\"offset\":1,\"speed\":0}",
		    id);

		expect_reply("blockdev-mirror", args, "{}");
		fake_qmp_event(t.qmp, "BLOCK_JOB_READY", ev);
	}
}

/* The whole conversation of a live move of vda and vdb. */
static void
script2(void)
{
	_cleanup_free_ char *b_old = block2(false), *b_new = block2(true);
	_cleanup_free_ char *n_check = nodes2(2, false), *n2 = nodes2(2, true);
	_cleanup_free_ char *n1 = nodes2(1, true), *n0 = nodes2(0, true);
	_cleanup_free_ char *bj = xasprintf("[{\"device\":\"mv-vda-%s\","
	    "\"len\":1,\"offset\":1,\"ready\":true,\"actively-synced\":true},"
	    "{\"device\":\"mv-vdb-%s\",\"len\":1,\"offset\":1,\"ready\":true,"
	    "\"actively-synced\":true}]", jid, jid);
	_cleanup_free_ char *jb = xasprintf("[{\"id\":\"mv-vda-%s\","
	    "\"status\":\"concluded\"},{\"id\":\"mv-vdb-%s\",\"status\":"
	    "\"concluded\"}]", jid, jid);

	expect_reply("query-block", NULL, b_old);
	expect_reply("query-named-block-nodes", NULL, n_check);
	expect_each("blockdev-add", "{\"node-name\":\"%s\"}", "fmt", true);
	script2_mirror();
	expect_each("block-job-change", "{\"id\":\"%s\"}", NULL, false);
	expect_reply("query-block-jobs", NULL, bj);
	expect_reply("query-block-jobs", NULL, bj);
	expect_each("job-complete", "{\"id\":\"%s\"}", NULL, false);
	expect_reply("query-jobs", NULL, jb);
	expect_each("job-dismiss", "{\"id\":\"%s\"}", NULL, false);
	expect_reply("query-jobs", NULL, "[]");
	expect_reply("query-block", NULL, b_new);
	expect_reply("query-named-block-nodes", NULL, n2);
	expect_each("blockdev-del", "{\"node-name\":\"%s\"}", "fmt", false);
	expect_reply("query-named-block-nodes", NULL, n1);
	expect_each("blockdev-del", "{\"node-name\":\"%s\"}", "file", false);
	expect_reply("query-named-block-nodes", NULL, n0);
}

/* Both disks of a VM move: each recorded in p2, each old file gone. */
static void
test_live_two_disks(void)
{
	struct vm *vm;
	int64_t id;

	jt_setup(&t);
	(void)jt_vm_add(&t, "web", 2, "running");
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	ASSERT_TRUE(jt_qemu_attach(&t));
	ASSERT_TRUE((id = move_start()) > 0);
	script2();
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	vm = jt_vm(&t);
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *o = path2(i, false), *n = path2(i, true);

		ASSERT_STREQ(vm->row->disks[i].path, n);
		ASSERT_STREQ(vm->row->disks[i].pool, "p2");
		ASSERT_TRUE(jt_exists(n));
		ASSERT_TRUE(!jt_exists(o));
	}
}

/* ---- a ternd restart ---- */

/* Run the move until QEMU got step k and left it unanswered (the job
 * waits for it in phase), then restart ternd (QEMU still up or gone). */
static bool
restart_at(int64_t id, int k, const char *phase, bool qemu_up)
{
	uint64_t end = now_ms() + TIMEOUT_MS;
	struct job *job;

	(void)script(0, k);
	while (now_ms() < end && !fake_qmp_is_done(t.qmp))
		jt_run_for(&t, 5);
	jt_run_for(&t, 50);	/* its events are in */
	job = job_find(&t.h.jobs, id);
	if (!fake_qmp_is_done(t.qmp) || !job ||
	    !streq(job_phase_name(job), phase)) {
		fprintf(stderr, "restart_at: job %s in phase %s\n",
		    job ? "still" : "not", job ? job_phase_name(job) : "-");
		return false;
	}
	jt_restart(&t, qemu_up, true);
	return true;
}

/* Before anything was made the move carries on. */
static void
test_live_restart_in_check(void)
{
	int64_t id;

	fixture();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(restart_at(id, LV_BLOCK, "check", true));
	(void)script(0, LV__COUNT);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_moved(id);
}

/* From create on it goes back: QEMU's mirror (in status s, NULL: none)
 * cancelled, the new nodes deleted, the target removed. */
static void
restart_back(int k, const char *phase, const char *s)
{
	int64_t id;

	fixture();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(restart_at(id, k, phase, true));
	script_back(s, 2);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_not_moved(id);
	ASSERT_CONTAINS(jt_job_error(&t, id), "ternd restarted during the "
	    "move");
	ASSERT_CONTAINS(jt_job_error(&t, id), "vda stays in p1");
}

static void
test_live_restart_in_attach(void)
{
	restart_back(LV_ADD, "attach", NULL);
}

static void
test_live_restart_in_mirror(void)
{
	restart_back(LV_MIRROR, "mirror", "running");
}

static void
test_live_restart_in_mirroring(void)
{
	restart_back(LV_SYNC1, "mirroring", "ready");
}

/* After the switch: QEMU says the disk is on its new file, so the move
 * is finished (recorded, the old file removed) and succeeds. */
static void
test_live_restart_in_resolve(void)
{
	_cleanup_free_ char *done = NULL;
	int64_t id;

	fixture();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(restart_at(id, LV_JOBS1, "resolve", true));
	done = jobs("concluded");
	expect_reply("query-jobs", NULL, done);
	(void)script(LV_DISMISS, LV__COUNT);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_moved(id);
}

/* QEMU gone with ternd: nobody to ask; a disk whose switch QEMU had
 * reported (BLOCK_JOB_COMPLETED) moved, any other stays; the file it
 * left is removed.  The VM crashed. */
static void
restart_gone(int k, const char *phase, bool moved)
{
	struct vm *vm;
	int64_t id;

	fixture();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(restart_at(id, k, phase, false));
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	vm = jt_vm(&t);
	ASSERT_EQ(vm->state, VM_CRASHED);
	ASSERT_STREQ(jt_job_state(&t, id), moved ? "succeeded" : "failed");
	ASSERT_STREQ(vm->row->disks[0].path, moved ? dst : src);
	ASSERT_STREQ(vm->row->disks[0].pool, moved ? "p2" : "p1");
	ASSERT_TRUE(jt_exists(moved ? dst : src));
	ASSERT_TRUE(!jt_exists(moved ? src : dst));
}

static void
test_live_restart_gone_in_mirroring(void)
{
	restart_gone(LV_SYNC1, "mirroring", false);
}

static void
test_live_restart_gone_in_resolve(void)
{
	restart_gone(LV_JOBS1, "resolve", true);
}

/* ---- the copy of a VM that is off ---- */



/* Run argv to its end; its exit status (-1: not run). */
static int
run(char *const *argv)
{
	pid_t pid;
	int status;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0 ||
	    waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* A VM "web" that is down (state: off, saved), its disk a real qcow2 in
 * p1 (qemu-img convert reads it). */
static void
fixture_down(const char *state)
{
	char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", src, "1M",
		NULL };

	jt_setup(&t);
	(void)jt_vm_add(&t, "web", 1, state);
	snprintf(src, sizeof(src), "%s/web-vda.qcow2", t.pool);
	snprintf(dst, sizeof(dst), "%s/web-vda.qcow2", t.pool2);
	if (run(argv) != 0)
		abort();
}

/* The disk was copied: recorded at its new file, a qcow2, nothing
 * partial left, the old file gone. */
static void
assert_copied(int64_t id)
{
	_cleanup_free_ char *partial = xasprintf("%s.partial", dst);
	_cleanup_free_ char *buf = NULL;
	struct vm *vm = jt_vm(&t);
	size_t len = 0;

	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(vm->state, VM_OFF);
	ASSERT_STREQ(vm->row->disks[0].path, dst);
	ASSERT_STREQ(vm->row->disks[0].pool, "p2");
	ASSERT_TRUE(!jt_exists(src));
	ASSERT_TRUE(!jt_exists(partial));
	ASSERT_EQ(file_read_all(dst, 1 << 20, &buf, &len), 0);
	ASSERT_TRUE(len >= 4 && memcmp(buf, "QFI\xfb", 4) == 0);
}

static void
test_copy_success(void)
{
	int64_t id;

	fixture_down("off");
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_copied(id);
}

/* A saved VM: its state file follows disk 0 (copied with cp). */
static void
test_copy_saved_state(void)
{
	_cleanup_free_ char *old = NULL, *new = NULL, *buf = NULL;
	struct vm *vm;
	int64_t id;

	fixture_down("saved");
	vm = jt_vm(&t);
	old = xasprintf("%s/web.state", t.pool);
	new = xasprintf("%s/web.state", t.pool2);
	if (file_write_atomic(old, "state", 5, 0600) < 0 ||
	    store_vm_set_text(t.st, t.uuid, "state_file", old) < 0)
		abort();
	vm->row->state_file = xstrdup(old);
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	vm = jt_vm(&t);
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(vm->state, VM_SAVED);
	ASSERT_STREQ(vm->row->disks[0].path, dst);
	ASSERT_STREQ(vm->row->state_file, new);
	ASSERT_TRUE(!jt_exists(old));
	ASSERT_EQ(file_read_all(new, 64, &buf, NULL), 0);
	ASSERT_STREQ(buf, "state");
}

/* The helper fails (the disk is no qcow2): the move fails, the disk stays
 * where it was, the .partial is removed. */
static void
test_copy_helper_fails(void)
{
	_cleanup_free_ char *partial = NULL;
	struct vm *vm;
	int64_t id;

	fixture_down("off");
	partial = xasprintf("%s.partial", dst);
	if (file_write_atomic(src, "data", 4, 0600) < 0)
		abort();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	vm = jt_vm(&t);
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "the copy of vda failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "vda stays in p1");
	ASSERT_EQ(vm->state, VM_OFF);
	ASSERT_STREQ(vm->row->disks[0].path, src);
	ASSERT_STREQ(vm->row->disks[0].pool, "p1");
	ASSERT_TRUE(jt_exists(src));
	ASSERT_TRUE(!jt_exists(partial));
	ASSERT_TRUE(!jt_exists(dst));
}

/* A qemu-img that copies, says so in DIR/slow.pid, then waits to be
 * killed: the helper is caught mid-copy, the .partial written. */
static char *
slow_qemu_img(void)
{
	_cleanup_free_ char *text = xasprintf("#!/bin/sh\nqemu-img \"$@\" || "
	    "exit\necho $$ > %s/slow.pid.tmp && mv %s/slow.pid.tmp %s/slow.pid "
	    "&& exec sleep 60\n", t.dir, t.dir, t.dir);
	char *path = xasprintf("%s/slow-qemu-img", t.dir);

	if (file_write_atomic(path, text, strlen(text), 0700) < 0)
		abort();
	return path;
}

/* ternd dies while qemu-img made the target (its helper, killed here as
 * PR_SET_PDEATHSIG would): going back removes it. */
static void
test_live_restart_in_create(void)
{
	_cleanup_free_ char *pidfile = NULL;
	struct job *job;
	uint64_t end;
	int64_t id;
	pid_t helper;

	fixture();
	pidfile = xasprintf("%s/slow.pid", t.dir);
	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = slow_qemu_img();
	ASSERT_TRUE((id = move_start()) > 0);
	(void)script(0, LV_ADD);
	end = now_ms() + TIMEOUT_MS;
	while (now_ms() < end && !jt_exists(pidfile))
		jt_run_for(&t, 5);
	ASSERT_TRUE((job = job_find(&t.h.jobs, id)) && job->child);
	ASSERT_STREQ(job_phase_name(job), "create");
	ASSERT_TRUE(jt_exists(dst));
	helper = child_pid(job->child);
	(void)kill(helper, SIGKILL);
	(void)waitpid(helper, NULL, 0);
	jt_restart(&t, true, true);
	script_back(NULL, 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_not_moved(id);
	ASSERT_CONTAINS(jt_job_error(&t, id), "ternd restarted during the "
	    "move");
}

/* Run the copy until its helper (a slow qemu-img) wrote target.partial,
 * then kill the helper as PR_SET_PDEATHSIG does when ternd dies (ternd
 * does not die here).  False when it never got there. */
static bool
kill_mid_copy(int64_t id, const char *target)
{
	_cleanup_free_ char *pidfile = xasprintf("%s/slow.pid", t.dir);
	_cleanup_free_ char *partial = xasprintf("%s.partial", target);
	_cleanup_free_ char *buf = NULL;
	uint64_t end = now_ms() + TIMEOUT_MS;
	struct job *job;
	pid_t helper;

	while (now_ms() < end && !jt_exists(pidfile))
		jt_run_for(&t, 5);
	if (file_read_all(pidfile, 64, &buf, NULL) < 0 ||
	    !(job = job_find(&t.h.jobs, id)) || !job->child ||
	    !streq(job_phase_name(job), "copy") || !jt_exists(partial))
		return false;
	(void)kill((pid_t)atoi(buf), SIGKILL);
	(void)unlink(pidfile);	/* cleanup() kills no other process */
	helper = child_pid(job->child);
	(void)kill(helper, SIGKILL);
	(void)waitpid(helper, NULL, 0);
	return true;
}

/* The copy helper (sh) dies, as it does with ternd or on a cancel: the
 * copier it ran (qemu-img) dies with it, not writing on. */
static void
test_copy_copier_dies_with_helper(void)
{
	_cleanup_free_ char *pidfile = NULL, *buf = NULL;
	struct job *job;
	uint64_t end;
	int64_t id;
	pid_t helper, copier;

	fixture_down("off");
	pidfile = xasprintf("%s/slow.pid", t.dir);
	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = slow_qemu_img();
	ASSERT_TRUE((id = move_start()) > 0);
	end = now_ms() + TIMEOUT_MS;
	while (now_ms() < end && !jt_exists(pidfile))
		jt_run_for(&t, 5);
	ASSERT_TRUE(file_read_all(pidfile, 64, &buf, NULL) == 0);
	ASSERT_TRUE((copier = (pid_t)atoi(buf)) > 0);
	ASSERT_TRUE((job = job_find(&t.h.jobs, id)) && job->child);
	helper = child_pid(job->child);
	(void)kill(helper, SIGKILL);
	(void)waitpid(helper, NULL, 0);
	end = now_ms() + 5000;
	while (now_ms() < end && kill(copier, 0) == 0)
		(void)usleep(10000);
	ASSERT_TRUE(kill(copier, 0) == -1);
	if (kill(copier, 0) == 0)
		(void)kill(copier, SIGKILL);
	(void)unlink(pidfile);	/* cleanup() kills no other process */
	jt_restart(&t, false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
}

/* ternd dies mid-copy: the restarted job removes the .partial and copies
 * again. */
static void
test_copy_restart_mid_copy(void)
{
	int64_t id;

	fixture_down("off");
	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = slow_qemu_img();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(kill_mid_copy(id, dst));
	jt_restart(&t, false, false);	/* qemu_img: qemu-img again */
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_copied(id);
}

/* ternd dies after it renamed the copy, before it recorded it: the
 * restarted job records that file (no new copy) and finishes. */
static void
test_copy_restart_after_rename(void)
{
	_cleanup_free_ char *partial = NULL;
	struct stat before, after;
	int64_t id;

	fixture_down("off");
	partial = xasprintf("%s.partial", dst);
	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = slow_qemu_img();
	ASSERT_TRUE((id = move_start()) > 0);
	ASSERT_TRUE(kill_mid_copy(id, dst));
	ASSERT_EQ(rename(partial, dst), 0);
	ASSERT_EQ(stat(dst, &before), 0);
	jt_restart(&t, false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_copied(id);
	ASSERT_EQ(stat(dst, &after), 0);
	ASSERT_EQ(after.st_ino, before.st_ino);
}

/* A move queued behind another (max-storage-migrations 1: a copy of vm
 * "db" holds the slot) carries on after a restart: the live move of "web"
 * runs then, the copy of "db" is done again. */
static void
test_live_restart_in_queued(void)
{
	_cleanup_free_ char *db_src = NULL, *db_dst = NULL;
	int64_t db, id;
	struct vm *vm;

	jt_setup(&t);
	(void)jt_vm_add(&t, "db", 1, "off");
	db_src = xasprintf("%s/db-vda.qcow2", t.pool);
	db_dst = xasprintf("%s/db-vda.qcow2", t.pool2);
	ASSERT_EQ(run((char *[]){ "qemu-img", "create", "-q", "-f", "qcow2",
	    db_src, "1M", NULL }), 0);
	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = slow_qemu_img();
	t.h.cfg.max_storage_migrations = 1;
	ASSERT_TRUE((db = move_start()) > 0);
	fixture_add_web();
	ASSERT_TRUE((id = move_start()) > 0);
	jt_run_for(&t, 100);
	ASSERT_STREQ(job_phase_name(job_find(&t.h.jobs, id)), "queued");
	ASSERT_TRUE(kill_mid_copy(db, db_dst));
	jt_restart(&t, true, true);	/* two slots again */
	(void)script(0, LV__COUNT);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_moved(id);
	ASSERT_TRUE(jt_run_until_ended(&t, db, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, db), "succeeded");
	vm = vm_find(&t.h, "db");
	ASSERT_TRUE(vm != NULL);
	ASSERT_STREQ(vm->row->disks[0].path, db_dst);
	ASSERT_TRUE(!jt_exists(db_src));
}

int
main(void)
{
	RUN(test_live_success);
	RUN(test_live_error_at_every_step);
	RUN(test_live_two_disks);
	RUN(test_live_restart_in_queued);
	RUN(test_live_restart_in_check);
	RUN(test_live_restart_in_create);
	RUN(test_live_restart_in_attach);
	RUN(test_live_restart_in_mirror);
	RUN(test_live_restart_in_mirroring);
	RUN(test_live_restart_in_resolve);
	RUN(test_live_restart_gone_in_mirroring);
	RUN(test_live_restart_gone_in_resolve);
	RUN(test_copy_success);
	RUN(test_copy_saved_state);
	RUN(test_copy_helper_fails);
	RUN(test_copy_copier_dies_with_helper);
	RUN(test_copy_restart_mid_copy);
	RUN(test_copy_restart_after_rename);
	return TEST_REPORT();
}
