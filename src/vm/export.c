/* export.c - the vm.export and vm.import jobs.  Both walk a list of files
 * (job details "items", made by export_check.c): copy each with a helper
 * process, then hash the result with sha256sum, never blocking the loop.
 * Neither may leave half a result: a failure, a cancel or a ternd restart
 * removes every file the job made (and, for an import, the VM).
 *
 * Per file, both jobs (details "next" is the file, "stage" the step):
 *
 *   copy --helper exits 0--> hash --sha256sum exits 0--> next file
 *     |                        |
 *     +-- exit != 0 -----------+-- (import) sha256 differs --> ROLLBACK
 *
 *   vm.export  start --mkdir--> copy/hash per file --> vm.json written
 *              (atomically, last) --> done.  The VM stays down and
 *              untouched; the job holds it so nothing can start it.
 *   vm.import  (VM row inserted in state CREATING by the API: it reserves
 *              the name, UUID, MACs and disk paths) copy/hash per file
 *              (register: hash only, in place) --> VM OFF, or SAVED with a
 *              saved state --> done.
 *   ROLLBACK   kill the helper, unlink what was made, forget the VM
 *              (import); the job fails or is cancelled.
 *   restart    export: vm.json present means the export had finished,
 *              else ROLLBACK.  import: VM no longer CREATING means it had
 *              finished, else ROLLBACK.
 *
 * Transitions: xfer_step() (spawn), xfer_on_exit() (advance),
 * export_rollback() / import_rollback(), export_finish() /
 * import_finish().  Item fields: role (disk|kernel|initrd|state|nvram|
 * tpm: the TPM's tpm2-00.permall), name,
 * file (relative to the export directory), src, dst (null: no copy), kind
 * (convert|copy|null), work and hash_work (progress weights in bytes),
 * size and sha256 (import: what vm.json promises; export: what was
 * written). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "failpoint.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define PROGRESS_POLL_MS 500

/* The phases of both jobs; per file, details "stage" says where it is.
 * Transitions: export_step() / import_step() (start -> copy),
 * xfer_step() (copy -> verify). */
enum xfer_phase { XFER_PH_START, XFER_PH_COPY, XFER_PH_VERIFY,
		  XFER_PH__COUNT };
static const char *const xfer_phase_names[XFER_PH__COUNT] = {
	[XFER_PH_START] = "start", [XFER_PH_COPY] = "copy",
	[XFER_PH_VERIFY] = "verify",
};

static void export_rollback(struct job *job, int code, const char *why);
static void import_rollback(struct job *job, int code, const char *why);

