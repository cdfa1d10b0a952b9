/* test_cluster_state.c - unit tests for src/cluster/state_rules.c: how
 * each change message alters the cluster's state (and when it is stale
 * and changes nothing), and which state a sync round keeps. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "state_rules.h"
#include "test.h"
#include "util.h"

#define U1 "11111111-1111-4111-8111-111111111111"

static bool
apply(json_t *vms, const char *fmt, ...)
{
	json_error_t je;
	va_list ap;
	json_t *m;
	bool r;

	va_start(ap, fmt);
	m = json_vpack_ex(&je, 0, fmt, ap);
	va_end(ap);
	if (!m) {
		fprintf(stderr, "pack: %s\n", je.text);
		abort();
	}
	r = cl_state_apply(vms, json_string_value(json_object_get(m, "t")), m);
	json_decref(m);
	return r;
}

static bool
apply_settings(json_t *st, const char *fmt, ...)
{
	va_list ap;
	json_t *m;
	bool r;

	va_start(ap, fmt);
	m = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	r = cl_settings_apply(st, m);
	json_decref(m);
	return r;
}

static const char *
field(json_t *vms, const char *key)
{
	return json_string_value(json_object_get(json_object_get(vms, U1),
	    key));
}

static bool
vm(json_t *vms, const char *node, bool up)
{
	return apply(vms, "{sssssssssssIsb}", "t", "vm", "node", node, "uuid",
	    U1, "name", "web1", "state", up ? "running" : "off", "memory_mib",
	    (json_int_t)256, "up", up);
}

static void
test_vm_then_ha_then_place(void)
{
	json_t *vms = json_object();

	ASSERT_TRUE(vm(vms, "h1", true));
	ASSERT_STREQ(field(vms, "owner"), "h1");
	ASSERT_STREQ(field(vms, "state"), "running");
	ASSERT_TRUE(apply(vms, "{sssss{ss}}", "t", "ha", "uuid", U1, "ha",
	    "priority", "high"));
	/* h1 dies: the coordinator gives it to h2 */
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "place", "uuid", U1,
	    "from", "h1", "to", "h2"));
	ASSERT_STREQ(field(vms, "owner"), "h2");
	ASSERT_TRUE(json_is_true(json_object_get(json_object_get(vms, U1),
	    "restart")));
	/* a second place from h1 (sent twice) is stale */
	ASSERT_TRUE(!apply(vms, "{ssssssss}", "t", "place", "uuid", U1,
	    "from", "h1", "to", "h3"));
	ASSERT_STREQ(field(vms, "owner"), "h2");
	/* h2 runs it: restart cleared, ha kept */
	ASSERT_TRUE(vm(vms, "h2", true));
	ASSERT_TRUE(!json_object_get(json_object_get(vms, U1), "restart"));
	ASSERT_STREQ(json_string_value(json_object_get(json_object_get(
	    json_object_get(vms, U1), "ha"), "priority")), "high");
	json_decref(vms);
}

static void
test_gone_only_from_owner(void)
{
	json_t *vms = json_object();

	ASSERT_TRUE(vm(vms, "h1", true));
	/* moved h1 -> h2: h2 says vm before h1 says gone */
	ASSERT_TRUE(vm(vms, "h2", true));
	ASSERT_TRUE(!apply(vms, "{ssssss}", "t", "gone", "node", "h1",
	    "uuid", U1));
	ASSERT_STREQ(field(vms, "owner"), "h2");
	/* deleted on h2 */
	ASSERT_TRUE(apply(vms, "{ssssss}", "t", "gone", "node", "h2", "uuid",
	    U1));
	ASSERT_TRUE(json_is_null(json_object_get(json_object_get(vms, U1),
	    "owner")));
	ASSERT_STREQ(field(vms, "state"), "gone");
	json_decref(vms);
}

static void
test_failed_and_ha_off(void)
{
	json_t *vms = json_object();

	ASSERT_TRUE(vm(vms, "h1", true));
	ASSERT_TRUE(apply(vms, "{sssss{ss}}", "t", "ha", "uuid", U1, "ha",
	    "priority", "low"));
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "place", "uuid", U1,
	    "from", "h1", "to", "h3"));
	ASSERT_TRUE(!apply(vms, "{ssssssss}", "t", "ha-failed", "uuid", U1,
	    "node", "h2", "why", "x"));	/* not h2's */
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "ha-failed", "uuid", U1,
	    "node", "h3", "why", "no pool"));
	ASSERT_STREQ(field(vms, "state"), "failed");
	ASSERT_STREQ(field(vms, "why"), "no pool");
	ASSERT_TRUE(!json_object_get(json_object_get(vms, U1), "restart"));
	ASSERT_TRUE(apply(vms, "{ssssss}", "t", "ha", "uuid", U1, "ha",
	    "off"));
	ASSERT_TRUE(!json_object_get(json_object_get(vms, U1), "ha"));
	json_decref(vms);
}

