/* test_vm.c - src/vm rules without a QEMU: the state diagram that
 * vm_set_state() enforces, and which action each state allows (the
 * answers the API gives, moved out of it). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qemu.h"
#include "test.h"
#include "vm.h"
#include "vm_action.h"
#include "vm_spec.h"

/* Every transition the code takes (vm.h's list), from -> to. */
static const struct { enum vm_state from, to; } allowed[] = {
	{ VM_CREATING, VM_OFF }, { VM_CREATING, VM_SAVED },
	{ VM_OFF, VM_STARTING }, { VM_CRASHED, VM_STARTING },
	{ VM_SAVED, VM_STARTING }, { VM_OFF, VM_DELETING },
	{ VM_CRASHED, VM_DELETING }, { VM_SAVED, VM_DELETING },
	{ VM_SAVED, VM_OFF }, { VM_STARTING, VM_RUNNING },
	{ VM_STARTING, VM_OFF }, { VM_STARTING, VM_SAVED },
	{ VM_STARTING, VM_STOPPING }, { VM_RUNNING, VM_PAUSED },
	{ VM_PAUSED, VM_RUNNING }, { VM_RUNNING, VM_STOPPING },
	{ VM_PAUSED, VM_STOPPING }, { VM_RUNNING, VM_OFF },
	{ VM_PAUSED, VM_OFF }, { VM_RUNNING, VM_CRASHED },
	{ VM_PAUSED, VM_CRASHED }, { VM_RUNNING, VM_SAVING },
	{ VM_PAUSED, VM_SAVING }, { VM_STOPPING, VM_OFF },
	{ VM_STOPPING, VM_SAVED }, { VM_STOPPING, VM_RUNNING },
	{ VM_SAVING, VM_SAVED }, { VM_SAVING, VM_RUNNING },
	{ VM_SAVING, VM_PAUSED }, { VM_SAVING, VM_CRASHED },
	{ VM_INCOMING, VM_RUNNING }, { VM_INCOMING, VM_OFF },
	/* a checkpoint applied */
	{ VM_OFF, VM_SAVED }, { VM_CRASHED, VM_OFF },
	/* a replica (src/replica): made, then removed or kept */
	{ VM_CREATING, VM_REPLICA }, { VM_REPLICA, VM_DELETING },
	{ VM_REPLICA, VM_OFF },
	/* a failover cancelled (src/failover/resolve.c) */
	{ VM_OFF, VM_REPLICA }, { VM_CRASHED, VM_REPLICA },
	/* started paused for a planned failover's final cycle */
	{ VM_STARTING, VM_PAUSED },
};

static bool
in_list(enum vm_state from, enum vm_state to)
{
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (allowed[i].from == from && allowed[i].to == to)
			return true;
	return from == to;
}

static void
test_transitions_match_diagram(void)
{
	for (int f = 0; f < VM__COUNT; f++)
		for (int t = 0; t < VM__COUNT; t++)
			if (vm_state_can_change(f, t) != in_list(f, t)) {
				fprintf(stderr, "%s -> %s\n",
				    vm_state_name(f), vm_state_name(t));
				ASSERT_EQ(vm_state_can_change(f, t),
				    in_list(f, t));
			}
}

static void
test_transitions_refused(void)
{
	ASSERT_TRUE(!vm_state_can_change(VM_OFF, VM_RUNNING));
	/* A guest that powered off during a move did not crash. */
	ASSERT_TRUE(!vm_state_can_change(VM_OFF, VM_CRASHED));
	ASSERT_TRUE(!vm_state_can_change(VM_DELETING, VM_OFF));
	ASSERT_TRUE(!vm_state_can_change(VM_CRASHED, VM_RUNNING));
	ASSERT_TRUE(!vm_state_can_change(VM_SAVED, VM_RUNNING));
	ASSERT_TRUE(!vm_state_can_change(VM__COUNT, VM_OFF));
}

/* What vm_action_allowed() answers for each state when no job holds the
 * VM: 0, or the errno (the text is checked below for a few). */
static int
expected(enum vm_action a, enum vm_state s)
{
	bool down = s == VM_OFF || s == VM_CRASHED || s == VM_SAVED;

	if (s == VM_REPLICA)
		return -EBUSY;	/* a replica is never acted on by hand */
	switch (a) {
	case VM_ACT_START:
	case VM_ACT_DELETE:
		return down ? 0 : -EBUSY;
	case VM_ACT_STOP:
		return down && s != VM_SAVED ? -EBUSY : 0;
	case VM_ACT_RESUME:
		return s == VM_PAUSED ? 0 : -EBUSY;
	case VM_ACT_EXPORT:
		return 0;	/* export_prepare() judges the state */
	default:
		return s == VM_RUNNING ? 0 : -EBUSY;
	}
}

