/* create.c - vm.checkpoint: a checkpoint of a running, paused or turned
 * off VM.  Each disk's image is frozen as the checkpoint's and the VM
 * writes on in a new qcow2 overlay over it.
 *
 *   start --> prepare (qemu-img: an overlay per disk, backed by the disk's
 *   file)
 *   turned off: --> bitmaps (qemu-img bitmap: each reference point's
 *       bitmap copied into the overlay) --> record --> done
 *   running or paused: --> attach (blockdev-add the overlays, no backing)
 *       --> query (each disk's node, its bitmaps) [production: freeze
 *       the file systems, guest agent] [standard: pause the vCPUs] -->
 *       snap: one transaction over every disk: blockdev-snapshot onto the
 *       overlay, each tern- bitmap added to the overlay and merged from
 *       the old node (no write escapes the reference points) [thaw] -->
 *       record (the checkpoint, the disks' new files; from here the
 *       checkpoint stands) [standard: --> memory (the state written to a
 *       file while the vCPUs are paused, then synced)] --> resume (vCPUs
 *       as they were; after a state transfer QEMU's images are activated
 *       again) --> done
 *
 *   a failure before snap took: back (thaw, overlays removed from QEMU and
 *   disk, vCPUs as they were); the VM as it was.  The memory failing: the
 *   checkpoint stays, production and crash-consistent, and the job says
 *   so.  ternd restarted: before snap, back; in snap, query-block tells
 *   whether the transaction took (record) or not (back); in memory, the
 *   transfer is cancelled as a failure. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "checkpoint.h"
#include "cp_int.h"
#include "log.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "save.h"
#include "util.h"

enum cr_phase { CR_PH_START, CR_PH_PREPARE, CR_PH_BITMAPS, CR_PH_ATTACH,
		CR_PH_QUERY, CR_PH_FREEZE, CR_PH_PAUSE, CR_PH_SNAP,
		CR_PH_RECORD, CR_PH_MEMORY, CR_PH_RESUME, CR_PH_BACK,
		CR_PH__COUNT };
static const char *const cr_phase_names[CR_PH__COUNT] = {
	[CR_PH_START] = "start", [CR_PH_PREPARE] = "prepare",
	[CR_PH_BITMAPS] = "bitmaps", [CR_PH_ATTACH] = "attach",
	[CR_PH_QUERY] = "query", [CR_PH_FREEZE] = "freeze",
	[CR_PH_PAUSE] = "pause", [CR_PH_SNAP] = "snap",
	[CR_PH_RECORD] = "record", [CR_PH_MEMORY] = "memory",
	[CR_PH_RESUME] = "resume", [CR_PH_BACK] = "back",
};

static void
cr_node(const struct job *job, const json_t *d, char buf[VM_NODE_NAME_MAX],
    const char *kind)
{
	vm_node_name(buf, cp_str(d, "name"), kind, job->row->id);
}

static bool
cr_online(const struct job *job)
{
	return json_is_true(json_object_get(job->details, "online"));
}

static void
cr_back(struct job *job, const char *why)
{
	json_object_set_new(job->details, "error", json_string(why));
	cp_next(job, CR_PH_BACK);
}

/* ---- prepare, bitmaps: qemu-img one at a time ---- */

static void
on_tool(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0 && job_phase_is(job, CR_PH_PREPARE)) {
		cr_back(job, "qemu-img could not make an overlay (see the "
		    "VM's checkpoint.log)");
		return;
	}
	/* bitmaps: a bitmap not copied leaves its point to be found
	 * missing at the next start (then resynced), never wrong. */
	cp_ctx(job)->sub++;
	job_poke(job);
}

static void
cr_prepare(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	json_t *d = json_array_get(cp_disks(job), c->sub);

	if (job->child)
		return;
	if (!d)
		cp_next(job, cr_online(job) ? CR_PH_ATTACH : CR_PH_BITMAPS);
	else if (cp_make_overlay(job, d, "old", on_tool) < 0)
		cr_back(job, "cannot run qemu-img");
}

/* Offline: each complete reference point's bitmap, disk by disk. */
static void
cr_bitmaps(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	char bm[TRACK_NAME_MAX + 8];
	json_t *d;

	if (job->child)
		return;
	if (!cp_nth_bitmap(job, c->sub, &d, bm)) {
		cp_next(job, CR_PH_RECORD);
		return;
	}
	const char *argv[] = { host_of(job)->cfg.qemu_img, "bitmap", "--add",
		"--merge", bm, "-b", cp_str(d, "old"), "-F", "qcow2", "-f",
		"qcow2", cp_str(d, "new"), bm, NULL };
	if (cp_spawn(job, argv, on_tool) < 0)
		c->sub++;
}

