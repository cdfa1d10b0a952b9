/* ha_restart.c - the restart of a dead node's HA VMs: the coordinator's
 * placement and the chosen node's start (the state machine is drawn at
 * the top of ha.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

int
cl_ha_prio(const json_t *e)
{
	const char *p = json_string_value(json_object_get(json_object_get(e,
	    "ha"), "priority"));

	if (!json_object_get(e, "ha"))
		return -1;
	return streq(p, "high") ? 3 : streq(p, "low") ? 1 :
	    streq(p, "no-auto-start") ? 0 : 2;
}

bool
cl_node_live(const struct cluster *c, const json_t *rec, const char *name)
{
	uint32_t id = cl_record_nodeid(rec, name);

	return id && cl_member_up(c, id) && cl_member_in_group(c, id) &&
	    !cl_node_paused(c->settings, name);
}

bool
cl_coordinator(const struct cluster *c)
{
	for (size_t i = 0; i < c->n_group; i++)
		if (c->group[i] < c->local_nodeid &&
		    cl_member_up(c, c->group[i]))
			return false;
	return true;
}

/* An HA VM whose owner is no longer a member: it must move. */
static bool
orphan(struct cluster *c, const json_t *rec, const json_t *e)
{
	const char *owner = json_string_value(json_object_get(e, "owner"));
	const char *st = json_string_value(json_object_get(e, "state"));

	if (!json_object_get(e, "ha") || cl_ha_prio(e) == 0 || !owner ||
	    cl_node_state(c, rec, owner, e, NULL) !=
	    CL_NODE_DOWN)
		return false;	/* up, or isolated: unmonitored (resiliency.c) */
	return json_object_get(e, "restart") || streq(st, "running") ||
	    streq(st, "paused");
}

static bool
anti_clash(const struct cluster *c, const json_t *e, const char *node,
    const json_t *plan)
{
	const char *g = json_string_value(json_object_get(json_object_get(e,
	    "ha"), "anti_affinity"));
	const char *uuid;
	json_t *o;

	if (!g)
		return false;
	json_object_foreach(c->vms, uuid, o) {
		const char *owner = json_string_value(json_object_get(plan,
		    uuid));

		if (!owner)
			owner = json_string_value(json_object_get(o, "owner"));
		if (o != e && streq(owner, node) && streq(g,
		    json_string_value(json_object_get(json_object_get(o, "ha"),
		    "anti_affinity"))))
			return true;
	}
	return false;
}

static int64_t
room(const struct cluster *c, const char *node, const json_t *used)
{
	json_t *l = json_object_get(c->load, node);

	if (!l)
		return -1;
	return json_integer_value(json_object_get(l, "avail_mib")) -
	    json_integer_value(json_object_get(used, node));
}

/* The best node for e: a preferred owner in order, else the most free
 * memory; anti-affinity kept where possible.  NULL: none has room. */
static const char *
place_one(const struct cluster *c, const json_t *rec, const json_t *e,
    const json_t *plan, const json_t *used)
{
	int64_t need = json_integer_value(json_object_get(e, "memory_mib"));
	const json_t *pref = json_object_get(json_object_get(e, "ha"),
	    "preferred");
	const char *best = NULL;
	int64_t best_room = -1;
	bool best_clash = true;
	size_t i;
	json_t *n;

	json_array_foreach(pref, i, n) {
		const char *name = json_string_value(n);

		if (cl_node_live(c, rec, name) && room(c, name, used) >= need &&
		    !anti_clash(c, e, name, plan))
			return name;
	}
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		int64_t r = room(c, name, used);
		bool clash;

		if (!cl_node_live(c, rec, name) || r < need)
			continue;
		clash = anti_clash(c, e, name, plan);
		if (!best || (best_clash && !clash) || (clash == best_clash &&
		    r > best_room))
			best = name, best_room = r, best_clash = clash;
	}
	return best;
}

/* A replica VM's entry with its relationship (src/replica's broker.c). */
static bool
replica_entry(const json_t *e)
{
	return streq(json_string_value(json_object_get(json_object_get(
	    json_object_get(e, "record"), "replication"), "role")), "replica");
}

/* The live node with the pools of e's disks (the same storage as its
 * owner's: a pool's identity) and the most free memory (a replica runs
 * nothing: memory only orders them). */
