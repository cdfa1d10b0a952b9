/* copy.c - vm.backup's copy and seal (the diagram: create.c).  copy: one
 * tern-blockcopy per disk, in turn, reading the disk's fleecing export and
 * writing the point's image and map and their sha256 (in its summary);
 * its progress file read every BK_POLL_MS.  seal: the sha256 of the
 * point's files from the copiers' summaries (sha256sum, a helper, only
 * for a summary without them), then the manifest, written atomically:
 * from that moment the point exists; then the new reference point is
 * recorded and the older ones of this repository are dropped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bk_int.h"
#include "desc.h"
#include "fsutil.h"
#include "log.h"
#include "refpoint.h"
#include "repo.h"
#include "util.h"

char *
bk_run_file(const struct job *job, const json_t *d, const char *what)
{
	_cleanup_free_ char *f = xasprintf("bk-%lld-%s.%s",
	    (long long)job->row->id, d ? bk_str(d, "name") : "all", what);

	return vm_run_path(vm_of(job), f);
}

static json_t *
current_disk(const struct job *job)
{
	json_t *d;
	size_t i;

	json_array_foreach(bk_disks(job), i, d)
		if (!json_is_true(json_object_get(d, "copied")))
			return d;
	return NULL;
}

/* Progress over the disks: the copied ones' totals, the current one's
 * file, the others' sizes. */
static void
copy_progress(struct job *job, const json_t *cur)
{
	_cleanup_free_ char *pf = bk_run_file(job, cur, "progress");
	_cleanup_free_ char *line = file_last_line(pf);
	unsigned long long cd = 0, ct = 0;
	uint64_t done = 0, total = 0;
	bool seen = false;
	json_t *d;
	size_t i;

	if (line && sscanf(line, "%llu %llu", &cd, &ct) != 2)
		cd = ct = 0;
	json_array_foreach(bk_disks(job), i, d) {
		json_int_t t = json_integer_value(json_object_get(d, "total"));
		json_int_t sz = json_integer_value(json_object_get(d, "size"));

		if (d == cur) {
			done += cd;
			total += ct ? ct : (uint64_t)sz;
			seen = true;
		} else if (!seen) {
			done += (uint64_t)t;
			total += (uint64_t)t;
		} else {
			total += (uint64_t)sz;
		}
	}
	job_set_progress(job, done, total, "bytes");
}

/* What the copier had to look at for d (its progress file's total). */
static json_int_t
copy_total(const struct job *job, const json_t *d)
{
	_cleanup_free_ char *pf = bk_run_file(job, d, "progress");
	_cleanup_free_ char *line = file_last_line(pf);
	unsigned long long cd = 0, ct = 0;

	(void)unlink(pf);
	if (!line || sscanf(line, "%llu %llu", &cd, &ct) != 2)
		return 0;
	return (json_int_t)ct;
}

static void
on_copied(struct child *ch, int status, void *data)
{
	struct job *job = data;
	json_t *d = current_disk(job);
	_cleanup_free_ char *sf = NULL, *buf = NULL;
	json_t *sum = NULL;

	(void)ch;
	job->child = child_free(job->child);
	if (!job_phase_is(job, BK_PH_COPY) || !d) {
		job_poke(job);		/* cancelled: teardown goes on */
		return;
	}
	sf = bk_run_file(job, d, "summary");
	if (status == 0 && file_read_all(sf, 64 * 1024, &buf, NULL) == 0)
		sum = json_loads(buf, 0, NULL);
	(void)unlink(sf);
	if (!json_is_object(sum)) {
		_cleanup_free_ char *log = bk_run_file(job, d, "log");
		_cleanup_free_ char *last = file_last_line(log);
		const char *msg = last ? last : "it ended without a summary";
		_cleanup_free_ char *why = NULL;

		if (strncmp(msg, "tern-blockcopy: ", 16) == 0)
			msg += 16;
		why = xasprintf("copying disk %s failed: %s", bk_str(d, "name"),
		    msg);

		json_decref(sum);
		bk_teardown_begin(job, -EIO, why);
		return;
	}
	json_object_set_new(d, "summary", sum);
	json_object_set_new(d, "total", json_integer(copy_total(job, d)));
	json_object_set_new(d, "copied", json_true());
	job_save(job);
	job_poke(job);
}

