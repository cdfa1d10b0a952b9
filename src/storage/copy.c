/* copy.c - vm.move-storage for a VM that is down (off, crashed or saved):
 * each disk is copied by qemu-img convert into TARGET.partial (sparse:
 * unallocated and zero areas are not written) and synced, renamed,
 * recorded, and only then is its source deleted; a saved state file, a
 * UEFI VM's NVRAM file and a TPM's state directory (all next to disk 0)
 * go the same way with cp.  It must never delete a source before its copy
 * is on disk under its final name and recorded.
 *
 *   copy, per item (the disks in order, then the state file, the NVRAM
 *   file, the TPM directory):
 *     spawn (convert or cp, then sync) --exit 0--> rename .partial to the
 *     target, fsync the directory --> record (store, row: the commit
 *     point of the item) --> unlink the source --> next item
 *     every item done --> succeeded
 *   failure or cancel: the helper is killed, the .partial removed; items
 *   already recorded stay moved (the job's error says which).
 *   restart: decided on the files, item by item: recorded at its target:
 *   done (the source removed if still there); the target there but not
 *   recorded (the rename happened): recorded now; a .partial: removed and
 *   copied again.  So a restarted ternd finishes the move.
 *
 * Transitions: copy_step() (settle items, spawn), copy_on_exit() (rename;
 * failpoint storage.copied just before it), copy_fail() (the end on
 * failure or cancel), copy_done(). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failpoint.h"
#include "fsutil.h"
#include "st_int.h"
#include "storage.h"
#include "util.h"
#include "vm.h"

#define COPY_POLL_MS 500

/* The items besides the disks, in their order: the job's details key,
 * the row's column, what an event calls it. */
static const char *const extra_keys[] = { "state", "nvram", "tpm", NULL };
static const char *const extra_cols[] = { "state_file", "nvram",
	"tpm_dir" };
static const char *const extra_what[] = { "saved state",
	"UEFI variables", "TPM state" };

/* The first item not done (disks first); *ret_kind tells an extra item
 * (an index of extra_keys, -1: a disk). */
static json_t *
next_item(const struct job *job, int *ret_kind)
{
	json_t *d;
	size_t i;

	*ret_kind = -1;
	json_array_foreach(st_disks(job), i, d)
		if (!st_flag(d, "done"))
			return d;
	for (int k = 0; extra_keys[k]; k++) {
		json_t *s = json_object_get(job->details, extra_keys[k]);

		if (s && !st_flag(s, "done")) {
			*ret_kind = k;
			return s;
		}
	}
	return NULL;
}

/* The row's field of extra item kind. */
static char **
extra_field(struct vm_row *row, int kind)
{
	return kind == 0 ? &row->state_file : kind == 1 ? &row->nvram :
	    &row->tpm_dir;
}

static char *
partial_of(const json_t *it)
{
	return xasprintf("%s.partial", st_str(it, "dst"));
}

static void
unlink_partials(const struct job *job)
{
	json_t *d;
	size_t i;

	json_array_foreach(st_disks(job), i, d) {
		_cleanup_free_ char *p = partial_of(d);

		(void)unlink(p);
	}
	for (int k = 0; extra_keys[k]; k++) {
		json_t *s = json_object_get(job->details, extra_keys[k]);
		_cleanup_free_ char *p = s ? partial_of(s) : NULL;

		if (p && unlink(p) == -1 && errno == EISDIR)
			(void)dir_remove_flat(p);	/* a TPM dir */
	}
}

static void
copy_fail(struct job *job, int code, const char *why)
{
	char out[400];

	job->child = child_free(job->child);
	unlink_partials(job);
	st_outcome(job, out, sizeof(out));
	st_finish(job, code, "vm '%s' storage not moved: %s; %s",
	    vm_of(job)->row->name, why, out);
}

int
copy_cancel(struct job *job, struct err *err)
{
	(void)err;
	copy_fail(job, -ECANCELED, "cancelled by the operator");
	return 0;
}

static bool
item_recorded(const struct job *job, const json_t *it, int kind)
{
	struct vm_row *row = vm_of(job)->row;

	if (kind >= 0)
		return streq(*extra_field(row, kind), st_str(it, "dst"));
	return streq(row->disks[st_int(it, "idx")].path, st_str(it, "dst"));
}

