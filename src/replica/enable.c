/* enable.c - vm.replication-enable on the primary: the replica VM made on
 * the peer, then the relationship recorded here.  The first cycle (the
 * initial copy) follows on its own.
 *
 *   start --en_ask: POST /v1/replica/vms (the VM's description without
 *   its excluded disks, the settings)--> ask --202: the peer's vm.create
 *   job--> wait --en_wait: GET /v1/jobs/ID until it ends--> record
 *   (200 instead of 202: the replica was made by an earlier attempt,
 *   straight to record) --en_record: the row, state initial--> done
 *
 *   A failure or a cancel before record: the peer's job is cancelled (it
 *   rolls back: no replica VM there) and the job fails; nothing changed
 *   here.  A restart: ask is sent again (the peer answers 200 for the
 *   replica it already made), wait polls again, record records. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "failpoint.h"
#include "host.h"
#include "jsonutil.h"
#include "migrate.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

enum en_phase { EN_PH_START, EN_PH_ASK, EN_PH_WAIT, EN_PH_RECORD,
		EN_PH__COUNT };

static const char *const en_phase_names[EN_PH__COUNT] = {
	[EN_PH_START] = "start", [EN_PH_ASK] = "ask", [EN_PH_WAIT] = "wait",
	[EN_PH_RECORD] = "record",
};

/* The description the replica is made from: no excluded disk, no
 * reference points (the replica's disks are new). */
static int
en_describe(struct job *job, json_t **ret, struct err *err)
{
	struct vm *vm = vm_of(job);
	json_t *ex = json_object_get(json_object_get(job->details,
	    "settings"), "exclude");
	json_t *o, *disks, *d;
	size_t i;
	int r = wire_vm_describe(vm->h, vm, true, &o, err);

	if (r < 0)
		return r;
	disks = json_object_get(o, "disks");
	for (i = json_array_size(disks); i-- > 0;) {
		json_t *n = json_object_get(json_array_get(disks, i), "name");
		size_t k;

		json_array_foreach(ex, k, d)
			if (json_equal(d, n)) {
				json_array_remove(disks, i);
				break;
			}
	}
	json_object_set_new(o, "refpoints", json_array());
	*ret = o;
	return 0;
}

static void
en_fail(struct job *job, int r, const char *why)
{
	/* why may be the call's own message, freed with it below */
	_cleanup_free_ char *msg = xstrdup(why);
	int64_t rj = json_integer_value(json_object_get(job->details,
	    "remote_job"));

	if (rj > 0 && !job_phase_is(job, EN_PH_RECORD)) {
		char path[64];

		snprintf(path, sizeof(path), "/v1/jobs/%lld/cancel",
		    (long long)rj);
		rp_call_forget(job, "POST", path);
	}
	rp_call_free(job);
	job_finish(job, r, "replication not enabled: %s", msg);
}

static void
en_ask(struct job *job, struct rp_call *c)
{
	struct err e = { 0 };
	json_t *desc;

	if (!c->out) {
		if (en_describe(job, &desc, &e) < 0) {
			en_fail(job, e.code, e.msg);
			return;
		}
		job_set_phase(job, EN_PH_ASK);
		rp_call_send(job, c, "POST", "/v1/replica/vms", json_pack(
		    "{so sO}", "vm", desc, "settings", json_object_get(
		    job->details, "settings")));
		return;
	}
	if (!rp_call_done(c))
		return;
	/* Tests: die with the replica being made there, not yet known
	 * here (the restart asks again and adopts it). */
	(void)failpoint_check("replication.enable.asked", NULL);
	if (c->status == 200) {
		job_set_phase(job, EN_PH_RECORD);
		job_poke(job);
	} else if (c->status == 202 && rp_call_job_id(c) > 0) {
		json_object_set_new(job->details, "remote_job",
		    json_integer(rp_call_job_id(c)));
		job_set_phase(job, EN_PH_WAIT);
		job_poke(job);
	} else {
		en_fail(job, c->status == 0 ? -EHOSTUNREACH : -EIO, c->err);
	}
}