/* ---- attach, query, freeze, pause, snap ---- */

static void
cr_attach(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	struct host *h = host_of(job);
	json_t *d;
	size_t i;

	if (c->sub == 0) {
		json_array_foreach(cp_disks(job), i, d) {
			char fmt[VM_NODE_NAME_MAX], file[VM_NODE_NAME_MAX];

			if (h->qemu_uid && chown(cp_str(d, "new"), h->qemu_uid,
			    h->qemu_gid) == -1)
				log_warn("cannot give %s to the QEMU user",
				    cp_str(d, "new"));
			cr_node(job, d, fmt, "fmt");
			cr_node(job, d, file, "file");
			(void)cp_qmp(job, qmp_blockdev_add_top(fmt, file,
			    cp_str(d, "new")));
			json_object_set_new(d, "attached", json_true());
		}
		c->sub = 1;
		return;
	}
	if (!cp_replied(job))
		return;
	if (c->b.failed) {
		cr_back(job, c->b.err);
		return;
	}
	cp_next(job, CR_PH_QUERY);
}

/* Each disk's node and its tern- bitmaps. */
static int
cr_note_nodes(struct job *job, const json_t *blocks, const json_t *nodes)
{
	json_t *d;
	size_t i;

	json_array_foreach(cp_disks(job), i, d) {
		const char *node = qmp_block_disk_node(blocks, cp_str(d,
		    "name"), NULL);
		struct qmp_bitmap bm[64];
		size_t nb;
		json_t *names = json_array();

		if (!node) {
			json_decref(names);
			return -ENOENT;
		}
		json_object_set_new(d, "node", json_string(node));
		nb = qmp_node_bitmap_list(nodes, node, bm, ARRAY_SIZE(bm));
		for (size_t k = 0; k < MIN(nb, ARRAY_SIZE(bm)); k++)
			if (strncmp(bm[k].name, TRACK_BITMAP_PREFIX,
			    strlen(TRACK_BITMAP_PREFIX)) == 0 &&
			    !bm[k].inconsistent)
				json_array_append_new(names,
				    json_string(bm[k].name));
		json_object_set_new(d, "bitmaps", names);
	}
	return 0;
}

static void
cr_query(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	int r = cp_query_nodes(job);

	if (r > 0)
		return;
	if (r < 0) {
		cr_back(job, c->b.err);
		return;
	}
	if (cr_note_nodes(job, c->blocks, c->b.reply) < 0) {
		cr_back(job, "QEMU shows no node for a disk");
		return;
	}
	cp_next(job, streq(cp_str(job->details, "kind"), "production") ?
	    CR_PH_FREEZE : CR_PH_PAUSE);
}

static void
cr_freeze(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);

	if (c->sub == 0) {
		c->sub = 1;
		json_object_set_new(job->details, "consistency",
		    json_string("crash"));
		if (vm->state != VM_RUNNING || agent_freeze(vm,
		    CP_FREEZE_MS) < 0) {
			json_object_set_new(job->details, "note", json_string(
			    vm->state != VM_RUNNING ? "the VM is paused: the "
			    "checkpoint is crash-consistent" : "no guest agent "
			    "answered: the checkpoint is crash-consistent"));
			cp_next(job, CR_PH_SNAP);
		}
		return;
	}
	if (vm->agent.freeze_pending)
		return;
	if (vm->agent.frozen)
		json_object_set_new(job->details, "consistency",
		    json_string("filesystem"));
	else
		json_object_set_new(job->details, "note", json_string("the "
		    "guest could not freeze its file systems: the checkpoint "
		    "is crash-consistent"));
	cp_next(job, CR_PH_SNAP);
}

static void
cr_pause(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);

	json_object_set_new(job->details, "consistency",
	    json_string("memory"));
	if (!json_is_true(json_object_get(job->details, "was_running"))) {
		cp_next(job, CR_PH_SNAP);
		return;
	}
	if (c->sub == 0) {
		c->sub = 1;
		json_object_set_new(job->details, "paused", json_true());
		(void)cp_qmp(job, (struct qmp_command){ .name = "stop" });
		return;
	}
	if (!cp_replied(job))
		return;
	if (c->b.failed) {
		cr_back(job, c->b.err);
		return;
	}
	cp_next(job, CR_PH_SNAP);
}

