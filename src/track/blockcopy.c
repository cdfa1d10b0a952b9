/* blockcopy.c - tern-blockcopy: copy one disk of a backup point from an NBD
 * export (QEMU's fleecing export) into a qcow2 file written through a
 * qemu-nbd child, and record the point's per-block checksum map.  A helper
 * ternd runs as a job's child: it never talks to ternd or QEMU's monitor,
 * and it never leaves a partial --map-out or --summary behind.
 *
 *   tern-blockcopy --from NBD_URI --to QCOW2 --map-out NEW.map
 *                  (--all | --bitmap NAME | --compare) [--map-in OLD.map]
 *                  [--block-size N] [--compress] [--progress FILE]
 *                  [--summary FILE]
 *   tern-blockcopy --from NBD_URI --delta-out FILE --seq N --base-seq N
 *                  --disk NAME --vm-uuid UUID --map-out NEW.map (mode) ...
 *   tern-blockcopy --from-image QCOW2 --map-out MAP [--summary FILE]
 *
 * The last only reads: every block of the image (and its backing chain)
 * hashed into MAP (a replica's verify and resync compare it with the
 * primary's map of the same point).
 *
 * With --delta-out the blocks "written" and "zeroed" below become DATA
 * and ZERO frames of a delta stream (src/replica/delta.h; --compress:
 * zstd) instead of writes to a qcow2.  The stream's frames must be in
 * offset order, so in that mode a run read ahead waits (SLOT_READ) until
 * every run before it was framed.
 *
 * Every block of the map is in one of these states while the copy runs:
 *
 *   classified (cls[i]: DATA = some byte may be non-zero: base:allocation
 *   did not say NBD_STATE_ZERO (a hole without ZERO is read); DIRTY = the
 *   bitmap marked it, --bitmap only)
 *     --wanted--> read (DATA) or taken as zeros (not DATA)
 *     --hashed--> sum[i] set; compared with map-in's sum[i]
 *     --decided--> written (nbd_pwrite), zeroed (nbd_zero) or left alone
 *
 *   mode       wanted      written                    zeroed
 *   --all      every       DATA blocks                none (target is fresh)
 *   --bitmap   DIRTY       DIRTY and DATA             DIRTY, not DATA
 *   --compare  every       DATA, sum != map-in        not DATA, sum != map-in
 *
 * Blocks not wanted keep map-in's checksum.  Transitions: classify()
 * (extent walks), copy_all_runs() -> slot_read() -> slot_step() ->
 * run_finish() -> run_hash(), run_write().  finish(): nbd_flush, qemu-nbd
 * exits, fsync of the qcow2, its sha256, and only then the map and the
 * summary (with the sha256 of both), each written to a temporary file and
 * renamed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <libnbd.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>

#include "blockcopy_delta.h"
#include "blockmap.h"
#include "err.h"
#include "fsutil.h"
#include "helper.h"
#include "jsonutil.h"
#include "util.h"

#define PROG "tern-blockcopy"
#define READ_MAX (4u << 20)	/* bytes per nbd_pread */
/* Bytes per nbd_pwrite.  With helper.c's QEMU_TUNABLES (qemu-nbd's
 * request buffers kept on the heap) 1 MiB writes were fastest (1 GiB:
 * 3.2 s against 5.8 s without, 3.9 s with 4 MiB writes). */
#define WRITE_MAX (1u << 20)
#define ZERO_MAX (1u << 30)	/* bytes per nbd_zero */
#define STATUS_MAX (1u << 30)	/* per block status: 32-bit lengths */
#define NSLOTS 8		/* reads in flight, their buffers */
#define PROGRESS_MS 250
/* Bytes written between two sync_file_range() calls on the target: the
 * disk writes back while the copy goes on, so that finish()'s fsync finds
 * little left (a full point of 1 GiB spent 1.3 s in that fsync). */
#define WRITEBACK_BYTES (32u << 20)

enum mode { MODE_NONE, MODE_ALL, MODE_BITMAP, MODE_COMPARE };

enum {
	CLS_DATA = 1,
	CLS_DIRTY = 2,
};

struct opts {
	const char *from, *to, *map_out, *map_in, *bitmap;
	const char *from_image;	/* a qcow2 read through qemu-nbd -r */
	const char *check_map;	/* every block read must match it */
	const char *src_name;	/* from or from_image, for messages */
	const char *progress, *summary;
	enum mode mode;
	uint32_t block_size;
	bool compress;
	struct bc_delta_args delta;	/* delta.path NULL: no --delta-out */
	struct delta_header delta_hdr;	/* from delta, once checked */
};

/* A read buffer: FREE --slot_read--> READING --slot_step (read done,
 * run_finish issues the writes)--> WRITING --slot_step (every write
 * done)--> FREE.  The buffer is reused only once FREE.  With --delta-out:
 * FREE --slot_read--> READING --slot_step--> READ, or FREE --slot_zero-->
 * READ (a zero run, no buffer); READ --slots_drain (every earlier run
 * framed; run_finish writes the frames)--> FREE. */
enum slot_state { SLOT_FREE, SLOT_READING, SLOT_WRITING, SLOT_READ };

