/* mirror.c - shared-nothing moves, the disks: before the memory stream,
 * every disk is mirrored to the destination's copy over NBD (with the
 * move's TLS key): the bulk copy in background mode, then write-blocking
 * (src/vm/block.c) so that a busy disk still converges and every guest
 * write reaches both sides; the memory stream starts once all are
 * actively synced, and they stay
 * until the source QEMU ends (see mig_pre_switchover for why they are not
 * ended at the switchover); on the way back they are abandoned
 * (job-cancel).
 *
 *   mirroring: [TLS object] query-block (the disks' nodes) --> blockdev-add
 *   nbd + blockdev-mirror per disk --> all READY --> block-job-change
 *   write-blocking --> all actively-synced --> migrating (source.c)
 *
 * Unallocated and zero areas are not sent as data: the mirror writes them
 * as zeroes (NBD WRITE_ZEROES) and copies only what the source holds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failpoint.h"
#include "log.h"
#include "mig_int.h"
#include "migrate.h"
#include "vm.h"

#define MIRROR_QMP_MS 10000
#define MIRROR_POLL_MS 250
#define MIRROR_SYNC_POLL_MS 20
#define MIRROR_STALL_MS 30000

static char *
mirror_id(const struct job *job, const char *disk)
{
	char id[VM_NODE_NAME_MAX];

	vm_block_id(id, "mig", disk, job->row->id);
	return xstrdup(id);
}

void
mig_tls_object(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	_cleanup_free_ char *objid = xasprintf("tern-mig%lld",
	    (long long)job->row->id);
	json_t *args;

	if (c->tls_obj || !json_is_true(json_object_get(job->details,
	    "encrypted")))
		return;
	c->tls_obj = true;
	if (move_psk_write(job, "client") < 0) {
		move_rollback_msg(job, "cannot write the migration key");
		return;
	}
	args = mig_tls_args(host_of(job), objid, c->psk_dir, "client");
	json_object_set_new(args, "username", json_string("tern"));
	(void)vm_qmp(vm_of(job), job, "object-add", args, MIRROR_QMP_MS,
	    move_on_qmp);
}

static void
mirror_on_block(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	struct move_ctx *c;

	if (!job)
		return;
	c = move_ctx(job);
	c->blk_querying = false;
	if (ret)
		c->blk = json_incref(ret);
	else if (!vm->last_error)
		vm->last_error = xstrdup(e->msg);
	job_poke(job);
}

/* blockdev-add an NBD client node and mirror each disk into it. */
static int
mirror_start_all(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);
	const char *nbd = detail_str(job, "nbd");
	_cleanup_free_ char *host = NULL;
	_cleanup_free_ char *objid = xasprintf("tern-mig%lld",
	    (long long)job->row->id);
	const char *port = strrchr(nbd ? nbd : "", ':');
	bool tls = json_is_true(json_object_get(job->details, "encrypted"));

	if (!port)
		return -EINVAL;
	host = strndup(nbd[0] == '[' ? nbd + 1 : nbd, port - nbd -
	    (nbd[0] == '[' ? 2 : 0));
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *d = vm->row->disks[i].name;
		const char *node = qmp_block_disk_node(c->blk, d, NULL);
		_cleanup_free_ char *id = mirror_id(job, d);
		struct qmp_command mirror;

		if (!node)
			return -ENOENT;
		(void)vm_qmp_cmd(vm, job, qmp_blockdev_add_nbd(id, host,
		    port + 1, d, tls ? objid : NULL), MIRROR_QMP_MS,
		    move_on_qmp);
		if (!(mirror = vm_mirror_cmd(vm, id, node, id)).name)
			return -E2BIG;
		(void)vm_qmp_cmd(vm, job, mirror, MIRROR_QMP_MS, move_on_qmp);
	}
	c->mirrors_started = true;
	c->disk_progress_ms = now_ms();
	return 0;
}

/* Test hook: move.bulk=delay:MS holds the bulk copy at 256 KiB/s for MS
 * (a fault can be injected while it copies); =fail fails it. */
