/* delta.c - the delta stream codec (delta.h): a writer for the primary
 * and a reader for the replica, which treats the stream as untrusted: every
 * size is checked against a limit before anything is allocated or read,
 * and it never logs.  The writer applies the reader's own rules, so it
 * cannot produce a stream the reader refuses. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "block_size.h"
#include "delta.h"
#include "le.h"
#include "util.h"
#include "vm_limits.h"

/* zstd level 1: on 200 MB of a system's files (libraries, docs, /etc),
 * in 4 MiB blocks on one core, level 1 wrote 2.92:1 at 377 MB/s and
 * level 3 3.33:1 at 198 MB/s: 88 % of the ratio at 1.9 times the speed.
 * A cycle is bound by the slower of compression and the link, and on a
 * LAN the link is faster than either level. */
#define DELTA_ZSTD_LEVEL 1

/* The order state both sides keep: frames so far (and their counters),
 * where the last one ended, the chain value.  Invariant: next_off <=
 * disk_size. */
struct delta_order {
	uint64_t disk_size;
	uint64_t next_off;
	uint64_t chain;
	struct delta_stats st;
};

static bool
disk_name_ok(const char *s, size_t n)
{
	size_t len = strnlen(s, n);

	if (len == 0 || len > DELTA_DISK_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		    s[i] == '-'))
			return false;
	for (size_t i = len; i < n; i++)	/* NUL-padded */
		if (s[i] != '\0')
			return false;
	return true;
}

int
delta_header_check(const struct delta_header *h, struct err *err)
{
	if (h->seq == 0)
		return err_set(err, -EINVAL, "delta header: seq is 0 (cycles "
		    "count from 1)");
	if (h->base_seq >= h->seq)
		return err_set(err, -EINVAL, "delta header: base_seq %" PRIu64
		    " is not before seq %" PRIu64, h->base_seq, h->seq);
	if (!disk_name_ok(h->disk, sizeof(h->disk)))
		return err_set(err, -EINVAL, "delta header: the disk name is "
		    "not 1 to %u of [a-z0-9_-]", DELTA_DISK_NAME_MAX);
	if (h->disk_size == 0 || h->disk_size > (uint64_t)VM_DISK_SIZE_MAX)
		return err_set(err, -EINVAL, "delta header: disk size %" PRIu64
		    " is not from 1 byte to %llu", h->disk_size,
		    (unsigned long long)VM_DISK_SIZE_MAX);
	if (!block_size_is_valid(h->block_size))
		return err_set(err, -EINVAL, "delta header: block size %u is "
		    "not a power of two from %u to %u", h->block_size,
		    BLOCK_SIZE_MIN, BLOCK_SIZE_MAX);
	if (h->flags & ~DELTA_F_COMPRESS)
		return err_set(err, -EINVAL, "delta header: unknown flags "
		    "0x%x", h->flags);
	return 0;
}

static void
header_encode(const struct delta_header *h, unsigned char *b)
{
	memset(b, 0, DELTA_HEADER_LEN);
	memcpy(b, DELTA_MAGIC, 8);
	le32_put(b + 8, DELTA_VERSION);
	le32_put(b + 12, h->flags);
	le64_put(b + 16, h->seq);
	le64_put(b + 24, h->base_seq);
	le64_put(b + 32, h->created_ms);
	memcpy(b + 40, h->uuid, 16);
	memcpy(b + 56, h->disk, strnlen(h->disk, sizeof(h->disk)));
	le64_put(b + 72, h->disk_size);
	le32_put(b + 80, h->block_size);
	le64_put(b + 84, XXH3_64bits(b, 84));
}

static int
header_decode(const unsigned char *b, struct delta_header *h,
    struct err *err)
{
	uint32_t version;

	if (memcmp(b, DELTA_MAGIC, 8) != 0)
		return err_set(err, -EBADMSG, "not a delta stream (no "
		    DELTA_MAGIC " header)");
	if ((version = le32_get(b + 8)) != DELTA_VERSION)
		return err_set(err, -EBADMSG, "delta stream version %u; this "
		    "tern reads version %u", version, DELTA_VERSION);
	if (le64_get(b + 84) != XXH3_64bits(b, 84))
		return err_set(err, -EBADMSG, "delta header: its checksum "
		    "does not match (the header is damaged)");
	memset(h, 0, sizeof(*h));
	h->flags = le32_get(b + 12);
	h->seq = le64_get(b + 16);
	h->base_seq = le64_get(b + 24);
	h->created_ms = le64_get(b + 32);
	memcpy(h->uuid, b + 40, 16);
	if (!disk_name_ok((const char *)b + 56, 16))
		return err_set(err, -EBADMSG, "delta header: the disk name is "
		    "not 1 to %u of [a-z0-9_-], NUL-padded",
		    DELTA_DISK_NAME_MAX);
	memcpy(h->disk, b + 56, DELTA_DISK_NAME_MAX);
	h->disk_size = le64_get(b + 72);
	h->block_size = le32_get(b + 80);
	return delta_header_check(h, err) < 0 ? -EBADMSG : 0;
}

