/* points.c - a replica's recovery points (Hyper-V's RecoveryHistory):
 * the latest point and up to --points N more, the last point of each
 * hour (rp_keep.c chooses).  Each point is a qcow2 file per disk whose
 * chain (the file and its backing files) reads as the point; the points
 * of a disk form one chain, oldest at the bottom (NAME-DISK.qcow2, no
 * backing), the latest on top (the disk's image).  The row's "points"
 * (JSON, oldest first: seq, time_ms, app_consistent, disks: {DISK:
 * file}) is the truth; a file no point names is no point.
 *
 * replica.apply's record step (rp_points_plan) adds the new point and
 * drops those beyond the retention from the row at once (in the same
 * transaction as the point itself), and leaves the job the merges to
 * do: "chain" (every point still on disk, kept or not, oldest first),
 * "drop" (the seqs no longer recorded, oldest first), "unlink" (files
 * of a chain given up: a new chain, base_seq 0), "unlink_fw" (the
 * NVRAM/TPM copies, rp_fw.c, no kept point names).  Its merge step
 * (rp_points_merge) then drops X, per disk, X under Y (Z above Y):
 *
 *   commit --qemu-img commit -d Y into X's file (X's file now reads as
 *   Y; Y's file unchanged)--> rebase --qemu-img rebase -u Z onto X's
 *   file (metadata: both read as Y)--> record --the row: Y's file is X's
 *   file (the disk's image too when Y is the latest)--> unlink Y's old
 *   file --> the next disk, then the next X.
 *
 *   Every step is idempotent and the files a recorded point names read
 *   as that point throughout: a commit only writes into X's file (no
 *   recorded point's any more) what Y's file holds itself.  A restart
 *   runs the step again; a helper that fails leaves that disk as it is
 *   (a warning; the point stands on its own file). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "replica.h"
#include "rp_int.h"
#include "rp_keep.h"
#include "util.h"
#include "vm.h"

/* recorded + the new one, twice: while a test failover runs (the row's
 * "test", src/failover) the points up to its point stay too, and those
 * above it still follow the retention. */
#define PT_MAX (2 * (REPLICA_POINTS_MAX + 2))

json_t *
rp_points_load(const char *text)
{
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;

	if (json_is_array(a))
		return a;
	json_decref(a);
	return json_array();
}

/* The chain before this cycle: the recorded points, or (a row from
 * before points were recorded; or --initial existing: the operator's
 * copies, seq 0) the latest alone, on the files below the new
 * overlays. */
static json_t *
pt_chain_before(const struct replication_row *r, const json_t *details)
{
	json_t *pts = rp_points_load(r->points), *files, *d;
	json_t *disks = json_object_get(details, "disks");
	size_t i;

	if (json_array_size(pts) || (r->seq == 0 &&
	    !json_is_true(json_object_get(details, "existing"))))
		return pts;
	files = json_object();
	json_array_foreach(disks, i, d)
		if (rp_str(d, "below"))
			json_object_set_new(files, rp_str(d, "name"),
			    json_string(rp_str(d, "below")));
	json_array_append_new(pts, json_pack("{sI sI sb so}", "seq",
	    (json_int_t)r->seq, "time_ms", (json_int_t)0, "app_consistent",
	    false, "disks", files));
	return pts;
}

/* The seq of the test failover running on r's points (its VM's
 * overlays sit on that point's chain), or -1 when none runs.  Read from
 * the row: replica never calls failover. */
static int64_t
pt_test_seq(const struct replication_row *r)
{
	json_t *t = r->test ? json_loads(r->test, 0, NULL) : NULL;
	int64_t seq = json_is_object(t) ? rp_int(t, "seq") : -1;

	json_decref(t);
	return seq;
}

/* A test failover runs: the old chain's files (base too) are left to
 * its stop (test "orphans"), and no file is renamed over the base. */
static void
pt_plan_orphans(struct job *job, struct replication_row *r,
    const json_t *old)
{
	json_t *t = json_loads(r->test, 0, NULL), *orph, *p, *f;
	const char *disk;
	size_t i;

	if (!json_is_object(t)) {
		json_decref(t);
		return;
	}
	if (!json_is_array(orph = json_object_get(t, "orphans")))
		json_object_set_new(t, "orphans", orph = json_array());
	json_array_foreach(old, i, p)
		json_object_foreach(json_object_get(p, "disks"), disk, f)
			json_array_append(orph, f);
	free(r->test);
	r->test = json_dumps(t, JSON_COMPACT);
	json_decref(t);
	json_object_set_new(job->details, "keep_base", json_true());
	json_object_set_new(job->details, "unlink", json_array());
}

/* A new chain: every older point's files go but the disk's image name
 * (the new point is renamed over it). */
