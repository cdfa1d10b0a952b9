/* job.c - the job framework (state diagram in job.h): persistence,
 * progress with rate and ETA, one job per VM, and recovery after a
 * restart.  Transitions: job_create (QUEUED), job_start (RUNNING),
 * job_finish (SUCCEEDED | FAILED | CANCELLED).  Never frees a job while a
 * caller up the stack may hold it: freeing happens on a fresh loop turn. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failpoint.h"
#include "job.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define MAX_JOBS 256	/* active jobs per host */

static const char *const job_state_names[JOB__COUNT] = {
	[JOB_QUEUED] = "queued", [JOB_RUNNING] = "running",
	[JOB_SUCCEEDED] = "succeeded", [JOB_FAILED] = "failed",
	[JOB_CANCELLED] = "cancelled",
};

const char *
job_state_name(enum job_state s)
{
	return s < JOB__COUNT ? job_state_names[s] : "unknown";
}

static void
job_persist(struct job *job)
{
	int r;

	free(job->row->state);
	job->row->state = xstrdup(job_state_name(job->state));
	free(job->row->details);
	job->row->details = json_to_string(job->details);
	r = store_job_update(job->h->store, job->row);
	if (r < 0)
		log_error("job=%lld cannot persist: %s",
		    (long long)job->row->id, strerror(-r));
}

static void
job_attach(struct host *h, struct job *job)
{
	h->jobs = xrealloc(h->jobs, (h->n_jobs + 1) * sizeof(*h->jobs));
	h->jobs[h->n_jobs++] = job;
	if (job->vm)
		job->vm->job = job;
}

int
job_create(struct host *h, const struct job_ops *ops, struct vm *vm,
    json_t *details, struct job **ret_job, struct err *err)
{
	struct job *job;
	int r;

	if (vm && vm->job) {
		json_decref(details);
		return err_set(err, -EBUSY, "vm '%s' is busy with job %lld "
		    "(%s); wait for it or cancel it", vm->row->name,
		    (long long)vm->job->row->id, vm->job->ops->type);
	}
	if (h->n_jobs >= MAX_JOBS) {
		json_decref(details);
		return err_set(err, -EBUSY, "too many jobs in flight (%d); "
		    "try again later", MAX_JOBS);
	}
	job = xzalloc(sizeof(*job));
	job->h = h;
	job->ops = ops;
	job->vm = vm;
	job->details = details ? details : json_object();
	job->row = xzalloc(sizeof(*job->row));
	job->row->type = xstrdup(ops->type);
	job->row->vm_uuid = vm ? xstrdup(vm->row->uuid) : NULL;
	job->row->vm_name = vm ? xstrdup(vm->row->name) : NULL;
	job->row->state = xstrdup(job_state_name(JOB_QUEUED));
	job->row->phase = xstrdup("start");
	job->row->unit = xstrdup("steps");
	job->row->rate = -1;
	job->row->eta_s = -1;
	job->row->details = json_to_string(job->details);
	job->row->created_ms = wall_ms();
	r = store_job_insert(h->store, job->row);
	if (r < 0) {
		job_row_free(job->row);
		json_decref(job->details);
		free(job);
		return err_setf_errno(err, r, "cannot record job");
	}
	job_attach(h, job);
	*ret_job = job;
	return 0;
}

void
job_start(struct job *job)
{
	job->state = JOB_RUNNING;
	job->row->started_ms = wall_ms();
	job->rate_t0_ms = now_ms();
	job_persist(job);
	job->ops->step(job);
}

static void
job_on_poke(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->timer = NULL;
	if (!job->finished)
		job->ops->step(job);
}

static void
job_on_wake(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->wake = NULL;
	if (!job->finished)
		job->ops->step(job);
}

void
job_poke(struct job *job)
{
	if (job->finished || job->timer)
		return;
	job->timer = loop_timer_add(job->h->loop, 0, job_on_poke, job);
}

void
job_wake_after(struct job *job, uint64_t delay_ms)
{
	if (job->finished)
		return;
	job->wake = loop_timer_cancel(job->h->loop, job->wake);
	job->wake = loop_timer_add(job->h->loop, delay_ms, job_on_wake, job);
}

void
job_set_phase(struct job *job, const char *phase)
{
	free(job->row->phase);
	job->row->phase = xstrdup(phase);
	job_persist(job);
}

