/* resolve.c - how a live storage move ends, whichever way it went: the
 * resolve steps of mirror.c's diagram, run after the pivot, when going
 * back (rollback, cancelling) and after a ternd restart, and the end
 * without QEMU.  It decides every disk from what QEMU says (query-block),
 * never from what the job hoped, and never deletes a file a node still
 * uses.
 *
 *   jobs     every mirror of ours concluded (going back, or a pivot not
 *            done within ST_PIVOT_MS: cancelled, cancel_cmd() says how),
 *            then job-dismiss
 *   where    query-block: which file each disk's device uses now;
 *            failpoint storage.pivoted; a disk on its new file is
 *            recorded (store, row): the commit point of that disk
 *   cleanup  blockdev-del the nodes on the file each disk left, until
 *            query-named-block-nodes shows none on it; then unlink it
 *   finish   succeeded when every disk is on its new file, else failed
 *            (cancelled when cancelling) saying where each disk is
 *
 * QEMU gone (live_offline): a disk whose switch QEMU reported
 * (BLOCK_JOB_COMPLETED without error after job-complete, noted by
 * live_note_events) moved; the others stay.  QEMU flushes the target
 * before it switches, so the reported switch is a safe witness. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"
#include "st_int.h"
#include "storage.h"
#include "util.h"
#include "vm.h"

#define ST_PIVOT_MS 30000	/* a pivot not concluded by then: cancel */
#define ST_SOFT_CANCEL_MS 10000	/* a READY mirror not ended so: job-cancel */
#define ST_CLEANUP_PASSES 5	/* blockdev-del rounds before giving up */

static bool
going_back(const struct job *job)
{
	return !job_phase_is(job, ST_PH_RESOLVE);
}

/* A job in this status is on its way to concluded: nothing to send. */
static bool
is_ending(const char *status)
{
	return streq(status, "aborting") || streq(status, "waiting") ||
	    streq(status, "pending");
}

/* How a mirror of ours in status is ended (going back, or a pivot that
 * did not conclude).  A READY one that was not asked to switch gets
 * block-job-cancel (force false): it goes on copying every guest write
 * to the target until it stops, then ends without switching
 * (BLOCK_JOB_COMPLETED).  job-cancel (force) stops that copying at once,
 * while guest writes are in flight through the write-blocking mirror:
 * QEMU 10.0.2 then aborted on heap corruption (glibc: "corrupted
 * double-linked list", "malloc(): unsorted double linked list
 * corrupted"), twice in 411 cancels of two such mirrors with the test
 * guest's disk writer running, none in 1200 ended this way.  The VM
 * crashed in a rollback that must leave it untouched.  Any other mirror,
 * or a READY one not ended within ST_SOFT_CANCEL_MS, gets job-cancel. */
static struct qmp_command
cancel_cmd(struct job *job, const char *id, const char *status)
{
	const json_t *d = st_disk_of_mirror(job, id);

	if (streq(status, "ready") && !st_flag(d, "complete_sent") &&
	    now_ms() - st_ctx(job)->sub_t0_ms < ST_SOFT_CANCEL_MS)
		return qmp_block_job_cancel(id);
	return qmp_job_cancel(id);
}

static void
resolve_jobs(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	_cleanup_json_ json_t *ret = NULL;
	bool pending = false, cancel = going_back(job) ||
	    now_ms() - c->sub_t0_ms > ST_PIVOT_MS;
	json_t *j;
	size_t i;

	if (!st_answered(job, "query-jobs")) {
		(void)st_query(job, qmp_query_jobs());
		return;
	}
	if (!(ret = st_take_reply(job))) {
		job_wake_after(job, ST_POLL_MS);
		return;
	}
	json_array_foreach(ret, i, j) {
		const char *id = st_str(j, "id"), *s = st_str(j, "status");

		if (!st_disk_of_mirror(job, id))
			continue;
		pending = true;
		if (streq(s, "concluded"))
			st_send(job, qmp_job_dismiss(id));
		else if (cancel && !is_ending(s))
			st_send(job, cancel_cmd(job, id, s));
	}
	if (pending) {
		job_wake_after(job, 20);	/* concluding takes milliseconds */
		return;
	}
	c->sub = SUB_WHERE;
	job_poke(job);
}

/* QEMU flushed the target before it switched (the mirror's last step,
 * with the source drained); the new file's directory entry is made
 * durable here, before the record that makes it the disk. */
