/* wire.c - a VM as one host describes it to another for a move: built
 * from the VM's row on the source, parsed strictly and resolved against
 * the destination (pools by identity, switches, boot files, memory, CPU
 * model) into a new row.  The destination treats it as untrusted input:
 * it comes from a peer, but a peer's bug must not become a half-made VM.
 *
 * Disks travel as (pool identity, path inside the pool): a pool is the
 * same storage on both hosts only when both read the same identity from
 * its marker file (host_pool_identity), whatever either calls it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "desc.h"
#include "firmware.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "migrate.h"
#include "qemu.h"
#include "refpoint.h"
#include "cluster.h"
#include "util.h"
#include "vm.h"
#include "vm_spec.h"

/* Pool directory and identity holding path; -ENOENT when in no pool. */
static int
wire_pool_of(struct host *h, const char *path, char **ret_dir, char id[37])
{
	_cleanup_free_ char *name = host_pool_of_path(h, path);
	char *dir;
	int r;

	if (!name)
		return -ENOENT;
	dir = host_pool_path(h, name);
	if (!dir)
		return -ENOENT;
	if ((r = host_pool_identity(dir, id)) < 0) {
		free(dir);
		return r;
	}
	*ret_dir = dir;
	return 0;
}

/* {"pool_id", "rel"} for a file inside a pool. */
static int
wire_file(struct host *h, const char *what, const char *path, json_t **ret,
    struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	char id[37];
	size_t n;
	int r = wire_pool_of(h, path, &dir, id);

	if (r < 0)
		return err_set(err, r == -ENOENT ? -EINVAL : r, "%s '%s' is "
		    "not in a storage pool the destination could share; "
		    "move it into a pool first", what, path);
	n = strlen(dir);
	while (path[n] == '/')
		n++;
	*ret = json_pack("{ss ss}", "pool_id", id, "rel", path + n);
	return 0;
}

static const char *
wire_cpu_flags(void)
{
	static char flags[8192];
	FILE *f;
	char line[8192];

	if (flags[0])
		return flags;
	f = fopen("/proc/cpuinfo", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		char *colon = strchr(line, ':');

		if (colon) {
			snprintf(flags, sizeof(flags), "%s", colon + 2);
			flags[strcspn(flags, "\n")] = '\0';
		}
		break;
	}
	if (f)
		fclose(f);
	return flags;
}

static uint64_t
wire_allocated(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (uint64_t)st.st_blocks * 512 : 0;
}

/* A UEFI VM's variables and a TPM's state directory: where they are, as
 * for the disks (a move that may copy leaves out what is in no pool).
 * Copied (shared-nothing) they need no place: the destination makes an
 * NVRAM file and an empty TPM directory next to its disk 0
 * (firmware_plan), and the migration stream fills both (the pflash
 * content is migrated as RAM and written back to the file when the VM
 * resumes there; swtpm's state is part of the tpm-emulator device state,
 * written by the destination's swtpm when it loads it). */
static int
wire_fw_describe(struct host *h, const struct vm_row *r, bool copy,
    json_t *o, struct err *err)
{
	const char *const what[2] = { "UEFI variables", "TPM state" };
	const char *const key[2] = { "nvram", "tpm_dir" };
	const char *const path[2] = { r->nvram, r->tpm_dir };
	json_t *f;

	for (int i = 0; i < 2; i++) {
		struct err e = { 0 };
		int rc;

		if (!path[i])
			continue;
		if ((rc = wire_file(h, what[i], path[i], &f, &e)) < 0) {
			if (!copy)
				return err_set(err, rc, "%s", e.msg);
			continue;
		}
		json_object_set_new(o, key[i], f);
	}
	return 0;
}

