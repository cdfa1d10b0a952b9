/* delete.c - vm.checkpoint-delete: a checkpoint goes; what the VM and the
 * other checkpoints read stays the same.  The checkpoint's frozen image I
 * and the one image X built on it (the next checkpoint's, or the VM's
 * current overlay) are merged: X committed into I, which takes X's place.
 *
 *   start: what the tree says --
 *     drop   nothing builds on I: I and the memory file removed
 *     hide   two or more build on I: the checkpoint leaves the list, I
 *            stays while they need it (removed once nothing does)
 *     merge  one builds on I: --> mark (status deleting: I is about to
 *            change, the checkpoint can no longer be applied)
 *       offline (QEMU not running, or I not under the running disks):
 *         [X the VM's overlay: bitmaps (each reference point's bitmap
 *         copied from X into I, qemu-img bitmap)] --> commit (qemu-img
 *         commit X into I) --> rebase (what built on X now builds on I,
 *         qemu-img rebase -u)
 *       online: --> commit: query (nodes of X and I), block-commit per
 *         disk; an active commit (X the VM's overlay): READY, the
 *         reference points' bitmaps merged into I (one transaction; the
 *         commit's own writes land in them too), job-complete: QEMU writes
 *         to I from then --> rebase (the images off the running chain)
 *     --> record (one store transaction: I in X's place, the checkpoints
 *     that built on this one build on its parent, the row gone) -->
 *     cleanup (X and the memory file removed; hidden checkpoints nothing
 *     builds on any more dropped) --> done
 *
 *   any failure before record: the job fails and the checkpoint stays
 *   marked deleting, what the VM reads unchanged (X still whole: commit
 *   keeps it, -d); running the delete again finishes it.  ternd
 *   restarted: the step runs again from its start (a commit again writes
 *   the same data). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cp_int.h"
#include "log.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "util.h"

enum dl_phase { DL_PH_START, DL_PH_MARK, DL_PH_BITMAPS, DL_PH_COMMIT,
		DL_PH_REBASE, DL_PH_RECORD, DL_PH_CLEANUP, DL_PH__COUNT };
static const char *const dl_phase_names[DL_PH__COUNT] = {
	[DL_PH_START] = "start", [DL_PH_MARK] = "mark",
	[DL_PH_BITMAPS] = "bitmaps", [DL_PH_COMMIT] = "commit",
	[DL_PH_REBASE] = "rebase", [DL_PH_RECORD] = "record",
	[DL_PH_CLEANUP] = "cleanup",
};

static void
dl_fail(struct job *job, const char *why)
{
	struct vm *vm = vm_of(job);

	job_finish(job, -EIO, "checkpoint '%s' of vm '%s' not deleted: %s%s",
	    cp_str(job->details, "name"), vm->row->name, why,
	    job_phase_is(job, DL_PH_START) ? "" : "; what the VM reads is "
	    "unchanged: run the delete again to finish it");
}

static const char *
dl_mode(const struct job *job)
{
	return cp_str(job->details, "mode");
}

static bool
dl_online(const struct job *job)
{
	return json_is_true(json_object_get(job->details, "online"));
}

static bool
dl_active(const struct job *job)
{
	return !json_object_get(job->details, "child") ||
	    json_is_null(json_object_get(job->details, "child"));
}

/* ---- start: what the tree says ---- */

/* Images of the VM's running chain for disk: its file, then down. */
static bool
in_chain(struct cp_tree *t, const char *name)
{
	struct checkpoint_row *r = cp_tree_current(t);

	for (size_t hops = 0; r && hops <= t->n; hops++) {
		if (streq(r->name, name))
			return true;
		r = cp_tree_find(t, r->parent);
	}
	return false;
}

/* Per disk: I, X and the images built on X to point at I. */
static json_t *
dl_disks(struct vm *vm, struct cp_tree *t, struct checkpoint_row *c,
    struct checkpoint_row *child, bool online)
{
	json_t *disks = json_array();

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const struct disk_row *d = &vm->row->disks[i];
		_cleanup_free_ char *img = cp_image(c, d->name);
		_cleanup_free_ char *x = child ? cp_image(child, d->name) :
		    xstrdup(d->path);
		json_t *kids = json_array();

