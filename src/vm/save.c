/* save.c - vm.save and the restore half of vm.start.
 *
 *   vm.save  start --stop vCPUs--> stopping --getfd + migrate fd:--> migrating
 *            --completed--> sync (child `sync FILE`) --rename, record-->
 *            quitting --QEMU exits--> done: SAVED
 *            any failure before the rename: migrate_cancel, remove the
 *            partial file, vCPUs back as they were; a restart does the same
 *   restore  (in vm.start, QEMU started with -incoming defer)
 *            getfd + migrate-incoming fd: --> restoring --completed--> cont;
 *            the state file is removed only once the VM runs; any failure
 *            kills QEMU and leaves the VM SAVED with its file intact.
 *
 * The file is written as NAME.state.partial and renamed only after it is on
 * disk, so a SAVED VM always has a whole state file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "job.h"
#include "log.h"
#include "save.h"
#include "util.h"
#include "vm.h"

#define SAVE_POLL_MS 200
#define SAVE_QMP_MS 10000
#define SAVE_BANDWIDTH (1LL << 40)	/* never QEMU's 128 MiB/s default */

/* vm.save's phases.  Transitions: save_step() (start -> stopping),
 * save_begin_transfer() (-> migrating), save_sync() (-> sync), save_on_synced() and
 * save_migrating() (-> quitting). */
enum save_phase { SAVE_PH_START, SAVE_PH_STOPPING, SAVE_PH_MIGRATING,
		  SAVE_PH_SYNC, SAVE_PH_QUITTING, SAVE_PH__COUNT };
static const char *const save_phase_names[SAVE_PH__COUNT] = {
	[SAVE_PH_START] = "start", [SAVE_PH_STOPPING] = "stopping",
	[SAVE_PH_MIGRATING] = "migrating", [SAVE_PH_SYNC] = "sync",
	[SAVE_PH_QUITTING] = "quitting",
};

char *
save_state_path(const struct vm *vm)
{
	_cleanup_free_ char *copy = NULL;

	if (vm->row->n_disks == 0)
		return vm_state_path(vm, "saved.state");
	copy = xstrdup(vm->row->disks[0].path);
	return xasprintf("%s/%s.state", dirname(copy), vm->row->name);
}

static char *
save_partial_path(const struct vm *vm)
{
	_cleanup_free_ char *p = save_state_path(vm);

	return xasprintf("%s.partial", p);
}

/* query-migrate: progress into the job, status into details. */
static void
save_on_query(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	json_t *ram = json_object_get(ret, "ram");
	const char *st = json_string_value(json_object_get(ret, "status"));

	if (!job)
		return;
	if (!ret) {
		free(vm->last_error);
		vm->last_error = xstrdup(e->msg);
	} else {
		json_object_set_new(job->details, "migration",
		    json_string(st ? st : "none"));
		/* The bytes sent stop short of the memory size (zero pages
		 * cost nothing): a finished transfer did all of it. */
		if (ram && streq(st, "completed"))
			job_set_progress(job, json_integer_value(
			    json_object_get(ram, "total")), json_integer_value(
			    json_object_get(ram, "total")), "bytes");
		else if (ram)
			job_set_progress(job, json_integer_value(
			    json_object_get(ram, "transferred")),
			    json_integer_value(json_object_get(ram, "total")),
			    "bytes");
		if (streq(st, "failed") || streq(st, "cancelled")) {
			free(vm->last_error);
			vm->last_error = xasprintf("QEMU reported the state "
			    "transfer %s%s%s", st, json_object_get(ret,
			    "error-desc") ? ": " : "", json_string_value(
			    json_object_get(ret, "error-desc")) ?: "");
		}
	}
	job_poke(job);
}

const char *
save_migration_status(const struct job *job)
{
	return json_string_value(json_object_get(job->details, "migration"));
}

/* The reply to quit: QEMU that refuses to quit is killed (the state file
 * is whole on disk by then). */
static void
save_on_quit(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)e;
	if (!ret)
		vm_kill(vm);
	if (job)
		job_poke(job);
}