/* The chain value of a frame whose first 32 bytes are at f. */
static uint64_t
chain_next(uint64_t prev, const unsigned char *f)
{
	unsigned char b[8 + 32];

	le64_put(b, prev);
	memcpy(b + 8, f, 32);
	return XXH3_64bits(b, sizeof(b));
}

/* The placement rules of a DATA or ZERO frame (index counts from 1). */
static int
extent_check(const struct delta_order *o, uint64_t index,
    enum delta_type type, uint64_t off, uint64_t len, int code,
    struct err *err)
{
	if (len == 0)
		return err_set(err, code, "delta frame %" PRIu64 ": empty "
		    "extent at offset %" PRIu64, index, off);
	if (type == DELTA_DATA && len > DELTA_DATA_MAX)
		return err_set(err, code, "delta frame %" PRIu64 ": %"
		    PRIu64 " bytes of data at offset %" PRIu64 " (at most %u "
		    "per frame)", index, len, off, DELTA_DATA_MAX);
	if (off > o->disk_size || len > o->disk_size - off)
		return err_set(err, code, "delta frame %" PRIu64 ": extent "
		    "%" PRIu64 "+%" PRIu64 " runs past the disk's end (%"
		    PRIu64 ")", index, off, len, o->disk_size);
	if (off % DELTA_SECTOR != 0 ||
	    (len % DELTA_SECTOR != 0 && off + len != o->disk_size))
		return err_set(err, code, "delta frame %" PRIu64 ": extent "
		    "%" PRIu64 "+%" PRIu64 " is not in whole sectors", index,
		    off, len);
	if (off < o->next_off)
		return err_set(err, code, "delta frame %" PRIu64 ": offset "
		    "%" PRIu64 " is before the end of the previous frame (%"
		    PRIu64 "): out of order or overlapping", index, off,
		    o->next_off);
	return 0;
}

static void
order_count(struct delta_order *o, enum delta_type type, uint64_t off,
    uint64_t len, uint32_t payload_len)
{
	o->next_off = off + len;
	o->st.frames++;
	o->st.guest_bytes += len;
	if (type == DELTA_DATA)
		o->st.data_bytes += len;
	else
		o->st.zero_bytes += len;
	o->st.stored_bytes += payload_len;
}

/* ---- writing ---- */

struct delta_writer {
	int fd;
	bool compress;
	struct delta_order ord;
	ZSTD_CCtx *cctx;
	void *cbuf;		/* ZSTD_compressBound(DELTA_DATA_MAX) bytes */
};

static int
write_all(int fd, const void *buf, size_t len, struct err *err)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return err_setf_errno(err, -errno, "cannot write the "
			    "delta stream");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
delta_writer_open(int fd, const struct delta_header *h, bool compress,
    struct delta_writer **ret, struct err *err)
{
	struct delta_header hh = *h;
	unsigned char b[DELTA_HEADER_LEN];
	struct delta_writer *w;
	int r;

	hh.flags = compress ? DELTA_F_COMPRESS : 0;
	if ((r = delta_header_check(&hh, err)) < 0)
		return r;
	header_encode(&hh, b);
	if ((r = write_all(fd, b, sizeof(b), err)) < 0)
		return r;
	w = xzalloc(sizeof(*w));
	w->fd = fd;
	w->compress = compress;
	w->ord.disk_size = hh.disk_size;
	w->ord.chain = le64_get(b + 84);
	w->ord.st.stream_bytes = sizeof(b);
	if (compress) {
		if (!(w->cctx = ZSTD_createCCtx()))
			abort();	/* out of memory, as xmalloc */
		w->cbuf = xmalloc(ZSTD_compressBound(DELTA_DATA_MAX));
	}
	*ret = w;
	return 0;
}

struct delta_writer *
delta_writer_free(struct delta_writer *w)
{
	if (w) {
		ZSTD_freeCCtx(w->cctx);
		free(w->cbuf);
		free(w);
	}
	return NULL;
}

/* Encode a frame header after the previous chain value, write it and its
 * payload, and count it. */
