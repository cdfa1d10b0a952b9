/* remap.c - the replica side of a verify or a resync: replica.map, the
 * map of the replica's latest recovery point recomputed by reading every
 * block of its images (tern-blockcopy --from-image IMAGE --map-out MAP,
 * a helper per disk, never ternd's loop), and the map served to the
 * primary over the same mutual TLS its deltas come by.  The replica's
 * stored map (written when the point was applied) is not trusted here:
 * what is compared is what the images hold now.
 *
 *   start --rm_start: the spool POOL/.tern-replica/UUID/check/ emptied,
 *   the latest point's seq taken--> map --rm_map: per disk, one helper at
 *   a time: the disk's image (and its backing chain) read, DISK.map and
 *   DISK.summary written--> done (details: seq; per disk map_bytes)
 *
 *   A failure, a cancel or a restart: the job fails, the check directory
 *   stays until the next one (it is never a recovery point's; nothing of
 *   the replica changes in any case).  The primary asks again. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "qcow2.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

enum rm_phase { RM_PH_START, RM_PH_MAP, RM_PH__COUNT };

static const char *const rm_phase_names[RM_PH__COUNT] = {
	[RM_PH_START] = "start", [RM_PH_MAP] = "map",
};

/* The check directory of vm's maps, a disk's file in it (caller frees). */
static char *
rm_file(const struct vm *vm, const char *disk, const char *ext)
{
	_cleanup_free_ char *spool = replica_spool_dir(vm);

	if (!disk)
		return xasprintf("%s/%s/check", spool, vm->row->uuid);
	return xasprintf("%s/%s/check/%s.%s", spool, vm->row->uuid, disk, ext);
}

static void
rm_on_child(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0)
		json_object_set_new(job->details, "child_failed", json_true());
	else
		json_object_set_new(job->details, "next", json_integer(
		    rp_int(job->details, "next") + 1));
	job_poke(job);
}

static void
rm_start(struct job *job)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *dir = rm_file(vm, NULL, NULL);
	_cleanup_free_ char *sdir = vm_state_path(vm, NULL);
	struct replication_row r;
	json_t *disks = json_array();
	int rc;

	(void)dir_remove_flat(dir);
	if ((rc = mkdir_p(dir, 0700)) < 0 || (rc = mkdir_p(sdir, 0700)) < 0) {
		json_decref(disks);
		job_finish(job, rc, "cannot make %s", dir);
		return;
	}
	if (store_replication_get(vm->h->store, vm->row->uuid, &r) == 0) {
		json_object_set_new(job->details, "seq", json_integer(r.seq));
		replication_row_done(&r);
	}
	for (size_t i = 0; i < vm->row->n_disks; i++)
		json_array_append_new(disks, json_pack("{ss ss}", "name",
		    vm->row->disks[i].name, "path", vm->row->disks[i].path));
	json_object_set_new(job->details, "disks", disks);
	json_object_set_new(job->details, "next", json_integer(0));
	job_set_phase(job, RM_PH_MAP);
	job_save(job);
	job_poke(job);
}

/* The map of disk d done: its size for the primary's download. */
static void
rm_record(struct job *job, json_t *d)
{
	_cleanup_free_ char *map = rm_file(vm_of(job), rp_str(d, "name"),
	    "map");
	struct stat sb;

	if (stat(map, &sb) == 0)
		json_object_set_new(d, "map_bytes", json_integer(sb.st_size));
}

static void
rm_map(struct job *job)
{
	struct vm *vm = vm_of(job);
	json_t *disks = json_object_get(job->details, "disks");
	int64_t next = rp_int(job->details, "next");
	json_t *d = json_array_get(disks, (size_t)next);
	_cleanup_free_ char *map = NULL, *sum = NULL;
	_cleanup_free_ char *log = vm_state_path(vm, "replica.log");
	const char *argv[8];

	if (job->child)
		return;
	if (json_is_true(json_object_get(job->details, "child_failed"))) {
		_cleanup_free_ char *last = file_last_line(log);

		job_finish(job, -EIO, "cannot read the replica's disk: %s",
		    last ? last : "see replica.log");
		return;
	}
	if (next > 0)
		rm_record(job, json_array_get(disks, (size_t)next - 1));
	if (!d) {
		job_finish(job, 0, NULL);
		return;
	}
	map = rm_file(vm, rp_str(d, "name"), "map");
	sum = rm_file(vm, rp_str(d, "name"), "summary");
	argv[0] = vm->h->cfg.blockcopy;
	argv[1] = "--from-image";
	argv[2] = rp_str(d, "path");
	argv[3] = "--map-out";
	argv[4] = map;
	argv[5] = "--summary";
	argv[6] = sum;
	argv[7] = NULL;
	if (job_spawn(job, argv, log, rm_on_child) < 0)
		job_finish(job, -EIO, "cannot run tern-blockcopy");
}

static void
rm_step(struct job *job)
{
	if (vm_job_gone(job))
		return;
	if (job->recovering) {
		job_finish(job, -EIO, "ternd restarted while the replica's "
		    "disks were read; ask again");
		return;
	}
	if (job->phase == RM_PH_START)
		rm_start(job);
	else
		rm_map(job);
}

