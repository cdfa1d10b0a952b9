/* verify.c - vm.replication-verify on the primary: the replica's latest
 * recovery point compared by per-block checksums (XXH3-64 per 64 KiB)
 * with the primary's map of that same point, without sending data; and
 * `resync`, the same comparison whose replica map then becomes the
 * parent map of the next cycle, so that cycle sends exactly the blocks
 * the replica lacks.
 *
 * What is compared: the replica reads every block of its images now
 * (replica.map, remap.c: a helper, not ternd's loop) and sends us that
 * map; ours is the map the copier computed while it read the point of
 * the last acknowledged cycle (spool POOL/.tern-replica/UUID/SEQ/
 * DISK.map).  Equal maps: the replica holds that point; any differing
 * block: its copy is damaged (or was changed behind our back).
 *
 *   start --vf_ask: POST /v1/replica/vms/UUID/maps--> ask --(202)-->
 *   wait (GET /v1/jobs/ID until replica.map ends; its seq must be ours)
 *   --vf_fetch: per disk GET /v1/replica/maps/UUID/DISK into the spool's
 *   check/DISK.map--> fetch --vf_compare: per disk the two maps
 *   compared; the counts and the first differing offsets in the details;
 *   resync: the replica's map renamed over ours and the relationship's
 *   reference points dropped (the next cycle compares: kind resync)-->
 *   compare --vf_record: the relationship's stats (verify result;
 *   needs_resync when blocks differ, which makes its health critical
 *   until a resync's cycle is acknowledged)--> done
 *
 *   Any failure, a cancel or a restart before compare: the job fails,
 *   nothing of the relationship changed (the check directory is scratch).
 *   Holding the VM, it runs no cycle meanwhile.
 *
 * --initial existing (seq 0, the scheduler starts it: rp_seed_needed):
 * a resync before the first cycle, the seed: the replica's maps of the
 * operator's copies become point 0's (SEQ 000000000000) maps, compared
 * with nothing; the first cycle then compares every block with them
 * (kind resync, base 0, "existing": the replica applies it over the
 * copies). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockmap.h"
#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "refpoint.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define VF_FETCH_MS (600ULL * 1000)	/* one map's download */
#define VF_FIRST_MAX 8			/* differing offsets reported */

enum vf_phase { VF_PH_START, VF_PH_ASK, VF_PH_WAIT, VF_PH_FETCH,
		VF_PH_COMPARE, VF_PH__COUNT };

static const char *const vf_phase_names[VF_PH__COUNT] = {
	[VF_PH_START] = "start", [VF_PH_ASK] = "ask", [VF_PH_WAIT] = "wait",
	[VF_PH_FETCH] = "fetch", [VF_PH_COMPARE] = "compare",
};

/* The job's private state; the call first (rp_call's contract). */
struct vf_ctx {
	struct rp_call call;
	struct peer_call *dl;
	int fd;
	bool dl_out, dl_done;
	char dl_err[256];
};

static struct vf_ctx *
vf_ctx(struct job *job)
{
	bool fresh;
	struct vf_ctx *c = job_priv(job, sizeof(*c), &fresh);

	if (fresh) {
		c->call.h = host_of(job);
		c->fd = -1;
	}
	return c;
}

static void
vf_ctx_free(struct job *job)
{
	struct vf_ctx *c = job->priv;

	if (!c)
		return;
	rp_call_clear(&c->call);
	c->dl = peer_call_cancel(c->dl);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	job->priv = NULL;
}

/* A file of vm's spool: POINT/DISK.EXT (caller frees). */
static char *
vf_file(const struct vm *vm, const char *point, const char *disk,
    const char *ext)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);

	return xasprintf("%s/%s/%s/%s.%s", spool, vm->row->uuid, point, disk,
	    ext);
}

static void
vf_fail(struct job *job, int r, const char *why)
{
	vf_ctx_free(job);
	job_finish(job, r, "%s: %s", json_is_true(json_object_get(
	    job->details, "resync")) ? "no resync" : "not verified", why);
}

static void
vf_next(struct job *job, unsigned phase)
{
	json_object_set_new(job->details, "next", json_integer(0));
	job_set_phase(job, phase);
	job_save(job);
	job_poke(job);
}

