/* export_check.c - everything an export or import request is checked
 * against before anything changes: the export directory, the files a
 * manifest names (inside the directory, sizes, qcow2 headers), names,
 * UUIDs, MACs, switches, memory, pools and room.  Builds the job details
 * (the list of files to copy and verify, see export.c).  Changes nothing
 * on disk or in the store; never logs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "net.h"
#include "util.h"
#include "vm.h"

/* As vm create requires of disk paths: QEMU's -blockdev JSON and option
 * syntax must not see these characters. */
static bool
path_is_plain(const char *p)
{
	return p[0] == '/' && !strpbrk(p, ",\"\\\n\r\t=:") &&
	    strlen(p) < 1024;
}

int
export_file_resolve(const char *dir, const char *name, char **ret_path,
    uint64_t *ret_size, struct err *err)
{
	char rdir[PATH_MAX], rfile[PATH_MAX];
	_cleanup_free_ char *joined = xasprintf("%s/%s", dir, name);
	size_t n;
	struct stat st;

	if (!realpath(dir, rdir))
		return err_setf_errno(err, -errno, "cannot resolve export "
		    "directory '%s'", dir);
	if (!realpath(joined, rfile))
		return err_set(err, -ENOENT, "file '%s' is missing from the "
		    "export directory '%s'", name, dir);
	n = strlen(rdir);
	if (strncmp(rfile, rdir, n) != 0 || rfile[n] != '/')
		return err_set(err, -EPERM, "file '%s' resolves to '%s', "
		    "outside the export directory '%s'; refusing it", name,
		    rfile, dir);
	if (stat(rfile, &st) == -1 || !S_ISREG(st.st_mode))
		return err_set(err, -EPERM, "file '%s' in '%s' is not a "
		    "regular file", name, dir);
	*ret_path = xstrdup(rfile);
	*ret_size = st.st_size;
	return 0;
}

static uint64_t
be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
qcow2_header_check(const char *path, uint64_t *ret_virtual_size,
    bool *ret_self_contained)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t h[104] = { 0 };
	uint32_t version;
	ssize_t n;

	if (fd == -1)
		return -errno;
	n = pread(fd, h, sizeof(h), 0);
	if (n < 72 || memcmp(h, "QFI\xfb", 4) != 0)
		return -EINVAL;
	version = (uint32_t)h[4] << 24 | h[5] << 16 | h[6] << 8 | h[7];
	if (version != 2 && version != 3)
		return -EINVAL;
	if (version == 3 && n < 104)
		return -EINVAL;
	/* backing_file_offset at 8; incompatible_features at 72, where
	 * bit 2 is "external data file". */
	*ret_self_contained = be64(h + 8) == 0 &&
	    (version == 2 || (be64(h + 72) & 4) == 0);
	*ret_virtual_size = be64(h + 24);
	return 0;
}

/* One entry of a job's file list (format in export.c). */
static json_t *
item_new(const char *role, const char *name, const char *file,
    const char *src, const char *dst, const char *kind, uint64_t work)
{
	return json_pack("{ss ss ss ss s:s? s:s? sI}", "role", role,
	    "name", name ? name : role, "file", file, "src", src, "dst", dst,
	    "kind", kind, "work", (json_int_t)work);
}

/* The directory an export writes: new (its parent exists) or empty. */
static int
export_dir_check(const char *dir, bool *ret_created, struct err *err)
{
	_cleanup_free_ char *parent = xstrdup(dir);
	struct stat st;
	struct dirent *de;
	DIR *d;
	bool empty = true;

	if (!path_is_plain(dir) || strlen(dir) > 512)
		return err_set(err, -EINVAL, "export directory '%.200s' must "
		    "be an absolute path free of , \" \\ = : and control "
		    "characters", dir);
	if (stat(dir, &st) == -1) {
		*strrchr(parent, '/') = '\0';
		if (stat(*parent ? parent : "/", &st) == -1 ||
		    !S_ISDIR(st.st_mode))
			return err_set(err, -ENOENT, "the parent directory of "
			    "'%s' does not exist", dir);
		*ret_created = true;
		return 0;
	}
	if (!S_ISDIR(st.st_mode) || !(d = opendir(dir)))
		return err_set(err, -EEXIST, "'%s' exists and is not a "
		    "directory; export into a new or empty directory", dir);
	while (empty && (de = readdir(d)))
		empty = streq(de->d_name, ".") || streq(de->d_name, "..");
	closedir(d);
	if (!empty)
		return err_set(err, -EEXIST, "export directory '%s' is not "
		    "empty; export into a new or empty directory", dir);
	*ret_created = false;
	return 0;
}