static void
test_action_table(void)
{
	struct host h = { 0 };
	struct vm_row row = { .name = "a", .uuid = "u", .memory_mib = 1 };
	struct vm vm = { .h = &h, .row = &row };

	for (int a = 0; a < VM_ACT__COUNT; a++)
		for (int s = 0; s < VM__COUNT; s++) {
			struct err e = { 0 };

			vm.state = s;
			if (vm_action_allowed(&vm, a, &e) != expected(a, s))
				fprintf(stderr, "%s in %s: %s\n",
				    vm_action_name(a), vm_state_name(s),
				    e.msg);
			ASSERT_EQ(vm_action_allowed(&vm, a, NULL),
			    expected(a, s));
		}
}

static void
test_action_messages(void)
{
	struct host h = { 0 };
	struct vm_row row = { .name = "a", .uuid = "u", .memory_mib = 1 };
	struct vm vm = { .h = &h, .row = &row, .state = VM_PAUSED };
	struct err e = { 0 };

	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_SAVE, &e), -EBUSY);
	ASSERT_STREQ(e.msg, "vm 'a' is paused; only a running VM can be "
	    "saved (resume it first)");
	vm.state = VM_OFF;
	e = (struct err){ 0 };
	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_STOP, &e), -EBUSY);
	ASSERT_STREQ(e.msg, "vm 'a' is already off");
	vm.state = VM_RUNNING;
	e = (struct err){ 0 };
	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_DELETE, &e), -EBUSY);
	ASSERT_STREQ(e.msg, "vm 'a' is running; turn it off first "
	    "('tern vm stop a')");
	vm.state = VM_OFF;
	row.memory_mib = (uint64_t)1 << 40;
	e = (struct err){ 0 };
	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_START, &e), -ENOMEM);
	ASSERT_CONTAINS(e.msg, "not enough memory to start vm 'a'");
	vm.state = VM_REPLICA;
	e = (struct err){ 0 };
	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_START, &e), -EBUSY);
	ASSERT_CONTAINS(e.msg, "vm 'a' is a replica: it is not started");
	/* A VM that failed over elsewhere (src/failover): start refused
	 * with the hold's text; everything else as for any off VM. */
	vm.state = VM_OFF;
	row.memory_mib = 1;
	row.hold = "it failed over to h2";
	e = (struct err){ 0 };
	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_START, &e), -EBUSY);
	ASSERT_STREQ(e.msg, "vm 'a' is not started here: it failed over to "
	    "h2");
	ASSERT_EQ(vm_action_allowed(&vm, VM_ACT_DELETE, NULL), 0);
}

/* The one free-memory check: installed memory for a definition, what is
 * available less what incoming VMs were promised for a start. */