static int
write_frame(struct delta_writer *w, enum delta_type type, uint8_t flags,
    const void *payload, uint32_t payload_len, uint64_t off, uint64_t len,
    uint64_t sum, struct err *err)
{
	unsigned char f[DELTA_FRAME_LEN];
	int r;

	f[0] = (uint8_t)type;
	f[1] = flags;
	le16_put(f + 2, 0);
	le32_put(f + 4, payload_len);
	le64_put(f + 8, off);
	le64_put(f + 16, len);
	le64_put(f + 24, sum);
	le64_put(f + 32, chain_next(w->ord.chain, f));
	if ((r = write_all(w->fd, f, sizeof(f), err)) < 0 ||
	    (payload_len && (r = write_all(w->fd, payload, payload_len,
	    err)) < 0))
		return r;
	w->ord.chain = le64_get(f + 32);
	w->ord.st.stream_bytes += sizeof(f) + payload_len;
	if (type != DELTA_END)
		order_count(&w->ord, type, off, len, payload_len);
	return 0;
}

/* One DATA frame of at most DELTA_DATA_MAX bytes, compressed when that
 * makes the payload smaller. */
static int
write_data_frame(struct delta_writer *w, uint64_t off, const void *buf,
    size_t len, struct err *err)
{
	uint64_t sum = XXH3_64bits(buf, len);
	size_t clen = 0;
	int r;

	if ((r = extent_check(&w->ord, w->ord.st.frames + 1, DELTA_DATA, off,
	    len, -EINVAL, err)) < 0)
		return r;
	if (w->compress) {
		clen = ZSTD_compressCCtx(w->cctx, w->cbuf,
		    ZSTD_compressBound(DELTA_DATA_MAX), buf, len,
		    DELTA_ZSTD_LEVEL);
		if (ZSTD_isError(clen))
			return err_set(err, -EIO, "zstd: %s",
			    ZSTD_getErrorName(clen));
	}
	if (clen > 0 && clen < len)
		return write_frame(w, DELTA_DATA, DELTA_F_COMPRESS, w->cbuf,
		    (uint32_t)clen, off, len, sum, err);
	return write_frame(w, DELTA_DATA, 0, buf, (uint32_t)len, off, len, sum,
	    err);
}

int
delta_write_data(struct delta_writer *w, uint64_t off, const void *buf,
    size_t len, struct err *err)
{
	const char *p = buf;
	int r;

	if (len == 0)
		return err_set(err, -EINVAL, "delta: empty extent at offset %"
		    PRIu64, off);
	for (size_t done = 0; done < len; done += DELTA_DATA_MAX) {
		size_t n = MIN(len - done, (size_t)DELTA_DATA_MAX);

		if ((r = write_data_frame(w, off + done, p + done, n, err)) < 0)
			return r;
	}
	return 0;
}

int
delta_write_zero(struct delta_writer *w, uint64_t off, uint64_t len,
    struct err *err)
{
	int r = extent_check(&w->ord, w->ord.st.frames + 1, DELTA_ZERO, off,
	    len, -EINVAL, err);

	return r < 0 ? r : write_frame(w, DELTA_ZERO, 0, NULL, 0, off, len, 0,
	    err);
}

int
delta_writer_finish(struct delta_writer *w, struct delta_stats *ret_stats,
    struct err *err)
{
	int r = write_frame(w, DELTA_END, 0, NULL, 0, 0, w->ord.st.frames,
	    w->ord.st.guest_bytes, err);

	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = w->ord.st;
	return 0;
}

/* ---- reading ---- */

/* HEADER --delta_read_header--> FRAMES --delta_next (END, nothing
 * after)--> DONE; any error in either --> FAILED (the error kept, and
 * returned again by later calls). */
enum reader_state { R_HEADER, R_FRAMES, R_DONE, R_FAILED };

/* Invariants: payload has payload_cap bytes, data data_cap, each at most
 * ZSTD_compressBound(DELTA_DATA_MAX) and DELTA_DATA_MAX; mem != NULL for
 * a memory reader (fd -1), pos <= mem_len. */
struct delta_reader {
	enum reader_state state;
	struct err failed;
	int fd;
	const unsigned char *mem;
	size_t mem_len, pos;
	struct delta_header hdr;
	struct delta_order ord;
	unsigned char *payload, *data;
	size_t payload_cap, data_cap;
	ZSTD_DCtx *dctx;
};

struct delta_reader *
delta_reader_new_fd(int fd)
{
	struct delta_reader *r = xzalloc(sizeof(*r));

	r->fd = fd;
	return r;
}

