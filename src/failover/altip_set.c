/* altip_set.c - a relationship's alternate IPs set (`tern vm replication
 * set VM --failover-ip ...`): the key "failover_ip" of its settings.  The
 * failover runs on the replica host, so that is where it must be known:
 *
 *   on the replica host: stored at once (a primary that is gone cannot
 *   be asked);
 *   on the primary: job vm.failover-ip-set
 *     start --PUT /v1/replica/vms/UUID/settings--> push --200--> store
 *     --the primary's row updated--> done
 *     push --unreachable or refused--> failed, nothing changed here
 *   (refusing rather than storing now and pushing later: the operator
 *   learns at once that the replica does not have it, and the two rows
 *   never disagree.  A restart re-sends the PUT, which is idempotent.)
 *
 * Transitions: ipset_step() (start -> push -> store -> done). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "altip_parse.h"
#include "failover.h"
#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "store.h"
#include "util.h"
#include "vm.h"

#define IPSET_ARGS_MAX 8

enum ipset_phase { IPSET_PH_START, IPSET_PH_PUSH, IPSET_PH_STORE,
		   IPSET_PH__COUNT };
static const char *const ipset_phase_names[IPSET_PH__COUNT] = {
	[IPSET_PH_START] = "start", [IPSET_PH_PUSH] = "push",
	[IPSET_PH_STORE] = "store",
};

/* The row's settings with failover_ip = cfg (dropped when empty); 0 or
 * the store's error. */
static int
ipset_store(struct host *h, const char *uuid, const json_t *cfg)
{
	struct replication_row row;
	json_t *s;
	int r = store_replication_get(h->store, uuid, &row);

	if (r < 0)
		return r;
	s = row.settings ? json_loads(row.settings, 0, NULL) : NULL;
	if (!json_is_object(s)) {
		json_decref(s);
		s = json_object();
	}
	if (json_object_size(cfg))
		json_object_set(s, "failover_ip", (json_t *)cfg);
	else
		json_object_del(s, "failover_ip");
	free(row.settings);
	row.settings = json_dumps(s, JSON_COMPACT);
	json_decref(s);
	r = store_replication_update(h->store, &row);
	replication_row_done(&row);
	return r;
}

/* The relationship's failover_ip with args (["NIC=...", ...]) applied,
 * checked against vm: *ret, or -EINVAL naming what is wrong. */
static int
ipset_merge(const struct vm *vm, const struct replication_row *row,
    const json_t *args, json_t **ret, struct err *err)
{
	_cleanup_json_ json_t *s = row->settings ? json_loads(row->settings, 0,
	    NULL) : NULL;
	_cleanup_json_ json_t *cfg = json_deep_copy(json_object_get(s,
	    "failover_ip")) ?: json_object();
	json_t *a, *c;
	size_t i;
	int r;

	if (!json_is_array(args) || !json_array_size(args) ||
	    json_array_size(args) > IPSET_ARGS_MAX)
		return err_set(err, -EINVAL, "give 1..%d --failover-ip NIC="
		    "ADDR/PREFIX[,gw=GW][,dns=DNS] (or NIC=none)",
		    IPSET_ARGS_MAX);
	json_array_foreach(args, i, a) {
		_cleanup_free_ char *nic = NULL;

		if (!json_is_string(a))
			return err_set(err, -EINVAL, "failover_ip: give text "
			    "NIC=ADDR/PREFIX...");
		if ((r = altip_parse("--failover-ip",
		    json_string_value(a), &nic, &c, err)) < 0)
			return r;
		if (json_is_null(c))
			json_object_del(cfg, nic);
		else
			json_object_set(cfg, nic, c);
		json_decref(c);
	}
	if (json_object_size(cfg) && (r = failover_altip_check(vm, cfg,
	    err)) < 0)
		return r;
	*ret = TAKE_PTR(cfg);
	return 0;
}

static void
ipset_step(struct job *job)
{
	struct rp_call *c = rp_job_call(job);
	struct vm *vm = vm_of(job);
	const json_t *cfg = json_object_get(job->details, "failover_ip");
	char path[96];
	int r;

	if (!c)
		return;
	if (!c->out && !job_phase_is(job, IPSET_PH_STORE)) {
		snprintf(path, sizeof(path), "/v1/replica/vms/%s/settings",
		    vm->row->uuid);
		job_set_phase(job, IPSET_PH_PUSH);
		rp_call_send(job, c, "PUT", path, json_pack("{sO}",
		    "failover_ip", cfg));
		return;
	}
	if (c->out && !rp_call_done(c))
		return;
	if (!job_phase_is(job, IPSET_PH_STORE) && c->status != 200) {
		job_finish(job, c->status ? -EIO : -EHOSTUNREACH, "failover IP "
		    "not set (nothing changed): the replica server said: %s",
		    c->err);
		return;
	}
	job_set_phase(job, IPSET_PH_STORE);
	if ((r = ipset_store(vm->h, vm->row->uuid, cfg)) < 0) {
		job_finish(job, r, "the replica has the failover IP, but this "
		    "host cannot store it: run the command again");
		return;
	}
	host_event(vm->h, "info", vm, job->row->id, "failover IP set here and "
	    "on the replica server");
	job_finish(job, 0, NULL);
}

const struct job_ops job_failover_ip_set = { .type = "vm.failover-ip-set",
	.phases = ipset_phase_names, .n_phases = IPSET_PH__COUNT,
	.step = ipset_step, .priv_free = rp_call_free };

int
failover_ip_set(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	struct replication_row row;
	json_t *cfg = NULL, *details;
	bool primary;
	int r = store_replication_get(h->store, vm->row->uuid, &row);

	*ret_job = NULL;
	if (r < 0)
		return err_set(err, -ENOENT, "vm '%s' is not replicated; enable "
		    "replication first", vm->row->name);
	primary = streq(row.role, "primary");
	r = ipset_merge(vm, &row, json_object_get(body, "failover_ip"), &cfg,
	    err);
	details = json_pack("{so}", "failover_ip", cfg ? cfg : json_object());
	if (r == 0 && primary)
		r = rp_peer_details(h, details, row.peer, err);
	replication_row_done(&row);
	if (r == 0 && !primary) {
		if ((r = ipset_store(h, vm->row->uuid, cfg)) == 0)
			host_event(h, "info", vm, 0, "failover IP set (on the "
			    "replica host)");
		else
			err_set(err, r, "cannot store the failover IP");
	}
	if (r < 0 || !primary) {
		json_decref(details);
		return r;
	}
	if ((r = vm_job_create(h, &job_failover_ip_set, vm, details, ret_job,
	    err)) < 0)
		return r;
	job_start(*ret_job);
	return 0;
}

int
failover_ip_incoming(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct err *err)
{
	struct replication_row row;
	const json_t *cfg = json_object_get(body, "failover_ip");
	struct vm *vm = NULL;
	int r = rp_replica_for_primary(h, uuid, fp, "sets its failover IP",
	    &vm, &row, err);

	if (r < 0)
		return r;
	replication_row_done(&row);
	if (!json_is_object(cfg))
		return err_set(err, -EINVAL, "failover_ip: give an object "
		    "{NIC: {addr, prefix, gw, dns}}");
	if (json_object_size(cfg) && (r = failover_altip_check(vm, cfg,
	    err)) < 0)
		return r;
	if ((r = ipset_store(h, uuid, cfg)) < 0)
		return err_set(err, r, "cannot store the failover IP");
	host_event(h, "info", vm, 0, "failover IP set by the primary");
	return 0;
}
