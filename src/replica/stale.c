/* stale.c - the old primary of a VM that failed over to its replica
 * host (src/failover): the relationship marked "failed-over", no more
 * cycles, and the VM held (vm_row.hold: a plain start refused, with the
 * text saying where it runs now and how to resolve it), paused if it
 * still runs (a partition, not a dead host): never two running copies.
 * The replica tells us (POST /v1/replications/UUID/failed-over) or
 * answers a cycle with 409 "failed over here".  Resolved by removing
 * the replication here (the hold cleared, the copy kept) or by reversing
 * it on the new primary (this copy adopted as its replica). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "jsonutil.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

int
replica_failed_over_mark(struct host *h, struct vm *vm, int64_t time_ms)
{
	struct replication_row r;
	_cleanup_free_ char *hold = NULL;
	char *state;
	bool running = vm->state == VM_RUNNING;
	int rc;

	if ((rc = store_replication_get(h->store, vm->row->uuid, &r)) < 0)
		return rc;
	if (!streq(r.role, "primary") || streq(r.state, "failed-over")) {
		replication_row_done(&r);
		return 0;
	}
	hold = xasprintf("vm '%s' failed over to %s (at %lld ms, wall "
	    "clock); resolve it: reverse the replication on %s ('tern vm "
	    "replication reverse %s' there), or remove it here ('tern vm "
	    "replication remove %s')", vm->row->name, r.peer,
	    (long long)time_ms, r.peer, vm->row->name, vm->row->name);
	state = r.state;
	r.state = "failed-over";
	/* One transaction: never the row failed-over without the hold. */
	if ((rc = store_begin(h->store)) == 0) {
		if ((rc = store_replication_update(h->store, &r)) < 0 ||
		    (rc = store_vm_set_text(h->store, vm->row->uuid, "hold",
		    hold)) < 0)
			store_rollback(h->store);
		rc = store_commit(h->store) < 0 && rc == 0 ? -EIO : rc;
	}
	if (rc == 0) {
		free(vm->row->hold);
		vm->row->hold = xstrdup(hold);
	}
	r.state = state;
	if (rc == 0 && running)	/* the STOP event makes it PAUSED */
		(void)vm_qmp(vm, NULL, "stop", NULL, 5000, NULL);
	if (rc == 0)
		host_event(h, "critical", vm, 0, "%s%s", hold, running ?
		    "; it was running here and is paused now (nothing "
		    "lost)" : "");
	replication_row_done(&r);
	return rc;
}

int
replica_incoming_failed_over(struct host *h, const char *fp,
    const char *uuid, const json_t *body, struct err *err)
{
	struct vm *vm = NULL;
	struct replication_row r;
	int rc = rp_relation_for_peer(h, uuid, fp, "primary", &vm, &r);

	if (rc == -ENOENT)
		return err_set(err, -ENOENT, "host %s has no replication of a "
		    "vm with uuid %.40s", h->cfg.name, uuid);
	if (rc < 0)
		return err_set(err, -EACCES, "only the replica host of vm "
		    "'%s' says it failed over", vm->row->name);
	replication_row_done(&r);
	if ((rc = replica_failed_over_mark(h, vm, rp_int(body,
	    "time_ms"))) < 0)
		return err_setf_errno(err, rc, "cannot record the failover");
	return 0;
}

int
replica_stale_remove(struct host *h, struct vm *vm, struct err *err)
{
	int r = store_begin(h->store);

	if (r == 0) {
		if ((r = store_replication_delete(h->store,
		    vm->row->uuid)) < 0 || (r = store_vm_set_text(h->store,
		    vm->row->uuid, "hold", NULL)) < 0)
			store_rollback(h->store);
		r = store_commit(h->store) < 0 && r == 0 ? -EIO : r;
	}
	if (r < 0)
		return err_setf_errno(err, r, "cannot drop the replication");
	free(vm->row->hold);
	vm->row->hold = NULL;
	host_event(h, "info", vm, 0, "replication removed; vm '%s' (failed "
	    "over elsewhere) is kept here as an ordinary vm and may be "
	    "started", vm->row->name);
	return 0;
}
