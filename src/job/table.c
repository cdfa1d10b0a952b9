/* table.c - the jobs of one daemon: the registry of job types (grows as
 * types register; a name registered twice is a bug), the active jobs and
 * their lookups by id, by subject and by reference, the slot queue, and
 * recovery after a restart.  Never calls a job's step() directly: it
 * pokes, so a step never runs inside another. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "job_int.h"
#include "metrics.h"
#include "util.h"

/* tern_jobs_active{type,state} is recounted from the table's jobs
 * (queued, running or cancelling: a job leaves the table when it ends)
 * whenever one comes, goes or changes state: at most MAX_JOBS of them.
 * tern_jobs_finished_total{type,result} counts the ends. */
void
job_metrics_recount(struct job_table *t)
{
	struct metrics *m = metrics_default();

	metrics_declare(m, "tern_jobs_active", METRIC_GAUGE,
	    "Jobs queued, running or cancelling, by type and state.");
	metrics_declare(m, "tern_jobs_finished_total", METRIC_COUNTER,
	    "Jobs ended since ternd started, by type and result "
	    "(succeeded, failed, cancelled).");
	metrics_zero(m, "tern_jobs_active");
	for (size_t i = 0; i < t->n_jobs; i++) {
		const struct job *j = t->jobs[i];

		if (job_state_is_final(j->state))
			continue;
		metrics_add(m, "tern_jobs_active", (const char *const[]){
		    "type", j->ops->type, "state", job_state_name(j->state),
		    NULL }, 1);
	}
}

void
job_table_init(struct job_table *t, struct loop *l, struct store *st,
    job_event_fn on_event)
{
	*t = (struct job_table){ .loop = l, .store = st,
		.on_event = on_event, .progress_every_ms = JOB_PROGRESS_MS };
	job_metrics_recount(t);
}

void
job_table_done(struct job_table *t)
{
	free(t->jobs);
	free(t->types);
	t->jobs = NULL;
	t->types = NULL;
	t->n_jobs = t->n_types = t->cap_types = 0;
}

void
job_type_register(struct job_table *t, const struct job_ops *ops)
{
	assert(ops->type && ops->step && ops->phases && ops->n_phases > 0);
	assert(streq(ops->phases[0], "start"));
	assert(!job_type_find(t, ops->type));	/* registered twice */
	if (t->n_types == t->cap_types) {
		t->cap_types = t->cap_types ? 2 * t->cap_types : 16;
		t->types = xrealloc(t->types, t->cap_types *
		    sizeof(*t->types));
	}
	t->types[t->n_types++] = ops;
}

const struct job_ops *
job_type_find(const struct job_table *t, const char *type)
{
	for (size_t i = 0; i < t->n_types; i++)
		if (streq(t->types[i]->type, type))
			return t->types[i];
	return NULL;
}

int
job_phase_from_name(const struct job_ops *ops, const char *name)
{
	for (unsigned i = 0; i < ops->n_phases; i++)
		if (streq(ops->phases[i], name))
			return (int)i;
	return -EINVAL;
}

void
job_attach(struct job_table *t, struct job *job)
{
	t->jobs = xrealloc(t->jobs, (t->n_jobs + 1) * sizeof(*t->jobs));
	t->jobs[t->n_jobs++] = job;
	job->gen = ++t->next_gen;
	job_metrics_recount(t);
}

/* Order is kept: jobs[] is in creation order, which lookups by subject
 * and the slot queue rely on. */
void
job_detach(struct job *job)
{
	struct job_table *t = job->t;

	for (size_t i = 0; i < t->n_jobs; i++) {
		if (t->jobs[i] != job)
			continue;
		memmove(&t->jobs[i], &t->jobs[i + 1],
		    (t->n_jobs - i - 1) * sizeof(*t->jobs));
		t->n_jobs--;
		job_metrics_recount(t);
		break;
	}
}

void
job_free(struct job *job)
{
	struct loop *l = job->t->loop;

	job->timer = loop_timer_cancel(l, job->timer);
	job->wake = loop_timer_cancel(l, job->wake);
	job->flush = loop_timer_cancel(l, job->flush);
	job->child = child_free(job->child);
	if (job->priv && job->ops->priv_free)
		job->ops->priv_free(job);
	free(job->priv);
	json_decref(job->details);
	store_job_row_free(job->row);
	free(job->subject);
	free(job);
}

struct job *
job_find(struct job_table *t, int64_t id)
{
	for (size_t i = 0; i < t->n_jobs; i++)
		if (t->jobs[i]->row->id == id)
			return t->jobs[i];
	return NULL;
}

struct job *
job_next_by_subject(struct job_table *t, const char *subject,
    const struct job *prev)
{
	size_t i = 0;

	if (prev)
		while (i < t->n_jobs && t->jobs[i++] != prev)
			;
	for (; i < t->n_jobs; i++)
		if (streq(t->jobs[i]->subject, subject))
			return t->jobs[i];
	return NULL;
}

struct job *
job_find_by_subject(struct job_table *t, const char *subject,
    bool exclusive)
{
	struct job *job = NULL;

	while ((job = job_next_by_subject(t, subject, job)))
		if (!exclusive || job->claim == JOB_CLAIM_EXCLUSIVE)
			return job;
	return NULL;
}

