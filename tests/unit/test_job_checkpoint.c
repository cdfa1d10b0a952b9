/* test_job_checkpoint.c - vm.checkpoint, vm.checkpoint-apply and
 * vm.checkpoint-delete (src/checkpoint/) driven against the fake QMP peer
 * and the real qemu-img/qemu-io on small qcow2 files: an online create
 * (the QMP commands in order, the tern- bitmaps carried onto the
 * overlays), a QMP error at each of its QMP steps (the job goes back: no
 * row, no overlay, the disks as they were), a ternd restart in snap (the
 * disk's node says whether the transaction took), and offline create,
 * apply and delete with the guest's data checked through each. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "fsutil.h"
#include "jobtest.h"
#include "test.h"
#include "util.h"

#define TIMEOUT_MS 10000
#define MAX_DISKS 2

/* create's QMP commands, in order. */
enum { ST_ADD, ST_QBLOCK, ST_QNODES, ST_TX, ST__COUNT };
static const char *const steps[ST__COUNT] = { "blockdev-add",
	"query-block", "query-named-block-nodes", "transaction" };

static struct jobtest t;

/* The create job under test: its id, each disk's file before and its
 * overlay. */
static struct {
	int64_t id;
	int n;
	char *old[MAX_DISKS], *new[MAX_DISKS];
} j;

static void
on_host(struct host *h)
{
	checkpoint_init(h);
}

/* Quiet: only the exit status matters. */
static int
sh(char *line)
{
	int r = system(line);

	free(line);
	return r == 0 ? 0 : -EIO;
}

static int
qemu_io(const char *path, const char *cmd)
{
	return sh(xasprintf("qemu-io -f qcow2 -c '%s' '%s' >/dev/null 2>&1",
	    cmd, path));
}

/* VM "web" with n real qcow2 disks in state (running: attached to its
 * fake QEMU). */
static void
fixture(int n, const char *state)
{
	_cleanup_free_ char *dir = NULL;
	struct vm *vm;

	jt_setup(&t);
	t.on_host_init = on_host;
	on_host(&t.h);
	vm = jt_vm_add(&t, "web", n, state);
	for (int i = 0; i < n; i++)
		if (sh(xasprintf("qemu-img create -q -f qcow2 '%s' 1M",
		    vm->row->disks[i].path)) < 0)
			abort();
	/* As vm.create makes it: the jobs log their qemu-img into it. */
	dir = vm_state_path(vm, NULL);
	if (mkdir_p(dir, 0700) < 0)
		abort();
	if (!streq(state, "running"))
		return;
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	if (!jt_qemu_attach(&t))
		abort();
}

/* Idempotent: a test that failed early is finished by run(). */
static void
finish(void)
{
	if (!t.loop)
		return;
	for (int i = 0; i < MAX_DISKS; i++) {
		free(j.old[i]);
		free(j.new[i]);
	}
	memset(&j, 0, sizeof(j));
	jt_teardown(&t);
}

/* Start vm.checkpoint name; fills j. */
static bool
create(const char *name)
{
	json_t *body = json_pack("{ss}", "name", name), *d;
	struct job *job = NULL;
	struct err err = { 0 };
	size_t i;

	if (checkpoint_create_start(&t.h, jt_vm(&t), body, &job, &err) < 0) {
		fprintf(stderr, "checkpoint_create_start: %s\n", err.msg);
		json_decref(body);
		return false;
	}
	json_decref(body);
	for (int k = 0; k < MAX_DISKS; k++) {
		free(j.old[k]);
		free(j.new[k]);
		j.old[k] = j.new[k] = NULL;
	}
	j.id = job->row->id;
	j.n = 0;
	json_array_foreach(json_object_get(job->details, "disks"), i, d) {
		j.old[i] = xstrdup(json_string_value(json_object_get(d,
		    "old")));
		j.new[i] = xstrdup(json_string_value(json_object_get(d,
		    "new")));
		j.n++;
	}
	return true;
}

static void
reply(const char *cmd, const char *args, const char *ret)
{
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, cmd, args), ret);
}

static char *
node(int i, const char *kind)
{
	return xasprintf("vd%c-%s-J%lld", 'a' + i, kind, (long long)j.id);
}