static int
record_extra(struct job *job, json_t *it, int kind)
{
	struct vm *vm = vm_of(job);
	char **field = extra_field(vm->row, kind);
	int r = store_vm_set_text(host_of(job)->store, vm->row->uuid,
	    extra_cols[kind], st_str(it, "dst"));

	if (r < 0)
		return r;
	free(*field);
	*field = xstrdup(st_str(it, "dst"));
	host_event(host_of(job), "info", vm, job->row->id, "%s now '%s'",
	    extra_what[kind], st_str(it, "dst"));
	return 0;
}

/* Remove a moved item's source: a file, or the TPM's directory. */
static void
remove_src(const char *path, int kind)
{
	if (kind == 2)
		(void)dir_remove_flat(path);
	else
		(void)unlink(path);
}

/* Bring an item as far as its files allow: 1 done, 0 needs copying, -1
 * the job failed. */
static int
item_settle(struct job *job, json_t *it, int kind)
{
	const char *dst = st_str(it, "dst");
	char why[300];
	int r = 0;

	if (!item_recorded(job, it, kind)) {
		if (!st_flag(it, "created") || access(dst, F_OK) != 0)
			return 0;
		/* Renamed, so whole and synced: the commit point. */
		r = kind >= 0 ? record_extra(job, it, kind) :
		    st_record_disk(job, it);
	}
	if (r < 0) {
		remove_src(dst, kind);
		snprintf(why, sizeof(why), "cannot record '%s': %s", dst,
		    strerror(-r));
		copy_fail(job, r, why);
		return -1;
	}
	if (!streq(st_str(it, "src"), dst))
		remove_src(st_str(it, "src"), kind);
	st_set_flag(it, "done", true);
	st_set_flag(it, "recorded", true);
	st_save(job);
	return 1;
}

static void
copy_on_exit(struct child *c, int status, void *data)
{
	struct job *job = data;
	int kind;
	json_t *it = next_item(job, &kind);
	_cleanup_free_ char *partial = partial_of(it);
	char tail[200], why[300];

	(void)c;
	job->child = child_free(job->child);
	if (status != 0) {
		st_out_tail(job, tail, sizeof(tail));
		snprintf(why, sizeof(why), "the copy of %s failed (exit %d): "
		    "%s", kind >= 0 ? extra_what[kind] : st_str(it, "name"),
		    status, tail);
		copy_fail(job, -EIO, why);
		return;
	}
	/* Tests stop here: a copy written and synced, not yet renamed. */
	if (failpoint_check("storage.copied", NULL) == FP_FAIL) {
		copy_fail(job, -EIO, "failpoint storage.copied");
		return;
	}
	if (rename(partial, st_str(it, "dst")) == -1) {
		snprintf(why, sizeof(why), "cannot rename '%s': %s", partial,
		    strerror(errno));
		copy_fail(job, -errno, why);
		return;
	}
	fsync_parent_dir(st_str(it, "dst"));
	if (item_settle(job, it, kind) < 0)
		return;
	job_poke(job);
}

static void
copy_spawn(struct job *job, json_t *it, int kind)
{
	_cleanup_free_ char *partial = partial_of(it);
	/* The copy is synced before it is renamed and trusted.  Only sh
	 * gets job_spawn()'s parent-death signal: setpriv gives the copier
	 * its own, so it ends with sh (with ternd, or on cancel) instead of
	 * writing on into an unlinked .partial. */
	const char *convert[] = { "sh", "-c", "setpriv --pdeathsig KILL -- "
		"\"$1\" convert -p -f qcow2 -O qcow2 \"$2\" \"$3\" && "
		"sync \"$3\"", "sh", host_of(job)->cfg.qemu_img,
		st_str(it, "src"), partial, NULL };
	const char *cp[] = { "sh", "-c", "setpriv --pdeathsig KILL -- cp "
		"--sparse=always -- \"$1\" \"$2\" && sync -- \"$2\"", "sh",
		st_str(it, "src"), partial, NULL };
	/* a TPM directory: its few files, mode and owner kept */
	const char *cpdir[] = { "sh", "-c", "setpriv --pdeathsig KILL -- cp "
		"-a -T -- \"$1\" \"$2\" && sync -- \"$2\"/*", "sh",
		st_str(it, "src"), partial, NULL };

	if (access(st_str(it, "dst"), F_OK) == 0) {
		copy_fail(job, -EEXIST, "a target file appeared meanwhile");
		return;
	}
	if (unlink(partial) == -1 && errno == EISDIR)
		(void)dir_remove_flat(partial);
	st_set_flag(it, "created", true);
	json_object_set_new(job->details, "current", json_string(kind >= 0 ?
	    extra_keys[kind] : st_str(it, "name")));
	st_save(job);
	if (st_spawn(job, kind == 2 ? cpdir : kind >= 0 ? cp : convert,
	    copy_on_exit) < 0) {
		copy_fail(job, -EIO, "cannot run the copy helper");
		return;
	}
	job_wake_after(job, COPY_POLL_MS);
}

