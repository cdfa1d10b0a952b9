/* receive.c - the replica side of a cycle: replica.apply, one cycle of a
 * replicated VM made into its newest recovery point.
 *
 *   start --rc_fetch: each disk's delta downloaded from the primary into
 *   the spool (POOL/.tern-replica/UUID/SEQ/), as big as announced (a
 *   seed's, details "seed_dir": read where it is, seed_import.c)-->
 *   fetch --rc_prepare: per disk a new qcow2 overlay NAME-DISK.rp-SEQ over
 *   the disk's current image (a cycle with base 0 starts a new chain: no
 *   backing)--> prepare --rc_apply: per disk tern-replica-apply (every
 *   frame checked before a byte is written, the overlay written through
 *   qemu-nbd, flushed, fsynced, read back and checked, the point's map)-->
 *   apply --rc_record: every disk's image is its overlay now, the seq and
 *   the point recorded, the points beyond the retention dropped from the
 *   record (the point exists from here; points.c plans the merges)-->
 *   record --rc_merge: the dropped points merged (points.c: the point
 *   above each committed down into its file; with no --points, the
 *   overlay into the image below it, which becomes the disk's image
 *   again; a new chain's overlay renamed over it, older points'
 *   files removed)--> done
 *
 *   A failure or a cancel before record: the overlays and the spool of
 *   this cycle removed; the previous point is as it was (nothing of it
 *   was written).  A restart: before record, the same (the job fails:
 *   the primary retries the cycle); in merge, the merge runs again (each
 *   step is idempotent: the point reads the same through either file). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delta.h"
#include "failpoint.h"
#include "fsutil.h"
#include "health.h"
#include "cluster.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "peer.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"
#include "vm_limits.h"

#define RC_FETCH_MS (3600ULL * 1000)	/* one delta's download */
#define RC_ROOM_LOW (1ULL << 20)	/* a pool this close to full is full */
#define RC_FW_MAX (64ULL << 20)		/* an NVRAM file, a TPM's state */

enum rc_phase { RC_PH_START, RC_PH_FETCH, RC_PH_PREPARE, RC_PH_APPLY,
		RC_PH_RECORD, RC_PH_MERGE, RC_PH__COUNT };

static const char *const rc_phase_names[RC_PH__COUNT] = {
	[RC_PH_START] = "start", [RC_PH_FETCH] = "fetch",
	[RC_PH_PREPARE] = "prepare", [RC_PH_APPLY] = "apply",
	[RC_PH_RECORD] = "record", [RC_PH_MERGE] = "merge",
};

struct rc_ctx {
	struct host *h;
	struct job_ref ref;
	struct peer_call *call;
	int fd;
	bool out, done;
	char err[256];
};

static struct rc_ctx *
rc_ctx(struct job *job)
{
	bool fresh;
	struct rc_ctx *c = job_priv(job, sizeof(*c), &fresh);

	if (fresh) {
		c->h = host_of(job);
		c->fd = -1;
	}
	return c;
}

static void
rc_ctx_free(struct job *job)
{
	struct rc_ctx *c = job->priv;

	if (!c)
		return;
	c->call = peer_call_cancel(c->call);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	job->priv = NULL;
}

static json_t *
rc_disks(const struct job *job)
{
	return json_object_get(job->details, "disks");
}

/* The cycle's spool directory, a disk's file in it (caller frees). */
static char *
rc_dir(const struct job *job)
{
	char pt[24];
	_cleanup_free_ char *spool = replica_spool_dir(vm_of(job));

	replica_point_name(rp_int(job->details, "seq"), pt);
	return xasprintf("%s/%s/%s", spool, job->row->vm_uuid, pt);
}

/* The item to fetch at index next: the disks' deltas, then a UEFI VM's
 * NVRAM and its TPM's state ("fw": fw-nvram, fw-tpm, whole files). */
static json_t *
rc_fetch_item(const struct job *job, int64_t next)
{
	size_t n = json_array_size(rc_disks(job));

	if ((size_t)next < n)
		return json_array_get(rc_disks(job), (size_t)next);
	return json_array_get(json_object_get(job->details, "fw"),
	    (size_t)next - n);
}

static char *
rc_file(const struct job *job, const json_t *d, const char *ext)
{
	_cleanup_free_ char *dir = rc_dir(job);

	return xasprintf("%s/%s.%s", dir, rp_str(d, "name"), ext);
}

