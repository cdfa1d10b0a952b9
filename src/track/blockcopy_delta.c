/* blockcopy_delta.c - tern-blockcopy's --delta-out (blockcopy_delta.h):
 * the delta file is written beside its name and renamed once synced, so
 * a reader never finds a partial stream under the name. */
#include <errno.h>
#include <fcntl.h>
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
bc_delta_args_parse(const struct bc_delta_args *a,
    struct delta_header *ret_h, struct err *err)
{
	/* disk_size and block_size stand in until the source is open */
	struct delta_header h = { .disk_size = 1, .block_size = 65536 };

	if (!a->seq || !a->base_seq || !a->disk || !a->vm_uuid)
		return err_set(err, -EINVAL, "--delta-out needs --seq, "
		    "--base-seq, --disk and --vm-uuid");
	if (!parse_u64(a->seq, &h.seq) || !parse_u64(a->base_seq,
	    &h.base_seq))
		return err_set(err, -EINVAL, "--seq and --base-seq take "
		    "numbers");
	if (uuid_parse_raw(a->vm_uuid, h.uuid) < 0)
		return err_set(err, -EINVAL, "--vm-uuid '%s' is not a uuid",
		    a->vm_uuid);
	if (strlen(a->disk) >= sizeof(h.disk))
		return err_set(err, -EINVAL, "--disk '%s' is too long",
		    a->disk);
	strcpy(h.disk, a->disk);
	if (delta_header_check(&h, err) < 0)
		return -EINVAL;
	*ret_h = h;
	return 0;
}

int
bc_delta_open(struct bc_delta *d, const char *path,
    const struct delta_header *h, uint64_t disk_size, uint32_t block_size,
    bool compress, struct err *err)
{
	struct delta_header hh = *h;

	hh.disk_size = disk_size;
	hh.block_size = block_size;
	hh.created_ms = wall_ms();
	d->path = path;
	d->tmp = xasprintf("%s.partial", path);
	d->fd = open(d->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (d->fd == -1)
		return err_setf_errno(err, -errno, "cannot create '%s'",
		    d->tmp);
	return delta_writer_open(d->fd, &hh, compress, &d->w, err);
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