static const char *
dstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static uint64_t
dnum(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static json_t *
xfer_items(const struct job *job)
{
	return json_object_get(job->details, "items");
}

static json_t *
xfer_cur(const struct job *job)
{
	return json_array_get(xfer_items(job), dnum(job->details, "next"));
}

static bool
xfer_stage_is(const struct job *job, const char *stage)
{
	return streq(dstr(job->details, "stage"), stage);
}

/* Where a helper's stdout and stderr go (its progress, hash or error). */
static char *
xfer_out_path(const struct job *job)
{
	return xasprintf("%s/job-%lld.out", host_of(job)->cfg.run_dir,
	    (long long)job->row->id);
}

static void
xfer_fail(struct job *job, int code, const char *why)
{
	if (job->ops == &job_vm_export)
		export_rollback(job, code, why);
	else
		import_rollback(job, code, why);
}

/* s into buf, with the first occurrence of the current file's absolute
 * path (dst, else src) shortened to its name in the export: error lines
 * name it, and a message a person reads has room for 240 bytes. */
static void
xfer_shorten(const struct job *job, const char *s, char *buf, size_t len)
{
	const json_t *item = xfer_cur(job);
	const char *path = dstr(item, "dst") ? dstr(item, "dst") :
	    dstr(item, "src");
	const char *at = path ? strstr(s, path) : NULL;

	if (!at) {
		snprintf(buf, len, "%s", s);
		return;
	}
	snprintf(buf, len, "%.*s%s%s", (int)(at - s), s, dstr(item, "file"),
	    at + strlen(path));
}

/* The helper's last line of output, for an error message. */
static void
xfer_out_tail(const struct job *job, char *buf, size_t len)
{
	_cleanup_free_ char *path = xfer_out_path(job);
	_cleanup_free_ char *line = file_last_line(path);

	if (line)
		xfer_shorten(job, line, buf, len);
	else
		snprintf(buf, len, "no output");
}

/* Bytes of the current step done so far, from what its helper shows. */
static uint64_t
xfer_cur_done(const struct job *job, const json_t *item)
{
	_cleanup_free_ char *p = NULL, *out = NULL;
	bool hash = xfer_stage_is(job, "hash");
	uint64_t work = dnum(item, hash ? "hash_work" : "work");
	unsigned long long v = 0;
	double pct = 0;
	struct stat st;
	char *s;

	if (!job->child)
		return 0;
	if (hash) {
		/* sha256sum reads its file on fd 3: the offset is progress. */
		p = xasprintf("/proc/%d/fdinfo/3", (int)child_pid(job->child));
		if (file_read_all(p, 4096, &out, NULL) == 0)
			(void)sscanf(out, "pos: %llu", &v);
	} else if (streq(dstr(item, "kind"), "convert")) {
		p = xfer_out_path(job);
		if (file_read_all(p, 64 * 1024, &out, NULL) == 0 &&
		    (s = strrchr(out, '(')) && sscanf(s, "(%lf/100%%)", &pct) == 1)
			v = pct / 100 * work;
	} else if (stat(dstr(item, "dst"), &st) == 0) {
		v = st.st_size;
	}
	return MIN(v, work);
}

static void
xfer_progress(struct job *job)
{
	json_t *items = xfer_items(job), *it;
	size_t next = dnum(job->details, "next"), i;
	uint64_t total = 0, done = 0;

	json_array_foreach(items, i, it) {
		uint64_t w = dnum(it, "work") + dnum(it, "hash_work");

		total += w;
		if (i < next)
			done += w;
	}
	it = json_array_get(items, next);
	if (it && xfer_stage_is(job, "hash"))
		done += dnum(it, "work");
	if (it)
		done += xfer_cur_done(job, it);
	job_set_progress(job, done, total, "bytes");
}

/* The file was hashed: an import compares, an export records. */
static int
xfer_hashed(struct job *job, json_t *item, const char *hex)
{
	struct stat st;

	if (job->ops == &job_vm_export) {
		if (stat(dstr(item, "dst"), &st) == -1)
			return -errno;
		json_object_set_new(item, "sha256", json_string(hex));
		json_object_set_new(item, "size", json_integer(st.st_size));
		return 0;
	}
	return streq(dstr(item, "sha256"), hex) ? 0 : -EBADMSG;
}

/* sha256sum's answer: 64 hex digits (after a '\' it adds for odd
 * names). */
static int
xfer_read_hash(const struct job *job, char hex[65])
{
	_cleanup_free_ char *path = xfer_out_path(job), *out = NULL;
	const char *s;

	if (file_read_all(path, 64 * 1024, &out, NULL) < 0)
		return -EIO;
	s = out[0] == '\\' ? out + 1 : out;
	if (strspn(s, "0123456789abcdef") != 64)
		return -EIO;
	memcpy(hex, s, 64);
	hex[64] = '\0';
	return 0;
}

static void
xfer_on_hash(struct job *job)
{
	json_t *item = xfer_cur(job);
	char hex[65], why[300];
	int r = xfer_read_hash(job, hex);

	if (r == 0)
		r = xfer_hashed(job, item, hex);
	if (r == -EBADMSG) {
		snprintf(why, sizeof(why), "file '%s' does not match its "
		    "sha256 in vm.json: the export is tampered or corrupt",
		    dstr(item, "file"));
		xfer_fail(job, -EBADMSG, why);
		return;
	}
	if (r < 0) {
		char tail[200];

		xfer_out_tail(job, tail, sizeof(tail));
		snprintf(why, sizeof(why), "cannot hash '%s': %s",
		    dstr(item, "file"), tail);
		xfer_fail(job, -EIO, why);
		return;
	}
	json_object_set_new(job->details, "next",
	    json_integer(dnum(job->details, "next") + 1));
	json_object_set_new(job->details, "stage", json_string("copy"));
	xfer_progress(job);
	job_poke(job);
}

static void
xfer_on_exit(struct child *c, int status, void *data)
{
	struct job *job = data;
	char tail[200], why[400];

	(void)c;
	job->child = child_free(job->child);
	if (status != 0) {
		xfer_out_tail(job, tail, sizeof(tail));
		snprintf(why, sizeof(why), "%s of '%s' failed (exit %d): %s",
		    xfer_stage_is(job, "hash") ? "sha256sum" : "copy",
		    dstr(xfer_cur(job), "file"), status, tail);
		xfer_fail(job, -EIO, why);
	} else if (xfer_stage_is(job, "hash")) {
		xfer_on_hash(job);
	} else if (failpoint_check(job->ops == &job_vm_export ?
	    "vm.export.copy" : "vm.import.copy", NULL) == FP_FAIL) {
		/* Tests stop here: a file copied, not yet verified. */
		xfer_fail(job, -EIO, "failpoint");
	} else {
		json_object_set_new(job->details, "stage",
		    json_string("hash"));
		job_poke(job);
	}
}

static int
xfer_spawn(struct job *job, const char *const *argv)
{
	_cleanup_free_ char *out = xfer_out_path(job);

	(void)unlink(out);
	return job_spawn(job, argv, out, xfer_on_exit);
}

/* Start copying the current item into dst. */
static int
xfer_copy(struct job *job, const json_t *item)
{
	const char *src = dstr(item, "src"), *dst = dstr(item, "dst");
	_cleanup_free_ char *dir = xstrdup(dst);
	const char *convert[] = { host_of(job)->cfg.qemu_img, "convert", "-p",
		"-f", "qcow2", "-O", "qcow2", src, dst, NULL };
	/* cp skips holes; sync makes the copy durable before we trust it. */
	const char *copy[] = { "sh", "-c", "cp --sparse=always -- \"$1\" "
		"\"$2\" && sync -- \"$2\"", "sh", src, dst, NULL };
	int r;

	if ((r = mkdir_p(dirname(dir), 0700)) < 0)
		return r;
	job_set_phase(job, XFER_PH_COPY);
	return xfer_spawn(job, streq(dstr(item, "kind"), "convert") ?
	    convert : copy);
}

/* Start the next helper, or report progress while one runs.  True when
 * every file is done. */
static bool
xfer_step(struct job *job)
{
	json_t *item = xfer_cur(job);
	int r;

	if (job->child) {
		xfer_progress(job);
		job_wake_after(job, PROGRESS_POLL_MS);
		return false;
	}
	if (!item)
		return true;
	if (xfer_stage_is(job, "copy") && dstr(item, "kind")) {
		r = xfer_copy(job, item);
	} else {
		const char *path = dstr(item, "dst") ? dstr(item, "dst") :
		    dstr(item, "src");
		const char *argv[] = { "sha256sum", "--", path, NULL };

		json_object_set_new(job->details, "stage", json_string("hash"));
		job_set_phase(job, XFER_PH_VERIFY);
		r = xfer_spawn(job, argv);
	}
	if (r < 0) {
		xfer_fail(job, r, "cannot run the copy or sha256sum helper");
		return false;
	}
	job_wake_after(job, PROGRESS_POLL_MS);
	return false;
}

static void
xfer_unlink_made(struct job *job)
{
	_cleanup_free_ char *out = xfer_out_path(job);
	json_t *it;
	size_t i;

	job->child = child_free(job->child);
	json_array_foreach(xfer_items(job), i, it)
		if (dstr(it, "dst"))
			(void)unlink(dstr(it, "dst"));
	(void)unlink(out);
}

static bool
xfer_vm_gone(struct job *job)
{
	if (vm_of(job))
		return false;
	job_finish(job, -ENOENT, "the VM no longer exists");
	return true;
}

/* ---- vm.export ---- */

/* Names a crash may leave in dir: file_write_atomic's temporaries. */
static void
export_unlink_tmp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (strncmp(de->d_name, EXPORT_MANIFEST ".tmp.",
		    strlen(EXPORT_MANIFEST ".tmp.")) != 0)
			continue;
		p = xasprintf("%s/%s", dir, de->d_name);
		(void)unlink(p);
	}
	closedir(d);
}

