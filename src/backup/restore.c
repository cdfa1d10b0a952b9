/* restore.c - vm.restore: a backup point brought back as a new VM, and
 * vm.backup-verify: every file and block of points checked.  Both read a
 * point through its chain of images (each point's image is backed by its
 * parent's) and trust nothing: each file of the chain is hashed against
 * its manifest first (the error names the file), then every block read is
 * checked against the point's block map as it is copied (the error names
 * the block: tern-blockcopy --check-map).
 *
 *   vm.restore  (the VM row inserted CREATING by the API: it reserves the
 *               name, UUID, MACs and disk paths)
 *               start --sha256sum of the chain's files--> hash --each
 *               matches its manifest--> copy (per disk: qemu-img create,
 *               then tern-blockcopy --from-image POINT/DISK.qcow2 --to
 *               DISK --all --check-map POINT/DISK.map) --> done: VM OFF
 *               any failure, a cancel or a restart: the disks made are
 *               removed and the VM forgotten (nothing is kept)
 *   vm.backup-verify (a host job)
 *               start --sha256sum--> hash --> check (per point and disk:
 *               tern-blockcopy --from-image --check-map, nothing written)
 *               --> done; the first mismatch fails it, naming file or
 *               block; a restart fails it (nothing to undo) */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup.h"
#include "bk_int.h"
#include "desc.h"
#include "firmware.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"
#include "net.h"
#include "refpoint.h"
#include "repo.h"
#include "util.h"
#include "vm_action.h"
#include "vm_job.h"
#include "vm_spec.h"

enum rs_phase { RS_PH_START, RS_PH_HASH, RS_PH_COPY, RS_PH_SWAP,
		RS_PH_DONE, RS_PH__COUNT };
static const char *const rs_phase_names[RS_PH__COUNT] = {
	[RS_PH_START] = "start", [RS_PH_HASH] = "hash",
	[RS_PH_COPY] = "copy", [RS_PH_SWAP] = "swap", [RS_PH_DONE] = "done",
};

/* ---- the chain of a point ---- */

static const struct bk_manifest *
find_point(const struct bk_manifest *pts, size_t n, const char *uuid,
    const char *point)
{
	for (size_t i = 0; i < n; i++)
		if (streq(pts[i].point, point) && (!uuid ||
		    streq(pts[i].vm_uuid, uuid)))
			return &pts[i];
	return NULL;
}

static void
add_file(json_t *files, char *path, const char *sha256)
{
	json_array_append_new(files, json_pack("{ss ss}", "path", path,
	    "sha256", sha256));
	free(path);
}

/* The files of m's chain (m, its parent, ...) with their sha256s, into
 * files: [{path, sha256}]; an error names a missing parent. */
static int
chain_files(const char *repo, const struct bk_manifest *pts, size_t n,
    const struct bk_manifest *m, json_t *files, struct err *err)
{
	/* the point's own NVRAM and TPM state (fw.c) */
	if (m->nvram_sha256[0])
		add_file(files, xasprintf("%s/%s/%s/%s", repo, m->vm_uuid,
		    m->point, BK_NVRAM), m->nvram_sha256);
	if (m->tpm_sha256[0])
		add_file(files, xasprintf("%s/%s/%s/%s", repo, m->vm_uuid,
		    m->point, BK_TPM), m->tpm_sha256);
	for (size_t depth = 0; m; depth++) {
		const char *parent = m->parent;

		if (depth > n)
			return err_set(err, -EINVAL, "the chain of point %s "
			    "loops", m->point);
		for (size_t i = 0; i < m->n_disks; i++) {
			const struct bk_disk *d = &m->disks[i];

			add_file(files, xasprintf("%s/%s/%s/%s", repo,
			    m->vm_uuid, m->point, d->image), d->image_sha256);
			add_file(files, xasprintf("%s/%s/%s/%s", repo,
			    m->vm_uuid, m->point, d->map), d->map_sha256);
		}
		if (!parent[0])
			return 0;
		m = find_point(pts, n, m->vm_uuid, parent);
		if (!m)
			return err_set(err, -ENOENT, "point %s needs its parent "
			    "%s, which is not in %s (removed or half-made)",
			    parent, parent, repo);
	}
	return 0;
}

/* Open repo and find point (of vm_uuid, when given): its manifest (a
 * copy, desc referenced) and the files of its chain. */
