/* tpm_state.c - which directory a VM's swtpm keeps its state in (see
 * tpm_state.h).  Never logs.
 *
 * swtpm is given RUN/tpm-state, a symlink, never the state directory
 * itself.  swtpm 0.7 keeps the directory's name and opens its files by
 * it on every write (each one written to a temporary file and renamed),
 * so repointing the link (a new link renamed over the old one: atomic)
 * moves where the next write lands.  That is done only while the VM's
 * vCPUs are stopped, when no TPM command is in flight, after the state
 * is where the link will point:
 *
 *   start, restore:  tpm-state -> row->tpm_dir
 *   incoming move,   tpm-state -> RUN/tpm-in (empty; the source's swtpm
 *   shared storage:  holds the shared directory's lock until it exits,
 *                    and the state arrives in the stream) --commit,
 *                    both sides paused--> tpm-state -> row->tpm_dir
 *   storage move     (the state copied while paused) tpm-state -> the
 *   (running):       new directory, then the old one is removed
 *                    (src/storage/mirror.c; tpm_state_copy(), then
 *                    tpm_state_link(); tpm_state_points_at() decides
 *                    after a ternd restart)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "tpm_state.h"
#include "util.h"
#include "vm.h"

int
tpm_state_link(struct vm *vm, const char *target)
{
	_cleanup_free_ char *link = vm_run_path(vm, "tpm-state");
	_cleanup_free_ char *tmp = vm_run_path(vm, "tpm-state.new");

	(void)unlink(tmp);
	if (symlink(target, tmp) == -1)
		return -errno;
	if (rename(tmp, link) == -1) {
		int r = -errno;

		(void)unlink(tmp);
		return r;
	}
	return 0;
}

char *
tpm_state_prepare(struct vm *vm, struct err *err)
{
	_cleanup_free_ char *apart = vm_run_path(vm, "tpm-in");
	const char *target = vm->row->tpm_dir;
	int r;

	if (vm->tpm_apart) {
		(void)dir_remove_flat(apart);	/* a failed move's */
		if (mkdir(apart, 0700) == -1) {
			err_setf_errno(err, -errno, "cannot create '%s'",
			    apart);
			return NULL;
		}
		target = apart;
	} else if ((r = mkdir_p(target, 0700)) < 0) {
		err_setf_errno(err, r, "cannot create '%s'", target);
		return NULL;
	}
	if ((r = tpm_state_link(vm, target)) < 0) {
		err_setf_errno(err, r, "cannot point the TPM of vm '%s' at "
		    "'%s'", vm->row->name, target);
		return NULL;
	}
	return vm_run_path(vm, "tpm-state");
}

int
tpm_apart_join(struct vm *vm)
{
	return tpm_state_link(vm, vm->row->tpm_dir);
}

void
tpm_apart_remove(struct vm *vm)
{
	_cleanup_free_ char *apart = vm_run_path(vm, "tpm-in");

	(void)dir_remove_flat(apart);
}

void
tpm_state_remove_link(struct vm *vm)
{
	_cleanup_free_ char *link = vm_run_path(vm, "tpm-state");

	(void)unlink(link);
	tpm_apart_remove(vm);
}

bool
tpm_state_points_at(struct vm *vm, const char *dir)
{
	_cleanup_free_ char *link = vm_run_path(vm, "tpm-state");
	char target[PATH_MAX];
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	return streq(target, dir);
}

/* One regular file of the state: its bytes, mode and owner, synced. */
static int
copy_file(int sfd, int dfd, const char *name)
{
	_cleanup_close_ int in = -1, out = -1;
	struct stat st;
	char buf[65536];
	ssize_t n;

	if ((in = openat(sfd, name, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(in, &st) == -1)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0;
	out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    st.st_mode & 07777);
	if (out == -1)
		return -errno;
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			return errno ? -errno : -EIO;
	if (n == -1 || fchown(out, st.st_uid, st.st_gid) == -1 ||
	    fsync(out) == -1)
		return -errno;
	return 0;
}

static int
copy_files(const char *src, const char *dst)
{
	_cleanup_close_ int dfd = -1;
	DIR *d = opendir(src);
	struct dirent *e;
	int r = 0;

	if (!d)
		return -errno;
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		r = -errno;
	while (r == 0 && (e = readdir(d)))
		if (!streq(e->d_name, ".") && !streq(e->d_name, ".."))
			r = copy_file(dirfd(d), dfd, e->d_name);
	if (r == 0 && fsync(dfd) == -1)
		r = -errno;
	closedir(d);
	return r;
}

/* A few KiB (tpm2-00.permall, and the lock file): copied on the loop
 * thread, in well under a millisecond, while the vCPUs are stopped. */
int
tpm_state_copy(const char *src, const char *dst)
{
	_cleanup_free_ char *partial = xasprintf("%s.partial", dst);
	struct stat st;
	int r = 0;

	if (stat(src, &st) == -1)
		return -errno;
	(void)dir_remove_flat(partial);
	if (mkdir(partial, st.st_mode & 07777) == -1)
		return -errno;
	if (chown(partial, st.st_uid, st.st_gid) == -1 ||
	    (r = copy_files(src, partial)) < 0 ||
	    rename(partial, dst) == -1) {
		r = r < 0 ? r : -errno;
		(void)dir_remove_flat(partial);
		return r;
	}
	fsync_parent_dir(dst);
	return 0;
}
