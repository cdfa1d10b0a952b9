/* test_cluster_validate.c - unit tests for src/cluster/validate_rules.c:
 * each check of `tern cluster validate` passing and failing, and the
 * rules fed facts with fields missing or of the wrong type (no crash, a
 * report all the same). */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "util.h"
#include "validate_rules.h"

#define T0 1700000000000LL	/* a wall clock */

/* A node named name whose facts agree with every other good_node's. */
static json_t *
good_node(const char *name, bool local)
{
	json_t *f = json_pack("{ss ss ss sb s[ss] s{ss s[sss]} s[s] "
	    "s[{ss ss ss si}] s{si si} s[{ss ss ss}{ss ss ss}] s[{ss ss}] sI}",
	    "name", name, "version", "0.1.0", "qemu_version", "10.0.2",
	    "kvm", 1, "machines", "pc-q35-10.0", "pc-q35-7.2",
	    "cpu", "model", "Xeon 1", "flags", "fpu", "sse2", "avx2",
	    "cpu_models", "host",
	    "vms", "name", name[1] == '1' ? "web" : "db", "machine",
	    "pc-q35-10.0", "cpu_model", "host", "memory_mib", 1024,
	    "memory", "total_mib", 8192, "available_mib", 4096,
	    "pools", "name", "local", "path", "/p/local", "id",
	    "aaaaaaaa-2222-4333-8444-555555555555",
	    "name", "shared", "path", "/p/shared", "id",
	    "11111111-2222-4333-8444-555555555555",
	    "switches", "name", "lan", "bridge", "tb-lan",
	    "time_ms", (json_int_t)T0);
	json_t *n = json_pack("{ss so}", "node", name, "facts", f);

	if (!local) {
		json_object_set_new(n, "sent_ms", json_integer(T0 - 10));
		json_object_set_new(n, "rtt_ms", json_integer(20));
	}
	return n;
}

/* h1 (this host), h2, h3, all good. */
static json_t *
three(void)
{
	return json_pack("[ooo]", good_node("h1", true),
	    good_node("h2", false), good_node("h3", false));
}

static json_t *
facts(json_t *nodes, size_t i)
{
	return json_object_get(json_array_get(nodes, i), "facts");
}

/* The result of check name in report. */
static const char *
result(const json_t *report, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(json_object_get(report, "checks"), i, c)
		if (streq(json_string_value(json_object_get(c, "name")), name))
			return json_string_value(json_object_get(c, "result"));
	return NULL;
}

/* The messages of report's list ("errors", "warnings") joined by "|". */
static const char *
messages(const json_t *report, const char *list)
{
	static char buf[8192];
	size_t i;
	json_t *m;

	buf[0] = '\0';
	json_array_foreach(json_object_get(report, list), i, m)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "%s|",
		    json_string_value(json_object_get(m, "message")));
	return buf;
}

static json_t *
run(json_t *nodes)
{
	json_t *r = cluster_validate_rules(nodes);

	json_decref(nodes);
	return r;
}

static void
test_all_pass(void)
{
	json_t *r = run(three());
	size_t i;
	json_t *c;

	ASSERT_EQ(json_array_size(json_object_get(r, "errors")), 0);
	ASSERT_EQ(json_array_size(json_object_get(r, "warnings")), 0);
	ASSERT_EQ(json_array_size(json_object_get(r, "checks")), 9);
	json_array_foreach(json_object_get(r, "checks"), i, c)
		ASSERT_STREQ(json_string_value(json_object_get(c, "result")),
		    "pass");
	ASSERT_STREQ(json_string_value(json_array_get(json_object_get(r,
	    "nodes"), 2)), "h3");
	json_decref(r);
}

static void
test_reach(void)
{
	json_t *n = three(), *r;

	json_object_del(json_array_get(n, 2), "facts");
	json_object_set_new(json_array_get(n, 2), "error",
	    json_string("Connection refused"));
	r = run(n);
	ASSERT_STREQ(result(r, "reach"), "error");
	ASSERT_CONTAINS(messages(r, "errors"), "h3 does not answer "
	    "(Connection refused)");
	ASSERT_STREQ(result(r, "pools"), "pass");	/* h3 not judged */
	json_decref(r);
}