/* The VM's disk row named like d. */
static struct disk_row *
rc_disk_row(struct vm *vm, const json_t *d)
{
	for (size_t i = 0; i < vm->row->n_disks; i++)
		if (streq(vm->row->disks[i].name, rp_str(d, "name")))
			return &vm->row->disks[i];
	return NULL;
}

/* The directory of the pool the replica's disk d is in (caller frees). */
static char *
rc_pool_dir(const struct vm *vm, const json_t *d)
{
	for (size_t i = 0; i < vm->row->n_disks; i++)
		if (streq(vm->row->disks[i].name, rp_str(d, "name")) &&
		    vm->row->disks[i].pool)
			return host_pool_path(vm->h, vm->row->disks[i].pool);
	return NULL;
}

/* The disk's image below every point: POOL/VM-DISK.qcow2. */
static char *
rc_base_path(const struct vm *vm, const json_t *d)
{
	_cleanup_free_ char *pool = rc_pool_dir(vm, d);

	return xasprintf("%s/%s-%s.qcow2", pool ? pool : ".", vm->row->name,
	    rp_str(d, "name"));
}

static char *
rc_overlay_path(const struct job *job, const json_t *d)
{
	_cleanup_free_ char *pool = rc_pool_dir(vm_of(job), d);
	char pt[24];

	replica_point_name(rp_int(job->details, "seq"), pt);
	return xasprintf("%s/%s-%s.rp-%s.qcow2", pool ? pool : ".",
	    vm_of(job)->row->name, rp_str(d, "name"), pt);
}

bool
rp_new_chain(const json_t *details)
{
	return rp_int(details, "base_seq") == 0 &&
	    !json_is_true(json_object_get(details, "existing"));
}

static bool
rc_new_chain(const struct job *job)
{
	return rp_new_chain(job->details);
}

static void
rc_next(struct job *job, unsigned phase)
{
	json_object_set_new(job->details, "next", json_integer(0));
	job_set_phase(job, phase);
	job_poke(job);
}

static bool rc_recorded(struct job *job);

/* Going back: this cycle's overlays, its NVRAM/TPM copies and spool
 * removed. */
static void
rc_fail(struct job *job, int r, const char *why)
{
	_cleanup_free_ char *dir = rc_dir(job);
	json_t *d;
	size_t i;

	if (job->child)
		(void)child_kill(job->child, SIGTERM);
	json_array_foreach(rc_disks(job), i, d) {
		_cleanup_free_ char *ov = rc_overlay_path(job, d);
		struct disk_row *k = vm_of(job) ? rc_disk_row(vm_of(job), d) :
		    NULL;

		if (k && !streq(k->path, ov))
			(void)unlink(ov);
	}
	if (vm_of(job) && !rc_recorded(job))
		rp_fw_unlink_own(vm_of(job), rp_int(job->details, "seq"));
	(void)dir_remove_flat(dir);
	rc_ctx_free(job);
	job_finish(job, r, "cycle %lld not applied: %s", (long long)rp_int(
	    job->details, "seq"), why);
}

/* ---- fetch ---- */

static void
rc_on_fetched(uint64_t bytes, uint64_t usec, const struct err *e,
    void *data)
{
	struct rc_ctx *c = data;	/* alive: its job cancels the call */
	struct job *job = job_from_ref(&c->h->jobs, c->ref);

	(void)bytes;
	(void)usec;
	c->call = NULL;
	c->done = true;
	snprintf(c->err, sizeof(c->err), "%s", e ? e->msg : "");
	if (job)
		job_poke(job);
}

/* The room a cycle takes in the pool of disk i: the overlays of the disks
 * in that pool (as big as their deltas), and the spool's deltas when it
 * is in that pool too (the first disk's: replica_spool_dir). */
static uint64_t
rc_need(const struct job *job, size_t i)
{
	const struct vm *vm = vm_of(job);
	const char *pool = vm->row->disks[i].pool;
	bool spool_here = streq(vm->row->disks[0].pool, pool) &&
	    !rp_str(job->details, "seed_dir");
	uint64_t need = 0;
	const json_t *d;
	size_t k;

	json_array_foreach(rc_disks(job), k, d) {
		const struct disk_row *r = rc_disk_row(vm_of(job), d);

		if (spool_here)
			need += (uint64_t)rp_int(d, "delta_bytes");
		if (r && streq(r->pool, pool))
			need += (uint64_t)rp_int(d, "delta_bytes");
	}
	return need;
}

/* Room in each pool of the replica for the cycle: its deltas, and as
 * much again for the overlays they become. */
