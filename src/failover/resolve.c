/* resolve.c - the end of an unplanned failover on the replica host:
 * complete (the VM keeps the point it failed over to; every other point
 * is given up) or cancel (vm.failover-cancel: back to a replica on the
 * latest point, the overlays' writes discarded).  Neither ever writes a
 * recovery point's file.
 *
 * complete (at once, no job): the row's "points" emptied and the files
 * under the VM's overlays kept as its backing chain ("failover"."chain":
 * {DISK: [file, ...]}, removed with the VM by follow.c's delete hook;
 * a storage or live move flattens them), "failover"."state" completed,
 * in one transaction; then the files of the points newer than the
 * failover's point and every point's NVRAM/TPM copies (replica/rp_fw.c;
 * the VM's own files hold its point's since the failover) unlinked (a
 * crash before leaves files no point names: waste, never a wrong
 * point).
 *
 * vm.failover-cancel, the VM held exclusively:
 *
 *   start --cx_step: QEMU killed when it runs (its writes go anyway)-->
 *   stop --the VM down--> restore --the latest point's NVRAM/TPM copies
 *   into the VM's files (details "latest_fw")--> cx_restore: one
 *   transaction: the
 *   disks on the latest point's files, the row's state back (the
 *   failover's "prev_state"), "failover" cleared--> the overlays
 *   unlinked, the VM OFF|CRASHED -> REPLICA, job succeeds.
 *
 *   Restart: every step runs again (the kill of a QEMU already gone is
 *   nothing; the transaction is skipped once the row is no longer
 *   failed-over; unlinking an overlay twice is nothing). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "tpm.h"
#include "util.h"
#include "vm.h"

/* The failover pending on vm's row: 0 with *ret_r and *ret_fo. */
static int
fo_pending(struct host *h, const struct vm *vm, const char *what,
    struct replication_row *ret_r, json_t **ret_fo, struct err *err)
{
	json_t *fo;
	int r;

	if ((r = fo_replica_row(h, vm, ret_r, err)) < 0)
		return r;
	fo = fo_failover_load(ret_r);
	if (!streq(ret_r->state, "failed-over") || !fo ||
	    !streq(rp_str(fo, "state"), "pending")) {
		json_decref(fo);
		replication_row_done(ret_r);
		return err_set(err, -EINVAL, "vm '%s' has no failover pending "
		    "here: nothing to %s (fail it over first: 'tern vm failover "
		    "%s')", vm->row->name, what, vm->row->name);
	}
	*ret_fo = fo;
	return 0;
}

/* Into fo: "chain" (the files of points <= seq per disk, after those of
 * the chain an adopted copy had below its points); into drop: the files
 * of the points above. */
static void
fo_split_points(const json_t *pts, int64_t seq, json_t *fo, json_t *drop)
{
	/* an adopted copy's own chain (replica/adopt.c) stays below */
	json_t *chain = json_deep_copy(json_object_get(fo, "chain")), *p, *f;
	const char *disk;
	size_t i;

	if (!json_is_object(chain)) {
		json_decref(chain);
		chain = json_object();
	}

	json_array_foreach(pts, i, p) {
		json_object_foreach(json_object_get(p, "disks"), disk, f) {
			json_t *a = json_object_get(chain, disk);

			if (rp_int(p, "seq") > seq) {
				json_array_append(drop, f);
				continue;
			}
			if (!a)
				json_object_set_new(chain, disk, a =
				    json_array());
			json_array_append(a, f);
		}
	}
	json_object_set_new(fo, "chain", chain);
}

int
failover_complete(struct host *h, struct vm *vm, struct err *err)
{
	struct replication_row r;
	json_t *fo, *pts, *drop = json_array(), *f;
	char *old_fo, *old_pts;
	size_t i;
	int rc;

	if ((rc = fo_pending(h, vm, "complete", &r, &fo, err)) < 0) {
		json_decref(drop);
		return rc;
	}
	pts = rp_points_load(r.points);
	fo_split_points(pts, rp_int(fo, "seq"), fo, drop);
	json_object_set_new(fo, "state", json_string("completed"));
	json_object_set_new(fo, "completed_ms", json_integer(wall_ms()));
	old_fo = r.failover;
	old_pts = r.points;
	r.failover = json_dumps(fo, JSON_COMPACT);
	r.points = NULL;
	if ((rc = store_replication_update(h->store, &r)) < 0)
		err_setf_errno(err, rc, "cannot record the completion");
	else {
		json_array_foreach(drop, i, f)
			(void)unlink(json_string_value(f));
		/* The VM's own files hold the point's NVRAM/TPM state
		 * (copied in by the failover); no point is left to need
		 * its copies. */
		rp_fw_unlink_all(pts);
	}
	free(r.failover);
	r.failover = old_fo;
	r.points = old_pts;
	replication_row_done(&r);
	if (rc == 0)
		host_event(h, "info", vm, 0, "failover completed: vm '%s' "
		    "keeps recovery point %lld; %zu newer point file(s) "
		    "removed; it is an ordinary vm now", vm->row->name,
		    (long long)rp_int(fo, "seq"), json_array_size(drop));
	json_decref(fo);
	json_decref(pts);
	json_decref(drop);
	return rc;
}

