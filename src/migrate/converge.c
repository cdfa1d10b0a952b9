/* converge.c - watching a live migration stream on the source: progress
 * (bytes, pass, rate, ETA), the limits (no progress for MOVE_STALL_MS,
 * the host's migration-timeout) and convergence escalation.
 *
 * A migration that does not converge is one whose remaining memory does
 * not shrink by a tenth over two dirty-sync passes, twice in a row.  Each
 * time that happens the next rung is taken, never more than the host
 * allows:
 *
 *   rung 0 (start)  downtime limit 300 ms, auto-converge throttle <= 20%
 *   rung 1          downtime x2,           throttle <= 50%
 *   rung 2          downtime x4,           throttle <= 80%
 *   rung 3          downtime max-downtime, throttle <= 99%
 *
 * and if the move still has not finished by migration-timeout it is
 * cancelled: the VM stays on the source, with an event that says why. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failpoint.h"
#include "fsutil.h"
#include "log.h"
#include "mig_int.h"
#include "migrate.h"
#include "util.h"
#include "vm.h"

#define MOVE_STALL_MS 10000
#define MOVE_QMP_MS 10000

/* QEMU before 9.0 forgets, under TCG, to reset the vCPUs' TLB dirty
 * flags when a migration dirty-bitmap sync clears bits on its fast path
 * (fixed upstream by "physmem: Fix migration dirty bitmap coherency with
 * TCG memory access", QEMU 9.0).  A store through a TLB entry filled
 * before the sync then marks nothing dirty, so a page the guest wrote
 * after it was sent reaches the destination stale: a live copy loses
 * guest writes.  We saw it as oopses in CPU 0's per-CPU area (hrtimer
 * bases, written by an idle CPU's timer interrupt, whose TLB is never
 * flushed) after 1 in 3 to 3 in 4 moves of a dirtying guest.  KVM tracks
 * dirty pages itself and is not affected.  So under TCG on such a QEMU
 * the VM is paused for the whole memory copy: its downtime is the copy,
 * and nothing is lost.  migration-memory live|paused overrides (a QEMU
 * with the fix backported; tests of convergence, which needs a live
 * copy). */
bool
mig_memory_paused(const struct host *h)
{
	if (h->cfg.migration_memory != MIG_MEMORY_AUTO)
		return h->cfg.migration_memory == MIG_MEMORY_PAUSED;
	return !h->kvm && !host_qemu_at_least(h, 9, 0);
}

static json_t *
ram_of(const struct move_ctx *c)
{
	return json_object_get(c->last, "ram");
}

static uint64_t
ram_u(const struct move_ctx *c, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(ram_of(c), key));

	return v > 0 ? (uint64_t)v : 0;
}

void
mig_progress(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	uint64_t sent = ram_u(c, "transferred");
	uint64_t rem = ram_u(c, "remaining");
	int64_t pass = (int64_t)ram_u(c, "dirty-sync-count");
	double mbps = json_number_value(json_object_get(ram_of(c), "mbps"));

	if (!ram_of(c))
		return;
	if (sent > c->last_transferred) {
		c->last_transferred = sent;
		c->last_progress_ms = now_ms();
	}
	if (pass > c->pass) {
		/* Remaining right after a sync is what the pass left. */
		c->rem_at_pass[2] = c->rem_at_pass[1];
		c->rem_at_pass[1] = c->rem_at_pass[0];
		c->rem_at_pass[0] = rem;
		c->pass = pass;
		if (pass >= 3 && c->rem_at_pass[2] &&
		    rem * 10 > c->rem_at_pass[2] * 9)
			c->stuck_passes++;
		else if (pass >= 3)
			c->stuck_passes = 0;
	}
	json_object_set_new(job->details, "pass", json_integer(pass));
	json_object_set_new(job->details, "remaining_bytes",
	    json_integer((json_int_t)rem));
	json_object_set_new(job->details, "mbps", json_real(mbps));
	json_object_set_new(job->details, "throttle_pct",
	    json_integer(json_integer_value(json_object_get(c->last,
	    "cpu-throttle-percentage"))));
	/* One bar for a shared-nothing move: the disks, then the memory. */
	job_set_progress(job, c->disk_total + sent, c->disk_total + sent + rem,
	    "bytes");
}

