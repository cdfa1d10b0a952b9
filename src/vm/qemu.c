/* qemu.c - build the QEMU command line (7.2 to 10.x): the VM's versioned
 * machine type, an explicit CPU model, the -blockdev graph with stable
 * node names (vdX-file -> vdX-fmt), virtio devices, QMP, guest agent and
 * console sockets, the seccomp sandbox, and the user QEMU drops to.  What
 * differs between QEMU releases is chosen from the version the host read
 * at start (host_qemu_at_least).  See docs/architecture.md for why. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware.h"
#include "qemu.h"
#include "util.h"
#include "vm.h"

struct argv_buf {
	char **v;
	size_t n;
};

static void
arg(struct argv_buf *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
arg(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	a->v = xrealloc(a->v, (a->n + 2) * sizeof(*a->v));
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

const char *
qemu_cpu_model(bool cpu_compat, bool kvm)
{
	if (cpu_compat)
		return "qemu64";
	return kvm ? "host" : "max";
}

/* ",bootindex=N" for dev ("disk", "cdrom", "network") by its place in
 * the VM's boot order (no order: disk 0 first unless a kernel boots);
 * "" when dev is not in it.  buf: 24 bytes. */
static const char *
qemu_bootindex(const struct vm_row *r, const char *dev, char *buf)
{
	const char *p = r->boot;
	int n = 1;

	buf[0] = '\0';
	if (!p) {
		if (streq(dev, "disk") && !r->kernel)
			snprintf(buf, 24, ",bootindex=1");
		return buf;
	}
	for (; *p; n++) {
		size_t len = strcspn(p, ",");

		if (strlen(dev) == len && strncmp(p, dev, len) == 0) {
			snprintf(buf, 24, ",bootindex=%d", n);
			break;
		}
		p += len + (p[len] == ',');
	}
	return buf;
}

/* The CD drives on q35's AHCI (ide.0, ide.1), which SeaBIOS and OVMF
 * both boot: cd0 the VM's drive (empty without an ISO), cd1 its
 * cloud-init seed.  Read-only raw nodes cdN-file -> cdN. */
static void
qemu_argv_cd(struct argv_buf *a, const struct vm_row *r, int i,
    const char *iso, const char *boot)
{
	if (iso) {
		arg(a, "-blockdev");
		arg(a, "{\"driver\":\"file\",\"filename\":\"%s\","
		    "\"node-name\":\"cd%d-file\",\"read-only\":true}", iso,
		    i);
		arg(a, "-blockdev");
		arg(a, "{\"driver\":\"raw\",\"file\":\"cd%d-file\","
		    "\"node-name\":\"cd%d\",\"read-only\":true}", i, i);
	}
	arg(a, "-device");
	if (iso)
		arg(a, "ide-cd,bus=ide.%d,id=cd%d,drive=cd%d%s", i, i, i, boot);
	else
		arg(a, "ide-cd,bus=ide.%d,id=cd%d%s", i, i, boot);
	(void)r;
}

/* The disks run in QEMU's main loop, not in an I/O thread.  With
 * `-object iothread` and `iothread=` on each virtio-blk (QEMU 10.0.2,
 * TCG) the guest's disk writes stopped for good after a move, its memory
 * and the verifier intact: in one fresh-clone CI run in test_migrate
 * (from its first of 20 moves) and test_migrate_copy (after its 10th),
 * and in one of three private runs of test_migrate (after move 6); with
 * the disks in the main loop, 0 of 3 such runs.  What the thread gained,
 * a lower guest write latency p99 during a local storage move, was
 * within that figure's spread from run to run (bench/README.md). */
static void
qemu_argv_disks(struct argv_buf *a, const struct vm_row *r)
{
	char cbi[24];

	for (size_t i = 0; i < r->n_disks; i++) {
		const struct disk_row *d = &r->disks[i];
		char file[VM_NODE_NAME_MAX], fmt[VM_NODE_NAME_MAX];
		char bi[24];

		vm_node_name(file, d->name, "file", 0);
		vm_node_name(fmt, d->name, "fmt", 0);
		/* QEMU's -blockdev takes commas doubled inside values. */
		arg(a, "-blockdev");
		arg(a, "{\"driver\":\"file\",\"filename\":\"%s\","
		    "\"node-name\":\"%s\",\"aio\":\"threads\","
		    "\"cache\":{\"direct\":false,\"no-flush\":false}}",
		    d->path, file);
		arg(a, "-blockdev");
		arg(a, "{\"driver\":\"qcow2\",\"file\":\"%s\","
		    "\"node-name\":\"%s\"}", file, fmt);
		arg(a, "-device");
		/* a failing storage pauses the VM, its request kept for
		 * `cont` (io_pause.c), never an error the guest sees */
		arg(a, "virtio-blk-pci,drive=%s,id=%s,werror=stop,"
		    "rerror=stop%s", fmt, d->name,
		    i == 0 ? qemu_bootindex(r, "disk", bi) : "");
	}
	if (r->has_cdrom)
		qemu_argv_cd(a, r, 0, r->cdrom,
		    qemu_bootindex(r, "cdrom", cbi));
	if (r->cloud_init_seed)
		qemu_argv_cd(a, r, 1, r->cloud_init_seed, "");
}

