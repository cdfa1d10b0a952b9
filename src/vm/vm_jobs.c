/* vm_jobs.c - the VM lifecycle jobs.  Each step() is level-triggered: it
 * reads the VM's state and the job's phase and does the next thing, so the
 * same code serves a fresh start and a restart (job->recovering).  Phases:
 * enum vm_phase (vm_job.h), one table for these types.
 *
 *   vm.create  start --create_step: qemu-img per owned disk
 *              (create_on_qemu_img), then the NVRAM and TPM directory
 *              (firmware.c), then the cloud-init seed (cloudinit.c,
 *              create_on_seed)--> done: VM OFF
 *              any failure, a cancel or a restart: create_rollback_code
 *              (delete the disks it made, forget the VM)
 *   vm.start   start --start_launch: vm_launch--> launch --start_step: QMP
 *              ready [restore_step (save.c): --> restoring --> loaded]
 *              [host->before_cont: the disks' change tracking checked]
 *              cont--> cont --start_on_cont, start_done--> done
 *              (details "paused": no cont, the VM PAUSED --> done)
 *              failure or a cancel before the vCPUs run: start_fail_code
 *              (kill QEMU, VM OFF); a restart finds QEMU by pid or pidfile
 *              and carries on from where it is
 *   vm.stop    start --stop_step: quit (SIGKILL after the timeout)--> wait
 *              --stop_step: QEMU gone--> done
 *   vm.pause   start --pause_resume_step: stop--> sent --STOP--> done
 *   vm.resume  start --pause_resume_step: cont--> sent --RESUME--> done
 *   vm.delete  start --delete_step: unlink owned disks, the files of
 *              their chains that are the VM's (NAME-... beside them:
 *              src/failover) and their checkpoints' images (unless
 *              keep_disks, or the cluster's stale copy: the files are
 *              the VM another node runs), the checkpoints'
 *              memory files, its NVRAM and TPM state (unless
 *              keep_disks), the saved state and the VM's own files,
 *              drop rows--> done
 *   vm.import-libvirt  as vm.create, a disk with a source in the details
 *              (libvirt_import.c, copying) made by qemu-img convert
 *   vm.export, vm.import: export.c */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "export.h"
#include "failpoint.h"
#include "cloudinit.h"
#include "firmware.h"
#include "fsutil.h"
#include "job.h"
#include "libvirt_import.h"
#include "log.h"
#include "qcow2.h"
#include "save.h"
#include "util.h"
#include "vm.h"

#define START_TIMEOUT_MS 60000
#define QMP_TIMEOUT_MS 10000

const char *const vm_phase_names[VM_PH__COUNT] = {
	[VM_PH_START] = "start", [VM_PH_LAUNCH] = "launch",
	[VM_PH_RESTORING] = "restoring", [VM_PH_CONT] = "cont",
	[VM_PH_WAIT] = "wait", [VM_PH_SENT] = "sent",
};

/* ---- vm.create ---- */

static void
create_rollback_code(struct job *job, int code, const char *why)
{
	struct vm *vm = vm_of(job);
	/* A replica onto the operator's copies (--initial existing): they
	 * are not ours to remove, nor to create. */
	bool existing = json_is_true(json_object_get(job->details,
	    "existing"));

	for (size_t i = 0; vm && !existing && i < vm->row->n_disks; i++)
		if (vm->row->disks[i].owned)
			(void)unlink(vm->row->disks[i].path);
	job->child = child_free(job->child);	/* a qemu-img in flight */
	if (vm && !existing) {
		firmware_files_remove(vm->row);
		cloudinit_seed_cleanup(vm->row, true);
	}
	if (vm) {
		(void)store_vm_delete(vm->h->store, vm->row->uuid);
		job_finish(job, code, "vm '%s' not created: %s", vm->row->name,
		    why);
		vm_remove(vm);
		return;
	}
	job_finish(job, code, "vm not created: %s", why);
}

static void
create_rollback(struct job *job, const char *why)
{
	create_rollback_code(job, -EIO, why);
}

