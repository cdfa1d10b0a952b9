/* seed.c - initial replication by offline media (--initial offline DIR):
 * the first, full cycle is carried to the replica on a disk instead of
 * over the link.  Format of the seed's manifest: docs/replica-format.md.
 *
 * On the primary (the relationship's state in parentheses):
 *
 *   enable (initial: DIR checked: absolute, a writable directory, no
 *   seed in it) --scheduler: the first cycle, vm.replicate with details
 *   "seed_dir"--> its seal, instead of send: seed_check (room for every
 *   delta, still no seed) --seed_copy: `cp` of the deltas into DIR-->
 *   seed_finish (each file fsynced and its size checked, DIR/seed.json
 *   written last, atomically) --> the cycle's usual ack, but for the
 *   relationship's row: the reference point recorded (the VM's changes
 *   are tracked from the seed's point on), the job ends
 *   (awaiting-seed: no cycles; the seed kept in the row's stats)
 *   --sched: every SEED_POLL_MS GET /v1/replica/vms/UUID to the replica:
 *   its seq ≥ the seed's--> the seed's ack recorded as a sent cycle's
 *   (replica_ack_record: seq, state, stats) (replicating: the next cycle
 *   carries what changed since the seed's point)
 *
 *   A failure, cancel or restart before the seal ended: backup's going
 *   back (reference point and spool removed) and the seed files written
 *   into DIR removed (only once the checks passed: an existing seed is
 *   never touched); the relationship stays initial and the scheduler
 *   exports again.
 *
 * On the replica: `tern vm replication import-seed DIR` reads the
 * manifest (untrusted: strict), checks it against this host (its
 * replica VM, the primary's fingerprint and the replica server's
 * allow list, the seq, the files' sizes) and starts replica.apply with
 * "seed_dir": the deltas are read from DIR instead of downloaded; every
 * other step (and what a restart does) is a received cycle's. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "peer.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define SEED_MANIFEST "seed.json"
#define SEED_FORMAT "tern-replica-seed"
#define SEED_DIR_MAX 200	/* characters of DIR */
#define SEED_POLL_MS 10000ULL	/* asking the replica about the seed */

/* ---- the primary: DIR, the export ---- */

int
replica_seed_dir_check(const char *dir, struct err *err)
{
	_cleanup_free_ char *m = NULL;
	struct stat sb;

	if (!dir || dir[0] != '/' || strlen(dir) > SEED_DIR_MAX)
		return err_set(err, -EINVAL, "--initial offline: give the "
		    "seed's directory as an absolute path (at most %d "
		    "characters)", SEED_DIR_MAX);
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return err_set(err, -ENOENT, "--initial offline %.120s: no such "
		    "directory; make it (an empty one on the disk to carry)",
		    dir);
	if (access(dir, W_OK | X_OK) < 0)
		return err_set(err, -EACCES, "--initial offline %.120s: ternd "
		    "cannot write there; give a writable directory", dir);
	m = xasprintf("%s/%s", dir, SEED_MANIFEST);
	if (access(m, F_OK) == 0)
		return err_set(err, -EEXIST, "--initial offline %.120s holds a "
		    "seed already (seed.json); give an empty directory", dir);
	return 0;
}

static char *
seed_spool_file(struct job *job, const json_t *d)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm_of(job));

	return xasprintf("%s/%s/%s/%s.delta", spool, job->row->vm_uuid,
	    rp_str(job->details, "point"), rp_str(d, "name"));
}

static int64_t
seed_bytes(const struct job *job)
{
	json_t *d;
	size_t i;
	int64_t sum = 0;

	json_array_foreach(json_object_get(job->details, "disks"), i, d)
		sum += rp_int(json_object_get(d, "summary"), "delta_bytes");
	return sum;
}

/* Room and no seed: before a byte is written (then "seed_ours": what is
 * in DIR under our names from here on is ours to remove). */
static int
seed_check(struct job *job, struct err *err)
{
	const char *dir = rp_str(job->details, "seed_dir");
	uint64_t avail = 0, need = (uint64_t)seed_bytes(job) + (1 << 20);
	int r;

	if ((r = replica_seed_dir_check(dir, err)) < 0)
		return r;
	if ((r = fs_free_bytes(dir, &avail)) < 0)
		return err_setf_errno(err, r, "cannot read the free space of "
		    "%.120s", dir);
	if (need > avail)
		return err_set(err, -ENOSPC, "the seed needs %llu MiB and "
		    "%.120s has %llu MiB free; give a larger disk",
		    (unsigned long long)(need >> 20), dir,
		    (unsigned long long)(avail >> 20));
	json_object_set_new(job->details, "seed_ours", json_true());
	job_save(job);
	return 0;
}

