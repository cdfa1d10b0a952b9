/* test_start.c - the requests of a test failover (test.c runs them):
 * every check before anything changes (a replica here, not failed over,
 * no test running, the point recorded, the switch known, no file in the
 * way), then the row's "test" written and the job started.  Never
 * changes a recovery point or the replica VM. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "jsonutil.h"
#include "net.h"
#include "util.h"
#include "vm.h"

#define FT_SUFFIX "-test"

/* The replica relationship of vm here, or an error saying why not. */
static int
ft_replica(struct host *h, struct vm *vm, struct replication_row *r,
    struct err *err)
{
	if (store_replication_get(h->store, vm->row->uuid, r) < 0)
		return err_set(err, -EINVAL, "vm '%s' is not replicated; a "
		    "test failover runs on the replica host", vm->row->name);
	if (!streq(r->role, "replica") || vm->state != VM_REPLICA) {
		replication_row_done(r);
		return err_set(err, -EINVAL, "vm '%s' is not a replica here "
		    "(this host is its primary); run the test failover on "
		    "the replica host", vm->row->name);
	}
	if (streq(r->state, "failed-over")) {
		replication_row_done(r);
		return err_set(err, -EBUSY, "vm '%s' failed over; a test "
		    "failover needs a replica", vm->row->name);
	}
	return 0;
}

int
fo_replica_check(struct host *h, struct vm *vm, struct err *err)
{
	struct replication_row r;
	int rc = ft_replica(h, vm, &r, err);

	if (rc == 0)
		replication_row_done(&r);
	return rc;
}

/* The point seq (0: the latest) of r, a new reference; else -ENOENT
 * with the points there are. */
static int
ft_point(const struct vm *vm, const struct replication_row *r, int64_t seq,
    json_t **ret, struct err *err)
{
	_cleanup_json_ json_t *pts = rp_points_load(r->points);
	json_t *p = fo_point_find(vm, pts, seq, err);

	if (!p)
		return -ENOENT;
	*ret = json_incref(p);
	return 0;
}

/* details "disks": per disk of vm, the point's file and the overlay. */
static int
ft_disks(struct host *h, struct vm *vm, const json_t *point,
    const char *tname, json_t *details, struct err *err)
{
	json_t *disks = json_array(), *files = json_object_get(point, "disks");

	json_object_set_new(details, "disks", disks);
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const struct disk_row *k = &vm->row->disks[i];
		const char *f = rp_str(files, k->name);
		_cleanup_free_ char *pool = k->pool ? host_pool_path(h,
		    k->pool) : NULL;
		_cleanup_free_ char *ov = NULL;

		if (!f || !pool)
			return err_set(err, -EINVAL, "recovery point %lld has "
			    "no file of disk %s (or it is outside the pools)",
			    (long long)rp_int(point, "seq"), k->name);
		ov = xasprintf("%s/%s-%s.qcow2", pool, tname, k->name);
		if (access(ov, F_OK) == 0)
			return err_set(err, -EEXIST, "'%s' exists; remove it "
			    "or rename the vm that owns it", ov);
		json_array_append_new(disks, json_pack("{ss ss ss ss sI}",
		    "name", k->name, "point", f, "overlay", ov, "pool",
		    k->pool, "size", (json_int_t)k->size_bytes));
	}
	return 0;
}

/* details "switch", "made_switch": sw (must exist) or the test's own. */
static int
ft_switch_pick(struct host *h, struct vm *vm, const char *sw,
    json_t *details, struct err *err)
{
	struct obj_row *rows;
	size_t n;
	bool found = false;
	char own[NET_SWITCH_NAME_MAX + 1];

	snprintf(own, sizeof(own), "ft-%.8s", vm->row->uuid);
	if (store_obj_list(h->store, STORE_SWITCH, &rows, &n) < 0)
		return err_set(err, -EIO, "cannot read the switches");
	for (size_t i = 0; i < n; i++)
		found |= streq(rows[i].name, sw ? sw : own);
	obj_rows_free(rows, n);
	if (sw && !found)
		return err_set(err, -ENOENT, "switch '%.64s' not found; give "
		    "an existing one, or none for an isolated switch of the "
		    "test's own", sw);
	json_object_set_new(details, "switch", json_string(sw ? sw : own));
	json_object_set_new(details, "made_switch", json_boolean(!sw &&
	    !found));
	return 0;
}

