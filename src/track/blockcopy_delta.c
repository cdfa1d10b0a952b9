/* blockcopy_delta.c - tern-blockcopy's --delta-out (blockcopy_delta.h):
 * the delta file is written beside its name and renamed once synced, so
 * a reader never finds a partial stream under the name. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockcopy_delta.h"
#include "helper.h"
#include "util.h"

static bool
parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*ret = v;
	return true;
}

int
bc_delta_args_check(const struct bc_delta_args *a, const char **ret_msg)
{
	uint64_t seq, base;
	uint8_t uuid[16];

	if (!a->seq || !a->base_seq || !a->disk || !a->vm_uuid)
		*ret_msg = "--delta-out needs --seq, --base-seq, --disk and "
		    "--vm-uuid";
	else if (!parse_u64(a->seq, &seq) || !parse_u64(a->base_seq, &base) ||
	    seq == 0 || base >= seq)
		*ret_msg = "--seq must be a number >= 1 and --base-seq a "
		    "smaller one";
	else if (uuid_parse_raw(a->vm_uuid, uuid) < 0)
		*ret_msg = "--vm-uuid is not a uuid";
	else if (strlen(a->disk) > DELTA_DISK_NAME_MAX || !*a->disk ||
	    strspn(a->disk, "abcdefghijklmnopqrstuvwxyz0123456789_-") !=
	    strlen(a->disk))
		*ret_msg = "--disk must be 1 to 15 of [a-z0-9_-]";
	else
		return 0;
	return -EINVAL;
}

int
bc_delta_open(struct bc_delta *d, const struct bc_delta_args *a,
    uint64_t disk_size, uint32_t block_size, bool compress, struct err *err)
{
	struct delta_header h = { .disk_size = disk_size,
		.block_size = block_size, .created_ms = wall_ms() };

	(void)parse_u64(a->seq, &h.seq);	/* checked before */
	(void)parse_u64(a->base_seq, &h.base_seq);
	(void)uuid_parse_raw(a->vm_uuid, h.uuid);
	snprintf(h.disk, sizeof(h.disk), "%s", a->disk);
	d->path = a->path;
	d->tmp = xasprintf("%s.partial", a->path);
	d->fd = open(d->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (d->fd == -1)
		return err_setf_errno(err, -errno, "cannot create '%s'",
		    d->tmp);
	return delta_writer_open(d->fd, &h, compress, &d->w, err);
}

int
bc_delta_put(struct bc_delta *d, uint64_t off, const void *buf,
    uint64_t len, struct err *err)
{
	if (buf)
		return delta_write_data(d->w, off, buf, len, err);
	return delta_write_zero(d->w, off, len, err);
}

/* fsync the directory of path, so that its rename is durable. */
static int
dir_sync(const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);

	return helper_fsync_path(dirname(copy));
}

int
bc_delta_finish(struct bc_delta *d, void *buf, size_t len, struct err *err)
{
	off_t end;
	int r;

	if ((r = delta_writer_finish(d->w, &d->st, err)) < 0)
		return r;
	if (fsync(d->fd) == -1 || (end = lseek(d->fd, 0, SEEK_END)) == -1 ||
	    lseek(d->fd, 0, SEEK_SET) == -1)
		return err_setf_errno(err, -errno, "cannot sync '%s'",
		    d->tmp);
	d->bytes = (uint64_t)end;
	if ((r = helper_sha256_hex(d->fd, buf, len, d->sha256)) < 0)
		return err_setf_errno(err, r, "cannot hash '%s'", d->tmp);
	if (rename(d->tmp, d->path) == -1)
		return err_setf_errno(err, -errno, "cannot rename '%s' to "
		    "'%s'", d->tmp, d->path);
	free(d->tmp);
	d->tmp = NULL;
	if ((r = dir_sync(d->path)) < 0)
		return err_setf_errno(err, r, "cannot sync the directory of "
		    "'%s'", d->path);
	return 0;
}

void
bc_delta_done(struct bc_delta *d)
{
	delta_writer_free(d->w);
	d->w = NULL;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	if (d->tmp)
		(void)unlink(d->tmp);
	free(d->tmp);
	d->tmp = NULL;
}
