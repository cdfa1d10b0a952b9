/* firmware.c - UEFI firmware and a VM's own files besides its disks (see
 * firmware.h).  Never logs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware.h"
#include "fsutil.h"
#include "tpm.h"
#include "util.h"

/* The largest VARS template tern copies (Debian's 4M build: 540 KiB). */
#define FIRMWARE_VARS_MAX (8u << 20)

char *
firmware_code_path(const struct host *h, bool secure_boot)
{
	return xasprintf("%s/%s", h->cfg.ovmf_dir, secure_boot ?
	    "OVMF_CODE_4M.secboot.fd" : "OVMF_CODE_4M.fd");
}

char *
firmware_vars_template(const struct host *h, bool secure_boot)
{
	return xasprintf("%s/%s", h->cfg.ovmf_dir, secure_boot ?
	    "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd");
}

static int
firmware_check_files(const struct host *h, bool sb, struct err *err)
{
	_cleanup_free_ char *code = firmware_code_path(h, sb);
	_cleanup_free_ char *vars = firmware_vars_template(h, sb);

	if (access(code, R_OK) == -1 || access(vars, R_OK) == -1)
		return err_set(err, -ENOENT, "UEFI firmware '%s' or '%s' is "
		    "missing: install Debian's package ovmf (apt-get install "
		    "ovmf)", code, vars);
	return 0;
}

/* Secure Boot keeps the firmware's variables behind SMM, which only
 * q35 machines have. */
int
firmware_check(const struct host *h, const struct vm_row *row,
    struct err *err)
{
	int r;

	if (row->secure_boot && !row->firmware)
		return err_set(err, -EINVAL, "secure boot needs UEFI: add "
		    "--firmware uefi");
	if (row->secure_boot && !strstr(row->machine, "q35"))
		return err_set(err, -EINVAL, "secure boot needs a q35 machine "
		    "type (pc-q35-...), not '%s'", row->machine);
	if (row->firmware && (r = firmware_check_files(h, row->secure_boot,
	    err)) < 0)
		return r;
	if (row->tpm && !tpm_swtpm_found(h))
		return err_set(err, -ENOENT, "--tpm needs swtpm, and '%s' was "
		    "not found: install Debian's package swtpm (apt-get "
		    "install swtpm)", h->cfg.swtpm);
	return 0;
}

static int
firmware_plan_file(const char *dir, const char *name, const char *suffix,
    char **slot, struct err *err)
{
	char *p = xasprintf("%s/%s-%s", dir, name, suffix);

	if (access(p, F_OK) == 0) {
		err_set(err, -EEXIST, "file '%s' already exists; remove it or "
		    "choose another VM name", p);
		free(p);
		return -EEXIST;
	}
	free(*slot);
	*slot = p;
	return 0;
}

int
firmware_plan(const struct host *h, struct vm_row *row, struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	char *slash;
	int r;

	if ((r = firmware_check(h, row, err)) < 0)
		return r;
	if (!row->firmware && !row->tpm)
		return 0;
	if (row->n_disks == 0 || !row->disks[0].path)
		return err_set(err, -EINVAL, "UEFI and a TPM keep their state "
		    "next to the VM's first disk: give the VM a disk");
	dir = xstrdup(row->disks[0].path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	if (row->firmware && (r = firmware_plan_file(dir, row->name,
	    "nvram.fd", &row->nvram, err)) < 0)
		return r;
	if (row->tpm && (r = firmware_plan_file(dir, row->name, "tpm",
	    &row->tpm_dir, err)) < 0)
		return r;
	return 0;
}

int
firmware_files_make(const struct host *h, const struct vm_row *row,
    struct err *err)
{
	_cleanup_free_ char *tmpl = NULL, *buf = NULL;
	size_t len;
	int r;

	if (row->nvram) {
		tmpl = firmware_vars_template(h, row->secure_boot);
		if ((r = file_read_all(tmpl, FIRMWARE_VARS_MAX, &buf,
		    &len)) < 0)
			return err_setf_errno(err, r, "cannot read the UEFI "
			    "variables template '%s'", tmpl);
		if ((r = file_write_atomic(row->nvram, buf, len, 0600)) < 0)
			return err_setf_errno(err, r, "cannot write '%s'",
			    row->nvram);
	}
	if (row->tpm_dir && mkdir(row->tpm_dir, 0700) == -1) {
		r = -errno;
		if (row->nvram)	/* only what this call made */
			(void)unlink(row->nvram);
		return err_setf_errno(err, r, "cannot create '%s'",
		    row->tpm_dir);
	}
	return 0;
}

void
firmware_files_remove(const struct vm_row *row)
{
	if (row->nvram)
		(void)unlink(row->nvram);
	if (row->tpm_dir)
		(void)dir_remove_flat(row->tpm_dir);
}
