/* unplanned.c - the unplanned failover on the replica host (Hyper-V's
 * "Failover" with the primary gone): the replica VM started from a
 * recovery point, on a qcow2 overlay per disk so that no recovery point
 * is ever written; then completed (resolve.c: the other points given
 * up, an ordinary VM) or cancelled (resolve.c: back to a replica, the
 * points as they were).  Also the replica's end of a planned failover
 * (POST /v1/replica/vms/UUID/failover from the primary).
 *
 * vm.failover, the VM held exclusively throughout:
 *
 *   start --fo_overlays: `qemu-img create -b POINT_FILE` per disk, one
 *   at a time (details "next")--> overlays --the point's NVRAM/TPM
 *   copies into the VM's files (rp_fw_install)--> failpoint
 *   failover.overlays--> record --fo_record: one transaction: the disks
 *   on the overlays, the row "failed-over" with its "failover" object
 *   (state "pending"; planned: "completed" at once, resolve.c)--> the VM
 *   REPLICA -> OFF, job succeeds, then vm.start is started (its own job).
 *
 *   Restart: before record: the overlays removed, the latest point's
 *   NVRAM/TPM copies put back, the job fails, the VM is the replica it
 *   was (the points never written).  In record: the
 *   transaction runs again unless the row already says failed-over at
 *   this point (then only the VM's state and the start follow). */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"
#include "failover.h"
#include "failpoint.h"
#include "fo_int.h"
#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"

enum fo_phase { FO_PH_START, FO_PH_OVERLAYS, FO_PH_RECORD, FO_PH__COUNT };

static const char *const fo_phase_names[FO_PH__COUNT] = {
	[FO_PH_START] = "start", [FO_PH_OVERLAYS] = "overlays",
	[FO_PH_RECORD] = "record",
};

int
fo_replica_row(struct host *h, const struct vm *vm,
    struct replication_row *ret, struct err *err)
{
	if (store_replication_get(h->store, vm->row->uuid, ret) < 0)
		return err_set(err, -EINVAL, "vm '%s' is not replicated; only "
		    "a replica is failed over (on its replica host)",
		    vm->row->name);
	if (!streq(ret->role, "replica")) {
		replication_row_done(ret);
		return err_set(err, -EINVAL, "vm '%s' is the primary here; "
		    "fail it over on its replica host %s (or use 'tern vm "
		    "failover planned')", vm->row->name, ret->peer);
	}
	return 0;
}

json_t *
fo_failover_load(const struct replication_row *r)
{
	json_t *o = r->failover ? json_loads(r->failover, 0, NULL) : NULL;

	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

char *
fo_chain_only(const char *failover)
{
	json_t *fo = failover ? json_loads(failover, 0, NULL) : NULL;
	json_t *chain = json_object_get(fo, "chain");
	char *s = NULL;

	if (json_is_object(chain) && json_object_size(chain)) {
		json_t *o = json_pack("{ss sO}", "state", "chain", "chain",
		    chain);

		s = json_dumps(o, JSON_COMPACT);
		json_decref(o);
	}
	json_decref(fo);
	return s;
}

void
fo_unlink_values(const json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v)
		if (json_is_string(v))
			(void)unlink(json_string_value(v));
}

json_t *
fo_point_find(const struct vm *vm, const json_t *pts, int64_t seq,
    struct err *err)
{
	char list[160] = "";
	size_t i, n = json_array_size(pts);
	json_t *p;

	if (n == 0) {
		err_set(err, -ENOENT, "vm '%s' has no recovery point yet; wait "
		    "for the first cycle", vm->row->name);
		return NULL;
	}
	if (seq == 0)
		return json_array_get(pts, n - 1);
	json_array_foreach(pts, i, p) {
		size_t len = strlen(list);

		if (rp_int(p, "seq") == seq)
			return p;
		snprintf(list + len, sizeof(list) - len, "%s%lld", i ? ", " :
		    "", (long long)rp_int(p, "seq"));
	}
	err_set(err, -ENOENT, "vm '%s' has no recovery point %lld; it has %s "
	    "('tern vm replication show %s')", vm->row->name, (long long)seq,
	    list, vm->row->name);
	return NULL;
}