static int
point_open(const char *repo_arg, const char *uuid, const char *point,
    char repo[PATH_MAX], struct bk_manifest *ret, json_t *files,
    struct err *err)
{
	struct bk_manifest *pts = NULL;
	const struct bk_manifest *m = NULL;
	size_t n = 0, hits = 0;
	int r;

	if ((r = bk_repo_open(repo_arg, false, err)) < 0)
		return r;
	if (!realpath(repo_arg, repo))
		return err_set(err, -errno, "repository %s: %s", repo_arg,
		    strerror(errno));
	if ((r = bk_points_list(repo, NULL, &pts, &n, NULL, NULL, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (streq(pts[i].point, point) && (!uuid ||
		    streq(pts[i].vm_uuid, uuid)) && hits++ == 0)
			m = &pts[i];
	if (!m)
		r = err_set(err, -ENOENT, "no point %s in %s (see: tern backup "
		    "list %s)", point, repo, repo);
	else if (hits > 1)
		r = err_set(err, -EINVAL, "point %s is in the repository for "
		    "%zu VMs; name the VM with --vm", point, hits);
	else if ((r = chain_files(repo, pts, n, m, files, err)) == 0) {
		*ret = *m;
		json_incref(ret->desc);
	}
	bk_points_free(pts, n);
	return r;
}

/* ---- vm.restore: the request ---- */

static struct vm_row *
restore_row(struct vm_desc *d, const struct bk_manifest *m, const char *name,
    const char *pool, bool new_id)
{
	struct vm_row *row = xzalloc(sizeof(*row));
	const char *kernel = bk_str(m->desc, "kernel");
	const char *initrd = bk_str(m->desc, "initrd");

	vm_desc_to_row(d, row);
	free(row->name);
	row->name = xstrdup(name);
	if (new_id)
		uuid_generate_text(row->uuid);
	for (size_t i = 0; new_id && i < row->n_nics; i++)
		net_mac_generate(row->nics[i].mac);
	row->kernel = kernel ? xstrdup(kernel) : NULL;
	row->initrd = initrd ? xstrdup(initrd) : NULL;
	row->state = xstrdup("creating");
	row->created_ms = wall_ms();
	row->disks = xzalloc((m->n_disks + 1) * sizeof(*row->disks));
	for (size_t i = 0; i < m->n_disks; i++, row->n_disks++) {
		snprintf(row->disks[i].name, sizeof(row->disks[i].name), "%s",
		    m->disks[i].name);
		row->disks[i].size_bytes = m->disks[i].size;
		row->disks[i].owned = true;
		row->disks[i].pool = pool ? xstrdup(pool) : NULL;
	}
	return row;
}

static json_t *
restore_details(const char *repo, const struct bk_manifest *m,
    const struct vm_row *row, json_t *files)
{
	json_t *disks = json_array();

	for (size_t i = 0; i < m->n_disks; i++)
		json_array_append_new(disks, json_pack("{ss ss++ ss++ ss sI}",
		    "name", m->disks[i].name, "src", repo, "/",
		    m->disks[i].image, "map", repo, "/", m->disks[i].map,
		    "dst", row->disks[i].path, "size",
		    (json_int_t)m->disks[i].size));
	return json_pack("{ss ss ss so so sb sb}", "repo", repo, "point",
	    m->point, "from_vm", m->vm_uuid, "files", files, "disks", disks,
	    "nvram", m->nvram_sha256[0] != '\0', "tpm",
	    m->tpm_sha256[0] != '\0');
}

/* The source VM, when the request names it: by name on this host, or a
 * UUID. */
static const char *
source_uuid(struct host *h, const char *vm_arg)
{
	struct vm *vm = vm_arg ? vm_find(h, vm_arg) : NULL;

	return vm ? vm->row->uuid : vm_arg;
}

/* Restoring over the original (no new name, and it is here): it must be
 * off, its disks those of the point; *ret_vm is it. */
static int
restore_check_target(struct host *h, const struct bk_manifest *m,
    const char *name, struct vm **ret_vm, struct err *err)
{
	struct vm *orig = vm_find(h, m->vm_uuid);

	*ret_vm = NULL;
	if (name || !orig)
		return 0;
	if (orig->state != VM_OFF && orig->state != VM_CRASHED)
		return err_set(err, -EBUSY, "vm '%s' is %s: a point is "
		    "restored over a VM only when it is off; stop it first%s, "
		    "or restore a copy beside it with --name NEW",
		    orig->row->name, vm_state_name(orig->state),
		    orig->state == VM_SAVED ? " (its saved state goes)" : "");
	if (vm_no_checkpoints(orig, "restored over (restore a copy beside "
	    "it with --name NEW)", err) < 0)
		return -EBUSY;
	if (orig->row->n_disks != m->n_disks)
		return err_set(err, -EINVAL, "vm '%s' has %zu disks, the point "
		    "%zu: restore a copy beside it with --name NEW",
		    orig->row->name, orig->row->n_disks, m->n_disks);
	for (size_t i = 0; i < m->n_disks; i++)
		if (!streq(orig->row->disks[i].name, m->disks[i].name) ||
		    orig->row->disks[i].size_bytes != m->disks[i].size)
			return err_set(err, -EINVAL, "vm '%s' disk %s is not "
			    "the point's (name or size differ): restore a copy "
			    "beside it with --name NEW", orig->row->name,
			    orig->row->disks[i].name);
	*ret_vm = orig;
	return 0;
}

/* Over the original: each disk written beside its image, then swapped. */
static json_t *
over_details(const char *pdir, const struct bk_manifest *m, struct vm *vm,
    json_t *files)
{
	json_t *disks = json_array();

	for (size_t i = 0; i < m->n_disks; i++)
		json_array_append_new(disks, json_pack("{ss ss++ ss++ ss+ ss "
		    "sI}", "name", m->disks[i].name, "src", pdir, "/",
		    m->disks[i].image, "map", pdir, "/", m->disks[i].map,
		    "dst", vm->row->disks[i].path, ".restore", "path",
		    vm->row->disks[i].path, "size",
		    (json_int_t)m->disks[i].size));
	return json_pack("{ss ss ss sb so so sb sb}", "repo", pdir, "point",
	    m->point, "from_vm", m->vm_uuid, "over", true, "files", files,
	    "disks", disks, "nvram", m->nvram_sha256[0] != '\0', "tpm",
	    m->tpm_sha256[0] != '\0');
}

int
backup_restore_prepare(struct host *h, const json_t *body,
    struct vm_row **ret_row, struct vm **ret_vm, json_t **ret_details,
    struct err *err)
{
	static const char *const fields[] = { "repo", "point", "vm", "name",
		"pool", NULL };
	static const char *const extra[] = { "kernel", "initrd", NULL };
	const char *repo_arg = NULL, *point = NULL, *vm_arg = NULL;
	const char *name = NULL, *pool = NULL;
	json_t *files = json_array();
	struct bk_manifest m = { 0 };
	struct vm_desc d = { 0 };
	char repo[PATH_MAX];
	struct vm_row *row = NULL;
	int r;

	if ((r = json_check_fields(body, fields, "restore", err)) < 0 ||
	    (r = json_get_str(body, "repo", true, &repo_arg, err)) < 0 ||
	    (r = json_get_str(body, "point", true, &point, err)) < 0 ||
	    (r = json_get_str(body, "vm", false, &vm_arg, err)) < 0 ||
	    (r = json_get_str(body, "name", false, &name, err)) < 0 ||
	    (r = json_get_str(body, "pool", false, &pool, err)) < 0 ||
	    (r = point_open(repo_arg, source_uuid(h, vm_arg), point, repo, &m,
	    files, err)) < 0) {
		json_decref(files);
		return r;
	}
	r = restore_check_target(h, &m, name, ret_vm, err);
	if (r == 0 && *ret_vm) {
		_cleanup_free_ char *pdir = xasprintf("%s/%s/%s", repo,
		    m.vm_uuid, m.point);

		*ret_row = NULL;
		*ret_details = over_details(pdir, &m, *ret_vm, files);
		bk_manifest_clear(&m);
		return 0;
	}
	if (r == 0)
		r = vm_desc_parse(m.desc, VM_DESC_RECORD, extra, "the point's "
		    "vm description", &d, err);
	if (r == 0) {
		row = restore_row(&d, &m, name ? name : m.vm_name, pool, name);
		r = vm_spec_check(h, row, err);
	}
	vm_desc_done(&d);
	if (r == 0) {
		_cleanup_free_ char *pdir = xasprintf("%s/%s/%s", repo,
		    m.vm_uuid, m.point);

		*ret_details = restore_details(pdir, &m, row, files);
		*ret_row = row;
	} else {
		json_decref(files);
		store_vm_row_free(row);
	}
	bk_manifest_clear(&m);
	return r;
}

/* ---- both jobs: hashing the chain, then a helper per item ---- */

static char *
rs_run_file(const struct job *job, const char *what)
{
	return xasprintf("%s/job-%lld.%s", host_of(job)->cfg.run_dir,
	    (long long)job->row->id, what);
}

static void
rs_fail(struct job *job, int r, const char *why);

static void
rs_on_exit(struct child *ch, int status, void *data)
{
	struct job *job = data;
	_cleanup_free_ char *log = rs_run_file(job, "log");
	_cleanup_free_ char *last = NULL;

	(void)ch;
	job->child = child_free(job->child);
	if (status == 0) {
		json_object_set_new(job->details, "next", json_integer(
		    json_integer_value(json_object_get(job->details,
		    "next")) + 1));
		job_poke(job);
		return;
	}
	last = file_last_line(log);
	rs_fail(job, -EIO, last ? last : "a helper failed");
}

static int
rs_spawn(struct job *job, const char *const *argv)
{
	_cleanup_free_ char *log = rs_run_file(job, "log");

	(void)unlink(log);
	return job_spawn(job, argv, log, rs_on_exit);
}

/* sha256sum's lines against files' sha256s: the first that differs. */
static int
rs_hash_check(struct job *job, struct err *err)
{
	_cleanup_free_ char *out = rs_run_file(job, "sha256");
	_cleanup_free_ char *buf = NULL;
	const json_t *f;
	size_t i;

	if (file_read_all(out, 4 << 20, &buf, NULL) < 0)
		return err_set(err, -EIO, "cannot read sha256sum's answer");
	(void)unlink(out);
	json_array_foreach(json_object_get(job->details, "files"), i, f) {
		const char *path = bk_str(f, "path");
		_cleanup_free_ char *line = xasprintf("%s  %s\n",
		    bk_str(f, "sha256"), path);

		if (!strstr(buf, line))
			return err_set(err, -EBADMSG, "%s: its sha256 does not "
			    "match the point's manifest (the file changed or "
			    "is corrupt)", path);
	}
	return 0;
}

static void
rs_on_hashed(struct child *ch, int status, void *data)
{
	struct job *job = data;
	struct err err = { 0 };

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		rs_fail(job, -EIO, "cannot hash the point's files (one is "
		    "missing or unreadable)");
		return;
	}
	if (rs_hash_check(job, &err) < 0) {
		rs_fail(job, err.code, err.msg);
		return;
	}
	json_object_set_new(job->details, "next", json_integer(0));
	job_set_phase(job, RS_PH_COPY);
	job_poke(job);
}

static void
rs_hash(struct job *job)
{
	const json_t *files = json_object_get(job->details, "files"), *f;
	size_t n = json_array_size(files), i;
	const char **argv = xzalloc((n + 2) * sizeof(*argv));
	_cleanup_free_ char *out = rs_run_file(job, "sha256");
	int r;

	argv[0] = "sha256sum";
	json_array_foreach(files, i, f)
		argv[i + 1] = bk_str(f, "path");
	job_set_phase(job, RS_PH_HASH);
	(void)unlink(out);
	r = job_spawn(job, argv, out, rs_on_hashed);
	free(argv);
	if (r < 0)
		rs_fail(job, r, "cannot run sha256sum");
}

/* tern-blockcopy over item d: --check-map, with --to DST --all when a
 * restore writes it. */
static int
rs_blockcopy(struct job *job, const json_t *d)
{
	struct host *h = host_of(job);
	const char *dst = bk_str(d, "dst");
	const char *argv[16] = { h->cfg.blockcopy, "--from-image",
		bk_str(d, "src"), "--check-map", bk_str(d, "map") };
	size_t k = 5;

	if (dst) {
		argv[k++] = "--to";
		argv[k++] = dst;
		argv[k++] = "--all";
	}
	argv[k] = NULL;
	return rs_spawn(job, argv);
}

/* The items' helpers in turn: a restore makes each disk's image (stage
 * 0) then fills it (stage 1); a verify checks.  True when all are done. */
static bool
rs_items(struct job *job)
{
	json_t *disks = bk_disks(job);
	size_t next = (size_t)json_integer_value(json_object_get(job->details,
	    "next"));
	bool restore = job->ops == &job_vm_restore;
	size_t per = restore ? 2 : 1;
	const json_t *d = json_array_get(disks, next / per);
	char sz[32];
	int r;

	if (job->child)
		return false;
	if (!d)
		return true;
	job_set_progress(job, next, per * json_array_size(disks), "steps");
	if (restore && next % 2 == 0) {
		const char *argv[] = { host_of(job)->cfg.qemu_img, "create",
			"-q", "-f", "qcow2", bk_str(d, "dst"), sz, NULL };

		snprintf(sz, sizeof(sz), "%lld", (long long)
		    json_integer_value(json_object_get(d, "size")));
		r = rs_spawn(job, argv);
	} else {
		r = rs_blockcopy(job, d);
	}
	if (r < 0)
		rs_fail(job, r, "cannot run a helper");
	return false;
}

/* ---- vm.restore ---- */

static void
rs_fail(struct job *job, int r, const char *why)
{
	struct vm *vm = vm_of(job);
	const json_t *d;
	size_t i;

	if (job->child)
		(void)child_kill(job->child, SIGKILL);
	job->child = child_free(job->child);
	if (job->ops != &job_vm_restore) {
		job_finish(job, r, "%s", why);
		return;
	}
	json_array_foreach(bk_disks(job), i, d)
		(void)unlink(bk_str(d, "dst"));
	if (!vm) {
		job_finish(job, r, "not restored: %s", why);
		return;
	}
	if (!json_is_true(json_object_get(job->details, "over")))
		firmware_files_remove(vm->row);	/* a new VM's, if made */
	if (json_is_true(json_object_get(job->details, "over"))) {
		job_finish(job, r, "vm '%s' not restored: %s; its disks are "
		    "as they were", vm->row->name, why);
		return;
	}
	(void)store_vm_delete(vm->h->store, vm->row->uuid);
	job_finish(job, r, "vm '%s' not restored: %s; nothing was kept",
	    vm->row->name, why);
	vm_remove(vm);
}

/* The point's NVRAM and TPM state (hashed with its files) into the VM's
 * places (a VM restored new: next to its disk 0, firmware_plan named
 * them; a point without them: the template and an empty directory). */
static int
rs_fw(struct job *job, struct err *err)
{
	struct vm *vm = vm_of(job);
	bool over = json_is_true(json_object_get(job->details, "over"));
	const char *pdir = bk_str(job->details, "repo");	/* the point's */
	bool nv = json_is_true(json_object_get(job->details, "nvram"));
	int r;

	if (!over && vm->row->nvram && !nv && (r = firmware_files_make(
	    vm->h, vm->row, err)) < 0)
		return r;
	return bk_fw_restore(pdir, nv, json_is_true(json_object_get(
	    job->details, "tpm")), vm->row->nvram, vm->row->tpm_dir, err);
}

/* Over the original: each checked copy takes its disk's place (a rename;
 * run again after a restart, it renames what is left); the VM's reference
 * points no longer describe its disks. */
static void
rs_swap(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct err err = { 0 };
	const json_t *d;
	size_t i;

	job_set_phase(job, RS_PH_SWAP);
	json_array_foreach(bk_disks(job), i, d) {
		if (access(bk_str(d, "dst"), F_OK) == 0 &&
		    rename(bk_str(d, "dst"), bk_str(d, "path")) == -1) {
			_cleanup_free_ char *why = xasprintf("cannot put the "
			    "restored disk %s in place: %s", bk_str(d, "name"),
			    strerror(errno));

			job_finish(job, -errno, "%s", why);
			return;
		}
	}
	if (rs_fw(job, &err) < 0) {
		job_finish(job, err.code, "%s", err.msg);
		return;
	}
	track_lose(vm, NULL, NULL, "the disks were restored from a backup "
	    "point");
	job_set_phase(job, RS_PH_DONE);
	host_event(vm->h, "info", vm, job->row->id, "vm restored over itself "
	    "from backup point %s in %s", bk_str(job->details, "point"),
	    bk_str(job->details, "repo"));
	job_finish(job, 0, NULL);
}

static void
restore_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct err err = { 0 };

	if (!vm) {
		rs_fail(job, -ENOENT, "the VM no longer exists");
		return;
	}
	if (job->recovering) {
		job->recovering = false;
		if (job_phase_is(job, RS_PH_SWAP)) {
			rs_swap(job);	/* every copy checked: finish */
			return;
		}
		if (vm->state != VM_CREATING && !json_is_true(json_object_get(
		    job->details, "over")))
			job_finish(job, 0, NULL);
		else
			rs_fail(job, -EIO, "ternd restarted during the "
			    "restore");
		return;
	}
	if (job_phase_is(job, RS_PH_START)) {
		rs_hash(job);
		return;
	}
	if (!job_phase_is(job, RS_PH_COPY) || !rs_items(job))
		return;
	if (json_is_true(json_object_get(job->details, "over"))) {
		rs_swap(job);
		return;
	}
	if (rs_fw(job, &err) < 0) {
		rs_fail(job, err.code, err.msg);
		return;
	}
	job_set_phase(job, RS_PH_DONE);
	vm_set_state(vm, VM_OFF, NULL);
	host_event(vm->h, "info", vm, job->row->id, "vm restored from "
	    "backup point %s in %s", bk_str(job->details, "point"),
	    bk_str(job->details, "repo"));
	job_finish(job, 0, NULL);
}

static int
rs_cancel(struct job *job, struct err *err)
{
	(void)err;
	rs_fail(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

const struct job_ops job_vm_restore = { .type = "vm.restore",
	.phases = rs_phase_names, .n_phases = RS_PH__COUNT,
	.step = restore_step, .cancel = rs_cancel };

/* ---- vm.backup-verify ---- */

static void
verify_step(struct job *job)
{
	if (job->recovering) {
		job_finish(job, -EIO, "ternd restarted during the check; run "
		    "it again");
		return;
	}
	if (job_phase_is(job, RS_PH_START)) {
		rs_hash(job);
		return;
	}
	if (!job_phase_is(job, RS_PH_COPY) || !rs_items(job))
		return;
	job_set_phase(job, RS_PH_DONE);
	job_finish(job, 0, NULL);
}

const struct job_ops job_backup_verify = { .type = "backup.verify",
	.phases = rs_phase_names, .n_phases = RS_PH__COUNT,
	.step = verify_step, .cancel = rs_cancel };

/* Every point of repo (of uuid when given; only point when given): its
 * own files, and an item per disk. */
static int
verify_items(const char *repo, const struct bk_manifest *pts, size_t n,
    const char *point, json_t *files, json_t *items, struct err *err)
{
	size_t found = 0;

	for (size_t i = 0; i < n; i++) {
		const struct bk_manifest *m = &pts[i];
		int r;

		if (point && !streq(m->point, point))
			continue;
		found++;
		if (point && (r = chain_files(repo, pts, n, m, files, err)) < 0)
			return r;
		for (size_t k = 0; k < m->n_disks; k++) {
			const struct bk_disk *d = &m->disks[k];
			_cleanup_free_ char *dir = xasprintf("%s/%s/%s", repo,
			    m->vm_uuid, m->point);

			if (!point) {
				add_file(files, xasprintf("%s/%s", dir,
				    d->image), d->image_sha256);
				add_file(files, xasprintf("%s/%s", dir, d->map),
				    d->map_sha256);
			}
			json_array_append_new(items, json_pack("{ss++ ss++}",
			    "src", dir, "/", d->image, "map", dir, "/",
			    d->map));
		}
	}
	if (point && !found)
		return err_set(err, -ENOENT, "no point %s in %s (see: tern "
		    "backup list %s)", point, repo, repo);
	return 0;
}

int
backup_verify_start(struct host *h, const json_t *body, struct job **ret_job,
    struct err *err)
{
	static const char *const fields[] = { "repo", "point", "vm", NULL };
	const char *repo_arg = NULL, *point = NULL, *vm_arg = NULL;
	json_t *files = json_array(), *items = json_array();
	struct bk_manifest *pts = NULL;
	char repo[PATH_MAX];
	size_t n = 0;
	int r;

	if ((r = json_check_fields(body, fields, "verify", err)) < 0 ||
	    (r = json_get_str(body, "repo", true, &repo_arg, err)) < 0 ||
	    (r = json_get_str(body, "point", false, &point, err)) < 0 ||
	    (r = json_get_str(body, "vm", false, &vm_arg, err)) < 0 ||
	    (r = bk_repo_open(repo_arg, false, err)) < 0)
		goto out;
	if (!realpath(repo_arg, repo)) {
		r = err_set(err, -errno, "repository %s: %s", repo_arg,
		    strerror(errno));
		goto out;
	}
	if ((r = bk_points_list(repo, source_uuid(h, vm_arg), &pts, &n, NULL,
	    NULL, err)) < 0 ||
	    (r = verify_items(repo, pts, n, point, files, items, err)) < 0)
		goto out;
	r = vm_job_create(h, &job_backup_verify, NULL, json_pack("{ss so so}",
	    "repo", repo, "files", files, "disks", items), ret_job, err);
	files = items = NULL;
	if (r == 0)
		job_start(*ret_job);
out:
	json_decref(files);
	json_decref(items);
	bk_points_free(pts, n);
	return r;
}
