/* apply.c - tern-replica-apply: apply one delta stream (delta.h) to a new
 * recovery point, a qcow2 overlay the caller made over the previous one,
 * and write the point's block map.  A helper ternd runs on the replica
 * host as a job's child.  It never writes the overlay before the whole
 * delta was read and checked, and never leaves a partial map or summary.
 *
 *   tern-replica-apply --delta FILE --image OVERLAY.qcow2 --seq N
 *       --base-seq N --disk NAME --vm-uuid UUID
 *       (--map-in PARENT.map | --map-size SIZE) --map-out NEW.map
 *       [--summary FILE]
 *
 * Exit: 0 applied and verified; 2 bad arguments; 3 the delta was rejected
 * (the overlay untouched); 4 the overlay read back other data than the
 * delta wrote (a read-back checksum mismatch: the stream was good, the
 * storage is not); 1 any other failure.
 *
 * The steps, each a pass over the delta file (so memory stays bounded
 * whatever the number of frames), each checking every frame again:
 *
 *   CHECK  --apply_check-->  every frame verified, the header equal to the
 *                            arguments, the map loaded      (fail: exit 3)
 *   WRITE  --apply_write-->  DATA by nbd_pwrite, ZERO by nbd_zero through
 *                            qemu-nbd; flush; qemu-nbd gone; fsync
 *   VERIFY --apply_verify--> every extent read back through qemu-nbd -r
 *                            against its data_sum (ZERO: zeros); the
 *                            touched blocks of the map recomputed (from
 *                            the same read when the frame is of whole
 *                            blocks, as the copier writes them)
 *                            (mismatch: exit 4)
 *   OUTPUT --apply_output--> the map, then the summary (temp + rename) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blockmap.h"
#include "delta.h"
#include "failpoint.h"
#include "fsutil.h"
#include "helper.h"
#include "size.h"
#include "util.h"

#define PROG "tern-replica-apply"
#define EXIT_REJECTED DELTA_APPLY_REJECTED
#define EXIT_MISMATCH DELTA_APPLY_MISMATCH
#define IO_MAX (4u << 20)	/* bytes per read back, per nbd_zero */
#define ZERO_MAX (1u << 30)	/* bytes per nbd_zero */

struct opts {
	const char *delta, *image, *disk, *map_in, *map_out, *summary;
	uint64_t seq, base_seq, map_size;
	uint8_t uuid[16];
	bool have_seq, have_base;
};

/* Invariants: buf holds MAX(IO_MAX, block_size) bytes, zeros IO_MAX; map
 * has the delta's disk size and block size once apply_check() succeeded. */
struct apply {
	const struct opts *o;
	int fd;			/* the delta file */
	struct delta_header hdr;
	struct delta_stats st;
	struct blockmap *map;
	struct nbd_handle *nbd;
	unsigned char *buf, *zeros;
	uint64_t next_block;	/* blocks below it recomputed (VERIFY) */
	char map_sha256[65];
};

typedef int (*frame_fn)(struct apply *a, const struct delta_frame *f,
    struct err *err);

static void __attribute__((noreturn))
usage(const char *msg)
{
	if (msg)
		fprintf(stderr, PROG ": %s\n", msg);
	fprintf(stderr, "usage: " PROG " --delta FILE --image OVERLAY.qcow2 "
	    "--seq N --base-seq N\n"
	    "       --disk NAME --vm-uuid UUID (--map-in PARENT.map | "
	    "--map-size SIZE)\n"
	    "       --map-out NEW.map [--summary FILE]\n");
	exit(2);
}

static uint64_t
parse_u64(const char *s, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || *s == '-') {
		fprintf(stderr, PROG ": %s '%s' is not a number\n", what, s);
		usage(NULL);
	}
	return v;
}