static void
seed_on_copied(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	json_object_set_new(job->details, "seed_copied", json_integer(
	    status == 0 ? 1 : -1));
	job_poke(job);
}

static int
seed_copy(struct job *job)
{
	json_t *disks = json_object_get(job->details, "disks"), *d;
	size_t i, n = json_array_size(disks);
	_cleanup_free_ const char **argv = xzalloc((n + 5) * sizeof(*argv));
	_cleanup_free_ char *log = vm_state_path(vm_of(job), "replica.log");
	char **files = xzalloc((n + 1) * sizeof(*files));
	size_t k = 0;
	int r;

	argv[k++] = "cp";
	argv[k++] = "--";
	json_array_foreach(disks, i, d)
		argv[k++] = files[i] = seed_spool_file(job, d);
	argv[k++] = rp_str(job->details, "seed_dir");
	argv[k] = NULL;
	r = job_spawn(job, argv, log, seed_on_copied);
	for (i = 0; i < n; i++)
		free(files[i]);
	free(files);
	return r;
}

static json_t *
seed_manifest(struct job *job)
{
	struct host *h = host_of(job);
	json_t *disks = json_array(), *d;
	size_t i;

	json_array_foreach(json_object_get(job->details, "disks"), i, d)
		json_array_append_new(disks, json_pack("{sO sO so sI}",
		    "name", json_object_get(d, "name"), "size",
		    json_object_get(d, "size"), "delta", json_sprintf("%s.delta",
		    rp_str(d, "name")), "delta_bytes", (json_int_t)rp_int(
		    json_object_get(d, "summary"), "delta_bytes")));
	return json_pack("{ss si ss ss ss ss sI sI sI ss sI so}", "format",
	    SEED_FORMAT, "version", 1, "vm_uuid", vm_of(job)->row->uuid,
	    "vm_name", vm_of(job)->row->name, "primary", h->cfg.name,
	    "primary_fingerprint", h->fingerprint, "seq",
	    (json_int_t)rp_int(job->details, "seq"), "base_seq",
	    (json_int_t)rp_int(job->details, "base_seq"), "time_ms",
	    (json_int_t)rp_int(job->details, "snap_ms"), "consistency",
	    rp_str(job->details, "consistency") ? rp_str(job->details,
	    "consistency") : "crash", "exported_ms", (json_int_t)wall_ms(),
	    "disks", disks);
}

