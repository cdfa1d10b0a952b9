/* broker.c - a replica inside a cluster (Hyper-V's Replica Broker, the
 * replica side): the replica VM's relationship as the cluster's state
 * holds it, and taken over by another node when its node is lost.
 *
 *   node X (the replica's)   publishes the replica VM: its record carries
 *       this side's row (replica_broker_carry: peer and its key's
 *       fingerprint, settings, state, seq, stats, the recovery points
 *       with every file relative to its disk's pool, their NVRAM/TPM
 *       copies by base name: rp_fw_paths)
 *   X lost (down, not isolated)  the coordinator places the entry on a
 *       live node Y with the pool (src/cluster/ha_restart.c)
 *   node Y   defines the VM as a replica and records the row
 *       (replica_broker_arrived), "tell": true in its stats
 *       --watch tick: POST /v1/replications/UUID/replica-moved to the
 *       primary--> 200: "tell" dropped (else tried again next tick)
 *   primary  takes Y as the replica server when Y is one of the replica
 *       cluster's nodes its last cycle's answer listed
 *       (replica_broker_moved); its next cycle goes to Y
 *   X back   its copy is stale (the state gives the VM to Y): forgotten,
 *       rows only; the files are Y's replica
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "peer.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

/* The pool dir of vm's disk named disk, or NULL. */
static char *
bk_pool_dir(struct vm *vm, const char *disk)
{
	for (size_t i = 0; i < vm->row->n_disks; i++)
		if (streq(vm->row->disks[i].name, disk) &&
		    vm->row->disks[i].pool)
			return host_pool_path(vm->h, vm->row->disks[i].pool);
	return NULL;
}

/* Each point's files relative to their disk's pool (to_rel), or back to
 * this node's paths; false when a file is not inside its pool. */
static bool
bk_points_paths(struct vm *vm, json_t *points, bool to_rel)
{
	json_t *p, *f;
	const char *disk;
	size_t i;

	json_array_foreach(points, i, p) {
		json_object_foreach(json_object_get(p, "disks"), disk, f) {
			_cleanup_free_ char *dir = bk_pool_dir(vm, disk);
			const char *s = json_string_value(f);
			size_t n = dir ? strlen(dir) : 0;

			if (!s || !dir)
				return false;
			if (to_rel && (strncmp(s, dir, n) || s[n] != '/'))
				return false;
			if (!to_rel && (s[0] == '/' || strstr(s, "..")))
				return false;
			json_object_set_new(json_object_get(p, "disks"), disk,
			    to_rel ? json_string(s + n + 1) :
			    json_sprintf("%s/%s", dir, s));
		}
	}
	return true;
}

/* The points whose files are all here (a point the state still names
 * may have been merged away in its last moments on the lost node);
 * false when the latest one is not whole: nothing to take over. */
static bool
bk_points_present(json_t *points)
{
	size_t n = json_array_size(points);

	for (size_t i = n; i-- > 0;) {
		json_t *f;
		const char *disk;
		bool whole = true;

		json_object_foreach(json_object_get(json_array_get(points, i),
		    "disks"), disk, f)
			whole = whole && access(json_string_value(f), F_OK) == 0;
		if (whole)
			continue;
		if (i == n - 1)
			return false;
		log_warn("replica: point %lld is gone with its node (merged); "
		    "the others stay", (long long)rp_int(json_array_get(points,
		    i), "seq"));
		json_array_remove(points, i);
	}
	return true;
}

json_t *
replica_broker_carry(const struct vm *cvm, const struct replication_row *r)
{
	struct vm *vm = (struct vm *)cvm;
	json_t *points, *o;

	if (r->failover || r->test || vm->state != VM_REPLICA)
		return NULL;	/* a failover or test: not taken over */
	points = rp_points_load(r->points);
	if (!bk_points_paths(vm, points, true)) {
		json_decref(points);
		return NULL;
	}
	rp_fw_paths(vm, points, true);	/* NVRAM/TPM copies: base names */
	o = rp_row_carry(vm->h, r);
	json_object_set_new(o, "role", json_string("replica"));
	json_object_set_new(o, "points", points);
	return o;
}

int
replica_broker_arrived(struct vm *vm, const json_t *o)
{
	static const char *const fields[] = { "role", "peer", "peer_fp",
		"settings", "state", "seq", "stats", "created_ms", "points",
		NULL };
	struct host *h = vm->h;
	struct host_peer p = { 0 };
	struct err e = { 0 };
	_cleanup_free_ char *settings = NULL, *stats = NULL, *pts = NULL;
	json_t *points = json_deep_copy(json_object_get(o, "points"));
	json_t *st = json_deep_copy(json_object_get(o, "stats"));
	struct replication_row row = { .vm_uuid = vm->row->uuid,
		.role = "replica" };
	int r = -EINVAL;

	if (json_check_fields(o, fields, "replica", &e) < 0 ||
	    !json_is_array(points) || !json_is_object(st) ||
	    !rp_str(o, "state") || rp_int(o, "seq") < 0 ||
	    !bk_points_paths(vm, points, false))
		goto out;
	if (!bk_points_present(points)) {
		host_event(h, "error", vm, 0, "the replica of vm '%s' cannot "
		    "be taken over here: the files of its latest point are "
		    "not on this node's pool", vm->row->name);
		goto out;
	}
	/* never a path from the state: only this VM's own copies' names */
	rp_fw_paths(vm, points, false);
	if (host_peer_by_fp(h, rp_str(o, "peer_fp"), &p) < 0) {
		host_event(h, "error", vm, 0, "the replica of vm '%s' came "
		    "here, but host %s does not trust its primary %s (add it "
		    "with 'tern peer add')", vm->row->name, h->cfg.name,
		    rp_str(o, "peer"));
		goto out;
	}
	json_object_set_new(st, "tell", json_true());
	settings = json_dumps(json_object_get(o, "settings"), JSON_COMPACT);
	stats = json_dumps(st, JSON_COMPACT);
	pts = json_dumps(points, JSON_COMPACT);
	row.peer = p.name;
	row.settings = settings;
	row.state = (char *)rp_str(o, "state");
	row.seq = rp_int(o, "seq");
	row.stats = stats;
	row.created_ms = rp_int(o, "created_ms");
	row.points = pts;
	(void)store_replication_delete(h->store, vm->row->uuid);
	if ((r = store_replication_insert(h->store, &row)) == 0)
		host_event(h, "warning", vm, 0, "the replica of vm '%s' from "
		    "%s is here now (its node is gone; last point %lld)",
		    vm->row->name, p.name, (long long)row.seq);
out:
	json_decref(points);
	json_decref(st);
	host_peer_done(&p);
	return r;
}

