/* vm.c - a VM's QEMU process, its QMP connection and its state machine
 * (diagram in vm.h).  Decides nothing about jobs: it reports what happens
 * to QEMU and pokes the VM's job, which decides. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "firmware.h"
#include "fsutil.h"
#include "job.h"
#include "log.h"
#include "metrics.h"
#include "net.h"
#include "nic.h"
#include "qemu.h"
#include "util.h"
#include "tpm.h"
#include "tpm_state.h"
#include "vm.h"
#include "screen.h"

static const char *const vm_state_names[VM__COUNT] = {
	[VM_CREATING] = "creating", [VM_OFF] = "off",
	[VM_STARTING] = "starting", [VM_RUNNING] = "running",
	[VM_PAUSED] = "paused", [VM_STOPPING] = "stopping",
	[VM_DELETING] = "deleting", [VM_CRASHED] = "crashed",
	[VM_SAVING] = "saving", [VM_SAVED] = "saved",
	[VM_INCOMING] = "incoming", [VM_REPLICA] = "replica",
};

enum vm_state
vm_down_state(const struct vm *vm)
{
	return vm->row->state_file ? VM_SAVED : VM_OFF;
}

bool
vm_is_down(const struct vm *vm)
{
	return vm->state == VM_OFF || vm->state == VM_CRASHED ||
	    vm->state == VM_SAVED;
}

const char *
vm_state_name(enum vm_state s)
{
	return s < VM__COUNT ? vm_state_names[s] : "unknown";
}

int
vm_state_from_name(const char *name)
{
	for (int i = 0; i < VM__COUNT; i++)
		if (streq(name, vm_state_names[i]))
			return i;
	return -EINVAL;
}

char *
vm_run_path(const struct vm *vm, const char *file)
{
	return xasprintf("%s/vms/%s%s%s", vm->h->cfg.run_dir, vm->row->uuid,
	    file ? "/" : "", file ? file : "");
}

char *
vm_state_path(const struct vm *vm, const char *file)
{
	return xasprintf("%s/vms/%s%s%s", vm->h->cfg.state_dir,
	    vm->row->uuid, file ? "/" : "", file ? file : "");
}

struct vm *
vm_add(struct host *h, struct vm_row *row)
{
	struct vm *vm = xzalloc(sizeof(*vm));
	int s = vm_state_from_name(row->state);

	vm->h = h;
	vm->row = row;
	vm->state = s < 0 ? VM_OFF : (enum vm_state)s;
	vm->pidfd = -1;
	vm_metrics_state(vm, -1, vm->state);
	h->vms = xrealloc(h->vms, (h->n_vms + 1) * sizeof(*h->vms));
	h->vms[h->n_vms++] = vm;
	return vm;
}

void
vm_remove(struct vm *vm)
{
	struct host *h = vm->h;

	for (size_t i = 0; i < h->n_vms; i++) {
		if (h->vms[i] != vm)
			continue;
		h->vms[i] = h->vms[--h->n_vms];
		vm_metrics_state(vm, vm->state, -1);
		break;
	}
	agent_stop(vm);
	dynmem_stop(vm);
	vm_block_jobs_forget(vm);
	vm->qmp = qmp_free(vm->qmp);
	vm->launcher = child_free(vm->launcher);
	vm->kill_timer = loop_timer_cancel(h->loop, vm->kill_timer);
	vm->qmp_retry = loop_timer_cancel(h->loop, vm->qmp_retry);
	vm_io_forget(vm);
	if (vm->pidfd >= 0) {
		loop_del_fd(h->loop, vm->pidfd);
		close(vm->pidfd);
	}
	free(vm->last_error);
	json_decref(vm->track_counts);
	store_vm_row_free(vm->row);
	free(vm);
}

struct vm *
vm_find(struct host *h, const char *name_or_uuid)
{
	for (size_t i = 0; i < h->n_vms; i++) {
		struct vm_row *r = h->vms[i]->row;

		if (streq(r->name, name_or_uuid) ||
		    streq(r->uuid, name_or_uuid))
			return h->vms[i];
	}
	return NULL;
}

static void
vm_persist(struct vm *vm)
{
	int r = store_vm_set_runtime(vm->h->store, vm->row->uuid,
	    vm_state_name(vm->state), vm->pid, vm->row->pid_start,
	    vm->row->started_ms);

	if (r < 0)
		log_error("vm=%s cannot persist state %s: %s", vm->row->name,
		    vm_state_name(vm->state), strerror(-r));
}

/* The diagram in vm.h as a table: bit `to` of vm_next[from] is set when
 * some code path takes from -> to. */