static void
qemu_argv_chardevs(struct argv_buf *a, const struct vm *vm)
{
	_cleanup_free_ char *qmp = vm_run_path(vm, "qmp.sock");
	_cleanup_free_ char *qga = vm_run_path(vm, "qga.sock");
	_cleanup_free_ char *log = vm_state_path(vm, "console.log");

	arg(a, "-qmp");
	arg(a, "unix:%s,server=on,wait=off", qmp);
	/* A file chardev: a socket chardev drops (and does not log) what
	 * the guest prints while no client is attached (QEMU 7.2). */
	arg(a, "-chardev");
	arg(a, "file,id=con0,path=%s,append=on", log);
	arg(a, "-serial");
	arg(a, "chardev:con0");
	arg(a, "-chardev");
	arg(a, "socket,id=qga0,path=%s,server=on,wait=off", qga);
	arg(a, "-device");
	arg(a, "virtio-serial-pci,id=vser0");
	arg(a, "-device");
	arg(a, "virtserialport,bus=vser0.0,chardev=qga0,"
	    "name=org.qemu.guest_agent.0,id=qgaport");
}

/* UEFI: OVMF's code read-only, the VM's own variables (pflash0/1 on the
 * machine, see qemu_argv); Secure Boot keeps the variables behind SMM. */
static void
qemu_argv_firmware(struct argv_buf *a, const struct vm *vm)
{
	const struct vm_row *r = vm->row;
	_cleanup_free_ char *code = NULL;

	if (!r->firmware)
		return;
	code = firmware_code_path(vm->h, r->secure_boot);
	arg(a, "-blockdev");
	arg(a, "{\"driver\":\"file\",\"filename\":\"%s\","
	    "\"node-name\":\"fw-code\",\"read-only\":true}", code);
	arg(a, "-blockdev");
	arg(a, "{\"driver\":\"file\",\"filename\":\"%s\","
	    "\"node-name\":\"fw-vars\"}", r->nvram);
	if (r->secure_boot) {
		arg(a, "-global");
		arg(a, "driver=cfi.pflash01,property=secure,value=on");
	}
}

/* The VM's swtpm (tpm.c started it) behind a CRB interface. */
static void
qemu_argv_tpm(struct argv_buf *a, const struct vm *vm)
{
	_cleanup_free_ char *sock = NULL;

	if (!vm->row->tpm)
		return;
	sock = vm_run_path(vm, "swtpm.sock");
	arg(a, "-chardev");
	arg(a, "socket,id=tpm0,path=%s", sock);
	arg(a, "-tpmdev");
	arg(a, "emulator,id=tpm0,chardev=tpm0");
	arg(a, "-device");
	arg(a, "tpm-crb,tpmdev=tpm0");
}

/* The NICs on the root bus, tap fd 3+i each; the first one boots when
 * --boot names network.  Hot-plugged ones come after the root ports
 * (qemu_argv_hotplug). */
static void
qemu_argv_nics(struct argv_buf *a, const struct vm_row *r)
{
	char bi[24];

	for (size_t i = 0; i < r->n_nics; i++) {
		if (r->nics[i].port)
			continue;
		arg(a, "-netdev");
		arg(a, "tap,id=net%zu,fd=%zu,vhost=off", i, 3 + i);
		arg(a, "-device");
		arg(a, "virtio-net-pci,netdev=net%zu,id=nic%zu,mac=%s%s", i,
		    i, r->nics[i].mac, i == 0 ? qemu_bootindex(r, "network",
		    bi) : "");
	}
}

/* The VM's PCIe root ports for hot-plug (hp0..), after the disks and NICs
 * on the root bus (which keep the slots they had before VMs had ports)
 * and before the screen (still the last device), then each hot-plugged
 * NIC on its port with the ids and MAC device_add gave it (vm/nic.c): a
 * live move's destination must have the same devices.  A VM with no
 * ports gets none: its command line is what it was. */
static void
qemu_argv_hotplug(struct argv_buf *a, const struct vm_row *r)
{
	for (unsigned k = 0; k < r->hotplug_ports; k++) {
		arg(a, "-device");
		arg(a, "pcie-root-port,id=hp%u,chassis=%u", k, k + 1);
	}
	for (size_t i = 0; i < r->n_nics; i++) {
		unsigned k = r->nics[i].port - 1;

		if (!r->nics[i].port)
			continue;
		arg(a, "-netdev");
		arg(a, "tap,id=hpnet%u,fd=%zu,vhost=off", k, 3 + i);
		arg(a, "-device");
		arg(a, "virtio-net-pci,netdev=hpnet%u,id=hpnic%u,mac=%s,"
		    "bus=hp%u", k, k, r->nics[i].mac, k);
	}
}

/* Dynamic memory (issue 18): a balloon on pcie.0 that dynmem.c moves;
 * only for a dynamic VM, so a fixed VM's command line (and its PCI
 * slots) stays what it was. */
