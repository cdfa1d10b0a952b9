/* backup.h - backups of VMs into a repository directory (repo.h):
 * vm.backup takes a point of a running VM (create.c); the repository's
 * points are listed, verified and restored from here. */
#pragma once

#include <jansson.h>

#include "err.h"

struct host;
struct vm;
struct job;
struct vm_row;

/* Register the backup job types (at start-up). */
void backup_init(struct host *h);

/* Take a point of vm into the repository body.repo ({"repo": DIR,
 * "full": bool, "quiesce": bool}): every check runs first (the VM runs,
 * the repository opens or is made in an empty directory), so a refused
 * request changes nothing; the rest is the vm.backup job. */
int backup_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err);

/* The points in repository repo (of vm_uuid only, when not NULL), as the
 * API shows them: [{vm, name, point, parent, kind, consistency, time_ms,
 * disks: [{name, size, changed_bytes, written_bytes}]}]. */
int backup_list(const char *repo, const char *vm_uuid, json_t **ret,
    struct err *err);

/* Check a restore request (body {"repo", "point", "vm", "name",
 * "pool"}) against the repository and this host: the point and its
 * chain, the VM's description, name, UUID, MACs, switches, memory, pool.
 * Changes nothing.  On success the vm.restore job's details and either a
 * new VM's row (state creating) or, restoring over the original (no
 * name; it is here and off, with the point's disks), that VM (*ret_vm,
 * *ret_row NULL). */
int backup_restore_prepare(struct host *h, const json_t *body,
    struct vm_row **ret_row, struct vm **ret_vm, json_t **ret_details,
    struct err *err);

/* Check every point of a repository (body {"repo", "point", "vm"}):
 * each file's sha256 and every block against its map; the
 * backup.verify job. */
int backup_verify_start(struct host *h, const json_t *body,
    struct job **ret_job, struct err *err);

/* Keep a VM's newest points (body {"repo", "vm", "keep"}): the oldest
 * kept becomes a synthetic full point, the older ones go; the
 * backup.prune job. */
int backup_prune_start(struct host *h, const json_t *body,
    struct job **ret_job, struct err *err);

extern const struct job_ops job_vm_backup, job_vm_restore, job_backup_verify,
    job_backup_prune;
