/* planned.c - vm.failover-planned, on the primary: Hyper-V's planned
 * failover (zero loss).  The guest is shut down, one last cycle carries
 * every block it wrote, the replica host fails the VM over to that point
 * and starts it, replication is reversed.  It must never leave two
 * running copies, and never leave the VM lost: until the commit request
 * may have gone out, every failure comes back here (phase back).
 *
 *   start --check: relationship primary, replicating, health normal,
 *   the VM running or off (failover_planned_start); the replica answers
 *   GET /v1/replica/vms/UUID (pl_check)--> [vm.hold set: no start here
 *   meanwhile] shutdown (vm.shutdown, agent_jobs.c: agent else ACPI,
 *   its timeout; skipped when the VM is off) --off--> launch (vm.start
 *   with "paused": QEMU opens the disks, their dirty bitmaps checked,
 *   no vCPU ever runs) --paused--> final (vm.replicate, cycle.c, as the
 *   scheduler starts it: acknowledged by the replica, every write of
 *   the guest is in point N) --> quit (vm.stop: QEMU quits, the
 *   bitmaps stored) --> commit (hold's text: failed over; POST
 *   /v1/replica/vms/UUID/failover {"seq": N, "planned": true}, its job
 *   polled) --the replica's job succeeded--> reverse (POST
 *   /v1/vms/UUID/replication/reverse to the replica host, its job
 *   polled: our copy becomes its replica) --> done
 *
 *   commit --no clear answer (timeout, 5xx, a restart of ternd)-->
 *   settle: GET /v1/replica/vms/UUID every 2 s until it answers:
 *   "failed-over" --> reverse; no failover and no job on it there -->
 *   back.  The hold stays while unsure: the VM never starts here.
 *   commit --4xx (the replica refused: it started nothing)--> back.
 *   any failure or a cancel before commit --> back: the hold cleared,
 *   QEMU (paused) quit, the VM started again if it was running; the
 *   job fails with the first error.
 *
 * Why QEMU is started again paused for the final cycle (not
 * -no-shutdown): a cycle reads the disks through QEMU (fleecing and the
 * persistent dirty bitmaps).  QEMU stores those bitmaps when it closes
 * the images at a clean exit, and vm.start checks them before any vCPU
 * runs (src/track), so a paused start reads exactly what the guest
 * left, with the same cycle code as every other cycle, and needs no
 * change to how a running VM's QEMU is launched.
 *
 * Transitions: pl_check (start -> shutdown | launch), pl_shutdown
 * (-> launch), pl_launch (-> final), pl_final (-> quit), pl_quit (->
 * commit), pl_commit (-> reverse | settle | back), pl_settle (-> reverse
 * | back), pl_reverse (-> done), pl_back (-> failed), pl_cancel (-> back). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define PL_RETRY_MS 1000	/* the VM held by a cycle: ask again */
#define PL_SETTLE_MS 2000
#define PL_REVERSE_TRIES 90	/* x PL_SETTLE_MS: its start there */

enum pl_phase { PL_PH_START, PL_PH_SHUTDOWN, PL_PH_LAUNCH, PL_PH_FINAL,
		PL_PH_QUIT, PL_PH_COMMIT, PL_PH_SETTLE, PL_PH_REVERSE,
		PL_PH_BACK, PL_PH__COUNT };
static const char *const pl_phase_names[PL_PH__COUNT] = {
	[PL_PH_START] = "start", [PL_PH_SHUTDOWN] = "shutdown",
	[PL_PH_LAUNCH] = "launch", [PL_PH_FINAL] = "final",
	[PL_PH_QUIT] = "quit", [PL_PH_COMMIT] = "commit",
	[PL_PH_SETTLE] = "settle", [PL_PH_REVERSE] = "reverse",
	[PL_PH_BACK] = "back",
};

/* The job's private state: one call to the replica host at a time. */
struct pl_ctx {
	struct rp_call call;	/* first: rp_call_free() frees it */
};

static struct vm *
pl_vm(struct job *job)
{
	return job->finished ? NULL : vm_find(host_of(job), job->row->vm_uuid);
}

static struct pl_ctx *
pl_ctx(struct job *job)
{
	struct pl_ctx *c = job_priv(job, sizeof(*c), NULL);

	c->call.h = host_of(job);
	return c;
}