static void
en_wait(struct job *job, struct rp_call *c)
{
	const char *msg;

	switch (rp_call_poll_job(job, c, json_integer_value(json_object_get(
	    job->details, "remote_job")), &msg)) {
	case RP_JOB_SUCCEEDED:
		job_set_phase(job, EN_PH_RECORD);
		job_poke(job);
		break;
	case RP_JOB_FAILED:
		json_object_del(job->details, "remote_job");
		en_fail(job, -EIO, msg);
		break;
	case RP_JOB_UNKNOWN:
		en_fail(job, -EIO, msg);
		break;
	}
}

static void
en_record(struct job *job)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *settings = json_to_string(json_object_get(
	    job->details, "settings"));
	struct replication_row row = { .vm_uuid = vm->row->uuid,
		.role = "primary", .peer = (char *)json_string_value(
		json_object_get(job->details, "peer")), .settings = settings,
		.state = "initial", .seq = 0, .stats = "{}",
		.created_ms = (int64_t)wall_ms() };
	int r = store_replication_insert(vm->h->store, &row);

	rp_call_free(job);
	if (r < 0 && r != -EEXIST) {
		job_finish(job, r, "cannot record the replication (the replica "
		    "on %s stays; enable again to adopt it)", row.peer);
		return;
	}
	host_event(vm->h, "info", vm, job->row->id, "replication to %s "
	    "enabled", row.peer);
	job_finish(job, 0, NULL);
}

static void
en_step(struct job *job)
{
	struct rp_call *c = rp_job_call(job);

	if (!c)
		return;
	if (job_phase_is(job, EN_PH_START) || job_phase_is(job, EN_PH_ASK))
		en_ask(job, c);
	else if (job_phase_is(job, EN_PH_WAIT))
		en_wait(job, c);
	else if (job_phase_is(job, EN_PH_RECORD))
		en_record(job);
}

static int
en_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, EN_PH_RECORD))
		return err_set(err, -EBUSY, "the replica is made; the "
		    "replication is being recorded");
	en_fail(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

const struct job_ops job_replication_enable = {
	.type = "vm.replication-enable", .phases = en_phase_names,
	.n_phases = EN_PH__COUNT, .step = en_step, .cancel = en_cancel,
	.priv_free = rp_call_free,
};

int
replica_enable_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "to", "interval_s", "exclude",
		"compress", "points", "app_consistent_every_h", "initial",
		"initial_at", "initial_dir", NULL };
	struct replica_settings s;
	struct replication_row row;
	const char *to = NULL;
	_cleanup_free_ char *cl = NULL;
	json_t *details;
	struct job *job;
	int r;

	if ((r = json_check_fields(body, fields, "replication enable",
	    err)) < 0 || (r = json_get_str(body, "to", true, &to, err)) < 0)
		return r;
	if (vm->state == VM_REPLICA)
		return err_set(err, -EINVAL, "vm '%s' is a replica; it is "
		    "replicated from its primary", vm->row->name);
	if (store_replication_get(h->store, vm->row->uuid, &row) == 0) {
		replication_row_done(&row);
		return err_set(err, -EEXIST, "vm '%s' is already replicated "
		    "(see 'tern vm replication show %s')", vm->row->name,
		    vm->row->name);
	}
	if ((cl = cluster_of_node(h, to)))
		return err_set(err, -EINVAL, "host %s is a node of cluster "
		    "'%s', as this host is: a replica belongs outside the "
		    "VM's cluster (a restart or a move there would meet it); "
		    "replicate to a standalone host or another cluster's "
		    "node", to, cl);
	if ((r = replica_settings_parse(body, vm, &s, err)) < 0)
		return r;
	details = json_pack("{so}", "settings", replica_settings_to_json(&s));
	replica_settings_done(&s);
	if ((r = rp_peer_details(h, details, to, err)) < 0) {
		json_decref(details);
		return r;
	}
	if ((r = vm_job_create(h, &job_replication_enable, vm, details, &job,
	    err)) < 0)
		return r;
	job_start(job);
	*ret_job = job;
	return 0;
}
