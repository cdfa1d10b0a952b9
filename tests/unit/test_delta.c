/* test_delta.c - the delta stream codec (src/replica/delta.c): round trips
 * of compressible, incompressible and zero extents, over memory and over
 * an fd; every single-byte corruption and every truncation of a small
 * stream refused; swapped, replayed and overlapping frames refused; bad
 * headers and hostile lengths refused without allocating them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "delta.h"
#include "le.h"
#include "test.h"
#include "util.h"

#define MIB (1u << 20)
#define DISK (10 * MIB + 1000)	/* a tail that is not whole sectors */

static void
header_init(struct delta_header *h, uint64_t size)
{
	memset(h, 0, sizeof(*h));
	h->seq = 7;
	h->base_seq = 6;
	h->created_ms = 1700000000000ull;
	for (int i = 0; i < 16; i++)
		h->uuid[i] = (uint8_t)(0xa0 + i);
	strcpy(h->disk, "vda");
	h->disk_size = size;
	h->block_size = 65536;
}

/* The bytes written to fd (a memfd) so far; the caller frees them. */
static unsigned char *
fd_bytes(int fd, size_t *ret_len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	unsigned char *b = xmalloc(end > 0 ? (size_t)end : 1);

	if (pread(fd, b, (size_t)end, 0) != end)
		abort();
	*ret_len = (size_t)end;
	return b;
}

static void
fill_text(unsigned char *b, size_t n)
{
	static const char t[] = "the quick brown fox jumps over the lazy dog ";

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)t[i % (sizeof(t) - 1)];
}

static void
fill_random(unsigned char *b, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		b[i] = (unsigned char)(seed >> 56);
	}
}

/* The disk image the round trip uses, and the stream of it: text at 0
 * (1 MiB), random at 2 MiB (5 MiB: two frames), zeros at 7 MiB (2 MiB),
 * random to the end from 9 MiB + 512. */
static unsigned char *
make_stream(bool compress, unsigned char **ret_disk, size_t *ret_len,
    struct delta_stats *st)
{
	unsigned char *disk = xzalloc(DISK);
	struct delta_writer *w = NULL;
	struct delta_header h;
	int fd = memfd_create("delta", MFD_CLOEXEC);
	unsigned char *b;

	header_init(&h, DISK);
	fill_text(disk, MIB);
	fill_random(disk + 2 * MIB, 5 * MIB, 1);
	fill_random(disk + 9 * MIB + 512, DISK - 9 * MIB - 512, 2);
	if (delta_writer_open(fd, &h, compress, &w, NULL) < 0 ||
	    delta_write_data(w, 0, disk, MIB, NULL) < 0 ||
	    delta_write_data(w, 2 * MIB, disk + 2 * MIB, 5 * MIB, NULL) < 0 ||
	    delta_write_zero(w, 7 * MIB, 2 * MIB, NULL) < 0 ||
	    delta_write_data(w, 9 * MIB + 512, disk + 9 * MIB + 512,
	    DISK - 9 * MIB - 512, NULL) < 0 ||
	    delta_writer_finish(w, st, NULL) < 0)
		abort();
	delta_writer_free(w);
	b = fd_bytes(fd, ret_len);
	close(fd);
	*ret_disk = disk;
	return b;
}

/* Read a whole stream from r into a zeroed disk of DISK bytes: 0 when it
 * ends cleanly, else the first error. */
static int
apply_all(struct delta_reader *r, unsigned char *out, struct err *err)
{
	struct delta_header h;
	struct delta_frame f;
	int c;

	if ((c = delta_read_header(r, &h, err)) < 0)
		return c;
	while ((c = delta_next(r, &f, err)) > 0) {
		if (f.type == DELTA_DATA && out)
			memcpy(out + f.offset, f.data, f.length);
		else if (out)
			memset(out + f.offset, 0, f.length);
	}
	return c;
}

/* 0 when the len bytes at b read as a whole valid stream. */
static int
read_mem(const unsigned char *b, size_t len, struct err *err)
{
	struct delta_reader *r = delta_reader_new_mem(b, len);
	int c = apply_all(r, NULL, err);

	delta_reader_free(r);
	return c;
}

