/* vm_spec.c - validation of VM creation requests.  Refuses before anything
 * is made: a request that fails here leaves no trace.  Never logs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desc.h"
#include "firmware.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "util.h"
#include "vm.h"
#include "vm_spec.h"

/* A create request is a VM description (desc.h) plus these. */
static const char *const create_extra[] = { "disks", "kernel", "initrd",
	"cdrom", "cloud_init", "ssh_key", "cloud_init_net", NULL };
static const char *const disk_fields[] = { "size_bytes", "pool", "path",
	NULL };

/* Characters that would break QEMU's option syntax or our JSON blockdev
 * arguments. */
static bool
path_is_plain(const char *p)
{
	return p[0] == '/' && !strpbrk(p, ",\"\\\n\r\t=:") &&
	    strlen(p) < 1024;
}

static int
parse_disk(const json_t *d, size_t i, struct disk_row *k, struct err *err)
{
	const char *pool = NULL, *path = NULL;
	int64_t size = 0;
	int r;

	if (!json_is_object(d))
		return err_set(err, -EINVAL, "disks[%zu] must be an object", i);
	if ((r = json_check_fields(d, disk_fields, "disk", err)) < 0 ||
	    (r = json_get_str(d, "pool", false, &pool, err)) < 0 ||
	    (r = json_get_str(d, "path", false, &path, err)) < 0 ||
	    (r = json_get_int(d, "size_bytes", false, 1, VM_DISK_SIZE_MAX, &size,
	    err)) < 0)
		return r;
	if (!path == !size)
		return err_set(err, -EINVAL, "disks[%zu] needs either "
		    "size_bytes (a new disk) or path (an existing image)", i);
	if (path && !path_is_plain(path))
		return err_set(err, -EINVAL, "disks[%zu] path '%.200s' must "
		    "be absolute and free of , \" \\ = : and control "
		    "characters", i, path);
	if (path && pool)
		return err_set(err, -EINVAL, "disks[%zu] takes pool only with "
		    "size_bytes", i);
	snprintf(k->name, sizeof(k->name), "vd%c", (char)('a' + i));
	k->path = path ? xstrdup(path) : NULL;
	k->pool = pool ? xstrdup(pool) : NULL;
	k->size_bytes = size;
	k->owned = size != 0;
	return 0;
}

static int
parse_disks(const json_t *body, struct vm_row *row, struct err *err)
{
	const json_t *disks = json_object_get(body, "disks");
	int r = 0;

	if (disks && !json_is_array(disks))
		return err_set(err, -EINVAL, "disks must be an array");
	if (json_array_size(disks) > VM_MAX_DISKS)
		return err_set(err, -EINVAL, "at most %d disks", VM_MAX_DISKS);
	row->disks = xzalloc((json_array_size(disks) + 1) *
	    sizeof(*row->disks));
	for (size_t i = 0; r == 0 && i < json_array_size(disks); i++, row->n_disks++)
		r = parse_disk(json_array_get(disks, i), i, &row->disks[i], err);
	return r;
}

/* kernel and initrd: paths on this host (an export carries files, a move
 * paths it checks there, so these stay out of the description). */
static int
parse_boot(const json_t *body, struct vm_row *row, struct err *err)
{
	const char *kernel = NULL, *initrd = NULL;
	int r;

	if ((r = json_get_str(body, "kernel", false, &kernel, err)) < 0 ||
	    (r = json_get_str(body, "initrd", false, &initrd, err)) < 0)
		return r;
	if ((initrd || row->cmdline) && !kernel)
		return err_set(err, -EINVAL, "initrd and cmdline need a "
		    "kernel");
	if ((kernel && !path_is_plain(kernel)) ||
	    (initrd && !path_is_plain(initrd)))
		return err_set(err, -EINVAL, "kernel and initrd must be "
		    "absolute paths free of , \" \\ = : and control "
		    "characters");
	row->kernel = kernel ? xstrdup(kernel) : NULL;
	row->initrd = initrd ? xstrdup(initrd) : NULL;
	return 0;
}

