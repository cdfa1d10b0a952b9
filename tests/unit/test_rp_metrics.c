/* test_rp_metrics.c - the replication samples of /metrics
 * (src/replica/rp_metrics.c) from a relationship's row: lag from the last
 * acknowledged point, the last cycle, cycles by result, deltas, health as
 * a labelled gauge, the last drill; a relationship gone from the next
 * tick loses its samples. */
#include <jansson.h>
#include <stdlib.h>

#include "health.h"
#include "host.h"
#include "metrics.h"
#include "store.h"
#include "test.h"
#include "util.h"

#define L(...) ((const char *const[]){ "vm", "u1", "role", "primary", \
	"peer", "h2", __VA_ARGS__ NULL })

static void
test_rp_metrics_row(void)
{
	struct host h = { 0 };
	struct metrics *m = metrics_default();
	uint64_t now = wall_ms();
	_cleanup_free_ char *stats = xasprintf("{\"last_success_ms\": %llu, "
	    "\"last_attempt_ms\": %llu, \"successful\": 4, \"failed\": 1, "
	    "\"last_error\": \"link down\", \"last_bytes\": 4096, "
	    "\"total_bytes\": 65536}", (unsigned long long)(now - 90000),
	    (unsigned long long)(now - 5000));
	struct replication_row r = { .vm_uuid = "u1", .role = "primary",
		.peer = "h2", .state = "replicating", .stats = stats,
		.drill = "{\"last\": {\"result\": \"passed\", \"time_ms\": "
		    "1000, \"boot_ms\": 2500, \"heartbeat_ms\": 4000}}" };
	json_t *st = json_loads(stats, 0, NULL);
	_cleanup_free_ char *t = NULL;

	rp_metrics_begin();
	rp_metrics_row(&h, &r, st, RP_HEALTH_WARNING);
	ASSERT_EQ(metrics_get(m, "tern_replication_lag_seconds", L()), 90);
	ASSERT_EQ(metrics_get(m, "tern_replication_last_cycle_success", L()),
	    0);
	ASSERT_EQ(metrics_get(m, "tern_replication_cycles_total",
	    L("result", "succeeded",)), 4);
	ASSERT_EQ(metrics_get(m, "tern_replication_cycles_total",
	    L("result", "failed",)), 1);
	ASSERT_EQ(metrics_get(m, "tern_replication_last_delta_bytes", L()),
	    4096);
	ASSERT_EQ(metrics_get(m, "tern_replication_delta_bytes_total", L()),
	    65536);
	ASSERT_EQ(metrics_get(m, "tern_replication_health",
	    L("health", "warning",)), 1);
	ASSERT_EQ(metrics_get(m, "tern_replication_health",
	    L("health", "normal",)), 0);
	ASSERT_EQ(metrics_n_samples(m, "tern_replication_health"), 3);
	ASSERT_EQ(metrics_get(m, "tern_replication_drill_last_success", L()),
	    1);
	t = metrics_text(m);
	ASSERT_CONTAINS(t, "tern_replication_drill_boot_seconds{vm=\"u1\","
	    "role=\"primary\",peer=\"h2\"} 2.5\n");
	/* the next tick without the relationship: nothing of it stays */
	rp_metrics_begin();
	ASSERT_EQ(metrics_n_samples(m, "tern_replication_health"), 0);
	ASSERT_EQ(metrics_n_samples(m, "tern_replication_lag_seconds"), 0);
	json_decref(st);
}

int
main(void)
{
	RUN_TEST(test_rp_metrics_row);
	return TEST_REPORT();
}