/* blockdev-add of each overlay, sent together; step err refuses vda's. */
static void
script_add(int err)
{
	for (int i = 0; i < j.n; i++) {
		_cleanup_free_ char *fmt = node(i, "fmt");
		_cleanup_free_ char *file = node(i, "file");
		_cleanup_free_ char *args = xasprintf("{\"driver\":\"qcow2\","
		    "\"node-name\":\"%s\",\"backing\":null,\"file\":{"
		    "\"filename\":\"%s\",\"node-name\":\"%s\"}}", fmt,
		    j.new[i], file);
		int h = fake_qmp_expect(t.qmp, steps[ST_ADD], args);

		if (err == ST_ADD && i == 0)
			fake_qmp_error(t.qmp, h, "GenericError", "injected");
		else
			fake_qmp_reply(t.qmp, h, "{}");
	}
}

/* query-block: each disk on its node, or (overlay) on the job's. */
static char *
blocks(bool overlay)
{
	char *a = xstrdup("["), *b;

	for (int i = 0; i < j.n; i++) {
		_cleanup_free_ char *n = overlay ? node(i, "fmt") :
		    xasprintf("vd%c-fmt", 'a' + i);

		b = xasprintf("%s%s{\"device\":\"\",\"qdev\":"
		    "\"/machine/peripheral/vd%c/virtio-backend\",\"inserted\":"
		    "{\"node-name\":\"%s\",\"file\":\"x\"}}", a, i ? "," : "",
		    'a' + i, n);
		free(a);
		a = b;
	}
	b = xasprintf("%s]", a);
	free(a);
	return b;
}

/* vda-fmt holds tern-rp1 (carried), an inconsistent tern- bitmap and a
 * foreign one (neither carried); vdb-fmt only a foreign one. */
static const char nodes_ret[] = "[{\"node-name\":\"vda-fmt\","
    "\"dirty-bitmaps\":[{\"name\":\"tern-rp1\",\"count\":0,\"recording\":"
    "true,\"busy\":false,\"persistent\":true},{\"name\":\"tern-bad\","
    "\"count\":0,\"recording\":true,\"busy\":false,\"persistent\":true,"
    "\"inconsistent\":true},{\"name\":\"other\",\"count\":0,\"recording\":"
    "true,\"busy\":false,\"persistent\":true}]},{\"node-name\":\"vdb-fmt\","
    "\"dirty-bitmaps\":[{\"name\":\"other\",\"count\":0,\"recording\":true,"
    "\"busy\":false,\"persistent\":true}]},{\"node-name\":\"vda-file\"}]";

/* The transaction's actions, exactly: each disk snapshotted onto its
 * overlay; vda's tern-rp1 added to the overlay and merged from vda-fmt. */
static char *
tx_args(void)
{
	_cleanup_free_ char *ova = node(0, "fmt");
	_cleanup_free_ char *ovb = j.n > 1 ? node(1, "fmt") : NULL;
	_cleanup_free_ char *b = ovb ? xasprintf(",{\"type\":"
	    "\"blockdev-snapshot\",\"data\":{\"node\":\"vdb-fmt\",\"overlay\":"
	    "\"%s\"}}", ovb) : xstrdup("");

	return xasprintf("{\"actions\":[{\"type\":\"blockdev-snapshot\","
	    "\"data\":{\"node\":\"vda-fmt\",\"overlay\":\"%s\"}},{\"type\":"
	    "\"block-dirty-bitmap-add\",\"data\":{\"node\":\"%s\",\"name\":"
	    "\"tern-rp1\",\"persistent\":true,\"disabled\":false}},{\"type\":"
	    "\"block-dirty-bitmap-merge\",\"data\":{\"node\":\"%s\",\"target\":"
	    "\"tern-rp1\",\"bitmaps\":[{\"node\":\"vda-fmt\",\"name\":"
	    "\"tern-rp1\"}]}}%s]}", ova, ova, ova, b);
}

/* Script create's QMP commands, QEMU refusing step err (ST__COUNT: none);
 * answer: whether the transaction is answered at all. */
