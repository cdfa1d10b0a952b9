/* media.c - changing the medium of a VM's CD drive (see media.h).
 *
 *   vm_media_change --no QEMU--> row and store changed, 0
 *                   --QEMU--> blockdev-change-medium | eject (forced)
 *                   --media_on_reply--> row and store changed, fn(vm)
 *
 * Never logs; the change is an event of the VM. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "job.h"
#include "media.h"
#include "qmp.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"
#include "vm_spec.h"

#define MEDIA_TIMEOUT_MS 10000

struct media_call {
	struct host *h;
	char uuid[37];
	char *iso;		/* NULL: ejected */
	vm_media_fn fn;
	void *data;
};

static void
media_record(struct vm *vm, const char *iso)
{
	free(vm->row->cdrom);
	vm->row->cdrom = iso ? xstrdup(iso) : NULL;
	(void)store_vm_set_text(vm->h->store, vm->row->uuid, "cdrom", iso);
	host_event(vm->h, "info", vm, 0, iso ? "medium '%s' inserted" :
	    "medium ejected%s", iso ? iso : "");
}

static void
media_on_reply(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct media_call *c = data;
	struct vm *vm = vm_find(c->h, c->uuid);
	struct err err = { 0 };

	(void)q;
	if (!ret)
		err_set(&err, e->code ? e->code : -EIO, "QEMU refused the "
		    "change: %s", e->msg);
	else if (vm)
		media_record(vm, c->iso);
	c->fn(vm, ret ? NULL : &err, c->data);
	free(c->iso);
	free(c);
}

static int
media_allowed(struct vm *vm, const char *iso, struct err *err)
{
	char subject[64];
	int r;

	if (!vm->row->has_cdrom)
		return err_set(err, -EINVAL, "vm '%s' has no CD drive (create "
		    "it with --cdrom ISO or --cdrom none)", vm->row->name);
	vm_subject(vm, subject, sizeof(subject));
	if (job_find_by_subject(&vm->h->jobs, subject, false))
		return err_set(err, -EBUSY, "vm '%s' is busy with a job; try "
		    "again when it ended (tern job list)", vm->row->name);
	if (!vm_is_down(vm) && vm->state != VM_RUNNING &&
	    vm->state != VM_PAUSED)
		return err_set(err, -EBUSY, "vm '%s' is %s", vm->row->name,
		    vm_state_name(vm->state));
	if (iso && (r = vm_spec_check_iso(vm->h, iso, err)) < 0)
		return r;
	return 0;
}

int
vm_media_change(struct vm *vm, const char *iso, vm_media_fn fn,
    void *data, struct err *err)
{
	struct media_call *c;
	json_t *args;
	int r;

	if ((r = media_allowed(vm, iso, err)) < 0)
		return r;
	if (!iso && !vm->row->cdrom)
		return 0;	/* empty already */
	if (vm_is_down(vm)) {
		media_record(vm, iso);
		return 0;
	}
	if (!vm->qmp || !vm->qmp_ready)
		return err_set(err, -EAGAIN, "vm '%s' has no QMP connection "
		    "yet; try again", vm->row->name);
	c = xzalloc(sizeof(*c));
	c->h = vm->h;
	memcpy(c->uuid, vm->row->uuid, sizeof(c->uuid));
	c->iso = iso ? xstrdup(iso) : NULL;
	c->fn = fn;
	c->data = data;
	args = iso ? json_pack("{ss ss ss ss sb}", "id", "cd0", "filename",
	    iso, "format", "raw", "read-only-mode", "read-only", "force",
	    1) : json_pack("{ss sb}", "id", "cd0", "force", 1);
	r = qmp_send(vm->qmp, iso ? "blockdev-change-medium" : "eject", args,
	    MEDIA_TIMEOUT_MS, media_on_reply, c);
	if (r < 0) {
		free(c->iso);
		free(c);
		return err_setf_errno(err, r, "cannot ask QEMU");
	}
	return 1;
}