static int
ft_body(const json_t *body, int64_t *seq, const char **sw, struct err *err)
{
	static const char *const fields[] = { "point", "switch", NULL };
	int r;

	*seq = 0;
	*sw = NULL;
	if (!body)
		return 0;
	if ((r = json_check_fields(body, fields, "test failover", err)) < 0 ||
	    (r = json_get_int(body, "point", false, 1, INT64_MAX, seq,
	    err)) < 0 ||
	    (r = json_get_str(body, "switch", false, sw, err)) < 0)
		return r;
	if (*sw && !net_switch_name_is_valid(*sw))
		return err_set(err, -EINVAL, "invalid switch name '%.64s'",
		    *sw);
	return 0;
}

/* The details of a test failover of vm (replication row r). */
static int
ft_details(struct host *h, struct vm *vm, const struct replication_row *r,
    const json_t *body, json_t *d, struct err *err)
{
	_cleanup_json_ json_t *point = NULL;
	_cleanup_free_ char *tname = xasprintf("%s" FT_SUFFIX, vm->row->name);
	const char *sw;
	int64_t seq;
	char uuid[37];
	int rc;

	if ((rc = ft_body(body, &seq, &sw, err)) < 0 ||
	    (rc = ft_point(vm, r, seq, &point, err)) < 0)
		return rc;
	if (vm_find(h, tname) || !name_is_valid(tname))
		return err_set(err, -EEXIST, "a vm named '%s' exists (or the "
		    "name is too long); delete or rename it first", tname);
	uuid_generate_text(uuid);
	json_object_set_new(d, "replica", json_string(vm->row->uuid));
	json_object_set_new(d, "name", json_string(vm->row->name));
	json_object_set_new(d, "test_vm", json_string(uuid));
	json_object_set_new(d, "test_name", json_string(tname));
	json_object_set_new(d, "seq", json_integer(rp_int(point, "seq")));
	/* the point's own NVRAM/TPM copies, for the test VM's (test.c) */
	json_object_set(d, "fw", json_object_get(point, "fw") ?: json_null());
	if ((rc = ft_switch_pick(h, vm, sw, d, err)) < 0)
		return rc;
	return ft_disks(h, vm, point, tname, d, err);
}

/* The row's "test" for details d (before anything is made). */
static json_t *
ft_test_json(const json_t *d, int64_t job_id)
{
	json_t *ov = json_object(), *x;
	size_t i;

	json_array_foreach(json_object_get(d, "disks"), i, x)
		json_object_set_new(ov, rp_str(x, "name"), json_string(rp_str(x,
		    "overlay")));
	return json_pack("{ss ss sI ss sb ss so sI}", "vm", rp_str(d,
	    "test_vm"), "name", rp_str(d, "test_name"), "seq",
	    (json_int_t)rp_int(d, "seq"), "switch", rp_str(d, "switch"),
	    "made_switch", json_is_true(json_object_get(d, "made_switch")),
	    "state", "starting", "overlays", ov, "job", (json_int_t)job_id);
}

static int
ft_job(struct host *h, struct vm *vm, const struct job_ops *ops,
    json_t *details, struct job **ret_job, struct err *err)
{
	_cleanup_free_ char *id = xasprintf("replication:%s", vm->row->uuid);
	_cleanup_free_ char *what = xasprintf("the replication of vm '%s'",
	    vm->row->name);
	struct job_subject s = { .id = id, .what = what,
		.claim = JOB_CLAIM_EXCLUSIVE, .vm_uuid = vm->row->uuid,
		.vm_name = vm->row->name };

	return job_create(&h->jobs, ops, &s, details, ret_job, err);
}

