/* seed_import.c - `tern vm replication import-seed DIR` on the replica
 * host: DIR/seed.json (written by seed.c on the primary; format in
 * docs/replica-format.md) read as untrusted input by seed_manifest.c
 * (pure, fuzzed) and checked here against this host, then replica.apply
 * (receive.c) started with "seed_dir": the deltas read from DIR instead
 * of downloaded.  Nothing changes before that job starts; the job checks
 * every delta whole before it writes (a damaged one is rejected, the
 * replica untouched). */
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
#include "seed_manifest.h"
#include "util.h"
#include "vm.h"

/* DIR/seed.json read and checked by itself (seed_manifest.c). */
static int
seed_read(const char *dir, struct seed_manifest *m, struct err *err)
{
	_cleanup_free_ char *f = xasprintf("%s/seed.json", dir);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;

	if (access(dir, F_OK) < 0)
		return err_set(err, -ENOENT, "%.120s: no such directory", dir);
	if (file_read_all(f, SEED_MANIFEST_MAX, &buf, &len) < 0)
		return err_set(err, -EINVAL, "%.120s is not a replication seed "
		    "(no readable seed.json written by 'tern vm replication "
		    "enable --initial offline')", dir);
	return seed_manifest_parse(buf, len, dir, m, err);
}

/* One disk against this host: its file DIR/NAME.delta (a regular file as
 * big as said), the replica's disk of that name and size. */
static int
seed_disk(const char *dir, const struct seed_manifest_disk *d,
    const struct vm *vm, struct err *err)
{
	_cleanup_free_ char *f = xasprintf("%s/%s.delta", dir, d->name);
	struct stat sb;
	bool found = false;

	if (lstat(f, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size != d->delta_bytes)
		return err_set(err, -EINVAL, "the seed's %s.delta is missing or "
		    "not %lld bytes as seed.json says: copy the seed again",
		    d->name, (long long)d->delta_bytes);
	for (size_t k = 0; k < vm->row->n_disks; k++)
		found |= streq(vm->row->disks[k].name, d->name) &&
		    vm->row->disks[k].size_bytes == (uint64_t)d->size;
	if (!found)
		return err_set(err, -EINVAL, "the seed's disk %s (%lld bytes) is "
		    "not a disk of the replica of vm '%s'", d->name,
		    (long long)d->size, vm->row->name);
	return 0;
}

static int
seed_disks(const char *dir, const struct seed_manifest *m,
    const struct vm *vm, struct err *err)
{
	int r;

	for (size_t i = 0; i < m->n_disks; i++)
		if ((r = seed_disk(dir, &m->disks[i], vm, err)) < 0)
			return r;
	return 0;
}

/* The seed against this host: its replica, its primary, its seq. */
static int
seed_relation(struct host *h, const struct seed_manifest *m,
    struct vm **ret_vm, struct replication_row *r, struct err *err)
{
	const char *fp = m->primary_fingerprint;
	struct vm *vm = vm_find(h, m->vm_uuid);
	_cleanup_free_ char *peer = NULL, *pool = NULL;
	struct host_peer p = { 0 };
	bool same;

	if (!vm || store_replication_get(h->store, vm->row->uuid, r) < 0)
		return err_set(err, -ENOENT, "the seed is for vm %.40s (%.40s), "
		    "which has no replica on host %s: enable its replication "
		    "first", m->vm_uuid, m->vm_name, h->cfg.name);
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
		    "vm '%s'", m->primary, fp, vm->row->name);
	}
	*ret_vm = vm;
	return 0;
}

/* The seed is point 1 on 0 (seed_manifest.c); the replica has none. */
static int
seed_order(const struct seed_manifest *m, const struct vm *vm,
    const struct replication_row *r, struct err *err)
{
	if (r->seq != 0)
		return err_set(err, -EEXIST, "the replica of vm '%s' has point "
		    "%lld already: the seed (point %lld) is not needed",
		    vm->row->name, (long long)r->seq, (long long)m->seq);
	return 0;
}

static json_t *
seed_details(struct host *h, const struct seed_manifest *m, const char *dir,
    const struct replication_row *r)
{
	json_t *disks = json_array(), *details;

	for (size_t i = 0; i < m->n_disks; i++)
		json_array_append_new(disks, json_pack("{ss sI sI}", "name",
		    m->disks[i].name, "size", (json_int_t)m->disks[i].size,
		    "delta_bytes", (json_int_t)m->disks[i].delta_bytes));
	details = json_pack("{sI sI sI ss so si ss}", "seq",
	    (json_int_t)m->seq, "base_seq", (json_int_t)m->base_seq,
	    "time_ms", (json_int_t)m->time_ms, "consistency",
	    m->filesystem ? "filesystem" : "crash", "disks", disks, "next", 0,
	    "seed_dir", dir);
	(void)rp_peer_details(h, details, r->peer, NULL);
	return details;
}

int
replica_seed_import(struct host *h, const json_t *body, struct job **ret_job,
    struct err *err)
{
	static const char *const fields[] = { "dir", NULL };
	struct seed_manifest m;
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
	if ((rc = seed_read(dir, &m, err)) < 0)
		return rc;
	if ((rc = seed_relation(h, &m, &vm, &r, err)) < 0) {
		seed_manifest_clear(&m);
		return rc;
	}
	if ((rc = seed_order(&m, vm, &r, err)) == 0)
		rc = seed_disks(dir, &m, vm, err);
	details = rc == 0 ? seed_details(h, &m, dir, &r) : NULL;
	replication_row_done(&r);
	seed_manifest_clear(&m);
	if (rc < 0)
		return rc;
	if ((rc = vm_job_create(h, &job_replica_apply, vm, details, ret_job,
	    err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}
