/* refpoint.c - reference points of change tracking: the records, the look
 * at every QEMU run's bitmaps before the vCPUs run, the dirty bytes of
 * each point and the node of each disk (a look every TRACK_TICK_MS),
 * deleting a point, the points of a moving VM.  The design
 * and the diagram: refpoint.h. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "jsonutil.h"
#include "log.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "util.h"
#include "vm.h"

#define TRACK_QMP_MS 10000
#define TRACK_TICK_MS 10000
#define TRACK_MAX_BITMAPS 64

enum { TRACK_NONE, TRACK_LOOKING, TRACK_REMOVING, TRACK_DONE };

void
track_bitmap_name(char buf[TRACK_NAME_MAX + 8], const char *name)
{
	snprintf(buf, TRACK_NAME_MAX + 8, "%s%s", TRACK_BITMAP_PREFIX, name);
}

void
track_lose(struct vm *vm, const char *name, const char *disk,
    const char *why)
{
	char what[160];

	snprintf(what, sizeof(what), "%s%s of %s%s", name ? "since point " :
	    "of every point", name ? name : "", disk ? "disk " : "every disk",
	    disk ? disk : "");
	(void)store_refpoint_lose(vm->h->store, vm->row->uuid, name, disk,
	    why);
	host_event(vm->h, "warning", vm, 0, "change tracking %s is "
	    "incomplete: %s; the next copy from it compares block checksums "
	    "instead", what, why);
}

/* vm->track_counts holds, by "POINT/DISK", each tern- bitmap's dirty
 * bytes at the last look, and by "@DISK" the node the disk's device used
 * then (a storage move renames it; at a start it is "DISK-fmt"). */
void
track_note_node(struct vm *vm, const char *disk, const char *node)
{
	_cleanup_free_ char *key = xasprintf("@%s", disk);

	if (!vm->track_counts)
		vm->track_counts = json_object();
	json_object_set_new(vm->track_counts, key, json_string(node));
}

static void
disk_node(const struct vm *vm, const char *disk,
    char buf[VM_NODE_NAME_MAX])
{
	_cleanup_free_ char *key = xasprintf("@%s", disk);
	const char *n = json_string_value(json_object_get(vm->track_counts,
	    key));

	if (n && strlen(n) < VM_NODE_NAME_MAX)
		snprintf(buf, VM_NODE_NAME_MAX, "%s", n);
	else
		vm_node_name(buf, disk, "fmt", 0);
}

/* The dirty bytes of each tern- bitmap (query-named-block-nodes' reply);
 * the nodes noted stay. */
static void
track_note_counts(struct vm *vm, const json_t *nodes)
{
	struct qmp_bitmap bm[TRACK_MAX_BITMAPS];
	json_t *c = json_object(), *v;
	const char *k0;

	json_object_foreach(vm->track_counts, k0, v)
		if (k0[0] == '@')
			json_object_set(c, k0, v);
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *disk = vm->row->disks[i].name;
		char node[VM_NODE_NAME_MAX];
		size_t n;

		disk_node(vm, disk, node);
		n = qmp_node_bitmap_list(nodes, node, bm, ARRAY_SIZE(bm));
		for (size_t k = 0; k < n && k < ARRAY_SIZE(bm); k++) {
			_cleanup_free_ char *key = NULL;

			if (strncmp(bm[k].name, TRACK_BITMAP_PREFIX,
			    strlen(TRACK_BITMAP_PREFIX)) != 0)
				continue;
			key = xasprintf("%s/%s", bm[k].name +
			    strlen(TRACK_BITMAP_PREFIX), disk);
			json_object_set_new(c, key, json_integer(
			    (json_int_t)bm[k].count));
		}
	}
	json_decref(vm->track_counts);
	vm->track_counts = c;
}

static const struct qmp_bitmap *
find_bitmap(const struct qmp_bitmap *bm, size_t n, const char *name)
{
	char want[TRACK_NAME_MAX + 8];

	track_bitmap_name(want, name);
	for (size_t i = 0; i < n; i++)
		if (streq(bm[i].name, want))
			return &bm[i];
	return NULL;
}