static json_t *
snap_actions(struct job *job)
{
	json_t *a = json_array(), *d, *b;
	size_t i, k;

	json_array_foreach(cp_disks(job), i, d) {
		char ov[VM_NODE_NAME_MAX];

		cr_node(job, d, ov, "fmt");
		json_array_append_new(a, qmp_tx_snapshot(cp_str(d, "node"),
		    ov));
		json_array_foreach(json_object_get(d, "bitmaps"), k, b) {
			const char *name = json_string_value(b);

			json_array_append_new(a, qmp_tx_bitmap_add(ov, name,
			    true, false));
			json_array_append_new(a, qmp_tx_bitmap_copy(ov, name,
			    cp_str(d, "node")));
		}
	}
	return a;
}

/* After a restart: did the transaction take (the disks on the overlays)? */
static void
cr_snap_recover(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);
	json_t *d = json_array_get(cp_disks(job), 0);
	char ov[VM_NODE_NAME_MAX];
	const char *node;

	if (c->sub == 0) {
		/* QEMU gone: in doubt, record.  Had the transaction not
		 * taken, the overlays are empty and read as the old files;
		 * had it, they hold the writes since. */
		if (cp_qmp_back(job) < 0) {
			job->recovering = false;
			cp_next(job, CR_PH_RECORD);
		} else if (cp_qmp_back(job) == 0) {
			c->sub = 2;
			(void)cp_qmp(job, qmp_query_block());
		}
		return;
	}
	if (!cp_replied(job))
		return;
	job->recovering = false;
	cr_node(job, d, ov, "fmt");
	node = c->b.reply ? qmp_block_disk_node(c->b.reply, cp_str(d, "name"),
	    NULL) : NULL;
	if (node && streq(node, ov))
		cp_next(job, CR_PH_RECORD);
	else
		cr_back(job, "ternd restarted before the checkpoint was taken");
}

static void
cr_snap(struct job *job)
{
	struct cp_ctx *c = cp_ctx(job);

	if (job->recovering) {
		cr_snap_recover(job);
		return;
	}
	if (c->sub == 0) {
		if (job_failpoint(job, "checkpoint.snap") > 0)
			return;
		c->sub = 1;
		(void)cp_qmp(job, qmp_transaction(snap_actions(job)));
		return;
	}
	if (!cp_replied(job))
		return;
	agent_thaw(vm_of(job));
	if (c->b.failed) {
		cr_back(job, c->b.err);
		return;
	}
	cp_next(job, CR_PH_RECORD);
}

/* ---- record: from here the checkpoint stands ---- */

static int
cr_record_rows(struct job *job, void *arg)
{
	struct vm *vm = vm_of(job);
	struct cp_tree t = { 0 };
	struct checkpoint_row *cur, row = { 0 };
	json_t *images = json_object(), *d;
	size_t i;
	int r;

	(void)arg;
	if ((r = cp_tree_load(vm, &t)) < 0)
		return r;
	cur = cp_tree_current(&t);
	json_array_foreach(cp_disks(job), i, d)
		json_object_set(images, cp_str(d, "name"),
		    json_object_get(d, "old"));
	row.vm_uuid = vm->row->uuid;
	row.name = (char *)cp_str(job->details, "name");
	row.parent = cur ? cur->name : NULL;
	row.created_ms = (int64_t)wall_ms();
	row.kind = (char *)cp_str(job->details, "kind");
	row.consistency = (char *)(cr_online(job) ? cp_str(job->details,
	    "consistency") : "off");
	row.images = json_dumps(images, JSON_COMPACT | JSON_SORT_KEYS);
	row.status = "ready";
	row.current = true;
	json_decref(images);
	if ((r = store_checkpoint_insert(vm->h->store, &row)) == 0)
		r = store_checkpoint_set_current(vm->h->store, vm->row->uuid,
		    row.name);
	json_array_foreach(cp_disks(job), i, d)
		if (r == 0)
			r = cp_set_disk(vm, cp_str(d, "name"),
			    cp_str(d, "new"));
	free(row.images);
	cp_tree_free(&t);
	return r;
}

