/* seed_manifest.h - the replica seed's manifest (DIR/seed.json, written by
 * seed.c on the primary, format in docs/replica-format.md) read as
 * untrusted input: pure, base only, so that its fuzz target links it
 * alone.  What depends on the host (the replica, its primary, its disks,
 * the delta files) is checked by seed_import.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define SEED_MANIFEST_MAX (64 * 1024)
#define SEED_DISKS_MAX 16
#define SEED_DISK_NAME_MAX 15

struct seed_manifest_disk {
	char name[SEED_DISK_NAME_MAX + 1];	/* valid name; delta NAME.delta */
	int64_t size;		/* bytes, as written (matched by the importer) */
	int64_t delta_bytes;	/* > 0: the size of DIR/NAME.delta */
};

struct seed_manifest {
	char vm_uuid[37];
	char *vm_name, *primary, *primary_fingerprint;
	int64_t seq, base_seq;	/* always 1 and 0 once parsed */
	int64_t time_ms, exported_ms;	/* exported_ms 0 when absent */
	bool filesystem;	/* consistency "filesystem"; else crash */
	size_t n_disks;		/* 1..SEED_DISKS_MAX, names distinct */
	struct seed_manifest_disk disks[SEED_DISKS_MAX];
};

/* buf[len] (at most SEED_MANIFEST_MAX, need not end in NUL) into *m, or
 * -EINVAL with err naming the field; dir names the seed in the message
 * for what is not a seed at all.  On success, free with
 * seed_manifest_clear(). */
int seed_manifest_parse(const char *buf, size_t len, const char *dir,
    struct seed_manifest *m, struct err *err);
void seed_manifest_clear(struct seed_manifest *m);
