/* plan.c - a storage move request turned into a plan: which disk goes to
 * which file, checked against this host before the job starts.  First a
 * pure parse of the body (no host state), then the checks that need the
 * host: the VM's state, pools and directories, the target files, and the
 * free space of each target file system.  Never changes anything and
 * never logs: a refused request leaves no trace. */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "storage.h"
#include "util.h"
#include "vm.h"
#include "vm_spec.h"

/* The same rule as vm create's paths: the file name ends up in QEMU's
 * -blockdev JSON, which tern formats without escaping. */
static bool
path_plain(const char *p)
{
	return p[0] == '/' && !strpbrk(p, ",\"\\\n\r\t=:") && strlen(p) < 1024;
}

static int
target_check(const char *s, const char *what, struct err *err)
{
	if (name_is_valid(s) || path_plain(s))
		return 0;
	return err_set(err, -EINVAL, "target '%.200s' (%s) must be a pool "
	    "name or an absolute directory (free of , \" \\ = : and control "
	    "characters)", s, what);
}

static void
disk_names(const char *const *disks, size_t n, char *buf, size_t len)
{
	size_t k = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && k < len; i++)
		k += snprintf(buf + k, len - k, "%s%s", i ? ", " : "",
		    disks[i]);
}

static int
parse_map(json_t *map, const char *const *disks, size_t n,
    const char **ret_to, struct err *err)
{
	const char *key;
	json_t *v;
	char names[128];
	int r;

	if (!json_is_object(map) || json_object_size(map) == 0)
		return err_set(err, -EINVAL, "disks must be an object of disk "
		    "name to pool or directory, like {\"vda\": \"fast\"}");
	json_object_foreach(map, key, v) {
		char what[40];
		size_t i;

		for (i = 0; i < n && !streq(disks[i], key); i++)
			;
		if (i == n) {
			disk_names(disks, n, names, sizeof(names));
			return err_set(err, -EINVAL, "the vm has no disk "
			    "'%.16s' (it has %s)", key, n ? names : "none");
		}
		if (!json_is_string(v))
			return err_set(err, -EINVAL, "disks.%s must be a pool "
			    "name or a directory", key);
		snprintf(what, sizeof(what), "disks.%.16s", key);
		if ((r = target_check(json_string_value(v), what, err)) < 0)
			return r;
		ret_to[i] = json_string_value(v);
	}
	return 0;
}

int
storage_plan_parse(const json_t *body, const char *const *disks, size_t n,
    const char **ret_to, bool *ret_explicit, struct err *err)
{
	static const char *const fields[] = { "to", "disks", NULL };
	const char *to = NULL;
	json_t *map;
	int r;

	if (!json_is_object(body))
		return err_set(err, -EINVAL, "the body must be a JSON object");
	if ((r = json_check_fields(body, fields, "vm move-storage", err)) < 0 ||
	    (r = json_get_str(body, "to", false, &to, err)) < 0)
		return r;
	map = json_object_get(body, "disks");
	if (!to == !map)
		return err_set(err, -EINVAL, "give either to (every disk) or "
		    "disks (a target per disk), not %s", to ? "both" :
		    "neither");
	for (size_t i = 0; i < n; i++)
		ret_to[i] = to;
	if (to && (r = target_check(to, "to", err)) < 0)
		return r;
	if (map && (r = parse_map(map, disks, n, ret_to, err)) < 0)
		return r;
	*ret_explicit = map != NULL;
	return 0;
}

/* ---- checks against the host ---- */

/* What the targets of one file system need. */
struct space {
	dev_t dev;
	char *dir;		/* a target directory on it */
	uint64_t need;		/* bytes */
};

struct plan {
	struct space sp[VM_MAX_DISKS + 1];
	size_t n_sp;
	char *dir0;		/* where disk 0 goes (the saved state too) */
};

static void
plan_done(struct plan *p)
{
	for (size_t i = 0; i < p->n_sp; i++)
		free(p->sp[i].dir);
	free(p->dir0);
}