bool
job_phase_is(const struct job *job, const char *phase)
{
	return streq(job->row->phase, phase);
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
	job_persist(job);
}

static void
job_free_later(struct loop *l, void *data)
{
	struct job *job = data;

	(void)l;
	job->timer = NULL;	/* this very timer; the loop freed it */
	job->child = child_free(job->child);
	if (job->priv && job->ops->priv_free)
		job->ops->priv_free(job);
	free(job->priv);
	json_decref(job->details);
	job_row_free(job->row);
	free(job);
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
job_detach(struct job *job)
{
	struct host *h = job->h;

	for (size_t i = 0; i < h->n_jobs; i++) {
		if (h->jobs[i] != job)
			continue;
		h->jobs[i] = h->jobs[--h->n_jobs];
		break;
	}
	if (job->vm && job->vm->job == job)
		job->vm->job = NULL;
	job->vm = NULL;
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
	job->state = r == 0 ? JOB_SUCCEEDED :
	    r == -ECANCELED ? JOB_CANCELLED : JOB_FAILED;
	job->row->ended_ms = wall_ms();
	job->row->eta_s = r == 0 ? 0 : -1;
	if (r != 0) {
		free(job->row->error);
		job->row->error = xstrdup(msg[0] ? msg : strerror(-r));
	}
	job_persist(job);
	host_event(job->h, r == 0 || r == -ECANCELED ? "info" : "error",
	    job->vm, job->row->id, "job %lld (%s) %s%s%s",
	    (long long)job->row->id, job->ops->type,
	    job_state_name(job->state), r ? ": " : "", r ? job->row->error :
	    "");
	job_detach(job);
	job->timer = loop_timer_cancel(job->h->loop, job->timer);
	job->wake = loop_timer_cancel(job->h->loop, job->wake);
	job->timer = loop_timer_add(job->h->loop, 0, job_free_later, job);
}

struct job *
job_find(struct host *h, int64_t id)
{
	for (size_t i = 0; i < h->n_jobs; i++)
		if (h->jobs[i]->row->id == id)
			return h->jobs[i];
	return NULL;
}

int
job_cancel(struct host *h, int64_t id, struct err *err)
{
	struct job *job = job_find(h, id);
	json_t *old;

	if (!job) {
		old = store_job_json(h->store, id);
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
	if (!job->ops->cancel)
		return err_set(err, -EBUSY, "job %lld (%s) cannot be "
		    "cancelled once running; wait for it to end",
		    (long long)id, job->ops->type);
	job->ops->cancel(job);
	return 0;
}

static void
job_recover_one(struct host *h, struct job_row *row)
{
	const struct job_ops *ops = job_ops_by_type(row->type);
	struct job *job;

	if (!ops) {
		row->state = (free(row->state), xstrdup("failed"));
		row->error = xstrdup("unknown job type after restart");
		row->ended_ms = wall_ms();
		(void)store_job_update(h->store, row);
		job_row_free(row);
		return;
	}
	job = xzalloc(sizeof(*job));
	job->h = h;
	job->ops = ops;
	job->row = row;
	job->state = JOB_RUNNING;
	job->recovering = true;
	job->details = row->details ? json_loads(row->details, 0, NULL) : NULL;
	if (!job->details)
		job->details = json_object();
	job->vm = row->vm_uuid ? vm_find(h, row->vm_uuid) : NULL;
	job->rate_t0_ms = now_ms();
	job->rate_done0 = row->done;
	job_attach(h, job);
	host_event(h, "warning", job->vm, row->id, "ternd restarted during "
	    "job %lld (%s, phase %s): resuming", (long long)row->id,
	    row->type, row->phase ? row->phase : "?");
	job_poke(job);
}

void
job_recover_all(struct host *h)
{
	struct job_row **rows = NULL;
	size_t n = 0;

	if (store_job_load_active(h->store, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		job_recover_one(h, rows[i]);
	free(rows);
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

void
job_set_queued(struct job *job, bool queued)
{
	enum job_state s = queued ? JOB_QUEUED : JOB_RUNNING;

	if (job->finished || job->state == s)
		return;
	job->state = s;
	if (!queued)
		job->rate_t0_ms = now_ms();
	job_persist(job);
}

json_t *
job_to_json(const struct job *job)
{
	return job_row_to_json(job->row);
}
