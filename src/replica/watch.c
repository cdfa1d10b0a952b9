/* watch.c - health.c's rules applied to the relationships of this host,
 * once a scheduler tick: every change of health is an event, and a
 * primary that turns critical is held (no cycles) until the operator's
 * resume:
 *
 *   normal <--> warning            (events: "health normal -> warning")
 *      \          |
 *       +---------+--> critical -- held: sched starts no cycle
 *                          |
 *                          v  tern vm replication resume VM
 *                     rp_health_release: hold and mismatch cleared,
 *                     the critical clock restarted; the next tick's
 *                     cycle carries everything since the last ack */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

enum rp_health
rp_health_of(struct host *h, const struct replication_row *r,
    const json_t *stats, json_t *reasons)
{
	json_t *set = json_loads(r->settings, 0, NULL);
	json_t *drill = r->drill ? json_loads(r->drill, 0, NULL) : NULL;
	json_t *last = json_object_get(drill, "last");
	struct rp_health_in in = {
		.replica = streq(r->role, "replica"),
		.state = r->state,
		.now_ms = wall_ms(),
		.created_ms = (uint64_t)r->created_ms,
		.last_success_ms = (uint64_t)rp_int(stats, "last_success_ms"),
		.resumed_ms = (uint64_t)rp_int(stats, "resumed_ms"),
		.interval_s = (unsigned)rp_int(set, "interval_s"),
		.critical_after_ms = h->cfg.replica_critical_after_ms,
		.mismatch = rp_str(stats, "mismatch"),
		.refused = rp_str(stats, "critical"),	/* follow.c */
		.differing = rp_int(stats, "needs_resync"),	/* verify.c */
		.held = json_is_true(json_object_get(stats, "held")),
		.recent = json_object_get(stats, "recent"),
		.window_ms = h->cfg.replica_window_ms,
		/* the row's drill (src/failover writes it) */
		.drill_failed = streq(rp_str(last, "result"), "failed") ?
		    (rp_str(last, "error") ?: "failed") : NULL,
	};
	enum rp_health v;

	/* the replica's mismatch stands until a later point is applied */
	if (in.replica && in.mismatch && rp_int(stats, "mismatch_point_ms") <
	    rp_int(stats, "last_success_ms"))
		in.mismatch = NULL;
	if (!in.interval_s)
		in.interval_s = 300;
	v = rp_health_eval(&in, reasons);
	json_decref(drill);
	json_decref(set);
	return v;
}

bool
rp_health_watch(struct host *h, struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats), *reasons = json_array();
	enum rp_health v = rp_health_of(h, r, st, reasons);
	const char *old = rp_str(st, "health") ? rp_str(st, "health") :
	    "normal", *now = rp_health_name(v);
	bool primary = streq(r->role, "primary");
	bool held = json_is_true(json_object_get(st, "held"));

	rp_metrics_row(h, r, st, v);
	if (!streq(old, now)) {
		host_event(h, v == RP_HEALTH_CRITICAL ? "error" :
		    v == RP_HEALTH_WARNING ? "warning" : "info",
		    vm_find(h, r->vm_uuid), 0, "replication health %s -> %s"
		    "%s: %s", old, now, primary ? "" : " (replica side)",
		    json_array_size(reasons) ? json_string_value(
		    json_array_get(reasons, 0)) : "all cycles on time");
		json_object_set_new(st, "health", json_string(now));
		if (primary && v == RP_HEALTH_CRITICAL && !held) {
			json_object_set_new(st, "held", json_true());
			held = true;
		}
		rp_stats_save(h, r, st);
	}
	json_decref(st);
	json_decref(reasons);
	return held;
}

void
rp_health_mismatch(struct host *h, const char *uuid, int64_t point_ms,
    const char *why)
{
	struct replication_row r;
	json_t *st;

	if (store_replication_get(h->store, uuid, &r) < 0)
		return;
	st = rp_stats_load(r.stats);
	json_object_set_new(st, "mismatch", json_string(why));
	json_object_set_new(st, "mismatch_point_ms", json_integer(point_ms));
	rp_stats_save(h, &r, st);
	json_decref(st);
	replication_row_done(&r);
}

int
rp_health_release(struct host *h, struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats);

	if (!json_is_true(json_object_get(st, "held"))) {
		json_decref(st);
		return -EALREADY;
	}
	json_object_del(st, "held");
	json_object_del(st, "mismatch");
	json_object_set_new(st, "resumed_ms", json_integer(
	    (json_int_t)wall_ms()));
	free(r->stats);
	r->stats = json_to_string(st);
	json_decref(st);
	(void)h;
	return 0;
}