static void
test_mem_admit(void)
{
	struct host h = { .cfg.name = "h1" };
	struct vm_row in_row = { .name = "in", .memory_mib = (uint64_t)1 << 40 };
	struct vm in = { .h = &h, .row = &in_row, .state = VM_INCOMING };
	struct vm *vms[] = { &in };
	struct err e = { 0 };

	ASSERT_EQ(host_mem_admit(&h, 16, HOST_MEM_INSTALLED, "vm 'a'", &e), 0);
	ASSERT_EQ(host_mem_admit(&h, 16, HOST_MEM_AVAILABLE, "vm 'a'", &e), 0);
	ASSERT_EQ(host_mem_admit(&h, (uint64_t)1 << 40, HOST_MEM_INSTALLED,
	    "vm 'a'", &e), -ENOMEM);
	ASSERT_CONTAINS(e.msg, "vm 'a': memory 1099511627776 MiB is more "
	    "than this host has");
	h.vms = vms;
	h.n_vms = 1;
	e = (struct err){ 0 };
	ASSERT_EQ(host_mem_admit(&h, 16, HOST_MEM_AVAILABLE, "vm 'a'", &e),
	    -ENOMEM);
	ASSERT_CONTAINS(e.msg, "not enough memory to start vm 'a': it needs "
	    "16 MiB, host h1 has");
	ASSERT_CONTAINS(e.msg, "(1099511627776 MiB of it promised to "
	    "incoming vms)");
	ASSERT_EQ(host_mem_admit(&h, 16, HOST_MEM_INSTALLED, "vm 'a'", NULL),
	    0);
	/* A dynamic VM arriving is promised its current size, not its
	 * maximum; one admitted names both in a refusal. */
	in_row.memory_min_mib = 16;
	in_row.memory_cur_mib = 32;
	e = (struct err){ 0 };
	ASSERT_EQ(host_mem_admit(&h, 16, HOST_MEM_AVAILABLE, "vm 'a'", &e), 0);
	h.n_vms = 0;
	struct vm_row dyn = { .name = "d", .memory_mib = (uint64_t)1 << 40,
		.memory_min_mib = 16, .memory_cur_mib = 64,
		.memory_buffer_pct = 20 };
	e = (struct err){ 0 };
	ASSERT_EQ(host_mem_admit_vm(&h, &dyn, HOST_MEM_AVAILABLE, &e),
	    -ENOMEM);
	ASSERT_CONTAINS(e.msg, "vm 'd' (dynamic memory: 64 MiB now, up to "
	    "1099511627776 MiB): memory 1099511627776 MiB is more than");
	dyn.memory_mib = 128;
	ASSERT_EQ(host_mem_admit_vm(&h, &dyn, HOST_MEM_AVAILABLE, NULL), 0);
	h.cfg.memory_reserve_mib = (uint64_t)1 << 40;
	e = (struct err){ 0 };
	ASSERT_EQ(host_mem_admit_vm(&h, &dyn, HOST_MEM_AVAILABLE, &e),
	    -ENOMEM);
	ASSERT_CONTAINS(e.msg, "not enough memory to start vm 'd' (dynamic "
	    "memory: 64 MiB now, up to 128 MiB): it needs 64 MiB");
	ASSERT_CONTAINS(e.msg, "its memory-reserve not counted");
}

static void
test_action_names(void)
{
	struct err e = { 0 };

	ASSERT_EQ(vm_action_from_name("shutdown", NULL), VM_ACT_SHUTDOWN);
	ASSERT_EQ(vm_action_from_name("delete", &e), -ENOENT);
	ASSERT_STREQ(e.msg, "no such action 'delete'");
	ASSERT_EQ(vm_action_from_name("export", NULL), -ENOENT);
}

/* -daemonize sends QEMU's stderr to /dev/null once it runs; -D keeps it
 * in the VM's qemu.log, where an assertion of a running QEMU is read. */
static void
test_qemu_keeps_stderr(void)
{
	struct host h = { .cfg.qemu_binary = "qemu-system-x86_64",
		.cfg.run_dir = "/run/t" };
	struct vm_row row = { .name = "a", .uuid = "u", .memory_mib = 64,
		.cpus = 1, .machine = "pc-q35-7.2" };
	struct vm vm = { .h = &h, .row = &row };
	char **argv = qemu_argv(&vm);
	const char *log = NULL;

	for (char **p = argv; *p; p++)
		if (strcmp(p[0], "-D") == 0 && p[1])
			log = p[1];
	ASSERT_STREQ(log ? log : "(none)", "/run/t/vms/u/qemu.log");
	qemu_argv_free(argv);
}

static bool
argv_has(char **argv, const char *flag, const char *value)
{
	for (char **p = argv; *p; p++)
		if (strcmp(p[0], flag) == 0 && p[1] && strstr(p[1], value))
			return true;
	return false;
}

/* UEFI: code read-only as fw-code, the VM's variables as fw-vars on the
 * machine's pflash; Secure Boot with SMM and secure pflash; the TPM as
 * a swtpm socket behind tpm-crb; CD drives and the boot order. */