static int
space_add(struct plan *p, const char *dir, uint64_t bytes)
{
	struct stat st;
	size_t i;

	if (stat(dir, &st) == -1)
		return -errno;
	for (i = 0; i < p->n_sp && p->sp[i].dev != st.st_dev; i++)
		;
	if (i == p->n_sp) {
		if (i == ARRAY_SIZE(p->sp))
			return -E2BIG;
		p->sp[i].dev = st.st_dev;
		p->sp[i].dir = xstrdup(dir);
		p->n_sp++;
	}
	p->sp[i].need += bytes;
	return 0;
}

static int
space_check(const struct plan *p, struct err *err)
{
	for (size_t i = 0; i < p->n_sp; i++) {
		uint64_t free_bytes;

		if (fs_free_bytes(p->sp[i].dir, &free_bytes) < 0)
			continue;
		if (free_bytes < p->sp[i].need)
			return err_set(err, -ENOSPC, "not enough space for the "
			    "move in '%s': it needs %llu MiB (the files' "
			    "allocated size), %llu MiB are free", p->sp[i].dir,
			    (unsigned long long)(p->sp[i].need + (1 << 20) - 1)
			    >> 20, (unsigned long long)free_bytes >> 20);
	}
	return 0;
}

/* The directory (resolved) and pool of a target. */
static int
target_resolve(struct host *h, const char *to, char **ret_dir,
    char **ret_pool, struct err *err)
{
	char real[PATH_MAX];
	struct stat st;
	_cleanup_free_ char *path = NULL, *probe = NULL;

	if (to[0] != '/') {
		path = host_pool_path(h, to);
		if (!path)
			return err_set(err, -ENOENT, "pool '%.64s' not found "
			    "(see 'tern pool list')", to);
		if (!realpath(path, real))
			return err_set(err, -ENOENT, "the directory '%s' of "
			    "pool '%s' is missing", path, to);
		*ret_dir = TAKE_PTR(path);
		*ret_pool = xstrdup(to);
		return 0;
	}
	if (!realpath(to, real) || stat(real, &st) == -1 ||
	    !S_ISDIR(st.st_mode))
		return err_set(err, -ENOENT, "directory '%.200s' does not "
		    "exist", to);
	probe = xasprintf("%s/x", real);
	*ret_pool = host_pool_of_path(h, probe);
	if (!*ret_pool)
		return err_set(err, -EPERM, "directory '%.200s' is outside "
		    "every storage pool; a disk moves into a pool (see 'tern "
		    "pool list')", to);
	*ret_dir = xstrdup(real);
	return 0;
}

/* The file's directory is dir (both resolved). */
static bool
same_dir(const char *file, const char *dir)
{
	_cleanup_free_ char *copy = xstrdup(file);
	char a[PATH_MAX], b[PATH_MAX];

	return realpath(dirname(copy), a) && realpath(dir, b) && streq(a, b);
}

static bool
path_in_use(struct host *h, const char *path)
{
	for (size_t i = 0; i < h->n_vms; i++)
		for (size_t j = 0; j < h->vms[i]->row->n_disks; j++)
			if (streq(h->vms[i]->row->disks[j].path, path))
				return true;
	return false;
}

/* path and path.partial are free. */
static int
target_free(struct host *h, const char *path, struct err *err)
{
	_cleanup_free_ char *partial = xasprintf("%s.partial", path);

	if (!path_plain(path))
		return err_set(err, -EINVAL, "target file '%.200s' has "
		    "characters QEMU's options cannot carry", path);
	if (access(path, F_OK) == 0 || access(partial, F_OK) == 0 ||
	    path_in_use(h, path))
		return err_set(err, -EEXIST, "file '%s' already exists; "
		    "remove it or choose another target", path);
	return 0;
}