/* The arguments of a delta copy (tern-blockcopy --delta-out) into argv
 * from k on, their text in buf; returns the next k. */
struct delta_buf { char *out, seq[24], base[24]; };

static size_t
delta_args(const struct job *job, const json_t *d, const char **argv,
    size_t k, struct delta_buf *b)
{
	_cleanup_free_ char *dir = bk_job_dir(job);

	b->out = xasprintf("%s/%s.delta", dir, bk_str(d, "name"));
	snprintf(b->seq, sizeof(b->seq), "%lld", (long long)
	    json_integer_value(json_object_get(job->details, "seq")));
	snprintf(b->base, sizeof(b->base), "%lld", (long long)
	    json_integer_value(json_object_get(job->details, "base_seq")));
	argv[k++] = "--delta-out";
	argv[k++] = b->out;
	argv[k++] = "--seq";
	argv[k++] = b->seq;
	argv[k++] = "--base-seq";
	argv[k++] = b->base;
	argv[k++] = "--disk";
	argv[k++] = bk_str(d, "name");
	argv[k++] = "--vm-uuid";
	argv[k++] = job->row->vm_uuid;
	if (json_is_true(json_object_get(job->details, "compress")))
		argv[k++] = "--compress";
	return k;
}

static int
copy_spawn(struct job *job, const json_t *d)
{
	struct delta_buf dbuf[1] = { { 0 } };
	int r;

	struct vm *vm = vm_of(job);
	_cleanup_free_ char *dir = bk_job_dir(job);
	_cleanup_free_ char *sock = bk_socket_path(job);
	_cleanup_free_ char *from = xasprintf("nbd+unix:///%s?socket=%s",
	    bk_str(d, "name"), sock);
	_cleanup_free_ char *to = xasprintf("%s/%s.qcow2", dir,
	    bk_str(d, "name"));
	_cleanup_free_ char *map = xasprintf("%s/%s.map", dir,
	    bk_str(d, "name"));
	_cleanup_free_ char *map_in = xasprintf("%s/../%s/%s.map", dir,
	    bk_str(job->details, "parent"), bk_str(d, "name"));
	_cleanup_free_ char *pf = bk_run_file(job, d, "progress");
	_cleanup_free_ char *sf = bk_run_file(job, d, "summary");
	_cleanup_free_ char *log = bk_run_file(job, d, "log");
	const char *mode = bk_str(d, "mode");
	char xfer[TRACK_NAME_MAX + 8];
	const char *argv[40] = { vm->h->cfg.blockcopy, "--from", from,
		"--map-out", map, "--progress", pf, "--summary", sf };
	size_t k = 9;

	bk_xfer_bitmap(job, xfer);
	if (bk_is_delta(job)) {
		k = delta_args(job, d, argv, k, dbuf);
	} else {
		argv[k++] = "--to";
		argv[k++] = to;
		argv[k++] = "--compress";
	}
	if (streq(mode, "all")) {
		argv[k++] = "--all";
	} else {
		argv[k++] = streq(mode, "bitmap") ? "--bitmap" : "--compare";
		if (streq(mode, "bitmap"))
			argv[k++] = xfer;
		argv[k++] = "--map-in";
		argv[k++] = map_in;
	}
	argv[k] = NULL;
	(void)unlink(log);
	r = job_spawn(job, argv, log, on_copied);
	free(dbuf->out);
	return r;
}

void
bk_copy(struct job *job)
{
	json_t *d = current_disk(job);

	if (job->child) {
		copy_progress(job, d);
		job_wake_after(job, BK_POLL_MS);
		return;
	}
	if (!d) {
		bk_ctx(job)->sub = 0;
		job_set_phase(job, BK_PH_SEAL);
		job_poke(job);
		return;
	}
	if (job_failpoint(job, "backup.copy") > 0)
		return;		/* tests: held before the copier starts */
	if (copy_spawn(job, d) < 0) {
		bk_teardown_begin(job, -EIO, "cannot run tern-blockcopy");
		return;
	}
	job_wake_after(job, BK_POLL_MS);
}

/* ---- seal ---- */

