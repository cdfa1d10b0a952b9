/* libvirt_import.c - a libvirt domain checked against this host (see
 * libvirt_import.h): every source disk inside one of the pools (after
 * realpath), self-contained and of the format the XML says, each NIC's
 * bridge or network a switch of that name here, the machine one this
 * QEMU offers.  The result is a create request vm_spec.c parses and
 * checks like any other.  Changes nothing; never logs. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "libvirt_import.h"
#include "libvirt_xml.h"
#include "util.h"
#include "vm.h"
#include "vm_spec.h"

/* The machine the VM gets: the domain's when this QEMU offers it, else
 * (q35 or i440fx) this host's newest q35, said in left_out; any other
 * is refused. */
static int
lv_machine(struct host *h, const struct lv_domain *d, json_t *req,
    json_t *left_out, struct err *err)
{
	const char *m = d->machine;
	const char *def = host_default_machine(h);

	if (!m)
		return 0;
	if (host_has_machine(h, m)) {
		json_object_set_new(req, "machine", json_string(m));
		return 0;
	}
	if (streq(m, "q35"))
		json_array_append_new(left_out, json_sprintf("machine q35 "
		    "(an alias): the VM gets %s, this QEMU's newest", def));
	else if (strstr(m, "q35"))
		json_array_append_new(left_out, json_sprintf("machine %s: not "
		    "offered by this QEMU, the VM gets %s", m, def));
	else if (streq(m, "pc") || strstr(m, "i440fx"))
		json_array_append_new(left_out, json_sprintf("machine %s: "
		    "tern runs q35 machines, the VM gets %s (the guest "
		    "sees a q35 chipset)", m, def));
	else
		return err_set(err, -EINVAL, "cannot import domain '%s': "
		    "machine '%.64s' is neither q35 nor i440fx", d->name, m);
	return 0;
}

static int
lv_nics(struct host *h, const struct lv_domain *d, json_t *req,
    struct err *err)
{
	json_t *nics = json_array();

	json_object_set_new(req, "nics", nics);
	for (size_t i = 0; i < d->n_nics; i++) {
		const struct lv_nic *n = &d->nics[i];
		json_t *o = json_pack("{ss}", "switch", n->source);

		json_array_append_new(nics, o);
		if (!host_switch_exists(h, n->source))
			return err_set(err, -ENOENT, "interface %s: no switch "
			    "'%s' on this host: create a switch of that name "
			    "(tern switch create) or change the domain",
			    n->mac[0] ? n->mac : "?", n->source);
		if (!n->mac[0])
			continue;
		for (size_t k = 0; k < h->n_vms; k++)
			for (size_t j = 0; j < h->vms[k]->row->n_nics; j++)
				if (streq(h->vms[k]->row->nics[j].mac, n->mac))
					return err_set(err, -EEXIST, "interface "
					    "%s: that MAC is in use by vm '%s'", n->mac,
					    h->vms[k]->row->name);
		json_object_set_new(o, "mac", json_string(n->mac));
	}
	return 0;
}

/* One source disk: inside a pool, a regular file, of the format the XML
 * names and self-contained; its virtual size in *ret_size. */
static int
lv_disk_check(struct host *h, const struct lv_disk *k, const char *real,
    uint64_t *ret_size, struct err *err)
{
	_cleanup_free_ char *pool = host_pool_of_path(h, real);
	struct stat st;
	bool self = false;
	bool qcow2;

	if (!pool)
		return err_set(err, -EPERM, "disk %s: %.100s is outside this "
		    "host's pools: add its directory as a pool (tern pool "
		    "create) or move the file into one", k->target, k->path);
	if (stat(real, &st) == -1 || !S_ISREG(st.st_mode))
		return err_set(err, -ENOENT, "disk %s: %.100s is not a regular "
		    "file", k->target, k->path);
	qcow2 = qcow2_header_check(real, ret_size, &self) == 0;
	if (k->raw && qcow2)
		return err_set(err, -EINVAL, "disk %s: the domain says raw but "
		    "%.100s is a qcow2 image: correct the domain's driver "
		    "type", k->target, k->path);
	if (!k->raw && !qcow2)
		return err_set(err, -EINVAL, "disk %s: %.100s is not a qcow2 "
		    "image (version 2 or 3) as the domain says", k->target,
		    k->path);
	if (qcow2 && !self)
		return err_set(err, -EINVAL, "disk %s: %.100s has a backing "
		    "file or external data: flatten it first (qemu-img "
		    "convert)", k->target, k->path);
	if (k->raw)
		*ret_size = st.st_size;
	if (*ret_size == 0)
		return err_set(err, -EINVAL, "disk %s: %.100s is empty",
		    k->target, k->path);
	return 0;
}

