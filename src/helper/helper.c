/* helper.c - the helpers' shared parts (helper.h): a qemu-nbd child
 * through libnbd, libnbd's errors, sha256.  Never logs: the helper's main
 * prints the one line. */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helper.h"
#include "util.h"

/* qemu-nbd allocates a buffer per request; glibc serves large ones with
 * mmap, and the page faults of filling fresh pages took most of a copy's
 * time.  These tunables (on qemu-nbd only) keep them on the heap. */
#define QEMU_TUNABLES "glibc.malloc.mmap_threshold=33554432:" \
	"glibc.malloc.trim_threshold=268435456"

int
helper_nbd_err(struct err *err, const char *fmt, ...)
{
	char what[160];
	va_list ap;
	int e = nbd_get_errno();

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* The errno says it shortest ("No space left on device"); libnbd's
	 * text only when there is none. */
	if (e > 0)
		return err_set(err, -e, "%s: %s", what, strerror(e));
	return err_set(err, -EIO, "%s: %s", what,
	    nbd_get_error() ? nbd_get_error() : "unknown NBD error");
}

char *
helper_path_find(const char *prog)
{
	const char *p = getenv("PATH");
	_cleanup_free_ char *dirs = xstrdup(p ? p : "/usr/bin:/bin");
	char *save = NULL;

	for (char *d = strtok_r(dirs, ":", &save); d;
	    d = strtok_r(NULL, ":", &save)) {
		char *f = xasprintf("%s/%s", *d ? d : ".", prog);

		if (access(f, X_OK) == 0)
			return f;
		free(f);
	}
	return NULL;
}

/* --image-opts of a qcow2; QEMU reads ",," as a literal comma. */
static char *
image_opts(const char *path, bool compress)
{
	size_t n = strlen(path);
	_cleanup_free_ char *esc = xmalloc(2 * n + 1);
	char *q = esc;

	for (size_t i = 0; i < n; i++) {
		*q++ = path[i];
		if (path[i] == ',')
			*q++ = ',';
	}
	*q = '\0';
	if (compress)
		return xasprintf("driver=compress,file.driver=qcow2,"
		    "file.file.driver=file,file.file.filename=%s", esc);
	return xasprintf("driver=qcow2,file.driver=file,file.filename=%s",
	    esc);
}

/* What qemu-nbd wrote to its stderr (captured in fd), its lines joined
 * with "; ", cut to len. */
static void
child_message(int fd, char *buf, size_t len)
{
	ssize_t k = pread(fd, buf, len - 1, 0);
	size_t n = k > 0 ? (size_t)k : 0;

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	for (char *nl; (nl = strchr(buf, '\n'));) {
		if (strlen(buf) + 2 >= len)
			*nl = '\0';
		else {
			memmove(nl + 2, nl + 1, strlen(nl + 1) + 1);
			nl[0] = ';';
			nl[1] = ' ';
		}
	}
}

/* Start argv with its stderr in a memfd, so that its complaint becomes
 * part of our one line, and with QEMU_TUNABLES. */
static int
child_connect(struct nbd_handle *h, char **argv, const char *path,
    struct err *err)
{
	_cleanup_close_ int mfd = memfd_create("qemu-nbd-err", MFD_CLOEXEC);
	_cleanup_close_ int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	char msg[200];
	bool tunables;
	int r;

	if (mfd == -1 || saved == -1 || dup2(mfd, 2) == -1)
		return err_setf_errno(err, -errno, "cannot capture qemu-nbd's "
		    "errors");
	tunables = !getenv("GLIBC_TUNABLES");	/* the caller's wins */
	if (tunables)
		(void)setenv("GLIBC_TUNABLES", QEMU_TUNABLES, 1);
	r = nbd_connect_systemd_socket_activation(h, argv);
	if (tunables)
		(void)unsetenv("GLIBC_TUNABLES");
	(void)dup2(saved, 2);
	if (r != -1)
		return 0;
	child_message(mfd, msg, sizeof(msg));
	if (!*msg)
		return helper_nbd_err(err, "qemu-nbd cannot open '%s'", path);
	return err_set(err, -EIO, "qemu-nbd cannot open '%s' (%s): check "
	    "that it is a qcow2 image it may open", path, msg);
}

int
helper_qemu_nbd_connect(struct nbd_handle *h, const char *path,
    enum helper_nbd_mode mode, struct err *err)
{
	_cleanup_free_ char *qemu_nbd = helper_path_find("qemu-nbd");
	_cleanup_free_ char *opts = image_opts(path,
	    mode == HELPER_NBD_WRITE_COMPRESS);
	/* cache=unsafe: qcow2 orders its metadata updates with flushes
	 * (qemu-img convert, which does the same, took 40 % longer with
	 * them); the caller makes the file durable with its own fsync once
	 * qemu-nbd has written everything back. */
	char *argv[] = { qemu_nbd, mode == HELPER_NBD_READ ? (char *)"-r" :
		(char *)"--cache=unsafe", (char *)"--image-opts", opts, NULL };

	if (!qemu_nbd)
		return err_set(err, -ENOENT, "qemu-nbd is not on PATH: "
		    "install qemu-utils");
	return child_connect(h, argv, path, err);
}

/* GnuTLS uses the CPU's SHA instructions where it has them: about 1.5
 * GiB/s here, where coreutils' sha256sum reads 200 MiB/s. */
int
helper_sha256_hex(int fd, void *buf, size_t len, char hex[65])
{
	gnutls_hash_hd_t h;
	uint8_t digest[32];
	ssize_t n = fd < 0 ? (ssize_t)len : 0;
	int r = 0;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -EIO;
	do {
		if (fd >= 0 && (n = read(fd, buf, len)) == -1 &&
		    errno == EINTR)
			continue;
		if (n == -1)
			r = -errno;
		else if (n > 0 && gnutls_hash(h, buf, (size_t)n) < 0)
			r = -EIO;
	} while (r == 0 && fd >= 0 && n != 0);
	gnutls_hash_deinit(h, digest);
	if (r == 0)
		hex_encode(digest, sizeof(digest), hex);
	return r;
}

int
helper_fsync_path(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1 || fsync(fd) == -1)
		return -errno;
	return 0;
}
