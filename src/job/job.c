/* job.c - one job's life (state diagram in job.h): creation with its claim,
 * phases, progress with rate, ETA and a throttled store write, cancel and
 * finish.  Transitions: job_create (QUEUED), job_start (RUNNING),
 * job_set_queued (RUNNING <-> QUEUED, for job_slot_take), job_cancel
 * (CANCELLING), job_finish (SUCCEEDED | FAILED | CANCELLED); all through
 * job_set_state(), which checks them.  Never frees a job while a caller up
 * the stack may hold it: freeing happens on a fresh loop turn. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failpoint.h"
#include "fsutil.h"
#include "job.h"
#include "job_int.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "util.h"

static const char *const job_state_names[JOB__COUNT] = {
	[JOB_QUEUED] = "queued", [JOB_RUNNING] = "running",
	[JOB_CANCELLING] = "cancelling", [JOB_SUCCEEDED] = "succeeded",
	[JOB_FAILED] = "failed", [JOB_CANCELLED] = "cancelled",
};

const char *
job_state_name(enum job_state s)
{
	return s < JOB__COUNT ? job_state_names[s] : "unknown";
}

int
job_state_from_name(const char *name)
{
	for (int i = 0; i < JOB__COUNT; i++)
		if (streq(job_state_names[i], name))
			return i;
	return -EINVAL;
}

bool
job_state_is_final(enum job_state s)
{
	return s == JOB_SUCCEEDED || s == JOB_FAILED || s == JOB_CANCELLED;
}

bool
job_state_can_move(enum job_state from, enum job_state to)
{
	switch (from) {
	case JOB_QUEUED:
		return to == JOB_RUNNING || job_state_is_final(to);
	case JOB_RUNNING:
		return to == JOB_QUEUED || to == JOB_CANCELLING ||
		    job_state_is_final(to);
	case JOB_CANCELLING:
		return job_state_is_final(to);
	default:
		return false;
	}
}

const char *
job_claim_name(enum job_claim c)
{
	return c == JOB_CLAIM_EXCLUSIVE ? "exclusive" : "shared";
}

/* Write the row now; any progress held back goes with it. */
void
job_save(struct job *job)
{
	int r;

	free(job->row->state);
	job->row->state = xstrdup(job_state_name(job->state));
	free(job->row->phase);
	job->row->phase = xstrdup(job->ops->phases[job->phase]);
	free(job->row->details);
	job->row->details = json_to_string(job->details);
	job->flush = loop_timer_cancel(job->t->loop, job->flush);
	job->saved_ms = now_ms();
	r = store_job_update(job->t->store, job->row);
	/* Rule zero: only this layer knows a job's record was lost, and the
	 * operator must hear of it (a restart would act on the old one). */
	if (r < 0)
		log_error("job=%lld cannot persist: %s",
		    (long long)job->row->id, strerror(-r));
	if (job->t->on_change)
		job->t->on_change(job, job->t->change_data);
}

static void
job_set_state(struct job *job, enum job_state s)
{
	bool moved = job->state != s;

	assert(!moved || job_state_can_move(job->state, s));
	job->state = s;
	if (moved)
		job_metrics_recount(job->t);
	if (moved && job_state_is_final(s))
		metrics_add(metrics_default(), "tern_jobs_finished_total",
		    (const char *const[]){ "type", job->ops->type, "result",
		    job_state_name(s), NULL }, 1);
}

static int
job_claim_check(struct job_table *t, const struct job_subject *s,
    struct err *err)
{
	for (size_t i = 0; i < t->n_jobs; i++) {
		struct job *o = t->jobs[i];

		if (!streq(o->subject, s->id) || (o->claim ==
		    JOB_CLAIM_SHARED && s->claim == JOB_CLAIM_SHARED))
			continue;
		return err_set(err, -EBUSY, "%s is busy with job %lld (%s); "
		    "wait for it or cancel it", s->what ? s->what : s->id,
		    (long long)o->row->id, o->ops->type);
	}
	if (t->n_jobs >= JOB_MAX)
		return err_set(err, -EBUSY, "too many jobs in flight (%d); "
		    "try again later", JOB_MAX);
	return 0;
}

static struct job_row *
job_row_new(const struct job_ops *ops, const struct job_subject *s,
    const json_t *details)
{
	struct job_row *row = xzalloc(sizeof(*row));

	row->type = xstrdup(ops->type);
	row->subject = xstrdup(s->id);
	row->claim = xstrdup(job_claim_name(s->claim));
	row->vm_uuid = s->vm_uuid ? xstrdup(s->vm_uuid) : NULL;
	row->vm_name = s->vm_name ? xstrdup(s->vm_name) : NULL;
	row->state = xstrdup(job_state_name(JOB_QUEUED));
	row->phase = xstrdup(ops->phases[0]);
	row->unit = xstrdup("steps");
	row->rate = -1;
	row->eta_s = -1;
	row->details = json_to_string(details);
	row->created_ms = wall_ms();
	return row;
}

