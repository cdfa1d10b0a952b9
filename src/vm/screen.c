/* screen.c - a VM's screen: a screendump as PNG bytes (QMP screendump into
 * a memfd handed to QEMU as an fdset, so no file of QEMU's user is made in
 * the root-only run dir), and the VNC socket's path and mode.  Never logs;
 * never blocks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "screen.h"
#include "util.h"

/* A screendump in flight.
 *   add-fd --on_added--> screendump --on_dumped--> remove-fd, fn called
 * Any failure calls fn with the error (once) and frees the shot. */
struct shot {
	vm_screenshot_fn fn;
	void *data;
	int memfd;		/* ours, read once QEMU wrote it */
	int64_t fdset;		/* -1 until add-fd answered */
};

int
vm_screen_check(const struct vm *vm, const char *what, struct err *err)
{
	if ((vm->state != VM_RUNNING && vm->state != VM_PAUSED) ||
	    !vm->qmp || !vm->qmp_ready)
		return err_set(err, -EBUSY, "vm '%s' is %s: %s needs it "
		    "running or paused (start it with 'tern vm start %s')",
		    vm->row->name, vm_state_name(vm->state), what,
		    vm->row->name);
	return 0;
}

char *
vm_vnc_path(const struct vm *vm)
{
	return vm_run_path(vm, "vnc.sock");
}

void
vm_vnc_secure(const struct vm *vm)
{
	_cleanup_free_ char *path = vm_vnc_path(vm);

	/* QEMU made it with its umask; only ternd (root) may connect */
	(void)chmod(path, 0600);
}

static void
shot_end(struct shot *s, const struct err *e)
{
	struct err e2 = { 0 };
	struct stat st;
	char *buf = NULL;
	ssize_t n = 0;

	if (!e && fstat(s->memfd, &st) == -1)
		e = &e2, err_setf_errno(&e2, -errno, "cannot read screendump");
	else if (!e && (st.st_size <= 0 || st.st_size > VM_SCREENSHOT_MAX))
		e = &e2, err_set(&e2, -EIO, "QEMU wrote a screendump of %lld "
		    "bytes", (long long)st.st_size);
	if (!e) {
		buf = xmalloc(st.st_size);
		n = pread(s->memfd, buf, st.st_size, 0);
		if (n != st.st_size)
			e = &e2, err_set(&e2, -EIO, "short screendump read");
	}
	s->fn(s->data, e ? NULL : buf, e ? 0 : (size_t)n, e);
	free(buf);
	close(s->memfd);
	free(s);
}

static void
shot_on_dumped(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct shot *s = data;
	struct err e2 = { 0 };

	(void)ret;
	if (!e || e->code != -ECANCELED)	/* QEMU still there */
		(void)qmp_send(q, "remove-fd", json_pack("{sI}", "fdset-id",
		    (json_int_t)s->fdset), 5000, NULL, NULL);
	if (e) {
		err_set(&e2, e->code, "screendump failed: %s",
		    qmp_err_desc(e));
		e = &e2;
	}
	shot_end(s, e);
}

static void
shot_on_added(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct shot *s = data;
	json_t *id = ret ? json_object_get(ret, "fdset-id") : NULL;
	char path[48];
	struct err e2 = { 0 };
	int r;

	if (e || !json_is_integer(id)) {
		err_set(&e2, e ? e->code : -EPROTO, "add-fd failed: %s",
		    e ? qmp_err_desc(e) : "no fdset-id");
		shot_end(s, &e2);
		return;
	}
	s->fdset = json_integer_value(id);
	snprintf(path, sizeof(path), "/dev/fdset/%lld", (long long)s->fdset);
	r = qmp_send(q, "screendump", json_pack("{ss ss}", "filename", path,
	    "format", "png"), VM_SCREENSHOT_TIMEOUT_MS, shot_on_dumped, s);
	if (r < 0) {
		err_setf_errno(&e2, r, "cannot send screendump");
		shot_end(s, &e2);
	}
}

/* A write-only fd of memfd: QEMU's fdset hands out only fds whose access
 * mode is the one asked (screendump opens O_WRONLY). */
static int
shot_wfd(int memfd)
{
	char path[40];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return open(path, O_WRONLY | O_CLOEXEC);
}

int
vm_screenshot(struct vm *vm, vm_screenshot_fn fn, void *data,
    struct err *err)
{
	struct shot *s;
	_cleanup_close_ int wfd = -1;
	int r = vm_screen_check(vm, "a screenshot", err);

	if (r < 0)
		return r;
	s = xzalloc(sizeof(*s));
	*s = (struct shot){ .fn = fn, .data = data, .fdset = -1 };
	s->memfd = memfd_create("tern-screendump", MFD_CLOEXEC);
	if (s->memfd == -1 || (wfd = shot_wfd(s->memfd)) == -1) {
		r = err_setf_errno(err, -errno, "cannot make a screendump "
		    "file");
		goto fail;
	}
	r = qmp_send_fd(vm->qmp, "add-fd", json_object(), wfd, 10000,
	    shot_on_added, s);
	if (r < 0) {
		err_setf_errno(err, r, "cannot send add-fd");
		goto fail;
	}
	return 0;
fail:
	if (s->memfd >= 0)
		close(s->memfd);
	free(s);
	return r;
}