/* A source file the export copies: it must still be there. */
static int
export_src_size(const char *what, const char *path, uint64_t *ret,
    struct err *err)
{
	struct stat st;

	if (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(path, R_OK) == -1)
		return err_set(err, -ENOENT, "%s file '%s' of this vm is "
		    "missing or unreadable; cannot export", what, path);
	*ret = st.st_size;
	return 0;
}

static int
export_items(const struct vm_row *row, const char *dir, json_t *items,
    struct err *err)
{
	uint64_t size;
	int r;

	for (size_t i = 0; i < row->n_disks; i++) {
		const struct disk_row *k = &row->disks[i];
		_cleanup_free_ char *file = xasprintf("disks/%s.qcow2",
		    k->name);
		_cleanup_free_ char *dst = xasprintf("%s/%s", dir, file);

		if ((r = export_src_size("disk", k->path, &size, err)) < 0)
			return r;
		json_array_append_new(items, item_new("disk", k->name, file,
		    k->path, dst, "convert", k->size_bytes));
	}
	_cleanup_free_ char *permall = row->tpm_dir ? xasprintf(
	    "%s/tpm2-00.permall", row->tpm_dir) : NULL;
	const char *roles[] = { "kernel", "initrd", "state", "nvram", "tpm" };
	const char *files[] = { "boot/vmlinuz", "boot/initrd.img", "state",
		"nvram.fd", "tpm2-00.permall" };
	/* a TPM whose swtpm never ran has no state yet */
	const char *srcs[] = { row->kernel, row->initrd, row->state_file,
		row->nvram, permall && access(permall, F_OK) == 0 ? permall :
		NULL };
	for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
		_cleanup_free_ char *dst = xasprintf("%s/%s", dir, files[i]);

		if (!srcs[i])
			continue;
		if ((r = export_src_size(roles[i], srcs[i], &size, err)) < 0)
			return r;
		json_array_append_new(items, item_new(roles[i], NULL,
		    files[i], srcs[i], dst, "copy", size));
	}
	return 0;
}

/* The emptiness check cannot see an export that has not written yet. */
static int
export_dir_busy(struct host *h, const char *dir, struct err *err)
{
	for (size_t i = 0; i < h->jobs.n_jobs; i++) {
		const struct job *j = h->jobs.jobs[i];

		if (j->ops == &job_vm_export && streq(json_string_value(
		    json_object_get(j->details, "dir")), dir))
			return err_set(err, -EBUSY, "job %lld is exporting "
			    "into '%s' already", (long long)j->row->id, dir);
	}
	return 0;
}

int
export_prepare(struct host *h, struct vm *vm, const char *dir,
    json_t **ret_details, struct err *err)
{
	_cleanup_json_ json_t *items = json_array();
	bool created = false;
	int r;

	if ((r = export_dir_busy(h, dir, err)) < 0)
		return r;
	if (!vm_is_down(vm))
		return err_set(err, -EBUSY, "vm '%s' is %s; turn it off (or "
		    "save it) before exporting", vm->row->name,
		    vm_state_name(vm->state));
	if ((r = export_dir_check(dir, &created, err)) < 0 ||
	    (r = export_items(vm->row, dir, items, err)) < 0)
		return r;
	*ret_details = json_pack("{ss sb sO si ss}", "dir", dir,
	    "dir_created", created, "items", items, "next", 0,
	    "stage", "copy");
	return 0;
}

/* ---- import ---- */

/* The VM using a disk image, or NULL. */
static const char *
disk_user(struct host *h, const char *path)
{
	for (size_t i = 0; i < h->n_vms; i++)
		for (size_t j = 0; j < h->vms[i]->row->n_disks; j++)
			if (streq(h->vms[i]->row->disks[j].path, path))
				return h->vms[i]->row->name;
	return NULL;
}

static const char *
mac_user(struct host *h, const char *mac)
{
	for (size_t i = 0; i < h->n_vms; i++)
		for (size_t j = 0; j < h->vms[i]->row->n_nics; j++)
			if (streq(h->vms[i]->row->nics[j].mac, mac))
				return h->vms[i]->row->name;
	return NULL;
}

