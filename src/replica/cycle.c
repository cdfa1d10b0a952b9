/* cycle.c - vm.replicate on the primary: one replication cycle.  The
 * point is read as a backup's is (src/backup: one transaction over the
 * replicated disks, a fleecing NBD export), but each disk's copier
 * writes a delta stream (delta.h) into the spool, POOL/.tern-replica/
 * UUID/SEQ/, instead of an image; then the seal is ours:
 *
 *   start .. copy (backup_point_step: check, prepare, attach, [freeze],
 *   snap, export, copy: per disk all, bitmap or compare, as a backup
 *   decides them from the last acknowledged cycle's reference point)
 *   --> seal: send (POST /v1/replica/vms/UUID/cycles: seq, base_seq,
 *   the deltas' sizes) --> wait (the replica's replica.apply job: it
 *   fetches the deltas from us, checks and applies them into a new
 *   recovery point, reads it back, fsyncs; GET /v1/jobs/ID) --> ack (the
 *   new reference point recorded, the older ones of this relationship
 *   dropped, the relationship's seq and stats) --> teardown (backup's)
 *   --> done
 *
 *   A seed (--initial offline DIR, seed.c): seal is export (the deltas
 *   and a manifest into DIR) instead of send and wait, then the ack but
 *   for the relationship's seq (awaiting-seed until the replica says it
 *   applied the seed).
 *
 *   Any failure before ack, a cancel or a restart: backup's teardown
 *   going back (the new reference point's bitmap and the cycle's spool
 *   removed): the replica's previous point and the tracking are as they
 *   were, and the next cycle carries everything since the last
 *   acknowledged one.  A replica that applied a cycle whose ack we lost
 *   answers the same cycle again with "applied" (200).
 *
 * The scheduler (a one-second timer) starts a cycle of every primary
 * relationship not paused once its interval has passed since the last
 * attempt, while the VM runs or is paused; a cycle that cannot start
 * (another job holds the VM) counts as missed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "failpoint.h"
#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "refpoint.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

/* Our part of the job's private state (backup_point_priv). */
struct cy_ctx {
	struct rp_call call;
};

static void
cy_ctx_free(void *p)
{
	struct cy_ctx *c = p;

	rp_call_clear(&c->call);
	free(c);
}

static struct cy_ctx *
cy_ctx(struct job *job)
{
	return backup_point_priv(job, sizeof(struct cy_ctx), cy_ctx_free);
}

/* ---- the spool ---- */

char *
replica_spool_dir(const struct vm *vm)
{
	const struct disk_row *k = &vm->row->disks[0];
	_cleanup_free_ char *pool = k->pool ? host_pool_path(vm->h,
	    k->pool) : NULL;
	_cleanup_free_ char *copy = xstrdup(k->path);

	/* The pool's directory when there is one: a replica's disks change
	 * files every cycle, the pool stays. */
	return xasprintf("%s/.tern-replica", pool ? pool : dirname(copy));
}

void
replica_point_name(int64_t seq, char buf[24])
{
	snprintf(buf, 24, "%012lld", (long long)seq);
}

/* Remove every cycle directory in vdir but keep (flat: files only). */
void
replica_spool_keep(const char *vdir, const char *keep)
{
	DIR *d = opendir(vdir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		_cleanup_free_ char *dir = NULL;

		if (e->d_name[0] == '.' || (keep && streq(e->d_name, keep)))
			continue;
		dir = xasprintf("%s/%s", vdir, e->d_name);
		(void)dir_remove_flat(dir);
	}
	closedir(d);
}

/* The cycle whose reference point and maps the next one reads from:
 * the last acknowledged one, or (cy_applied) the one before the seq the
 * replica holds from an attempt whose ack was lost. */
static int64_t
cy_parent_seq(const struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats);
	json_t *p = json_object_get(st, "parent_seq");
	int64_t seq = json_is_integer(p) ? json_integer_value(p) : r->seq;

	json_decref(st);
	return seq;
}

/* ---- seal: send, wait, ack ---- */

static json_t *
cy_send_body(struct job *job)
{
	json_t *disks = json_array(), *d;
	size_t i;

	json_array_foreach(json_object_get(job->details, "disks"), i, d) {
		json_t *sum = json_object_get(d, "summary");

		json_array_append_new(disks, json_pack("{sO sO sI}", "name",
		    json_object_get(d, "name"), "size", json_object_get(d,
		    "size"), "delta_bytes", (json_int_t)rp_int(sum,
		    "delta_bytes")));
	}
	return json_pack("{sI sI sI ss so sb}", "seq", (json_int_t)rp_int(job->details,
	    "seq"), "base_seq", (json_int_t)rp_int(job->details, "base_seq"), "time_ms",
	    (json_int_t)rp_int(job->details, "snap_ms"), "consistency", rp_str(job->details,
	    "consistency") ? rp_str(job->details, "consistency") : "crash", "disks",
	    disks, "existing", json_is_true(json_object_get(job->details,
	    "existing")));
}

