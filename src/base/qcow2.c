/* qcow2.c - a qcow2 image's backing file, from its header (the qcow2
 * format: magic at 0, backing_file_offset u64 at 8, backing_file_size
 * u32 at 16, big-endian). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2.h"
#include "util.h"

static uint64_t
be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

int
qcow2_backing(const char *image, char **ret)
{
	_cleanup_close_ int fd = open(image, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *dup = xstrdup(image);
	unsigned char hd[20];
	char name[PATH_MAX];
	uint64_t off, len;

	*ret = NULL;
	if (fd < 0)
		return -errno;
	if (pread(fd, hd, sizeof(hd), 0) != (ssize_t)sizeof(hd) ||
	    memcmp(hd, "QFI\xfb", 4) != 0)
		return -EINVAL;
	off = be(hd + 8, 8);
	len = be(hd + 16, 4);
	if (off == 0)
		return 0;
	if (len == 0 || len >= sizeof(name) || pread(fd, name, len,
	    (off_t)off) != (ssize_t)len)
		return -EINVAL;
	name[len] = '\0';
	*ret = name[0] == '/' ? xstrdup(name) : xasprintf("%s/%s",
	    dirname(dup), name);
	return 0;
}