static int
plan_disk(struct host *h, const struct vm *vm, size_t i, const char *to,
    bool explicit_disks, struct plan *p, json_t *out, struct err *err)
{
	const struct disk_row *d = &vm->row->disks[i];
	_cleanup_free_ char *dir = NULL, *pool = NULL, *dst = NULL;
	struct stat st;
	uint64_t alloc;
	int r;

	if ((r = target_resolve(h, to, &dir, &pool, err)) < 0)
		return r;
	if (same_dir(d->path, dir)) {
		if (!explicit_disks)
			return 0;	/* --to: the disks already there stay */
		return err_set(err, -EINVAL, "disk %s of vm '%s' is already in "
		    "'%.200s'; nothing to move", d->name, vm->row->name, to);
	}
	dst = xasprintf("%s/%s-%s.qcow2", dir, vm->row->name, d->name);
	if ((r = target_free(h, dst, err)) < 0)
		return r;
	if (stat(d->path, &st) == -1)
		return err_set(err, -ENOENT, "disk file '%s' of vm '%s' is "
		    "missing", d->path, vm->row->name);
	alloc = (uint64_t)st.st_blocks * 512;
	if ((r = space_add(p, dir, alloc)) < 0)
		return err_setf_errno(err, r, "cannot check '%s'", dir);
	if (i == 0)
		p->dir0 = xstrdup(dir);
	json_array_append_new(out, json_pack("{ss si ss so ss ss sI sI}",
	    "name", d->name, "idx", (int)i, "src", d->path, "src_pool",
	    d->pool ? json_string(d->pool) : json_null(), "dst", dst,
	    "dst_pool", pool, "size", (json_int_t)d->size_bytes, "alloc",
	    (json_int_t)alloc));
	return 0;
}

/* A saved VM's state file follows disk 0 (it lives next to it). */
static int
plan_state(struct host *h, const struct vm *vm, struct plan *p,
    json_t **ret_state, struct err *err)
{
	_cleanup_free_ char *dst = NULL;
	struct stat st;
	int r;

	*ret_state = NULL;
	if (!vm->row->state_file || !p->dir0)
		return 0;
	dst = xasprintf("%s/%s.state", p->dir0, vm->row->name);
	if ((r = target_free(h, dst, err)) < 0)
		return r;
	if (stat(vm->row->state_file, &st) == -1)
		return err_set(err, -ENOENT, "saved state file '%s' of vm '%s' "
		    "is missing", vm->row->state_file, vm->row->name);
	if ((r = space_add(p, p->dir0, (uint64_t)st.st_blocks * 512)) < 0)
		return err_setf_errno(err, r, "cannot check '%s'", p->dir0);
	*ret_state = json_pack("{ss ss sI}", "src", vm->row->state_file,
	    "dst", dst, "size", (json_int_t)st.st_size);
	return 0;
}

/* A running VM's NVRAM file moves as a mirror of its pflash node, like a
 * disk (mirror.c): an entry of the disks array marked nvram, in disk 0's
 * pools. */
static void
plan_nvram_live(const struct vm *vm, json_t *details, const char *dst,
    const struct stat *st)
{
	json_t *disks = json_object_get(details, "disks");
	json_t *d0 = json_array_get(disks, 0);	/* disk 0: planned first */

	json_array_append_new(disks, json_pack("{ss si sb ss sO ss sO sI sI}",
	    "name", "nvram", "idx", -1, "nvram", true, "src", vm->row->nvram,
	    "src_pool", json_object_get(d0, "src_pool"), "dst", dst,
	    "dst_pool", json_object_get(d0, "dst_pool"), "size",
	    (json_int_t)st->st_size, "alloc", (json_int_t)st->st_blocks * 512));
}

/* A UEFI VM's NVRAM file and a TPM's state directory follow disk 0 too
 * (named after the VM next to it).  Off: copied with it (copy.c).
 * Running: the NVRAM file mirrored like a disk, the TPM's few files
 * copied while the vCPUs are stopped at the switch (mirror.c). */
