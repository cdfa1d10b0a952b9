/* checkpoint.c - starting the checkpoint jobs (every check before the
 * job), the tree as the API shows it, and what the jobs' files share: their
 * QMP replies, the tree, names of files. */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cp_int.h"
#include "jsonutil.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "util.h"
#include "vm_job.h"

/* ---- the jobs' QMP replies ---- */

struct cp_ctx *
cp_ctx(struct job *job)
{
	return job_priv(job, sizeof(struct cp_ctx), NULL);
}

void
cp_ctx_free(struct job *job)
{
	struct cp_ctx *c = job->priv;

	if (!c)
		return;
	vm_batch_free(&c->b);
	json_decref(c->blocks);
	free(c);
	job->priv = NULL;
}

int
cp_qmp(struct job *job, struct qmp_command c)
{
	return vm_batch_qmp(job, &cp_ctx(job)->b, c, CP_QMP_MS);
}

void
cp_qmp_quiet(struct job *job, struct qmp_command c)
{
	vm_batch_quiet(job, &cp_ctx(job)->b, c, CP_QMP_MS);
}

bool
cp_replied(struct job *job)
{
	return cp_ctx(job)->b.pending == 0;
}

void
cp_next(struct job *job, unsigned phase)
{
	struct cp_ctx *c = cp_ctx(job);

	c->sub = 0;
	vm_batch_reset(&c->b);
	job_set_phase(job, phase);
	job_poke(job);
}

int
cp_spawn(struct job *job, const char *const *argv,
    void (*fn)(struct child *ch, int status, void *data))
{
	_cleanup_free_ char *log = vm_state_path(vm_of(job),
	    "checkpoint.log");

	return job_spawn(job, argv, log, fn);
}

int
cp_query_nodes(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);

	if (c->sub == 0 || c->sub == 2) {
		c->sub++;
		(void)cp_qmp(job, c->sub == 1 ? qmp_query_block() :
		    qmp_query_named_block_nodes());
		return 1;
	}
	if (!cp_replied(job))
		return 1;
	if (c->b.failed)
		return -1;
	if (c->sub == 1) {
		json_decref(c->blocks);
		c->blocks = json_incref(c->b.reply);
		c->sub = 2;
		job_poke(job);
		return 1;
	}
	return 0;
}

int
cp_qmp_back(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (vm->pidfd < 0)
		return -1;
	return vm->qmp_ready ? 0 : 1;
}

int
cp_store_tx(struct job *job, int (*fn)(struct job *job, void *arg),
    void *arg)
{
	struct store *st = vm_of(job)->h->store;
	int r;

	if ((r = store_begin(st)) < 0)
		return r;
	r = fn(job, arg);
	if (r < 0)
		store_rollback(st);
	if (store_commit(st) < 0 && r == 0)
		r = -EIO;
	return r;
}

int
cp_make_overlay(struct job *job, const json_t *d, const char *backing,
    void (*fn)(struct child *ch, int status, void *data))
{
	char sz[32];

	snprintf(sz, sizeof(sz), "%lld", (long long)json_integer_value(
	    json_object_get(d, "size")));
	const char *argv[] = { host_of(job)->cfg.qemu_img, "create", "-q",
		"-f", "qcow2", "-b", cp_str(d, backing), "-F", "qcow2",
		cp_str(d, "new"), sz, NULL };
	return cp_spawn(job, argv, fn);
}

bool
cp_nth_bitmap(struct job *job, size_t nth, json_t **ret_d, char *bm)
{
	struct vm *vm = vm_of(job);
	struct refpoint_row *rows = NULL;
	size_t n = 0, k = 0;
	bool found = false;

	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n && !found; i++) {
		json_t *d;
		size_t j;

		json_array_foreach(cp_disks(job), j, d) {
			if (!rows[i].complete || !streq(rows[i].disk,
			    cp_str(d, "name")) || k++ != nth)
				continue;
			track_bitmap_name(bm, rows[i].name);
			*ret_d = d;
			found = true;
			break;
		}
	}
	refpoint_rows_free(rows, n);
	return found;
}

const char *
cp_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

json_t *
cp_disks(const struct job *job)
{
	return json_object_get(job->details, "disks");
}

/* ---- the tree ---- */

int
cp_tree_load(struct vm *vm, struct cp_tree *t)
{
	return store_checkpoint_list(vm->h->store, vm->row->uuid, &t->rows,
	    &t->n);
}

void
cp_tree_free(struct cp_tree *t)
{
	checkpoint_rows_free(t->rows, t->n);
	t->rows = NULL;
	t->n = 0;
}

struct checkpoint_row *
cp_tree_find(struct cp_tree *t, const char *name)
{
	for (size_t i = 0; name && i < t->n; i++)
		if (streq(t->rows[i].name, name))
			return &t->rows[i];
	return NULL;
}

