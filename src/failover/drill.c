/* drill.c - DR drills: a test failover of the latest point run on demand
 * or on a schedule, the guest's heartbeat awaited, an optional check run
 * in the guest through its agent, the result recorded (the row's "drill":
 * "last" and a short "history"; events), and the test stopped, always.
 * Never leaves a test VM behind: every path ends in test-stop.
 *
 * vm.replication-drill (subject drill:UUID, exclusive; the test failover
 * and its stop are jobs of their own on replication:UUID):
 *
 *   start --dr_start: vm.failover-test started--> booting --dr_booting:
 *   the test VM runs (boot_ms)--> heartbeat --dr_heartbeat: its agent
 *   answers (heartbeat_ms; DR_BEAT_MS at most)--> [check --dr_check:
 *   guest-exec of `sh -c CMD`, its exit status polled (DR_CHECK_MS at
 *   most)-->] stopping --dr_stopping: vm.failover-test-stop, the result
 *   recorded--> done (passed: succeeded; failed: the job fails saying why)
 *
 *   Any failure on the way: the result "failed" with the error, then
 *   stopping.  A restart: the result "failed" (ternd restarted), then
 *   stopping (the test job, recovering, finishes or rolls back itself).
 *
 * The schedule (drill "every_s", "next_ms", wall clock): drill_tick, every
 * DR_TICK_MS, starts the drill of each replica row that is due. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define DR_TICK_MS 5000
#define DR_POLL_MS 500
#define DR_BEAT_MS 120000	/* the guest's heartbeat, from its start */
#define DR_CHECK_MS 60000	/* the check command */
#define DR_HISTORY 10
#define DR_CHECK_MAX 1024

enum dr_phase { DR_PH_START, DR_PH_BOOTING, DR_PH_HEARTBEAT, DR_PH_CHECK,
		DR_PH_STOPPING, DR_PH__COUNT };

static const char *const dr_phase_names[DR_PH__COUNT] = {
	[DR_PH_START] = "start", [DR_PH_BOOTING] = "booting",
	[DR_PH_HEARTBEAT] = "heartbeat", [DR_PH_CHECK] = "check",
	[DR_PH_STOPPING] = "stopping",
};

static struct vm *
dr_replica(struct job *job)
{
	return vm_find(host_of(job), rp_str(job->details, "replica"));
}

static uint64_t
dr_since(struct job *job)
{
	return wall_ms() - (uint64_t)rp_int(job->details, "t0_ms");
}

/* The drill failed (first reason kept): to stopping. */
static void
dr_fail(struct job *job, const char *fmt, ...)
{
	char msg[240];
	va_list ap;

	if (!rp_str(job->details, "error")) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		json_object_set_new(job->details, "error", json_string(msg));
	}
	json_object_set_new(job->details, "result", json_string("failed"));
	job_set_phase(job, DR_PH_STOPPING);
	job_poke(job);
}

static void
dr_start(struct job *job)
{
	struct vm *vm = dr_replica(job);
	struct job *tj;
	struct err e = { 0 };

	json_object_set_new(job->details, "t0_ms", json_integer(
	    (json_int_t)wall_ms()));
	if (!vm || failover_test_start(host_of(job), vm, NULL, &tj, &e) < 0) {
		dr_fail(job, "the test failover did not start: %s", vm ? e.msg :
		    "the replica is gone");
		return;
	}
	json_object_set_new(job->details, "test_job", json_integer(
	    tj->row->id));
	json_object_set_new(job->details, "test_started", json_true());
	job_set_phase(job, DR_PH_BOOTING);
	job_wake_after(job, DR_POLL_MS);
}

static void
dr_booting(struct job *job)
{
	struct host *h = host_of(job);
	_cleanup_json_ json_t *t = NULL, *tj = NULL;

	if (job_find(&h->jobs, rp_int(job->details, "test_job"))) {
		job_wake_after(job, DR_POLL_MS);
		return;
	}
	(void)fo_test_load(h, rp_str(job->details, "replica"), &t);
	if (!t || !streq(rp_str(t, "state") ?: "", "running")) {
		tj = store_job_json(h->store, rp_int(job->details, "test_job"));
		dr_fail(job, "the test vm did not start: %s", rp_str(tj,
		    "error") ?: "(no error recorded)");
		return;
	}
	json_object_set_new(job->details, "boot_ms", json_integer(
	    (json_int_t)dr_since(job)));
	json_object_set_new(job->details, "test_vm", json_string(rp_str(t,
	    "vm")));
	job_set_phase(job, DR_PH_HEARTBEAT);
	job_poke(job);
}

