/* export_manifest.c - vm.json, the manifest of an export directory: a
 * strict parser for what may be a tampered file, and the writer.  Pure: no
 * host state, no file access, never logs (the fuzz target drives the
 * parser).  The format and its version rule are in docs/export-format.md;
 * change both together. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "host.h"
#include "jsonutil.h"
#include "net.h"
#include "util.h"

#define MAX_FILE_SIZE (1LL << 50)
#define MAX_MAP_ENTRIES 256		/* services, kvp */

/* vm.json is a VM description (desc.h) plus these. */
static const char *const top_extra[] = { "format", "version",
	"exported_at", "exported_from", "kernel", "initrd", "disks",
	"services", "kvp", "saved_state", "nvram", "tpm_state", NULL };
static const char *const file_fields[] = { "file", "size", "sha256", NULL };
static const char *const disk_fields[] = { "name", "file", "size",
	"virtual_size", "sha256", NULL };

bool
export_file_name_ok(const char *name)
{
	size_t len = strlen(name), comp = 0;

	if (len == 0 || len > 255 || name[0] == '/')
		return false;
	for (const char *p = name;; p++) {
		if (*p == '/' || *p == '\0') {
			if (comp == 0 || (comp == 1 && p[-1] == '.') ||
			    (comp == 2 && p[-1] == '.' && p[-2] == '.'))
				return false;
			if (*p == '\0')
				return true;
			comp = 0;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-'))
			return false;
		comp++;
	}
}

static bool
is_sha256_hex(const char *s)
{
	if (strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

/* {"file", "size", "sha256"} (plus the disk fields when fields says so). */
static int
parse_file(const json_t *o, const char *what, const char *const *fields,
    struct export_file *f, struct err *err)
{
	const char *file = NULL, *sha = NULL;
	int64_t size = 0;
	int r;

	if (!json_is_object(o))
		return err_set(err, -EINVAL, "%s must be an object or null",
		    what);
	if ((r = json_check_fields_in(o, fields, what, err)) < 0 ||
	    (r = json_get_str(o, "file", true, &file, err)) < 0 ||
	    (r = json_get_int(o, "size", true, 0, MAX_FILE_SIZE, &size,
	    err)) < 0 ||
	    (r = json_get_str(o, "sha256", true, &sha, err)) < 0)
		return r;
	if (!export_file_name_ok(file))
		return err_set(err, -EINVAL, "%s file '%.200s' must be a "
		    "relative path inside the export directory, of letters, "
		    "digits, '.', '_' and '-' (no '..')", what, file);
	if (!is_sha256_hex(sha))
		return err_set(err, -EINVAL, "%s sha256 must be 64 lower-case "
		    "hex digits", what);
	f->file = xstrdup(file);
	f->size = size;
	memcpy(f->sha256, sha, sizeof(f->sha256));
	return 0;
}

/* An optional file: absent or null leaves *has false. */
static int
parse_opt_file(const json_t *body, const char *key, bool *has,
    struct export_file *f, struct err *err)
{
	const json_t *o = json_object_get(body, key);
	int r;

	if (!o || json_is_null(o))
		return 0;
	r = parse_file(o, key, file_fields, f, err);
	*has = r == 0;
	return r;
}

static int
parse_disk(const json_t *o, size_t i, struct export_disk *d,
    struct err *err)
{
	const char *name = NULL;
	char what[32];
	int64_t vsize = 0;
	int r;

	snprintf(what, sizeof(what), "disks[%zu]", i);
	if ((r = parse_file(o, what, disk_fields, &d->f, err)) < 0 ||
	    (r = json_get_str(o, "name", true, &name, err)) < 0 ||
	    (r = json_get_int(o, "virtual_size", true, 1, VM_DISK_SIZE_MAX,
	    &vsize, err)) < 0)
		return r;
	snprintf(d->name, sizeof(d->name), "vd%c", (char)('a' + i));
	if (!streq(name, d->name))
		return err_set(err, -EINVAL, "%s is named '%.16s'; disks are "
		    "vda, vdb, ... in order", what, name);
	d->virtual_size = vsize;
	return 0;
}

static int
parse_disks(const json_t *body, struct export_manifest *m, struct err *err)
{
	const json_t *disks = json_object_get(body, "disks");
	int r = 0;

	if (!json_is_array(disks) || json_array_size(disks) > VM_MAX_DISKS)
		return err_set(err, -EINVAL, "disks must be an array of at "
		    "most %d disks", VM_MAX_DISKS);
	for (size_t i = 0; r == 0 && i < json_array_size(disks); i++) {
		r = parse_disk(json_array_get(disks, i), i, &m->disks[i], err);
		m->n_disks += r == 0 || m->disks[i].f.file;
	}
	return r;
}

/* services {"name": bool} and kvp {"key": "text"}: kept as JSON text. */
static int
parse_map(const json_t *body, const char *key, bool bool_values,
    char **ret_text, struct err *err)
{
	const json_t *o = json_object_get(body, key), *v;
	const char *k;

	if (!o || json_is_null(o))
		return 0;
	if (!json_is_object(o) || json_object_size(o) > MAX_MAP_ENTRIES)
		return err_set(err, -EINVAL, "%s must be an object of at most "
		    "%d entries, or null", key, MAX_MAP_ENTRIES);
	json_object_foreach((json_t *)o, k, v) {
		if (bool_values ? !json_is_boolean(v) : !json_is_string(v))
			return err_set(err, -EINVAL, "%s['%.64s'] must be %s",
			    key, k, bool_values ? "true or false" : "a string");
		if (strlen(k) == 0 || strlen(k) > 255)
			return err_set(err, -EINVAL, "%s keys must be 1-255 "
			    "bytes", key);
	}
	*ret_text = json_to_string(o);
	return 0;
}

static int
parse_version(const json_t *body, struct export_manifest *m,
    struct err *err)
{
	const char *format = NULL;
	int64_t v = 0;
	int r;

	if ((r = json_get_str(body, "format", true, &format, err)) < 0)
		return r;
	if (!streq(format, EXPORT_FORMAT))
		return err_set(err, -EINVAL, "format is '%.64s', not '%s': "
		    "not a tern VM export", format, EXPORT_FORMAT);
	if ((r = json_get_int(body, "version", true, 1, INT_MAX, &v,
	    err)) < 0)
		return r;
	if (v > EXPORT_VERSION)
		return err_set(err, -EINVAL, "format version %lld is newer "
		    "than this tern reads (%d): import it with a newer tern",
		    (long long)v, EXPORT_VERSION);
	m->version = v;
	return 0;
}

/* The description, and when and where it was exported. */
static int
parse_identity(const json_t *body, struct export_manifest *m,
    struct err *err)
{
	const char *at = NULL, *from = NULL;
	int r;

	if ((r = vm_desc_parse(body, VM_DESC_RECORD, top_extra, NULL,
	    &m->desc, err)) < 0 ||
	    (r = json_get_str(body, "exported_at", false, &at, err)) < 0 ||
	    (r = json_get_str(body, "exported_from", false, &from, err)) < 0)
		return r;
	/* Exports made before the machine type was the VM's: pc-q35-7.2. */
	if (!m->desc.machine)
		m->desc.machine = xstrdup("pc-q35-7.2");
	m->exported_at = at ? xstrdup(at) : NULL;
	m->exported_from = from ? xstrdup(from) : NULL;
	return 0;
}

static int
parse_boot(const json_t *body, struct export_manifest *m, struct err *err)
{
	int r;

	if ((r = parse_opt_file(body, "kernel", &m->has_kernel, &m->kernel,
	    err)) < 0 ||
	    (r = parse_opt_file(body, "initrd", &m->has_initrd, &m->initrd,
	    err)) < 0 ||
	    (r = parse_opt_file(body, "saved_state", &m->has_state, &m->state,
	    err)) < 0 ||
	    (r = parse_opt_file(body, "nvram", &m->has_nvram, &m->nvram,
	    err)) < 0 ||
	    (r = parse_opt_file(body, "tpm_state", &m->has_tpm, &m->tpm,
	    err)) < 0)
		return r;
	if (m->has_nvram && !m->desc.firmware)
		return err_set(err, -EINVAL, "nvram needs firmware uefi");
	if (m->has_tpm && !m->desc.tpm)
		return err_set(err, -EINVAL, "tpm_state needs tpm");
	if ((m->has_initrd || m->desc.cmdline) && !m->has_kernel)
		return err_set(err, -EINVAL, "initrd and cmdline need a "
		    "kernel");
	return 0;
}

/* Every file of m, in a fixed order: disks, kernel, initrd, saved state,
 * NVRAM, TPM state. */
static size_t
manifest_files(const struct export_manifest *m,
    const struct export_file **out)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n_disks; i++)
		out[n++] = &m->disks[i].f;
	if (m->has_kernel)
		out[n++] = &m->kernel;
	if (m->has_initrd)
		out[n++] = &m->initrd;
	if (m->has_state)
		out[n++] = &m->state;
	if (m->has_nvram)
		out[n++] = &m->nvram;
	if (m->has_tpm)
		out[n++] = &m->tpm;
	return n;
}

/* Two entries naming one file would make a copy overwrite another, and a
 * registration use one image twice (vm_desc_parse refuses a MAC twice). */
static int
check_distinct(const struct export_manifest *m, struct err *err)
{
	const struct export_file *f[VM_MAX_DISKS + 3];
	size_t n = manifest_files(m, f);

	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (streq(f[i]->file, f[j]->file))
				return err_set(err, -EINVAL, "file '%s' is "
				    "named twice", f[i]->file);
	return 0;
}

int
export_manifest_parse(const char *buf, size_t len,
    struct export_manifest **ret_m, struct err *err)
{
	struct export_manifest *m = xzalloc(sizeof(*m));
	_cleanup_json_ json_t *body = NULL;
	struct err e = { 0 };
	int r;

	if (len > EXPORT_MAX_MANIFEST) {
		r = err_set(&e, -EFBIG, "it is over %d bytes",
		    EXPORT_MAX_MANIFEST);
		goto fail;
	}
	if ((r = json_parse_object(buf, len, &body, &e)) < 0 ||
	    (r = parse_version(body, m, &e)) < 0 ||
	    (r = parse_identity(body, m, &e)) < 0 ||
	    (r = parse_boot(body, m, &e)) < 0 ||
	    (r = parse_disks(body, m, &e)) < 0 ||
	    (r = parse_map(body, "services", true, &m->services, &e)) < 0 ||
	    (r = parse_map(body, "kvp", false, &m->kvp, &e)) < 0 ||
	    (r = check_distinct(m, &e)) < 0)
		goto fail;
	*ret_m = m;
	return 0;
fail:
	export_manifest_free(m);
	return err_set(err, r, "vm.json: %s", e.msg);
}

struct export_manifest *
export_manifest_free(struct export_manifest *m)
{
	if (!m)
		return NULL;
	for (size_t i = 0; i < m->n_disks; i++)
		free(m->disks[i].f.file);
	vm_desc_done(&m->desc);
	free(m->kernel.file);
	free(m->initrd.file);
	free(m->state.file);
	free(m->nvram.file);
	free(m->tpm.file);
	free(m->exported_at);
	free(m->exported_from);
	free(m->services);
	free(m->kvp);
	free(m);
	return NULL;
}

static json_t *
file_json(bool has, const struct export_file *f)
{
	if (!has)
		return json_null();
	return json_pack("{ss sI ss}", "file", f->file, "size",
	    (json_int_t)f->size, "sha256", f->sha256);
}

/* services and kvp are stored as JSON text; a row that holds something
 * else is written as null rather than as a broken manifest. */
static json_t *
map_json(const char *text)
{
	json_t *v = text ? json_loads(text, 0, NULL) : NULL;

	if (json_is_object(v))
		return v;
	json_decref(v);
	return json_null();
}

static json_t *
disks_json(const struct export_manifest *m)
{
	json_t *disks = json_array();

	for (size_t i = 0; i < m->n_disks; i++) {
		const struct export_disk *d = &m->disks[i];

		json_array_append_new(disks, json_pack("{ss ss sI sI ss}",
		    "name", d->name, "file", d->f.file,
		    "size", (json_int_t)d->f.size,
		    "virtual_size", (json_int_t)d->virtual_size,
		    "sha256", d->f.sha256));
	}
	return disks;
}

json_t *
export_manifest_to_json(const struct export_manifest *m)
{
	json_t *o = vm_desc_to_json(&m->desc);
	json_t *f = json_pack("{ss si ss ss so so so so so so so}",
	    "format", EXPORT_FORMAT, "version", m->version,
	    "exported_at", m->exported_at ? m->exported_at : "",
	    "exported_from", m->exported_from ? m->exported_from : "",
	    "cmdline", m->desc.cmdline ? json_string(m->desc.cmdline) :
	    json_null(),
	    "kernel", file_json(m->has_kernel, &m->kernel),
	    "initrd", file_json(m->has_initrd, &m->initrd),
	    "disks", disks_json(m),
	    "services", map_json(m->services), "kvp", map_json(m->kvp),
	    "saved_state", file_json(m->has_state, &m->state));

	if (m->has_nvram)
		json_object_set_new(f, "nvram", file_json(true, &m->nvram));
	if (m->has_tpm)
		json_object_set_new(f, "tpm_state", file_json(true, &m->tpm));
	json_object_update(o, f);
	json_decref(f);
	return o;
}