static void
pt_plan_unlink(struct job *job, struct replication_row *r,
    const json_t *old)
{
	json_t *un = json_array(), *p, *f, *d;
	const char *disk;
	size_t i, k;

	if (pt_test_seq(r) >= 0) {
		json_decref(un);
		pt_plan_orphans(job, r, old);
		return;
	}
	json_array_foreach(old, i, p)
		json_object_foreach(json_object_get(p, "disks"), disk, f) {
			bool base = false;

			json_array_foreach(json_object_get(job->details,
			    "disks"), k, d)
				base |= streq(json_string_value(f),
				    rp_str(d, "base"));
			if (!base)
				json_array_append(un, f);
		}
	json_object_set_new(job->details, "unlink", un);
}

/* The points up to a running test's seq stay (test failover). */
static void
pt_keep_tested(const struct replication_row *r, const json_t *chain,
    bool *keep)
{
	int64_t test = pt_test_seq(r);
	json_t *p;
	size_t i;

	json_array_foreach(chain, i, p)
		if (rp_int(p, "seq") <= test)
			keep[i] = true;
}

/* The fw files (rp_fw.c) the recorded points named and the kept ones
 * do not: unlinked with the merges' end ("unlink_fw"), saved with the
 * point in one transaction so a restart unlinks them too.  A new chain
 * under a running test failover leaves them to the test's stop (its
 * "orphans", as the disks' files): its VM may not have copied its
 * point's yet. */
static void
pt_plan_fw(struct job *job, struct replication_row *r, const json_t *before,
    const json_t *kept)
{
	json_t *gone = rp_fw_orphans(before, kept), *t, *orph;

	if (pt_test_seq(r) >= 0 && json_array_size(gone) &&
	    json_is_object(t = json_loads(r->test, 0, NULL))) {
		if (!json_is_array(orph = json_object_get(t, "orphans")))
			json_object_set_new(t, "orphans", orph = json_array());
		json_array_extend(orph, gone);
		json_array_clear(gone);
		free(r->test);
		r->test = json_dumps(t, JSON_COMPACT);
		json_decref(t);
	}
	json_object_set_new(job->details, "unlink_fw", gone);
}

/* The new point (its fw, the cycle's own copies, completed by the
 * previous point's: rp_fw.c) appended to chain. */
static void
pt_append(json_t *chain, const json_t *details, const json_t *files,
    const json_t *fw)
{
	json_t *p = json_pack("{sI sI sb sO}", "seq", (json_int_t)rp_int(
	    details, "seq"), "time_ms", (json_int_t)rp_int(details,
	    "time_ms"), "app_consistent", streq(rp_str(details,
	    "consistency"), "filesystem"), "disks", files);

	if (json_object_size(fw))
		json_object_set_new(p, "fw", json_deep_copy(fw));
	if (json_array_size(chain))
		rp_fw_inherit(p, json_array_get(chain,
		    json_array_size(chain) - 1));
	json_array_append_new(chain, p);
}

int
rp_points_plan(struct job *job, struct replication_row *r,
    const json_t *files, const json_t *fw, uint64_t period_ms)
{
	json_t *chain = pt_chain_before(r, job->details);
	_cleanup_json_ json_t *before = rp_points_load(r->points);
	json_t *kept = json_array(), *drop = json_array(), *p;
	struct replica_settings s;
	json_t *set = json_loads(r->settings, 0, NULL);
	int64_t t[PT_MAX];
	bool keep[PT_MAX];
	size_t i, n;

	replica_settings_from_json(set, &s);
	json_decref(set);
	if (rp_new_chain(job->details)) {
		pt_plan_unlink(job, r, chain);
		json_array_clear(chain);
	}
	/* Older than the retention ever keeps: left from a failed merge
	 * (never a point a test failover stands on). */
	while (json_array_size(chain) >= PT_MAX && rp_int(json_array_get(
	    chain, 0), "seq") > pt_test_seq(r))
		json_array_remove(chain, 0);
	while (json_array_size(chain) >= PT_MAX)
		json_array_remove(chain, json_array_size(chain) - 1);
	pt_append(chain, job->details, files, fw);
	n = json_array_size(chain);
	json_array_foreach(chain, i, p)
		t[i] = rp_int(p, "time_ms");
	(void)rp_keep_points(t, n, s.points, period_ms, keep);
	if (rp_int(json_array_get(chain, 0), "seq") == 0)
		keep[0] = false;	/* existing copies: never a point */
	pt_keep_tested(r, chain, keep);
	replica_settings_done(&s);
	for (i = 0; i < n; i++)
		json_array_append(keep[i] ? kept : drop, keep[i] ?
		    json_array_get(chain, i) : json_object_get(json_array_get(
		    chain, i), "seq"));
	pt_plan_fw(job, r, before, kept);
	free(r->points);
	r->points = json_dumps(kept, JSON_COMPACT);
	json_object_set_new(job->details, "points", json_integer(
	    (json_int_t)json_array_size(kept)));
	json_object_set_new(job->details, "chain", chain);
	json_object_set_new(job->details, "drop", drop);
	json_decref(kept);
	return 0;
}

