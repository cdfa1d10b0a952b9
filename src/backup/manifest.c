/* manifest.c - manifest.json of a backup point: point ids, the strict
 * parser (the file is read back from a repository that may sit on a share,
 * so every field is checked before it is believed) and the writer's JSON.
 * Pure: no host state, no file access, never logs. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "blockmap.h"
#include "jsonutil.h"
#include "manifest.h"
#include "util.h"

static const char *const kind_names[BK_KIND__COUNT] = {
	[BK_FULL] = "full",
	[BK_INCREMENTAL] = "incremental",
	[BK_RESYNC] = "resync",
};
static const char *const consistency_names[BK_CONSISTENCY__COUNT] = {
	[BK_CRASH] = "crash",
	[BK_FILESYSTEM] = "filesystem",
};

static const char *const top_fields[] = { "format", "version", "point",
	"parent", "time_ms", "vm", "kind", "consistency", "block_size",
	"disks", "firmware", NULL };
static const char *const fw_fields[] = { "nvram", "tpm_state", NULL };
static const char *const vm_fields[] = { "uuid", "name", "desc", NULL };
static const char *const disk_fields[] = { "name", "size", "image", "map",
	"backing", "image_sha256", "map_sha256", "changed_bytes",
	"read_bytes", "written_bytes", NULL };

const char *
bk_kind_name(enum bk_kind k)
{
	return k < BK_KIND__COUNT ? kind_names[k] : "?";
}

const char *
bk_consistency_name(enum bk_consistency c)
{
	return c < BK_CONSISTENCY__COUNT ? consistency_names[c] : "?";
}

void
bk_point_id(int64_t time_ms, char out[BK_POINT_ID_LEN])
{
	time_t secs = (time_t)(time_ms / 1000);
	char buf[64];	/* what gcc thinks ints may take; 19 do */
	struct tm tm;

	assert(time_ms >= 0 && time_ms <= BK_TIME_MS_MAX);
	gmtime_r(&secs, &tm);
	snprintf(buf, sizeof(buf), "%04d%02d%02dT%02d%02d%02d%03dZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, (int)(time_ms % 1000));
	memcpy(out, buf, BK_POINT_ID_LEN - 1);
	out[BK_POINT_ID_LEN - 1] = '\0';
}

