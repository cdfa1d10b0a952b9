/* test_vm_nic.c - a running VM's NIC removed (src/vm/nic.c) against the
 * fake QMP peer: device_del, then only the guest's DEVICE_DELETED drops
 * the row (after netdev_del); QEMU's refusal leaves the row as it was; a
 * NIC given at create, an unknown NIC and a second change at once are
 * refused without a word to QEMU; after a restart, the row and QEMU's
 * devices brought in line (qom-list).  (An add opens a real tap, which needs
 * root and a network: tests/e2e/test_nic_hotplug.sh.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobtest.h"
#include "nic.h"
#include "test.h"
#include "util.h"

#define TIMEOUT_MS 5000

static struct jobtest t;
static int done_calls;
static struct err done_err;

static void
on_done(struct vm *vm, const struct err *e, void *data)
{
	(void)vm;
	(void)data;
	done_calls++;
	done_err = e ? *e : (struct err){ 0 };
}

/* QEMU's /machine/peripheral with nic0 and hpnic0, as the fixture's VM
 * has them. */
#define PERIPHERALS "[{\"name\":\"type\",\"type\":\"string\"}," \
	"{\"name\":\"nic0\",\"type\":\"child<virtio-net-pci>\"}," \
	"{\"name\":\"hpnic0\",\"type\":\"child<virtio-net-pci>\"}]"

/* A running VM "web": nic0 on the root bus, nic1 hot-plugged on port 1
 * (hpnic0), attached to its fake QEMU, whose devices are peripherals. */
static struct vm *
fixture_with(const char *peripherals)
{
	struct nic_row nics[2] = { 0 };
	struct vm *vm;

	jt_setup(&t);
	vm = jt_vm_add(&t, "web", 1, "running");
	snprintf(nics[0].mac, 18, "52:54:00:00:00:01");
	nics[0].switch_name = "lan";
	snprintf(nics[1].mac, 18, "52:54:00:00:00:02");
	nics[1].switch_name = "lan";
	nics[1].port = 1;
	if (store_vm_set_nics(t.st, vm->row->uuid, nics, 2) < 0)
		abort();
	vm->row->hotplug_ports = 4;
	vm->row->nics = xrealloc(vm->row->nics, 2 * sizeof(*nics));
	for (size_t i = vm->row->n_nics; i < 2; i++)
		vm->row->nics[i].switch_name = NULL;
	for (size_t i = 0; i < 2; i++) {
		free(vm->row->nics[i].switch_name);
		vm->row->nics[i] = nics[i];
		vm->row->nics[i].switch_name = xstrdup("lan");
	}
	vm->row->n_nics = 2;
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, "qom-list",
	    "{\"path\":\"/machine/peripheral\"}"), peripherals);
	if (!jt_qemu_attach(&t))
		abort();
	done_calls = 0;
	return jt_vm(&t);
}

static struct vm *
fixture(void)
{
	return fixture_with(PERIPHERALS);
}

static size_t
stored_nics(void)
{
	struct vm_row **all;
	size_t n, k = 0;

	if (store_vm_load_all(t.st, &all, &n) < 0)
		return 99;
	for (size_t i = 0; i < n; i++) {
		k = all[i]->n_nics;
		store_vm_row_free(all[i]);
	}
	free(all);
	return k;
}

static void
run_until_done(void)
{
	for (int i = 0; i < TIMEOUT_MS / 10 && !done_calls; i++)
		jt_run_for(&t, 10);
}

static void
test_remove_waits_for_the_guest(void)
{
	struct vm *vm = fixture();
	struct err e = { 0 };
	int h;

	h = fake_qmp_expect(t.qmp, "device_del", "{\"id\":\"hpnic0\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	fake_qmp_wait(t.qmp, 200);	/* the guest takes its time */
	fake_qmp_event(t.qmp, "DEVICE_DELETED", "{\"device\":\"hpnic0\","
	    "\"path\":\"/machine/peripheral/hpnic0\"}");
	h = fake_qmp_expect(t.qmp, "netdev_del", "{\"id\":\"hpnet0\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	ASSERT_EQ(vm_nic_remove(vm, "nic1", on_done, NULL, &e), 1);
	jt_run_for(&t, 100);
	ASSERT_EQ(done_calls, 0);	/* not before the guest let go */
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 2);
	run_until_done();
	ASSERT_EQ(done_calls, 1);
	ASSERT_EQ(done_err.code, 0);
	jt_run_for(&t, 50);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 1);
	ASSERT_STREQ(jt_vm(&t)->row->nics[0].mac, "52:54:00:00:00:01");
	ASSERT_EQ(stored_nics(), 1);
	jt_teardown(&t);
}

static void
test_remove_refused_changes_nothing(void)
{
	struct vm *vm = fixture();
	struct err e = { 0 };
	int h;

	h = fake_qmp_expect(t.qmp, "device_del", "{\"id\":\"hpnic0\"}");
	fake_qmp_error(t.qmp, h, "GenericError", "injected");
	ASSERT_EQ(vm_nic_remove(vm, "52:54:00:00:00:02", on_done, NULL, &e),
	    1);
	/* one change at a time */
	ASSERT_EQ(vm_nic_remove(vm, "nic1", on_done, NULL, &e), -EBUSY);
	ASSERT_CONTAINS(e.msg, "is changing a NIC");
	run_until_done();
	ASSERT_EQ(done_calls, 1);
	ASSERT_CONTAINS(done_err.msg, "injected");
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 2);
	ASSERT_EQ(stored_nics(), 2);
	ASSERT_TRUE(jt_vm(&t)->nic_op == NULL);
	jt_teardown(&t);
}