/* vm.hold: text, or NULL (cleared); persisted first. */
static void
pl_hold(struct vm *vm, const char *text)
{
	int r = store_vm_set_text(vm->h->store, vm->row->uuid, "hold", text);

	if (r < 0)
		log_error("vm=%s cannot store its hold: %s", vm->row->name,
		    strerror(-r));
	free(vm->row->hold);
	vm->row->hold = text ? xstrdup(text) : NULL;
}

/* The first error is the one reported; the phase back undoes. */
static void
pl_back_to(struct job *job, const char *why)
{
	if (!rp_str(job->details, "why"))
		json_object_set_new(job->details, "why", json_string(why));
	rp_call_clear(&pl_ctx(job)->call);
	job_set_phase(job, PL_PH_BACK);
	job_poke(job);
}

/* A job of ops (or a cycle: ops NULL) on vm for this job; its id in
 * details "sub".  0 started; 1 the VM is held by another job (a cycle
 * of the scheduler): a wake-up is armed; else back. */
static int
pl_sub_start(struct job *job, struct vm *vm, const struct job_ops *ops,
    json_t *details)
{
	struct job *sub = NULL;
	struct err err = { 0 };
	int r;

	if (vm_job(vm)) {
		json_decref(details);
		job_wake_after(job, PL_RETRY_MS);
		return 1;
	}
	r = ops ? vm_job_create(vm->h, ops, vm, details, &sub, &err) :
	    replica_cycle_start(vm->h, vm, &sub, &err);
	if (!ops)
		json_decref(details);
	if (r < 0) {
		pl_back_to(job, err.msg);
		return r;
	}
	if (ops)
		job_start(sub);
	json_object_set_new(job->details, "sub", json_integer(sub->row->id));
	job_save(job);
	job_wake_after(job, 500);
	return 0;
}

/* The job of details "sub": 0 still running (a wake-up armed), 1
 * succeeded, -1 failed (*ret_why: its error, freed by the caller). */
static int
pl_sub_poll(struct job *job, char **ret_why)
{
	struct host *h = host_of(job);
	int64_t id = rp_int(job->details, "sub");
	json_t *o;
	int r;

	if (id && job_find(&h->jobs, id)) {
		job_wake_after(job, 500);
		return 0;
	}
	o = id ? store_job_json(h->store, id) : NULL;
	r = o && streq(rp_str(o, "state") ?: "", "succeeded") ? 1 : -1;
	if (r < 0)
		*ret_why = xstrdup(o && rp_str(o, "error") ? rp_str(o,
		    "error") : "the job ended without a result");
	json_decref(o);
	json_object_del(job->details, "sub");
	return r;
}

/* Poll the phase's job; on its success, next. */
static bool
pl_sub_ok(struct job *job, const char *what)
{
	_cleanup_free_ char *why = NULL, *msg = NULL;
	int r = pl_sub_poll(job, &why);

	if (r < 0) {
		msg = xasprintf("%s: %s", what, why);
		pl_back_to(job, msg);
	}
	return r > 0;
}

static void
pl_check(struct job *job, struct vm *vm)
{
	struct pl_ctx *c = pl_ctx(job);
	char path[96];
	_cleanup_free_ char *hold = NULL;

	snprintf(path, sizeof(path), "/v1/replica/vms/%s", vm->row->uuid);
	if (!c->call.out) {
		rp_call_send(job, &c->call, "GET", path, NULL);
		return;
	}
	if (!rp_call_done(&c->call))
		return;
	if (c->call.status != 200) {
		job_finish(job, c->call.status ? -EIO : -EHOSTUNREACH, "the "
		    "replica host %s %s (%s); vm '%s' is unchanged: check the "
		    "link and its replica there, then try again",
		    rp_str(job->details, "peer"), c->call.status ?
		    "refused" : "does not answer", c->call.err, vm->row->name);
		return;
	}
	hold = xasprintf("a planned failover of vm '%s' to %s is under way "
	    "(job %lld); wait for it, or cancel it", vm->row->name,
	    rp_str(job->details, "peer"), (long long)job->row->id);
	pl_hold(vm, hold);
	job_set_phase(job, vm->state == VM_RUNNING ? PL_PH_SHUTDOWN :
	    PL_PH_LAUNCH);
	job_poke(job);
}

