/* test.c - the test failover (Hyper-V's): on the replica host, a
 * throwaway VM "NAME-test" from one recovery point, its disks new qcow2
 * overlays over the point's files (the point is never written), its NICs
 * on an isolated switch; replication goes on meanwhile.  Never writes,
 * renames or removes a point's file; removes only what the row's "test"
 * names as made here.
 *
 * vm.failover-test (subject replication:UUID, exclusive; the replica VM
 * itself is not claimed, so cycles keep applying):
 *
 *   start --ft_switch: the test's own switch made (bridge, no uplink)-->
 *   overlays --ft_overlays: per disk `qemu-img create -b POINT -F qcow2`
 *   (a job helper)--> vm --ft_vm: the test VM recorded (off; new UUID and
 *   MACs) and its vm.start job started--> starting --ft_starting: it runs:
 *   the row's test "state" running--> done
 *
 *   a failure, a cancel, or a restart before starting: rollback
 *   --ft_teardown: the test VM turned off and deleted, the overlays and
 *   the switch it made removed, "test" cleared--> job failed.  A restart
 *   in starting: the VM running → done; its start job still on → wait;
 *   else rollback.
 *
 * vm.failover-test-stop (same subject): teardown, as above, plus the
 * files of an old chain a new chain left while the test ran (the row's
 * test "orphans", points.c) --> done.  Level-triggered: a restart runs
 * it again from what is left.
 *
 * The row's "test" is written when the request is accepted (before
 * anything is made), so every thing made is named there first. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failover.h"
#include "failpoint.h"
#include "firmware.h"
#include "fo_int.h"
#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "net.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"

#define FT_POLL_MS 500

enum ft_phase { FT_PH_START, FT_PH_OVERLAYS, FT_PH_VM, FT_PH_STARTING,
		FT_PH_ROLLBACK, FT_PH__COUNT };

static const char *const ft_phase_names[FT_PH__COUNT] = {
	[FT_PH_START] = "start", [FT_PH_OVERLAYS] = "overlays",
	[FT_PH_VM] = "vm", [FT_PH_STARTING] = "starting",
	[FT_PH_ROLLBACK] = "rollback",
};

/* ---- the row's "test" ---- */

int
fo_test_load(struct host *h, const char *uuid, json_t **ret)
{
	return fo_row_json_load(h, uuid, false, ret);
}

int
fo_test_save(struct host *h, const char *uuid, const json_t *test)
{
	return fo_row_json_save(h, uuid, false, test);
}

/* ---- teardown (rollback and test-stop) ---- */

static void
ft_unlink_list(const json_t *o)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(o))
		json_object_foreach((json_t *)o, k, v)
			(void)unlink(json_string_value(v));
	else
		json_array_foreach(o, i, v)
			(void)unlink(json_string_value(v));
}

/* The test VM's copies of the NVRAM and TPM state (ft_fw_copies: named
 * after it, next to its overlay of disk 0 at disk0), those that exist. */
static void
ft_fw_remove(const char *disk0, const char *name)
{
	_cleanup_free_ char *dir = xstrdup(disk0), *nv = NULL, *tpm = NULL;
	char *slash = strrchr(dir, '/');

	if (slash)
		*slash = '\0';
	nv = xasprintf("%s/%s-nvram.fd", dir, name);
	tpm = xasprintf("%s/%s-tpm", dir, name);
	(void)unlink(nv);
	(void)dir_remove_flat(tpm);
}

/* Those copies when a rollback left them without a VM to delete them. */
static void
ft_unlink_fw(const json_t *t)
{
	const json_t *ov = json_object_get(t, "overlays");
	const char *first = json_string_value(json_object_get(ov, "vda"));
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)ov, k, v)
		if (!first)	/* disk 0 of the test VM: the first overlay */
			first = json_string_value(v);
	if (first && rp_str(t, "name"))
		ft_fw_remove(first, rp_str(t, "name"));
}