static void
check_opts(struct opts *o)
{
	if (!o->delta || !o->image || !o->disk || !o->map_out ||
	    !o->have_seq || !o->have_base)
		usage("--delta, --image, --seq, --base-seq, --disk, --vm-uuid "
		    "and --map-out are required");
	if (!o->map_in == !o->map_size)
		usage("give one of --map-in and --map-size");
	if (o->seq == 0 || o->base_seq >= o->seq)
		usage("--seq must be >= 1 and --base-seq smaller");
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "delta", required_argument, NULL, 'd' },
		{ "image", required_argument, NULL, 'i' },
		{ "seq", required_argument, NULL, 'q' },
		{ "base-seq", required_argument, NULL, 'B' },
		{ "disk", required_argument, NULL, 'D' },
		{ "vm-uuid", required_argument, NULL, 'u' },
		{ "map-in", required_argument, NULL, 'm' },
		{ "map-size", required_argument, NULL, 's' },
		{ "map-out", required_argument, NULL, 'o' },
		{ "summary", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	bool uuid = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'd': o->delta = optarg; break;
		case 'i': o->image = optarg; break;
		case 'q': o->seq = parse_u64(optarg, "--seq");
			o->have_seq = true; break;
		case 'B': o->base_seq = parse_u64(optarg, "--base-seq");
			o->have_base = true; break;
		case 'D': o->disk = optarg; break;
		case 'u': uuid = true;
			if (uuid_parse_raw(optarg, o->uuid) < 0)
				usage("--vm-uuid is not a uuid");
			break;
		case 'm': o->map_in = optarg; break;
		case 's': if (size_parse(optarg, &o->map_size, NULL) < 0)
				usage("--map-size is not a size");
			break;
		case 'o': o->map_out = optarg; break;
		case 'S': o->summary = optarg; break;
		default: usage(NULL);
		}
	}
	if (optind != argc || !uuid)
		usage(optind != argc ? "unexpected argument" : "--vm-uuid is "
		    "required");
	check_opts(o);
}

/* ---- passes over the delta ---- */

/* Read the delta from its start, checking every frame, and call fn (may
 * be NULL) for each DATA and ZERO frame.  *ret_hdr gets the header. */
static int
delta_pass(struct apply *a, frame_fn fn, struct err *err)
{
	struct delta_reader *r;
	struct delta_frame f;
	int c;

	if (lseek(a->fd, 0, SEEK_SET) == -1)
		return err_setf_errno(err, -errno, "cannot read '%s'",
		    a->o->delta);
	r = delta_reader_new_fd(a->fd);
	if ((c = delta_read_header(r, &a->hdr, err)) == 0) {
		while ((c = delta_next(r, &f, err)) > 0)
			if (fn && (c = fn(a, &f, err)) < 0)
				break;
	}
	if (c == 0)
		a->st = *delta_reader_stats(r);
	delta_reader_free(r);
	return c;
}

/* The header must say what the caller expects: this cycle, on this base,
 * of this VM's disk. */
static int
header_match(const struct apply *a, struct err *err)
{
	const struct delta_header *h = &a->hdr;
	const struct opts *o = a->o;

	if (h->seq != o->seq || h->base_seq != o->base_seq)
		return err_set(err, -EBADMSG, "the delta is cycle %" PRIu64
		    " on %" PRIu64 ", not %" PRIu64 " on %" PRIu64
		    " (replayed or out of order)", h->seq, h->base_seq,
		    o->seq, o->base_seq);
	if (memcmp(h->uuid, o->uuid, 16) != 0)
		return err_set(err, -EBADMSG, "the delta is of another VM");
	if (strcmp(h->disk, o->disk) != 0)
		return err_set(err, -EBADMSG, "the delta is of disk '%s', not "
		    "'%s'", h->disk, o->disk);
	return 0;
}

/* --map-size: the map of an empty disk (every block reads zeros). */
static int
empty_map(struct apply *a, struct err *err)
{
	_cleanup_free_ void *zeros = xzalloc(a->hdr.block_size);
	uint64_t full, tail;
	int r;

	if ((r = blockmap_new(a->o->map_size, a->hdr.block_size, &a->map,
	    err)) < 0)
		return r;
	full = blockmap_hash(zeros, a->map->block_size);
	tail = blockmap_hash(zeros, blockmap_block_len(a->map,
	    a->map->n - 1));
	for (uint64_t i = 0; i < a->map->n; i++)
		a->map->sum[i] = i == a->map->n - 1 ? tail : full;
	return 0;
}