static const char *
replica_home(const struct cluster *c, const json_t *rec, const json_t *e)
{
	const json_t *disks = json_object_get(json_object_get(e, "record"),
	    "disks"), *n;
	const json_t *mine = json_object_get(json_object_get(c->load,
	    json_string_value(json_object_get(e, "owner"))), "pools");
	const char *best = NULL;
	int64_t best_room = -1;
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		const json_t *pools = json_object_get(json_object_get(c->load,
		    name), "pools"), *d;
		size_t k;
		bool all = cl_node_live(c, rec, name);

		json_array_foreach(disks, k, d) {
			const char *pool = json_string_value(json_object_get(d,
			    "pool"));
			const json_t *id = json_object_get(pools, pool);

			all = all && id && json_equal(id, json_object_get(mine,
			    pool));
		}
		if (all && room(c, name, NULL) > best_room)
			best = name, best_room = room(c, name, NULL);
	}
	return best;
}

/* The coordinator: a replica whose node is down (not isolated: it may
 * still receive) goes to another node with its pool. */
static void
place_replicas(struct cluster *c, const json_t *rec)
{
	const char *key, *to;
	json_t *e;

	json_object_foreach(c->vms, key, e) {
		const char *owner = json_string_value(json_object_get(e,
		    "owner"));

		if (strncmp(key, CL_REPLICA_KEY, strlen(CL_REPLICA_KEY)) ||
		    !owner || json_object_get(e, "restart") ||
		    !replica_entry(e) || cl_node_state(c, rec, owner, e,
		    NULL) != CL_NODE_DOWN)
			continue;
		if (!(to = replica_home(c, rec, e))) {
			log_warn("cluster: no live node has the pool of the "
			    "replica of vm '%s'", json_string_value(
			    json_object_get(e, "name")));
			continue;
		}
		host_event(c->h, "warning", NULL, 0, "cluster: node %s is "
		    "gone; the replica of vm '%s' goes to node %s", owner,
		    json_string_value(json_object_get(e, "name")), to);
		cl_state_send(c, json_pack("{ssssssss}", "t", "place", "uuid",
		    key, "from", owner, "to", to));
	}
}

/* The coordinator: place the highest class of orphans still waiting. */
static void
place_orphans(struct cluster *c, const json_t *rec)
{
	json_t *plan = json_object(), *used = json_object(), *e;
	const char *uuid;
	int top = 0;

	json_object_foreach(c->vms, uuid, e) {
		const char *owner = json_string_value(json_object_get(e,
		    "owner"));

		if (orphan(c, rec, e) || (json_object_get(e, "restart") &&
		    json_object_get(e, "ha")))
			top = cl_ha_prio(e) > top ? cl_ha_prio(e) : top;
		/* placed, not running yet: not in its node's free memory */
		if (owner && json_object_get(e, "restart") && !orphan(c, rec,
		    e))
			json_object_set_new(used, owner, json_integer(
			    json_integer_value(json_object_get(used, owner)) +
			    json_integer_value(json_object_get(e,
			    "memory_mib"))));
	}
	json_object_foreach(c->vms, uuid, e) {
		const char *owner = json_string_value(json_object_get(e,
		    "owner")), *to;

		if (!orphan(c, rec, e) || cl_ha_prio(e) != top)
			continue;
		if (!(to = place_one(c, rec, e, plan, used))) {
			log_warn("cluster: no live node has room for HA vm "
			    "'%s' now", json_string_value(json_object_get(e,
			    "name")));
			continue;
		}
		json_object_set_new(plan, uuid, json_string(to));
		json_object_set_new(used, to, json_integer(json_integer_value(
		    json_object_get(used, to)) + json_integer_value(
		    json_object_get(e, "memory_mib"))));
		host_event(c->h, "warning", NULL, 0, "cluster: node %s is "
		    "gone; HA vm '%s' (priority %s) goes to node %s", owner,
		    json_string_value(json_object_get(e, "name")),
		    json_string_value(json_object_get(json_object_get(e, "ha"),
		    "priority")), to);
		cl_state_send(c, json_pack("{ssssssss}", "t", "place", "uuid",
		    uuid, "from", owner, "to", to));
	}
	json_decref(plan);
	json_decref(used);
}