struct job_ref
job_ref(const struct job *job)
{
	return (struct job_ref){ job->row->id, job->gen };
}

struct job *
job_from_ref(struct job_table *t, struct job_ref ref)
{
	struct job *job = job_find(t, ref.id);

	return job && job->gen == ref.gen ? job : NULL;
}

/* ---- the slot queue ---- */

static bool
job_flag(const struct job *job, const char *pool, const char *what)
{
	char key[64];

	snprintf(key, sizeof(key), "%s_%s", pool, what);
	return json_is_true(json_object_get(job->details, key));
}

static void
job_flag_set(struct job *job, const char *pool, const char *what, bool on)
{
	char key[64];

	snprintf(key, sizeof(key), "%s_%s", pool, what);
	if (on)
		json_object_set_new(job->details, key, json_true());
	else
		json_object_del(job->details, key);
}

/* Waits in some pool still (a "*_wait" flag in its details). */
static bool
job_slot_waiting(const struct job *job)
{
	const char *k;
	json_t *v;

	json_object_foreach(job->details, k, v) {
		size_t n = strlen(k);

		if (n > 5 && streq(k + n - 5, "_wait") && json_is_true(v))
			return true;
	}
	return false;
}

bool
job_slot_take(struct job *job, const char *pool, size_t limit)
{
	struct job_table *t = job->t;
	size_t used = 0;
	bool older_waits = false;

	if (!job_flag(job, pool, "slot")) {
		for (size_t i = 0; i < t->n_jobs; i++) {
			struct job *o = t->jobs[i];

			if (o == job || o->finished)
				continue;
			if (job_flag(o, pool, "slot"))
				used++;
			else if (job_flag(o, pool, "wait") &&
			    o->row->id < job->row->id)
				older_waits = true;	/* it goes first */
		}
		if (older_waits || used >= limit) {
			bool was = job_flag(job, pool, "wait");

			job_flag_set(job, pool, "wait", true);
			if (job->state != JOB_QUEUED)
				job_set_queued(job, true);
			else if (!was)
				job_save(job);
			return false;
		}
		job_flag_set(job, pool, "wait", false);
		job_flag_set(job, pool, "slot", true);
	}
	if (!job_slot_waiting(job))
		job_set_queued(job, false);
	return true;
}

void
job_slot_poke(struct job_table *t, const char *pool)
{
	for (size_t i = 0; i < t->n_jobs; i++)
		if (job_flag(t->jobs[i], pool, "wait"))
			job_poke(t->jobs[i]);
}

/* A job that held a slot frees it; one that waited no longer goes first:
 * either way the others waiting in that pool may go now. */
void
job_slot_release(struct job *job)
{
	const char *k;
	json_t *v;

	json_object_foreach(job->details, k, v) {
		size_t n = strlen(k);
		char pool[64];

		if (n <= 5 || n - 5 >= sizeof(pool) || !json_is_true(v) ||
		    (!streq(k + n - 5, "_slot") && !streq(k + n - 5, "_wait")))
			continue;
		memcpy(pool, k, n - 5);
		pool[n - 5] = '\0';
		job_slot_poke(job->t, pool);
	}
}

/* ---- recovery ---- */

static void
job_recover_fail(struct job_table *t, struct job_row *row, const char *fmt,
    const char *what)
{
	free(row->state);
	row->state = xstrdup(job_state_name(JOB_FAILED));
	free(row->error);
	row->error = xasprintf(fmt, what);
	row->ended_ms = wall_ms();
	(void)store_job_update(t->store, row);
	store_job_row_free(row);
}

static void
job_recover_one(struct job_table *t, struct job_row *row)
{
	const struct job_ops *ops = job_type_find(t, row->type);
	struct job *job;
	int phase;

	if (!ops) {
		job_recover_fail(t, row, "unknown job type '%s' after "
		    "restart: this ternd does not run it", row->type);
		return;
	}
	phase = job_phase_from_name(ops, row->phase ? row->phase : "start");
	if (phase < 0) {
		job_recover_fail(t, row, "unknown phase '%s' after restart",
		    row->phase);
		return;
	}
	job = xzalloc(sizeof(*job));
	job->t = t;
	job->ops = ops;
	job->row = row;
	job->subject = xstrdup(row->subject ? row->subject : "host");
	job->claim = streq(row->claim, "exclusive") ? JOB_CLAIM_EXCLUSIVE :
	    JOB_CLAIM_SHARED;
	job->phase = (unsigned)phase;
	job->state = streq(row->state, "cancelling") ? JOB_CANCELLING :
	    JOB_RUNNING;
	job->recovering = true;
	job->details = row->details ? json_loads(row->details, 0, NULL) : NULL;
	if (!job->details)
		job->details = json_object();
	job->rate_t0_ms = now_ms();
	job->rate_done0 = row->done;
	job_attach(t, job);
	if (t->on_event) {
		_cleanup_free_ char *msg = xasprintf("ternd restarted during "
		    "job %lld (%s, phase %s): resuming", (long long)row->id,
		    row->type, row->phase ? row->phase : "?");

		t->on_event(t, job, "warning", msg);
	}
	job_poke(job);
}

void
job_recover_all(struct job_table *t)
{
	struct job_row **rows = NULL;
	size_t n = 0;

	if (store_job_load_active(t->store, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		job_recover_one(t, rows[i]);
	free(rows);
}
