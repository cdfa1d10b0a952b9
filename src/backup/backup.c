/* backup.c - starting a backup (every check before the job), listing a
 * repository, and what the vm.backup job's files share: its QMP replies,
 * the names it gives QEMU things and files. */
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backup.h"
#include "bk_int.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "qmp_block.h"
#include "refpoint.h"
#include "repo.h"
#include "util.h"
#include "vm_job.h"

/* ---- the job's QMP replies ---- */

struct bk_ctx *
bk_ctx(struct job *job)
{
	return job_priv(job, sizeof(struct bk_ctx), NULL);
}

void
bk_ctx_free(struct job *job)
{
	struct bk_ctx *c = job->priv;

	if (!c)
		return;
	vm_batch_free(&c->b);
	if (c->sink && c->sink_free)
		c->sink_free(c->sink);
	free(c);
	job->priv = NULL;
}

int
bk_qmp(struct job *job, struct qmp_command c)
{
	return vm_batch_qmp(job, &bk_ctx(job)->b, c, BK_QMP_MS);
}

int
bk_qmp_listen(struct job *job, const char *path, const char *fdname)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, r;

	if (len >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	(void)unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(fd, 16) == -1) {
		r = -errno;
		close(fd);
		return r;
	}
	r = vm_batch_fd(job, &bk_ctx(job)->b, "getfd", json_pack("{ss}",
	    "fdname", fdname), fd, BK_QMP_MS);
	close(fd);
	return r;
}

void
bk_qmp_quiet(struct job *job, struct qmp_command c)
{
	vm_batch_quiet(job, &bk_ctx(job)->b, c, BK_QMP_MS);
}

bool
bk_replied(struct job *job)
{
	return bk_ctx(job)->b.pending == 0;
}

/* ---- a point read for another module ---- */

void (*bk_sink_end)(struct job *job, int r, const char *why);

bool
bk_is_delta(const struct job *job)
{
	const char *sink = bk_str(job->details, "sink");

	return sink && streq(sink, "delta");
}

void
backup_point_sink(void (*end)(struct job *job, int r, const char *why))
{
	bk_sink_end = end;
}

void
backup_point_end(struct job *job, int r, const char *why)
{
	bk_teardown_begin(job, r, why);
}

void *
backup_point_priv(struct job *job, size_t size, void (*free_fn)(void *))
{
	struct bk_ctx *c = bk_ctx(job);

	if (!c->sink) {
		c->sink = xzalloc(size);
		c->sink_free = free_fn;
	}
	return c->sink;
}

void
backup_point_free(struct job *job)
{
	bk_ctx_free(job);
}

/* ---- names ---- */

const char *
bk_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

json_t *
bk_disks(const struct job *job)
{
	return json_object_get(job->details, "disks");
}

char *
bk_job_dir(const struct job *job)
{
	return xasprintf("%s/%s/%s", bk_str(job->details, "repo"),
	    job->row->vm_uuid, bk_str(job->details, "point"));
}

void
bk_fleece_node(const struct job *job, const json_t *d, char *buf)
{
	vm_node_name(buf, bk_str(d, "name"), "fl", job->row->id);
}

void
bk_fleece_job(const struct job *job, const json_t *d, char *buf)
{
	vm_block_id(buf, "bk", bk_str(d, "name"), job->row->id);
}

void
bk_xfer_bitmap(const struct job *job, char *buf)
{
	snprintf(buf, TRACK_NAME_MAX + 8, "%sx%lld", TRACK_BITMAP_PREFIX,
	    (long long)job->row->id);
}

char *
bk_scratch_path(const struct job *job, const json_t *d)
{
	_cleanup_free_ char *copy = xstrdup(bk_str(d, "path"));

	return xasprintf("%s/.%s-%s.fleece-%lld.qcow2", dirname(copy),
	    job->row->vm_name, bk_str(d, "name"), (long long)job->row->id);
}

char *
bk_socket_path(const struct job *job)
{
	struct vm *vm = vm_of(job);

	return vm_run_path(vm, "backup.sock");
}

/* ---- starting ---- */

/* The previous point, when its disks are the VM's (names and sizes):
 * else a full point. */
static const struct bk_manifest *
usable_parent(const struct vm *vm, const struct bk_manifest *pts, size_t n)
{
	const struct bk_manifest *p = n ? &pts[n - 1] : NULL;

	if (!p || p->n_disks != vm->row->n_disks)
		return NULL;
	for (size_t i = 0; i < p->n_disks; i++)
		if (!streq(p->disks[i].name, vm->row->disks[i].name) ||
		    p->disks[i].size != vm->row->disks[i].size_bytes)
			return NULL;
	return p;
}