/* Whether the row lets a failover start now. */
static int
fo_check_row(const struct vm *vm, const struct replication_row *r,
    struct err *err)
{
	if (streq(r->state, "failed-over"))
		return err_set(err, -EBUSY, "vm '%s' has failed over already; "
		    "complete or cancel it ('tern vm failover complete|cancel "
		    "%s')", vm->row->name, vm->row->name);
	if (r->test)
		return err_set(err, -EBUSY, "a test failover of vm '%s' runs; "
		    "stop it first ('tern vm failover test-stop %s')",
		    vm->row->name, vm->row->name);
	if (vm->state != VM_REPLICA)
		return err_set(err, -EBUSY, "the replica of vm '%s' is %s; "
		    "try again when it is a replica", vm->row->name,
		    vm_state_name(vm->state));
	return 0;
}

/* details: "seq", "planned", "backing" and "overlays" ({DISK: path}),
 * "fw" (the point's NVRAM/TPM copies) and "latest_fw" (the latest
 * point's: what a rollback puts back). */
static json_t *
fo_details(const struct vm *vm, const json_t *pt, const json_t *latest,
    bool planned)
{
	json_t *files = json_object_get(pt, "disks");
	json_t *backing = json_object(), *ov = json_object();
	int64_t t = (int64_t)wall_ms();
	const char *disk;
	json_t *f;

	json_object_foreach(files, disk, f) {
		_cleanup_free_ char *dup = xstrdup(json_string_value(f));

		json_object_set(backing, disk, f);
		/* named by the failover's time: never a file of an earlier
		 * failover, which may be a recovery point's now (the old
		 * primary's copy adopted by reverse replication) */
		json_object_set_new(ov, disk, json_sprintf("%s/%s-%s-fo%lld"
		    ".qcow2", dirname(dup), vm->row->name, disk, (long long)t));
	}
	return json_pack("{sI sb so so si sI sO sO}", "seq", (json_int_t)rp_int(
	    pt, "seq"), "planned", planned, "backing", backing, "overlays", ov,
	    "next", 0, "time_ms", (json_int_t)t, "fw", json_object_get(pt,
	    "fw") ?: json_null(), "latest_fw", json_object_get(latest,
	    "fw") ?: json_null());
}

int
failover_unplanned_start(struct host *h, struct vm *vm, int64_t seq,
    bool planned, struct job **ret_job, struct err *err)
{
	struct replication_row r;
	json_t *pts, *pt;
	int rc;

	*ret_job = NULL;
	if ((rc = fo_replica_row(h, vm, &r, err)) < 0)
		return rc;
	pts = rp_points_load(r.points);
	if ((rc = fo_check_row(vm, &r, err)) == 0 &&
	    !(pt = fo_point_find(vm, pts, seq, err)))
		rc = -ENOENT;
	if (rc == 0 && planned && pt != json_array_get(pts,
	    json_array_size(pts) - 1))
		rc = err_set(err, -EINVAL, "point %lld is not the latest of "
		    "vm '%s' here; a planned failover goes to the latest",
		    (long long)seq, vm->row->name);
	if (rc == 0)
		rc = vm_job_create(h, &job_vm_failover, vm, fo_details(vm, pt,
		    json_array_get(pts, json_array_size(pts) - 1), planned),
		    ret_job, err);
	json_decref(pts);
	replication_row_done(&r);
	if (rc < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}

/* ---- the job ---- */

/* The VM's NVRAM file and TPM state become those of the details' key
 * (its "fw": the chosen point's or the latest's; rp_fw.c). */
int
fo_fw_install(struct vm *vm, const json_t *details, const char *key)
{
	json_t *p = json_pack("{sO}", "fw", json_object_get(details, key) ?:
	    json_null());
	int r = rp_fw_install(vm, p);

	json_decref(p);
	return r;
}

static void
fo_fail(struct job *job, int r, const char *why)
{
	int rf;

	fo_unlink_values(json_object_get(job->details, "overlays"));
	/* The replica's firmware state back to its latest point's (the
	 * chosen point's may have been copied in already). */
	if (vm_of(job) && (rf = fo_fw_install(vm_of(job), job->details,
	    "latest_fw")) < 0)
		host_event(host_of(job), "error", vm_of(job), job->row->id,
		    "cannot put the latest point's NVRAM/TPM state back: %s",
		    strerror(-rf));
	job_finish(job, r, "vm not failed over (the replica is as it was): "
	    "%s", why);
}

static void
fo_on_child(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status == 0)
		json_object_set_new(job->details, "next", json_integer(
		    rp_int(job->details, "next") + 1));
	else
		json_object_set_new(job->details, "error", json_string(
		    "qemu-img could not make an overlay (see replica.log)"));
	job_save(job);
	job_poke(job);
}

