/* io_pause.c - a VM whose storage fails is paused, not failed, and goes
 * on once the storage answers again (Hyper-V's storage path failure
 * handling).  Every disk's device has werror=stop,rerror=stop
 * (qemu.c): on an I/O error QEMU pauses the VM and keeps the failed
 * request, emitting BLOCK_IO_ERROR then STOP; `cont` retries it.
 *
 *   running --BLOCK_IO_ERROR (a disk's write or read failed)--> paused
 *       on I/O error: an event names the disk and the error
 *   paused on I/O error --every IO_PROBE_MS (doubling to IO_PROBE_MAX_MS)
 *       the disk's storage probed: a full file system has room again
 *       (IO_ROOM_MIB free), any other error: the file reads again-->
 *       `cont` --RESUME--> running, an event says so
 *   the storage still failing --> QEMU pauses again: the probe goes on
 *   a job on the VM: no `cont` while it runs (the job decides)
 *   resumed otherwise (an operator, a job), or QEMU gone --> the probe
 *       ends
 *
 * Nothing is lost: the guest's write was never acknowledged, and QEMU
 * retries it on `cont`. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "host.h"
#include "log.h"
#include "loop.h"
#include "qmp.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"

#define IO_PROBE_MS 2000
#define IO_PROBE_MAX_MS 30000
#define IO_ROOM_MIB 64		/* free space that ends a full-disk pause */

_Static_assert(sizeof(((struct vm *)0)->io_node) >= VM_NODE_NAME_MAX,
    "io_node holds a node name");

static const struct disk_row *
disk_of_node(const struct vm *vm, const char *node)
{
	char fmt[VM_NODE_NAME_MAX], file[VM_NODE_NAME_MAX];

	for (size_t i = 0; node && i < vm->row->n_disks; i++) {
		vm_node_name(fmt, vm->row->disks[i].name, "fmt", 0);
		vm_node_name(file, vm->row->disks[i].name, "file", 0);
		if (streq(node, fmt) || streq(node, file))
			return &vm->row->disks[i];
	}
	return NULL;
}

/* Does the storage of the paused disk answer again? */
static bool
storage_back(const struct vm *vm)
{
	const struct disk_row *d = disk_of_node(vm, vm->io_node);
	char buf[4096];
	struct statvfs sv;
	bool ok;
	int fd;

	if (!d)
		return true;	/* not known: let QEMU try */
	if ((fd = open(d->path, O_RDWR | O_CLOEXEC)) < 0)
		return false;
	ok = pread(fd, buf, sizeof(buf), 0) >= 0;
	if (ok && vm->io_nospace)
		ok = fstatvfs(fd, &sv) == 0 && (uint64_t)sv.f_bavail *
		    sv.f_frsize >= (uint64_t)IO_ROOM_MIB << 20;
	close(fd);
	return ok;
}

static void io_probe(struct loop *l, void *data);

static void
io_arm(struct vm *vm)
{
	vm->io_timer = loop_timer_cancel(vm->h->loop, vm->io_timer);
	vm->io_timer = loop_timer_add(vm->h->loop, vm->io_backoff_ms, io_probe,
	    vm);
	vm->io_backoff_ms = vm->io_backoff_ms * 2 > IO_PROBE_MAX_MS ?
	    IO_PROBE_MAX_MS : vm->io_backoff_ms * 2;
}

static void
on_cont(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct vm *vm = data;

	(void)q;
	(void)ret;
	if (e) {
		log_warn("vm=%s cont after an I/O error pause failed: %s",
		    vm->row->name, e->msg);
		io_arm(vm);
		return;
	}
	host_event(vm->h, "info", vm, 0, "vm '%s' resumed: the storage of "
	    "its disk %s answers again (its paused I/O is retried)",
	    vm->row->name, vm->io_disk);
}

static void
io_probe(struct loop *l, void *data)
{
	struct vm *vm = data;

	(void)l;
	vm->io_timer = NULL;
	if (!vm->io_paused || !vm->qmp || vm->pid <= 0)
		return;
	if (vm->vcpus_running) {
		vm->io_paused = false;	/* resumed: by an operator, a job */
		return;
	}
	if (vm_job(vm)) {	/* the job decides meanwhile */
		io_arm(vm);
		return;
	}
	if (!storage_back(vm) || qmp_send(vm->qmp, "cont", NULL, 10000,
	    on_cont, vm) < 0) {
		io_arm(vm);
		return;
	}
	vm->io_backoff_ms = IO_PROBE_MS;
}

void
vm_io_error(struct vm *vm, const json_t *data)
{
	const char *node = json_string_value(json_object_get(data,
	    "node-name"));
	const char *reason = json_string_value(json_object_get(data,
	    "reason"));
	const struct disk_row *d;
	bool again = vm->io_paused;

	if (!streq(json_string_value(json_object_get(data, "action")),
	    "stop"))
		return;
	snprintf(vm->io_node, sizeof(vm->io_node), "%s", node ? node : "");
	d = disk_of_node(vm, node);
	snprintf(vm->io_disk, sizeof(vm->io_disk), "%s", d ? d->name : "?");
	vm->io_nospace = json_is_true(json_object_get(data, "nospace"));
	vm->io_paused = true;
	if (!again) {
		vm->io_backoff_ms = IO_PROBE_MS;
		host_event(vm->h, "warning", vm, 0, "vm '%s' paused: %s of its "
		    "disk %s failed (%s); it goes on by itself once its "
		    "storage answers again", vm->row->name, json_string_value(
		    json_object_get(data, "operation")) ?: "I/O", vm->io_disk,
		    reason ? reason : "I/O error");
	}
	if (!vm->io_timer)
		io_arm(vm);
}

void
vm_io_forget(struct vm *vm)
{
	vm->io_paused = false;
	vm->io_timer = loop_timer_cancel(vm->h->loop, vm->io_timer);
}
