/* test_cl_metrics.c - the cluster's samples of /metrics
 * (src/cluster/cl_metrics.c) from a record in a real store and what
 * Corosync last said (a struct cluster filled by hand): quorate, votes,
 * nodes by state as cluster_status() tells them, and none once the node
 * leaves. */
#include <stdlib.h>
#include <unistd.h>

#include "cl_int.h"
#include "cluster.h"
#include "host.h"
#include "metrics.h"
#include "store.h"
#include "test.h"
#include "util.h"

#define NODES(s) ((const char *const[]){ "state", s, NULL })

static void
test_cl_metrics(void)
{
	char dir[] = "/tmp/test-cl-metrics.XXXXXX";
	_cleanup_free_ char *db = NULL, *rm = NULL;
	struct metrics *m = metrics_default();
	struct host h = { 0 };
	struct cluster c = { .h = &h, .connected = true, .quorate = true,
		.synced = true, .votes = 2, .expected = 3, .quorum = 2,
		.members = { 1 }, .n_members = 1 };
	json_t *rec = json_pack("{s[{sssi}{sssi}]}", "nodes", "name", "a",
	    "nodeid", 1, "name", "b", "nodeid", 2);

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	db = xasprintf("%s/ternd.db", dir);
	h.cluster = &c;
	ASSERT_EQ(store_open(db, &h.store, NULL), 0);
	cl_metrics_update(&c, true);	/* no record: no samples */
	ASSERT_EQ(metrics_n_samples(m, "tern_cluster_quorate"), 0);
	ASSERT_EQ(cl_record_save(&h, rec), 0);
	cl_metrics_update(&c, true);
	ASSERT_EQ(metrics_get(m, "tern_cluster_quorate", NULL), 1);
	ASSERT_EQ(metrics_get(m, "tern_cluster_votes", NULL), 2);
	ASSERT_EQ(metrics_get(m, "tern_cluster_expected_votes", NULL), 3);
	ASSERT_EQ(metrics_get(m, "tern_cluster_nodes", NODES("up")), 1);
	/* b left the membership within its resiliency period */
	ASSERT_EQ(metrics_get(m, "tern_cluster_nodes", NODES("isolated")), 1);
	ASSERT_EQ(metrics_get(m, "tern_cluster_nodes", NODES("down")), 0);
	ASSERT_EQ(metrics_get(m, "tern_cluster_node_state",
	    (const char *const[]){ "node", "b", "state", "isolated", NULL }),
	    1);
	c.quorate = false;	/* out of step: Corosync's membership alone */
	cl_metrics_update(&c, true);
	ASSERT_EQ(metrics_get(m, "tern_cluster_quorate", NULL), 0);
	ASSERT_EQ(metrics_get(m, "tern_cluster_nodes", NODES("down")), 1);
	ASSERT_EQ(metrics_n_samples(m, "tern_cluster_node_state"), 2);
	cl_metrics_update(&c, false);	/* left the cluster */
	ASSERT_EQ(metrics_n_samples(m, "tern_cluster_node_state"), 0);
	ASSERT_EQ(metrics_n_samples(m, "tern_cluster_quorate"), 0);
	json_decref(rec);
	store_close(h.store);
	rm = xasprintf("rm -rf %s", dir);
	ASSERT_EQ(system(rm), 0);
}

int
main(void)
{
	RUN_TEST(test_cl_metrics);
	return TEST_REPORT();
}
