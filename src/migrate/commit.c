/* commit.c - vm.move on the source host: the commit and what settles a
 * move whose end is unclear (phases commit, resolve, rollback,
 * cancelling, committed; the whole diagram is at the top of source.c).
 *
 *  commit --move_commit: POST commit; 503 (not yet) asked again;
 *    succeeded--> committed --move_committed: quit, SIGKILL after the
 *    stop timeout--> move_forget
 *  commit unclear / resolve / rollback / cancelling --move_settle:
 *    migrate_cancel, mirrors cancelled, the destination asked (shared-
 *    nothing) or the image locks read (shared), `cont` here--> failed
 *    (the VM runs here) or committed (it runs there)
 *
 *  An HA VM's sanlock lease (src/cluster/lease.c) goes with the commit,
 *  as libvirt's lock manager does: released here before the first POST
 *  (our QEMU is paused for good), taken by the destination for its
 *  paused QEMU before its `cont` (it answers 503 meanwhile); a rollback
 *  takes it again here before our `cont`, and a lease the destination
 *  holds is a `cont` that failed: the facts below decide.
 *
 *  The destination answers 503 while its QEMU still loads the
 *  stream's end (ours completed when the last byte left); we POST again
 *  every MOVE_DEST_POLL_MS until MOVE_COMMIT_MS, then resolve.
 *
 * The commit point is the destination's `cont`.  The destination takes the
 * shared image's locks only then (late block activation; always on QEMU
 * 10), and the source's own images are inactive, unlocked, once its stream
 * completed.  So when the commit's outcome is unknown (reply lost,
 * destination ternd gone) the source sends `cont` itself: success means
 * the destination never took over (its own `cont` will fail on the lock,
 * and it removes its copy).  When the source's `cont` fails, facts decide,
 * never QEMU's message: the images' locks held by another process (the
 * kernel says so, src/vm/block.c) or the destination's job saying it runs
 * the VM mean it took over, and the source ends; otherwise the VM stays
 * here and `cont` is tried again.  Either way exactly one copy runs.  A
 * restarted source ternd resolves the same way (move_recover). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "failpoint.h"
#include "jsonutil.h"
#include "log.h"
#include "mig_int.h"
#include "migrate.h"
#include "util.h"
#include "vm.h"

/* The VM's lease released for the destination (lease.c): 0 done (or
 * none needed), 1 wait, <0 rolled back (the lease is still ours).
 * Persisted first, so a rollback or a restarted ternd takes it again. */
static int
move_lease_release(struct job *job)
{
	struct host *h = host_of(job);
	struct err e = { 0 };
	int r;

	if (!h->vm_lease)
		return 0;
	if (!json_is_true(json_object_get(job->details, "lease_released"))) {
		json_object_set_new(job->details, "lease_released",
		    json_true());
		job_save(job);
	}
	if ((r = h->vm_lease(vm_of(job), job, HOST_LEASE_RELEASE, &e)) < 0)
		move_rollback_msg(job, e.msg);
	if (r == 0)	/* test hook: "kill" here, the lease free */
		(void)failpoint_check("move.lease-released", NULL);
	return r;
}

/* Ask the destination to resume the VM; then watch its job. */
void
move_commit(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	_cleanup_free_ char *cpath = xasprintf("/v1/migrations/%lld/commit",
	    (long long)detail_int(job, "dest_job"));
	_cleanup_free_ char *jpath = xasprintf("/v1/jobs/%lld",
	    (long long)detail_int(job, "dest_job"));
	const char *st;

	if (!c->commit_t0) {
		int fp = job_failpoint(job, "move.completed");

		if (fp < 0) {
			job_set_phase(job, MOVE_PH_RESOLVE);
			job_poke(job);
		}
		if (fp || move_lease_release(job) != 0)
			return;
		c->commit_t0 = now_ms();
		move_call(job, "POST", cpath, NULL, MOVE_CALL_MS);
		return;
	}
	if (c->commit_again && !c->call) {
		c->commit_again = false;
		move_call(job, "POST", cpath, NULL, MOVE_CALL_MS);
		return;
	}
	if (!c->replied)
		return;
	c->replied = false;
	if (c->reply_status == 503 && now_ms() - c->commit_t0 <=
	    MOVE_COMMIT_MS) {
		/* Its QEMU is still loading the stream's end: ask again. */
		c->commit_again = true;
		job_wake_after(job, MOVE_DEST_POLL_MS);
		return;
	}
	st = json_string_value(json_object_get(c->reply, "state"));
	if (c->reply_status == 200 && streq(st, "succeeded")) {
		json_t *res = json_object_get(job->details, "result");
		int64_t resumed = json_integer_value(json_object_get(
		    json_object_get(c->reply, "details"), "resumed_wall_ms"));

		if (res && resumed > 0 && vm_of(job)->stop_wall_ms &&
		    (uint64_t)resumed >= vm_of(job)->stop_wall_ms)
			json_object_set_new(res, "downtime_ms", json_integer(
			    resumed - (int64_t)vm_of(job)->stop_wall_ms));
		job_set_phase(job, MOVE_PH_COMMITTED);
		job_poke(job);
		return;
	}
	if ((c->reply_status == 200 && (streq(st, "failed") ||
	    streq(st, "cancelled"))) || (c->reply_status != 200 &&
	    c->reply_status != 202) || now_ms() - c->commit_t0 >
	    MOVE_COMMIT_MS) {
		/* Unknown or refused: the lock decides (see the top). */
		const char *m = json_string_value(json_object_get(
		    json_object_get(c->reply, "error"), "message"));

		if (c->reply_status >= 400 && m && !detail_str(job, "why")) {
			_cleanup_free_ char *why = xasprintf("host %s refused "
			    "the commit: %s", detail_str(job, "peer"), m);

			json_object_set_new(job->details, "why",
			    json_string(why));
		}
		log_warn("vm=%s commit on %s unclear (%s): resolving by the "
		    "image lock", vm_of(job)->row->name,
		    detail_str(job, "peer"), c->reply_status ?
		    (st ? st : "?") : c->reply_err);
		job_set_phase(job, MOVE_PH_RESOLVE);
		job_poke(job);
		return;
	}
	job_wake_after(job, MOVE_DEST_POLL_MS / 2);
	move_call(job, "GET", jpath, NULL, MOVE_CALL_MS);
}

