/* cl_metrics.c - the cluster's samples of /metrics, rebuilt each cluster
 * tick (vms.c) from what members.c last heard from Corosync (no library
 * call here: the votes are those of the last notification) and the
 * record: quorate, votes, nodes by state, each node's state.  Not in a
 * cluster: no samples.  Never changes anything. */
#include "cl_int.h"
#include "metrics.h"
#include "util.h"

static const struct { const char *name; const char *help; } cl_fams[] = {
	{ "tern_cluster_quorate", "1 while this node is connected to "
	    "Corosync and its partition is quorate." },
	{ "tern_cluster_votes", "Votes this node's partition has." },
	{ "tern_cluster_expected_votes", "Votes the cluster expects." },
	{ "tern_cluster_quorum_votes", "Votes needed for quorum." },
	{ "tern_cluster_nodes", "Nodes of the cluster by state (up, "
	    "isolated, down) as this node sees them." },
	{ "tern_cluster_node_state", "1 for each node, labelled with its "
	    "state as this node sees it." },
};

/* The node's state as cluster_status() tells it: isolated or down as a
 * quorate node judges, else Corosync's membership alone. */
static enum cl_node_state
cl_metrics_node(struct cluster *c, const json_t *rec, const char *name)
{
	uint64_t left = 0;
	enum cl_node_state st = cl_node_state(c, rec, name, NULL, &left);

	return st != CL_NODE_UP && !cl_state_ready(c) ? CL_NODE_DOWN : st;
}

void
cl_metrics_update(struct cluster *c, bool on)
{
	struct metrics *m = metrics_default();
	json_t *rec = on ? cluster_record(c->h) : NULL, *n;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cl_fams); i++) {
		metrics_declare(m, cl_fams[i].name, METRIC_GAUGE,
		    cl_fams[i].help);
		metrics_clear(m, cl_fams[i].name);
	}
	if (!rec)
		return;
	metrics_set(m, "tern_cluster_quorate", NULL, c->connected &&
	    c->quorate);
	metrics_set(m, "tern_cluster_votes", NULL, c->votes);
	metrics_set(m, "tern_cluster_expected_votes", NULL, c->expected);
	metrics_set(m, "tern_cluster_quorum_votes", NULL, c->quorum);
	for (int s = CL_NODE_UP; s <= CL_NODE_DOWN; s++)
		metrics_set(m, "tern_cluster_nodes", (const char *const[]){
		    "state", cl_node_state_name(s), NULL }, 0);
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		const char *st;

		if (!name)
			continue;
		st = cl_node_state_name(cl_metrics_node(c, rec, name));
		metrics_add(m, "tern_cluster_nodes", (const char *const[]){
		    "state", st, NULL }, 1);
		metrics_set(m, "tern_cluster_node_state", (const char *const[]){
		    "node", name, "state", st, NULL }, 1);
	}
	json_decref(rec);
}