static bool
ft_switch_in_use(struct host *h, const char *sw)
{
	for (size_t i = 0; i < h->n_vms; i++)
		for (size_t j = 0; j < h->vms[i]->row->n_nics; j++)
			if (streq(h->vms[i]->row->nics[j].switch_name, sw))
				return true;
	return false;
}

/* What is made of the test goes, in order: its VM off, its VM deleted
 * (the delete job unlinks its owned disks, the overlays), the overlays
 * once more (made but not yet recorded with the VM), the switch it
 * made, the orphans, the row's "test".  1 done, 0 waiting (woken). */
int
fo_test_teardown(struct job *job, const char *ruuid)
{
	struct host *h = host_of(job);
	_cleanup_json_ json_t *t = NULL;
	struct vm *tvm;
	struct job *sub;
	const char *sw;
	char bridge[16];

	if (fo_test_load(h, ruuid, &t) < 0 || !t)
		return 1;
	tvm = rp_str(t, "vm") ? vm_find(h, rp_str(t, "vm")) : NULL;
	if (tvm && vm_job(tvm)) {
		job_wake_after(job, FT_POLL_MS);
		return 0;
	}
	if (tvm) {
		(void)vm_action_start(tvm, vm_is_down(tvm) ? VM_ACT_DELETE :
		    VM_ACT_STOP, vm_is_down(tvm) ? json_pack("{sb}",
		    "keep_disks", false) : NULL, &sub, NULL);
		job_wake_after(job, FT_POLL_MS);
		return 0;
	}
	ft_unlink_list(json_object_get(t, "overlays"));
	ft_unlink_fw(t);
	sw = rp_str(t, "switch");
	if (sw && json_is_true(json_object_get(t, "made_switch")) &&
	    !ft_switch_in_use(h, sw)) {
		(void)store_obj_delete(h->store, STORE_SWITCH, sw);
		net_bridge_name(sw, bridge);
		(void)net_bridge_delete(bridge, NULL);
	}
	ft_unlink_list(json_object_get(t, "orphans"));
	(void)fo_test_save(h, ruuid, NULL);
	return 1;
}

static void
ft_rollback(struct job *job, const char *why)
{
	if (!rp_str(job->details, "why")) {
		json_object_set_new(job->details, "why", json_string(why ? why :
		    "rolled back"));
		job_set_phase(job, FT_PH_ROLLBACK);
	}
	if (job->child) {	/* its exit pokes the job */
		(void)child_kill(job->child, SIGTERM);
		return;
	}
	if (fo_test_teardown(job, rp_str(job->details, "replica")) == 0)
		return;
	job_finish(job, -EIO, "test failover of vm '%s' not made: %s",
	    rp_str(job->details, "name"), rp_str(job->details, "why"));
}

/* ---- the steps ---- */

static void
ft_switch(struct job *job)
{
	const char *sw = rp_str(job->details, "switch");
	struct obj_row o = { .name = (char *)sw };
	char bridge[16];
	struct err e = { 0 };

	if (json_is_true(json_object_get(job->details, "made_switch"))) {
		net_bridge_name(sw, bridge);
		o.a = bridge;
		(void)store_obj_insert(host_of(job)->store, STORE_SWITCH, &o);
		if (net_bridge_create(bridge, &e) < 0) {
			ft_rollback(job, e.msg);
			return;
		}
	}
	json_object_set_new(job->details, "next", json_integer(0));
	job_set_phase(job, FT_PH_OVERLAYS);
	job_poke(job);
}

static void
ft_on_child(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (job_phase_is(job, FT_PH_ROLLBACK)) {
		job_poke(job);
		return;
	}
	if (status != 0) {
		ft_rollback(job, "qemu-img create of an overlay failed (see "
		    "the ternd log)");
		return;
	}
	json_object_set_new(job->details, "next", json_integer(rp_int(
	    job->details, "next") + 1));
	job_save(job);
	job_poke(job);
}