/* ---- vm.failover-cancel ---- */

enum cx_phase { CX_PH_START, CX_PH_STOP, CX_PH_RESTORE, CX_PH__COUNT };

static const char *const cx_phase_names[CX_PH__COUNT] = {
	[CX_PH_START] = "start", [CX_PH_STOP] = "stop",
	[CX_PH_RESTORE] = "restore",
};

/* The transaction: disks on "latest", row state back, failover gone. */
static int
cx_restore(struct job *job, struct vm *vm)
{
	struct store *st = vm->h->store;
	const json_t *latest = json_object_get(job->details, "latest");
	struct replication_row r;
	char *state, *fo;
	int rc;

	if ((rc = store_replication_get(st, vm->row->uuid, &r)) < 0)
		return rc;
	if (streq(r.state, "failed-over")) {
		state = r.state;
		fo = r.failover;
		r.state = (char *)(rp_str(job->details, "prev_state") ?:
		    "replica");
		r.failover = fo_chain_only(fo);
		if ((rc = store_begin(st)) == 0) {
			if ((rc = fo_disks_store(vm, latest)) == 0 &&
			    (rc = store_replication_update(st, &r)) == 0)
				rc = store_commit(st);
			else
				store_rollback(st);
		}
		free(r.failover);
		r.state = state;
		r.failover = fo;
	}
	replication_row_done(&r);
	if (rc == 0)
		fo_disks_point_at(vm, latest);
	return rc;
}

static void
cx_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	int r;

	if (vm_job_gone(job))
		return;
	if (vm->pidfd >= 0 || vm->launcher) {
		job_set_phase(job, CX_PH_STOP);
		vm_kill(vm);	/* the exit pokes us */
		return;
	}
	job_set_phase(job, CX_PH_RESTORE);
	/* The latest point's NVRAM/TPM copies back into the VM's files,
	 * before the row says replica: a restart runs both again.  QEMU is
	 * gone; its swtpm ends with it (--terminate), and is killed here
	 * in case it has not yet, so that nothing writes after the copy. */
	tpm_kill(vm);
	if ((r = fo_fw_install(vm, job->details, "latest_fw")) < 0) {
		job_finish(job, r, "failover not cancelled: cannot put the "
		    "latest point's NVRAM/TPM state back; run the cancel "
		    "again");
		return;
	}
	if ((r = cx_restore(job, vm)) < 0) {
		job_finish(job, r, "failover not cancelled: cannot record it; "
		    "run the cancel again");
		return;
	}
	fo_unlink_values(json_object_get(job->details, "overlays"));
	if (vm->state != VM_REPLICA)
		vm_set_state(vm, VM_REPLICA, "failover cancelled: the vm is a "
		    "replica again on its latest recovery point; cycles are "
		    "accepted again");
	job_finish(job, 0, NULL);
}

const struct job_ops job_vm_failover_cancel = {
	.type = "vm.failover-cancel", .phases = cx_phase_names,
	.n_phases = CX_PH__COUNT, .step = cx_step,
};

int
failover_cancel_start(struct host *h, struct vm *vm, struct job **ret_job,
    struct err *err)
{
	struct replication_row r;
	json_t *fo, *pts, *details;
	int rc;

	*ret_job = NULL;
	if ((rc = fo_pending(h, vm, "cancel", &r, &fo, err)) < 0)
		return rc;
	pts = rp_points_load(r.points);
	details = json_pack("{sO sO ss sO}", "overlays", json_object_get(fo,
	    "overlays"), "latest", json_object_get(json_array_get(pts,
	    json_array_size(pts) - 1), "disks"), "prev_state",
	    rp_str(fo, "prev_state") ?: "replica", "latest_fw",
	    json_object_get(json_array_get(pts, json_array_size(pts) - 1),
	    "fw") ?: json_null());
	json_decref(pts);
	json_decref(fo);
	replication_row_done(&r);
	if (!details)
		return err_set(err, -EIO, "vm '%s': its failover record is "
		    "damaged; cannot cancel", vm->row->name);
	if ((rc = vm_job_create(h, &job_vm_failover_cancel, vm, details,
	    ret_job, err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