/* file is a path inside a pool: relative, no ".." part. */
static bool
in_pool(const char *file)
{
	const char *p = file;

	if (!file || !*file || *file == '/')
		return false;
	for (; p; p = strchr(p, '/'), p = p ? p + 1 : NULL)
		if (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))
			return false;
	return true;
}

/* Where a disk of the record is on this node: its pool's path here. */
static int
disk_from_record(struct host *h, const json_t *d, struct disk_row *k,
    struct err *err)
{
	const char *pool = json_string_value(json_object_get(d, "pool"));
	const char *file = json_string_value(json_object_get(d, "file"));
	const char *name = json_string_value(json_object_get(d, "name"));
	_cleanup_free_ char *dir = pool ? host_pool_path(h, pool) : NULL;

	if (!dir || !in_pool(file) || !name || strlen(name) >= 8)
		return err_set(err, -ENOENT, "this node has no pool '%.64s' "
		    "for disk %.8s", pool ? pool : "?", name ? name : "?");
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->pool = xstrdup(pool);
	k->path = xasprintf("%s/%s", dir, file);
	k->size_bytes = json_integer_value(json_object_get(d, "size_bytes"));
	k->owned = json_is_true(json_object_get(d, "owned"));
	if (access(k->path, R_OK | W_OK) == -1)
		return err_set(err, -ENOENT, "disk %s '%s' is not reachable "
		    "from this node", name, k->path);
	return 0;
}

static char *
dup_or_null(const json_t *s)
{
	return json_is_string(s) ? xstrdup(json_string_value(s)) : NULL;
}

static char *
text_of(const json_t *o)
{
	return json_is_object(o) ? json_dumps(o, JSON_COMPACT) : NULL;
}

static int
row_from_record(struct host *h, const json_t *r, struct vm_row *row,
    struct err *err)
{
	static const char *const extra[] = { "disks", "kernel", "initrd",
		"services", "kvp", "replication", NULL };
	const json_t *disks = json_object_get(r, "disks"), *d;
	struct vm_desc desc = { 0 };
	size_t i;
	int rc;

	if ((rc = vm_desc_parse(r, VM_DESC_RECORD, extra, "the cluster's "
	    "record", &desc, err)) < 0)
		return rc;
	vm_desc_to_row(&desc, row);
	/* a replica taken over (src/replica's broker.c) stays one */
	row->state = xstrdup(vm_state_name(streq(json_string_value(
	    json_object_get(json_object_get(r, "replication"), "role")),
	    "replica") ? VM_REPLICA : VM_OFF));
	row->created_ms = wall_ms();
	row->kernel = dup_or_null(json_object_get(r, "kernel"));
	row->initrd = dup_or_null(json_object_get(r, "initrd"));
	row->services = text_of(json_object_get(r, "services"));
	row->kvp = text_of(json_object_get(r, "kvp"));
	row->n_disks = json_array_size(disks);
	row->disks = xzalloc((row->n_disks ? row->n_disks : 1) *
	    sizeof(*row->disks));
	json_array_foreach(disks, i, d)
		if ((rc = disk_from_record(h, d, &row->disks[i], err)) < 0)
			return rc;
	if (row->kernel && access(row->kernel, R_OK) == -1)
		return err_set(err, -ENOENT, "kernel '%s' is not on this node",
		    row->kernel);
	if (row->initrd && access(row->initrd, R_OK) == -1)
		return err_set(err, -ENOENT, "initrd '%s' is not on this node",
		    row->initrd);
	if (!row->machine)
		row->machine = xstrdup(host_default_machine(h));
	return host_check_machine(h, row->machine, "the vm", err);
}

/* The VM's replication as the cluster's state holds it recorded here
 * (src/replica checks it whole): this node replicates it from now on.
 * None there: a relationship this copy kept from before is dropped. */
static void
replication_here(struct host *h, struct vm *vm, const json_t *e)
{
	const json_t *r = json_object_get(json_object_get(e, "record"),
	    "replication");

	if (r && h->repl_arrived)
		h->repl_arrived(vm, r);
	else if (!r && h->repl_leaving)
		h->repl_leaving(vm, false, true);
}

