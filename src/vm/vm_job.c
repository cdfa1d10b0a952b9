/* vm_job.c - the vm module's side of jobs (vm_job.h): VM subjects, the
 * lookups both ways, the event hook, and the registry of this module's
 * types.  The framework itself is src/job. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "export.h"
#include "libvirt_import.h"
#include "util.h"
#include "vm.h"

#define VM_SUBJECT "vm:"

struct host *
host_of(const struct job *job)
{
	return (struct host *)((char *)job->t - offsetof(struct host, jobs));
}

struct vm *
vm_of(const struct job *job)
{
	struct host *h = host_of(job);
	const char *uuid;

	if (job->finished || strncmp(job->subject, VM_SUBJECT, 3) != 0)
		return NULL;
	uuid = job->subject + 3;
	for (size_t i = 0; i < h->n_vms; i++)
		if (streq(h->vms[i]->row->uuid, uuid))
			return h->vms[i];
	return NULL;
}

void
vm_subject(const struct vm *vm, char *buf, size_t len)
{
	snprintf(buf, len, VM_SUBJECT "%s", vm->row->uuid);
}

struct job *
vm_job(const struct vm *vm)
{
	char s[48];

	vm_subject(vm, s, sizeof(s));
	return job_find_by_subject(&vm->h->jobs, s, true);
}

void
vm_poke_jobs(const struct vm *vm)
{
	struct job *job = NULL;
	char s[48];

	vm_subject(vm, s, sizeof(s));
	while ((job = job_next_by_subject(&vm->h->jobs, s, job)))
		job_poke(job);
}

int
vm_job_create(struct host *h, const struct job_ops *ops, struct vm *vm,
    json_t *details, struct job **ret_job, struct err *err)
{
	char id[48], what[96];
	struct job_subject s = { .id = "host", .what = "this host",
		.claim = JOB_CLAIM_SHARED };

	/* A NIC QEMU is adding or unplugging (nic.c) is not in the row
	 * yet: a move or save now would carry the wrong devices.  A stop
	 * may still end it. */
	if (vm && vm->nic_op && !streq(ops->type, "vm.stop"))
		return err_set(err, -EBUSY, "vm '%s' is changing a NIC; try "
		    "again when that ended", vm->row->name);
	if (vm) {
		vm_subject(vm, id, sizeof(id));
		snprintf(what, sizeof(what), "vm '%s'", vm->row->name);
		s = (struct job_subject){ .id = id, .what = what,
			.claim = JOB_CLAIM_EXCLUSIVE,
			.vm_uuid = vm->row->uuid, .vm_name = vm->row->name };
	}
	return job_create(&h->jobs, ops, &s, details, ret_job, err);
}

bool
vm_job_gone(struct job *job)
{
	if (vm_of(job))
		return false;
	job_finish(job, -ENOENT, "the VM no longer exists");
	return true;
}

void
vm_job_event(struct job_table *t, struct job *job, const char *severity,
    const char *msg)
{
	struct host *h = (struct host *)((char *)t - offsetof(struct host,
	    jobs));
	bool finished = job->finished;
	struct vm *vm;

	job->finished = false;	/* the VM as it was while the job ran */
	vm = vm_of(job);
	job->finished = finished;
	host_event(h, severity, vm, job->row->id, "%s", msg);
}

void
vm_jobs_register(struct host *h)
{
	static const struct job_ops *const all[] = { &job_vm_create,
		&job_vm_start, &job_vm_stop, &job_vm_pause, &job_vm_resume,
		&job_vm_delete, &job_vm_shutdown, &job_vm_quiesce,
		&job_vm_save, &job_vm_export, &job_vm_import,
		&job_vm_import_libvirt };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		job_type_register(&h->jobs, all[i]);
}
