/* mirror.c - vm.move-storage for a VM whose QEMU runs: per disk a new
 * qcow2 image, a mirror into it (the bulk copy in background mode, then
 * write-blocking: every guest write goes to both images, so the copy
 * never falls behind; src/vm/block.c), the switch once every disk is
 * actively synced, and the new paths recorded before any old file goes.
 * It must never delete a file the guest's device may still use.
 *
 *   check (query-block: each disk's node and file; query-named-block-nodes:
 *   no dirty bitmaps but tern's, noted to carry over) --> create
 *   (qemu-img create per disk, given to the QEMU user) --> attach (blockdev-add) --> mirror (blockdev-mirror)
 *   --> mirroring (progress from query-block-jobs) --all READY,
 *   block-job-change write-blocking, all actively-synced,
 *   failpoint storage.ready--> pivot (a TPM's state first: the vCPUs
 *   stopped and its files copied, failpoint storage.tpm-copied, see
 *   tpm_move.c; then a recording bitmap on each target with tern's
 *   bitmaps to carry, then job-complete each; from here, and while going
 *   back, live_cancel refuses: -EBUSY with the reason) --> resolve
 *
 *   A UEFI VM's NVRAM file is one more entry of the disks (plan.c,
 *   "nvram": true): its pflash node (fw-vars at start) mirrored into a raw
 *   file node like a disk into its qcow2, recorded in the row's nvram.
 *
 *   resolve (resolve.c): jobs --> where (the commit point of each disk
 *   on its new file: its record; then the TPM follows disk 0 and the
 *   vCPUs resume) --> cleanup (the files the disks left)
 *   --> finish
 *
 *   rollback, cancelling: resolve going back; each disk stays on its old
 *   file and its target is removed.  QEMU gone: nobody to ask; a disk
 *   whose pivot QEMU reported (BLOCK_JOB_COMPLETED without error) moved,
 *   the others stay.  ternd restarted: before create nothing was made (go
 *   on); from create on: rollback, where a pivot that happened stays.
 *
 * Transitions: live_step() dispatches; live_back() (rollback), live_cancel()
 * (cancelling), live_pivot() (pivot -> resolve), live_resolve() and
 * live_offline() (resolve.c: the end), live_recover() (restart). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonutil.h"
#include "refpoint.h"
#include "st_int.h"
#include "storage.h"
#include "util.h"
#include "vm.h"

static void
node_name(const struct job *job, const json_t *d, const char *kind,
    char buf[VM_NODE_NAME_MAX])
{
	vm_node_name(buf, st_str(d, "name"), kind, job->row->id);
}

void
st_mirror_id(const struct job *job, const json_t *d,
    char buf[VM_NODE_NAME_MAX])
{
	vm_block_id(buf, "mv", st_str(d, "name"), job->row->id);
}

json_t *
st_disk_of_mirror(const struct job *job, const char *id)
{
	json_t *d;
	size_t i;
	char want[VM_NODE_NAME_MAX];

	json_array_foreach(st_disks(job), i, d) {
		st_mirror_id(job, d, want);
		if (streq(want, id))
			return d;
	}
	return NULL;
}

static bool
any_created(const struct job *job)
{
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d)
		if (st_flag(d, "created"))
			return true;
	return false;
}

/* Go back: every disk stays where it was, what the job made goes. */
void
live_back(struct job *job, int code, const char *why)
{
	struct st_ctx *c = st_ctx(job);

	if (!st_str(job->details, "why"))
		json_object_set_new(job->details, "why", json_string(why));
	job->child = child_free(job->child);
	if (!any_created(job)) {
		st_finish(job, code, "vm '%s' storage not moved: %s; nothing "
		    "was changed", vm_of(job)->row->name, why);
		return;
	}
	c->sub = SUB_JOBS;
	c->sub_t0_ms = now_ms();
	job_set_phase(job,
	    code == -ECANCELED ? ST_PH_CANCELLING : ST_PH_ROLLBACK);
	job_poke(job);
}

