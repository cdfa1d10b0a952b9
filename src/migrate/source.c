/* source.c - vm.move on the source host: moves one VM to a peer.
 *
 *  start --move_start: describe, ask--> check --move_checked: dest says
 *    ok--> queued --move_queued: slots--> measure --move_measure: link
 *    known--> prepare --move_prepare: POST--> prepare-wait --move_prepared:
 *    dest job made--> dest-wait --move_dest_wait: dest QEMU listening-->
 *    [mirroring --mig_mirroring: disks in sync (shared-nothing)-->]
 *    migrating --mig_pre_switchover: migrate-continue--> switchover
 *    --move_migrating: completed--> commit --move_commit: dest `cont`
 *    ok--> committed --move_committed: source QEMU ended, move_forget-->
 *    done
 *
 *  Cold (off, crashed or saved VM): start -> check -> prepare ->
 *    prepare-wait -> dest-wait --move_dest_wait: dest recorded it-->
 *    handover (move_forget) --> done.
 *
 *  Any failure before commit: move_rollback --> rollback (move_settle:
 *  migrate_cancel, the source keeps running, the destination job is
 *  cancelled) --> failed.  move_cancel: before the stream, the job ends
 *  at once; while it runs --> cancelling (move_settle, as rollback) -->
 *  cancelled; from commit on -EBUSY (too late).  An unclear commit or a
 *  restart with a stream (move_commit, move_recover) --> resolve
 *  (move_settle) --> committed or failed.
 *
 *  The commit and what settles an unclear one: commit.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "failpoint.h"
#include "firmware.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "mig_int.h"
#include "peer.h"
#include "storage.h"
#include "refpoint.h"
#include "util.h"
#include "cluster.h"
#include "vm.h"

#define MOVE_POLL_MS 250	/* query-migrate while the stream runs */
#define MOVE_STALL_MS 10000	/* no byte moved for this long: give up */
#define MOVE_DOWNTIME_MS 100	/* the first limit; escalation doubles it */

struct move_ctx *
move_ctx(struct job *job)
{
	bool fresh;
	struct move_ctx *c = job_priv(job, sizeof(*c), &fresh);

	if (fresh) {
		c->ref = job_ref(job);
		c->h = host_of(job);
		c->t0_ms = now_ms();
		c->downtime_ms = MOVE_DOWNTIME_MS;
	}
	return c;
}

static void
move_ctx_free(struct job *job)
{
	struct move_ctx *c = job->priv;

	if (!c)
		return;
	c->call = peer_call_cancel(c->call);
	json_decref(c->last);
	json_decref(c->blk);
	json_decref(c->reply);
	explicit_bzero(c->psk, sizeof(c->psk));
	free(c);
	job->priv = NULL;
}

static bool
move_live(const struct job *job)
{
	return streq(detail_str(job, "mode"), "live");
}

void
move_finish(struct job *job, int r, const char *fmt, ...)
{
	char msg[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
	}
	if (move_copy(job)) {
		mig_mirror_cleanup(job);
		/* one job per VM: its mirrors were ours */
		if (vm_of(job))
			vm_block_jobs_forget(vm_of(job));
	}
	move_psk_remove(job);
	move_ctx_free(job);
	if (vm_of(job)) {	/* no stale QMP error for the next job */
		free(vm_of(job)->last_error);
		vm_of(job)->last_error = NULL;
	}
	job_finish(job, r, fmt ? "%s" : NULL, msg);	/* slots back */
}

/* ---- calls to the destination ---- */

static void
move_on_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct move_ctx *c = data;	/* alive: its job cancels the call */
	struct job *job = job_from_ref(&c->h->jobs, c->ref);

	c->call = NULL;
	c->reply_status = status;
	json_decref(c->reply);
	c->reply = body ? json_incref(body) : NULL;
	snprintf(c->reply_err, sizeof(c->reply_err), "%s", e ? e->msg :
	    "");
	c->replied = true;
	if (job)
		job_poke(job);
}