/* The parent's map (or an empty disk's), of the delta's geometry. */
static int
map_init(struct apply *a, struct err *err)
{
	const struct opts *o = a->o;
	int r;

	if (!o->map_in)
		r = empty_map(a, err);
	else
		r = blockmap_load(o->map_in, &a->map, err);
	if (r < 0)
		return r == -EBADMSG ? -EIO : r;	/* not the delta's fault */
	if (a->map->size != a->hdr.disk_size ||
	    a->map->block_size != a->hdr.block_size)
		return err_set(err, -EBADMSG, "the delta is of a disk of %"
		    PRIu64 " bytes in %u-byte blocks, the parent map of %"
		    PRIu64 " in %u", a->hdr.disk_size, a->hdr.block_size,
		    a->map->size, a->map->block_size);
	return 0;
}

/* CHECK: nothing is written before the whole delta passed. */
static int
apply_check(struct apply *a, struct err *err)
{
	int r;

	a->fd = open(a->o->delta, O_RDONLY | O_CLOEXEC);
	if (a->fd == -1)
		return err_setf_errno(err, -errno, "cannot open '%s'",
		    a->o->delta);
	if ((r = delta_pass(a, NULL, err)) < 0 ||
	    (r = header_match(a, err)) < 0 || (r = map_init(a, err)) < 0)
		return r;
	a->buf = xmalloc(MAX(IO_MAX, a->hdr.block_size));
	a->zeros = xzalloc(IO_MAX);
	return 0;
}

/* ---- WRITE ---- */

/* The failpoint replica-apply.corrupt-write=fail writes each DATA frame
 * with its first byte flipped: a storage path that damages data, which
 * VERIFY must catch (the tests use it). */
static const void *
data_to_write(struct apply *a, const struct delta_frame *f)
{
	if (failpoint_check("replica-apply.corrupt-write", NULL) != FP_FAIL)
		return f->data;
	memcpy(a->buf, f->data, f->length);
	a->buf[0] ^= 0xff;
	return a->buf;
}

static int
frame_write(struct apply *a, const struct delta_frame *f, struct err *err)
{
	if (f->type == DELTA_DATA) {
		if (nbd_pwrite(a->nbd, data_to_write(a, f), f->length,
		    f->offset, 0) == -1)
			return helper_nbd_err(err, "cannot write '%s' at offset "
			    "%" PRIu64, a->o->image, f->offset);
		return 0;
	}
	for (uint64_t done = 0; done < f->length; done += ZERO_MAX)
		if (nbd_zero(a->nbd, MIN(f->length - done, (uint64_t)ZERO_MAX),
		    f->offset + done, 0) == -1)
			return helper_nbd_err(err, "cannot write zeroes to '%s' "
			    "at offset %" PRIu64, a->o->image, f->offset + done);
	return 0;
}

static void
nbd_stop(struct apply *a)
{
	if (a->nbd) {
		(void)nbd_shutdown(a->nbd, 0);
		nbd_close(a->nbd);	/* waits for qemu-nbd */
		a->nbd = NULL;
	}
}

/* The overlay through qemu-nbd (read-only or not), checked against the
 * delta's disk size. */
static int
nbd_start(struct apply *a, enum helper_nbd_mode mode, struct err *err)
{
	int64_t size;
	int r;

	if (access(a->o->image, mode == HELPER_NBD_READ ? R_OK : R_OK | W_OK)
	    == -1)
		return err_setf_errno(err, -errno, "cannot open '%s'",
		    a->o->image);
	if (!(a->nbd = nbd_create()))
		return helper_nbd_err(err, "cannot create an NBD handle");
	if ((r = helper_qemu_nbd_connect(a->nbd, a->o->image, mode, err)) < 0)
		return r;
	if ((size = nbd_get_size(a->nbd)) != (int64_t)a->hdr.disk_size)
		return err_set(err, -EINVAL, "'%s' is %" PRId64 " bytes, the "
		    "delta's disk %" PRIu64 ": give the overlay of this disk",
		    a->o->image, size, a->hdr.disk_size);
	if (mode != HELPER_NBD_READ && (nbd_is_read_only(a->nbd) != 0 ||
	    nbd_can_zero(a->nbd) != 1))
		return err_set(err, -EROFS, "qemu-nbd cannot write (or write "
		    "zeroes to) '%s'", a->o->image);
	return 0;
}