static int
import_read_manifest(const char *dir, struct export_manifest **ret_m,
    struct err *err)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	struct err e = { 0 };
	struct stat st;
	uint64_t size;
	size_t len;
	int r;

	if (dir[0] != '/')
		return err_set(err, -EINVAL, "export directory '%.200s' must "
		    "be an absolute path", dir);
	if (stat(dir, &st) == -1)
		return err_set(err, -ENOENT, "export directory '%s' does not "
		    "exist", dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, -EINVAL, "'%s' is not a directory", dir);
	r = export_file_resolve(dir, EXPORT_MANIFEST, &path, &size, &e);
	if (r == -ENOENT)
		return err_set(err, r, "'%s' has no %s: it is not a tern "
		    "export, or an export that did not finish", dir,
		    EXPORT_MANIFEST);
	if (r < 0)
		return err_set(err, r, "%s", e.msg);
	r = file_read_all(path, EXPORT_MAX_MANIFEST, &buf, &len);
	if (r == -EFBIG)
		return err_set(err, -EINVAL, "%s: it is over %d bytes",
		    EXPORT_MANIFEST, EXPORT_MAX_MANIFEST);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read '%s'", path);
	return export_manifest_parse(buf, len, ret_m, err);
}

/* Name, UUID, MACs, switches and memory against this host. */
static int
import_check_identity(struct host *h, const struct import_opts *o,
    const struct export_manifest *m, const char *name, struct err *err)
{
	char what[80];
	struct vm *other;
	const char *user;
	int r;

	if (!name_is_valid(name))
		return err_set(err, -EINVAL, "invalid vm name '%.64s': use "
		    "1-63 letters, digits, '.', '_' or '-'", name);
	if (vm_find(h, name))
		return err_set(err, -EEXIST, "a vm named '%s' already exists; "
		    "import under another name with --name NEW", name);
	other = o->new_id ? NULL : vm_find(h, m->desc.uuid);
	if (other)
		return err_set(err, -EEXIST, "vm '%s' already has uuid %s (was "
		    "this export imported already?); import a copy with "
		    "--new-id", other->row->name, m->desc.uuid);
	if ((r = host_check_machine(h, m->desc.machine, "the exported vm",
	    err)) < 0)
		return r;
	for (size_t i = 0; i < m->desc.n_nics; i++) {
		user = o->new_id ? NULL : mac_user(h, m->desc.nics[i].mac);
		if (user)
			return err_set(err, -EEXIST, "MAC %s of nics[%zu] is "
			    "used by vm '%s'; import a copy with --new-id",
			    m->desc.nics[i].mac, i, user);
		if (!host_switch_exists(h, m->desc.nics[i].switch_name))
			return err_set(err, -ENOENT, "switch '%s' not found "
			    "(see 'tern switch list'); create it first",
			    m->desc.nics[i].switch_name);
		if ((r = host_switch_carries(h, &m->desc.nics[i], i, err)) < 0)
			return r;
	}
	snprintf(what, sizeof(what), "vm '%s'", name);
	return host_mem_admit(h, m->desc.memory_mib, HOST_MEM_INSTALLED, what,
	    err);
}

static struct vm_row *
import_row_new(const struct import_opts *o, struct export_manifest *m,
    const char *name)
{
	struct vm_row *row = xzalloc(sizeof(*row));
	char *row_name = xstrdup(name);	/* name may be m->desc.name */

	vm_desc_to_row(&m->desc, row);	/* m's description moves over */
	free(row->name);
	row->name = row_name;
	if (o->new_id)
		uuid_generate_text(row->uuid);
	for (size_t i = 0; o->new_id && i < row->n_nics; i++)
		net_mac_generate(row->nics[i].mac);
	row->state = xstrdup("creating");
	row->created_ms = wall_ms();
	row->services = m->services ? xstrdup(m->services) : NULL;
	row->kvp = m->kvp ? xstrdup(m->kvp) : NULL;
	row->disks = xzalloc((m->n_disks + 1) * sizeof(*row->disks));
	for (size_t i = 0; i < m->n_disks; i++, row->n_disks++) {
		memcpy(row->disks[i].name, m->disks[i].name, 8);
		row->disks[i].size_bytes = m->disks[i].virtual_size;
		row->disks[i].owned = !o->register_mode;
	}
	return row;
}

/* Where an import puts its copies, and what the rows say about them. */
struct import_ctx {
	struct host *h;
	const struct import_opts *o;
	struct vm_row *row;
	char *pool, *pool_dir;	/* copy mode: the target pool */
	uint64_t bytes;		/* copy mode: what lands in the pool */
	json_t *items;
};

/* A disk file's qcow2 header must match the manifest and point nowhere
 * else (a backing or data file would let the guest read a host file). */
static int
import_check_qcow2(const struct export_disk *d, const char *path,
    struct err *err)
{
	uint64_t vsize = 0;
	bool self = false;

