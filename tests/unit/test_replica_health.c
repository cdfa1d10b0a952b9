/* test_replica_health.c - the health rules (src/replica/health.c): from a
 * relationship's state, stats and the clock to normal / warning /
 * critical and the reasons. */
#include <jansson.h>

#include "health.h"
#include "test.h"

#define MIN_MS (60ULL * 1000)
#define NOW (1000ULL * 24 * 3600 * 1000)	/* some day, far from 0 */

static struct rp_health_in
base(void)
{
	struct rp_health_in in = {
		.state = "replicating", .now_ms = NOW,
		.created_ms = NOW - 600 * MIN_MS,
		.last_success_ms = NOW - 10 * 1000, .interval_s = 30,
	};

	return in;
}

/* health of in; *ret_why the first reason ("" none). */
static enum rp_health
eval(const struct rp_health_in *in, char *why, size_t n)
{
	json_t *r = json_array();
	enum rp_health h = rp_health_eval(in, r);

	snprintf(why, n, "%s", json_array_size(r) ?
	    json_string_value(json_array_get(r, 0)) : "");
	json_decref(r);
	return h;
}

static void
test_normal(void)
{
	struct rp_health_in in = base();
	char why[240];

	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
	ASSERT_STREQ(why, "");
	ASSERT_STREQ(rp_health_name(RP_HEALTH_NORMAL), "normal");
}

static void
test_missed_interval(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.last_success_ms = NOW - 60 * 1000;	/* exactly 2 x 30 s */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
	in.last_success_ms = NOW - 61 * 1000;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "twice the interval");
	in.interval_s = 300;	/* 61 s is fine at 5 min */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
}

static void
test_initial_paused(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.state = "paused";
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "paused");
	in = base();
	in.state = "initial";
	in.last_success_ms = 0;
	in.created_ms = NOW - 5 * MIN_MS;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "initial replication");
}

/* A failed-over relationship: a warning naming the next step, on
 * both sides, however old its last cycle (no critical hold). */
static void
test_failed_over(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.state = "failed-over";
	in.last_success_ms = NOW - 600 * MIN_MS;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "remove it here");
	in.replica = true;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "complete or cancel the failover");
}

static void
test_critical_after(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.last_success_ms = NOW - 30 * MIN_MS;	/* not more than 30 min */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	in.last_success_ms = NOW - 30 * MIN_MS - 1000;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "resume");
	in.critical_after_ms = 40 * MIN_MS;	/* the knob */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	in.critical_after_ms = 90 * 1000;
	in.last_success_ms = NOW - 91 * 1000;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	/* never a good cycle: counted from the creation */
	in.last_success_ms = 0;
	in.state = "initial";
	in.created_ms = NOW - 100 * 1000;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	/* an operator's resume restarts the clock */
	in.resumed_ms = NOW - 5 * 1000;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
}

static void
test_held_and_mismatch(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.held = true;	/* cycles held: critical until resume */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "held");
	in = base();
	in.mismatch = "read-back mismatch";
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "checksum mismatch");
	in.replica = true;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "resync");
}

static void
test_recent_failures(void)
{
	struct rp_health_in in = base();
	json_t *st = json_object();
	char why[240];
	int i;

	/* 10 cycles in the last hour, 2 bad: 20 %, not more */
	for (i = 0; i < 10; i++)
		rp_health_note(st, NOW - (uint64_t)(10 - i) * MIN_MS, i >= 2);
	in.recent = json_object_get(st, "recent");
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
	rp_health_note(st, NOW - 1000, false);	/* 3 of 11 */
	in.recent = json_object_get(st, "recent");
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "3 of the last 60 min's 11");
	in.window_ms = 2 * MIN_MS;	/* the knob: only the last 2 min */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "1 of the last 2 min's 3");
	in.window_ms = 0;
	/* an hour later the old ones are gone from the window and the list */
	in.now_ms = NOW + 61 * MIN_MS;
	in.last_success_ms = in.now_ms - 1000;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
	rp_health_note(st, in.now_ms, true);
	ASSERT_EQ(json_array_size(json_object_get(st, "recent")), 1);
	/* the replica side does not count the primary's attempts */
	in.now_ms = NOW;
	in.last_success_ms = NOW - 1000;
	in.recent = json_object_get(st, "recent");
	in.replica = true;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
	json_decref(st);
}

static void
test_replica_lag(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.replica = true;
	in.last_success_ms = NOW - 2 * MIN_MS;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "last point applied is 120 s old");
	in.last_success_ms = NOW - 31 * MIN_MS;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "no cycle applied");
}

/* Critical for what other modules record: the replica server refused
 * us (follow.c), a verify found differing blocks (verify.c); a seed on
 * its way (seed.c) only warns, however long it takes. */
static void
test_refused_differing_seed(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.refused = "host h3 does not accept replication from peer 'h2'";
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "does not accept");
	in.refused = NULL;
	in.differing = 3;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	ASSERT_CONTAINS(why, "3 differing blocks");
	in.differing = 0;
	in.state = "awaiting-seed";
	in.last_success_ms = 0;
	in.created_ms = NOW - 3 * 24 * 60 * MIN_MS;	/* three days */
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "import-seed");
}

/* A failed last DR drill (src/failover) warns on the replica side, with
 * its error; critical rules still come first. */
static void
test_drill_failed(void)
{
	struct rp_health_in in = base();
	char why[240];

	in.replica = true;
	in.drill_failed = "the guest never answered its agent within 120 s";
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_WARNING);
	ASSERT_CONTAINS(why, "the last DR drill failed: the guest never");
	in.mismatch = "x";
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_CRITICAL);
	in.mismatch = NULL;
	in.drill_failed = NULL;
	ASSERT_EQ(eval(&in, why, sizeof(why)), RP_HEALTH_NORMAL);
}

int
main(void)
{
	RUN_TEST(test_normal);
	RUN_TEST(test_missed_interval);
	RUN_TEST(test_initial_paused);
	RUN_TEST(test_failed_over);
	RUN_TEST(test_critical_after);
	RUN_TEST(test_held_and_mismatch);
	RUN_TEST(test_recent_failures);
	RUN_TEST(test_replica_lag);
	RUN_TEST(test_refused_differing_seed);
	RUN_TEST(test_drill_failed);
	return TEST_REPORT();
}
