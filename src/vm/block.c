/* block.c - the block layer that storage moves, shared-nothing moves and
 * (next) backups share: a mirror started in the right copy mode and
 * tracked before its events can come (vm_mirror_cmd), its switch to
 * write-blocking once in sync, the block jobs' progress, a new image made
 * by qemu-img as the job's helper (dies with ternd), and who holds an
 * image's locks.  The commands themselves are typed in src/qmp/qmp_block.c.
 *
 * On QEMU 8.2 and later a mirror copies in background mode (the guest's
 * writes only mark regions dirty, so the bulk copy runs at full speed and
 * the guest's writes stay fast), and once it is READY it is switched to
 * write-blocking (block-job-change): from then on every guest write
 * reaches both sides before it completes.  Only when QEMU reports
 * actively-synced is the mirror in sync for good; a move may switch over
 * from there.  Before 8.2 the mirror starts in write-blocking mode.
 *
 *   started --READY--> (background: block-job-change) --actively-synced-->
 *   synced               (write-blocking from the start: READY = synced)
 *
 * And who holds an image: QEMU locks the images it has open (OFD locks on
 * bytes 100-299), releases them when it inactivates them (the source of a
 * migration once its stream completed) and takes them again when a VM
 * resumes.  vm_image_locked_elsewhere() asks the kernel, not QEMU's error
 * messages, whether another process holds them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"

#include "job.h"
#include "util.h"
#include "vm.h"

#define BLOCK_QMP_MS 10000
/* The bytes QEMU's file driver locks on an image it has open
 * (block/file-posix.c: one per permission from offset 100, one per
 * permission it does not share from 200). */
#define QEMU_LOCK_FIRST 100
#define QEMU_LOCK_BYTES 200

void
vm_node_name(char buf[VM_NODE_NAME_MAX], const char *disk, const char *kind,
    int64_t job_id)
{
	if (job_id)
		snprintf(buf, VM_NODE_NAME_MAX, "%s-%s-J%lld", disk, kind,
		    (long long)job_id);
	else
		snprintf(buf, VM_NODE_NAME_MAX, "%s-%s", disk, kind);
}

void
vm_block_id(char buf[VM_NODE_NAME_MAX], const char *what, const char *disk,
    int64_t job_id)
{
	if (job_id)
		snprintf(buf, VM_NODE_NAME_MAX, "%s-%s-%lld", what, disk,
		    (long long)job_id);
	else
		snprintf(buf, VM_NODE_NAME_MAX, "%s-%s", what, disk);
}

const char *
vm_mirror_mode(const struct vm *vm)
{
	return host_qemu_at_least(vm->h, 8, 2) ? "background" :
	    "write-blocking";
}

struct qmp_command
vm_mirror_cmd(struct vm *vm, const char *id, const char *device,
    const char *target)
{
	struct vm_block_job *b = vm_block_job_track(vm, id);

	if (!b)
		return (struct qmp_command){ NULL, NULL };
	b->background = streq(vm_mirror_mode(vm), "background");
	return qmp_blockdev_mirror(id, device, target, vm_mirror_mode(vm));
}

void
vm_block_jobs_update(struct vm *vm, const json_t *list)
{
	struct qmp_block_job bj[VM_MAX_BLOCK_JOBS * 2];
	int n = qmp_block_jobs_read(list, bj, ARRAY_SIZE(bj));

	for (int i = 0; i < n; i++) {
		struct vm_block_job *b = vm_block_job_find(vm, bj[i].device);

		if (b && bj[i].synced)
			b->synced = true;
	}
}

void
vm_block_jobs_sum(const json_t *list, const struct job *job,
    bool (*mine)(const struct job *job, const char *id), uint64_t *done,
    uint64_t *total)
{
	struct qmp_block_job bj[VM_MAX_BLOCK_JOBS * 2];
	int n = qmp_block_jobs_read(list, bj, ARRAY_SIZE(bj));

	*done = *total = 0;
	for (int i = 0; i < n; i++) {
		if (!mine(job, bj[i].device))
			continue;
		*done += bj[i].offset;
		*total += bj[i].len;
	}
}

int
vm_image_create(struct job *job, const char *path, uint64_t size,
    const char *log_path, child_exit_fn fn)
{
	char sz[32];
	const char *argv[] = { host_of(job)->cfg.qemu_img, "create", "-q",
		"-f", "qcow2", path, sz, NULL };

	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
	return job_spawn(job, argv, log_path, fn);
}

static void
on_change(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	if (ret || !e)
		return;
	/* Which mirror: the first switched one not yet synced. */
	for (size_t i = 0; i < vm->n_bjobs; i++) {
		struct vm_block_job *b = &vm->bjobs[i];

		if (b->switched && !b->synced && !b->change_error) {
			b->change_error = xstrdup(e->msg);
			break;
		}
	}
	if (job)
		job_poke(job);
}

int
vm_mirror_synced(struct vm *vm, struct job *job, const char *id)
{
	struct vm_block_job *b = vm_block_job_find(vm, id);

	if (!b || !b->ready)
		return 0;
	if (b->change_error)
		return -EIO;
	if (b->synced || !b->background)
		return 1;
	if (!b->switched) {
		b->switched = true;
		host_event(vm->h, "info", vm, job ? job->row->id : 0,
		    "mirror %s in sync after its background copy: switching "
		    "it to write-blocking", id);
		if (vm_qmp_cmd(vm, job, qmp_mirror_copy_mode(id,
		    "write-blocking"), BLOCK_QMP_MS, on_change) < 0)
			b->change_error = xstrdup("QMP is gone");
	}
	return 0;
}

/* Our QEMU (pid) has a lock on the file at path: one of its fds is that
 * file and its fdinfo lists a lock (an OFD lock shows on the fd that owns
 * it). */
static bool
qemu_holds_lock(pid_t pid, const char *path)
{
	_cleanup_free_ char *fddir = xasprintf("/proc/%d/fd", (int)pid);
	DIR *d = opendir(fddir);
	struct dirent *e;
	bool held = false;

	if (!d)
		return false;
	while (!held && (e = readdir(d))) {
		_cleanup_free_ char *link = xasprintf("%s/%s", fddir, e->d_name);
		_cleanup_free_ char *info = xasprintf("/proc/%d/fdinfo/%s",
		    (int)pid, e->d_name);
		_cleanup_free_ char *text = NULL;
		char target[PATH_MAX];
		ssize_t n = readlink(link, target, sizeof(target) - 1);

		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!streq(target, path) ||
		    file_read_all(info, 64 * 1024, &text, NULL) < 0)
			continue;
		held = strstr(text, "\nlock:") != NULL;
	}
	closedir(d);
	return held;
}

int
vm_image_locked_elsewhere(const struct vm *vm, const char *path)
{
	char real[PATH_MAX];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
		.l_start = QEMU_LOCK_FIRST, .l_len = QEMU_LOCK_BYTES };
	int fd;

	if (!realpath(path, real))
		return -errno;
	if (vm->pid > 0 && qemu_holds_lock(vm->pid, real))
		return 0;
	if ((fd = open(real, O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	close(fd);
	return fl.l_type != F_UNLCK;
}
