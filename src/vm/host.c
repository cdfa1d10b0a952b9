/* host.c - host facts (KVM, QEMU version, memory), events, pool lookups.
 * The only place that turns an event into both a row and a log line. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "host.h"
#include "log.h"
#include "net.h"
#include "util.h"
#include "vm.h"

void
host_event(struct host *h, const char *severity, const struct vm *vm,
    int64_t job_id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int64_t id = 0;
	int r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = store_event_add(h->store, severity, vm ? vm->row->name : NULL,
	    job_id, msg, &id);
	log_msg(streq(severity, "error") ? LOG_LVL_ERROR :
	    streq(severity, "warning") ? LOG_LVL_WARN : LOG_LVL_INFO,
	    "event%s%s job=%lld %s", vm ? " vm=" : "",
	    vm ? vm->row->name : "", (long long)job_id, msg);
	if (r < 0)
		log_error("cannot record event: %s", strerror(-r));
	else if (h->on_event)
		h->on_event(h, id, h->watch_data);
}

int
host_parse_qemu_version(const char *s, int *ret_major, int *ret_minor)
{
	int major, minor, n = 0;

	if (sscanf(s, "%4d.%4d%n", &major, &minor, &n) != 2 || n == 0 ||
	    major < 0 || minor < 0)
		return -EINVAL;
	*ret_major = major;
	*ret_minor = minor;
	return 0;
}

bool
host_qemu_at_least(const struct host *h, int major, int minor)
{
	return h->qemu_major > major ||
	    (h->qemu_major == major && h->qemu_minor >= minor);
}

/* "pc-q35-10.0" -> 10, 0; false for anything else ("q35", "pc-q35-4.0.1"). */
static bool
machine_version(const char *name, int *major, int *minor)
{
	int n = 0;

	if (strncmp(name, "pc-q35-", 7) != 0 ||
	    sscanf(name + 7, "%4d.%4d%n", major, minor, &n) != 2)
		return false;
	return name[7 + n] == '\0';
}

static int
machine_newer_first(const void *a, const void *b)
{
	int ma = 0, na = 0, mb = 0, nb = 0;

	machine_version(*(char *const *)a, &ma, &na);
	machine_version(*(char *const *)b, &mb, &nb);
	return ma != mb ? mb - ma : nb - na;
}

size_t
host_parse_machines(const char *help, char ***ret)
{
	char **v = NULL;
	size_t n = 0;

	for (const char *p = help; p && *p;) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char name[64];
		int major, minor;

		if (sscanf(p, "%63s", name) == 1 && len >= strlen(name) &&
		    machine_version(name, &major, &minor)) {
			v = xrealloc(v, (n + 2) * sizeof(*v));
			v[n++] = xstrdup(name);
			v[n] = NULL;
		}
		p = eol ? eol + 1 : p + len;
	}
	if (n)
		qsort(v, n, sizeof(*v), machine_newer_first);
	*ret = v;
	return n;
}

bool
host_has_machine(const struct host *h, const char *name)
{
	for (size_t i = 0; i < h->n_machines; i++)
		if (streq(h->machines[i], name))
			return true;
	return false;
}

bool
host_machine_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n < 64 && name[0] != '-' &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789._-") == n;
}

int
host_check_machine(const struct host *h, const char *name,
    const char *what, struct err *err)
{
	if (host_has_machine(h, name))
		return 0;
	if (!h->n_machines)
		return err_set(err, -ENOTSUP, "%s needs machine type '%s'; "
		    "QEMU on host %s offers no q35 machine type", what, name,
		    h->cfg.name ? h->cfg.name : "?");
	return err_set(err, -ENOTSUP, "%s needs machine type '%s', which "
	    "QEMU %s on host %s does not offer (it offers %s to %s); "
	    "upgrade QEMU there, or pick another host", what, name,
	    h->qemu_version, h->cfg.name ? h->cfg.name : "?",
	    h->machines[h->n_machines - 1], h->machines[0]);
}

const char *
host_default_machine(const struct host *h)
{
	return h->n_machines ? h->machines[0] : "pc-q35-7.2";
}