/* Send one call; its reply lands in c and pokes the job. */
void
move_call(struct job *job, const char *method, const char *path,
    json_t *body, uint64_t timeout_ms)
{
	struct move_ctx *c = move_ctx(job);
	int r;

	c->replied = false;
	c->ref = job_ref(job);
	r = peer_call(host_of(job)->peers, detail_str(job, "peer_url"),
	    detail_str(job, "peer_fp"), method, path, body, timeout_ms,
	    move_on_reply, c, &c->call);
	if (r < 0) {
		c->replied = true;
		c->reply_status = 0;
		snprintf(c->reply_err, sizeof(c->reply_err), "cannot call "
		    "%s: %s", detail_str(job, "peer"), strerror(-r));
		job_poke(job);
	}
}

/* The error a destination reply carries, for messages. */
static const char *
move_reply_msg(const struct move_ctx *c)
{
	const char *m = json_string_value(json_object_get(json_object_get(
	    c->reply, "error"), "message"));

	if (c->reply_status == 0)
		return c->reply_err;
	return m ? m : "unexpected reply";
}

/* Fire and forget: cancel the destination's job. */
static void
move_on_ignored(long status, json_t *body, const struct err *e, void *data)
{
	(void)status;
	(void)body;
	(void)e;
	(void)data;
}

void
move_cancel_dest(struct job *job)
{
	int64_t dj = detail_int(job, "dest_job");
	_cleanup_free_ char *path = NULL;

	if (dj <= 0 || !host_of(job)->peers)
		return;
	path = xasprintf("/v1/jobs/%lld/cancel", (long long)dj);
	(void)peer_call(host_of(job)->peers, detail_str(job, "peer_url"),
	    detail_str(job, "peer_fp"), "POST", path, NULL, MOVE_CALL_MS,
	    move_on_ignored, NULL, NULL);
}

/* ---- rollback and the end ---- */

