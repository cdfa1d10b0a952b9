/* backup.h - backups of VMs into a repository directory (repo.h):
 * vm.backup takes a point of a running VM (create.c); the repository's
 * points are listed, verified and restored from here. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* A point of a running VM read for another module (src/replica): the
 * vm.backup job's phases, driven by that module's own job type, with
 * details as backup_start() makes them plus "sink": "delta" and, per
 * disk, what tern-blockcopy --delta-out needs ("seq", "base_seq" in the
 * details).  Each disk's copier writes POINT_DIR/DISK.delta and
 * POINT_DIR/DISK.map instead of an image.  The other module's step calls
 * backup_point_step() for every phase but BACKUP_PH_SEAL, which it runs
 * itself and ends with backup_point_end(job, 0, NULL) once the point is
 * kept (details "sealed" set first), or with an error to go back (the new
 * reference point's bitmap and the point's directory removed).  When the
 * job ends, end (given to backup_point_sink()) is called first. */
enum backup_phase { BACKUP_PH_START, BACKUP_PH_CHECK, BACKUP_PH_PREPARE,
		    BACKUP_PH_ATTACH, BACKUP_PH_FREEZE, BACKUP_PH_SNAP,
		    BACKUP_PH_EXPORT, BACKUP_PH_COPY, BACKUP_PH_SEAL,
		    BACKUP_PH_TEARDOWN, BACKUP_PH_DONE, BACKUP_PH__COUNT };
extern const char *const backup_phase_names[BACKUP_PH__COUNT];
void backup_point_step(struct job *job);
void backup_point_end(struct job *job, int r, const char *why);
int backup_point_cancel(struct job *job, struct err *err);
void backup_point_free(struct job *job);
/* The other module's own state for job (size bytes, zeroed when made;
 * freed with free_fn when the job's private state goes). */
void *backup_point_priv(struct job *job, size_t size,
    void (*free_fn)(void *));
void backup_point_sink(void (*end)(struct job *job, int r,
    const char *why));
/* The details backup_start() would give a point of vm in repo after the
 * point parent (NULL: a full one), named point, taken at time_ms (wall
 * clock; a backup's point name is that time). */
json_t *backup_point_details(const struct vm *vm, const char *repo,
    const char *point, int64_t time_ms, const char *parent, bool quiesce);

extern const struct job_ops job_vm_backup, job_vm_restore, job_backup_verify,
    job_backup_prune;
