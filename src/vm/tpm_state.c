/* tpm_state.c - which directory a VM's swtpm keeps its state in (see
 * tpm_state.h).  Never logs.
 *
 * swtpm is given RUN/tpm-state, a symlink, never the state directory
 * itself.  swtpm 0.7 keeps the directory's name and opens its files by
 * it on every write (each one written to a temporary file and renamed),
 * so repointing the link (a new link renamed over the old one: atomic)
 * moves where the next write lands.  That is done only while the VM's
 * vCPUs are stopped, when no TPM command is in flight, after the state
 * is where the link will point:
 *
 *   start, restore:  tpm-state -> row->tpm_dir
 *   incoming move,   tpm-state -> RUN/tpm-in (empty; the source's swtpm
 *   shared storage:  holds the shared directory's lock until it exits,
 *                    and the state arrives in the stream) --commit,
 *                    both sides paused--> tpm-state -> row->tpm_dir
 *   storage move     (the state copied while paused) tpm-state -> the
 *   (running):       new directory, then the old one is removed
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "tpm_state.h"
#include "util.h"
#include "vm.h"

int
tpm_state_link(struct vm *vm, const char *target)
{
	_cleanup_free_ char *link = vm_run_path(vm, "tpm-state");
	_cleanup_free_ char *tmp = vm_run_path(vm, "tpm-state.new");

	(void)unlink(tmp);
	if (symlink(target, tmp) == -1)
		return -errno;
	if (rename(tmp, link) == -1) {
		int r = -errno;

		(void)unlink(tmp);
		return r;
	}
	return 0;
}

char *
tpm_state_prepare(struct vm *vm, struct err *err)
{
	_cleanup_free_ char *apart = vm_run_path(vm, "tpm-in");
	const char *target = vm->row->tpm_dir;
	int r;

	if (vm->tpm_apart) {
		(void)dir_remove_flat(apart);	/* a failed move's */
		if (mkdir(apart, 0700) == -1) {
			err_setf_errno(err, -errno, "cannot create '%s'",
			    apart);
			return NULL;
		}
		target = apart;
	} else if ((r = mkdir_p(target, 0700)) < 0) {
		err_setf_errno(err, r, "cannot create '%s'", target);
		return NULL;
	}
	if ((r = tpm_state_link(vm, target)) < 0) {
		err_setf_errno(err, r, "cannot point the TPM of vm '%s' at "
		    "'%s'", vm->row->name, target);
		return NULL;
	}
	return vm_run_path(vm, "tpm-state");
}

int
tpm_apart_join(struct vm *vm)
{
	return tpm_state_link(vm, vm->row->tpm_dir);
}

void
tpm_apart_remove(struct vm *vm)
{
	_cleanup_free_ char *apart = vm_run_path(vm, "tpm-in");

	(void)dir_remove_flat(apart);
}

void
tpm_state_remove_link(struct vm *vm)
{
	_cleanup_free_ char *link = vm_run_path(vm, "tpm-state");

	(void)unlink(link);
	tpm_apart_remove(vm);
}