json_t *
rp_points_show(const struct replication_row *r)
{
	json_t *pts = rp_points_load(r->points), *out = json_array(), *p;
	size_t i;

	json_array_foreach(pts, i, p)
		json_array_insert(out, 0, p);	/* newest first */
	json_decref(pts);
	return out;
}

void
rp_points_remove(struct host *h, struct vm *vm)
{
	struct replication_row r;
	json_t *pts, *p, *f;
	const char *disk;
	size_t i;

	if (store_replication_get(h->store, vm->row->uuid, &r) < 0)
		return;
	pts = rp_points_load(r.points);
	json_array_foreach(pts, i, p)
		json_object_foreach(json_object_get(p, "disks"), disk, f) {
			struct disk_row *k = NULL;

			for (size_t j = 0; j < vm->row->n_disks; j++)
				if (streq(vm->row->disks[j].path,
				    json_string_value(f)))
					k = &vm->row->disks[j];
			if (!k)
				(void)unlink(json_string_value(f));
		}
	rp_fw_unlink_all(pts);
	json_decref(pts);
	replication_row_done(&r);
}

/* ---- merge ---- */

static void
pt_on_child(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status == 0)
		json_object_set_new(job->details, "mstep", json_integer(
		    rp_int(job->details, "mstep") + 1));
	else
		json_object_set_new(job->details, "merge_failed", json_true());
	job_save(job);
	job_poke(job);
}

static struct disk_row *
pt_disk_row(struct vm *vm, const char *name)
{
	for (size_t i = 0; i < vm->row->n_disks; i++)
		if (streq(vm->row->disks[i].name, name))
			return &vm->row->disks[i];
	return NULL;
}

/* The row: point seq's file of disk is path (the disk's image too when
 * it is the latest point). */
static int
pt_record_file(struct vm *vm, int64_t seq, const char *disk,
    const char *path)
{
	struct store *st = vm->h->store;
	struct replication_row r;
	struct disk_row *k = pt_disk_row(vm, disk);
	json_t *pts, *p;
	size_t i;
	int rc = store_replication_get(st, vm->row->uuid, &r);

	if (rc < 0)
		return rc;
	pts = rp_points_load(r.points);
	json_array_foreach(pts, i, p)
		if (rp_int(p, "seq") == seq)
			json_object_set_new(json_object_get(p, "disks"), disk,
			    json_string(path));
	free(r.points);
	r.points = json_dumps(pts, JSON_COMPACT);
	json_decref(pts);
	if ((rc = store_begin(st)) == 0) {
		if ((rc = store_replication_update(st, &r)) == 0 && k &&
		    r.seq == seq && !streq(k->path, path))
			rc = store_vm_set_disk(st, vm->row->uuid, disk, path,
			    k->pool);
		if (rc == 0)
			rc = store_commit(st);
		else
			store_rollback(st);
	}
	if (rc == 0 && k && r.seq == seq && !streq(k->path, path)) {
		free(k->path);
		k->path = xstrdup(path);
	}
	replication_row_done(&r);
	return rc;
}

static int
pt_spawn(struct job *job, const char *const *argv)
{
	_cleanup_free_ char *log = vm_state_path(vm_of(job), "replica.log");

	return job_spawn(job, argv, log, pt_on_child) < 0 ? -EIO : 0;
}

/* Drop point x (chain[xi]) of disk: 1 done, 0 a helper runs, < 0 an
 * error. */
static int
pt_merge_disk(struct job *job, size_t xi, const char *disk)
{
	json_t *chain = json_object_get(job->details, "chain");
	json_t *y = json_array_get(chain, xi + 1);
	json_t *yd = json_object_get(y, "disks"), *z = json_array_get(chain,
	    xi + 2);
	const char *xf = rp_str(json_object_get(json_array_get(chain, xi),
	    "disks"), disk);
	_cleanup_free_ char *yf = xstrdup(rp_str(yd, disk) ?: "");
	const char *zf = z ? rp_str(json_object_get(z, "disks"), disk) : NULL;
	const char *img = vm_of(job)->h->cfg.qemu_img;
	int64_t step = rp_int(job->details, "mstep");
	int r;

	if (!xf || !yf[0] || streq(xf, yf))
		return 1;
	if (step == 0) {
		const char *argv[] = { img, "commit", "-q", "-d", yf, NULL };

		r = pt_spawn(job, argv);
		/* Tests: ternd dies while a point is merged. */
		(void)failpoint_check("replica.merge", NULL);
		return r;
	}
	if (step == 1 && zf) {
		const char *argv[] = { img, "rebase", "-q", "-u", "-F",
			"qcow2", "-b", xf, zf, NULL };

		return pt_spawn(job, argv);
	}
	if ((r = pt_record_file(vm_of(job), rp_int(y, "seq"), disk, xf)) < 0)
		return r;
	json_object_set_new(yd, disk, json_string(xf));
	json_object_set_new(job->details, "mstep", json_integer(0));
	job_save(job);
	(void)unlink(yf);
	return 1;
}