/* WRITE: every frame again (checked again), flushed; qemu-nbd ran with
 * cache=unsafe, so the file is synced once it is gone. */
static int
apply_write(struct apply *a, struct err *err)
{
	int r;

	if ((r = nbd_start(a, HELPER_NBD_WRITE, err)) < 0 ||
	    (r = delta_pass(a, frame_write, err)) < 0)
		return r;
	if (nbd_flush(a->nbd, 0) == -1)
		return helper_nbd_err(err, "cannot flush '%s'", a->o->image);
	nbd_stop(a);
	if ((r = helper_fsync_path(a->o->image)) < 0)
		return err_setf_errno(err, r, "cannot sync '%s'", a->o->image);
	return 0;
}

/* ---- VERIFY ---- */

static int
read_back(struct apply *a, void *buf, uint64_t len, uint64_t off,
    struct err *err)
{
	if (nbd_pread(a->nbd, buf, len, off, 0) == -1)
		return helper_nbd_err(err, "cannot read '%s' back at offset %"
		    PRIu64, a->o->image, off);
	return 0;
}

/* The extent of f as the overlay now reads: DATA's checksum, or zeros. */
static int
extent_verify(struct apply *a, const struct delta_frame *f, struct err *err)
{
	int r;

	if (f->type == DELTA_DATA) {
		if ((r = read_back(a, a->buf, f->length, f->offset, err)) < 0)
			return r;
		if (blockmap_hash(a->buf, f->length) != f->data_sum)
			return err_set(err, -EILSEQ, "'%s' reads back other data "
			    "than delta frame %" PRIu64 " wrote at offset %"
			    PRIu64 " (checksum mismatch)", a->o->image,
			    f->index, f->offset);
		return 0;
	}
	for (uint64_t done = 0; done < f->length; done += IO_MAX) {
		uint64_t n = MIN(f->length - done, (uint64_t)IO_MAX);

		if ((r = read_back(a, a->buf, n, f->offset + done, err)) < 0)
			return r;
		if (memcmp(a->buf, a->zeros, n) != 0)
			return err_set(err, -EILSEQ, "'%s' does not read back "
			    "zeroes where delta frame %" PRIu64 " zeroed "
			    "(offset %" PRIu64 ")", a->o->image, f->index,
			    f->offset + done);
	}
	return 0;
}

/* The blocks f touches, from the overlay as it reads now (whole blocks:
 * a frame may cover part of one); a block wholly inside a ZERO frame
 * just verified needs no read. */
static int
blocks_recompute(struct apply *a, const struct delta_frame *f,
    struct err *err)
{
	uint64_t bs = a->map->block_size, end = f->offset + f->length;
	uint64_t i = MAX(f->offset / bs, a->next_block);
	int r;

	for (; i <= (end - 1) / bs; i++) {
		uint64_t len = blockmap_block_len(a->map, i);
		bool inside = i * bs >= f->offset && i * bs + len <= end;

		if (f->type == DELTA_ZERO && inside && len <= IO_MAX) {
			blockmap_set(a->map, i, a->zeros, len);
			continue;
		}
		if ((r = read_back(a, a->buf, len, i * bs, err)) < 0)
			return r;
		blockmap_set(a->map, i, a->buf, len);
	}
	a->next_block = i;
	return 0;
}

/* A DATA frame of whole blocks (the last one may end the disk): its
 * blocks' checksums from the bytes extent_verify() just read back into
 * a->buf, so the copier's frames (always whole blocks) are read once. */