static void
pl_shutdown(struct job *job, struct vm *vm)
{
	json_t *d;

	if (!json_object_get(job->details, "sub")) {
		if (!vm_is_down(vm)) {
			d = json_pack("{sI sb}", "timeout_s",
			    (json_int_t)rp_int(job->details, "timeout_s"),
			    "force", json_is_true(json_object_get(job->details,
			    "force")));
			(void)pl_sub_start(job, vm, &job_vm_shutdown, d);
			return;
		}
	} else if (!pl_sub_ok(job, "the guest did not shut down")) {
		return;
	}
	job_set_phase(job, PL_PH_LAUNCH);
	job_poke(job);
}

static void
pl_launch(struct job *job, struct vm *vm)
{
	if (!json_object_get(job->details, "sub")) {
		if (vm->state != VM_PAUSED) {
			(void)pl_sub_start(job, vm, &job_vm_start,
			    json_pack("{sb}", "paused", true));
			return;
		}
	} else if (!pl_sub_ok(job, "QEMU did not start (paused) to read "
	    "the disks")) {
		return;
	}
	job_set_phase(job, PL_PH_FINAL);
	job_poke(job);
}

static void
pl_final(struct job *job, struct vm *vm)
{
	if (!json_object_get(job->details, "sub")) {
		if (job->recovering || vm->state != VM_PAUSED) {
			/* QEMU died with ternd, or ternd restarted: the
			 * cycle is read again from the disks */
			job_set_phase(job, PL_PH_LAUNCH);
			job_poke(job);
			return;
		}
		(void)pl_sub_start(job, vm, NULL, NULL);
		return;
	}
	if (!pl_sub_ok(job, "the final cycle failed"))
		return;
	job_set_phase(job, PL_PH_QUIT);
	job_poke(job);
}

static void
pl_quit(struct job *job, struct vm *vm)
{
	if (!json_object_get(job->details, "sub")) {
		if (!vm_is_down(vm)) {
			(void)pl_sub_start(job, vm, &job_vm_stop, NULL);
			return;
		}
	} else if (!pl_sub_ok(job, "QEMU did not quit")) {
		return;
	}
	job_set_phase(job, PL_PH_COMMIT);
	job_poke(job);
}

/* The hold's text once the commit may have been sent. */
static void
pl_hold_failed_over(struct job *job, struct vm *vm)
{
	_cleanup_free_ char *t = xasprintf("it failed over to %s (planned "
	    "failover, job %lld) and runs there; to run it here again, "
	    "reverse replication on %s, or remove the replication here",
	    rp_str(job->details, "peer"), (long long)job->row->id,
	    rp_str(job->details, "peer"));

	pl_hold(vm, t);
}

/* The point N and the hold, persisted before the request may go out:
 * from here on a restart settles, never goes back blindly. */
static void
pl_commit_send(struct job *job, struct vm *vm, struct pl_ctx *c)
{
	struct replication_row r;
	char path[96];

	if (!json_object_get(job->details, "commit_sent")) {
		if (store_replication_get(vm->h->store, vm->row->uuid,
		    &r) < 0) {
			pl_back_to(job, "the relationship went away");
			return;
		}
		json_object_set_new(job->details, "seq", json_integer(r.seq));
		replication_row_done(&r);
		pl_hold_failed_over(job, vm);
		json_object_set_new(job->details, "commit_sent", json_true());
		job_save(job);
	}
	/* tests: ternd killed, or the request held, with the hold set */
	switch (job_failpoint(job, "failover.planned.commit")) {
	case 1:
		return;
	case -1:	/* as if it went out and its answer was lost */
		job_set_phase(job, PL_PH_SETTLE);
		job_poke(job);
		return;
	}
	snprintf(path, sizeof(path), "/v1/replica/vms/%s/failover",
	    vm->row->uuid);
	rp_call_send(job, &c->call, "POST", path, json_pack("{sI sb}", "seq",
	    (json_int_t)rp_int(job->details, "seq"), "planned", true));
}

