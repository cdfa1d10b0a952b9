/* mig_int.h - what source.c and converge.c share: the in-memory state of
 * one vm.move job (never persisted: a restarted ternd settles a move from
 * what QEMU and the destination say, not from this). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "job.h"
#include "qmp.h"
#include "util.h"

struct vm;

struct peer_call;

/* vm.move's phases (diagram and transitions: source.c); names in
 * queue.c. */
enum move_phase { MOVE_PH_START, MOVE_PH_CHECK, MOVE_PH_QUEUED,
		  MOVE_PH_MEASURE, MOVE_PH_PREPARE, MOVE_PH_PREPARE_WAIT,
		  MOVE_PH_DEST_WAIT, MOVE_PH_MIRRORING, MOVE_PH_MIGRATING,
		  MOVE_PH_SWITCHOVER, MOVE_PH_COMMIT, MOVE_PH_COMMITTED,
		  MOVE_PH_RESOLVE, MOVE_PH_ROLLBACK, MOVE_PH_CANCELLING,
		  MOVE_PH_HANDOVER, MOVE_PH__COUNT };
extern const char *const move_phase_names[MOVE_PH__COUNT];

struct move_ctx {
	struct host *h;
	struct job_ref ref;		/* the job, for the destination's
					 * replies */
	uint64_t t0_ms;			/* monotonic, the move's start */
	uint64_t phase_t0_ms;		/* dest-wait began */

	/* the one call to the destination in flight, and its reply */
	struct peer_call *call;
	bool replied;
	long reply_status;		/* 0: transport failed */
	json_t *reply;
	char reply_err[256];

	char psk[65];			/* hex key for this stream, "" none */
	char psk_dir[256];

	/* the link */
	bool measuring, measured;
	uint64_t rate;			/* bytes/s, 0 unknown */

	/* the stream */
	bool stream_started, polling, polled;
	uint64_t next_poll_ms;		/* QEMU is asked at most this often */
	json_t *last;			/* last query-migrate */
	uint64_t last_progress_ms, last_transferred;
	int64_t pass;			/* dirty-sync-count seen */
	uint64_t rem_at_pass[3];	/* remaining at the last passes */
	int stuck_passes, escalation;
	uint64_t downtime_ms;
	bool switchover_sent;
	bool fp_active;			/* the move.active failpoint ran */
	uint64_t slow_until_ms;		/* its delay: stream held slow */

	/* the disks (shared-nothing) */
	bool tls_obj;			/* the key's QEMU object exists */
	bool mirrors_started, mirrors_cancelled, blk_querying, jobs_querying;
	uint64_t mirrors_cancel_ms;	/* when they were told to end */
	json_t *blk;			/* query-block, for the nodes */
	uint64_t disk_done, disk_total;	/* from query-block-jobs */
	uint64_t disk_progress_ms;
	bool bulk_fp_done;		/* the move.bulk failpoint ran */
	uint64_t bulk_slow_until_ms;

	/* commit, rollback, resolve */
	uint64_t commit_t0;
	bool commit_again;		/* the destination said 503: POST again */
	bool rb_cancel_sent, rb_cont_sent, cont_done, cont_ok;
	char cont_err[256];
	int dest_verdict;		/* copy: 1 it runs there, -1 it won't */
	bool asked_warned;
	bool cont_warned;		/* the source's cont failed: said once */
	bool cont_faked;		/* failpoint move.rollback-cont done */
	bool quit_sent;
	uint64_t quit_at_ms;
};

/* A string or integer of the job's details (NULL or 0 when absent). */
static inline const char *
detail_str(const struct job *job, const char *key)
{
	return json_string_value(json_object_get(job->details, key));
}

static inline bool
move_copy(const struct job *job)
{
	return streq(detail_str(job, "storage"), "copy");
}

static inline int64_t
detail_int(const struct job *job, const char *key)
{
	return json_integer_value(json_object_get(job->details, key));
}

#define MOVE_QMP_MS 10000
#define MOVE_DEST_POLL_MS 100	/* the destination job, while waiting */
#define MOVE_CALL_MS 10000	/* one API call to the destination */
#define MOVE_COMMIT_MS 15000	/* the destination must answer by then */
#define MOVE_MIRROR_END_MS 5000	/* rollback: mirrors must end by then */

struct move_ctx *move_ctx(struct job *job);
/* source.c: end the job (r < 0 fails it with the message). */
void move_finish(struct job *job, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* One call to the destination; its reply lands in the ctx, pokes job. */
void move_call(struct job *job, const char *method, const char *path,
    json_t *body, uint64_t timeout_ms);
/* Fire and forget: cancel the destination's job. */
void move_cancel_dest(struct job *job);
/* The VM left: forget it here, the job succeeds. */
void move_forget(struct job *job);
/* commit.c: the phases commit, resolve/rollback/cancelling (settle) and
 * committed. */
void move_commit(struct job *job);
void move_settle(struct job *job);
void move_committed(struct job *job);
/* queue.c: take a max-migrations slot (false: wait, the job is queued;
 * job_slot_take, pool "migration"). */
bool move_take_slot(struct job *job);
/* A QMP reply for the move: an error is kept in vm->last_error. */
void move_on_qmp(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e);

/* converge.c */
/* Fold the last query-migrate into the job: progress, pass, rate, ETA. */
void mig_progress(struct job *job);
/* Stall, timeout and convergence: true when the job was rolled back or
 * escalated and must not poll this turn. */
bool mig_check_limits(struct job *job);
void mig_pre_switchover(struct job *job);
void mig_record_result(struct job *job);
/* The per-move key file QEMU reads (RUN_DIR/vms/UUID/mig-JOB/keys.psk,
 * owned by the QEMU user) and its removal. */
int mig_psk_write(struct vm *vm, int64_t job_id, const char *psk,
    char *ret_dir, size_t len);
void mig_psk_remove(struct vm *vm, int64_t job_id);
int move_psk_write(struct job *job, const char *endpoint);
void move_psk_remove(struct job *job);
/* Time to ask QEMU again (query-migrate, query-block-jobs)?  Paces the
 * polls to period_ms however often the job is poked; arms the wake-up. */
bool move_poll_due(struct job *job, uint64_t period_ms);

/* mirror.c: shared-nothing, the disks: NBD nodes and mirrors to the
 * destination, their progress and errors, ending them at the switchover
 * (cancel_mirrors(job, false): a clean finish) or on the way back (true:
 * abandon), and the QMP object of the move's TLS key. */
void mig_mirroring(struct job *job);
const char *mig_mirror_error(struct job *job);
/* true once every mirror ended (started by this process or not). */
bool mig_cancel_mirrors(struct job *job, bool force);
void mig_tls_object(struct job *job);
/* object-add arguments of the move's TLS credentials (the key in dir;
 * endpoint "client" or "server"): with a cipher choice when it matters,
 * see mig_tls_args in converge.c. */
json_t *mig_tls_args(const struct host *h, const char *id, const char *dir,
    const char *endpoint);
/* Copy memory with the VM paused (stop-and-copy) instead of live? */
bool mig_memory_paused(const struct host *h);
void mig_mirror_cleanup(struct job *job);

/* source.c: undo and end, leaving the VM here. */
void move_rollback_msg(struct job *job, const char *why);

/* Declare the migration histograms (idempotent; source.c). */
void move_metrics_init(void);
