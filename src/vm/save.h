/* save.h - saved state: a VM's memory and device state written to a file
 * next to its disks (QEMU migrating into an fd that ternd opened), and
 * read back at the next start. */
#pragma once

#include <stdbool.h>

struct job;
struct vm;

/* Path of vm's saved-state file (caller frees). */
char *save_state_path(const struct vm *vm);

/* Drive a restore inside a start job, once QMP answers: 1 when the state
 * is loaded and the vCPUs may be started, 0 while it is loading, -1 when
 * it failed (the job is finished; the saved state file is untouched). */
int restore_step(struct job *job);

/* Write the running QEMU's state (memory and devices) into path (made or
 * truncated) by a migration to an fd, for job on its VM: the settings a
 * live move may have left are cleared first.  The VM should be paused
 * for a state that matches its disks.  < 0: path could not be opened or
 * QMP is gone (nothing sent then). */
int save_transfer_start(struct job *job, const char *path);
/* Ask QEMU how the transfer goes: its status in save_migration_status(),
 * the bytes in the job's progress, a failure in vm->last_error; the job
 * is poked with the answer. */
void save_transfer_poll(struct job *job);
/* "completed", "active", ... or NULL before the first answer. */
const char *save_migration_status(const struct job *job);