		for (size_t k = 0; child && k < t->n; k++) {
			_cleanup_free_ char *p = NULL;

			if (!t->rows[k].parent || !streq(t->rows[k].parent,
			    child->name) || (online && in_chain(t,
			    t->rows[k].name)))
				continue;
			if ((p = cp_image(&t->rows[k], d->name)))
				json_array_append_new(kids, json_string(p));
		}
		if (child && child->current && !online)
			json_array_append_new(kids, json_string(d->path));
		json_array_append_new(disks, json_pack("{ss ss? ss? so}",
		    "name", d->name, "image", img, "x", x, "kids", kids));
	}
	return disks;
}

static int
dl_start(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_tree t = { 0 };
	struct checkpoint_row *c, *child = NULL;
	size_t n_kids = 0;
	bool online;

	if (cp_tree_load(vm, &t) < 0 ||
	    !(c = cp_tree_find(&t, cp_str(job->details, "name")))) {
		cp_tree_free(&t);
		return -ENOENT;
	}
	for (size_t i = 0; i < t.n; i++)
		if (t.rows[i].parent && streq(t.rows[i].parent, c->name)) {
			child = &t.rows[i];
			n_kids++;
		}
	if (c->current)
		n_kids++;
	online = vm->pidfd >= 0 && in_chain(&t, c->name);
	json_object_set_new(job->details, "mode", json_string(n_kids == 0 ?
	    "drop" : n_kids > 1 ? "hide" : "merge"));
	json_object_set_new(job->details, "online", json_boolean(online));
	json_object_set_new(job->details, "child", c->current || !child ?
	    json_null() : json_string(child->name));
	json_object_set_new(job->details, "disks", dl_disks(vm, &t, c,
	    c->current ? NULL : child, online));
	cp_tree_free(&t);
	return 0;
}

/* ---- mark ---- */

static int
dl_set_status(struct vm *vm, const char *name, const char *status)
{
	struct cp_tree t = { 0 };
	struct checkpoint_row *c;
	int r = -ENOENT;

	if (cp_tree_load(vm, &t) == 0 && (c = cp_tree_find(&t, name))) {
		free(c->status);
		c->status = xstrdup(status);
		if (streq(status, "hidden") && c->state_file) {
			(void)unlink(c->state_file);
			free(c->state_file);
			c->state_file = NULL;
		}
		r = store_checkpoint_update(vm->h->store, c);
	}
	cp_tree_free(&t);
	return r;
}

static void
dl_mark(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (dl_set_status(vm, cp_str(job->details, "name"), "deleting") < 0) {
		dl_fail(job, "cannot record the delete");
		return;
	}
	cp_next(job, dl_online(job) ? DL_PH_COMMIT : dl_active(job) ?
	    DL_PH_BITMAPS : DL_PH_COMMIT);
}

/* ---- offline: bitmaps, commit, rebase (qemu-img, one at a time) ---- */

static void
on_tool(struct child *ch, int status, void *data)
{
	struct job *job = data;
	struct cp_ctx *c = cp_ctx(job);

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0 && !job_phase_is(job, DL_PH_BITMAPS)) {
		dl_fail(job, "qemu-img failed (see the VM's checkpoint.log)");
		return;
	}
	if (status != 0 && c->sub % 2 == 1)
		json_object_set_new(job->details, "bitmap_lost", json_true());
	c->sub++;
	job_poke(job);
}

/* Each complete reference point's bitmap on disk d: the stale one in I
 * removed (sub even), X's copied in (odd). */
static void
dl_bitmaps(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);
	char bm[TRACK_NAME_MAX + 8];
	json_t *d;

	if (job->child)
		return;
	if (!cp_nth_bitmap(job, c->sub / 2, &d, bm)) {
		if (json_is_true(json_object_get(job->details, "bitmap_lost")))
			track_lose(vm, NULL, NULL, "a checkpoint was merged "
			    "and a bitmap could not be carried");
		cp_next(job, DL_PH_COMMIT);
		return;
	}
	const char *rm[] = { vm->h->cfg.qemu_img, "bitmap", "--remove", "-f",
		"qcow2", cp_str(d, "image"), bm, NULL };
	const char *cp[] = { vm->h->cfg.qemu_img, "bitmap", "--add",
		"--merge", bm, "-b", cp_str(d, "x"), "-F", "qcow2", "-f",
		"qcow2", cp_str(d, "image"), bm, NULL };
	if (cp_spawn(job, c->sub % 2 ? cp : rm, on_tool) < 0)
		c->sub++;
}