/* ---- check ---- */

/* The pflash device of a UEFI VM's variables (qemu.c: pflash1). */
#define ST_NVRAM_QDEV "/machine/system.flash1"

const char *
st_entry_node(const json_t *blocks, const json_t *d, const char **ret_file)
{
	const json_t *b, *ins;
	size_t i;

	if (!st_flag(d, "nvram"))
		return qmp_block_disk_node(blocks, st_str(d, "name"), ret_file);
	*ret_file = NULL;
	json_array_foreach(blocks, i, b) {
		if (!streq(st_str(b, "qdev"), ST_NVRAM_QDEV) ||
		    !(ins = json_object_get(b, "inserted")))
			continue;
		*ret_file = st_str(ins, "file");
		return st_str(ins, "node-name");
	}
	return NULL;
}

/* Each disk's node now (after an earlier move it is not vdX-fmt), on the
 * file the record names. */
static int
check_nodes(struct job *job, const json_t *blocks, char *why, size_t len)
{
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d) {
		const char *file = NULL;
		const char *node = st_entry_node(blocks, d, &file);

		if (!node || !streq(file, st_str(d, "src"))) {
			snprintf(why, len, "QEMU's disk %s is on '%s', not on "
			    "'%s' as recorded", st_str(d, "name"),
			    file ? file : "nothing", st_str(d, "src"));
			return -EIO;
		}
		json_object_set_new(d, "from_node", json_string(node));
	}
	return 0;
}

/* Bitmaps stay on the old node at a pivot (QEMU 7.2).  tern's own (the
 * reference points of change tracking, src/track) are carried over: noted
 * here per disk (details "bitmaps"), a recording bitmap added on the
 * target just before the switch catches the writes around it (live_pivot),
 * and once the disk is on its new file each is made again there from the
 * old one and that bitmap (st_carry_bitmaps, resolve.c).  A disk with
 * other bitmaps is refused rather than losing them. */
static int
check_bitmaps(struct job *job, const json_t *nodes, char *why, size_t len)
{
	struct qmp_bitmap bm[64];
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d) {
		size_t n = qmp_node_bitmap_list(nodes, st_str(d, "from_node"),
		    bm, ARRAY_SIZE(bm));
		json_t *ours = json_array();

		for (size_t k = 0; k < MIN(n, ARRAY_SIZE(bm)); k++) {
			if (strncmp(bm[k].name, TRACK_BITMAP_PREFIX,
			    strlen(TRACK_BITMAP_PREFIX)) == 0) {
				if (!bm[k].inconsistent && bm[k].persistent)
					json_array_append_new(ours,
					    json_string(bm[k].name));
				continue;
			}
			json_decref(ours);
			snprintf(why, len, "disk %s has dirty bitmap '%s', "
			    "which a storage move cannot carry over yet; "
			    "remove it first", st_str(d, "name"), bm[k].name);
			return -ENOTSUP;
		}
		json_object_set_new(d, "bitmaps", ours);
	}
	return 0;
}

static void
live_check(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	struct qmp_command q = c->sub == 0 ? qmp_query_block() :
	    qmp_query_named_block_nodes();
	const char *cmd = q.name;
	_cleanup_json_ json_t *ret = NULL;
	char why[300];
	int r;

	if (!st_answered(job, cmd)) {
		(void)st_query(job, q);
		return;
	}
	json_decref(q.args);
	ret = st_take_reply(job);
	if (!ret) {
		snprintf(why, sizeof(why), "QEMU did not answer %s: %s", cmd,
		    c->reply_err);
		r = -EIO;
	} else {
		r = c->sub == 0 ? check_nodes(job, ret, why, sizeof(why)) :
		    check_bitmaps(job, ret, why, sizeof(why));
	}
	if (r < 0) {
		c->sub = 0;
		live_back(job, r, why);
		return;
	}
	if (c->sub++ == 0) {
		job_poke(job);
		return;
	}
	c->sub = 0;
	job_set_phase(job, ST_PH_CREATE);
	job_poke(job);
}

