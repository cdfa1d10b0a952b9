/* nic.c - a VM's NICs added, removed and changed after create (nic.h).
 *
 * Add, running (one QEMU batch, in order; each reply noted):
 *   vm_nic_add --tap opened--> getfd hpfdK, netdev_add hpnetK,
 *     device_add hpnicK on bus hpK --add_on_reply (last)--> all taken:
 *     row and store (nic_commit), fn(vm) | one refused: undone
 *     (netdev_del if it was added, else closefd if getfd was), fn(err)
 * Remove, running (a hot-plugged NIC only):
 *   vm_nic_remove --device_del hpnicK--> rm_on_reply --wait-->
 *     DEVICE_DELETED (vm_nic_on_deleted) --netdev_del--> row and store, fn
 *     | VM_NIC_UNPLUG_TIMEOUT_MS (rm_on_timeout): fn(-ETIMEDOUT), the row
 *     unchanged; a late DEVICE_DELETED still drops the NIC (the guest let
 *     it go, so the row follows QEMU)
 * Off: the row only.  set: the tap moved (net_tap_move), then the row.
 * One change at a time per VM (vm->nic_op); never logs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "desc.h"
#include "host.h"
#include "job.h"
#include "loop.h"
#include "net.h"
#include "nic.h"
#include "qmp.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"

#define NIC_QMP_TIMEOUT_MS 10000

uint64_t vm_nic_unplug_timeout_ms = VM_NIC_UNPLUG_TIMEOUT_MS;

struct nic_op {
	struct host *h;
	char uuid[37];
	struct nic_row nic;	/* add: the new NIC; remove: the one going */
	unsigned sent, answered;
	bool ok[3];		/* add: getfd, netdev_add, device_add */
	struct err first;	/* add: QEMU's first refusal */
	struct loop_timer *timer;	/* remove: DEVICE_DELETED deadline */
	vm_nic_fn fn;
	void *data;
};

static void
nic_op_free(struct vm *vm, struct nic_op *op)
{
	if (vm && vm->nic_op == op)
		vm->nic_op = NULL;
	if (op->timer)
		(void)loop_timer_cancel(op->h->loop, op->timer);
	free(op->nic.switch_name);
	free(op);
}

/* Index of the NIC named "nicN", "N" or by its MAC; -1 none. */
static long
nic_find(const struct vm_row *r, const char *name)
{
	char *end;
	long i = -1;

	if (!name || !*name)
		return -1;
	for (size_t k = 0; k < r->n_nics; k++)
		if (strcasecmp(r->nics[k].mac, name) == 0)
			return (long)k;
	if (strncmp(name, "nic", 3) == 0)
		name += 3;
	errno = 0;
	i = strtol(name, &end, 10);
	if (!*name || *end || errno || i < 0 || (size_t)i >= r->n_nics)
		return -1;
	return i;
}

static int
nic_find_err(const struct vm *vm, const char *name, long *ret_i,
    struct err *err)
{
	long i = nic_find(vm->row, name);

	if (i < 0)
		return err_set(err, -ENOENT, "vm '%s' has no nic '%.40s': "
		    "name one as nicN, N or its MAC (see 'tern vm show %s')",
		    vm->row->name, name ? name : "", vm->row->name);
	*ret_i = i;
	return 0;
}

/* Replace the row's NICs with nics[0..n) (copies the switch names) in
 * the store, then in memory. */
static int
nic_commit(struct vm *vm, const struct nic_row *nics, size_t n,
    struct err *err)
{
	struct vm_row *r = vm->row;
	struct nic_row *copy = xzalloc((n + 1) * sizeof(*copy));
	int rc = store_vm_set_nics(vm->h->store, r->uuid, nics, n);

	if (rc < 0) {
		free(copy);
		return err_setf_errno(err, rc, rc == -EEXIST ? "a MAC of "
		    "these NICs is another vm's" : "cannot record the NICs");
	}
	for (size_t i = 0; i < n; i++) {
		copy[i] = nics[i];
		copy[i].switch_name = xstrdup(nics[i].switch_name);
	}
	for (size_t i = 0; i < r->n_nics; i++)
		free(r->nics[i].switch_name);
	free(r->nics);
	r->nics = copy;
	r->n_nics = n;
	return 0;
}

