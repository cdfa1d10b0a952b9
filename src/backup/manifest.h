/* manifest.h - the manifest of a backup point (manifest.json): the struct,
 * the strict parser for what is read back from a repository that may sit
 * on a share (so untrusted), the writer's JSON, and point ids.  The format
 * and its version rule are in docs/backup-format.md; change both together.
 * Pure: no file access, never logs (the fuzz target drives the parser). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "vm_limits.h"

#define BK_FORMAT "tern-backup-point"
#define BK_VERSION 1
#define BK_MANIFEST "manifest.json"
#define BK_MANIFEST_MAX (1024 * 1024)	/* bytes of manifest.json */
/* A UEFI VM's NVRAM and a TPM's permanent state, in the point's
 * directory when the manifest's "firmware" names them. */
#define BK_NVRAM "nvram.fd"
#define BK_TPM "tpm2-00.permall"
#define BK_NAME_MAX 64			/* a disk name, bytes */
#define BK_UUID_LEN 37			/* 36 characters and NUL */
/* "YYYYMMDDTHHMMSSmmmZ" and NUL: UTC to the millisecond, so that two
 * points made in one second differ and ids sort in time order. */
#define BK_POINT_ID_LEN 20
/* time_ms bounds: a point id has a four-digit year. */
#define BK_TIME_MS_MAX 253402300799999LL	/* 9999-12-31T23:59:59.999Z */
/* read_bytes and written_bytes: a sanity bound, not a measure (qcow2
 * metadata may make an image a little larger than its disk). */
#define BK_BYTES_MAX (2 * VM_DISK_SIZE_MAX)

enum bk_kind {
	BK_FULL,		/* every block; no parent */
	BK_INCREMENTAL,		/* the blocks QEMU's dirty bitmap names */
	BK_RESYNC,		/* the blocks whose checksum differs from the
				 * parent's map (after a crash lost the
				 * bitmaps) */
	BK_KIND__COUNT
};

enum bk_consistency {
	BK_CRASH,		/* as if the power failed */
	BK_FILESYSTEM,		/* the guest agent froze the file systems */
	BK_CONSISTENCY__COUNT
};

/* One disk at the point.  Invariants (bk_manifest_parse checks them):
 * name is bk_name_is_valid(); image is name + ".qcow2", map is name +
 * ".map"; backing is "" for a full point, else "../" parent "/" image;
 * 1 <= size <= VM_DISK_SIZE_MAX; changed_bytes <= size; the sha256s are
 * 64 lower-case hex digits. */
struct bk_disk {
	char name[BK_NAME_MAX + 1];
	uint64_t size;				/* guest-visible, bytes */
	char image[BK_NAME_MAX + 8];		/* "vda.qcow2" */
	char map[BK_NAME_MAX + 8];		/* "vda.map" */
	char backing[BK_NAME_MAX + 40];		/* "" = none */
	char image_sha256[65], map_sha256[65];
	uint64_t changed_bytes;	/* bytes of blocks that changed since parent */
	uint64_t read_bytes;	/* bytes read from the disk to make the point */
	uint64_t written_bytes;	/* bytes written into the image */
};

/* A backup point.  Invariants: point is bk_point_id(time_ms); parent is
 * "" exactly when kind is BK_FULL, else a point id sorting before point;
 * vm_uuid is a lower-case canonical UUID; vm_name is name_is_valid();
 * desc is a JSON object (owned: one reference, dropped by
 * bk_manifest_clear); block_size is a power of two in BLOCKMAP_BS_MIN..
 * BLOCKMAP_BS_MAX; 1 <= n_disks <= VM_MAX_DISKS, names distinct. */
struct bk_manifest {
	char point[BK_POINT_ID_LEN];
	char parent[BK_POINT_ID_LEN];		/* "" = none */
	int64_t time_ms;			/* wall clock, ms since epoch */
	char vm_uuid[BK_UUID_LEN];
	char vm_name[BK_NAME_MAX];
	json_t *desc;				/* the VM's description */
	enum bk_kind kind;
	enum bk_consistency consistency;
	uint32_t block_size;			/* of the maps */
	size_t n_disks;
	struct bk_disk disks[VM_MAX_DISKS];
	/* sha256 of BK_NVRAM and BK_TPM in the point; "" = not in it */
	char nvram_sha256[65], tpm_sha256[65];
};

/* "full", "incremental", "resync"; "crash", "filesystem". */
const char *bk_kind_name(enum bk_kind k);
const char *bk_consistency_name(enum bk_consistency c);

/* The id of a point made at time_ms (0..BK_TIME_MS_MAX), UTC:
 * 1733432400123 -> "20241205T210000123Z". */
void bk_point_id(int64_t time_ms, char out[BK_POINT_ID_LEN]);
/* True when s is an id bk_point_id() makes (a real date and time). */
bool bk_point_id_valid(const char *s);
/* A disk name: 1..BK_NAME_MAX of [A-Za-z0-9._-], not starting with '.' or
 * '-', no "..": safe as a file name in a point's directory. */
bool bk_name_is_valid(const char *s);
/* A canonical UUID in lower case, as the repository's directories are
 * named. */
bool bk_uuid_is_valid(const char *s);

/* Parse len bytes of manifest.json into *m (which it fills from zero).
 * Every rule of docs/backup-format.md is checked; the error names the
 * field and what is wrong (-EINVAL; -EFBIG over BK_MANIFEST_MAX).  On
 * failure *m holds nothing to free. */
int bk_manifest_parse(const char *buf, size_t len, struct bk_manifest *m,
    struct err *err);
/* The JSON of m (a new reference; desc is shared, not copied).  m must
 * satisfy the invariants above: what this writes, the parser reads back
 * to an equal manifest. */
json_t *bk_manifest_to_json(const struct bk_manifest *m);
/* Drop m's reference to desc and zero m; NULL-safe. */
void bk_manifest_clear(struct bk_manifest *m);
