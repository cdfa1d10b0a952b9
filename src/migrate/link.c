/* link.c - the measured path to each peer (the rate itself is the host's:
 * host_link_rate in vm/host_peer.c): a bulk transfer over the peers' HTTPS (the same TLS transport
 * and network the migration stream takes), refreshed before a move when
 * older than LINK_MAX_AGE_MS, every LINK_MAX_AGE_MS in the background,
 * and on demand (`tern peer measure`).  From the rate follow QEMU's
 * bandwidth cap, the multifd channels and max-migrations auto.
 *
 *   peer.measure  start --GET /v1/link-probe/N--> measuring --> done
 *                 (a restart fails it: nothing to undo) */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonutil.h"
#include "log.h"
#include "mig_int.h"
#include "migrate.h"
#include "peer.h"
#include "util.h"
#include "vm_job.h"

#define LINK_PROBE_BYTES (64ULL << 20)
#define LINK_PROBE_TIMEOUT_MS 60000
#define LINK_FLOOR (64ULL << 20)	/* never cap a stream below this */
#define LINK_PER_CHANNEL (1ULL << 30)	/* what one TLS stream carries */
#define LINK_USEFUL_RATE (100ULL << 20)	/* per move, for auto */

json_t *
migrate_link_json(struct host *h, const char *peer)
{
	uint64_t age;
	uint64_t rate = host_link_rate(h, peer, &age);
	char buf[64];

	if (!rate)
		return NULL;
	return json_pack("{sI ss}", "rate_bytes_per_s", (json_int_t)rate,
	    "measured_at", wall_ms_format(wall_ms() - age, buf, sizeof(buf)));
}

uint64_t
link_bandwidth_cap(uint64_t rate)
{
	/* Headroom over the probe: the cap must never be what limits a
	 * move, only stop one from starving the host's other traffic
	 * beyond what the link can carry anyway. */
	uint64_t cap = rate + rate / 2;

	return cap > LINK_FLOOR ? cap : LINK_FLOOR;
}

static int
link_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

int
link_channels(uint64_t rate, bool encrypted)
{
	int n = (int)((rate + LINK_PER_CHANNEL - 1) / LINK_PER_CHANNEL);

	/* One TLS channel ran at 80-160 MiB/s on a 2-core TCG host whose
	 * link carried 1.9 GiB/s (docs/architecture.md): the cipher, not
	 * the link, is the limit; every core encrypts its own channel. */
	if (encrypted)
		n = 4;
	if (n > 4)
		n = 4;
	if (n > link_cpus())
		n = link_cpus();
	return n < 1 ? 1 : n;
}

int
link_auto_slots(uint64_t rate)
{
	int n = (int)(rate / LINK_USEFUL_RATE);

	if (n > link_cpus())
		n = link_cpus();
	if (n > 8)
		n = 8;
	return n < 1 ? 1 : n;
}

/* ---- measuring ---- */

struct measure {
	struct host *h;
	char *peer;
	void (*done)(struct host *h, const char *peer, uint64_t rate,
	    const struct err *e, void *data);
	void *data;
};

static void
link_on_measured(uint64_t bytes, uint64_t usec, const struct err *e,
    void *data)
{
	struct measure *m = data;
	uint64_t rate = 0;
	struct err e2 = { 0 };

	if (!e && (bytes < LINK_PROBE_BYTES || usec == 0)) {
		err_set(&e2, -EIO, "the link probe ended early (%llu of %llu "
		    "bytes)", (unsigned long long)bytes,
		    (unsigned long long)LINK_PROBE_BYTES);
		e = &e2;
	}
	if (!e) {
		rate = bytes * 1000000 / usec;
		host_link_record(m->h, m->peer, rate);
		log_info("peer=%s link measured: %.1f MiB/s", m->peer,
		    rate / 1048576.0);
	}
	m->done(m->h, m->peer, rate, e, m->data);
	free(m->peer);
	free(m);
}

int
link_measure(struct host *h, const struct host_peer *p,
    void (*done)(struct host *h, const char *peer, uint64_t rate,
    const struct err *e, void *data), void *data, struct err *err)
{
	struct measure *m = xzalloc(sizeof(*m));
	int r;

	m->h = h;
	m->peer = xstrdup(p->name);
	m->done = done;
	m->data = data;
	r = peer_measure(h->peers, p->url, p->fp, LINK_PROBE_BYTES,
	    LINK_PROBE_TIMEOUT_MS, link_on_measured, m, NULL);
	if (r < 0) {
		free(m->peer);
		free(m);
		return err_setf_errno(err, r, "cannot measure the link to %s",
		    p->name);
	}
	return 0;
}

/* ---- the peer.measure job ---- */

