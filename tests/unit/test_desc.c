/* test_desc.c - the VM description codec (src/vm/desc.c): a valid
 * description survives JSON -> struct -> JSON, each limit of vm_limits.h
 * is accepted at its edge and refused one past it, and fields nobody
 * named are refused. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desc.h"
#include "test.h"

#define UUID "0b0e5a1c-2f3d-4e5f-8a9b-0c1d2e3f4a5b"

static const char *const extra[] = { "disks", NULL };

/* A complete record with two NICs. */
static json_t *
record(void)
{
	return json_pack("{ss ss si si sb ss ss s[{ss ss}{ss ss}] s[]}",
	    "uuid", UUID, "name", "db-1", "cpus", 2, "memory_mib", 512,
	    "cpu_compat", 1, "machine", "pc-q35-10.0",
	    "cmdline", "console=ttyS0",
	    "nics", "mac", "52:54:00:12:34:56", "switch", "lan",
	    "mac", "52:54:00:ab:cd:ef", "switch", "wan", "disks");
}

/* Parse o (stolen) as kind; the result code, and the message in msg. */
static int
parse_kind(json_t *o, enum vm_desc_kind kind, struct err *e)
{
	struct vm_desc d = { 0 };
	int r;

	*e = (struct err){ 0 };
	r = vm_desc_parse(o, kind, extra, "vm", &d, e);
	vm_desc_done(&d);
	json_decref(o);
	return r;
}

static int
parse_with(const char *key, json_t *v, struct err *e)
{
	json_t *o = record();

	json_object_set_new(o, key, v);
	return parse_kind(o, VM_DESC_RECORD, e);
}

static void
test_round_trip(void)
{
	json_t *o = record(), *t1, *t2;
	struct vm_desc d = { 0 }, d2 = { 0 };
	struct err e = { 0 };

	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, &e), 0);
	ASSERT_STREQ(d.uuid, UUID);
	ASSERT_STREQ(d.name, "db-1");
	ASSERT_EQ(d.cpus, 2);
	ASSERT_EQ(d.memory_mib, 512);
	ASSERT_TRUE(d.cpu_compat);
	ASSERT_STREQ(d.machine, "pc-q35-10.0");
	ASSERT_STREQ(d.cmdline, "console=ttyS0");
	ASSERT_EQ(d.n_nics, 2);
	ASSERT_STREQ(d.nics[1].mac, "52:54:00:ab:cd:ef");
	ASSERT_STREQ(d.nics[1].switch_name, "wan");
	t1 = vm_desc_to_json(&d);
	ASSERT_EQ(vm_desc_parse(t1, VM_DESC_RECORD, NULL, "vm", &d2, &e), 0);
	t2 = vm_desc_to_json(&d2);
	ASSERT_TRUE(json_equal(t1, t2));
	json_object_del(o, "disks");
	ASSERT_TRUE(json_equal(o, t1));
	json_decref(o);
	json_decref(t1);
	json_decref(t2);
	vm_desc_done(&d);
	vm_desc_done(&d2);
}