static int
lv_disks(struct host *h, const struct lv_domain *d,
    const struct lv_import_opts *o, json_t *req, json_t *details,
    struct err *err)
{
	json_t *disks = json_array(), *sources = json_array();
	char real[PATH_MAX];
	uint64_t size = 0;
	int r;

	json_object_set_new(req, "disks", disks);
	if (!o->register_mode)
		json_object_set_new(details, "sources", sources);
	else
		json_decref(sources);
	for (size_t i = 0; i < d->n_disks; i++) {
		const struct lv_disk *k = &d->disks[i];

		if (!realpath(k->path, real))
			return err_set(err, -ENOENT, "disk %s: %.100s: %s",
			    k->target, k->path, strerror(errno));
		for (size_t j = 0; j < i; j++)
			if (streq(k->path, d->disks[j].path))
				return err_set(err, -EINVAL, "disks %s and %s "
				    "are the same file", d->disks[j].target,
				    k->target);
		if ((r = lv_disk_check(h, k, real, &size, err)) < 0)
			return r;
		if (o->register_mode && k->raw)
			return err_set(err, -EINVAL, "disk %s is raw: "
			    "--register uses the files as they are and "
			    "tern's disks are qcow2; use --copy, which "
			    "converts it", k->target);
		if (o->register_mode) {
			json_array_append_new(disks, json_pack("{ss}", "path",
			    real));
			continue;
		}
		json_array_append_new(disks, o->pool ? json_pack("{sI ss}",
		    "size_bytes", (json_int_t)size, "pool", o->pool) :
		    json_pack("{sI}", "size_bytes", (json_int_t)size));
		json_array_append_new(sources, json_pack("{ss ss}", "path",
		    real, "format", k->raw ? "raw" : "qcow2"));
	}
	return 0;
}

/* The domain's boot, disks' names and notes as tern will have them. */
static int
lv_boot(const struct lv_domain *d, json_t *req, json_t *left_out,
    struct err *err)
{
	if (d->kernel) {
		json_object_set_new(req, "kernel", json_string(d->kernel));
		if (d->initrd)
			json_object_set_new(req, "initrd",
			    json_string(d->initrd));
		if (d->cmdline)
			json_object_set_new(req, "cmdline",
			    json_string(d->cmdline));
	}
	for (size_t i = 0; i < d->n_disks; i++) {
		char tern[8];

		snprintf(tern, sizeof(tern), "vd%c", (char)('a' + i));
		if (!streq(tern, d->disks[i].target))
			json_array_append_new(left_out, json_sprintf("disk %s: "
			    "tern names it %s (disks are named in order)",
			    d->disks[i].target, tern));
		/* tern boots from its first disk (qemu.c: bootindex=1) */
		if (d->disk_boot && i > 0 && d->disks[i].boot_order &&
		    (!d->disks[0].boot_order ||
		    d->disks[i].boot_order < d->disks[0].boot_order))
			return err_set(err, -EINVAL, "cannot import domain "
			    "'%s': it boots from disk %s, tern boots from "
			    "the first disk (%s): make it the first disk",
			    d->name, d->disks[i].target, d->disks[0].target);
	}
	if (d->disk_boot && !d->n_disks)
		return err_set(err, -EINVAL, "cannot import domain '%s': it "
		    "has neither a kernel nor a disk to boot from", d->name);
	return 0;
}

/* Copying: room in the target pool for the sources' allocated bytes (a
 * convert writes at most those, zeroes left out). */