static void
move_rollback(struct job *job, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void
move_metrics_init(void)
{
	static const double bytes_les[] = { 16 << 20, 64 << 20, 256 << 20,
		1 << 30, 4.0 * (1 << 30), 16.0 * (1 << 30), 64.0 * (1 << 30),
		256.0 * (1 << 30) };
	static const double down_les[] = { 0.01, 0.025, 0.05, 0.1, 0.25,
		0.5, 1, 2.5, 5, 10, 30 };

	metrics_declare_histogram(metrics_default(), "tern_migration_bytes",
	    "Memory bytes a committed live move of a VM from this host sent.",
	    bytes_les, ARRAY_SIZE(bytes_les));
	metrics_declare_histogram(metrics_default(),
	    "tern_migration_downtime_seconds", "How long a committed live "
	    "move from this host kept the VM paused.", down_les,
	    ARRAY_SIZE(down_les));
}

/* A committed live move's RAM bytes sent and downtime into the
 * histograms migrate_init() declares (labelled by how the disks went:
 * shared storage or copied). */
static void
move_observe(struct job *job, json_t *stats)
{
	const char *const l[] = { "storage", move_copy(job) ? "copy" :
	    "shared", NULL };
	json_t *down = json_object_get(stats, "downtime_ms");

	move_metrics_init();
	metrics_observe(metrics_default(), "tern_migration_bytes", l,
	    (double)json_integer_value(json_object_get(stats, "bytes")));
	if (json_is_integer(down))
		metrics_observe(metrics_default(),
		    "tern_migration_downtime_seconds", l,
		    (double)json_integer_value(down) / 1000);
}

/* Leave the VM running here and end failed with the reason. */
static void
move_rollback(struct job *job, const char *fmt, ...)
{
	struct move_ctx *c = move_ctx(job);
	char why[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!detail_str(job, "why"))
		json_object_set_new(job->details, "why", json_string(why));
	c->call = peer_call_cancel(c->call);
	move_cancel_dest(job);
	if (!move_live(job) || !vm_of(job) || vm_of(job)->pidfd < 0 ||
	    !detail_str(job, "uri")) {
		move_finish(job, -EIO, "%s", why);
		return;
	}
	c->rb_cancel_sent = c->rb_cont_sent = false;
	job_set_phase(job, MOVE_PH_ROLLBACK);
	job_poke(job);
}

void
move_rollback_msg(struct job *job, const char *why)
{
	move_rollback(job, "%s", why);
}

/* Forget the VM here: it runs (or is recorded) on the destination now.
 * The console log stays as the record of its time on this host. */
void
move_forget(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *peer = detail_str(job, "peer");
	struct move_ctx *c = move_ctx(job);
	json_t *stats = json_object_get(job->details, "result");
	char msg[300];

	/* The cluster's state gives the VM to the destination in one
	 * change (src/cluster: the owner, from this node to peer). */
	cluster_vm_moved(host_of(job), vm, peer);
	move_psk_remove(job);
	vm_remove_run_files(vm);
	/* Shared-nothing: the destination runs on its copies now. */
	for (size_t i = 0; move_copy(job) && i < vm->row->n_disks; i++)
		if (vm->row->disks[i].owned)
			(void)unlink(vm->row->disks[i].path);
	if (move_copy(job))	/* its NVRAM and TPM state: copied there */
		firmware_files_remove(vm->row);
	/* Its replication runs from there now; over shared storage the
	 * spool is the destination's. */
	if (host_of(job)->repl_leaving)
		host_of(job)->repl_leaving(vm, false, !move_copy(job));
	(void)store_vm_delete(host_of(job)->store, vm->row->uuid);
	json_object_set_new(job->details, "total_ms",
	    json_integer((json_int_t)(now_ms() - c->t0_ms)));
	if (move_live(job))
		move_observe(job, stats);
	if (move_live(job))
		snprintf(msg, sizeof(msg), "vm moved to %s in %lld ms "
		    "(downtime %lld ms, %lld bytes sent)", peer,
		    (long long)(now_ms() - c->t0_ms),
		    (long long)json_integer_value(json_object_get(stats,
		    "downtime_ms")), (long long)json_integer_value(
		    json_object_get(stats, "bytes")));
	else
		snprintf(msg, sizeof(msg), "vm moved to %s (it was %s)", peer,
		    vm_state_name(vm->state));
	host_event(host_of(job), "info", vm, job->row->id, "%s", msg);
	job_set_progress(job, job->row->total, job->row->total,
	    job->row->unit);
	move_finish(job, 0, NULL);
	vm_remove(vm);
}

/* ---- the phases ---- */

/* The destination pools asked for (copied disks), into body. */
static json_t *
move_body(struct job *job, json_t *body)
{
	const char *pool = detail_str(job, "dest_pool");
	json_t *dp = json_object_get(job->details, "dest_disk_pools");

	if (pool)
		json_object_set_new(body, "pool", json_string(pool));
	if (dp)
		json_object_set(body, "disk_pools", dp);
	return body;
}

static void
move_start(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *desc = NULL;
	struct err err = { 0 };
	_cleanup_free_ char *addr = host_peer_url_host(detail_str(job,
	    "peer_url"));

	if (vm->state == VM_RUNNING && vm->pidfd >= 0)
		json_object_set_new(job->details, "mode", json_string("live"));
	else if (vm_is_down(vm))
		json_object_set_new(job->details, "mode", json_string("cold"));
	else {
		move_finish(job, -EBUSY, "vm '%s' is %s; only a running, off "
		    "or saved vm moves", vm->row->name,
		    vm_state_name(vm->state));
		return;
	}
	if (wire_vm_describe(host_of(job), vm, move_live(job), &desc,
	    &err) < 0) {
		move_finish(job, -EINVAL, "%s", err.msg);
		return;
	}
	job_set_phase(job, MOVE_PH_CHECK);
	move_call(job, "POST", "/v1/migrations", move_body(job, json_pack(
	    "{sb ss so ss ss}", "check", true, "mode", detail_str(job,
	    "mode"), "vm", desc, "address", addr ? addr : "", "storage",
	    detail_str(job, "storage_req"))), MOVE_CALL_MS);
}

static void
move_checked(struct job *job)
{
	struct move_ctx *c = move_ctx(job);

	if (c->reply_status != 200) {
		move_finish(job, c->reply_status == 0 ? -EIO : -EINVAL,
		    "host %s %s: %s", detail_str(job, "peer"),
		    c->reply_status == 0 ? "cannot be reached" :
		    "refused the move", move_reply_msg(c));
		return;
	}
	json_object_set_new(job->details, "storage", json_string(
	    json_string_value(json_object_get(c->reply, "storage")) ?:
	    "shared"));
	if (move_copy(job))
		host_event(host_of(job), "info", vm_of(job), job->row->id,
		    "moving to "
		    "%s shared-nothing: host %s does not mount this vm's "
		    "storage%s, so its disks are copied", detail_str(job,
		    "peer"), detail_str(job, "peer"), streq(detail_str(job,
		    "storage_req"), "copy") ? " or a copy was asked for" : "");
	job_set_phase(job, move_live(job) ? MOVE_PH_QUEUED : MOVE_PH_PREPARE);
	job_poke(job);
}

static void
move_queued(struct job *job)
{
	/* Shared-nothing moves are storage moves too: both limits apply
	 * (storage first; a move never waits for one holding the other). */
	if (move_copy(job) && !storage_take_slot(job))
		return;
	if (!move_take_slot(job))
		return;
	move_ctx(job)->t0_ms = now_ms();	/* time in the queue is not the
						 * move's */
	job_set_phase(job, MOVE_PH_MEASURE);
	job_poke(job);
}

/* data: a job_ref (the ctx may be gone by now). */
static void
move_on_measured(struct host *h, const char *peer, uint64_t rate,
    const struct err *e, void *data)
{
	struct job *job = job_from_ref(&h->jobs, *(struct job_ref *)data);
	struct move_ctx *c;

	(void)peer;
	free(data);
	if (!job)
		return;
	c = move_ctx(job);
	c->measuring = false;
	if (e)
		host_event(h, "warning", vm_of(job), job->row->id, "cannot "
		    "measure the link to %s (%s): moving without a measured "
		    "cap", detail_str(job, "peer"), e->msg);
	c->rate = rate;
	c->measured = true;
	job_poke(job);
}

static void
move_measure(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	struct host_peer p = { 0 };
	struct err err = { 0 };
	struct job_ref *ref;
	uint64_t age;

	if (c->measuring)
		return;
	if (!c->measured) {
		c->rate = host_link_rate(host_of(job), detail_str(job, "peer"),
		    &age);
		if (!c->rate || age > LINK_MAX_AGE_MS) {
			ref = xmalloc(sizeof(*ref));
			*ref = job_ref(job);
			if (host_peer_by_name(host_of(job), detail_str(job,
			    "peer"), &p, &err) == 0 && link_measure(
			    host_of(job), &p, move_on_measured, ref,
			    &err) == 0) {
				c->measuring = true;
				host_peer_done(&p);
				job_set_phase(job, MOVE_PH_MEASURE);
				return;
			}
			free(ref);
			host_peer_done(&p);
		}
		c->measured = true;
	}
	json_object_set_new(job->details, "link_rate_bytes_per_s",
	    json_integer((json_int_t)c->rate));
	job_set_phase(job, MOVE_PH_PREPARE);
	job_poke(job);
}

static void
move_prepare(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	json_t *desc = NULL, *body;
	struct err err = { 0 };
	uint8_t key[32];
	_cleanup_free_ char *addr = host_peer_url_host(detail_str(job,
	    "peer_url"));
	int channels = move_live(job) ? link_channels(c->rate,
	    !host_of(job)->cfg.migration_plain) : 1;

	if (wire_vm_describe(host_of(job), vm_of(job), move_live(job), &desc,
	    &err) < 0) {
		move_finish(job, -EINVAL, "%s", err.msg);
		return;
	}
	body = move_body(job, json_pack("{ss so ss sI si ss}", "mode",
	    detail_str(job, "mode"), "vm", desc, "address", addr ? addr : "",
	    "source_job", (json_int_t)job->row->id, "channels", channels,
	    "storage", detail_str(job, "storage")));
	/* src/replica: the VM's replication goes with it */
	if (host_of(job)->repl_carry && (desc =
	    host_of(job)->repl_carry(vm_of(job), true)))
		json_object_set_new(body, "replication", desc);
	if (move_live(job) && !host_of(job)->cfg.migration_plain) {
		if (getrandom(key, sizeof(key), 0) != sizeof(key)) {
			json_decref(body);
			move_finish(job, -EIO, "cannot make a migration key");
			return;
		}
		hex_encode(key, sizeof(key), c->psk);
		explicit_bzero(key, sizeof(key));
		json_object_set_new(body, "psk", json_string(c->psk));
	}
	json_object_set_new(job->details, "channels", json_integer(channels));
	json_object_set_new(job->details, "encrypted",
	    json_boolean(move_live(job) && !host_of(job)->cfg.migration_plain));
	job_set_phase(job, MOVE_PH_PREPARE_WAIT);
	move_call(job, "POST", "/v1/migrations", body, MOVE_CALL_MS);
}

static void
move_prepared(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	json_t *dj = json_object_get(json_object_get(c->reply, "job"), "id");

	if (c->reply_status != 202 || !json_is_integer(dj)) {
		/* A lost reply may hide a created job; the destination's
		 * own watchdog removes it (it polls this job). */
		move_rollback(job, "host %s could not prepare the vm: %s",
		    detail_str(job, "peer"), move_reply_msg(c));
		return;
	}
	json_object_set_new(job->details, "dest_job", json_incref(dj));
	json_object_set_new(job->details, "dest_qemu", json_string(
	    json_string_value(json_object_get(json_object_get(json_object_get(
	    c->reply, "job"), "details"), "qemu_version")) ?: "unknown"));
	job_set_phase(job, MOVE_PH_DEST_WAIT);
	job_poke(job);
}

/* Poll the destination job until it listens (live) or is done (cold). */
static void
move_dest_wait(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	_cleanup_free_ char *path = xasprintf("/v1/jobs/%lld",
	    (long long)detail_int(job, "dest_job"));
	const char *st, *uri, *nbd;

	if (!c->phase_t0_ms)
		c->phase_t0_ms = now_ms();
	if (c->replied) {
		c->replied = false;
		st = json_string_value(json_object_get(c->reply, "state"));
		uri = json_string_value(json_object_get(json_object_get(
		    c->reply, "details"), "uri"));
		if (c->reply_status == 200 && streq(st, "succeeded") &&
		    !move_live(job)) {
			job_set_phase(job, MOVE_PH_HANDOVER);
			move_forget(job);
			return;
		}
		if (c->reply_status == 200 && (streq(st, "failed") ||
		    streq(st, "cancelled"))) {
			move_rollback(job, "host %s: %s", detail_str(job,
			    "peer"), json_string_value(json_object_get(
			    c->reply, "error")) ?: st);
			return;
		}
		nbd = json_string_value(json_object_get(json_object_get(
		    c->reply, "details"), "nbd"));
		if (c->reply_status == 200 && uri && move_live(job) &&
		    (nbd || !move_copy(job))) {
			json_object_set_new(job->details, "uri",
			    json_string(uri));
			if (nbd)
				json_object_set_new(job->details, "nbd",
				    json_string(nbd));
			job_set_phase(job, move_copy(job) ? MOVE_PH_MIRRORING :
			    MOVE_PH_MIGRATING);
			job_poke(job);
			return;
		}
		if (now_ms() - c->phase_t0_ms > MOVE_COMMIT_MS * 4) {
			move_rollback(job, "host %s did not get ready in "
			    "time: %s", detail_str(job, "peer"),
			    c->reply_status ? (st ? st : "?") : c->reply_err);
			return;
		}
		job_wake_after(job, MOVE_DEST_POLL_MS);
		return;
	}
	if (!c->call)
		move_call(job, "GET", path, NULL, MOVE_CALL_MS);
}

void
move_on_qmp(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	if (!ret && !vm->last_error)
		vm->last_error = xstrdup(e->msg);
	if (job)
		job_poke(job);
}

/* QEMU's max-bandwidth: the host's cap if set, else from the measured
 * link, else (unmeasured) effectively none - never QEMU's 128 MiB/s. */
static uint64_t
move_bandwidth(struct job *job)
{
	struct move_ctx *c = move_ctx(job);

	if (host_of(job)->cfg.migration_bw)
		return host_of(job)->cfg.migration_bw;
	return c->rate ? link_bandwidth_cap(c->rate) : (1ULL << 40);
}

/* Zero pages found by the multifd channels, not the one migration thread
 * (9.0's zero-page-detection=multifd, which a pc-q35-7.2 VM would not get
 * by default): both ends must be 9.0 or later to speak it. */
static bool
move_zero_pages_multifd(struct job *job)
{
	int major = 0, minor = 0;

	return host_qemu_at_least(host_of(job), 9, 0) &&
	    host_parse_qemu_version(detail_str(job, "dest_qemu") ?: "", &major,
	    &minor) == 0 && major >= 9;
}

static void
move_begin_stream(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);
	bool multifd = detail_int(job, "channels") > 1;
	bool tls = json_is_true(json_object_get(job->details, "encrypted"));
	_cleanup_free_ char *objid = xasprintf("tern-mig%lld",
	    (long long)job->row->id);
	json_t *caps = json_array(), *params, *map;
	static const char *const on[] = { "events", "return-path",
		"pause-before-switchover", "auto-converge" };

	free(vm->last_error);
	vm->last_error = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(on); i++)
		json_array_append_new(caps, json_pack("{ss sb}", "capability",
		    on[i], "state", true));
	json_array_append_new(caps, json_pack("{ss sb}", "capability",
	    "multifd", "state", multifd));
	/* Copied disks: the reference points' bitmaps go in the stream
	 * (the destination maps them onto its nodes the same way). */
	map = c->blk ? track_bitmap_mapping(vm, c->blk) : NULL;
	json_array_append_new(caps, json_pack("{ss sb}", "capability",
	    "dirty-bitmaps", "state", map != NULL));
	(void)vm_qmp(vm, job, "migrate-set-capabilities", json_pack("{so}",
	    "capabilities", caps), MOVE_QMP_MS, move_on_qmp);
	params = json_pack("{sI sI si si si ss}", "max-bandwidth",
	    (json_int_t)move_bandwidth(job), "downtime-limit",
	    (json_int_t)c->downtime_ms,
	    "max-cpu-throttle", 20, "cpu-throttle-initial", 10,
	    "multifd-channels", multifd ? (int)detail_int(job, "channels") :
	    2, "tls-creds", tls ? objid : "");
	if (multifd && move_zero_pages_multifd(job)) {
		json_object_set_new(params, "zero-page-detection",
		    json_string("multifd"));
		json_object_set_new(job->details, "zero_pages",
		    json_string("multifd"));
	}
	if (map) {
		json_object_set_new(params, "block-bitmap-mapping", map);
		json_object_set_new(job->details, "bitmaps", json_true());
	}
	mig_tls_object(job);
	(void)vm_qmp(vm, job, "migrate-set-parameters", params, MOVE_QMP_MS,
	    move_on_qmp);
	if (mig_memory_paused(host_of(job))) {
		/* See mig_memory_paused(): the vCPUs stay stopped from here to
		 * the destination's `cont` (or to the rollback's). */
		(void)vm_qmp(vm, job, "stop", NULL, MOVE_QMP_MS, move_on_qmp);
		json_object_set_new(job->details, "memory_copy",
		    json_string("paused"));
		host_event(host_of(job), "info", vm, job->row->id,
		    "memory is copied "
		    "with the vm paused: QEMU %s under TCG loses guest writes "
		    "during a live copy (fixed in QEMU 9.0)",
		    host_of(job)->qemu_version);
	} else {
		json_object_set_new(job->details, "memory_copy",
		    json_string("live"));
		host_event(host_of(job), "info", vm, job->row->id, "memory is "
		    "copied live (QEMU %s, %s, %d channel%s%s)",
		    host_of(job)->qemu_version,
		    host_of(job)->kvm ? "kvm" : "tcg",
		    multifd ? (int)detail_int(job, "channels") : 1,
		    multifd ? "s" : "", tls ? ", encrypted" : "");
	}
	(void)vm_qmp(vm, job, "migrate", json_pack("{ss}", "uri",
	    detail_str(job, "uri")), MOVE_QMP_MS, move_on_qmp);
	c->stream_started = true;
	c->last_progress_ms = now_ms();
	job_wake_after(job, MOVE_POLL_MS);
}