static int
plan_fw(struct host *h, const struct vm *vm, const char *mode,
    struct plan *p, json_t *details, struct err *err)
{
	const char *const src[2] = { vm->row->nvram, vm->row->tpm_dir };
	const char *const key[2] = { "nvram", "tpm" };
	const char *const suffix[2] = { "nvram.fd", "tpm" };

	if (!p->dir0 || (!src[0] && !src[1]))
		return 0;
	for (int i = 0; i < 2; i++) {
		_cleanup_free_ char *dst = NULL;
		struct stat st;
		int r;

		if (!src[i])
			continue;
		dst = xasprintf("%s/%s-%s", p->dir0, vm->row->name, suffix[i]);
		if ((r = target_free(h, dst, err)) < 0)
			return r;
		if (stat(src[i], &st) == -1)
			return err_set(err, -ENOENT, "'%s' of vm '%s' is "
			    "missing", src[i], vm->row->name);
		/* a TPM's state is a few KiB: its directory's block counts */
		if ((r = space_add(p, p->dir0, (uint64_t)st.st_blocks * 512 +
		    (i ? 1 << 20 : 0))) < 0)
			return err_setf_errno(err, r, "cannot check '%s'",
			    p->dir0);
		if (i == 0 && streq(mode, "live"))
			plan_nvram_live(vm, details, dst, &st);
		else
			json_object_set_new(details, key[i], json_pack(
			    "{ss ss sI}", "src", src[i], "dst", dst, "size",
			    (json_int_t)(i ? 65536 : st.st_size)));
	}
	return 0;
}

/* live for a VM whose QEMU runs, copy for one that is down. */
static int
plan_mode(const struct vm *vm, const char **ret_mode, struct err *err)
{
	if (vm_job(vm))
		return err_set(err, -EBUSY, "vm '%s' is busy with job %lld "
		    "(%s); wait for it or cancel it", vm->row->name,
		    (long long)vm_job(vm)->row->id, vm_job(vm)->ops->type);
	if (vm->row->n_disks == 0)
		return err_set(err, -EINVAL, "vm '%s' has no disks",
		    vm->row->name);
	if ((vm->state == VM_RUNNING || vm->state == VM_PAUSED) &&
	    vm->pidfd >= 0)
		*ret_mode = "live";
	else if (vm_is_down(vm))
		*ret_mode = "copy";
	else
		return err_set(err, -EBUSY, "vm '%s' is %s; its storage moves "
		    "when it is running, paused, off or saved",
		    vm->row->name, vm_state_name(vm->state));
	return 0;
}

int
storage_plan_check(struct host *h, struct vm *vm, const char *const *to,
    bool explicit_disks, const char *label, json_t **ret_details,
    struct err *err)
{
	struct plan p = { 0 };
	json_t *disks = json_array(), *state = NULL;
	const char *mode = NULL;
	int r = plan_mode(vm, &mode, err);

	for (size_t i = 0; r == 0 && i < vm->row->n_disks; i++)
		if (to[i])
			r = plan_disk(h, vm, i, to[i], explicit_disks, &p,
			    disks, err);
	if (r == 0 && json_array_size(disks) == 0)
		r = err_set(err, -EINVAL, "every disk of vm '%s' is already in "
		    "'%.200s'; nothing to move", vm->row->name,
		    label ? label : "its target");
	if (r == 0)
		r = plan_state(h, vm, &p, &state, err);
	*ret_details = json_pack("{ss so so sb sb}", "mode", mode ? mode : "",
	    "target", label ? json_string(label) : json_null(), "disks",
	    disks, "storage_slot", false, "storage_wait", false);
	if (state)
		json_object_set_new(*ret_details, "state", state);
	if (r == 0)
		r = plan_fw(h, vm, mode, &p, *ret_details, err);
	if (r == 0)
		r = space_check(&p, err);
	plan_done(&p);
	if (r < 0) {
		json_decref(*ret_details);
		*ret_details = NULL;
	}
	return r;
}