static void
test_versions(void)
{
	json_t *n = three(), *r;

	json_object_set_new(facts(n, 1), "version", json_string("0.2.0"));
	json_object_set_new(facts(n, 2), "qemu_version", json_string("7.2.9"));
	r = run(n);
	ASSERT_STREQ(result(r, "versions"), "warning");
	ASSERT_CONTAINS(messages(r, "warnings"), "tern versions differ: h1 "
	    "runs 0.1.0, h2 runs 0.2.0");
	ASSERT_CONTAINS(messages(r, "warnings"), "QEMU versions differ: h1 "
	    "has 10.0.2, h3 has 7.2.9");
	json_decref(r);
	n = three();	/* the same major.minor: no warning */
	json_object_set_new(facts(n, 2), "qemu_version", json_string("10.0.5"));
	r = run(n);
	ASSERT_STREQ(result(r, "versions"), "pass");
	json_decref(r);
}

static void
test_machines(void)
{
	json_t *n = three(), *r;

	json_object_set_new(facts(n, 2), "machines", json_pack("[s]",
	    "pc-q35-7.2"));
	r = run(n);
	ASSERT_STREQ(result(r, "machines"), "error");
	ASSERT_CONTAINS(messages(r, "errors"), "vm 'web' on h1 uses machine "
	    "type pc-q35-10.0, which h3's QEMU (10.0.2) does not offer");
	json_decref(r);
}

static void
test_cpu(void)
{
	json_t *n = three(), *r;

	/* Another model with every flag: a warning. */
	json_object_set_new(json_object_get(facts(n, 1), "cpu"), "model",
	    json_string("EPYC 2"));
	r = run(n);
	ASSERT_STREQ(result(r, "cpu"), "warning");
	ASSERT_CONTAINS(messages(r, "warnings"), "CPU models differ (h1: "
	    "Xeon 1, h2: EPYC 2) and vm 'web' uses -cpu host");
	json_decref(r);
	/* A flag missing: an error. */
	n = three();
	json_object_set_new(json_object_get(facts(n, 2), "cpu"), "flags",
	    json_pack("[ss]", "fpu", "sse2"));
	r = run(n);
	ASSERT_STREQ(result(r, "cpu"), "error");
	ASSERT_CONTAINS(messages(r, "errors"), "h3's CPU lacks 1 of its flags "
	    "(avx2)");
	json_decref(r);
	/* KVM against TCG: a warning; qemu64 runs anywhere. */
	n = three();
	json_object_set_new(facts(n, 2), "kvm", json_false());
	json_object_set_new(json_array_get(json_object_get(facts(n, 2), "vms"),
	    0), "cpu_model", json_string("max"));
	json_object_set_new(json_array_get(json_object_get(facts(n, 1), "vms"),
	    0), "cpu_model", json_string("qemu64"));
	r = run(n);
	ASSERT_STREQ(result(r, "cpu"), "warning");
	ASSERT_CONTAINS(messages(r, "warnings"), "vm 'web' runs under KVM "
	    "(-cpu host) on h1 and h3 uses TCG");
	ASSERT_CONTAINS(messages(r, "warnings"), "vm 'db' runs under TCG "
	    "(-cpu max) on h3 and h1 uses KVM");
	ASSERT_TRUE(!strstr(messages(r, "warnings"), "on h2 and"));
	json_decref(r);
}

static void
test_memory(void)
{
	json_t *n = three(), *r;

	json_object_set_new(json_array_get(json_object_get(facts(n, 0), "vms"),
	    0), "memory_mib", json_integer(6000));
	r = run(n);
	ASSERT_STREQ(result(r, "memory"), "warning");
	ASSERT_CONTAINS(messages(r, "warnings"), "h2 has 4096 MiB available: "
	    "vm 'web' (6000 MiB) on h1 would not start there if h1 failed");
	ASSERT_CONTAINS(messages(r, "warnings"), "h3 has 4096 MiB");
	json_decref(r);
}