static struct vm *
define_here(struct host *h, const json_t *e, struct err *err)
{
	struct vm_row *row = xzalloc(sizeof(*row));
	struct vm *vm;
	int r = row_from_record(h, json_object_get(e, "record"), row, err);

	for (size_t i = 0; r == 0 && i < row->n_nics; i++)
		if (!host_switch_exists(h, row->nics[i].switch_name))
			r = err_set(err, -ENOENT, "this node has no switch "
			    "'%.64s'", row->nics[i].switch_name);
		else
			r = host_switch_carries(h, &row->nics[i], i, err);
	if (r == 0 && vm_find(h, row->name))
		r = err_set(err, -EEXIST, "this node has another vm named "
		    "'%s'", row->name);
	if (r == 0 && (r = store_vm_insert(h->store, row)) < 0)
		err_set(err, r, "cannot record vm '%s'", row->name);
	if (r < 0) {
		store_vm_row_free(row);
		return NULL;
	}
	vm = vm_add(h, row);
	replication_here(h, vm, e);
	return vm;
}

static void
ha_failed(struct cluster *c, const char *me, const char *uuid,
    const char *name, const char *why)
{
	host_event(c->h, "error", NULL, 0, "cluster: HA vm '%s' cannot "
	    "restart on node %s: %s", name, me, why);
	cl_state_send(c, json_pack("{ssssssss}", "t", "ha-failed", "uuid",
	    uuid, "node", me, "why", why));
}

/* Drop a hold this node put on its stale copy: the cluster gives the VM
 * back to it, with the replication its state holds. */
static void
unhold(struct host *h, struct vm *vm, const json_t *e)
{
	if (!vm->row->hold || strncmp(vm->row->hold, CL_HOLD_STALE,
	    strlen(CL_HOLD_STALE)) != 0)
		return;
	if (store_vm_set_text(h->store, vm->row->uuid, "hold", NULL) == 0) {
		free(vm->row->hold);
		vm->row->hold = NULL;
		replication_here(h, vm, e);
	}
}

/* This node was given e: define the VM if need be, wait for its lease,
 * start it. */
static void
restart_here(struct cluster *c, const char *me, const char *uuid,
    const json_t *e)
{
	const char *name = json_string_value(json_object_get(e, "name"));
	struct vm *vm = cl_key_vm(c->h, uuid);
	struct err err = { 0 };
	struct job *job;
	char owner[64] = "";
	int r;

	if (!vm && !strncmp(uuid, CL_REPLICA_KEY, strlen(CL_REPLICA_KEY)) &&
	    !replica_entry(e)) {
		ha_failed(c, me, uuid, name, "the cluster's state has no "
		    "relationship for this replica");
		return;
	}
	if (!vm && !(vm = define_here(c->h, e, &err))) {
		ha_failed(c, me, uuid, name, err.msg);
		return;
	}
	if (vm->state == VM_REPLICA)
		return;		/* taken over: a replica is never started */
	unhold(c->h, vm, e);
	if (!vm_is_down(vm) || vm_action_allowed(vm, VM_ACT_START, &err) ==
	    -EBUSY)
		return;		/* up (the tick says so), or a job has it */
	r = cl_lease_probe(c->h, vm, owner, sizeof(owner));
	if (r == -EBUSY || r == -EAGAIN) {
		log_info("cluster: vm '%s' waits for its lease (%s)", name,
		    owner[0] ? owner : "not known yet");
		return;
	}
	if (r == 0 && vm_action_start(vm, VM_ACT_START, NULL, &job, &err) ==
	    0) {
		host_event(c->h, "warning", vm, 0, "cluster: restarting HA "
		    "vm '%s' here (its node is gone)", name);
		return;
	}
	ha_failed(c, me, uuid, name, r == 0 ? err.msg : "its disks need a "
	    "lease and have none");
}

static void
ha_entry_changed(struct cluster *c, const char *me, const char *uuid)
{
	json_t *e = json_object_get(c->vms, uuid);

	if (e && json_object_get(e, "restart") && streq(json_string_value(
	    json_object_get(e, "owner")), me) && cl_state_ready(c))
		restart_here(c, me, uuid, e);
}

void
cl_ha_tick(struct cluster *c, const json_t *rec, const char *me)
{
	const char *uuid;
	json_t *e;

	if (!cl_state_ready(c))
		return;
	json_object_foreach(c->vms, uuid, e)
		ha_entry_changed(c, me, uuid);
	if (cl_coordinator(c)) {
		place_orphans(c, rec);
		place_replicas(c, rec);
	}
}