static void
test_remove_bad_input(void)
{
	struct vm *vm = fixture();
	struct err e = { 0 };
	unsigned asked;

	jt_run_for(&t, 50);
	asked = fake_qmp_n_received(t.qmp);	/* the handshake's */
	ASSERT_EQ(vm_nic_remove(vm, "nic0", on_done, NULL, &e), -EBUSY);
	ASSERT_CONTAINS(e.msg, "root bus");
	e = (struct err){ 0 };
	ASSERT_EQ(vm_nic_remove(vm, "nic7", on_done, NULL, &e), -ENOENT);
	ASSERT_CONTAINS(e.msg, "has no nic 'nic7'");
	e = (struct err){ 0 };
	ASSERT_EQ(vm_nic_remove(vm, "", on_done, NULL, &e), -ENOENT);
	e = (struct err){ 0 };
	ASSERT_EQ(vm_nic_set(vm, "nic1", NULL, -1, NULL, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "nothing to change");
	e = (struct err){ 0 };
	ASSERT_EQ(vm_nic_set(vm, "nic1", NULL, 4095, NULL, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--vlan");
	jt_run_for(&t, 50);
	ASSERT_EQ(fake_qmp_n_received(t.qmp), asked);	/* nothing more */
	ASSERT_EQ(done_calls, 0);
	ASSERT_EQ(stored_nics(), 2);
	jt_teardown(&t);
}

/* ternd was away while the guest let hpnic0 go: QEMU no longer has it,
 * so the row drops it (and QEMU its netdev). */
static void
test_reconcile_drops_a_nic_unplugged_meanwhile(void)
{
	int h;

	(void)fixture_with("[{\"name\":\"nic0\",\"type\":"
	    "\"child<virtio-net-pci>\"}]");
	h = fake_qmp_expect(t.qmp, "netdev_del", "{\"id\":\"hpnet0\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	jt_run_for(&t, 300);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 1);
	ASSERT_EQ(stored_nics(), 1);
	jt_teardown(&t);
}

/* An add a restart cut short: QEMU has hpnic2, the row does not; it is
 * unplugged, and its netdev deleted once the guest let it go. */
static void
test_reconcile_unplugs_an_unrecorded_nic(void)
{
	int h;

	(void)fixture_with("[{\"name\":\"hpnic0\",\"type\":"
	    "\"child<virtio-net-pci>\"},{\"name\":\"hpnic2\",\"type\":"
	    "\"child<virtio-net-pci>\"}]");
	h = fake_qmp_expect(t.qmp, "device_del", "{\"id\":\"hpnic2\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	fake_qmp_event(t.qmp, "DEVICE_DELETED", "{\"device\":\"hpnic2\","
	    "\"path\":\"/machine/peripheral/hpnic2\"}");
	h = fake_qmp_expect(t.qmp, "netdev_del", "{\"id\":\"hpnet2\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	jt_run_for(&t, 300);
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 2);
	ASSERT_EQ(stored_nics(), 2);
	jt_teardown(&t);
}

/* The guest does not let go: after the (shortened) timeout the request
 * fails with a clear reason and the NIC stays; a DEVICE_DELETED that
 * comes later still drops it, so the row follows QEMU. */
static void
test_remove_times_out_and_keeps_the_nic(void)
{
	struct vm *vm = fixture();
	struct err e = { 0 };
	int h;

	vm_nic_unplug_timeout_ms = 200;
	h = fake_qmp_expect(t.qmp, "device_del", "{\"id\":\"hpnic0\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	ASSERT_EQ(vm_nic_remove(vm, "nic1", on_done, NULL, &e), 1);
	run_until_done();
	ASSERT_EQ(done_calls, 1);
	ASSERT_EQ(done_err.code, -ETIMEDOUT);
	ASSERT_CONTAINS(done_err.msg, "did not release nic 52:54:00:00:00:02"
	    " within 0.2 s");
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 2);
	ASSERT_EQ(stored_nics(), 2);
	ASSERT_TRUE(jt_vm(&t)->nic_op == NULL);
	fake_qmp_event(t.qmp, "DEVICE_DELETED", "{\"device\":\"hpnic0\"}");
	h = fake_qmp_expect(t.qmp, "netdev_del", "{\"id\":\"hpnet0\"}");
	fake_qmp_reply(t.qmp, h, "{}");
	jt_run_for(&t, 300);
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->row->n_nics, 1);
	ASSERT_EQ(stored_nics(), 1);
	ASSERT_EQ(done_calls, 1);
	vm_nic_unplug_timeout_ms = VM_NIC_UNPLUG_TIMEOUT_MS;
	jt_teardown(&t);
}

int
main(void)
{
	RUN_TEST(test_remove_waits_for_the_guest);
	RUN_TEST(test_remove_refused_changes_nothing);
	RUN_TEST(test_remove_times_out_and_keeps_the_nic);
	RUN_TEST(test_remove_bad_input);
	RUN_TEST(test_reconcile_drops_a_nic_unplugged_meanwhile);
	RUN_TEST(test_reconcile_unplugs_an_unrecorded_nic);
	return TEST_REPORT();
}