static void
record_new(struct job *job, json_t *d)
{
	int r;

	fsync_parent_dir(st_str(d, "dst"));
	r = st_record_disk(job, d);
	if (r == 0)
		return;
	/* The guest writes to the new file but the record names the old
	 * one: keep both, say so loudly. */
	log_error("vm=%s disk %s runs on '%s' but cannot be recorded: %s",
	    vm_of(job)->row->name, st_str(d, "name"), st_str(d, "dst"),
	    strerror(-r));
	json_object_set_new(d, "where", json_string("unrecorded"));
}

static void
on_carried(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	char why[300];

	(void)job;
	if (ret)
		return;
	snprintf(why, sizeof(why), "QEMU could not carry the bitmaps over a "
	    "storage move (%s)", qmp_err_desc(e));
	track_lose(vm, NULL, NULL, why);
}

/* Each reference point's bitmap made again on the disk's new node: the
 * old node's (every write until the switch) merged with the target's
 * recording one (the writes around it), in one transaction; a failure
 * marks the points incomplete (the next copy compares checksums). */
void
st_carry_bitmaps(struct job *job, json_t *d)
{
	json_t *names = json_object_get(d, "bitmaps"), *b;
	char node[VM_NODE_NAME_MAX];
	json_t *tx = json_array();
	size_t i;

	st_set_flag(d, "carried", true);
	if (json_array_size(names) == 0) {
		json_decref(tx);
		return;
	}
	vm_node_name(node, st_str(d, "name"), "fmt", job->row->id);
	json_array_foreach(names, i, b) {
		const char *name = json_string_value(b);

		json_array_append_new(tx, qmp_tx_bitmap_add(node, name, true,
		    false));
		json_array_append_new(tx, qmp_tx_bitmap_merge_from(node, name,
		    st_str(d, "from_node"), name, ST_ACTIVEWRITE));
	}
	(void)vm_qmp_cmd(vm_of(job), job, qmp_transaction(tx), ST_QMP_MS,
	    on_carried);
	st_send(job, qmp_bitmap_remove(node, ST_ACTIVEWRITE));
}

static void
resolve_where(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	_cleanup_json_ json_t *ret = NULL;
	json_t *d;
	size_t i;
	bool any_new = false;

	if (!st_answered(job, "query-block")) {
		(void)st_query(job, qmp_query_block());
		return;
	}
	if (!(ret = st_take_reply(job))) {
		job_wake_after(job, ST_POLL_MS);
		return;
	}
	json_array_foreach(st_disks(job), i, d) {
		const char *file = NULL;

		(void)st_entry_node(ret, d, &file);
		json_object_set_new(d, "where", json_string(
		    streq(file, st_str(d, "dst")) ? "new" :
		    streq(file, st_str(d, "src")) ? "old" : "unknown"));
		any_new |= streq(file, st_str(d, "dst")) &&
		    !st_flag(d, "recorded");
	}
	st_save(job);
	if (any_new && !c->fp_pivoted_done &&
	    job_failpoint(job, "storage.pivoted") > 0)
		return;		/* held; a wake-up comes */
	c->fp_pivoted_done = true;
	json_array_foreach(st_disks(job), i, d) {
		if (streq(st_str(d, "where"), "new") && !st_flag(d, "recorded"))
			record_new(job, d);
		if (streq(st_str(d, "where"), "new") && !st_flag(d, "carried"))
			st_carry_bitmaps(job, d);
	}
	st_tpm_settle(job);	/* follows disk 0; then cont */
	st_save(job);
	c->sub = SUB_CLEANUP;
	c->cleanup_passes = 0;
	job_poke(job);
}

/* blockdev-del the named nodes on path: format nodes first (a file node
 * under one goes with it or is freed by it).  True when any was sent. */
static bool
del_nodes_on(struct job *job, const json_t *nodes, const char *path)
{
	bool fmt = false, any = false;
	json_t *n;
	size_t i;

	json_array_foreach(nodes, i, n)
		if (streq(st_str(n, "file"), path) &&
		    !streq(st_str(n, "drv"), "file"))
			fmt = true;
	json_array_foreach(nodes, i, n) {
		const char *name = st_str(n, "node-name");

		if (!streq(st_str(n, "file"), path) || !name || name[0] == '#' ||
		    streq(st_str(n, "drv"), "file") == fmt)
			continue;
		st_send(job, qmp_blockdev_del(name));
		any = true;
	}
	return any;
}