static int
lv_room(const struct vm_row *row, const json_t *sources, struct err *err)
{
	_cleanup_free_ char *dir = NULL;
	uint64_t need = 0, free_bytes = 0;
	struct stat st;
	size_t i;
	json_t *v;

	if (!row->n_disks || !json_array_size(sources))
		return 0;
	json_array_foreach(sources, i, v)
		if (stat(json_string_value(json_object_get(v, "path")),
		    &st) == 0)
			need += (uint64_t)st.st_blocks * 512;
	dir = xstrdup(row->disks[0].path);
	*strrchr(dir, '/') = '\0';
	if (fs_free_bytes(dir, &free_bytes) == 0 && free_bytes < need)
		return err_set(err, -ENOSPC, "pool '%s' has %llu MiB free, "
		    "the copies need up to %llu MiB: free room or choose "
		    "another pool (--pool)", row->disks[0].pool,
		    (unsigned long long)(free_bytes >> 20),
		    (unsigned long long)(need >> 20));
	return 0;
}

static void
lv_uuid(struct host *h, const struct lv_domain *d, struct vm_row *row,
    json_t *left_out)
{
	if (!d->uuid[0])
		return;
	if (vm_find(h, d->uuid)) {
		json_array_append_new(left_out, json_sprintf("uuid %s: in use "
		    "here, the VM gets a new one (%s)", d->uuid, row->uuid));
		return;
	}
	memcpy(row->uuid, d->uuid, sizeof(row->uuid));
}

static int
lv_refused(const struct lv_domain *d, struct err *err)
{
	char list[200];

	if (!d->n_refused)
		return 0;
	lv_notes_join(d->refused, d->n_refused, list, sizeof(list));
	return err_set(err, -EINVAL, "domain '%.40s' not imported, tern "
	    "cannot carry: %s", d->name, list);
}

static int
lv_request(struct host *h, const struct lv_domain *d,
    const struct lv_import_opts *o, json_t *req, json_t *details,
    struct err *err)
{
	json_t *left_out = json_object_get(details, "left_out");
	int r;

	if (!o->name && !name_is_valid(d->name))
		return err_set(err, -EINVAL, "domain name '%.64s' is not a "
		    "tern VM name (1-63 letters, digits, '.', '_' or '-'): "
		    "import it with --name", d->name);
	json_object_set_new(req, "name", json_string(o->name ? o->name :
	    d->name));
	json_object_set_new(req, "cpus", json_integer(d->cpus));
	json_object_set_new(req, "memory_mib",
	    json_integer((json_int_t)d->memory_mib));
	for (size_t i = 0; i < d->n_left_out && i < LV_NOTES_MAX; i++)
		json_array_append_new(left_out, json_string(d->left_out[i]));
	if (d->n_left_out > LV_NOTES_MAX)
		json_array_append_new(left_out, json_sprintf("and %zu more",
		    d->n_left_out - LV_NOTES_MAX));
	if ((r = lv_machine(h, d, req, left_out, err)) < 0 ||
	    (r = lv_boot(d, req, left_out, err)) < 0 ||
	    (r = lv_nics(h, d, req, err)) < 0 ||
	    (r = lv_disks(h, d, o, req, details, err)) < 0)
		return r;
	return 0;
}

int
lv_import_prepare(struct host *h, const struct lv_import_opts *o,
    struct vm_row **ret_row, json_t **ret_details, struct err *err)
{
	_cleanup_json_ json_t *req = json_object();
	_cleanup_json_ json_t *details = json_pack("{s[]}", "left_out");
	struct vm_row *row = NULL;
	struct lv_domain d;
	int r;

	if ((r = lv_domain_parse(o->xml, o->len, &d, err)) < 0 ||
	    (r = lv_refused(&d, err)) < 0 ||
	    (r = lv_request(h, &d, o, req, details, err)) < 0 ||
	    (r = vm_spec_parse(req, &row, err)) < 0)
		goto out;
	if ((r = vm_spec_check(h, row, err)) < 0 ||
	    (r = lv_room(row, json_object_get(details, "sources"), err)) < 0) {
		store_vm_row_free(row);
		goto out;
	}
	lv_uuid(h, &d, row, json_object_get(details, "left_out"));
	*ret_row = row;
	*ret_details = TAKE_PTR(details);
out:
	lv_domain_done(&d);
	return r;
}