static bool
blocks_from_buf(struct apply *a, const struct delta_frame *f)
{
	uint64_t bs = a->map->block_size, end = f->offset + f->length;
	uint64_t i = f->offset / bs;

	if (f->type != DELTA_DATA || f->offset % bs != 0 || i < a->next_block ||
	    (end % bs != 0 && end != a->map->size))
		return false;
	for (; i <= (end - 1) / bs; i++)
		blockmap_set(a->map, i, a->buf + (i * bs - f->offset),
		    blockmap_block_len(a->map, i));
	a->next_block = i;
	return true;
}

static int
frame_verify(struct apply *a, const struct delta_frame *f, struct err *err)
{
	int r = extent_verify(a, f, err);

	if (r < 0 || blocks_from_buf(a, f))
		return r;
	return blocks_recompute(a, f, err);
}

/* VERIFY: through a read-only qemu-nbd, so what is checked is what the
 * file (and its backing chain) holds after the sync. */
static int
apply_verify(struct apply *a, struct err *err)
{
	int r;

	if ((r = nbd_start(a, HELPER_NBD_READ, err)) < 0 ||
	    (r = delta_pass(a, frame_verify, err)) < 0)
		return r;
	nbd_stop(a);
	return 0;
}

/* ---- OUTPUT ---- */

static int
summary_write(const struct apply *a, struct err *err)
{
	json_t *o = json_pack("{sI sI sI sI sI sI sI sI ss}",
	    "seq", (json_int_t)a->hdr.seq,
	    "base_seq", (json_int_t)a->hdr.base_seq,
	    "frames", (json_int_t)a->st.frames,
	    "guest_bytes", (json_int_t)a->st.guest_bytes,
	    "data_bytes", (json_int_t)a->st.data_bytes,
	    "zero_bytes", (json_int_t)a->st.zero_bytes,
	    "stored_bytes", (json_int_t)a->st.stored_bytes,
	    "delta_bytes", (json_int_t)a->st.stream_bytes,
	    "map_sha256", a->map_sha256);
	_cleanup_free_ char *s = json_dumps(o, JSON_COMPACT);
	int r;

	json_decref(o);
	r = file_write_atomic(a->o->summary, s, strlen(s), 0644);
	return r < 0 ? err_setf_errno(err, r, "cannot write '%s'",
	    a->o->summary) : 0;
}

/* OUTPUT: the map (and its sha256), then the summary. */
static int
apply_output(struct apply *a, struct err *err)
{
	size_t len;
	_cleanup_free_ void *b = blockmap_encode(a->map, &len);
	int r = file_write_atomic(a->o->map_out, b, len, 0600);

	if (r < 0)
		return err_setf_errno(err, r, "cannot write '%s'",
		    a->o->map_out);
	if ((r = helper_sha256_hex(-1, b, len, a->map_sha256)) < 0)
		return err_setf_errno(err, r, "cannot hash '%s'",
		    a->o->map_out);
	return a->o->summary ? summary_write(a, err) : 0;
}

static void
apply_done(struct apply *a)
{
	nbd_stop(a);
	if (a->fd >= 0)
		close(a->fd);
	blockmap_free(a->map);
	free(a->buf);
	free(a->zeros);
}

/* SIGTERM keeps its default action: the qemu-nbd child exits when its
 * only client goes away, and the outputs appear only by rename. */
int
main(int argc, char **argv)
{
	struct opts o = { 0 };
	struct apply a = { .o = &o, .fd = -1 };
	struct err err = { 0 };
	int r, code = 0;

	parse_args(argc, argv, &o);
	if ((r = apply_check(&a, &err)) < 0)
		code = r == -EBADMSG ? EXIT_REJECTED : 1;
	else if ((r = apply_write(&a, &err)) < 0 ||
	    (r = apply_verify(&a, &err)) < 0 ||
	    (r = apply_output(&a, &err)) < 0)
		code = r == -EILSEQ ? EXIT_MISMATCH : 1;
	apply_done(&a);
	if (code == EXIT_REJECTED)
		fprintf(stderr, PROG ": delta '%s' rejected, '%s' untouched: "
		    "%s\n", o.delta, o.image, err.msg);
	else if (code)
		fprintf(stderr, PROG ": %s\n", err.msg);
	return code;
}
