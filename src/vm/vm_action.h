/* vm_action.h - the rules the API asks the vm module to apply: which
 * action a VM's state allows, the job each action becomes, and the writes
 * to a VM's row that a request may make (services, key/values).  The API
 * parses and renders; every decision about a VM is taken here. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "err.h"

struct host;
struct job;
struct job_ops;
struct vm;
struct vm_row;

/* The actions of POST /v1/vms/NAME/ACTION, plus delete and export, which
 * have their own routes but the same kind of rule. */
enum vm_action { VM_ACT_START, VM_ACT_STOP, VM_ACT_PAUSE, VM_ACT_RESUME,
		 VM_ACT_SAVE, VM_ACT_SHUTDOWN, VM_ACT_QUIESCE, VM_ACT_DELETE,
		 VM_ACT_EXPORT, VM_ACT__COUNT };

const char *vm_action_name(enum vm_action a);
/* An action of the POST /v1/vms/NAME/ACTION route (not delete, not
 * export) by name; -ENOENT with err set when there is none. */
int vm_action_from_name(const char *name, struct err *err);

/* 0 when vm's state (and its jobs) allow action a now; else -EBUSY (a
 * job holds it, or the state is wrong) or -ENOMEM (start: the host lacks
 * the memory), with err set to the text the API answers. */
int vm_action_allowed(const struct vm *vm, enum vm_action a,
    struct err *err);

/* Check a, then create and start its job on vm with details (ownership
 * taken, even on failure; NULL for none).  *ret_job is the started job. */
int vm_action_start(struct vm *vm, enum vm_action a, json_t *details,
    struct job **ret_job, struct err *err);

/* Record row (ownership taken) as a new VM, then create and start its
 * job of type ops with details (ownership taken).  On failure the VM is
 * forgotten again (-EEXIST: a VM with that name, uuid, disk or MAC). */
int vm_create_start(struct host *h, struct vm_row *row,
    const struct job_ops *ops, json_t *details, struct vm **ret_vm,
    struct job **ret_job, struct err *err);

/* Merge svc (an object of service name -> bool, borrowed) into the VM's
 * services and persist them.  -EINVAL for an unknown name or value. */
int vm_services_update(struct vm *vm, const json_t *svc, struct err *err);

/* Set (value non-NULL) or delete (value NULL) one key/value of the VM,
 * persist the set and push it to the guest.  -EINVAL for a bad key or
 * value, -ENOENT deleting an absent key, -E2BIG past AGENT_KVP_MAX. */
int vm_kvp_update(struct vm *vm, const char *key, const char *value,
    struct err *err);
/* The VM's key/values as an object (new reference; empty when none). */
json_t *vm_kvp_get(const struct vm *vm);

/* 0 when vm has no checkpoint; else -EBUSY saying it cannot be what
 * ("moved", "exported") until they are deleted. */
int vm_no_checkpoints(const struct vm *vm, const char *what,
    struct err *err);