static int
script(int err, bool answer)
{
	_cleanup_free_ char *qb = blocks(false);
	_cleanup_free_ char *tx = tx_args();
	int h;

	script_add(err);
	if (err == ST_ADD)
		return -1;
	h = fake_qmp_expect(t.qmp, steps[ST_QBLOCK], NULL);
	if (err == ST_QBLOCK) {
		fake_qmp_error(t.qmp, h, "GenericError", "injected");
		return -1;
	}
	fake_qmp_reply(t.qmp, h, qb);
	h = fake_qmp_expect(t.qmp, steps[ST_QNODES], NULL);
	if (err == ST_QNODES) {
		fake_qmp_error(t.qmp, h, "GenericError", "injected");
		return -1;
	}
	fake_qmp_reply(t.qmp, h, nodes_ret);
	h = fake_qmp_expect(t.qmp, steps[ST_TX], tx);
	if (err == ST_TX)
		fake_qmp_error(t.qmp, h, "GenericError", "injected");
	else if (answer)
		fake_qmp_reply(t.qmp, h, "{}");
	return h;
}

/* Going back: each overlay's node removed from QEMU. */
static void
script_back(void)
{
	for (int i = 0; i < j.n; i++) {
		_cleanup_free_ char *fmt = node(i, "fmt");
		_cleanup_free_ char *args = xasprintf("{\"node-name\":\"%s\"}",
		    fmt);

		reply("blockdev-del", args, "{}");
	}
}

/* Disk i's file as the store has it. */
static char *
stored_path(int i)
{
	struct vm_row **rows;
	size_t n;
	char *p = NULL;

	if (store_vm_load_all(t.st, &rows, &n) < 0)
		abort();
	for (size_t k = 0; k < n; k++) {
		if (streq(rows[k]->uuid, t.uuid) && (size_t)i <
		    rows[k]->n_disks)
			p = xstrdup(rows[k]->disks[i].path);
		store_vm_row_free(rows[k]);
	}
	free(rows);
	return p;
}

/* Disk i's file, in memory and in the store, is path. */
static bool
disk_is(int i, const char *path)
{
	_cleanup_free_ char *s = stored_path(i);

	if (!s || !streq(s, path) || !streq(jt_vm(&t)->row->disks[i].path,
	    path)) {
		fprintf(stderr, "disk %d: memory %s, store %s, expected %s\n",
		    i, jt_vm(&t)->row->disks[i].path, s ?: "(none)", path);
		return false;
	}
	return true;
}

/* The job failed and went back: no checkpoint, no overlay, the disks on
 * their old files. */
static void
assert_gone_back(const char *why)
{
	ASSERT_STREQ(jt_job_state(&t, j.id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, j.id), "no checkpoint of vm 'web' "
	    "taken");
	ASSERT_CONTAINS(jt_job_error(&t, j.id), why);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(store_checkpoint_count(t.st, t.uuid), 0);
	for (int i = 0; i < j.n; i++) {
		ASSERT_TRUE(!jt_exists(j.new[i]));
		ASSERT_TRUE(jt_exists(j.old[i]));
		ASSERT_TRUE(disk_is(i, j.old[i]));
	}
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
}

/* The image of disk i (vda, vdb) in r (caller frees), or NULL. */
static char *
cp_row_image(const struct checkpoint_row *r, int i)
{
	json_t *o = json_loads(r->images, 0, NULL);
	char disk[8];
	const char *p;
	char *ret;

	snprintf(disk, sizeof(disk), "vd%c", 'a' + i);
	p = json_string_value(json_object_get(o, disk));
	ret = p ? xstrdup(p) : NULL;
	json_decref(o);
	return ret;
}

/* The checkpoint stands: one row, current, of the old files; the disks
 * on their overlays, which exist. */