/* Whether bitmap is a complete point's own, consistent one. */
static bool
bitmap_kept(const struct qmp_bitmap *b, const struct refpoint_row *rows,
    size_t n, const char *disk)
{
	char want[TRACK_NAME_MAX + 8];

	if (b->inconsistent)
		return false;
	for (size_t i = 0; i < n; i++) {
		track_bitmap_name(want, rows[i].name);
		if (rows[i].complete && streq(rows[i].disk, disk) &&
		    streq(want, b->name))
			return true;
	}
	return false;
}

static void
on_removed_quiet(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)job;
	if (!ret)
		log_warn("vm '%s': cannot remove a change-tracking bitmap "
		    "(it goes at the next start): %s", vm->row->name, e->msg);
}

static void
on_removed(struct vm *vm, struct job *job, json_t *ret, const struct err *e)
{
	if (!ret)
		log_warn("vm '%s': cannot remove a stale change-tracking "
		    "bitmap: %s", vm->row->name, e->msg);
	if (vm->track_pending > 0 && --vm->track_pending == 0)
		vm->track_step = TRACK_DONE;
	if (job)
		job_poke(job);
}

/* One disk: each complete point's bitmap there and consistent (one more
 * run), or the point lost; bitmaps nobody keeps removed. */
static void
check_disk(struct vm *vm, struct job *job, const json_t *nodes,
    struct refpoint_row *rows, size_t n, const char *disk)
{
	struct qmp_bitmap bm[TRACK_MAX_BITMAPS];
	char node[VM_NODE_NAME_MAX];
	size_t nb;

	vm_node_name(node, disk, "fmt", 0);
	nb = qmp_node_bitmap_list(nodes, node, bm, ARRAY_SIZE(bm));
	nb = MIN(nb, ARRAY_SIZE(bm));
	for (size_t i = 0; i < n; i++) {
		const struct qmp_bitmap *b;

		if (!rows[i].complete || !streq(rows[i].disk, disk))
			continue;
		b = find_bitmap(bm, nb, rows[i].name);
		if (b && !b->inconsistent) {
			(void)store_refpoint_bump(vm->h->store, vm->row->uuid,
			    rows[i].name, disk);
			continue;
		}
		rows[i].complete = false;
		track_lose(vm, rows[i].name, disk, b ? "QEMU stopped without "
		    "saving its bitmap (a crash, or QEMU killed)" :
		    "its bitmap is not in the disk image");
	}
	for (size_t k = 0; k < nb; k++) {
		if (strncmp(bm[k].name, TRACK_BITMAP_PREFIX,
		    strlen(TRACK_BITMAP_PREFIX)) != 0 ||
		    bitmap_kept(&bm[k], rows, n, disk))
			continue;
		if (vm_qmp_cmd(vm, job, qmp_bitmap_remove(node, bm[k].name),
		    TRACK_QMP_MS, on_removed) == 0)
			vm->track_pending++;
	}
}

static void
on_start_nodes(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;

	if (!ret) {
		/* The start fails on its own when QMP is gone; a refused
		 * query leaves nothing known about the bitmaps. */
		log_warn("vm '%s': cannot read the disks' bitmaps: %s",
		    vm->row->name, e->msg);
		track_lose(vm, NULL, NULL, "ternd could not read the bitmaps "
		    "at start");
		vm->track_step = TRACK_DONE;
	} else if (store_refpoint_list(vm->h->store, vm->row->uuid, &rows,
	    &n) == 0) {
		json_decref(vm->track_counts);	/* a new run: DISK-fmt */
		vm->track_counts = NULL;
		vm->track_step = TRACK_REMOVING;
		for (size_t i = 0; i < vm->row->n_disks; i++)
			check_disk(vm, job, ret, rows, n,
			    vm->row->disks[i].name);
		refpoint_rows_free(rows, n);
		track_note_counts(vm, ret);
		if (vm->track_pending == 0)
			vm->track_step = TRACK_DONE;
	} else {
		vm->track_step = TRACK_DONE;
	}
	if (job)
		job_poke(job);
}