/* The digits of s[at..at+n) as a number. */
static int
digits(const char *s, int at, int n)
{
	int v = 0;

	for (int i = at; i < at + n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* The time an id names, or -1 when it is not one bk_point_id() makes. */
static int64_t
point_id_time_ms(const char *s)
{
	struct tm tm = { 0 };
	char again[BK_POINT_ID_LEN];
	int64_t ms;

	if (!s || strlen(s) != BK_POINT_ID_LEN - 1 || s[8] != 'T' ||
	    s[18] != 'Z')
		return -1;
	for (int i = 0; i < 18; i++)
		if (i != 8 && !isdigit((unsigned char)s[i]))
			return -1;
	tm.tm_year = digits(s, 0, 4) - 1900;
	tm.tm_mon = digits(s, 4, 2) - 1;
	tm.tm_mday = digits(s, 6, 2);
	tm.tm_hour = digits(s, 9, 2);
	tm.tm_min = digits(s, 11, 2);
	tm.tm_sec = digits(s, 13, 2);
	ms = (int64_t)timegm(&tm) * 1000 + digits(s, 15, 3);
	if (ms < 0 || ms > BK_TIME_MS_MAX)
		return -1;
	/* timegm() normalises 20261332 into a real date: the round trip
	 * refuses what is not one. */
	bk_point_id(ms, again);
	return streq(again, s) ? ms : -1;
}

bool
bk_point_id_valid(const char *s)
{
	return point_id_time_ms(s) >= 0;
}

bool
bk_name_is_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > BK_NAME_MAX || s[0] == '.' || s[0] == '-' ||
	    strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];

		if (!isalnum(c) && c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

bool
bk_uuid_is_valid(const char *s)
{
	if (!uuid_is_valid(s))
		return false;
	for (; *s; s++)
		if (isupper((unsigned char)*s))
			return false;
	return true;
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

/* A string field that must be one of names[0..n). */
static int
parse_enum(const json_t *o, const char *key, const char *const *names,
    int n, int *ret, struct err *err)
{
	const char *s = NULL;
	int r;

	if ((r = json_get_str(o, key, true, &s, err)) < 0)
		return r;
	for (int i = 0; i < n; i++)
		if (streq(s, names[i])) {
			*ret = i;
			return 0;
		}
	char list[80];
	size_t off = 0;

	for (int i = 0; i < n && off < sizeof(list); i++)
		off += snprintf(list + off, sizeof(list) - off, "%s'%s'",
		    i ? ", " : "", names[i]);
	return err_set(err, -EINVAL, "field '%s' is '%.64s', must be one of "
	    "%s", key, s, list);
}

/* A key that must be present, as a string or null ("" for null). */
static int
parse_str_or_null(const json_t *o, const char *key, const char **ret,
    struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (!v)
		return err_set(err, -EINVAL, "missing field '%s'", key);
	*ret = "";
	if (json_is_null(v))
		return 0;
	return json_get_str(o, key, true, ret, err);
}

/* format and version, before any other field: a newer manifest is
 * refused as newer, not for a field this tern does not know. */
static int
parse_version(const json_t *body, struct err *err)
{
	const char *format = NULL;
	int64_t v = 0;
	int r;

	if ((r = json_get_str(body, "format", true, &format, err)) < 0)
		return r;
	if (!streq(format, BK_FORMAT))
		return err_set(err, -EINVAL, "field 'format' is '%.64s', not "
		    "'%s': not a tern backup point", format, BK_FORMAT);
	if ((r = json_get_int(body, "version", true, 1, INT32_MAX, &v,
	    err)) < 0)
		return r;
	if (v > BK_VERSION)
		return err_set(err, -EINVAL, "field 'version' is %lld, newer "
		    "than this tern reads (%d): read it with a newer tern",
		    (long long)v, BK_VERSION);
	return 0;
}

/* point, parent, time_ms. */
static int
parse_header(const json_t *body, struct bk_manifest *m, struct err *err)
{
	const char *point = NULL, *parent = NULL;
	int64_t t = 0;
	int r;

	if ((r = json_get_str(body, "point", true, &point, err)) < 0 ||
	    (r = parse_str_or_null(body, "parent", &parent, err)) < 0 ||
	    (r = json_get_int(body, "time_ms", true, 0, BK_TIME_MS_MAX, &t,
	    err)) < 0)
		return r;
	if (point_id_time_ms(point) != t)
		return err_set(err, -EINVAL, "field 'point' is '%.32s', must "
		    "be time_ms as YYYYMMDDTHHMMSSmmmZ in UTC", point);
	if (*parent && !bk_point_id_valid(parent))
		return err_set(err, -EINVAL, "field 'parent' is '%.32s', must "
		    "be a point id (YYYYMMDDTHHMMSSmmmZ) or null", parent);
	if (*parent && strcmp(parent, point) >= 0)
		return err_set(err, -EINVAL, "field 'parent' is '%s', must be "
		    "a point older than '%s'", parent, point);
	memcpy(m->point, point, BK_POINT_ID_LEN);
	snprintf(m->parent, sizeof(m->parent), "%s", parent);
	m->time_ms = t;
	return 0;
}

/* "vm": {"uuid", "name", "desc"}. */
static int
parse_vm(const json_t *body, struct bk_manifest *m, struct err *err)
{
	const json_t *vm = json_object_get(body, "vm"), *desc;
	const char *uuid = NULL, *name = NULL;
	struct err e = { 0 };
	int r;

	if (!json_is_object(vm))
		return err_set(err, -EINVAL, "field 'vm' must be an object");
	if ((r = json_check_fields_in(vm, vm_fields, NULL, &e)) < 0 ||
	    (r = json_get_str(vm, "uuid", true, &uuid, &e)) < 0 ||
	    (r = json_get_str(vm, "name", true, &name, &e)) < 0)
		return err_set(err, r, "vm: %s", e.msg);
	if (!bk_uuid_is_valid(uuid))
		return err_set(err, -EINVAL, "field 'vm.uuid' is '%.40s', must "
		    "be a UUID in lower case", uuid);
	if (!name_is_valid(name))
		return err_set(err, -EINVAL, "field 'vm.name' is '%.64s', must "
		    "be 1-63 of letters, digits, '.', '_' and '-'", name);
	desc = json_object_get(vm, "desc");
	if (!json_is_object(desc))
		return err_set(err, -EINVAL, "field 'vm.desc' must be an "
		    "object (the VM's description)");
	memcpy(m->vm_uuid, uuid, BK_UUID_LEN);
	snprintf(m->vm_name, sizeof(m->vm_name), "%s", name);
	m->desc = json_incref((json_t *)desc);
	return 0;
}

/* A disk's name and its files' names: "vda", "vda.qcow2", "vda.map". */
static int
parse_disk_names(const json_t *o, struct bk_disk *d, struct err *err)
{
	const char *name = NULL, *image = NULL, *map = NULL, *backing = NULL;
	int r;

	if ((r = json_get_str(o, "name", true, &name, err)) < 0 ||
	    (r = json_get_str(o, "image", true, &image, err)) < 0 ||
	    (r = json_get_str(o, "map", true, &map, err)) < 0 ||
	    (r = parse_str_or_null(o, "backing", &backing, err)) < 0)
		return r;
	if (!bk_name_is_valid(name))
		return err_set(err, -EINVAL, "field 'name' is '%.64s', must be "
		    "1-%d of letters, digits, '.', '_' and '-' (not starting "
		    "with '.' or '-', no '..')", name, BK_NAME_MAX);
	snprintf(d->name, sizeof(d->name), "%s", name);
	snprintf(d->image, sizeof(d->image), "%s.qcow2", name);
	snprintf(d->map, sizeof(d->map), "%s.map", name);
	if (!streq(image, d->image))
		return err_set(err, -EINVAL, "field 'image' is '%.80s', must "
		    "be '%s'", image, d->image);
	if (!streq(map, d->map))
		return err_set(err, -EINVAL, "field 'map' is '%.80s', must be "
		    "'%s'", map, d->map);
	/* Checked against the parent by check_lineage(). */
	if (strlen(backing) >= sizeof(d->backing))
		return err_set(err, -EINVAL, "field 'backing' is too long");
	snprintf(d->backing, sizeof(d->backing), "%s", backing);
	return 0;
}

static int
parse_sha256(const json_t *o, const char *key, char out[65],
    struct err *err)
{
	const char *s = NULL;
	int r;

	if ((r = json_get_str(o, key, true, &s, err)) < 0)
		return r;
	if (!is_sha256_hex(s))
		return err_set(err, -EINVAL, "field '%s' must be 64 lower-case "
		    "hex digits", key);
	memcpy(out, s, 65);
	return 0;
}

/* "firmware": {"nvram": sha256 or null, "tpm_state": sha256 or null},
 * optional. */
static int
parse_fw(const json_t *body, struct bk_manifest *m, struct err *err)
{
	const json_t *fw = json_object_get(body, "firmware");
	int r;

	if (!fw || json_is_null(fw))
		return 0;
	if (!json_is_object(fw))
		return err_set(err, -EINVAL, "field 'firmware' must be an "
		    "object or null");
	if ((r = json_check_fields_in(fw, fw_fields, NULL, err)) < 0)
		return r;
	if (json_is_string(json_object_get(fw, "nvram")) && (r =
	    parse_sha256(fw, "nvram", m->nvram_sha256, err)) < 0)
		return r;
	if (json_is_string(json_object_get(fw, "tpm_state")) && (r =
	    parse_sha256(fw, "tpm_state", m->tpm_sha256, err)) < 0)
		return r;
	if ((json_object_get(fw, "nvram") && !json_is_null(json_object_get(
	    fw, "nvram")) && !m->nvram_sha256[0]) ||
	    (json_object_get(fw, "tpm_state") && !json_is_null(
	    json_object_get(fw, "tpm_state")) && !m->tpm_sha256[0]))
		return err_set(err, -EINVAL, "firmware's nvram and tpm_state "
		    "must be sha256 strings or null");
	return 0;
}

/* Sizes, counts and checksums. */
static int
parse_disk_numbers(const json_t *o, struct bk_disk *d, struct err *err)
{
	int64_t size = 0, changed = 0, rd = 0, wr = 0;
	int r;

	if ((r = json_get_int(o, "size", true, 1, VM_DISK_SIZE_MAX, &size,
	    err)) < 0 ||
	    (r = json_get_int(o, "changed_bytes", true, 0, size, &changed,
	    err)) < 0 ||
	    (r = json_get_int(o, "read_bytes", true, 0, BK_BYTES_MAX, &rd,
	    err)) < 0 ||
	    (r = json_get_int(o, "written_bytes", true, 0, BK_BYTES_MAX, &wr,
	    err)) < 0 ||
	    (r = parse_sha256(o, "image_sha256", d->image_sha256, err)) < 0 ||
	    (r = parse_sha256(o, "map_sha256", d->map_sha256, err)) < 0)
		return r;
	d->size = size;
	d->changed_bytes = changed;
	d->read_bytes = rd;
	d->written_bytes = wr;
	return 0;
}

static int
parse_disks(const json_t *body, struct bk_manifest *m, struct err *err)
{
	const json_t *disks = json_object_get(body, "disks"), *o;
	struct err e = { 0 };
	size_t n = json_array_size(disks);
	int r;

	if (!json_is_array(disks) || n < 1 || n > VM_MAX_DISKS)
		return err_set(err, -EINVAL, "field 'disks' must be an array "
		    "of 1 to %d disks", VM_MAX_DISKS);
	for (size_t i = 0; i < n; i++) {
		o = json_array_get(disks, i);
		if (!json_is_object(o))
			return err_set(err, -EINVAL, "disks[%zu] must be an "
			    "object", i);
		if ((r = json_check_fields_in(o, disk_fields, NULL, &e)) < 0 ||
		    (r = parse_disk_names(o, &m->disks[i], &e)) < 0 ||
		    (r = parse_disk_numbers(o, &m->disks[i], &e)) < 0)
			return err_set(err, r, "disks[%zu]: %s", i, e.msg);
		for (size_t j = 0; j < i; j++)
			if (streq(m->disks[j].name, m->disks[i].name))
				return err_set(err, -EINVAL, "disks[%zu]: "
				    "field 'name' is '%s', as disks[%zu]'s: "
				    "disk names must differ", i,
				    m->disks[i].name, j);
	}
	m->n_disks = n;
	return 0;
}

/* full <=> no parent <=> no backing file; otherwise each image's backing
 * file is the same disk's image in the parent point. */
static int
check_lineage(const struct bk_manifest *m, struct err *err)
{
	bool full = m->kind == BK_FULL;
	char want[sizeof(m->disks[0].backing)];

	if (full && *m->parent)
		return err_set(err, -EINVAL, "field 'parent' must be null for "
		    "a full point");
	if (!full && !*m->parent)
		return err_set(err, -EINVAL, "field 'parent' must name the "
		    "previous point for a%s point", m->kind == BK_RESYNC ?
		    " resync" : "n incremental");
	for (size_t i = 0; i < m->n_disks; i++) {
		const struct bk_disk *d = &m->disks[i];

		snprintf(want, sizeof(want), "../%s/%s", m->parent, d->image);
		if (full && *d->backing)
			return err_set(err, -EINVAL, "disks[%zu]: field "
			    "'backing' must be null for a full point", i);
		if (!full && !streq(d->backing, want))
			return err_set(err, -EINVAL, "disks[%zu]: field "
			    "'backing' is '%.100s', must be '%s'", i,
			    d->backing, want);
	}
	return 0;
}

/* kind, consistency, block_size. */
static int
parse_kind(const json_t *body, struct bk_manifest *m, struct err *err)
{
	int kind = 0, cons = 0;
	int64_t bs = 0;
	int r;

	if ((r = parse_enum(body, "kind", kind_names, BK_KIND__COUNT, &kind,
	    err)) < 0 ||
	    (r = parse_enum(body, "consistency", consistency_names,
	    BK_CONSISTENCY__COUNT, &cons, err)) < 0 ||
	    (r = json_get_int(body, "block_size", true, BLOCKMAP_BS_MIN,
	    BLOCKMAP_BS_MAX, &bs, err)) < 0)
		return r;
	if (bs & (bs - 1))
		return err_set(err, -EINVAL, "field 'block_size' is %lld, must "
		    "be a power of two", (long long)bs);
	m->kind = kind;
	m->consistency = cons;
	m->block_size = bs;
	return 0;
}

int
bk_manifest_parse(const char *buf, size_t len, struct bk_manifest *m,
    struct err *err)
{
	_cleanup_json_ json_t *body = NULL;
	int r;

	memset(m, 0, sizeof(*m));
	if (len > BK_MANIFEST_MAX)
		return err_set(err, -EFBIG, "manifest is %zu bytes, over the "
		    "limit of %d", len, BK_MANIFEST_MAX);
	if ((r = json_parse_object(buf, len, &body, err)) < 0 ||
	    (r = parse_version(body, err)) < 0 ||
	    (r = json_check_fields_in(body, top_fields, NULL, err)) < 0 ||
	    (r = parse_header(body, m, err)) < 0 ||
	    (r = parse_kind(body, m, err)) < 0 ||
	    (r = parse_disks(body, m, err)) < 0 ||
	    (r = parse_fw(body, m, err)) < 0 ||
	    (r = check_lineage(m, err)) < 0 ||
	    (r = parse_vm(body, m, err)) < 0) {
		bk_manifest_clear(m);
		return r;
	}
	return 0;
}

void
bk_manifest_clear(struct bk_manifest *m)
{
	if (!m)
		return;
	json_decref(m->desc);
	memset(m, 0, sizeof(*m));
}

static json_t *
str_or_null(const char *s)
{
	return *s ? json_string(s) : json_null();
}

static json_t *
disk_json(const struct bk_disk *d)
{
	return json_pack("{ss sI ss ss so ss ss sI sI sI}",
	    "name", d->name, "size", (json_int_t)d->size,
	    "image", d->image, "map", d->map,
	    "backing", str_or_null(d->backing),
	    "image_sha256", d->image_sha256, "map_sha256", d->map_sha256,
	    "changed_bytes", (json_int_t)d->changed_bytes,
	    "read_bytes", (json_int_t)d->read_bytes,
	    "written_bytes", (json_int_t)d->written_bytes);
}

json_t *
bk_manifest_to_json(const struct bk_manifest *m)
{
	json_t *disks = json_array(), *o;

	for (size_t i = 0; i < m->n_disks; i++)
		json_array_append_new(disks, disk_json(&m->disks[i]));
	o = json_pack("{ss si ss so sI s{ss ss sO} ss ss si so}",
	    "format", BK_FORMAT, "version", BK_VERSION,
	    "point", m->point, "parent", str_or_null(m->parent),
	    "time_ms", (json_int_t)m->time_ms,
	    "vm", "uuid", m->vm_uuid, "name", m->vm_name, "desc", m->desc,
	    "kind", bk_kind_name(m->kind),
	    "consistency", bk_consistency_name(m->consistency),
	    "block_size", (int)m->block_size, "disks", disks);
	if (o && (m->nvram_sha256[0] || m->tpm_sha256[0]))
		json_object_set_new(o, "firmware", json_pack("{so so}",
		    "nvram", str_or_null(m->nvram_sha256), "tpm_state",
		    str_or_null(m->tpm_sha256)));
	return o;
}