struct slot {
	enum slot_state state;
	uint64_t seq;		/* runs are numbered as they are issued */
	bool zeros;		/* a zero run: buf unused */
	char *buf;
	uint64_t first, last;	/* blocks of the run read into buf */
	int64_t read_cookie;
	int64_t *cookie;	/* writes from buf, ncookie of them */
	size_t ncookie;
};

struct stats {
	uint64_t read, written, zeroed, changed, blocks_changed;
	uint64_t done, total;
	char image_sha256[65], map_sha256[65];	/* "" until finish() */
};

/* Invariants: map and old (when set) have size and block_size of the
 * source; cls has map->n entries; zero_sum/zero_sum_tail are the sums of
 * a full block and of the last block of zeros. */
struct copy {
	const struct opts *o;
	struct nbd_handle *src, *dst;
	char *bm_ctx;
	struct blockmap *map, *old, *chk;
	uint64_t bad;		/* 1 + the first block that differs from chk */
	uint8_t *cls;
	bool *need;		/* per block of the current run */
	struct slot slot[NSLOTS];
	uint64_t zero_sum, zero_sum_tail;
	struct stats st;
	int progress_fd;
	uint64_t progress_ms;
	int dst_fd;		/* the target file, for writeback; or -1 */
	uint64_t writeback_at;	/* st.written at the last writeback */
	bool delta_on;		/* --delta-out: frames instead of dst */
	struct bc_delta delta;
	uint64_t seq_next, seq_done;	/* runs issued, runs framed */
};

static void __attribute__((noreturn))
usage(const char *msg)
{
	if (msg)
		fprintf(stderr, PROG ": %s\n", msg);
	fprintf(stderr, "usage: " PROG " --from NBD_URI --to QCOW2 "
	    "--map-out NEW.map\n"
	    "       (--all | --bitmap NAME | --compare) [--map-in OLD.map]\n"
	    "       [--block-size N] [--compress] [--progress FILE] "
	    "[--summary FILE]\n"
	    "       " PROG " --from NBD_URI --delta-out FILE --seq N "
	    "--base-seq N --disk NAME\n"
	    "       --vm-uuid UUID --map-out NEW.map (mode) [--map-in OLD.map] "
	    "[--compress] [...]\n"
	    "       " PROG " --from-image QCOW2 --check-map MAP "
	    "[--to QCOW2 --all] [...]\n"
	    "       " PROG " --from-image QCOW2 --map-out MAP "
	    "[--summary FILE]\n");
	exit(2);
}

static void
set_mode(struct opts *o, enum mode m)
{
	if (o->mode != MODE_NONE)
		usage("give only one of --all, --bitmap and --compare");
	o->mode = m;
}

static uint32_t
parse_block_size(const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < BLOCKMAP_BS_MIN || v > BLOCKMAP_BS_MAX ||
	    (v & (v - 1)) != 0)
		usage("--block-size must be a power of two from 4096 to "
		    "16777216");
	return (uint32_t)v;
}

/* --check-map: every block read is compared with MAP (a point's map): a
 * check alone (no --to), or a copy (--to --all) that trusts nothing. */
static void
check_opts_check(struct opts *o)
{
	if (o->to && o->mode != MODE_ALL)
		usage("--check-map copies with --all only");
	if (!o->to && o->mode != MODE_NONE)
		usage("--check-map without --to only reads: give no mode");
	if (o->map_in || o->compress || o->delta.path)
		usage("--check-map takes no --map-in, --compress or "
		    "--delta-out");
	o->mode = MODE_ALL;
}