static void
assert_taken(const char *name)
{
	struct checkpoint_row *rows = NULL;
	size_t n = 0;

	ASSERT_STREQ(jt_job_state(&t, j.id), "succeeded");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(store_checkpoint_list(t.st, t.uuid, &rows, &n), 0);
	ASSERT_EQ(n, 1);
	ASSERT_STREQ(rows[0].name, name);
	ASSERT_TRUE(rows[0].current);
	ASSERT_TRUE(rows[0].parent == NULL);
	ASSERT_STREQ(rows[0].kind, "production");
	ASSERT_STREQ(rows[0].consistency, "crash");
	ASSERT_STREQ(rows[0].status, "ready");
	for (int i = 0; i < j.n; i++) {
		_cleanup_free_ char *img = NULL;

		ASSERT_TRUE((img = cp_row_image(&rows[0], i)) != NULL);
		ASSERT_STREQ(img, j.old[i]);
		ASSERT_TRUE(jt_exists(j.new[i]));
		ASSERT_TRUE(jt_exists(j.old[i]));
		ASSERT_TRUE(disk_is(i, j.new[i]));
	}
	checkpoint_rows_free(rows, n);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
}

/* ---- online create ---- */

/* A running VM without a guest agent, two disks: the overlays attached,
 * the nodes and bitmaps asked, one transaction; crash-consistent. */
static void
test_create_online(void)
{
	fixture(2, "running");
	ASSERT_TRUE(create("cp1"));
	ASSERT_EQ(j.n, 2);
	(void)script(ST__COUNT, true);
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_taken("cp1");
	finish();
}

static void
error_at(int k)
{
	fixture(2, "running");
	ASSERT_TRUE(create("cp1"));
	(void)script(k, true);
	script_back();
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	assert_gone_back("injected");
	finish();
}

/* QEMU refuses each of create's QMP steps in turn: the job goes back. */
static void
test_create_error_at_every_step(void)
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

/* ---- a ternd restart in snap ---- */

/* The transaction sent, never answered; ternd restarts (QEMU up) and
 * query-block shows the disk on its old node or (taken) on the
 * overlay's. */
static void
restart_in_snap(bool taken)
{
	_cleanup_free_ char *qb = NULL;

	fixture(1, "running");
	ASSERT_TRUE(create("cp1"));
	(void)script(ST__COUNT, false);
	ASSERT_TRUE(jt_run_until_phase(&t, j.id, "snap", TIMEOUT_MS));
	jt_run_for(&t, 200);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(jt_exists(j.new[0]));
	jt_restart(&t, true, true);
	qb = blocks(taken);
	reply("query-block", NULL, qb);
	if (!taken)
		script_back();
	ASSERT_TRUE(jt_run_until_ended(&t, j.id, TIMEOUT_MS));
	if (taken)
		assert_taken("cp1");
	else
		assert_gone_back("ternd restarted before the checkpoint was "
		    "taken");
	finish();
}

static void
test_create_restart_in_snap_not_taken(void)
{
	restart_in_snap(false);
}

static void
test_create_restart_in_snap_taken(void)
{
	restart_in_snap(true);
}

/* ---- offline: create, apply, delete with real qemu-img ---- */

static const char *
disk0(void)
{
	return jt_vm(&t)->row->disks[0].path;
}

/* Run a checkpoint job to its end; whether it succeeded. */
static bool
run_job(int (*start)(struct host *, struct vm *, const char *,
    struct job **, struct err *), const char *name)
{
	struct job *job = NULL;
	struct err err = { 0 };
	int64_t id;

	if (start(&t.h, jt_vm(&t), name, &job, &err) < 0) {
		fprintf(stderr, "start %s: %s\n", name, err.msg);
		return false;
	}
	id = job->row->id;
	if (!jt_run_until_ended(&t, id, TIMEOUT_MS))
		return false;
	if (!streq(jt_job_state(&t, id), "succeeded")) {
		fprintf(stderr, "job %s: %s\n", name, jt_job_error(&t, id));
		return false;
	}
	return true;
}

static bool
create_off(const char *name)
{
	return create(name) && jt_run_until_ended(&t, j.id, TIMEOUT_MS) &&
	    streq(jt_job_state(&t, j.id), "succeeded");
}

/* The VM's checkpoints, by name: its parent (or "-"), and "*" if
 * current, e.g. "cp1:-* cp2:cp1". */
static char *
tree(void)
{
	struct checkpoint_row *rows = NULL;
	size_t n = 0;
	char *s = xstrdup("");

	if (store_checkpoint_list(t.st, t.uuid, &rows, &n) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		char *x = xasprintf("%s%s%s:%s%s", s, i ? " " : "",
		    rows[i].name, rows[i].parent ?: "-",
		    rows[i].current ? "*" : "");

		free(s);
		s = x;
	}
	checkpoint_rows_free(rows, n);
	return s;
}