/* A UEFI VM's NVRAM file and its TPM's state, whole, into the cycle's
 * spool as fw-nvram.delta and fw-tpm.delta (served like the deltas) and
 * named in the cycle's "fw": the replica installs them with the point.
 * swtpm writes its state by write-temp-then-rename, so the copy is one
 * whole state.  A VM without them sends no "fw". */
static void
cy_fw_spool(struct job *job, json_t *body)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *permall = vm->row->tpm_dir ? xasprintf(
	    "%s/tpm2-00.permall", vm->row->tpm_dir) : NULL;
	const char *const src[2] = { vm->row->nvram, permall };
	const char *const name[2] = { "fw-nvram", "fw-tpm" };
	json_t *fw = json_array();
	char pt[24];

	replica_point_name(rp_int(job->details, "seq"), pt);
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *buf = NULL, *dst = NULL;
		size_t len = 0;

		if (!src[i] || file_read_all(src[i], 64u << 20, &buf,
		    &len) < 0)
			continue;	/* none, or a swtpm that never ran */
		dst = xasprintf("%s/%s/%s/%s.delta", spool, vm->row->uuid, pt,
		    name[i]);
		if (file_write_atomic(dst, buf, len, 0600) < 0) {
			log_warn("vm=%s cycle: cannot spool %s", vm->row->name,
			    dst);
			continue;
		}
		json_array_append_new(fw, json_pack("{ss sI}", "name", name[i],
		    "delta_bytes", (json_int_t)len));
	}
	if (json_array_size(fw))
		json_object_set_new(body, "fw", fw);
	else
		json_decref(fw);
}

static void
cy_next(struct job *job, int step)
{
	json_object_set_new(job->details, "send", json_integer(step));
	job_save(job);
	job_poke(job);
}

static void cy_corrupt_file(struct job *job, const json_t *d);

/* Tests: one byte of the largest delta flipped, in its last frame
 * before the end, as a disk or a link might. */
static void
cy_corrupt(struct job *job)
{
	json_t *d = NULL, *x;
	size_t i;

	json_array_foreach(json_object_get(job->details, "disks"), i, x)
		if (!d || json_integer_value(json_object_get(json_object_get(x,
		    "summary"), "delta_bytes")) > json_integer_value(
		    json_object_get(json_object_get(d, "summary"),
		    "delta_bytes")))
			d = x;	/* the largest delta */
	cy_corrupt_file(job, d);
}

static void
cy_corrupt_file(struct job *job, const json_t *d)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm_of(job));
	_cleanup_free_ char *f = xasprintf("%s/%s/%s/%s.delta", spool,
	    job->row->vm_uuid, rp_str(job->details, "point"), json_string_value(
	    json_object_get(d, "name")));
	int fd = open(f, O_RDWR | O_CLOEXEC);
	struct stat sb;
	char b;

	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > 200 &&
	    pread(fd, &b, 1, sb.st_size - 100) == 1) {
		b ^= 0x5a;
		(void)!pwrite(fd, &b, 1, sb.st_size - 100);
		(void)fsync(fd);
	}
	close(fd);
}

/* The replica has this cycle's seq applied already.  Our ack of it was
 * lost (the same point time): ack.  Else it is an earlier attempt's
 * point whose ack we lost, and ours was never sent: the replica holds
 * seq now and we keep the reference point and maps of base_seq.  The
 * next cycle is seq + 1 on base seq, read since base_seq (a superset of
 * what the replica lacks: what changed since base_seq, at a later
 * point), so no write between the two attempts is lost. */
static void
cy_applied(struct job *job, const json_t *reply)
{
	struct vm *vm = vm_of(job);
	int64_t t = rp_int(reply, "time_ms");
	_cleanup_free_ char *why = NULL;
	struct replication_row r;
	json_t *st;

	if (!t || t == rp_int(job->details, "snap_ms")) {
		cy_next(job, 2);
		return;
	}
	if (store_replication_get(vm->h->store, vm->row->uuid, &r) == 0) {
		st = rp_stats_load(r.stats);
		json_object_set_new(st, "parent_seq", json_integer(
		    cy_parent_seq(&r)));
		r.seq = rp_int(job->details, "seq");
		rp_stats_save(vm->h, &r, st);
		json_decref(st);
		replication_row_done(&r);
	}
	why = xasprintf("the replica already holds cycle %lld from an "
	    "earlier attempt whose acknowledgement was lost; the next cycle "
	    "carries everything since", (long long)rp_int(job->details, "seq"));
	backup_point_end(job, -EAGAIN, why);
}