static int
track_before_cont(struct vm *vm, struct job *job)
{
	if (vm->track_step == TRACK_DONE)
		return 0;
	if (vm->track_step != TRACK_NONE)
		return 1;
	/* Bitmaps of points this host forgot (a VM moved in, a point
	 * deleted while off) are removed too, so look even with none. */
	vm->track_step = TRACK_LOOKING;
	if (vm_qmp_cmd(vm, job, qmp_query_named_block_nodes(), TRACK_QMP_MS,
	    on_start_nodes) < 0) {
		vm->track_step = TRACK_DONE;
		return 0;
	}
	return 1;
}

static void
on_tick_nodes(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)job;
	(void)e;
	if (ret)
		track_note_counts(vm, ret);
}

static void
on_tick_block(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)job;
	(void)e;
	for (size_t i = 0; ret && i < vm->row->n_disks; i++) {
		const char *node = qmp_block_disk_node(ret,
		    vm->row->disks[i].name, NULL);

		if (node)
			track_note_node(vm, vm->row->disks[i].name, node);
	}
	if (ret)
		(void)vm_qmp_cmd(vm, NULL, qmp_query_named_block_nodes(),
		    TRACK_QMP_MS, on_tick_nodes);
}

/* Every TRACK_TICK_MS: the dirty bytes of the points of running VMs. */
static void
track_tick(struct loop *l, void *data)
{
	struct host *h = data;

	for (size_t i = 0; i < h->n_vms; i++) {
		struct vm *vm = h->vms[i];
		struct refpoint_row *rows = NULL;
		size_t n = 0;

		if ((vm->state != VM_RUNNING && vm->state != VM_PAUSED) ||
		    !vm->qmp_ready)
			continue;
		/* Only VMs with points have bitmaps worth a look. */
		(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows,
		    &n);
		refpoint_rows_free(rows, n);
		if (n > 0)
			(void)vm_qmp_cmd(vm, NULL, qmp_query_block(),
			    TRACK_QMP_MS, on_tick_block);
	}
	(void)loop_timer_add(l, TRACK_TICK_MS, track_tick, h);
}

void
track_init(struct host *h)
{
	h->before_cont = track_before_cont;
	(void)loop_timer_add(h->loop, TRACK_TICK_MS, track_tick, h);
}

int
track_refpoint_add(struct vm *vm, const char *name, const char *owner,
    const char *target, const char *point, const char *map_dir,
    struct err *err)
{
	int r = store_begin(vm->h->store);

	if (r < 0)
		return err_set(err, r, "cannot record reference point '%s' "
		    "of vm '%s' (%s)", name, vm->row->name, strerror(-r));
	for (size_t i = 0; r == 0 && i < vm->row->n_disks; i++) {
		const char *disk = vm->row->disks[i].name;
		_cleanup_free_ char *map = map_dir ? xasprintf("%s/%s.map",
		    map_dir, disk) : NULL;
		struct refpoint_row row = { .vm_uuid = vm->row->uuid,
			.name = (char *)name, .disk = (char *)disk,
			.created_ms = (int64_t)wall_ms(), .complete = true,
			.owner = (char *)owner, .target = (char *)target,
			.point = (char *)point, .map = map };

		r = store_refpoint_insert(vm->h->store, &row);
	}
	if (r < 0)
		store_rollback(vm->h->store);	/* the commit below undoes */
	if (store_commit(vm->h->store) < 0 && r == 0)
		r = -EIO;
	if (r < 0)
		return err_set(err, r, "cannot record reference point '%s' "
		    "of vm '%s' (%s)", name, vm->row->name, strerror(-r));
	return 0;
}

static json_t *
refpoint_disk_json(const struct vm *vm, const struct refpoint_row *r)
{
	_cleanup_free_ char *key = xasprintf("%s/%s", r->name, r->disk);
	json_t *c = json_object_get(vm->track_counts, key);
	json_t *o = json_pack("{ss sI sb}", "disk", r->disk, "gen",
	    (json_int_t)r->gen, "complete", r->complete);

	if (r->reason)
		json_object_set_new(o, "reason", json_string(r->reason));
	if (c && r->complete)
		json_object_set(o, "changed_bytes", c);
	return o;
}

