/* incoming.c - the replica side: a primary asks for a replica VM, or for
 * its removal.  The request comes from a peer (untrusted input: parsed
 * strictly by the migration's wire codec) over mutual TLS; the replica
 * server's settings say whether it may, and into which pool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "jsonutil.h"
#include "migrate.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"

/* The replica of uuid made for peer already (an earlier attempt of the
 * primary's enable): 1, with *ret_job its vm.create when still being
 * made; no VM of that uuid: 0; another VM: -EEXIST. */
static int
incoming_existing(struct host *h, const char *uuid, const char *peer,
    struct job **ret_job, struct err *err)
{
	struct vm *vm = uuid ? vm_find(h, uuid) : NULL;
	struct replication_row r;
	bool mine;

	if (!vm)
		return 0;
	if (store_replication_get(h->store, vm->row->uuid, &r) < 0)
		return err_set(err, -EEXIST, "host %s already has vm '%s' with "
		    "that uuid, and it is not a replica", h->cfg.name,
		    vm->row->name);
	mine = streq(r.role, "replica") && streq(r.peer, peer);
	replication_row_done(&r);
	if (!mine)
		return err_set(err, -EEXIST, "host %s already replicates vm "
		    "'%s' from another host", h->cfg.name, vm->row->name);
	if (vm->state == VM_CREATING && vm_job(vm))
		*ret_job = vm_job(vm);
	else if (vm->state != VM_REPLICA)
		return err_set(err, -EBUSY, "the replica of vm '%s' on host %s "
		    "is %s", vm->row->name, h->cfg.name,
		    vm_state_name(vm->state));
	return 1;
}

static int
incoming_record(struct host *h, struct vm *vm, const char *peer,
    const json_t *settings, struct err *err)
{
	_cleanup_free_ char *text = json_to_string(settings);
	struct replication_row row = { .vm_uuid = vm->row->uuid,
		.role = "replica", .peer = (char *)peer, .settings = text,
		.state = "replica", .seq = 0, .stats = "{}",
		.created_ms = (int64_t)wall_ms() };
	int r = store_replication_insert(h->store, &row);

	if (r < 0)
		return err_setf_errno(err, r, "cannot record the replication");
	return 0;
}

int
replica_incoming_create(struct host *h, const char *fp, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "vm", "settings", NULL };
	_cleanup_free_ char *peer = NULL, *pool = NULL;
	const json_t *o = json_object_get(body, "vm");
	const json_t *settings = json_object_get(body, "settings");
	struct wire_opts opt = { .copy = true };
	char uuid[37];
	struct vm_row *row = NULL;
	struct vm *vm;
	bool existing;
	int r;

	*ret_job = NULL;
	if ((r = replica_server_allows(h, fp, &peer, &pool, err)) < 0 ||
	    (r = json_check_fields(body, fields, "replica", err)) < 0)
		return r;
	if (!json_is_object(o) || !json_is_object(settings))
		return err_set(err, -EINVAL, "replica: 'vm' and 'settings' "
		    "must be objects");
	r = incoming_existing(h, json_string_value(json_object_get(o,
	    "uuid")), peer, ret_job, err);
	if (r != 0)
		return r < 0 ? r : 0;
	opt.pool = pool;
	existing = streq(json_string_value(json_object_get(settings,
	    "initial")), "existing");
	opt.existing = existing;
	if ((r = wire_vm_resolve(h, o, &opt, &row, err)) < 0)
		return r;
	if (existing && (r = rp_existing_check(row, settings, false, err)) < 0) {
		store_vm_row_free(row);
		return r;
	}
	free(row->state);
	row->state = xstrdup(vm_state_name(VM_CREATING));
	for (size_t i = 0; i < row->n_disks; i++)
		row->disks[i].owned = true;
	snprintf(uuid, sizeof(uuid), "%s", row->uuid);
	if ((r = vm_create_start(h, row, &job_vm_create, json_pack("{sb sb}",
	    "replica", true, "existing", existing), &vm, ret_job, err)) < 0)
		return r;
	if (!vm_find(h, uuid))	/* its create ended at once, rolled back */
		return err_set(err, -EIO, "the replica could not be made");
	if ((r = incoming_record(h, vm, peer, settings, err)) < 0) {
		struct err e2 = { 0 };

		(void)job_cancel(&h->jobs, (*ret_job)->row->id, &e2);
		*ret_job = NULL;
		return r;
	}
	host_event(h, "info", vm, (*ret_job)->row->id, "replica of vm '%s' "
	    "from %s being made in pool %s", vm->row->name, peer, pool);
	return 0;
}

