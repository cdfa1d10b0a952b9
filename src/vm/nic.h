/* nic.h - a VM's NICs changed after create: `tern vm nic add|remove|set`.
 * A VM that is off has its row changed (the next launch opens what it
 * says).  A running (or paused) one changes first and is recorded only
 * once the change is done: add plugs a virtio-net-pci into a free PCIe
 * root port of the VM (row->hotplug_ports, made at create), remove
 * unplugs it with the guest's consent, set moves the tap to another
 * switch or VLANs (QEMU sees nothing).  Never logs; each change is an
 * event of the VM. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "err.h"
#include "net.h"
#include "store.h"

struct vm;

/* Called once when a pending change ended: e NULL on success; vm NULL
 * when the VM went away meanwhile. */
typedef void (*vm_nic_fn)(struct vm *vm, const struct err *e, void *data);

/* How long a guest has to release a NIC being removed: under the CLI's
 * 30 s.  A variable only so that a unit test can wait less (rule zero:
 * nothing else writes it). */
#define VM_NIC_UNPLUG_TIMEOUT_MS 20000
extern uint64_t vm_nic_unplug_timeout_ms;

/* Add the NIC of spec {"switch", "vlan"?, "trunks"?, "mac"?} (desc.c's
 * NIC fields, checked the same way).  0: done now (the VM is off);
 * 1: QEMU was asked, fn(data) tells; <0 refused with err, nothing
 * changed (-EINVAL bad input, -ENOENT no such switch, -EBUSY no NIC slot
 * or free hot-plug port, -EEXIST MAC in use, -EOPNOTSUPP VLANs the switch
 * cannot carry, -EBUSY a job or another NIC change holds the VM). */
int vm_nic_add(struct vm *vm, const json_t *spec, vm_nic_fn fn, void *data,
    struct err *err);

/* Remove the NIC named nic ("nic2", "2" or its MAC).  As vm_nic_add;
 * a running VM's NIC given at create (on the root bus) is refused
 * (-EBUSY: stop the VM first); -ETIMEDOUT through fn when the guest did
 * not release it in vm_nic_unplug_timeout_ms (nothing changed). */
int vm_nic_remove(struct vm *vm, const char *nic, vm_nic_fn fn, void *data,
    struct err *err);

/* Change the NIC's switch (sw, NULL: same), access VLAN (vlan: -1 same,
 * 0 none) and trunks (NULL same, "" none).  Synchronous: 0 or <0 with
 * err, nothing changed. */
int vm_nic_set(struct vm *vm, const char *nic, const char *sw, long vlan,
    const char *trunks, struct err *err);

/* vm.c, QMP connected: bring the row and QEMU's hot-plugged NICs in line
 * (a change a ternd restart cut short): a NIC QEMU no longer has is
 * dropped, one the row lacks is unplugged; events say so.  Nothing for
 * a VM without hot-plug ports. */
void vm_nic_reconcile(struct vm *vm);

/* vm.c: QEMU said DEVICE_DELETED (data its event data). */
void vm_nic_on_deleted(struct vm *vm, const json_t *data);

/* vm.c: n's switch's bridge made ready (made if missing, isolated if its
 * switch is) into br, and n's VLANs into v: what opening or moving its
 * tap needs.  0 or -errno with err. */
int vm_nic_bridge(struct vm *vm, const struct nic_row *n, char br[16],
    struct net_vlans *v, struct err *err);
/* vm.c: open nic n's tap on its switch and VLANs, tagged with its MAC;
 * the fd (CLOEXEC) or -errno with err. */
int vm_nic_open_tap(struct vm *vm, const struct nic_row *n,
    struct err *err);