/* ---- the primary: which nodes may hold its replica ---- */

void
replica_broker_nodes(struct host *h, const char *uuid, const json_t *reply)
{
	const json_t *nodes = json_object_get(reply, "cluster_nodes");
	struct replication_row r;
	json_t *st;

	if (!json_is_array(nodes) || store_replication_get(h->store, uuid,
	    &r) < 0)
		return;
	st = rp_stats_load(r.stats);
	if (streq(r.role, "primary") && !json_equal(nodes,
	    json_object_get(st, "replica_nodes"))) {
		json_object_set(st, "replica_nodes", (json_t *)nodes);
		rp_stats_save(h, &r, st);
	}
	json_decref(st);
	replication_row_done(&r);
}

int
replica_broker_moved(struct host *h, const char *fp, const char *uuid,
    struct err *err)
{
	struct replication_row r;
	struct host_peer p = { 0 };
	json_t *st, *n;
	bool listed = false;
	size_t i;
	int rc;

	if (store_replication_get(h->store, uuid, &r) < 0)
		return err_set(err, -ENOENT, "host %s replicates no vm %.40s",
		    h->cfg.name, uuid);
	st = rp_stats_load(r.stats);
	json_array_foreach(json_object_get(st, "replica_nodes"), i, n)
		listed |= streq(rp_str(n, "fp"), fp);
	if (!streq(r.role, "primary") || !listed ||
	    host_peer_by_fp(h, fp, &p) < 0) {
		rc = err_set(err, -EACCES, "host %s takes a new replica server "
		    "for vm %.40s only from a node of its replica server's "
		    "cluster that it trusts", h->cfg.name, uuid);
		goto out;
	}
	if (!streq(r.peer, p.name)) {
		host_event(h, "warning", vm_find(h, uuid), 0, "replication "
		    "of vm %s goes to %s now (its replica's node %s is gone)",
		    uuid, p.name, r.peer);
		free(r.peer);
		r.peer = xstrdup(p.name);
		json_object_del(st, "critical");
		free(r.stats);
		r.stats = json_to_string(st);
	}
	rc = store_replication_update(h->store, &r);
	if (rc < 0)
		err_setf_errno(err, rc, "cannot record the replication");
out:
	json_decref(st);
	host_peer_done(&p);
	replication_row_done(&r);
	return rc;
}

/* ---- the node that took a replica over tells its primary ---- */

struct bk_tell {
	struct host *h;
	char uuid[37];
};

static void
bk_told(long status, json_t *body, const struct err *e, void *data)
{
	struct bk_tell *t = data;
	struct replication_row r;
	json_t *st;

	(void)body;
	if (status == 200 && !e && store_replication_get(t->h->store, t->uuid,
	    &r) == 0) {
		st = rp_stats_load(r.stats);
		json_object_del(st, "tell");
		rp_stats_save(t->h, &r, st);
		json_decref(st);
		replication_row_done(&r);
		log_info("replica %s: its primary knows it is here", t->uuid);
	} else {
		log_warn("replica %s: its primary was not told it is here "
		    "(%s); trying again", t->uuid, e ? e->msg : "refused");
	}
	free(t);
}

#define BK_TELL_EVERY_MS 10000

void
replica_broker_tell(struct host *h, struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats);
	struct host_peer p = { 0 };
	struct bk_tell *t;
	_cleanup_free_ char *path = NULL;

	if (!json_is_true(json_object_get(st, "tell")) || (uint64_t)rp_int(st,
	    "tell_ms") + BK_TELL_EVERY_MS > wall_ms() ||
	    host_peer_by_name(h, r->peer, &p, NULL) < 0) {
		json_decref(st);
		return;
	}
	json_object_set_new(st, "tell_ms", json_integer((json_int_t)
	    wall_ms()));
	rp_stats_save(h, r, st);
	t = xzalloc(sizeof(*t));
	t->h = h;
	snprintf(t->uuid, sizeof(t->uuid), "%s", r->vm_uuid);
	path = xasprintf("/v1/replications/%s/replica-moved", r->vm_uuid);
	if (peer_call(h->peers, p.url, p.fp, "POST", path, json_object(),
	    10000, bk_told, t, NULL) < 0)
		free(t);
	json_decref(st);
	host_peer_done(&p);
}
