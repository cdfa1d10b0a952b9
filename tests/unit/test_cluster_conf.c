/* test_cluster_conf.c - unit tests for src/cluster/conf.c: the record's
 * checks, the witness address, and corosync.conf for two nodes, three,
 * and two with a witness. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "test.h"
#include "util.h"

#define ID "0e6f2a4c-1b7d-4c59-9a39-5f8b1c2d3e4f"

static json_t *
rec(int n, const char *witness)
{
	json_t *nodes = json_array();
	char name[8], addr[32];

	for (int i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "h%d", i);
		snprintf(addr, sizeof(addr), "10.9.0.%d", i);
		json_array_append_new(nodes, json_pack("{sssiss}", "name",
		    name, "nodeid", i, "addr", addr));
	}
	return json_pack("{sssssisoso}", "name", "c1", "id", ID, "token_ms",
	    3000, "witness", witness ? json_string(witness) : json_null(),
	    "nodes", nodes);
}

static int
check(json_t *r)
{
	struct err e = { 0 };
	int rc = cluster_record_check(r, &e);

	json_decref(r);
	return rc == 0 || e.msg[0] ? rc : -999;	/* an error names why */
}

static void
test_record_good(void)
{
	ASSERT_EQ(check(rec(1, NULL)), 0);
	ASSERT_EQ(check(rec(3, NULL)), 0);
	ASSERT_EQ(check(rec(2, "10.9.0.9")), 0);
	ASSERT_EQ(check(rec(2, "10.9.0.9:5404")), 0);
	ASSERT_EQ(check(rec(2, "[fd00::9]:5404")), 0);
	ASSERT_EQ(check(rec(2, "fd00::9")), 0);
	ASSERT_EQ(check(rec(CLUSTER_MAX_NODES, NULL)), 0);
}

static void
test_record_bad(void)
{
	json_t *r;

	ASSERT_EQ(check(rec(0, NULL)), -EINVAL);
	ASSERT_EQ(check(rec(CLUSTER_MAX_NODES + 1, NULL)), -EINVAL);
	ASSERT_EQ(check(rec(2, "host.example")), -EINVAL);
	ASSERT_EQ(check(rec(2, "10.9.0.9:0")), -EINVAL);
	ASSERT_EQ(check(rec(2, "10.9.0.9:70000")), -EINVAL);
	ASSERT_EQ(check(rec(2, "[fd00::9")), -EINVAL);
	ASSERT_EQ(check(json_string("c1")), -EINVAL);
	r = rec(2, NULL);
	json_object_set_new(r, "name", json_string("bad name"));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(2, NULL);
	json_object_set_new(r, "id", json_string("x"));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(2, NULL);
	json_object_set_new(r, "token_ms", json_integer(100));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(2, NULL);
	json_object_set_new(r, "token_ms", json_string("3000"));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(3, NULL);	/* a duplicate node id */
	json_object_set_new(json_array_get(json_object_get(r, "nodes"), 2),
	    "nodeid", json_integer(1));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(3, NULL);	/* a duplicate address */
	json_object_set_new(json_array_get(json_object_get(r, "nodes"), 2),
	    "addr", json_string("10.9.0.1"));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(3, NULL);	/* a name that is not a host name */
	json_object_set_new(json_array_get(json_object_get(r, "nodes"), 1),
	    "addr", json_string("10.9.0.2; rm"));
	ASSERT_EQ(check(r), -EINVAL);
	r = rec(2, NULL);
	json_array_append_new(json_object_get(r, "nodes"), json_integer(3));
	ASSERT_EQ(check(r), -EINVAL);
}

static void
test_render(void)
{
	json_t *r = rec(2, NULL);
	char *s = cluster_conf_render(r, "/k/authkey", "/s");

	ASSERT_CONTAINS(s, "cluster_name: c1");
	ASSERT_CONTAINS(s, "keyfile: /k/authkey");
	ASSERT_CONTAINS(s, "token: 3000");
	ASSERT_CONTAINS(s, "name: h2\n    nodeid: 2\n    ring0_addr: 10.9.0.2");
	ASSERT_CONTAINS(s, "two_node: 1");
	ASSERT_CONTAINS(s, "state_dir: /s");
	ASSERT_TRUE(strstr(s, "device {") == NULL);
	free(s);
	json_decref(r);
	r = rec(3, NULL);
	s = cluster_conf_render(r, "/k/authkey", "/s");
	ASSERT_TRUE(strstr(s, "two_node") == NULL);
	free(s);
	json_decref(r);
	r = rec(2, "[fd00::9]:5404");
	s = cluster_conf_render(r, "/k/authkey", "/s");
	ASSERT_TRUE(strstr(s, "two_node") == NULL);
	ASSERT_CONTAINS(s, "host: fd00::9\n      port: 5404\n"
	    "      algorithm: ffsplit");
	free(s);
	json_decref(r);
}

int
main(void)
{
	RUN_TEST(test_record_good);
	RUN_TEST(test_record_bad);
	RUN_TEST(test_render);
	return TEST_REPORT();
}