/* A compare (kind resync: tracking was lost) against the maps of the
 * cycle before the seq the replica holds from an attempt whose ack was
 * lost (cy_applied) would miss a block that changed back since: that
 * cycle is not sent, and the next one is a full copy (a new chain). */
static bool
cy_stale_compare(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *kind = rp_str(job->details, "kind");
	struct replication_row r;
	bool stale;
	json_t *st;

	if (!kind || !streq(kind, "resync") || store_replication_get(
	    vm->h->store, vm->row->uuid, &r) < 0)
		return false;
	st = rp_stats_load(r.stats);
	stale = rp_int(st, "parent_seq") > 0;
	if (stale) {
		json_object_set_new(st, "parent_seq", json_integer(0));
		rp_stats_save(vm->h, &r, st);
		backup_point_end(job, -EAGAIN, "change tracking was lost while "
		    "the replica holds a point of an earlier attempt: the next "
		    "cycle is a full copy");
	}
	json_decref(st);
	replication_row_done(&r);
	return stale;
}

static void
cy_send(struct job *job, struct cy_ctx *c)
{
	char path[96];
	json_t *body;

	if (!c->call.out) {
		if (cy_stale_compare(job))
			return;
		if (failpoint_check("replication.corrupt", NULL) == FP_FAIL)
			cy_corrupt(job);
		snprintf(path, sizeof(path), "/v1/replica/vms/%s/cycles",
		    job->row->vm_uuid);
		body = cy_send_body(job);
		cy_fw_spool(job, body);
		rp_call_send(job, &c->call, "POST", path, body);
		return;
	}
	if (!rp_call_done(&c->call))
		return;
	if (c->call.status == 200 || c->call.status == 202)
		replica_broker_nodes(host_of(job), job->row->vm_uuid,
		    c->call.reply);
	if (c->call.status == 200) {
		cy_applied(job, c->call.reply);
	} else if (c->call.status == 202 && rp_call_job_id(&c->call) > 0) {
		json_object_set_new(job->details, "remote_job",
		    json_integer(rp_call_job_id(&c->call)));
		cy_next(job, 1);
	} else {
		/* 409 "failed over here": the VM runs there now */
		if (c->call.status == 409 && strstr(c->call.err,
		    "failed over here") && vm_of(job))
			(void)replica_failed_over_mark(vm_of(job)->h,
			    vm_of(job), 0);
		/* 403: the replica server does not take us (we moved) */
		backup_point_end(job, c->call.status == 403 ? -EACCES :
		    c->call.status ? -EIO : -EHOSTUNREACH, c->call.err);
	}
}

static void
cy_wait(struct job *job, struct cy_ctx *c)
{
	const char *msg;
	_cleanup_free_ char *why = NULL;

	switch (rp_call_poll_job(job, &c->call, rp_int(job->details, "remote_job"),
	    &msg)) {
	case RP_JOB_SUCCEEDED:
		/* How many recovery points the replica keeps now. */
		json_object_set_new(job->details, "replica_points", json_integer(
		    rp_int(json_object_get(c->call.reply, "details"),
		    "points")));
		cy_next(job, 2);
		break;
	case RP_JOB_FAILED:
		/* its read-back found other data than it wrote: critical */
		if (json_is_true(json_object_get(json_object_get(c->call.reply,
		    "details"), "mismatch")))
			json_object_set_new(job->details, "replica_mismatch",
			    json_true());
		why = xasprintf("the replica did not apply the cycle: %s", msg);
		backup_point_end(job, -EIO, why);
		break;
	case RP_JOB_UNKNOWN:
		backup_point_end(job, -EIO, msg);
		break;
	}
}

/* The deltas of the acknowledged cycle go; its maps stay (the next
 * compare reads them); older cycles' directories go. */
static void
cy_spool_trim(struct job *job)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *vdir = xasprintf("%s/%s", spool, vm->row->uuid);
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(job->details, "disks"), i, d) {
		_cleanup_free_ char *f = xasprintf("%s/%s/%s.delta", vdir,
		    rp_str(job->details, "point"), json_string_value(json_object_get(d,
		    "name")));

		(void)unlink(f);
	}
	replica_spool_keep(vdir, rp_str(job->details, "point"));
}