static int
rc_room(struct job *job, struct err *err)
{
	const struct vm *vm = vm_of(job);

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *pool = vm->row->disks[i].pool;
		_cleanup_free_ char *dir = pool ? host_pool_path(vm->h, pool) :
		    NULL;
		uint64_t need = rc_need(job, i), avail = 0;

		if (!dir || fs_free_bytes(dir, &avail) < 0 || need <= avail)
			continue;
		return err_set(err, -ENOSPC, "pool '%s' on host %s has %llu "
		    "MiB free, the cycle of vm '%s' needs %llu MiB: free room "
		    "there; the next cycle carries everything", pool,
		    vm->h->cfg.name, (unsigned long long)(avail >> 20),
		    vm->row->name,
		    (unsigned long long)((need + (1 << 20) - 1) >> 20));
	}
	return 0;
}

/* A write of the cycle failed: when a pool of the replica ran out of
 * room (less than RC_ROOM_LOW free now, with the failed cycle's files
 * still there: the room check is an estimate), the reason naming that
 * pool (caller frees), else NULL.  Decided by the pool's free space, not
 * by the words of the error. */
static char *
rc_no_room(const struct job *job)
{
	const struct vm *vm = vm_of(job);
	const char *full = NULL;
	uint64_t least = UINT64_MAX, avail;

	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *pool = vm->row->disks[i].pool;
		_cleanup_free_ char *dir = pool ? host_pool_path(vm->h, pool) :
		    NULL;

		if (dir && fs_free_bytes(dir, &avail) == 0 && avail < least) {
			least = avail;
			full = pool;
		}
	}
	if (!full || least >= RC_ROOM_LOW)
		return NULL;
	return xasprintf("pool '%s' on host %s ran out of room writing the "
	    "cycle of vm '%s' (its latest point untouched): free room there; "
	    "the next cycle carries everything", full, vm->h->cfg.name,
	    vm->row->name);
}

static void
rc_fetch(struct job *job)
{
	struct rc_ctx *c = rc_ctx(job);
	int64_t next = rp_int(job->details, "next");
	json_t *d = rc_fetch_item(job, next);
	_cleanup_free_ char *dir = rc_dir(job), *f = NULL, *path = NULL;
	_cleanup_free_ char *sdir = vm_state_path(vm_of(job), NULL);
	struct err e = { 0 };
	char pt[24];
	int r;

	if (c->out && !c->done)
		return;
	if (c->out) {
		c->out = false;
		close(c->fd);
		c->fd = -1;
		if (c->err[0]) {
			_cleanup_free_ char *full = rc_no_room(job);

			rc_fail(job, full ? -ENOSPC : -EIO, full ? full : c->err);
			return;
		}
		json_object_set_new(job->details, "next", json_integer(++next));
		d = rc_fetch_item(job, next);
	}
	if (!d) {
		rc_next(job, RC_PH_PREPARE);
		return;
	}
	if (next == 0 && ((r = rc_room(job, &e)) < 0 ||
	    (r = mkdir_p(dir, 0700)) < 0 || (r = mkdir_p(sdir, 0700)) < 0)) {
		rc_fail(job, r, e.msg[0] ? e.msg : "cannot make the spool");
		return;
	}
	if (rp_str(job->details, "seed_dir")) {	/* nothing to download */
		rc_next(job, RC_PH_PREPARE);
		return;
	}
	f = rc_file(job, d, "delta");
	c->fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	replica_point_name(rp_int(job->details, "seq"), pt);
	path = xasprintf("/v1/replica/deltas/%s/%s/%s", job->row->vm_uuid,
	    pt, rp_str(d, "name"));
	c->out = true;
	c->done = false;
	c->ref = job_ref(job);
	if (c->fd < 0 || !c->h->peers || (r = peer_download(c->h->peers,
	    rp_str(job->details, "peer_url"), rp_str(job->details, "peer_fp"),
	    path, c->fd, (uint64_t)rp_int(d, "delta_bytes"), RC_FETCH_MS,
	    rc_on_fetched, c, &c->call)) < 0) {
		c->out = false;
		rc_fail(job, -EIO, "cannot fetch the delta from the primary");
	}
}

/* ---- prepare, apply: one helper per disk at a time ---- */

static void
rc_on_child(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		json_object_set_new(job->details, "child_status",
		    json_integer(status));
		json_object_set_new(job->details, "child_failed", json_true());
	} else {
		json_object_set_new(job->details, "next", json_integer(
		    rp_int(job->details, "next") + 1));
	}
	job_poke(job);
}