static void
on_hashed(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		bk_teardown_begin(job, -EIO, "cannot compute the sha256 of "
		    "the point's files");
		return;
	}
	bk_ctx(job)->sub = 1;
	job_poke(job);
}

static int
hash_spawn(struct job *job)
{
	_cleanup_free_ char *dir = bk_job_dir(job);
	_cleanup_free_ char *out = bk_run_file(job, NULL, "sha256");
	json_t *disks = bk_disks(job), *d;
	const char *argv[2 + 2 * VM_MAX_DISKS + 1] = { "sha256sum" };
	char *paths[2 * VM_MAX_DISKS] = { 0 };
	size_t k = 1, i;
	int r;

	json_array_foreach(disks, i, d) {
		if (i >= VM_MAX_DISKS)
			break;
		paths[2 * i] = xasprintf("%s/%s.qcow2", dir, bk_str(d, "name"));
		paths[2 * i + 1] = xasprintf("%s/%s.map", dir, bk_str(d,
		    "name"));
		argv[k++] = paths[2 * i];
		argv[k++] = paths[2 * i + 1];
	}
	argv[k] = NULL;
	(void)unlink(out);
	r = job_spawn(job, argv, out, on_hashed);
	for (i = 0; i < ARRAY_SIZE(paths); i++)
		free(paths[i]);
	return r;
}

/* The sha256sum line for file name (in the point's directory). */
static int
hash_of(const char *out, const char *name, char hex[65])
{
	const char *p = out;
	size_t nl = strlen(name);

	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);

		if (len > 66 + nl && p[64] == ' ' && p[len - nl - 1] == '/' &&
		    memcmp(p + len - nl, name, nl) == 0) {
			memcpy(hex, p, 64);
			hex[64] = '\0';
			return 0;
		}
		p = eol ? eol + 1 : NULL;
	}
	return -ENOENT;
}

static json_t *
point_desc(const struct vm *vm)
{
	struct vm_desc d = { 0 };
	json_t *o;

	vm_desc_from_row(&d, vm->row);
	o = vm_desc_to_json(&d);
	vm_desc_done(&d);
	if (vm->row->kernel)
		json_object_set_new(o, "kernel", json_string(vm->row->kernel));
	if (vm->row->initrd)
		json_object_set_new(o, "initrd", json_string(vm->row->initrd));
	return o;
}

static uint64_t
sum_int(const json_t *d, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(json_object_get(d,
	    "summary"), key));
}

/* The copier's sha256 of a file (key in d's summary), or sha256sum's
 * line for it in hashes (NULL: none ran). */
static int
disk_sha256(const json_t *d, const char *key, const char *hashes,
    const char *name, char hex[65])
{
	const char *s = json_string_value(json_object_get(json_object_get(d,
	    "summary"), key));

	if (s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64) {
		memcpy(hex, s, 65);
		return 0;
	}
	return hash_of(hashes, name, hex);
}

/* Whether every copier gave the sha256 of its files: no sha256sum. */
static bool
disks_hashed(struct job *job)
{
	char hex[65];
	json_t *d;
	size_t i;

	json_array_foreach(bk_disks(job), i, d)
		if (disk_sha256(d, "image_sha256", NULL, "", hex) < 0 ||
		    disk_sha256(d, "map_sha256", NULL, "", hex) < 0)
			return false;
	return true;
}

static int
fill_disk(struct job *job, const json_t *d, const char *hashes,
    struct bk_disk *k, struct err *err)
{
	const char *parent = bk_str(job->details, "parent");

	snprintf(k->name, sizeof(k->name), "%s", bk_str(d, "name"));
	k->size = (uint64_t)json_integer_value(json_object_get(d, "size"));
	snprintf(k->image, sizeof(k->image), "%s.qcow2", k->name);
	snprintf(k->map, sizeof(k->map), "%s.map", k->name);
	if (parent)
		snprintf(k->backing, sizeof(k->backing), "../%s/%s", parent,
		    k->image);
	k->changed_bytes = sum_int(d, "changed_bytes");
	k->read_bytes = sum_int(d, "read_bytes");
	k->written_bytes = sum_int(d, "written_bytes");
	if (disk_sha256(d, "image_sha256", hashes, k->image,
	    k->image_sha256) < 0 || disk_sha256(d, "map_sha256", hashes,
	    k->map, k->map_sha256) < 0)
		return err_set(err, -EIO, "no sha256 for disk %s's files",
		    k->name);
	return 0;
}

