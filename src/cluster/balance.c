/* balance.c - load balancing (Hyper-V's VM Load Balancing, Proxmox's
 * CRS "static" mode): a node above the threshold has VMs live-moved to
 * the least loaded nodes.  Load is what the cluster's state knows for
 * certain: the memory (or vCPUs) of the VMs running on a node over the
 * node's own (`tern cluster set --balance-threshold PCT --balance-by
 * memory|cpu --balance-interval S`; threshold 0, the default: off).
 *
 *   every interval, on the coordinator: plan (state_rules.c: the most
 *     loaded node above the threshold gives up the VM whose move leaves
 *     the pair least loaded; the target must stay below the source's
 *     load before the move, so equal nodes never trade VMs)
 *   plan with moves --"balance" message--> each VM gets move_to and
 *     balanced_ms (not balanced again for an interval: no thrashing)
 *   move_to --its owner's failback tick (failback.c)--> vm.move, live
 *
 * `tern cluster balance --dry-run` shows the plan; without --dry-run it
 * sends it at once.  Only live, unpaused, in-step nodes take part (an
 * HA VM only to a node in its pool's lockspace). */
#include <errno.h>
#include <stdio.h>

#include "cl_int.h"
#include "host.h"
#include "jsonutil.h"
#include "state_rules.h"
#include "util.h"

/* The load messages of the nodes that may take VMs now. */
static json_t *
nodes_now(const struct cluster *c, const json_t *rec)
{
	json_t *out = json_object(), *n;
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));

		if (cl_node_live(c, rec, name) && cl_node_fresh(c, name))
			json_object_set(out, name, json_object_get(c->load,
			    name));
	}
	return out;
}

static json_t *
plan_now(const struct cluster *c, const json_t *rec, int64_t threshold)
{
	json_t *nodes = nodes_now(c, rec);
	json_t *p = cl_balance_plan(c->vms, nodes, c->settings, threshold,
	    (int64_t)wall_ms());

	json_decref(nodes);
	return p;
}

static int
send_plan(struct cluster *c, const json_t *plan, int64_t threshold)
{
	json_t *moves = json_object_get(plan, "moves"), *mv;
	size_t i;
	int r;

	if (json_array_size(moves) == 0)
		return 0;
	if ((r = cl_state_send(c, json_pack("{sssIsO}", "t", "balance",
	    "at_ms", (json_int_t)wall_ms(), "moves", moves))) < 0)
		return r;
	json_array_foreach(moves, i, mv)
		host_event(c->h, "info", NULL, 0, "cluster: balancing: vm '%s' "
		    "moves from %s to %s (%s above %lld %%)", json_string_value(
		    json_object_get(mv, "name")), json_string_value(
		    json_object_get(mv, "from")), json_string_value(
		    json_object_get(mv, "to")), json_string_value(
		    json_object_get(mv, "from")), (long long)threshold);
	return 0;
}

void
cl_balance_tick(struct cluster *c, const json_t *rec)
{
	int64_t thr = cl_balance_threshold(c->settings);
	json_t *plan;

	if (!cl_coordinator(c) || thr <= 0) {
		c->balance_ms = 0;
		return;
	}
	if (!c->balance_ms)
		c->balance_ms = now_ms();	/* the first round: a period on */
	if (now_ms() - c->balance_ms < (uint64_t)cl_balance_interval_ms(
	    c->settings))
		return;
	c->balance_ms = now_ms();
	plan = plan_now(c, rec, thr);
	(void)send_plan(c, plan, thr);
	json_decref(plan);
}

int
cluster_balance(struct host *h, const json_t *body, json_t **ret,
    struct err *err)
{
	static const char *const fields[] = { "dry_run", "threshold_pct",
		NULL };
	struct cluster *c = h->cluster;
	_cleanup_json_ json_t *rec = NULL;
	bool dry = false;
	int64_t thr = -1;
	json_t *plan;
	int r;

	if ((r = json_check_fields(body, fields, "cluster balance", err)) < 0 ||
	    (r = json_get_bool(body, "dry_run", &dry, err)) < 0 ||
	    (r = json_get_int(body, "threshold_pct", false, 0,
	    CL_BALANCE_MAX_PCT, &thr, err)) < 0)
		return r;
	if (!(rec = cluster_record(h)))
		return err_set(err, -EINVAL, "this host is in no cluster (see "
		    "'tern cluster create')");
	if (!cl_state_ready(c))
		return err_set(err, -EAGAIN, "this node is not in a quorate "
		    "partition in step with the cluster; only such a node "
		    "changes the cluster (see 'tern cluster show')");
	if (!json_object_get(body, "threshold_pct"))
		thr = cl_balance_threshold(c->settings);
	if (thr <= 0)
		return err_set(err, -EINVAL, "no threshold: give "
		    "--threshold PCT, or set one with 'tern cluster set "
		    "--balance-threshold PCT'");
	plan = plan_now(c, rec, thr);
	json_object_set_new(plan, "threshold_pct", json_integer(thr));
	json_object_set_new(plan, "by", json_string(cl_balance_by_cpu(
	    c->settings) ? "cpu" : "memory"));
	json_object_set_new(plan, "dry_run", json_boolean(dry));
	if (!dry && (r = send_plan(c, plan, thr)) < 0) {
		json_decref(plan);
		return err_set(err, r, "cannot reach the cluster's group "
		    "(Corosync); try again");
	}
	*ret = plan;
	return 0;
}