static void
export_rollback(struct job *job, int code, const char *why)
{
	const char *dir = dstr(job->details, "dir");
	_cleanup_free_ char *disks = xasprintf("%s/disks", dir);
	_cleanup_free_ char *boot = xasprintf("%s/boot", dir);

	xfer_unlink_made(job);
	export_unlink_tmp(dir);
	(void)rmdir(disks);
	(void)rmdir(boot);
	if (json_is_true(json_object_get(job->details, "dir_created")))
		(void)rmdir(dir);
	job_finish(job, code, "vm '%s' not exported: %s",
	    vm_of(job) ? vm_of(job)->row->name : "?", why);
}

static int
export_cancel(struct job *job, struct err *err)
{
	(void)err;
	export_rollback(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

/* The manifest of what was written, from the VM and the items. */
static struct export_manifest *
export_manifest_of(struct job *job)
{
	const struct vm_row *row = vm_of(job)->row;
	struct export_manifest *m = xzalloc(sizeof(*m));
	char at[40];
	json_t *it;
	size_t i;

	m->version = EXPORT_VERSION;
	m->exported_at = xstrdup(wall_ms_format(wall_ms(), at, sizeof(at)));
	m->exported_from = xstrdup(host_of(job)->cfg.name);
	vm_desc_from_row(&m->desc, row);
	m->services = row->services ? xstrdup(row->services) : NULL;
	m->kvp = row->kvp ? xstrdup(row->kvp) : NULL;
	json_array_foreach(xfer_items(job), i, it) {
		const char *role = dstr(it, "role");
		struct export_file *f = streq(role, "kernel") ? &m->kernel :
		    streq(role, "initrd") ? &m->initrd :
		    streq(role, "state") ? &m->state :
		    streq(role, "nvram") ? &m->nvram :
		    streq(role, "tpm") ? &m->tpm :
		    &m->disks[m->n_disks].f;

		if (streq(role, "disk")) {
			bool self;

			snprintf(m->disks[m->n_disks].name, 8, "%s",
			    dstr(it, "name"));
			(void)qcow2_header_check(dstr(it, "dst"),
			    &m->disks[m->n_disks].virtual_size, &self);
			m->n_disks++;
		}
		m->has_kernel |= streq(role, "kernel");
		m->has_initrd |= streq(role, "initrd");
		m->has_state |= streq(role, "state");
		m->has_nvram |= streq(role, "nvram");
		m->has_tpm |= streq(role, "tpm");
		f->file = xstrdup(dstr(it, "file"));
		f->size = dnum(it, "size");
		snprintf(f->sha256, sizeof(f->sha256), "%s", dstr(it, "sha256"));
	}
	return m;
}

/* vm.json, last and atomically: a directory without it is unfinished.
 * What we write must be what an import accepts, so it is parsed first. */
static int
export_write_manifest(struct job *job, struct err *err)
{
	const char *dir = dstr(job->details, "dir");
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, EXPORT_MANIFEST);
	struct export_manifest *m = export_manifest_of(job);
	_cleanup_json_ json_t *o = export_manifest_to_json(m);
	_cleanup_free_ char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	_cleanup_close_ int dfd = -1;
	int r;

	m = export_manifest_free(m);
	if (!text)
		return err_set(err, -EINVAL, "cannot encode vm.json");
	r = export_manifest_parse(text, strlen(text), &m, err);
	m = export_manifest_free(m);
	if (r < 0)
		return r;
	r = file_write_atomic(path, text, strlen(text), 0600);
	if (r < 0)
		return err_setf_errno(err, r, "cannot write '%s'", path);
	/* The rename is durable only once the directory is. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	return 0;
}

static void
export_finish(struct job *job)
{
	_cleanup_free_ char *out = xfer_out_path(job);
	struct err e = { 0 };
	int r = export_write_manifest(job, &e);

	(void)unlink(out);
	if (r < 0) {
		export_rollback(job, r, e.msg);
		return;
	}
	host_event(host_of(job), "info", vm_of(job), job->row->id,
	    "vm exported to "
	    "'%s'", dstr(job->details, "dir"));
	job_finish(job, 0, NULL);
}

/* Subdirectories (0700: they hold VM data).  disks/ is made even for a
 * VM without disks, so that from now on the directory is not empty and
 * no other export can pick it. */
static int
export_mkdirs(struct job *job)
{
	const char *dir = dstr(job->details, "dir");
	_cleanup_free_ char *disks = xasprintf("%s/disks", dir);
	_cleanup_free_ char *boot = xasprintf("%s/boot", dir);

	if (mkdir(disks, 0700) == -1)
		return -errno;
	if (vm_of(job)->row->kernel && mkdir(boot, 0700) == -1)
		return -errno;
	return 0;
}

/* The directory itself: made here unless it was there (empty) before.
 * A failure leaves nothing of ours to undo. */
static int
export_mkdir_top(struct job *job)
{
	const char *dir = dstr(job->details, "dir");
	bool created = json_is_true(json_object_get(job->details,
	    "dir_created"));
	int r = 0;

	if (mkdir(dir, 0700) == -1 && (errno != EEXIST || created))
		r = -errno;
	if (r < 0)
		job_finish(job, r, "vm '%s' not exported: cannot create '%s': "
		    "%s", vm_of(job)->row->name, dir, strerror(-r));
	return r;
}

static void
export_step(struct job *job)
{
	_cleanup_free_ char *manifest = NULL;
	int r;

	if (xfer_vm_gone(job))
		return;
	if (job->recovering) {
		job->recovering = false;
		manifest = xasprintf("%s/%s", dstr(job->details, "dir"),
		    EXPORT_MANIFEST);
		if (access(manifest, F_OK) == 0)
			job_finish(job, 0, NULL);
		else
			export_rollback(job, -EIO, "ternd restarted during "
			    "the export");
		return;
	}
	if (!vm_is_down(vm_of(job))) {
		export_rollback(job, -EBUSY, "the vm is no longer down");
		return;
	}
	if (job_phase_is(job, XFER_PH_START)) {
		if (export_mkdir_top(job) < 0)
			return;
		if ((r = export_mkdirs(job)) < 0) {
			export_rollback(job, r, strerror(-r));
			return;
		}
		job_set_phase(job, XFER_PH_COPY);
	}
	if (xfer_step(job))
		export_finish(job);
}

const struct job_ops job_vm_export = { .type = "vm.export",
	.phases = xfer_phase_names, .n_phases = XFER_PH__COUNT,
	.step = export_step, .cancel = export_cancel };

/* ---- vm.import ---- */

static void
import_rollback(struct job *job, int code, const char *why)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *sdir = NULL;

	xfer_unlink_made(job);
	if (!vm) {
		job_finish(job, code, "vm not imported: %s", why);
		return;
	}
	/* the TPM directory a copy made (an empty one stays with --register) */
	if (vm->row->tpm_dir && streq(dstr(job->details, "mode"), "copy"))
		(void)rmdir(vm->row->tpm_dir);
	sdir = vm_state_path(vm, NULL);
	(void)rmdir(sdir);	/* held only the boot files, if anything */
	(void)store_vm_delete(vm->h->store, vm->row->uuid);
	job_finish(job, code, "vm '%s' not imported: %s; nothing was kept",
	    vm->row->name, why);
	vm_remove(vm);
}

static int
import_cancel(struct job *job, struct err *err)
{
	(void)err;
	import_rollback(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

static void
import_finish(struct job *job)
{
	_cleanup_free_ char *out = xfer_out_path(job);
	struct vm *vm = vm_of(job);

	(void)unlink(out);
	vm_set_state(vm, vm->row->state_file ? VM_SAVED : VM_OFF, NULL);
	host_event(host_of(job), "info", vm, job->row->id,
	    "vm imported from '%s' "
	    "(%s)", dstr(job->details, "dir"), dstr(job->details, "mode"));
	job_finish(job, 0, NULL);
}

static void
import_step(struct job *job)
{
	if (!vm_of(job)) {
		import_rollback(job, -ENOENT, "the VM no longer exists");
		return;
	}
	if (job->recovering) {
		job->recovering = false;
		if (vm_of(job)->state != VM_CREATING)
			job_finish(job, 0, NULL);
		else
			import_rollback(job, -EIO, "ternd restarted during "
			    "the import");
		return;
	}
	if (xfer_step(job))
		import_finish(job);
}

const struct job_ops job_vm_import = { .type = "vm.import",
	.phases = xfer_phase_names, .n_phases = XFER_PH__COUNT,
	.step = import_step, .cancel = import_cancel };
