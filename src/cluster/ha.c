/* ha.c - highly available VMs: their settings in the cluster's state,
 * and their restart on another node when their node dies (Hyper-V's
 * failover of clustered roles, Proxmox's HA manager).
 *
 * Settings (`tern vm ha enable`): priority high | medium | low |
 * no-auto-start, preferred owners (nodes, in order), an anti-affinity
 * group, failback (never | immediate | window HH-HH: after an HA
 * restart put the VM elsewhere, a live move back to its preferred node
 * once that node is back; failback.c).
 *
 * Who decides: the coordinator, the member with the lowest node id among
 * the nodes that are in Corosync's membership with their ternd in the
 * group, and only while it is quorate and in step.  Each tick it looks
 * for HA VMs that ran on a node which is no longer a member, and places
 * the highest priority class of them that still waits ("place" message);
 * a lower class waits until the higher one runs (or failed).
 *
 * Per VM, on the node it was placed on:
 *
 *   placed (entry: owner = this node, restart) --VM not defined here-->
 *       define it from the entry's record (disks by pool and file)
 *   defined --the VM's lease is free (cl_lease_probe: the dead node's
 *       lease provably expired)--> vm.start --QEMU up--> "vm" up:
 *       restart cleared
 *   lease held (-EBUSY) or not known (-EAGAIN) --> wait, next tick
 *   definition or start refused --> "ha-failed": the entry says failed,
 *       an event says why; nothing is retried by itself
 *
 * A node never starts a VM on shared disks while the lease says another
 * node may still run it: that, not Corosync's word that the node left, is
 * what keeps two copies from ever running. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "desc.h"
#include "host.h"
#include "jsonutil.h"
#include "lease.h"
#include "log.h"
#include "state_rules.h"
#include "store.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"

/* ---- settings ---- */

static int
check_failback(const char *f, struct err *err)
{
	unsigned a, b;
	char end;

	if (streq(f, "never") || streq(f, "immediate"))
		return 0;
	if (f && sscanf(f, "window %u-%u%c", &a, &b, &end) == 2 && a < 24 &&
	    b < 24 && a != b)
		return 0;
	return err_set(err, -EINVAL, "failback '%.40s' is not never, "
	    "immediate or 'window HH-HH' (hours 0-23, e.g. 'window 22-06')",
	    f ? f : "");
}

static int
check_preferred(const json_t *rec, const json_t *pref, struct err *err)
{
	size_t i;
	json_t *v;

	if (pref && !json_is_array(pref))
		return err_set(err, -EINVAL, "preferred must be a list of "
		    "node names");
	json_array_foreach(pref, i, v)
		if (!json_is_string(v) || !cl_record_node(rec,
		    json_string_value(v)))
			return err_set(err, -EINVAL, "preferred owner '%.64s' "
			    "is not a node of this cluster (see 'tern cluster "
			    "show')", json_is_string(v) ? json_string_value(v) :
			    "?");
	return 0;
}

/* HA needs every disk on one pool the other nodes can reach too. */
static int
check_disks(const struct vm *vm, struct err *err)
{
	const struct vm_row *row = vm->row;

	for (size_t i = 0; i < row->n_disks; i++)
		if (!row->disks[i].pool || !streq(row->disks[i].pool,
		    row->disks[0].pool))
			return err_set(err, -EINVAL, "vm '%s': disk %s is "
			    "not on the pool of its first disk; HA needs every "
			    "disk on one shared pool (move it with 'tern vm "
			    "move-storage')", row->name, row->disks[i].name);
	if (row->n_disks == 0)
		return err_set(err, -EINVAL, "vm '%s' has no disk on a shared "
		    "pool; HA needs one", row->name);
	return 0;
}

/* Every other live node reports a pool of the same storage identity
 * (its "load" message) as the VM's: the pool is shared. */
static int
check_shared(struct host *h, const json_t *rec, const char *me,
    const struct vm *vm, struct err *err)
{
	const struct cluster *c = h->cluster;
	_cleanup_json_ json_t *mine = cl_pool_ids(h);
	const char *pool = vm->row->disks[0].pool;
	const char *id = json_string_value(json_object_get(mine, pool));
	const char *key;
	size_t i;
	json_t *n, *v;

	if (!id)
		return err_set(err, -EINVAL, "pool '%s' has no readable "
		    "identity marker; HA needs a shared pool", pool);
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n, "name"));
		uint32_t nid = json_integer_value(json_object_get(n, "nodeid"));
		bool found = false;

		if (streq(name, me) || !cl_member_in_group(c, nid))
			continue;
		json_object_foreach(json_object_get(json_object_get(c->load,
		    name), "pools"), key, v)
			found |= streq(json_string_value(v), id);
		if (!found)
			return err_set(err, -EINVAL, "vm '%s': its pool '%s' is "
			    "not shared with node %s (no pool there has its "
			    "storage identity); HA needs every disk on a pool "
			    "all nodes reach", vm->row->name, pool, name);
	}
	return 0;
}