/* Hand QEMU an fd on path (opened with flags) under fdname. */
static int
save_pass_fd(struct vm *vm, struct job *job, const char *path, int flags,
    const char *fdname)
{
	int fd = open(path, flags | O_CLOEXEC, 0600);
	int r;

	if (fd == -1)
		return -errno;
	r = vm_qmp_fd(vm, job, "getfd", json_pack("{ss}", "fdname", fdname),
	    fd, SAVE_QMP_MS, vm_reply_first_error);
	close(fd);
	return r;
}

static void
save_fail(struct job *job, const char *why)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *partial = save_partial_path(vm);
	bool was_running = json_is_true(json_object_get(job->details,
	    "was_running"));

	(void)vm_qmp(vm, job, "migrate_cancel", NULL, SAVE_QMP_MS, NULL);
	(void)unlink(partial);
	if (vm->pidfd >= 0) {
		if (was_running)
			(void)vm_qmp(vm, job, "cont", NULL, SAVE_QMP_MS, NULL);
		vm_set_state(vm, was_running ? VM_RUNNING : VM_PAUSED, NULL);
	} else {
		vm_set_state(vm, VM_CRASHED, "QEMU exited while saving");
	}
	job_finish(job, -EIO, "vm '%s' not saved: %s; it keeps %s",
	    vm->row->name, why, was_running ? "running" : "paused");
}

int
save_transfer_start(struct job *job, const char *path)
{
	struct vm *vm = vm_of(job);

	/* A live migration may have left its settings in this QEMU: TLS,
	 * multifd (fd: cannot), the pause before switchover, the return
	 * path (a file has none) and the bitmaps (they stay in the images). */
	(void)vm_qmp(vm, job, "migrate-set-capabilities", json_pack("{s[{ss sb}"
	    "{ss sb}{ss sb}{ss sb}{ss sb}]}", "capabilities", "capability",
	    "multifd", "state", false, "capability",
	    "pause-before-switchover", "state", false, "capability",
	    "auto-converge", "state", false, "capability", "return-path",
	    "state", false, "capability", "dirty-bitmaps", "state", false),
	    SAVE_QMP_MS, vm_reply_first_error);
	(void)vm_qmp(vm, job, "migrate-set-parameters", json_pack("{sI ss}",
	    "max-bandwidth", (json_int_t)SAVE_BANDWIDTH, "tls-creds", ""),
	    SAVE_QMP_MS, vm_reply_first_error);
	if (save_pass_fd(vm, job, path, O_WRONLY | O_CREAT | O_TRUNC,
	    "tern-save") < 0)
		return -EIO;
	json_object_del(job->details, "migration");
	return vm_qmp(vm, job, "migrate", json_pack("{ss}", "uri",
	    "fd:tern-save"), SAVE_QMP_MS, vm_reply_first_error);
}

void
save_transfer_poll(struct job *job)
{
	(void)vm_qmp(vm_of(job), job, "query-migrate", NULL, SAVE_QMP_MS,
	    save_on_query);
}

static void
save_begin_transfer(struct job *job)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *partial = save_partial_path(vm);

	if (save_transfer_start(job, partial) < 0) {
		save_fail(job, "cannot open the state file");
		return;
	}
	job_set_phase(job, SAVE_PH_MIGRATING);
	job_wake_after(job, SAVE_POLL_MS);
}

static void
save_on_synced(struct child *c, int status, void *data)
{
	struct job *job = data;
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *partial = save_partial_path(vm);
	_cleanup_free_ char *final = save_state_path(vm);

	(void)c;
	job->child = child_free(job->child);
	if (status != 0 || rename(partial, final) == -1) {
		save_fail(job, "cannot write the state file to disk");
		return;
	}
	free(vm->row->state_file);
	vm->row->state_file = xstrdup(final);
	(void)store_vm_set_text(vm->h->store, vm->row->uuid, "state_file",
	    final);
	failpoint_check("vm.save.written", NULL);
	job_set_phase(job, SAVE_PH_QUITTING);
	if (vm_qmp(vm, job, "quit", NULL, SAVE_QMP_MS, save_on_quit) < 0)
		vm_kill(vm);
}