static void
dl_commit_offline(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	json_t *d = json_array_get(cp_disks(job), c->sub);

	if (job->child)
		return;
	if (!d) {
		cp_next(job, DL_PH_REBASE);
		return;
	}
	const char *argv[] = { host_of(job)->cfg.qemu_img, "commit", "-q",
		"-d", "-f", "qcow2", "-b", cp_str(d, "image"), cp_str(d, "x"),
		NULL };
	if (cp_spawn(job, argv, on_tool) < 0)
		dl_fail(job, "cannot run qemu-img");
}

static void
dl_rebase(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	json_t *d;
	size_t i, k, at = 0;

	if (job->child)
		return;
	json_array_foreach(cp_disks(job), i, d) {
		json_t *kid;

		json_array_foreach(json_object_get(d, "kids"), k, kid) {
			if (at++ != c->sub)
				continue;
			const char *argv[] = { host_of(job)->cfg.qemu_img,
				"rebase", "-q", "-u", "-f", "qcow2", "-b",
				cp_str(d, "image"), "-F", "qcow2",
				json_string_value(kid), NULL };
			if (cp_spawn(job, argv, on_tool) < 0)
				dl_fail(job, "cannot run qemu-img");
			return;
		}
	}
	cp_next(job, DL_PH_RECORD);
}

/* ---- online: block-commit ---- */

/* "cpcA-DISK-JOB": A counts the attempts (a restart begins another). */
static void
dl_job_id(const struct job *job, const json_t *d, char buf[VM_NODE_NAME_MAX])
{
	char what[16];

	snprintf(what, sizeof(what), "cpc%lld", (long long)json_integer_value(
	    json_object_get(job->details, "attempt")));
	vm_block_id(buf, what, cp_str(d, "name"), job->row->id);
}

/* A QEMU job of an earlier attempt of this job. */
static bool
dl_old_job(const struct job *job, const char *id)
{
	char tail[32];
	size_t n = strlen(id), k;

	k = (size_t)snprintf(tail, sizeof(tail), "-%lld",
	    (long long)job->row->id);
	return strncmp(id, "cpc", 3) == 0 && n > k &&
	    streq(id + n - k, tail);
}

/* After a restart: the commits an earlier attempt left in QEMU cancelled
 * (an active commit not yet switched keeps the VM on X) and dismissed;
 * true once none is left. */
static bool
dl_clear_old(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	const json_t *j;
	size_t i;
	bool left = false;

	if (c->sub == 0) {
		c->sub = 1;
		(void)cp_qmp(job, qmp_query_jobs());
		return false;
	}
	if (!cp_replied(job))
		return false;
	json_array_foreach(c->b.failed ? NULL : c->b.reply, i, j) {
		const char *id = json_string_value(json_object_get(j, "id"));
		const char *st = json_string_value(json_object_get(j,
		    "status"));

		if (!id || !st || !dl_old_job(job, id))
			continue;
		left = true;
		cp_qmp_quiet(job, streq(st, "concluded") ? qmp_job_dismiss(id) :
		    qmp_job_cancel(id));
	}
	c->sub = 0;
	if (left)
		job_wake_after(job, CP_POLL_MS);
	return !left;
}