static void
move_on_cont(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	struct move_ctx *c;

	(void)vm;
	if (!job)
		return;
	c = move_ctx(job);
	c->cont_done = true;
	c->cont_ok = ret != NULL;
	snprintf(c->cont_err, sizeof(c->cont_err), "%s", ret ? "" : e->msg);
	/* Test hook: the first `cont` of a rollback reads as failed, with a
	 * message that is not about the lock but contains "lock". */
	if (!c->cont_faked && failpoint_check("move.rollback-cont", NULL) ==
	    FP_FAIL) {
		c->cont_faked = true;
		c->cont_ok = false;
		snprintf(c->cont_err, sizeof(c->cont_err), "Block node is "
		    "read-only (failpoint move.rollback-cont)");
	}
	job_poke(job);
}

/* Shared-nothing after the commit may have gone: nothing arbitrates
 * between two copies of the disks, so the destination's word decides.
 * True when it does not run the VM (and never will); meanwhile the VM
 * stays paused here, however long the destination takes to answer. */
static bool
move_ask_dest(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	_cleanup_free_ char *path = xasprintf("/v1/jobs/%lld",
	    (long long)detail_int(job, "dest_job"));
	const char *st, *ph;

	if (c->dest_verdict)
		return c->dest_verdict < 0;
	if (c->call)
		return false;
	if (c->replied) {
		c->replied = false;
		st = json_string_value(json_object_get(c->reply, "state"));
		ph = json_string_value(json_object_get(c->reply, "phase"));
		if (c->reply_status == 200 && streq(st, "succeeded")) {
			c->dest_verdict = 1;
			host_event(host_of(job), "info", vm_of(job),
			    job->row->id, "host "
			    "%s runs the vm: the move is committed",
			    detail_str(job, "peer"));
			job_set_phase(job, MOVE_PH_COMMITTED);
			job_poke(job);
			return false;
		}
		if (c->reply_status == 200 && (streq(st, "failed") ||
		    streq(st, "cancelled"))) {
			c->dest_verdict = -1;
			return true;
		}
		if (c->reply_status == 200 && streq(ph, "listening")) {
			/* It never got the commit: call it off. */
			move_cancel_dest(job);
		} else if (!c->asked_warned) {
			c->asked_warned = true;
			host_event(host_of(job), "warning", vm_of(job),
			    job->row->id,
			    "waiting for host %s to say whether it runs the "
			    "vm (%s); the vm stays paused here until it does",
			    detail_str(job, "peer"), c->reply_status ?
			    (st ? st : "?") : c->reply_err);
		}
		job_wake_after(job, 1000);
		return false;
	}
	move_call(job, "GET", path, NULL, MOVE_CALL_MS);
	return false;
}

/* The destination runs the VM, by the facts: its stream completed (our
 * images are inactive) and another process holds the locks on every disk
 * of the VM (shared storage: the destination's QEMU resumed it). */
static bool
move_taken_over(struct job *job)
{
	const struct vm_row *r = vm_of(job)->row;

	if (!json_is_true(json_object_get(job->details, "commit_sent")) ||
	    r->n_disks == 0)
		return false;
	for (size_t i = 0; i < r->n_disks; i++)
		if (vm_image_locked_elsewhere(vm_of(job),
		    r->disks[i].path) != 1)
			return false;
	return true;
}

/* The source's `cont` failed: committed when the destination took over
 * (see the top), else try again - the VM stays here, paused, until one
 * of the two is true; never decided from the error's text. */