static void
mig_set_params(struct job *job, int throttle, uint64_t downtime)
{
	(void)vm_qmp(vm_of(job), job, "migrate-set-parameters",
	    json_pack("{si sI}",
	    "max-cpu-throttle", throttle, "downtime-limit",
	    (json_int_t)downtime), MOVE_QMP_MS, move_on_qmp);
}

static void
mig_escalate(struct job *job)
{
	static const int throttle[] = { 20, 50, 80, 99 };
	struct move_ctx *c = move_ctx(job);
	uint64_t max = host_of(job)->cfg.max_downtime_ms;

	c->stuck_passes = 0;
	if (c->escalation >= 3)
		return;
	c->escalation++;
	c->downtime_ms = c->escalation == 3 ? max : c->downtime_ms * 2;
	if (c->downtime_ms > max)
		c->downtime_ms = max;
	mig_set_params(job, throttle[c->escalation], c->downtime_ms);
	json_object_set_new(job->details, "escalation",
	    json_integer(c->escalation));
	json_object_set_new(job->details, "downtime_limit_ms",
	    json_integer((json_int_t)c->downtime_ms));
	host_event(host_of(job), "warning", vm_of(job), job->row->id,
	    "the move to "
	    "%s is not converging (%llu MiB left after pass %lld): "
	    "throttling the guest up to %d%% and allowing %llu ms of "
	    "downtime", json_string_value(json_object_get(job->details,
	    "peer")), (unsigned long long)(ram_u(c, "remaining") >> 20),
	    (long long)c->pass, throttle[c->escalation],
	    (unsigned long long)c->downtime_ms);
}

bool
mig_check_limits(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	uint64_t now = now_ms();
	char msg[300];

	if (now - c->last_progress_ms > MOVE_STALL_MS) {
		snprintf(msg, sizeof(msg), "no migration data moved for %d s "
		    "(is the network to %s down?)", MOVE_STALL_MS / 1000,
		    json_string_value(json_object_get(job->details, "peer")));
		move_rollback_msg(job, msg);
		return true;
	}
	if (now - c->t0_ms > host_of(job)->cfg.migration_timeout_ms) {
		snprintf(msg, sizeof(msg), "the move did not finish within "
		    "the migration timeout of %llu s (%llu MiB still to send "
		    "after %lld passes, escalation rung %d): cancelled",
		    (unsigned long long)host_of(job)->cfg.migration_timeout_ms /
		    1000, (unsigned long long)(ram_u(c, "remaining") >> 20),
		    (long long)c->pass, c->escalation);
		host_event(host_of(job), "error", vm_of(job), job->row->id,
		    "%s", msg);
		move_rollback_msg(job, msg);
		return true;
	}
	if (c->stuck_passes >= 2)
		mig_escalate(job);
	return false;
}

static void
mig_on_final(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	json_t *res, *ram = json_object_get(ret, "ram");

	(void)vm;
	(void)e;
	if (!job || !ret || !ram)
		return;
	res = json_object_get(job->details, "result");
	if (!res)
		return;
	json_object_set(res, "bytes", json_object_get(ram, "transferred"));
	json_object_set(res, "qemu_downtime_ms", json_object_get(ret,
	    "downtime"));
	json_object_set(res, "stream_ms", json_object_get(ret, "total-time"));
	json_object_set(res, "passes", json_object_get(ram,
	    "dirty-sync-count"));
}

void
mig_record_result(struct job *job)
{
	struct move_ctx *c = move_ctx(job);

	json_object_set_new(job->details, "result", json_pack("{sI sI}",
	    "bytes", (json_int_t)ram_u(c, "transferred"), "passes",
	    (json_int_t)c->pass));
	(void)vm_qmp(vm_of(job), job, "query-migrate", NULL, MOVE_QMP_MS,
	    mig_on_final);
}