json_t *
backup_point_details(const struct vm *vm, const char *repo, const char *point,
    int64_t time_ms, const char *parent, bool quiesce)
{
	_cleanup_free_ char *ref = xasprintf("bk-%s", point);
	json_t *disks = json_array();

	for (size_t i = 0; i < vm->row->n_disks; i++)
		json_array_append_new(disks, json_pack("{ss ss sI}", "name",
		    vm->row->disks[i].name, "path", vm->row->disks[i].path,
		    "size", (json_int_t)vm->row->disks[i].size_bytes));
	return json_pack("{ss ss sI ss? ss sb ss so}", "repo", repo, "point",
	    point, "time_ms", (json_int_t)time_ms, "parent", parent, "ref",
	    ref, "quiesce", quiesce, "consistency", "crash", "disks", disks);
}

/* The point's id and time are the job's start; the transaction that takes
 * it follows within seconds (details "snap_ms"). */
static json_t *
start_details(const struct vm *vm, const char *repo, const char *parent,
    bool quiesce)
{
	char point[BK_POINT_ID_LEN];
	int64_t now = (int64_t)wall_ms();

	bk_point_id(now, point);
	return backup_point_details(vm, repo, point, now, parent, quiesce);
}

int
backup_start(struct host *h, struct vm *vm, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "repo", "full", "quiesce",
		NULL };
	const char *repo_arg = NULL;
	bool full = false, quiesce = false;
	char repo[PATH_MAX];
	struct bk_manifest *pts = NULL;
	const struct bk_manifest *parent;
	char **half = NULL;
	size_t n = 0, n_half = 0;
	int r;

	if ((r = json_check_fields(body, fields, "backup", err)) < 0 ||
	    (r = json_get_str(body, "repo", true, &repo_arg, err)) < 0 ||
	    (r = json_get_bool(body, "full", &full, err)) < 0 ||
	    (r = json_get_bool(body, "quiesce", &quiesce, err)) < 0)
		return r;
	if (vm->state != VM_RUNNING && vm->state != VM_PAUSED)
		return err_set(err, -EBUSY, "vm '%s' is %s: a backup is taken "
		    "while the VM runs or is paused; start it first",
		    vm->row->name, vm_state_name(vm->state));
	if (vm->row->n_disks == 0)
		return err_set(err, -EINVAL, "vm '%s' has no disk to back up",
		    vm->row->name);
	if ((r = bk_repo_open(repo_arg, true, err)) < 0)
		return r;
	if (!realpath(repo_arg, repo))
		return err_set(err, -errno, "repository %s: %s", repo_arg,
		    strerror(errno));
	if ((r = bk_points_list(repo, vm->row->uuid, &pts, &n, &half,
	    &n_half, err)) < 0)
		return r;
	parent = full ? NULL : usable_parent(vm, pts, n);
	r = vm_job_create(h, &job_vm_backup, vm, start_details(vm, repo,
	    parent ? parent->point : NULL, quiesce), ret_job, err);
	for (size_t i = 0; r == 0 && i < n_half; i++)
		(void)dir_remove_flat(half[i]);	/* a crash left it */
	if (r == 0)
		job_start(*ret_job);
	bk_points_free(pts, n);
	bk_paths_free(half, n_half);
	return r;
}

void
backup_init(struct host *h)
{
	job_type_register(&h->jobs, &job_vm_backup);
	job_type_register(&h->jobs, &job_vm_restore);
	job_type_register(&h->jobs, &job_backup_verify);
	job_type_register(&h->jobs, &job_backup_prune);
}

/* ---- listing ---- */

static json_t *
point_json(const struct bk_manifest *m)
{
	json_t *disks = json_array();
	uint64_t written = 0;

	for (size_t i = 0; i < m->n_disks; i++) {
		const struct bk_disk *d = &m->disks[i];

		written += d->written_bytes;
		json_array_append_new(disks, json_pack("{ss sI sI sI sI}",
		    "name", d->name, "size", (json_int_t)d->size,
		    "changed_bytes", (json_int_t)d->changed_bytes,
		    "read_bytes", (json_int_t)d->read_bytes, "written_bytes",
		    (json_int_t)d->written_bytes));
	}
	return json_pack("{ss ss ss ss? ss ss sI sI so}", "vm", m->vm_uuid,
	    "name", m->vm_name, "point", m->point, "parent", m->parent[0] ?
	    m->parent : NULL, "kind", bk_kind_name(m->kind), "consistency",
	    bk_consistency_name(m->consistency), "time_ms",
	    (json_int_t)m->time_ms, "written_bytes", (json_int_t)written,
	    "disks", disks);
}

int
backup_list(const char *repo, const char *vm_uuid, json_t **ret,
    struct err *err)
{
	struct bk_manifest *pts = NULL;
	size_t n = 0;
	int r;

	if ((r = bk_repo_open(repo, false, err)) < 0 ||
	    (r = bk_points_list(repo, vm_uuid, &pts, &n, NULL, NULL, err)) < 0)
		return r;
	*ret = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(*ret, point_json(&pts[i]));
	bk_points_free(pts, n);
	return 0;
}