/* peer.measure's phases.  Transitions: measure_step() (start ->
 * measuring), measure_job_done() (the end). */
enum measure_phase { MEASURE_PH_START, MEASURE_PH_MEASURING,
		     MEASURE_PH__COUNT };
static const char *const measure_phase_names[MEASURE_PH__COUNT] = {
	[MEASURE_PH_START] = "start", [MEASURE_PH_MEASURING] = "measuring",
};

static void
measure_job_done(struct host *h, const char *peer, uint64_t rate,
    const struct err *e, void *data)
{
	struct job_ref *ref = data;
	struct job *job = job_from_ref(&h->jobs, *ref);

	(void)peer;
	free(ref);
	if (!job)
		return;
	if (e) {
		job_finish(job, -EIO, "%s", e->msg);
		return;
	}
	json_object_set_new(job->details, "rate_bytes_per_s",
	    json_integer((json_int_t)rate));
	job_set_progress(job, 1, 1, "steps");
	job_finish(job, 0, NULL);
}

static void
measure_step(struct job *job)
{
	struct host_peer p = { 0 };
	struct err err = { 0 };
	const char *peer = json_string_value(json_object_get(job->details,
	    "peer"));
	struct job_ref *ref;

	if (job->recovering) {
		job_finish(job, -EINTR, "ternd restarted during the "
		    "measurement; run it again");
		return;
	}
	if (!job_phase_is(job, MEASURE_PH_START))
		return;
	job_set_phase(job, MEASURE_PH_MEASURING);
	ref = xmalloc(sizeof(*ref));
	*ref = job_ref(job);
	if (host_peer_by_name(host_of(job), peer ? peer : "", &p, &err) < 0 ||
	    link_measure(host_of(job), &p, measure_job_done, ref, &err) < 0) {
		free(ref);
		job_finish(job, -EIO, "%s", err.msg);
	}
	host_peer_done(&p);
}

const struct job_ops job_peer_measure = { .type = "peer.measure",
	.phases = measure_phase_names, .n_phases = MEASURE_PH__COUNT,
	.step = measure_step };

int
migrate_measure_start(struct host *h, const char *peer, struct job **ret,
    struct err *err)
{
	struct host_peer p = { 0 };
	int r = host_peer_by_name(h, peer, &p, err);

	host_peer_done(&p);
	if (r < 0)
		return r;
	if ((r = vm_job_create(h, &job_peer_measure, NULL, json_pack("{ss}",
	    "peer", peer), ret, err)) < 0)
		return r;
	job_start(*ret);
	return 0;
}

/* ---- background refresh ---- */

static void
link_refresh_done(struct host *h, const char *peer, uint64_t rate,
    const struct err *e, void *data)
{
	(void)h;
	(void)rate;
	(void)data;
	if (e)
		log_debug("peer=%s background link measurement failed: %s",
		    peer, e->msg);
}

static void
link_refresh(struct loop *l, void *data)
{
	struct host *h = data;
	struct obj_row *rows;
	size_t n;

	loop_timer_add(l, LINK_MAX_AGE_MS, link_refresh, h);
	/* A probe during a move measures the move's leftovers, not the
	 * link, and the next moves would be sized from that. */
	for (size_t i = 0; i < h->jobs.n_jobs; i++)
		if (h->jobs.jobs[i]->ops == &job_vm_move ||
		    h->jobs.jobs[i]->ops == &job_vm_move_in)
			return;
	if (store_obj_list(h->store, STORE_PEER, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct host_peer p = { 0 };
		uint64_t age;
		struct err err = { 0 };

		(void)host_link_rate(h, rows[i].name, &age);
		if (age < LINK_MAX_AGE_MS / 2)
			continue;
		host_peer_from_row(&p, &rows[i]);
		(void)link_measure(h, &p, link_refresh_done, NULL, &err);
		host_peer_done(&p);
	}
	obj_rows_free(rows, n);
}

/* host->move_vm: the cluster's failback moves a VM as an operator
 * would (POST /v1/vms/NAME/move). */
static int
move_vm(struct host *h, struct vm *vm, const char *to, struct err *err)
{
	_cleanup_json_ json_t *body = json_pack("{ss}", "to", to);
	struct job *job;

	return migrate_move_start(h, vm, body, &job, err);
}

void
migrate_init(struct host *h)
{
	move_metrics_init();
	h->move_vm = move_vm;
	job_type_register(&h->jobs, &job_vm_move);
	job_type_register(&h->jobs, &job_vm_move_in);
	job_type_register(&h->jobs, &job_peer_measure);
	if (h->peers)
		loop_timer_add(h->loop, LINK_MAX_AGE_MS, link_refresh, h);
}