/* The VM's NICs with n appended (borrowed), committed. */
static int
nic_commit_added(struct vm *vm, const struct nic_row *n, struct err *err)
{
	const struct vm_row *r = vm->row;
	_cleanup_free_ struct nic_row *all = xzalloc((r->n_nics + 1) *
	    sizeof(*all));

	memcpy(all, r->nics, r->n_nics * sizeof(*all));
	all[r->n_nics] = *n;
	return nic_commit(vm, all, r->n_nics + 1, err);
}

/* The VM's NICs without NIC i, committed. */
static int
nic_commit_removed(struct vm *vm, size_t i, struct err *err)
{
	const struct vm_row *r = vm->row;
	_cleanup_free_ struct nic_row *all = xzalloc((r->n_nics + 1) *
	    sizeof(*all));
	size_t n = 0;

	for (size_t k = 0; k < r->n_nics; k++)
		if (k != i)
			all[n++] = r->nics[k];
	return nic_commit(vm, all, n, err);
}

/* The VM may change its NICs now: no job, no other change, and off,
 * running or paused. */
static int
nic_allowed(struct vm *vm, struct err *err)
{
	char subject[64];

	vm_subject(vm, subject, sizeof(subject));
	if (vm->state == VM_REPLICA)
		return err_set(err, -EBUSY, "vm '%s' is a replica; change the "
		    "NICs of its primary", vm->row->name);
	if (job_find_by_subject(&vm->h->jobs, subject, false))
		return err_set(err, -EBUSY, "vm '%s' is busy with a job; try "
		    "again when it ended (tern job list)", vm->row->name);
	if (vm->nic_op)
		return err_set(err, -EBUSY, "vm '%s' is changing a NIC; try "
		    "again when that ended", vm->row->name);
	if (!vm_is_down(vm) && vm->state != VM_RUNNING &&
	    vm->state != VM_PAUSED)
		return err_set(err, -EBUSY, "vm '%s' is %s; try again when it "
		    "is running or off", vm->row->name,
		    vm_state_name(vm->state));
	if (!vm_is_down(vm) && (!vm->qmp || !vm->qmp_ready))
		return err_set(err, -EAGAIN, "vm '%s' has no QMP connection "
		    "yet; try again", vm->row->name);
	return 0;
}

/* Switch, VLANs and MAC of n fit this host and no other NIC. */
static int
nic_check_new(struct vm *vm, const struct nic_row *n, struct err *err)
{
	struct host *h = vm->h;

	if (!host_switch_exists(h, n->switch_name))
		return err_set(err, -ENOENT, "switch '%.64s' not found (see "
		    "'tern switch list')", n->switch_name);
	for (size_t v = 0; v < h->n_vms; v++)
		for (size_t i = 0; i < h->vms[v]->row->n_nics; i++)
			if (streq(h->vms[v]->row->nics[i].mac, n->mac))
				return err_set(err, -EEXIST, "mac %s is in use "
				    "by vm '%s'; give another or none",
				    n->mac, h->vms[v]->row->name);
	return host_switch_carries(h, n, vm->row->n_nics, err);
}

/* The lowest of the VM's hot-plug ports no NIC is on (K+1); 0 none. */
static unsigned
nic_free_port(const struct vm_row *r)
{
	for (unsigned p = 1; p <= r->hotplug_ports; p++) {
		bool used = false;

		for (size_t i = 0; i < r->n_nics; i++)
			used |= r->nics[i].port == p;
		if (!used)
			return p;
	}
	return 0;
}

static void
nic_done(struct nic_op *op, struct vm *vm, const struct err *e)
{
	vm_nic_fn fn = op->fn;
	void *data = op->data;

	nic_op_free(vm, op);
	fn(vm, e, data);
}

static void
add_undo_reply(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	(void)q;
	(void)ret;
	(void)e;
	(void)data;
}

