/* create.c - vm.backup: a consistent point of every disk of a running VM,
 * taken in one QMP transaction, read through a fleecing NBD export by
 * tern-blockcopy and stored in a backup repository (repo.h for the
 * layout) as a qcow2 per disk, chained to the previous point, plus the
 * block map and, written last, the manifest.
 *
 *   start (the VM runs, the repository opens; the previous point of the
 *   VM, unless --full) --query-block: each disk's node; the bitmaps-->
 *   check: per disk how to copy it:
 *       all      no previous point (a full point)
 *       bitmap   the previous point's reference point is complete: only
 *                the blocks its bitmap marks
 *       compare  it is not (a crash, a move): every block read, only the
 *                ones whose checksum differs from the previous map sent
 *   --> prepare (qemu-img: each disk's image in the point's directory,
 *   backed by the previous point's; each disk's scratch image next to the
 *   disk) --> attach (blockdev-add the scratch over the disk's node)
 *   [--quiesce: freeze, agent] --> snap: one transaction over every disk:
 *   the new reference point's bitmap, a frozen copy of the previous one's
 *   (bitmap mode), blockdev-backup sync=none into the scratch [thaw] -->
 *   export (NBD on a unix socket in the VM's run dir, one read-only export
 *   per disk) --> copy (tern-blockcopy per disk, copy.c; each gives the
 *   sha256 of its files) --> seal (those sha256, the manifest written
 *   atomically, the new reference point recorded, older ones of this
 *   repository dropped) --> teardown
 *   (teardown.c: exports, fleecing jobs, scratch nodes and files) --> done
 *
 *   any failure or a cancel before seal: teardown going back (the new
 *   bitmap removed, the point's directory deleted): the previous points
 *   and reference points are as they were.  ternd restarted: the copier
 *   died with it; a point without a manifest goes back, a sealed one
 *   finishes its teardown.  The VM runs throughout. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "fsutil.h"
#include "backup.h"
#include "bk_int.h"
#include "jsonutil.h"
#include "log.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "repo.h"
#include "util.h"

const char *const backup_phase_names[BACKUP_PH__COUNT] = {
	[BK_PH_START] = "start", [BK_PH_CHECK] = "check",
	[BK_PH_PREPARE] = "prepare", [BK_PH_ATTACH] = "attach",
	[BK_PH_FREEZE] = "freeze", [BK_PH_SNAP] = "snap",
	[BK_PH_EXPORT] = "export", [BK_PH_COPY] = "copy",
	[BK_PH_SEAL] = "seal", [BK_PH_TEARDOWN] = "teardown",
	[BK_PH_DONE] = "done",
};

/* Every reply of this step in and none an error; a failure goes back. */
static bool
bk_answered(struct job *job)
{
	struct bk_ctx *c = bk_ctx(job);

	if (!bk_replied(job))
		return false;
	if (c->b.failed) {
		bk_teardown_begin(job, -EIO, c->b.err);
		return false;
	}
	return true;
}

static void
bk_next(struct job *job, enum bk_phase phase)
{
	bk_ctx(job)->sub = 0;
	job_set_phase(job, phase);
	job_poke(job);
}

/* ---- check: how each disk is copied ---- */

/* The complete reference point of this repository's previous point for
 * disk, whose bitmap is on node and consistent; its name, or NULL. */
static const char *
parent_ref(struct job *job, const struct refpoint_row *rows, size_t n,
    const char *disk, const json_t *nodes, const char *node)
{
	const char *repo = bk_str(job->details, "repo");
	const char *parent = bk_str(job->details, "parent");
	struct qmp_bitmap bm[64];
	size_t nb = qmp_node_bitmap_list(nodes, node, bm, ARRAY_SIZE(bm));
	char want[TRACK_NAME_MAX + 8];

	for (size_t i = 0; i < n; i++) {
		const struct refpoint_row *r = &rows[i];

		if (!r->complete || !streq(r->disk, disk) ||
		    !streq(r->target, repo) || !streq(r->point, parent))
			continue;
		track_bitmap_name(want, r->name);
		for (size_t k = 0; k < MIN(nb, ARRAY_SIZE(bm)); k++)
			if (streq(bm[k].name, want) && !bm[k].inconsistent)
				return r->name;
		track_lose(vm_of(job), r->name, disk, "its bitmap is not on "
		    "the disk's node (a storage move, or the image changed)");
	}
	return NULL;
}

