/* host.c - host facts (KVM, QEMU version, memory), events, pool lookups.
 * The only place that turns an event into both a row and a log line. */
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
#include "util.h"
#include "vm.h"

void
host_event(struct host *h, const char *severity, const struct vm *vm,
    int64_t job_id, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r = store_event_add(h->store, severity, vm ? vm->row->name : NULL,
	    job_id, msg, NULL);
	log_msg(streq(severity, "error") ? LOG_LVL_ERROR :
	    streq(severity, "warning") ? LOG_LVL_WARN : LOG_LVL_INFO,
	    "event%s%s job=%lld %s", vm ? " vm=" : "",
	    vm ? vm->row->name : "", (long long)job_id, msg);
	if (r < 0)
		log_error("cannot record event: %s", strerror(-r));
}

static void
host_probe_qemu(struct host *h)
{
	_cleanup_free_ char *cmd = xasprintf("%s --version 2>/dev/null",
	    h->cfg.qemu_binary);
	FILE *p = popen(cmd, "r");
	char line[256] = "";

	snprintf(h->qemu_version, sizeof(h->qemu_version), "unknown");
	if (!p)
		return;
	if (fgets(line, sizeof(line), p)) {
		char *v = strstr(line, "version ");

		if (v)
			sscanf(v + 8, "%31s", h->qemu_version);
	}
	pclose(p);
}

/* The CPU offers hardware virtualization (vmx or svm).  /dev/kvm can be
 * openable without it (seen on nested hosts), and then guests never run. */
static bool
cpu_has_virt(void)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[4096];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0)
			found = strstr(line, " vmx") || strstr(line, " svm");
	fclose(f);
	return found;
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
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	h->kvm = fd >= 0 && cpu_has_virt() && !getenv("TERN_NO_KVM");
	if (fd >= 0)
		close(fd);
	host_probe_qemu(h);
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

json_t *
host_to_json(struct host *h)
{
	uint64_t total = 0, avail = 0;
	size_t running = 0;

	(void)host_memory_mib(&total, &avail);
	for (size_t i = 0; i < h->n_vms; i++)
		if (h->vms[i]->pid)
			running++;
	return json_pack("{ss ss ss ss ss ss ss sI sI sI so ss s{si si}}",
	    "name", h->cfg.name, "uuid", h->uuid, "version", TERN_VERSION,
	    "fingerprint", h->fingerprint, "accel", h->kvm ? "kvm" : "tcg",
	    "qemu_version", h->qemu_version,
	    "qemu_user", host_qemu_user_name(h),
	    "cpus", (json_int_t)sysconf(_SC_NPROCESSORS_ONLN),
	    "memory_mib", (json_int_t)total,
	    "memory_available_mib", (json_int_t)avail,
	    "listen", h->cfg.listen ? json_string(h->cfg.listen) : json_null(),
	    "state_dir", h->cfg.state_dir,
	    "vms", "total", (int)h->n_vms, "running", (int)running);
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

bool
host_switch_exists(struct host *h, const char *name)
{
	struct obj_row *rows;
	size_t n;
	bool found = false;

	if (store_obj_list(h->store, STORE_SWITCH, &rows, &n) < 0)
		return false;
	for (size_t j = 0; j < n; j++)
		found |= streq(rows[j].name, name);
	obj_rows_free(rows, n);
	return found;
}
