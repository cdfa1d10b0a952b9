/* remove.c - vm.replication-remove on the primary: the replica removed
 * on the peer (deleted, or kept there as an ordinary VM), then the
 * relationship dropped here.
 *
 *   start --rm_ask: DELETE /v1/replica/vms/UUID[?keep=1]--> ask --202:
 *   the peer deletes it (job)--> wait --rm_wait: GET /v1/jobs/ID until it
 *   ends--> drop (200: kept, or 404: no replica there any more, straight
 *   to drop) --rm_drop: the row deleted--> done
 *
 *   The peer unreachable or refusing: the job fails, the relationship
 *   stays (run it again).  A restart: the step runs again (the peer
 *   answers 404 once its replica is gone). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

enum rm_phase { RM_PH_START, RM_PH_ASK, RM_PH_WAIT, RM_PH_DROP,
		RM_PH__COUNT };

static const char *const rm_phase_names[RM_PH__COUNT] = {
	[RM_PH_START] = "start", [RM_PH_ASK] = "ask", [RM_PH_WAIT] = "wait",
	[RM_PH_DROP] = "drop",
};

static void
rm_fail(struct job *job, int r, const char *why)
{
	/* why may be the call's own message, freed with it below */
	_cleanup_free_ char *msg = xstrdup(why);

	rp_call_free(job);
	job_finish(job, r, "replication not removed: %s", msg);
}

static void
rm_next(struct job *job, enum rm_phase ph)
{
	job_set_phase(job, ph);
	job_poke(job);
}

static void
rm_ask(struct job *job, struct rp_call *c)
{
	struct vm *vm = vm_of(job);
	char path[96];

	if (!c->out) {
		snprintf(path, sizeof(path), "/v1/replica/vms/%s%s",
		    vm->row->uuid, json_is_true(json_object_get(job->details,
		    "keep")) ? "?keep=1" : "");
		job_set_phase(job, RM_PH_ASK);
		rp_call_send(job, c, "DELETE", path, NULL);
		return;
	}
	if (!rp_call_done(c))
		return;
	if (c->status == 200 || c->status == 404) {
		rm_next(job, RM_PH_DROP);
	} else if (c->status == 202 && rp_call_job_id(c) > 0) {
		json_object_set_new(job->details, "remote_job",
		    json_integer(rp_call_job_id(c)));
		rm_next(job, RM_PH_WAIT);
	} else {
		rm_fail(job, c->status == 0 ? -EHOSTUNREACH : -EIO, c->err);
	}
}

static void
rm_wait(struct job *job, struct rp_call *c)
{
	const char *msg;

	switch (rp_call_poll_job(job, c, json_integer_value(json_object_get(
	    job->details, "remote_job")), &msg)) {
	case RP_JOB_SUCCEEDED:
		rm_next(job, RM_PH_DROP);
		break;
	case RP_JOB_FAILED:
	case RP_JOB_UNKNOWN:
		rm_fail(job, -EIO, msg);
		break;
	}
}

static void
rm_drop(struct job *job)
{
	struct vm *vm = vm_of(job);
	int r = store_replication_delete(vm->h->store, vm->row->uuid);

	rp_call_free(job);
	if (r < 0 && r != -ENOENT) {
		job_finish(job, r, "cannot drop the replication record");
		return;
	}
	host_event(vm->h, "info", vm, job->row->id, "replication removed "
	    "(the replica on %s %s)", json_string_value(json_object_get(
	    job->details, "peer")), json_is_true(json_object_get(job->details,
	    "keep")) ? "is kept" : "is deleted");
	job_finish(job, 0, NULL);
}

static void
rm_step(struct job *job)
{
	struct rp_call *c = rp_job_call(job);

	if (!c)
		return;
	if (job_phase_is(job, RM_PH_START) || job_phase_is(job, RM_PH_ASK))
		rm_ask(job, c);
	else if (job_phase_is(job, RM_PH_WAIT))
		rm_wait(job, c);
	else if (job_phase_is(job, RM_PH_DROP))
		rm_drop(job);
}

const struct job_ops job_replication_remove = {
	.type = "vm.replication-remove", .phases = rm_phase_names,
	.n_phases = RM_PH__COUNT, .step = rm_step, .priv_free = rp_call_free,
};

int
replica_remove_start(struct host *h, struct vm *vm, bool keep,
    struct job **ret_job, struct err *err)
{
	struct replication_row row;
	json_t *details;
	bool primary;
	int r = store_replication_get(h->store, vm->row->uuid, &row);

	*ret_job = NULL;
	if (r < 0)
		return err_set(err, -ENOENT, "vm '%s' is not replicated",
		    vm->row->name);
	primary = streq(row.role, "primary");
	if (primary && streq(row.state, "failed-over")) {
		/* the replica is the VM's new primary: nothing to ask it */
		replication_row_done(&row);
		return replica_stale_remove(h, vm, err);
	}
	details = json_pack("{sb}", "keep", keep);
	if (primary)
		r = rp_peer_details(h, details, row.peer, err);
	replication_row_done(&row);
	if (!primary || r < 0) {
		json_decref(details);
		return r < 0 ? r : replica_remove_local(h, vm, keep, ret_job,
		    err);
	}
	if ((r = vm_job_create(h, &job_replication_remove, vm, details,
	    ret_job, err)) < 0)
		return r;
	job_start(*ret_job);
	return 0;
}