bool
move_poll_due(struct job *job, uint64_t period_ms)
{
	struct move_ctx *c = move_ctx(job);
	uint64_t now = now_ms();

	if (now >= c->next_poll_ms) {
		c->next_poll_ms = now + period_ms;
		job_wake_after(job, period_ms);
		return true;
	}
	job_wake_after(job, c->next_poll_ms - now);
	return false;
}

static void
move_on_query(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	struct move_ctx *c;

	if (!job)	/* late: the move it was for ended */
		return;
	c = move_ctx(job);
	c->polling = false;
	if (ret) {
		json_decref(c->last);
		c->last = json_incref(ret);
		c->polled = true;
	} else {
		log_debug("vm=%s query-migrate: %s", vm->row->name, e->msg);
	}
	job_poke(job);
}

static const char *
move_status(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	const char *st = json_string_value(json_object_get(c->last,
	    "status"));

	/* Events arrive first; the poll fills in between. */
	if (vm_of(job)->mig_status[0])
		return vm_of(job)->mig_status;
	return st ? st : "";
}

/* Test hook: hold the stream in "active" (1 MiB/s) for the failpoint's
 * delay, so a fault can be injected there. */
static bool
move_fp_active(struct job *job, const char *st)
{
	struct move_ctx *c = move_ctx(job);
	uint64_t ms = 0;

	if (streq(st, "active") && !c->fp_active) {
		c->fp_active = true;
		switch (failpoint_check("move.active", &ms)) {
		case FP_FAIL:
			move_rollback(job, "failpoint move.active");
			return true;
		case FP_DELAY:
			c->slow_until_ms = now_ms() + ms;
			(void)vm_qmp(vm_of(job), job, "migrate-set-parameters",
			    json_pack("{sI}", "max-bandwidth",
			    (json_int_t)(1 << 20)), MOVE_QMP_MS, move_on_qmp);
			break;
		default:
			break;
		}
	}
	if (c->slow_until_ms && now_ms() >= c->slow_until_ms) {
		c->slow_until_ms = 0;
		(void)vm_qmp(vm_of(job), job, "migrate-set-parameters",
		    json_pack("{sI}", "max-bandwidth",
		    (json_int_t)move_bandwidth(job)),
		    MOVE_QMP_MS, move_on_qmp);
	}
	return false;
}

