/* tpm_move.c - a running VM's TPM state carried by its storage move
 * (details "tpm": {src, dst}, when disk 0 moves).  swtpm writes through
 * the symlink RUN/tpm-state (src/vm/tpm_state.c), so the state moves by
 * a copy and a repointed link, done while the vCPUs are stopped (no TPM
 * command in flight, nothing written meanwhile).  It must never point
 * the link at a directory that does not hold the whole state, nor delete
 * the directory the link points at.
 *
 *   pivot (mirror.c, all mirrors in sync)
 *     --st_tpm_pause: flag paused (only if the VM was running), QMP stop
 *     --> flag created, tpm_state_copy() (dst.partial, files synced,
 *     renamed to dst) --> flag copied --> failpoint storage.tpm-copied
 *     --> job-complete of the mirrors (mirror.c) --> resolve
 *   resolve, where (resolve.c, the disks recorded) --st_tpm_settle:
 *     link -> dst?                        recorded (row tpm_dir = dst)
 *     disk 0 recorded on its new file,    tpm_state_link(dst) [the TPM's
 *       copied, vCPUs stopped:              commit point], then recorded
 *     otherwise (going back, a failure):  dst removed; link, row: src
 *     then: src removed if recorded; cont if paused (and not resumed)
 *   QEMU gone (st_tpm_offline): link -> dst: recorded, src removed;
 *     otherwise dst removed.  swtpm died with QEMU.
 *
 * A ternd restart in any phase goes through resolve (rollback: the
 * mirrors not switched are cancelled) and st_tpm_settle decides from
 * where the link points and which file disk 0's record names, so the VM
 * ends on one consistent set of files and running if it was.  A copy that
 * fails (the target full) goes back the same way.
 *
 * Transitions: st_tpm_pause() (pivot), st_tpm_settle() (resolve),
 * st_tpm_offline() (QEMU gone). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "st_int.h"
#include "storage.h"
#include "tpm_state.h"
#include "util.h"
#include "vm.h"

static json_t *
tpm_of(const struct job *job)
{
	return json_object_get(job->details, "tpm");
}

/* Disk 0's entry, or NULL. */
static const json_t *
disk0(const struct job *job)
{
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d)
		if (!st_flag(d, "nvram") && st_int(d, "idx") == 0)
			return d;
	return NULL;
}

static void
remove_dst(const json_t *t)
{
	_cleanup_free_ char *partial = xasprintf("%s.partial", st_str(t,
	    "dst"));

	(void)dir_remove_flat(partial);
	if (st_flag(t, "created"))
		(void)dir_remove_flat(st_str(t, "dst"));
}

static void
tpm_copy(struct job *job, json_t *t)
{
	char why[400];
	int r;

	/* Not ours if it is there now: never removed, never replaced. */
	if (!st_flag(t, "created") && access(st_str(t, "dst"), F_OK) == 0) {
		snprintf(why, sizeof(why), "cannot copy the TPM state to '%s': "
		    "it appeared meanwhile", st_str(t, "dst"));
		live_back(job, -EEXIST, why);
		return;
	}
	st_set_flag(t, "created", true);	/* dst may exist from now */
	st_save(job);
	r = tpm_state_copy(st_str(t, "src"), st_str(t, "dst"));
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot copy the TPM state to '%s': "
		    "%s", st_str(t, "dst"), strerror(-r));
		live_back(job, r, why);
		return;
	}
	st_set_flag(t, "copied", true);
	st_save(job);
	job_poke(job);
}