static void
cy_ack(struct job *job)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *dir = xasprintf("%s/%s/%s", spool,
	    vm->row->uuid, rp_str(job->details, "point"));
	struct refpoint_row *rows = NULL;
	struct err err = { 0 };
	size_t n = 0;

	if (track_refpoint_add(vm, rp_str(job->details, "ref"), "replica", rp_str(job->details,
	    "repo"), rp_str(job->details, "point"), dir, &err) < 0)
		log_warn("%s", err.msg);
	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++)
		if (streq(rows[i].owner, "replica") && !streq(rows[i].name,
		    rp_str(job->details, "ref")) && (i == 0 || !streq(rows[i - 1].name,
		    rows[i].name)))
			track_refpoint_drop(vm, rows[i].name);
	refpoint_rows_free(rows, n);
	cy_spool_trim(job);
	json_object_set_new(job->details, "sealed", json_true());
	job_save(job);
	backup_point_end(job, 0, NULL);
}

static void
cy_seal(struct job *job)
{
	struct cy_ctx *c = cy_ctx(job);

	switch (rp_int(job->details, "send")) {
	case 0:
		if (!rp_str(job->details, "seed_dir"))
			cy_send(job, c);
		else if (replica_seed_export(job) == 0)
			cy_ack(job);
		break;
	case 1:
		cy_wait(job, c);
		break;
	default:
		cy_ack(job);
		break;
	}
}

static void
cy_step(struct job *job)
{
	if (vm_job_gone(job))
		return;
	if (!job->recovering && job_phase_is(job, BACKUP_PH_SEAL))
		cy_seal(job);
	else
		backup_point_step(job);
}

/* ---- the end: the relationship's record ---- */

void
replica_cycle_end(struct job *job, int r, const char *why)
{
	struct vm *vm = vm_of(job);

	if (vm)
		replica_cycle_record(vm, job, r, why);
}

const struct job_ops job_vm_replicate = {
	.type = "vm.replicate", .phases = backup_phase_names,
	.n_phases = BACKUP_PH__COUNT, .step = cy_step,
	.cancel = backup_point_cancel, .priv_free = backup_point_free,
};

/* ---- starting one ---- */

/* Is the next point app-consistent (the guest's file systems frozen
 * through its agent)?  Every --app-consistent-every H hours since the
 * last point that was (an hour: ternd's replica-point-period-s, for
 * tests); a quiesce that failed is tried again on the next cycle. */
static bool
cy_app_due(struct host *h, const struct replication_row *r,
    const struct replica_settings *s)
{
	json_t *st = rp_stats_load(r->stats);
	uint64_t last = (uint64_t)rp_int(st, "last_app_ms");

	json_decref(st);
	return s->app_every_h && (!last || wall_ms() >= last +
	    s->app_every_h * h->cfg.replica_point_period_ms);
}

/* The details of the next cycle of vm (relationship r): after the last
 * acknowledged one when its spool is there, else a full one from seq 1
 * of a new chain (base 0) -- or, --initial existing, seq 1 compared
 * with the seed's maps (base 0, "existing": over the replica's copies). */
static json_t *
cy_details(struct host *h, struct vm *vm, const struct replication_row *r,
    const struct replica_settings *s)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *pdir = NULL;
	char point[24], parent[24];
	json_t *o, *disks, *x;
	int64_t pseq = cy_parent_seq(r), base = r->seq;
	size_t i, k;
	bool have, existing;

	replica_point_name(pseq, parent);
	pdir = xasprintf("%s/%s/%s", spool, vm->row->uuid, parent);
	have = access(pdir, F_OK) == 0;
	/* --initial existing: the seed's maps are point 0's */
	existing = r->seq == 0 && have && streq(s->initial, "existing");
	if (pseq == 0 || !have)
		base = pseq = 0;	/* no maps to compare with: a new chain */
	replica_point_name(r->seq + 1, point);
	o = backup_point_details(vm, spool, point, (int64_t)wall_ms(),
	    pseq || existing ? parent : NULL, cy_app_due(h, r, s));
	if (existing)
		json_object_set_new(o, "existing", json_true());
	disks = json_object_get(o, "disks");
	for (i = json_array_size(disks); i-- > 0;)
		json_array_foreach(s->exclude, k, x)
			if (json_equal(json_object_get(json_array_get(disks, i),
			    "name"), x)) {
				json_array_remove(disks, i);
				break;
			}
	json_object_set_new(o, "ref", json_sprintf("rp-%s", point));
	json_object_set_new(o, "sink", json_string("delta"));
	json_object_set_new(o, "seq", json_integer(r->seq + 1));
	json_object_set_new(o, "base_seq", json_integer(base));
	json_object_set_new(o, "compress", json_boolean(s->compress));
	if (streq(s->initial, "offline") && streq(r->state, "initial") &&
	    r->seq == 0 && s->initial_dir)
		json_object_set_new(o, "seed_dir", json_string(s->initial_dir));
	(void)rp_peer_details(h, o, r->peer, NULL);
	return o;
}