static void
check_opts(struct opts *o)
{
	struct err e = { 0 };

	if (!o->from == !o->from_image)
		usage("give one of --from and --from-image");
	o->src_name = o->from ? o->from : o->from_image;
	if (o->check_map) {
		check_opts_check(o);
		return;
	}
	if (o->from_image && !o->to && !o->delta.path && o->map_out &&
	    o->mode == MODE_NONE && !o->map_in && !o->compress) {
		o->mode = MODE_ALL;	/* a map of the image, nothing written */
		return;
	}
	if (!o->to == !o->delta.path || !o->map_out)
		usage("give one of --to and --delta-out, and --map-out");
	if (o->delta.path && bc_delta_args_parse(&o->delta, &o->delta_hdr,
	    &e) < 0)
		usage(e.msg);
	if (!o->delta.path && (o->delta.seq || o->delta.base_seq ||
	    o->delta.disk || o->delta.vm_uuid))
		usage("--seq, --base-seq, --disk and --vm-uuid go with "
		    "--delta-out");
	if (o->mode == MODE_NONE)
		usage("give one of --all, --bitmap NAME and --compare");
	if (o->mode == MODE_ALL && o->map_in)
		usage("--all copies a full point: it takes no --map-in");
	if (o->mode != MODE_ALL && !o->map_in)
		usage("--bitmap and --compare need --map-in (the parent "
		    "point's map)");
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "map-out", required_argument, NULL, 'o' },
		{ "map-in", required_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ "bitmap", required_argument, NULL, 'b' },
		{ "compare", no_argument, NULL, 'c' },
		{ "block-size", required_argument, NULL, 's' },
		{ "compress", no_argument, NULL, 'z' },
		{ "progress", required_argument, NULL, 'p' },
		{ "summary", required_argument, NULL, 'S' },
		{ "from-image", required_argument, NULL, 'F' },
		{ "check-map", required_argument, NULL, 'C' },
		{ "delta-out", required_argument, NULL, 'D' },
		{ "seq", required_argument, NULL, 'q' },
		{ "base-seq", required_argument, NULL, 'B' },
		{ "disk", required_argument, NULL, 'd' },
		{ "vm-uuid", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	o->block_size = BLOCKMAP_BS_DEFAULT;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'f': o->from = optarg; break;
		case 't': o->to = optarg; break;
		case 'o': o->map_out = optarg; break;
		case 'i': o->map_in = optarg; break;
		case 'a': set_mode(o, MODE_ALL); break;
		case 'b': set_mode(o, MODE_BITMAP); o->bitmap = optarg; break;
		case 'c': set_mode(o, MODE_COMPARE); break;
		case 's': o->block_size = parse_block_size(optarg); break;
		case 'z': o->compress = true; break;
		case 'p': o->progress = optarg; break;
		case 'S': o->summary = optarg; break;
		case 'F': o->from_image = optarg; break;
		case 'C': o->check_map = optarg; break;
		case 'D': o->delta.path = optarg; break;
		case 'q': o->delta.seq = optarg; break;
		case 'B': o->delta.base_seq = optarg; break;
		case 'd': o->delta.disk = optarg; break;
		case 'u': o->delta.vm_uuid = optarg; break;
		default: usage(NULL);
		}
	}
	if (optind != argc)
		usage("unexpected argument");
	check_opts(o);
}

/* ---- the source: the point-in-time export ---- */

static int
src_check_contexts(struct copy *c, struct err *err)
{
	if (!c->bm_ctx)
		return 0;
	if (nbd_can_meta_context(c->src, c->bm_ctx) != 1)
		return err_set(err, -ENOENT, "the NBD export '%s' offers no "
		    "dirty bitmap '%s' (meta context %s): export the point "
		    "with that bitmap, or copy it with --compare",
		    c->o->src_name, c->o->bitmap, c->bm_ctx);
	return 0;
}

/* --from-image: the image (and its backing chain) through qemu-nbd -r. */
static int
src_connect_image(struct copy *c, struct err *err)
{
	if (access(c->o->from_image, R_OK) == -1)
		return err_setf_errno(err, -errno, "cannot read '%s'",
		    c->o->from_image);
	return helper_qemu_nbd_connect(c->src, c->o->from_image,
	    HELPER_NBD_READ, err);
}

static int
src_open(struct copy *c, uint64_t *ret_size, struct err *err)
{
	int64_t size;
	int r;

	if (!(c->src = nbd_create()))
		return helper_nbd_err(err, "cannot create an NBD handle");
	/* Every byte of a read buffer is the server's once the read
	 * succeeds (a failed read fails the copy): libnbd's memset of each
	 * buffer before the read cost 5 % of the copier's time. */
	(void)nbd_set_pread_initialize(c->src, false);
	if (nbd_add_meta_context(c->src, LIBNBD_CONTEXT_BASE_ALLOCATION) ==
	    -1 || (c->bm_ctx && nbd_add_meta_context(c->src, c->bm_ctx) == -1))
		return helper_nbd_err(err, "cannot ask for block status");
	if (c->o->from_image) {
		if ((r = src_connect_image(c, err)) < 0)
			return r;
	} else if (nbd_connect_uri(c->src, c->o->from) == -1)
		return helper_nbd_err(err, "cannot read the point from '%s'",
		    c->o->from);
	if ((r = src_check_contexts(c, err)) < 0)
		return r;
	if ((size = nbd_get_size(c->src)) <= 0)
		return helper_nbd_err(err, "the export '%s' has no size",
		    c->o->src_name);
	*ret_size = (uint64_t)size;
	return 0;
}

/* ---- classification: block status walks ---- */

struct walk {
	struct copy *c;
	const char *ctx;
	uint64_t reached;
	uint8_t bit;		/* set on blocks touched by a matching extent */
	uint32_t flag;		/* extent matches when flags & flag ... */
	bool flag_set;		/* ... is non-zero (true) or zero (false) */
};

/* Mark every block touched by [off, off + len): dirty extents and data
 * extents are rounded outward to whole blocks. */
static void
cls_mark(struct copy *c, uint64_t off, uint64_t len, uint8_t bit)
{
	uint64_t first, last;

	if (len == 0 || off >= c->map->size)
		return;
	len = MIN(len, c->map->size - off);
	first = off / c->map->block_size;
	last = (off + len - 1) / c->map->block_size;
	for (uint64_t i = first; i <= last; i++)
		c->cls[i] |= bit;
}

static int
walk_extent(void *opaque, const char *ctx, uint64_t off, uint32_t *e,
    size_t n, int *error)
{
	struct walk *w = opaque;

	(void)error;
	if (strcmp(ctx, w->ctx) != 0)
		return 0;
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (((e[i + 1] & w->flag) != 0) == w->flag_set)
			cls_mark(w->c, off, e[i], w->bit);
		off += e[i];
	}
	w->reached = off;	/* the server may answer for less */
	return 0;
}