static void
move_migrating(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct move_ctx *c = move_ctx(job);
	const char *st;
	int fp;

	if (!c->stream_started) {
		if ((fp = job_failpoint(job, "move.setup")) != 0) {
			if (fp < 0)
				move_rollback(job, "failpoint move.setup");
			return;
		}
		vm->mig_status[0] = '\0';
		move_begin_stream(job);
		return;
	}
	if (vm->last_error) {
		move_rollback(job, "QEMU refused the migration: %s",
		    vm->last_error);
		return;
	}
	if (move_copy(job) && !c->mirrors_cancelled && mig_mirror_error(job)) {
		move_rollback(job, "copying the disks to %s failed: %s",
		    detail_str(job, "peer"), mig_mirror_error(job));
		return;
	}
	if (c->polled) {
		c->polled = false;
		mig_progress(job);
	}
	st = move_status(job);
	if (!streq(detail_str(job, "stream"), st)) {
		json_object_set_new(job->details, "stream", json_string(st));
		job_save(job);
	}
	if (streq(st, "failed") || streq(st, "cancelled")) {
		const char *desc = json_string_value(json_object_get(c->last,
		    "error-desc"));

		move_rollback(job, "the migration stream %s%s%s", st,
		    desc ? ": " : "", desc ? desc : "");
		return;
	}
	if (job_phase_is(job, MOVE_PH_MIGRATING) &&
	    streq(st, "pre-switchover")) {
		mig_pre_switchover(job);
		return;
	}
	if (streq(st, "completed")) {
		mig_record_result(job);
		/* From here the destination may run the VM (persisted:
		 * a restart must ask before resuming here). */
		json_object_set_new(job->details, "commit_sent", json_true());
		job_set_phase(job, MOVE_PH_COMMIT);
		job_poke(job);
		return;
	}
	if (move_fp_active(job, st) || mig_check_limits(job))
		return;
	if (!c->polling && move_poll_due(job, MOVE_POLL_MS) &&
	    vm_qmp(vm, job, "query-migrate", NULL, MOVE_QMP_MS,
	    move_on_query) == 0)
		c->polling = true;
}

