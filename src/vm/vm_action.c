/* vm_action.c - which action a VM's state allows, the job each action
 * becomes, and the row writes a request may make.  The texts of the
 * errors are what the API answers (the e2e tests check them); nothing here
 * speaks HTTP. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "export.h"
#include "jsonutil.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"

static const struct {
	const char *name;
	const struct job_ops *ops;
	bool routed;		/* POST /v1/vms/NAME/<name> */
} vm_actions[VM_ACT__COUNT] = {
	[VM_ACT_START] = { "start", &job_vm_start, true },
	[VM_ACT_STOP] = { "stop", &job_vm_stop, true },
	[VM_ACT_PAUSE] = { "pause", &job_vm_pause, true },
	[VM_ACT_RESUME] = { "resume", &job_vm_resume, true },
	[VM_ACT_SAVE] = { "save", &job_vm_save, true },
	[VM_ACT_SHUTDOWN] = { "shutdown", &job_vm_shutdown, true },
	[VM_ACT_QUIESCE] = { "quiesce", &job_vm_quiesce, true },
	[VM_ACT_DELETE] = { "delete", &job_vm_delete, false },
	[VM_ACT_EXPORT] = { "export", &job_vm_export, false },
};

const char *
vm_action_name(enum vm_action a)
{
	return a < VM_ACT__COUNT ? vm_actions[a].name : "?";
}

int
vm_action_from_name(const char *name, struct err *err)
{
	for (int a = 0; a < VM_ACT__COUNT; a++)
		if (vm_actions[a].routed && streq(vm_actions[a].name, name))
			return a;
	return err_set(err, -ENOENT, "no such action '%s'", name);
}

/* Start: the VM must be down, not held (it failed over to another host:
 * src/failover; the hold names where and how to resolve it) and fit in
 * the memory the host has now. */
static int
vm_start_allowed(const struct vm *vm, struct err *err)
{
	int r;

	if (!vm_is_down(vm))
		return err_set(err, -EBUSY, "vm '%s' is %s, not off",
		    vm->row->name, vm_state_name(vm->state));
	if (vm->row->hold)
		return err_set(err, -EBUSY, "vm '%s' is not started here: %s",
		    vm->row->name, vm->row->hold);
	if (vm->h->may_start && (r = vm->h->may_start(vm, err)) < 0)
		return r;
	return host_mem_admit_vm(vm->h, vm->row, HOST_MEM_AVAILABLE, err);
}

int
vm_no_checkpoints(const struct vm *vm, const char *what, struct err *err)
{
	int n = store_checkpoint_count(vm->h->store, vm->row->uuid);

	if (n < 0)
		return err_set(err, -EIO, "cannot read vm '%s' checkpoints",
		    vm->row->name);
	if (n > 0)
		return err_set(err, -EBUSY, "vm '%s' has %d checkpoint%s (its "
		    "disks are chains of images): it cannot be %s yet; delete "
		    "them first (tern vm checkpoint list %s)", vm->row->name, n,
		    n == 1 ? "" : "s", what, vm->row->name);
	return 0;
}

/* The state rule of each action once no job holds the VM. */
static int
vm_state_allows(const struct vm *vm, enum vm_action a, struct err *err)
{
	const char *n = vm->row->name, *st = vm_state_name(vm->state);

	switch (a) {
	case VM_ACT_START:
		return vm_start_allowed(vm, err);
	case VM_ACT_STOP:
		if (vm_is_down(vm) && vm->state != VM_SAVED)
			return err_set(err, -EBUSY, "vm '%s' is already off",
			    n);
		return 0;
	case VM_ACT_SHUTDOWN:
	case VM_ACT_QUIESCE:
	case VM_ACT_PAUSE:
		if (vm->state != VM_RUNNING)
			return err_set(err, -EBUSY, "vm '%s' is %s, not "
			    "running", n, st);
		return 0;
	case VM_ACT_SAVE:
		if (vm->state != VM_RUNNING)
			return err_set(err, -EBUSY, "vm '%s' is %s; only a "
			    "running VM can be saved (resume it first)", n, st);
		return 0;
	case VM_ACT_RESUME:
		if (vm->state != VM_PAUSED)
			return err_set(err, -EBUSY, "vm '%s' is %s, not paused",
			    n, st);
		return 0;
	default:
		return 0;
	}
}