static void
test_round_trip(void)
{
	for (int compress = 0; compress < 2; compress++) {
		struct delta_stats st, want;
		unsigned char *disk, *out = xzalloc(DISK);
		size_t len;
		unsigned char *b = make_stream(compress, &disk, &len, &want);
		struct delta_reader *r = delta_reader_new_mem(b, len);
		int c = apply_all(r, out, NULL);

		st = *delta_reader_stats(r);
		delta_reader_free(r);
		ASSERT_EQ(c, 0);
		ASSERT_TRUE(memcmp(out, disk, DISK) == 0);
		ASSERT_EQ(st.frames, 5);
		ASSERT_EQ(st.guest_bytes, DISK - MIB - 512);
		ASSERT_EQ(st.zero_bytes, 2 * MIB);
		ASSERT_EQ(st.data_bytes, DISK - 3 * MIB - 512);
		ASSERT_EQ(st.stored_bytes, want.stored_bytes);
		ASSERT_EQ(st.stream_bytes, len);
		ASSERT_EQ(want.stream_bytes, len);
		/* text shrinks a lot, random not at all (stored raw) */
		if (compress)
			ASSERT_TRUE(st.stored_bytes < st.data_bytes - MIB / 2);
		else
			ASSERT_EQ(st.stored_bytes, st.data_bytes);
		free(b);
		free(disk);
		free(out);
	}
}

static void
test_fd_reader(void)
{
	struct delta_stats want;
	unsigned char *disk, *out = xzalloc(DISK);
	size_t len;
	unsigned char *b = make_stream(true, &disk, &len, &want);
	int fd = memfd_create("delta", MFD_CLOEXEC);
	struct delta_reader *r;
	struct err e = { 0 };

	ASSERT_EQ(write(fd, b, len), (ssize_t)len);
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	r = delta_reader_new_fd(fd);
	ASSERT_EQ(apply_all(r, out, &e), 0);
	ASSERT_TRUE(memcmp(out, disk, DISK) == 0);
	delta_reader_free(r);
	/* a byte after END */
	ASSERT_EQ(write(fd, "x", 1), 1);
	ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
	r = delta_reader_new_fd(fd);
	ASSERT_EQ(apply_all(r, NULL, &e), -EBADMSG);
	ASSERT_CONTAINS(e.msg, "after the end frame");
	delta_reader_free(r);
	close(fd);
	free(b);
	free(disk);
	free(out);
}

/* A small stream: a text frame (compressed when compress is set), a
 * random (raw) one, a zero one, END; *ret_disk is its content. */
static unsigned char *
small_stream_of(bool compress, size_t *ret_len, unsigned char **ret_disk)
{
	unsigned char *disk = xzalloc(65536);
	struct delta_writer *w = NULL;
	struct delta_header h;
	int fd = memfd_create("delta", MFD_CLOEXEC);
	unsigned char *b;

	header_init(&h, 65536);
	fill_text(disk, 4096);
	fill_random(disk + 8192, 2048, 3);
	if (delta_writer_open(fd, &h, compress, &w, NULL) < 0 ||
	    delta_write_data(w, 0, disk, 4096, NULL) < 0 ||
	    delta_write_data(w, 8192, disk + 8192, 2048, NULL) < 0 ||
	    delta_write_zero(w, 16384, 4096, NULL) < 0 ||
	    delta_writer_finish(w, NULL, NULL) < 0)
		abort();
	delta_writer_free(w);
	b = fd_bytes(fd, ret_len);
	close(fd);
	if (ret_disk)
		*ret_disk = disk;
	else
		free(disk);
	return b;
}

static unsigned char *
small_stream(size_t *ret_len)
{
	return small_stream_of(true, ret_len, NULL);
}

/* Is byte i inside a compressed payload of the stream at b? */
static bool
in_compressed_payload(const unsigned char *b, size_t len, size_t i)
{
	size_t p = DELTA_HEADER_LEN;

	while (p + DELTA_FRAME_LEN <= len) {
		size_t plen = le32_get(b + p + 4);

		if ((b[p + 1] & DELTA_F_COMPRESS) && i >= p + DELTA_FRAME_LEN &&
		    i < p + DELTA_FRAME_LEN + plen)
			return true;
		p += DELTA_FRAME_LEN + plen;
	}
	return false;
}

/* Every byte flipped three ways.  Each is refused, except (compressed
 * streams only) a change inside a zstd payload that still decodes to the
 * very bytes data_sum vouches for: the chain covers the frame headers and
 * data_sum the uncompressed content, so such a change is harmless and the
 * replica writes exactly the primary's bytes; the test checks that. */