static int
write_manifest(struct job *job, const char *hashes, struct err *err)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *dir = bk_job_dir(job);
	const char *kind = bk_str(job->details, "kind");
	struct bk_manifest *m = xzalloc(sizeof(*m));
	json_t *d;
	size_t i;
	int r = 0;

	snprintf(m->point, sizeof(m->point), "%s", bk_str(job->details,
	    "point"));
	snprintf(m->parent, sizeof(m->parent), "%s", bk_str(job->details,
	    "parent") ?: "");
	m->time_ms = json_integer_value(json_object_get(job->details,
	    "time_ms"));
	snprintf(m->vm_uuid, sizeof(m->vm_uuid), "%s", vm->row->uuid);
	snprintf(m->vm_name, sizeof(m->vm_name), "%s", vm->row->name);
	m->desc = point_desc(vm);
	m->kind = streq(kind, "full") ? BK_FULL : streq(kind, "resync") ?
	    BK_RESYNC : BK_INCREMENTAL;
	m->consistency = streq(bk_str(job->details, "consistency"),
	    "filesystem") ? BK_FILESYSTEM : BK_CRASH;
	m->block_size = 65536;
	json_array_foreach(bk_disks(job), i, d) {
		if (r == 0 && i < VM_MAX_DISKS)
			r = fill_disk(job, d, hashes, &m->disks[i], err);
		m->n_disks = i + 1;
	}
	/* the NVRAM and TPM state as they are now (fw.c) */
	if (r == 0)
		r = bk_fw_save(vm->row->nvram, vm->row->tpm_dir, dir,
		    m->nvram_sha256, m->tpm_sha256, err);
	if (r == 0)
		r = bk_manifest_write(dir, m, err);
	bk_manifest_clear(m);
	free(m);
	return r;
}

bool
bk_manifest_on_disk(const struct job *job)
{
	_cleanup_free_ char *dir = bk_job_dir(job);
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, BK_MANIFEST);

	return access(path, F_OK) == 0;
}

/* The new reference point, and the older ones of this repository go. */
void
bk_record_refpoint(struct job *job)
{
	struct vm *vm = vm_of(job);
	const char *repo = bk_str(job->details, "repo");
	const char *ref = bk_str(job->details, "ref");
	_cleanup_free_ char *dir = bk_job_dir(job);
	struct refpoint_row *rows = NULL;
	struct err err = { 0 };
	size_t n = 0;

	if (track_refpoint_add(vm, ref, "backup", repo, bk_str(job->details,
	    "point"), dir, &err) < 0)
		log_warn("%s", err.msg);
	(void)store_refpoint_list(vm->h->store, vm->row->uuid, &rows, &n);
	for (size_t i = 0; i < n; i++)
		if (streq(rows[i].owner, "backup") && streq(rows[i].target,
		    repo) && !streq(rows[i].name, ref) && (i == 0 ||
		    !streq(rows[i - 1].name, rows[i].name)))
			track_refpoint_drop(vm, rows[i].name);
	refpoint_rows_free(rows, n);
}

void
bk_seal(struct job *job)
{
	struct bk_ctx *c = bk_ctx(job);
	_cleanup_free_ char *out = NULL, *hashes = NULL;
	struct err err = { 0 };

	if (job->child)
		return;
	if (c->sub == 0 && !disks_hashed(job)) {
		if (hash_spawn(job) < 0)
			bk_teardown_begin(job, -EIO, "cannot run sha256sum");
		return;
	}
	out = bk_run_file(job, NULL, "sha256");
	if ((c->sub != 0 && file_read_all(out, 1 << 20, &hashes, NULL) < 0) ||
	    write_manifest(job, hashes, &err) < 0) {
		(void)unlink(out);
		bk_teardown_begin(job, err.code ? err.code : -EIO, err.msg[0] ?
		    err.msg : "cannot read the sha256 of the point's files");
		return;
	}
	(void)unlink(out);
	json_object_set_new(job->details, "sealed", json_true());
	bk_record_refpoint(job);
	bk_teardown_begin(job, 0, NULL);
}