#define B(s) (1u << (s))
static const unsigned vm_next[VM__COUNT] = {
	[VM_CREATING] = B(VM_OFF) | B(VM_SAVED) | B(VM_REPLICA),
	[VM_OFF] = B(VM_STARTING) | B(VM_DELETING) | B(VM_SAVED) |
	    B(VM_REPLICA),
	[VM_CRASHED] = B(VM_STARTING) | B(VM_DELETING) | B(VM_OFF) |
	    B(VM_REPLICA),
	[VM_SAVED] = B(VM_STARTING) | B(VM_OFF) | B(VM_DELETING),
	[VM_STARTING] = B(VM_RUNNING) | B(VM_OFF) | B(VM_SAVED) |
	    B(VM_STOPPING) | B(VM_PAUSED),
	[VM_RUNNING] = B(VM_PAUSED) | B(VM_STOPPING) | B(VM_SAVING) |
	    B(VM_OFF) | B(VM_CRASHED),
	[VM_PAUSED] = B(VM_RUNNING) | B(VM_STOPPING) | B(VM_SAVING) |
	    B(VM_OFF) | B(VM_CRASHED),
	[VM_STOPPING] = B(VM_OFF) | B(VM_SAVED) | B(VM_RUNNING),
	[VM_SAVING] = B(VM_SAVED) | B(VM_RUNNING) | B(VM_PAUSED) |
	    B(VM_CRASHED),
	[VM_INCOMING] = B(VM_RUNNING) | B(VM_OFF),
	[VM_REPLICA] = B(VM_DELETING) | B(VM_OFF),
	[VM_DELETING] = 0,
};
#undef B

bool
vm_state_can_change(enum vm_state from, enum vm_state to)
{
	if (from >= VM__COUNT || to >= VM__COUNT)
		return false;
	return from == to || (vm_next[from] & (1u << to)) != 0;
}

/* A transition off the diagram is a bug in the caller.  Debug builds stop
 * there; a release build carries on (the VM's state is what QEMU says it
 * is, refusing the write would only make the record lie) and says so. */
static void
vm_check_transition(struct vm *vm, enum vm_state s)
{
	if (vm_state_can_change(vm->state, s))
		return;
	log_error("vm=%s state %s -> %s is not in the diagram (vm.h)",
	    vm->row->name, vm_state_name(vm->state), vm_state_name(s));
	host_event(vm->h, "error", vm, vm_job(vm) ? vm_job(vm)->row->id : 0,
	    "internal error: state %s -> %s is not allowed",
	    vm_state_name(vm->state), vm_state_name(s));
	assert(!"vm state transition not in the diagram");
}

void
vm_set_state(struct vm *vm, enum vm_state s, const char *msg)
{
	enum vm_state old = vm->state;

	vm_check_transition(vm, s);
	vm->state = s;
	vm_metrics_state(vm, old, s);
	free(vm->row->state);
	vm->row->state = xstrdup(vm_state_name(s));
	vm->row->pid = vm->pid;
	if (s == VM_RUNNING && old == VM_STARTING)
		vm->row->started_ms = wall_ms();
	if (vm->pid == 0)
		vm->row->pid_start = 0;
	vm_persist(vm);
	if (vm->h->on_vm_change)
		vm->h->on_vm_change(vm, vm->h->watch_data);
	if (msg)
		host_event(vm->h, s == VM_CRASHED ? "error" : "info", vm,
		    vm_job(vm) ? vm_job(vm)->row->id : 0, "%s", msg);
	vm_poke_jobs(vm);
}