static int
walk_context(struct copy *c, struct walk *w, struct err *err)
{
	uint64_t size = c->map->size;

	w->c = c;
	w->reached = 0;
	while (w->reached < size) {
		uint64_t start = w->reached;
		uint64_t len = MIN(size - start, (uint64_t)STATUS_MAX);
		nbd_extent_callback cb = { .callback = walk_extent,
			.user_data = w };

		if (nbd_block_status(c->src, len, start, cb, 0) == -1)
			return helper_nbd_err(err, "cannot read %s of '%s'", w->ctx,
			    c->o->from);
		if (w->reached <= start)
			return err_set(err, -EPROTO, "the NBD server made no "
			    "progress in %s at offset %" PRIu64, w->ctx,
			    start);
	}
	return 0;
}

/* cls[] from base:allocation (every block is DATA when the server has no
 * such context) and, with --bitmap, from the dirty bitmap. */
static int
classify(struct copy *c, struct err *err)
{
	struct walk alloc = { .ctx = LIBNBD_CONTEXT_BASE_ALLOCATION,
		.bit = CLS_DATA, .flag = LIBNBD_STATE_ZERO,
		.flag_set = false };
	struct walk dirty = { .ctx = c->bm_ctx, .bit = CLS_DIRTY, .flag = 1,
		.flag_set = true };
	int r;

	if (nbd_can_meta_context(c->src, alloc.ctx) != 1)
		memset(c->cls, CLS_DATA, c->map->n);
	else if ((r = walk_context(c, &alloc, err)) < 0)
		return r;
	if (c->bm_ctx && (r = walk_context(c, &dirty, err)) < 0)
		return r;
	return 0;
}

static bool
block_wanted(const struct copy *c, uint64_t i)
{
	return c->o->mode != MODE_BITMAP || (c->cls[i] & CLS_DIRTY);
}

static void
count_total(struct copy *c)
{
	for (uint64_t i = 0; i < c->map->n; i++) {
		if (!block_wanted(c, i))
			continue;
		if (c->o->mode == MODE_ALL && !(c->cls[i] & CLS_DATA))
			continue;
		c->st.total += blockmap_block_len(c->map, i);
	}
}

/* ---- the target: a qcow2 through a qemu-nbd child ---- */

static int
dst_check(struct copy *c, struct err *err)
{
	int64_t size = nbd_get_size(c->dst);
	int64_t min = nbd_get_block_size(c->dst, LIBNBD_SIZE_MINIMUM);

	if (nbd_is_read_only(c->dst) != 0)
		return err_set(err, -EROFS, "'%s' opened read-only: the "
		    "target must be writable", c->o->to);
	if (size != (int64_t)c->map->size)
		return err_set(err, -EINVAL, "'%s' is %" PRId64 " bytes, the "
		    "point %" PRIu64 ": create the target with the point's "
		    "size", c->o->to, size, c->map->size);
	if (min > 0 && c->map->block_size % (uint64_t)min != 0)
		return err_set(err, -EINVAL, "'%s' takes writes of %" PRId64
		    " bytes, which the block size %u is not a multiple of: use "
		    "a block size of the qcow2 cluster size", c->o->to, min,
		    c->map->block_size);
	if (c->o->mode != MODE_ALL && nbd_can_zero(c->dst) != 1)
		return err_set(err, -ENOTSUP, "qemu-nbd cannot write zeroes "
		    "to '%s'", c->o->to);
	return 0;
}

static int
dst_open(struct copy *c, struct err *err)
{
	struct stat sb;
	int r;

	if (stat(c->o->to, &sb) == -1 || !S_ISREG(sb.st_mode))
		return err_set(err, -ENOENT, "'%s' is not an existing qcow2 "
		    "file: create it first (qemu-img create -f qcow2)",
		    c->o->to);
	if (c->o->compress && c->map->size % c->map->block_size != 0)
		return err_set(err, -EINVAL, "--compress needs a disk size "
		    "that is a multiple of the block size (%u); this disk is "
		    "%" PRIu64 " bytes: copy it without --compress",
		    c->map->block_size, c->map->size);
	if (!(c->dst = nbd_create()))
		return helper_nbd_err(err, "cannot create an NBD handle");
	if ((r = helper_qemu_nbd_connect(c->dst, c->o->to, c->o->compress ?
	    HELPER_NBD_WRITE_COMPRESS : HELPER_NBD_WRITE, err)) < 0)
		return r;
	c->dst_fd = open(c->o->to, O_RDONLY | O_CLOEXEC);
	return dst_check(c, err);
}

/* ---- copying ---- */

static void
progress_update(struct copy *c, bool force)
{
	char line[64];
	int n;
	uint64_t now = now_ms();

	if (c->progress_fd < 0 || (!force && now - c->progress_ms <
	    PROGRESS_MS))
		return;
	c->progress_ms = now;
	n = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 "\n",
	    c->st.done, c->st.total);
	/* DONE only grows, so the new line is never shorter than the old
	 * one: a reader sees one or the other (ftruncate trims what an
	 * older file had beyond the first line). */
	if (pwrite(c->progress_fd, line, (size_t)n, 0) == n)
		(void)ftruncate(c->progress_fd, n);
}