static void
pl_commit(struct job *job, struct vm *vm)
{
	struct pl_ctx *c = pl_ctx(job);
	const char *msg;
	_cleanup_free_ char *why = NULL;

	if (job->recovering) {
		job_set_phase(job, PL_PH_SETTLE);	/* sent or not? ask */
		job_poke(job);
		return;
	}
	if (!rp_int(job->details, "remote_job")) {
		if (!c->call.out) {
			pl_commit_send(job, vm, c);
			return;
		}
		if (!rp_call_done(&c->call))
			return;
		if (c->call.status == 202 && rp_call_job_id(&c->call) > 0) {
			json_object_set_new(job->details, "remote_job",
			    json_integer(rp_call_job_id(&c->call)));
			job_save(job);
		} else if (c->call.status >= 400 && c->call.status < 500) {
			/* refused: it started nothing */
			why = xasprintf("the replica host %s refused the "
			    "failover: %s", rp_str(job->details, "peer"),
			    c->call.err);
			pl_back_to(job, why);
			return;
		} else {
			job_set_phase(job, PL_PH_SETTLE);
			job_poke(job);
			return;
		}
	}
	switch (rp_call_poll_job(job, &c->call, rp_int(job->details,
	    "remote_job"), &msg)) {
	case RP_JOB_SUCCEEDED:
		job_set_phase(job, PL_PH_REVERSE);
		job_poke(job);
		break;
	case RP_JOB_FAILED:
	case RP_JOB_UNKNOWN:
		json_object_set_new(job->details, "remote_error",
		    json_string(msg ? msg : "unknown"));
		job_set_phase(job, PL_PH_SETTLE);
		job_poke(job);
		break;
	}
}

/* The replica's word on its VM: taken over, not (nothing running
 * there, no job on it), or not yet known (ask again). */
static void
pl_settle(struct job *job, struct vm *vm)
{
	struct pl_ctx *c = pl_ctx(job);
	const json_t *o;
	char path[96];
	_cleanup_free_ char *why = NULL;

	job->recovering = false;
	if (!c->call.out) {
		snprintf(path, sizeof(path), "/v1/replica/vms/%s",
		    vm->row->uuid);
		rp_call_send(job, &c->call, "GET", path, NULL);
		return;
	}
	if (!rp_call_done(&c->call))
		return;
	o = c->call.reply;
	if (c->call.status == 200 && streq(rp_str(o, "state") ?: "",
	    "failed-over")) {
		job_set_phase(job, PL_PH_REVERSE);
	} else if ((c->call.status == 200 && !rp_str(o, "job")) ||
	    c->call.status == 404) {
		why = xasprintf("the replica host %s did not fail vm '%s' "
		    "over: %s", rp_str(job->details, "peer"), vm->row->name,
		    rp_str(job->details, "remote_error") ?: c->call.err);
		pl_back_to(job, why);
		return;
	} else {
		job_wake_after(job, PL_SETTLE_MS);	/* unsure: hold */
		return;
	}
	job_poke(job);
}

static void
pl_reverse_failed(struct job *job, struct vm *vm, const char *why)
{
	job_finish(job, -EIO, "vm '%s' failed over to %s (point %lld, no "
	    "write lost), but reverse replication did not start: %s; run "
	    "'tern vm replication reverse %s' on %s", vm->row->name,
	    rp_str(job->details, "peer"), (long long)rp_int(job->details,
	    "seq"), why ? why : "unknown", vm->row->name,
	    rp_str(job->details, "peer"));
}

/* Reverse, step one: the new primary asked to run its
 * vm.replication-reverse (src/failover/reverse.c: we adopt our copy as
 * its replica, only differing blocks sent).  Our row is marked
 * failed-over first, as the replica's notice would: the adoption asks
 * for it.  409: its VM is still busy (its start): asked again. */
static bool
pl_reverse_ask(struct job *job, struct vm *vm, struct pl_ctx *c)
{
	char path[96];

	if (!c->call.out) {
		(void)replica_failed_over_mark(vm->h, vm, (int64_t)wall_ms());
		snprintf(path, sizeof(path), "/v1/vms/%s/replication/reverse",
		    vm->row->uuid);
		rp_call_send(job, &c->call, "POST", path, NULL);
		return false;
	}
	if (!rp_call_done(&c->call))
		return false;
	if (c->call.status == 202 && rp_call_job_id(&c->call) > 0) {
		json_object_set_new(job->details, "reverse_job",
		    json_integer(rp_call_job_id(&c->call)));
		job_save(job);
		return true;
	}
	if (c->call.status == 409 && rp_int(job->details, "reverse_tries") <
	    PL_REVERSE_TRIES) {
		json_object_set_new(job->details, "reverse_tries", json_integer(
		    rp_int(job->details, "reverse_tries") + 1));
		job_wake_after(job, PL_SETTLE_MS);
		return false;
	}
	pl_reverse_failed(job, vm, c->call.err);
	return false;
}

