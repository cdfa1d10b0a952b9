/* vms.c - this node's VMs in the cluster's state (state.c), and what this
 * node does when the state changes.
 *
 * Every CL_TICK_MS, while this node is synced and quorate, it tells the
 * group what it has: a "vm" message for each of its VMs whose facts
 * differ from the state's entry, "gone" for each entry it owns that it
 * no longer has (deleted, or moved away: the destination says "vm"
 * itself once the VM runs there), and "load" (its free memory, for
 * placement).  Facts are re-read each tick, so a change lost to a
 * membership change is simply sent again.
 *
 * A VM here whose entry names another owner is a stale copy (this node
 * was dead, its VM restarted elsewhere) unless it runs here (a move just
 * landed): the copy gets a hold, so a plain start refuses it, and is not
 * published.
 *
 * The record in each entry is what another node needs to define the VM
 * when it has to restart it: the description (desc.h), its boot files,
 * services and key/values, and its disks by pool and their place in it
 * (a shared pool may be mounted at another path on each node). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cl_int.h"
#include "state_rules.h"
#include "desc.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"
#include "vm_job.h"

#define CL_TICK_MS 2000

static bool publish_vm(struct cluster *c, const json_t *rec, struct vm *vm,
    const char *me);

static json_t *
text_json(const char *s)
{
	json_t *o = s ? json_loads(s, 0, NULL) : NULL;

	return o ? o : json_null();
}

json_t *
cl_vm_record(const struct vm *vm)
{
	const struct vm_row *row = vm->row;
	struct vm_desc d = { 0 };
	json_t *o, *r, *disks = json_array();

	vm_desc_from_row(&d, row);
	o = vm_desc_to_json(&d);
	vm_desc_done(&d);
	for (size_t i = 0; i < row->n_disks; i++) {
		const struct disk_row *k = &row->disks[i];
		_cleanup_free_ char *dir = k->pool ? host_pool_path(vm->h,
		    k->pool) : NULL;
		size_t n = dir ? strlen(dir) : 0;
		const char *file = strrchr(k->path, '/');

		/* the file's place in its pool (a subdirectory too: an
		 * export registered in place) */
		if (n && !strncmp(k->path, dir, n) && k->path[n] == '/')
			file = k->path + n;
		json_array_append_new(disks, json_pack("{sssssssssIsb}", "name",
		    k->name, "pool", k->pool ? k->pool : "", "file",
		    file ? file + 1 : k->path, "path", k->path, "size_bytes",
		    (json_int_t)k->size_bytes, "owned", k->owned));
	}
	json_object_set_new(o, "disks", disks);
	json_object_set_new(o, "kernel", row->kernel ?
	    json_string(row->kernel) : json_null());
	json_object_set_new(o, "initrd", row->initrd ?
	    json_string(row->initrd) : json_null());
	json_object_set_new(o, "services", text_json(row->services));
	json_object_set_new(o, "kvp", text_json(row->kvp));
	/* its replication (src/replica), so the node that restarts it
	 * replicates it on: the cluster's state holds the settings */
	if (vm->h->repl_carry && (r = vm->h->repl_carry(vm, false)))
		json_object_set_new(o, "replication", r);
	return o;
}

static bool
vm_up(const struct vm *vm)
{
	return vm->state == VM_RUNNING || vm->state == VM_PAUSED;
}

const char *
cl_self_name(struct host *h, const json_t *rec, char *buf, size_t len)
{
	const json_t *me = rec ? cl_record_self(h, rec) : NULL;
	const char *n = json_string_value(json_object_get(me, "name"));

	snprintf(buf, len, "%s", n ? n : "");
	return buf[0] ? buf : NULL;
}

void
cluster_vm_moved(struct host *h, const struct vm *vm, const char *to)
{
	struct cluster *c = h->cluster;
	json_t *rec = c && cl_state_ready(c) ? cluster_record(h) : NULL;
	json_t *e = c ? json_object_get(c->vms, vm->row->uuid) : NULL;
	char me[64];

	if (!rec || !e || !cl_self_name(h, rec, me, sizeof(me)) ||
	    !streq(json_string_value(json_object_get(e, "owner")), me))
		;
	else if (cl_record_nodeid(rec, to))
		(void)cl_state_send(c, json_pack("{sssssssssb}", "t", "moved",
		    "uuid", vm->row->uuid, "from", me, "to", to, "drain",
		    cl_node_paused(c->settings, me) != NULL));
	else	/* out of the cluster: its state lets the VM go now */
		(void)cl_state_send(c, json_pack("{ssssss}", "t", "gone",
		    "node", me, "uuid", vm->row->uuid));
	json_decref(rec);
}