/* Every copy on disk and as big as its delta; then the manifest. */
static int
seed_finish(struct job *job, struct err *err)
{
	const char *dir = rp_str(job->details, "seed_dir");
	json_t *d;
	size_t i;
	_cleanup_free_ char *m = xasprintf("%s/%s", dir, SEED_MANIFEST);
	_cleanup_free_ char *text = NULL;
	json_t *man;
	int r;

	json_array_foreach(json_object_get(job->details, "disks"), i, d) {
		_cleanup_free_ char *f = xasprintf("%s/%s.delta", dir,
		    rp_str(d, "name"));
		int fd = open(f, O_RDONLY | O_CLOEXEC);
		struct stat sb;
		bool ok = fd >= 0 && fsync(fd) == 0 && fstat(fd, &sb) == 0 &&
		    sb.st_size == rp_int(json_object_get(d, "summary"),
		    "delta_bytes");

		if (fd >= 0)
			close(fd);
		if (!ok)
			return err_set(err, -EIO, "the seed's copy %.120s is "
			    "not complete; see the disk holding it", f);
	}
	man = seed_manifest(job);
	text = man ? json_dumps(man, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(man);
	if (!text)
		return err_set(err, -EIO, "cannot make the seed's manifest");
	if ((r = file_write_atomic(m, text, strlen(text), 0644)) < 0)
		return err_setf_errno(err, r, "cannot write %.120s", m);
	/* Tests: ternd dies with the seed written but its point not yet
	 * kept (the restart must take the seed back). */
	(void)failpoint_check("replication.seed.written", NULL);
	json_object_set_new(job->details, "seed_exported_ms",
	    json_integer((json_int_t)wall_ms()));
	return 0;
}

int
replica_seed_export(struct job *job)
{
	struct err e = { 0 };
	int64_t copied = rp_int(job->details, "seed_copied");
	int r;

	if (job->child)
		return 1;
	if (!json_is_true(json_object_get(job->details, "seed_ours"))) {
		if (seed_check(job, &e) < 0 || seed_copy(job) < 0) {
			backup_point_end(job, e.code ? e.code : -EIO, e.msg[0] ?
			    e.msg : "cannot run cp to write the seed");
			return -1;
		}
		return 1;
	}
	if (copied == 0)	/* a poke while cp runs */
		return 1;
	if (copied < 0)
		r = err_set(&e, -EIO, "cannot copy the seed's deltas into "
		    "%.120s (see replica.log)", rp_str(job->details,
		    "seed_dir"));
	else
		r = seed_finish(job, &e);
	if (r < 0) {
		backup_point_end(job, r, e.msg);
		return -1;
	}
	return 0;
}

/* A seed cycle that did not end well: what it wrote into DIR goes. */
static void
seed_remove(struct job *job)
{
	const char *dir = rp_str(job->details, "seed_dir");
	_cleanup_free_ char *m = NULL;
	json_t *d;
	size_t i;

	if (job->child)
		(void)child_kill(job->child, SIGKILL);
	if (!dir || !json_is_true(json_object_get(job->details, "seed_ours")))
		return;
	m = xasprintf("%s/%s", dir, SEED_MANIFEST);
	(void)unlink(m);
	json_array_foreach(json_object_get(job->details, "disks"), i, d) {
		_cleanup_free_ char *f = xasprintf("%s/%s.delta", dir,
		    rp_str(d, "name"));

		(void)unlink(f);
	}
}

/* The seed's record in the row's stats: where, when, and what the ack
 * will record (the cycle's seq, point time, deltas' sizes). */
static json_t *
seed_record(const struct job *job)
{
	json_t *disks = json_array(), *d;
	size_t i;

	json_array_foreach(json_object_get(job->details, "disks"), i, d)
		json_array_append_new(disks, json_pack("{sO s{sI}}", "name",
		    json_object_get(d, "name"), "summary", "delta_bytes",
		    (json_int_t)rp_int(json_object_get(d, "summary"),
		    "delta_bytes")));
	return json_pack("{ss sI sI sI s{sI sI so}}", "dir",
	    rp_str(job->details, "seed_dir"), "exported_ms",
	    (json_int_t)rp_int(job->details, "seed_exported_ms"), "seq",
	    (json_int_t)rp_int(job->details, "seq"), "time_ms",
	    (json_int_t)rp_int(job->details, "snap_ms"), "cycle", "seq",
	    (json_int_t)rp_int(job->details, "seq"), "snap_ms",
	    (json_int_t)rp_int(job->details, "snap_ms"), "disks", disks);
}

bool
replica_seed_cycle_end(struct vm *vm, struct job *job, int r,
    const char *why)
{
	struct replication_row row;
	json_t *st;

	(void)why;	/* a failed seed's is recorded by the caller */
	if (!rp_str(job->details, "seed_dir"))
		return false;
	if (r != 0) {
		seed_remove(job);
		return false;	/* recorded as any failed cycle */
	}
	if (store_replication_get(vm->h->store, vm->row->uuid, &row) < 0)
		return true;
	st = rp_stats_load(row.stats);
	json_object_set_new(st, "seed", seed_record(job));
	json_object_set_new(st, "last_attempt_ms", json_integer(
	    (json_int_t)wall_ms()));
	free(row.stats);
	row.stats = json_to_string(st);
	free(row.state);
	row.state = xstrdup("awaiting-seed");
	if (store_replication_update(vm->h->store, &row) < 0)
		log_warn("vm=%s cannot record the seed", vm->row->name);
	host_event(vm->h, "info", vm, job->row->id, "replication seed "
	    "exported to %s; import it on %s with 'tern vm replication "
	    "import-seed DIR'", rp_str(job->details, "seed_dir"), row.peer);
	json_decref(st);
	replication_row_done(&row);
	return true;
}

bool
replica_seed_pending(const struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats);
	json_t *seed = json_object_get(st, "seed");
	bool yes = seed && !json_object_get(seed, "imported_ms") && !r->seq;

	json_decref(st);
	return yes;
}

/* ---- the primary: has the replica applied the seed? ---- */