int
wire_vm_describe(struct host *h, const struct vm *vm, bool copy,
    json_t **ret, struct err *err)
{
	const struct vm_row *r = vm->row;
	_cleanup_json_ json_t *o = json_object();
	json_t *disks = json_array(), *f;
	struct vm_desc desc;
	const char *model = qemu_cpu_model(r->cpu_compat, h->kvm);
	int rc;

	json_object_set_new(o, "disks", disks);
	for (size_t i = 0; i < r->n_disks; i++) {
		const struct disk_row *d = &r->disks[i];
		char what[32];

		snprintf(what, sizeof(what), "disk %s", d->name);
		if ((rc = wire_file(h, what, d->path, &f, err)) < 0) {
			if (!copy)
				return rc;
			f = json_object();	/* copied: where is moot */
		}
		json_object_set_new(f, "name", json_string(d->name));
		json_object_set_new(f, "allocated_bytes",
		    json_integer((json_int_t)wire_allocated(d->path)));
		json_object_set_new(f, "size_bytes",
		    json_integer((json_int_t)d->size_bytes));
		json_object_set_new(f, "owned", json_boolean(d->owned));
		json_array_append_new(disks, f);
	}
	if ((rc = wire_fw_describe(h, r, copy, o, err)) < 0)
		return rc;
	if (r->state_file && !copy) {
		if ((rc = wire_file(h, "saved state", r->state_file, &f,
		    err)) < 0)
			return rc;
		json_object_set_new(o, "state_file", f);
	}
	vm_desc_from_row(&desc, r);
	f = vm_desc_to_json(&desc);
	vm_desc_done(&desc);
	json_object_update(o, f);
	json_decref(f);
	f = json_pack("{ss ss ss}", "cpu_model", model, "qemu_version",
	    h->qemu_version, "accel", h->kvm ? "kvm" : "tcg");
	json_object_update(o, f);
	json_decref(f);
	if (streq(model, "host"))
		json_object_set_new(o, "cpu_flags",
		    json_string(wire_cpu_flags()));
	if (r->kernel)
		json_object_set_new(o, "kernel", json_string(r->kernel));
	if (r->initrd)
		json_object_set_new(o, "initrd", json_string(r->initrd));
	if (r->services)
		json_object_set_new(o, "services", json_string(r->services));
	if (r->kvp)
		json_object_set_new(o, "kvp", json_string(r->kvp));
	json_object_set_new(o, "refpoints", track_refpoints_export(vm));
	*ret = TAKE_PTR(o);
	return 0;
}

/* ---- destination: parse and resolve ---- */

