/* vm_job.h - what the vm module adds to the job layer (src/job/job.h): a
 * job whose subject is a VM ("vm:UUID"), found from the VM and back, the
 * VM's jobs poked when something about the VM changes, and the job types
 * of this module.  A job never keeps a pointer to its VM: vm_of() looks it
 * up, so a VM that went away reads as NULL, never as freed memory. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "job.h"

struct host;
struct vm;

/* The host whose job table holds job. */
struct host *host_of(const struct job *job);
/* The VM job acts on; NULL when it has none, when it is gone, or once the
 * job finished. */
struct vm *vm_of(const struct job *job);
/* The job holding vm exclusively (the one that drives it), or NULL. */
struct job *vm_job(const struct vm *vm);
/* Poke every job holding a claim on vm: something about it changed. */
void vm_poke_jobs(const struct vm *vm);
/* "vm:UUID" into buf. */
void vm_subject(const struct vm *vm, char *buf, size_t len);
/* Create a job of ops claiming vm exclusively (or a host job, shared,
 * when vm is NULL).  As job_create: -EBUSY with err naming the job that
 * holds the VM. */
int vm_job_create(struct host *h, const struct job_ops *ops, struct vm *vm,
    json_t *details, struct job **ret_job, struct err *err);
/* For step(): finish the job and return true when its VM is gone. */
bool vm_job_gone(struct job *job);
/* Register this module's job types with h's table (at start-up). */
void vm_jobs_register(struct host *h);
/* The owner's event hook of the job table (host_event about the job's
 * VM). */
void vm_job_event(struct job_table *t, struct job *job, const char *severity,
    const char *msg);

/* The phases of the lifecycle jobs (vm.create, vm.start, vm.stop,
 * vm.pause, vm.resume, vm.delete: vm_jobs.c; a restore runs inside
 * vm.start: save.c).  They share one table: each uses a few of them. */
enum vm_phase { VM_PH_START, VM_PH_LAUNCH, VM_PH_RESTORING, VM_PH_CONT,
		VM_PH_WAIT, VM_PH_SENT, VM_PH__COUNT };
extern const char *const vm_phase_names[VM_PH__COUNT];

/* The job types of the vm module (vm_jobs.c). */
extern const struct job_ops job_vm_create, job_vm_start, job_vm_stop,
    job_vm_pause, job_vm_resume, job_vm_delete;
/* agent_jobs.c, save.c */
extern const struct job_ops job_vm_shutdown, job_vm_quiesce, job_vm_save;