static void
cr_record(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;
	int r = cp_store_tx(job, cr_record_rows, NULL);

	if (r < 0) {
		if (cr_online(job)) {
			/* QEMU writes on the overlays; the record says the
			 * old files.  Only a restart of QEMU settles it. */
			log_error("vm=%s checkpoint taken but not recorded: %s",
			    vm->row->name, strerror(-r));
			job_finish(job, r, "the checkpoint was taken but could "
			    "not be recorded (%s): stop the VM before it is "
			    "started again", strerror(-r));
			return;
		}
		cr_back(job, "cannot record the checkpoint");
		return;
	}
	json_array_foreach(cp_disks(job), i, d) {
		char ov[VM_NODE_NAME_MAX];

		cr_node(job, d, ov, "fmt");
		if (cr_online(job))
			track_note_node(vm, cp_str(d, "name"), ov);
	}
	json_object_set_new(job->details, "recorded", json_true());
	cp_next(job, cr_online(job) && streq(cp_str(job->details, "kind"),
	    "standard") ? CR_PH_MEMORY : CR_PH_RESUME);
}

/* ---- memory: the state into a file while the vCPUs are paused ---- */

static char *
cr_state_path(const struct job *job, bool partial)
{
	json_t *d = json_array_get(cp_disks(job), 0);
	_cleanup_free_ char *old = xstrdup(cp_str(d, "old"));
	char *slash = strrchr(old, '/');

	if (slash)
		*slash = '\0';
	return xasprintf("%s/%s.cp-%s.state%s", slash ? old : ".",
	    vm_of(job)->row->name, cp_str(job->details, "name"),
	    partial ? ".partial" : "");
}

/* The memory could not be saved: the checkpoint stays, disks only. */
static void
cr_memory_fail(struct job *job, const char *why)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *part = cr_state_path(job, true);
	struct cp_tree t = { 0 };
	struct checkpoint_row *r;

	(void)vm_qmp(vm, job, "migrate_cancel", NULL, CP_QMP_MS, NULL);
	(void)unlink(part);
	if (cp_tree_load(vm, &t) == 0 &&
	    (r = cp_tree_find(&t, cp_str(job->details, "name")))) {
		free(r->kind);
		r->kind = xstrdup("production");
		free(r->consistency);
		r->consistency = xstrdup("crash");
		(void)store_checkpoint_update(vm->h->store, r);
	}
	cp_tree_free(&t);
	json_object_set_new(job->details, "error", json_string(why));
	json_object_set_new(job->details, "memory_failed", json_true());
	cp_next(job, CR_PH_RESUME);
}

static void
on_synced(struct child *ch, int status, void *data)
{
	struct job *job = data;
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *part = cr_state_path(job, true);
	_cleanup_free_ char *final = cr_state_path(job, false);
	struct cp_tree t = { 0 };
	struct checkpoint_row *r;

	(void)ch;
	job->child = child_free(job->child);
	if (!vm)
		return;
	if (status != 0 || rename(part, final) == -1) {
		cr_memory_fail(job, "cannot write the memory state to disk");
		return;
	}
	if (cp_tree_load(vm, &t) == 0 &&
	    (r = cp_tree_find(&t, cp_str(job->details, "name")))) {
		r->state_file = xstrdup(final);
		(void)store_checkpoint_update(vm->h->store, r);
	}
	cp_tree_free(&t);
	cp_next(job, CR_PH_RESUME);
}

static void
cr_memory(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);
	_cleanup_free_ char *part = cr_state_path(job, true);
	const char *st;

	if (job->recovering) {
		if (cp_qmp_back(job) > 0)
			return;
		job->recovering = false;
		cr_memory_fail(job, "ternd restarted while the memory was "
		    "written");
		return;
	}
	if (job->child)
		return;
	if (c->sub == 0) {
		c->sub = 1;
		free(vm->last_error);
		vm->last_error = NULL;
		if (save_transfer_start(job, part) < 0)
			cr_memory_fail(job, "cannot write the memory state "
			    "file");
		else
			job_wake_after(job, CP_POLL_MS);
		return;
	}
	st = save_migration_status(job);
	if (vm->last_error) {
		cr_memory_fail(job, vm->last_error);
	} else if (st && streq(st, "completed")) {
		const char *argv[] = { "sync", part, NULL };

		if (job_spawn(job, argv, NULL, on_synced) < 0)
			cr_memory_fail(job, "cannot run sync");
	} else {
		save_transfer_poll(job);
		job_wake_after(job, CP_POLL_MS);
	}
}

/* ---- resume, back, the job ---- */

/* vCPUs as they were: cont if we paused them; after a state transfer
 * QEMU's images are inactive: cont, or blockdev-set-active if the VM was
 * paused, takes them back. */