int
failover_test_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	struct replication_row r;
	json_t *d;
	_cleanup_json_ json_t *test = NULL;
	struct job *job;
	int rc;

	if ((rc = ft_replica(h, vm, &r, err)) < 0)
		return rc;
	if (r.test) {
		replication_row_done(&r);
		return err_set(err, -EBUSY, "a test failover of vm '%s' runs "
		    "already ('%s-test'); stop it first: tern vm failover "
		    "test-stop %s", vm->row->name, vm->row->name,
		    vm->row->name);
	}
	d = json_object();
	rc = ft_details(h, vm, &r, body, d, err);
	replication_row_done(&r);
	if (rc < 0) {
		json_decref(d);
		return rc;
	}
	if ((rc = ft_job(h, vm, &job_failover_test, d, &job, err)) < 0)
		return rc;
	test = ft_test_json(job->details, job->row->id);
	if ((rc = fo_test_save(h, vm->row->uuid, test)) < 0) {
		job_finish(job, rc, "cannot record the test failover");
		return err_setf_errno(err, rc, "cannot record the test "
		    "failover");
	}
	job_start(job);
	*ret_job = job;
	return 0;
}

int
failover_test_stop(struct host *h, struct vm *vm, struct job **ret_job,
    struct err *err)
{
	_cleanup_json_ json_t *t = NULL;
	struct job *job;
	int rc;

	if (fo_test_load(h, vm->row->uuid, &t) < 0)
		return err_set(err, -EINVAL, "vm '%s' is not replicated",
		    vm->row->name);
	if (!t)
		return err_set(err, -ENOENT, "vm '%s' has no test failover "
		    "running; nothing to stop", vm->row->name);
	if ((rc = ft_job(h, vm, &job_failover_test_stop, json_pack(
	    "{ss ss}", "replica", vm->row->uuid, "name", vm->row->name),
	    &job, err)) < 0)
		return rc;
	job_start(job);
	*ret_job = job;
	return 0;
}

struct vm_row *
fo_test_row(struct host *h, const json_t *d)
{
	struct vm *rv = vm_find(h, rp_str(d, "replica"));
	json_t *disks = json_object_get(d, "disks"), *x;
	struct vm_row *row;
	size_t i;

	if (!rv)
		return NULL;
	row = xzalloc(sizeof(*row));
	snprintf(row->uuid, sizeof(row->uuid), "%s", rp_str(d, "test_vm"));
	row->name = xstrdup(rp_str(d, "test_name"));
	row->cpus = rv->row->cpus;
	row->memory_mib = rv->row->memory_mib;
	row->memory_min_mib = rv->row->memory_min_mib;	/* dynamic memory */
	row->memory_cur_mib = rv->row->memory_min_mib;
	row->memory_buffer_pct = rv->row->memory_buffer_pct;
	row->cpu_compat = rv->row->cpu_compat;
	row->machine = rv->row->machine ? xstrdup(rv->row->machine) : NULL;
	row->kernel = rv->row->kernel ? xstrdup(rv->row->kernel) : NULL;
	row->initrd = rv->row->initrd ? xstrdup(rv->row->initrd) : NULL;
	row->cmdline = rv->row->cmdline ? xstrdup(rv->row->cmdline) : NULL;
	row->services = rv->row->services ? xstrdup(rv->row->services) : NULL;
	row->state = xstrdup("off");
	row->created_ms = wall_ms();
	row->n_disks = json_array_size(disks);
	row->disks = xzalloc(sizeof(*row->disks) * (row->n_disks + 1));
	json_array_foreach(disks, i, x) {
		snprintf(row->disks[i].name, sizeof(row->disks[i].name), "%s",
		    rp_str(x, "name"));
		row->disks[i].path = xstrdup(rp_str(x, "overlay"));
		row->disks[i].pool = xstrdup(rp_str(x, "pool"));
		row->disks[i].size_bytes = (uint64_t)rp_int(x, "size");
		row->disks[i].owned = true;
	}
	row->n_nics = rv->row->n_nics;
	row->nics = xzalloc(sizeof(*row->nics) * (row->n_nics + 1));
	for (i = 0; i < row->n_nics; i++) {
		net_mac_generate(row->nics[i].mac);
		row->nics[i].switch_name = xstrdup(rp_str(d, "switch"));
	}
	return row;
}