	if (qcow2_header_check(path, &vsize, &self) < 0)
		return err_set(err, -EINVAL, "disk %s file '%s' is not a qcow2 "
		    "image", d->name, d->f.file);
	if (vsize != d->virtual_size)
		return err_set(err, -EINVAL, "disk %s: the image's virtual "
		    "size is %llu bytes, vm.json says %llu: the export is "
		    "tampered or corrupt", d->name, (unsigned long long)vsize,
		    (unsigned long long)d->virtual_size);
	if (!self)
		return err_set(err, -EPERM, "disk %s image '%s' refers to a "
		    "backing or data file outside itself; refusing it",
		    d->name, d->f.file);
	return 0;
}

/* Where file f of role goes: in place (register) or its copy's path. */
static int
import_dst(struct import_ctx *c, const char *role, const char *name,
    const char *src, char **ret_dst, char **ret_pool, struct err *err)
{
	const char *user;

	if (c->o->register_mode) {
		*ret_pool = host_pool_of_path(c->h, src);
		if (!*ret_pool || !path_is_plain(src))
			return err_set(err, -EPERM, "file '%s' is outside the "
			    "storage pools (or its path has , \" \\ = or :); "
			    "move the export directory into a pool (see "
			    "'tern pool list') or import with --copy", src);
		*ret_dst = xstrdup(src);
	} else if (streq(role, "kernel") || streq(role, "initrd")) {
		*ret_dst = xasprintf("%s/vms/%s/%s", c->h->cfg.state_dir,
		    c->row->uuid, streq(role, "kernel") ? "vmlinuz" :
		    "initrd.img");
		*ret_pool = NULL;
		return 0;
	} else {
		*ret_dst = streq(role, "state") ? xasprintf("%s/%s.state",
		    c->pool_dir, c->row->name) : streq(role, "nvram") ?
		    xasprintf("%s/%s-nvram.fd", c->pool_dir, c->row->name) :
		    streq(role, "tpm") ? xasprintf("%s/%s-tpm/tpm2-00.permall",
		    c->pool_dir, c->row->name) : xasprintf("%s/%s-%s.qcow2",
		    c->pool_dir, c->row->name, name);
		*ret_pool = xstrdup(c->pool);
		if (access(*ret_dst, F_OK) == 0)
			return err_set(err, -EEXIST, "file '%s' already "
			    "exists; remove it or import with --name NEW",
			    *ret_dst);
	}
	user = disk_user(c->h, *ret_dst);
	if (user)
		return err_set(err, -EEXIST, "'%s' is already used by vm '%s'",
		    *ret_dst, user);
	return 0;
}

/* Check one file of the export and add it to the job's list; *ret_path
 * is where the VM will find it. */
static int
import_file(struct import_ctx *c, const char *role, const char *name,
    const struct export_file *f, const struct export_disk *d,
    char **ret_path, char **ret_pool, struct err *err)
{
	_cleanup_free_ char *src = NULL, *dst = NULL, *pool = NULL;
	bool copy = !c->o->register_mode;
	uint64_t size = 0;
	json_t *item;
	int r;

	if ((r = export_file_resolve(c->o->dir, f->file, &src, &size,
	    err)) < 0)
		return r;
	if (size != f->size)
		return err_set(err, -EINVAL, "file '%s' is %llu bytes, vm.json "
		    "says %llu: the export is truncated or corrupt", f->file,
		    (unsigned long long)size, (unsigned long long)f->size);
	if (d && (r = import_check_qcow2(d, src, err)) < 0)
		return r;
	if ((r = import_dst(c, role, name, src, &dst, &pool, err)) < 0)
		return r;
	item = item_new(role, name, f->file, src, copy ? dst : NULL,
	    copy ? "copy" : NULL, copy ? size : 0);
	json_object_set_new(item, "hash_work", json_integer(size));
	json_object_set_new(item, "size", json_integer(size));
	json_object_set_new(item, "sha256", json_string(f->sha256));
	json_array_append_new(c->items, item);
	if (copy && pool)
		c->bytes += size;
	*ret_path = TAKE_PTR(dst);
	*ret_pool = TAKE_PTR(pool);
	return 0;
}

/* A UEFI VM's NVRAM file and its TPM state, next to disk 0 like the
 * disks (copied: NAME-nvram.fd, NAME-tpm/tpm2-00.permall in the pool;
 * registered: where they are); a TPM without exported state gets an
 * empty directory (swtpm makes a new TPM there). */