static void
test_pools(void)
{
	json_t *n = three(), *r;

	json_array_remove(json_object_get(facts(n, 1), "pools"), 1);
	json_object_set_new(json_array_get(json_object_get(facts(n, 2),
	    "pools"), 1), "id", json_string("99999999-2222-4333-8444-"
	    "555555555555"));
	r = run(n);
	ASSERT_STREQ(result(r, "pools"), "warning");
	ASSERT_CONTAINS(messages(r, "warnings"), "pool 'shared' is on h1, h3 "
	    "but not on h2");
	ASSERT_CONTAINS(messages(r, "warnings"), "pool 'shared' is not the "
	    "same storage on h1 and h3: HA needs");
	ASSERT_TRUE(!strstr(messages(r, "warnings"), "pool 'local'"));
	json_decref(r);
}

static void
test_switches(void)
{
	json_t *n = three(), *r;

	json_array_append_new(json_object_get(facts(n, 0), "switches"),
	    json_pack("{ss}", "name", "only1"));
	r = run(n);
	ASSERT_STREQ(result(r, "switches"), "warning");
	ASSERT_CONTAINS(messages(r, "warnings"), "switch 'only1' is on h1 but "
	    "not on h2, h3");
	json_decref(r);
}

static void
test_time(void)
{
	json_t *n = three(), *r;

	/* sent T0-10, rtt 20: our clock at its answer is T0. */
	json_object_set_new(facts(n, 1), "time_ms", json_integer(T0 + 1500));
	json_object_set_new(facts(n, 2), "time_ms", json_integer(T0 - 6000));
	r = run(n);
	ASSERT_STREQ(result(r, "time"), "error");
	ASSERT_CONTAINS(messages(r, "warnings"), "h2's clock is 1500 ms ahead "
	    "of this host's");
	ASSERT_CONTAINS(messages(r, "errors"), "h3's clock is 6000 ms behind");
	json_decref(r);
	n = three();
	json_object_set_new(facts(n, 1), "time_ms", json_integer(T0 + 999));
	r = run(n);
	ASSERT_STREQ(result(r, "time"), "pass");
	json_decref(r);
}

/* Every field of a node missing or of another type: no crash, a report. */
static void
test_malformed(void)
{
	static const char *const keys[] = { "name", "version", "qemu_version",
		"kvm", "machines", "cpu", "cpu_models", "vms", "memory",
		"pools", "switches", "time_ms", "cluster" };
	json_t *bad[] = { json_integer(7), json_string("x"), json_null(),
		json_pack("[i{}n]", 1), json_pack("{s[i]}", "name", 3) };

	for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
		for (size_t b = 0; b < ARRAY_SIZE(bad) + 1; b++) {
			json_t *n = three(), *r;

			if (b == ARRAY_SIZE(bad))
				json_object_del(facts(n, 1), keys[k]);
			else
				json_object_set(facts(n, 1), keys[k], bad[b]);
			r = run(n);
			ASSERT_EQ(json_array_size(json_object_get(r, "checks")),
			    9);
			json_decref(r);
		}
	for (size_t b = 0; b < ARRAY_SIZE(bad); b++) {
		json_t *n = three(), *r;

		/* a whole node, its facts, a VM, a pool of the wrong type */
		json_object_set(json_array_get(n, 1), "facts", bad[b]);
		json_array_append(n, bad[b]);
		json_array_append(json_object_get(facts(n, 2), "vms"), bad[b]);
		json_array_append(json_object_get(facts(n, 2), "pools"),
		    bad[b]);
		r = run(n);
		ASSERT_STREQ(result(r, "reach"), "error");
		json_decref(r);
		json_decref(bad[b]);
	}
	json_t *r = cluster_validate_rules(NULL);

	ASSERT_EQ(json_array_size(json_object_get(r, "nodes")), 0);
	ASSERT_STREQ(result(r, "reach"), "pass");
	json_decref(r);
}