/* A helper failed: its log's last line says why. */
static bool
rc_child_failed(struct job *job, const char *what)
{
	_cleanup_free_ char *log = NULL, *last = NULL, *why = NULL;

	if (!json_is_true(json_object_get(job->details, "child_failed")))
		return false;
	log = vm_state_path(vm_of(job), "replica.log");
	last = file_last_line(log);
	/* A refused delta is known by the helper's exit status.  Its line
	 * names the files first, then the reason: only the reason travels
	 * (to the primary and its CLI). */
	if (job_phase_is(job, RC_PH_APPLY) && rp_int(job->details,
	    "child_status") == DELTA_APPLY_REJECTED)
		why = xasprintf("the delta was rejected (the replica's point is "
		    "untouched): %s", last && strstr(last, "untouched: ") ?
		    strstr(last, "untouched: ") + 11 : last ? last :
		    "see replica.log");
	else if (job_phase_is(job, RC_PH_APPLY) && rp_int(job->details,
	    "child_status") == DELTA_APPLY_MISMATCH) {
		why = xasprintf("read-back mismatch (critical, resync the "
		    "replication): %s", last ? last : "see replica.log");
		json_object_set_new(job->details, "mismatch", json_true());
		rp_health_mismatch(host_of(job), job->row->vm_uuid,
		    rp_int(job->details, "time_ms"), why);
	} else if (!(why = rc_no_room(job)))
		why = xasprintf("%s failed: %s", what, last ? last :
		    "see its log");
	rc_fail(job, -EIO, why);
	return true;
}

static void
rc_prepare(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d = json_array_get(rc_disks(job), (size_t)rp_int(job->details,
	    "next"));
	_cleanup_free_ char *ov = NULL, *log = vm_state_path(vm,
	    "replica.log");
	struct disk_row *k;
	char sz[32];

	if (job->child || rc_child_failed(job, "qemu-img create"))
		return;
	if (!d) {
		rc_next(job, RC_PH_APPLY);
		return;
	}
	k = rc_disk_row(vm, d);
	if (!k || k->size_bytes != (uint64_t)rp_int(d, "size")) {
		rc_fail(job, -EINVAL, "the cycle's disks are not the replica's "
		    "(name or size); resync the replication");
		return;
	}
	ov = rc_overlay_path(job, d);
	json_object_set_new(d, "below", json_string(k->path));
	job_save(job);
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)k->size_bytes);
	{
		const char *argv[] = { vm->h->cfg.qemu_img, "create", "-q",
			"-f", "qcow2", "-b", k->path, "-F", "qcow2", ov, sz,
			NULL };

		if (rc_new_chain(job)) {
			argv[5] = ov;	/* a new chain: no backing */
			argv[6] = sz;
			argv[7] = NULL;
		}
		if (job_spawn(job, argv, log, rc_on_child) < 0)
			rc_fail(job, -EIO, "cannot run qemu-img");
	}
}

