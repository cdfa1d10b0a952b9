/* prune.c - backup.prune: keep a VM's newest N points in a repository;
 * the oldest one kept becomes a synthetic full point (its chain merged
 * into one image per disk, compressed), and the older points go.  The
 * content of every kept point is unchanged: the newer points still find
 * their parent's image at the same path, reading the same blocks.
 *
 *   start --base already full--> remove
 *         --else: per disk `qemu-img convert` of the base's chain into
 *   DISK.qcow2.prune (compressed, synced)--> flatten --sha256sum of the new
 *   images--> hash --rename each over the base's image, at once the base's
 *   manifest rewritten (full, no parent, the new sha256s)--> remove (the
 *   older points, newest first, so a crash leaves every remaining point's
 *   chain whole) --> done
 *
 *   a failure or a cancel before the rename: the .prune files removed,
 *   nothing changed.  ternd restarted: the job fails; prune again finishes
 *   (a base whose images were renamed but whose manifest was not rewritten
 *   reads the same; it is flattened again and recorded). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "bk_int.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"
#include "repo.h"
#include "util.h"
#include "vm_job.h"

enum pr_phase { PR_PH_START, PR_PH_FLATTEN, PR_PH_HASH, PR_PH_REMOVE,
		PR_PH_DONE, PR_PH__COUNT };
static const char *const pr_phase_names[PR_PH__COUNT] = {
	[PR_PH_START] = "start", [PR_PH_FLATTEN] = "flatten",
	[PR_PH_HASH] = "hash", [PR_PH_REMOVE] = "remove",
	[PR_PH_DONE] = "done",
};

static char *
pr_base_dir(const struct job *job)
{
	return xasprintf("%s/%s/%s", bk_str(job->details, "repo"),
	    bk_str(job->details, "vm"), bk_str(job->details, "base"));
}

static char *
pr_tmp(const struct job *job, const char *disk)
{
	_cleanup_free_ char *dir = pr_base_dir(job);

	return xasprintf("%s/%s.qcow2.prune", dir, disk);
}

static char *
pr_out(const struct job *job)
{
	return xasprintf("%s/job-%lld.out", host_of(job)->cfg.run_dir,
	    (long long)job->row->id);
}

static void
pr_fail(struct job *job, int r, const char *why)
{
	const json_t *d;
	size_t i;

	if (job->child)
		(void)child_kill(job->child, SIGKILL);
	job->child = child_free(job->child);
	json_array_foreach(bk_disks(job), i, d) {
		_cleanup_free_ char *tmp = pr_tmp(job, json_string_value(d));

		(void)unlink(tmp);
	}
	job_finish(job, r, "not pruned: %s", why);
}

static void
pr_on_exit(struct child *ch, int status, void *data)
{
	struct job *job = data;
	_cleanup_free_ char *out = pr_out(job);
	_cleanup_free_ char *last = NULL;

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		last = file_last_line(out);
		pr_fail(job, -EIO, last ? last : "a helper failed");
		return;
	}
	json_object_set_new(job->details, "next", json_integer(
	    json_integer_value(json_object_get(job->details, "next")) + 1));
	job_poke(job);
}

static int
pr_spawn(struct job *job, const char *const *argv)
{
	_cleanup_free_ char *out = pr_out(job);

	(void)unlink(out);
	return job_spawn(job, argv, out, pr_on_exit);
}

/* One disk's chain into DISK.qcow2.prune, compressed, then synced. */
static void
pr_flatten(struct job *job)
{
	size_t next = (size_t)json_integer_value(json_object_get(job->details,
	    "next"));
	const char *disk = json_string_value(json_array_get(bk_disks(job),
	    next));
	_cleanup_free_ char *dir = pr_base_dir(job);
	_cleanup_free_ char *src = NULL, *tmp = NULL;

	if (job->child)
		return;
	if (!disk) {
		json_object_set_new(job->details, "next", json_integer(0));
		job_set_phase(job, PR_PH_HASH);
		job_poke(job);
		return;
	}
	src = xasprintf("%s/%s.qcow2", dir, disk);
	tmp = pr_tmp(job, disk);
	{
		const char *argv[] = { "sh", "-c", "\"$1\" convert -q -f qcow2 "
			"-O qcow2 -c -o compression_type=zstd -- \"$2\" \"$3\" "
			"&& sync -- \"$3\"", "sh", host_of(job)->cfg.qemu_img,
			src, tmp, NULL };

		job_set_progress(job, next, json_array_size(bk_disks(job)),
		    "disks");
		if (pr_spawn(job, argv) < 0)
			pr_fail(job, -EIO, "cannot run qemu-img");
	}
}

