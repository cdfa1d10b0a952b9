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
	/* a replica placed on h3 is done once h3 has it (never "up") */
	ASSERT_TRUE(apply(vms, "{sssssssssssb}", "t", "vm", "node", "h1",
	    "uuid", "replica:" U1, "name", "web1", "state", "replica", "up",
	    0));
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "place", "uuid",
	    "replica:" U1, "from", "h1", "to", "h3"));
	ASSERT_TRUE(json_object_get(json_object_get(vms, "replica:" U1),
	    "restart"));
	ASSERT_TRUE(apply(vms, "{sssssssssssb}", "t", "vm", "node", "h3",
	    "uuid", "replica:" U1, "name", "web1", "state", "replica", "up",
	    0));
	ASSERT_TRUE(!json_object_get(json_object_get(vms, "replica:" U1),
	    "restart"));
	ASSERT_STREQ(field(vms, "owner"), "h1");	/* the VM's own entry */
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

static bool
node(json_t *st, json_t *vms, const char *fmt, ...)
{
	va_list ap;
	json_t *m;
	bool r;

	va_start(ap, fmt);
	m = json_vpack_ex(NULL, 0, fmt, ap);
	va_end(ap);
	r = cl_node_apply(st, vms, m);
	json_decref(m);
	return r;
}

static const char *
node_field(json_t *st, const char *name, const char *key)
{
	return json_string_value(json_object_get(json_object_get(
	    json_object_get(st, "nodes"), name), key));
}

/* Three isolations within an hour quarantine a node; two, or three
 * spread wider, do not; resume waits for the quarantine to end or be
 * cleared. */
static void
test_quarantine(void)
{
	json_t *st = json_object(), *vms = json_object();
	const json_int_t h = 3600000;

	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "isolated",
	    "at_ms", (json_int_t)1000));
	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "isolated",
	    "at_ms", 1000 + h));	/* the first one is an hour old */
	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "isolated",
	    "at_ms", 2000 + h));
	ASSERT_TRUE(cl_node_paused(st, "h2") == NULL);
	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "isolated",
	    "at_ms", 3000 + h));	/* three within the hour */
	ASSERT_STREQ(cl_node_paused(st, "h2"), "quarantine");
	ASSERT_STREQ(node_field(st, "h2", "drain"), "due");
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(
	    json_object_get(st, "nodes"), "h2"), "quarantined_until_ms")),
	    3000 + h + 7200000);
	/* resume while quarantined: refused, nothing changes */
	ASSERT_TRUE(!node(st, vms, "{sssssI}", "name", "h2", "op", "resume",
	    "at_ms", 4000 + h));
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op",
	    "clear-quarantine"));
	ASSERT_STREQ(cl_node_paused(st, "h2"), "drain");	/* paused still */
	ASSERT_TRUE(!node(st, vms, "{ssss}", "name", "h2", "op",
	    "clear-quarantine"));
	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "resume",
	    "at_ms", 5000 + h));
	ASSERT_TRUE(cl_node_paused(st, "h2") == NULL);
	/* threshold 0: never quarantined */
	ASSERT_TRUE(apply_settings(st, "{si}", "quarantine_threshold", 0));
	for (int i = 0; i < 5; i++)
		ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h3", "op",
		    "isolated", "at_ms", (json_int_t)(10 + i)));
	ASSERT_TRUE(cl_node_paused(st, "h3") == NULL);
	/* out of range settings change nothing, all or nothing */
	ASSERT_TRUE(!apply_settings(st, "{sisi}", "quarantine_threshold", 2,
	    "quarantine_duration_s", 0));
	ASSERT_EQ(cl_quarantine_threshold(st), 0);
	ASSERT_TRUE(!apply_settings(st, "{si}", "quarantine_threshold", 101));
	ASSERT_TRUE(apply_settings(st, "{si}", "quarantine_duration_s", 60));
	ASSERT_EQ(cl_quarantine_ms(st), 60000);
	json_decref(st);
	json_decref(vms);
}

/* A drain pauses a node; its VMs moved off remember it; resume
 * --failback sends them back, a plain resume forgets. */