/* Per disk its mode and, for bitmap mode, the reference point. */
static void
check_modes(struct job *job, const json_t *nodes)
{
	struct vm *vm = vm_of(job);
	struct refpoint_row *rows = NULL;
	size_t n = 0, i;
	json_t *d;
	bool compare = false, any_parent = bk_str(job->details, "parent");

	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	json_array_foreach(bk_disks(job), i, d) {
		const char *ref = NULL;

		if (any_parent)
			ref = parent_ref(job, rows, n, bk_str(d, "name"),
			    nodes, bk_str(d, "node"));
		if (ref) {
			json_object_set_new(d, "mode", json_string("bitmap"));
			json_object_set_new(job->details, "parent_ref",
			    json_string(ref));
		} else {
			json_object_set_new(d, "mode", json_string(any_parent ?
			    "compare" : "all"));
			compare = compare || any_parent;
		}
	}
	refpoint_rows_free(rows, n);
	json_object_set_new(job->details, "kind", json_string(!any_parent ?
	    "full" : compare ? "resync" : "incremental"));
}

/* query-block: each disk's current node (a storage move renames it). */
static int
check_nodes(struct job *job, const json_t *blocks)
{
	json_t *d;
	size_t i;

	json_array_foreach(bk_disks(job), i, d) {
		const char *node = qmp_block_disk_node(blocks, bk_str(d,
		    "name"), NULL);

		if (!node) {
			bk_teardown_begin(job, -EIO, "QEMU shows no node for a "
			    "disk");
			return -1;
		}
		json_object_set_new(d, "node", json_string(node));
		track_note_node(vm_of(job), bk_str(d, "name"), node);
	}
	return 0;
}

static void
bk_check(struct job *job)
{
	struct bk_ctx *c = bk_ctx(job);

	if (!bk_answered(job))
		return;
	if (c->sub == 0) {
		if (check_nodes(job, c->b.reply) < 0)
			return;
		c->sub = 1;
		(void)bk_qmp(job, qmp_query_named_block_nodes());
		return;
	}
	check_modes(job, c->b.reply);
	bk_next(job, BK_PH_PREPARE);
}

/* ---- prepare: the images, one qemu-img at a time ---- */

static void
on_made(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (!job_phase_is(job, BK_PH_PREPARE)) {
		/* Cancelled: the teardown waits for this exit, and its
		 * bk_teardown_begin() below would not wake it. */
		job_poke(job);
		return;
	}
	if (status != 0) {
		_cleanup_free_ char *log = vm_state_path(vm_of(job),
		    "backup.log");
		_cleanup_free_ char *last = file_last_line(log);
		const char *r = last;
		_cleanup_free_ char *why = NULL;

		/* "qemu-img: /the/long/path: Could not ...: No space left on
		 * device": the reason, without the tool and the path. */
		if (r && strncmp(r, "qemu-img: ", 10) == 0)
			r += 10;
		if (r && *r == '/' && strstr(r, ": "))
			r = strstr(r, ": ") + 2;
		why = xasprintf("qemu-img could not create an image in the "
		    "repository: %s", r ? r : "see backup.log");

		bk_teardown_begin(job, -EIO, why);
		return;
	}
	bk_ctx(job)->sub++;
	job_poke(job);
}

/* A disk's image in the point (backed by the previous point's), or its
 * scratch image next to the disk. */
static int
make_image(struct job *job, const json_t *d, bool scratch)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *dir = bk_job_dir(job);
	_cleanup_free_ char *path = scratch ? bk_scratch_path(job, d) :
	    xasprintf("%s/%s.qcow2", dir, bk_str(d, "name"));
	_cleanup_free_ char *backing = NULL;
	_cleanup_free_ char *log = vm_state_path(vm, "backup.log");
	const char *parent = bk_str(job->details, "parent");
	const char *argv[16];
	size_t k = 0;
	char sz[32];

	snprintf(sz, sizeof(sz), "%lld", (long long)json_integer_value(
	    json_object_get(d, "size")));
	argv[k++] = vm->h->cfg.qemu_img;
	argv[k++] = "create";
	argv[k++] = "-q";
	argv[k++] = "-f";
	argv[k++] = "qcow2";
	if (!scratch) {
		argv[k++] = "-o";
		argv[k++] = "compression_type=zstd";
	}
	if (!scratch && parent && !streq(bk_str(d, "mode"), "all")) {
		backing = xasprintf("../%s/%s.qcow2", parent, bk_str(d,
		    "name"));
		argv[k++] = "-b";
		argv[k++] = backing;
		argv[k++] = "-F";
		argv[k++] = "qcow2";
	}
	argv[k++] = path;
	argv[k++] = sz;
	argv[k] = NULL;
	return job_spawn(job, argv, log, on_made);
}