static void
vf_ask(struct job *job, struct vf_ctx *c)
{
	char path[96];

	if (!c->call.out) {
		snprintf(path, sizeof(path), "/v1/replica/vms/%s/maps",
		    job->row->vm_uuid);
		job_set_phase(job, VF_PH_ASK);
		rp_call_send(job, &c->call, "POST", path, json_object());
		return;
	}
	if (!rp_call_done(&c->call))
		return;
	if (c->call.status == 202 && rp_call_job_id(&c->call) > 0) {
		json_object_set_new(job->details, "remote_job",
		    json_integer(rp_call_job_id(&c->call)));
		vf_next(job, VF_PH_WAIT);
	} else {
		vf_fail(job, c->call.status ? -EIO : -EHOSTUNREACH,
		    c->call.err);
	}
}

/* The replica's answer: its latest point must be the one we know. */
static void
vf_wait(struct job *job, struct vf_ctx *c)
{
	const char *msg;
	json_t *rd;
	_cleanup_free_ char *why = NULL;

	switch (rp_call_poll_job(job, &c->call, rp_int(job->details,
	    "remote_job"), &msg)) {
	case RP_JOB_SUCCEEDED:
		rd = json_object_get(c->call.reply, "details");
		if (rp_int(rd, "seq") != rp_int(job->details, "seq")) {
			why = xasprintf("the replica's latest point is %lld, "
			    "ours %lld: run a cycle first", (long long)rp_int(
			    rd, "seq"), (long long)rp_int(job->details, "seq"));
			vf_fail(job, -ESTALE, why);
			return;
		}
		json_object_set(job->details, "replica_disks",
		    json_object_get(rd, "disks"));
		vf_next(job, VF_PH_FETCH);
		break;
	case RP_JOB_FAILED:
		why = xasprintf("the replica could not read its disks: %s", msg);
		vf_fail(job, -EIO, why);
		break;
	case RP_JOB_UNKNOWN:
		vf_fail(job, -EIO, msg);
		break;
	}
}

static void
vf_on_fetched(uint64_t bytes, uint64_t usec, const struct err *e,
    void *data)
{
	struct vf_ctx *c = data;	/* alive: its job cancels the call */
	struct job *job = job_from_ref(&c->call.h->jobs, c->call.ref);

	(void)bytes;
	(void)usec;
	c->dl = NULL;
	c->dl_done = true;
	snprintf(c->dl_err, sizeof(c->dl_err), "%s", e ? e->msg : "");
	if (job)
		job_poke(job);
}

/* Start the download of disk d's map; false when it could not start. */
static bool
vf_download(struct job *job, struct vf_ctx *c, const json_t *d)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *f = vf_file(vm, "check", rp_str(d, "name"),
	    "map");
	_cleanup_free_ char *dir = vf_file(vm, "check", "x", "map");
	_cleanup_free_ char *path = xasprintf("/v1/replica/maps/%s/%s",
	    job->row->vm_uuid, rp_str(d, "name"));

	*strrchr(dir, '/') = '\0';
	if (mkdir_p(dir, 0700) < 0)
		return false;
	c->fd = open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	c->dl_out = true;
	c->dl_done = false;
	c->call.ref = job_ref(job);
	if (c->fd < 0 || !c->call.h->peers || peer_download(c->call.h->peers,
	    rp_str(job->details, "peer_url"), rp_str(job->details, "peer_fp"),
	    path, c->fd, (uint64_t)rp_int(d, "map_bytes"), VF_FETCH_MS,
	    vf_on_fetched, c, &c->dl) < 0) {
		c->dl_out = false;
		return false;
	}
	return true;
}

static void
vf_fetch(struct job *job, struct vf_ctx *c)
{
	int64_t next = rp_int(job->details, "next");
	json_t *disks = json_object_get(job->details, "replica_disks");

	if (c->dl_out && !c->dl_done)
		return;
	if (c->dl_out) {
		c->dl_out = false;
		close(c->fd);
		c->fd = -1;
		if (c->dl_err[0]) {
			vf_fail(job, -EIO, c->dl_err);
			return;
		}
		json_object_set_new(job->details, "next", json_integer(++next));
	}
	if ((size_t)next >= json_array_size(disks)) {
		vf_next(job, VF_PH_COMPARE);
		return;
	}
	if (!vf_download(job, c, json_array_get(disks, (size_t)next)))
		vf_fail(job, -EIO, "cannot fetch the replica's map");
}

/* ---- compare ---- */

struct vf_diff {
	uint64_t blocks;
	uint32_t bs;
	json_t *first;
};

static int
vf_on_diff(uint64_t off, uint64_t len, void *data)
{
	struct vf_diff *v = data;

	v->blocks += (len + v->bs - 1) / v->bs;
	for (uint64_t o = off; o < off + len &&
	    json_array_size(v->first) < VF_FIRST_MAX; o += v->bs)
		json_array_append_new(v->first, json_integer((json_int_t)o));
	return 0;
}