/* Run "QEMU ARG" and return what it printed (at most 64 KiB), or NULL. */
static char *
qemu_output(const struct host *h, const char *arg)
{
	_cleanup_free_ char *cmd = xasprintf("'%s' %s 2>/dev/null",
	    h->cfg.qemu_binary, arg);
	FILE *p = popen(cmd, "r");
	size_t len = 0, cap = 64 * 1024;
	char *buf;

	if (!p)
		return NULL;
	buf = xmalloc(cap + 1);
	len = fread(buf, 1, cap, p);
	buf[len] = '\0';
	if (pclose(p) != 0 || len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The version and machine types of the configured QEMU, read once at
 * start: everything that differs between QEMU releases (the command
 * line, the migration dialect) is chosen from these numbers, never from
 * QEMU's messages.  A QEMU older than 7.2, or one that does not run, is
 * refused. */
static int
host_probe_qemu(struct host *h, struct err *err)
{
	_cleanup_free_ char *ver = qemu_output(h, "--version");
	_cleanup_free_ char *help = NULL;
	const char *v = ver ? strstr(ver, "version ") : NULL;

	snprintf(h->qemu_version, sizeof(h->qemu_version), "unknown");
	if (v)
		sscanf(v + 8, "%31s", h->qemu_version);
	if (host_parse_qemu_version(h->qemu_version, &h->qemu_major,
	    &h->qemu_minor) < 0)
		return err_set(err, -ENOEXEC, "cannot read the version of "
		    "QEMU '%s' (does it run? set qemu = PATH)",
		    h->cfg.qemu_binary);
	if (!host_qemu_at_least(h, HOST_QEMU_MIN_MAJOR, HOST_QEMU_MIN_MINOR))
		return err_set(err, -ENOTSUP, "QEMU %s at '%s' is older than "
		    "%d.%d, the oldest tern drives; install qemu-system-x86 "
		    "from bookworm-backports (scripts/deps.sh does)",
		    h->qemu_version, h->cfg.qemu_binary, HOST_QEMU_MIN_MAJOR,
		    HOST_QEMU_MIN_MINOR);
	help = qemu_output(h, "-machine help");
	h->n_machines = host_parse_machines(help, &h->machines);
	if (!h->n_machines)
		return err_set(err, -ENOTSUP, "QEMU '%s' offers no versioned "
		    "q35 machine type (see its -machine help)",
		    h->cfg.qemu_binary);
	return 0;
}

/* The first CPU's flags line of /proc/cpuinfo has flag (a whole word). */
static bool
cpu_has_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[8192], word[32];
	bool found = false;

	if (!f)
		return false;
	snprintf(word, sizeof(word), " %s ", flag);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5) != 0)
			continue;
		line[strcspn(line, "\n")] = ' ';
		found = strstr(line, word) != NULL;
		break;
	}
	fclose(f);
	return found;
}

/* The CPU offers hardware virtualization (vmx or svm).  /dev/kvm can be
 * openable without it (seen on nested hosts), and then guests never run. */
static bool
cpu_has_virt(void)
{
	return cpu_has_flag("vmx") || cpu_has_flag("svm");
}

/* QEMU runs as qemu-user: "root" keeps it root, "auto" takes
 * HOST_QEMU_USER when that user exists (else root), a name must exist. */
static int
host_probe_user(struct host *h, struct err *err)
{
	const char *name = h->cfg.qemu_user;
	bool is_auto = !name || streq(name, "auto");
	struct passwd *pw;

	h->qemu_uid = 0;
	h->qemu_gid = 0;
	if (streq(name, "root"))
		return 0;
	pw = getpwnam(is_auto ? HOST_QEMU_USER : name);
	if (!pw && is_auto)
		return 0;
	if (!pw)
		return err_set(err, -ENOENT, "qemu-user '%s' does not exist; "
		    "create it or set qemu-user = root", name);
	h->qemu_uid = pw->pw_uid;
	h->qemu_gid = pw->pw_gid;
	return 0;
}

int
host_probe(struct host *h, struct err *err)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC), r;

	h->kvm = fd >= 0 && cpu_has_virt() && !getenv("TERN_NO_KVM");
	if (fd >= 0)
		close(fd);
	h->cpu_aes = cpu_has_flag("aes");
	if ((r = host_probe_qemu(h, err)) < 0)
		return r;
	return host_probe_user(h, err);
}

const char *
host_qemu_user_name(const struct host *h)
{
	struct passwd *pw = h->qemu_uid ? getpwuid(h->qemu_uid) : NULL;

	return pw ? pw->pw_name : "root";
}

int
host_memory_mib(uint64_t *ret_total, uint64_t *ret_available)
{
	FILE *f = fopen("/proc/meminfo", "re");
	char line[128];
	unsigned long long v;

	if (!f)
		return -errno;
	*ret_total = *ret_available = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %llu kB", &v) == 1)
			*ret_total = v / 1024;
		else if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
			*ret_available = v / 1024;
	}
	fclose(f);
	return 0;
}

/* Memory promised to VMs arriving: their QEMU fills it as the move goes
 * on, so MemAvailable does not show it yet.  A dynamic VM's current size. */
static uint64_t
host_mem_promised(const struct host *h)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < h->n_vms; i++)
		if (h->vms[i]->state == VM_INCOMING)
			sum += store_vm_mem_now(h->vms[i]->row);
	return sum;
}