/* One overlay per step: 1 when all are made, 0 while qemu-img runs,
 * < 0 on failure. */
static int
fo_overlays(struct job *job, struct vm *vm)
{
	json_t *ov = json_object_get(job->details, "overlays");
	json_t *backing = json_object_get(job->details, "backing");
	int64_t next = rp_int(job->details, "next"), i = 0;
	_cleanup_free_ char *log = vm_state_path(vm, "replica.log");
	const char *disk;
	json_t *v;

	if (rp_str(job->details, "error"))
		return -EIO;
	json_object_foreach(ov, disk, v) {
		const char *argv[] = { vm->h->cfg.qemu_img, "create", "-q",
			"-f", "qcow2", "-F", "qcow2", "-b", rp_str(backing,
			disk), json_string_value(v), NULL };

		if (i++ != next)
			continue;
		(void)unlink(json_string_value(v));	/* an earlier try's */
		return job_spawn(job, argv, log, fo_on_child) < 0 ? -EIO : 0;
	}
	return 1;
}

static struct disk_row *
fo_disk_row(struct vm *vm, const char *name)
{
	for (size_t i = 0; i < vm->row->n_disks; i++)
		if (streq(vm->row->disks[i].name, name))
			return &vm->row->disks[i];
	return NULL;
}

/* vm's disks named in files ({DISK: path}) on those paths, in memory
 * (the store's write is the caller's transaction). */
void
fo_disks_point_at(struct vm *vm, const json_t *files)
{
	const char *disk;
	json_t *v;

	json_object_foreach((json_t *)files, disk, v) {
		struct disk_row *d = fo_disk_row(vm, disk);

		if (d && json_is_string(v)) {
			free(d->path);
			d->path = xstrdup(json_string_value(v));
		}
	}
}

/* The same in the store, inside the caller's transaction. */
int
fo_disks_store(struct vm *vm, const json_t *files)
{
	const char *disk;
	json_t *v;
	int r;

	json_object_foreach((json_t *)files, disk, v) {
		struct disk_row *d = fo_disk_row(vm, disk);

		if (d && (r = store_vm_set_disk(vm->h->store, vm->row->uuid,
		    disk, json_string_value(v), d->pool)) < 0)
			return r;
	}
	return 0;
}

