/* job.h - long operations as their own layer, above loop and store and
 * below vm: a job has a type (its ops), a subject it claims, a state, a
 * phase from its type's table, progress, details, and is persisted so that
 * a restarted ternd resumes or rolls back what it had in flight.  Knows
 * nothing about VMs: a subject is a string ("vm:UUID", "host", "cluster",
 * "replication:UUID") that the layer owning it gives meaning to.
 *
 *   QUEUED --job_start--> RUNNING --job_finish(0)-------> SUCCEEDED
 *     ^                    | | |  \--job_finish(<0)-----> FAILED
 *     +--job_slot_take-----+ | +--job_finish(-ECANCELED)--> CANCELLED
 *        (waits for a slot)  |
 *                   job_cancel: ops->cancel() said 0 and the job goes on
 *                            v
 *                       CANCELLING --job_finish--> SUCCEEDED | FAILED |
 *                                                  CANCELLED
 *   QUEUED --job_cancel--> CANCELLED (nothing was started); a queued job
 *   may also end at once (job_finish: its subject went away).
 *   job_slot_take: RUNNING -> QUEUED while waiting, QUEUED -> RUNNING when
 *   it holds every slot it asked for.  job_recover_all: a job found
 *   unfinished after a restart comes back RUNNING (CANCELLING if it was).
 *
 * A job's op has one entry, step(), called when the job starts, after a
 * restart (job->recovering set), and whenever something it waits for
 * happens (its subject's state, a QMP reply, its timer).  step() looks at
 * the world and the job's phase and does the next thing; it must be safe
 * to call at any time (level-triggered).  job_finish() may be called from
 * step() or anything step() started; the job is freed later, on the loop.
 *
 * Replies to requests made for a job (QMP commands, calls to peers) find
 * it by a job_ref captured when the request went out, never through the
 * subject: job_from_ref() is NULL once that job ended or moved on, so a
 * late reply cannot reach another job or a newer one. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "child.h"
#include "err.h"
#include "loop.h"
#include "store.h"

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_CANCELLING, JOB_SUCCEEDED,
		 JOB_FAILED, JOB_CANCELLED, JOB__COUNT };

const char *job_state_name(enum job_state s);
/* -EINVAL for an unknown name. */
int job_state_from_name(const char *name);
/* SUCCEEDED, FAILED or CANCELLED. */
bool job_state_is_final(enum job_state s);
/* The transition from -> to is in the diagram above. */
bool job_state_can_move(enum job_state from, enum job_state to);

/* How a job holds its subject: an exclusive claim conflicts with any other
 * claim on the subject, shared claims with each other do not (a
 * replication keeps a shared claim on its VM while a move takes it
 * exclusively, as libvirt's async-job mask allows). */
enum job_claim { JOB_CLAIM_SHARED, JOB_CLAIM_EXCLUSIVE, JOB_CLAIM__COUNT };

const char *job_claim_name(enum job_claim c);

struct job;
struct job_table;

struct job_ops {
	const char *type;	/* "vm.start" */
	/* The type's phases, indexed by its own enum; phases[0] is "start",
	 * where every job begins.  The names are what the store, the API
	 * and the CLI show: never rename one. */
	const char *const *phases;
	unsigned n_phases;
	void (*step)(struct job *job);
	/* Begin undoing what was done: finish as cancelled at once, or go on
	 * (the job becomes CANCELLING) and finish later.  -EBUSY with err
	 * saying why when the job cannot stop now (past its commit point).
	 * NULL: a running job of this type cannot be cancelled. */
	int (*cancel)(struct job *job, struct err *err);
	/* Free job->priv, the type's own state, and set it NULL.  Called
	 * by the type itself when it is done with it, and by the framework
	 * when a finished job is freed with priv still set.  NULL: free(). */
	void (*priv_free)(struct job *job);
};