static int
rm_cancel(struct job *job, struct err *err)
{
	(void)err;
	if (job->child)
		(void)child_kill(job->child, SIGTERM);
	job_finish(job, -ECANCELED, "cancelled");
	return 0;
}

const struct job_ops job_replica_map = {
	.type = "replica.map", .phases = rm_phase_names,
	.n_phases = RM_PH__COUNT, .step = rm_step, .cancel = rm_cancel,
};

/* ---- the primary's requests ---- */

int
replica_incoming_map(struct host *h, const char *fp, const char *uuid,
    struct job **ret_job, struct err *err)
{
	struct vm *vm = NULL;
	struct replication_row r;
	int rc;

	*ret_job = NULL;
	if ((rc = rp_replica_for_primary(h, uuid, fp, "asks for its maps", &vm,
	    &r, err)) < 0)
		return rc;
	replication_row_done(&r);
	if ((rc = vm_job_create(h, &job_replica_map, vm, json_object(),
	    ret_job, err)) < 0)
		return rc;
	job_start(*ret_job);
	return 0;
}

int
replica_map_open(struct host *h, const char *fp, const char *uuid,
    const char *disk, int *ret_fd, uint64_t *ret_size, struct err *err)
{
	struct vm *vm = NULL;
	struct replication_row r;
	_cleanup_free_ char *f = NULL;
	struct stat sb;
	int fd = rp_replica_for_primary(h, uuid, fp, "reads its maps", &vm, &r,
	    err);

	if (fd < 0)
		return fd;
	replication_row_done(&r);
	if (!name_is_valid(disk))
		return err_set(err, -EINVAL, "no such map");
	f = rm_file(vm, disk, "map");
	if ((fd = open(f, O_RDONLY | O_CLOEXEC)) < 0)
		return err_set(err, -ENOENT, "no map of disk %s of vm '%s' "
		    "(ask for one first)", disk, vm->row->name);
	if (fstat(fd, &sb) < 0) {
		close(fd);
		return err_setf_errno(err, -errno, "cannot read %s", f);
	}
	*ret_fd = fd;
	*ret_size = (uint64_t)sb.st_size;
	return 0;
}

/* ---- --initial existing: the operator's copy, checked ---- */

#define RM_CHAIN_MAX 64		/* files below an adopted copy's image */

static uint64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The copy of disk k at its path: a qcow2 of k's size, without a
 * backing file unless chain_ok (its header read: ternd's loop reads 32
 * bytes, nothing more). */
static int
rm_copy_check(const char *vm, const struct disk_row *k, bool chain_ok,
    struct err *err)
{
	_cleanup_close_ int fd = open(k->path, O_RDONLY | O_CLOEXEC);
	unsigned char hd[32];

	if (fd < 0 && errno != ENOENT)
		return err_setf_errno(err, -errno, "--initial existing: cannot "
		    "read %s", k->path);
	if (fd < 0)
		return err_set(err, -ENOENT, "--initial existing: no copy of "
		    "disk %s of vm '%s' at %s; copy the VM's image there (VM "
		    "off) or use --initial now", k->name, vm, k->path);
	if (pread(fd, hd, sizeof(hd), 0) != (ssize_t)sizeof(hd) ||
	    memcmp(hd, "QFI\xfb", 4) != 0)
		return err_set(err, -EINVAL, "--initial existing: %s is not a "
		    "qcow2 image; copy the VM's qcow2 image of disk %s",
		    k->path, k->name);
	if (!chain_ok && be64(hd + 8) != 0)
		return err_set(err, -EINVAL, "--initial existing: %s has a "
		    "backing file; copy a standalone image (qemu-img convert "
		    "-O qcow2)", k->path);
	if (be64(hd + 24) != k->size_bytes)
		return err_set(err, -EINVAL, "--initial existing: %s is %llu "
		    "bytes, disk %s of vm '%s' %llu: it is not that disk's "
		    "copy", k->path, (unsigned long long)be64(hd + 24),
		    k->name, vm, (unsigned long long)k->size_bytes);
	return 0;
}

int
rp_existing_check(const struct vm_row *row, const json_t *settings,
    bool chain_ok, struct err *err)
{
	const json_t *ex = json_object_get(settings, "exclude"), *x;
	size_t i, j;
	int r;

	for (i = 0; i < row->n_disks; i++) {
		bool skip = false;

		json_array_foreach(ex, j, x)
			skip = skip || streq(json_string_value(x),
			    row->disks[i].name);
		if (!skip && (r = rm_copy_check(row->name, &row->disks[i],
		    chain_ok, err)) < 0)
			return r;
	}
	return 0;
}

int
rp_backing_chain(const char *image, json_t *files, struct err *err)
{
	_cleanup_free_ char *cur = xstrdup(image);

	for (int n = 0;; n++) {
		char *next = NULL;
		int r = qcow2_backing(cur, &next);

		if (r < 0)
			return err_setf_errno(err, r, "cannot read the backing "
			    "file of %s", cur);
		if (!next)
			return 0;
		if (n >= RM_CHAIN_MAX) {
			free(next);
			return err_set(err, -ELOOP, "%s: a backing chain of "
			    "more than %d files", image, RM_CHAIN_MAX);
		}
		json_array_append_new(files, json_string(next));
		free(cur);
		cur = next;
	}
}