void
mig_pre_switchover(struct job *job)
{
	struct move_ctx *c = move_ctx(job);
	int fp;

	const char *err;
	char why[400];

	if (c->switchover_sent)
		return;
	if ((fp = job_failpoint(job, "move.pre-switchover")) != 0) {
		if (fp < 0)
			move_rollback_msg(job, "failpoint move.pre-switchover");
		return;
	}
	/* Shared-nothing: the vCPUs are stopped and their I/O drained, and a
	 * write-blocking mirror acknowledged no guest write before the copy
	 * had it: the destination's disks are exact already.  The mirrors
	 * are NOT ended here: ending one drains and restarts the disks'
	 * request queues, and a request restarted now could complete after
	 * the final memory pass and be lost (seen under TCG: guest kernel
	 * memory corrupted on the destination).  They stay until the source
	 * QEMU ends (its images go inactive at the end of the stream, which
	 * mirror targets allow). */
	if (move_copy(job) && (err = mig_mirror_error(job))) {
		snprintf(why, sizeof(why), "a disk copy did not finish at the "
		    "switchover: %s", err);
		move_rollback_msg(job, why);
		return;
	}
	c->switchover_sent = true;
	(void)vm_qmp(vm_of(job), job, "migrate-continue", json_pack("{ss}",
	    "state",
	    "pre-switchover"), MOVE_QMP_MS, move_on_qmp);
	job_set_phase(job, MOVE_PH_SWITCHOVER);
	job_wake_after(job, 250);
}

/* ---- the key file ---- */

/* QEMU's GnuTLS sessions negotiated ChaCha20-Poly1305 (0.32 GB/s a core
 * here) over AES-GCM (5.3 GB/s with AES-NI, gnutls-cli --benchmark-
 * ciphers): a TLS migration stream ran at 130 MB/s and stopped the VM for
 * 133-165 ms where the same stream with ChaCha20 excluded ran at 305 MB/s
 * and stopped it for 39-46 ms (plain QEMU 10.0.2, multifd 2, 400 MiB
 * non-zero).  So on a CPU with AES instructions ChaCha20 is left out; the
 * other end, any QEMU, still offers AES-GCM (GnuTLS's NORMAL). */
json_t *
mig_tls_args(const struct host *h, const char *id, const char *dir,
    const char *endpoint)
{
	json_t *o = json_pack("{ss ss ss ss}", "qom-type", "tls-creds-psk",
	    "id", id, "dir", dir, "endpoint", endpoint);

	if (h->cpu_aes)
		json_object_set_new(o, "priority",
		    json_string("NORMAL:-CHACHA20-POLY1305"));
	return o;
}

static char *
psk_dir(const struct vm *vm, int64_t job_id)
{
	_cleanup_free_ char *name = xasprintf("mig-%lld", (long long)job_id);

	return vm_run_path(vm, name);
}

int
mig_psk_write(struct vm *vm, int64_t job_id, const char *psk, char *ret_dir,
    size_t len)
{
	_cleanup_free_ char *dir = psk_dir(vm, job_id);
	_cleanup_free_ char *file = xasprintf("%s/keys.psk", dir);
	_cleanup_free_ char *text = xasprintf("tern:%s\n", psk);
	struct host *h = vm->h;
	int r;

	/* QEMU runs as its own user and reads the key by path: it may pass
	 * through the directories above (0711: no listing), and only it and
	 * root read this one. */
	for (const char *p = dir + strlen(h->cfg.run_dir); p && *p;
	    p = strchr(p + 1, '/')) {
		_cleanup_free_ char *up = strndup(dir, p - dir);

		(void)chmod(up, 0711);
	}
	if ((r = mkdir_p(dir, 0700)) < 0 ||
	    (r = file_write_atomic(file, text, strlen(text), 0600)) < 0)
		return r;
	explicit_bzero(text, strlen(text));
	if (h->qemu_uid && (chown(dir, h->qemu_uid, h->qemu_gid) == -1 ||
	    chown(file, h->qemu_uid, h->qemu_gid) == -1))
		return -errno;
	snprintf(ret_dir, len, "%s", dir);
	return 0;
}

void
mig_psk_remove(struct vm *vm, int64_t job_id)
{
	_cleanup_free_ char *dir = NULL;
	_cleanup_free_ char *file = NULL;

	if (!vm)
		return;
	dir = psk_dir(vm, job_id);
	file = xasprintf("%s/keys.psk", dir);
	(void)unlink(file);
	(void)rmdir(dir);
}

int
move_psk_write(struct job *job, const char *endpoint)
{
	struct move_ctx *c = move_ctx(job);

	(void)endpoint;
	return mig_psk_write(vm_of(job), job->row->id, c->psk, c->psk_dir,
	    sizeof(c->psk_dir));
}

void
move_psk_remove(struct job *job)
{
	mig_psk_remove(vm_of(job), job->row->id);
}