json_t *
track_refpoints_json(struct vm *vm)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;
	json_t *list = json_array(), *cur = NULL;
	uint64_t now = wall_ms();

	if (store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n) < 0)
		return list;
	for (size_t i = 0; i < n; i++) {
		const struct refpoint_row *r = &rows[i];

		if (!cur || !streq(json_string_value(json_object_get(cur,
		    "name")), r->name)) {
			cur = json_pack("{ss ss sI sI s[]}", "name", r->name,
			    "owner", r->owner, "created_ms",
			    (json_int_t)r->created_ms, "age_s", (json_int_t)
			    ((now - (uint64_t)r->created_ms) / 1000), "disks");
			if (r->target)
				json_object_set_new(cur, "target",
				    json_string(r->target));
			if (r->point)
				json_object_set_new(cur, "point",
				    json_string(r->point));
			json_array_append_new(list, cur);
		}
		json_array_append_new(json_object_get(cur, "disks"),
		    refpoint_disk_json(vm, r));
	}
	refpoint_rows_free(rows, n);
	return list;
}

void
track_refpoint_drop(struct vm *vm, const char *name)
{
	char bitmap[TRACK_NAME_MAX + 8];

	(void)store_refpoint_delete(vm->h->store, vm->row->uuid, name);
	track_bitmap_name(bitmap, name);
	for (size_t i = 0; vm->qmp_ready && i < vm->row->n_disks; i++) {
		char node[VM_NODE_NAME_MAX];

		disk_node(vm, vm->row->disks[i].name, node);
		(void)vm_qmp_cmd(vm, NULL, qmp_bitmap_remove(node, bitmap),
		    TRACK_QMP_MS, on_removed_quiet);
	}
}

int
track_refpoint_delete(struct vm *vm, const char *name, struct err *err)
{
	struct job *busy = vm_job(vm);
	struct refpoint_row *rows = NULL;
	size_t n = 0;
	bool found = false;

	if (busy)
		return err_set(err, -EBUSY, "vm '%s' is busy with job %lld "
		    "(%s); delete the reference point once it ends",
		    vm->row->name, (long long)busy->row->id, busy->row->type);
	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++)
		found = found || streq(rows[i].name, name);
	refpoint_rows_free(rows, n);
	if (!found)
		return err_set(err, -ENOENT, "vm '%s' has no reference point "
		    "'%s' (see: tern vm refpoint list %s)", vm->row->name,
		    name, vm->row->name);
	track_refpoint_drop(vm, name);
	host_event(vm->h, "info", vm, 0, "reference point '%s' deleted",
	    name);
	return 0;
}

/* ---- across a move: the points travel with the VM's description ---- */

json_t *
track_refpoints_export(const struct vm *vm)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;
	json_t *a = json_array();

	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++) {
		const struct refpoint_row *r = &rows[i];
		json_t *o = json_pack("{ss ss sI sI sb ss}", "name", r->name,
		    "disk", r->disk, "created_ms", (json_int_t)r->created_ms,
		    "gen", (json_int_t)r->gen, "complete", r->complete,
		    "owner", r->owner);

		if (r->reason)
			json_object_set_new(o, "reason", json_string(r->reason));
		if (r->target)
			json_object_set_new(o, "target", json_string(r->target));
		if (r->point)
			json_object_set_new(o, "point", json_string(r->point));
		if (r->map)
			json_object_set_new(o, "map", json_string(r->map));
		json_array_append_new(a, o);
	}
	refpoint_rows_free(rows, n);
	return a;
}

static bool
row_has_disk(const struct vm_row *row, const char *disk)
{
	for (size_t i = 0; i < row->n_disks; i++)
		if (streq(row->disks[i].name, disk))
			return true;
	return false;
}

/* One point of a peer's list, checked into *r (strings borrowed). */
static int
refpoint_parse(const json_t *o, const struct vm_row *row,
    struct refpoint_row *r, struct err *err)
{
	static const char *const fields[] = { "name", "disk", "created_ms",
		"gen", "complete", "owner", "reason", "target", "point", "map",
		NULL };
	const char *s[7] = { 0 };
	int64_t created = 0, gen = 0;
	bool complete = false;
	int rc;

