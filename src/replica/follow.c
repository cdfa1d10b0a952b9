/* follow.c - replication follows the primary VM: live moves, storage
 * moves, delete.
 *
 *   live move (src/migrate, through host.h's repl_* hooks):
 *     source: describe --> the wire description carries "replication":
 *       the row (settings, state, seq, stats), the replica server's
 *       fingerprint, and the last acknowledged cycle's maps (base64, when
 *       they fit FL_MAPS_MAX) --> commit --> repl_leaving: the row dropped,
 *       the spool too (shared-nothing only: over shared storage the spool
 *       is the destination's now)
 *     destination: move-in job keeps the carried object in its details
 *       --> `cont` (the commit) --> repl_arrived: maps written into this
 *       host's spool, the row recorded (replica server found by its
 *       fingerprint) --> the next cycle runs from here
 *     rollback: the destination forgets the VM (its row never written);
 *       the source never ran repl_leaving: nothing changed
 *   storage move: the spool follows disk 0's pool; the next cycle looks
 *     for the last acknowledged cycle in every pool of this host and moves
 *     it into the current spool (rp_follow_rehome), and the reference
 *     points' target is rewritten to the spool, so bitmap mode still
 *     matches (the bitmaps moved with the disks)
 *   replica side: a cycle (or a remove) for a replica VM from another
 *     primary host is taken when this replica server allows that host
 *     into the replica's pool; the row's peer becomes that host
 *     (rp_follow_peer).  Otherwise the primary is refused (403) with the
 *     command to allow it, and marks its replication critical.
 *   delete on the primary: the relationship and spool go with the VM;
 *     the replica VM stays on the replica server (Hyper-V's behaviour),
 *     which an event says.  A delete of a cluster's stale copy drops
 *     only its row: spool and disks are the running VM's.
 *   HA restart in a cluster (src/cluster): the relationship is in the
 *     VM's entry of the cluster's state (repl_carry without maps), so
 *     the node that restarts the VM records it (repl_arrived); the
 *     spool is on the shared pool, its reference points are not (the
 *     next cycle compares with the last acknowledged cycle's maps). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define FL_MAPS_MAX (384 * 1024)	/* maps a move carries: its request
					 * stays under JSON_MAX_BODY */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
b64_encode(const unsigned char *p, size_t n)
{
	char *o = xmalloc(4 * ((n + 2) / 3) + 1), *q = o;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 |
		    (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);

		*q++ = b64[v >> 18 & 63];
		*q++ = b64[v >> 12 & 63];
		*q++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*q++ = i + 2 < n ? b64[v & 63] : '=';
	}
	*q = '\0';
	return o;
}

/* Untrusted text: -EINVAL unless it is whole base64. */
static int
b64_decode(const char *s, unsigned char **ret, size_t *ret_n)
{
	size_t n = strlen(s), k = 0;
	unsigned char *o;

	if (n % 4)
		return -EINVAL;
	o = xmalloc(n / 4 * 3 + 1);
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;

		for (int j = 0; j < 4; j++) {
			const char *c = s[i + j] ? strchr(b64, s[i + j]) : NULL;

			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!c || pad) {
				free(o);
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)(c - b64);
		}
		o[k++] = (unsigned char)(v >> 16);
		if (pad < 2)
			o[k++] = (unsigned char)(v >> 8);
		if (pad < 1)
			o[k++] = (unsigned char)v;
	}
	*ret = o;
	*ret_n = k;
	return 0;
}

/* ---- the source: what a move carries ---- */

static json_t *
fl_maps(const struct vm *vm, int64_t seq)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	json_t *maps = json_object();
	size_t total = 0;
	char point[24];

	replica_point_name(seq, point);
	for (size_t i = 0; seq > 0 && i < vm->row->n_disks; i++) {
		_cleanup_free_ char *f = xasprintf("%s/%s/%s/%s.map", spool,
		    vm->row->uuid, point, vm->row->disks[i].name);
		_cleanup_free_ char *buf = NULL, *txt = NULL;
		size_t n = 0;

		if (file_read_all(f, FL_MAPS_MAX, &buf, &n) < 0)
			continue;	/* excluded, or too large: compared */
		if ((total += n) > FL_MAPS_MAX)
			break;
		txt = b64_encode((unsigned char *)buf, n);
		json_object_set_new(maps, vm->row->disks[i].name,
		    json_string(txt));
	}
	return maps;
}

