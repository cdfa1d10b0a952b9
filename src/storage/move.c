/* move.c - the vm.move-storage job: its start, the queue, the helpers
 * the live (mirror.c) and offline (copy.c) halves share, and the end.
 *
 *   start --mode--> queued (state queued while max-storage-migrations
 *     moves run) --slot--> live: check ... (mirror.c)
 *                          copy: copy ... (copy.c)
 *
 * Transitions here: storage_move_start() (the job, phase start),
 * move_step() (start -> queued -> the mode's first phase), st_finish()
 * (the end: the slot is given back and the queue poked).  Cancel is the
 * mode's: before a disk's switch it undoes, after it it refuses. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "fsutil.h"
#include "log.h"
#include "st_int.h"
#include "storage.h"
#include "util.h"
#include "vm_action.h"
#include "vm.h"
#include "vm_spec.h"

#define ST_QUEUE_POLL_MS 1000	/* a queued job looks again this often */
#define ST_POOL "storage"	/* the slot pool: details storage_slot */

static const char *const st_phase_names[ST_PH__COUNT] = {
	[ST_PH_START] = "start", [ST_PH_QUEUED] = "queued",
	[ST_PH_CHECK] = "check", [ST_PH_CREATE] = "create",
	[ST_PH_ATTACH] = "attach", [ST_PH_MIRROR] = "mirror",
	[ST_PH_MIRRORING] = "mirroring", [ST_PH_PIVOT] = "pivot",
	[ST_PH_RESOLVE] = "resolve", [ST_PH_ROLLBACK] = "rollback",
	[ST_PH_CANCELLING] = "cancelling", [ST_PH_COPY] = "copy",
	[ST_PH_DONE] = "done",
};

struct st_ctx *
st_ctx(struct job *job)
{
	return job_priv(job, sizeof(struct st_ctx), NULL);
}

static void
st_ctx_free(struct job *job)
{
	struct st_ctx *c = job->priv;

	if (!c)
		return;
	json_decref(c->reply);
	free(c);
	job->priv = NULL;
}

void
st_save(struct job *job)
{
	job_save(job);
}

char *
st_out_path(const struct job *job)
{
	return xasprintf("%s/job-%lld.out", host_of(job)->cfg.run_dir,
	    (long long)job->row->id);
}

void
st_finish(struct job *job, int r, const char *fmt, ...)
{
	_cleanup_free_ char *out = st_out_path(job);
	char msg[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	job->child = child_free(job->child);
	(void)unlink(out);
	if (vm_of(job))
		vm_block_jobs_forget(vm_of(job));
	if (st_int(job->details, "began_ms"))
		json_object_set_new(job->details, "total_ms", json_integer(
		    (json_int_t)(wall_ms() - st_int(job->details, "began_ms"))));
	json_object_del(job->details, "storage_wait");
	if (r == 0)
		job_set_phase(job, ST_PH_DONE);
	st_ctx_free(job);
	job_finish(job, r, fmt ? "%s" : NULL,
	    msg);	/* gives the slot back */
}

/* ---- QMP ---- */

static void
st_on_reply(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	struct st_ctx *c;

	(void)vm;
	if (!job)	/* a late answer: the job it was for moved on */
		return;
	c = st_ctx(job);
	c->waiting = false;
	c->replied = true;
	json_decref(c->reply);
	c->reply = ret ? json_incref(ret) : NULL;
	snprintf(c->reply_err, sizeof(c->reply_err), "%s", ret ? "" :
	    qmp_err_desc(e));
	job_poke(job);
}

static void
st_on_ignored(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)job;
	(void)ret;
	if (e)
		log_debug("vm=%s storage move: QMP said: %s", vm->row->name,
		    e->msg);
}

int
st_query(struct job *job, struct qmp_command q)
{
	struct st_ctx *c = st_ctx(job);
	int r;

	c->replied = false;
	snprintf(c->cmd, sizeof(c->cmd), "%s", q.name);
	r = vm_qmp_cmd(vm_of(job), job, q, ST_QMP_MS, st_on_reply);
	c->waiting = r == 0;
	return r;
}

void
st_send(struct job *job, struct qmp_command q)
{
	(void)vm_qmp_cmd(vm_of(job), job, q, ST_QMP_MS, st_on_ignored);
}

bool
st_answered(struct job *job, const char *cmd)
{
	struct st_ctx *c = st_ctx(job);

	if (c->replied && !streq(c->cmd, cmd)) {
		c->replied = false;
		c->reply = (json_decref(c->reply), NULL);
	}
	return c->replied;
}

json_t *
st_take_reply(struct job *job)
{
	struct st_ctx *c = st_ctx(job);

	c->replied = false;
	return TAKE_PTR(c->reply);
}

/* ---- helpers processes, messages, records ---- */

int
st_spawn(struct job *job, const char *const *argv, child_exit_fn fn)
{
	_cleanup_free_ char *out = st_out_path(job);

	(void)unlink(out);
	return job_spawn(job, argv, out, fn);
}

int
st_image_create(struct job *job, const char *path, uint64_t size,
    child_exit_fn fn)
{
	_cleanup_free_ char *out = st_out_path(job);

	(void)unlink(out);
	return vm_image_create(job, path, size, out, fn);
}

void
st_out_tail(const struct job *job, char *buf, size_t len)
{
	_cleanup_free_ char *path = st_out_path(job);
	_cleanup_free_ char *line = file_last_line(path);

	snprintf(buf, len, "%s", line ? line : "no output");
}