static void
test_drain_resume(void)
{
	json_t *st = json_object(), *vms = json_object();

	ASSERT_TRUE(vm(vms, "h2", true));
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op", "drain"));
	ASSERT_TRUE(!node(st, vms, "{ssss}", "name", "h2", "op", "drain"));
	ASSERT_STREQ(cl_node_paused(st, "h2"), "drain");
	ASSERT_TRUE(apply(vms, "{sssssssssb}", "t", "moved", "uuid", U1,
	    "from", "h2", "to", "h1", "drain", 1));
	ASSERT_STREQ(field(vms, "drained_from"), "h2");
	ASSERT_TRUE(node(st, vms, "{sssssb}", "name", "h2", "op", "drained",
	    "ok", 1));
	ASSERT_STREQ(node_field(st, "h2", "drain"), "done");
	ASSERT_TRUE(!node(st, vms, "{sssssb}", "name", "h2", "op", "drained",
	    "ok", 0));	/* no drain due */
	ASSERT_TRUE(node(st, vms, "{sssssIsb}", "name", "h2", "op", "resume",
	    "at_ms", (json_int_t)1, "failback", 1));
	ASSERT_STREQ(field(vms, "move_to"), "h2");
	ASSERT_TRUE(!node(st, vms, "{sssssI}", "name", "h2", "op", "resume",
	    "at_ms", (json_int_t)2));	/* not paused */
	/* the move back clears both */
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "moved", "uuid", U1,
	    "from", "h1", "to", "h2"));
	ASSERT_TRUE(field(vms, "move_to") == NULL);
	ASSERT_TRUE(field(vms, "drained_from") == NULL);
	/* the destination published the VM first: the move's marks still
	 * land */
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op", "drain"));
	ASSERT_TRUE(apply(vms, "{sssssssssb}", "t", "vm", "node", "h1",
	    "uuid", U1, "name", "web1", "state", "running", "up", 1));
	ASSERT_TRUE(apply(vms, "{sssssssssb}", "t", "moved", "uuid", U1,
	    "from", "h2", "to", "h1", "drain", 1));
	ASSERT_STREQ(field(vms, "drained_from"), "h2");
	ASSERT_TRUE(!apply(vms, "{sssssssssb}", "t", "moved", "uuid", U1,
	    "from", "h3", "to", "h4", "drain", 1));	/* neither owns it */
	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "resume",
	    "at_ms", (json_int_t)3));
	ASSERT_TRUE(apply(vms, "{ssssssss}", "t", "moved", "uuid", U1,
	    "from", "h1", "to", "h2"));
	/* a plain resume forgets where they came from */
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op", "drain"));
	ASSERT_TRUE(apply(vms, "{sssssssssb}", "t", "moved", "uuid", U1,
	    "from", "h2", "to", "h1", "drain", 1));
	ASSERT_TRUE(node(st, vms, "{sssssI}", "name", "h2", "op", "resume",
	    "at_ms", (json_int_t)3));
	ASSERT_TRUE(field(vms, "drained_from") == NULL);
	ASSERT_TRUE(field(vms, "move_to") == NULL);
	/* malformed */
	ASSERT_TRUE(!node(st, vms, "{ss}", "op", "drain"));
	ASSERT_TRUE(!node(st, vms, "{ssss}", "name", "h2", "op", "what"));
	ASSERT_TRUE(!node(st, vms, "{ssss}", "name", "h2", "op",
	    "isolated"));	/* no at_ms */
	json_decref(st);
	json_decref(vms);
}

/* An evicted node is forgotten: its pause and quarantine, and every
 * VM's move to it or back to it. */
static void
test_forget(void)
{
	json_t *st = json_object(), *vms = json_object();

	ASSERT_TRUE(apply(vms, "{sssssssssb}", "t", "vm", "node", "h2",
	    "uuid", U1, "name", "web1", "state", "running", "up", 1));
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op", "drain"));
	ASSERT_TRUE(apply(vms, "{sssssssssb}", "t", "moved", "uuid", U1,
	    "from", "h2", "to", "h1", "drain", 1));
	ASSERT_TRUE(node(st, vms, "{sssssIsb}", "name", "h2", "op", "resume",
	    "at_ms", (json_int_t)3, "failback", 1));
	ASSERT_STREQ(field(vms, "move_to"), "h2");
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op", "drain"));
	ASSERT_TRUE(node(st, vms, "{ssss}", "name", "h2", "op", "forget"));
	ASSERT_TRUE(node_field(st, "h2", "paused") == NULL);
	ASSERT_TRUE(field(vms, "move_to") == NULL);
	ASSERT_TRUE(field(vms, "drained_from") == NULL);
	ASSERT_TRUE(!node(st, vms, "{ssss}", "name", "h2", "op", "forget"));
	json_decref(st);
	json_decref(vms);
}

static void
add_vm(json_t *vms, const char *uuid, const char *owner, int mib)
{
	json_object_set_new(vms, uuid, json_pack("{sssssssssisi}", "uuid", uuid,
	    "name", uuid, "owner", owner, "state", "running", "memory_mib",
	    mib, "cpus", 1));
}

static size_t
n_moves(json_t *plan)
{
	size_t n = json_array_size(json_object_get(plan, "moves"));

	json_decref(plan);
	return n;
}

/* The most loaded node above the threshold gives VMs to the least
 * loaded, never making the target as loaded as it was; equal nodes never
 * trade; a VM balanced within the interval stays. */