/* The base point's manifest, read again from the repository. */
static int
pr_load_base(struct job *job, struct bk_manifest *ret, struct err *err)
{
	struct bk_manifest *pts = NULL;
	size_t n = 0;
	int r;

	r = bk_points_list(bk_str(job->details, "repo"), bk_str(job->details,
	    "vm"), &pts, &n, NULL, NULL, err);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (streq(pts[i].point, bk_str(job->details, "base"))) {
			*ret = pts[i];
			json_incref(ret->desc);
			bk_points_free(pts, n);
			return 0;
		}
	bk_points_free(pts, n);
	return r < 0 ? r : err_set(err, -ENOENT, "point %s is gone",
	    bk_str(job->details, "base"));
}

/* The merged images take the base's place, and its manifest says so: a
 * full point (its blocks, its map unchanged). */
static int
pr_record(struct job *job, const char *hashes, struct err *err)
{
	_cleanup_free_ char *dir = pr_base_dir(job);
	struct bk_manifest *m = xzalloc(sizeof(*m));
	int r = pr_load_base(job, m, err);

	for (size_t i = 0; r == 0 && i < m->n_disks; i++) {
		struct bk_disk *d = &m->disks[i];
		_cleanup_free_ char *tmp = pr_tmp(job, d->name);
		const char *p = strstr(hashes, tmp);

		if (!p || p - hashes < 66 || p[strlen(tmp)] != '\n')
			r = err_set(err, -EIO, "no sha256 for %s", tmp);
		else
			snprintf(d->image_sha256, sizeof(d->image_sha256),
			    "%.64s", p - 66);
		d->backing[0] = '\0';
	}
	for (size_t i = 0; r == 0 && i < m->n_disks; i++) {
		_cleanup_free_ char *tmp = pr_tmp(job, m->disks[i].name);
		_cleanup_free_ char *img = xasprintf("%s/%s", dir,
		    m->disks[i].image);

		if (rename(tmp, img) == -1)
			r = err_setf_errno(err, -errno, "cannot rename %s",
			    tmp);
	}
	m->kind = BK_FULL;
	m->parent[0] = '\0';
	if (r == 0)
		r = bk_manifest_write(dir, m, err);
	bk_manifest_clear(m);
	free(m);
	return r;
}

static void
pr_on_hashed(struct child *ch, int status, void *data)
{
	struct job *job = data;
	_cleanup_free_ char *out = pr_out(job);
	_cleanup_free_ char *hashes = NULL;
	struct err err = { 0 };

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0 || file_read_all(out, 1 << 20, &hashes, NULL) < 0) {
		pr_fail(job, -EIO, "cannot hash the merged images");
		return;
	}
	(void)unlink(out);
	if (pr_record(job, hashes, &err) < 0) {
		pr_fail(job, err.code, err.msg);
		return;
	}
	json_object_set_new(job->details, "next", json_integer(0));
	job_set_phase(job, PR_PH_REMOVE);
	job_poke(job);
}

static void
pr_hash(struct job *job)
{
	json_t *disks = bk_disks(job);
	const char *argv[2 + VM_MAX_DISKS] = { "sha256sum" };
	char *tmp[VM_MAX_DISKS] = { 0 };
	_cleanup_free_ char *out = pr_out(job);
	size_t n = MIN(json_array_size(disks), (size_t)VM_MAX_DISKS);
	int r;

	if (job->child)
		return;
	for (size_t i = 0; i < n; i++) {
		tmp[i] = pr_tmp(job, json_string_value(json_array_get(disks,
		    i)));
		argv[i + 1] = tmp[i];
	}
	(void)unlink(out);
	r = job_spawn(job, argv, out, pr_on_hashed);
	for (size_t i = 0; i < n; i++)
		free(tmp[i]);
	if (r < 0)
		pr_fail(job, r, "cannot run sha256sum");
}