/* ---- create, attach, mirror ---- */

static json_t *
first_without(const struct job *job, const char *flag)
{
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d)
		if (!st_flag(d, flag))
			return d;
	return NULL;
}

static void
live_on_created(struct child *ch, int status, void *data)
{
	struct job *job = data;
	json_t *d = first_without(job, "made");
	const char *dst = st_str(d, "dst");
	char tail[200], why[300];

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		st_out_tail(job, tail, sizeof(tail));
		snprintf(why, sizeof(why), "qemu-img create '%s' failed: %s",
		    dst, tail);
		live_back(job, -EIO, why);
		return;
	}
	/* QEMU runs as its own user by now: the image must be its. */
	if (host_of(job)->qemu_uid && chown(dst, host_of(job)->qemu_uid,
	    host_of(job)->qemu_gid) == -1) {
		snprintf(why, sizeof(why), "cannot give '%s' to the QEMU user: "
		    "%s", dst, strerror(errno));
		live_back(job, -errno, why);
		return;
	}
	st_set_flag(d, "made", true);
	st_save(job);
	job_poke(job);
}

/* The NVRAM's target: a raw file of the source's size, the QEMU user's
 * (tiny: made here, not by a helper); the mirror fills it. */
static int
nvram_create(struct job *job, const char *dst, uint64_t size)
{
	struct host *h = host_of(job);
	_cleanup_close_ int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC, 0600);

	if (fd == -1)
		return -errno;
	if (ftruncate(fd, (off_t)size) == -1 || (h->qemu_uid &&
	    fchown(fd, h->qemu_uid, h->qemu_gid) == -1))
		return -errno;
	return 0;
}

static void
live_create(struct job *job)
{
	json_t *d = first_without(job, "made");
	char why[300];
	const char *dst;

	if (!d) {
		job_set_phase(job, ST_PH_ATTACH);
		job_poke(job);
		return;
	}
	dst = st_str(d, "dst");
	if (!st_flag(d, "created") && access(dst, F_OK) == 0) {
		snprintf(why, sizeof(why), "file '%s' appeared meanwhile", dst);
		live_back(job, -EEXIST, why);
		return;
	}
	st_set_flag(d, "created", true);	/* from now on it may exist */
	st_save(job);
	if (st_flag(d, "nvram")) {
		int r = nvram_create(job, dst, (uint64_t)st_int(d, "size"));

		if (r < 0) {
			snprintf(why, sizeof(why), "cannot create '%s': %s",
			    dst, strerror(-r));
			live_back(job, r, why);
			return;
		}
		st_set_flag(d, "made", true);
		st_save(job);
		job_poke(job);
		return;
	}
	if (st_image_create(job, dst, (uint64_t)st_int(d, "size"),
	    live_on_created) < 0)
		live_back(job, -EIO, "cannot run qemu-img");
}

/* One QMP command per disk in turn (answer, then the next disk): flag
 * set on success, else back with the QEMU's reason. */
static void
per_disk(struct job *job, const char *cmd, const char *flag,
    struct qmp_command (*make)(struct job *, json_t *), unsigned next)
{
	struct st_ctx *c = st_ctx(job);
	json_t *d = first_without(job, flag);
	_cleanup_json_ json_t *ret = NULL;
	char why[300];

	if (d && st_answered(job, cmd)) {
		ret = st_take_reply(job);
		if (!ret) {
			snprintf(why, sizeof(why), "%s of disk %s failed: %s",
			    cmd, st_str(d, "name"), c->reply_err);
			live_back(job, -EIO, why);
			return;
		}
		st_set_flag(d, flag, true);
		st_save(job);
		d = first_without(job, flag);
	}
	if (d) {
		struct qmp_command q = make(job, d);

		if (q.name)
			(void)st_query(job, q);
		return;
	}
	job_set_phase(job, next);
	job_poke(job);
}