static void
bk_prepare(struct job *job)
{
	struct bk_ctx *c = bk_ctx(job);
	json_t *disks = bk_disks(job);
	size_t n = json_array_size(disks);
	_cleanup_free_ char *dir = bk_job_dir(job);
	int r;

	if (job->child)
		return;
	if (c->sub == 0 && (r = mkdir_p(dir, 0750)) < 0) {
		bk_teardown_begin(job, r, "cannot make the point's directory "
		    "in the repository");
		return;
	}
	if (c->sub < 2 * n && c->sub % 2 == 0 && bk_is_delta(job)) {
		c->sub++;	/* deltas, no image per disk */
		job_poke(job);
		return;
	}
	if (c->sub < 2 * n) {
		if (make_image(job, json_array_get(disks, c->sub / 2),
		    c->sub % 2) < 0)
			bk_teardown_begin(job, -EIO, "cannot run qemu-img");
		return;
	}
	bk_next(job, BK_PH_ATTACH);
}

/* ---- attach, freeze, snap, export ---- */

static void
bk_attach(struct job *job)
{
	struct bk_ctx *c = bk_ctx(job);
	struct host *h = vm_of(job)->h;
	json_t *d;
	size_t i;

	if (c->sub == 0) {
		json_array_foreach(bk_disks(job), i, d) {
			char node[VM_NODE_NAME_MAX], file[VM_NODE_NAME_MAX + 4];
			_cleanup_free_ char *path = bk_scratch_path(job, d);

			if (h->qemu_uid && chown(path, h->qemu_uid,
			    h->qemu_gid) == -1)
				log_warn("cannot give %s to the QEMU user", path);
			bk_fleece_node(job, d, node);
			snprintf(file, sizeof(file), "%s-f", node);
			(void)bk_qmp(job, qmp_blockdev_add_overlay(node, file,
			    path, bk_str(d, "node")));
		}
		c->sub = 1;
		return;
	}
	if (!bk_answered(job))
		return;
	bk_next(job, json_is_true(json_object_get(job->details, "quiesce")) ?
	    BK_PH_FREEZE : BK_PH_SNAP);
}

static void
bk_freeze(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct bk_ctx *c = bk_ctx(job);

	if (c->sub == 0) {
		c->sub = 1;
		if (agent_freeze(vm, BK_FREEZE_MS) < 0) {
			json_object_set_new(job->details, "consistency_note",
			    json_string("no guest agent answered: the point is "
			    "crash-consistent"));
			bk_next(job, BK_PH_SNAP);
		}
		return;
	}
	if (vm->agent.freeze_pending)
		return;
	if (vm->agent.frozen)
		json_object_set_new(job->details, "consistency",
		    json_string("filesystem"));
	else
		json_object_set_new(job->details, "consistency_note",
		    json_string("the guest could not freeze its file systems: "
		    "the point is crash-consistent"));
	bk_next(job, BK_PH_SNAP);
}

static json_t *
snap_actions(struct job *job)
{
	char ref[TRACK_NAME_MAX + 8], xfer[TRACK_NAME_MAX + 8];
	char pref[TRACK_NAME_MAX + 8], node[VM_NODE_NAME_MAX];
	char id[VM_NODE_NAME_MAX];
	json_t *a = json_array(), *d;
	size_t i;

	track_bitmap_name(ref, bk_str(job->details, "ref"));
	bk_xfer_bitmap(job, xfer);
	json_array_foreach(bk_disks(job), i, d) {
		const char *disk_node = bk_str(d, "node");

		json_array_append_new(a, qmp_tx_bitmap_add(disk_node, ref,
		    true, false));
		if (streq(bk_str(d, "mode"), "bitmap")) {
			track_bitmap_name(pref, bk_str(job->details,
			    "parent_ref"));
			json_array_append_new(a, qmp_tx_bitmap_add(disk_node,
			    xfer, false, true));
			json_array_append_new(a, qmp_tx_bitmap_merge(disk_node,
			    xfer, pref));
		}
		bk_fleece_node(job, d, node);
		bk_fleece_job(job, d, id);
		json_array_append_new(a, qmp_tx_fleece(id, disk_node, node));
	}
	return a;
}