/* The nodes of the device, X and I, from the two queries' replies. */
static int
dl_nodes(struct job *job, const json_t *blocks, const json_t *nodes)
{
	json_t *d;
	size_t i;

	json_array_foreach(cp_disks(job), i, d) {
		const char *file = NULL;
		const char *dev = qmp_block_disk_node(blocks, cp_str(d, "name"),
		    &file);
		const char *top = dl_active(job) ? dev : qmp_node_of_file(
		    nodes, cp_str(d, "x"));
		const char *base = qmp_node_of_file(nodes, cp_str(d, "image"));
		struct qmp_bitmap bm[64];
		size_t nb;
		json_t *on_base = json_array();

		/* An earlier attempt's commit ended while ternd was down:
		 * X is out of the chain (the device on I, for an active
		 * one). */
		if (dev && base && (dl_active(job) ? file && streq(file,
		    cp_str(d, "image")) : !top)) {
			json_object_set_new(d, "done", json_true());
			json_object_set_new(d, "base", json_string(base));
			json_decref(on_base);
			continue;
		}
		if (!dev || !top || !base)
			return -ENOENT;
		nb = qmp_node_bitmap_list(nodes, base, bm, ARRAY_SIZE(bm));
		for (size_t k = 0; k < MIN(nb, ARRAY_SIZE(bm)); k++)
			json_array_append_new(on_base, json_string(bm[k].name));
		json_object_set_new(d, "dev", json_string(dev));
		json_object_set_new(d, "top", json_string(top));
		json_object_set_new(d, "base", json_string(base));
		json_object_set_new(d, "on_base", on_base);
		nb = qmp_node_bitmap_list(nodes, top, bm, ARRAY_SIZE(bm));
		json_t *on_top = json_array();
		for (size_t k = 0; k < MIN(nb, ARRAY_SIZE(bm)); k++)
			if (strncmp(bm[k].name, TRACK_BITMAP_PREFIX,
			    strlen(TRACK_BITMAP_PREFIX)) == 0)
				json_array_append_new(on_top,
				    json_string(bm[k].name));
		json_object_set_new(d, "on_top", on_top);
	}
	return 0;
}

static bool
has_name(const json_t *a, const char *name)
{
	const json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (streq(json_string_value(v) ?: "", name))
			return true;
	return false;
}

/* At READY: each of X's tern- bitmaps into I (added where missing). */
static json_t *
carry_actions(struct job *job)
{
	json_t *a = json_array(), *d, *b;
	size_t i, k;

	json_array_foreach(cp_disks(job), i, d) {
		const char *base = cp_str(d, "base");

		if (json_is_true(json_object_get(d, "done")))
			continue;

		json_array_foreach(json_object_get(d, "on_top"), k, b) {
			const char *name = json_string_value(b);

			if (!has_name(json_object_get(d, "on_base"), name))
				json_array_append_new(a, qmp_tx_bitmap_add(base,
				    name, true, false));
			json_array_append_new(a, qmp_tx_bitmap_copy(base, name,
			    cp_str(d, "top")));
		}
	}
	return a;
}

/* Every commit in the state wanted: ready (active) or ended. -EIO: one
 * failed (its error in *why). */
static int
dl_jobs_are(struct job *job, bool ready, const char **why)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;
	int all = 1;

	json_array_foreach(cp_disks(job), i, d) {
		char id[VM_NODE_NAME_MAX];
		struct vm_block_job *b;

		if (json_is_true(json_object_get(d, "done")))
			continue;
		dl_job_id(job, d, id);
		b = vm_block_job_find(vm, id);
		if (!b)
			return 0;
		if (b->error || (b->ended && ready)) {
			*why = b->error ?: "the commit ended before it was "
			    "ready";
			return -EIO;
		}
		if (ready ? !b->ready : !b->ended)
			all = 0;
	}
	return all;
}

static void
dl_commit_start(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;

	json_array_foreach(cp_disks(job), i, d) {
		char id[VM_NODE_NAME_MAX];

		if (json_is_true(json_object_get(d, "done")))
			continue;
		dl_job_id(job, d, id);
		(void)vm_block_job_track(vm, id);
		(void)cp_qmp(job, qmp_block_commit(id, cp_str(d, "dev"),
		    cp_str(d, "top"), cp_str(d, "base")));
	}
}

/* The bitmaps carried (or lost, said so): QEMU switches to I. */
static void
dl_switch(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);
	json_t *d;
	size_t i;

	if (c->b.failed) {
		_cleanup_free_ char *why = xasprintf("the bitmaps could not "
		    "be carried when checkpoint '%s' was merged (%s)",
		    cp_str(job->details, "name"), c->b.err);

		track_lose(vm, NULL, NULL, why);
		c->b.failed = false;
	}
	c->sub = 6;
	json_array_foreach(cp_disks(job), i, d) {
		char id[VM_NODE_NAME_MAX];

		if (json_is_true(json_object_get(d, "done")))
			continue;
		dl_job_id(job, d, id);
		(void)cp_qmp(job, qmp_job_complete(id));
	}
}