static void
test_qemu_guest_devices(void)
{
	struct host h = { .cfg.qemu_binary = "qemu-system-x86_64",
		.cfg.run_dir = "/run/t", .cfg.ovmf_dir = "/usr/share/OVMF" };
	struct disk_row disk = { .name = "vda", .path = "/p/a-vda.qcow2" };
	struct nic_row nic = { .mac = "52:54:00:00:00:01" };
	struct vm_row row = { .name = "a", .uuid = "u", .memory_mib = 64,
		.cpus = 1, .machine = "pc-q35-10.0", .firmware = "uefi",
		.secure_boot = true, .nvram = "/p/a-nvram.fd", .tpm = true,
		.tpm_dir = "/p/a-tpm", .boot = "cdrom,network,disk",
		.has_cdrom = true, .cdrom = "/iso/d.iso", .n_disks = 1,
		.disks = &disk, .n_nics = 1, .nics = &nic,
		.cloud_init_seed = "/p/a-seed.iso" };
	struct vm vm = { .h = &h, .row = &row };
	char **argv = qemu_argv(&vm);

	ASSERT_TRUE(argv_has(argv, "-machine", "pc-q35-10.0,accel=tcg,"
	    "pflash0=fw-code,pflash1=fw-vars,smm=on"));
	ASSERT_TRUE(argv_has(argv, "-blockdev", "\"filename\":\"/usr/share/"
	    "OVMF/OVMF_CODE_4M.secboot.fd\",\"node-name\":\"fw-code\","
	    "\"read-only\":true"));
	ASSERT_TRUE(argv_has(argv, "-blockdev", "\"filename\":\"/p/a-nvram."
	    "fd\",\"node-name\":\"fw-vars\""));
	ASSERT_TRUE(argv_has(argv, "-global", "cfi.pflash01,property=secure,"
	    "value=on"));
	ASSERT_TRUE(argv_has(argv, "-chardev", "socket,id=tpm0,path=/run/t/"
	    "vms/u/swtpm.sock"));
	ASSERT_TRUE(argv_has(argv, "-tpmdev", "emulator,id=tpm0,chardev="
	    "tpm0"));
	ASSERT_TRUE(argv_has(argv, "-device", "tpm-crb,tpmdev=tpm0"));
	ASSERT_TRUE(argv_has(argv, "-device", "ide-cd,bus=ide.0,id=cd0,"
	    "drive=cd0,bootindex=1"));
	ASSERT_TRUE(argv_has(argv, "-device", "mac=52:54:00:00:00:01,"
	    "bootindex=2"));
	ASSERT_TRUE(argv_has(argv, "-device", "id=vda,werror=stop,rerror="
	    "stop,bootindex=3"));
	ASSERT_TRUE(argv_has(argv, "-device", "ide-cd,bus=ide.1,id=cd1,"
	    "drive=cd1"));
	ASSERT_TRUE(argv_has(argv, "-blockdev", "\"filename\":\"/iso/d.iso"
	    "\",\"node-name\":\"cd0-file\",\"read-only\":true"));
	qemu_argv_free(argv);
	/* an empty drive; BIOS; no TPM; the default order boots disk 0 */
	row.cdrom = NULL;
	row.firmware = NULL;
	row.secure_boot = row.tpm = false;
	row.boot = NULL;
	row.cloud_init_seed = NULL;
	argv = qemu_argv(&vm);
	ASSERT_TRUE(argv_has(argv, "-device", "ide-cd,bus=ide.0,id=cd0"));
	ASSERT_TRUE(!argv_has(argv, "-device", "id=cd00"));
	ASSERT_TRUE(!argv_has(argv, "-device", "drive=cd0"));
	ASSERT_TRUE(!argv_has(argv, "-device", "tpm-crb"));
	/* fixed memory: no balloon; dynamic: -m MAX and the balloon */
	ASSERT_TRUE(!argv_has(argv, "-device", "virtio-balloon"));
	qemu_argv_free(argv);
	row.memory_min_mib = 32;
	row.memory_cur_mib = 32;
	row.memory_buffer_pct = 20;
	argv = qemu_argv(&vm);
	ASSERT_TRUE(argv_has(argv, "-m", "64"));
	ASSERT_TRUE(argv_has(argv, "-device", "virtio-balloon-pci,id=bal0,"
	    "bus=pcie.0"));
	row.memory_min_mib = row.memory_cur_mib = 0;
	row.memory_buffer_pct = 0;
	ASSERT_TRUE(!argv_has(argv, "-machine", "pflash"));
	ASSERT_TRUE(argv_has(argv, "-device", "id=vda,werror=stop,rerror="
	    "stop,bootindex=1"));
	qemu_argv_free(argv);
}

/* Hot-plug ports: none on a VM made before (its command line as it was);
 * a VM's root ports after its root-bus NICs and before the VGA (still the
 * last device), a hot-plugged NIC on its port with the ids device_add
 * gave it, its tap the fd of its index. */