/* The file disk d no longer needs, or NULL. */
static const char *
file_to_drop(const json_t *d)
{
	const char *where = st_str(d, "where");

	if (streq(where, "new"))
		return st_str(d, "src");
	if (streq(where, "old") && st_flag(d, "created"))
		return st_str(d, "dst");
	return NULL;
}

static void
resolve_cleanup(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	_cleanup_json_ json_t *ret = NULL;
	bool sent = false, give_up;
	json_t *d;
	size_t i;

	if (!st_answered(job, "query-named-block-nodes")) {
		(void)st_query(job, qmp_query_named_block_nodes());
		return;
	}
	if (!(ret = st_take_reply(job))) {
		job_wake_after(job, ST_POLL_MS);
		return;
	}
	give_up = ++c->cleanup_passes > ST_CLEANUP_PASSES;
	json_array_foreach(st_disks(job), i, d) {
		const char *drop = file_to_drop(d);

		if (st_flag(d, "cleaned"))
			continue;
		if (drop && !give_up && del_nodes_on(job, ret, drop)) {
			sent = true;	/* look again once they are gone */
			continue;
		}
		if (drop && give_up)
			host_event(host_of(job), "warning", vm_of(job),
			    job->row->id,
			    "file '%s' kept: QEMU still has it open", drop);
		else if (drop)
			(void)unlink(drop);
		st_set_flag(d, "cleaned", true);
	}
	st_save(job);
	if (!sent)
		c->sub = SUB_FINISH;
	job_poke(job);
}

static uint64_t
copied_bytes(const struct job *job)
{
	uint64_t sum = 0;
	struct stat st;
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d)
		if (st_flag(d, "recorded") && stat(st_str(d, "dst"), &st) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	return sum;
}

static bool
all_moved(const struct job *job)
{
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d)
		if (!st_flag(d, "recorded"))
			return false;
	return true;
}

static void
live_done(struct job *job, const char *why)
{
	struct vm *vm = vm_of(job);
	char out[400];

	json_object_set_new(job->details, "copied_bytes",
	    json_integer((json_int_t)copied_bytes(job)));
	st_outcome(job, out, sizeof(out));
	if (all_moved(job)) {
		host_event(host_of(job), "info", vm, job->row->id, "vm storage "
		    "moved: %s", out);
		st_finish(job, 0, NULL);
		return;
	}
	st_finish(job, job_phase_is(job, ST_PH_CANCELLING) ? -ECANCELED : -EIO,
	    "vm '%s' storage not moved: %s; %s", vm->row->name, why, out);
}

void
live_resolve(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	const char *why = st_str(job->details, "why");

	switch (c->sub) {
	case SUB_JOBS:
		resolve_jobs(job);
		break;
	case SUB_WHERE:
		resolve_where(job);
		break;
	case SUB_CLEANUP:
		resolve_cleanup(job);
		break;
	default:
		live_done(job, why ? why : "QEMU did not switch every disk");
		break;
	}
}

/* ---- QEMU gone ---- */

/* A pivot QEMU reported (the mirror completed after job-complete, without
 * error) is remembered: once QEMU is gone it is the only witness. */
void
live_note_events(struct job *job)
{
	json_t *d;
	size_t i;
	char id[VM_NODE_NAME_MAX];
	bool changed = false;

	json_array_foreach(st_disks(job), i, d) {
		struct vm_block_job *b;

		st_mirror_id(job, d, id);
		b = vm_block_job_find(vm_of(job), id);
		if (b && b->ended && !b->error && st_flag(d, "complete_sent") &&
		    !st_flag(d, "completed")) {
			st_set_flag(d, "completed", true);
			changed = true;
		}
	}
	if (changed)
		st_save(job);
}

void
live_offline(struct job *job)
{
	json_t *d;
	size_t i;

	job->child = child_free(job->child);
	json_array_foreach(st_disks(job), i, d) {
		bool moved = st_flag(d, "recorded") || st_flag(d, "completed");

		json_object_set_new(d, "where", json_string(moved ? "new" :
		    "old"));
		if (moved && !st_flag(d, "recorded"))
			record_new(job, d);
		if (!st_flag(d, "cleaned") && file_to_drop(d))
			(void)unlink(file_to_drop(d));
		st_set_flag(d, "cleaned", true);
	}
	st_tpm_offline(job);
	st_save(job);
	live_done(job, "QEMU exited during the move");
}
