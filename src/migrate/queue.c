/* queue.c - starting a move: the operator's request (POST
 * /v1/vms/NAME/move) checked as far as this host can, the slot pool that
 * holds moves beyond max-migrations (auto: from the measured link) in
 * job-id order, and vm.move's phase names. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "jsonutil.h"
#include "mig_int.h"
#include "migrate.h"
#include "util.h"
#include "vm_action.h"
#include "vm.h"

const char *const move_phase_names[MOVE_PH__COUNT] = {
	[MOVE_PH_START] = "start", [MOVE_PH_CHECK] = "check",
	[MOVE_PH_QUEUED] = "queued", [MOVE_PH_MEASURE] = "measure",
	[MOVE_PH_PREPARE] = "prepare", [MOVE_PH_PREPARE_WAIT] = "prepare-wait",
	[MOVE_PH_DEST_WAIT] = "dest-wait", [MOVE_PH_MIRRORING] = "mirroring",
	[MOVE_PH_MIGRATING] = "migrating", [MOVE_PH_SWITCHOVER] = "switchover",
	[MOVE_PH_COMMIT] = "commit", [MOVE_PH_COMMITTED] = "committed",
	[MOVE_PH_RESOLVE] = "resolve", [MOVE_PH_ROLLBACK] = "rollback",
	[MOVE_PH_CANCELLING] = "cancelling", [MOVE_PH_HANDOVER] = "handover",
};

static size_t
move_slots(struct host *h, const char *peer)
{
	if (h->cfg.max_migrations > 0)
		return h->cfg.max_migrations;
	return link_auto_slots(host_link_rate(h, peer, NULL));
}

/* The queue: moves waiting for a slot start in job-id order (details
 * migration_slot, migration_wait). */
bool
move_take_slot(struct job *job)
{
	return job_slot_take(job, "migration", move_slots(host_of(job),
	    detail_str(job, "peer")));
}

int
migrate_move_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "to", "copy_storage", "pool",
		"disks", NULL };
	struct host_peer p = { 0 };
	const char *to = NULL, *pool = NULL, *k;
	json_t *disks = json_object_get(body, "disks"), *v, *d;
	bool copy = false;
	int r;

	if ((r = json_check_fields(body, fields, "vm move", err)) < 0 ||
	    (r = json_get_str(body, "to", true, &to, err)) < 0 ||
	    (r = json_get_bool(body, "copy_storage", &copy, err)) < 0 ||
	    (r = json_get_str(body, "pool", false, &pool, err)) < 0)
		return r;
	if (disks && !json_is_object(disks))
		return err_set(err, -EINVAL, "disks must map disk names to "
		    "pools");
	json_object_foreach(disks, k, v) {
		bool known = false;

		for (size_t i = 0; i < vm->row->n_disks; i++)
			known |= streq(vm->row->disks[i].name, k);
		if (!known)
			return err_set(err, -EINVAL, "vm '%s' has no disk "
			    "'%.16s'", vm->row->name, k);
		if (!json_is_string(v) || !name_is_valid(json_string_value(v)))
			return err_set(err, -EINVAL, "disk %.16s: a pool name "
			    "is expected", k);
	}
	if (pool && !name_is_valid(pool))
		return err_set(err, -EINVAL, "invalid pool name '%.64s'", pool);
	if (!h->peers)
		return err_set(err, -EINVAL, "this host has no HTTPS identity "
		    "to reach peers with (start ternd with --listen)");
	if ((r = host_peer_by_name(h, to, &p, err)) < 0)
		return r;
	if (streq(p.fp, h->fingerprint)) {
		host_peer_done(&p);
		return err_set(err, -EINVAL, "peer '%s' is this host; a vm "
		    "moves to another host", to);
	}
	if (vm->state == VM_PAUSED) {
		host_peer_done(&p);
		return err_set(err, -EBUSY, "vm '%s' is paused; resume it (or "
		    "save it) before moving it", vm->row->name);
	}
	if (!vm_is_down(vm) && vm->state != VM_RUNNING) {
		host_peer_done(&p);
		return err_set(err, -EBUSY, "vm '%s' is %s; only a running, "
		    "off or saved vm moves", vm->row->name,
		    vm_state_name(vm->state));
	}
	if ((r = vm_no_checkpoints(vm, "moved to another host", err)) < 0 ||
	    (r = cluster_vm_may_leave(h, vm, p.name, err)) < 0) {
		host_peer_done(&p);
		return r;
	}
	d = json_pack("{ss ss ss ss}", "peer", p.name, "peer_url", p.url,
	    "peer_fp", p.fp, "storage_req", copy || pool || disks ? "copy" :
	    "auto");
	if (pool)
		json_object_set_new(d, "dest_pool", json_string(pool));
	if (disks)
		json_object_set(d, "dest_disk_pools", disks);
	r = vm_job_create(h, &job_vm_move, vm, d, ret_job, err);
	host_peer_done(&p);
	if (r < 0)
		return r;
	job_start(*ret_job);
	return 0;
}