/* Each node's view of cluster c1: all three up, quorate. */
static void
in_cluster(json_t *nodes)
{
	for (size_t i = 0; i < json_array_size(nodes); i++)
		json_object_set_new(facts(nodes, i), "cluster", json_pack(
		    "{ss ss ss sb s[sss] s[sss]}", "name", "c1", "id", "id-1",
		    "corosync", "running", "quorate", 1, "nodes", "h1", "h2",
		    "h3", "up", "h1", "h2", "h3"));
}

static void
test_corosync(void)
{
	json_t *n = three(), *r;

	r = cluster_validate_rules(n);	/* in no cluster: nothing to check */
	ASSERT_STREQ(result(r, "corosync"), "pass");
	json_decref(r);
	in_cluster(n);
	r = cluster_validate_rules(n);
	ASSERT_STREQ(result(r, "corosync"), "pass");
	json_decref(r);
	/* h2 sees h3 down; h3 has no quorum */
	json_array_remove(json_object_get(json_object_get(facts(n, 1),
	    "cluster"), "up"), 2);
	json_object_set_new(json_object_get(facts(n, 2), "cluster"),
	    "quorate", json_false());
	r = cluster_validate_rules(n);
	ASSERT_STREQ(result(r, "corosync"), "error");
	ASSERT_CONTAINS(messages(r, "errors"), "h2 sees h3 down");
	ASSERT_CONTAINS(messages(r, "errors"), "h3's partition has no quorum");
	json_decref(r);
	/* h3 in no cluster, h2 without Corosync, a mistyped view */
	json_object_del(facts(n, 2), "cluster");
	json_object_set_new(json_object_get(facts(n, 1), "cluster"),
	    "corosync", json_string("not running"));
	json_object_set_new(json_object_get(facts(n, 0), "cluster"), "up",
	    json_integer(3));
	r = cluster_validate_rules(n);
	ASSERT_CONTAINS(messages(r, "errors"), "h3 is not in cluster 'c1' "
	    "(it is in none)");
	ASSERT_CONTAINS(messages(r, "errors"), "ternd on h2 does not reach "
	    "Corosync");
	ASSERT_CONTAINS(messages(r, "errors"), "h1 sees h1 down");
	json_decref(r);
	json_decref(n);
}

/* A witness: alive everywhere passes; a node that does not see it alive
 * is an error naming the node and the witness. */
static void
test_witness(void)
{
	json_t *n = three(), *r;

	in_cluster(n);
	for (size_t i = 0; i < 3; i++) {
		json_object_set_new(json_object_get(facts(n, i), "cluster"),
		    "witness", json_string("10.0.0.9"));
		json_object_set_new(json_object_get(facts(n, i), "cluster"),
		    "witness_alive", json_true());
	}
	r = cluster_validate_rules(n);
	ASSERT_STREQ(result(r, "corosync"), "pass");
	json_decref(r);
	json_object_set_new(json_object_get(facts(n, 1), "cluster"),
	    "witness_alive", json_false());
	r = cluster_validate_rules(n);
	ASSERT_STREQ(result(r, "corosync"), "error");
	ASSERT_CONTAINS(messages(r, "errors"), "h2 does not see the witness "
	    "10.0.0.9 alive");
	json_decref(r);
	json_decref(n);
}

int
main(void)
{
	RUN_TEST(test_all_pass);
	RUN_TEST(test_reach);
	RUN_TEST(test_versions);
	RUN_TEST(test_machines);
	RUN_TEST(test_cpu);
	RUN_TEST(test_memory);
	RUN_TEST(test_pools);
	RUN_TEST(test_switches);
	RUN_TEST(test_time);
	RUN_TEST(test_malformed);
	RUN_TEST(test_corosync);
	RUN_TEST(test_witness);
	return TEST_REPORT();
}