static void
dr_heartbeat(struct job *job)
{
	struct vm *tvm = vm_find(host_of(job), rp_str(job->details,
	    "test_vm"));

	if (!tvm || tvm->state != VM_RUNNING) {
		dr_fail(job, "the test vm stopped before its agent answered");
		return;
	}
	if (tvm->agent.beat == AGENT_OK) {
		json_object_set_new(job->details, "heartbeat_ms", json_integer(
		    (json_int_t)dr_since(job)));
		if (rp_str(job->details, "check")) {
			job_set_phase(job, DR_PH_CHECK);
			job_poke(job);
			return;
		}
		json_object_set_new(job->details, "result", json_string(
		    "passed"));
		job_set_phase(job, DR_PH_STOPPING);
		job_poke(job);
		return;
	}
	if (dr_since(job) > DR_BEAT_MS) {
		dr_fail(job, "the guest never answered its agent within %d s "
		    "(heartbeat %s)", DR_BEAT_MS / 1000,
		    agent_beat_name(tvm->agent.beat));
		return;
	}
	job_wake_after(job, 1000);
}

/* ---- the check, through the guest agent ---- */

struct dr_call {
	struct host *h;
	struct job_ref ref;
};

static void
dr_on_exec(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct dr_call *c = data;
	struct job *job = job_from_ref(&c->h->jobs, c->ref);

	(void)q;
	if (job) {
		if (e && e->code)
			json_object_set_new(job->details, "check_error",
			    json_string(e->msg));
		else if (json_object_get(ret, "pid"))
			json_object_set_new(job->details, "check_pid",
			    json_integer(rp_int(ret, "pid")));
		else if (json_is_true(json_object_get(ret, "exited")))
			json_object_set_new(job->details, "check_exit",
			    json_integer(rp_int(ret, "exitcode")));
		json_object_del(job->details, "check_sent");
		job_poke(job);
	}
	free(c);
}

static void
dr_agent_send(struct job *job, struct vm *tvm, const char *cmd,
    json_t *args)
{
	struct dr_call *c = xzalloc(sizeof(*c));

	c->h = host_of(job);
	c->ref = job_ref(job);
	json_object_set_new(job->details, "check_sent", json_true());
	if (qmp_send(tvm->agent.q, cmd, args, 10000, dr_on_exec, c) < 0) {
		free(c);
		json_object_set_new(job->details, "check_error", json_string(
		    "the guest agent is not connected"));
		json_object_del(job->details, "check_sent");
		job_poke(job);
	}
}

static void
dr_check(struct job *job)
{
	struct vm *tvm = vm_find(host_of(job), rp_str(job->details,
	    "test_vm"));
	const char *cmd = rp_str(job->details, "check");

	if (json_is_true(json_object_get(job->details, "check_sent")))
		return;
	if (!tvm || !tvm->agent.q || rp_str(job->details, "check_error")) {
		dr_fail(job, "check '%.60s' could not run: %s", cmd, rp_str(
		    job->details, "check_error") ?: "the test vm is gone");
		return;
	}
	if (json_object_get(job->details, "check_exit")) {
		if (rp_int(job->details, "check_exit") != 0) {
			dr_fail(job, "check '%.60s' exited %lld in the guest",
			    cmd, (long long)rp_int(job->details, "check_exit"));
			return;
		}
		json_object_set_new(job->details, "result", json_string(
		    "passed"));
		job_set_phase(job, DR_PH_STOPPING);
		job_poke(job);
		return;
	}
	if (dr_since(job) > (uint64_t)rp_int(job->details, "heartbeat_ms") +
	    DR_CHECK_MS) {
		dr_fail(job, "check '%.60s' did not end within %d s", cmd,
		    DR_CHECK_MS / 1000);
		return;
	}
	if (!json_object_get(job->details, "check_pid"))
		dr_agent_send(job, tvm, "guest-exec", json_pack("{ss s[ss] sb}",
		    "path", "/bin/sh", "arg", "-c", cmd, "capture-output",
		    true));
	else
		dr_agent_send(job, tvm, "guest-exec-status", json_pack("{sI}",
		    "pid", (json_int_t)rp_int(job->details, "check_pid")));
	if (json_object_get(job->details, "check_pid"))
		job_wake_after(job, DR_POLL_MS);
}

/* ---- the result ---- */