struct delta_reader *
delta_reader_new_mem(const void *buf, size_t len)
{
	struct delta_reader *r = xzalloc(sizeof(*r));

	r->fd = -1;
	r->mem = buf ? buf : (const void *)"";
	r->mem_len = buf ? len : 0;
	return r;
}

struct delta_reader *
delta_reader_free(struct delta_reader *r)
{
	if (r) {
		free(r->payload);
		free(r->data);
		ZSTD_freeDCtx(r->dctx);
		free(r);
	}
	return NULL;
}

const struct delta_stats *
delta_reader_stats(const struct delta_reader *r)
{
	return &r->ord.st;
}

/* Up to n bytes into buf: the count read (short only at the end of the
 * stream), or -errno. */
static ssize_t
src_read(struct delta_reader *r, void *buf, size_t n)
{
	size_t got = 0;

	if (r->mem) {
		got = MIN(n, r->mem_len - r->pos);
		memcpy(buf, r->mem + r->pos, got);
		r->pos += got;
		return (ssize_t)got;
	}
	while (got < n) {
		ssize_t k = read(r->fd, (char *)buf + got, n - got);

		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Exactly n bytes of what (for the message), or a truncation error. */
static int
src_read_exact(struct delta_reader *r, void *buf, size_t n,
    const char *what, struct err *err)
{
	ssize_t got = src_read(r, buf, n);

	if (got < 0)
		return err_setf_errno(err, (int)got, "cannot read the delta "
		    "stream");
	if ((size_t)got < n)
		return err_set(err, -EBADMSG, "delta stream truncated: %s has "
		    "%zd of %zu bytes", what, got, n);
	r->ord.st.stream_bytes += n;
	return 0;
}

/* Keep the first error so that later calls return it again. */
static int
reader_fail(struct delta_reader *r, int code, struct err *err)
{
	r->state = R_FAILED;
	if (err_is_set(err))
		r->failed = *err;
	else
		r->failed.code = code;
	return code;
}

int
delta_read_header(struct delta_reader *r, struct delta_header *ret_hdr,
    struct err *err)
{
	unsigned char b[DELTA_HEADER_LEN];
	int c;

	if (r->state != R_HEADER)
		return err_set(err, -EINVAL, "delta: the header was read "
		    "already");
	if ((c = src_read_exact(r, b, sizeof(b), "the header", err)) < 0 ||
	    (c = header_decode(b, &r->hdr, err)) < 0)
		return reader_fail(r, c, err);
	r->ord.disk_size = r->hdr.disk_size;
	r->ord.chain = le64_get(b + 84);
	r->state = R_FRAMES;
	*ret_hdr = r->hdr;
	return 0;
}

/* buf grown to need bytes; need was checked against its limit. */
static void
buf_reserve(unsigned char **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return;
	free(*buf);
	*buf = xmalloc(need);
	*cap = need;
}

/* The fields of a DATA or ZERO frame, before any payload is read. */
static int
frame_fields_check(struct delta_reader *r, const struct delta_frame *f,
    uint8_t flags, struct err *err)
{
	uint64_t i = f->index;
	int c;

	if ((c = extent_check(&r->ord, i, f->type, f->offset, f->length,
	    -EBADMSG, err)) < 0)
		return c;
	if (f->type == DELTA_ZERO && (flags || f->payload_len || f->data_sum))
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": a zero "
		    "frame with flags, payload or checksum", i);
	if (f->type == DELTA_ZERO)
		return 0;
	if (flags & ~DELTA_F_COMPRESS || (f->compressed &&
	    !(r->hdr.flags & DELTA_F_COMPRESS)))
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": flags "
		    "0x%x not allowed in this stream", i, flags);
	if (!f->compressed && f->payload_len != f->length)
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": %u "
		    "bytes stored for %" PRIu64 " raw bytes", i,
		    f->payload_len, f->length);
	if (f->compressed && (f->payload_len == 0 ||
	    f->payload_len > ZSTD_compressBound(f->length)))
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": %u "
		    "compressed bytes for %" PRIu64 " bytes (bound %zu)", i,
		    f->payload_len, f->length,
		    ZSTD_compressBound(f->length));
	return 0;
}

