/* adopt.c - reverse replication's end on the old primary: the VM that
 * failed over to the peer (held here, src/replica/stale.c) becomes that
 * peer's replica, its current disk files the existing copy the first
 * cycle compares with (--initial existing: verify.c's seed, remap.c), so
 * only differing blocks are sent.  The request comes from the new
 * primary over mutual TLS; nothing changes unless every check passes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

/* Already adopted by peer (a repeated request): 1; 0 to go on. */
static int
adopt_check(struct host *h, struct vm *vm, const char *peer,
    const struct replication_row *r, struct err *err)
{
	if (streq(r->role, "replica") && streq(r->peer, peer))
		return 1;
	if (!streq(r->role, "primary") || !streq(r->state, "failed-over") ||
	    !streq(r->peer, peer))
		return err_set(err, -EBUSY, "vm '%s' on host %s did not fail "
		    "over to %s; it cannot become its replica", vm->row->name,
		    h->cfg.name, peer);
	if (vm_job(vm) || (vm->state != VM_OFF && vm->state != VM_CRASHED))
		return err_set(err, -EBUSY, "vm '%s' on host %s is %s; turn "
		    "it off there first ('tern vm stop %s', a saved state "
		    "discarded)", vm->row->name, h->cfg.name,
		    vm_state_name(vm->state), vm->row->name);
	return 0;
}

/* The files below each disk's image (a copy that ran after a failover
 * of its own stands on that failover's points): {"state": "chain",
 * "chain": {DISK: [file, ...]}} for the row's "failover", so that they
 * go with the VM (follow.c), or NULL when every image stands alone. */
static int
adopt_chain(const struct vm *vm, char **ret, struct err *err)
{
	_cleanup_json_ json_t *chain = json_object();
	json_t *o;
	int r;

	*ret = NULL;
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		json_t *files = json_array();

		if ((r = rp_backing_chain(vm->row->disks[i].path, files,
		    err)) < 0) {
			json_decref(files);
			return r;
		}
		if (json_array_size(files))
			json_object_set_new(chain, vm->row->disks[i].name,
			    files);
		else
			json_decref(files);
	}
	if (json_object_size(chain) == 0)
		return 0;
	o = json_pack("{ss sO}", "state", "chain", "chain", chain);
	*ret = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return 0;
}

/* The row, the hold and the VM's state: the replica of peer. */
static int
adopt_record(struct host *h, struct vm *vm, struct replication_row *r,
    const char *peer, const json_t *settings, char *chain)
{
	struct replication_row n = *r;
	_cleanup_free_ char *text = json_to_string(settings);
	_cleanup_free_ char *spool = replica_spool_dir(vm);
	_cleanup_free_ char *vdir = xasprintf("%s/%s", spool, vm->row->uuid);
	int rc;

	n.role = "replica";
	n.peer = (char *)peer;
	n.settings = text;
	n.state = "replica";
	n.seq = 0;
	n.stats = "{}";
	n.points = n.test = n.drill = NULL;
	n.failover = chain;
	if ((rc = store_begin(h->store)) < 0)
		return rc;
	if ((rc = store_replication_update(h->store, &n)) == 0 &&
	    (rc = store_vm_set_text(h->store, vm->row->uuid, "hold",
	    NULL)) == 0)
		rc = store_commit(h->store);
	else
		store_rollback(h->store);
	if (rc < 0)
		return rc;
	free(vm->row->hold);
	vm->row->hold = NULL;
	replica_spool_keep(vdir, NULL);	/* our cycles' spool: no use now */
	(void)rmdir(vdir);
	vm_set_state(vm, VM_REPLICA, NULL);
	return 0;
}

int
replica_incoming_adopt(struct host *h, const char *fp, const char *uuid,
    const json_t *body, struct err *err)
{
	_cleanup_free_ char *peer = NULL, *pool = NULL;
	const json_t *settings = json_object_get(body, "settings");
	struct vm *vm = uuid_is_valid(uuid) ? vm_find(h, uuid) : NULL;
	_cleanup_free_ char *chain = NULL;
	struct replication_row r;
	int rc;

	if ((rc = replica_server_allows(h, fp, &peer, &pool, err)) < 0)
		return rc;
	if (!json_is_object(settings) || !streq(rp_str(settings, "initial"),
	    "existing"))
		return err_set(err, -EINVAL, "adopt: 'settings' must be an "
		    "object with \"initial\": \"existing\"");
	if (!vm || store_replication_get(h->store, vm->row->uuid, &r) < 0)
		return err_set(err, -ENOENT, "host %s has no replicated vm "
		    "with uuid %.40s to adopt", h->cfg.name, uuid);
	/* Its images may stand on the points of a failover of its own
	 * (a failback): the chain is recorded, the cycles apply over it. */
	if ((rc = adopt_check(h, vm, peer, &r, err)) == 0 &&
	    (rc = rp_existing_check(vm->row, settings, true, err)) == 0 &&
	    (rc = adopt_chain(vm, &chain, err)) == 0 &&
	    (rc = adopt_record(h, vm, &r, peer, settings, chain)) < 0)
		err_setf_errno(err, rc, "cannot record the adoption");
	replication_row_done(&r);
	if (rc == 0)
		host_event(h, "info", vm, 0, "vm '%s' is the replica of %s now "
		    "(reverse replication; only blocks that differ will be "
		    "sent)", vm->row->name, peer);
	return rc < 0 ? rc : 0;
}