static void
corruptions(bool compress, size_t *ret_missed, size_t *ret_benign)
{
	static const unsigned char x[3] = { 0x01, 0x80, 0xff };
	unsigned char *disk, *out = xmalloc(65536);
	size_t len;
	unsigned char *b = small_stream_of(compress, &len, &disk);

	*ret_missed = *ret_benign = 0;
	for (size_t i = 0; i < len; i++) {
		for (int k = 0; k < 3; k++) {
			struct delta_reader *r;
			int c;

			b[i] ^= x[k];
			memset(out, 0, 65536);
			r = delta_reader_new_mem(b, len);
			c = apply_all(r, out, NULL);
			delta_reader_free(r);
			if (c == 0 && in_compressed_payload(b, len, i) &&
			    memcmp(out, disk, 65536) == 0)
				(*ret_benign)++;
			else if (c == 0)
				(*ret_missed)++;
			b[i] ^= x[k];
		}
	}
	free(b);
	free(disk);
	free(out);
}

static void
test_every_byte_corruption(void)
{
	size_t missed, benign;

	corruptions(false, &missed, &benign);
	ASSERT_EQ(missed, 0);
	ASSERT_EQ(benign, 0);
	corruptions(true, &missed, &benign);
	ASSERT_EQ(missed, 0);
	ASSERT_TRUE(benign < 4);	/* rare: zstd's slack bits */
}

static void
test_every_truncation(void)
{
	size_t len, missed = 0;
	unsigned char *b = small_stream(&len);
	struct err e = { 0 };

	for (size_t n = 0; n < len; n++)
		if (read_mem(b, n, NULL) == 0)
			missed++;
	ASSERT_EQ(read_mem(b, len - 1, &e), -EBADMSG);
	ASSERT_CONTAINS(e.msg, "truncated");
	free(b);
	ASSERT_EQ(missed, 0);
}

/* Offsets of the frames in a stream (header, frame, payload, ...). */
static size_t
frame_offsets(const unsigned char *b, size_t len, size_t *off, size_t max)
{
	size_t n = 0, p = DELTA_HEADER_LEN;

	while (p + DELTA_FRAME_LEN <= len && n < max) {
		off[n++] = p;
		p += DELTA_FRAME_LEN + le32_get(b + p + 4);
	}
	off[n] = p;
	return n;
}

static void
test_swapped_and_replayed(void)
{
	size_t len, off[8], n;
	unsigned char *b = small_stream(&len), *c = xmalloc(2 * len);
	size_t l1, l2;
	struct err e = { 0 };

	n = frame_offsets(b, len, off, 7);
	ASSERT_EQ(n, 4);
	l1 = off[1] - off[0];
	l2 = off[2] - off[1];
	/* frames 1 and 2 swapped */
	memcpy(c, b, len);
	memcpy(c + off[0], b + off[1], l2);
	memcpy(c + off[0] + l2, b + off[0], l1);
	ASSERT_EQ(read_mem(c, len, &e), -EBADMSG);
	ASSERT_CONTAINS(e.msg, "delta frame 1: chain mismatch");
	/* frame 1 replayed after itself */
	memcpy(c, b, off[1]);
	memcpy(c + off[1], b + off[0], l1);
	memcpy(c + off[1] + l1, b + off[1], len - off[1]);
	memset(&e, 0, sizeof(e));
	ASSERT_EQ(read_mem(c, len + l1, &e), -EBADMSG);
	ASSERT_CONTAINS(e.msg, "delta frame 2: chain mismatch");
	/* frame 2 dropped */
	memcpy(c, b, off[1]);
	memcpy(c + off[1], b + off[2], len - off[2]);
	memset(&e, 0, sizeof(e));
	ASSERT_EQ(read_mem(c, len - l2, &e), -EBADMSG);
	ASSERT_CONTAINS(e.msg, "chain mismatch");
	free(b);
	free(c);
}

/* A hand-made stream: a valid header, then frames with a valid chain
 * whatever their fields say, so that the field rules are what refuse. */
struct craft {
	unsigned char b[4096];
	size_t len;
	uint64_t chain;
};