/* END: the counts it carries, then nothing after it. */
static int
end_check(struct delta_reader *r, const struct delta_frame *f,
    uint8_t flags, struct err *err)
{
	unsigned char extra;

	if (flags || f->payload_len || f->offset)
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": an end "
		    "frame with flags, payload or offset", f->index);
	if (f->length != r->ord.st.frames || f->data_sum !=
	    r->ord.st.guest_bytes)
		return err_set(err, -EBADMSG, "delta end: %" PRIu64 " frames "
		    "of %" PRIu64 " bytes announced, %" PRIu64 " of %" PRIu64
		    " read", f->length, f->data_sum, r->ord.st.frames,
		    r->ord.st.guest_bytes);
	if (src_read(r, &extra, 1) != 0)
		return err_set(err, -EBADMSG, "delta stream: data after the "
		    "end frame");
	return 0;
}

/* The next frame header: read, chained, decoded into f. */
static int
frame_header_read(struct delta_reader *r, struct delta_frame *f,
    uint8_t *ret_flags, struct err *err)
{
	unsigned char b[DELTA_FRAME_LEN];
	char what[64];
	uint64_t i = r->ord.st.frames + 1;
	int c;

	snprintf(what, sizeof(what), "frame %" PRIu64 "'s header", i);
	if ((c = src_read_exact(r, b, sizeof(b), what, err)) < 0)
		return c;
	if (chain_next(r->ord.chain, b) != le64_get(b + 32))
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": chain "
		    "mismatch (a frame dropped, reordered, replayed or "
		    "damaged)", i);
	if (b[0] < DELTA_DATA || b[0] > DELTA_END || le16_get(b + 2) != 0)
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": unknown "
		    "type %u or reserved bits set", i, b[0]);
	r->ord.chain = le64_get(b + 32);
	memset(f, 0, sizeof(*f));
	f->type = (enum delta_type)b[0];
	f->index = i;
	f->compressed = b[1] & DELTA_F_COMPRESS;
	f->payload_len = le32_get(b + 4);
	f->offset = le64_get(b + 8);
	f->length = le64_get(b + 16);
	f->data_sum = le64_get(b + 24);
	*ret_flags = b[1];
	return 0;
}

/* DATA's payload: read, decompressed to exactly length bytes, checked
 * against data_sum; f->data points at the result.  Single-shot
 * decompression writes into our buffer of exactly length bytes: zstd
 * allocates no window, whatever the frame's header claims. */
static int
frame_data_read(struct delta_reader *r, struct delta_frame *f,
    struct err *err)
{
	char what[64];
	size_t n;
	int c;

	snprintf(what, sizeof(what), "frame %" PRIu64 "'s data", f->index);
	buf_reserve(&r->payload, &r->payload_cap, f->payload_len);
	if ((c = src_read_exact(r, r->payload, f->payload_len, what, err)) < 0)
		return c;
	f->data = r->payload;
	if (f->compressed) {
		if (!r->dctx && !(r->dctx = ZSTD_createDCtx()))
			abort();	/* out of memory, as xmalloc */
		buf_reserve(&r->data, &r->data_cap, f->length);
		n = ZSTD_decompressDCtx(r->dctx, r->data, f->length,
		    r->payload, f->payload_len);
		if (ZSTD_isError(n) || n != f->length)
			return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": "
			    "the data at offset %" PRIu64 " does not "
			    "decompress to %" PRIu64 " bytes (%s)", f->index,
			    f->offset, f->length, ZSTD_isError(n) ?
			    ZSTD_getErrorName(n) : "wrong size");
		f->data = r->data;
	}
	if (XXH3_64bits(f->data, f->length) != f->data_sum)
		return err_set(err, -EBADMSG, "delta frame %" PRIu64 ": data "
		    "checksum mismatch at offset %" PRIu64, f->index,
		    f->offset);
	return 0;
}

int
delta_next(struct delta_reader *r, struct delta_frame *ret_frame,
    struct err *err)
{
	struct delta_frame f = { 0 };
	uint8_t flags = 0;
	int c;

	if (r->state == R_FAILED)
		return err_set(err, r->failed.code, "%s", r->failed.msg);
	if (r->state == R_DONE)
		return 0;
	if (r->state == R_HEADER)
		return err_set(err, -EINVAL, "delta: read the header first");
	if ((c = frame_header_read(r, &f, &flags, err)) < 0)
		return reader_fail(r, c, err);
	if (f.type == DELTA_END) {
		if ((c = end_check(r, &f, flags, err)) < 0)
			return reader_fail(r, c, err);
		r->state = R_DONE;
		return 0;
	}
	if ((c = frame_fields_check(r, &f, flags, err)) < 0 ||
	    (f.type == DELTA_DATA && (c = frame_data_read(r, &f, err)) < 0))
		return reader_fail(r, c, err);
	order_count(&r->ord, f.type, f.offset, f.length, f.payload_len);
	*ret_frame = f;
	return 1;
}