static void
ft_overlays(struct job *job)
{
	json_t *d = json_array_get(json_object_get(job->details, "disks"),
	    (size_t)rp_int(job->details, "next"));
	const char *argv[] = { host_of(job)->cfg.qemu_img, "create", "-q",
		"-f", "qcow2", "-b", NULL, "-F", "qcow2", NULL, NULL };

	if (job->child)
		return;
	if (!d) {
		job_set_phase(job, FT_PH_VM);
		job_poke(job);
		return;
	}
	argv[6] = rp_str(d, "point");
	argv[9] = rp_str(d, "overlay");
	(void)unlink(argv[9]);	/* ours: a restart's half-made one */
	if (job_spawn(job, argv, NULL, ft_on_child) < 0) {
		ft_rollback(job, "cannot run qemu-img");
		return;
	}
	/* Tests: ternd dies while the test's overlays are made. */
	(void)failpoint_check("failover.test.overlay", NULL);
}

static int
ft_copy(const char *src, const char *dst, struct err *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = file_read_all(src, 64u << 20, &buf, &len)) < 0)
		return err_setf_errno(err, r, "cannot read '%s'", src);
	if ((r = file_write_atomic(dst, buf, len, 0600)) < 0)
		return err_setf_errno(err, r, "cannot write '%s'", dst);
	return 0;
}

/* The test VM's own copies of the tested point's NVRAM file and TPM
 * state (fw: the point's copies, replica/rp_fw.c; a point recorded
 * before points kept them has none: the replica's own files then), next
 * to its overlay of disk 0 (firmware_plan names them after the test
 * VM): booting it must never write the replica's or the point's.
 * Copies a restart's half-made attempt left are ours and go first. */
static int
ft_fw_copies(struct host *h, const struct vm *rv, const json_t *fw,
    struct vm_row *row, struct err *err)
{
	_cleanup_free_ char *permall = NULL, *dst = NULL;
	const char *nvram = rp_str(fw, "nvram") ?: rv->row->nvram;
	int r;

	row->firmware = rv->row->firmware ? xstrdup(rv->row->firmware) : NULL;
	row->secure_boot = rv->row->secure_boot;
	row->tpm = rv->row->tpm;
	row->boot = rv->row->boot ? xstrdup(rv->row->boot) : NULL;
	if (!row->firmware && !row->tpm)
		return 0;
	if (row->n_disks == 0)
		return err_set(err, -EINVAL, "the test vm has no disk 0 for its "
		    "UEFI variables and TPM state");
	ft_fw_remove(row->disks[0].path, row->name);
	if ((r = firmware_plan(h, row, err)) < 0 ||
	    (r = firmware_files_make(h, row, err)) < 0)
		return r;
	if (rv->row->nvram && row->nvram && (r = ft_copy(nvram, row->nvram,
	    err)) < 0)
		goto fail;
	if (rp_str(fw, "tpm"))
		permall = xstrdup(rp_str(fw, "tpm"));
	else if (rv->row->tpm_dir)
		permall = xasprintf("%s/tpm2-00.permall", rv->row->tpm_dir);
	dst = row->tpm_dir ? xasprintf("%s/tpm2-00.permall", row->tpm_dir) :
	    NULL;
	if (permall && dst && access(permall, F_OK) == 0 &&
	    (r = ft_copy(permall, dst, err)) < 0)
		goto fail;
	return 0;
fail:
	firmware_files_remove(row);
	return r;
}

static void
ft_vm(struct job *job)
{
	struct host *h = host_of(job);
	struct vm_row *row = fo_test_row(h, job->details);
	struct err err = { 0 };
	int r;

	if (!row) {
		ft_rollback(job, "the replica VM is gone");
		return;
	}
	if (ft_fw_copies(h, vm_find(h, rp_str(job->details, "replica")),
	    json_object_get(job->details, "fw"), row, &err) < 0) {
		store_vm_row_free(row);
		ft_rollback(job, err.msg);
		return;
	}
	if ((r = store_vm_insert(h->store, row)) < 0) {
		firmware_files_remove(row);
		store_vm_row_free(row);
		ft_rollback(job, r == -EEXIST ? "a vm of that name, disk path "
		    "or MAC exists" : "cannot record the test vm");
		return;
	}
	(void)vm_add(h, row);
	host_event(h, "info", vm_find(h, rp_str(job->details, "test_vm")),
	    job->row->id, "test failover vm created from recovery point %lld",
	    (long long)rp_int(job->details, "seq"));
	job_set_phase(job, FT_PH_STARTING);
	job_poke(job);
}