static void
craft_header(struct craft *k, const struct delta_header *h)
{
	unsigned char *p = k->b;

	memset(k, 0, sizeof(*k));
	memcpy(p, DELTA_MAGIC, 8);
	le32_put(p + 8, DELTA_VERSION);
	le32_put(p + 12, h->flags);
	le64_put(p + 16, h->seq);
	le64_put(p + 24, h->base_seq);
	le64_put(p + 32, h->created_ms);
	memcpy(p + 40, h->uuid, 16);
	memcpy(p + 56, h->disk, 16);
	le64_put(p + 72, h->disk_size);
	le32_put(p + 80, h->block_size);
	k->chain = XXH3_64bits(p, 84);
	le64_put(p + 84, k->chain);
	k->len = DELTA_HEADER_LEN;
}

static void
craft_frame(struct craft *k, int type, int flags, uint32_t plen,
    uint64_t off, uint64_t len, uint64_t sum, const void *payload,
    size_t have)
{
	unsigned char *f = k->b + k->len, cb[40];

	f[0] = (unsigned char)type;
	f[1] = (unsigned char)flags;
	le16_put(f + 2, 0);
	le32_put(f + 4, plen);
	le64_put(f + 8, off);
	le64_put(f + 16, len);
	le64_put(f + 24, sum);
	le64_put(cb, k->chain);
	memcpy(cb + 8, f, 32);
	k->chain = XXH3_64bits(cb, sizeof(cb));
	le64_put(f + 32, k->chain);
	if (have)
		memcpy(f + 40, payload, have);
	k->len += DELTA_FRAME_LEN + have;
}

/* The message the crafted stream is refused with ("" if accepted). */
static const char *
craft_read(struct craft *k, struct err *e)
{
	memset(e, 0, sizeof(*e));
	return read_mem(k->b, k->len, e) < 0 ? e->msg : "";
}

static void
test_overlap_and_order(void)
{
	unsigned char d[1024] = { 1 };
	uint64_t s = XXH3_64bits(d, sizeof(d));
	struct delta_header h;
	struct craft k;
	struct err e;

	header_init(&h, 65536);
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 1024, 0, 1024, s, d, 1024);
	craft_frame(&k, DELTA_ZERO, 0, 0, 512, 1024, 0, NULL, 0);
	ASSERT_CONTAINS(craft_read(&k, &e), "delta frame 2: offset 512 is "
	    "before the end of the previous frame (1024)");
	craft_header(&k, &h);
	craft_frame(&k, DELTA_ZERO, 0, 0, 4096, 512, 0, NULL, 0);
	craft_frame(&k, DELTA_DATA, 0, 1024, 0, 1024, s, d, 1024);
	ASSERT_CONTAINS(craft_read(&k, &e), "out of order");
	craft_header(&k, &h);
	craft_frame(&k, DELTA_ZERO, 0, 0, 100, 512, 0, NULL, 0);
	ASSERT_CONTAINS(craft_read(&k, &e), "not in whole sectors");
	craft_header(&k, &h);
	craft_frame(&k, DELTA_ZERO, 0, 0, 65024, 1024, 0, NULL, 0);
	ASSERT_CONTAINS(craft_read(&k, &e), "runs past the disk's end");
	/* the right END, then the same stream with a wrong count */
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 1024, 0, 1024, s, d, 1024);
	craft_frame(&k, DELTA_END, 0, 0, 0, 1, 1024, NULL, 0);
	ASSERT_STREQ(craft_read(&k, &e), "");
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 1024, 0, 1024, s, d, 1024);
	craft_frame(&k, DELTA_END, 0, 0, 0, 2, 1024, NULL, 0);
	ASSERT_CONTAINS(craft_read(&k, &e), "delta end: 2 frames");
	/* a wrong data checksum, under a valid chain */
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 1024, 2048, 1024,
	    s + 1, d, 1024);
	ASSERT_CONTAINS(craft_read(&k, &e), "delta frame 1: data checksum "
	    "mismatch at offset 2048");
}

