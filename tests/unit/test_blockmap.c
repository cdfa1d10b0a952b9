/* test_blockmap.c - per-block checksum maps (src/track/blockmap.c):
 * a map of a file, what a change of one byte does, runs of differences,
 * the file form and every way a damaged or hostile file is refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockmap.h"
#include "test.h"
#include "util.h"

#define BS 4096u

struct runs {
	int n;
	uint64_t off[8], len[8];
};

static int
on_run(uint64_t off, uint64_t len, void *data)
{
	struct runs *r = data;

	if (r->n < 8) {
		r->off[r->n] = off;
		r->len[r->n] = len;
	}
	r->n++;
	return 0;
}

/* A temp file of size bytes: byte i is i * 7 (so blocks differ). */
static int
temp_disk(char *path, size_t size)
{
	unsigned char *b = xmalloc(size);
	int fd;

	for (size_t i = 0; i < size; i++)
		b[i] = (unsigned char)(i * 7);
	fd = mkstemp(path);
	if (fd < 0 || write(fd, b, size) != (ssize_t)size)
		abort();
	free(b);
	return fd;
}

static void
test_map_of_file(void)
{
	char path[] = "/tmp/tern-bmap-XXXXXX";
	size_t size = 5 * BS + 100;	/* a short last block */
	int fd = temp_disk(path, size);
	struct blockmap *a = NULL, *b = NULL;
	struct runs r = { 0 };
	struct err err = { 0 };

	ASSERT_EQ(blockmap_from_fd(fd, size, BS, &a, &err), 0);
	ASSERT_EQ(a->n, 6);
	ASSERT_EQ(blockmap_block_len(a, 5), 100);
	/* One byte in block 1, one in the short last block. */
	ASSERT_EQ(pwrite(fd, "x", 1, BS + 17), 1);
	ASSERT_EQ(pwrite(fd, "y", 1, 5 * BS + 99), 1);
	ASSERT_EQ(blockmap_from_fd(fd, size, BS, &b, &err), 0);
	ASSERT_EQ(blockmap_diff(a, a, on_run, &r, &err), 0);
	ASSERT_EQ(r.n, 0);
	ASSERT_EQ(blockmap_diff(a, b, on_run, &r, &err), 0);
	ASSERT_EQ(r.n, 2);
	ASSERT_EQ(r.off[0], BS);
	ASSERT_EQ(r.len[0], BS);
	ASSERT_EQ(r.off[1], 5 * BS);
	ASSERT_EQ(r.len[1], 100);
	/* The file ends before the size asked for. */
	blockmap_free(b);
	b = NULL;
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_from_fd(fd, size + BS, BS, &b, &err), -EIO);
	ASSERT_CONTAINS(err.msg, "ends before its size");
	close(fd);
	unlink(path);
	blockmap_free(a);
}

static void
test_runs_merge(void)
{
	struct blockmap *a = NULL, *b = NULL;
	struct runs r = { 0 };
	struct err err = { 0 };

	ASSERT_EQ(blockmap_new(10 * BS, BS, &a, &err), 0);
	ASSERT_EQ(blockmap_new(10 * BS, BS, &b, &err), 0);
	for (int i = 2; i < 5; i++)
		b->sum[i] = 1;	/* blocks 2..4: one run */
	b->sum[9] = 1;		/* the last block */
	ASSERT_EQ(blockmap_diff(a, b, on_run, &r, &err), 0);
	ASSERT_EQ(r.n, 2);
	ASSERT_EQ(r.off[0], 2 * BS);
	ASSERT_EQ(r.len[0], 3 * BS);
	ASSERT_EQ(r.off[1], 9 * BS);
	ASSERT_EQ(r.len[1], BS);
	blockmap_free(b);
	ASSERT_EQ(blockmap_new(10 * BS, 2 * BS, &b, &err), 0);
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_diff(a, b, on_run, &r, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "different disks");
	blockmap_free(a);
	blockmap_free(b);
}

static void
test_bad_geometry(void)
{
	struct blockmap *m = NULL;
	struct err err = { 0 };

	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_new(BS, 3000, &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "block size 3000");
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_new(BS, 1024, &m, &err), -EINVAL);
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_new(0, BS, &m, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "disk size 0");
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_new((17ULL << 40), BS, &m, &err), -EINVAL);
	ASSERT_TRUE(m == NULL);
}