/* Bytes of the current item copied so far, from what its helper shows. */
static uint64_t
current_done(const struct job *job, const json_t *it, int kind,
    uint64_t work)
{
	_cleanup_free_ char *p = NULL, *out = NULL;
	double pct = 0;
	struct stat st;
	char *s;

	if (kind >= 0) {
		p = partial_of(it);
		return stat(p, &st) == 0 ? MIN((uint64_t)st.st_size, work) : 0;
	}
	p = st_out_path(job);
	if (file_read_all(p, 64 * 1024, &out, NULL) == 0 &&
	    (s = strrchr(out, '(')) && sscanf(s, "(%lf/100%%)", &pct) == 1)
		return (uint64_t)(pct / 100 * work);
	return 0;
}

static void
copy_progress(struct job *job)
{
	json_t *d;
	uint64_t total = 0, done = 0;
	int kind;
	json_t *cur = next_item(job, &kind);
	size_t i;

	json_array_foreach(st_disks(job), i, d) {
		total += st_int(d, "alloc");
		done += st_flag(d, "done") ? st_int(d, "alloc") : 0;
	}
	for (int k = 0; extra_keys[k]; k++) {
		json_t *s = json_object_get(job->details, extra_keys[k]);

		total += s ? st_int(s, "size") : 0;
		done += s && st_flag(s, "done") ? st_int(s, "size") : 0;
	}
	if (cur && job->child)
		done += current_done(job, cur, kind, st_int(cur, kind >= 0 ?
		    "size" : "alloc"));
	job_set_progress(job, MIN(done, total), total, "bytes");
}

static void
copy_done(struct job *job)
{
	json_t *d, *s = json_object_get(job->details, "state");
	uint64_t sum = 0;
	struct stat st;
	size_t i;
	char out[400];

	json_array_foreach(st_disks(job), i, d)
		if (stat(st_str(d, "dst"), &st) == 0)
			sum += (uint64_t)st.st_blocks * 512;
	if (s && stat(st_str(s, "dst"), &st) == 0)
		sum += (uint64_t)st.st_blocks * 512;
	json_object_set_new(job->details, "copied_bytes",
	    json_integer((json_int_t)sum));
	json_object_del(job->details, "current");
	copy_progress(job);
	st_outcome(job, out, sizeof(out));
	host_event(host_of(job), "info", vm_of(job), job->row->id,
	    "vm storage moved "
	    "(copied while %s): %s%s", vm_state_name(vm_of(job)->state), out,
	    s ? "; saved state moved along" : "");
	st_finish(job, 0, NULL);
}

void
copy_step(struct job *job)
{
	int kind;
	json_t *it;
	int r;

	if (job->child) {
		copy_progress(job);
		job_wake_after(job, COPY_POLL_MS);
		return;
	}
	if (job->recovering) {
		job->recovering = false;
		unlink_partials(job);	/* its helper died with ternd */
	}
	if (!vm_is_down(vm_of(job))) {
		copy_fail(job, -EBUSY, "the vm is no longer down");
		return;
	}
	if (!job_phase_is(job, ST_PH_COPY))
		job_set_phase(job, ST_PH_COPY);
	while ((it = next_item(job, &kind))) {
		r = item_settle(job, it, kind);
		if (r < 0)
			return;
		if (r == 0) {
			copy_spawn(job, it, kind);
			return;
		}
	}
	copy_done(job);
}