static void
test_hostile_lengths(void)
{
	unsigned char d[64] = { 0 };
	struct delta_header h;
	struct craft k;
	struct err e;

	header_init(&h, 1ull << 40);
	h.flags = DELTA_F_COMPRESS;
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 0xffffffffu, 0, 1ull << 39, 0, d, 64);
	ASSERT_CONTAINS(craft_read(&k, &e), "at most 4194304 per frame");
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 0xffffffffu, 0, 4 * MIB, 0, d, 64);
	ASSERT_CONTAINS(craft_read(&k, &e), "4294967295 bytes stored for "
	    "4194304 raw bytes");
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 1, 0xfffffff0u, 0, 4 * MIB, 0, d, 64);
	ASSERT_CONTAINS(craft_read(&k, &e), "compressed bytes for 4194304");
	/* a raw 4 MiB claim with 64 bytes behind it: truncated */
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 0, 4 * MIB, 0, 4 * MIB, 0, d, 64);
	ASSERT_CONTAINS(craft_read(&k, &e), "truncated: frame 1's data");
	/* a compressed payload that is not zstd */
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 1, 64, 0, 4096, 0, d, 64);
	ASSERT_CONTAINS(craft_read(&k, &e), "does not decompress");
	/* a compressed frame in a stream that said it has none */
	h.flags = 0;
	craft_header(&k, &h);
	craft_frame(&k, DELTA_DATA, 1, 64, 0, 4096, 0, d, 64);
	ASSERT_CONTAINS(craft_read(&k, &e), "not allowed in this stream");
	/* a zero frame over the whole disk is fine (nothing allocated) */
	craft_header(&k, &h);
	craft_frame(&k, DELTA_ZERO, 0, 0, 0, 1ull << 40, 0, NULL, 0);
	craft_frame(&k, DELTA_END, 0, 0, 0, 1, 1ull << 40, NULL, 0);
	ASSERT_STREQ(craft_read(&k, &e), "");
}

static void
test_bad_headers(void)
{
	struct delta_writer *w = NULL;
	struct delta_header h;
	struct craft k;
	struct err e = { 0 };

	header_init(&h, 65536);
	h.seq = 0;
	ASSERT_EQ(delta_writer_open(1, &h, false, &w, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "seq is 0");
	header_init(&h, 65536);
	h.base_seq = 7;
	memset(&e, 0, sizeof(e));
	ASSERT_EQ(delta_writer_open(1, &h, false, &w, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "base_seq 7 is not before seq 7");
	/* decoded headers with a valid checksum but bad fields */
	header_init(&h, 65536);
	h.seq = 0;
	craft_header(&k, &h);
	ASSERT_CONTAINS(craft_read(&k, &e), "seq is 0");
	header_init(&h, 65536);
	strcpy(h.disk, "VDA");
	craft_header(&k, &h);
	ASSERT_CONTAINS(craft_read(&k, &e), "disk name");
	header_init(&h, 65536);
	memcpy(h.disk, "vda\0x", 5);
	craft_header(&k, &h);
	ASSERT_CONTAINS(craft_read(&k, &e), "NUL-padded");
	header_init(&h, 65536);
	h.block_size = 65537;
	craft_header(&k, &h);
	ASSERT_CONTAINS(craft_read(&k, &e), "block size 65537");
	header_init(&h, 0);
	craft_header(&k, &h);
	ASSERT_CONTAINS(craft_read(&k, &e), "disk size 0");
	header_init(&h, 65536);
	craft_header(&k, &h);
	k.b[7] = '2';
	ASSERT_CONTAINS(craft_read(&k, &e), "not a delta stream");
	craft_header(&k, &h);
	k.len = 0;
	ASSERT_CONTAINS(craft_read(&k, &e), "truncated: the header");
	craft_header(&k, &h);
	ASSERT_CONTAINS(craft_read(&k, &e), "truncated: frame 1's header");
}

static void
test_writer_rules(void)
{
	unsigned char d[4096] = { 0 };
	struct delta_writer *w = NULL;
	struct delta_header h;
	struct err e = { 0 };
	int fd = memfd_create("delta", MFD_CLOEXEC);

	header_init(&h, 65536);
	ASSERT_EQ(delta_writer_open(fd, &h, false, &w, NULL), 0);
	ASSERT_EQ(delta_write_data(w, 4096, d, 4096, NULL), 0);
	ASSERT_EQ(delta_write_zero(w, 0, 4096, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "out of order or overlapping");
	ASSERT_EQ(delta_write_data(w, 65536 - 512, d, 1024, NULL), -EINVAL);
	ASSERT_EQ(delta_write_data(w, 8192, d, 100, NULL), -EINVAL);
	delta_writer_free(w);
	close(fd);
}

int
main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_fd_reader);
	RUN_TEST(test_every_byte_corruption);
	RUN_TEST(test_every_truncation);
	RUN_TEST(test_swapped_and_replayed);
	RUN_TEST(test_overlap_and_order);
	RUN_TEST(test_hostile_lengths);
	RUN_TEST(test_bad_headers);
	RUN_TEST(test_writer_rules);
	return TEST_REPORT();
}