static void
test_moved_and_placed(void)
{
	json_t *vms = json_object();

	ASSERT_TRUE(vm(vms, "h1", true));
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "place", "uuid", U1,
	    "from", "h1", "to", "h2"));
	ASSERT_TRUE(json_is_true(json_object_get(json_object_get(vms, U1),
	    "placed")));
	ASSERT_TRUE(vm(vms, "h2", true));
	/* placed stays once it runs: failback looks at it */
	ASSERT_TRUE(json_object_get(json_object_get(vms, U1), "placed"));
	/* a move from a node that does not own it is stale */
	ASSERT_TRUE(!apply(vms, "{ssssssss}", "t", "moved", "uuid", U1,
	    "from", "h1", "to", "h3"));
	ASSERT_STREQ(field(vms, "owner"), "h2");
	/* h2 -> h1 committed: owner in one step, placed cleared */
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "moved", "uuid", U1,
	    "from", "h2", "to", "h1"));
	ASSERT_STREQ(field(vms, "owner"), "h1");
	ASSERT_TRUE(!json_object_get(json_object_get(vms, U1), "placed"));
	/* h2's late "gone" changes nothing now */
	ASSERT_TRUE(!apply(vms, "{ssssss}", "t", "gone", "node", "h2",
	    "uuid", U1));
	ASSERT_TRUE(!apply(vms, "{ssssss}", "t", "moved", "uuid", U1,
	    "from", "h1"));	/* no "to" */
	json_decref(vms);
}

static void
test_failback_window(void)
{
	ASSERT_TRUE(cl_failback_in_window("immediate", 3));
	ASSERT_TRUE(!cl_failback_in_window("never", 3));
	ASSERT_TRUE(!cl_failback_in_window(NULL, 3));
	ASSERT_TRUE(cl_failback_in_window("window 1-5", 1));
	ASSERT_TRUE(cl_failback_in_window("window 1-5", 4));
	ASSERT_TRUE(!cl_failback_in_window("window 1-5", 5));
	ASSERT_TRUE(!cl_failback_in_window("window 1-5", 0));
	/* over midnight */
	ASSERT_TRUE(cl_failback_in_window("window 22-06", 23));
	ASSERT_TRUE(cl_failback_in_window("window 22-06", 0));
	ASSERT_TRUE(cl_failback_in_window("window 22-06", 5));
	ASSERT_TRUE(!cl_failback_in_window("window 22-06", 6));
	ASSERT_TRUE(!cl_failback_in_window("window 22-06", 12));
}

static void
test_settings(void)
{
	json_t *st = json_object(), *e;

	/* defaults: 240 s, isolated only while the storage heartbeat goes on */
	ASSERT_EQ(cl_resiliency_ms(st, NULL), 240000);
	ASSERT_TRUE(!cl_isolate_always(st));
	ASSERT_TRUE(apply_settings(st, "{sssI}", "t", "settings",
	    "resiliency_period_s", (json_int_t)30));
	ASSERT_EQ(cl_resiliency_ms(st, NULL), 30000);
	ASSERT_TRUE(!apply_settings(st, "{sssI}", "t", "settings",
	    "resiliency_period_s", (json_int_t)30));	/* no change */
	ASSERT_TRUE(apply_settings(st, "{ssss}", "t", "settings",
	    "resiliency_level", "always-isolated"));
	ASSERT_TRUE(cl_isolate_always(st));
	/* out of range, unknown level, wrong type: nothing changes */
	ASSERT_TRUE(!apply_settings(st, "{sssI}", "t", "settings",
	    "resiliency_period_s", (json_int_t)-1));
	ASSERT_TRUE(!apply_settings(st, "{sssI}", "t", "settings",
	    "resiliency_period_s", (json_int_t)86401));
	ASSERT_TRUE(!apply_settings(st, "{ssss}", "t", "settings",
	    "resiliency_level", "sometimes"));
	ASSERT_TRUE(!apply_settings(st, "{ssss}", "t", "settings",
	    "resiliency_period_s", "10"));
	ASSERT_EQ(cl_resiliency_ms(st, NULL), 30000);
	/* a VM's own period wins */
	e = json_pack("{s{sI}}", "ha", "resiliency_period_s", (json_int_t)0);
	ASSERT_EQ(cl_resiliency_ms(st, e), 0);
	json_decref(e);
	json_decref(st);
}

static void
test_malformed_and_unknown(void)
{
	json_t *vms = json_object();

	ASSERT_TRUE(!apply(vms, "{ssss}", "t", "ha", "uuid", U1));
	ASSERT_TRUE(!apply(vms, "{ssss}", "t", "what", "uuid", U1));
	ASSERT_TRUE(!apply(vms, "{ssss}", "t", "vm", "node", "h1"));
	ASSERT_TRUE(!apply(vms, "{ssssss}", "t", "vm", "uuid", U1, "name",
	    "x"));	/* no node */
	ASSERT_TRUE(!apply(vms, "{ssssss}", "t", "gone", "node", "h1",
	    "uuid", U1));
	ASSERT_TRUE(!cl_state_apply(vms, NULL, NULL));
	ASSERT_EQ(json_object_size(vms), 0);
	json_decref(vms);
}

static void
test_sync_best(void)
{
	json_t *s = json_pack("{s{si}s{si}s{si}}", "3", "gen", 7, "2", "gen",
	    9, "10", "gen", 9);

	ASSERT_STREQ(cl_sync_best(s), "2");	/* highest gen, lowest id */
	json_object_set_new(json_object_get(s, "10"), "gen", json_integer(12));
	ASSERT_STREQ(cl_sync_best(s), "10");
	json_object_clear(s);
	ASSERT_TRUE(cl_sync_best(s) == NULL);
	json_decref(s);
}

int
main(void)
{
	RUN_TEST(test_vm_then_ha_then_place);
	RUN_TEST(test_gone_only_from_owner);
	RUN_TEST(test_failed_and_ha_off);
	RUN_TEST(test_moved_and_placed);
	RUN_TEST(test_failback_window);
	RUN_TEST(test_settings);
	RUN_TEST(test_malformed_and_unknown);
	RUN_TEST(test_sync_best);
	return TEST_REPORT();
}
