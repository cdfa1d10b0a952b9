/* tpm_state.h - where a VM's swtpm writes its state: through the symlink
 * RUN/tpm-state, pointed at row->tpm_dir or, for an incoming move over
 * shared storage (vm->tpm_apart), at an empty RUN/tpm-in until the
 * commit.  Diagram in tpm_state.c.  Never logs. */
#pragma once

#include <stdbool.h>

#include "err.h"

struct vm;

/* Point RUN/tpm-state at target (atomic: a new link renamed over the
 * old).  Only while the VM's vCPUs are stopped.  0 or -errno. */
int tpm_state_link(struct vm *vm, const char *target);

/* Before swtpm starts: make the directory it is to use and the link to
 * it; the path swtpm is given (caller frees), NULL with err set. */
char *tpm_state_prepare(struct vm *vm, struct err *err);

/* The commit of an incoming move over shared storage: the link to the
 * shared state directory.  0 or -errno. */
int tpm_apart_join(struct vm *vm);

/* Remove RUN/tpm-in (an incoming move's directory, when any). */
void tpm_apart_remove(struct vm *vm);

/* Remove the link and RUN/tpm-in (the VM's run files go). */
void tpm_state_remove_link(struct vm *vm);

/* RUN/tpm-state points at dir now (a restart asks where swtpm writes). */
bool tpm_state_points_at(struct vm *vm, const char *dir);

/* A running VM's storage move: copy the state directory src (its regular
 * files, mode and owner kept, each synced) to dst through dst.partial,
 * renamed when whole (the parent synced).  Only while the vCPUs are
 * stopped.  dst must not exist.  0 or -errno (dst.partial removed). */
int tpm_state_copy(const char *src, const char *dst);