/* Reverse: asked, its job polled. */
static void
pl_reverse(struct job *job, struct vm *vm)
{
	struct pl_ctx *c = pl_ctx(job);
	const char *msg;

	if (!rp_int(job->details, "reverse_job") && !pl_reverse_ask(job, vm,
	    c))
		return;
	switch (rp_call_poll_job(job, &c->call, rp_int(job->details,
	    "reverse_job"), &msg)) {
	case RP_JOB_SUCCEEDED:
		host_event(vm->h, "info", vm, job->row->id, "vm failed over "
		    "to %s at point %lld (planned, no write lost); replication "
		    "reversed: %s -> here", rp_str(job->details, "peer"),
		    (long long)rp_int(job->details, "seq"),
		    rp_str(job->details, "peer"));
		job_finish(job, 0, NULL);
		break;
	case RP_JOB_FAILED:
	case RP_JOB_UNKNOWN:
		pl_reverse_failed(job, vm, msg);
		break;
	}
}

/* The way back: nothing reached the replica's VM.  QEMU (paused, ours)
 * quit, the hold cleared, the VM started again if it ran. */
static void
pl_back(struct job *job, struct vm *vm)
{
	_cleanup_free_ char *ignored = NULL;
	bool cancelled = json_is_true(json_object_get(job->details,
	    "cancelled"));

	if (json_object_get(job->details, "sub") && pl_sub_poll(job,
	    &ignored) == 0)
		return;
	if (vm->row->hold)
		pl_hold(vm, NULL);
	if (vm->state == VM_PAUSED || vm->state == VM_STARTING) {
		(void)pl_sub_start(job, vm, &job_vm_stop, NULL);
		return;
	}
	if (vm_is_down(vm) && streq(rp_str(job->details, "was") ?: "",
	    "running") && !json_object_get(job->details, "restarted")) {
		json_object_set_new(job->details, "restarted", json_true());
		(void)pl_sub_start(job, vm, &job_vm_start, NULL);
		return;
	}
	job_finish(job, cancelled ? -ECANCELED : -EIO, "planned failover of "
	    "vm '%s' failed: %s; %s", vm->row->name, rp_str(job->details,
	    "why"), vm->state == VM_RUNNING ? "it runs here again" :
	    "it is off here, with its data intact");
}

static void
pl_step(struct job *job)
{
	struct vm *vm = pl_vm(job);

	if (!vm) {
		job_finish(job, -ENOENT, "the VM no longer exists");
		return;
	}
	switch (job->phase) {
	case PL_PH_START:	pl_check(job, vm); break;
	case PL_PH_SHUTDOWN:	pl_shutdown(job, vm); break;
	case PL_PH_LAUNCH:	pl_launch(job, vm); break;
	case PL_PH_FINAL:	pl_final(job, vm); break;
	case PL_PH_QUIT:	pl_quit(job, vm); break;
	case PL_PH_COMMIT:	pl_commit(job, vm); break;
	case PL_PH_SETTLE:	pl_settle(job, vm); break;
	case PL_PH_REVERSE:	pl_reverse(job, vm); break;
	default:		pl_back(job, vm); break;
	}
	if (!job->finished)
		job->recovering = false;
}

/* Before the commit: back, the running sub-job cancelled too. */
static int
pl_cancel(struct job *job, struct err *err)
{
	int64_t sub = rp_int(job->details, "sub");

	if (job->phase >= PL_PH_COMMIT && job->phase != PL_PH_BACK)
		return err_set(err, -EBUSY, "the replica may be failing the "
		    "VM over already: a planned failover cannot be cancelled "
		    "after its final cycle");
	if (job->phase == PL_PH_START && (!pl_vm(job) ||
	    !pl_vm(job)->row->hold)) {
		job_finish(job, -ECANCELED, "cancelled; nothing changed");
		return 0;
	}
	if (sub)
		(void)job_cancel(job->t, sub, NULL);
	json_object_set_new(job->details, "cancelled", json_true());
	pl_back_to(job, "cancelled by the operator");
	return 0;
}