static bool
vf_excluded(const struct job *job, const char *disk)
{
	json_t *x;
	size_t i;

	json_array_foreach(json_object_get(job->details, "exclude"), i, x)
		if (streq(json_string_value(x), disk))
			return true;
	return false;
}

/* Our map of the point is not there: the seed (seq 0) or a resync puts
 * the replica's in its place (the next cycle compares with it); a verify
 * has nothing to compare with. */
static int
vf_no_map(struct job *job, json_t *d, const char *ours, const char *theirs,
    struct err *err)
{
	_cleanup_free_ char *dir = xstrdup(ours);
	int r;

	if (!json_is_true(json_object_get(job->details, "resync")))
		return err_set(err, -ENOENT, "the primary's map of point %lld "
		    "of disk %s is missing (%s): run tern vm replication "
		    "resync", (long long)rp_int(job->details, "seq"),
		    rp_str(d, "name"), ours);
	*strrchr(dir, '/') = '\0';
	if ((r = mkdir_p(dir, 0700)) < 0 || rename(theirs, ours) < 0)
		return err_setf_errno(err, r < 0 ? r : -errno, "cannot "
		    "install %s", ours);
	json_object_set_new(d, "installed", json_true());
	return 0;
}

/* Disk d's two maps compared into d's result; < 0 with why. */
static int
vf_compare_disk(struct job *job, json_t *d, const char *point,
    json_t *first, struct err *err)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *ours = vf_file(vm, point, rp_str(d, "name"),
	    "map");
	_cleanup_free_ char *theirs = vf_file(vm, "check", rp_str(d, "name"),
	    "map");
	struct blockmap *a = NULL, *b = NULL;
	struct vf_diff v = { .first = first };
	int r;

	if (vf_excluded(job, rp_str(d, "name"))) {
		json_object_set_new(d, "skipped", json_string("not "
		    "replicated"));
		return 0;
	}
	if (access(ours, F_OK) != 0)
		return vf_no_map(job, d, ours, theirs, err);
	if ((r = blockmap_load(ours, &a, err)) == 0 &&
	    (r = blockmap_load(theirs, &b, err)) == 0) {
		v.bs = a->block_size;
		r = blockmap_diff(a, b, vf_on_diff, &v, err);
	}
	if (r == 0) {
		json_object_set_new(d, "blocks", json_integer((json_int_t)a->n));
		json_object_set_new(d, "differing", json_integer(
		    (json_int_t)v.blocks));
		json_object_set_new(d, "block_size", json_integer(v.bs));
	}
	blockmap_free(a);
	blockmap_free(b);
	if (r == 0 && json_is_true(json_object_get(job->details, "resync")) &&
	    rename(theirs, ours) < 0)
		r = err_setf_errno(err, -errno, "cannot install %s", ours);
	return r;
}

/* The relationship's reference points dropped: the next cycle compares
 * every block with the parent map (now the replica's). */
static void
vf_drop_refs(struct vm *vm)
{
	struct refpoint_row *rows = NULL;
	size_t n = 0;

	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++)
		if (streq(rows[i].owner, "replica") && (i == 0 ||
		    !streq(rows[i - 1].name, rows[i].name)))
			track_refpoint_drop(vm, rows[i].name);
	refpoint_rows_free(rows, n);
}

static void vf_record(struct job *job, json_t *res);

static void
vf_seed_undo(const struct vm *vm)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *dir = xasprintf("%s/%s/000000000000", spool,
	    vm->row->uuid);

	(void)dir_remove_flat(dir);
}

static void
vf_compare(struct job *job)
{
	json_t *disks = json_object_get(job->details, "replica_disks"), *d;
	json_t *first = json_array(), *res;
	char point[24];
	struct err e = { 0 };
	uint64_t blocks = 0, differing = 0;
	size_t i;

	replica_point_name(rp_int(job->details, "seq"), point);
	json_array_foreach(disks, i, d) {
		if (vf_compare_disk(job, d, point, first, &e) < 0) {
			if (rp_int(job->details, "seq") == 0)
				vf_seed_undo(vm_of(job));	/* all or none */
			json_decref(first);
			vf_fail(job, e.code ? e.code : -EIO, e.msg);
			return;
		}
		blocks += (uint64_t)rp_int(d, "blocks");
		differing += (uint64_t)rp_int(d, "differing");
	}
	res = json_pack("{sI sI sI sI sI so sO}", "seq", (json_int_t)rp_int(
	    job->details, "seq"), "time_ms", (json_int_t)wall_ms(), "blocks",
	    (json_int_t)blocks, "matching", (json_int_t)(blocks - differing),
	    "differing", (json_int_t)differing, "first_differing", first,
	    "disks", disks);
	if (json_is_true(json_object_get(job->details, "resync")))
		vf_drop_refs(vm_of(job));
	vf_record(job, res);
}

