/* tpm.h - a VM's TPM 2.0: swtpm, one per VM, started before QEMU on
 * every launch (start, incoming move, restore) as a daemon of its own
 * session that outlives ternd like QEMU does, and exits when QEMU closes
 * its control socket (--terminate).  Its state is row->tpm_dir; its
 * socket, pidfile and log are in the VM's run directory (swtpm.sock,
 * swtpm.pid, swtpm.log).  A restarted ternd has nothing to re-attach:
 * swtpm lives and dies with its QEMU. */
#pragma once

#include <stdbool.h>

#include "child.h"
#include "err.h"
#include "host.h"

struct vm;

/* Is the configured swtpm binary there (a path, or found in PATH)? */
bool tpm_swtpm_found(const struct host *h);

/* Start swtpm for vm (row->tpm set); fn runs when `swtpm --daemon`
 * returned (status 0: its socket listens).  A swtpm left by a launch
 * that failed is killed first. */
int tpm_spawn(struct vm *vm, child_exit_fn fn, struct child **ret,
    struct err *err);

/* Kill the VM's swtpm if one runs (a launch failed after it started),
 * by its pidfile, checked against its command line. */
void tpm_kill(struct vm *vm);

/* The run files swtpm leaves. */
extern const char *const tpm_run_files[];