static uint64_t
sub0(uint64_t a, uint64_t b)
{
	return a > b ? a - b : 0;
}

int
host_mem_admit(struct host *h, uint64_t memory_mib,
    enum host_mem_basis basis, const char *what, struct err *err)
{
	uint64_t total, avail, promised, rsv = h->cfg.memory_reserve_mib;

	assert(basis < HOST_MEM_BASIS__COUNT);
	if (host_memory_mib(&total, &avail) < 0)
		return 0;
	total = sub0(total, rsv);
	avail = sub0(avail, rsv);
	if (basis == HOST_MEM_INSTALLED) {
		if (memory_mib <= total)
			return 0;
		return err_set(err, -ENOMEM, "%s: memory %llu MiB is more "
		    "than this host has (%llu MiB%s)", what,
		    (unsigned long long)memory_mib, (unsigned long long)total,
		    rsv ? " beyond its memory-reserve" : "");
	}
	promised = host_mem_promised(h);
	if (memory_mib + promised <= avail)
		return 0;
	return err_set(err, -ENOMEM, "not enough memory to start %s: it needs "
	    "%llu MiB, host %s has %llu MiB available (%llu MiB of it "
	    "promised to incoming vms%s)", what,
	    (unsigned long long)memory_mib, h->cfg.name,
	    (unsigned long long)avail, (unsigned long long)promised,
	    rsv ? ", its memory-reserve not counted" : "");
}

int
host_mem_admit_vm(struct host *h, const struct vm_row *row,
    enum host_mem_basis basis, struct err *err)
{
	bool dyn = row->memory_min_mib && row->memory_min_mib <
	    row->memory_mib;
	char what[160];
	int r;

	if (!dyn)
		snprintf(what, sizeof(what), "vm '%s'", row->name);
	else
		snprintf(what, sizeof(what), "vm '%s' (dynamic memory: "
		    "%llu MiB now, up to %llu MiB)", row->name,
		    (unsigned long long)store_vm_mem_now(row),
		    (unsigned long long)row->memory_mib);
	/* the current size first: that is what the VM needs to run here */
	if (basis == HOST_MEM_AVAILABLE && (r = host_mem_admit(h,
	    store_vm_mem_now(row), HOST_MEM_AVAILABLE, what, err)) < 0)
		return r;
	if (basis == HOST_MEM_INSTALLED || dyn)
		return host_mem_admit(h, row->memory_mib, HOST_MEM_INSTALLED,
		    what, err);
	return 0;
}

uint64_t
host_mem_room(struct host *h)
{
	uint64_t total, avail;

	if (host_memory_mib(&total, &avail) < 0)
		return UINT64_MAX / 2;
	return sub0(sub0(avail, h->cfg.memory_reserve_mib),
	    host_mem_promised(h));
}

/* The memory of the VMs whose QEMU runs: now (a dynamic VM's current
 * size) and at most (its maximum). */
static void
host_mem_vms(const struct host *h, uint64_t *ret_now, uint64_t *ret_max)
{
	*ret_now = *ret_max = 0;
	for (size_t i = 0; i < h->n_vms; i++) {
		if (!h->vms[i]->pid)
			continue;
		*ret_now += store_vm_mem_now(h->vms[i]->row);
		*ret_max += h->vms[i]->row->memory_mib;
	}
}

json_t *
host_to_json(struct host *h)
{
	uint64_t total = 0, avail = 0;
	size_t running = 0;

	json_t *machines = json_array();
	json_t *o;
	uint64_t now, max;

	(void)host_memory_mib(&total, &avail);
	host_mem_vms(h, &now, &max);
	for (size_t i = 0; i < h->n_vms; i++)
		if (h->vms[i]->pid)
			running++;
	for (size_t i = 0; i < h->n_machines; i++)
		json_array_append_new(machines, json_string(h->machines[i]));
	o = json_pack("{ss ss ss ss ss ss ss so ss sI sI sI so ss s{si si}}",
	    "name", h->cfg.name, "uuid", h->uuid, "version", TERN_VERSION,
	    "fingerprint", h->fingerprint, "accel", h->kvm ? "kvm" : "tcg",
	    "qemu_version", h->qemu_version,
	    "machine_default", host_default_machine(h), "machines", machines,
	    "qemu_user", host_qemu_user_name(h),
	    "cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
	    "memory_mib", (json_int_t)total,
	    "memory_available_mib", (json_int_t)avail,
	    "listen", h->cfg.listen ? json_string(h->cfg.listen) : json_null(),
	    "state_dir", h->cfg.state_dir,
	    "vms", "total", (int)h->n_vms, "running", (int)running);
	json_object_set_new(o, "memory_reserved_mib",
	    json_integer((json_int_t)h->cfg.memory_reserve_mib));
	json_object_set_new(o, "memory_vms_mib", json_integer((json_int_t)now));
	json_object_set_new(o, "memory_vms_max_mib",
	    json_integer((json_int_t)max));
	return o;
}

