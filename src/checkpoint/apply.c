/* apply.c - vm.checkpoint-apply: the VM goes back to a checkpoint.  Its
 * current state is discarded (as in Hyper-V: take a checkpoint first to
 * keep it); the later checkpoints stay in the tree.
 *
 *   start --> [QEMU up: stop (quit, SIGKILL after the stop timeout) -->]
 *   prepare (qemu-img: a new overlay per disk over the checkpoint's frozen
 *   image) --> record (one store transaction: the disks' new files, the
 *   checkpoint current; then the old overlays removed, a saved state
 *   discarded, the reference points marked incomplete: the disks went
 *   back) --> done: the VM off, or saved with the checkpoint's memory (a
 *   standard one): starting it resumes where the checkpoint was taken
 *
 *   a failure before record: the new overlays removed; the VM keeps its
 *   disks (turned off, if it was stopped).  ternd restarted: the same step
 *   runs again (a disk already on its new file is left). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cp_int.h"
#include "log.h"
#include "refpoint.h"
#include "save.h"
#include "util.h"

enum ap_phase { AP_PH_START, AP_PH_STOP, AP_PH_PREPARE, AP_PH_RECORD,
		AP_PH__COUNT };
static const char *const ap_phase_names[AP_PH__COUNT] = {
	[AP_PH_START] = "start", [AP_PH_STOP] = "stop",
	[AP_PH_PREPARE] = "prepare", [AP_PH_RECORD] = "record",
};

static void
ap_fail(struct job *job, const char *why)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;

	json_array_foreach(cp_disks(job), i, d)
		if (json_is_true(json_object_get(d, "made")))
			(void)unlink(cp_str(d, "new"));
	job_finish(job, -EIO, "vm '%s' not returned to checkpoint '%s': %s",
	    vm->row->name, cp_str(job->details, "name"), why);
}

/* Each disk: its file now, the checkpoint's image, a new overlay. */
static int
ap_start(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_tree t = { 0 };
	struct checkpoint_row *c;
	json_t *disks = json_array();
	int r = -ENOENT;

	if (cp_tree_load(vm, &t) == 0 &&
	    (c = cp_tree_find(&t, cp_str(job->details, "name")))) {
		r = 0;
		for (size_t i = 0; i < vm->row->n_disks && r == 0; i++) {
			const struct disk_row *d = &vm->row->disks[i];
			_cleanup_free_ char *img = cp_image(c, d->name);
			_cleanup_free_ char *ov = img ? cp_overlay_path(vm,
			    d->name, img) : NULL;

			if (!img) {
				r = -ENOENT;
				break;
			}
			json_array_append_new(disks, json_pack("{ss ss ss ss "
			    "sI}", "name", d->name, "old", d->path, "image",
			    img, "new", ov, "size", (json_int_t)d->size_bytes));
		}
		if (c->state_file)
			json_object_set_new(job->details, "state_file",
			    json_string(c->state_file));
	}
	cp_tree_free(&t);
	json_object_set_new(job->details, "disks", disks);
	return r;
}

static void
ap_stop(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);

	if (vm->pidfd < 0 && !vm->launcher) {
		cp_next(job, AP_PH_PREPARE);
		return;
	}
	if (c->sub == 0 || job->recovering) {
		c->sub = 1;
		job->recovering = false;
		if (vm->state != VM_STOPPING)
			vm_set_state(vm, VM_STOPPING, NULL);
		if (vm_qmp(vm, job, "quit", NULL, CP_QMP_MS, NULL) < 0)
			vm_kill(vm);
	}
	if (job_past_deadline(job, vm->h->cfg.stop_timeout_ms)) {
		vm_kill(vm);
		job_wake_after(job, 1000);
	}
}