static int
mirror_fp_bulk(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	struct vm *vm = vm_of(job);
	uint64_t ms = 0;
	int64_t speed = -1;

	if (!c->bulk_fp_done) {
		c->bulk_fp_done = true;
		switch (failpoint_check("move.bulk", &ms)) {
		case FP_FAIL:
			return -1;
		case FP_DELAY:
			c->bulk_slow_until_ms = now_ms() + ms;
			speed = 256 << 10;
			break;
		default:
			return 0;
		}
	} else if (c->bulk_slow_until_ms && now_ms() >= c->bulk_slow_until_ms) {
		c->bulk_slow_until_ms = 0;
		speed = 0;
	}
	for (size_t i = 0; speed >= 0 && i < vm->row->n_disks; i++) {
		_cleanup_free_ char *id = mirror_id(job, vm->row->disks[i].name);

		(void)vm_qmp_cmd(vm, job, qmp_block_job_set_speed(id, speed),
		    MIRROR_QMP_MS, move_on_qmp);
	}
	return 0;
}

/* The move's mirrors are the block jobs it tracks on its VM. */
static bool
mirror_is_mine(const struct job *job, const char *id)
{
	return vm_block_job_find(vm_of(job), id) != NULL;
}

static void
mirror_on_jobs(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	struct move_ctx *c;
	uint64_t done, total;

	(void)e;
	if (!job)
		return;
	c = move_ctx(job);
	c->jobs_querying = false;
	vm_block_jobs_update(vm, ret);
	vm_block_jobs_sum(ret, job, mirror_is_mine, &done, &total);
	if (done > c->disk_done)
		c->disk_progress_ms = now_ms();
	c->disk_done = done;
	c->disk_total = total;
	job_set_progress(job, done, total + vm->row->memory_mib * 1048576,
	    "bytes");
	job_poke(job);
}

const char *
mig_mirror_error(struct job *job)
{
	struct vm *vm = vm_of(job);

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		_cleanup_free_ char *id = mirror_id(job, vm->row->disks[i].name);
		struct vm_block_job *b = vm_block_job_find(vm, id);

		if (b && b->ended && b->error)
			return b->error;
	}
	return NULL;
}

static bool
mirror_all(struct job *job, bool ready)
{
	struct vm *vm = vm_of(job);

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		_cleanup_free_ char *id = mirror_id(job, vm->row->disks[i].name);
		struct vm_block_job *b = vm_block_job_find(vm, id);

		if (!b || !(ready ? b->ready : b->ended))
			return false;
	}
	return true;
}

/* 1: every mirror is actively synced; 0: not yet (READY ones are being
 * switched to write-blocking); -1: QEMU refused a switch (why set). */
static int
mirror_all_synced(struct job *job, char *why, size_t len)
{
	struct vm *vm = vm_of(job);
	int all = 1;

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		_cleanup_free_ char *id = mirror_id(job, vm->row->disks[i].name);
		int r = vm_mirror_synced(vm, job, id);

		if (r < 0) {
			snprintf(why, len, "QEMU refused to make the copy of "
			    "disk %s write-blocking: %s",
			    vm->row->disks[i].name,
			    vm_block_job_find(vm, id)->change_error);
			return -1;
		}
		all &= r;
	}
	return all;
}

/* Before the bulk copy: the disks' nodes known, every mirror started.
 * False while that is under way (or failed: rolled back). */
static bool
mirror_started(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);

	if (c->mirrors_started)
		return true;
	mig_tls_object(job);
	if (!c->blk) {
		if (!c->blk_querying && vm_qmp_cmd(vm, job, qmp_query_block(),
		    MIRROR_QMP_MS, mirror_on_block) == 0)
			c->blk_querying = true;
		return false;
	}
	if (mirror_start_all(job) < 0) {
		move_rollback_msg(job, "cannot find or attach the vm's disks "
		    "for copying");
		return false;
	}
	return true;
}