/* After a ternd restart: nothing of the move is trusted except what
 * QEMU and the destination say.  Before the stream: just end.  Once the
 * stream may have run: settle by the lock. */
static void
move_recover(struct job *job)
{
	const char *ph = job_phase_name(job);

	job->recovering = false;
	if (streq(ph, "committed")) {
		job_poke(job);
		return;
	}
	if (!move_live(job) || !detail_str(job, "uri")) {
		if (streq(ph, "handover")) {
			move_forget(job);
			return;
		}
		if (!move_live(job) && detail_int(job, "dest_job") > 0) {
			/* Cold: the destination may have recorded the VM. */
			job_set_phase(job, MOVE_PH_DEST_WAIT);
			job_poke(job);
			return;
		}
		move_cancel_dest(job);
		move_finish(job, -EINTR, "ternd restarted before the move "
		    "started; the vm did not move");
		return;
	}
	json_object_set_new(job->details, "why", json_string("ternd "
	    "restarted during the move"));
	job_set_phase(job, MOVE_PH_RESOLVE);
	job_poke(job);
}

static void
move_step(struct job *job)
{
	struct move_ctx *c;

	if (vm_job_gone(job)) {
		move_ctx_free(job);
		return;
	}
	if (job->recovering) {
		move_recover(job);
		return;
	}
	c = move_ctx(job);
	if (c->call && !job_phase_is(job, MOVE_PH_COMMIT) &&
	    !job_phase_is(job, MOVE_PH_ROLLBACK) &&
	    !job_phase_is(job, MOVE_PH_RESOLVE))
		return;		/* a reply pokes us */
	if (job_phase_is(job, MOVE_PH_START))
		move_start(job);
	else if (job_phase_is(job, MOVE_PH_CHECK) && c->replied)
		move_checked(job);
	else if (job_phase_is(job, MOVE_PH_QUEUED))
		move_queued(job);
	else if (job_phase_is(job, MOVE_PH_MEASURE))
		move_measure(job);
	else if (job_phase_is(job, MOVE_PH_PREPARE))
		move_prepare(job);
	else if (job_phase_is(job, MOVE_PH_PREPARE_WAIT) && c->replied)
		move_prepared(job);
	else if (job_phase_is(job, MOVE_PH_DEST_WAIT))
		move_dest_wait(job);
	else if (job_phase_is(job, MOVE_PH_MIRRORING))
		mig_mirroring(job);
	else if (job_phase_is(job, MOVE_PH_MIGRATING) ||
	    job_phase_is(job, MOVE_PH_SWITCHOVER))
		move_migrating(job);
	else if (job_phase_is(job, MOVE_PH_COMMIT))
		move_commit(job);
	else if (job_phase_is(job, MOVE_PH_RESOLVE) ||
	    job_phase_is(job, MOVE_PH_ROLLBACK) ||
	    job_phase_is(job, MOVE_PH_CANCELLING))
		move_settle(job);
	else if (job_phase_is(job, MOVE_PH_COMMITTED))
		move_committed(job);
	else if (job_phase_is(job, MOVE_PH_HANDOVER))
		move_forget(job);
}

