/* vm.h - one VM on this host: its persisted configuration (a vm_row), its
 * QEMU process and QMP connection, and its lifecycle state machine.
 *
 *             create ok                 start               cont ok
 *  CREATING ------------> OFF ---------------> STARTING ------------> RUNNING
 *     |                   ^ ^ \                   |                  |   ^
 *     | create failed     | |  \ delete           | launch failed    |   | resume
 *     v                   | |   v                 v                  v   |
 *   (gone)                | |  DELETING -> (gone) OFF      pause: PAUSED
 *                         | |                                        |
 *                         | +---- QEMU exited (guest power-off) -----+
 *                         +------ STOPPING <------- stop ------------+
 *   QEMU exited without being asked and without a guest power-off: CRASHED
 *   (which may be started again or deleted, like OFF).
 *   RUNNING|PAUSED --save--> SAVING --state written, QEMU ended--> SAVED;
 *   SAVED --start--> STARTING (restores the state) --> RUNNING;
 *   SAVED --stop--> OFF (the state is discarded).
 *   INCOMING: a VM arriving by live migration (src/migrate/dest.c): its
 *   QEMU waits for the stream; the move job makes it RUNNING at the
 *   commit or removes it.
 *   REPLICA: the copy another host replicates to (src/replica): no QEMU,
 *   never started; CREATING -> REPLICA, REPLICA -> DELETING when the
 *   replication is removed, REPLICA -> OFF when it is removed keeping
 *   the copy or the VM fails over (src/failover/unplanned.c), and
 *   OFF|CRASHED -> REPLICA when that failover is cancelled (the VM
 *   turned off first; its disks back on the latest recovery point), or
 *   on the old primary when replication is reversed and its held copy
 *   becomes the replica (src/replica/adopt.c).
 *
 * Transitions (every one vm_set_state() accepts; vm_state_can_change()
 * holds the same list as a table, and a change off it is a bug):
 *   CREATING -> OFF|SAVED      create_step, import_finish (vm_jobs.c, export.c)
 *   CREATING -> REPLICA        create_step of a replica (src/replica)
 *   REPLICA -> DELETING|OFF    the replication removed (src/replica),
 *                              a failover (src/failover: unplanned.c)
 *   OFF|CRASHED -> REPLICA     a failover cancelled (resolve.c), a held
 *                              copy adopted (src/replica/adopt.c)
 *   OFF|CRASHED|SAVED -> STARTING   start_step (vm_jobs.c)
 *   OFF|CRASHED|SAVED -> DELETING   delete_step
 *   SAVED -> OFF               stop_step (the saved state is discarded),
 *                              a checkpoint applied (src/checkpoint)
 *   CRASHED -> OFF, OFF -> SAVED  a checkpoint applied: its disks, and its
 *                              memory for a standard one
 *   STARTING -> RUNNING        start_step (cont ok)
 *   STARTING -> PAUSED         start_step of a start with details
 *                              "paused" (no cont: src/failover/planned.c
 *                              reads the disks of a shut-down VM)
 *   STARTING -> OFF|SAVED      start_step/start_fail_code, QEMU exit,
 *                              host_reattach (daemon/main.c)
 *   STARTING -> STOPPING       stop_step (stop while starting)
 *   RUNNING <-> PAUSED         pause_resume_step, STOP/RESUME from QEMU
 *   RUNNING|PAUSED -> STOPPING stop_step, shutdown_ask (agent_jobs.c), the
 *                              move's source once committed (source.c)
 *   RUNNING|PAUSED -> OFF      QEMU exited after a guest power-off
 *   RUNNING|PAUSED -> CRASHED  QEMU exited unasked (vm_on_qemu_exit),
 *                              host_reattach
 *   RUNNING|PAUSED -> SAVING   save_step (save.c)
 *   STOPPING -> OFF|SAVED      QEMU exited (vm_on_qemu_exit), stop_step,
 *                              host_reattach
 *   STOPPING -> RUNNING        shutdown_timeout: the guest did not stop
 *   SAVING -> SAVED            save_step, save_recover, host_reattach
 *   SAVING -> RUNNING|PAUSED   save_fail: back as it was
 *   SAVING -> CRASHED          save_fail, host_reattach: QEMU gone
 *   INCOMING -> RUNNING        the move's destination commits (dest.c)
 *   INCOMING -> OFF            host_reattach: QEMU gone after a restart
 *                              (the record is honest until the move-in
 *                              job, recovering, removes the VM)
 *   X -> X                     allowed: re-persists (host_reattach,
 *                              move_settle after the exit handler)
 *   DELETING: none; the VM is removed.
 *
 * vm_set_state() is the only writer of vm->state; it also persists and
 * tells the VM's job.  Invariants: vm->qmp is non-NULL only while
 * vm->pidfd >= 0; at most one job holds a VM exclusively (vm_job()). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "agent.h"
#include "dynmem.h"
#include "child.h"
#include "host.h"
#include "qmp.h"
#include "qmp_block.h"
#include "store.h"
#include "vm_job.h"

enum vm_state { VM_CREATING, VM_OFF, VM_STARTING, VM_RUNNING, VM_PAUSED,
		VM_STOPPING, VM_DELETING, VM_CRASHED, VM_SAVING, VM_SAVED,
		VM_INCOMING, VM_REPLICA, VM__COUNT };

/* Off in the sense that no QEMU runs: OFF, CRASHED or SAVED. */
bool vm_is_down(const struct vm *vm);
/* The state a VM falls back to when its QEMU ends: SAVED while a saved
 * state file exists, else OFF. */