/* cdrom: an ISO path or "none" (an empty drive); boot's devices must
 * exist. */
static int
parse_cdrom(const json_t *body, struct vm_row *row, struct err *err)
{
	const char *cd = NULL;
	int r;

	if ((r = json_get_str(body, "cdrom", false, &cd, err)) < 0)
		return r;
	if (cd && !streq(cd, "none") && !path_is_plain(cd))
		return err_set(err, -EINVAL, "cdrom must be \"none\" or an "
		    "absolute path free of , \" \\ = : and control "
		    "characters");
	if (cd) {
		row->has_cdrom = true;
		row->cdrom = streq(cd, "none") ? NULL : xstrdup(cd);
	}
	if (vm_boot_has(row->boot, "kernel") && !row->kernel)
		return err_set(err, -EINVAL, "boot from kernel needs --kernel");
	if (vm_boot_has(row->boot, "cdrom") && !row->has_cdrom)
		return err_set(err, -EINVAL, "boot from cdrom needs a CD drive: "
		    "add --cdrom ISO (or --cdrom none)");
	if (vm_boot_has(row->boot, "network") && row->n_nics == 0)
		return err_set(err, -EINVAL, "boot from network needs a NIC: "
		    "add --net SWITCH");
	return 0;
}

int
vm_spec_parse(const json_t *body, struct vm_row **ret_row, struct err *err)
{
	struct vm_row *row = xzalloc(sizeof(*row));
	struct vm_desc d = { 0 };
	int r;

	if ((r = vm_desc_parse(body, VM_DESC_REQUEST, create_extra,
	    "vm create request", &d, err)) < 0)
		goto fail;
	vm_desc_to_row(&d, row);
	row->state = xstrdup("creating");
	row->created_ms = wall_ms();
	uuid_generate_text(row->uuid);
	if ((r = parse_boot(body, row, err)) < 0 ||
	    (r = parse_disks(body, row, err)) < 0 ||
	    (r = parse_cdrom(body, row, err)) < 0)
		goto fail;
	*ret_row = row;
	return 0;
fail:
	vm_desc_done(&d);
	store_vm_row_free(row);
	return r;
}

int
qcow2_virtual_size(const char *path, uint64_t *ret_bytes)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint8_t hdr[32];
	uint64_t size = 0;

	if (fd == -1)
		return -errno;
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    memcmp(hdr, "QFI\xfb", 4) != 0)
		return -EINVAL;
	for (int i = 24; i < 32; i++)
		size = size << 8 | hdr[i];
	*ret_bytes = size;
	return 0;
}

static bool
disk_path_in_use(struct host *h, const char *path)
{
	for (size_t i = 0; i < h->n_vms; i++)
		for (size_t j = 0; j < h->vms[i]->row->n_disks; j++)
			if (streq(h->vms[i]->row->disks[j].path, path))
				return true;
	return false;
}

static int
check_new_disk(struct host *h, struct vm_row *row, struct disk_row *k,
    struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	uint64_t free_bytes;

	if (!k->pool) {
		struct obj_row *rows;
		size_t n;

		if (store_obj_list(h->store, STORE_POOL, &rows, &n) < 0 || !n) {
			if (n)
				obj_rows_free(rows, n);
			return err_set(err, -ENOENT, "no storage pool for "
			    "disk %s: create one with 'tern pool create'",
			    k->name);
		}
		k->pool = xstrdup(rows[0].name);
		obj_rows_free(rows, n);
	}
	dir = host_pool_path(h, k->pool);
	if (!dir)
		return err_set(err, -ENOENT, "pool '%.64s' not found "
		    "(see 'tern pool list')", k->pool);
	k->path = xasprintf("%s/%s-%s.qcow2", dir, row->name, k->name);
	if (access(k->path, F_OK) == 0 || disk_path_in_use(h, k->path))
		return err_set(err, -EEXIST, "file '%s' already exists; "
		    "remove it or choose another VM name", k->path);
	if (fs_free_bytes(dir, &free_bytes) == 0 && free_bytes < (1 << 20))
		return err_set(err, -ENOSPC, "pool '%s' is full", k->pool);
	return 0;
}