int
cluster_vm_may_leave(struct host *h, const struct vm *vm, const char *to,
    struct err *err)
{
	struct cluster *c = h->cluster;
	_cleanup_json_ json_t *rec = c ? cluster_record(h) : NULL;
	json_t *e = rec ? json_object_get(c->vms, vm->row->uuid) : NULL;

	if (!e || !json_object_get(e, "ha") || cl_record_nodeid(rec, to))
		return 0;
	return err_set(err, -EINVAL, "vm '%s' is highly available in cluster "
	    "'%s' and host %s is no node of it: its lease keeps it one copy "
	    "only inside the cluster; move it to a node, or 'tern vm ha "
	    "disable %s' first", vm->row->name, json_string_value(
	    json_object_get(rec, "name")), to, vm->row->name);
}

int
cluster_replica_here(struct host *h, const struct vm *vm, struct err *err)
{
	struct cluster *c = h->cluster;
	_cleanup_json_ json_t *rec = cluster_record(h);
	char key[48], me[64];
	const char *owner;

	if (!rec)
		return 0;
	owner = json_string_value(json_object_get(json_object_get(c->vms,
	    cl_vm_key(vm, key, sizeof(key))), "owner"));
	if (!cl_state_ready(c) || !cl_self_name(h, rec, me, sizeof(me)))
		return err_set(err, -EAGAIN, "node %s is not in step with its "
		    "cluster; the replica of vm '%s' takes cycles again once "
		    "it is", h->cfg.name, vm->row->name);
	if (owner && !streq(owner, me))
		return err_set(err, -EAGAIN, "the replica of vm '%s' is on "
		    "node %s of cluster '%s' now", vm->row->name, owner,
		    json_string_value(json_object_get(rec, "name")));
	return 0;
}

int
cluster_replica_published(struct host *h, struct vm *vm)
{
	struct cluster *c = h->cluster;
	_cleanup_json_ json_t *rec = cluster_record(h);
	_cleanup_json_ json_t *now = NULL;
	char key[48], me[64];
	json_t *e;

	if (!rec)
		return 1;
	if (!cl_state_ready(c) || !cl_self_name(h, rec, me, sizeof(me)))
		return 0;
	e = json_object_get(c->vms, cl_vm_key(vm, key, sizeof(key)));
	now = cl_vm_record(vm);
	if (e && streq(json_string_value(json_object_get(e, "owner")), me) &&
	    json_equal(json_object_get(e, "record"), now))
		return 1;
	(void)publish_vm(c, rec, vm, me);
	return 0;
}

json_t *
cluster_node_keys(struct host *h)
{
	_cleanup_json_ json_t *rec = cluster_record(h);
	json_t *out = json_array(), *n;
	size_t i;

	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		json_array_append_new(out, json_pack("{sOsO}", "name",
		    json_object_get(n, "name"), "fp", json_object_get(n, "fp")));
	return out;
}

const char *
cl_vm_key(const struct vm *vm, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", vm->state == VM_REPLICA ? CL_REPLICA_KEY :
	    "", vm->row->uuid);
	return buf;
}

struct vm *
cl_key_vm(struct host *h, const char *key)
{
	bool replica = !strncmp(key, CL_REPLICA_KEY, strlen(CL_REPLICA_KEY));
	struct vm *vm = vm_find(h, replica ? key + strlen(CL_REPLICA_KEY) :
	    key);

	if (!vm || (vm->state == VM_REPLICA) != replica)
		return NULL;
	return vm;
}

char *
cluster_of_node(struct host *h, const char *name)
{
	_cleanup_json_ json_t *rec = cluster_record(h);

	if (!rec || !cl_record_nodeid(rec, name))
		return NULL;
	return xstrdup(json_string_value(json_object_get(rec, "name")));
}

bool
cl_vm_stale_copy(const struct vm *vm)
{
	return vm->row->hold && !strncmp(vm->row->hold, CL_HOLD_STALE,
	    strlen(CL_HOLD_STALE));
}

bool
cluster_vm_stale(const struct vm *vm)
{
	return cl_vm_stale_copy(vm) && vm_is_down(vm) && !vm_job(vm);
}