static void
rc_apply(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d = json_array_get(rc_disks(job), (size_t)rp_int(job->details,
	    "next"));
	_cleanup_free_ char *ov = NULL, *delta = NULL, *map = NULL;
	_cleanup_free_ char *sum = NULL, *map_in = NULL, *spool = NULL;
	_cleanup_free_ char *log = vm_state_path(vm, "replica.log");
	char seq[24], base[24], pt[24], sz[32];
	const char *argv[24];
	size_t k = 0;

	if (job->child || rc_child_failed(job, "applying the delta"))
		return;
	if (!d) {
		rc_next(job, RC_PH_RECORD);
		return;
	}
	/* Tests: the apply held once the overlays exist (a pool filled
	 * after the room check). */
	if (job_failpoint(job, "replica.apply.prepared") > 0)
		return;
	ov = rc_overlay_path(job, d);
	delta = rp_str(job->details, "seed_dir") ? xasprintf("%s/%s.delta",
	    rp_str(job->details, "seed_dir"), rp_str(d, "name")) :
	    rc_file(job, d, "delta");
	map = rc_file(job, d, "map");
	sum = rc_file(job, d, "summary");
	spool = replica_spool_dir(vm);
	snprintf(seq, sizeof(seq), "%lld", (long long)rp_int(job->details,
	    "seq"));
	snprintf(base, sizeof(base), "%lld", (long long)rp_int(job->details,
	    "base_seq"));
	replica_point_name(rp_int(job->details, "base_seq"), pt);
	map_in = xasprintf("%s/%s/%s/%s.map", spool, vm->row->uuid,
	    rc_new_chain(job) || rp_int(job->details, "base_seq") ? pt :
	    "check", rp_str(d, "name"));
	snprintf(sz, sizeof(sz), "%lld", (long long)rp_int(d, "size"));
	argv[k++] = vm->h->cfg.replica_apply;
	argv[k++] = "--delta";
	argv[k++] = delta;
	argv[k++] = "--image";
	argv[k++] = ov;
	argv[k++] = "--seq";
	argv[k++] = seq;
	argv[k++] = "--base-seq";
	argv[k++] = base;
	argv[k++] = "--disk";
	argv[k++] = rp_str(d, "name");
	argv[k++] = "--vm-uuid";
	argv[k++] = vm->row->uuid;
	argv[k++] = !rc_new_chain(job) ? "--map-in" : "--map-size";
	argv[k++] = !rc_new_chain(job) ? map_in : sz;
	argv[k++] = "--map-out";
	argv[k++] = map;
	argv[k++] = "--summary";
	argv[k++] = sum;
	argv[k] = NULL;
	if (job_spawn(job, argv, log, rc_on_child) < 0) {
		rc_fail(job, -EIO, "cannot run tern-replica-apply");
		return;
	}
	/* Tests: ternd dies while the delta is applied (the helper with
	 * it). */
	(void)failpoint_check("replica.apply.write", NULL);
}

/* ---- record, merge ---- */

static int
rc_set_disk(struct vm *vm, struct disk_row *k, const char *path)
{
	int r;

	if (streq(k->path, path))
		return 0;
	r = store_vm_set_disk(vm->h->store, vm->row->uuid, k->name, path,
	    k->pool);
	if (r < 0)
		return r;
	free(k->path);
	k->path = xstrdup(path);
	return 0;
}

static int
rc_record_row(struct job *job, const json_t *files)
{
	struct vm *vm = vm_of(job);
	struct replication_row r;
	json_t *st;
	int rc = store_replication_get(vm->h->store, vm->row->uuid, &r);

	if (rc < 0)
		return rc;
	/* The points kept, and the merges left to do: saved in the
	 * transaction that records the point (one store), so a restart
	 * finds both or neither. */
	rp_points_plan(job, &r, files, json_object_get(job->details,
	    "fw_point"), vm->h->cfg.replica_point_period_ms);
	job_save(job);
	st = rp_stats_load(r.stats);
	r.seq = rp_int(job->details, "seq");
	json_object_set_new(st, "base_seq", json_integer(rp_int(job->details,
	    "base_seq")));
	json_object_set_new(st, "last_success_ms", json_integer(rp_int(
	    job->details, "time_ms")));
	json_object_set_new(st, "consistency", json_string(rp_str(job->details,
	    "consistency") ? rp_str(job->details, "consistency") : "crash"));
	json_object_set_new(st, "successful", json_integer(rp_int(st,
	    "successful") + 1));
	free(r.stats);
	r.stats = json_to_string(st);
	json_decref(st);
	rc = store_replication_update(vm->h->store, &r);
	replication_row_done(&r);
	return rc;
}

/* The recovery point's NVRAM and TPM state (the cycle's "fw", fetched
 * whole) into the replica VM's own places too, so that they follow the
 * latest point (a failover copies its point's own, rp_fw.c, over them).
 * A failure leaves the previous ones (logged; the point stands). */
static void
rc_install_fw(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(job->details, "fw"), i, d) {
		_cleanup_free_ char *src = rc_file(job, d, "delta");
		_cleanup_free_ char *buf = NULL, *dst = NULL;
		bool nv = streq(rp_str(d, "name"), "fw-nvram");
		size_t len = 0;
		int r;

		if (nv ? !vm->row->nvram : !vm->row->tpm_dir)
			continue;
		dst = nv ? xstrdup(vm->row->nvram) : xasprintf(
		    "%s/tpm2-00.permall", vm->row->tpm_dir);
		if (!nv)
			(void)mkdir_p(vm->row->tpm_dir, 0700);
		if ((r = file_read_all(src, RC_FW_MAX, &buf, &len)) < 0 ||
		    (r = file_write_atomic(dst, buf, len, 0600)) < 0)
			log_warn("vm=%s replica: cannot install %s of cycle "
			    "%lld: %s", vm->row->name, dst, (long long)rp_int(
			    job->details, "seq"), strerror(-r));
	}
}

