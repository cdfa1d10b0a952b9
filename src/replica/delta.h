/* delta.h - the delta stream (format v1): the blocks of one disk changed
 * between two replication cycles, framed with per-extent checksums and a
 * hash chain, optionally zstd-compressed.  The replica host reads it as
 * untrusted input: the reader checks every field, never allocates more
 * than DELTA_DATA_MAX plus its zstd bound, and names what is wrong.
 *
 * All integers little-endian.  The header (DELTA_HEADER_LEN bytes):
 *
 *   0   "TERNDLT1"        magic
 *   8   u32 version       1
 *   12  u32 flags         bit0: payloads zstd-compressed where it helps;
 *                         other bits 0
 *   16  u64 seq           this cycle, >= 1
 *   24  u64 base_seq      the acknowledged cycle it applies on, < seq
 *                         (0: onto an empty disk)
 *   32  u64 created_ms    unix ms
 *   40  u8  uuid[16]      the VM's uuid, raw
 *   56  char disk[16]     the disk's name ("vda"): 1..15 of [a-z0-9_-],
 *                         NUL-padded
 *   72  u64 disk_size     bytes, 1..VM_DISK_SIZE_MAX
 *   80  u32 block_size    power of two, BLOCK_SIZE_MIN..BLOCK_SIZE_MAX
 *   84  u64 header_sum    XXH3-64 of bytes 0..83
 *
 * Then frames, each a DELTA_FRAME_LEN-byte frame header and, for DATA,
 * payload_len bytes of payload:
 *
 *   0   u8  type          1 DATA, 2 ZERO, 3 END
 *   1   u8  flags         bit0: payload zstd-compressed (DATA only, and
 *                         only when the header's bit0 is set)
 *   2   u16 reserved      0
 *   4   u32 payload_len   bytes stored after this header (0: ZERO, END)
 *   8   u64 offset        guest byte offset (END: 0)
 *   16  u64 length        guest bytes (END: the number of frames before)
 *   24  u64 data_sum      DATA: XXH3-64 of the uncompressed bytes;
 *                         ZERO: 0; END: the guest bytes of all frames
 *   32  u64 chain         XXH3-64 of the previous chain value (u64; the
 *                         header_sum for the first frame) followed by
 *                         bytes 0..31 of this frame
 *
 * Rules the reader enforces: offsets are multiples of 512, lengths too
 * unless the frame ends exactly at disk_size; offset + length <=
 * disk_size; frames in increasing order and not overlapping; DATA length
 * 1..DELTA_DATA_MAX; a raw payload is exactly length bytes, a compressed
 * one at most ZSTD_compressBound(length) and decompresses to exactly
 * length bytes; ZERO length >= 1; END closes the stream, nothing after
 * it.  The chain makes dropping, reordering or replaying a frame fail.
 *
 * Version rule: a reader refuses any version but its own; a change of
 * layout or meaning is a new version (and a new magic digit). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DELTA_MAGIC "TERNDLT1"
#define DELTA_VERSION 1u
#define DELTA_HEADER_LEN 92u
#define DELTA_FRAME_LEN 40u
/* tern-replica-apply's exit status when it refused a delta (the overlay
 * untouched); ternd tells a refused delta from other failures by it. */
#define DELTA_APPLY_REJECTED 3
/* ... and when the new point, read back after its fsync, holds other
 * data than the delta wrote (a checksum mismatch of what the replica
 * stored, not of the stream): health critical, a resync is due. */
#define DELTA_APPLY_MISMATCH 4
#define DELTA_DATA_MAX (4u << 20)	/* guest bytes per DATA frame */
#define DELTA_SECTOR 512u
#define DELTA_DISK_NAME_MAX 15u

#define DELTA_F_COMPRESS 0x1u		/* header and frame flag bit0 */

enum delta_type {
	DELTA_DATA = 1,
	DELTA_ZERO = 2,
	DELTA_END = 3,
};

struct delta_header {
	uint64_t seq, base_seq, created_ms;
	uint8_t uuid[16];
	char disk[DELTA_DISK_NAME_MAX + 1];	/* NUL-terminated */
	uint64_t disk_size;
	uint32_t block_size;
	uint32_t flags;		/* DELTA_F_COMPRESS or 0 */
};

/* A frame as delta_next() yields it.  data (DATA only) holds length
 * verified, uncompressed bytes, owned by the reader and valid until the
 * next call. */
struct delta_frame {
	enum delta_type type;
	uint64_t index;		/* 1 for the first frame */
	uint64_t offset, length, data_sum;
	uint32_t payload_len;
	bool compressed;
	const void *data;
};

/* Counted over DATA and ZERO frames; stream_bytes counts every byte. */
struct delta_stats {
	uint64_t frames, guest_bytes, data_bytes, zero_bytes;
	uint64_t stored_bytes;	/* payload bytes (after compression) */
	uint64_t stream_bytes;	/* header, frame headers, payloads */
};

/* Check h's fields against the rules above; -EINVAL naming the field. */
int delta_header_check(const struct delta_header *h, struct err *err);

/* ---- writing ---- */

struct delta_writer;

/* Write h (flags taken from compress) to fd and return a writer that
 * appends frames to it.  fd stays the caller's.  -EINVAL when h breaks a
 * rule; -errno when the write fails. */
int delta_writer_open(int fd, const struct delta_header *h, bool compress,
    struct delta_writer **ret, struct err *err);
/* Append DATA frames for len bytes at off (split at DELTA_DATA_MAX),
 * each compressed when that makes it smaller.  -EINVAL when the extent
 * breaks an ordering or alignment rule. */
int delta_write_data(struct delta_writer *w, uint64_t off, const void *buf,
    size_t len, struct err *err);
/* Append a ZERO frame: len guest bytes at off read as zeros. */
int delta_write_zero(struct delta_writer *w, uint64_t off, uint64_t len,
    struct err *err);
/* Append END; the counters go to *ret_stats (may be NULL).  The caller
 * syncs fd. */
int delta_writer_finish(struct delta_writer *w, struct delta_stats *ret_stats,
    struct err *err);
/* NULL-safe; returns NULL. */
struct delta_writer *delta_writer_free(struct delta_writer *w);

/* ---- reading ---- */

struct delta_reader;

/* A reader over fd (read from its current position; fd stays the
 * caller's) or over len bytes at buf (borrowed until the reader is
 * freed). */
struct delta_reader *delta_reader_new_fd(int fd);
struct delta_reader *delta_reader_new_mem(const void *buf, size_t len);
/* NULL-safe; returns NULL. */
struct delta_reader *delta_reader_free(struct delta_reader *r);

/* Read and check the header; first call on a reader. */
int delta_read_header(struct delta_reader *r, struct delta_header *ret_hdr,
    struct err *err);
/* The next frame, checked (data decompressed and its checksum verified):
 * 1 with *ret_frame set for DATA or ZERO, 0 once END was read and checked
 * and nothing follows it, -EBADMSG (or -errno of a read) otherwise.
 * After an error or 0, further calls return the same. */
int delta_next(struct delta_reader *r, struct delta_frame *ret_frame,
    struct err *err);
/* The counters of the frames read so far. */
const struct delta_stats *delta_reader_stats(const struct delta_reader *r);
