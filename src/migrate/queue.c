/* queue.c - starting a move: the operator's request (POST
 * /v1/vms/NAME/move) checked as far as this host can, and the queue that
 * holds moves beyond max-migrations (auto: from the measured link) in
 * job-id order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "mig_int.h"
#include "migrate.h"
#include "util.h"
#include "vm.h"

/* The queue: moves waiting for a slot start in job-id order. */
void
move_poke_queue(struct host *h)
{
	for (size_t i = 0; i < h->n_jobs; i++)
		if (h->jobs[i]->ops == &job_vm_move &&
		    h->jobs[i]->state == JOB_QUEUED)
			job_poke(h->jobs[i]);
}

static size_t
move_slots(struct host *h, const char *peer)
{
	if (h->cfg.max_migrations > 0)
		return h->cfg.max_migrations;
	return link_auto_slots(link_rate(h, peer, NULL));
}

/* A slot is free and no older move waits for one. */
bool
move_take_slot(struct job *job)
{
	struct host *h = job->h;
	size_t used = 0;

	for (size_t i = 0; i < h->n_jobs; i++) {
		struct job *o = h->jobs[i];

		if (o == job || o->ops != &job_vm_move)
			continue;
		if (json_is_true(json_object_get(o->details, "slot")))
			used++;
		else if (o->state == JOB_QUEUED && o->row->id < job->row->id)
			return false;
	}
	if (used >= move_slots(h, detail_str(job, "peer")))
		return false;
	json_object_set_new(job->details, "slot", json_true());
	return true;
}

int
migrate_move_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "to", "copy_storage", "pool",
		"disks", NULL };
	struct peer_info p = { 0 };
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
	if ((r = peer_info_by_name(h, to, &p, err)) < 0)
		return r;
	if (streq(p.fp, h->fingerprint)) {
		peer_info_done(&p);
		return err_set(err, -EINVAL, "peer '%s' is this host; a vm "
		    "moves to another host", to);
	}
	if (vm->state == VM_PAUSED) {
		peer_info_done(&p);
		return err_set(err, -EBUSY, "vm '%s' is paused; resume it (or "
		    "save it) before moving it", vm->row->name);
	}
	if (!vm_is_down(vm) && vm->state != VM_RUNNING) {
		peer_info_done(&p);
		return err_set(err, -EBUSY, "vm '%s' is %s; only a running, "
		    "off or saved vm moves", vm->row->name,
		    vm_state_name(vm->state));
	}
	d = json_pack("{ss ss ss ss}", "peer", p.name, "peer_url", p.url,
	    "peer_fp", p.fp, "storage_req", copy || pool || disks ? "copy" :
	    "auto");
	if (pool)
		json_object_set_new(d, "dest_pool", json_string(pool));
	if (disks)
		json_object_set(d, "dest_disk_pools", disks);
	r = job_create(h, &job_vm_move, vm, d, ret_job, err);
	peer_info_done(&p);
	if (r < 0)
		return r;
	job_start(*ret_job);
	return 0;
}
