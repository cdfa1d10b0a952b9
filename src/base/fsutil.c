/* fsutil.c - file system helpers.  Never logs; returns -errno. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fsutil.h"
#include "util.h"

int
mkdir_p(const char *path, unsigned mode)
{
	_cleanup_free_ char *p = xstrdup(path);

	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) == -1 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) == -1 && errno != EEXIST)
		return -errno;
	return 0;
}

int
file_read_all(const char *path, size_t max, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, cap = 4096;

	if (fd == -1)
		return -errno;
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n;

		if (len == cap) {
			if (cap >= max + 1)
				return -EFBIG;
			cap = MIN(cap * 2, max + 1);
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -errno;
		if (n == 0)
			break;
		len += n;
	}
	if (len > max)
		return -EFBIG;
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

char *
file_last_line(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	char buf[4096], *line;
	struct stat st;
	off_t at;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	at = st.st_size > (off_t)sizeof(buf) - 1 ?
	    st.st_size - (off_t)sizeof(buf) + 1 : 0;
	n = pread(fd, buf, sizeof(buf) - 1, at);
	if (n <= 0)
		return NULL;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	for (line = buf + n; line > buf && line[-1] != '\n' &&
	    line[-1] != '\r'; line--)
		;
	return n > 0 ? xstrdup(line) : NULL;
}

int
file_write_atomic(const char *path, const void *data, size_t len,
    unsigned mode)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp.%d", path, getpid());
	int fd, r = 0;
	size_t off = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1)
		return -errno;
	while (off < len) {
		ssize_t n = write(fd, (const char *)data + off, len - off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			r = -errno;
			break;
		}
		off += n;
	}
	if (r == 0 && fsync(fd) == -1)
		r = -errno;
	close(fd);
	if (r == 0 && rename(tmp, path) == -1)
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

bool
path_is_under(const char *path, const char *dir)
{
	char rdir[PATH_MAX], rparent[PATH_MAX];
	_cleanup_free_ char *copy = xstrdup(path);
	_cleanup_free_ char *copy2 = xstrdup(path);
	const char *base = basename(copy2);
	size_t n;

	if (!realpath(dir, rdir))
		return false;
	if (streq(base, "..") || streq(base, ".") || !*base)
		return false;
	if (!realpath(dirname(copy), rparent))
		return false;
	n = strlen(rdir);
	if (strncmp(rparent, rdir, n) != 0)
		return false;
	if (rparent[n] != '\0' && rparent[n] != '/' && !streq(rdir, "/"))
		return false;
	/* An existing path that is a symlink must resolve inside too. */
	char rfull[PATH_MAX];
	if (realpath(path, rfull)) {
		if (strncmp(rfull, rdir, n) != 0 ||
		    (rfull[n] != '/' && !streq(rdir, "/")))
			return false;
	}
	return true;
}

int
fs_free_bytes(const char *path, uint64_t *ret_bytes)
{
	struct statvfs st;

	if (statvfs(path, &st) == -1)
		return -errno;
	*ret_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	return 0;
}

int
fd_set_cloexec_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return -errno;
	fl = fcntl(fd, F_GETFD);
	if (fl == -1 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == -1)
		return -errno;
	return 0;
}

int
dir_remove_flat(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		_cleanup_free_ char *p = NULL;

		if (streq(e->d_name, ".") || streq(e->d_name, ".."))
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (unlink(p) == -1 && errno != ENOENT)
			r = -errno;
	}
	closedir(d);
	if (rmdir(dir) == -1 && errno != ENOENT)
		r = -errno;
	return r;
}

char *
helper_exe_path_in(const char *self_dir, const char *libexec_dir,
    const char *name)
{
	_cleanup_free_ char *near = NULL;

	if (self_dir) {
		near = xasprintf("%s/%s", self_dir, name);
		if (access(near, X_OK) == 0)
			return TAKE_PTR(near);
	}
	return xasprintf("%s/%s", libexec_dir, name);
}

char *
helper_exe_path(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash = NULL;

	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')))
			*slash = '\0';
	}
	return helper_exe_path_in(slash ? self : NULL, TERN_LIBEXECDIR, name);
}

bool
exe_is_found(const char *bin)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	bool found = false;

	if (strchr(bin, '/'))
		return access(bin, X_OK) == 0;
	copy = xstrdup(path ? path : "/usr/bin:/bin");
	for (char *d = strtok_r(copy, ":", &save); d && !found;
	    d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, bin);

		found = access(p, X_OK) == 0;
		free(p);
	}
	free(copy);
	return found;
}

bool
proc_cmdline_has(pid_t pid, const char *needle, bool part)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/cmdline", (int)pid);
	_cleanup_free_ char *buf = NULL;
	size_t len;

	if (file_read_all(path, 1 << 20, &buf, &len) < 0)
		return false;
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		if (part ? strstr(buf + i, needle) != NULL :
		    strcmp(buf + i, needle) == 0)
			return true;
	return false;
}

void
fsync_parent_dir(const char *path)
{
	_cleanup_free_ char *copy = xstrdup(path);
	char *slash = strrchr(copy, '/');
	_cleanup_close_ int fd = -1;

	if (!slash)
		return;
	*slash = '\0';
	fd = open(*copy ? copy : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		(void)fsync(fd);
}
