/* blockmap.c - per-block checksums (blockmap.h): computing, comparing,
 * and the file form, which is parsed as untrusted input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "blockmap.h"
#include "fsutil.h"
#include "le.h"
#include "util.h"
#include "vm_limits.h"

static const char blockmap_magic[8] = { 'T', 'E', 'R', 'N', 'B', 'M', 'A',
	'P' };

#define BLOCKMAP_VERSION 1u

static bool
block_size_ok(uint32_t bs)
{
	return block_size_is_valid(bs);
}

int
blockmap_new(uint64_t size, uint32_t block_size, struct blockmap **ret,
    struct err *err)
{
	struct blockmap *m;

	if (!block_size_ok(block_size))
		return err_set(err, -EINVAL, "block size %u is not a power of "
		    "two from %u to %u", block_size, BLOCKMAP_BS_MIN,
		    BLOCKMAP_BS_MAX);
	if (size == 0 || size > (uint64_t)VM_DISK_SIZE_MAX)
		return err_set(err, -EINVAL, "disk size %llu is not from 1 "
		    "byte to %llu", (unsigned long long)size,
		    (unsigned long long)VM_DISK_SIZE_MAX);
	m = xzalloc(sizeof(*m));
	m->block_size = block_size;
	m->size = size;
	m->n = (size + block_size - 1) / block_size;
	m->sum = xzalloc(m->n * sizeof(*m->sum));
	*ret = m;
	return 0;
}

struct blockmap *
blockmap_free(struct blockmap *m)
{
	if (m) {
		free(m->sum);
		free(m);
	}
	return NULL;
}

uint64_t
blockmap_block_len(const struct blockmap *m, uint64_t i)
{
	uint64_t off = i * m->block_size;

	return m->size - off < m->block_size ? m->size - off : m->block_size;
}

uint64_t
blockmap_hash(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

void
blockmap_set(struct blockmap *m, uint64_t i, const void *data, size_t len)
{
	m->sum[i] = blockmap_hash(data, len);
}

int
blockmap_from_fd(int fd, uint64_t size, uint32_t block_size,
    struct blockmap **ret, struct err *err)
{
	struct blockmap *m;
	char *buf;
	int r;

	if ((r = blockmap_new(size, block_size, &m, err)) < 0)
		return r;
	buf = xmalloc(block_size);
	for (uint64_t i = 0; i < m->n; i++) {
		size_t len = blockmap_block_len(m, i), got = 0;

		while (got < len) {
			ssize_t k = pread(fd, buf + got, len - got,
			    (off_t)(i * block_size + got));

			if (k <= 0) {
				free(buf);
				blockmap_free(m);
				return k == 0 ? err_set(err, -EIO, "the disk "
				    "ends before its size (%llu bytes)",
				    (unsigned long long)size) :
				    err_setf_errno(err, -errno, "cannot read "
				    "the disk");
			}
			got += (size_t)k;
		}
		blockmap_set(m, i, buf, len);
	}
	free(buf);
	*ret = m;
	return 0;
}

void *
blockmap_encode(const struct blockmap *m, size_t *ret_len)
{
	size_t len = BLOCKMAP_HEADER + (m->n + 1) * 8;
	unsigned char *b = xmalloc(len);

	memcpy(b, blockmap_magic, sizeof(blockmap_magic));
	le32_put(b + 8, BLOCKMAP_VERSION);
	le32_put(b + 12, m->block_size);
	le64_put(b + 16, m->size);
	le64_put(b + 24, m->n);
	for (uint64_t i = 0; i < m->n; i++)
		le64_put(b + BLOCKMAP_HEADER + i * 8, m->sum[i]);
	le64_put(b + len - 8, XXH3_64bits(b, len - 8));
	*ret_len = len;
	return b;
}

/* The header's fields, each checked, before any allocation. */
static int
decode_header(const unsigned char *b, size_t len, uint32_t *ret_bs,
    uint64_t *ret_size, uint64_t *ret_n, struct err *err)
{
	uint32_t version, bs;
	uint64_t size, n;

	if (len < BLOCKMAP_HEADER + 8 ||
	    memcmp(b, blockmap_magic, sizeof(blockmap_magic)) != 0)
		return err_set(err, -EINVAL, "not a block checksum map (no "
		    "TERNBMAP header)");
	if ((version = le32_get(b + 8)) != BLOCKMAP_VERSION)
		return err_set(err, -ENOTSUP, "block checksum map version %u; "
		    "this tern reads version %u", version, BLOCKMAP_VERSION);
	bs = le32_get(b + 12);
	size = le64_get(b + 16);
	n = le64_get(b + 24);
	if (!block_size_ok(bs))
		return err_set(err, -EINVAL, "block checksum map: block size "
		    "%u is not a power of two from %u to %u", bs,
		    BLOCKMAP_BS_MIN, BLOCKMAP_BS_MAX);
	if (size == 0 || size > (uint64_t)VM_DISK_SIZE_MAX ||
	    n != (size + bs - 1) / bs)
		return err_set(err, -EINVAL, "block checksum map: disk size "
		    "%llu and %llu blocks do not agree",
		    (unsigned long long)size, (unsigned long long)n);
	if ((len - BLOCKMAP_HEADER) / 8 - 1 != n ||
	    (len - BLOCKMAP_HEADER) % 8 != 0)
		return err_set(err, -EINVAL, "block checksum map: %zu bytes "
		    "for %llu blocks (truncated or padded)", len,
		    (unsigned long long)n);
	*ret_bs = bs;
	*ret_size = size;
	*ret_n = n;
	return 0;
}