static void
save_sync(struct job *job)
{
	_cleanup_free_ char *partial = save_partial_path(vm_of(job));
	const char *argv[] = { "sync", partial, NULL };

	job_set_phase(job, SAVE_PH_SYNC);
	if (job_spawn(job, argv, NULL, save_on_synced) < 0)
		save_fail(job, "cannot run sync");
}

static void
save_migrating(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *st = save_migration_status(job);

	if (vm->last_error) {
		save_fail(job, vm->last_error);
		return;
	}
	if (streq(st, "completed")) {
		save_sync(job);
		return;
	}
	save_transfer_poll(job);
	job_wake_after(job, SAVE_POLL_MS);
}

static void
save_recover(struct job *job)
{
	struct vm *vm = vm_of(job);

	/* QMP may not be back yet: stay recovering until it is (the VM
	 * pokes its jobs then), not fall into the phases' normal path. */
	if (vm->pidfd >= 0 && !vm->row->state_file && !vm->qmp_ready)
		return;
	job->recovering = false;
	if (vm->row->state_file && vm->pidfd < 0) {
		vm_set_state(vm, VM_SAVED, "vm saved");
		job_finish(job, 0, NULL);
	} else if (vm->pidfd >= 0 && !vm->row->state_file) {
		save_fail(job, "ternd restarted during the save");
	} else if (vm->pidfd >= 0) {
		job_set_phase(job, SAVE_PH_QUITTING);
		if (vm_qmp(vm, job, "quit", NULL, SAVE_QMP_MS,
		    save_on_quit) < 0)
			vm_kill(vm);
	} else {
		save_fail(job, "QEMU exited during the save");
	}
}

static void
save_step(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (vm_job_gone(job))
		return;
	if (job->child)
		return;
	if (job->recovering) {
		save_recover(job);
		return;
	}
	if (job_phase_is(job, SAVE_PH_START)) {
		json_object_set_new(job->details, "was_running",
		    json_boolean(vm->vcpus_running));
		/* An error left by an earlier command is not this save's. */
		free(vm->last_error);
		vm->last_error = NULL;
		vm_set_state(vm, VM_SAVING, NULL);
		job_set_phase(job, SAVE_PH_STOPPING);
		if (vm->vcpus_running)
			(void)vm_qmp(vm, job, "stop", NULL, SAVE_QMP_MS,
			    vm_reply_first_error);
	}
	if (job_phase_is(job, SAVE_PH_STOPPING) && vm->last_error)
		save_fail(job, vm->last_error);	/* stop refused */
	else if (job_phase_is(job, SAVE_PH_STOPPING) && !vm->vcpus_running)
		save_begin_transfer(job);
	else if (job_phase_is(job, SAVE_PH_MIGRATING))
		save_migrating(job);
	else if (job_phase_is(job, SAVE_PH_QUITTING) && vm->pidfd < 0) {
		vm_set_state(vm, VM_SAVED, "vm saved");
		job_finish(job, 0, NULL);
	}
}

const struct job_ops job_vm_save = { .type = "vm.save",
	.phases = save_phase_names, .n_phases = SAVE_PH__COUNT,
	.step = save_step };

/* ---- restore, inside vm.start ---- */

int
restore_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *st = save_migration_status(job);

	if (job_phase_is(job, VM_PH_LAUNCH) || job_phase_is(job, VM_PH_START)) {
		json_object_set_new(job->details, "restore", json_true());
		if (save_pass_fd(vm, job, vm->row->state_file, O_RDONLY,
		    "tern-restore") < 0)
			return -1;
		(void)vm_qmp(vm, job, "migrate-incoming", json_pack("{ss}",
		    "uri",
		    "fd:tern-restore"), SAVE_QMP_MS, NULL);
		job_set_phase(job, VM_PH_RESTORING);
	}
	if (vm->last_error)
		return -1;
	if (streq(st, "completed"))
		return 1;
	save_transfer_poll(job);
	job_wake_after(job, SAVE_POLL_MS);
	return 0;
}
