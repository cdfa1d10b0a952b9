/* rp_metrics.c - the replication samples of /metrics, rebuilt from the
 * relationships' rows on every scheduler tick (sched.c): lag, the last
 * cycle, delta sizes, health and the last DR drill.  A relationship that
 * is gone loses its samples at the next tick; a scrape only renders.
 * Reads rows it is given, never writes them. */
#include <stdlib.h>

#include "metrics.h"
#include "health.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

static const struct { const char *name; enum metric_type type;
    const char *help; } rp_fams[] = {
	{ "tern_replication_lag_seconds", METRIC_GAUGE, "Seconds since the "
	    "point of the last acknowledged (applied) cycle." },
	{ "tern_replication_last_cycle_timestamp_seconds", METRIC_GAUGE,
	    "When the last cycle was started (Unix time; primary)." },
	{ "tern_replication_last_cycle_success", METRIC_GAUGE, "1 when the "
	    "last cycle succeeded, 0 when it failed." },
	{ "tern_replication_cycles_total", METRIC_COUNTER, "Cycles ended, "
	    "by result (succeeded, failed)." },
	{ "tern_replication_last_delta_bytes", METRIC_GAUGE, "Bytes of the "
	    "last successful cycle's deltas." },
	{ "tern_replication_delta_bytes_total", METRIC_COUNTER, "Bytes of "
	    "every successful cycle's deltas." },
	{ "tern_replication_health", METRIC_GAUGE, "1 for the relationship's "
	    "health (normal, warning, critical), 0 for the others." },
	{ "tern_replication_drill_last_success", METRIC_GAUGE, "1 when the "
	    "last DR drill passed, 0 when it failed (replica side)." },
	{ "tern_replication_drill_last_timestamp_seconds", METRIC_GAUGE,
	    "When the last DR drill ran (Unix time)." },
	{ "tern_replication_drill_boot_seconds", METRIC_GAUGE, "How long the "
	    "last DR drill's test VM took to run." },
	{ "tern_replication_drill_heartbeat_seconds", METRIC_GAUGE, "How "
	    "long the last DR drill's guest took to answer its heartbeat." },
};

void
rp_metrics_begin(void)
{
	struct metrics *m = metrics_default();

	for (size_t i = 0; i < ARRAY_SIZE(rp_fams); i++) {
		metrics_declare(m, rp_fams[i].name, rp_fams[i].type,
		    rp_fams[i].help);
		metrics_clear(m, rp_fams[i].name);
	}
}

static void
rp_metrics_drill(const struct replication_row *r, const char *const *l)
{
	struct metrics *m = metrics_default();
	json_t *d = r->drill ? json_loads(r->drill, 0, NULL) : NULL;
	json_t *last = json_object_get(d, "last");

	if (json_is_object(last)) {
		metrics_set(m, "tern_replication_drill_last_success", l,
		    streq(rp_str(last, "result") ?: "", "passed"));
		metrics_setf(m, "tern_replication_drill_last_timestamp_seconds",
		    l, (double)rp_int(last, "time_ms") / 1000);
		metrics_setf(m, "tern_replication_drill_boot_seconds", l,
		    (double)rp_int(last, "boot_ms") / 1000);
		metrics_setf(m, "tern_replication_drill_heartbeat_seconds", l,
		    (double)rp_int(last, "heartbeat_ms") / 1000);
	}
	json_decref(d);
}

void
rp_metrics_row(struct host *h, const struct replication_row *r,
    const json_t *st, enum rp_health health)
{
	struct metrics *m = metrics_default();
	struct vm *vm = vm_find(h, r->vm_uuid);
	const char *name = vm ? vm->row->name : r->vm_uuid;
	const char *const l[] = { "vm", name, "role", r->role, "peer",
	    r->peer ? r->peer : "", NULL };
	int64_t ok_ms = rp_int(st, "last_success_ms"), now = (int64_t)wall_ms();

	if (ok_ms > 0)
		metrics_setf(m, "tern_replication_lag_seconds", l,
		    (double)(now > ok_ms ? now - ok_ms : 0) / 1000);
	if (rp_int(st, "last_attempt_ms") > 0)
		metrics_setf(m, "tern_replication_last_cycle_timestamp_seconds",
		    l, (double)rp_int(st, "last_attempt_ms") / 1000);
	if (rp_int(st, "successful") + rp_int(st, "failed") > 0)
		metrics_set(m, "tern_replication_last_cycle_success", l,
		    rp_str(st, "last_error") == NULL);
	for (int ok = 0; ok < 2; ok++)
		metrics_set(m, "tern_replication_cycles_total",
		    (const char *const[]){ l[0], l[1], l[2], l[3], l[4], l[5],
		    "result", ok ? "succeeded" : "failed", NULL },
		    rp_int(st, ok ? "successful" : "failed"));
	metrics_set(m, "tern_replication_last_delta_bytes", l,
	    rp_int(st, "last_bytes"));
	metrics_set(m, "tern_replication_delta_bytes_total", l,
	    rp_int(st, "total_bytes"));
	for (int i = 0; i <= RP_HEALTH_CRITICAL; i++)
		metrics_set(m, "tern_replication_health", (const char *const[]){
		    l[0], l[1], l[2], l[3], l[4], l[5], "health",
		    rp_health_name(i), NULL }, i == (int)health);
	rp_metrics_drill(r, l);
}
