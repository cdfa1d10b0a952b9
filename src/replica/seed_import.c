/* seed_import.c - `tern vm replication import-seed DIR` on the replica
 * host: DIR/seed.json (written by seed.c on the primary; format in
 * docs/replica-format.md) read as untrusted input and checked against
 * this host, then replica.apply (receive.c) started with "seed_dir": the
 * deltas read from DIR instead of downloaded.  Nothing changes before
 * that job starts; the job checks every delta whole before it writes
 * (a damaged one is rejected, the replica untouched). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "peer.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

#define SEED_MANIFEST_MAX (64 * 1024)
#define SEED_DISKS_MAX 16

static int
seed_read(const char *dir, json_t **ret, struct err *err)
{
	static const char *const fields[] = { "format", "version", "vm_uuid",
		"vm_name", "primary", "primary_fingerprint", "seq",
		"base_seq", "time_ms", "consistency", "exported_ms", "disks",
		NULL };
	_cleanup_free_ char *m = xasprintf("%s/seed.json", dir);
	_cleanup_free_ char *buf = NULL;
	json_t *o = NULL;
	size_t len;
	int r;

	if (access(dir, F_OK) < 0)
		return err_set(err, -ENOENT, "%.120s: no such directory", dir);
	if ((r = file_read_all(m, SEED_MANIFEST_MAX, &buf, &len)) < 0 ||
	    json_parse_object(buf, len, &o, NULL) < 0 ||
	    !streq(rp_str(o, "format"), "tern-replica-seed")) {
		json_decref(o);
		return err_set(err, -EINVAL, "%.120s is not a replication seed "
		    "(no readable seed.json written by 'tern vm replication "
		    "enable --initial offline')", dir);
	}
	if ((r = json_check_fields_in(o, fields, "seed.json", err)) < 0 ||
	    rp_int(o, "version") != 1) {
		json_decref(o);
		return r < 0 ? r : err_set(err, -EINVAL, "seed.json: version "
		    "%lld is not one this tern reads (1)",
		    (long long)rp_int(o, "version"));
	}
	*ret = o;
	return 0;
}

/* The manifest's fields: types and ranges. */
static int
seed_fields(const json_t *o, struct err *err)
{
	const char *s;
	int64_t v;
	int r;

	if ((r = json_get_str(o, "vm_uuid", true, &s, err)) < 0 ||
	    (r = json_get_str(o, "vm_name", true, &s, err)) < 0 ||
	    (r = json_get_str(o, "primary", true, &s, err)) < 0 ||
	    (r = json_get_str(o, "primary_fingerprint", true, &s, err)) < 0 ||
	    (r = json_get_str(o, "consistency", false, &s, err)) < 0 ||
	    (r = json_get_int(o, "seq", true, 1, INT64_MAX, &v, err)) < 0 ||
	    (r = json_get_int(o, "base_seq", true, 0, INT64_MAX, &v, err)) < 0 ||
	    (r = json_get_int(o, "time_ms", true, 0, INT64_MAX, &v, err)) < 0 ||
	    (r = json_get_int(o, "exported_ms", false, 0, INT64_MAX, &v,
	    err)) < 0)
		return r;
	if (!uuid_is_valid(rp_str(o, "vm_uuid")))
		return err_set(err, -EINVAL, "seed.json: vm_uuid is not a uuid");
	return 0;
}

/* One disk entry: its fields, its file DIR/NAME.delta (a regular file as
 * big as said), the replica's disk of that name and size. */
static int
seed_disk(const char *dir, const json_t *d, size_t i, const struct vm *vm,
    struct err *err)
{
	static const char *const fields[] = { "name", "size", "delta",
		"delta_bytes", NULL };
	const char *name = rp_str(d, "name");
	_cleanup_free_ char *want = NULL, *f = NULL;
	struct stat sb;
	bool found = false;
	int r;

	if (json_is_object(d) && (r = json_check_fields_in(d, fields,
	    "seed.json disks", err)) < 0)
		return r;
	if (!json_is_object(d) || !name || !name_is_valid(name) ||
	    strlen(name) > 15 || !json_is_integer(json_object_get(d, "size")) ||
	    !json_is_integer(json_object_get(d, "delta_bytes")) ||
	    rp_int(d, "delta_bytes") <= 0)
		return err_set(err, -EINVAL, "seed.json: disks[%zu] needs "
		    "name, size, delta and delta_bytes", i);
	want = xasprintf("%s.delta", name);
	if (!streq(rp_str(d, "delta"), want))
		return err_set(err, -EINVAL, "seed.json: disks[%zu]: the delta "
		    "of disk %s is %s", i, name, want);
	f = xasprintf("%s/%s", dir, want);
	if (lstat(f, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size != rp_int(d, "delta_bytes"))
		return err_set(err, -EINVAL, "the seed's %s is missing or not "
		    "%lld bytes as seed.json says: copy the seed again", want,
		    (long long)rp_int(d, "delta_bytes"));
	for (size_t k = 0; k < vm->row->n_disks; k++)
		found |= streq(vm->row->disks[k].name, name) &&
		    vm->row->disks[k].size_bytes == (uint64_t)rp_int(d, "size");
	if (!found)
		return err_set(err, -EINVAL, "the seed's disk %s (%lld bytes) is "
		    "not a disk of the replica of vm '%s'", name,
		    (long long)rp_int(d, "size"), vm->row->name);
	return 0;
}

static int
seed_disks(const char *dir, const json_t *o, const struct vm *vm,
    struct err *err)
{
	json_t *arr = json_object_get(o, "disks"), *d;
	size_t i;
	int r;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > SEED_DISKS_MAX)
		return err_set(err, -EINVAL, "seed.json: disks must be a list "
		    "of 1..%d disks", SEED_DISKS_MAX);
	json_array_foreach(arr, i, d) {
		if ((r = seed_disk(dir, d, i, vm, err)) < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (streq(rp_str(json_array_get(arr, k), "name"),
			    rp_str(d, "name")))
				return err_set(err, -EINVAL, "seed.json: disk "
				    "%s is given twice", rp_str(d, "name"));
	}
	return 0;
}

/* The seed against this host: its replica, its primary, its seq. */
static int
seed_relation(struct host *h, const json_t *o, struct vm **ret_vm,
    struct replication_row *r, struct err *err)
{
	const char *fp = rp_str(o, "primary_fingerprint");
	struct vm *vm = vm_find(h, rp_str(o, "vm_uuid"));
	_cleanup_free_ char *peer = NULL, *pool = NULL;
	struct host_peer p = { 0 };
	bool same;