/* Every mirror actively synced: on to the memory stream. */
static void
mirror_in_sync(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);
	int fp;

	if (!streq(detail_str(job, "disks"), "in-sync")) {
		json_object_set_new(job->details, "disks",
		    json_string("in-sync"));
		job_set_progress(job, c->disk_total, c->disk_total +
		    vm->row->memory_mib * 1048576, "bytes");
	}
	if ((fp = job_failpoint(job, "move.mirrors-ready")) != 0) {
		if (fp < 0)
			move_rollback_msg(job, "failpoint move.mirrors-ready");
		return;
	}
	host_event(host_of(job), "info", vm, job->row->id, "disks in sync "
	    "with %s (%llu MiB): copying the memory", detail_str(job, "peer"),
	    (unsigned long long)(c->disk_total >> 20));
	job_set_phase(job, MOVE_PH_MIGRATING);
	job_poke(job);
}

void
mig_mirroring(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);
	const char *err;
	char why[400];
	int synced;

	if (vm->last_error) {
		snprintf(why, sizeof(why), "QEMU refused to copy the disks: %s",
		    vm->last_error);
		move_rollback_msg(job, why);
		return;
	}
	if ((err = mig_mirror_error(job))) {
		snprintf(why, sizeof(why), "copying the disks to %s failed: %s",
		    detail_str(job, "peer"), err);
		move_rollback_msg(job, why);
		return;
	}
	if (!mirror_started(job))
		return;
	if (mirror_fp_bulk(job) < 0) {
		move_rollback_msg(job, "failpoint move.bulk");
		return;
	}
	if (mirror_all(job, true) && !c->bulk_slow_until_ms &&
	    (synced = mirror_all_synced(job, why, sizeof(why))) != 0) {
		if (synced < 0)
			move_rollback_msg(job, why);
		else
			mirror_in_sync(job);
		return;
	}
	/* Once all are READY the copy is done: what is left is the switch
	 * to write-blocking (bounded by the move's timeout). */
	if (!mirror_all(job, true) &&
	    now_ms() - c->disk_progress_ms > MIRROR_STALL_MS) {
		snprintf(why, sizeof(why), "copying the disks to %s made no "
		    "progress for %d s", detail_str(job, "peer"),
		    MIRROR_STALL_MS / 1000);
		move_rollback_msg(job, why);
		return;
	}
	/* All READY: only actively-synced is awaited, which has no event
	 * and comes within milliseconds of the switch: look often. */
	if (!c->jobs_querying && move_poll_due(job, mirror_all(job, true) ?
	    MIRROR_SYNC_POLL_MS : MIRROR_POLL_MS) &&
	    vm_qmp_cmd(vm, job, qmp_query_block_jobs(), MIRROR_QMP_MS,
	    mirror_on_jobs) == 0)
		c->jobs_querying = true;
}

static void
mirror_on_ignored(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)vm;
	(void)job;
	(void)ret;
	(void)e;
}

bool
mig_cancel_mirrors(struct job *job, bool force)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);

	if (!c->mirrors_cancelled) {
		c->mirrors_cancelled = true;
		c->mirrors_cancel_ms = now_ms();
		for (size_t i = 0; i < vm->row->n_disks; i++) {
			_cleanup_free_ char *id = mirror_id(job,
			    vm->row->disks[i].name);

			if (force)	/* also after a restart: by name */
				(void)vm_qmp_cmd(vm, job, qmp_job_cancel(id),
				    MIRROR_QMP_MS, mirror_on_ignored);
			else
				(void)vm_qmp_cmd(vm, job,
				    qmp_block_job_cancel(id), MIRROR_QMP_MS,
				    move_on_qmp);
		}
	}
	return !c->mirrors_started || mirror_all(job, false);
}

/* The mirrors ended: drop the jobs and the NBD nodes (best effort). */
void
mig_mirror_cleanup(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (!vm || vm->pidfd < 0)
		return;
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		_cleanup_free_ char *id = mirror_id(job, vm->row->disks[i].name);

		(void)vm_qmp_cmd(vm, job, qmp_job_dismiss(id), MIRROR_QMP_MS,
		    mirror_on_ignored);
		(void)vm_qmp_cmd(vm, job, qmp_blockdev_del(id), MIRROR_QMP_MS,
		    mirror_on_ignored);
	}
}