int
vm_action_allowed(const struct vm *vm, enum vm_action a, struct err *err)
{
	const struct job *job = vm_job(vm);

	if (vm->state == VM_REPLICA)
		return err_set(err, -EBUSY, "vm '%s' is a replica: it is not "
		    "started, stopped or deleted by hand; see 'tern vm "
		    "replication show %s' (remove the replication to delete "
		    "it or keep it as an ordinary vm)", vm->row->name,
		    vm->row->name);
	/* Delete names its own reason first; a job holding the VM is then
	 * refused by the job layer (as it always was). */
	if (a == VM_ACT_DELETE) {
		if (!vm_is_down(vm) && !job)
			return err_set(err, -EBUSY, "vm '%s' is %s; turn it "
			    "off first ('tern vm stop %s')", vm->row->name,
			    vm_state_name(vm->state), vm->row->name);
		return 0;
	}
	if (job)
		return err_set(err, -EBUSY, "vm '%s' is busy with job %lld "
		    "(%s)", vm->row->name, (long long)job->row->id,
		    job->ops->type);
	return vm_state_allows(vm, a, err);
}

int
vm_action_start(struct vm *vm, enum vm_action a, json_t *details,
    struct job **ret_job, struct err *err)
{
	struct job *job;
	int r;

	assert(a < VM_ACT__COUNT);
	if ((r = vm_action_allowed(vm, a, err)) < 0 ||
	    (a == VM_ACT_EXPORT && (r = vm_no_checkpoints(vm, "exported",
	    err)) < 0) ||
	    (r = vm_job_create(vm->h, vm_actions[a].ops, vm, details, &job,
	    err)) < 0) {
		json_decref(details);
		return r;
	}
	job_start(job);
	*ret_job = job;
	return 0;
}

int
vm_create_start(struct host *h, struct vm_row *row,
    const struct job_ops *ops, json_t *details, struct vm **ret_vm,
    struct job **ret_job, struct err *err)
{
	struct vm *vm;
	struct job *job;
	int r = store_vm_insert(h->store, row);

	if (r < 0) {
		store_vm_row_free(row);
		json_decref(details);
		return err_set(err, r, r == -EEXIST ? "a vm with that name, "
		    "uuid, disk path or MAC already exists" :
		    "cannot record vm");
	}
	vm = vm_add(h, row);
	r = vm_job_create(h, ops, vm, details, &job, err);
	if (r < 0) {
		(void)store_vm_delete(h->store, row->uuid);
		vm_remove(vm);
		return r;
	}
	job_start(job);
	*ret_vm = vm;
	*ret_job = job;
	return 0;
}

int
vm_services_update(struct vm *vm, const json_t *svc, struct err *err)
{
	_cleanup_json_ json_t *cur = NULL;
	_cleanup_free_ char *text = NULL;
	const char *key;
	json_t *v;
	int r;

	if (svc && !json_is_object(svc))
		return err_set(err, -EINVAL, "services must be an object");
	json_object_foreach((json_t *)svc, key, v)
		if (vm_service_from_name(key) < 0 || !json_is_boolean(v))
			return err_set(err, -EINVAL, "unknown service '%.64s' "
			    "or not true/false (services: heartbeat, "
			    "shutdown, data-exchange, time-sync, quiesce)",
			    key);
	cur = vm->row->services ? json_loads(vm->row->services, 0, NULL) :
	    NULL;
	if (!cur)
		cur = json_object();
	json_object_update(cur, (json_t *)svc);
	text = json_to_string(cur);
	if ((r = store_vm_set_text(vm->h->store, vm->row->uuid, "services",
	    text)) < 0)
		return err_setf_errno(err, r, "cannot record services");
	free(vm->row->services);
	vm->row->services = TAKE_PTR(text);
	host_event(vm->h, "info", vm, 0, "services set: %s",
	    vm->row->services);
	return 0;
}

json_t *
vm_kvp_get(const struct vm *vm)
{
	json_t *kvp = vm->row->kvp ? json_loads(vm->row->kvp, 0, NULL) : NULL;

	return kvp ? kvp : json_object();
}

static int
vm_kvp_store(struct vm *vm, json_t *kvp, struct err *err)
{
	_cleanup_free_ char *text = json_to_string(kvp);
	int r = store_vm_set_text(vm->h->store, vm->row->uuid, "kvp", text);

	if (r < 0)
		return err_setf_errno(err, r, "cannot record key/values");
	free(vm->row->kvp);
	vm->row->kvp = TAKE_PTR(text);
	agent_kvp_push(vm);
	return 0;
}

int
vm_kvp_update(struct vm *vm, const char *key, const char *value,
    struct err *err)
{
	_cleanup_json_ json_t *kvp = vm_kvp_get(vm);
	int r;

	if ((r = agent_kvp_check(key, value, err)) < 0)
		return r;
	if (!value) {
		if (json_object_del(kvp, key) < 0)
			return err_set(err, -ENOENT, "vm '%s' has no key '%s'",
			    vm->row->name, key);
	} else {
		if (!json_object_get(kvp, key) &&
		    json_object_size(kvp) >= AGENT_KVP_MAX)
			return err_set(err, -E2BIG, "vm '%s' already has %d "
			    "key/values, the limit", vm->row->name,
			    AGENT_KVP_MAX);
		json_object_set_new(kvp, key, json_string(value));
	}
	return vm_kvp_store(vm, kvp, err);
}