json_t *
rp_row_carry(struct host *h, const struct replication_row *r)
{
	struct host_peer p = { 0 };
	json_t *o;

	(void)host_peer_by_name(h, r->peer, &p, NULL);
	o = json_pack("{ss ss so ss sI so sI}", "peer", r->peer, "peer_fp",
	    p.fp ? p.fp : "", "settings", json_loads(r->settings, 0, NULL) ?:
	    json_object(), "state", r->state, "seq", (json_int_t)r->seq,
	    "stats", rp_stats_load(r->stats), "created_ms",
	    (json_int_t)r->created_ms);
	host_peer_done(&p);
	return o;
}

static json_t *
fl_carry(const struct vm *vm, bool maps)
{
	struct replication_row r;
	json_t *o;

	if (store_replication_get(vm->h->store, vm->row->uuid, &r) < 0)
		return NULL;
	if (!streq(r.role, "primary")) {
		/* a replica: the cluster's state holds it (broker.c) */
		o = maps ? NULL : replica_broker_carry(vm, &r);
		replication_row_done(&r);
		return o;
	}
	o = rp_row_carry(vm->h, &r);
	json_object_set_new(o, "maps", maps ? fl_maps(vm, r.seq) :
	    json_object());
	replication_row_done(&r);
	return o;
}

/* ---- the destination: the relationship arrives ---- */

static int
fl_check(const struct vm *vm, const json_t *o)
{
	static const char *const fields[] = { "peer", "peer_fp", "settings",
		"state", "seq", "stats", "created_ms", "maps", NULL };
	const char *st = rp_str(o, "state"), *k;
	json_t *v;
	struct err e = { 0 };

	if (json_check_fields(o, fields, "replication", &e) < 0 ||
	    !rp_str(o, "peer") || !rp_str(o, "peer_fp") || !st ||
	    (!streq(st, "initial") && !streq(st, "replicating") &&
	    !streq(st, "paused")) || rp_int(o, "seq") < 0 ||
	    !json_is_object(json_object_get(o, "settings")) ||
	    !json_is_object(json_object_get(o, "stats")) ||
	    !json_is_object(json_object_get(o, "maps")))
		return -EINVAL;
	json_object_foreach((json_t *)json_object_get(o, "maps"), k, v) {
		bool mine = false;

		for (size_t i = 0; i < vm->row->n_disks; i++)
			mine |= streq(vm->row->disks[i].name, k);
		if (!mine || !json_is_string(v))
			return -EINVAL;
	}
	return 0;
}

/* The maps into this host's spool as the last acknowledged cycle's. */
static void
fl_write_maps(struct vm *vm, const json_t *o)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *dir = NULL;
	const char *k;
	json_t *v;
	char point[24];

	if (rp_int(o, "seq") <= 0)
		return;
	replica_point_name(rp_int(o, "seq"), point);
	dir = xasprintf("%s/%s/%s", spool, vm->row->uuid, point);
	if (mkdir_p(dir, 0700) < 0)
		return;
	json_object_foreach((json_t *)json_object_get(o, "maps"), k, v) {
		_cleanup_free_ char *f = xasprintf("%s/%s.map", dir, k);
		unsigned char *buf = NULL;
		size_t n = 0;

		if (b64_decode(json_string_value(v), &buf, &n) < 0)
			continue;	/* the map's own check refuses it */
		if (file_write_atomic(f, buf, n, 0600) < 0)
			log_warn("vm '%s': cannot write %s", vm->row->name, f);
		free(buf);
	}
}

