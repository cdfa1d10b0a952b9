/* blockcopy_delta.h - tern-blockcopy's --delta-out: the wanted blocks of a
 * disk written as a delta stream (src/replica/delta.h) into a file, which
 * appears under its name only once complete and synced. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "delta.h"
#include "err.h"

/* The delta's header arguments, as given on the command line. */
struct bc_delta_args {
	const char *path, *seq, *base_seq, *disk, *vm_uuid;
};

/* Invariant: fd >= 0 and w != NULL between bc_delta_open() and
 * bc_delta_finish(); tmp is the file being written until it is renamed
 * to path. */
struct bc_delta {
	const char *path;
	char *tmp;
	int fd;
	struct delta_writer *w;
	struct delta_stats st;
	uint64_t bytes;		/* of the file */
	char sha256[65];	/* "" until bc_delta_finish() */
};

/* The header the arguments give (seq, base_seq, uuid, disk; the rest is
 * the source's), checked as the reader will: -EINVAL naming what is
 * wrong. */
int bc_delta_args_parse(const struct bc_delta_args *a,
    struct delta_header *ret_h, struct err *err);

/* Start PATH.partial with header h, its disk_size and block_size and
 * created_ms set here. */
int bc_delta_open(struct bc_delta *d, const char *path,
    const struct delta_header *h, uint64_t disk_size, uint32_t block_size,
    bool compress, struct err *err);
/* len bytes at off: DATA from buf, or ZERO when buf is NULL. */
int bc_delta_put(struct bc_delta *d, uint64_t off, const void *buf,
    uint64_t len, struct err *err);
/* END, fsync, the sha256 (read back with buf's len bytes), rename to
 * PATH and fsync of its directory. */
int bc_delta_finish(struct bc_delta *d, void *buf, size_t len,
    struct err *err);
/* Free; a file not finished is removed.  Safe on a zeroed d (fd -1 or
 * never opened: tmp NULL). */
void bc_delta_done(struct bc_delta *d);