	if (!vm || store_replication_get(h->store, vm->row->uuid, r) < 0)
		return err_set(err, -ENOENT, "the seed is for vm %.40s (%.40s), "
		    "which has no replica on host %s: enable its replication "
		    "first", rp_str(o, "vm_uuid"), rp_str(o, "vm_name"),
		    h->cfg.name);
	if (!streq(r->role, "replica") || vm->state != VM_REPLICA) {
		replication_row_done(r);
		return err_set(err, -EINVAL, "vm '%s' is not a replica on host "
		    "%s: a seed is imported on the replica server",
		    vm->row->name, h->cfg.name);
	}
	same = host_peer_by_name(h, r->peer, &p, NULL) == 0 &&
	    streq(p.fp, fp);
	host_peer_done(&p);
	if (!same || replica_server_allows(h, fp, &peer, &pool, NULL) < 0) {
		replication_row_done(r);
		return err_set(err, -EACCES, "the seed comes from %.40s "
		    "(%.80s), not a primary this replica server allows for "
		    "vm '%s'", rp_str(o, "primary"), fp, vm->row->name);
	}
	*ret_vm = vm;
	return 0;
}

static int
seed_order(const json_t *o, const struct vm *vm,
    const struct replication_row *r, struct err *err)
{
	if (r->seq != 0)
		return err_set(err, -EEXIST, "the replica of vm '%s' has point "
		    "%lld already: the seed (point %lld) is not needed",
		    vm->row->name, (long long)r->seq,
		    (long long)rp_int(o, "seq"));
	if (rp_int(o, "seq") != 1 || rp_int(o, "base_seq") != 0)
		return err_set(err, -EINVAL, "the seed is point %lld on %lld; "
		    "the replica of vm '%s' takes point 1 on 0 (a first, full "
		    "point)", (long long)rp_int(o, "seq"),
		    (long long)rp_int(o, "base_seq"), vm->row->name);
	return 0;
}

static json_t *
seed_details(struct host *h, const json_t *o, const char *dir,
    const struct replication_row *r)
{
	json_t *disks = json_array(), *d, *details;
	size_t i;

	json_array_foreach(json_object_get(o, "disks"), i, d)
		json_array_append_new(disks, json_pack("{sO sO sO}", "name",
		    json_object_get(d, "name"), "size", json_object_get(d,
		    "size"), "delta_bytes", json_object_get(d, "delta_bytes")));
	details = json_pack("{sI sI sI ss so si ss}", "seq",
	    (json_int_t)rp_int(o, "seq"), "base_seq", (json_int_t)rp_int(o,
	    "base_seq"), "time_ms", (json_int_t)rp_int(o, "time_ms"),
	    "consistency", streq(rp_str(o, "consistency"), "filesystem") ?
	    "filesystem" : "crash", "disks", disks, "next", 0, "seed_dir",
	    dir);
	(void)rp_peer_details(h, details, r->peer, NULL);
	return details;
}

int
replica_seed_import(struct host *h, const json_t *body, struct job **ret_job,
    struct err *err)
{
	static const char *const fields[] = { "dir", NULL };
	_cleanup_json_ json_t *o = NULL;
	struct replication_row r;
	struct vm *vm = NULL;
	const char *dir = NULL;
	json_t *details;
	int rc;

	if ((rc = json_check_fields(body, fields, "import-seed", err)) < 0 ||
	    (rc = json_get_str(body, "dir", true, &dir, err)) < 0)
		return rc;
	if (dir[0] != '/' || strlen(dir) > 200)
		return err_set(err, -EINVAL, "import-seed: give the seed's "
		    "directory as an absolute path");
	if ((rc = seed_read(dir, &o, err)) < 0 ||
	    (rc = seed_fields(o, err)) < 0 ||
	    (rc = seed_relation(h, o, &vm, &r, err)) < 0)
		return rc;
	if ((rc = seed_order(o, vm, &r, err)) == 0)
		rc = seed_disks(dir, o, vm, err);
	if (rc < 0) {
		replication_row_done(&r);
		return rc;
	}
	details = seed_details(h, o, dir, &r);
	replication_row_done(&r);
	if ((rc = vm_job_create(h, &job_replica_apply, vm, details, ret_job,
	    err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