static void
fl_arrived(struct vm *vm, const json_t *o)
{
	struct host *h = vm->h;
	struct host_peer p = { 0 };
	_cleanup_free_ char *settings = NULL, *stats = NULL;
	json_t *st;
	struct replication_row row = { .vm_uuid = vm->row->uuid,
		.role = "primary" };

	if (o && streq(rp_str(o, "role"), "replica")) {
		if (replica_broker_arrived(vm, o) < 0)
			host_event(h, "critical", vm, 0, "the replica of vm "
			    "'%s' could not be taken over here",
			    vm->row->name);
		return;
	}
	if (!o || fl_check(vm, o) < 0) {
		if (o)
			host_event(h, "critical", vm, 0, "the replication this "
			    "vm carried is malformed; enable it again");
		return;
	}
	fl_write_maps(vm, o);
	st = json_deep_copy(json_object_get(o, "stats"));
	if (host_peer_by_fp(h, rp_str(o, "peer_fp"), &p) < 0)
		json_object_set_new(st, "critical", json_sprintf("host %s does "
		    "not trust the replica server '%s' (add it with 'tern peer "
		    "add')", h->cfg.name, rp_str(o, "peer")));
	settings = json_dumps(json_object_get(o, "settings"), JSON_COMPACT);
	stats = json_dumps(st, JSON_COMPACT);
	row.peer = p.name ? p.name : (char *)rp_str(o, "peer");
	row.settings = settings;
	row.state = (char *)rp_str(o, "state");
	row.seq = rp_int(o, "seq");
	row.stats = stats;
	row.created_ms = rp_int(o, "created_ms");
	(void)store_replication_delete(h->store, vm->row->uuid);
	if (store_replication_insert(h->store, &row) < 0)
		host_event(h, "critical", vm, 0, "cannot record the vm's "
		    "replication here; enable it again");
	else
		host_event(h, "info", vm, 0, "replication to %s follows the vm "
		    "here (last cycle %lld)", row.peer, (long long)row.seq);
	json_decref(st);
	host_peer_done(&p);
}

/* ---- a VM leaving this host: moved away, or deleted ---- */

/* A VM deleted whose row has a "failover" (src/failover; adopt.c):
 * the files below its disks' images ("chain": a completed failover's
 * points, an adopted copy's own chain) go with it; pending (a replica's
 * failover), every recovery point's file too (its overlays are the
 * disks, removed by the delete). */
static void
fl_failover_files(struct vm *vm, const struct replication_row *r)
{
	json_t *fo = r->failover ? json_loads(r->failover, 0, NULL) : NULL;
	json_t *files, *f;
	const char *disk;
	size_t i;

	if (streq(rp_str(fo, "state"), "pending"))
		rp_points_remove(vm->h, vm);
	json_object_foreach(json_object_get(fo, "chain"), disk, files)
		json_array_foreach(files, i, f)
			(void)unlink(json_string_value(f));
	json_decref(fo);
}

static void
fl_leaving(struct vm *vm, bool deleted, bool spool_shared)
{
	struct replication_row r;
	_cleanup_free_ char *spool = NULL, *vdir = NULL;

	if (store_replication_get(vm->h->store, vm->row->uuid, &r) < 0)
		return;
	if (streq(r.role, "primary") && !spool_shared) {
		spool = replica_spool_dir(vm);
		vdir = xasprintf("%s/%s", spool, vm->row->uuid);
		replica_spool_keep(vdir, NULL);
		(void)rmdir(vdir);
	}
	if (deleted && !spool_shared)
		fl_failover_files(vm, &r);
	(void)store_replication_delete(vm->h->store, vm->row->uuid);
	if (deleted && spool_shared)
		log_info("vm '%s': its stale copy's replication row dropped "
		    "(the node that runs it replicates it)", vm->row->name);
	else if (deleted && streq(r.role, "primary"))
		host_event(vm->h, "warning", vm, 0, "replication to %s removed "
		    "with the vm; its replica stays on %s (remove it there: "
		    "'tern vm replication remove %s [--keep-replica]')", r.peer,
		    r.peer, vm->row->name);
	replication_row_done(&r);
}

void
replica_follow_register(struct host *h)
{
	h->repl_carry = fl_carry;
	h->repl_arrived = fl_arrived;
	h->repl_leaving = fl_leaving;
}

/* ---- a storage move: the last acknowledged cycle found again ---- */

/* Copy the files of from into to (flat), then remove from. */
static int
fl_move_dir(const char *from, const char *to)
{
	DIR *d;
	struct dirent *e;
	int r = 0;

	if (rename(from, to) == 0)
		return 0;
	if (errno != EXDEV || mkdir_p(to, 0700) < 0 || !(d = opendir(from)))
		return -errno;
	while (r == 0 && (e = readdir(d))) {
		_cleanup_free_ char *f = NULL, *t = NULL, *buf = NULL;
		size_t n = 0;

		if (e->d_name[0] == '.')
			continue;
		f = xasprintf("%s/%s", from, e->d_name);
		t = xasprintf("%s/%s", to, e->d_name);
		if ((r = file_read_all(f, 1UL << 30, &buf, &n)) == 0)
			r = file_write_atomic(t, buf, n, 0600);
	}
	closedir(d);
	if (r == 0)
		(void)dir_remove_flat(from);
	return r;
}

/* The cycle directory point of vm in another pool's spool moved into
 * pdir (the current spool's). */