int
job_create(struct job_table *t, const struct job_ops *ops,
    const struct job_subject *s, json_t *details, struct job **ret_job,
    struct err *err)
{
	struct job *job;
	int r;

	assert(job_type_find(t, ops->type) == ops);
	if ((r = job_claim_check(t, s, err)) < 0) {
		json_decref(details);
		return r;
	}
	job = xzalloc(sizeof(*job));
	job->t = t;
	job->ops = ops;
	job->subject = xstrdup(s->id);
	job->claim = s->claim;
	job->details = details ? details : json_object();
	job->row = job_row_new(ops, s, job->details);
	r = store_job_insert(t->store, job->row);
	if (r < 0) {
		store_job_row_free(job->row);
		json_decref(job->details);
		free(job->subject);
		free(job);
		return err_setf_errno(err, r, "cannot record job");
	}
	job_attach(t, job);
	*ret_job = job;
	return 0;
}

/* Run the type's step with the log context of this job: every line the
 * step logs (through any layer) carries the job's id and VM. */
static void
job_step_run(struct job *job)
{
	struct log_ctx saved;
	char id[24];

	snprintf(id, sizeof(id), "%lld", (long long)job->row->id);
	log_ctx_enter(id, job->row->vm_name, &saved);
	job->ops->step(job);
	log_ctx_leave(&saved);
}

void
job_start(struct job *job)
{
	job_set_state(job, JOB_RUNNING);
	job->row->started_ms = wall_ms();
	job->rate_t0_ms = now_ms();
	job_save(job);
	job_step_run(job);
}

static void
job_on_poke(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->timer = NULL;
	if (!job->finished)
		job_step_run(job);
}

static void
job_on_wake(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->wake = NULL;
	if (!job->finished)
		job_step_run(job);
}

void
job_poke(struct job *job)
{
	if (job->finished || job->timer)
		return;
	job->timer = loop_timer_add(job->t->loop, 0, job_on_poke, job);
}

void
job_wake_after(struct job *job, uint64_t delay_ms)
{
	if (job->finished)
		return;
	job->wake = loop_timer_cancel(job->t->loop, job->wake);
	job->wake = loop_timer_add(job->t->loop, delay_ms, job_on_wake, job);
}

void
job_set_phase(struct job *job, unsigned phase)
{
	assert(phase < job->ops->n_phases);
	/* With its time stamp, the debug log says where a job's time goes. */
	log_debug("job=%lld phase=%s", (long long)job->row->id,
	    job->ops->phases[phase]);
	job->phase = phase;
	job_save(job);
}

bool
job_phase_is(const struct job *job, unsigned phase)
{
	return job->phase == phase;
}

const char *
job_phase_name(const struct job *job)
{
	return job->ops->phases[job->phase];
}

static void
job_on_flush(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->flush = NULL;	/* this very timer; the loop freed it */
	job_save(job);
}

/* The store write of progress: now when the last one is old enough, else
 * once the period is over (a later write may come first and take it). */
static void
job_save_progress(struct job *job)
{
	uint64_t since = now_ms() - job->saved_ms;

	if (!job->saved_ms || since >= job->t->progress_every_ms) {
		job_save(job);
		return;
	}
	if (!job->flush)
		job->flush = loop_timer_add(job->t->loop,
		    job->t->progress_every_ms - since, job_on_flush, job);
	/* the store waits, an observer does not */
	if (job->t->on_change)
		job->t->on_change(job, job->t->change_data);
}

void
job_set_progress(struct job *job, uint64_t done, uint64_t total,
    const char *unit)
{
	uint64_t dt = now_ms() - job->rate_t0_ms;

	job->row->done = done;
	job->row->total = total;
	if (!streq(job->row->unit, unit)) {
		free(job->row->unit);
		job->row->unit = xstrdup(unit);
	}
	if (dt >= 500 && done >= job->rate_done0) {
		job->row->rate = (done - job->rate_done0) * 1000.0 / dt;
		job->row->eta_s = job->row->rate > 0 && total >= done ?
		    (int64_t)((total - done) / job->row->rate + 0.5) : -1;
	}
	job_save_progress(job);
}

void
job_set_queued(struct job *job, bool queued)
{
	enum job_state s = queued ? JOB_QUEUED : JOB_RUNNING;

	if (job->finished || job->state == s || job->state == JOB_CANCELLING)
		return;
	job_set_state(job, s);
	if (queued)
		job->gen = ++job->t->next_gen;	/* it moved on */
	else
		job->rate_t0_ms = now_ms();
	job_save(job);
}

/* A job that succeeded did all its work: its progress says 100 % (a type
 * that never counted shows one step of one). */
static void
job_progress_complete(struct job *job)
{
	if (job->row->total == 0 && streq(job->row->unit, "steps"))
		job->row->total = 1;
	job->row->done = job->row->total;
}

static void
job_free_later(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->timer = NULL;	/* this very timer; the loop freed it */
	job_free(job);
}

