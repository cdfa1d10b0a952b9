/* resiliency.c - compute resiliency (Hyper-V's, seed 002): a node that
 * leaves Corosync's membership is isolated, not dead, while it may still
 * be running its VMs; they stay where they are, unmonitored, for the
 * resiliency period (per cluster, `tern cluster set --resiliency-period
 * S`, default 240 s; per VM, `vm ha enable --resiliency-period S`).
 *
 * A node as the quorate majority sees it:
 *
 *   up --leaves the membership--> isolated (its VMs unmonitored)
 *   isolated --back within the period--> up: nothing moved
 *   isolated --the VM's period passed--> down for that VM: its HA
 *       restart begins (ha_restart.c), still only once its lease is free
 *   isolated --its storage heartbeat (its sanlock delta lease) stopped,
 *       level isolated-if-storage-alive (the default)--> down at once:
 *       a dead node's VMs do not wait the period
 *
 * The node itself, without quorum:
 *
 *   quorate --loses quorum (or Corosync)--> isolated: its VMs run on
 *   isolated --back within a VM's period--> nothing happened
 *   isolated --a VM's period passed--> that HA VM's QEMU is killed, which
 *       frees its lease: the majority, which waited the same period,
 *       can restart it (what Proxmox's self-fencing does after 60 s)
 *
 * The lease is what keeps two copies apart throughout; the period only
 * decides when the cluster tries.  With `always-isolated` a node that
 * left waits the whole period even when its storage heartbeat stopped
 * (Hyper-V's AlwaysIsolate).  Period 0: no resiliency (at once). */
#include <errno.h>
#include <stdio.h>

#include "jsonutil.h"

#include "cl_int.h"
#include "host.h"
#include "log.h"
#include "state_rules.h"
#include "util.h"
#include "vm.h"

static void
left_set(struct cluster *c, uint32_t id, uint64_t ms)
{
	for (size_t i = 0; i < c->n_left; i++)
		if (c->left[i].id == id)
			return;		/* keeps the first time */
	if (c->n_left < CLUSTER_MAX_NODES) {
		c->left[c->n_left].id = id;
		c->left[c->n_left++].ms = ms;
	}
}

static void
left_clear(struct cluster *c, uint32_t id)
{
	for (size_t i = 0; i < c->n_left; i++)
		if (c->left[i].id == id)
			c->left[i] = c->left[--c->n_left];
}

void
cl_res_membership(struct cluster *c, const uint32_t *list, size_t n,
    bool quorate)
{
	json_t *rec = cluster_record(c->h), *nd;
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, nd) {
		uint32_t id = json_integer_value(json_object_get(nd, "nodeid"));

		if (cl_in_list(list, n, id))
			left_clear(c, id);
		else	/* left now, or before we first saw the membership */
			left_set(c, id, now_ms());
	}
	json_decref(rec);
	if (quorate)
		c->quorum_lost_ms = 0;
	else if (!c->quorum_lost_ms)
		c->quorum_lost_ms = now_ms();
}

enum cl_node_state
cl_node_state(struct cluster *c, const json_t *rec, const char *name,
    const json_t *e, uint64_t *left_ms)
{
	uint32_t id = cl_record_nodeid(rec, name);
	uint64_t left = now_ms();

	if (!id || cl_member_up(c, id))
		return CL_NODE_UP;
	for (size_t i = 0; i < c->n_left; i++)
		if (c->left[i].id == id)
			left = c->left[i].ms;
	if (left_ms)
		*left_ms = left;
	if (!cl_isolate_always(c->settings) &&
	    cl_lease_host_alive(c->h, id) == 0)
		return CL_NODE_DOWN;	/* membership and storage gone */
	return now_ms() - left < (uint64_t)cl_resiliency_ms(c->settings, e) ?
	    CL_NODE_ISOLATED : CL_NODE_DOWN;
}

static const char *const state_names[] = { [CL_NODE_UP] = "up",
	[CL_NODE_ISOLATED] = "isolated", [CL_NODE_DOWN] = "down" };

const char *
cl_node_state_name(enum cl_node_state s)
{
	return state_names[s];
}

void
cl_res_watch(struct cluster *c, const json_t *rec)
{
	size_t i;
	json_t *nd;

	if (!c->told)
		c->told = json_object();
	json_array_foreach(json_object_get(rec, "nodes"), i, nd) {
		const char *name = json_string_value(json_object_get(nd,
		    "name"));
		const char *told = json_string_value(json_object_get(c->told,
		    name));
		enum cl_node_state st = cl_node_state(c, rec, name, NULL,
		    NULL);
		const char *now = state_names[st];
		char was[16];

		if (!told && st == CL_NODE_UP) {	/* seen up: from now on */
			json_object_set_new(c->told, name, json_string("up"));
			continue;
		}
		if (streq(told, now))
			continue;
		snprintf(was, sizeof(was), "%s", told ? told : "");
		json_object_set_new(c->told, name, json_string(now));
		/* quarantine counts a member lost, not one that has not
		 * joined yet (a cluster forming, this ternd starting) */
		if (st == CL_NODE_ISOLATED && streq(was, "up") &&
		    cl_coordinator(c))
			(void)cl_state_send(c, json_pack("{sssssssI}", "t",
			    "node", "op", "isolated", "name", name, "at_ms",
			    (json_int_t)wall_ms()));	/* quarantine counts */
		if (st == CL_NODE_ISOLATED)
			host_event(c->h, "warning", NULL, 0, "cluster: node %s "
			    "is isolated (it left the membership; its storage "
			    "heartbeat %s): its VMs run on there, unmonitored, "
			    "and fail over if it is not back within %lld s",
			    name, cl_lease_host_alive(c->h, cl_record_nodeid(
			    rec, name)) == 1 ? "goes on" : "is not known",
			    (long long)cl_resiliency_ms(c->settings, NULL) /
			    1000);
		else if (st == CL_NODE_DOWN)
			host_event(c->h, "warning", NULL, 0, "cluster: node %s "
			    "is down (%s): its HA VMs fail over", name,
			    cl_lease_host_alive(c->h, cl_record_nodeid(rec,
			    name)) == 0 ? "its membership and storage "
			    "heartbeat are gone" : "its resiliency period "
			    "passed");
		else
			host_event(c->h, "info", NULL, 0, "cluster: node %s is "
			    "back%s", name, streq(was, "isolated") ? " within "
			    "the resiliency period: its VMs stayed on it (but "
			    "for one with a shorter period of its own)" : "");
	}
}