int
blockmap_decode(const void *buf, size_t len, struct blockmap **ret,
    struct err *err)
{
	const unsigned char *b = buf;
	struct blockmap *m;
	uint32_t bs = 0;
	uint64_t size = 0, n = 0;
	int r;

	if ((r = decode_header(b, len, &bs, &size, &n, err)) < 0)
		return r;
	if (le64_get(b + len - 8) != XXH3_64bits(b, len - 8))
		return err_set(err, -EBADMSG, "block checksum map: its own "
		    "checksum does not match (the file is damaged)");
	if ((r = blockmap_new(size, bs, &m, err)) < 0)
		return r;
	for (uint64_t i = 0; i < n; i++)
		m->sum[i] = le64_get(b + BLOCKMAP_HEADER + i * 8);
	*ret = m;
	return 0;
}

int
blockmap_save(const struct blockmap *m, const char *path, struct err *err)
{
	size_t len;
	void *b = blockmap_encode(m, &len);
	int r = file_write_atomic(path, b, len, 0600);

	free(b);
	return r < 0 ? err_setf_errno(err, r, "cannot write '%s'", path) : 0;
}

int
blockmap_load(const char *path, struct blockmap **ret, struct err *err)
{
	/* The largest map: VM_DISK_SIZE_MAX in BLOCKMAP_BS_MIN blocks. */
	size_t max = BLOCKMAP_HEADER + 8 +
	    (size_t)(VM_DISK_SIZE_MAX / BLOCKMAP_BS_MIN) * 8;
	_cleanup_free_ char *b = NULL;
	size_t len;
	int r = file_read_all(path, max, &b, &len);

	if (r < 0)
		return err_setf_errno(err, r, "cannot read '%s'", path);
	return blockmap_decode(b, len, ret, err);
}

int
blockmap_diff(const struct blockmap *a, const struct blockmap *b,
    int (*fn)(uint64_t off, uint64_t len, void *data), void *data,
    struct err *err)
{
	uint64_t i = 0;

	if (a->size != b->size || a->block_size != b->block_size)
		return err_set(err, -EINVAL, "the checksum maps are of "
		    "different disks (%llu bytes in %u-byte blocks, %llu in "
		    "%u)", (unsigned long long)a->size, a->block_size,
		    (unsigned long long)b->size, b->block_size);
	while (i < a->n) {
		uint64_t j;
		int r;

		if (a->sum[i] == b->sum[i]) {
			i++;
			continue;
		}
		for (j = i + 1; j < a->n && a->sum[j] != b->sum[j]; j++)
			;
		r = fn(i * a->block_size, (j - 1) * a->block_size +
		    blockmap_block_len(a, j - 1) - i * a->block_size, data);
		if (r < 0)
			return r;
		i = j;
	}
	return 0;
}