static int
check_path_disk(struct host *h, struct disk_row *k, struct err *err)
{
	struct stat st;
	int r;

	if (stat(k->path, &st) == -1 || !S_ISREG(st.st_mode))
		return err_set(err, -ENOENT, "disk image '%s' does not exist "
		    "or is not a regular file", k->path);
	k->pool = host_pool_of_path(h, k->path);
	if (!k->pool)
		return err_set(err, -EPERM, "disk path '%s' is outside the "
		    "storage pools; move it into a pool (see 'tern pool "
		    "list')", k->path);
	if (disk_path_in_use(h, k->path))
		return err_set(err, -EEXIST, "disk image '%s' is already used "
		    "by another VM", k->path);
	r = qcow2_virtual_size(k->path, &k->size_bytes);
	if (r < 0)
		return err_set(err, -EINVAL, "disk image '%s' is not a qcow2 "
		    "image", k->path);
	return 0;
}

static int
check_file(const char *what, const char *path, struct err *err)
{
	struct stat st;

	if (path && (stat(path, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(path, R_OK) == -1))
		return err_set(err, -ENOENT, "%s file '%s' does not exist or "
		    "is not readable", what, path);
	return 0;
}

int
vm_spec_check_iso(struct host *h, const char *iso, struct err *err)
{
	_cleanup_free_ char *pool = NULL;
	struct stat st;
	bool ok;

	if (stat(iso, &st) == -1 || !S_ISREG(st.st_mode) ||
	    access(iso, R_OK) == -1)
		return err_set(err, -ENOENT, "ISO '%s' does not exist or is not "
		    "a readable file", iso);
	pool = host_pool_of_path(h, iso);
	ok = pool != NULL;
	for (size_t i = 0; !ok && i < h->cfg.n_iso_dirs; i++)
		ok = path_is_under(iso, h->cfg.iso_dirs[i]);
	if (!ok)
		return err_set(err, -EPERM, "ISO '%s' is outside the storage "
		    "pools and the iso-dir directories; move it into one "
		    "(see 'tern pool list', ternd.conf iso-dir)", iso);
	return 0;
}

int
vm_spec_check(struct host *h, struct vm_row *row, struct err *err)
{
	char what[80];
	int r;

	if (vm_find(h, row->name))
		return err_set(err, -EEXIST, "a vm named '%s' already exists",
		    row->name);
	if ((r = check_file("kernel", row->kernel, err)) < 0 ||
	    (r = check_file("initrd", row->initrd, err)) < 0)
		return r;
	if (!row->machine)
		row->machine = xstrdup(host_default_machine(h));
	else if ((r = host_check_machine(h, row->machine, "the vm", err)) < 0)
		return r;
	/* root ports are PCIe devices: q35 only */
	if (!strstr(row->machine, "q35"))
		row->hotplug_ports = 0;
	snprintf(what, sizeof(what), "vm '%s'", row->name);
	if ((r = host_mem_admit(h, row->memory_mib, HOST_MEM_INSTALLED, what,
	    err)) < 0)
		return r;
	for (size_t i = 0; i < row->n_nics; i++) {
		if (!host_switch_exists(h, row->nics[i].switch_name))
			return err_set(err, -ENOENT, "switch '%.64s' not found "
			    "(see 'tern switch list')",
			    row->nics[i].switch_name);
		if ((r = host_switch_carries(h, &row->nics[i], i, err)) < 0)
			return r;
	}
	for (size_t i = 0; i < row->n_disks; i++) {
		struct disk_row *k = &row->disks[i];

		r = k->owned ? check_new_disk(h, row, k, err) :
		    check_path_disk(h, k, err);
		if (r < 0)
			return r;
	}
	if (row->cdrom && (r = vm_spec_check_iso(h, row->cdrom, err)) < 0)
		return r;
	return firmware_plan(h, row, err);
}