static void
bk_snap(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct bk_ctx *c = bk_ctx(job);

	if (c->sub == 0) {
		c->sub = 1;
		(void)bk_qmp(job, qmp_transaction(snap_actions(job)));
		return;
	}
	if (!bk_replied(job))
		return;
	agent_thaw(vm);
	if (!bk_answered(job))
		return;
	json_object_set_new(job->details, "snap_ms", json_integer(
	    (json_int_t)wall_ms()));
	json_object_set_new(job->details, "snapped", json_true());
	bk_next(job, BK_PH_EXPORT);
}

static void
bk_export(struct job *job)
{
	struct bk_ctx *c = bk_ctx(job);
	_cleanup_free_ char *sock = bk_socket_path(job);
	char xfer[TRACK_NAME_MAX + 8], node[VM_NODE_NAME_MAX];
	json_t *d;
	size_t i;

	if (c->sub == 0) {
		if (bk_qmp_listen(job, sock, "tern-backup") < 0) {
			bk_teardown_begin(job, -EIO, "cannot make the NBD "
			    "socket in the VM's run directory");
			return;
		}
		(void)bk_qmp(job, qmp_nbd_server_start_fd("tern-backup", NULL));
		bk_xfer_bitmap(job, xfer);
		json_array_foreach(bk_disks(job), i, d) {
			bk_fleece_node(job, d, node);
			(void)bk_qmp(job, qmp_nbd_export_readonly(node, node,
			    bk_str(d, "name"), streq(bk_str(d, "mode"),
			    "bitmap") ? xfer : NULL));
		}
		c->sub = 1;
		return;
	}
	if (!bk_answered(job))
		return;
	bk_next(job, BK_PH_COPY);
}

/* ---- the job ---- */

static void
bk_recover(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (vm->pidfd >= 0 && !vm->qmp_ready)
		return;		/* QMP first: the VM pokes us */
	job->recovering = false;
	if (job_phase_is(job, BK_PH_TEARDOWN) || job_phase_is(job,
	    BK_PH_DONE)) {
		bk_ctx(job)->sub = 0;
		job_poke(job);
		return;
	}
	if (json_is_true(json_object_get(job->details, "sealed")) ||
	    (!bk_is_delta(job) && bk_manifest_on_disk(job))) {
		/* Sealed just before the restart: the point stands. */
		json_object_set_new(job->details, "sealed", json_true());
		if (!bk_is_delta(job))
			bk_record_refpoint(job);
		bk_teardown_begin(job, 0, NULL);
		return;
	}
	bk_teardown_begin(job, -EIO, "ternd restarted during the backup; "
	    "the point was not kept");
}

void
backup_point_step(struct job *job)
{
	static void (*const steps[BK_PH__COUNT])(struct job *) = {
		[BK_PH_CHECK] = bk_check, [BK_PH_PREPARE] = bk_prepare,
		[BK_PH_ATTACH] = bk_attach, [BK_PH_FREEZE] = bk_freeze,
		[BK_PH_SNAP] = bk_snap, [BK_PH_EXPORT] = bk_export,
		[BK_PH_COPY] = bk_copy, [BK_PH_SEAL] = bk_seal,
		[BK_PH_TEARDOWN] = bk_teardown,
	};

	if (vm_job_gone(job))
		return;
	if (job->recovering) {
		bk_recover(job);
		return;
	}
	if (job_phase_is(job, BK_PH_START)) {
		job_set_phase(job, BK_PH_CHECK);
		(void)bk_qmp(job, qmp_query_block());
		return;
	}
	if (job->phase < BK_PH__COUNT && steps[job->phase])
		steps[job->phase](job);
}

int
backup_point_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, BK_PH_SEAL) || job_phase_is(job,
	    BK_PH_TEARDOWN) || job_phase_is(job, BK_PH_DONE))
		return err_set(err, -EBUSY, "the point is being sealed; it "
		    "cannot be cancelled now");
	if (job->child)
		(void)child_kill(job->child, SIGTERM);
	bk_teardown_begin(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

const struct job_ops job_vm_backup = { .type = "vm.backup",
	.phases = backup_phase_names, .n_phases = BK_PH__COUNT,
	.step = backup_point_step, .cancel = backup_point_cancel,
	.priv_free = bk_ctx_free };
