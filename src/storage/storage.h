/* storage.h - moving a VM's disks (and a saved VM's state file) to other
 * storage pools on this host: one job type, vm.move-storage.
 *
 * A running (or paused) VM moves live: QEMU mirrors each disk into a new
 * qcow2 image (write-blocking, so the copy never falls behind), switches
 * the guest's device over once every mirror is in sync, and only then are
 * the new paths recorded and the old files deleted (mirror.c).  An off,
 * crashed or saved VM is copied with qemu-img (copy.c).  Any failure
 * before a disk's switch leaves that disk where it was, untouched, and
 * removes what the job made.
 *
 * Requests are planned and checked here (plan.c) before the job starts,
 * so that bad input changes nothing. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "host.h"
#include "job.h"

struct vm;

/* Register the job type (before job_recover_all). */
void storage_init(struct host *h);

/* POST /v1/vms/NAME/move-storage: body {"to": POOL|DIR} or {"disks":
 * {"vda": POOL|DIR, ...}}.  Checks everything it can (the VM and its
 * state, pools, directories, target files, free space) and starts
 * vm.move-storage.  Fails without changing anything: -EINVAL (bad body,
 * unknown disk, a target where the disk already is, a directory outside
 * every pool), -ENOENT (unknown pool or directory), -EEXIST (a target
 * file exists), -ENOSPC, -EBUSY (another job, or a transitional state). */
int storage_move_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);

/* The storage-migration queue (setting max-storage-migrations).  Take a
 * slot for job, or join the queue: true when a slot was free and no older
 * job waits for one (details "storage_slot": true from then until the job
 * ends); false otherwise (details "storage_wait": true: the job should
 * show as queued and try again when poked).  Counts every active job
 * whose details hold "storage_slot": true, whatever its type, so that
 * other kinds of disk moves can share the limit. */
bool storage_take_slot(struct job *job);
/* Poke every job waiting for a storage slot (call when one ended). */
void storage_poke_queue(struct host *h);

/* ---- planning (plan.c) ---- */

/* Parse a request body (pure: no host state; the unit tests and the fuzz
 * target drive it).  disks are the VM's disk names (vda, ...), n of them.
 * On success ret_to[i] is the target (a pool name or an absolute
 * directory, borrowed from body) of disk i, or NULL when it stays, and
 * *ret_explicit tells a per-disk request ("disks") from "to".  -EINVAL
 * naming the problem: unknown fields, neither or both of "to" and
 * "disks", an unknown disk name, a target that is neither a pool name
 * nor an absolute directory. */
int storage_plan_parse(const json_t *body, const char *const *disks,
    size_t n, const char **ret_to, bool *ret_explicit, struct err *err);

/* Check the parsed plan against h and vm and build the job's details (a
 * new object the caller owns).  Changes nothing. */
int storage_plan_check(struct host *h, struct vm *vm,
    const char *const *to, bool explicit_disks, const char *label,
    json_t **ret_details, struct err *err);

extern const struct job_ops job_vm_move_storage;
