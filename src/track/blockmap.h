/* blockmap.h - per-block checksums of a disk's guest-visible content.
 *
 * A disk of `size` bytes is cut into blocks of `block_size` bytes (the
 * last one may be shorter); each block's checksum is XXH3-64 of its
 * bytes.  One map is recorded per backup or replication point; the same
 * map serves `verify` (every block against the point), the resync after
 * a crash made QEMU's dirty bitmaps inconsistent (read the disk, send
 * only the blocks whose checksum differs from the point's), and replica
 * verification.  A 64 KiB block size costs 8 bytes per 64 KiB of disk:
 * 128 MiB of map for 1 TiB.
 *
 * The file form (read back from a backup repository that may sit on a
 * share, so untrusted: blockmap_decode() checks everything), all integers
 * little-endian:
 *
 *   0   "TERNBMAP"      magic
 *   8   u32 version     1
 *   12  u32 block_size  a power of two, BLOCKMAP_BS_MIN..BLOCKMAP_BS_MAX
 *   16  u64 size        bytes, 1..VM_DISK_SIZE_MAX
 *   24  u64 n           blocks: ceil(size / block_size)
 *   32  n x u64         the blocks' checksums, in order
 *   ..  u64             XXH3-64 of every byte before it */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "block_size.h"
#include "err.h"

#define BLOCKMAP_BS_MIN BLOCK_SIZE_MIN
#define BLOCKMAP_BS_MAX BLOCK_SIZE_MAX
#define BLOCKMAP_BS_DEFAULT (64u << 10)
#define BLOCKMAP_HEADER 32u

struct blockmap {
	uint32_t block_size;
	uint64_t size;		/* of the disk, bytes */
	uint64_t n;		/* blocks */
	uint64_t *sum;		/* n checksums */
};

/* A map of a disk of size bytes, every checksum 0 (not yet computed). */
int blockmap_new(uint64_t size, uint32_t block_size, struct blockmap **ret,
    struct err *err);
/* NULL-safe; returns NULL. */
struct blockmap *blockmap_free(struct blockmap *m);

/* Bytes in block i (block_size, or less for the last one). */
uint64_t blockmap_block_len(const struct blockmap *m, uint64_t i);
/* The checksum of len bytes. */
uint64_t blockmap_hash(const void *data, size_t len);
/* Record block i from its bytes (len must be blockmap_block_len(m, i)). */
void blockmap_set(struct blockmap *m, uint64_t i, const void *data,
    size_t len);

/* The map of the first size bytes readable from fd (a raw image or a
 * device), read with pread from offset 0. */
int blockmap_from_fd(int fd, uint64_t size, uint32_t block_size,
    struct blockmap **ret, struct err *err);

/* The file form; the buffer is the caller's to free. */
void *blockmap_encode(const struct blockmap *m, size_t *ret_len);
/* Parse the file form; a clear error naming what is wrong otherwise. */
int blockmap_decode(const void *buf, size_t len, struct blockmap **ret,
    struct err *err);
int blockmap_save(const struct blockmap *m, const char *path,
    struct err *err);
int blockmap_load(const char *path, struct blockmap **ret, struct err *err);

/* Call fn for each run of consecutive blocks whose checksums differ
 * between a and b (byte offset and length; the last run ends at size).
 * -EINVAL when the maps are not of the same size and block size; fn's
 * negative return stops the walk and is returned. */
int blockmap_diff(const struct blockmap *a, const struct blockmap *b,
    int (*fn)(uint64_t off, uint64_t len, void *data), void *data,
    struct err *err);