/* Bytes a point's directory holds on disk (its files are flat). */
static uint64_t
dir_bytes(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t sum = 0;

	while (d && (e = readdir(d))) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;

		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
			sum += (uint64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	return sum;
}

/* The older points, newest first; the bytes they held. */
static void
pr_remove(struct job *job)
{
	const json_t *older = json_object_get(job->details, "older"), *p;
	uint64_t freed = 0;
	size_t i;

	for (i = json_array_size(older); i-- > 0;) {
		_cleanup_free_ char *dir = NULL;

		p = json_array_get(older, i);
		dir = xasprintf("%s/%s/%s", bk_str(job->details, "repo"),
		    bk_str(job->details, "vm"), json_string_value(p));
		freed += dir_bytes(dir);
		if (dir_remove_flat(dir) < 0)
			log_warn("cannot remove all of %s", dir);
	}
	json_object_set_new(job->details, "freed_bytes", json_integer(
	    (json_int_t)freed));
	job_set_phase(job, PR_PH_DONE);
	host_event(host_of(job), "info", NULL, job->row->id, "pruned %zu "
	    "point(s) of vm '%s' in %s (%llu MiB freed); %s is %s full point",
	    json_array_size(older), bk_str(job->details, "vm_name"),
	    bk_str(job->details, "repo"), (unsigned long long)(freed >> 20),
	    bk_str(job->details, "base"),
	    json_is_true(json_object_get(job->details, "was_full")) ?
	    "still a" : "now a synthetic");
	job_finish(job, 0, NULL);
}

static void
prune_step(struct job *job)
{
	if (job->recovering) {
		pr_fail(job, -EIO, "ternd restarted during the prune; run it "
		    "again to finish");
		return;
	}
	if (job_phase_is(job, PR_PH_START))
		job_set_phase(job, json_is_true(json_object_get(job->details,
		    "was_full")) ? PR_PH_REMOVE : PR_PH_FLATTEN);
	if (job_phase_is(job, PR_PH_FLATTEN))
		pr_flatten(job);
	else if (job_phase_is(job, PR_PH_HASH))
		pr_hash(job);
	else if (job_phase_is(job, PR_PH_REMOVE))
		pr_remove(job);
}

static int
prune_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, PR_PH_REMOVE))
		return err_set(err, -EBUSY, "the merged point is recorded; "
		    "the old points are going");
	pr_fail(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

const struct job_ops job_backup_prune = { .type = "backup.prune",
	.phases = pr_phase_names, .n_phases = PR_PH__COUNT,
	.step = prune_step, .cancel = prune_cancel };

int
backup_prune_start(struct host *h, const json_t *body, struct job **ret_job,
    struct err *err)
{
	static const char *const fields[] = { "repo", "vm", "keep", NULL };
	const char *repo_arg = NULL, *vm_arg = NULL;
	int64_t keep = 0;
	struct bk_manifest *pts = NULL;
	char repo[PATH_MAX];
	struct vm *vm;
	json_t *older, *disks;
	size_t n = 0;
	int r;

	if ((r = json_check_fields(body, fields, "prune", err)) < 0 ||
	    (r = json_get_str(body, "repo", true, &repo_arg, err)) < 0 ||
	    (r = json_get_str(body, "vm", true, &vm_arg, err)) < 0 ||
	    (r = json_get_int(body, "keep", true, 1, 100000, &keep, err)) < 0)
		return r;
	if ((r = bk_repo_open(repo_arg, false, err)) < 0)
		return r;
	if (!realpath(repo_arg, repo))
		return err_set(err, -errno, "repository %s: %s", repo_arg,
		    strerror(errno));
	vm = vm_find(h, vm_arg);
	if ((r = bk_points_list(repo, vm ? vm->row->uuid : vm_arg, &pts, &n,
	    NULL, NULL, err)) < 0)
		return r;
	if (n == 0) {
		bk_points_free(pts, n);
		return err_set(err, -ENOENT, "no point of vm '%s' in %s (see: "
		    "tern backup list %s)", vm_arg, repo, repo);
	}
	older = json_array();
	disks = json_array();
	for (size_t i = 0; n > (size_t)keep && i < n - (size_t)keep; i++)
		json_array_append_new(older, json_string(pts[i].point));
	{
		const struct bk_manifest *b = &pts[n > (size_t)keep ?
		    n - (size_t)keep : 0];

		for (size_t i = 0; i < b->n_disks; i++)
			json_array_append_new(disks, json_string(
			    b->disks[i].name));
		r = vm_job_create(h, &job_backup_prune, NULL, json_pack(
		    "{ss ss ss ss sb so so}", "repo", repo, "vm", b->vm_uuid,
		    "vm_name", b->vm_name,
		    "base", b->point, "was_full", b->kind == BK_FULL,
		    "older", older, "disks", disks), ret_job, err);
	}
	bk_points_free(pts, n);
	if (r == 0)
		job_start(*ret_job);
	return r;
}