/* The cycle's NVRAM and TPM state kept as the point's own copies
 * (rp_fw.c) before the point is recorded, so the point never names a
 * file that is not whole; details "fw_point" names them.  A cycle that
 * is not recorded removes them (rc_fail). */
static int
rc_fw_keep(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *fw = json_object(), *d;
	size_t i;
	int r = 0;

	json_array_foreach(json_object_get(job->details, "fw"), i, d) {
		_cleanup_free_ char *src = rc_file(job, d, "delta");

		r = rp_fw_keep(vm, rp_int(job->details, "seq"), src,
		    streq(rp_str(d, "name"), "fw-nvram"), fw);
		if (r < 0)
			break;
	}
	json_object_set_new(job->details, "fw_point", fw);
	return r;
}

static void
rc_record(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *d, *files;
	size_t i;
	int r;

	if ((r = rc_fw_keep(job)) < 0) {
		rc_fail(job, r, "cannot keep the point's NVRAM and TPM state");
		return;
	}
	files = json_object();
	r = store_begin(vm->h->store);

	json_array_foreach(rc_disks(job), i, d) {
		_cleanup_free_ char *ov = rc_overlay_path(job, d);
		_cleanup_free_ char *base = rc_base_path(vm, d);
		struct disk_row *k = rc_disk_row(vm, d);

		json_object_set_new(files, rp_str(d, "name"), json_string(ov));
		if (rc_new_chain(job))
			json_object_set_new(d, "base", json_string(base));
		if (r == 0)
			r = k ? rc_set_disk(vm, k, ov) : -ENOENT;
	}
	if (r == 0)
		r = rc_record_row(job, files);
	json_decref(files);
	if (r == 0)
		r = store_commit(vm->h->store);
	else
		store_rollback(vm->h->store);
	if (r < 0) {
		rc_fail(job, r, "cannot record the recovery point");
		return;
	}
	rc_install_fw(job);
	host_event(vm->h, "info", vm, job->row->id, "recovery point %lld "
	    "applied", (long long)rp_int(job->details, "seq"));
	rc_next(job, RC_PH_MERGE);
}

/* A replica in a cluster: its record, as the cluster's state holds it,
 * is the current one (broker.c) before the merges start and before the
 * primary is told the cycle is applied, so a node that takes it over
 * has every point the primary knows of.  key names the wait in the
 * details; after RC_PUBLISH_MS it goes on, saying so.  false: wait. */
#define RC_PUBLISH_MS 30000

static bool
rc_published(struct job *job, const char *key)
{
	int64_t since = rp_int(job->details, key);

	if (since < 0)
		return true;
	if (cluster_replica_published(host_of(job), vm_of(job)) == 1) {
		json_object_set_new(job->details, key, json_integer(0));
		return true;
	}
	if (!since)
		json_object_set_new(job->details, key, json_integer(
		    (json_int_t)wall_ms()));
	else if ((uint64_t)since + RC_PUBLISH_MS < wall_ms()) {
		host_event(host_of(job), "warning", vm_of(job), job->row->id,
		    "the cluster's state does not hold point %lld of this "
		    "replica yet: a node that took it over now would start "
		    "from an older one", (long long)rp_int(job->details,
		    "seq"));
		json_object_set_new(job->details, key, json_integer(-1));
		return true;
	}
	job_wake_after(job, 250);
	return false;
}

static void
rc_done(struct job *job)
{
	_cleanup_free_ char *dir = rc_dir(job);
	json_t *d;
	size_t i;
	char pt[24];

	if (!rc_published(job, "published_done"))
		return;

	json_array_foreach(rc_disks(job), i, d) {
		_cleanup_free_ char *f = rc_file(job, d, "delta");
		_cleanup_free_ char *sm = rc_file(job, d, "summary");

		(void)unlink(f);
		(void)unlink(sm);
	}
	replica_point_name(rp_int(job->details, "seq"), pt);
	*strrchr(dir, '/') = '\0';
	replica_spool_keep(dir, pt);
	rc_ctx_free(job);
	job_finish(job, 0, NULL);
}

static void
rc_merge(struct job *job)
{
	if (rc_published(job, "published_record") &&
	    rp_points_merge(job) == 1)
		rc_done(job);
}

/* The store has this cycle as the replica's latest point. */
static bool
rc_recorded(struct job *job)
{
	struct replication_row r;
	bool yes;

	if (store_replication_get(host_of(job)->store, job->row->vm_uuid,
	    &r) < 0)
		return false;
	yes = r.seq == rp_int(job->details, "seq");
	replication_row_done(&r);
	return yes;
}