/* The relationship ends here: the replica VM deleted (a job), or kept as
 * an ordinary VM (at once: *ret_job NULL). */
static int
incoming_drop(struct host *h, struct vm *vm, bool keep, struct job **ret_job,
    struct err *err)
{
	struct replication_row row;
	_cleanup_json_ json_t *pts = NULL;
	bool test = false;
	int r;

	*ret_job = NULL;
	if (vm->state != VM_REPLICA)
		return err_set(err, -EBUSY, "the replica of vm '%s' on host %s "
		    "is %s; try again when it is made", vm->row->name,
		    h->cfg.name, vm_state_name(vm->state));
	/* A test failover's VM stands on the recovery points (the row's
	 * "test", src/failover): they stay until it is stopped. */
	if (store_replication_get(h->store, vm->row->uuid, &row) == 0) {
		test = row.test != NULL;
		pts = rp_points_load(row.points);
		replication_row_done(&row);
	}
	if (test)
		return err_set(err, -EBUSY, "a test failover of vm '%s' runs on "
		    "host %s; stop it first: tern vm failover test-stop %s",
		    vm->row->name, h->cfg.name, vm->row->name);
	if (keep) {
		if ((r = store_replication_delete(h->store, vm->row->uuid)) < 0)
			return err_setf_errno(err, r, "cannot drop the "
			    "replication");
		/* The older points' disk files stay (the image's backing
		 * chain); their NVRAM/TPM copies are no one's now: the VM
		 * keeps its own files, the latest point's. */
		rp_fw_unlink_all(pts);
		vm_set_state(vm, VM_OFF, "replication removed; the replica is "
		    "kept as an ordinary vm");
		return 0;
	}
	if ((r = vm_job_create(h, &job_vm_delete, vm, json_pack("{sb}",
	    "keep_disks", false), ret_job, err)) < 0)
		return r;
	/* The VM is the delete's now: the older recovery points go (the
	 * job removes the disks' images, the latest point). */
	rp_points_remove(h, vm);
	job_start(*ret_job);
	return 0;
}

int
replica_incoming_remove(struct host *h, const char *fp, const char *uuid,
    bool keep, struct job **ret_job, struct err *err)
{
	struct vm *vm = NULL;
	struct replication_row r;
	int rc = rp_relation_for_peer(h, uuid, fp, "replica", &vm, &r);

	*ret_job = NULL;
	if (rc == -ENOENT)
		return err_set(err, -ENOENT, "host %s has no replica with uuid "
		    "%.40s", h->cfg.name, uuid);
	if (rc < 0 && (rc = rp_follow_claim(h, vm, fp, &r, err)) < 0)
		return rc;	/* not the primary, nor where it moved */
	replication_row_done(&r);
	if (vm->state != VM_REPLICA)	/* incoming_drop() says so */
		return incoming_drop(h, vm, keep, ret_job, err);
	/* Before: a delete may end (and free vm) inside job_start(). */
	host_event(h, "info", vm, 0, "replication removed by the primary; "
	    "the replica is %s", keep ? "kept" : "deleted");
	return incoming_drop(h, vm, keep, ret_job, err);
}

/* `tern vm replication remove VM` run on the replica host itself. */
int
replica_remove_local(struct host *h, struct vm *vm, bool keep,
    struct job **ret_job, struct err *err)
{
	if (vm->state == VM_REPLICA)	/* before: vm may go in the drop */
		host_event(h, "warning", vm, 0, "replication removed on the "
		    "replica host; the primary's next cycle will fail until it "
		    "is removed there too");
	return incoming_drop(h, vm, keep, ret_job, err);
}
