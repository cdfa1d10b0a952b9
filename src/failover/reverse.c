/* reverse.c - reverse replication after a failover (Hyper-V's "Reverse
 * Replication"): the VM that failed over here (completed) replicates
 * back to its old primary, whose stale copy becomes the replica; the
 * first cycle compares block checksums with that copy (--initial
 * existing: the seed reads its maps, remap.c) and sends only what
 * differs.  Runs on the new primary; the old one must be reachable,
 * trusted, and a replica server allowing this host.
 *
 * vm.replication-reverse, the VM held exclusively:
 *
 *   start --rv_ask: POST /v1/replica/vms/UUID/adopt {"settings"} to the
 *   old primary (there: the held copy becomes the replica, or the
 *   refusal says why: no trust, not a replica server for us, the copy
 *   running)--> ask --200--> record --rv_record: the row here: role
 *   primary, state initial, seq 0, the settings (initial "existing"),
 *   the failover forgotten but for its chain (the files below the
 *   disk's image, removed with the VM)--> done.  The scheduler then runs the seed
 *   and the first cycle (src/replica/sched.c).
 *
 *   A refusal or an unreachable peer: job fails, nothing changed on
 *   either host.  Restart: ask is sent again (a copy adopted already is
 *   answered 200), record records again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

enum rv_phase { RV_PH_START, RV_PH_ASK, RV_PH_RECORD, RV_PH__COUNT };

static const char *const rv_phase_names[RV_PH__COUNT] = {
	[RV_PH_START] = "start", [RV_PH_ASK] = "ask",
	[RV_PH_RECORD] = "record",
};

static void
rv_record(struct job *job, struct vm *vm)
{
	struct replication_row r;
	_cleanup_free_ char *set = json_dumps(json_object_get(job->details,
	    "settings"), JSON_COMPACT);
	struct replication_row n;
	_cleanup_free_ char *chain = NULL;
	int rc;

	rp_call_free(job);
	if ((rc = store_replication_get(vm->h->store, vm->row->uuid, &r)) < 0) {
		job_finish(job, rc, "the relationship is gone");
		return;
	}
	n = r;
	n.role = "primary";
	n.state = "initial";
	n.seq = 0;
	n.stats = "{}";
	n.settings = set;
	n.points = n.test = n.drill = NULL;
	/* the failover's chain below the disk's image stays recorded, so
	 * that the VM's delete removes it (follow.c) */
	n.failover = chain = fo_chain_only(r.failover);
	if (!streq(r.role, "primary"))	/* else recorded before a restart */
		rc = store_replication_update(vm->h->store, &n);
	replication_row_done(&r);
	if (rc < 0) {
		job_finish(job, rc, "cannot record the replication (%s adopted "
		    "its copy: run reverse again)", rp_str(job->details,
		    "peer"));
		return;
	}
	host_event(vm->h, "info", vm, job->row->id, "replication reversed: "
	    "%s is the replica now; the first cycle sends only the blocks "
	    "that differ", rp_str(job->details, "peer"));
	job_finish(job, 0, NULL);
}

static void
rv_step(struct job *job)
{
	struct rp_call *c = rp_job_call(job);
	char path[96];

	if (!c)
		return;
	if (job_phase_is(job, RV_PH_RECORD)) {
		rv_record(job, vm_of(job));
		return;
	}
	if (!c->out) {
		job_set_phase(job, RV_PH_ASK);
		snprintf(path, sizeof(path), "/v1/replica/vms/%s/adopt",
		    job->row->vm_uuid);
		rp_call_send(job, c, "POST", path, json_pack("{sO}",
		    "settings", json_object_get(job->details, "settings")));
		return;
	}
	if (!rp_call_done(c))
		return;
	if (c->status != 200) {
		/* the call's message outlives the call */
		_cleanup_free_ char *msg = xstrdup(c->err);
		int r = c->status ? -EIO : -EHOSTUNREACH;

		rp_call_free(job);
		job_finish(job, r, "replication not reversed (nothing "
		    "changed): %s", msg);
		return;
	}
	job_set_phase(job, RV_PH_RECORD);
	job_save(job);
	rv_record(job, vm_of(job));
}

const struct job_ops job_replication_reverse = {
	.type = "vm.replication-reverse", .phases = rv_phase_names,
	.n_phases = RV_PH__COUNT, .step = rv_step,
	.priv_free = rp_call_free,
};

/* The relationship's settings for the reverse direction. */
static json_t *
rv_settings(const struct replication_row *r)
{
	json_t *s = r->settings ? json_loads(r->settings, 0, NULL) : NULL;

	if (!json_is_object(s)) {
		json_decref(s);
		s = json_object();
	}
	json_object_set_new(s, "initial", json_string("existing"));
	json_object_del(s, "initial_dir");
	json_object_del(s, "initial_at_ms");
	return s;
}

int
failover_reverse_start(struct host *h, struct vm *vm, struct job **ret_job,
    struct err *err)
{
	struct replication_row r;
	json_t *fo, *details;
	int rc;

	*ret_job = NULL;
	if ((rc = fo_replica_row(h, vm, &r, err)) < 0)
		return rc;
	fo = fo_failover_load(&r);
	if (!streq(r.state, "failed-over") || !streq(rp_str(fo,
	    "state"), "completed"))
		rc = err_set(err, -EINVAL, "vm '%s' has no completed failover "
		    "here: reverse runs where it failed over, once completed "
		    "('tern vm failover complete %s')", vm->row->name,
		    vm->row->name);
	json_decref(fo);
	details = json_pack("{so}", "settings", rv_settings(&r));
	if (rc == 0 && (rc = rp_peer_details(h, details, r.peer, NULL)) < 0)
		rc = err_set(err, -EINVAL, "host %s (the old primary) is not "
		    "a trusted peer here: 'tern peer add %s URL --fingerprint "
		    "...' first", r.peer, r.peer);
	replication_row_done(&r);
	if (rc < 0) {
		json_decref(details);
		return rc;
	}
	if ((rc = vm_job_create(h, &job_replication_reverse, vm, details,
	    ret_job, err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
