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