/* This node without quorum for longer than vm's period: stop it. */
static void
self_stop(struct cluster *c, struct vm *vm, int64_t period)
{
	host_event(c->h, "warning", vm, 0, "cluster: this node has been "
	    "without quorum for %lld s, the resiliency period of HA vm '%s': "
	    "its QEMU is stopped so that the cluster can restart it on a "
	    "node with quorum", (long long)period / 1000, vm->row->name);
	vm_set_state(vm, VM_STOPPING, NULL);
	vm_kill(vm);
}

void
cl_res_self(struct cluster *c)
{
	struct host *h = c->h;

	if (cl_state_ready(c) || !c->quorum_lost_ms || !h->vm_lease)
		return;
	for (size_t i = 0; i < h->n_vms; i++) {
		struct vm *vm = h->vms[i];
		json_t *e = json_object_get(c->vms, vm->row->uuid);
		int64_t period = cl_resiliency_ms(c->settings, e);

		if (vm->pid > 0 && !vm->incoming && vm->state != VM_STOPPING &&
		    h->vm_lease(vm, NULL, HOST_LEASE_HELD, NULL) > 0 &&
		    now_ms() - c->quorum_lost_ms >= (uint64_t)period)
			self_stop(c, vm, period);
	}
}

/* The settings in body, checked, as a "settings" message. */
static int
settings_msg(const json_t *body, json_t **ret, struct err *err)
{
	static const char *const fields[] = { "resiliency_period_s",
		"resiliency_level", "quarantine_threshold",
		"quarantine_duration_s", "balance_threshold_pct",
		"balance_interval_s", "balance_by", NULL };
	const char *level = NULL, *by = NULL;
	json_t *m = json_pack("{ss}", "t", "settings");
	int r;

	if ((r = json_check_fields(body, fields, "cluster set", err)) < 0)
		goto fail;
	for (size_t i = 0; i < cl_n_setting_ints; i++) {
		const struct cl_setting_int *s = &cl_setting_ints[i];
		int64_t v = -1;

		if ((r = json_get_int(body, s->key, false, s->lo, s->hi, &v,
		    err)) < 0)
			goto fail;
		if (v >= 0 && json_object_get(body, s->key))
			json_object_set_new(m, s->key, json_integer(v));
	}
	if ((r = json_get_str(body, "resiliency_level", false, &level,
	    err)) < 0)
		goto fail;
	if (level && !cl_level_ok(level)) {
		r = err_set(err, -EINVAL, "resiliency level '%.40s' is not "
		    "always-isolated or isolated-if-storage-alive", level);
		goto fail;
	}
	if (level)
		json_object_set_new(m, "resiliency_level", json_string(level));
	if ((r = json_get_str(body, "balance_by", false, &by, err)) < 0)
		goto fail;
	if (by && !cl_balance_by_ok(by)) {
		r = err_set(err, -EINVAL, "balance by '%.40s' is not memory "
		    "or cpu", by);
		goto fail;
	}
	if (by)
		json_object_set_new(m, "balance_by", json_string(by));
	if (json_object_size(m) == 1) {
		r = err_set(err, -EINVAL, "nothing to set: give "
		    "--resiliency-period S, --resiliency-level L, "
		    "--quarantine-threshold N, --quarantine-duration S, "
		    "--balance-threshold PCT, --balance-by memory|cpu or "
		    "--balance-interval S");
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	json_decref(m);
	return r;
}

int
cluster_settings_set(struct host *h, const json_t *body, json_t **ret,
    struct err *err)
{
	struct cluster *c = h->cluster;
	json_t *m = NULL, *rec;
	int r;

	if ((r = settings_msg(body, &m, err)) < 0)
		return r;
	if (!(rec = cluster_record(h))) {
		json_decref(m);
		return err_set(err, -EINVAL, "this host is in no cluster (see "
		    "'tern cluster create')");
	}
	json_decref(rec);
	if (!cl_state_ready(c)) {
		json_decref(m);
		return err_set(err, -EAGAIN, "this node is not in a quorate "
		    "partition in step with the cluster; only such a node "
		    "changes the cluster (see 'tern cluster show')");
	}
	*ret = json_deep_copy(m);
	json_object_del(*ret, "t");
	if ((r = cl_state_send(c, m)) < 0) {
		json_decref(*ret);
		*ret = NULL;
		return err_set(err, r, "cannot reach the cluster's group "
		    "(Corosync); try again");
	}
	host_event(h, "info", NULL, 0, "cluster: settings changed");
	return 0;
}