static void
test_limits(void)
{
	char name[80];
	char *cmd = malloc(VM_CMDLINE_MAX + 2);
	struct err e;

	ASSERT_EQ(parse_with("cpus", json_integer(VM_CPUS_MIN), &e), 0);
	ASSERT_EQ(parse_with("cpus", json_integer(VM_CPUS_MAX), &e), 0);
	ASSERT_EQ(parse_with("cpus", json_integer(VM_CPUS_MIN - 1), &e),
	    -EINVAL);
	ASSERT_EQ(parse_with("cpus", json_integer(VM_CPUS_MAX + 1), &e),
	    -EINVAL);
	ASSERT_STREQ(e.msg, "field 'cpus' is 65, must be between 1 and 64");
	ASSERT_EQ(parse_with("memory_mib", json_integer(VM_MEMORY_MIB_MIN),
	    &e), 0);
	ASSERT_EQ(parse_with("memory_mib", json_integer(VM_MEMORY_MIB_MAX),
	    &e), 0);
	ASSERT_EQ(parse_with("memory_mib", json_integer(VM_MEMORY_MIB_MIN - 1),
	    &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "field 'memory_mib' is 15");
	ASSERT_EQ(parse_with("memory_mib", json_integer(VM_MEMORY_MIB_MAX + 1),
	    &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "between 16 and 1048576");
	memset(cmd, 'x', VM_CMDLINE_MAX);
	cmd[VM_CMDLINE_MAX] = '\0';
	ASSERT_EQ(parse_with("cmdline", json_string(cmd), &e), 0);
	strcpy(cmd + VM_CMDLINE_MAX, "x");
	ASSERT_EQ(parse_with("cmdline", json_string(cmd), &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "cmdline is longer than 2048 bytes");
	free(cmd);
	memset(name, 'n', 63);
	name[63] = '\0';
	ASSERT_EQ(parse_with("name", json_string(name), &e), 0);
	strcpy(name + 63, "n");
	ASSERT_EQ(parse_with("name", json_string(name), &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "invalid vm name");
}

/* VM_MAX_NICS NICs pass, one more is refused. */
static void
test_nic_limit(void)
{
	json_t *nics = json_array();
	struct err e;

	for (int i = 0; i < VM_MAX_NICS; i++)
		json_array_append_new(nics, json_pack("{ss}", "switch", "lan"));
	ASSERT_EQ(parse_kind(json_pack("{ss si si sO}", "name", "a", "cpus", 1,
	    "memory_mib", 64, "nics", nics), VM_DESC_REQUEST, &e), 0);
	json_array_append_new(nics, json_pack("{ss}", "switch", "lan"));
	ASSERT_EQ(parse_kind(json_pack("{ss si si so}", "name", "a", "cpus", 1,
	    "memory_mib", 64, "nics", nics), VM_DESC_REQUEST, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "at most 8 NICs");
}

static void
test_unknown_fields(void)
{
	json_t *o = record();
	struct err e;

	ASSERT_EQ(parse_with("bogus", json_true(), &e), -EINVAL);
	ASSERT_STREQ(e.msg, "unknown field 'bogus' in vm");
	json_object_set_new(json_array_get(json_object_get(o, "nics"), 0),
	    "model", json_string("e1000"));
	ASSERT_EQ(parse_kind(o, VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "unknown field 'model' in nics[0]");
	/* A request has no uuid: one is made for it. */
	ASSERT_EQ(parse_kind(record(), VM_DESC_REQUEST, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "unknown field 'uuid' in vm");
}

static void
test_records_and_requests(void)
{
	json_t *o = record();
	struct vm_desc d = { 0 };
	struct err e;

	json_object_del(o, "uuid");
	ASSERT_EQ(parse_kind(o, VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_STREQ(e.msg, "missing field 'uuid'");
	o = record();
	json_object_del(o, "nics");
	ASSERT_EQ(parse_kind(o, VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "nics must be an array");
	ASSERT_EQ(parse_with("nics", json_pack("[{ss}]", "switch", "lan"), &e),
	    -EINVAL);
	ASSERT_STREQ(e.msg, "missing field 'mac'");
	ASSERT_EQ(parse_with("nics", json_pack("[{ss ss}{ss ss}]",
	    "mac", "52:54:00:12:34:56", "switch", "a",
	    "mac", "52:54:00:12:34:56", "switch", "b"), &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "is given twice");
	ASSERT_EQ(parse_with("nics", json_pack("[{ss ss}]", "mac",
	    "53:54:00:12:34:56", "switch", "a"), &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "is not a unicast MAC");
	ASSERT_EQ(parse_with("machine", json_string("pc,accel=kvm"), &e),
	    -EINVAL);
	ASSERT_CONTAINS(e.msg, "machine must be a QEMU machine type");
	/* A request's NIC may leave out its mac; a given one is lowered. */
	o = json_pack("{ss si si s[{ss}{ss ss}]}", "name", "a", "cpus", 1,
	    "memory_mib", 64, "nics", "switch", "lan",
	    "switch", "lan", "mac", "52:54:00:AB:CD:EF");
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_REQUEST, NULL, "vm create request",
	    &d, &e), 0);
	json_decref(o);
	ASSERT_EQ(strlen(d.nics[0].mac), 17);
	ASSERT_STREQ(d.nics[1].mac, "52:54:00:ab:cd:ef");
	ASSERT_TRUE(!d.machine && !d.cmdline && !d.uuid[0]);
	vm_desc_done(&d);
}

/* firmware, secure_boot, tpm, boot, cd_drive: round trip, defaults left
 * out of the JSON (an older peer reads a plain VM), bad input refused. */
static void
test_guest_fields(void)
{
	json_t *o = record(), *t;
	struct vm_desc d = { 0 };
	struct err e = { 0 };

	json_object_del(o, "disks");
	t = vm_desc_to_json(&(struct vm_desc){ .name = "a", .cpus = 1,
	    .memory_mib = 64 });
	ASSERT_TRUE(!json_object_get(t, "firmware") &&
	    !json_object_get(t, "tpm") && !json_object_get(t, "boot"));
	json_decref(t);
	json_object_set_new(o, "firmware", json_string("uefi"));
	json_object_set_new(o, "secure_boot", json_true());
	json_object_set_new(o, "tpm", json_true());
	json_object_set_new(o, "cd_drive", json_true());
	json_object_set_new(o, "boot", json_pack("[ss]", "cdrom", "disk"));
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, NULL, "vm", &d, &e), 0);
	ASSERT_STREQ(d.firmware, "uefi");
	ASSERT_STREQ(d.boot, "cdrom,disk");
	ASSERT_TRUE(d.secure_boot && d.tpm && d.cd_drive);
	t = vm_desc_to_json(&d);
	ASSERT_TRUE(json_equal(o, t));
	json_decref(t);
	json_decref(o);
	vm_desc_done(&d);
	ASSERT_TRUE(vm_boot_has("cdrom,disk", "disk"));
	ASSERT_TRUE(!vm_boot_has("cdrom,disk", "dis"));
	ASSERT_TRUE(!vm_boot_has(NULL, "disk"));
	/* firmware "bios" is the default, kept as NULL */
	ASSERT_EQ(parse_with("firmware", json_string("bios"), &e), 0);
	ASSERT_EQ(parse_with("firmware", json_string("efi"), &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "bios or uefi");
	ASSERT_EQ(parse_with("secure_boot", json_true(), &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--firmware uefi");
	ASSERT_EQ(parse_with("boot", json_pack("[s]", "floppy"), &e),
	    -EINVAL);
	ASSERT_CONTAINS(e.msg, "disk, cdrom, network, kernel");
	ASSERT_EQ(parse_with("boot", json_pack("[ss]", "disk", "disk"), &e),
	    -EINVAL);
	ASSERT_CONTAINS(e.msg, "twice");
	ASSERT_EQ(parse_with("boot", json_array(), &e), -EINVAL);
	ASSERT_EQ(parse_with("boot", json_string("disk"), &e), -EINVAL);
	ASSERT_EQ(parse_with("tpm", json_string("yes"), &e), -EINVAL);
}

/* A NIC's vlan and trunks survive the round trip (they travel on every
 * move and import), are left out when unset (an older peer still takes
 * a VM without them), and bad ones from a peer are refused by NIC. */
static json_t *
vlan_nics(json_t *vlan, const char *trunks)
{
	json_t *o = record(), *n = json_array_get(json_object_get(o, "nics"),
	    0);

	if (vlan)
		json_object_set_new(n, "vlan", vlan);
	if (trunks)
		json_object_set_new(n, "trunks", json_string(trunks));
	return o;
}

static void
test_nic_vlans(void)
{
	json_t *o = vlan_nics(json_integer(10), "20-30,40"), *t;
	struct vm_desc d = { 0 };
	struct err e = { 0 };

	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, &e), 0);
	ASSERT_EQ(d.nics[0].vlan, 10);
	ASSERT_STREQ(d.nics[0].trunks, "20-30,40");
	ASSERT_EQ(d.nics[1].vlan, 0);
	ASSERT_STREQ(d.nics[1].trunks, "");
	t = vm_desc_to_json(&d);
	json_object_del(o, "disks");
	ASSERT_TRUE(json_equal(o, t));
	ASSERT_TRUE(json_object_get(json_array_get(json_object_get(t, "nics"),
	    1), "vlan") == NULL);
	json_decref(o);
	json_decref(t);
	vm_desc_done(&d);
	ASSERT_EQ(parse_kind(vlan_nics(json_integer(0), NULL), VM_DESC_RECORD,
	    &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "nics[0] vlan 0 is outside 1-4094");
	ASSERT_EQ(parse_kind(vlan_nics(json_integer(4095), NULL),
	    VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_EQ(parse_kind(vlan_nics(json_integer(10), "5-15"),
	    VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "overlaps the access vlan 10");
	ASSERT_EQ(parse_kind(vlan_nics(json_string("10"), NULL),
	    VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_EQ(parse_kind(vlan_nics(NULL, "1-4095"), VM_DESC_RECORD, &e),
	    -EINVAL);
}

/* hotplug_ports and a NIC's port survive the round trip, are left out
 * when 0 (a VM made before hot-plug still moves to an older ternd, and
 * a record without them is such a VM: 0 ports, its command line as it
 * was); a request without them gets the default; a port the VM does not
 * have, or two NICs on one port, are refused. */
static void
test_hotplug(void)
{
	json_t *o = record(), *t, *n;
	struct vm_desc d = { 0 };
	struct vm_row row = { 0 };
	struct err e = { 0 };

	n = json_array_get(json_object_get(o, "nics"), 1);
	json_object_set_new(o, "hotplug_ports", json_integer(4));
	json_object_set_new(n, "port", json_integer(2));
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, &e), 0);
	ASSERT_EQ(d.hotplug_ports, 4);
	ASSERT_EQ(d.nics[0].port, 0);
	ASSERT_EQ(d.nics[1].port, 2);
	t = vm_desc_to_json(&d);
	json_object_del(o, "disks");
	ASSERT_TRUE(json_equal(o, t));
	ASSERT_TRUE(json_object_get(json_array_get(json_object_get(t, "nics"),
	    0), "port") == NULL);
	json_decref(t);
	vm_desc_done(&d);
	json_decref(o);

	o = record();	/* made before: 0, and 0 is written as nothing */
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, &e), 0);
	ASSERT_EQ(d.hotplug_ports, 0);
	t = vm_desc_to_json(&d);
	ASSERT_TRUE(json_object_get(t, "hotplug_ports") == NULL);
	vm_desc_to_row(&d, &row);
	ASSERT_EQ(row.hotplug_ports, 0);
	json_decref(t);
	json_decref(o);
	free(row.nics[0].switch_name);
	free(row.nics[1].switch_name);
	free(row.nics);
	free(row.name);
	free(row.machine);
	free(row.cmdline);

	o = json_pack("{ss si si}", "name", "new", "cpus", 1, "memory_mib",
	    64);	/* a request: the default */
	memset(&row, 0, sizeof(row));
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_REQUEST, NULL, "vm", &d, &e), 0);
	ASSERT_EQ(d.hotplug_ports, -1);
	vm_desc_to_row(&d, &row);
	ASSERT_EQ(row.hotplug_ports, VM_HOTPLUG_PORTS_DEFAULT);
	free(row.nics);
	free(row.name);
	json_decref(o);

	ASSERT_EQ(parse_with("hotplug_ports", json_integer(9), &e), -EINVAL);
	o = record();
	json_object_set_new(o, "hotplug_ports", json_integer(1));
	n = json_array_get(json_object_get(o, "nics"), 1);
	json_object_set_new(n, "port", json_integer(2));
	ASSERT_EQ(parse_kind(json_incref(o), VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "nics[1] port 2 is beyond the vm's 1 hot-plug "
	    "ports");
	json_object_set_new(o, "hotplug_ports", json_integer(4));
	json_object_set_new(json_array_get(json_object_get(o, "nics"), 0),
	    "port", json_integer(2));
	ASSERT_EQ(parse_kind(o, VM_DESC_RECORD, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "are both on port 2");
}

/* Dynamic memory (issue 18): min, buffer and current survive the round
 * trip and are written only for a dynamic VM; each bad value refused. */
static int
parse_dyn(json_int_t min, json_int_t pct, json_int_t cur, struct err *e)
{
	json_t *o = record();

	if (min)
		json_object_set_new(o, "memory_min_mib", json_integer(min));
	if (pct)
		json_object_set_new(o, "memory_buffer_pct", json_integer(pct));
	if (cur)
		json_object_set_new(o, "memory_cur_mib", json_integer(cur));
	return parse_kind(o, VM_DESC_RECORD, e);
}

static void
test_dynamic_memory(void)
{
	json_t *o = record(), *t;
	struct vm_desc d = { 0 };
	struct vm_row row = { 0 };
	struct err e = { 0 };

	json_object_set_new(o, "memory_min_mib", json_integer(256));
	json_object_set_new(o, "memory_cur_mib", json_integer(300));
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, &e), 0);
	ASSERT_EQ(d.memory_min_mib, 256);
	ASSERT_EQ(d.memory_buffer_pct, 20);	/* the default */
	ASSERT_EQ(d.memory_cur_mib, 300);
	t = vm_desc_to_json(&d);
	ASSERT_EQ(json_integer_value(json_object_get(t, "memory_min_mib")),
	    256);
	ASSERT_EQ(json_integer_value(json_object_get(t, "memory_buffer_pct")),
	    20);
	ASSERT_EQ(json_integer_value(json_object_get(t, "memory_cur_mib")),
	    300);
	json_decref(t);
	vm_desc_to_row(&d, &row);
	ASSERT_EQ(row.memory_mib, 512);
	ASSERT_EQ(row.memory_min_mib, 256);
	ASSERT_EQ(row.memory_cur_mib, 300);
	ASSERT_EQ(row.memory_buffer_pct, 20);
	vm_desc_from_row(&d, &row);
	ASSERT_EQ(d.memory_cur_mib, 300);
	vm_desc_done(&d);
	free(row.name);
	free(row.machine);
	free(row.cmdline);
	for (size_t i = 0; i < row.n_nics; i++)
		free(row.nics[i].switch_name);
	free(row.nics);
	json_decref(o);

	/* fixed memory: none of the fields, min = cur = memory_mib */
	o = record();
	ASSERT_EQ(vm_desc_parse(o, VM_DESC_RECORD, extra, "vm", &d, &e), 0);
	ASSERT_EQ(d.memory_min_mib, 512);
	ASSERT_EQ(d.memory_cur_mib, 512);
	t = vm_desc_to_json(&d);
	ASSERT_TRUE(json_object_get(t, "memory_min_mib") == NULL);
	ASSERT_TRUE(json_object_get(t, "memory_cur_mib") == NULL);
	ASSERT_TRUE(json_object_get(t, "memory_buffer_pct") == NULL);
	json_decref(t);
	vm_desc_done(&d);
	json_decref(o);

	ASSERT_EQ(parse_dyn(768, 0, 0, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "memory_min_mib 768 is larger than the "
	    "maximum memory_mib 512");
	ASSERT_EQ(parse_dyn(256, 4, 0, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "memory_buffer_pct 4 is outside 5-95");
	ASSERT_EQ(parse_dyn(256, 96, 0, &e), -EINVAL);
	ASSERT_EQ(parse_dyn(256, 5, 0, &e), 0);
	ASSERT_EQ(parse_dyn(256, 95, 0, &e), 0);
	ASSERT_EQ(parse_dyn(256, 20, 600, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "memory_cur_mib 600 is outside");
	ASSERT_EQ(parse_dyn(256, 20, 200, &e), -EINVAL);
	ASSERT_EQ(parse_dyn(0, 20, 0, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "need dynamic memory");
	ASSERT_EQ(parse_dyn(8, 0, 0, &e), -EINVAL);	/* below the minimum */
}

int
main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_guest_fields);
	RUN_TEST(test_limits);
	RUN_TEST(test_nic_limit);
	RUN_TEST(test_nic_vlans);
	RUN_TEST(test_hotplug);
	RUN_TEST(test_dynamic_memory);
	RUN_TEST(test_unknown_fields);
	RUN_TEST(test_records_and_requests);
	return TEST_REPORT();
}