static void
on_made(struct child *ch, int status, void *data)
{
	struct job *job = data;
	json_t *d = json_array_get(cp_disks(job), cp_ctx(job)->sub);

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		ap_fail(job, "qemu-img could not make an overlay (see the "
		    "VM's checkpoint.log)");
		return;
	}
	json_object_set_new(d, "made", json_true());
	cp_ctx(job)->sub++;
	job_poke(job);
}

static void
ap_prepare(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	json_t *d = json_array_get(cp_disks(job), c->sub);

	if (job->child)
		return;
	if (!d)
		cp_next(job, AP_PH_RECORD);
	else if (cp_make_overlay(job, d, "image", on_made) < 0)
		ap_fail(job, "cannot run qemu-img");
}

static int
ap_record_rows(struct job *job, void *arg)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;
	int r;

	(void)arg;
	r = store_checkpoint_set_current(vm->h->store, vm->row->uuid,
	    cp_str(job->details, "name"));

	json_array_foreach(cp_disks(job), i, d)
		if (r == 0)
			r = cp_set_disk(vm, cp_str(d, "name"), cp_str(d,
			    "new"));
	return r;
}

/* The checkpoint's memory as the VM's saved state (a link: the restore
 * removes the VM's name for it, never the checkpoint's). */
static bool
ap_memory(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *sf = cp_str(job->details, "state_file");
	_cleanup_free_ char *path = NULL;

	if (!sf)
		return false;
	path = save_state_path(vm);
	(void)unlink(path);
	if (link(sf, path) == -1) {
		host_event(vm->h, "warning", vm, job->row->id, "vm '%s': the "
		    "memory of checkpoint '%s' cannot be linked as its saved "
		    "state (%s): the VM is off", vm->row->name,
		    cp_str(job->details, "name"), strerror(errno));
		return false;
	}
	free(vm->row->state_file);
	vm->row->state_file = xstrdup(path);
	(void)store_vm_set_text(vm->h->store, vm->row->uuid, "state_file",
	    path);
	vm_set_state(vm, VM_SAVED, NULL);
	return true;
}

static void
ap_record(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_tree t = { 0 };
	_cleanup_free_ char *why = NULL;
	json_t *d;
	size_t i;

	if (cp_store_tx(job, ap_record_rows, NULL) < 0) {
		ap_fail(job, "cannot record the disks' new files");
		return;
	}
	(void)cp_tree_load(vm, &t);
	json_array_foreach(cp_disks(job), i, d)
		if (!cp_tree_holds(&t, cp_str(d, "old")))
			(void)unlink(cp_str(d, "old"));
	cp_tree_free(&t);
	vm_forget_saved_state(vm);
	if (vm->state == VM_CRASHED || vm->state == VM_SAVED)
		vm_set_state(vm, VM_OFF, NULL);
	why = xasprintf("checkpoint '%s' applied: the disks went back to it",
	    cp_str(job->details, "name"));
	track_lose(vm, NULL, NULL, why);
	host_event(vm->h, "info", vm, job->row->id, "vm '%s' returned to "
	    "checkpoint '%s'%s", vm->row->name, cp_str(job->details, "name"),
	    ap_memory(job) ? ": saved with its memory, start it to resume "
	    "there" : ": off, start it when ready");
	job_finish(job, 0, NULL);
}

static void
ap_step(struct job *job)
{
	if (vm_job_gone(job))
		return;
	switch ((enum ap_phase)job->phase) {
	case AP_PH_START:
		if (ap_start(job) < 0) {
			ap_fail(job, "the checkpoint is gone");
			return;
		}
		cp_next(job, AP_PH_STOP);
		break;
	case AP_PH_STOP:	ap_stop(job); break;
	case AP_PH_PREPARE:	ap_prepare(job); break;
	case AP_PH_RECORD:	ap_record(job); break;
	case AP_PH__COUNT:	break;
	}
}

const struct job_ops job_vm_checkpoint_apply = {
    .type = "vm.checkpoint-apply", .phases = ap_phase_names,
    .n_phases = AP_PH__COUNT, .step = ap_step, .priv_free = cp_ctx_free };