/* Every reply of the add's batch is in: keep it, or undo what QEMU did. */
static void
add_finish(struct nic_op *op)
{
	struct vm *vm = vm_find(op->h, op->uuid);
	unsigned k = op->nic.port - 1;
	struct err err = { 0 };
	char id[24];

	if (!vm || !vm->qmp)
		err_set(&err, -ENODEV, "the vm's QEMU went away");
	else if (op->ok[0] && op->ok[1] && op->ok[2]) {
		if (nic_commit_added(vm, &op->nic, &err) == 0)
			host_event(op->h, "info", vm, 0, "nic %s added on "
			    "switch '%s'", op->nic.mac, op->nic.switch_name);
		nic_done(op, vm, err.code ? &err : NULL);
		return;
	} else if (op->first.code) {
		err = op->first;
	} else {
		err_set(&err, -EIO, "cannot ask QEMU for the whole NIC");
	}
	if (vm && vm->qmp && op->ok[1]) {
		snprintf(id, sizeof(id), "hpnet%u", k);
		(void)qmp_send(vm->qmp, "netdev_del", json_pack("{ss}", "id",
		    id), NIC_QMP_TIMEOUT_MS, add_undo_reply, NULL);
	} else if (vm && vm->qmp && op->ok[0]) {
		snprintf(id, sizeof(id), "hpfd%u", k);
		(void)qmp_send(vm->qmp, "closefd", json_pack("{ss}", "fdname",
		    id), NIC_QMP_TIMEOUT_MS, add_undo_reply, NULL);
	}
	nic_done(op, vm, &err);
}

static void
add_on_reply(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct nic_op *op = data;
	unsigned step = op->answered++;

	(void)q;
	op->ok[step] = ret != NULL;
	if (!ret && !op->first.code)
		err_set(&op->first, e && e->code ? e->code : -EIO, "QEMU "
		    "refused the NIC: %s", e ? e->msg : "no answer");
	if (op->answered == op->sent)
		add_finish(op);
}

/* getfd, netdev_add, device_add for op's NIC on port K; tap is ours. */
static int
add_send(struct vm *vm, struct nic_op *op, int tap)
{
	unsigned k = op->nic.port - 1;
	char fd[16], net[16], dev[16], bus[16];
	int r;

	snprintf(fd, sizeof(fd), "hpfd%u", k);
	snprintf(net, sizeof(net), "hpnet%u", k);
	snprintf(dev, sizeof(dev), "hpnic%u", k);
	snprintf(bus, sizeof(bus), "hp%u", k);
	r = qmp_send_fd(vm->qmp, "getfd", json_pack("{ss}", "fdname", fd),
	    tap, NIC_QMP_TIMEOUT_MS, add_on_reply, op);
	if (r < 0)
		return r;
	op->sent++;
	/* vhost off, as at launch (qemu.c): the same netdev on a move */
	if (qmp_send(vm->qmp, "netdev_add", json_pack("{ss ss ss sb}", "type",
	    "tap", "id", net, "fd", fd, "vhost", 0), NIC_QMP_TIMEOUT_MS,
	    add_on_reply, op) < 0)
		return 0;	/* the replies so far finish it */
	op->sent++;
	if (qmp_send(vm->qmp, "device_add", json_pack("{ss ss ss ss ss}",
	    "driver", "virtio-net-pci", "id", dev, "netdev", net, "mac",
	    op->nic.mac, "bus", bus), NIC_QMP_TIMEOUT_MS, add_on_reply,
	    op) == 0)
		op->sent++;
	return 0;
}

static int
add_running(struct vm *vm, struct nic_op *op, struct err *err)
{
	_cleanup_close_ int tap = -1;
	int r;

	if (!op->nic.port)
		return err_set(err, -EBUSY, "vm '%s' has no free hot-plug "
		    "port (it has %u%s); stop it and add the NIC then, or "
		    "remove a hot-plugged NIC first", vm->row->name,
		    vm->row->hotplug_ports, vm->row->hotplug_ports ? "" :
		    ": it was made before NIC hot-plug or not on q35");
	tap = vm_nic_open_tap(vm, &op->nic, err);
	if (tap < 0)
		return tap;
	if ((r = add_send(vm, op, tap)) < 0)
		return err_setf_errno(err, r, "cannot ask QEMU");
	vm->nic_op = op;
	return 1;
}

