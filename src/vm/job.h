/* job.h - long operations: persisted in the store with state, phase,
 * progress, rate, ETA and error, so that a restarted ternd resumes or rolls
 * back what it had in flight.
 *
 *   QUEUED --job_start--> RUNNING --job_finish(0)--> SUCCEEDED
 *                            |  \----job_finish(<0)--> FAILED
 *                            +--job_cancel--> (op's cancel) --> CANCELLED
 *
 * A job's op has one entry, step(), called when the job starts, after a
 * restart (job->recovering set), and whenever something it waits for
 * happens (a VM state change, a QMP reply, its timer).  step() looks at
 * the world and the job's phase and does the next thing; it must be safe
 * to call at any time (level-triggered).  job_finish() may be called from
 * step() or anything step() started; the job is freed later, on the loop. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "child.h"
#include "host.h"
#include "store.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED,
		 JOB_CANCELLED, JOB__COUNT };

const char *job_state_name(enum job_state s);

struct job;

struct job_ops {
	const char *type;	/* "vm.start" */
	void (*step)(struct job *job);
	/* Undo what was done and finish as cancelled, at once.  NULL: the
	 * job cannot be cancelled (job_cancel answers -EBUSY). */
	void (*cancel)(struct job *job);
	/* Free job->priv, the type's own state, and set it NULL.  Called
	 * by the type itself when it is done with it, and by the framework
	 * when a finished job is freed with priv still set.  NULL: free(). */
	void (*priv_free)(struct job *job);
};

struct job {
	struct host *h;
	struct job_row *row;	/* as persisted */
	const struct job_ops *ops;
	struct vm *vm;		/* borrowed; vm->job == this while active */
	enum job_state state;
	json_t *details;	/* per-type facts (persisted as row->details) */
	bool recovering;	/* step() runs after a ternd restart */
	bool finished;
	bool fp_done;		/* a delay failpoint already waited */
	char fp_name[32];	/* job_failpoint(): the delay holding the job */
	uint64_t fp_until_ms;
	struct loop_timer *timer;	/* job_poke(): step soon */
	struct loop_timer *wake;	/* job_wake_after(): step later; a
					 * poke never replaces it */
	struct child *child;	/* a helper process the job waits for */
	uint64_t deadline_ms;	/* monotonic; 0: none */
	uint64_t rate_t0_ms, rate_done0;
	void *priv;		/* the type's own state: job_priv() */
};

/* Create, persist and register a job of ops acting on vm (may be NULL).
 * -EBUSY (err says which job) when vm already has one. */
int job_create(struct host *h, const struct job_ops *ops, struct vm *vm,
    json_t *details, struct job **ret_job, struct err *err);
/* Start it (state RUNNING, first step()). */
void job_start(struct job *job);
/* job->priv, made (size bytes, zeroed) when it has none; *fresh (may be
 * NULL) tells whether it was just made, for the caller to fill in. */
void *job_priv(struct job *job, size_t size, bool *fresh);
/* Call step() again on the loop, soon. */
void job_poke(struct job *job);
/* Call step() after delay_ms (replacing an earlier wake-up). */
void job_wake_after(struct job *job, uint64_t delay_ms);
void job_set_phase(struct job *job, const char *phase);
bool job_phase_is(const struct job *job, const char *phase);
void job_set_progress(struct job *job, uint64_t done, uint64_t total,
    const char *unit);
/* End the job: r == 0 succeeded, -ECANCELED cancelled, else failed with
 * the message.  Records an event; detaches from the VM. */
void job_finish(struct job *job, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* -ENOENT, or -EBUSY when already ended. */
int job_cancel(struct host *h, int64_t id, struct err *err);
struct job *job_find(struct host *h, int64_t id);
/* At start-up: load jobs that never ended and step them with recovering
 * set, after VMs were re-attached. */
void job_recover_all(struct host *h);
json_t *job_to_json(const struct job *job);

/* The job types of the vm module (vm_jobs.c). */
extern const struct job_ops job_vm_create, job_vm_start, job_vm_stop,
    job_vm_pause, job_vm_resume, job_vm_delete;
/* agent_jobs.c, save.c */
extern const struct job_ops job_vm_shutdown, job_vm_quiesce, job_vm_save;
const struct job_ops *job_ops_by_type(const char *type);
/* Job types of modules above vm (migrate) register here at start-up,
 * before job_recover_all(). */
void job_ops_register(const struct job_ops *ops);
/* Test hook: check failpoint name (failpoint.h) for this job: 1 while
 * its "delay:MS" holds the job (a wake-up is armed; other pokes do not cut
 * it short), -1 for "fail", 0 to go on. */
int job_failpoint(struct job *job, const char *name);
/* A job waiting for a slot shows as queued (persisted); back to running
 * when it gets one. */
void job_set_queued(struct job *job, bool queued);
/* For step(): finish the job and return true when its VM is gone. */
bool job_vm_gone(struct job *job);
