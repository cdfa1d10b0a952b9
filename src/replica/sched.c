/* sched.c - when cycles run, and what each one's end records.  A timer
 * ticks every second; a primary relationship that is not paused gets a
 * cycle once its interval has passed since its last attempt (and its
 * initial time, for --initial at), while its VM runs or is paused.  A
 * due cycle that cannot start (another job holds the VM) is retried on
 * every tick and counted once per interval as missed.  Every tick also
 * looks at each relationship's health (watch.c): changes become events,
 * and a critical primary is held, no cycle started, until resume.  A
 * failed cycle (a dead link: its peer calls time out) is retried on the
 * next interval, and the first one that succeeds carries everything
 * since the last acknowledged cycle. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup.h"
#include "health.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define SCHED_TICK_MS 1000

static int64_t
stat_int(const json_t *st, const char *key)
{
	return json_integer_value(json_object_get(st, key));
}

static void
stat_add(json_t *st, const char *key, int64_t v)
{
	json_object_set_new(st, key, json_integer(stat_int(st, key) + v));
}

/* The bytes a cycle sent: its deltas. */
static int64_t
cycle_bytes(const json_t *details)
{
	json_t *d;
	size_t i;
	int64_t sum = 0;

	json_array_foreach(json_object_get(details, "disks"), i, d)
		sum += json_integer_value(json_object_get(json_object_get(d,
		    "summary"), "delta_bytes"));
	return sum;
}

/* A good cycle's recovery point: how many the replica keeps, and
 * whether it is app-consistent (a quiesce that failed says so). */
static void
record_points(struct vm *vm, const json_t *d, int64_t job_id, json_t *st)
{
	const char *note = rp_str(d, "consistency_note");

	if (json_object_get(d, "replica_points"))
		json_object_set_new(st, "replica_points", json_integer(
		    rp_int(d, "replica_points")));
	if (streq(rp_str(d, "consistency"), "filesystem")) {
		json_object_set_new(st, "last_app_ms", json_integer(rp_int(d,
		    "snap_ms")));
		return;
	}
	if (!json_is_true(json_object_get(d, "quiesce")))
		return;
	host_event(vm->h, "warning", vm, job_id, "recovery point %lld "
	    "is crash-consistent, not app-consistent: %s", (long long)rp_int(d,
	    "seq"), note ? note : "the guest did not freeze");
}

void
replica_cycle_record(struct vm *vm, struct job *job, int r, const char *why)
{
	if (!replica_seed_cycle_end(vm, job, r, why))
		replica_ack_record(vm, job->details, job->row->id, r, why);
}

void
replica_ack_record(struct vm *vm, const json_t *details, int64_t job_id,
    int r, const char *why)
{
	struct replication_row row;
	json_t *st;
	int64_t bytes = cycle_bytes(details);

	if (store_replication_get(vm->h->store, vm->row->uuid, &row) < 0)
		return;
	st = rp_stats_load(row.stats);
	if (r == 0) {
		row.seq = json_integer_value(json_object_get(details,
		    "seq"));
		free(row.state);
		row.state = xstrdup("replicating");
		stat_add(st, "successful", 1);
		stat_add(st, "total_bytes", bytes);
		json_object_set_new(st, "last_bytes", json_integer(bytes));
		if (bytes > stat_int(st, "max_bytes"))
			json_object_set_new(st, "max_bytes", json_integer(bytes));
		json_object_set_new(st, "last_success_ms", json_integer(
		    json_integer_value(json_object_get(details,
		    "snap_ms"))));
		json_object_del(st, "last_error");
		json_object_del(st, "parent_seq");	/* cycle.c: cy_applied */
		record_points(vm, details, job_id, st);
		json_object_del(st, "critical");
		/* The operator's cycle (now, resync) went through: the
		 * hold of critical ends with it, but for a mismatch, which
		 * waits for 'resume'. */
		if (!json_object_get(st, "mismatch"))
			json_object_del(st, "held");
		if (json_is_true(json_object_get(st, "resync_pending")) &&
		    streq(json_string_value(json_object_get(details,
		    "kind")), "resync")) {
			/* the replica's own map was this cycle's parent */
			json_object_del(st, "resync_pending");
			json_object_del(st, "needs_resync");
		}
	} else {
		stat_add(st, "failed", 1);
		if (r == -EACCES)	/* refused: waits for the operator */
			json_object_set_new(st, "critical", json_string(why ?
			    why : "the replica server refused the cycle"));
		if (json_is_true(json_object_get(details,
		    "replica_mismatch")))
			json_object_set_new(st, "mismatch", json_string(why ?
			    why : "checksum mismatch"));
		json_object_set_new(st, "last_error", json_string(why ? why :
		    "failed"));
	}
	rp_health_note(st, wall_ms(), r == 0);
	rp_stats_save(vm->h, &row, st);
	if (r != 0)
		host_event(vm->h, "warning", vm, job_id, "replication "
		    "cycle failed: %s", why ? why : "failed");
	json_decref(st);
	replication_row_done(&row);
}