static void
rc_step(struct job *job)
{
	if (vm_job_gone(job))
		return;
	if (job->recovering) {
		job->recovering = false;
		if (job->phase == RC_PH_RECORD && rc_recorded(job)) {
			rc_next(job, RC_PH_MERGE);
			return;
		}
		if (job->phase < RC_PH_MERGE) {
			rc_fail(job, -EIO, rp_str(job->details, "seed_dir") ?
			    "ternd restarted during the import; import the "
			    "seed again" : "ternd restarted during the apply; "
			    "the primary sends the cycle again");
			return;
		}
		json_object_del(job->details, "committing");
	}
	switch (job->phase) {
	case RC_PH_START:
		rc_next(job, RC_PH_FETCH);
		break;
	case RC_PH_FETCH:
		rc_fetch(job);
		break;
	case RC_PH_PREPARE:
		rc_prepare(job);
		break;
	case RC_PH_APPLY:
		rc_apply(job);
		break;
	case RC_PH_RECORD:
		rc_record(job);
		break;
	case RC_PH_MERGE:
		rc_merge(job);
		break;
	}
}

static int
rc_cancel(struct job *job, struct err *err)
{
	if (job->phase >= RC_PH_RECORD)
		return err_set(err, -EBUSY, "the recovery point is recorded; "
		    "its merge finishes");
	rc_fail(job, -ECANCELED, "cancelled");
	return 0;
}

const struct job_ops job_replica_apply = {
	.type = "replica.apply", .phases = rc_phase_names,
	.n_phases = RC_PH__COUNT, .step = rc_step, .cancel = rc_cancel,
	.priv_free = rc_ctx_free,
};

/* ---- the primary's request ---- */

/* Which cycle the replica takes after its latest point latest (whose
 * base was latest_base): 1 applied already, 0 take it, < 0 refused.
 * "Applied already" names the same seq and base; the primary tells an
 * ack it lost from an earlier attempt of its own by the point's time,
 * which the 200 carries (cycle.c: cy_applied).  Refused: -EEXIST, a
 * conflict with the replica's points (409). */
static int
rc_order(const struct vm *vm, int64_t latest, int64_t latest_base,
    int64_t seq, int64_t base, struct err *err)
{
	if (seq == latest && base == latest_base && latest > 0)
		return 1;
	if (seq != latest + 1 || (base != 0 && base != latest))
		return err_set(err, -EEXIST, "cycle %lld (on point %lld) is out "
		    "of order for vm '%s': the replica's latest point is %lld",
		    (long long)seq, (long long)base, vm->row->name,
		    (long long)latest);
	return 0;
}

static int
rc_parse_disks(const struct vm *vm, const json_t *arr, struct err *err)
{
	json_t *d;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > VM_MAX_DISKS)
		return err_set(err, -EINVAL, "cycle: disks must be a list");
	json_array_foreach(arr, i, d) {
		bool found = false;

		if (!json_is_string(json_object_get(d, "name")) ||
		    !json_is_integer(json_object_get(d, "size")) ||
		    !json_is_integer(json_object_get(d, "delta_bytes")) ||
		    rp_int(d, "delta_bytes") < 0 ||
		    (uint64_t)rp_int(d, "delta_bytes") > PEER_DOWNLOAD_MAX_BYTES)
			return err_set(err, -EINVAL, "cycle: disks[%zu] needs "
			    "name, size and delta_bytes", i);
		for (size_t k = 0; k < vm->row->n_disks; k++)
			found |= streq(vm->row->disks[k].name, rp_str(d, "name"));
		if (!found)
			return err_set(err, -EINVAL, "cycle: the replica of vm "
			    "'%s' has no disk %.16s", vm->row->name,
			    rp_str(d, "name"));
	}
	return 0;
}

/* "fw": at most fw-nvram and fw-tpm, each once, a file's size. */
static int
rc_parse_fw(const json_t *arr, struct err *err)
{
	bool seen[2] = { false, false };
	json_t *d;
	size_t i;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > 2)
		return err_set(err, -EINVAL, "cycle: fw must be a list of at "
		    "most 2");
	json_array_foreach(arr, i, d) {
		const char *name = rp_str(d, "name");
		int k = streq(name, "fw-nvram") ? 0 : streq(name, "fw-tpm") ?
		    1 : -1;

		if (k < 0 || seen[k] || !json_is_integer(json_object_get(d,
		    "delta_bytes")) || rp_int(d, "delta_bytes") < 0 ||
		    (uint64_t)rp_int(d, "delta_bytes") > RC_FW_MAX)
			return err_set(err, -EINVAL, "cycle: fw[%zu] must be "
			    "fw-nvram or fw-tpm (once) with delta_bytes up to "
			    "64 MiB", i);
		seen[k] = true;
	}
	return 0;
}