int
vm_nic_add(struct vm *vm, const json_t *spec, vm_nic_fn fn, void *data,
    struct err *err)
{
	struct nic_op *op;
	struct err e = { 0 };
	int r;

	if ((r = nic_allowed(vm, err)) < 0)
		return r;
	if (!json_is_object(spec) || json_object_get(spec, "port"))
		return err_set(err, -EINVAL, "a NIC is {\"switch\", \"vlan\", "
		    "\"trunks\", \"mac\"}; tern picks its port");
	op = xzalloc(sizeof(*op));
	op->h = vm->h;
	memcpy(op->uuid, vm->row->uuid, sizeof(op->uuid));
	op->fn = fn;
	op->data = data;
	if ((r = vm_desc_parse_nic(spec, &op->nic, &e)) < 0)
		r = err_set(err, r, "--net: %s", e.msg);
	else if (vm->row->n_nics >= VM_MAX_NICS)
		r = err_set(err, -EBUSY, "vm '%s' has %d NICs, the most it "
		    "may have; remove one first", vm->row->name, VM_MAX_NICS);
	else if ((r = nic_check_new(vm, &op->nic, err)) == 0) {
		/* on a free port if there is one, so that it can also be
		 * removed while running; else (off) on the root bus */
		op->nic.port = nic_free_port(vm->row);
		r = vm_is_down(vm) ? nic_commit_added(vm, &op->nic, err) :
		    add_running(vm, op, err);
	}
	if (r == 0)
		host_event(vm->h, "info", vm, 0, "nic %s added on switch '%s'",
		    op->nic.mac, op->nic.switch_name);
	if (r <= 0)
		nic_op_free(vm, op);
	return r;
}

/* ---- remove ---- */

/* The NIC's netdev is gone with the device: drop the row. */
static void
rm_finish(struct vm *vm, const char *mac, struct err *err)
{
	long i = nic_find(vm->row, mac);
	char id[24];

	if (i < 0)
		return;
	snprintf(id, sizeof(id), "hpnet%u", vm->row->nics[i].port - 1);
	if (vm->qmp)
		(void)qmp_send(vm->qmp, "netdev_del", json_pack("{ss}", "id",
		    id), NIC_QMP_TIMEOUT_MS, add_undo_reply, NULL);
	if (nic_commit_removed(vm, (size_t)i, err) == 0)
		host_event(vm->h, "info", vm, 0, "nic %s removed", mac);
}

void
vm_nic_on_deleted(struct vm *vm, const json_t *data)
{
	const char *dev = json_string_value(json_object_get(data, "device"));
	struct nic_op *op = vm->nic_op;
	struct err err = { 0 };
	char mac[18] = "";
	unsigned k;

	if (!dev || sscanf(dev, "hpnic%u", &k) != 1)
		return;
	for (size_t i = 0; i < vm->row->n_nics; i++)
		if (vm->row->nics[i].port == k + 1)
			memcpy(mac, vm->row->nics[i].mac, sizeof(mac));
	if (mac[0]) {
		rm_finish(vm, mac, &err);
	} else if (vm->qmp) {	/* one the row never had (reconcile) */
		char net[16];

		snprintf(net, sizeof(net), "hpnet%u", k);
		(void)qmp_send(vm->qmp, "netdev_del", json_pack("{ss}", "id",
		    net), NIC_QMP_TIMEOUT_MS, add_undo_reply, NULL);
	}
	if (op && op->timer && op->nic.port == k + 1)
		nic_done(op, vm, err.code ? &err : NULL);
}

static void
rm_on_timeout(struct loop *l, void *data)
{
	struct nic_op *op = data;
	struct err err = { 0 };

	(void)l;
	op->timer = NULL;
	err_set(&err, -ETIMEDOUT, "the guest did not release nic %s within "
	    "%.1f s (its OS must support PCIe hot-plug and be running); the "
	    "NIC stays; try again, or stop the vm and remove it then",
	    op->nic.mac, (double)vm_nic_unplug_timeout_ms / 1000);
	nic_done(op, vm_find(op->h, op->uuid), &err);
}