enum vm_state vm_down_state(const struct vm *vm);

const char *vm_state_name(enum vm_state s);
/* -EINVAL for an unknown name. */
int vm_state_from_name(const char *name);

/* A QEMU block job (mirror) a job of ours started, as its events told. */
struct vm_block_job {
	char id[32];
	bool ready;		/* BLOCK_JOB_READY: source and target in sync */
	bool ended;		/* BLOCK_JOB_COMPLETED or _CANCELLED */
	char *error;		/* set when it ended in failure */
	/* block.c: the copy mode (see vm_mirror_synced) */
	bool background;	/* started in background mode */
	bool switched;		/* block-job-change to write-blocking sent */
	bool synced;		/* query-block-jobs said actively-synced */
	char *change_error;	/* QEMU refused the switch */
};
#define VM_MAX_BLOCK_JOBS 32

struct vm {
	struct host *h;
	struct vm_row *row;	/* config + runtime, as persisted */
	enum vm_state state;

	/* QEMU process */
	pid_t pid;		/* 0 when no QEMU */
	int pidfd;		/* -1 when no QEMU */
	struct child *launcher;	/* `qemu -daemonize` parent while starting */
	struct qmp *qmp;
	bool qmp_ready;
	bool vcpus_running;	/* from query-status and STOP/RESUME */
	bool guest_poweroff;	/* SHUTDOWN with guest=true was seen */
	char *last_error;	/* why the last launch or QMP failed */
	struct loop_timer *kill_timer;	/* stop: SIGKILL when quit hangs */
	struct loop_timer *qmp_retry;	/* reconnect while QEMU lives */
	bool incoming;		/* next launch waits for a saved state */
	bool tpm_apart;		/* next swtpm starts on a directory of its
				 * own (an incoming move over shared
				 * storage: tpm_state.c) */
	struct agent agent;	/* guest agent services while QEMU runs */
	struct dynmem dyn;	/* dynamic memory's controller (dynmem.c) */
	char mig_status[24];	/* last MIGRATION event status, "" none */
	uint64_t stop_wall_ms;	/* when the last STOP event arrived */
	/* io_pause.c: paused by QEMU on an I/O error (werror/rerror=stop),
	 * its storage probed until it answers, then `cont` */
	bool io_paused, io_nospace;
	char io_node[48], io_disk[32];	/* io_node: VM_NODE_NAME_MAX */
	uint64_t io_backoff_ms;
	struct loop_timer *io_timer;
	struct vm_block_job bjobs[VM_MAX_BLOCK_JOBS];
	size_t n_bjobs;
	/* host->before_cont's progress in this QEMU run (src/track): 0 not
	 * begun, then the hook's; replies it still waits for. */
	int track_step;
	unsigned track_pending;
	json_t *track_counts;	/* src/track: dirty bytes per bitmap */
	struct nic_op *nic_op;	/* nic.c: a NIC add or remove QEMU is
				 * doing; NULL none */
};

/* Paths of this VM's files: run dir (sockets, pidfile) and state dir
 * (console log).  Caller frees. */
char *vm_run_path(const struct vm *vm, const char *file);
char *vm_state_path(const struct vm *vm, const char *file);

/* Remove the VM's runtime files (sockets, pidfile, QEMU's log) and its
 * run directory; QEMU must be gone. */
void vm_remove_run_files(struct vm *vm);

/* vm_metrics.c: declare the VM families in metrics_default() (tern_vms
 * with every state at 0 until VMs are added); idempotent. */
void vm_metrics_init(void);
/* The VM's state went from old to s (-1: the VM added / removed; removed
 * drops all its samples, a QEMU gone those of its run). */
void vm_metrics_state(const struct vm *vm, int old, int s);
/* Poll every running VM's QEMU every VM_METRICS_POLL_MS (and now). */
#define VM_METRICS_POLL_MS 10000
void vm_metrics_start(struct host *h);

/* Take ownership of row and register the VM with h (state from the row). */
struct vm *vm_add(struct host *h, struct vm_row *row);
/* Unregister and free (QEMU must be gone). */
void vm_remove(struct vm *vm);
/* By name or UUID; NULL when absent. */
struct vm *vm_find(struct host *h, const char *name_or_uuid);

/* Change state, persist it with the runtime facts, record an event when
 * msg is not NULL, and tell the VM's job. */
void vm_set_state(struct vm *vm, enum vm_state s, const char *msg);
/* io_pause.c: QEMU's BLOCK_IO_ERROR for vm (drawn there); the probe
 * dropped (QEMU gone, the VM removed). */