char *
host_pool_path(struct host *h, const char *name)
{
	struct obj_row *rows;
	size_t n;
	char *path = NULL;

	if (store_obj_list(h->store, STORE_POOL, &rows, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n && !path; i++)
		if (streq(rows[i].name, name))
			path = xstrdup(rows[i].a);
	obj_rows_free(rows, n);
	return path;
}

char *
host_pool_of_path(struct host *h, const char *path)
{
	struct obj_row *rows;
	size_t n;
	char *name = NULL;

	if (store_obj_list(h->store, STORE_POOL, &rows, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n && !name; i++)
		if (path_is_under(path, rows[i].a))
			name = xstrdup(rows[i].name);
	obj_rows_free(rows, n);
	return name;
}

int
host_pool_identity(const char *dir, char ret[37])
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, POOL_MARKER);
	_cleanup_free_ char *tmp = NULL;
	_cleanup_free_ char *text = NULL;
	char id[38];
	int r;

	for (int tries = 0; tries < 2; tries++) {
		r = file_read_all(path, 256, &text, NULL);
		if (r == 0) {
			char *nl = strchr(text, '\n');

			if (nl)
				*nl = '\0';
			if (!uuid_is_valid(text))
				return -EINVAL;
			memcpy(ret, text, 37);
			return 0;
		}
		if (r != -ENOENT)
			return r;
		/* Two hosts may create it at once on shared storage: write
		 * a whole file aside, then link() it in, which fails for
		 * the loser; both then read the winner's. */
		uuid_generate_text(id);
		id[36] = '\n';
		tmp = xasprintf("%s.%d.tmp", path, (int)getpid());
		if ((r = file_write_atomic(tmp, id, 37, 0644)) < 0)
			return r;
		if (link(tmp, path) == -1 && errno != EEXIST) {
			r = -errno;
			(void)unlink(tmp);
			return r;
		}
		(void)unlink(tmp);
		free(tmp);
		tmp = NULL;
		text = NULL;
	}
	return -EIO;
}

/* Whether switch name is one of this host's; *isolated (may be NULL)
 * whether it was made --isolated. */
static bool
switch_lookup(struct host *h, const char *name, bool *isolated)
{
	struct obj_row *rows;
	size_t n;
	bool found = false, iso = false;

	if (store_obj_list(h->store, STORE_SWITCH, &rows, &n) < 0)
		return false;
	for (size_t j = 0; j < n && !found; j++) {
		found = streq(rows[j].name, name);
		iso = found && rows[j].b && streq(rows[j].b, "isolated");
	}
	obj_rows_free(rows, n);
	if (isolated)
		*isolated = iso;
	return found;
}

bool
host_switch_isolated(struct host *h, const char *name)
{
	bool iso;

	return switch_lookup(h, name, &iso) && iso;
}

void
host_switches_isolate(struct host *h)
{
	struct obj_row *rows;
	struct err e = { 0 };
	char br[16];
	size_t n;

	if (store_obj_list(h->store, STORE_SWITCH, &rows, &n) < 0)
		return;
	for (size_t j = 0; j < n; j++) {
		if (!rows[j].b || !streq(rows[j].b, "isolated"))
			continue;
		net_bridge_name(rows[j].name, br);
		if (net_isolate_apply(br, &e) < 0)
			log_warn("switch=%s cannot isolate its bridge: %s, "
			    "will retry at its next VM's start", rows[j].name,
			    e.msg);
	}
	obj_rows_free(rows, n);
}

/* A NIC with VLANs needs its switch to filter VLANs here: a plain
 * bridge (an old switch, or a kernel without bridge VLAN filtering)
 * would put it on the untagged network.  0, or the reason. */
int
host_switch_carries(struct host *h, const struct nic_row *n, size_t i,
    struct err *err)
{
	char br[16];

	if (!n->vlan && !n->trunks[0])
		return 0;
	net_bridge_name(n->switch_name, br);
	if (net_bridge_vlan_filtering(br))
		return 0;
	return err_set(err, -EOPNOTSUPP, "switch '%.64s' on host %s cannot "
	    "carry nic %zu's VLANs (vlan %u%s%s): its bridge does not filter "
	    "VLANs; use a switch made by this tern on a kernel with bridge "
	    "VLAN filtering, or drop the NIC's VLANs", n->switch_name,
	    h->cfg.name, i, n->vlan, n->trunks[0] ? ", trunks " : "",
	    n->trunks);
}

bool
host_switch_exists(struct host *h, const char *name)
{
	return switch_lookup(h, name, NULL);
}