/* The directory of this host's pool with identity id; NULL when none. */
static char *
wire_pool_by_id(struct host *h, const char *id)
{
	struct obj_row *rows;
	size_t n;
	char *dir = NULL;
	char have[37];

	if (store_obj_list(h->store, STORE_POOL, &rows, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n && !dir; i++)
		if (host_pool_identity(rows[i].a, have) == 0 &&
		    streq(have, id))
			dir = xstrdup(rows[i].a);
	obj_rows_free(rows, n);
	return dir;
}

static bool
wire_rel_ok(const char *rel)
{
	return rel[0] && rel[0] != '/' && strlen(rel) < 1024 &&
	    !strstr(rel, "..") && !strpbrk(rel, ",\"\\:=\n");
}

/* {"pool_id","rel"} -> a path on this host that must exist. */
static int
wire_resolve_file(struct host *h, const json_t *f, const char *what,
    char **ret_path, char **ret_pool, struct err *err)
{
	static const char *const fields[] = { "pool_id", "rel", "name",
		"size_bytes", "owned", "allocated_bytes", NULL };
	const char *id = NULL, *rel = NULL;
	_cleanup_free_ char *dir = NULL;
	char *path;
	int r;

	if (!json_is_object(f))
		return err_set(err, -EINVAL, "%s must be an object", what);
	if ((r = json_check_fields(f, fields, what, err)) < 0 ||
	    (r = json_get_str(f, "pool_id", true, &id, err)) < 0 ||
	    (r = json_get_str(f, "rel", true, &rel, err)) < 0)
		return r;
	if (!uuid_is_valid(id) || !wire_rel_ok(rel))
		return err_set(err, -EINVAL, "%s: malformed pool identity or "
		    "path", what);
	dir = wire_pool_by_id(h, id);
	if (!dir)
		return err_set(err, -ENOENT, "%s is on storage this host does "
		    "not mount (no pool here has identity %s); mount it as a "
		    "pool or move the storage too", what, id);
	path = xasprintf("%s/%s", dir, rel);
	if (access(path, R_OK) == -1) {
		r = -errno;
		err_set(err, -ENOENT, "%s: '%s' is missing here although the "
		    "pool has the same identity: %s", what, path,
		    strerror(-r));
		free(path);
		return -ENOENT;
	}
	*ret_path = path;
	if (ret_pool)
		*ret_pool = host_pool_of_path(h, path);
	return 0;
}

/* Copy mode: the disk's new file in the pool chosen for it here. */
static int
wire_copy_target(struct host *h, const struct wire_opts *opt,
    const char *vm_name, struct disk_row *k, uint64_t allocated,
    uint64_t *need, struct err *err)
{
	const char *pool = json_string_value(json_object_get(opt->disk_pools,
	    k->name));
	_cleanup_free_ char *first = NULL;
	struct obj_row *rows;
	size_t n;
	char *dir;

	if (!pool)
		pool = opt->pool;
	if (!pool && store_obj_list(h->store, STORE_POOL, &rows, &n) == 0) {
		if (n)
			first = xstrdup(rows[0].name);
		obj_rows_free(rows, n);
		pool = first;
	}
	if (!pool)
		return err_set(err, -ENOENT, "host %s has no storage pool to "
		    "copy disk %s into", h->cfg.name, k->name);
	if (!name_is_valid(pool) || !(dir = host_pool_path(h, pool)))
		return err_set(err, -ENOENT, "host %s has no pool named "
		    "'%.64s'", h->cfg.name, pool);
	k->path = xasprintf("%s/%s-%s.qcow2", dir, vm_name, k->name);
	k->pool = xstrdup(pool);
	free(dir);
	if (!opt->existing && access(k->path, F_OK) == 0)
		return err_set(err, -EEXIST, "disk %s: '%s' already exists on "
		    "host %s; remove it or pick another pool", k->name,
		    k->path, h->cfg.name);
	if (!opt->existing)
		*need += allocated;
	return 0;
}

/* The pools copies go to must hold what the disks hold now. */
static int
wire_check_space(struct host *h, const struct vm_row *row,
    const uint64_t *need, struct err *err)
{
	for (size_t i = 0; i < row->n_disks; i++) {
		uint64_t sum = 0, avail = 0;
		_cleanup_free_ char *dir = host_pool_path(h,
		    row->disks[i].pool);

		for (size_t j = 0; j < row->n_disks; j++)
			if (streq(row->disks[j].pool, row->disks[i].pool))
				sum += need[j];
		if (dir && fs_free_bytes(dir, &avail) == 0 && sum > avail)
			return err_set(err, -ENOSPC, "pool '%s' on host %s has "
			    "%llu MiB free; the vm's disks there hold %llu MiB",
			    row->disks[i].pool, h->cfg.name,
			    (unsigned long long)(avail >> 20),
			    (unsigned long long)((sum + (1 << 20) - 1) >> 20));
	}
	return 0;
}

static int
wire_parse_disks(struct host *h, const json_t *arr, struct vm_row *row,
    const struct wire_opts *opt, struct err *err)
{
	uint64_t need[VM_MAX_DISKS] = { 0 };

	size_t i;
	json_t *d;

	if (!json_is_array(arr) || json_array_size(arr) > VM_MAX_DISKS)
		return err_set(err, -EINVAL, "disks must be an array of at "
		    "most %d", VM_MAX_DISKS);
	row->disks = xzalloc((json_array_size(arr) + 1) * sizeof(*row->disks));
	json_array_foreach(arr, i, d) {
		struct disk_row *k = &row->disks[row->n_disks];
		const char *name = NULL;
		int64_t size = 0;
		bool owned = false;
		int r;

		if (!json_is_object(d))
			return err_set(err, -EINVAL, "disk %zu must be an "
			    "object", i);
		if ((r = json_get_str(d, "name", true, &name, err)) < 0 ||
		    (r = json_get_int(d, "size_bytes", true, 1, INT64_MAX,
		    &size, err)) < 0 ||
		    (r = json_get_bool(d, "owned", &owned, err)) < 0)
			return r;
		if (strlen(name) != 3 || strncmp(name, "vd", 2) != 0 ||
		    name[2] != 'a' + (char)i)
			return err_set(err, -EINVAL, "disk %zu must be named "
			    "vd%c", i, 'a' + (char)i);
		snprintf(k->name, sizeof(k->name), "%s", name);
		k->size_bytes = size;
		k->owned = owned;
		row->n_disks++;
		if (opt->copy) {
			int64_t alloc = 0;

			k->owned = true;	/* this host makes the copy */
			if ((r = json_get_int(d, "allocated_bytes", true, 0,
			    INT64_MAX, &alloc, err)) < 0 ||
			    (r = wire_copy_target(h, opt, row->name, k, alloc,
			    &need[i], err)) < 0)
				return r;
		} else if ((r = wire_resolve_file(h, d, name, &k->path,
		    &k->pool, err)) < 0)
			return r;
		for (size_t j = 0; j + 1 < row->n_disks; j++)
			if (streq(row->disks[j].path, k->path))
				return err_set(err, -EINVAL, "disks %s and %s "
				    "are the same file", row->disks[j].name,
				    name);
	}
	return opt->copy ? wire_check_space(h, row, need, err) : 0;
}

static bool
wire_file_shared(struct host *h, const json_t *f)
{
	const char *id = json_string_value(json_object_get(f, "pool_id"));
	char *dir = id ? wire_pool_by_id(h, id) : NULL;

	free(dir);
	return dir != NULL;
}

bool
wire_vm_shared(struct host *h, const json_t *o)
{
	json_t *disks = json_object_get(o, "disks"), *d;
	json_t *sf = json_object_get(o, "state_file");
	json_t *nv = json_object_get(o, "nvram");
	json_t *td = json_object_get(o, "tpm_dir");
	size_t i;

	json_array_foreach(disks, i, d)
		if (!wire_file_shared(h, d))
			return false;
	return (!sf || wire_file_shared(h, sf)) &&
	    (!nv || wire_file_shared(h, nv)) &&
	    (!td || wire_file_shared(h, td));
}

/* The NICs' switches (vm_desc_parse checked their shape). */
static int
wire_check_nics(struct host *h, const struct vm_row *row, struct err *err)
{
	int r;

	for (size_t i = 0; i < row->n_nics; i++) {
		const char *sw = row->nics[i].switch_name;

		if (!host_switch_exists(h, sw))
			return err_set(err, -ENOENT, "switch '%s' (nic %zu) "
			    "does not exist on host %s; create it with 'tern "
			    "switch create %s' there", sw, i, h->cfg.name, sw);
		if ((r = host_switch_carries(h, &row->nics[i], i, err)) < 0)
			return r;
	}
	return 0;
}

/* The CPU the VM was started with must be one this host gives it. */
static int
wire_check_cpu(struct host *h, const json_t *o, bool compat, struct err *err)
{
	const char *model = NULL, *accel = NULL, *qv = NULL, *flags = NULL;
	const char *mine = qemu_cpu_model(compat, h->kvm);
	int r;

	if ((r = json_get_str(o, "cpu_model", true, &model, err)) < 0 ||
	    (r = json_get_str(o, "accel", true, &accel, err)) < 0 ||
	    (r = json_get_str(o, "qemu_version", true, &qv, err)) < 0 ||
	    (r = json_get_str(o, "cpu_flags", false, &flags, err)) < 0)
		return r;
	if (!streq(model, mine))
		return err_set(err, -EINVAL, "the vm runs with CPU model '%s' "
		    "(%s) but host %s would give it '%s' (%s); a vm created "
		    "with --cpu-compat uses the baseline model every host "
		    "provides", model, accel, h->cfg.name, mine,
		    h->kvm ? "kvm" : "tcg");
	(void)qv;	/* the machine type decides, see wire_check_machine */
	if (streq(model, "host") && flags) {
		_cleanup_free_ char *copy = xstrdup(flags);
		const char *have = wire_cpu_flags();
		char *save = NULL;
		char key[72];

		for (char *f = strtok_r(copy, " ", &save); f;
		    f = strtok_r(NULL, " ", &save)) {
			snprintf(key, sizeof(key), " %.64s ", f);
			_cleanup_free_ char *padded = xasprintf(" %s ", have);
			if (!strstr(padded, key))
				return err_set(err, -EINVAL, "the vm uses the "
				    "source's CPU model 'host' and host %s's "
				    "CPU lacks the '%s' feature; create the vm "
				    "with --cpu-compat to move it between "
				    "different CPUs", h->cfg.name, f);
		}
	}
	return 0;
}

/* The VM's machine type must be one this host's QEMU offers: that, not
 * the QEMU versions, decides whether its state loads here (QEMU keeps the
 * wire format of a versioned machine type across releases).  A source
 * that names none ran pc-q35-7.2, the only type tern used before. */
static int
wire_check_machine(struct host *h, struct vm_row *row, struct err *err)
{
	char what[96];

	if (!row->machine)
		row->machine = xstrdup("pc-q35-7.2");
	snprintf(what, sizeof(what), "vm '%s'", row->name);
	return host_check_machine(h, row->machine, what, err);
}

static int
wire_json_text(const json_t *o, const char *key, char **ret,
    struct err *err)
{
	const char *s = NULL;
	json_t *v;
	int r = json_get_str(o, key, false, &s, err);

	if (r < 0 || !s)
		return r;
	v = json_loads(s, 0, NULL);
	if (!json_is_object(v)) {
		json_decref(v);
		return err_set(err, -EINVAL, "%s must be JSON object text",
		    key);
	}
	json_decref(v);
	*ret = xstrdup(s);
	return 0;
}

/* Boot files are paths on the destination too: they must exist here. */
static int
wire_parse_boot(struct host *h, const json_t *o, struct vm_row *row,
    struct err *err)
{
	const char *kernel = NULL, *initrd = NULL;
	int r;

	if ((r = json_get_str(o, "kernel", false, &kernel, err)) < 0 ||
	    (r = json_get_str(o, "initrd", false, &initrd, err)) < 0)
		return r;
	if (kernel && access(kernel, R_OK) == -1)
		return err_set(err, -ENOENT, "kernel '%s' does not exist on "
		    "host %s", kernel, h->cfg.name);
	if (initrd && access(initrd, R_OK) == -1)
		return err_set(err, -ENOENT, "initrd '%s' does not exist on "
		    "host %s", initrd, h->cfg.name);
	row->kernel = kernel ? xstrdup(kernel) : NULL;
	row->initrd = initrd ? xstrdup(initrd) : NULL;
	return 0;
}

/* A VM with this uuid or name must not be here already, but for the
 * stale copy the cluster held here (src/cluster: the VM moved on while
 * this node was gone), which the move replaces (migrate_incoming). */
static int
wire_check_new(struct host *h, const struct vm_row *row, struct err *err)
{
	struct vm *old = vm_find(h, row->uuid), *named;

	if (old && !cluster_vm_stale(old))
		return err_set(err, -EEXIST, "host %s already has a vm with "
		    "uuid %s", h->cfg.name, row->uuid);
	if ((named = vm_find(h, row->name)) && named != old)
		return err_set(err, -EEXIST, "host %s already has a vm named "
		    "'%s'; rename or delete one of them first", h->cfg.name,
		    row->name);
	return 0;
}

/* The NVRAM file and TPM directory here: over shared storage the
 * source's own (they must exist), copied new ones next to disk 0 that
 * the destination's job makes (firmware_plan: absent, OVMF and swtpm
 * here). */
static int
wire_parse_fw(struct host *h, const json_t *o, const struct wire_opts *opt,
    struct vm_row *row, struct err *err)
{
	json_t *nv = json_object_get(o, "nvram");
	json_t *td = json_object_get(o, "tpm_dir");
	int r;

	if (opt->copy)
		return firmware_plan(h, row, err);
	if ((r = firmware_check(h, row, err)) < 0)
		return r;
	if (!row->firmware != !nv || !row->tpm != !td)
		return err_set(err, -EINVAL, "vm '%s': nvram must come with "
		    "firmware uefi and tpm_dir with tpm", row->name);
	if (nv && (r = wire_resolve_file(h, nv, "UEFI variables",
	    &row->nvram, NULL, err)) < 0)
		return r;
	if (td && (r = wire_resolve_file(h, td, "TPM state", &row->tpm_dir,
	    NULL, err)) < 0)
		return r;
	return 0;
}

static int
wire_parse_state(struct host *h, const json_t *o, const struct wire_opts *opt,
    struct vm_row *row, struct err *err)
{
	json_t *sf = json_object_get(o, "state_file");

	if (sf && opt->copy)
		return err_set(err, -EINVAL, "a saved state does not travel "
		    "with copied disks");
	if (sf)
		return wire_resolve_file(h, sf, "saved state",
		    &row->state_file, NULL, err);
	return 0;
}

int
wire_vm_resolve(struct host *h, const json_t *o, const struct wire_opts *opt,
    struct vm_row **ret_row, struct err *err)
{
	/* A move's vm is a VM description (desc.h) plus these. */
	static const char *const extra[] = { "cpu_model", "cpu_flags",
		"qemu_version", "accel", "kernel", "initrd", "services", "kvp",
		"state_file", "disks", "refpoints", "nvram", "tpm_dir", NULL };
	struct vm_row *row = xzalloc(sizeof(*row));
	struct vm_desc d = { 0 };
	int r;

	if ((r = vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, err)) < 0)
		goto fail;
	vm_desc_to_row(&d, row);
	row->state = xstrdup(vm_state_name(opt->running ? VM_INCOMING :
	    VM_OFF));
	row->created_ms = wall_ms();
	if ((r = wire_check_new(h, row, err)) < 0 ||
	    (r = wire_check_machine(h, row, err)) < 0 ||
	    (r = wire_check_cpu(h, o, row->cpu_compat, err)) < 0 ||
	    (r = host_mem_admit_vm(h, row, opt->running ?
	    HOST_MEM_AVAILABLE : HOST_MEM_INSTALLED, err)) < 0 ||
	    (r = wire_json_text(o, "services", &row->services, err)) < 0 ||
	    (r = wire_json_text(o, "kvp", &row->kvp, err)) < 0 ||
	    (r = wire_parse_disks(h, json_object_get(o, "disks"), row, opt,
	    err)) < 0 ||
	    (r = wire_check_nics(h, row, err)) < 0 ||
	    (r = wire_parse_state(h, o, opt, row, err)) < 0 ||
	    (r = wire_parse_fw(h, o, opt, row, err)) < 0 ||
	    (r = wire_parse_boot(h, o, row, err)) < 0 ||
	    (r = track_refpoints_import(NULL, row, json_object_get(o,
	    "refpoints"), opt->copy, err)) < 0)
		goto fail;
	*ret_row = row;
	return 0;
fail:
	vm_desc_done(&d);
	store_vm_row_free(row);
	return r;
}