struct checkpoint_row *
cp_tree_current(struct cp_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->rows[i].current)
			return &t->rows[i];
	return NULL;
}

char *
cp_image(const struct checkpoint_row *r, const char *disk)
{
	json_t *o = json_loads(r->images, 0, NULL);
	const char *p = json_string_value(json_object_get(o, disk));
	char *ret = p ? xstrdup(p) : NULL;

	json_decref(o);
	return ret;
}

void
cp_set_image(struct checkpoint_row *r, const char *disk, const char *path)
{
	json_t *o = json_loads(r->images, 0, NULL);

	if (!o)
		o = json_object();
	json_object_set_new(o, disk, json_string(path));
	free(r->images);
	r->images = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
}

bool
cp_tree_holds(const struct cp_tree *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++) {
		json_t *o = json_loads(t->rows[i].images, 0, NULL);
		const char *k;
		json_t *v;
		bool hit = false;

		json_object_foreach(o, k, v)
			hit = hit || streq(json_string_value(v) ?: "", path);
		json_decref(o);
		if (hit)
			return true;
	}
	return false;
}

char *
cp_overlay_path(const struct vm *vm, const char *disk, const char *near)
{
	_cleanup_free_ char *copy = xstrdup(near);
	char *p;

	for (uint64_t ms = wall_ms();; ms++) {
		p = xasprintf("%s/%s-%s.%llu.qcow2", dirname(copy),
		    vm->row->name, disk, (unsigned long long)ms);
		if (access(p, F_OK) != 0)
			return p;
		free(p);
		free(copy);
		copy = xstrdup(near);
	}
}

int
cp_set_disk(struct vm *vm, const char *disk, const char *path)
{
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		struct disk_row *d = &vm->row->disks[i];

		if (!streq(d->name, disk))
			continue;
		free(d->path);
		d->path = xstrdup(path);
		return store_vm_set_disk(vm->h->store, vm->row->uuid, disk,
		    path, d->pool);
	}
	return -ENOENT;
}

/* ---- the API's view ---- */

/* The nearest ancestor of r (or r itself when self) not hidden. */
static const struct checkpoint_row *
shown(struct cp_tree *t, const struct checkpoint_row *r, bool self)
{
	const struct checkpoint_row *p = self ? r : cp_tree_find(t, r->parent);

	for (size_t hops = 0; p && hops <= t->n; hops++) {
		if (!streq(p->status, "hidden"))
			return p;
		p = cp_tree_find(t, p->parent);
	}
	return NULL;
}

json_t *
checkpoint_list_json(struct vm *vm)
{
	struct cp_tree t = { 0 };
	const struct checkpoint_row *cur, *par;
	json_t *a = json_array();

	(void)cp_tree_load(vm, &t);
	cur = cp_tree_current(&t) ? shown(&t, cp_tree_current(&t), true) :
	    NULL;
	for (size_t i = 0; i < t.n; i++) {
		const struct checkpoint_row *r = &t.rows[i];

		if (streq(r->status, "hidden"))
			continue;
		par = shown(&t, r, false);
		json_array_append_new(a, json_pack("{ss ss? ss ss sI sb ss sb}",
		    "name", r->name, "parent", par ? par->name : NULL, "kind",
		    r->kind, "consistency", r->consistency, "created_ms",
		    (json_int_t)r->created_ms, "current", cur == r, "status",
		    r->status, "memory", r->state_file != NULL));
	}
	json_t *o = json_pack("{so ss?}", "checkpoints", a, "current",
	    cur ? cur->name : NULL);
	cp_tree_free(&t);
	return o;
}

/* ---- starting the jobs ---- */

static int
check_name(struct vm *vm, const char *name, bool want, struct err *err)
{
	struct cp_tree t = { 0 };
	struct checkpoint_row *r;
	int ret = 0;

	if (!name_is_valid(name) || strlen(name) > CP_NAME_MAX)
		return err_set(err, -EINVAL, "checkpoint name '%s' is not "
		    "valid: 1 to %d of A-Z a-z 0-9 . _ -, not starting with "
		    ". or -", name, CP_NAME_MAX);
	if (cp_tree_load(vm, &t) < 0)
		return err_set(err, -EIO, "cannot read the checkpoints");
	r = cp_tree_find(&t, name);
	if (r && streq(r->status, "hidden"))
		r = NULL;
	if (!want && r)
		ret = err_set(err, -EEXIST, "vm '%s' already has a checkpoint "
		    "named '%s': choose another name, or delete that one "
		    "first", vm->row->name, name);
	else if (want && !r)
		ret = err_set(err, -ENOENT, "vm '%s' has no checkpoint named "
		    "'%s' (tern vm checkpoint list %s)", vm->row->name, name,
		    vm->row->name);
	else if (want && !streq(r->status, "ready"))
		ret = err_set(err, -EBUSY, "checkpoint '%s' of vm '%s' is "
		    "being deleted (a delete stopped half way): run the "
		    "delete again", name, vm->row->name);
	cp_tree_free(&t);
	return ret;
}