/* The row's failover object for the job's failover. */
static char *
fo_record_text(struct job *job, const struct replication_row *r)
{
	json_t *o = json_pack("{ss sI sb sI sO ss}", "state", "pending",
	    "seq", (json_int_t)rp_int(job->details, "seq"), "planned",
	    json_is_true(json_object_get(job->details, "planned")), "time_ms",
	    (json_int_t)rp_int(job->details, "time_ms"), "overlays",
	    json_object_get(job->details, "overlays"), "prev_state",
	    r->state);
	json_t *prev = fo_failover_load(r);
	char *s;

	/* an adopted copy's chain below the points (replica/adopt.c) */
	if (json_object_get(prev, "chain"))
		json_object_set(o, "chain", json_object_get(prev, "chain"));
	json_decref(prev);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* The transaction of record (idempotent: done when the row says so). */
static int
fo_record(struct job *job, struct vm *vm)
{
	struct store *st = vm->h->store;
	struct replication_row r;
	_cleanup_free_ char *text = NULL;
	char *state;
	int rc;

	if ((rc = store_replication_get(st, vm->row->uuid, &r)) < 0)
		return rc;
	if (!streq(r.state, "failed-over")) {
		text = fo_record_text(job, &r);
		state = r.state;
		r.state = "failed-over";
		free(r.failover);
		r.failover = TAKE_PTR(text);
		if ((rc = store_begin(st)) == 0) {
			if ((rc = fo_disks_store(vm, json_object_get(
			    job->details, "overlays"))) == 0 &&
			    (rc = store_replication_update(st, &r)) == 0)
				rc = store_commit(st);
			else
				store_rollback(st);
		}
		r.state = state;
	}
	replication_row_done(&r);
	if (rc == 0)
		fo_disks_point_at(vm, json_object_get(job->details,
		    "overlays"));
	return rc;
}

/* After the job: the VM started (a vm.start job of its own). */
static void
fo_boot(struct host *h, const char *uuid, int64_t job_id)
{
	struct vm *vm = vm_find(h, uuid);
	struct job *sj = NULL;
	struct err e = { 0 };

	if (!vm)
		return;
	if (vm_action_start(vm, VM_ACT_START, NULL, &sj, &e) < 0) {
		host_event(h, "error", vm, job_id, "failed over but not "
		    "started: %s; start it with 'tern vm start %s'", e.msg,
		    vm->row->name);
		return;
	}
	fo_altip_start(h, uuid, vm, job_id);	/* when failover_ip is set */
	cluster_vm_ha_wanted(h, vm);	/* a replica in a cluster: HA there */
}

/* The old primary told at once (best effort: notify.c retries). */
static void
fo_notify_row(struct host *h, const char *uuid)
{
	struct replication_row r;

	if (store_replication_get(h->store, uuid, &r) < 0)
		return;
	fo_notify(h, &r);
	replication_row_done(&r);
}

static void
fo_finish(struct job *job, struct vm *vm)
{
	struct host *h = vm->h;
	char uuid[37];
	int64_t id = job->row->id;
	struct err e = { 0 };
	int r;

	if (vm->state == VM_REPLICA)
		vm_set_state(vm, VM_OFF, NULL);
	if (json_is_true(json_object_get(job->details, "planned")) &&
	    (r = failover_complete(h, vm, &e)) < 0)
		host_event(h, "error", vm, id, "planned failover not "
		    "completed: %s", e.msg);
	host_event(h, "warning", vm, id, "vm failed over to recovery point "
	    "%lld; %s", (long long)rp_int(job->details, "seq"),
	    json_is_true(json_object_get(job->details, "planned")) ?
	    "completed (planned)" : "complete it ('tern vm failover "
	    "complete') or cancel it ('tern vm failover cancel')");
	snprintf(uuid, sizeof(uuid), "%s", vm->row->uuid);
	fo_notify_row(h, uuid);
	job_finish(job, 0, NULL);
	fo_boot(h, uuid, id);
}

static void
fo_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	int r;

	if (vm_job_gone(job))
		return;
	if (job->recovering && !job_phase_is(job, FO_PH_RECORD)) {
		fo_fail(job, -EINTR, "ternd restarted while the overlays were "
		    "made; run the failover again");
		return;
	}
	if (!job_phase_is(job, FO_PH_RECORD)) {
		job_set_phase(job, FO_PH_OVERLAYS);
		if ((r = fo_overlays(job, vm)) <= 0) {
			if (r < 0)
				fo_fail(job, r, rp_str(job->details, "error") ?:
				    "cannot run qemu-img");
			return;
		}
		/* The point's firmware state, before the record: a restart
		 * before it (the job fails) puts the latest's back. */
		if ((r = fo_fw_install(vm, job->details, "fw")) < 0) {
			fo_fail(job, r, "cannot copy the point's NVRAM/TPM "
			    "state");
			return;
		}
		/* Tests: ternd dies with every overlay made. */
		(void)failpoint_check("failover.overlays", NULL);
		job_set_phase(job, FO_PH_RECORD);
		job_save(job);
	}
	if ((r = fo_record(job, vm)) < 0) {
		fo_fail(job, r, "cannot record the failover");
		return;
	}
	fo_finish(job, vm);
}

const struct job_ops job_vm_failover = {
	.type = "vm.failover", .phases = fo_phase_names,
	.n_phases = FO_PH__COUNT, .step = fo_step,
};

/* POST /v1/replica/vms/UUID/failover from the primary: {"seq": N,
 * "planned": true}, N the latest point here. */
int
failover_incoming(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "seq", "planned", NULL };
	struct vm *vm = NULL;
	struct replication_row r;
	int64_t seq = 0;
	int rc;

	*ret_job = NULL;
	if ((rc = rp_replica_for_primary(h, uuid, fp, "fails it over", &vm,
	    &r, err)) < 0)
		return rc;
	replication_row_done(&r);
	if ((rc = json_check_fields(body, fields, "failover", err)) < 0 ||
	    (rc = json_get_int(body, "seq", true, 1, INT64_MAX, &seq,
	    err)) < 0)
		return rc;
	if (!json_is_true(json_object_get(body, "planned")))
		return err_set(err, -EINVAL, "failover: only a planned failover "
		    "is asked for by the primary (\"planned\": true)");
	return failover_unplanned_start(h, vm, seq, true, ret_job, err);
}