static void
vf_record(struct job *job, json_t *res)
{
	struct vm *vm = vm_of(job);
	struct replication_row r;
	bool resync = json_is_true(json_object_get(job->details, "resync"));
	int64_t n = rp_int(res, "differing");
	json_t *st;

	json_object_set(job->details, "result", res);
	if (store_replication_get(vm->h->store, vm->row->uuid, &r) == 0) {
		st = rp_stats_load(r.stats);
		json_object_set(st, "verify", res);
		if (n > 0)
			json_object_set_new(st, "needs_resync", json_integer(n));
		if (resync && rp_int(res, "seq") > 0) {
			json_object_set_new(st, "resync_pending", json_true());
			/* its parent is the replica's seq now (cy_applied) */
			json_object_del(st, "parent_seq");
		}
		rp_stats_save(vm->h, &r, st);
		json_decref(st);
		replication_row_done(&r);
	}
	if (n > 0)
		host_event(vm->h, resync ? "info" : "error", vm, job->row->id,
		    "replica verify: %lld of %lld blocks differ%s", (long long)n,
		    (long long)rp_int(res, "blocks"), resync ? "; the next "
		    "cycle sends them" : "; run tern vm replication resync");
	json_decref(res);
	vf_ctx_free(job);
	job_finish(job, 0, NULL);
}

static void
vf_step(struct job *job)
{
	struct vf_ctx *c;

	if (vm_job_gone(job))
		return;
	if (job->recovering) {
		job->recovering = false;
		vf_fail(job, -EIO, "ternd restarted; run it again");
		return;
	}
	c = vf_ctx(job);
	switch (job->phase) {
	case VF_PH_START:
	case VF_PH_ASK:
		vf_ask(job, c);
		break;
	case VF_PH_WAIT:
		vf_wait(job, c);
		break;
	case VF_PH_FETCH:
		vf_fetch(job, c);
		break;
	default:
		vf_compare(job);
		break;
	}
}

static int
vf_cancel(struct job *job, struct err *err)
{
	(void)err;
	vf_fail(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

const struct job_ops job_replication_verify = {
	.type = "vm.replication-verify", .phases = vf_phase_names,
	.n_phases = VF_PH__COUNT, .step = vf_step, .cancel = vf_cancel,
	.priv_free = vf_ctx_free,
};

/* ---- starting one ---- */

bool
rp_seed_needed(const struct vm *vm, const struct replication_row *r)
{
	json_t *set = json_loads(r->settings, 0, NULL);
	bool existing = streq(rp_str(set, "initial"), "existing");
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *dir = xasprintf("%s/%s/000000000000", spool,
	    vm->row->uuid);

	json_decref(set);
	return streq(r->role, "primary") && r->seq == 0 && existing &&
	    access(dir, F_OK) != 0;
}

int
replica_verify_start(struct host *h, struct vm *vm, bool resync,
    struct job **ret_job, struct err *err)
{
	struct replication_row r;
	json_t *details, *settings;
	int rc = store_replication_get(h->store, vm->row->uuid, &r);

	if (rc < 0)
		return err_set(err, -ENOENT, "vm '%s' is not replicated",
		    vm->row->name);
	if (!streq(r.role, "primary") || (r.seq < 1 && !rp_seed_needed(vm,
	    &r))) {
		rc = err_set(err, -EBUSY, "vm '%s' %s", vm->row->name,
		    !streq(r.role, "primary") ? "is the replica here; run it "
		    "on the primary" : "has no acknowledged cycle yet");
		replication_row_done(&r);
		return rc;
	}
	settings = json_loads(r.settings, 0, NULL);
	details = json_pack("{sI sb sO*}", "seq", (json_int_t)r.seq, "resync",
	    resync, "exclude", json_object_get(settings, "exclude"));
	json_decref(settings);
	if ((rc = rp_peer_details(h, details, r.peer, err)) < 0) {
		json_decref(details);
		replication_row_done(&r);
		return rc;
	}
	replication_row_done(&r);
	if ((rc = vm_job_create(h, &job_replication_verify, vm, details,
	    ret_job, err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