static struct qmp_command
attach_cmd(struct job *job, json_t *d)
{
	char fmt[VM_NODE_NAME_MAX], file[VM_NODE_NAME_MAX];

	node_name(job, d, "fmt", fmt);
	node_name(job, d, "file", file);
	if (st_flag(d, "nvram"))	/* raw, as qemu.c opens fw-vars */
		return qmp_blockdev_add_file(file, st_str(d, "dst"));
	return qmp_blockdev_add_qcow2(fmt, file, st_str(d, "dst"));
}

static struct qmp_command
mirror_cmd(struct job *job, json_t *d)
{
	char fmt[VM_NODE_NAME_MAX], id[VM_NODE_NAME_MAX];
	struct qmp_command q;

	node_name(job, d, st_flag(d, "nvram") ? "file" : "fmt", fmt);
	st_mirror_id(job, d, id);
	/* Tracked from here: its events can come before its reply. */
	q = vm_mirror_cmd(vm_of(job), id, st_str(d, "from_node"), fmt);
	if (!q.name)
		live_back(job, -EBUSY, "too many block jobs on this vm");
	return q;
}

/* ---- mirroring ---- */

static bool
mirror_is_mine(const struct job *job, const char *id)
{
	return st_disk_of_mirror(job, id) != NULL;
}

static void
mirror_progress(struct job *job, const json_t *bjobs)
{
	uint64_t done, total;

	vm_block_jobs_sum(bjobs, job, mirror_is_mine, &done, &total);
	if (total)
		job_set_progress(job, done, total, "bytes");
}

static bool
all_ready(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;
	char id[VM_NODE_NAME_MAX];

	if (!vm)
		return false;
	json_array_foreach(st_disks(job), i, d) {
		struct vm_block_job *b;

		st_mirror_id(job, d, id);
		if (!(b = vm_block_job_find(vm, id)) || !b->ready)
			return false;
	}
	return true;
}

/* 1: every mirror is READY and actively synced (src/vm/block.c); 0: not
 * yet; -1: one failed (backed out). */
static int
mirrors_state(struct job *job)
{
	json_t *d;
	size_t i;
	char id[VM_NODE_NAME_MAX], why[300];
	bool ready = true;
	int r;

	json_array_foreach(st_disks(job), i, d) {
		struct vm_block_job *b;

		st_mirror_id(job, d, id);
		b = vm_block_job_find(vm_of(job), id);
		if (b && b->ended) {
			snprintf(why, sizeof(why), "the mirror of disk %s "
			    "failed: %s", st_str(d, "name"), b->error ?
			    b->error : "it ended before it was in sync");
			live_back(job, -EIO, why);
			return -1;
		}
		if ((r = vm_mirror_synced(vm_of(job), job, id)) < 0) {
			snprintf(why, sizeof(why), "QEMU refused to make the "
			    "mirror of disk %s write-blocking: %s",
			    st_str(d, "name"), b->change_error);
			live_back(job, -EIO, why);
			return -1;
		}
		ready &= r;
	}
	return ready;
}

static void
live_mirroring(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	json_t *ret;
	int r = mirrors_state(job), fp;

	if (r < 0)
		return;
	if (st_answered(job, "query-block-jobs")) {
		ret = st_take_reply(job);
		vm_block_jobs_update(vm_of(job), ret);
		mirror_progress(job, ret);
		json_decref(ret);
	}
	if (r == 0) {
		if (!c->waiting)
			(void)st_query(job, qmp_query_block_jobs());
		/* Once all are READY only actively-synced is awaited, which
		 * has no event and comes within milliseconds: look often. */
		job_wake_after(job, all_ready(job) ? ST_SYNC_POLL_MS :
		    ST_POLL_MS);
		return;
	}
	if (job->row->total)
		job_set_progress(job, job->row->total, job->row->total,
		    "bytes");
	fp = job_failpoint(job, "storage.ready");
	if (fp < 0)
		live_back(job, -EIO, "failpoint storage.ready");
	else if (fp == 0) {
		job_set_phase(job, ST_PH_PIVOT);
		job_poke(job);
	}
}