struct seed_poll {
	struct host *h;
	char uuid[37];
};

/* The replica applied the seed: its ack recorded as a sent cycle's. */
static void
seed_acked(struct host *h, const char *uuid, int64_t seq)
{
	struct vm *vm = vm_find(h, uuid);
	struct replication_row row;
	json_t *st, *seed;

	if (!vm || store_replication_get(h->store, uuid, &row) < 0)
		return;
	st = rp_stats_load(row.stats);
	seed = json_object_get(st, "seed");
	if (streq(row.state, "awaiting-seed") && seed && seq >= rp_int(seed,
	    "seq")) {
		json_incref(seed);
		json_object_set_new(seed, "imported_ms", json_integer(
		    (json_int_t)wall_ms()));
		free(row.stats);
		row.stats = json_to_string(st);
		if (store_replication_update(h->store, &row) == 0)
			replica_ack_record(vm, json_object_get(seed, "cycle"),
			    0, 0, NULL);
		json_decref(seed);
		host_event(h, "info", vm, 0, "the replica on %s imported the "
		    "seed: replicating", row.peer);
	}
	json_decref(st);
	replication_row_done(&row);
}

static void
seed_on_status(long status, json_t *body, const struct err *e, void *data)
{
	struct seed_poll *p = data;

	(void)e;
	if (status == 200 && json_is_integer(json_object_get(body, "seq")))
		seed_acked(p->h, p->uuid, rp_int(body, "seq"));
	free(p);
}

void
replica_seed_poll(struct host *h, struct replication_row *r)
{
	json_t *st = rp_stats_load(r->stats), *seed = json_object_get(st,
	    "seed");
	uint64_t now = wall_ms();
	struct host_peer p = { 0 };
	struct seed_poll *sp;
	char path[64];

	if (!seed || !h->peers || now < (uint64_t)rp_int(seed, "polled_ms") +
	    SEED_POLL_MS || host_peer_by_name(h, r->peer, &p, NULL) < 0) {
		json_decref(st);
		return;
	}
	json_object_set_new(seed, "polled_ms", json_integer((json_int_t)now));
	free(r->stats);
	r->stats = json_to_string(st);
	json_decref(st);
	if (store_replication_update(h->store, r) < 0) {
		host_peer_done(&p);
		return;
	}
	sp = xzalloc(sizeof(*sp));
	sp->h = h;
	snprintf(sp->uuid, sizeof(sp->uuid), "%s", r->vm_uuid);
	snprintf(path, sizeof(path), "/v1/replica/vms/%s", r->vm_uuid);
	/* Not a job's call: its reply finds the row again by uuid, so one
	 * that comes after the relationship changed does nothing. */
	if (peer_call(h->peers, p.url, p.fp, "GET", path, NULL, RP_CALL_MS,
	    seed_on_status, sp, NULL) < 0)
		free(sp);
	host_peer_done(&p);
}

/* ---- the replica: what it answers, the import ---- */

int
replica_incoming_status(struct host *h, const char *fp, const char *uuid,
    json_t **ret, struct err *err)
{
	struct vm *vm = NULL;
	struct replication_row r;
	json_t *st;
	int rc = rp_replica_for_primary(h, uuid, fp, "asks about its replica",
	    &vm, &r, err);

	if (rc < 0)
		return rc;
	st = rp_stats_load(r.stats);
	/* state, failover, job: a planned failover's primary settles an
	 * unclear commit with them (src/failover/planned.c) */
	*ret = json_pack("{sI sI ss so* ss*}", "seq", (json_int_t)r.seq,
	    "base_seq", (json_int_t)rp_int(st, "base_seq"), "state", r.state,
	    "failover", r.failover ? json_loads(r.failover, 0, NULL) : NULL,
	    "job", vm_job(vm) ? vm_job(vm)->ops->type : NULL);
	json_decref(st);
	replication_row_done(&r);
	return 0;
}

json_t *
replica_seed_json(const struct replication_row *r, const json_t *settings,
    const json_t *stats)
{
	json_t *seed = json_object_get(stats, "seed");

	if (streq(r->role, "primary"))
		return seed ? json_incref(seed) : NULL;
	if (!streq(rp_str(settings, "initial"), "offline"))
		return NULL;
	if (r->seq == 0)
		return json_pack("{ss}", "state", "awaiting import");
	return json_pack("{ss}", "state", "imported");
}