void vm_io_error(struct vm *vm, const json_t *data);
void vm_io_forget(struct vm *vm);
/* Whether the diagram above has from -> to (true for from == to). */
bool vm_state_can_change(enum vm_state from, enum vm_state to);

/* Launch QEMU paused (-S) for vm; progress arrives through the job:
 * vm->qmp_ready, or vm->pid == 0 with vm->last_error on failure. */
int vm_launch(struct vm *vm, struct err *err);
/* Re-attach to the QEMU a previous ternd left running (at start-up).
 * Returns false when that QEMU is gone. */
bool vm_reattach(struct vm *vm);
/* SIGKILL QEMU (if any); completion arrives as the exit. */
void vm_kill(struct vm *vm);
/* A reply to a command sent for a job: job is that job, or NULL when it
 * ended or moved on since (a late reply); vm is the VM it went to. */
typedef void (*vm_reply_fn)(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e);
/* Send a QMP command on job's behalf (job may be NULL).  The reply (or
 * failure) goes to fn; fn NULL: an error is kept in vm->last_error and
 * the job, if it is still the one that sent it, is poked. */
int vm_qmp(struct vm *vm, struct job *job, const char *cmd, json_t *args,
    uint64_t timeout_ms, vm_reply_fn fn);
/* A vm_reply_fn for a run of commands whose first failure is the cause
 * (a refused getfd makes the migrate after it fail too): only the first
 * error is kept in vm->last_error; the job is poked. */
void vm_reply_first_error(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e);
/* vm_qmp() of a typed command (qmp_block.h). */
int vm_qmp_cmd(struct vm *vm, struct job *job, struct qmp_command c,
    uint64_t timeout_ms, vm_reply_fn fn);
/* vm_qmp() passing fd (borrowed) with the command (getfd). */
int vm_qmp_fd(struct vm *vm, struct job *job, const char *cmd, json_t *args,
    int fd, uint64_t timeout_ms, vm_reply_fn fn);

/* Delete the saved-state file and forget it (persisted). */
void vm_forget_saved_state(struct vm *vm);

json_t *vm_to_json(const struct vm *vm);

/* Watch block job id (its events fill the entry; a fresh entry replaces an
 * old one of that id).  NULL when the table is full. */
struct vm_block_job *vm_block_job_track(struct vm *vm, const char *id);
struct vm_block_job *vm_block_job_find(struct vm *vm, const char *id);
void vm_block_jobs_forget(struct vm *vm);

/* block.c.  Every name tern gives QEMU's block layer, built here only.
 * A disk's node of kind ("file", "fmt"): "vda-fmt" as QEMU is launched
 * (job_id 0), "vda-fmt-J12" for one job 12 added.  A block job's or an
 * export's id: "<what>-vda-12", or "<what>-vda" for job_id 0. */
#define VM_NODE_NAME_MAX 48
void vm_node_name(char buf[VM_NODE_NAME_MAX], const char *disk,
    const char *kind, int64_t job_id);
void vm_block_id(char buf[VM_NODE_NAME_MAX], const char *what,
    const char *disk, int64_t job_id);
/* The copy-mode a new mirror starts in: "background" on QEMU
 * 8.2 and later (switched to write-blocking once READY), else
 * "write-blocking".  Set b->background from it when the mirror starts. */
const char *vm_mirror_mode(const struct vm *vm);
/* Note what a query-block-jobs reply (list) says of tracked mirrors
 * (actively-synced). */
void vm_block_jobs_update(struct vm *vm, const json_t *list);
/* The blockdev-mirror of device into target as block job id, in the copy
 * mode of vm_mirror_mode(), tracked from now (its events may come before
 * its reply).  { NULL, NULL } when vm tracks too many block jobs. */
struct qmp_command vm_mirror_cmd(struct vm *vm, const char *id,
    const char *device, const char *target);
/* Bytes copied and to copy of the block jobs in a query-block-jobs reply
 * that mine(job, id) claims. */
void vm_block_jobs_sum(const json_t *list, const struct job *job,
    bool (*mine)(const struct job *job, const char *id), uint64_t *done,
    uint64_t *total);
/* Create an empty qcow2 image of size bytes at path for job: qemu-img,
 * spawned with job_spawn() (dies with ternd; output to log_path, NULL:
 * none); fn on its exit.  -errno when it cannot start. */
int vm_image_create(struct job *job, const char *path, uint64_t size,
    const char *log_path, child_exit_fn fn);
/* Mirror id (of job): 1 when it is in sync for good (every guest write
 * now reaches both sides), 0 not yet (a READY background mirror is
 * switched to write-blocking here; poll query-block-jobs into
 * vm_block_jobs_update until it is), -EIO when QEMU refused the switch
 * (b->change_error). */
int vm_mirror_synced(struct vm *vm, struct job *job, const char *id);
/* 1 when a process other than vm's QEMU holds QEMU's image locks on the
 * file at path (a QEMU elsewhere has it open and active: on shared
 * storage, the destination of a move runs the VM); 0 when none does or
 * vm's own QEMU holds them; -errno when the file cannot be asked. */
int vm_image_locked_elsewhere(const struct vm *vm, const char *path);
