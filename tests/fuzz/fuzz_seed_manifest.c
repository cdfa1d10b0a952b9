/* fuzz_seed_manifest.c - fuzz the replica seed's manifest parser
 * (src/replica/seed_manifest.c): seed.json comes on a disk carried from
 * another host, so untrusted.  Whatever it accepts must hold what the
 * importer relies on (a uuid, point 1 on 0, 1..16 disks of distinct
 * valid names, delta_bytes > 0) and, written back as JSON, parse again
 * to the same manifest; anything else aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "seed_manifest.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *
to_json(const struct seed_manifest *m)
{
	json_t *disks = json_array();

	for (size_t i = 0; i < m->n_disks; i++) {
		char *delta = xasprintf("%s.delta", m->disks[i].name);

		json_array_append_new(disks, json_pack("{ss sI ss sI}",
		    "name", m->disks[i].name, "size",
		    (json_int_t)m->disks[i].size, "delta", delta,
		    "delta_bytes", (json_int_t)m->disks[i].delta_bytes));
		free(delta);
	}
	return json_pack("{ss si ss ss ss ss sI sI sI ss sI so}", "format",
	    "tern-replica-seed", "version", 1, "vm_uuid", m->vm_uuid,
	    "vm_name", m->vm_name, "primary", m->primary,
	    "primary_fingerprint", m->primary_fingerprint, "seq",
	    (json_int_t)m->seq, "base_seq", (json_int_t)m->base_seq,
	    "time_ms", (json_int_t)m->time_ms, "consistency",
	    m->filesystem ? "filesystem" : "crash", "exported_ms",
	    (json_int_t)m->exported_ms, "disks", disks);
}

static void
check(const struct seed_manifest *m)
{
	if (!uuid_is_valid(m->vm_uuid) || m->seq != 1 || m->base_seq != 0 ||
	    !m->vm_name || !m->primary || !m->primary_fingerprint ||
	    m->n_disks == 0 || m->n_disks > SEED_DISKS_MAX)
		abort();
	for (size_t i = 0; i < m->n_disks; i++) {
		if (!name_is_valid(m->disks[i].name) ||
		    strlen(m->disks[i].name) > SEED_DISK_NAME_MAX ||
		    m->disks[i].delta_bytes <= 0)
			abort();
		for (size_t k = 0; k < i; k++)
			if (streq(m->disks[k].name, m->disks[i].name))
				abort();
	}
}

static bool
same(const struct seed_manifest *a, const struct seed_manifest *b)
{
	return streq(a->vm_uuid, b->vm_uuid) && streq(a->vm_name, b->vm_name) &&
	    streq(a->primary, b->primary) &&
	    streq(a->primary_fingerprint, b->primary_fingerprint) &&
	    a->time_ms == b->time_ms && a->exported_ms == b->exported_ms &&
	    a->filesystem == b->filesystem && a->n_disks == b->n_disks &&
	    memcmp(a->disks, b->disks, sizeof(a->disks)) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seed_manifest a, b;
	json_t *j;
	char *text;

	if (seed_manifest_parse((const char *)data, size, "fuzz", &a,
	    NULL) < 0)
		return 0;
	check(&a);
	j = to_json(&a);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (!text || seed_manifest_parse(text, strlen(text), "fuzz", &b,
	    NULL) < 0 || !same(&a, &b))
		abort();
	json_decref(j);
	free(text);
	seed_manifest_clear(&a);
	seed_manifest_clear(&b);
	return 0;
}
