/* vm_spec.c - validation of VM creation requests.  Refuses before anything
 * is made: a request that fails here leaves no trace.  Never logs. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "net.h"
#include "util.h"
#include "vm.h"
#include "vm_spec.h"

static const char *const create_fields[] = { "name", "cpus", "memory_mib",
	"disks", "nics", "kernel", "initrd", "cmdline", "cpu_compat", "machine",
	NULL };
static const char *const disk_fields[] = { "size_bytes", "pool", "path",
	NULL };
static const char *const nic_fields[] = { "switch", "mac", NULL };

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
parse_nic(const json_t *n, size_t i, struct nic_row *c, struct err *err)
{
	const char *sw = NULL, *mac = NULL;
	int r;

	if (!json_is_object(n))
		return err_set(err, -EINVAL, "nics[%zu] must be an object", i);
	if ((r = json_check_fields(n, nic_fields, "nic", err)) < 0 ||
	    (r = json_get_str(n, "switch", true, &sw, err)) < 0 ||
	    (r = json_get_str(n, "mac", false, &mac, err)) < 0)
		return r;
	if (mac && !net_mac_is_valid(mac))
		return err_set(err, -EINVAL, "nics[%zu] mac '%.40s' is not a "
		    "unicast MAC like 52:54:00:12:34:56", i, mac);
	if (mac)
		snprintf(c->mac, sizeof(c->mac), "%s", mac);
	else
		net_mac_generate(c->mac);
	c->switch_name = xstrdup(sw);
	return 0;
}

static int
parse_lists(const json_t *body, struct vm_row *row, struct err *err)
{
	const json_t *disks = json_object_get(body, "disks");
	const json_t *nics = json_object_get(body, "nics");
	int r = 0;

	if ((disks && !json_is_array(disks)) || (nics && !json_is_array(nics)))
		return err_set(err, -EINVAL, "disks and nics must be arrays");
	if (json_array_size(disks) > VM_MAX_DISKS ||
	    json_array_size(nics) > VM_MAX_NICS)
		return err_set(err, -EINVAL, "at most %d disks and %d NICs",
		    VM_MAX_DISKS, VM_MAX_NICS);
	row->disks = xzalloc((json_array_size(disks) + 1) *
	    sizeof(*row->disks));
	row->nics = xzalloc((json_array_size(nics) + 1) * sizeof(*row->nics));
	for (size_t i = 0; r == 0 && i < json_array_size(disks); i++, row->n_disks++)
		r = parse_disk(json_array_get(disks, i), i, &row->disks[i], err);
	for (size_t i = 0; r == 0 && i < json_array_size(nics); i++, row->n_nics++)
		r = parse_nic(json_array_get(nics, i), i, &row->nics[i], err);
	return r;
}

static int
parse_boot(const json_t *body, struct vm_row *row, struct err *err)
{
	const char *kernel = NULL, *initrd = NULL, *cmdline = NULL;
	const char *machine = NULL;
	int r;

	if ((r = json_get_str(body, "machine", false, &machine, err)) < 0 ||
	    (r = json_get_str(body, "kernel", false, &kernel, err)) < 0 ||
	    (r = json_get_str(body, "initrd", false, &initrd, err)) < 0 ||
	    (r = json_get_str(body, "cmdline", false, &cmdline, err)) < 0 ||
	    (r = json_get_bool(body, "cpu_compat", &row->cpu_compat, err)) < 0)
		return r;
	if ((initrd || cmdline) && !kernel)
		return err_set(err, -EINVAL, "initrd and cmdline need a "
		    "kernel");
	if ((kernel && !path_is_plain(kernel)) ||
	    (initrd && !path_is_plain(initrd)))
		return err_set(err, -EINVAL, "kernel and initrd must be "
		    "absolute paths free of , \" \\ = : and control "
		    "characters");
	if (cmdline && strlen(cmdline) > VM_CMDLINE_MAX)
		return err_set(err, -EINVAL, "cmdline is longer than %d "
		    "bytes", VM_CMDLINE_MAX);
	if (machine && !host_machine_name_ok(machine))
		return err_set(err, -EINVAL, "machine must be a QEMU machine "
		    "type such as pc-q35-10.0 (see 'tern host info')");
	row->machine = machine ? xstrdup(machine) : NULL;
	row->kernel = kernel ? xstrdup(kernel) : NULL;
	row->initrd = initrd ? xstrdup(initrd) : NULL;
	row->cmdline = cmdline ? xstrdup(cmdline) : NULL;
	return 0;
}

int
vm_spec_parse(const json_t *body, struct vm_row **ret_row, struct err *err)
{
	struct vm_row *row = xzalloc(sizeof(*row));
	const char *name = NULL;
	int64_t cpus = 0, mem = 0;
	int r;

	if ((r = json_check_fields(body, create_fields, "vm create", err)) < 0 ||
	    (r = json_get_str(body, "name", true, &name, err)) < 0 ||
	    (r = json_get_int(body, "cpus", true, VM_CPUS_MIN,
	    VM_CPUS_MAX, &cpus, err)) < 0 ||
	    (r = json_get_int(body, "memory_mib", true,
	    VM_MEMORY_MIB_MIN, VM_MEMORY_MIB_MAX, &mem, err)) < 0)
		goto fail;
	if (!name_is_valid(name)) {
		r = err_set(err, -EINVAL, "invalid vm name '%.64s': use 1-63 "
		    "letters, digits, '.', '_' or '-'", name);
		goto fail;
	}
	row->name = xstrdup(name);
	row->cpus = cpus;
	row->memory_mib = mem;
	row->state = xstrdup("creating");
	row->created_ms = wall_ms();
	uuid_generate_text(row->uuid);
	if ((r = parse_boot(body, row, err)) < 0 ||
	    (r = parse_lists(body, row, err)) < 0)
		goto fail;
	*ret_row = row;
	return 0;
fail:
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
	snprintf(what, sizeof(what), "vm '%s'", row->name);
	if ((r = host_mem_admit(h, row->memory_mib, HOST_MEM_INSTALLED, what,
	    err)) < 0)
		return r;
	for (size_t i = 0; i < row->n_nics; i++) {
		if (!host_switch_exists(h, row->nics[i].switch_name))
			return err_set(err, -ENOENT, "switch '%.64s' not found "
			    "(see 'tern switch list')",
			    row->nics[i].switch_name);
	}
	for (size_t i = 0; i < row->n_disks; i++) {
		struct disk_row *k = &row->disks[i];

		r = k->owned ? check_new_disk(h, row, k, err) :
		    check_path_disk(h, k, err);
		if (r < 0)
			return r;
	}
	return 0;
}