/* A new chain's overlay renamed over the disk's image name (base). */
static int
pt_rename_disk(struct job *job, const json_t *d)
{
	json_t *p = json_array_get(json_object_get(job->details, "chain"), 0);
	const char *ov = rp_str(json_object_get(p, "disks"), rp_str(d, "name"));
	const char *base = rp_str(d, "base");
	int r;

	/* keep_base: a test failover's overlays sit on the old chain,
	 * whose bottom is base: the new point stays on its own file. */
	if (!ov || !base || streq(ov, base) || json_is_true(json_object_get(
	    job->details, "keep_base")))
		return 1;
	if (access(ov, F_OK) == 0 && rename(ov, base) < 0)
		return -errno;
	if ((r = pt_record_file(vm_of(job), rp_int(p, "seq"), rp_str(d,
	    "name"), base)) < 0)
		return r;
	json_object_set_new(json_object_get(p, "disks"), rp_str(d, "name"),
	    json_string(base));
	job_save(job);
	return 1;
}

static void
pt_next_disk(struct job *job)
{
	json_object_set_new(job->details, "next", json_integer(rp_int(
	    job->details, "next") + 1));
	json_object_set_new(job->details, "mstep", json_integer(0));
	job_save(job);
}

/* Index of the chain's point seq, or -1. */
static ssize_t
pt_chain_index(const json_t *chain, int64_t seq)
{
	json_t *p;
	size_t i;

	json_array_foreach(chain, i, p)
		if (rp_int(p, "seq") == seq)
			return (ssize_t)i;
	return -1;
}

/* This disk's part of the current drop (or the rename of a new chain):
 * true when it is done (or given up), false while a helper runs. */
static bool
pt_merge_one(struct job *job, const json_t *d)
{
	json_t *chain = json_object_get(job->details, "chain");
	json_t *drop = json_object_get(job->details, "drop");
	ssize_t xi = pt_chain_index(chain, json_integer_value(
	    json_array_get(drop, 0)));
	int r;

	if (json_array_size(drop) == 0)
		r = rp_new_chain(job->details) ? pt_rename_disk(job, d) : 1;
	else
		r = xi < 0 ? 1 : pt_merge_disk(job, (size_t)xi, rp_str(d,
		    "name"));
	if (r == 0)
		return false;
	if (r < 0)
		log_warn("vm=%s cannot merge a recovery point of disk %s: %s",
		    vm_of(job)->row->name, rp_str(d, "name"), strerror(-r));
	pt_next_disk(job);
	return true;
}

/* The drop done on every disk: X leaves the chain. */
static void
pt_drop_done(struct job *job)
{
	json_t *chain = json_object_get(job->details, "chain");
	json_t *drop = json_object_get(job->details, "drop");
	ssize_t xi = pt_chain_index(chain, json_integer_value(
	    json_array_get(drop, 0)));

	if (xi >= 0)
		json_array_remove(chain, (size_t)xi);
	json_array_remove(drop, 0);
	json_object_set_new(job->details, "next", json_integer(0));
	job_save(job);
}

static void
pt_unlink_all(struct job *job)
{
	json_t *f;
	size_t i;

	json_array_foreach(json_object_get(job->details, "unlink"), i, f)
		(void)unlink(json_string_value(f));
	rp_fw_unlink_list(json_object_get(job->details, "unlink_fw"));
	json_object_del(job->details, "unlink");
	json_object_del(job->details, "unlink_fw");
	job_save(job);
}

int
rp_points_merge(struct job *job)
{
	json_t *disks = json_object_get(job->details, "disks"), *d;

	if (job->child)
		return 0;
	if (json_is_true(json_object_get(job->details, "merge_failed"))) {
		host_event(host_of(job), "warning", vm_of(job), job->row->id,
		    "a recovery point of vm '%s' was not merged (see "
		    "replica.log); the newer point stands on its own file",
		    vm_of(job)->row->name);
		json_object_del(job->details, "merge_failed");
		pt_next_disk(job);
	}
	for (;;) {
		while ((d = json_array_get(disks, (size_t)rp_int(job->details,
		    "next"))))
			if (!pt_merge_one(job, d))
				return 0;
		if (json_array_size(json_object_get(job->details,
		    "drop")) == 0)
			break;
		pt_drop_done(job);
	}
	pt_unlink_all(job);
	return 1;
}