static void
rm_on_reply(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct nic_op *op = data;
	struct vm *vm = vm_find(op->h, op->uuid);
	struct err err = { 0 };

	(void)q;
	if (ret && vm && nic_find(vm->row, op->nic.mac) < 0) {
		nic_done(op, vm, NULL);	/* DEVICE_DELETED came first */
		return;
	}
	if (ret && vm && vm->nic_op == op) {
		op->timer = loop_timer_add(op->h->loop,
		    vm_nic_unplug_timeout_ms, rm_on_timeout, op);
		return;
	}
	err_set(&err, e && e->code ? e->code : -ENODEV, "QEMU refused to "
	    "unplug the NIC: %s", e ? e->msg : "the vm went away");
	nic_done(op, vm, &err);
}

int
vm_nic_remove(struct vm *vm, const char *nic, vm_nic_fn fn, void *data,
    struct err *err)
{
	struct nic_op *op;
	char dev[16];
	long i = -1;
	int r;

	if ((r = nic_allowed(vm, err)) < 0 ||
	    (r = nic_find_err(vm, nic, &i, err)) < 0)
		return r;
	if (vm_is_down(vm)) {
		char mac[18];

		memcpy(mac, vm->row->nics[i].mac, sizeof(mac));
		if ((r = nic_commit_removed(vm, (size_t)i, err)) == 0)
			host_event(vm->h, "info", vm, 0, "nic %s removed", mac);
		return r;
	}
	if (!vm->row->nics[i].port)
		return err_set(err, -EBUSY, "nic%ld of vm '%s' was given at "
		    "create and sits on the root bus, which cannot unplug it; "
		    "stop the vm and remove it then", i, vm->row->name);
	op = xzalloc(sizeof(*op));
	op->h = vm->h;
	memcpy(op->uuid, vm->row->uuid, sizeof(op->uuid));
	op->nic = vm->row->nics[i];
	op->nic.switch_name = xstrdup(op->nic.switch_name);
	op->fn = fn;
	op->data = data;
	snprintf(dev, sizeof(dev), "hpnic%u", op->nic.port - 1);
	r = qmp_send(vm->qmp, "device_del", json_pack("{ss}", "id", dev),
	    NIC_QMP_TIMEOUT_MS, rm_on_reply, op);
	if (r < 0) {
		nic_op_free(vm, op);
		return err_setf_errno(err, r, "cannot ask QEMU");
	}
	vm->nic_op = op;
	return 1;
}

/* ---- QEMU and the row after a ternd restart ---- */

static bool
peripheral_has(const json_t *list, unsigned port)
{
	char id[16];
	size_t i;
	json_t *o;

	snprintf(id, sizeof(id), "hpnic%u", port - 1);
	json_array_foreach(list, i, o)
		if (streq(json_string_value(json_object_get(o, "name")) ?: "",
		    id))
			return true;
	return false;
}

static bool
row_has_port(const struct vm_row *r, unsigned port)
{
	for (size_t i = 0; i < r->n_nics; i++)
		if (r->nics[i].port == port)
			return true;
	return false;
}

/* qom-list /machine/peripheral answered: a NIC of the row QEMU no longer
 * has was unplugged while ternd was away (dropped, as its DEVICE_DELETED
 * would have); a hot-plug NIC QEMU has and the row does not is an add a
 * restart cut short before it was recorded (unplugged). */
static void
reconcile_on_list(struct qmp *q, json_t *ret, const struct err *e,
    void *data)
{
	struct vm *vm = data;
	struct err err = { 0 };
	char id[16], mac[18];

	(void)q;
	(void)e;
	if (!json_is_array(ret) || vm->nic_op)
		return;
	for (size_t i = vm->row->n_nics; i-- > 0;) {
		if (!vm->row->nics[i].port ||
		    peripheral_has(ret, vm->row->nics[i].port))
			continue;
		memcpy(mac, vm->row->nics[i].mac, sizeof(mac));
		host_event(vm->h, "warning", vm, 0, "nic %s was unplugged "
		    "while ternd was away; dropping it", mac);
		rm_finish(vm, mac, &err);
	}
	for (unsigned p = 1; p <= vm->row->hotplug_ports; p++) {
		if (!peripheral_has(ret, p) || row_has_port(vm->row, p))
			continue;
		snprintf(id, sizeof(id), "hpnic%u", p - 1);
		host_event(vm->h, "warning", vm, 0, "QEMU has NIC %s, which an "
		    "add cut short by a restart left unrecorded; unplugging it",
		    id);
		(void)qmp_send(vm->qmp, "device_del", json_pack("{ss}", "id",
		    id), NIC_QMP_TIMEOUT_MS, add_undo_reply, NULL);
	}
}