const struct job_ops job_failover_planned = {
	.type = "vm.failover-planned", .phases = pl_phase_names,
	.n_phases = PL_PH__COUNT, .step = pl_step, .cancel = pl_cancel,
	.priv_free = rp_call_free,
};

/* ---- starting one: the checks that need no peer ---- */

static int
pl_check_relation(struct host *h, struct vm *vm, struct err *err)
{
	struct replication_row r;
	json_t *o = NULL;
	const char *health;
	int rc = store_replication_get(h->store, vm->row->uuid, &r);

	if (rc < 0)
		return err_set(err, -ENOENT, "vm '%s' is not replicated: a "
		    "planned failover moves a replicated VM to its replica",
		    vm->row->name);
	if (!streq(r.role, "primary"))
		rc = err_set(err, -EBUSY, "vm '%s' is the replica here: a "
		    "planned failover starts on its primary (%s); here use "
		    "an unplanned failover", vm->row->name, r.peer);
	else if (!streq(r.state, "replicating"))
		rc = err_set(err, -EBUSY, "vm '%s': replication is %s, not "
		    "replicating: a planned failover needs %s first",
		    vm->row->name, r.state, streq(r.state, "paused") ?
		    "'tern vm replication resume'" : "initial replication "
		    "to finish");
	replication_row_done(&r);
	if (rc < 0 || (rc = replica_show(h, vm, &o, err)) < 0)
		return rc;
	health = rp_str(o, "health");
	if (!health || !streq(health, "normal"))
		rc = err_set(err, -EBUSY, "vm '%s': replication health is %s "
		    "(%s): a planned failover needs it normal; fix that, or "
		    "run 'tern vm replication now' first", vm->row->name,
		    health ? health : "unknown", json_string_value(
		    json_array_get(json_object_get(o, "health_reasons"), 0))
		    ?: "no reason given");
	json_decref(o);
	return rc;
}

static int
pl_check_vm(struct vm *vm, struct err *err)
{
	struct job *j = vm_job(vm);

	if (vm->row->hold)
		return err_set(err, -EBUSY, "vm '%s' is held: %s",
		    vm->row->name, vm->row->hold);
	if (j && !streq(j->ops->type, "vm.replicate"))
		return err_set(err, -EBUSY, "vm '%s' is busy with job %lld "
		    "(%s); try again when it has ended", vm->row->name,
		    (long long)j->row->id, j->ops->type);
	if (vm->state == VM_RUNNING || vm->state == VM_OFF ||
	    vm->state == VM_CRASHED)
		return 0;
	return err_set(err, -EBUSY, "vm '%s' is %s: a planned failover "
	    "takes a running or off VM%s", vm->row->name,
	    vm_state_name(vm->state), vm->state == VM_PAUSED ? "; resume "
	    "it first" : "");
}

int
failover_planned_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	char id[64], what[96];
	struct job_subject s = { .id = id, .what = what,
		.claim = JOB_CLAIM_EXCLUSIVE, .vm_uuid = vm->row->uuid,
		.vm_name = vm->row->name };
	json_t *t = json_object_get(body, "timeout_s"), *d;
	struct replication_row r;
	int rc;

	if (t && (!json_is_integer(t) || json_integer_value(t) < 1 ||
	    json_integer_value(t) > 3600))
		return err_set(err, -EINVAL, "timeout_s must be 1..3600 "
		    "seconds (how long the guest gets to shut down)");
	if ((rc = pl_check_relation(h, vm, err)) < 0 ||
	    (rc = pl_check_vm(vm, err)) < 0)
		return rc;
	d = json_pack("{sI sb ss}", "timeout_s", (json_int_t)(t ?
	    json_integer_value(t) : 120), "force", json_is_true(
	    json_object_get(body, "force")), "was", vm_state_name(vm->state));
	if (store_replication_get(h->store, vm->row->uuid, &r) == 0) {
		rc = rp_peer_details(h, d, r.peer, err);
		replication_row_done(&r);
	}
	snprintf(id, sizeof(id), "failover:%s", vm->row->uuid);
	snprintf(what, sizeof(what), "the failover of vm '%s'", vm->row->name);
	if (rc < 0) {
		json_decref(d);
		return rc;
	}
	/* job_create takes d, on failure too */
	if ((rc = job_create(&h->jobs, &job_failover_planned, &s, d, ret_job,
	    err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