static int
create_cancel(struct job *job, struct err *err)
{
	(void)err;
	create_rollback_code(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

static void
create_on_qemu_img(struct child *c, int status, void *data)
{
	struct job *job = data;
	int64_t next = json_integer_value(json_object_get(job->details,
	    "next_disk"));

	(void)c;
	job->child = child_free(job->child);
	if (status != 0) {
		create_rollback(job, json_object_get(job->details,
		    "sources") ? "qemu-img convert failed (is the domain "
		    "running in libvirt? see the ternd log)" :
		    "qemu-img create failed (see the ternd log)");
		return;
	}
	json_object_set_new(job->details, "next_disk", json_integer(next + 1));
	job_set_progress(job, next + 1, vm_of(job)->row->n_disks, "steps");
	job_poke(job);
}

/* Disk i made new, or (vm.import-libvirt copying) converted from its
 * source in the details into a qcow2 of its own. */
static int
create_disk(struct job *job, struct vm *vm, size_t i)
{
	const json_t *src = json_array_get(json_object_get(job->details,
	    "sources"), i);
	const char *path = json_string_value(json_object_get(src, "path"));
	const char *fmt = json_string_value(json_object_get(src, "format"));
	const char *argv[] = { vm->h->cfg.qemu_img, "convert", "-q", "-f",
		fmt, "-O", "qcow2", path, vm->row->disks[i].path, NULL };

	if (!path || !fmt)
		return vm_image_create(job, vm->row->disks[i].path,
		    vm->row->disks[i].size_bytes, NULL, create_on_qemu_img);
	return job_spawn(job, argv, NULL, create_on_qemu_img);
}

static void
create_on_seed(struct child *c, int status, void *data)
{
	struct job *job = data;

	(void)c;
	job->child = child_free(job->child);
	if (status != 0) {
		create_rollback(job, "genisoimage failed to make the "
		    "cloud-init seed (see the ternd log)");
		return;
	}
	cloudinit_seed_cleanup(vm_of(job)->row, false);
	json_object_set_new(job->details, "seed_made", json_true());
	job_poke(job);
}

/* Once the disks are there: the NVRAM and TPM directory, then the
 * cloud-init seed (a child).  0 all made, 1 waiting, -1 rolled back. */
static int
create_guest_files(struct job *job, struct vm *vm)
{
	struct err err = { 0 };

	if (!json_is_true(json_object_get(job->details, "files_made"))) {
		if (firmware_files_make(vm->h, vm->row, &err) < 0) {
			create_rollback(job, err.msg);
			return -1;
		}
		json_object_set_new(job->details, "files_made", json_true());
	}
	if (!json_object_get(job->details, "seed") ||
	    json_is_true(json_object_get(job->details, "seed_made")))
		return 0;
	if (cloudinit_seed_spawn(job, vm->row, create_on_seed, &err) < 0) {
		create_rollback(job, err.msg);
		return -1;
	}
	return 1;
}

static void
create_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	size_t next;

	if (vm_job_gone(job) || job->child)
		return;
	if (job->recovering) {
		create_rollback(job, "ternd restarted while it was created");
		return;
	}
	next = json_integer_value(json_object_get(job->details, "next_disk"));
	while (next < vm->row->n_disks && (!vm->row->disks[next].owned ||
	    (json_is_true(json_object_get(job->details, "existing")) &&
	    access(vm->row->disks[next].path, F_OK) == 0)))
		next++;
	if (next >= vm->row->n_disks) {
		if (create_guest_files(job, vm) != 0)
			return;
		if (json_is_true(json_object_get(job->details, "replica")))
			vm_set_state(vm, VM_REPLICA, "replica vm created");
		else
			vm_set_state(vm, VM_OFF, "vm created");
		job_finish(job, 0, NULL);
		return;
	}
	if (failpoint_check("vm.create.disk", NULL) == FP_FAIL) {
		create_rollback(job, "failpoint vm.create.disk");
		return;
	}
	json_object_set_new(job->details, "next_disk", json_integer(next));
	if (create_disk(job, vm, next) < 0)
		create_rollback(job, "cannot run qemu-img");
}

const struct job_ops job_vm_create = { .type = "vm.create",
    .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = create_step,
	    .cancel = create_cancel };
/* A libvirt domain's import (libvirt_import.c): the same steps. */
const struct job_ops job_vm_import_libvirt = {
	.type = "vm.import-libvirt", .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = create_step,
	.cancel = create_cancel };

/* ---- vm.start ---- */

static void
start_fail_code(struct job *job, int code, const char *why)
{
	struct vm *vm = vm_of(job);

	vm_kill(vm);
	if (vm->h->vm_lease)
		(void)vm->h->vm_lease(vm, job, HOST_LEASE_DROP, NULL);
	if (vm->pidfd < 0 && !vm->launcher)
		vm_set_state(vm, VM_OFF, NULL);
	/* else the exit handler sets OFF (state is STARTING) */
	job_finish(job, code, "vm '%s' did not start: %s", vm->row->name,
	    why);
}

static void
start_fail(struct job *job, const char *why)
{
	start_fail_code(job, -EIO, why);
}

/* Until the vCPUs run, a start can be undone: QEMU is killed, VM off. */
static int
start_cancel(struct job *job, struct err *err)
{
	(void)err;
	if (vm_of(job) && vm_of(job)->state == VM_RUNNING) {
		job_finish(job, 0, NULL);
		return 0;
	}
	start_fail_code(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

static void
start_on_cont(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{

	if (ret)
		vm->vcpus_running = true;
	else
		free(vm->last_error), vm->last_error = xstrdup(e->msg);
	if (job)
		job_poke(job);
}

static void
start_launch(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct err err = { 0 };
	int r;

	if (host_mem_admit_vm(vm->h, vm->row, HOST_MEM_AVAILABLE, &err) < 0) {
		job_finish(job, err.code, "%s", err.msg);
		return;
	}
	/* shared storage in a cluster: the VM's lease first (src/cluster) */
	if (vm->h->vm_lease && (r = vm->h->vm_lease(vm, job,
	    HOST_LEASE_TAKE, &err)) != 0) {
		if (r < 0)
			job_finish(job, err.code, "%s", err.msg);
		return;
	}
	vm->incoming = vm->row->state_file != NULL;
	vm->track_step = 0;
	vm->track_pending = 0;
	vm_set_state(vm, VM_STARTING, NULL);
	if (vm_launch(vm, &err) < 0) {
		vm_set_state(vm, vm_down_state(vm), NULL);
		job_finish(job, err.code, "%s", err.msg);
		return;
	}
	job_set_phase(job, VM_PH_LAUNCH);
}

/* The vCPUs run: a restored VM's state file is spent. */
static void
start_done(struct job *job)
{
	struct vm *vm = vm_of(job);
	bool restored = json_is_true(json_object_get(job->details,
	    "restore"));

	if (restored && vm->row->state_file) {
		vm_forget_saved_state(vm);
		agent_set_time(vm);
	}
	vm_set_state(vm, VM_RUNNING, restored ? "vm restored from its saved "
	    "state" : "vm started");
	job_finish(job, 0, NULL);
}

/* The lease (if the VM needs one) held by this QEMU before its vCPUs
 * run: 0 go on, else wait or the start failed. */
static int
start_lease_bound(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct err err = { 0 };
	int r = vm->h->vm_lease(vm, job, HOST_LEASE_BIND, &err);

	if (r < 0)
		start_fail_code(job, err.code, err.msg);
	return r;
}

/* Phase start: launch QEMU for a VM that is down; false when the job
 * ended or has nothing more to do now. */
static bool
start_begin(struct job *job, struct vm *vm)
{
	if (!job_phase_is(job, VM_PH_START))
		return true;
	if (vm_is_down(vm))
		start_launch(job);
	else if (vm->state == VM_RUNNING)
		job_finish(job, 0, NULL);
	else if (vm->state != VM_STARTING)
		job_finish(job, -EBUSY, "vm '%s' is %s", vm->row->name,
		    vm_state_name(vm->state));
	else
		job_set_phase(job, VM_PH_LAUNCH);
	return !job->finished && vm->state == VM_STARTING;
}

/* QEMU launched and answering on QMP, its saved state (if any) loaded:
 * true; else the job waits or failed. */
static bool
start_qemu_up(struct job *job, struct vm *vm)
{
	int r;

	if (vm->launcher)
		return false;
	if (vm->pidfd < 0) {
		start_fail(job, vm->last_error ? vm->last_error :
		    "QEMU exited");
		return false;
	}
	if (job_past_deadline(job, START_TIMEOUT_MS)) {
		start_fail(job, "QEMU did not answer on QMP in time");
		return false;
	}
	if (!vm->qmp_ready)
		return false;
	if (job->recovering && json_is_true(json_object_get(job->details,
	    "restore"))) {
		start_fail(job, "ternd restarted during the restore; the saved "
		    "state is intact, start the VM again");
		return false;
	}
	if (!vm->incoming)
		return true;
	if ((r = restore_step(job)) < 0) {
		_cleanup_free_ char *why = xasprintf("cannot restore the saved "
		    "state: %s", vm->last_error ? vm->last_error : "QEMU "
		    "refused it");

		start_fail(job, why);
	}
	if (r <= 0)
		return false;
	vm->incoming = false;
	return true;
}

/* The vCPUs run once the lease and the change tracking are in order
 * (or, "paused", never: src/failover's final cycle). */
static void
start_cont(struct job *job, struct vm *vm)
{
	if (vm->h->vm_lease && start_lease_bound(job) != 0)
		return;
	if (vm->h->before_cont && vm->h->before_cont(vm, job) > 0)
		return;
	if (json_is_true(json_object_get(job->details, "paused"))) {
		/* the disks (and their change tracking, checked above)
		 * open, no vCPU ever run */
		vm_set_state(vm, VM_PAUSED, "vm started paused (its vCPUs "
		    "never run)");
		job_finish(job, 0, NULL);
		return;
	}
	if (job_phase_is(job, VM_PH_CONT) && vm->last_error) {
		start_fail(job, vm->last_error);
		return;
	}
	if (!job_phase_is(job, VM_PH_CONT) || job->recovering) {
		job->recovering = false;
		job_set_phase(job, VM_PH_CONT);
		if (vm_qmp(vm, job, "cont", NULL, QMP_TIMEOUT_MS,
		    start_on_cont) < 0)
			start_fail(job, "QMP connection lost");
	}
}

static void
start_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	uint64_t delay_ms = 0;

	if (vm_job_gone(job) || !start_begin(job, vm) ||
	    !start_qemu_up(job, vm))
		return;
	if (!job->fp_done && failpoint_check("vm.start.before-cont",
	    &delay_ms) == FP_DELAY) {
		job->fp_done = true;
		job_wake_after(job, delay_ms);
		return;
	}
	if (vm->vcpus_running)
		start_done(job);
	else
		start_cont(job, vm);
}

const struct job_ops job_vm_start = { .type = "vm.start",
    .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = start_step, .cancel = start_cancel };

/* ---- vm.stop ---- */

static void
stop_step(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (vm_job_gone(job))
		return;
	if (vm->pidfd < 0 && !vm->launcher) {
		bool had_state = vm->row->state_file != NULL;

		if (had_state)
			vm_forget_saved_state(vm);
		if (vm->state != VM_OFF && vm->state != VM_CRASHED)
			vm_set_state(vm, VM_OFF, NULL);
		host_event(vm->h, "info", vm, job->row->id, "vm turned off%s",
		    had_state ? " (saved state discarded)" : "");
		job_finish(job, 0, NULL);
		return;
	}
	if (job_phase_is(job, VM_PH_START) || job->recovering) {
		job->recovering = false;
		if (vm->state != VM_STOPPING)
			vm_set_state(vm, VM_STOPPING, NULL);
		job_set_phase(job, VM_PH_WAIT);
		if (vm_qmp(vm, job, "quit", NULL, QMP_TIMEOUT_MS, NULL) < 0)
			vm_kill(vm);
		failpoint_check("vm.stop.sent", NULL);
	}
	if (job_past_deadline(job, vm->h->cfg.stop_timeout_ms)) {
		vm_kill(vm);
		job_wake_after(job, 1000);
	}
}

/* Stop, pause, resume and delete have no cancel: once running they run to
 * their end (turning off cannot be taken back half way). */
const struct job_ops job_vm_stop = { .type = "vm.stop",
    .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = stop_step };

/* ---- vm.pause / vm.resume ---- */

static void
pause_resume_step(struct job *job, bool pause)
{
	struct vm *vm = vm_of(job);
	enum vm_state from = pause ? VM_RUNNING : VM_PAUSED;
	enum vm_state to = pause ? VM_PAUSED : VM_RUNNING;

	if (vm_job_gone(job))
		return;
	if (vm->qmp_ready && vm->vcpus_running != pause && vm->pidfd >= 0) {
		if (vm->state != to)
			vm_set_state(vm, to, pause ? "vm paused" :
			    "vm resumed");
		if (!pause)
			agent_set_time(vm);
		job_finish(job, 0, NULL);
		return;
	}
	if (vm->state != from && vm->state != to) {
		job_finish(job, -EBUSY, "vm '%s' is %s", vm->row->name,
		    vm_state_name(vm->state));
		return;
	}
	if (job_past_deadline(job, QMP_TIMEOUT_MS)) {
		job_finish(job, -ETIMEDOUT, "QEMU did not %s the VM in time",
		    pause ? "pause" : "resume");
		return;
	}
	if (!vm->qmp_ready || job_phase_is(job, VM_PH_SENT))
		return;
	job_set_phase(job, VM_PH_SENT);
	if (vm_qmp(vm, job, pause ? "stop" : "cont", NULL, QMP_TIMEOUT_MS,
	    NULL) < 0)
		job_finish(job, -ENOTCONN, "QMP connection lost");
}

static void
pause_step(struct job *job)
{
	pause_resume_step(job, true);
}

static void
resume_step(struct job *job)
{
	pause_resume_step(job, false);
}

const struct job_ops job_vm_pause = { .type = "vm.pause",
    .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = pause_step };
const struct job_ops job_vm_resume = { .type = "vm.resume",
    .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = resume_step };

/* ---- vm.delete ---- */

static void
remove_dir_files(const char *dir, const char *const *files)
{
	for (size_t i = 0; files[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);

		(void)unlink(p);
	}
	(void)rmdir(dir);
}

/* Its checkpoints' memory files, and their images of owned disks. */
static void
delete_checkpoint_files(struct vm *vm, bool keep)
{
	struct checkpoint_row *rows = NULL;
	size_t n = 0;

	(void)store_checkpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_loads(rows[i].images, 0, NULL);

		if (rows[i].state_file)
			(void)unlink(rows[i].state_file);
		for (size_t k = 0; !keep && k < vm->row->n_disks; k++) {
			const char *p = json_string_value(json_object_get(o,
			    vm->row->disks[k].name));

			if (p && vm->row->disks[k].owned)
				(void)unlink(p);
		}
		json_decref(o);
	}
	checkpoint_rows_free(rows, n);
}

/* The files below an owned disk's image that are this VM's: in its
 * directory and named NAME-... (a failover's recovery points, an
 * adopted copy's chain: src/failover); a chain that is not the VM's
 * own (a test failover's overlays on a replica's points) stops there. */
static void
delete_chain(const struct vm *vm, const char *image)
{
	_cleanup_free_ char *cur = xstrdup(image);
	_cleanup_free_ char *dir = xstrdup(image);
	_cleanup_free_ char *prefix = xasprintf("%s-", vm->row->name);
	char *slash = strrchr(dir, '/');

	if (slash)
		slash[1] = '\0';
	for (int n = 0; n < 64; n++) {
		char *next = NULL;
		const char *base;

		if (qcow2_backing(cur, &next) < 0 || !next)
			return;
		base = next + strlen(dir);
		if (strncmp(next, dir, strlen(dir)) != 0 || strchr(base, '/') ||
		    strncmp(base, prefix, strlen(prefix)) != 0) {
			free(next);
			return;
		}
		free(cur);
		cur = next;
		(void)unlink(cur);
	}
}

static void
delete_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	bool keep = json_is_true(json_object_get(job->details, "keep_disks"));
	bool stale = vm_of(job) && vm_of(job)->h->vm_stale &&
	    vm_of(job)->h->vm_stale(vm_of(job));
	/* vmlinuz, initrd.img: boot files an import copied in (export.h). */
	static const char *const state_files[] = { "console.log", "vmlinuz",
		"initrd.img", NULL };
	_cleanup_free_ char *sdir = NULL;

	if (vm_job_gone(job))
		return;
	if (vm->pidfd >= 0 || vm->launcher) {
		job_finish(job, -EBUSY, "vm '%s' is running; turn it off "
		    "first", vm->row->name);
		return;
	}
	/* A stale copy's disks are the running VM's (src/cluster). */
	keep = keep || stale;
	vm_set_state(vm, VM_DELETING, NULL);
	delete_checkpoint_files(vm, keep);
	for (size_t i = 0; !keep && i < vm->row->n_disks; i++)
		if (vm->row->disks[i].owned) {
			delete_chain(vm, vm->row->disks[i].path);
			(void)unlink(vm->row->disks[i].path);
		}
	/* Its UEFI variables, TPM state and seed go with its disks. */
	if (!keep) {
		firmware_files_remove(vm->row);
		cloudinit_seed_cleanup(vm->row, true);
	}
	/* A saved state is the VM's own, useless without it. */
	if (vm->row->state_file)
		(void)unlink(vm->row->state_file);
	sdir = vm_state_path(vm, NULL);
	vm_remove_run_files(vm);
	remove_dir_files(sdir, state_files);
	/* Its replication goes with it (the replica stays: src/replica). */
	if (vm->h->repl_leaving)
		vm->h->repl_leaving(vm, true, stale);
	(void)store_vm_delete(vm->h->store, vm->row->uuid);
	host_event(vm->h, "info", vm, job->row->id, "vm deleted%s", stale ?
	    " (a stale copy: its disks are the vm another node runs)" :
	    keep ? " (disks kept)" : "");
	job_finish(job, 0, NULL);
	vm_remove(vm);
}

const struct job_ops job_vm_delete = { .type = "vm.delete",
    .phases = vm_phase_names,
	.n_phases = VM_PH__COUNT, .step = delete_step };

size_t
host_stop_vms(struct host *h)
{
	const char *policy = h->cfg.on_host_shutdown;
	size_t n = 0;

	if (!policy || streq(policy, "keep") || streq(policy, "drain"))
		return 0;	/* drain: the cluster's (src/daemon) */
	for (size_t i = 0; i < h->n_vms; i++) {
		struct vm *vm = h->vms[i];
		bool shut = streq(policy, "shutdown") &&
		    vm->state == VM_RUNNING;
		struct job *job;
		struct err err = { 0 };

		if ((vm->state != VM_RUNNING && vm->state != VM_PAUSED) ||
		    vm_job(vm))
			continue;
		if (vm_job_create(h, shut ? &job_vm_shutdown : &job_vm_save, vm,
		    shut ? json_pack("{si sb}", "timeout_s", 60, "force", 1) :
		    NULL, &job, &err) < 0) {
			log_error("vm=%s cannot %s on host shutdown: %s",
			    vm->row->name, shut ? "shut down" : "save",
			    err.msg);
			continue;
		}
		host_event(h, "info", vm, job->row->id, "host shutting down: "
		    "%s the VM", shut ? "shutting down" : "saving");
		job_start(job);
		n++;
	}
	return n;
}