static void
cr_resume_send(struct job *job)
{
	bool paused = json_is_true(json_object_get(job->details, "paused"));
	bool moved = streq(cp_str(job->details, "kind"), "standard") &&
	    !json_is_true(json_object_get(job->details, "memory_failed")) &&
	    json_is_true(json_object_get(job->details, "recorded"));

	if (paused)
		(void)cp_qmp(job, (struct qmp_command){ .name = "cont" });
	else if (moved)
		(void)cp_qmp(job, (struct qmp_command){
		    .name = "blockdev-set-active",
		    .args = json_pack("{sb}", "active", true) });
}

static void
cr_resume(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);
	const char *err = cp_str(job->details, "error");

	if (cr_online(job) && c->sub == 0) {
		c->sub = 1;
		cr_resume_send(job);
	}
	if (!cp_replied(job))
		return;
	if (c->b.failed)
		host_event(vm->h, "warning", vm, job->row->id, "vm '%s': the "
		    "vCPUs could not be resumed after the checkpoint: %s",
		    vm->row->name, c->b.err);
	if (err) {
		job_finish(job, -EIO, "checkpoint '%s' of vm '%s' holds the "
		    "disks only (production, crash-consistent): %s",
		    cp_str(job->details, "name"), vm->row->name, err);
		return;
	}
	host_event(vm->h, "info", vm, job->row->id, "checkpoint '%s' taken "
	    "(%s, %s)%s%s", cp_str(job->details, "name"),
	    cp_str(job->details, "kind"), cr_online(job) ?
	    cp_str(job->details, "consistency") : "turned off",
	    cp_str(job->details, "note") ? ": " : "",
	    cp_str(job->details, "note") ?: "");
	job_finish(job, 0, NULL);
}

static void
cr_back_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct cp_ctx *c = cp_ctx(job);
	json_t *d;
	size_t i;

	if (job->child)
		return;
	if (c->sub == 0) {
		c->sub = 1;
		agent_thaw(vm);
		json_array_foreach(cp_disks(job), i, d) {
			char ov[VM_NODE_NAME_MAX];

			cr_node(job, d, ov, "fmt");
			if (vm->pidfd >= 0)
				cp_qmp_quiet(job, qmp_blockdev_del(ov));
		}
		if (vm->pidfd >= 0 && json_is_true(json_object_get(
		    job->details, "paused")))
			cp_qmp_quiet(job, (struct qmp_command){ .name =
			    "cont" });
	}
	if (!cp_replied(job))
		return;
	json_array_foreach(cp_disks(job), i, d)
		(void)unlink(cp_str(d, "new"));
	job_finish(job, -EIO, "no checkpoint of vm '%s' taken: %s; the VM "
	    "is as it was", vm->row->name, cp_str(job->details, "error"));
}

static void
cr_step(struct job *job)
{
	if (vm_job_gone(job))
		return;
	if (job->recovering && cr_online(job) && cp_qmp_back(job) > 0)
		return;		/* the VM pokes us once QMP is back */
	if (job->recovering && job->phase < CR_PH_SNAP) {
		if (cr_online(job) && cp_qmp_back(job) > 0)
			return;
		job->recovering = false;
		cr_back(job, "ternd restarted before the checkpoint was taken");
	}
	switch ((enum cr_phase)job->phase) {
	case CR_PH_START:	cp_next(job, CR_PH_PREPARE); break;
	case CR_PH_PREPARE:	cr_prepare(job); break;
	case CR_PH_BITMAPS:	cr_bitmaps(job); break;
	case CR_PH_ATTACH:	cr_attach(job); break;
	case CR_PH_QUERY:	cr_query(job); break;
	case CR_PH_FREEZE:	cr_freeze(job); break;
	case CR_PH_PAUSE:	cr_pause(job); break;
	case CR_PH_SNAP:	cr_snap(job); break;
	case CR_PH_RECORD:	cr_record(job); break;
	case CR_PH_MEMORY:	cr_memory(job); break;
	case CR_PH_RESUME:	cr_resume(job); break;
	case CR_PH_BACK:	cr_back_step(job); break;
	case CR_PH__COUNT:	break;
	}
}

const struct job_ops job_vm_checkpoint = { .type = "vm.checkpoint",
    .phases = cr_phase_names, .n_phases = CR_PH__COUNT, .step = cr_step,
    .priv_free = cp_ctx_free };