void
vm_nic_reconcile(struct vm *vm)
{
	if (!vm->row->hotplug_ports || !vm->qmp)
		return;
	(void)qmp_send(vm->qmp, "qom-list", json_pack("{ss}", "path",
	    "/machine/peripheral"), NIC_QMP_TIMEOUT_MS, reconcile_on_list, vm);
}

/* ---- set ---- */

/* n with the request's changes: switch, vlan, trunks. */
static int
set_apply(struct vm *vm, struct nic_row *n, const char *sw, long vlan,
    const char *trunks, struct err *err)
{
	struct net_vlans v = { 0 };
	struct err e = { 0 };
	int r;

	if (sw && !host_switch_exists(vm->h, sw))
		return err_set(err, -ENOENT, "switch '%.64s' not found (see "
		    "'tern switch list')", sw);
	if (vlan >= 0 && net_vlan_check(vlan, &e) < 0)
		return err_set(err, -EINVAL, "--vlan: %s", e.msg);
	v.vlan = (uint16_t)(vlan >= 0 ? vlan : (long)n->vlan);
	if ((r = net_trunks_parse(trunks ? trunks : n->trunks, &v, &e)) < 0)
		return err_set(err, r, "--trunk: %s", e.msg);
	n->vlan = v.vlan;
	net_trunks_format(&v, n->trunks, sizeof(n->trunks));
	/* borrowed: the commit copies it */
	if (sw)
		n->switch_name = (char *)sw;
	return 0;
}

/* The running VM's tap of n moved onto n's switch and VLANs. */
static int
set_tap(struct vm *vm, const struct nic_row *n, struct err *err)
{
	struct net_vlans v;
	char br[16], tap[16];
	int r;

	if ((r = net_tap_find(n->mac, tap)) < 0)
		return err_set(err, -EBUSY, "cannot find the tap of nic %s: "
		    "the vm was started by an older ternd; stop and start it, "
		    "or change the NIC while it is off", n->mac);
	if ((r = vm_nic_bridge(vm, n, br, &v, err)) < 0)
		return r;
	return net_tap_move(tap, br, &v, err);
}

int
vm_nic_set(struct vm *vm, const char *nic, const char *sw, long vlan,
    const char *trunks, struct err *err)
{
	_cleanup_free_ struct nic_row *all = NULL;
	struct vm_row *r = vm->row;
	long i = -1;
	int rc;

	if ((rc = nic_allowed(vm, err)) < 0 ||
	    (rc = nic_find_err(vm, nic, &i, err)) < 0)
		return rc;
	if (!sw && vlan < 0 && !trunks)
		return err_set(err, -EINVAL, "nothing to change: give "
		    "--switch, --vlan or --trunk");
	all = xzalloc((r->n_nics + 1) * sizeof(*all));
	memcpy(all, r->nics, r->n_nics * sizeof(*all));
	if ((rc = set_apply(vm, &all[i], sw, vlan, trunks, err)) < 0 ||
	    (rc = host_switch_carries(vm->h, &all[i], (size_t)i, err)) < 0)
		return rc;
	if (!vm_is_down(vm) && (rc = set_tap(vm, &all[i], err)) < 0) {
		struct err ignored = { 0 };

		/* put it back where it was, as far as that goes */
		(void)set_tap(vm, &r->nics[i], &ignored);
		return rc;
	}
	if ((rc = nic_commit(vm, all, r->n_nics, err)) < 0)
		return rc;
	host_event(vm->h, "info", vm, 0, "nic %s on switch '%s' vlan %u%s%s",
	    r->nics[i].mac, r->nics[i].switch_name, r->nics[i].vlan,
	    r->nics[i].trunks[0] ? " trunks " : "", r->nics[i].trunks);
	return 0;
}