static void
move_cont_failed(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);

	c->cont_done = c->rb_cont_sent = false;
	if (move_taken_over(job)) {
		host_event(host_of(job), "info", vm, job->row->id,
		    "host %s holds "
		    "the vm's disks (it resumed the vm): the move is "
		    "committed", detail_str(job, "peer"));
		job_set_phase(job, MOVE_PH_COMMITTED);
		job_poke(job);
		return;
	}
	if (!c->cont_warned) {
		c->cont_warned = true;
		host_event(host_of(job), "warning", vm, job->row->id,
		    "cannot resume "
		    "the vm here (%s) and host %s does not run it: it stays "
		    "here, paused, and tern retries", c->cont_err,
		    detail_str(job, "peer"));
	}
	job_wake_after(job, 500);
}

/* Before a rollback's `cont`: the lease this move released taken
 * again for our QEMU.  0 held (or none needed), 1 wait; held by the
 * destination: the `cont` failed (move_cont_failed decides). */
static int
move_lease_retake(struct job *job)
{
	struct host *h = host_of(job);
	struct move_ctx *c = move_ctx(job);
	struct err e = { 0 };
	int r;

	if (!h->vm_lease || !json_is_true(json_object_get(job->details,
	    "lease_released")))
		return 0;
	if ((r = h->vm_lease(vm_of(job), job, HOST_LEASE_BIND, &e)) > 0)
		return 1;
	if (r == 0) {
		json_object_del(job->details, "lease_released");
		job_save(job);
		return 0;
	}
	snprintf(c->cont_err, sizeof(c->cont_err), "%s", e.msg);
	move_cont_failed(job);
	return 1;
}

/* resolve and rollback: make this copy run, unless the destination
 * took over (then it runs there, and this one ends). */
void
move_settle(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);

	if (vm->pidfd < 0) {
		/* The exit handler may have said OFF already (the guest
		 * powered off): that stays; anything else crashed. */
		bool off = vm->state == VM_OFF;

		if (!vm_is_down(vm))
			vm_set_state(vm, VM_CRASHED, "QEMU exited during the "
			    "move");
		move_cancel_dest(job);
		move_finish(job, -EIO, "%s during the move; the vm did not "
		    "move", off ? "the guest powered off" :
		    "QEMU on this host exited");
		return;
	}
	if (!vm->qmp_ready)
		return;		/* re-attaching: QMP pokes the job */
	if (!c->rb_cancel_sent) {
		(void)vm_qmp(vm, job, "migrate_cancel", NULL, MOVE_QMP_MS,
		    move_on_qmp);
		c->rb_cancel_sent = true;
	}
	if (move_copy(job)) {
		bool ended = mig_cancel_mirrors(job, true);

		if (json_is_true(json_object_get(job->details,
		    "commit_sent")) && !move_ask_dest(job))
			return;
		/* A guest write still passing through a mirror to a full or
		 * lost destination fails, and QEMU pauses the VM on it
		 * (werror=enospc): resume only once the mirrors ended (or
		 * MOVE_MIRROR_END_MS passed); a write that failed is then
		 * retried on this host's disk alone. */
		if (!ended && !c->rb_cont_sent &&
		    now_ms() - c->mirrors_cancel_ms < MOVE_MIRROR_END_MS) {
			job_wake_after(job, 100);
			return;
		}
	}
	if (c->cont_done && !c->cont_ok) {
		move_cont_failed(job);
		return;
	}
	if (c->cont_done && c->cont_ok && vm->vcpus_running) {
		const char *why = detail_str(job, "why");

		move_cancel_dest(job);
		vm->mig_status[0] = '\0';
		vm_set_state(vm, VM_RUNNING, NULL);
		move_finish(job, job_phase_is(job, MOVE_PH_CANCELLING) ?
		    -ECANCELED : -EIO, "%s; the vm keeps running on %s",
		    why ? why : "the destination did not take over",
		    host_of(job)->cfg.name);
		return;
	}
	if (!c->rb_cont_sent) {
		const char *st = vm->mig_status;

		/* cont is refused while the stream is still cancelling. */
		if (streq(st, "cancelling") || streq(st, "active") ||
		    streq(st, "setup") || streq(st, "device")) {
			job_wake_after(job, 100);
			return;
		}
		if (move_lease_retake(job))
			return;
		c->rb_cont_sent = true;
		c->cont_done = false;
		(void)vm_qmp(vm, job, "cont", NULL, MOVE_QMP_MS, move_on_cont);
	}
	job_wake_after(job, 1000);
}

static void
move_on_quit(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)vm;
	(void)job;
	(void)ret;
	(void)e;
}

void
move_committed(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);
	uint64_t limit = host_of(job)->cfg.stop_timeout_ms;

	if (vm->pidfd < 0) {
		move_forget(job);
		return;
	}
	if (!c->quit_sent) {
		/* Its images are inactive and the destination runs the VM:
		 * a SIGKILL loses nothing when QMP is not there to ask. */
		c->quit_sent = true;
		c->quit_at_ms = now_ms();
		vm_set_state(vm, VM_STOPPING, NULL);
		if (vm_qmp(vm, job, "quit", NULL, MOVE_QMP_MS,
		    move_on_quit) < 0)
			vm_kill(vm);
		job_wake_after(job, limit);
		return;
	}
	if (now_ms() - c->quit_at_ms >= limit)
		vm_kill(vm);
	else
		job_wake_after(job, limit - (now_ms() - c->quit_at_ms));
}