static void
test_qemu_hotplug_ports(void)
{
	struct host h = { .cfg.qemu_binary = "qemu-system-x86_64",
		.cfg.run_dir = "/run/t" };
	struct nic_row nics[2] = {
		{ .mac = "52:54:00:00:00:01", .switch_name = "lan" },
		{ .mac = "52:54:00:00:00:02", .switch_name = "lan", .port = 2 },
	};
	struct vm_row row = { .name = "a", .uuid = "u", .memory_mib = 64,
		.cpus = 1, .machine = "pc-q35-10.0", .n_nics = 1,
		.nics = nics };
	struct vm vm = { .h = &h, .row = &row };
	char **argv = qemu_argv(&vm), **p, *last = NULL;
	int nic0 = -1, port = -1, hp = -1, vga = -1;

	ASSERT_TRUE(!argv_has(argv, "-device", "pcie-root-port"));
	qemu_argv_free(argv);
	row.hotplug_ports = 2;
	row.n_nics = 2;
	argv = qemu_argv(&vm);
	ASSERT_TRUE(argv_has(argv, "-device", "pcie-root-port,id=hp0,"
	    "chassis=1"));
	ASSERT_TRUE(argv_has(argv, "-device", "pcie-root-port,id=hp1,"
	    "chassis=2"));
	ASSERT_TRUE(argv_has(argv, "-netdev", "tap,id=hpnet1,fd=4,vhost=off"));
	ASSERT_TRUE(argv_has(argv, "-device", "virtio-net-pci,netdev=hpnet1,"
	    "id=hpnic1,mac=52:54:00:00:00:02,bus=hp1"));
	ASSERT_TRUE(!argv_has(argv, "-device", "id=nic1"));
	for (p = argv; *p; p++) {
		if (strcmp(p[0], "-device") || !p[1])
			continue;
		last = p[1];
		nic0 = strstr(p[1], "id=nic0") ? p - argv : nic0;
		port = strstr(p[1], "id=hp0") ? p - argv : port;
		hp = strstr(p[1], "id=hpnic1") ? p - argv : hp;
		vga = strcmp(p[1], "VGA") == 0 ? p - argv : vga;
	}
	ASSERT_TRUE(nic0 >= 0 && nic0 < port && port < hp && hp < vga);
	ASSERT_STREQ(last ? last : "", "VGA");
	qemu_argv_free(argv);
}

/* A create request's guest settings: what the CLI sends, parsed into the
 * row; boot devices the VM lacks and bad cdrom values refused. */
static int
spec(const char *json, struct vm_row **row, struct err *e)
{
	json_t *o = json_loads(json, 0, NULL);
	int r;

	*e = (struct err){ 0 };
	*row = NULL;
	r = vm_spec_parse(o, row, e);
	json_decref(o);
	return r;
}

static void
test_spec_guest(void)
{
	struct vm_row *row;
	struct err e;

	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"firmware\":\"uefi\",\"secure_boot\":true,\"tpm\":true,"
	    "\"boot\":[\"cdrom\",\"disk\"],\"cdrom\":\"/iso/a.iso\"}",
	    &row, &e), 0);
	ASSERT_STREQ(row->firmware, "uefi");
	ASSERT_TRUE(row->secure_boot && row->tpm && row->has_cdrom);
	ASSERT_STREQ(row->boot, "cdrom,disk");
	ASSERT_STREQ(row->cdrom, "/iso/a.iso");
	store_vm_row_free(row);
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"cdrom\":\"none\"}", &row, &e), 0);
	ASSERT_TRUE(row->has_cdrom && !row->cdrom && !row->firmware);
	store_vm_row_free(row);
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"secure_boot\":true}", &row, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--firmware uefi");
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"boot\":[\"cdrom\"]}", &row, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "CD drive");
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"boot\":[\"network\"]}", &row, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "NIC");
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"boot\":[\"kernel\"]}", &row, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "--kernel");
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"cdrom\":\"relative.iso\"}", &row, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "absolute");
	ASSERT_EQ(spec("{\"name\":\"a\",\"cpus\":1,\"memory_mib\":64,"
	    "\"cdrom\":\"/a,b.iso\"}", &row, &e), -EINVAL);
}

int
main(void)
{
	RUN_TEST(test_transitions_match_diagram);
	RUN_TEST(test_transitions_refused);
	RUN_TEST(test_action_table);
	RUN_TEST(test_action_messages);
	RUN_TEST(test_action_names);
	RUN_TEST(test_mem_admit);
	RUN_TEST(test_qemu_keeps_stderr);
	RUN_TEST(test_qemu_hotplug_ports);
	RUN_TEST(test_qemu_guest_devices);
	RUN_TEST(test_spec_guest);
	return TEST_REPORT();
}