/* One turn of the event loop: wait until either connection can move,
 * then let libnbd move it. */
static int
poll_both(struct copy *c, struct err *err)
{
	struct nbd_handle *h[2] = { c->src, c->dst };
	struct pollfd pfd[2];
	int n = c->dst ? 2 : 1;

	for (int i = 0; i < n; i++) {
		unsigned dir = nbd_aio_get_direction(h[i]);

		pfd[i].fd = nbd_aio_get_fd(h[i]);
		pfd[i].events = (dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
		    (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0);
		pfd[i].revents = 0;
	}
	if (poll(pfd, (nfds_t)n, -1) == -1 && errno != EINTR)
		return err_setf_errno(err, -errno, "poll");
	for (int i = 0; i < n; i++) {
		if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    nbd_aio_notify_read(h[i]) == -1)
			return helper_nbd_err(err, "NBD connection to '%s' failed",
			    i ? c->o->to : c->o->src_name);
		if ((pfd[i].revents & POLLOUT) &&
		    nbd_aio_notify_write(h[i]) == -1)
			return helper_nbd_err(err, "NBD connection to '%s' failed",
			    i ? c->o->to : c->o->src_name);
	}
	return 0;
}

/* 1 when the command finished, 0 while it runs, -errno when it failed. */
static int
cookie_done(struct copy *c, struct nbd_handle *h, int64_t ck,
    struct err *err)
{
	int r = nbd_aio_command_completed(h, ck);

	if (r == -1)
		return h == c->src ? helper_nbd_err(err, "cannot read '%s'",
		    c->o->src_name) : helper_nbd_err(err, "cannot write '%s'",
		    c->o->to);
	return r;
}

/* Write (from s's buffer, asynchronously) or zero blocks [a, b) of the
 * run that starts at block first. */
static int
run_write(struct copy *c, struct slot *s, uint64_t first, uint64_t a,
    uint64_t b, bool data, struct err *err)
{
	uint64_t bs = c->map->block_size, off = a * bs;
	uint64_t len = (b - 1) * bs + blockmap_block_len(c->map, b - 1) - off;
	int64_t ck;
	int r;

	if (c->delta_on) {
		if ((r = bc_delta_put(&c->delta, off, data ? s->buf +
		    (a - first) * bs : NULL, len, err)) < 0)
			return r;
		if (data)
			c->st.written += len;
		else
			c->st.zeroed += len;
		return 0;
	}
	if (!data) {
		if (nbd_zero(c->dst, len, off, 0) == -1)
			return helper_nbd_err(err, "cannot write zeroes to '%s'",
			    c->o->to);
		c->st.zeroed += len;
		return 0;
	}
	for (uint64_t done = 0; done < len; done += WRITE_MAX) {
		ck = nbd_aio_pwrite(c->dst, s->buf + (a - first) * bs + done,
		    MIN(len - done, (uint64_t)WRITE_MAX), off + done,
		    NBD_NULL_COMPLETION, 0);
		if (ck == -1)
			return helper_nbd_err(err, "cannot write '%s'", c->o->to);
		s->cookie[s->ncookie++] = ck;
	}
	c->st.written += len;
	return 0;
}

/* Start the writeback of what qemu-nbd has written so far (cache=unsafe:
 * it lands in the page cache) once WRITEBACK_BYTES more were written.  A
 * hint only: finish()'s fsync is what makes the file durable. */
