/* qemu.h - the QEMU command line for a VM.  Pure: builds strings, starts
 * nothing. */
#pragma once

#include <stdbool.h>

struct vm;

/* CPU model: "qemu64" (the baseline every x86-64 host and TCG provides)
 * when cpu_compat, else "host" under KVM and "max" under TCG. */
const char *qemu_cpu_model(bool cpu_compat, bool kvm);

/* NULL-terminated argv (free with qemu_argv_free) to launch vm paused with
 * -daemonize; NIC i uses the tap fd passed as fd 3+i. */
char **qemu_argv(const struct vm *vm);
void qemu_argv_free(char **argv);