static void
fl_find_point(struct vm *vm, const char *point, const char *pdir)
{
	struct obj_row *rows = NULL;
	size_t n = 0;

	(void)store_obj_list(vm->h->store, STORE_POOL, &rows, &n);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *vdir = xasprintf("%s/.tern-replica/%s",
		    rows[i].a, vm->row->uuid);
		_cleanup_free_ char *d = xasprintf("%s/%s", vdir, point);
		_cleanup_free_ char *up = xstrdup(pdir);

		if (access(d, F_OK) != 0 || streq(d, pdir))
			continue;
		*strrchr(up, '/') = '\0';
		if (mkdir_p(up, 0700) < 0 || fl_move_dir(d, pdir) < 0) {
			log_warn("vm '%s': cannot move its replication spool "
			    "from %s to %s", vm->row->name, d, pdir);
			continue;
		}
		replica_spool_keep(vdir, NULL);
		(void)rmdir(vdir);
		log_info("vm '%s': replication spool moved from %s to %s",
		    vm->row->name, d, pdir);
		break;
	}
	obj_rows_free(rows, n);
}

/* Replication's reference points of vm name spool as their target (a
 * move changed the spool's path): each such point recorded again. */
static void
fl_retarget(struct vm *vm, const char *spool)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;

	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++) {
		if (!streq(rows[i].owner, "replica") || !rows[i].target ||
		    streq(rows[i].target, spool))
			continue;
		(void)store_refpoint_delete(vm->h->store, vm->row->uuid,
		    rows[i].name);
		for (size_t k = i; k < n; k++) {
			if (!streq(rows[k].name, rows[i].name))
				continue;
			free(rows[k].target);
			rows[k].target = xstrdup(spool);
			if (rows[k].map && rows[k].point) {
				free(rows[k].map);
				rows[k].map = xasprintf("%s/%s/%s/%s.map",
				    spool, vm->row->uuid, rows[k].point,
				    rows[k].disk);
			}
			(void)store_refpoint_insert(vm->h->store, &rows[k]);
		}
	}
	refpoint_rows_free(rows, n);
}

void
rp_follow_rehome(struct vm *vm, int64_t seq)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *pdir = NULL;
	char point[24];

	if (seq <= 0)
		return;
	replica_point_name(seq, point);
	pdir = xasprintf("%s/%s/%s", spool, vm->row->uuid, point);
	if (access(pdir, F_OK) != 0)
		fl_find_point(vm, point, pdir);
	fl_retarget(vm, spool);
}

/* ---- the replica side: a primary that moved ---- */

int
rp_follow_peer(struct host *h, struct vm *vm, struct replication_row *r,
    const char *fp, struct err *err)
{
	_cleanup_free_ char *peer = NULL, *pool = NULL;
	const char *mine = vm->row->n_disks ? vm->row->disks[0].pool : NULL;
	int rc;

	if (!streq(r->role, "replica"))
		return -EACCES;
	if ((rc = replica_server_allows(h, fp, &peer, &pool, err)) < 0)
		return rc;
	if (!mine || !streq(pool, mine))
		return err_set(err, -EACCES, "host %s takes replication from "
		    "%s into pool %s, but the replica of vm '%s' is in pool "
		    "%s: allow %s=%s there ('tern replica server enable')",
		    h->cfg.name, peer, pool, vm->row->name, mine ? mine : "-",
		    peer, mine ? mine : "POOL");
	host_event(h, "info", vm, 0, "replication of vm '%s' now comes from "
	    "%s (it was %s: the primary vm moved)", vm->row->name, peer,
	    r->peer);
	free(r->peer);
	r->peer = TAKE_PTR(peer);
	if ((rc = store_replication_update(h->store, r)) < 0)
		return err_setf_errno(err, rc, "cannot record the replication");
	return 0;
}

int
rp_follow_claim(struct host *h, struct vm *vm, const char *fp,
    struct replication_row *ret, struct err *err)
{
	int rc;

	if (store_replication_get(h->store, vm->row->uuid, ret) < 0)
		return err_set(err, -ENOENT, "host %s has no replica of vm "
		    "'%s'", h->cfg.name, vm->row->name);
	if ((rc = rp_follow_peer(h, vm, ret, fp, err)) < 0) {
		replication_row_done(ret);
		if (!err->msg[0])
			err_set(err, -EACCES, "only the primary of vm '%s' "
			    "speaks for its replica on host %s", vm->row->name,
			    h->cfg.name);
		return -EACCES;
	}
	return 0;
}