static json_t *
create_details(struct vm *vm, const char *name, const char *kind)
{
	json_t *disks = json_array();
	bool online = vm->state == VM_RUNNING || vm->state == VM_PAUSED;

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const struct disk_row *d = &vm->row->disks[i];
		_cleanup_free_ char *ov = cp_overlay_path(vm, d->name,
		    d->path);

		json_array_append_new(disks, json_pack("{ss ss ss sI}", "name",
		    d->name, "old", d->path, "new", ov, "size",
		    (json_int_t)d->size_bytes));
	}
	return json_pack("{ss ss so sb sb}", "name", name, "kind", kind,
	    "disks", disks, "online", online, "was_running",
	    vm->state == VM_RUNNING);
}

int
checkpoint_create_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "name", "kind", NULL };
	const char *name = NULL, *kind = "production";
	char stamp[32];
	int r;

	if ((r = json_check_fields(body, fields, "checkpoint", err)) < 0 ||
	    (r = json_get_str(body, "name", false, &name, err)) < 0 ||
	    (r = json_get_str(body, "kind", false, &kind, err)) < 0)
		return r;
	if (!kind)
		kind = "production";
	if (!streq(kind, "production") && !streq(kind, "standard"))
		return err_set(err, -EINVAL, "checkpoint kind '%s' is not "
		    "known: production (disks, file systems quiesced) or "
		    "standard (disks and memory)", kind);
	if (!name) {
		snprintf(stamp, sizeof(stamp), "cp-%llu",
		    (unsigned long long)wall_ms());
		name = stamp;
	}
	if ((r = check_name(vm, name, false, err)) < 0)
		return r;
	if (vm->state == VM_SAVED)
		return err_set(err, -EBUSY, "vm '%s' is saved: start it, or "
		    "discard its saved state (tern vm stop), before taking a "
		    "checkpoint", vm->row->name);
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED &&
	    vm->state != VM_OFF && vm->state != VM_CRASHED)
		return err_set(err, -EBUSY, "vm '%s' is %s: a checkpoint is "
		    "taken of a running, paused or turned off VM",
		    vm->row->name, vm_state_name(vm->state));
	if (vm->row->n_disks == 0)
		return err_set(err, -EINVAL, "vm '%s' has no disk",
		    vm->row->name);
	r = vm_job_create(h, &job_vm_checkpoint, vm, create_details(vm, name,
	    kind), ret_job, err);
	if (r == 0)
		job_start(*ret_job);
	return r;
}

int
checkpoint_apply_start(struct host *h, struct vm *vm, const char *name,
    struct job **ret_job, struct err *err)
{
	int r;

	if ((r = check_name(vm, name, true, err)) < 0)
		return r;
	if (!vm_is_down(vm) && vm->state != VM_RUNNING &&
	    vm->state != VM_PAUSED)
		return err_set(err, -EBUSY, "vm '%s' is %s: wait for it to "
		    "settle", vm->row->name, vm_state_name(vm->state));
	r = vm_job_create(h, &job_vm_checkpoint_apply, vm, json_pack("{ss ss}",
	    "name", name, "was", vm_state_name(vm->state)), ret_job, err);
	if (r == 0)
		job_start(*ret_job);
	return r;
}

int
checkpoint_delete_start(struct host *h, struct vm *vm, const char *name,
    struct job **ret_job, struct err *err)
{
	struct cp_tree t = { 0 };
	struct checkpoint_row *c;
	int r;

	if (!name_is_valid(name) || cp_tree_load(vm, &t) < 0)
		return err_set(err, -EINVAL, "checkpoint name '%s' is not "
		    "valid", name);
	c = cp_tree_find(&t, name);
	r = c && !streq(c->status, "hidden") ? 0 : err_set(err, -ENOENT,
	    "vm '%s' has no checkpoint named '%s' (tern vm checkpoint list "
	    "%s)", vm->row->name, name, vm->row->name);
	cp_tree_free(&t);
	if (r < 0)
		return r;
	if (!vm_is_down(vm) && vm->state != VM_RUNNING &&
	    vm->state != VM_PAUSED)
		return err_set(err, -EBUSY, "vm '%s' is %s: wait for it to "
		    "settle", vm->row->name, vm_state_name(vm->state));
	r = vm_job_create(h, &job_vm_checkpoint_delete, vm, json_pack("{ss}",
	    "name", name), ret_job, err);
	if (r == 0)
		job_start(*ret_job);
	return r;
}

void
checkpoint_init(struct host *h)
{
	job_type_register(&h->jobs, &job_vm_checkpoint);
	job_type_register(&h->jobs, &job_vm_checkpoint_apply);
	job_type_register(&h->jobs, &job_vm_checkpoint_delete);
}