/* Every commit ended: the disks read through I. */
static void
dl_switched(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;

	json_array_foreach(cp_disks(job), i, d) {
		char id[VM_NODE_NAME_MAX];

		dl_job_id(job, d, id);
		if (!json_is_true(json_object_get(d, "done")))
			cp_qmp_quiet(job, qmp_job_dismiss(id));
		if (!dl_active(job))
			continue;
		track_note_node(vm, cp_str(d, "name"), cp_str(d, "base"));
		/* X's node, if we added it; gone by itself otherwise. */
		if (cp_str(d, "top"))
			cp_qmp_quiet(job, qmp_blockdev_del(cp_str(d, "top")));
	}
	vm_block_jobs_forget(vm);
	cp_next(job, DL_PH_REBASE);
}

/* The queries (sub 0 to 3), the commits (4: running), READY and the
 * bitmaps (5), job-complete (6: switching). */
static void
dl_commit_online(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	const char *why = NULL;
	int r;

	if (c->sub < 4 && (r = cp_query_nodes(job)) != 0) {
		if (r < 0)
			dl_fail(job, c->b.err);
		return;
	}
	if (!cp_replied(job))
		return;
	if (c->b.failed && c->sub != 5) {
		dl_fail(job, c->b.err);
		return;
	}
	if (c->sub == 3) {
		r = dl_nodes(job, c->blocks, c->b.reply);
		if (r < 0) {
			dl_fail(job, "QEMU does not show the checkpoint's "
			    "images under the disk");
			return;
		}
		c->sub = 4;
		dl_commit_start(job);
	} else if (c->sub == 4 || c->sub == 6) {
		bool ready = c->sub == 4 && dl_active(job);

		r = dl_jobs_are(job, ready, &why);
		if (r < 0) {
			dl_fail(job, why);
		} else if (r > 0 && ready) {
			json_t *a = carry_actions(job);

			c->sub = 5;
			if (json_array_size(a) > 0)
				(void)cp_qmp(job, qmp_transaction(a));
			else
				json_decref(a);
			job_poke(job);
		} else if (r > 0) {
			dl_switched(job);
		}
	} else if (c->sub == 5) {
		if (job_failpoint(job, "checkpoint.switch") > 0)
			return;
		dl_switch(job);
	}
}

static void
dl_commit(struct job *job)
{
	json_int_t attempt = json_integer_value(json_object_get(job->details,
	    "attempt"));

	if (job->recovering) {
		if (dl_online(job) && cp_qmp_back(job) > 0)
			return;
		if (dl_online(job) && cp_qmp_back(job) < 0) {
			job->recovering = false;
			dl_fail(job, "QEMU is gone");
			return;
		}
		job->recovering = false;
		cp_ctx(job)->sub = 0;	/* again from the start */
		json_object_set_new(job->details, "clearing", json_true());
		json_object_set_new(job->details, "attempt",
		    json_integer(attempt + 1));
	}
	if (json_is_true(json_object_get(job->details, "clearing"))) {
		if (!dl_online(job) || dl_clear_old(job))
			json_object_del(job->details, "clearing");
		if (json_object_get(job->details, "clearing"))
			return;
	}
	if (dl_online(job))
		dl_commit_online(job);
	else
		dl_commit_offline(job);
}

/* ---- record, cleanup ---- */

static int
dl_record_rows(struct job *job, void *arg)
{
	struct vm *vm = vm_of(job);
	struct cp_tree *t = arg;
	struct checkpoint_row *c = cp_tree_find(t, cp_str(job->details,
	    "name"));
	struct checkpoint_row *child = cp_tree_find(t, cp_str(job->details,
	    "child"));
	json_t *d;
	size_t i;
	int r = 0;

	if (streq(dl_mode(job), "merge")) {
		json_array_foreach(cp_disks(job), i, d) {
			if (child)
				cp_set_image(child, cp_str(d, "name"),
				    cp_str(d, "image"));
			else if (r == 0)
				r = cp_set_disk(vm, cp_str(d, "name"),
				    cp_str(d, "image"));
		}
		if (child && r == 0)
			r = store_checkpoint_update(vm->h->store, child);
		if (!child && r == 0)
			r = store_checkpoint_set_current(vm->h->store,
			    vm->row->uuid, c->parent);
	}
	if (r == 0)
		r = store_checkpoint_reparent(vm->h->store, vm->row->uuid,
		    c->name, c->parent);
	if (r == 0)
		r = store_checkpoint_delete(vm->h->store, vm->row->uuid,
		    c->name);
	return r;
}