/* What a job acts on, given at creation. */
struct job_subject {
	const char *id;		/* "vm:UUID", "host", ... */
	const char *what;	/* for messages: "vm 'web1'" */
	enum job_claim claim;
	/* The store's vm columns (job lists filter on the name); NULL when
	 * the subject is not a VM. */
	const char *vm_uuid, *vm_name;
};

/* (id, gen) names one job as it is now: gen changes when the job ends or
 * goes back to waiting, so a reference taken before resolves to NULL. */
struct job_ref {
	int64_t id;
	uint32_t gen;
};

/* The owner's hook: record an event (severity "info", "warning", "error")
 * about job. */
typedef void (*job_event_fn)(struct job_table *t, struct job *job,
    const char *severity, const char *msg);

/* The jobs of one daemon: the registry of types, the active jobs and the
 * slot pools.  Embedded by its owner (the host), one per ternd.
 * Invariant: jobs[] holds exactly the jobs not yet finished. */
struct job_table {
	struct loop *loop;
	struct store *store;
	job_event_fn on_event;	/* NULL: events are dropped */
	/* An observer (NULL: none; src/api's live streams): called on the
	 * loop after every change of a job's state, phase or progress, the
	 * final state included.  It may read the job, never change it. */
	void (*on_change)(const struct job *job, void *data);
	void *change_data;
	struct job **jobs;
	size_t n_jobs;
	const struct job_ops **types;
	size_t n_types, cap_types;
	uint32_t next_gen;
	uint64_t progress_every_ms;	/* store writes of progress at most
					 * this often (JOB_PROGRESS_MS) */
};

#define JOB_MAX 256		/* active jobs per host */
#define JOB_PROGRESS_MS 500

/* Invariants: state and phase as persisted in row (after the last
 * job_save); claim/subject never change; gen changes on finish and on
 * RUNNING -> QUEUED. */
struct job {
	struct job_table *t;
	struct job_row *row;	/* as persisted */
	const struct job_ops *ops;
	char *subject;
	enum job_claim claim;
	uint32_t gen;
	enum job_state state;
	unsigned phase;		/* index into ops->phases */
	json_t *details;	/* per-type facts (persisted as row->details) */
	bool recovering;	/* step() runs after a ternd restart */
	bool finished;
	bool fp_done;		/* a delay failpoint already waited */
	char fp_name[32];	/* job_failpoint(): the delay holding it */
	uint64_t fp_until_ms;
	struct loop_timer *timer;	/* job_poke(): step soon */
	struct loop_timer *wake;	/* job_wake_after(): step later; a
					 * poke never replaces it */
	struct loop_timer *flush;	/* progress not yet in the store */
	uint64_t saved_ms;	/* monotonic, the last store write */
	struct child *child;	/* a helper process the job waits for */
	uint64_t deadline_ms;	/* monotonic; 0: none */
	uint64_t rate_t0_ms, rate_done0;
	void *priv;		/* the type's own state: job_priv() */
};

/* Fill t (the caller's memory); on_event may be NULL. */
void job_table_init(struct job_table *t, struct loop *l, struct store *st,
    job_event_fn on_event);
/* Free what t holds.  Jobs still active are abandoned as they are (at
 * exit: their records stay for the next start to recover). */
void job_table_done(struct job_table *t);

/* Register a job type, before job_recover_all().  Registering a type name
 * twice is a programmer's error (asserted). */
void job_type_register(struct job_table *t, const struct job_ops *ops);
/* NULL when no type of that name is registered. */
const struct job_ops *job_type_find(const struct job_table *t,
    const char *type);
/* Index of phase name in ops' table, -EINVAL when it has none. */
int job_phase_from_name(const struct job_ops *ops, const char *name);

/* Create, persist and register a job of ops claiming subject s.  Takes
 * details (may be NULL).  -EBUSY (err names the holding job's id and
 * type) when the claim conflicts; -EBUSY when JOB_MAX jobs are active;
 * -errno when the store refuses. */
int job_create(struct job_table *t, const struct job_ops *ops,
    const struct job_subject *s, json_t *details, struct job **ret_job,
    struct err *err);
