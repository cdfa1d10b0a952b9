/* seed_manifest.c - the replica seed's manifest read as untrusted input
 * (see seed_manifest.h): JSON of at most 64 KiB, format and version, no
 * unknown field, every field of its type and range, point 1 on 0, 1..16
 * disks of distinct valid names whose deltas are NAME.delta.  Base only;
 * fuzzed by tests/fuzz/fuzz_seed_manifest.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "seed_manifest.h"
#include "util.h"

static const char *
sm_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int64_t
sm_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* Format, version, no unknown field. */
static int
sm_head(const char *buf, size_t len, const char *dir, json_t **ret,
    struct err *err)
{
	static const char *const fields[] = { "format", "version", "vm_uuid",
		"vm_name", "primary", "primary_fingerprint", "seq",
		"base_seq", "time_ms", "consistency", "exported_ms", "disks",
		NULL };
	json_t *o = NULL;
	int64_t version;
	int r;

	if (len > SEED_MANIFEST_MAX ||
	    json_parse_object(buf, len, &o, NULL) < 0 ||
	    !streq(sm_str(o, "format"), "tern-replica-seed")) {
		json_decref(o);
		return err_set(err, -EINVAL, "%.120s is not a replication seed "
		    "(no readable seed.json written by 'tern vm replication "
		    "enable --initial offline')", dir);
	}
	version = sm_int(o, "version");
	if ((r = json_check_fields_in(o, fields, "seed.json", err)) < 0 ||
	    version != 1) {
		json_decref(o);
		return r < 0 ? r : err_set(err, -EINVAL, "seed.json: version "
		    "%lld is not one this tern reads (1)", (long long)version);
	}
	*ret = o;
	return 0;
}

/* The manifest's own fields: types and ranges, point 1 on 0. */
static int
sm_fields(const json_t *o, struct seed_manifest *m, struct err *err)
{
	const char *uuid, *name, *primary, *fp, *cons = NULL;
	int r;

	if ((r = json_get_str(o, "vm_uuid", true, &uuid, err)) < 0 ||
	    (r = json_get_str(o, "vm_name", true, &name, err)) < 0 ||
	    (r = json_get_str(o, "primary", true, &primary, err)) < 0 ||
	    (r = json_get_str(o, "primary_fingerprint", true, &fp, err)) < 0 ||
	    (r = json_get_str(o, "consistency", false, &cons, err)) < 0 ||
	    (r = json_get_int(o, "seq", true, 1, INT64_MAX, &m->seq,
	    err)) < 0 ||
	    (r = json_get_int(o, "base_seq", true, 0, INT64_MAX, &m->base_seq,
	    err)) < 0 ||
	    (r = json_get_int(o, "time_ms", true, 0, INT64_MAX, &m->time_ms,
	    err)) < 0 ||
	    (r = json_get_int(o, "exported_ms", false, 0, INT64_MAX,
	    &m->exported_ms, err)) < 0)
		return r;
	if (!uuid_is_valid(uuid))
		return err_set(err, -EINVAL, "seed.json: vm_uuid is not a uuid");
	if (m->seq != 1 || m->base_seq != 0)
		return err_set(err, -EINVAL, "the seed is point %lld on %lld; "
		    "the replica of vm '%s' takes point 1 on 0 (a first, full "
		    "point)", (long long)m->seq, (long long)m->base_seq, name);
	memcpy(m->vm_uuid, uuid, sizeof(m->vm_uuid));
	m->vm_name = xstrdup(name);
	m->primary = xstrdup(primary);
	m->primary_fingerprint = xstrdup(fp);
	m->filesystem = streq(cons, "filesystem");
	return 0;
}

/* disks[i]: its fields, a valid name, its delta NAME.delta. */
static int
sm_disk(const json_t *d, size_t i, struct seed_manifest_disk *out,
    struct err *err)
{
	static const char *const fields[] = { "name", "size", "delta",
		"delta_bytes", NULL };
	const char *name = sm_str(d, "name");
	_cleanup_free_ char *want = NULL;
	int r;

	if (json_is_object(d) && (r = json_check_fields_in(d, fields,
	    "seed.json disks", err)) < 0)
		return r;
	if (!json_is_object(d) || !name || !name_is_valid(name) ||
	    strlen(name) > SEED_DISK_NAME_MAX ||
	    !json_is_integer(json_object_get(d, "size")) ||
	    !json_is_integer(json_object_get(d, "delta_bytes")) ||
	    sm_int(d, "delta_bytes") <= 0)
		return err_set(err, -EINVAL, "seed.json: disks[%zu] needs "
		    "name, size, delta and delta_bytes", i);
	want = xasprintf("%s.delta", name);
	if (!streq(sm_str(d, "delta"), want))
		return err_set(err, -EINVAL, "seed.json: disks[%zu]: the delta "
		    "of disk %s is %s", i, name, want);
	strcpy(out->name, name);
	out->size = sm_int(d, "size");
	out->delta_bytes = sm_int(d, "delta_bytes");
	return 0;
}

static int
sm_disks(const json_t *o, struct seed_manifest *m, struct err *err)
{
	json_t *arr = json_object_get(o, "disks"), *d;
	size_t i;
	int r;

	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > SEED_DISKS_MAX)
		return err_set(err, -EINVAL, "seed.json: disks must be a list "
		    "of 1..%d disks", SEED_DISKS_MAX);
	json_array_foreach(arr, i, d) {
		if ((r = sm_disk(d, i, &m->disks[i], err)) < 0)
			return r;
		for (size_t k = 0; k < i; k++)
			if (streq(m->disks[k].name, m->disks[i].name))
				return err_set(err, -EINVAL, "seed.json: disk "
				    "%s is given twice", m->disks[i].name);
		m->n_disks = i + 1;
	}
	return 0;
}

int
seed_manifest_parse(const char *buf, size_t len, const char *dir,
    struct seed_manifest *m, struct err *err)
{
	_cleanup_json_ json_t *o = NULL;
	int r;

	memset(m, 0, sizeof(*m));
	if ((r = sm_head(buf, len, dir, &o, err)) < 0 ||
	    (r = sm_fields(o, m, err)) < 0 ||
	    (r = sm_disks(o, m, err)) < 0) {
		seed_manifest_clear(m);
		return r;
	}
	return 0;
}

void
seed_manifest_clear(struct seed_manifest *m)
{
	free(m->vm_name);
	free(m->primary);
	free(m->primary_fingerprint);
	memset(m, 0, sizeof(*m));
}