#define ASSERT_TREE(want) do { _cleanup_free_ char *tr_ = tree(); \
	ASSERT_STREQ(tr_, want); } while (0)

/* Two checkpoints of a VM that is off, each freezing the file the VM
 * wrote on; returns the files (original O, cp1's overlay A). */
static void
two_checkpoints(char **o, char **a)
{
	*o = xstrdup(disk0());
	ASSERT_EQ(qemu_io(*o, "write -P 0x11 0 64k"), 0);
	ASSERT_TRUE(create_off("cp1"));
	*a = xstrdup(disk0());
	ASSERT_TRUE(!streq(*a, *o));
	ASSERT_TRUE(jt_exists(*a));
	ASSERT_TREE("cp1:-*");
	ASSERT_EQ(qemu_io(*a, "write -P 0x22 64k 64k"), 0);
	ASSERT_TRUE(create_off("cp2"));
	ASSERT_TREE("cp1:- cp2:cp1*");
	ASSERT_EQ(qemu_io(disk0(), "write -P 0x33 128k 64k"), 0);
	ASSERT_TRUE(qemu_io(disk0(), "read -P 0x11 0 64k") == 0);
	ASSERT_TRUE(qemu_io(disk0(), "read -P 0x22 64k 64k") == 0);
}

/* Apply cp1: a new overlay C over O, cp1 current, cp2's overlay (the
 * VM's file, B) removed; C reads O's data, not what came after. */
static void
apply_first(const char *o, const char *a, char **c)
{
	_cleanup_free_ char *b = xstrdup(disk0());

	ASSERT_TRUE(run_job(checkpoint_apply_start, "cp1"));
	*c = xstrdup(disk0());
	ASSERT_TRUE(!streq(*c, o) && !streq(*c, a) && !streq(*c, b));
	ASSERT_TRUE(disk_is(0, *c));
	ASSERT_TREE("cp1:-* cp2:cp1");
	ASSERT_TRUE(!jt_exists(b));
	ASSERT_TRUE(jt_exists(a));
	ASSERT_TRUE(jt_exists(o));
	ASSERT_EQ(jt_vm(&t)->state, VM_OFF);
	ASSERT_EQ(qemu_io(*c, "read -P 0x11 0 64k"), 0);
	ASSERT_EQ(qemu_io(*c, "read -P 0 64k 128k"), 0);
	ASSERT_EQ(qemu_io(*c, "write -P 0x44 192k 64k"), 0);
}

/* create twice, apply the first, delete the second (dropped: its image
 * goes), delete the first (merged: the VM's file committed into O, which
 * is the VM's file again); the guest's data as it was all along. */
static void
test_offline_create_apply_delete(void)
{
	_cleanup_free_ char *o = NULL, *a = NULL, *c = NULL;
	int before = test_failed_asserts;

	fixture(1, "off");
	two_checkpoints(&o, &a);
	if (test_failed_asserts != before)
		return;
	apply_first(o, a, &c);
	if (test_failed_asserts != before)
		return;
	ASSERT_TRUE(run_job(checkpoint_delete_start, "cp2"));
	ASSERT_TREE("cp1:-*");
	ASSERT_TRUE(!jt_exists(a));
	ASSERT_TRUE(disk_is(0, c));
	ASSERT_TRUE(run_job(checkpoint_delete_start, "cp1"));
	ASSERT_TREE("");
	ASSERT_TRUE(disk_is(0, o));
	ASSERT_TRUE(!jt_exists(c));
	ASSERT_EQ(qemu_io(o, "read -P 0x11 0 64k"), 0);
	ASSERT_EQ(qemu_io(o, "read -P 0 64k 128k"), 0);
	ASSERT_EQ(qemu_io(o, "read -P 0x44 192k 64k"), 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_OFF);
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
	RUN(test_create_online);
	RUN(test_create_error_at_every_step);
	RUN(test_create_restart_in_snap_not_taken);
	RUN(test_create_restart_in_snap_taken);
	RUN(test_offline_create_apply_delete);
	return TEST_REPORT();
}
