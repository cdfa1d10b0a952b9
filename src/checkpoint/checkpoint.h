/* checkpoint.h - checkpoints of a VM (Hyper-V's): a named point of its
 * disks, and with --kind standard of its memory, that the VM can go back
 * to.  External qcow2 overlays: taking one freezes each disk's image and
 * the VM writes on in a new overlay; the checkpoints form a tree (apply
 * goes back and later checkpoints stay), the VM's disks build on the
 * current one.  Jobs: vm.checkpoint (create.c), vm.checkpoint-apply
 * (apply.c), vm.checkpoint-delete (delete.c: merged online or offline). */
#pragma once

#include <jansson.h>

#include "err.h"

struct host;
struct vm;
struct job;

/* Register the checkpoint job types (at start-up). */
void checkpoint_init(struct host *h);

/* body {"name": N (NULL: a time stamp), "kind": "production"|"standard"}:
 * every check first (name, clash, state), then the vm.checkpoint job. */
int checkpoint_create_start(struct host *h, struct vm *vm,
    const json_t *body, struct job **ret_job, struct err *err);
/* The VM goes back to checkpoint name (vm.checkpoint-apply). */
int checkpoint_apply_start(struct host *h, struct vm *vm, const char *name,
    struct job **ret_job, struct err *err);
/* Checkpoint name goes, its data merged (vm.checkpoint-delete). */
int checkpoint_delete_start(struct host *h, struct vm *vm, const char *name,
    struct job **ret_job, struct err *err);
/* {"checkpoints": [{name, parent, kind, consistency, created_ms, current,
 * status, memory}], "current": NAME|null} as the API shows them (hidden
 * ones left out, their children shown under the nearest one shown). */
json_t *checkpoint_list_json(struct vm *vm);

extern const struct job_ops job_vm_checkpoint, job_vm_checkpoint_apply,
    job_vm_checkpoint_delete;