void
st_outcome(const struct job *job, char *buf, size_t len)
{
	json_t *d;
	size_t i, k = 0;

	buf[0] = '\0';
	json_array_foreach(st_disks(job), i, d) {
		bool moved = st_flag(d, "recorded");
		const char *pool = st_str(d, moved ? "dst_pool" : "src_pool");

		k += snprintf(buf + k, len - k, "%s%s %s %s", i ? "; " : "",
		    st_str(d, "name"), moved ? "moved to" : "stays in",
		    pool ? pool : "its directory");
		if (k >= len)
			return;
	}
}

/* The NVRAM entry of a live move (plan.c): the row's nvram column. */
static int
record_nvram(struct job *job, json_t *d)
{
	struct vm *vm = vm_of(job);
	int r = store_vm_set_text(host_of(job)->store, vm->row->uuid, "nvram",
	    st_str(d, "dst"));

	if (r < 0)
		return r;
	free(vm->row->nvram);
	vm->row->nvram = xstrdup(st_str(d, "dst"));
	st_set_flag(d, "recorded", true);
	st_save(job);
	host_event(host_of(job), "info", vm, job->row->id, "UEFI variables now "
	    "'%s'", st_str(d, "dst"));
	return 0;
}

int
st_record_disk(struct job *job, json_t *d)
{
	struct vm *vm = vm_of(job);
	struct disk_row *row;
	int r;

	if (st_flag(d, "nvram"))
		return record_nvram(job, d);
	row = &vm->row->disks[st_int(d, "idx")];
	r = store_vm_set_disk(host_of(job)->store, vm->row->uuid, st_str(d,
	    "name"),
	    st_str(d, "dst"), st_str(d, "dst_pool"));
	if (r < 0)
		return r;
	free(row->path);
	row->path = xstrdup(st_str(d, "dst"));
	free(row->pool);
	row->pool = xstrdup(st_str(d, "dst_pool"));
	st_set_flag(d, "recorded", true);
	st_save(job);
	host_event(host_of(job), "info", vm, job->row->id,
	    "disk %s now in '%s' "
	    "(%s)", st_str(d, "name"), st_str(d, "dst_pool"),
	    st_str(d, "dst"));
	return 0;
}

/* ---- the queue ---- */

bool
storage_take_slot(struct job *job)
{
	struct host *h = host_of(job);
	int max = h->cfg.max_storage_migrations > 0 ?
	    h->cfg.max_storage_migrations : 2;

	return job_slot_take(job, ST_POOL, (size_t)max);
}

void
storage_poke_queue(struct host *h)
{
	job_slot_poke(&h->jobs, ST_POOL);
}

/* ---- the job ---- */

static bool
st_live(const struct job *job)
{
	return streq(st_str(job->details, "mode"), "live");
}

static void
move_queued(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (!storage_take_slot(job)) {
		job_wake_after(job, ST_QUEUE_POLL_MS);
		return;
	}
	json_object_set_new(job->details, "began_ms",
	    json_integer((json_int_t)wall_ms()));
	if (st_live(job) && vm->pidfd < 0) {
		st_finish(job, -EIO, "vm '%s' stopped while the move waited "
		    "for a slot; nothing was changed", vm->row->name);
		return;
	}
	if (!st_live(job) && !vm_is_down(vm)) {
		st_finish(job, -EBUSY, "vm '%s' is %s; nothing was changed",
		    vm->row->name, vm_state_name(vm->state));
		return;
	}
	job_set_phase(job, st_live(job) ? ST_PH_CHECK : ST_PH_COPY);
	job_poke(job);
}

static void
move_step(struct job *job)
{
	if (vm_job_gone(job)) {
		st_ctx_free(job);
		storage_poke_queue(host_of(job));
		return;
	}
	/* Before a slot nothing was done: a restart just carries on. */
	if (job_phase_is(job, ST_PH_START))
		job_set_phase(job, ST_PH_QUEUED);
	if (job_phase_is(job, ST_PH_QUEUED)) {
		job->recovering = false;
		move_queued(job);
		return;
	}
	if (st_live(job))
		live_step(job);
	else
		copy_step(job);
}

static int
move_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, ST_PH_START) || job_phase_is(job, ST_PH_QUEUED)) {
		st_finish(job, -ECANCELED, "cancelled; nothing was changed");
		return 0;
	}
	return st_live(job) ? live_cancel(job, err) : copy_cancel(job, err);
}

const struct job_ops job_vm_move_storage = { .type = "vm.move-storage",
	.phases = st_phase_names, .n_phases = ST_PH__COUNT,
	.step = move_step, .cancel = move_cancel, .priv_free = st_ctx_free };

int
storage_move_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	const char *names[VM_MAX_DISKS];
	const char *to[VM_MAX_DISKS];
	json_t *details = NULL;
	bool explicit_disks = false;
	size_t n = vm->row->n_disks;
	int r;

	if (n == 0 || n > VM_MAX_DISKS)
		return err_set(err, n ? -E2BIG : -EINVAL, "vm '%s' has %s",
		    vm->row->name, n ? "too many disks" : "no disks");
	if ((r = vm_no_checkpoints(vm, "moved to another pool", err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		names[i] = vm->row->disks[i].name;
	if ((r = storage_plan_parse(body, names, n, to, &explicit_disks,
	    err)) < 0 ||
	    (r = storage_plan_check(h, vm, to, explicit_disks,
	    explicit_disks ? NULL : to[0], &details, err)) < 0)
		return r;
	if ((r = vm_job_create(h, &job_vm_move_storage, vm, details, ret_job,
	    err)) < 0)
		return r;
	job_start(*ret_job);
	return 0;
}

void
storage_init(struct host *h)
{
	(void)h;
	job_type_register(&h->jobs, &job_vm_move_storage);
}
