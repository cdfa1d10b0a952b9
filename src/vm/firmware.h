/* firmware.h - a VM's UEFI firmware (Debian's OVMF) and the files a VM
 * has besides its disks: the NVRAM variables (DIR/NAME-nvram.fd, a copy
 * of OVMF's VARS template) and the TPM state directory (DIR/NAME-tpm/),
 * both next to disk 0, named after the VM like its disks.  Their paths
 * are the row's nvram and tpm_dir (NULL: none).  Never logs. */
#pragma once

#include <stdbool.h>

#include "err.h"
#include "host.h"
#include "store.h"

/* The firmware code and the VARS template (Secure Boot: the secboot
 * build, the template with Microsoft's keys enrolled).  Caller frees. */
char *firmware_code_path(const struct host *h, bool secure_boot);
char *firmware_vars_template(const struct host *h, bool secure_boot);

/* Check row's firmware and TPM settings against this host (OVMF and
 * swtpm there, Secure Boot on a q35 machine). */
int firmware_check(const struct host *h, const struct vm_row *row,
    struct err *err);

/* Check row's firmware and TPM against this host (OVMF and swtpm there,
 * Secure Boot on a q35 machine) and fill row->nvram and row->tpm_dir
 * from disk 0's path (-EEXIST when a file is in the way).  Changes
 * nothing on disk. */
int firmware_plan(const struct host *h, struct vm_row *row,
    struct err *err);

/* Make the files firmware_plan named: the NVRAM copied from the
 * template (mode 0600), the TPM directory (0700).  On failure nothing
 * of them is left. */
int firmware_files_make(const struct host *h, const struct vm_row *row,
    struct err *err);

/* Remove them (those that exist). */
void firmware_files_remove(const struct vm_row *row);
