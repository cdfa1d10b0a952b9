/* tpm.c - a VM's swtpm (see tpm.h).  Never logs. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "tpm.h"
#include "tpm_state.h"
#include "util.h"
#include "vm.h"

const char *const tpm_run_files[] = { "swtpm.sock", "swtpm.pid",
	"swtpm.log", NULL };

bool
tpm_swtpm_found(const struct host *h)
{
	return exe_is_found(h->cfg.swtpm);
}

void
tpm_kill(struct vm *vm)
{
	_cleanup_free_ char *pidfile = vm_run_path(vm, "swtpm.pid");
	_cleanup_free_ char *sock = vm_run_path(vm, "swtpm.sock");
	_cleanup_free_ char *buf = NULL;
	pid_t pid;

	if (file_read_all(pidfile, 64, &buf, NULL) < 0)
		return;
	pid = atoi(buf);
	if (pid > 0 && proc_cmdline_has(pid, sock, true))
		(void)kill(pid, SIGKILL);
	(void)unlink(pidfile);
}

int
tpm_spawn(struct vm *vm, child_exit_fn fn, struct child **ret,
    struct err *err)
{
	_cleanup_free_ char *sock = vm_run_path(vm, "swtpm.sock");
	_cleanup_free_ char *pid = vm_run_path(vm, "swtpm.pid");
	_cleanup_free_ char *log = vm_run_path(vm, "swtpm.log");
	_cleanup_free_ char *state = NULL, *link = NULL;
	_cleanup_free_ char *ctrl = xasprintf("type=unixio,path=%s", sock);
	_cleanup_free_ char *pidopt = xasprintf("file=%s", pid);
	_cleanup_free_ char *logopt = xasprintf("file=%s,level=1", log);
	const char *argv[] = { vm->h->cfg.swtpm, "socket", "--tpm2",
		"--tpmstate", state, "--ctrl", ctrl, "--terminate", "--daemon",
		"--pid", pidopt, "--log", logopt, NULL };
	struct child_opts o = { .argv = argv, .log_path = log,
		.new_session = true };
	int r;

	if (!vm->row->tpm_dir)
		return err_set(err, -ENOENT, "vm '%s' has a TPM but no TPM "
		    "state directory", vm->row->name);
	if (!tpm_swtpm_found(vm->h))
		return err_set(err, -ENOENT, "vm '%s' has a TPM, and '%s' was "
		    "not found: install Debian's package swtpm",
		    vm->row->name, vm->h->cfg.swtpm);
	tpm_kill(vm);
	(void)unlink(sock);
	/* through RUN/tpm-state (tpm_state.h) */
	if (!(link = tpm_state_prepare(vm, err)))
		return err->code;
	state = xasprintf("dir=%s", link);
	argv[4] = state;
	r = child_spawn(vm->h->loop, &o, fn, vm, ret);
	if (r < 0)
		return err_setf_errno(err, r, "cannot start swtpm");
	return 0;
}