/* A copy here whose entry another node owns. */
static void
hold_stale(struct cluster *c, struct vm *vm, const char *owner)
{
	char why[200];

	if (vm->row->hold || !vm_is_down(vm))
		return;
	snprintf(why, sizeof(why), CL_HOLD_STALE " to node %s, "
	    "which runs it (or did last); this copy is stale: delete it, or "
	    "move the VM here from %s", owner, owner);
	if (store_vm_set_text(c->h->store, vm->row->uuid, "hold", why) < 0)
		return;
	free(vm->row->hold);
	vm->row->hold = xstrdup(why);
	host_event(c->h, "warning", vm, 0, "cluster: %s", why);
	/* its replication is the owner's now (its spool on the shared
	 * pool stays); given back, the VM gets it from the state */
	if (c->h->repl_leaving)
		c->h->repl_leaving(vm, false, true);
}

/* A replica here whose entry another node owns: that node took it
 * over while this one was gone (src/replica's broker.c).  This copy is
 * forgotten, its rows only: the files are that node's replica now. */
static void
forget_replica(struct cluster *c, struct vm *vm, const char *owner)
{
	host_event(c->h, "warning", vm, 0, "cluster: node %s took over the "
	    "replica of vm '%s' while this node was gone; this copy is "
	    "forgotten (its files are that replica's)", owner, vm->row->name);
	if (c->h->repl_leaving)
		c->h->repl_leaving(vm, false, true);
	vm_remove_run_files(vm);
	(void)store_vm_delete(c->h->store, vm->row->uuid);
	vm_remove(vm);
}

/* vm published: false when it is no longer this node's (a stale
 * replica forgotten: vm is gone). */
static bool
publish_vm(struct cluster *c, const json_t *rec, struct vm *vm,
    const char *me)
{
	char key[48];
	json_t *e = json_object_get(c->vms, cl_vm_key(vm, key, sizeof(key)));
	const char *owner = json_string_value(json_object_get(e, "owner"));
	json_t *m;

	if (vm->state == VM_CREATING || vm->state == VM_INCOMING ||
	    vm->state == VM_DELETING)
		return true;	/* not a VM of this node yet, or no longer */
	if (vm->state == VM_REPLICA && owner && !streq(owner, me)) {
		if (vm_job(vm))
			return true;	/* an apply ends first */
		forget_replica(c, vm, owner);
		return false;
	}
	if (owner && !streq(owner, me) && !vm_up(vm)) {
		hold_stale(c, vm, owner);
		return true;
	}
	/* Up here, the state says another node's: claimed only when that
	 * node is gone or has not started it (a move landed here, its
	 * source died before saying "gone"); else it runs there, and the
	 * lease stops one of the two. */
	if (owner && !streq(owner, me) &&
	    cl_member_up(c, cl_record_nodeid(rec, owner)) &&
	    !json_object_get(e, "restart"))
		return true;
	m = json_pack("{sssssssssssIsIsbso}", "t", "vm", "node", me, "uuid",
	    key, "name", vm->row->name, "state",
	    vm_state_name(vm->state), "memory_mib",
	    (json_int_t)store_vm_mem_now(vm->row), "cpus",
	    (json_int_t)vm->row->cpus,
	    "up", vm_up(vm), "record", cl_vm_record(vm));
	if (e && owner && streq(owner, me) &&
	    json_equal(json_object_get(e, "name"), json_object_get(m, "name")) &&
	    json_equal(json_object_get(e, "state"), json_object_get(m, "state")) &&
	    json_equal(json_object_get(e, "cpus"), json_object_get(m, "cpus")) &&
	    json_equal(json_object_get(e, "memory_mib"), json_object_get(m,
	    "memory_mib")) &&
	    json_equal(json_object_get(e, "record"), json_object_get(m,
	    "record")) && !(vm_up(vm) && json_object_get(e, "restart"))) {
		json_decref(m);
		return true;
	}
	cl_state_send(c, m);
	return true;
}

static bool
owned_by_me(const json_t *e, const char *me)
{
	const char *o = json_string_value(json_object_get(e, "owner"));

	return o && streq(o, me);
}

/* {pool name: its storage identity}: a pool of the same identity on
 * two nodes is one shared pool. */
json_t *
cl_pool_ids(struct host *h)
{
	json_t *o = json_object();
	struct obj_row *rows;
	size_t n;
	char id[37];

	if (store_obj_list(h->store, STORE_POOL, &rows, &n) < 0)
		return o;
	for (size_t i = 0; i < n; i++)
		if (host_pool_identity(rows[i].a, id) == 0)
			json_object_set_new(o, rows[i].name, json_string(id));
	obj_rows_free(rows, n);
	return o;
}