static void
qemu_argv_balloon(struct argv_buf *a, const struct vm_row *r)
{
	if (!dynmem_row_dynamic(r))
		return;
	arg(a, "-device");
	arg(a, "virtio-balloon-pci,id=bal0,bus=pcie.0");
}

/* The screen (after every other PCI device), then -kernel when given. */
static void
qemu_argv_screen_kernel(struct argv_buf *a, const struct vm_row *r)
{
	/* The screen comes after every other PCI device, so that it takes
	 * the next free slot and the slots of the disks and NICs stay what
	 * they were before VMs had one: a guest's interface names do not
	 * change, and a VM started without it (before this release) keeps
	 * its devices' addresses on a host that adds it. */
	arg(a, "-device");
	arg(a, "VGA");
	if (r->kernel) {
		arg(a, "-kernel");
		arg(a, "%s", r->kernel);
		if (r->initrd) {
			arg(a, "-initrd");
			arg(a, "%s", r->initrd);
		}
		if (r->cmdline) {
			arg(a, "-append");
			arg(a, "%s", r->cmdline);
		}
	}
}

char **
qemu_argv(const struct vm *vm)
{
	const struct vm_row *r = vm->row;
	struct argv_buf a = { 0 };
	_cleanup_free_ char *pidfile = vm_run_path(vm, "qemu.pid");
	_cleanup_free_ char *log = vm_run_path(vm, "qemu.log");
	_cleanup_free_ char *vnc = vm_run_path(vm, "vnc.sock");

	arg(&a, "%s", vm->h->cfg.qemu_binary);
	arg(&a, "-name");
	arg(&a, "guest=%s,debug-threads=on", r->name);
	arg(&a, "-uuid");
	arg(&a, "%s", r->uuid);
	arg(&a, "-machine");
	arg(&a, "%s,accel=%s%s%s", r->machine, vm->h->kvm ? "kvm" : "tcg",
	    r->firmware ? ",pflash0=fw-code,pflash1=fw-vars" : "",
	    r->secure_boot ? ",smm=on" : "");
	arg(&a, "-cpu");
	arg(&a, "%s", qemu_cpu_model(r->cpu_compat, vm->h->kvm));
	arg(&a, "-m");
	arg(&a, "%llu", (unsigned long long)r->memory_mib);
	arg(&a, "-smp");
	arg(&a, "%d", r->cpus);
	arg(&a, "-nodefaults");
	arg(&a, "-no-user-config");
	/* A VNC server on a unix socket in the run dir (root, 0700; the
	 * socket made 0600 by vm_vnc_secure), no TCP port: ternd relays it
	 * (src/api/vnc.c).  -display none keeps QEMU from opening a window;
	 * -vnc still serves (QEMU 7.2 to 10).  The VGA device is the last
	 * PCI device (below). */
	arg(&a, "-display");
	arg(&a, "none");
	arg(&a, "-vnc");
	arg(&a, "unix:%s", vnc);
	arg(&a, "-msg");
	arg(&a, "timestamp=on");
	qemu_argv_chardevs(&a, vm);
	qemu_argv_firmware(&a, vm);
	qemu_argv_tpm(&a, vm);
	qemu_argv_disks(&a, r);
	qemu_argv_nics(&a, r);
	qemu_argv_hotplug(&a, r);
	qemu_argv_balloon(&a, r);
	qemu_argv_screen_kernel(&a, r);
	/* Neither spawn=deny nor elevateprivileges=deny: QEMU 7.2 applies
	 * the filter before -daemonize forks and calls setsid(), and the
	 * daemon dies of SIGSYS (seen on Debian 12). */
	arg(&a, "-sandbox");
	arg(&a, "on,obsolete=deny,resourcecontrol=deny");
	if (vm->h->qemu_uid) {
		/* QEMU opens its disks, sockets and kernel as root, then
		 * drops to this user before it runs the guest.  -run-with
		 * user= came in 9.1; -runas went in 10.0. */
		bool run_with = host_qemu_at_least(vm->h, 9, 1);

		arg(&a, run_with ? "-run-with" : "-runas");
		arg(&a, run_with ? "user=%s" : "%s",
		    host_qemu_user_name(vm->h));
	}
	if (vm->incoming) {	/* a saved state will be fed in over QMP */
		arg(&a, "-incoming");
		arg(&a, "defer");
	}
	arg(&a, "-S");
	arg(&a, "-daemonize");
	arg(&a, "-pidfile");
	arg(&a, "%s", pidfile);
	/* -daemonize points QEMU's stderr at /dev/null once it is up, so an
	 * assertion or error_report() of a running VM went nowhere.  Given
	 * -D, QEMU makes that file its stderr instead (util/log.c, seen on
	 * 10.0.2; a QEMU from before that change, late 2022, ignores -D
	 * without -d and behaves as before).  It is the file the launcher
	 * writes to: QEMU truncates it when it opens it, just after parsing
	 * its options, and writes every later line there. */
	arg(&a, "-D");
	arg(&a, "%s", log);
	return a.v;
}

void
qemu_argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}