/* Start it (state RUNNING, first step()). */
void job_start(struct job *job);
/* job->priv, made (size bytes, zeroed) when it has none; *fresh (may be
 * NULL) tells whether it was just made, for the caller to fill in. */
void *job_priv(struct job *job, size_t size, bool *fresh);
/* Call step() again on the loop, soon. */
void job_poke(struct job *job);
/* Call step() after delay_ms (replacing an earlier wake-up). */
void job_wake_after(struct job *job, uint64_t delay_ms);

/* Enter phase (an index of the type's table) and persist the job. */
void job_set_phase(struct job *job, unsigned phase);
bool job_phase_is(const struct job *job, unsigned phase);
const char *job_phase_name(const struct job *job);
/* Persist the job as it is now (its details after a change). */
void job_save(struct job *job);
/* Update progress: the job and its JSON at once, the store at most every
 * t->progress_every_ms (and on the next phase or state change). */
void job_set_progress(struct job *job, uint64_t done, uint64_t total,
    const char *unit);
/* End the job: r == 0 succeeded (its progress then at 100 %: done =
 * total, 1 of 1 step for a type that never counted), -ECANCELED
 * cancelled, else failed with the message.  Records an event, releases its claim and slots (waiting
 * jobs are poked). */
void job_finish(struct job *job, int r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Cancel job id: 0 when it was cancelled or is being cancelled; -ENOENT;
 * -EBUSY with err saying why when it ended already or cannot stop now. */
int job_cancel(struct job_table *t, int64_t id, struct err *err);

/* An active job by id; NULL when none. */
struct job *job_find(struct job_table *t, int64_t id);
/* The first active job holding a claim on subject (an exclusive one when
 * exclusive is set); NULL when none. */
struct job *job_find_by_subject(struct job_table *t, const char *subject,
    bool exclusive);
/* The next active job after prev (NULL: the first) claiming subject, to
 * walk them all. */
struct job *job_next_by_subject(struct job_table *t, const char *subject,
    const struct job *prev);

struct job_ref job_ref(const struct job *job);
/* The job ref names, or NULL when it ended or moved on since. */
struct job *job_from_ref(struct job_table *t, struct job_ref ref);

/* At start-up: load jobs that never ended and step them with recovering
 * set.  A job of an unregistered type, or in a phase its type does not
 * know, fails with an error saying so. */
void job_recover_all(struct job_table *t);
/* The API's view of job as it is now (not as last stored). */
json_t *job_to_json(const struct job *job);

/* The slot queue: take one of limit slots of pool for job.  True when the
 * job holds one (details "POOL_slot": true until it ends; asked again it
 * keeps it); false when it must wait (details "POOL_wait": true, state
 * QUEUED, persisted).  Jobs wait in job-id order: an older waiting job
 * goes first.  Slots come back when a job ends, and the jobs waiting in
 * that pool are poked.  A job holding every slot it asked for is
 * RUNNING again. */
bool job_slot_take(struct job *job, const char *pool, size_t limit);
/* Poke the jobs waiting in pool (its limit may have grown). */
void job_slot_poke(struct job_table *t, const char *pool);

/* A helper process for job (always killed when ternd dies: a helper must
 * not go on writing after a crash): output appended to log_path (NULL:
 * none), fn(child, status, job) on exit; job->child holds it until then.
 * -errno when it cannot start. */
int job_spawn(struct job *job, const char *const *argv, const char *log_path,
    child_exit_fn fn);

/* Test hook: check failpoint name (failpoint.h) for this job: 1 while
 * its "delay:MS" holds the job (a wake-up is armed; other pokes do not cut
 * it short), -1 for "fail", 0 to go on. */
int job_failpoint(struct job *job, const char *name);
/* Arm a deadline timeout_ms from the first call (waking the job then);
 * true once it passed. */
bool job_past_deadline(struct job *job, uint64_t timeout_ms);