/* A cycle started (`now` too): the scheduler counts the interval from
 * here, so it does not start another on the heels of this one. */
static void
cy_attempted(struct host *h, struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats);

	json_object_set_new(st, "last_attempt_ms", json_integer((json_int_t)
	    wall_ms()));
	rp_stats_save(h, r, st);
	json_decref(st);
}

int
replica_cycle_start(struct host *h, struct vm *vm, struct job **ret_job,
    struct err *err)
{
	struct replication_row r;
	struct replica_settings s;
	_cleanup_free_ char *spool = NULL;
	json_t *details, *settings;
	int rc = store_replication_get(h->store, vm->row->uuid, &r);

	if (rc < 0)
		return err_set(err, -ENOENT, "vm '%s' is not replicated",
		    vm->row->name);
	if (!streq(r.role, "primary") || streq(r.state, "paused")) {
		rc = err_set(err, -EBUSY, "vm '%s' %s", vm->row->name,
		    streq(r.role, "primary") ? "replication is paused" :
		    "is the replica here; cycles run on the primary");
		replication_row_done(&r);
		return rc;
	}
	if (rp_seed_needed(vm, &r)) {
		replication_row_done(&r);
		return err_set(err, -EBUSY, "vm '%s': the replica's copy is "
		    "being read first (--initial existing); try again in a "
		    "moment", vm->row->name);
	}
	if (streq(r.state, "awaiting-seed")) {	/* seed.c */
		rc = err_set(err, -EBUSY, "vm '%s' waits for its seed to be "
		    "imported on %s ('tern vm replication import-seed DIR' "
		    "there); cycles follow", vm->row->name, r.peer);
		replication_row_done(&r);
		return rc;
	}
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED) {
		replication_row_done(&r);
		return err_set(err, -EBUSY, "vm '%s' is %s: a cycle reads a "
		    "running or paused VM", vm->row->name,
		    vm_state_name(vm->state));
	}
	spool = replica_spool_dir(vm);
	if ((rc = mkdir_p(spool, 0700)) < 0) {
		replication_row_done(&r);
		return err_setf_errno(err, rc, "cannot make the spool %s",
		    spool);
	}
	rp_follow_rehome(vm, cy_parent_seq(&r));	/* after a move */
	settings = json_loads(r.settings, 0, NULL);
	replica_settings_from_json(settings, &s);
	json_decref(settings);
	details = cy_details(h, vm, &r, &s);
	replica_settings_done(&s);
	if ((rc = vm_job_create(h, &job_vm_replicate, vm, details, ret_job,
	    err)) < 0) {
		replication_row_done(&r);
		return rc;
	}
	cy_attempted(h, &r);
	replication_row_done(&r);
	job_start(*ret_job);
	return 0;
}

/* ---- serving a cycle's delta to the replica ---- */

int
replica_delta_open(struct host *h, const char *fp, const char *uuid,
    const char *point, const char *disk, int *ret_fd, uint64_t *ret_size,
    struct err *err)
{
	struct vm *vm = NULL;
	struct replication_row r;
	_cleanup_free_ char *spool = NULL, *f = NULL;
	struct stat sb;
	int fd = rp_relation_for_peer(h, uuid, fp, "primary", &vm, &r);

	if (fd == -ENOENT)
		return err_set(err, -ENOENT, "no replicated vm with uuid %.40s",
		    uuid);
	if (fd < 0)
		return err_set(err, -EACCES, "only the replica server of vm "
		    "'%s' reads its deltas", vm->row->name);
	replication_row_done(&r);
	if (strlen(point) != 12 || strspn(point, "0123456789") != 12 ||
	    !name_is_valid(disk))
		return err_set(err, -EINVAL, "no such delta");
	spool = replica_spool_dir(vm);
	f = xasprintf("%s/%s/%s/%s.delta", spool, vm->row->uuid, point, disk);
	fd = open(f, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -ENOENT, "no delta %s of disk %s of vm "
		    "'%s' (the cycle ended?)", point, disk, vm->row->name);
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return err_setf_errno(err, -errno, "cannot read %s", f);
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)sb.st_size;
	return 0;
}