static int
parse_settings(const json_t *rec, const json_t *body, json_t **ret,
    struct err *err)
{
	static const char *const fields[] = { "priority", "preferred",
		"anti_affinity", "failback", "resiliency_period_s", NULL };
	const char *p = "medium", *g = NULL, *f = "never";
	int64_t rp = -1;
	int r;

	if ((r = json_check_fields(body, fields, "vm ha enable", err)) < 0 ||
	    (r = json_get_int(body, "resiliency_period_s", false, 0,
	    CL_RESILIENCY_MAX_S, &rp, err)) < 0 ||
	    (r = json_get_str(body, "priority", false, &p, err)) < 0 ||
	    (r = json_get_str(body, "anti_affinity", false, &g, err)) < 0 ||
	    (r = json_get_str(body, "failback", false, &f, err)) < 0)
		return r;
	if (!p)
		p = "medium";
	if (!f)
		f = "never";
	if (!streq(p, "high") && !streq(p, "medium") && !streq(p, "low") &&
	    !streq(p, "no-auto-start"))
		return err_set(err, -EINVAL, "priority '%.40s' is not high, "
		    "medium, low or no-auto-start", p);
	if (g && !name_is_valid(g))
		return err_set(err, -EINVAL, "anti-affinity group '%.40s' is "
		    "not a valid name (letters, digits, '-', '_')", g);
	if ((r = check_failback(f, err)) < 0 ||
	    (r = check_preferred(rec, json_object_get(body, "preferred"),
	    err)) < 0)
		return r;
	*ret = json_pack("{sssossss?}", "priority", p, "preferred",
	    json_object_get(body, "preferred") ? json_incref(json_object_get(
	    body, "preferred")) : json_array(), "failback", f,
	    "anti_affinity", g);
	if (rp >= 0)	/* this VM's own resiliency period (resiliency.c) */
		json_object_set_new(*ret, "resiliency_period_s",
		    json_integer(rp));
	return 0;
}

/* The VM, this node's name, and the cluster in step: or why not. */
static int
ha_target(struct host *h, const char *name, json_t **ret_rec,
    struct vm **ret_vm, char *me, size_t len, struct err *err)
{
	struct cluster *c = h->cluster;
	json_t *rec = cluster_record(h);
	const json_t *self = rec ? cl_record_self(h, rec) : NULL;
	struct vm *vm = vm_find(h, name);

	if (!rec || !self) {
		json_decref(rec);
		return err_set(err, -EINVAL, "this host is in no cluster: HA "
		    "restarts a VM on another node of a cluster (see 'tern "
		    "cluster create')");
	}
	*ret_rec = rec;
	snprintf(me, len, "%s", json_string_value(json_object_get(self,
	    "name")));
	if (!cl_state_ready(c))
		return err_set(err, -EAGAIN, "this node is not in a quorate "
		    "partition in step with the cluster; only such a node "
		    "changes the cluster (see 'tern cluster show')");
	if (!vm)
		return err_set(err, -ENOENT, "vm '%.64s' not found on this "
		    "host (HA settings are changed on the VM's owner; see "
		    "'tern vm list --cluster')", name);
	*ret_vm = vm;
	return 0;
}

/* A VM whose replica is on a node of its own cluster is not HA there: a
 * restart on that node would meet the replica, and the two are lost
 * together (Hyper-V's Replica Broker refuses the same). */
static int
check_replica_outside(struct host *h, const json_t *rec, struct vm *vm,
    struct err *err)
{
	_cleanup_json_ json_t *r = h->repl_carry ? h->repl_carry(vm, false) :
	    NULL;
	const char *peer = json_string_value(json_object_get(r, "peer"));

	if (!peer || !cl_record_nodeid(rec, peer))
		return 0;
	return err_set(err, -EINVAL, "vm '%s' replicates to %s, a node of "
	    "this cluster: a replica belongs outside the VM's cluster; "
	    "replicate it to another host first ('tern vm replication "
	    "remove %s', then enable it to a host outside the cluster)",
	    vm->row->name, peer, vm->row->name);
}