/* Is a cycle of relationship r (settings s, stats st) due now? */
static bool
sched_due(const struct replica_settings *s, const json_t *st, uint64_t now)
{
	uint64_t last = (uint64_t)stat_int(st, "last_attempt_ms");

	if (streq(s->initial, "at") && now < s->initial_at_ms &&
	    stat_int(st, "successful") == 0)
		return false;
	return !last || now >= last + 1000ULL * s->interval_s;
}

static void
sched_one(struct host *h, struct replication_row *r)
{
	struct vm *vm = vm_find(h, r->vm_uuid);
	json_t *set = json_loads(r->settings, 0, NULL);
	json_t *st = rp_stats_load(r->stats);
	struct replica_settings s;
	uint64_t now = wall_ms();
	struct job *job;
	struct err e = { 0 };

	replica_settings_from_json(set, &s);
	if (vm && !vm_job(vm) && rp_seed_needed(vm, r)) {
		/* --initial existing: the replica's maps first (every 10 s
		 * until it succeeds); the first cycle follows at once */
		if (now >= (uint64_t)stat_int(st, "last_seed_ms") + 10000) {
			json_object_set_new(st, "last_seed_ms",
			    json_integer((json_int_t)now));
			rp_stats_save(h, r, st);
			if (replica_verify_start(h, vm, true, &job, &e) < 0)
				log_warn("vm=%s cannot read the replica's copy: "
				    "%s", vm->row->name, e.msg);
		}
	} else if (vm && (vm->state == VM_RUNNING || vm->state == VM_PAUSED) &&
	    sched_due(&s, st, now)) {
		if (vm_job(vm)) {
			if (now >= (uint64_t)stat_int(st, "last_missed_ms") +
			    1000ULL * s.interval_s) {
				stat_add(st, "missed", 1);
				rp_health_note(st, now, false);
				json_object_set_new(st, "last_missed_ms",
				    json_integer((json_int_t)now));
				rp_stats_save(h, r, st);
			}
		} else {
			json_object_set_new(st, "last_attempt_ms",
			    json_integer((json_int_t)now));
			rp_stats_save(h, r, st);
			if (replica_cycle_start(h, vm, &job, &e) < 0)
				log_warn("vm=%s cannot start a replication "
				    "cycle: %s", vm->row->name, e.msg);
		}
	}
	replica_settings_done(&s);
	json_decref(set);
	json_decref(st);
}

static void
sched_tick(struct loop *l, void *data)
{
	struct host *h = data;
	struct replication_row *rows = NULL;
	size_t n = 0;

	(void)l;
	rp_metrics_begin();
	if (store_replication_list(h->store, &rows, &n) == 0)
		for (size_t i = 0; i < n; i++) {
			if (streq(rows[i].role, "replica"))
				replica_broker_tell(h, &rows[i]);
			if (rp_health_watch(h, &rows[i]) ||
			    !streq(rows[i].role, "primary") ||
			    streq(rows[i].state, "paused") ||
			    streq(rows[i].state, "failed-over"))
				continue;
			if (streq(rows[i].state, "awaiting-seed"))
				replica_seed_poll(h, &rows[i]);
			else
				sched_one(h, &rows[i]);
		}
	replication_rows_free(rows, n);
	if (!h->quitting)
		(void)loop_timer_add(h->loop, SCHED_TICK_MS, sched_tick, h);
}

void
replica_jobs_register(struct host *h)
{
	job_type_register(&h->jobs, &job_replication_enable);
	job_type_register(&h->jobs, &job_replication_remove);
	job_type_register(&h->jobs, &job_vm_replicate);
	job_type_register(&h->jobs, &job_replica_apply);
	job_type_register(&h->jobs, &job_replication_verify);
	job_type_register(&h->jobs, &job_replica_map);
	backup_point_sink(replica_cycle_end);
	replica_follow_register(h);
	(void)loop_timer_add(h->loop, SCHED_TICK_MS, sched_tick, h);
}