/* Switch every disk (the NVRAM too; a TPM's state copied first with the
 * vCPUs stopped, tpm_move.c): from here on a cancel is refused. */
static void
live_pivot(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	json_t *d;
	size_t i;
	char id[VM_NODE_NAME_MAX];

	if (st_tpm_pause(job) <= 0)
		return;		/* stopping the vCPUs, copying the TPM */
	st_set_flag(job->details, "pivot_sent", true);
	json_array_foreach(st_disks(job), i, d)
		st_set_flag(d, "complete_sent", true);
	job_set_phase(job, ST_PH_RESOLVE);
	json_array_foreach(st_disks(job), i, d) {
		char node[VM_NODE_NAME_MAX];

		st_mirror_id(job, d, id);
		node_name(job, d, "fmt", node);
		/* QEMU runs commands in order: it records before the switch. */
		if (json_array_size(json_object_get(d, "bitmaps")))
			st_send(job, qmp_bitmap_add(node, ST_ACTIVEWRITE, false,
			    false));
		st_send(job, qmp_job_complete(id));
	}
	c->sub = SUB_JOBS;
	c->sub_t0_ms = now_ms();
	job_poke(job);
}

/* ---- restart, cancel, the step ---- */

static void
live_recover(struct job *job)
{
	struct st_ctx *c = st_ctx(job);

	job->recovering = false;
	c->sub = 0;
	if (job_phase_is(job, ST_PH_CHECK))
		return;		/* nothing made yet: carry on */
	if (!st_str(job->details, "why"))
		json_object_set_new(job->details, "why", json_string(
		    "ternd restarted during the move"));
	c->sub_t0_ms = now_ms();
	if (!job_phase_is(job, ST_PH_CANCELLING))
		job_set_phase(job, ST_PH_ROLLBACK);
}

int
live_cancel(struct job *job, struct err *err)
{
	if (st_flag(job->details, "pivot_sent") || job_phase_is(job,
	    ST_PH_ROLLBACK) || job_phase_is(job, ST_PH_CANCELLING))
		return err_set(err, -EBUSY, "too late to cancel the storage "
		    "move (job %lld): it is %s", (long long)job->row->id,
		    st_flag(job->details, "pivot_sent") ? "switching disks" :
		    "already going back");
	live_back(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

void
live_step(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (job->recovering)
		live_recover(job);
	/* Before waiting for anything: a switch QEMU reports while a query
	 * is out must be persisted then, it may be the last word QEMU says. */
	live_note_events(job);
	if (job->child || st_ctx(job)->waiting)
		return;		/* its exit or the answer pokes us */
	if (vm->pidfd < 0) {
		live_offline(job);
		return;
	}
	if (!vm->qmp_ready)
		return;		/* (re)connecting: QMP pokes us */
	if (job_phase_is(job, ST_PH_CHECK))
		live_check(job);
	else if (job_phase_is(job, ST_PH_CREATE))
		live_create(job);
	else if (job_phase_is(job, ST_PH_ATTACH))
		per_disk(job, "blockdev-add", "added", attach_cmd,
		    ST_PH_MIRROR);
	else if (job_phase_is(job, ST_PH_MIRROR))
		per_disk(job, "blockdev-mirror", "mirror", mirror_cmd,
		    ST_PH_MIRRORING);
	else if (job_phase_is(job, ST_PH_MIRRORING))
		live_mirroring(job);
	else if (job_phase_is(job, ST_PH_PIVOT))
		live_pivot(job);
	else
		live_resolve(job);
}