	if ((rc = json_check_fields_in(o, fields, "refpoints", err)) < 0 ||
	    (rc = json_get_str(o, "name", true, &s[0], err)) < 0 ||
	    (rc = json_get_str(o, "disk", true, &s[1], err)) < 0 ||
	    (rc = json_get_str(o, "owner", true, &s[2], err)) < 0 ||
	    (rc = json_get_str(o, "reason", false, &s[3], err)) < 0 ||
	    (rc = json_get_str(o, "target", false, &s[4], err)) < 0 ||
	    (rc = json_get_str(o, "point", false, &s[5], err)) < 0 ||
	    (rc = json_get_str(o, "map", false, &s[6], err)) < 0 ||
	    (rc = json_get_int(o, "created_ms", true, 0, INT64_MAX, &created,
	    err)) < 0 ||
	    (rc = json_get_int(o, "gen", true, 0, INT64_MAX, &gen, err)) < 0 ||
	    (rc = json_get_bool(o, "complete", &complete, err)) < 0)
		return rc;
	if (!name_is_valid(s[0]) || strlen(s[0]) > TRACK_NAME_MAX)
		return err_set(err, -EINVAL, "refpoints: invalid name");
	if (!row_has_disk(row, s[1]))
		return err_set(err, -EINVAL, "refpoints: point '%s' names "
		    "disk '%.16s', which the vm has not", s[0], s[1]);
	for (size_t i = 2; i < ARRAY_SIZE(s); i++)
		if (s[i] && strlen(s[i]) > 4096)
			return err_set(err, -EINVAL, "refpoints: a field of "
			    "point '%s' is too long", s[0]);
	*r = (struct refpoint_row){ .vm_uuid = (char *)row->uuid,
		.name = (char *)s[0], .disk = (char *)s[1],
		.created_ms = created, .gen = gen, .complete = complete,
		.owner = (char *)s[2], .reason = (char *)s[3],
		.target = (char *)s[4], .point = (char *)s[5],
		.map = (char *)s[6] };
	return 0;
}

json_t *
track_bitmap_mapping(struct vm *vm, const json_t *blocks)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;
	json_t *map = json_array();

	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *disk = vm->row->disks[i].name;
		char node[VM_NODE_NAME_MAX], bm[TRACK_NAME_MAX + 8];
		const char *bnode = blocks ? qmp_block_disk_node(blocks, disk,
		    NULL) : NULL;
		json_t *list = json_array();

		vm_node_name(node, disk, "fmt", 0);
		for (size_t k = 0; k < n; k++) {
			if (!rows[k].complete || !streq(rows[k].disk, disk))
				continue;
			track_bitmap_name(bm, rows[k].name);
			json_array_append_new(list, json_pack("{ss ss}", "name",
			    bm, "alias", bm));
		}
		if (json_array_size(list) == 0 || (blocks && !bnode)) {
			json_decref(list);
			continue;
		}
		json_array_append_new(map, json_pack("{ss ss so}", "node-name",
		    bnode ? bnode : node, "alias", disk, "bitmaps", list));
	}
	refpoint_rows_free(rows, n);
	if (json_array_size(map) == 0) {
		json_decref(map);
		return NULL;
	}
	return map;
}

int
track_refpoints_import(struct store *st, const struct vm_row *row,
    const json_t *arr, bool copied, struct err *err)
{
	const json_t *o;
	size_t i;
	int r;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > TRACK_IMPORT_MAX)
		return err_set(err, -EINVAL, "refpoints: an array of at most "
		    "%d points expected", TRACK_IMPORT_MAX);
	json_array_foreach(arr, i, o) {
		struct refpoint_row rp;

		if ((r = refpoint_parse(o, row, &rp, err)) < 0)
			return r;
		if (copied && rp.complete) {
			/* Copied while off: without the bitmaps. */
			rp.complete = false;
			rp.reason = (char *)"the disks were copied by a "
			    "move, without the bitmaps";
		}
		if (st && (r = store_refpoint_insert(st, &rp)) < 0)
			return err_set(err, r, "cannot record reference point "
			    "'%s' (%s)", rp.name, strerror(-r));
	}
	return 0;
}