static void
vm_set_error(struct vm *vm, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
vm_set_error(struct vm *vm, const char *fmt, ...)
{
	va_list ap;

	free(vm->last_error);
	va_start(ap, fmt);
	if (vasprintf(&vm->last_error, fmt, ap) < 0)
		vm->last_error = NULL;
	va_end(ap);
}

static char *vm_qemu_log_tail(struct vm *vm);

/* QEMU went unasked: what it said last (an assertion, an error) goes into
 * the log and the event, since nobody reads its log file once the VM is
 * started again (vm_launch removes it). */
static void
vm_on_unasked_exit(struct vm *vm, const char *why)
{
	_cleanup_free_ char *tail = vm_qemu_log_tail(vm);
	_cleanup_free_ char *msg = NULL;

	log_info("vm=%s qemu exited: %s; qemu_log='%s'", vm->row->name, why,
	    tail);
	if (vm->guest_poweroff) {
		vm_set_state(vm, VM_OFF, why);
		return;
	}
	/* Killed by a signal (SIGSEGV, SIGKILL) QEMU says nothing, and as
	 * it is not our child its status is not ours to read: the kernel's
	 * log has a segfault. */
	msg = *tail ? xasprintf("%s (QEMU's last line: '%s')", why, tail) :
	    xasprintf("%s (QEMU wrote nothing: killed by a signal?)", why);
	vm_set_state(vm, VM_CRASHED, msg);
}

/* QEMU is gone: drop the connection and decide what the VM is now. */
static void
vm_on_qemu_exit(struct vm *vm)
{
	bool asked = vm->state == VM_STOPPING || vm->state == VM_STARTING ||
	    vm->state == VM_SAVING;
	const char *why = vm->guest_poweroff ? "the guest powered off" :
	    "QEMU exited unexpectedly";

	loop_del_fd(vm->h->loop, vm->pidfd);
	close(vm->pidfd);
	vm->pidfd = -1;
	vm->pid = 0;
	agent_stop(vm);
	dynmem_stop(vm);
	vm->qmp = qmp_free(vm->qmp);
	vm->qmp_ready = false;
	vm->vcpus_running = false;
	vm->incoming = false;
	vm->kill_timer = loop_timer_cancel(vm->h->loop, vm->kill_timer);
	vm->qmp_retry = loop_timer_cancel(vm->h->loop, vm->qmp_retry);
	vm_io_forget(vm);
	vm->mig_status[0] = '\0';
	if (vm->state == VM_SAVING || vm->state == VM_INCOMING) {
		/* the job decides what the VM is now */
		vm_poke_jobs(vm);
		return;
	}
	if (asked) {
		vm_set_state(vm, vm_down_state(vm), NULL);
		return;
	}
	vm_on_unasked_exit(vm, why);
}

static void
vm_on_pidfd(struct loop *l, int fd, uint32_t events, void *data)
{
	(void)l;
	(void)fd;
	(void)events;
	vm_on_qemu_exit(data);
}

static void
vm_on_qmp_event(struct qmp *q, const char *name, json_t *data, void *ud)
{
	struct vm *vm = ud;

	(void)q;
	if (streq(name, "STOP")) {
		vm->vcpus_running = false;
		vm->stop_wall_ms = wall_ms();
		if (vm->state == VM_RUNNING && !vm_job(vm))
			vm_set_state(vm, VM_PAUSED, "paused (by QEMU)");
	} else if (streq(name, "RESUME")) {
		vm->vcpus_running = true;
		if (vm->state == VM_PAUSED && !vm_job(vm))
			vm_set_state(vm, VM_RUNNING, "resumed (by QEMU)");
	} else if (strncmp(name, "BLOCK_JOB_", 10) == 0) {
		struct vm_block_job *b = vm_block_job_find(vm,
		    json_string_value(json_object_get(data, "device")) ?: "");
		const char *e = json_string_value(json_object_get(data,
		    "error"));

		if (b && streq(name, "BLOCK_JOB_READY"))
			b->ready = true;
		if (b && (streq(name, "BLOCK_JOB_COMPLETED") ||
		    streq(name, "BLOCK_JOB_CANCELLED"))) {
			b->ended = true;
			if (e || streq(name, "BLOCK_JOB_CANCELLED")) {
				free(b->error);
				b->error = xstrdup(e ? e : "cancelled");
			}
		}
	} else if (streq(name, "DEVICE_DELETED")) {
		vm_nic_on_deleted(vm, data);
	} else if (streq(name, "BLOCK_IO_ERROR")) {
		vm_io_error(vm, data);
	} else if (streq(name, "MIGRATION")) {
		snprintf(vm->mig_status, sizeof(vm->mig_status), "%s",
		    json_string_value(json_object_get(data, "status")) ?: "");
	} else if (streq(name, "SHUTDOWN")) {
		vm->guest_poweroff = json_is_true(json_object_get(data,
		    "guest"));
	}
	vm_poke_jobs(vm);
}

static void
vm_on_status(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct vm *vm = data;
	const char *st = json_string_value(json_object_get(ret, "status"));

	(void)q;
	if (!ret) {
		vm_set_error(vm, "query-status failed: %s", e->msg);
	} else {
		vm->vcpus_running = streq(st, "running");
		vm->qmp_ready = true;
	}
	vm_poke_jobs(vm);
}

static void vm_qmp_connect(struct vm *vm);

static void
vm_qmp_retry(struct loop *l, void *data)
{
	struct vm *vm = data;

	(void)l;
	vm->qmp_retry = NULL;
	if (vm->pidfd >= 0 && !vm->qmp)
		vm_qmp_connect(vm);
}

static void
vm_on_qmp_state(struct qmp *q, int state, void *ud)
{
	struct vm *vm = ud;

	if (state == QMP_READY) {
		(void)qmp_send(q, "query-status", NULL, 10000, vm_on_status,
		    vm);
		vm_nic_reconcile(vm);
		return;
	}
	/* Closed: QEMU is exiting (the pidfd will say) or the socket broke;
	 * reconnect while the process lives. */
	vm->qmp = qmp_free(vm->qmp);
	vm->qmp_ready = false;
	if (vm->pidfd >= 0 && !vm->qmp_retry)
		vm->qmp_retry = loop_timer_add(vm->h->loop, 500,
		    vm_qmp_retry, vm);
}

static void
vm_qmp_connect(struct vm *vm)
{
	_cleanup_free_ char *path = vm_run_path(vm, "qmp.sock");
	int r = qmp_connect(vm->h->loop, path, QMP_MODE_QMP, vm_on_qmp_event,
	    vm_on_qmp_state, vm, &vm->qmp);

	if (r < 0)
		vm_set_error(vm, "cannot connect to QMP at '%s': %s", path,
		    strerror(-r));
}

/* Watch QEMU's pid (from the pidfile or the database) and connect. */
static int
vm_watch(struct vm *vm, pid_t pid)
{
	int fd = child_pidfd_open(pid);
	int r;

	if (fd < 0)
		return fd;
	r = loop_add_fd(vm->h->loop, fd, EPOLLIN, vm_on_pidfd, vm);
	if (r < 0) {
		close(fd);
		return r;
	}
	vm->pidfd = fd;
	vm->pid = pid;
	vm->row->pid = pid;
	vm->row->pid_start = child_proc_start_time(pid);
	vm_persist(vm);
	vm_qmp_connect(vm);
	agent_start(vm);
	dynmem_start(vm);
	return 0;
}

static char *
vm_qemu_log_tail(struct vm *vm)
{
	_cleanup_free_ char *path = vm_run_path(vm, "qemu.log");
	char *buf = NULL, *line;
	size_t len;

	if (file_read_all(path, 1 << 20, &buf, &len) < 0)
		return xstrdup("no output");
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	line = strrchr(buf, '\n');
	line = xstrdup(line ? line + 1 : buf);
	free(buf);
	return line;
}

static void
vm_on_launcher_exit(struct child *c, int status, void *data)
{
	struct vm *vm = data;
	_cleanup_free_ char *pidfile = vm_run_path(vm, "qemu.pid");
	_cleanup_free_ char *buf = NULL;
	int r;

	(void)c;
	vm->launcher = child_free(vm->launcher);
	if (status != 0) {
		_cleanup_free_ char *tail = vm_qemu_log_tail(vm);

		vm_set_error(vm, "QEMU failed to start (exit %d): %s", status,
		    tail);
		tpm_kill(vm);	/* its swtpm waits for a QEMU that is not */
	} else if ((r = file_read_all(pidfile, 64, &buf, NULL)) < 0) {
		vm_set_error(vm, "cannot read QEMU pidfile: %s", strerror(-r));
	} else if ((r = vm_watch(vm, atoi(buf))) < 0) {
		vm_set_error(vm, "cannot watch QEMU pid %d: %s", atoi(buf),
		    strerror(-r));
	} else {
		vm_vnc_secure(vm);
	}
	vm_poke_jobs(vm);
}

/* Each NIC's tap on its switch and its VLANs, on every launch path
 * (start, incoming move, restore, failover): the row's trunk text was
 * checked when it was written, and is read again here. */
static int
vm_open_taps(struct vm *vm, int *fds, struct err *err)
{
	for (size_t i = 0; i < vm->row->n_nics; i++) {
		fds[i] = vm_nic_open_tap(vm, &vm->row->nics[i], err);
		if (fds[i] < 0)
			return fds[i];
	}
	return 0;
}

int
vm_nic_bridge(struct vm *vm, const struct nic_row *n, char br[16],
    struct net_vlans *v, struct err *err)
{
	int r;

	*v = (struct net_vlans){ .vlan = (uint16_t)n->vlan };
	net_bridge_name(n->switch_name, br);
	if (!net_bridge_exists(br) && net_bridge_create(br, err) < 0)
		return err->code;
	if (host_switch_isolated(vm->h, n->switch_name) &&
	    (r = net_bridge_isolate(br, err)) < 0)
		return r;
	return net_trunks_parse(n->trunks, v, err);
}

int
vm_nic_open_tap(struct vm *vm, const struct nic_row *n, struct err *err)
{
	struct net_vlans v;
	_cleanup_close_ int fd = -1;
	char br[16], tap[16];
	int r;

	if ((r = vm_nic_bridge(vm, n, br, &v, err)) < 0)
		return r;
	fd = net_tap_open(br, &v, err);
	if (fd < 0)
		return fd;
	/* tagged, so that `nic set` finds it while QEMU holds it */
	if ((r = net_tap_name(fd, tap)) < 0)
		return err_setf_errno(err, r, "cannot read the tap's name");
	if ((r = net_tap_tag(tap, n->mac, err)) < 0)
		return r;
	return TAKE_FD(fd);
}

/* Spawn `qemu -daemonize`; vm_on_launcher_exit takes it from there. */
static int
vm_launch_qemu(struct vm *vm, struct err *err)
{
	_cleanup_free_ char *log = vm_run_path(vm, "qemu.log");
	int fds[16], r;
	char **argv;

	if (vm->row->n_nics > ARRAY_SIZE(fds))
		return err_set(err, -E2BIG, "too many NICs");
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		fds[i] = -1;
	r = vm_open_taps(vm, fds, err);
	if (r == 0) {
		struct child_opts o = {
			.argv = (const char *const *)(argv = qemu_argv(vm)),
			.log_path = log, .keep_fds = fds,
			.n_keep_fds = vm->row->n_nics, .new_session = true,
		};

		r = child_spawn(vm->h->loop, &o, vm_on_launcher_exit, vm,
		    &vm->launcher);
		if (r < 0)
			err_setf_errno(err, r, "cannot start QEMU");
		qemu_argv_free(argv);
	}
	for (size_t i = 0; i < vm->row->n_nics; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return r;
}

/* `swtpm --daemon` returned: its socket listens, QEMU may connect. */
static void
vm_on_swtpm_exit(struct child *c, int status, void *data)
{
	struct vm *vm = data;
	struct err err = { 0 };

	(void)c;
	vm->launcher = child_free(vm->launcher);
	if (status != 0) {
		_cleanup_free_ char *log = vm_run_path(vm, "swtpm.log");
		_cleanup_free_ char *tail = file_last_line(log);

		vm_set_error(vm, "swtpm failed to start (exit %d): %s", status,
		    tail ? tail : "no output");
	} else if (vm_launch_qemu(vm, &err) < 0) {
		tpm_kill(vm);
		vm_set_error(vm, "%s", err.msg);
	}
	vm_poke_jobs(vm);
}

/* The firmware is there; the files QEMU opens must stay writable after
 * it drops to its user (flushes reopen nothing, but later block jobs
 * open new nodes). */
static int
vm_give_files(struct vm *vm, struct err *err)
{
	const struct vm_row *r = vm->row;
	_cleanup_free_ char *code = r->firmware ?
	    firmware_code_path(vm->h, r->secure_boot) : NULL;

	if (code && access(code, R_OK) == -1)
		return err_set(err, -ENOENT, "UEFI firmware '%s' is missing: "
		    "install Debian's package ovmf", code);
	if (r->firmware && !r->nvram)
		return err_set(err, -ENOENT, "vm '%s' boots UEFI but has no "
		    "UEFI variables file", r->name);
	if (r->nvram && access(r->nvram, R_OK | W_OK) == -1)
		return err_set(err, -ENOENT, "the vm's UEFI variables '%s' "
		    "are missing", r->nvram);
	for (size_t i = 0; i < r->n_disks && vm->h->qemu_uid; i++)
		if (chown(r->disks[i].path, vm->h->qemu_uid,
		    vm->h->qemu_gid) == -1)
			return err_setf_errno(err, -errno, "cannot give disk "
			    "'%s' to the QEMU user", r->disks[i].path);
	if (r->nvram && vm->h->qemu_uid && chown(r->nvram, vm->h->qemu_uid,
	    vm->h->qemu_gid) == -1)
		return err_setf_errno(err, -errno, "cannot give '%s' to the "
		    "QEMU user", r->nvram);
	return 0;
}

/*   vm_launch --[tpm] tpm_spawn--> vm_on_swtpm_exit --vm_launch_qemu-->
 *   vm_on_launcher_exit: QEMU watched (or vm->last_error set)
 * vm->launcher is the child in flight either way. */
int
vm_launch(struct vm *vm, struct err *err)
{
	_cleanup_free_ char *rdir = vm_run_path(vm, NULL);
	_cleanup_free_ char *sdir = vm_state_path(vm, NULL);
	_cleanup_free_ char *log = vm_run_path(vm, "qemu.log");
	int r;

	if ((r = mkdir_p(rdir, 0700)) < 0 || (r = mkdir_p(sdir, 0700)) < 0)
		return err_setf_errno(err, r, "cannot create VM directories");
	(void)unlink(log);
	free(vm->last_error);
	vm->last_error = NULL;
	vm->guest_poweroff = false;
	if ((r = vm_give_files(vm, err)) < 0)
		return r;
	if (vm->row->tpm)
		return tpm_spawn(vm, vm_on_swtpm_exit, &vm->launcher, err);
	return vm_launch_qemu(vm, err);
}

bool
vm_reattach(struct vm *vm)
{
	pid_t pid = vm->row->pid;

	/* A ternd killed between QEMU's daemonize and recording the pid
	 * leaves only the pidfile. */
	if (pid <= 0) {
		_cleanup_free_ char *pidfile = vm_run_path(vm, "qemu.pid");
		_cleanup_free_ char *buf = NULL;

		if (file_read_all(pidfile, 64, &buf, NULL) < 0)
			return false;
		pid = atoi(buf);
		vm->row->pid_start = 0;
	}
	if (pid <= 0 || (vm->row->pid_start &&
	    child_proc_start_time(pid) != vm->row->pid_start) ||
	    !proc_cmdline_has(pid, vm->row->uuid, false))
		return false;
	return vm_watch(vm, pid) == 0;
}

void
vm_kill(struct vm *vm)
{
	if (vm->pidfd >= 0)
		(void)syscall(SYS_pidfd_send_signal, vm->pidfd, SIGKILL,
		    NULL, 0);
	if (vm->launcher)
		(void)child_kill(vm->launcher, SIGKILL);
}

/* One command sent for a job: the reply goes to that job by its ref. */
struct vm_call {
	struct vm *vm;		/* valid until the reply: a VM's QMP
				 * answers every command before it is freed */
	struct job_ref ref;	/* id 0: sent for no job */
	vm_reply_fn fn;
};

static void
vm_on_call(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct vm_call *c = data;
	struct vm *vm = c->vm;
	struct job *job = c->ref.id ? job_from_ref(&vm->h->jobs, c->ref) :
	    NULL;

	(void)q;
	/* vm_remove() (ternd's exit) fails what QEMU has not answered:
	 * that is no answer for a job, whose vm_of() no longer finds the
	 * VM (vm.move-in's `cont` failing went on to in_abort() on NULL). */
	if (vm_find(vm->h, vm->row->uuid) != vm) {
		free(c);
		return;
	}
	if (c->fn) {
		c->fn(vm, job, ret, e);
	} else {
		if (!ret)
			vm_set_error(vm, "%s", e->msg);
		if (job)
			job_poke(job);
	}
	free(c);
}

void
vm_reply_first_error(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	if (!ret && !vm->last_error)
		vm->last_error = xstrdup(e->msg);
	if (job)
		job_poke(job);
}

static struct vm_call *
vm_call_new(struct vm *vm, struct job *job, vm_reply_fn fn)
{
	struct vm_call *c = xzalloc(sizeof(*c));

	c->vm = vm;
	c->fn = fn;
	if (job)
		c->ref = job_ref(job);
	return c;
}

/* vm_qmp() and vm_qmp_fd(): fd -1 sends no fd. */
static int
vm_qmp_send(struct vm *vm, struct job *job, const char *cmd, json_t *args,
    int fd, uint64_t timeout_ms, vm_reply_fn fn)
{
	struct vm_call *c;
	int r;

	if (!vm->qmp || !vm->qmp_ready) {
		json_decref(args);
		return -ENOTCONN;
	}
	c = vm_call_new(vm, job, fn);
	r = fd < 0 ? qmp_send(vm->qmp, cmd, args, timeout_ms, vm_on_call, c) :
	    qmp_send_fd(vm->qmp, cmd, args, fd, timeout_ms, vm_on_call, c);
	if (r < 0)
		free(c);
	return r;
}

int
vm_qmp(struct vm *vm, struct job *job, const char *cmd, json_t *args,
    uint64_t timeout_ms, vm_reply_fn fn)
{
	return vm_qmp_send(vm, job, cmd, args, -1, timeout_ms, fn);
}

int
vm_qmp_cmd(struct vm *vm, struct job *job, struct qmp_command c,
    uint64_t timeout_ms, vm_reply_fn fn)
{
	return vm_qmp(vm, job, c.name, c.args, timeout_ms, fn);
}

int
vm_qmp_fd(struct vm *vm, struct job *job, const char *cmd, json_t *args,
    int fd, uint64_t timeout_ms, vm_reply_fn fn)
{
	if (fd < 0) {
		json_decref(args);
		return -EBADF;
	}
	return vm_qmp_send(vm, job, cmd, args, fd, timeout_ms, fn);
}

static json_t *
vm_disk_json(const struct disk_row *d)
{
	struct stat st;
	uint64_t alloc = stat(d->path, &st) == 0 ?
	    (uint64_t)st.st_blocks * 512 : 0;

	return json_pack("{ss ss so sI sI}", "name", d->name, "path",
	    d->path, "pool", d->pool ? json_string(d->pool) : json_null(),
	    "virtual_size", (json_int_t)d->size_bytes,
	    "allocated", (json_int_t)alloc);
}

static json_t *
json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* firmware, secure_boot, tpm, boot, cdrom, nvram, tpm_dir,
 * cloud_init_seed, cloud_init_net (issue 17's settings and per-VM
 * files). */
static void
vm_guest_json(const struct vm_row *r, json_t *o)
{
	json_t *boot = json_array();
	_cleanup_free_ char *copy = xstrdup(r->boot ? r->boot :
	    r->kernel ? "kernel" : "disk");
	char *save = NULL;
	json_t *net;

	for (char *t = strtok_r(copy, ",", &save); t;
	    t = strtok_r(NULL, ",", &save))
		json_array_append_new(boot, json_string(t));
	json_object_set_new(o, "firmware", json_string(r->firmware ?
	    r->firmware : "bios"));
	json_object_set_new(o, "secure_boot", json_boolean(r->secure_boot));
	json_object_set_new(o, "tpm", json_boolean(r->tpm));
	json_object_set_new(o, "boot", boot);
	json_object_set_new(o, "cd_drive", json_boolean(r->has_cdrom));
	json_object_set_new(o, "cdrom", json_str_or_null(r->cdrom));
	json_object_set_new(o, "nvram", json_str_or_null(r->nvram));
	json_object_set_new(o, "tpm_dir", json_str_or_null(r->tpm_dir));
	json_object_set_new(o, "cloud_init_seed",
	    json_str_or_null(r->cloud_init_seed));
	net = r->cloud_init_net ? json_loads(r->cloud_init_net, 0, NULL) :
	    NULL;
	json_object_set_new(o, "cloud_init_net", net ? net : json_null());
}

static json_t *
vm_config_json(const struct vm *vm)
{
	const struct vm_row *r = vm->row;
	json_t *disks = json_array(), *nics = json_array();
	char c[40], s[40];

	for (size_t i = 0; i < r->n_disks; i++)
		json_array_append_new(disks, vm_disk_json(&r->disks[i]));
	for (size_t i = 0; i < r->n_nics; i++) {
		char nm[24];	/* QEMU's device id (qemu.c): failover IPs */

		snprintf(nm, sizeof(nm), "nic%zu", i);
		/* port: the hot-plug port it is on (K+1), 0 the root bus */
		json_array_append_new(nics, json_pack("{ss ss ss si ss si}",
		    "name", nm, "mac", r->nics[i].mac, "switch",
		    r->nics[i].switch_name, "vlan", (int)r->nics[i].vlan,
		    "trunks", r->nics[i].trunks, "port",
		    (int)r->nics[i].port));
	}
	json_t *o;

	o = json_pack("{ss ss ss si sI sb ss ss so so so so so ss so so so}",
	    "name", r->name, "uuid", r->uuid, "state", vm_state_name(vm->state),
	    "cpus", r->cpus, "memory_mib", (json_int_t)r->memory_mib,
	    "cpu_compat", r->cpu_compat, "machine", r->machine,
	    "cpu_model", qemu_cpu_model(r->cpu_compat, vm->h->kvm),
	    "kernel", r->kernel ? json_string(r->kernel) : json_null(),
	    "initrd", r->initrd ? json_string(r->initrd) : json_null(),
	    "cmdline", r->cmdline ? json_string(r->cmdline) : json_null(),
	    "disks", disks, "nics", nics, "host", vm->h->cfg.name,
	    "pid", vm->pid ? json_integer(vm->pid) : json_null(),
	    "created_at", json_string(wall_ms_format(r->created_ms, c,
	    sizeof(c))),
	    "started_at", vm->pid && r->started_ms ?
	    json_string(wall_ms_format(r->started_ms, s, sizeof(s))) :
	    json_null());
	json_object_set_new(o, "hotplug_ports", json_integer(r->hotplug_ports));
	vm_guest_json(r, o);
	json_object_set_new(o, "memory_current_mib",
	    json_integer((json_int_t)r->memory_cur_mib));
	json_object_set_new(o, "dynamic_memory", dynmem_to_json(vm));
	return o;
}

void
vm_forget_saved_state(struct vm *vm)
{
	if (!vm->row->state_file)
		return;
	(void)unlink(vm->row->state_file);
	free(vm->row->state_file);
	vm->row->state_file = NULL;
	(void)store_vm_set_text(vm->h->store, vm->row->uuid, "state_file",
	    NULL);
}

static json_t *
vm_services_json(const struct vm *vm)
{
	json_t *o = json_object();

	for (int i = 0; i < SVC__COUNT; i++)
		json_object_set_new(o, vm_service_name(i),
		    json_boolean(vm_service_on(vm, i)));
	return o;
}

json_t *
vm_to_json(const struct vm *vm)
{
	json_t *o = vm_config_json(vm);
	json_t *kvp = vm->row->kvp ? json_loads(vm->row->kvp, 0, NULL) : NULL;

	json_object_set_new(o, "guest", agent_to_json(vm));
	json_object_set_new(o, "heartbeat", json_incref(json_object_get(
	    json_object_get(o, "guest"), "heartbeat")));
	json_object_set_new(o, "services", vm_services_json(vm));
	json_object_set_new(o, "kvp", kvp ? kvp : json_object());
	json_object_set_new(o, "saved_state", vm->row->state_file ?
	    json_string(vm->row->state_file) : json_null());
	/* why a plain start is refused (src/failover), or null */
	json_object_set_new(o, "hold", vm->row->hold ?
	    json_string(vm->row->hold) : json_null());
	return o;
}

void
vm_remove_run_files(struct vm *vm)
{
	static const char *const files[] = { "qmp.sock", "qga.sock",
		"qemu.pid", "qemu.log", NULL };
	_cleanup_free_ char *dir = vm_run_path(vm, NULL);

	for (size_t i = 0; files[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir, files[i]);

		(void)unlink(p);
	}
	for (size_t i = 0; tpm_run_files[i]; i++) {
		_cleanup_free_ char *p = xasprintf("%s/%s", dir,
		    tpm_run_files[i]);

		(void)unlink(p);
	}
	tpm_state_remove_link(vm);
	(void)rmdir(dir);
}

struct vm_block_job *
vm_block_job_find(struct vm *vm, const char *id)
{
	for (size_t i = 0; i < vm->n_bjobs; i++)
		if (streq(vm->bjobs[i].id, id))
			return &vm->bjobs[i];
	return NULL;
}

struct vm_block_job *
vm_block_job_track(struct vm *vm, const char *id)
{
	struct vm_block_job *b = vm_block_job_find(vm, id);

	if (!b) {
		if (vm->n_bjobs == VM_MAX_BLOCK_JOBS)
			return NULL;
		b = &vm->bjobs[vm->n_bjobs++];
	}
	free(b->error);
	free(b->change_error);
	memset(b, 0, sizeof(*b));
	snprintf(b->id, sizeof(b->id), "%s", id);
	return b;
}

void
vm_block_jobs_forget(struct vm *vm)
{
	for (size_t i = 0; i < vm->n_bjobs; i++) {
		free(vm->bjobs[i].error);
		free(vm->bjobs[i].change_error);
		vm->bjobs[i].error = NULL;	/* track() frees a reused slot's */
		vm->bjobs[i].change_error = NULL;
	}
	vm->n_bjobs = 0;
}