void *
job_priv(struct job *job, size_t size, bool *fresh)
{
	bool made = !job->priv;

	if (made)
		job->priv = xzalloc(size);
	if (fresh)
		*fresh = made;
	return job->priv;
}

static void
job_event(struct job *job, const char *severity, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
job_event(struct job *job, const char *severity, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (!job->t->on_event)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	job->t->on_event(job->t, job, severity, msg);
}

void
job_finish(struct job *job, int r, const char *fmt, ...)
{
	char msg[512] = "";
	va_list ap;

	if (job->finished)
		return;
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	job->finished = true;
	job->gen = ++job->t->next_gen;
	job_set_state(job, r == 0 ? JOB_SUCCEEDED :
	    r == -ECANCELED ? JOB_CANCELLED : JOB_FAILED);
	job->row->ended_ms = wall_ms();
	job->row->eta_s = r == 0 ? 0 : -1;
	if (r == 0)
		job_progress_complete(job);
	if (r != 0) {
		free(job->row->error);
		job->row->error = xstrdup(msg[0] ? msg : strerror(-r));
	}
	job_save(job);
	job_event(job, r == 0 || r == -ECANCELED ? "info" : "error",
	    "job %lld (%s) %s%s%s", (long long)job->row->id, job->ops->type,
	    job_state_name(job->state), r ? ": " : "", r ? job->row->error :
	    "");
	job_detach(job);
	job_slot_release(job);
	job->timer = loop_timer_cancel(job->t->loop, job->timer);
	job->wake = loop_timer_cancel(job->t->loop, job->wake);
	job->timer = loop_timer_add(job->t->loop, 0, job_free_later, job);
}

int
job_cancel(struct job_table *t, int64_t id, struct err *err)
{
	struct job *job = job_find(t, id);
	json_t *old;
	int r;

	if (!job) {
		old = store_job_json(t->store, id);
		if (!old)
			return err_set(err, -ENOENT, "job %lld not found",
			    (long long)id);
		json_decref(old);
		return err_set(err, -EBUSY, "job %lld has already ended",
		    (long long)id);
	}
	if (job->state == JOB_QUEUED) {
		job_finish(job, -ECANCELED, "cancelled before it started");
		return 0;
	}
	if (job->state == JOB_CANCELLING)
		return 0;
	if (!job->ops->cancel)
		return err_set(err, -EBUSY, "job %lld (%s) cannot be "
		    "cancelled once running; wait for it to end",
		    (long long)id, job->ops->type);
	{
		struct log_ctx saved;
		char jid[24];

		snprintf(jid, sizeof(jid), "%lld", (long long)id);
		log_ctx_enter(jid, job->row->vm_name, &saved);
		r = job->ops->cancel(job, err);
		log_ctx_leave(&saved);
	}
	if (r < 0)
		return r;
	if (!job->finished) {
		job_set_state(job, JOB_CANCELLING);
		job_save(job);
	}
	return 0;
}

int
job_spawn(struct job *job, const char *const *argv, const char *log_path,
    child_exit_fn fn)
{
	struct child_opts o = { .argv = argv, .log_path = log_path,
		.die_with_parent = true };

	assert(!job->child);
	/* The log's directory may not exist yet (the state directory of a
	 * VM never started): made here, or the helper's start fails. */
	if (log_path) {
		_cleanup_free_ char *d = xstrdup(log_path);
		char *slash = strrchr(d, '/');

		if (slash && slash != d) {
			*slash = '\0';
			(void)mkdir_p(d, 0700);
		}
	}
	log_debug("job=%lld spawn=%s", (long long)job->row->id, argv[0]);
	return child_spawn(job->t->loop, &o, fn, job, &job->child);
}

int
job_failpoint(struct job *job, const char *name)
{
	uint64_t ms = 0, now = now_ms();

	if (job->fp_until_ms && streq(job->fp_name, name)) {
		if (now >= job->fp_until_ms)
			return 0;
		job_wake_after(job, job->fp_until_ms - now);
		return 1;
	}
	switch (failpoint_check(name, &ms)) {
	case FP_FAIL:
		return -1;
	case FP_DELAY:
		job->fp_until_ms = now + ms;
		snprintf(job->fp_name, sizeof(job->fp_name), "%s", name);
		job_wake_after(job, ms);
		return 1;
	default:
		return 0;
	}
}

bool
job_past_deadline(struct job *job, uint64_t timeout_ms)
{
	if (!job->deadline_ms) {
		job->deadline_ms = now_ms() + timeout_ms;
		job_wake_after(job, timeout_ms);
	}
	return now_ms() >= job->deadline_ms;
}

json_t *
job_to_json(const struct job *job)
{
	json_t *o = job_row_to_json(job->row);

	/* The row's text fields lag until the next store write. */
	json_object_set_new(o, "state", json_string(job_state_name(
	    job->state)));
	json_object_set_new(o, "phase", json_string(job_phase_name(job)));
	json_object_set_new(o, "details", json_deep_copy(job->details));
	return o;
}