static void
dst_writeback(struct copy *c)
{
	if (c->dst_fd < 0 || c->st.written - c->writeback_at < WRITEBACK_BYTES)
		return;
	c->writeback_at = c->st.written;
	(void)sync_file_range(c->dst_fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

/* Hash blocks [first, last) (from buf, or zeros when buf is NULL), update
 * the map and the counters, and decide which blocks to write (c->need). */
static void
run_hash(struct copy *c, const char *buf, uint64_t first, uint64_t last)
{
	for (uint64_t i = first; i < last; i++) {
		uint64_t len = blockmap_block_len(c->map, i);
		uint64_t sum = i == c->map->n - 1 ? c->zero_sum_tail :
		    c->zero_sum;
		bool changed;

		if (buf)
			sum = blockmap_hash(buf + (i - first) *
			    c->map->block_size, len);
		changed = c->o->mode == MODE_ALL ? buf != NULL :
		    sum != c->old->sum[i];
		if (c->chk && sum != c->chk->sum[i] && !c->bad)
			c->bad = i + 1;
		c->map->sum[i] = sum;
		c->need[i - first] = c->o->mode == MODE_COMPARE ? changed :
		    c->o->mode == MODE_BITMAP || buf;
		if (changed) {
			c->st.changed += len;
			c->st.blocks_changed++;
		}
		if (c->o->mode != MODE_ALL || buf)
			c->st.done += len;
	}
}

/* Hash run [first, last) (read into s, or zeros when s is NULL) and write
 * the blocks that need it, in maximal sub-runs. */
static int
run_finish(struct copy *c, struct slot *s, uint64_t first, uint64_t last,
    struct err *err)
{
	int r;

	run_hash(c, s ? s->buf : NULL, first, last);
	if (c->bad)
		return err_set(err, -EBADMSG, "block %" PRIu64 " (bytes %"
		    PRIu64 "..) of '%s' does not match its map '%s': the "
		    "point is corrupt", c->bad - 1, (c->bad - 1) *
		    c->map->block_size, c->o->src_name, c->o->check_map);
	for (uint64_t a = first, b; (c->dst || c->delta_on) && a < last;
	    a = b) {
		if (!c->need[a - first]) {
			b = a + 1;
			continue;
		}
		for (b = a + 1; b < last && c->need[b - first]; b++)
			;
		if ((r = run_write(c, s, first, a, b, s != NULL, err)) < 0)
			return r;
	}
	dst_writeback(c);
	progress_update(c, false);
	return 0;
}

static int
slot_read(struct copy *c, struct slot *s, uint64_t first, uint64_t last,
    struct err *err)
{
	uint64_t off = first * c->map->block_size;
	uint64_t len = (last - 1) * c->map->block_size +
	    blockmap_block_len(c->map, last - 1) - off;

	s->read_cookie = nbd_aio_pread(c->src, s->buf, len, off,
	    NBD_NULL_COMPLETION, 0);
	if (s->read_cookie == -1)
		return helper_nbd_err(err, "cannot read '%s' at offset %" PRIu64,
		    c->o->src_name, off);
	s->first = first;
	s->last = last;
	s->state = SLOT_READING;
	s->seq = c->seq_next++;
	s->zeros = false;
	c->st.read += len;
	return 0;
}

/* --delta-out: a zero run takes its turn in a slot like a read. */
static void
slot_zero(struct copy *c, struct slot *s, uint64_t first, uint64_t last)
{
	s->first = first;
	s->last = last;
	s->state = SLOT_READ;
	s->seq = c->seq_next++;
	s->zeros = true;
}

/* Move s on when its read or its writes completed; 1 when it moved. */
static int
slot_step(struct copy *c, struct slot *s, struct err *err)
{
	int r = 1;

	if (s->state == SLOT_READ)
		return 0;	/* waits for slots_drain */
	if (s->state == SLOT_READING) {
		if ((r = cookie_done(c, c->src, s->read_cookie, err)) <= 0)
			return r;
		if (c->delta_on) {
			s->state = SLOT_READ;	/* slots_drain frames it */
			return 1;
		}
		s->state = SLOT_WRITING;
		return (r = run_finish(c, s, s->first, s->last, err)) < 0 ?
		    r : 1;
	}
	while (s->state == SLOT_WRITING && s->ncookie > 0) {
		r = cookie_done(c, c->dst, s->cookie[s->ncookie - 1], err);
		if (r <= 0)
			return r;
		s->ncookie--;
	}
	if (s->state == SLOT_WRITING)
		s->state = SLOT_FREE;
	return r;
}

/* Step every slot; *ret_busy tells whether any is still in use. */
static int
slots_step(struct copy *c, bool *ret_moved, bool *ret_busy,
    struct err *err)
{
	*ret_moved = *ret_busy = false;
	for (unsigned i = 0; i < NSLOTS; i++) {
		struct slot *s = &c->slot[i];
		int r;

		if (s->state == SLOT_FREE)
			continue;
		if ((r = slot_step(c, s, err)) < 0)
			return r;
		*ret_moved |= r > 0;
		*ret_busy |= s->state != SLOT_FREE;
	}
	return 0;
}

/* --delta-out: frame the runs read, in the order they were issued (the
 * stream's frames go by offset); *ret_busy as slots_step's. */
static int
slots_drain(struct copy *c, bool *ret_moved, bool *ret_busy,
    struct err *err)
{
	bool found = true;
	int r;

	while (found) {
		found = false;
		for (unsigned i = 0; i < NSLOTS; i++) {
			struct slot *s = &c->slot[i];

			if (s->state != SLOT_READ || s->seq != c->seq_done)
				continue;
			if ((r = run_finish(c, s->zeros ? NULL : s, s->first,
			    s->last, err)) < 0)
				return r;
			s->state = SLOT_FREE;
			c->seq_done++;
			found = *ret_moved = true;
		}
	}
	*ret_busy = c->seq_done != c->seq_next;
	return 0;
}

static struct slot *
slot_free(struct copy *c)
{
	for (unsigned i = 0; i < NSLOTS; i++)
		if (c->slot[i].state == SLOT_FREE)
			return &c->slot[i];
	return NULL;
}

/* The next run of wanted blocks from *i, all DATA or all not, at most
 * READ_MAX (data) or ZERO_MAX (zeros) bytes; false when none is left. */
static bool
run_next(struct copy *c, uint64_t *i, uint64_t *ret_last, bool *ret_data)
{
	uint64_t n = c->map->n, j, max;
	bool data;

	while (*i < n && !block_wanted(c, *i))
		(*i)++;
	if (*i >= n)
		return false;
	data = c->cls[*i] & CLS_DATA;
	max = (data ? READ_MAX : ZERO_MAX) / c->map->block_size;
	for (j = *i + 1; j < n && j - *i < max && block_wanted(c, j) &&
	    !!(c->cls[j] & CLS_DATA) == data; j++)
		;
	*ret_last = j;
	*ret_data = data;
	return true;
}

/* The pipeline: up to NSLOTS reads in flight, each hashed and written
 * (asynchronously) as soon as it arrives; zero runs are done at once. */
static int
copy_all_runs(struct copy *c, struct err *err)
{
	uint64_t i = 0, last;
	bool data, more = true, moved, busy;
	struct slot *s;
	int r;

	for (;;) {
		while (more && (s = slot_free(c)) &&
		    (more = run_next(c, &i, &last, &data))) {
			if (!data && c->delta_on)
				slot_zero(c, s, i, last);
			else if ((r = data ? slot_read(c, s, i, last, err) :
			    run_finish(c, NULL, i, last, err)) < 0)
				return r;
			i = last;
		}
		if ((r = slots_step(c, &moved, &busy, err)) < 0 ||
		    (c->delta_on && (r = slots_drain(c, &moved, &busy,
		    err)) < 0))
			return r;
		if (!more && !busy)
			return 0;
		if (!moved && (r = poll_both(c, err)) < 0)
			return r;
	}
}

/* ---- setup and the end ---- */

static int
maps_init(struct copy *c, uint64_t size, struct err *err)
{
	uint32_t bs = c->o->block_size;
	_cleanup_free_ char *zeros = xzalloc(bs);
	int r;

	if ((r = blockmap_new(size, bs, &c->map, err)) < 0)
		return r;
	if (c->o->map_in) {
		if ((r = blockmap_load(c->o->map_in, &c->old, err)) < 0)
			return r;
		if (c->old->size != size || c->old->block_size != bs)
			return err_set(err, -EINVAL, "--map-in '%s' is of a "
			    "disk of %" PRIu64 " bytes in %u-byte blocks, the "
			    "point %" PRIu64 " in %u: give the parent point's "
			    "map", c->o->map_in, c->old->size,
			    c->old->block_size, size, bs);
		memcpy(c->map->sum, c->old->sum,
		    c->map->n * sizeof(*c->map->sum));
	}
	if (c->o->check_map) {
		if ((r = blockmap_load(c->o->check_map, &c->chk, err)) < 0)
			return r;
		if (c->chk->size != size || c->chk->block_size != bs)
			return err_set(err, -EINVAL, "--check-map '%s' is of a "
			    "disk of %" PRIu64 " bytes in %u-byte blocks, '%s' "
			    "%" PRIu64 " in %u: it is not this image's map",
			    c->o->check_map, c->chk->size, c->chk->block_size,
			    c->o->src_name, size, bs);
	}
	c->zero_sum = blockmap_hash(zeros, bs);
	c->zero_sum_tail = blockmap_hash(zeros,
	    blockmap_block_len(c->map, c->map->n - 1));
	c->cls = xzalloc(c->map->n);
	c->need = xzalloc(MAX(READ_MAX, ZERO_MAX) / BLOCKMAP_BS_MIN);
	for (unsigned i = 0; i < NSLOTS; i++) {
		c->slot[i].buf = xmalloc(READ_MAX);
		/* a write per sub-run of blocks, and per WRITE_MAX */
		c->slot[i].cookie = xmalloc(2 * (READ_MAX / BLOCKMAP_BS_MIN) *
		    sizeof(int64_t));
	}
	return 0;
}

static int
summary_write(const struct copy *c, struct err *err)
{
	json_t *o = json_pack("{sI sI sI sI sI sI sI}",
	    "size", (json_int_t)c->map->size,
	    "block_size", (json_int_t)c->map->block_size,
	    "read_bytes", (json_int_t)c->st.read,
	    "written_bytes", (json_int_t)c->st.written,
	    "zeroed_bytes", (json_int_t)c->st.zeroed,
	    "changed_bytes", (json_int_t)c->st.changed,
	    "blocks_changed", (json_int_t)c->st.blocks_changed);
	_cleanup_free_ char *s = NULL;
	int r;

	if (c->st.image_sha256[0])
		json_object_set_new(o, "image_sha256",
		    json_string(c->st.image_sha256));
	if (c->st.map_sha256[0])
		json_object_set_new(o, "map_sha256",
		    json_string(c->st.map_sha256));
	if (c->delta_on)
		json_object_update_new(o, json_pack("{sI sI sI sI sI sI ss}",
		    "delta_bytes", (json_int_t)c->delta.bytes,
		    "delta_frames", (json_int_t)c->delta.st.frames,
		    "delta_data_bytes", (json_int_t)c->delta.st.data_bytes,
		    "delta_zero_bytes", (json_int_t)c->delta.st.zero_bytes,
		    "delta_stored_bytes", (json_int_t)c->delta.st.stored_bytes,
		    "delta_guest_bytes", (json_int_t)c->delta.st.guest_bytes,
		    "delta_sha256", c->delta.sha256));
	s = json_to_string(o);
	json_decref(o);
	r = file_write_atomic(c->o->summary, s, strlen(s), 0644);
	return r < 0 ? err_setf_errno(err, r, "cannot write '%s'",
	    c->o->summary) : 0;
}

static void
dst_close(struct copy *c)
{
	if (c->dst) {
		(void)nbd_shutdown(c->dst, 0);
		nbd_close(c->dst);	/* waits for qemu-nbd */
		c->dst = NULL;
	}
}

/* fsync the target once qemu-nbd (cache=unsafe) is gone. */
static int
dst_sync(struct copy *c, struct err *err)
{
	int r = helper_fsync_path(c->o->to);

	return r < 0 ? err_setf_errno(err, r, "cannot sync '%s'", c->o->to) :
	    0;
}

/* The target's sha256, read back (from the page cache) once synced. */
static int
dst_hash(struct copy *c, struct err *err)
{
	_cleanup_close_ int fd = open(c->o->to, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot open '%s'",
		    c->o->to);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = helper_sha256_hex(fd, c->slot[0].buf, READ_MAX, c->st.image_sha256);
	return r < 0 ? err_setf_errno(err, r, "cannot hash '%s'", c->o->to) :
	    0;
}

/* blockmap_save(), and the sha256 of what it wrote. */
static int
map_save(struct copy *c, struct err *err)
{
	size_t len;
	_cleanup_free_ void *b = blockmap_encode(c->map, &len);
	int r = file_write_atomic(c->o->map_out, b, len, 0600);

	if (r < 0)
		return err_setf_errno(err, r, "cannot write '%s'",
		    c->o->map_out);
	if ((r = helper_sha256_hex(-1, b, len, c->st.map_sha256)) < 0)
		return err_setf_errno(err, r, "cannot hash '%s'",
		    c->o->map_out);
	return 0;
}

/* Every write done (no slot in use); flushed to the file (qemu-nbd
 * writes back its qcow2 caches even with cache=unsafe), qemu-nbd gone,
 * the file synced and hashed (the seal takes these sums instead of
 * reading the files again); then the map, then the summary. */
static int
finish(struct copy *c, struct err *err)
{
	int r;

	if (c->dst && nbd_flush(c->dst, 0) == -1)
		return helper_nbd_err(err, "cannot flush '%s'", c->o->to);
	if (c->dst) {
		dst_close(c);
		if ((r = dst_sync(c, err)) < 0 || (r = dst_hash(c, err)) < 0)
			return r;
	}
	if (c->delta_on && (r = bc_delta_finish(&c->delta, c->slot[0].buf,
	    READ_MAX, err)) < 0)
		return r;
	if (c->o->map_out && (r = map_save(c, err)) < 0)
		return r;
	if (c->o->summary && (r = summary_write(c, err)) < 0)
		return r;
	progress_update(c, true);
	return 0;
}

static int
copy_run(struct copy *c, struct err *err)
{
	uint64_t size = 0;
	int r;

	if (c->o->bitmap)
		c->bm_ctx = xasprintf("qemu:dirty-bitmap:%s", c->o->bitmap);
	if ((r = src_open(c, &size, err)) < 0 ||
	    (r = maps_init(c, size, err)) < 0 ||
	    (c->o->to && (r = dst_open(c, err)) < 0) ||
	    (c->delta_on && (r = bc_delta_open(&c->delta, c->o->delta.path,
	    &c->o->delta_hdr, size, c->map->block_size, c->o->compress,
	    err)) < 0) ||
	    (r = classify(c, err)) < 0)
		return r;
	count_total(c);
	if (c->o->progress) {
		c->progress_fd = open(c->o->progress, O_WRONLY | O_CREAT |
		    O_CLOEXEC, 0644);
		if (c->progress_fd == -1)
			return err_setf_errno(err, -errno, "cannot open '%s'",
			    c->o->progress);
		progress_update(c, true);
	}
	if ((r = copy_all_runs(c, err)) < 0)
		return r;
	return finish(c, err);	/* every slot is FREE: no write in flight */
}

static void
copy_done(struct copy *c)
{
	dst_close(c);
	bc_delta_done(&c->delta);
	if (c->src)
		nbd_close(c->src);
	if (c->progress_fd >= 0)
		close(c->progress_fd);
	if (c->dst_fd >= 0)
		close(c->dst_fd);
	for (unsigned i = 0; i < NSLOTS; i++) {
		free(c->slot[i].buf);
		free(c->slot[i].cookie);
	}
	blockmap_free(c->map);
	blockmap_free(c->old);
	blockmap_free(c->chk);
	free(c->cls);
	free(c->need);
	free(c->bm_ctx);
}

/* SIGTERM keeps its default action: ternd kills us on cancel, and the
 * qemu-nbd child exits when its only client goes away. */
int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct copy c = { .o = &o, .progress_fd = -1, .dst_fd = -1,
		.delta.fd = -1 };
	struct err err = { 0 };
	int r;

	parse_args(argc, argv, &o);
	c.delta_on = o.delta.path != NULL;
	r = copy_run(&c, &err);
	copy_done(&c);
	if (r < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		return 1;
	}
	return 0;
}