/* Cancel: before the commit the move is undone; from the commit on it is
 * too late (the destination may already run the VM). */
static int
move_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, MOVE_PH_COMMIT) ||
	    job_phase_is(job, MOVE_PH_COMMITTED) ||
	    job_phase_is(job, MOVE_PH_RESOLVE) ||
	    job_phase_is(job, MOVE_PH_HANDOVER))
		return err_set(err, -EBUSY, "too late to cancel the move (job "
		    "%lld): it is committing (%s)", (long long)job->row->id,
		    job_phase_name(job));
	json_object_set_new(job->details, "why", json_string("cancelled"));
	if (move_live(job) && detail_str(job, "uri") && vm_of(job) &&
	    vm_of(job)->pidfd >= 0) {
		move_ctx(job)->call = peer_call_cancel(move_ctx(job)->call);
		move_cancel_dest(job);
		job_set_phase(job, MOVE_PH_CANCELLING);
		job_poke(job);
		return 0;
	}
	move_cancel_dest(job);
	move_finish(job, -ECANCELED, "cancelled; the vm did not move");
	return 0;
}

const struct job_ops job_vm_move = { .type = "vm.move",
	.phases = move_phase_names, .n_phases = MOVE_PH__COUNT,
	.step = move_step, .cancel = move_cancel, .priv_free = move_ctx_free };
