/* media.h - the medium in a VM's CD drive (cd0): `tern vm media insert`
 * and `eject`.  A VM without QEMU has its row changed (the next launch
 * opens the new ISO); a running or paused one asks QEMU first
 * (blockdev-change-medium, eject; forced: a guest's tray lock does not
 * hold the operator back) and records the change once QEMU did it. */
#pragma once

#include "err.h"

struct vm;

/* Called once when a pending change ended: e NULL on success. */
typedef void (*vm_media_fn)(struct vm *vm, const struct err *e,
    void *data);

/* Put iso (NULL: eject) in vm's CD drive.  0: done now (no QEMU, or
 * nothing to change); 1: QEMU was asked, fn(data) will tell (the VM may
 * be gone by then: fn gets vm NULL); <0: refused with err (-EINVAL: no
 * CD drive, -EBUSY: a job holds the VM or it is starting or stopping,
 * -ENOENT/-EPERM: the ISO, as vm_spec_check_iso). */
int vm_media_change(struct vm *vm, const char *iso, vm_media_fn fn,
    void *data, struct err *err);