static void
ft_running(struct job *job, struct vm *tvm)
{
	struct host *h = host_of(job);
	const char *ruuid = rp_str(job->details, "replica");
	_cleanup_json_ json_t *t = NULL;

	if (fo_test_load(h, ruuid, &t) == 0 && t) {
		json_object_set_new(t, "state", json_string("running"));
		json_object_set_new(t, "started_ms", json_integer(
		    (json_int_t)wall_ms()));
		(void)fo_test_save(h, ruuid, t);
	}
	fo_altip_start(h, ruuid, tvm, job->row->id);
	host_event(h, "info", tvm, job->row->id, "test failover of vm '%s' "
	    "runs as '%s' on switch '%s'", rp_str(job->details, "name"),
	    tvm->row->name, rp_str(job->details, "switch"));
	job_finish(job, 0, NULL);
}

static void
ft_starting(struct job *job)
{
	struct vm *tvm = vm_find(host_of(job), rp_str(job->details,
	    "test_vm"));
	struct job *sub;
	struct err e = { 0 };

	if (!tvm) {
		ft_rollback(job, "the test vm is gone");
		return;
	}
	if (vm_job(tvm)) {
		job_wake_after(job, FT_POLL_MS);
		return;
	}
	if (tvm->state == VM_RUNNING) {
		ft_running(job, tvm);
		return;
	}
	if (json_is_true(json_object_get(job->details, "start_sent")) ||
	    !vm_is_down(tvm)) {
		ft_rollback(job, tvm->last_error ? tvm->last_error :
		    "the test vm did not start");
		return;
	}
	json_object_set_new(job->details, "start_sent", json_true());
	job_save(job);
	if (vm_action_start(tvm, VM_ACT_START, NULL, &sub, &e) < 0) {
		ft_rollback(job, e.msg);
		return;
	}
	job_wake_after(job, FT_POLL_MS);
}

static void
ft_step(struct job *job)
{
	if (job->recovering && !job_phase_is(job, FT_PH_STARTING) &&
	    !job_phase_is(job, FT_PH_ROLLBACK)) {
		job->recovering = false;
		ft_rollback(job, "ternd restarted while it was made");
		return;
	}
	job->recovering = false;
	if (job->state == JOB_CANCELLING && !job_phase_is(job,
	    FT_PH_ROLLBACK)) {
		ft_rollback(job, "cancelled by the operator");
		return;
	}
	switch (job->phase) {
	case FT_PH_START:	ft_switch(job); break;
	case FT_PH_OVERLAYS:	ft_overlays(job); break;
	case FT_PH_VM:		ft_vm(job); break;
	case FT_PH_STARTING:	ft_starting(job); break;
	default:		ft_rollback(job, NULL); break;
	}
}

static int
ft_cancel(struct job *job, struct err *err)
{
	(void)err;
	job_poke(job);
	return 0;
}

const struct job_ops job_failover_test = { .type = "vm.failover-test",
	.phases = ft_phase_names, .n_phases = FT_PH__COUNT,
	.step = ft_step, .cancel = ft_cancel };

/* ---- vm.failover-test-stop ---- */

enum { FS_PH_START, FS_PH__COUNT };
static const char *const fs_phase_names[FS_PH__COUNT] = {
	[FS_PH_START] = "start",
};

static void
fs_step(struct job *job)
{
	job->recovering = false;
	if (fo_test_teardown(job, rp_str(job->details, "replica")) == 0)
		return;
	host_event(host_of(job), "info", NULL, job->row->id, "test failover "
	    "of vm '%s' stopped: its vm, overlays and switch removed",
	    rp_str(job->details, "name"));
	job_finish(job, 0, NULL);
}

const struct job_ops job_failover_test_stop = {
	.type = "vm.failover-test-stop", .phases = fs_phase_names,
	.n_phases = FS_PH__COUNT, .step = fs_step };