/* A replica that failed over here (src/failover writes the row's
 * "failover") takes no cycle: -EEXIST (409) saying since when and what
 * to do; the text begins "vm 'NAME' failed over here" (the primary
 * recognises it).  r is done on error. */
static int
rc_failed_over(struct host *h, const struct vm *vm,
    struct replication_row *r, struct err *err)
{
	json_t *fo;
	int64_t t;

	if (!streq(r->state, "failed-over"))
		return 0;
	fo = r->failover ? json_loads(r->failover, 0, NULL) : NULL;
	t = rp_int(fo, "time_ms");
	json_decref(fo);
	replication_row_done(r);
	return err_set(err, -EEXIST, "vm '%s' failed over here (host %s) at "
	    "%lld ms (wall clock); it takes no cycle: reverse the "
	    "replication there, or remove it here", vm->row->name,
	    h->cfg.name, (long long)t);
}

int
replica_incoming_cycle(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct job **ret_job, int64_t *ret_applied_ms,
    struct err *err)
{
	static const char *const fields[] = { "seq", "base_seq", "time_ms",
		"consistency", "disks", "existing", "fw", NULL };
	struct vm *vm = NULL;
	struct replication_row r;
	json_t *st, *details;
	int64_t seq = 0, base = -1, t = 0;
	int rc = rp_relation_for_peer(h, uuid, fp, "replica", &vm, &r);

	*ret_job = NULL;
	if (rc == -ENOENT)
		return err_set(err, -ENOENT, "host %s has no replica with uuid "
		    "%.40s", h->cfg.name, uuid);
	/* Another host: the primary moved there (follow.c)? */
	if (rc < 0 && (rc = rp_follow_claim(h, vm, fp, &r, err)) < 0)
		return rc;
	if ((rc = rc_failed_over(h, vm, &r, err)) < 0 ||
	    (rc = cluster_replica_here(h, vm, err)) < 0) {
		replication_row_done(&r);
		return rc;
	}
	st = rp_stats_load(r.stats);
	if ((rc = json_check_fields(body, fields, "cycle",
	    err)) == 0 && (rc = json_get_int(body, "seq", true, 1, INT64_MAX,
	    &seq, err)) == 0 && (rc = json_get_int(body, "base_seq", true, 0,
	    INT64_MAX, &base, err)) == 0 && (rc = json_get_int(body, "time_ms",
	    true, 0, INT64_MAX, &t, err)) == 0)
		rc = rc_parse_disks(vm, json_object_get(body, "disks"), err);
	if (rc == 0)
		rc = rc_parse_fw(json_object_get(body, "fw"), err);
	if (rc == 0)
		rc = rc_order(vm, r.seq, rp_int(st, "base_seq"), seq, base, err);
	*ret_applied_ms = rp_int(st, "last_success_ms");
	if (rc == 0 && json_is_true(json_object_get(body, "existing")) &&
	    (seq != 1 || base != 0))
		rc = err_set(err, -EEXIST, "only the first cycle builds on an "
		    "existing copy");
	json_decref(st);
	if (rc != 0) {
		replication_row_done(&r);
		return rc < 0 ? rc : 0;
	}
	details = json_pack("{sI sI sI ss so si}", "seq", (json_int_t)seq,
	    "base_seq", (json_int_t)base, "time_ms", (json_int_t)t,
	    "consistency", streq(rp_str(body, "consistency"), "filesystem") ?
	    "filesystem" : "crash", "disks", json_deep_copy(json_object_get(
	    body, "disks")), "next", 0);
	if (json_is_true(json_object_get(body, "existing")))
		json_object_set_new(details, "existing", json_true());
	if (json_is_array(json_object_get(body, "fw")))
		json_object_set_new(details, "fw", json_deep_copy(
		    json_object_get(body, "fw")));
	(void)rp_peer_details(h, details, r.peer, NULL);
	replication_row_done(&r);
	if ((rc = vm_job_create(h, &job_replica_apply, vm, details, ret_job,
	    err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
