/* backup.h - backups of VMs into a repository directory (repo.h):
 * vm.backup takes a point of a running VM (create.c); the repository's
 * points are listed, verified and restored from here. */
#pragma once

#include <jansson.h>

#include "err.h"

struct host;
struct vm;
struct job;

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

extern const struct job_ops job_vm_backup;