/* Encode, decode: the same map; then each damage refused by name. */
static void
test_file_form(void)
{
	struct blockmap *a = NULL, *b = NULL;
	struct err err = { 0 };
	unsigned char *buf;
	size_t len;

	ASSERT_EQ(blockmap_new(3 * BS + 1, BS, &a, &err), 0);
	for (uint64_t i = 0; i < a->n; i++)
		a->sum[i] = 0x0123456789abcdefULL * (i + 1);
	buf = blockmap_encode(a, &len);
	ASSERT_EQ(len, BLOCKMAP_HEADER + 5 * 8);
	ASSERT_EQ(blockmap_decode(buf, len, &b, &err), 0);
	ASSERT_EQ(b->n, 4);
	ASSERT_EQ(b->size, 3 * BS + 1);
	ASSERT_TRUE(memcmp(a->sum, b->sum, 4 * 8) == 0);
	blockmap_free(b);
	b = NULL;
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_decode(buf, len - 8, &b, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "truncated");
	buf[BLOCKMAP_HEADER + 3] ^= 1;	/* one checksum bit */
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_decode(buf, len, &b, &err), -EBADMSG);
	ASSERT_CONTAINS(err.msg, "damaged");
	buf[8] = 2;			/* version */
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_decode(buf, len, &b, &err), -ENOTSUP);
	ASSERT_CONTAINS(err.msg, "version 2");
	buf[0] = 'X';
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_decode(buf, len, &b, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "TERNBMAP");
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_decode(buf, 3, &b, &err), -EINVAL);
	ASSERT_TRUE(b == NULL);
	free(buf);
	blockmap_free(a);
}

/* A header that claims more blocks than the file holds is refused before
 * anything is allocated for them. */
static void
test_lying_header(void)
{
	struct blockmap *a = NULL, *b = NULL;
	struct err err = { 0 };
	unsigned char *buf;
	size_t len;

	ASSERT_EQ(blockmap_new(BS, BS, &a, &err), 0);
	buf = blockmap_encode(a, &len);
	/* 16 TiB in 4 KiB blocks, in a 48-byte file */
	buf[16] = 0; buf[17] = 0; buf[18] = 0; buf[19] = 0;
	buf[20] = 0; buf[21] = 0x10; buf[22] = 0; buf[23] = 0;
	buf[24] = 0; buf[25] = 0; buf[26] = 0; buf[27] = 0;
	buf[28] = 0x01; buf[29] = 0; buf[30] = 0; buf[31] = 0;
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_decode(buf, len, &b, &err), -EINVAL);
	ASSERT_CONTAINS(err.msg, "truncated or padded");
	free(buf);
	blockmap_free(a);
}

static void
test_save_load(void)
{
	char dir[] = "/tmp/tern-bmap-XXXXXX";
	struct blockmap *a = NULL, *b = NULL;
	struct err err = { 0 };
	char *path;

	ASSERT_TRUE(mkdtemp(dir) != NULL);
	path = xasprintf("%s/vda.bmap", dir);
	ASSERT_EQ(blockmap_new(2 * BS, BS, &a, &err), 0);
	a->sum[1] = 42;
	ASSERT_EQ(blockmap_save(a, path, &err), 0);
	ASSERT_EQ(blockmap_load(path, &b, &err), 0);
	ASSERT_EQ(b->sum[1], 42);
	unlink(path);
	err = (struct err){ 0 };
	ASSERT_EQ(blockmap_load(path, &b, &err), -ENOENT);
	ASSERT_CONTAINS(err.msg, "cannot read");
	rmdir(dir);
	free(path);
	blockmap_free(a);
	blockmap_free(b);
}

int
main(void)
{
	RUN_TEST(test_map_of_file);
	RUN_TEST(test_runs_merge);
	RUN_TEST(test_bad_geometry);
	RUN_TEST(test_file_form);
	RUN_TEST(test_lying_header);
	RUN_TEST(test_save_load);
	return TEST_REPORT();
}