int
st_tpm_pause(struct job *job)
{
	struct st_ctx *c = st_ctx(job);
	struct vm *vm = vm_of(job);
	json_t *t = tpm_of(job), *ret;
	int fp;

	if (!t || st_flag(t, "copied"))
		goto copied;
	if (c->sub == 0 && vm->state == VM_RUNNING) {
		c->sub = 1;
		st_set_flag(t, "paused", true);	/* before it goes out */
		json_object_set_new(t, "stopped_at_ms",
		    json_integer((json_int_t)wall_ms()));
		st_save(job);
		(void)st_query(job, (struct qmp_command){ .name = "stop" });
		return 0;
	}
	if (c->sub == 1) {
		if (!st_answered(job, "stop"))
			return 0;
		if (!(ret = st_take_reply(job))) {
			live_back(job, -EIO, "QEMU did not stop the vCPUs for "
			    "the TPM's copy");
			return -1;
		}
		json_decref(ret);
	}
	c->sub = 2;
	tpm_copy(job, t);
	return 0;
copied:
	fp = t ? job_failpoint(job, "storage.tpm-copied") : 0;
	if (fp < 0) {
		live_back(job, -EIO, "failpoint storage.tpm-copied");
		return -1;
	}
	c->sub = 0;
	return fp == 0;
}

static int
tpm_record(struct job *job, json_t *t)
{
	struct vm *vm = vm_of(job);
	int r = store_vm_set_text(host_of(job)->store, vm->row->uuid,
	    "tpm_dir", st_str(t, "dst"));

	if (r < 0)
		return r;
	free(vm->row->tpm_dir);
	vm->row->tpm_dir = xstrdup(st_str(t, "dst"));
	st_set_flag(t, "recorded", true);
	st_save(job);
	host_event(host_of(job), "info", vm, job->row->id, "TPM state now "
	    "'%s'", st_str(t, "dst"));
	return 0;
}

/* Where the TPM ends up, with the vCPUs stopped (or QEMU gone). */
static void
tpm_decide(struct job *job, json_t *t, bool may_link)
{
	struct vm *vm = vm_of(job);
	const char *dst = st_str(t, "dst");
	int r = 0;

	if (!tpm_state_points_at(vm, dst) && may_link)
		r = tpm_state_link(vm, dst);
	if (r == 0 && tpm_state_points_at(vm, dst) &&
	    !st_flag(t, "recorded") && (r = tpm_record(job, t)) < 0)
		(void)tpm_state_link(vm, st_str(t, "src"));	/* back */
	if (r < 0)
		host_event(host_of(job), "warning", vm, job->row->id, "the "
		    "TPM state stays in '%s': %s", st_str(t, "src"),
		    strerror(-r));
	if (st_flag(t, "recorded"))
		(void)dir_remove_flat(st_str(t, "src"));
	else
		remove_dst(t);
	st_set_flag(t, "settled", true);
	st_save(job);
}

/* The guest's pause for the TPM's move, from `stop` to `cont` (wall
 * clock, so that a ternd restart in between still counts it): the one
 * cost a running VM pays for its TPM, in the job's events. */
static void
tpm_report_pause(struct job *job, json_t *t)
{
	json_int_t at = json_integer_value(json_object_get(t,
	    "stopped_at_ms"));
	uint64_t now = wall_ms();

	if (at <= 0 || (uint64_t)at > now)
		return;
	host_event(host_of(job), "info", vm_of(job), job->row->id, "vCPUs "
	    "ran again after %llu ms stopped for the TPM state's copy",
	    (unsigned long long)(now - (uint64_t)at));
}

void
st_tpm_settle(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *t = tpm_of(job);
	const json_t *d0 = disk0(job);
	bool stopped;

	if (!t || st_flag(t, "settled"))
		return;
	stopped = (st_flag(t, "paused") && !st_flag(t, "resumed")) ||
	    vm->state == VM_PAUSED;
	tpm_decide(job, t, stopped && d0 && st_flag(d0, "recorded") &&
	    st_flag(t, "copied") && access(st_str(t, "dst"), F_OK) == 0);
	if (st_flag(t, "paused") && !st_flag(t, "resumed")) {
		st_send(job, (struct qmp_command){ .name = "cont" });
		st_set_flag(t, "resumed", true);
		st_save(job);
		tpm_report_pause(job, t);
	}
}

void
st_tpm_offline(struct job *job)
{
	json_t *t = tpm_of(job);

	if (t && !st_flag(t, "settled"))
		tpm_decide(job, t, false);
}