static int
import_fw_files(struct import_ctx *c, const struct export_manifest *m,
    struct err *err)
{
	struct vm_row *row = c->row;
	_cleanup_free_ char *p4 = NULL, *p5 = NULL, *permall = NULL;
	char *slash;
	int r = 0;

	if (row->firmware && !m->has_nvram)
		return err_set(err, -EINVAL, "the export of UEFI vm '%s' has "
		    "no NVRAM file (nvram in vm.json)", row->name);
	if (m->has_nvram && (r = import_file(c, "nvram", NULL, &m->nvram,
	    NULL, &row->nvram, &p4, err)) < 0)
		return r;
	if (m->has_tpm) {
		if ((r = import_file(c, "tpm", NULL, &m->tpm, NULL, &permall,
		    &p5, err)) < 0)
			return r;
		if ((slash = strrchr(permall, '/')))
			*slash = '\0';
		row->tpm_dir = TAKE_PTR(permall);
	} else if (row->tpm) {
		row->tpm_dir = c->pool_dir ? xasprintf("%s/%s-tpm",
		    c->pool_dir, row->name) : xasprintf("%s/%s-tpm",
		    c->o->dir, row->name);
	}
	return 0;
}

static int
import_pool(struct import_ctx *c, struct err *err)
{
	struct obj_row *rows;
	size_t n;

	if (c->o->register_mode)
		return 0;
	if (c->o->pool) {
		c->pool = xstrdup(c->o->pool);
	} else if (store_obj_list(c->h->store, STORE_POOL, &rows, &n) == 0) {
		c->pool = n ? xstrdup(rows[0].name) : NULL;
		obj_rows_free(rows, n);
	}
	if (!c->pool)
		return err_set(err, -ENOENT, "no storage pool to import into: "
		    "create one with 'tern pool create'");
	c->pool_dir = host_pool_path(c->h, c->pool);
	if (!c->pool_dir)
		return err_set(err, -ENOENT, "pool '%.64s' not found (see "
		    "'tern pool list')", c->pool);
	return 0;
}

static int
import_files(struct import_ctx *c, const struct export_manifest *m,
    struct err *err)
{
	struct vm_row *row = c->row;
	_cleanup_free_ char *p1 = NULL, *p2 = NULL, *p3 = NULL;
	uint64_t free_bytes;
	int r = import_pool(c, err);

	for (size_t i = 0; r == 0 && i < m->n_disks; i++)
		r = import_file(c, "disk", m->disks[i].name, &m->disks[i].f,
		    &m->disks[i], &row->disks[i].path, &row->disks[i].pool,
		    err);
	if (r == 0 && m->has_kernel)
		r = import_file(c, "kernel", NULL, &m->kernel, NULL,
		    &row->kernel, &p1, err);
	if (r == 0 && m->has_initrd)
		r = import_file(c, "initrd", NULL, &m->initrd, NULL,
		    &row->initrd, &p2, err);
	if (r == 0 && m->has_state)
		r = import_file(c, "state", NULL, &m->state, NULL,
		    &row->state_file, &p3, err);
	if (r == 0)
		r = import_fw_files(c, m, err);
	if (r < 0 || !c->pool_dir)
		return r;
	if (fs_free_bytes(c->pool_dir, &free_bytes) == 0 &&
	    free_bytes < c->bytes + (1 << 20))
		return err_set(err, -ENOSPC, "pool '%s' has %llu bytes free; "
		    "the import needs %llu", c->pool,
		    (unsigned long long)free_bytes,
		    (unsigned long long)c->bytes);
	return 0;
}

int
import_prepare(struct host *h, const struct import_opts *o,
    struct vm_row **ret_row, json_t **ret_details, struct err *err)
{
	struct export_manifest *m = NULL;
	struct import_ctx c = { .h = h, .o = o, .items = json_array() };
	const char *name;
	int r;

	r = import_read_manifest(o->dir, &m, err);
	name = r == 0 && !o->name ? m->desc.name : o->name;
	if (r == 0)
		r = import_check_identity(h, o, m, name, err);
	if (r == 0) {
		c.row = import_row_new(o, m, name);
		r = import_files(&c, m, err);
	}
	if (r == 0) {
		*ret_details = json_pack("{ss ss sO si ss}", "dir", o->dir,
		    "mode", o->register_mode ? "register" : "copy",
		    "items", c.items, "next", 0, "stage", "copy");
		*ret_row = TAKE_PTR(c.row);
	}
	store_vm_row_free(c.row);
	json_decref(c.items);
	free(c.pool);
	free(c.pool_dir);
	export_manifest_free(m);
	return r;
}