void
cluster_vm_ha_wanted(struct host *h, const struct vm *vm)
{
	struct cluster *c = h->cluster;
	_cleanup_json_ json_t *rec = c ? cluster_record(h) : NULL;

	if (!rec)
		return;
	if (!c->ha_wanted)
		c->ha_wanted = json_object();
	json_object_set_new(c->ha_wanted, vm->row->uuid, json_true());
}

/* One VM that failed over here: HA on once its entry is this node's and
 * running; false while it waits. */
static bool
ha_wanted_one(struct cluster *c, const json_t *rec, const char *me,
    const char *uuid)
{
	struct vm *vm = vm_find(c->h, uuid);
	json_t *e = json_object_get(c->vms, uuid);
	struct err err = { 0 };

	if (!vm)
		return true;
	if (!e || !streq(json_string_value(json_object_get(e, "owner")), me) ||
	    !streq(json_string_value(json_object_get(e, "state")), "running"))
		return false;
	if (json_object_get(e, "ha"))
		return true;
	if (check_disks(vm, &err) < 0 || check_shared(c->h, rec, me, vm,
	    &err) < 0) {
		host_event(c->h, "warning", vm, 0, "cluster: vm '%s' failed "
		    "over here and is not HA: %s", vm->row->name, err.msg);
		return true;
	}
	if (cl_state_send(c, json_pack("{sssss{sss[]ss}}", "t", "ha", "uuid",
	    uuid, "ha", "priority", "medium", "preferred", "failback",
	    "never")) == 0)
		host_event(c->h, "info", vm, 0, "cluster: HA on for vm '%s' "
		    "(it failed over here from its replica; priority medium)",
		    vm->row->name);
	return true;
}

void
cl_ha_wanted_tick(struct cluster *c, const json_t *rec, const char *me)
{
	const char *uuid;
	json_t *v;
	void *tmp;

	if (!c->ha_wanted || !cl_state_ready(c))
		return;
	json_object_foreach_safe(c->ha_wanted, tmp, uuid, v)
		if (ha_wanted_one(c, rec, me, uuid))
			json_object_del(c->ha_wanted, uuid);
}

int
cluster_ha_set(struct host *h, const char *name, const json_t *body,
    json_t **ret, struct err *err)
{
	struct cluster *c = h->cluster;
	json_t *rec = NULL, *ha = NULL, *e;
	struct vm *vm = NULL;
	char me[64];
	int r;

	if ((r = ha_target(h, name, &rec, &vm, me, sizeof(me), err)) < 0 ||
	    (r = check_disks(vm, err)) < 0 ||
	    (r = check_shared(h, rec, me, vm, err)) < 0 ||
	    (r = check_replica_outside(h, rec, vm, err)) < 0 ||
	    (r = parse_settings(rec, body, &ha, err)) < 0)
		goto out;
	e = json_object_get(c->vms, vm->row->uuid);
	if (!e || !streq(json_string_value(json_object_get(e, "owner")), me)) {
		r = err_set(err, -EAGAIN, "vm '%s' is not yet in the "
		    "cluster's state as this node's; try again in a few "
		    "seconds", name);
		goto out;
	}
	if ((r = cl_state_send(c, json_pack("{sssssO}", "t", "ha", "uuid",
	    vm->row->uuid, "ha", ha))) < 0) {
		r = err_set(err, r, "cannot reach the cluster's group "
		    "(Corosync); try again");
		goto out;
	}
	host_event(h, "info", vm, 0, "cluster: HA on (priority %s)",
	    json_string_value(json_object_get(ha, "priority")));
	*ret = json_incref(ha);
out:
	json_decref(ha);
	json_decref(rec);
	return r;
}

int
cluster_ha_clear(struct host *h, const char *name, struct err *err)
{
	struct cluster *c = h->cluster;
	json_t *rec = NULL, *e;
	struct vm *vm = NULL;
	char me[64];
	int r;

	if ((r = ha_target(h, name, &rec, &vm, me, sizeof(me), err)) < 0)
		goto out;
	e = json_object_get(c->vms, vm->row->uuid);
	if (!json_object_get(e, "ha")) {
		r = err_set(err, -ENOENT, "vm '%s' is not highly available",
		    name);
		goto out;
	}
	if ((r = cl_state_send(c, json_pack("{ssssss}", "t", "ha", "uuid",
	    vm->row->uuid, "ha", "off"))) < 0)
		r = err_set(err, r, "cannot reach the cluster's group "
		    "(Corosync); try again");
	else
		host_event(h, "info", vm, 0, "cluster: HA off");
out:
	json_decref(rec);
	return r;
}