static void
test_balance(void)
{
	json_t *vms = json_object(), *st = json_object(), *plan, *mv;
	json_t *nodes = json_pack("{s{sisi}s{sisi}s{sisi}}", "h1", "total_mib",
	    1000, "cpus", 4, "h2", "total_mib", 1000, "cpus", 4, "h3",
	    "total_mib", 1000, "cpus", 4);

	add_vm(vms, "v1", "h1", 100);
	add_vm(vms, "v2", "h1", 100);
	add_vm(vms, "v3", "h1", 100);
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 20, 0)), 1);
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 10, 0)), 2);
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 30, 0)), 0);
	/* by cpu: 3 vCPUs on 4 cores is 75 % */
	ASSERT_TRUE(apply_settings(st, "{ss}", "balance_by", "cpu"));
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 50, 0)), 1);
	ASSERT_TRUE(apply_settings(st, "{ss}", "balance_by", "memory"));
	/* apply: move_to and balanced_ms, only from the owner */
	plan = cl_balance_plan(vms, nodes, st, 20, 0);
	mv = json_array_get(json_object_get(plan, "moves"), 0);
	ASSERT_STREQ(json_string_value(json_object_get(mv, "from")), "h1");
	json_object_set_new(plan, "at_ms", json_integer(5000));
	ASSERT_TRUE(cl_balance_apply(vms, plan));
	ASSERT_TRUE(!cl_balance_apply(vms, plan));	/* move_to set already */
	json_decref(plan);
	/* the VM with a move due counts where it goes and stays; the
	 * others may go: one more evens h1, h2 and h3 out */
	plan = cl_balance_plan(vms, nodes, st, 10, 6000);
	ASSERT_EQ(json_array_size(json_object_get(plan, "moves")), 1);
	json_decref(plan);
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 20, 6000)), 0);
	/* equal loads never trade */
	json_object_clear(vms);
	add_vm(vms, "v1", "h1", 100);
	add_vm(vms, "v2", "h2", 100);
	add_vm(vms, "v3", "h3", 100);
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 5, 0)), 0);
	/* an HA VM only to a node in its pool's lockspace */
	json_object_clear(vms);
	add_vm(vms, "v1", "h1", 150);
	add_vm(vms, "v2", "h1", 150);
	for (int i = 1; i <= 2; i++) {
		json_t *e = json_object_get(vms, i == 1 ? "v1" : "v2");

		json_object_set_new(e, "ha", json_object());
		json_object_set_new(e, "record", json_pack("{s[{ss}]}",
		    "disks", "pool", "shared"));
	}
	ASSERT_EQ(n_moves(cl_balance_plan(vms, nodes, st, 10, 0)), 0);
	json_object_set_new(json_object_get(nodes, "h3"), "pools", json_pack(
	    "{ss}", "shared", "id-1"));
	json_object_set_new(json_object_get(nodes, "h3"), "leases",
	    json_pack("[s]", "id-1"));
	plan = cl_balance_plan(vms, nodes, st, 10, 0);
	ASSERT_STREQ(json_string_value(json_object_get(json_array_get(
	    json_object_get(plan, "moves"), 0), "to")), "h3");
	json_object_set_new(plan, "at_ms", json_integer(7000));
	ASSERT_TRUE(cl_balance_apply(vms, plan));
	json_decref(plan);
	ASSERT_TRUE(!apply_settings(st, "{ss}", "balance_by", "disk"));
	ASSERT_TRUE(!apply_settings(st, "{si}", "balance_interval_s", 5));
	/* balancing turned off drops the moves it queued, not others */
	mv = json_object_get(json_object_get(vms, "v1"), "move_to") ?
	    json_object_get(vms, "v2") : json_object_get(vms, "v1");
	json_object_set_new(mv, "move_to", json_string("h2")); /* failback's */
	ASSERT_TRUE(apply_settings(st, "{si}", "balance_threshold_pct", 20));
	ASSERT_TRUE(!cl_balance_off(20, st, vms));	/* threshold still on */
	ASSERT_TRUE(apply_settings(st, "{si}", "balance_threshold_pct", 0));
	ASSERT_TRUE(!cl_balance_off(0, st, vms));	/* it was off already */
	ASSERT_TRUE(cl_balance_off(20, st, vms));
	ASSERT_TRUE(json_object_get(json_object_get(vms, "v1"), "move_to") ==
	    NULL || json_object_get(json_object_get(vms, "v2"), "move_to") ==
	    NULL);
	ASSERT_STREQ(json_string_value(json_object_get(mv, "move_to")), "h2");
	json_decref(nodes);
	json_decref(vms);
	json_decref(st);
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
	RUN_TEST(test_quarantine);
	RUN_TEST(test_drain_resume);
	RUN_TEST(test_forget);
	RUN_TEST(test_balance);
	RUN_TEST(test_sync_best);
	return TEST_REPORT();
}