static void
dr_record(struct job *job)
{
	struct host *h = host_of(job);
	const char *ruuid = rp_str(job->details, "replica");
	_cleanup_json_ json_t *d = NULL;
	json_t *last, *hist;
	bool ok = streq(rp_str(job->details, "result") ?: "", "passed");

	if (fo_drill_load(h, ruuid, &d) < 0)
		return;
	if (!d)
		d = json_object();
	last = json_pack("{ss sI sI sI}", "result", ok ? "passed" : "failed",
	    "time_ms", (json_int_t)rp_int(job->details, "t0_ms"), "boot_ms",
	    (json_int_t)rp_int(job->details, "boot_ms"), "heartbeat_ms",
	    (json_int_t)rp_int(job->details, "heartbeat_ms"));
	if (!ok)
		json_object_set_new(last, "error", json_string(rp_str(
		    job->details, "error") ?: "failed"));
	if (!json_is_array(hist = json_object_get(d, "history")))
		json_object_set_new(d, "history", hist = json_array());
	json_array_insert(hist, 0, last);
	while (json_array_size(hist) > DR_HISTORY)
		json_array_remove(hist, DR_HISTORY);
	json_object_set_new(d, "last", last);
	(void)fo_drill_save(h, ruuid, d);
	host_event(h, ok ? "info" : "warning", dr_replica(job), job->row->id,
	    "DR drill of vm '%s' %s (boot %lld ms, heartbeat %lld ms)%s%s",
	    rp_str(job->details, "name"), ok ? "passed" : "failed",
	    (long long)rp_int(job->details, "boot_ms"),
	    (long long)rp_int(job->details, "heartbeat_ms"), ok ? "" : ": ",
	    ok ? "" : rp_str(job->details, "error"));
}

static void
dr_stopping(struct job *job)
{
	struct host *h = host_of(job);
	_cleanup_json_ json_t *t = NULL;
	_cleanup_free_ char *subj = xasprintf("replication:%s", rp_str(
	    job->details, "replica"));
	struct vm *vm = dr_replica(job);
	struct job *sj;

	if (job_find_by_subject(&h->jobs, subj, false)) {
		job_wake_after(job, DR_POLL_MS);
		return;
	}
	(void)fo_test_load(h, rp_str(job->details, "replica"), &t);
	if (t && vm && failover_test_stop(h, vm, &sj, NULL) == 0) {
		job_wake_after(job, DR_POLL_MS);
		return;
	}
	dr_record(job);
	if (streq(rp_str(job->details, "result") ?: "", "passed"))
		job_finish(job, 0, NULL);
	else
		job_finish(job, -EIO, "DR drill of vm '%s' failed: %s",
		    rp_str(job->details, "name"), rp_str(job->details,
		    "error") ?: "failed");
}

static void
dr_step(struct job *job)
{
	if (job->recovering && !job_phase_is(job, DR_PH_STOPPING)) {
		job->recovering = false;
		dr_fail(job, "ternd restarted during the drill");
		return;
	}
	job->recovering = false;
	switch (job->phase) {
	case DR_PH_START:	dr_start(job); break;
	case DR_PH_BOOTING:	dr_booting(job); break;
	case DR_PH_HEARTBEAT:	dr_heartbeat(job); break;
	case DR_PH_CHECK:	dr_check(job); break;
	default:		dr_stopping(job); break;
	}
}

const struct job_ops job_replication_drill = {
	.type = "vm.replication-drill", .phases = dr_phase_names,
	.n_phases = DR_PH__COUNT, .step = dr_step };

/* ---- requests and the schedule ---- */

static int
dr_job(struct host *h, struct vm *vm, const char *check,
    struct job **ret_job, struct err *err)
{
	_cleanup_free_ char *id = xasprintf("drill:%s", vm->row->uuid);
	_cleanup_free_ char *what = xasprintf("the DR drill of vm '%s'",
	    vm->row->name);
	struct job_subject s = { .id = id, .what = what,
		.claim = JOB_CLAIM_EXCLUSIVE, .vm_uuid = vm->row->uuid,
		.vm_name = vm->row->name };
	json_t *d = json_pack("{ss ss}", "replica", vm->row->uuid, "name",
	    vm->row->name);
	int r;

	if (check)
		json_object_set_new(d, "check", json_string(check));
	if ((r = job_create(&h->jobs, &job_replication_drill, &s, d, ret_job,
	    err)) < 0)
		return r;
	job_start(*ret_job);
	return 0;
}

/* "24h", "Nh", "Nm" (1 min to 7 days) or "off" (0) into *ret_s. */
static int
dr_every_parse(const char *s, uint64_t *ret_s, struct err *err)
{
	char *end;
	unsigned long long n;

	if (streq(s, "off")) {
		*ret_s = 0;
		return 0;
	}
	n = strtoull(s, &end, 10);
	if (end != s && (streq(end, "h") || streq(end, "m")) && n > 0) {
		*ret_s = n * (streq(end, "h") ? 3600 : 60);
		if (*ret_s <= 7 * 24 * 3600)
			return 0;
	}
	return err_set(err, -EINVAL, "--every '%.32s': give Nh or Nm (1m "
	    "to 168h), or off", s);
}

