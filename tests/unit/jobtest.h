/* jobtest.h - a harness that drives real job types against the scripted
 * fake QMP peer (tests/fake/fake_qmp.h), as libvirt's monitor test utils
 * do: a loop, a store in a temp dir, a host whose job table has the vm and
 * storage job types registered, and VMs whose "QEMU" is a sleep process
 * (its command line carries the VM's UUID, so vm_reattach() accepts it)
 * with its qmp.sock a symlink to the fake.  A "restart" drops the host,
 * the loop and the fake, and builds them again over the same store, as a
 * restarted ternd would.  Never needs root, QEMU or a network. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fake_qmp.h"
#include "vm.h"

struct jobtest {
	char dir[64];		/* everything lives under it */
	char pool[128], pool2[128];	/* pool directories "p1", "p2" */
	struct loop *loop;
	struct store *st;
	struct host h;
	struct fake_qmp *qmp;	/* the fake QEMU's monitor, NULL: none */
	pid_t qemu_pid;		/* the fake QEMU process, 0: none */
	char uuid[37];		/* the VM of the test (one per test) */
	bool kill_when_done;	/* fake QEMU exits once the script ran */
	bool fake_qemu_bin;	/* cfg.qemu_binary is the fake launcher */
	/* Called on every host built (setup, restart) before its jobs are
	 * recovered: register more job types, set host facts. */
	void (*on_host_init)(struct host *h);
};

/* A fresh directory, store (pools p1 and p2), loop and host. */
void jt_setup(struct jobtest *t);
/* Kill the fake QEMU, free everything, remove the directory. */
void jt_teardown(struct jobtest *t);

/* A VM with n_disks small files in p1 and state s, persisted and added
 * to the host. */
struct vm *jt_vm_add(struct jobtest *t, const char *name, int n_disks,
    const char *state);
/* The test's VM as the host has it now (NULL when forgotten). */
struct vm *jt_vm(struct jobtest *t);

/* Start the fake QEMU for the VM (a process, not yet known to ternd). */
void jt_qemu_spawn(struct jobtest *t);
/* Make the host launch QEMU as a fake: vm_launch() runs a script that
 * "daemonizes" a sleeping shell whose command line carries the VM's UUID
 * (-uuid), writes its pid to -pidfile, and exits 0.  Point the qmp.sock at
 * a fake with jt_qmp_new() first.  With fail, the launcher exits 1. */
void jt_fake_qemu_install(struct jobtest *t, bool fail);
/* The fake QEMU the launcher started (alive or not): adopt its pid as
 * t->qemu_pid (for jt_qemu_kill); false if none was started. */
bool jt_qemu_launched(struct jobtest *t);
/* A new fake QMP peer for the VM's qmp.sock, scripted with the greeting
 * and query-status (running or paused). */
void jt_qmp_new(struct jobtest *t, bool running);
/* Attach the VM to its fake QEMU, as ternd does at start-up. */
bool jt_qemu_attach(struct jobtest *t);
/* The fake QEMU dies (as QEMU does after quit, or when killed). */
void jt_qemu_kill(struct jobtest *t);

/* Drop every job as ternd's exit does (rows stay, nothing of theirs runs
 * again); jt_restart() and jt_teardown() do it, a test whose jobs hold
 * things the test frees first calls it before. */
void jt_jobs_drop(struct jobtest *t);
/* ternd stops (jobs abandoned with their rows, QEMU left running) and
 * starts again over the same store: VMs loaded, QEMUs re-attached (a new
 * fake QMP peer, scripted with the handshake, answers), jobs recovered.
 * qemu_up: the fake QEMU still runs; running: what query-status says. */
void jt_restart(struct jobtest *t, bool qemu_up, bool running);

/* Start a job of ops on the test's VM; its id (0 on failure). */
int64_t jt_job_start(struct jobtest *t, const struct job_ops *ops,
    json_t *details);
/* Run the loop until job id ended (true) or timeout_ms passed. */
bool jt_run_until_ended(struct jobtest *t, int64_t id, uint64_t timeout_ms);
/* Run the loop until job id is in phase (true), ended, or timeout. */
bool jt_run_until_phase(struct jobtest *t, int64_t id, const char *phase,
    uint64_t timeout_ms);
/* Run the loop for ms. */
void jt_run_for(struct jobtest *t, uint64_t ms);
/* The job's stored state and error ("succeeded", ...); "" when none.
 * Valid until the next call. */
const char *jt_job_state(struct jobtest *t, int64_t id);
const char *jt_job_error(struct jobtest *t, int64_t id);

/* The test's VM has a row in the store. */
bool jt_row_stored(struct jobtest *t);
/* path exists. */
bool jt_exists(const char *path);