static void
publish_all(struct cluster *c, const json_t *rec, const char *me)
{
	struct host *h = c->h;
	const char *uuid;
	json_t *e;
	uint64_t total = 0, avail = 0;

	for (size_t i = 0; i < h->n_vms; i++)
		if (!publish_vm(c, rec, h->vms[i], me))
			i--;	/* forgotten: the next one is at i now */
	json_object_foreach(c->vms, uuid, e)
		if (owned_by_me(e, me) &&
		    !cl_key_vm(h, uuid) && !json_object_get(e, "restart"))
			cl_state_send(c, json_pack("{ssssss}", "t", "gone",
			    "node", me, "uuid", uuid));
	if (host_memory_mib(&total, &avail) == 0)
		cl_state_send(c, json_pack("{sssssIsIsIsoso}", "t", "load",
		    "node", me, "avail_mib", (json_int_t)avail, "total_mib",
		    (json_int_t)total, "cpus", (json_int_t)sysconf(
		    _SC_NPROCESSORS_ONLN), "pools", cl_pool_ids(h), "leases",
		    cl_lease_joined(h)));
}

static void
tick(struct loop *l, void *data)
{
	struct cluster *c = data;
	json_t *rec;
	char me[64];

	(void)l;
	c->tick = loop_timer_add(c->h->loop, CL_TICK_MS, tick, c);
	cl_metrics_update(c, true);
	if (!cl_state_ready(c) || !(rec = cluster_record(c->h)))
		return;
	if (cl_self_name(c->h, rec, me, sizeof(me))) {
		publish_all(c, rec, me);
		cl_res_watch(c, rec);
		cl_ha_tick(c, rec, me);
		cl_ha_wanted_tick(c, rec, me);
		cl_failback_tick(c, rec, me);
		cl_drain_tick(c, rec, me);
		cl_balance_tick(c, rec);
	}
	json_decref(rec);
}

void
cl_vms_start(struct cluster *c)
{
	if (!c->tick)
		c->tick = loop_timer_add(c->h->loop, CL_TICK_MS, tick, c);
}

void
cl_vms_stop(struct cluster *c)
{
	c->tick = loop_timer_cancel(c->h->loop, c->tick);
	cl_metrics_update(c, false);	/* out of the cluster: none */
}

/* A change was applied (or the whole state replaced): the restarts
 * looked at again at once (a VM up lets the coordinator place the next
 * priority class without waiting for its tick). */
void
cl_vms_applied(struct cluster *c)
{
	json_t *rec;
	char me[64];

	if (!cl_state_ready(c) || !(rec = cluster_record(c->h)))
		return;
	if (cl_self_name(c->h, rec, me, sizeof(me)))
		cl_ha_tick(c, rec, me);
	json_decref(rec);
}

/* A VM's replication as the state holds it: where to, its state and
 * last acknowledged cycle; null when not replicated. */
static json_t *
repl_summary(const json_t *r)
{
	if (!json_is_object(r))
		return json_null();
	return json_pack("{sO?sO?sO?}", "to", json_object_get(r, "peer"),
	    "state", json_object_get(r, "state"), "seq", json_object_get(r,
	    "seq"));
}

/* GET /v1/cluster/vms: every VM of the cluster once, with its owner. */
json_t *
cluster_vms(struct host *h)
{
	struct cluster *c = h->cluster;
	json_t *out = json_array(), *e, *rec = cluster_record(h);
	const char *uuid;

	json_object_foreach(c->vms, uuid, e) {
		const char *owner = json_string_value(json_object_get(e,
		    "owner"));
		json_t *v;

		if (json_is_null(json_object_get(e, "owner")))
			continue;	/* gone: deleted */
		v = json_pack("{sO?sO?sO?sO?sO?}", "uuid", json_object_get(e,
		    "uuid"), "name", json_object_get(e, "name"), "owner",
		    json_object_get(e, "owner"), "state", json_object_get(e,
		    "state"), "memory_mib", json_object_get(e, "memory_mib"));
		json_object_set(v, "ha", json_object_get(e, "ha") ?
		    json_object_get(e, "ha") : json_null());
		json_object_set_new(v, "restarting", json_boolean(
		    json_object_get(e, "restart")));
		json_object_set_new(v, "replication", repl_summary(
		    json_object_get(json_object_get(e, "record"),
		    "replication")));
		/* its node isolated: it runs on there, unmonitored */
		json_object_set_new(v, "unmonitored", json_boolean(rec &&
		    owner && cl_state_ready(c) && cl_node_state(c, rec, owner,
		    e, NULL) == CL_NODE_ISOLATED));
		json_array_append_new(out, v);
	}
	json_decref(rec);
	return json_pack("{sosbsIsb}", "vms", out, "in_step", c->synced,
	    "gen", (json_int_t)c->gen, "quorate", cl_state_ready(c));
}