static int
dr_schedule(struct host *h, struct vm *vm, const char *every,
    const char *check, json_t **ret, struct err *err)
{
	_cleanup_json_ json_t *d = NULL;
	uint64_t s = 0;
	int r;

	if ((r = dr_every_parse(every, &s, err)) < 0)
		return r;
	if (fo_drill_load(h, vm->row->uuid, &d) < 0)
		return err_set(err, -EIO, "cannot read the drill schedule");
	if (!d)
		d = json_object();
	json_object_set_new(d, "every_s", json_integer((json_int_t)s));
	if (s)
		json_object_set_new(d, "next_ms", json_integer((json_int_t)(
		    wall_ms() + s * 1000)));
	else
		json_object_del(d, "next_ms");
	if (check)
		json_object_set_new(d, "check", json_string(check));
	else
		json_object_del(d, "check");
	if ((r = fo_drill_save(h, vm->row->uuid, d)) < 0)
		return err_setf_errno(err, r, "cannot record the schedule");
	if (s)
		host_event(h, "info", vm, 0, "DR drill of vm '%s' every %llu "
		    "s", vm->row->name, (unsigned long long)s);
	else
		host_event(h, "info", vm, 0, "DR drills of vm '%s' off",
		    vm->row->name);
	*ret = json_incref(d);
	return 0;
}

int
failover_drill(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, json_t **ret, struct err *err)
{
	static const char *const fields[] = { "every", "check", NULL };
	const char *every = NULL, *check = NULL;
	_cleanup_json_ json_t *t = NULL;
	int r;

	*ret_job = NULL;
	if (body && ((r = json_check_fields(body, fields, "drill", err)) < 0 ||
	    (r = json_get_str(body, "every", false, &every, err)) < 0 ||
	    (r = json_get_str(body, "check", false, &check, err)) < 0))
		return r;
	if (check && (!check[0] || strlen(check) > DR_CHECK_MAX))
		return err_set(err, -EINVAL, "--check: give a command of 1 to "
		    "%d bytes", DR_CHECK_MAX);
	if ((r = fo_replica_check(h, vm, err)) < 0)
		return r;
	if (every)
		return dr_schedule(h, vm, every, check, ret, err);
	if (fo_test_load(h, vm->row->uuid, &t) == 0 && t)
		return err_set(err, -EBUSY, "a test failover of vm '%s' runs; "
		    "stop it first (tern vm failover test-stop %s)",
		    vm->row->name, vm->row->name);
	return dr_job(h, vm, check, ret_job, err);
}

/* One replica row's schedule: its drill started when due. */
static void
dr_due(struct host *h, const struct replication_row *r)
{
	json_t *d = r->drill ? json_loads(r->drill, 0, NULL) : NULL;
	uint64_t every = (uint64_t)rp_int(d, "every_s"), now = wall_ms();
	struct vm *vm = vm_find(h, r->vm_uuid);
	struct job *job;
	struct err e = { 0 };

	if (!every || (uint64_t)rp_int(d, "next_ms") > now || !vm) {
		json_decref(d);
		return;
	}
	json_object_set_new(d, "next_ms", json_integer((json_int_t)(now +
	    every * 1000)));
	(void)fo_drill_save(h, r->vm_uuid, d);
	if (r->test || dr_job(h, vm, rp_str(d, "check"), &job, &e) < 0)
		host_event(h, "warning", vm, 0, "scheduled DR drill of vm '%s' "
		    "skipped: %s", vm->row->name, r->test ? "a test failover "
		    "runs" : e.msg);
	json_decref(d);
}

static void
dr_tick(struct loop *l, void *data)
{
	struct host *h = data;
	struct replication_row *rows = NULL;
	size_t n = 0;

	(void)l;
	if (store_replication_list(h->store, &rows, &n) == 0)
		for (size_t i = 0; i < n; i++)
			if (streq(rows[i].role, "replica") && rows[i].drill &&
			    !streq(rows[i].state, "failed-over"))
				dr_due(h, &rows[i]);
	replication_rows_free(rows, n);
	if (!h->quitting)
		(void)loop_timer_add(h->loop, DR_TICK_MS, dr_tick, h);
}

void
fo_drill_init(struct host *h)
{
	job_type_register(&h->jobs, &job_replication_drill);
	(void)loop_timer_add(h->loop, DR_TICK_MS, dr_tick, h);
}