static void
dl_record(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_tree t = { 0 };
	struct checkpoint_row *c;
	int r = -ENOENT;

	if (streq(dl_mode(job), "hide")) {
		r = dl_set_status(vm, cp_str(job->details, "name"), "hidden");
		if (r < 0)
			dl_fail(job, "cannot record the delete");
		else
			cp_next(job, DL_PH_CLEANUP);
		return;
	}
	if (cp_tree_load(vm, &t) == 0 &&
	    (c = cp_tree_find(&t, cp_str(job->details, "name")))) {
		json_object_set_new(job->details, "state_file", c->state_file ?
		    json_string(c->state_file) : json_null());
		r = cp_store_tx(job, dl_record_rows, &t);
	}
	cp_tree_free(&t);
	if (r < 0) {
		dl_fail(job, "cannot record the delete");
		return;
	}
	cp_next(job, DL_PH_CLEANUP);
}

/* Hidden checkpoints nothing builds on: their images and rows go. */
static void
dl_gc(struct vm *vm)
{
	struct cp_tree t = { 0 };

	for (bool again = true; again;) {
		again = false;
		(void)cp_tree_load(vm, &t);
		for (size_t i = 0; i < t.n && !again; i++) {
			struct checkpoint_row *h = &t.rows[i];
			bool used = h->current;

			for (size_t k = 0; k < t.n; k++)
				used = used || (t.rows[k].parent &&
				    streq(t.rows[k].parent, h->name));
			if (!streq(h->status, "hidden") || used)
				continue;
			json_t *o = json_loads(h->images, 0, NULL);
			const char *key;
			json_t *v;

			json_object_foreach(o, key, v)
				(void)unlink(json_string_value(v) ?: "");
			json_decref(o);
			again = store_checkpoint_delete(vm->h->store,
			    vm->row->uuid, h->name) == 0;
		}
		cp_tree_free(&t);
	}
}

static void
dl_cleanup(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *mode = dl_mode(job);
	struct cp_tree t = { 0 };
	json_t *d;
	size_t i;

	(void)cp_tree_load(vm, &t);
	json_array_foreach(cp_disks(job), i, d) {
		const char *gone = streq(mode, "drop") ? cp_str(d, "image") :
		    streq(mode, "merge") ? cp_str(d, "x") : NULL;

		if (gone && !cp_tree_holds(&t, gone))
			(void)unlink(gone);
	}
	cp_tree_free(&t);
	if (cp_str(job->details, "state_file"))
		(void)unlink(cp_str(job->details, "state_file"));
	dl_gc(vm);
	host_event(vm->h, "info", vm, job->row->id, "checkpoint '%s' deleted%s",
	    cp_str(job->details, "name"), streq(mode, "merge") ?
	    (dl_online(job) ? " (merged while the VM ran)" : " (merged)") :
	    streq(mode, "hide") ? " (its image stays while other checkpoints "
	    "build on it)" : "");
	job_finish(job, 0, NULL);
}

static void
dl_step(struct job *job)
{
	if (vm_job_gone(job))
		return;
	switch ((enum dl_phase)job->phase) {
	case DL_PH_START:
		if (dl_start(job) < 0) {
			dl_fail(job, "the checkpoint is gone");
			return;
		}
		cp_next(job, streq(dl_mode(job), "merge") ? DL_PH_MARK :
		    DL_PH_RECORD);
		break;
	case DL_PH_MARK:	dl_mark(job); break;
	case DL_PH_BITMAPS:	dl_bitmaps(job); break;
	case DL_PH_COMMIT:	dl_commit(job); break;
	case DL_PH_REBASE:	dl_rebase(job); break;
	case DL_PH_RECORD:	dl_record(job); break;
	case DL_PH_CLEANUP:	dl_cleanup(job); break;
	case DL_PH__COUNT:	break;
	}
}

const struct job_ops job_vm_checkpoint_delete = {
    .type = "vm.checkpoint-delete", .phases = dl_phase_names,
    .n_phases = DL_PH__COUNT, .step = dl_step, .priv_free = cp_ctx_free };
