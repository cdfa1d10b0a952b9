/* main.c - ternd: load settings, open state, re-attach to the VMs a
 * previous ternd left running, resume its jobs, serve the API, run the
 * loop.  On SIGTERM it stops serving and leaves the VMs running.
 *
 * Start-up order matters: VMs are re-attached before jobs are recovered
 * (a job looks at its VM's QEMU), and the API opens last (no request sees
 * a half-loaded host).  Under systemd (Type=notify) it says READY=1 only
 * then, STATUS= on the way and STOPPING=1 at a signal; its log lines go
 * to journald as structured entries (journal.c). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "api.h"
#include "backup.h"
#include "checkpoint.h"
#include "config.h"
#include "cluster.h"
#include "failover.h"
#include "fsutil.h"
#include "job.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "peer.h"
#include "refpoint.h"
#include "replica.h"
#include "storage.h"
#include "util.h"
#include "vm.h"

static int
host_lock(const char *state_dir, struct err *err)
{
	_cleanup_free_ char *path = xasprintf("%s/ternd.lock", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot open '%s'", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		close(fd);
		return err_set(err, -EBUSY, "another ternd is running with "
		    "state directory '%s'", state_dir);
	}
	return fd;
}

static int
host_identity(struct host *h, struct err *err)
{
	_cleanup_free_ char *uuid = NULL;

	if (store_meta_get(h->store, "host.uuid", &uuid) == 0 &&
	    uuid_is_valid(uuid)) {
		memcpy(h->uuid, uuid, sizeof(h->uuid));
		return 0;
	}
	uuid_generate_text(h->uuid);
	if (store_meta_set(h->store, "host.uuid", h->uuid) < 0)
		return err_set(err, -EIO, "cannot record host identity");
	return 0;
}

/* Pools named in settings are (re)recorded at each start. */
static int
host_config_pools(struct host *h, struct err *err)
{
	for (size_t i = 0; i < h->cfg.n_pools; i++) {
		_cleanup_free_ char *name = xstrdup(h->cfg.pools[i]);
		char *dir = strchr(name, '=');
		_cleanup_free_ char *old = NULL;
		struct obj_row row = { 0 };
		char id[37];
		int r;

		*dir++ = '\0';
		if (!name_is_valid(name))
			return err_set(err, -EINVAL, "invalid pool name '%s'",
			    name);
		if ((r = mkdir_p(dir, 0700)) < 0)
			return err_setf_errno(err, r, "cannot create pool "
			    "directory '%s'", dir);
		if ((r = host_pool_identity(dir, id)) < 0)
			return err_setf_errno(err, r, "cannot read or create "
			    "the pool identity '%s/%s'", dir, POOL_MARKER);
		old = host_pool_path(h, name);
		if (old && streq(old, dir))
			continue;
		if (old)
			(void)store_obj_delete(h->store, STORE_POOL, name);
		row.name = name;
		row.a = dir;
		if ((r = store_obj_insert(h->store, STORE_POOL, &row)) < 0)
			return err_set(err, r, "cannot record pool '%s' (is "
			    "'%s' already another pool?)", name, dir);
	}
	return 0;
}

/* Find every QEMU a previous ternd left running; settle the rest. */
static void
host_reattach(struct host *h)
{
	for (size_t i = 0; i < h->n_vms; i++) {
		struct vm *vm = h->vms[i];
		enum vm_state s = vm->state;

		if (s == VM_OFF || s == VM_CRASHED || s == VM_CREATING ||
		    s == VM_DELETING || s == VM_REPLICA)
			continue;
		if (vm_reattach(vm)) {
			log_info("vm=%s re-attached to QEMU pid=%d",
			    vm->row->name, (int)vm->pid);
			continue;
		}
		vm->pid = 0;
		if (s == VM_RUNNING || s == VM_PAUSED ||
		    (s == VM_SAVING && !vm->row->state_file))
			vm_set_state(vm, VM_CRASHED, "QEMU exited while ternd "
			    "was not running");
		else
			vm_set_state(vm, vm_down_state(vm), NULL);
	}
}

static int
host_load_vms(struct host *h, struct err *err)
{
	struct vm_row **rows;
	size_t n;
	int r = store_vm_load_all(h->store, &rows, &n);

	if (r < 0)
		return err_setf_errno(err, r, "cannot load VMs");
	for (size_t i = 0; i < n; i++)
		vm_add(h, rows[i]);
	free(rows);
	host_switches_apply(h);	/* before a VM's launch needs its bridge */
	host_reattach(h);
	job_recover_all(&h->jobs);
	return 0;
}

#define SHUTDOWN_WAIT_MS (5 * 60 * 1000)	/* for on-host-shutdown jobs */

static uint64_t shutdown_deadline_ms;
#define SHUTDOWN_DRAIN_RETRY_MS 20000	/* a drain not plannable yet */
static uint64_t drain_retry_ms, drain_next_ms;	/* 0: no retry due */

static bool shutdown_drain(struct host *h);

/* Exit once the on-host-shutdown jobs have ended (or took too long).  A
 * drain that could not be planned yet (the loads not heard yet) is asked
 * again every second for SHUTDOWN_DRAIN_RETRY_MS. */
static void
on_shutdown_tick(struct loop *l, void *data)
{
	static size_t told = SIZE_MAX;	/* jobs in the last STATUS= */
	struct host *h = data;
	uint64_t now = now_ms();

	if (h->jobs.n_jobs && h->jobs.n_jobs != told) {
		told = h->jobs.n_jobs;
		journal_notify_status("stopping: waiting for %zu job(s)", told);
	}
	if (drain_retry_ms && now >= drain_next_ms) {
		drain_next_ms = now + 1000;
		if (!shutdown_drain(h) || now >= drain_retry_ms)
			drain_retry_ms = 0;
	}
	if ((h->jobs.n_jobs == 0 && !cluster_self_draining(h) &&
	    !drain_retry_ms) || now >= shutdown_deadline_ms) {
		if (h->jobs.n_jobs)
			log_warn("jobs=%zu still running at exit; they resume "
			    "at the next start", h->jobs.n_jobs);
		loop_quit(l, 0);
		return;
	}
	loop_timer_add(l, 200, on_shutdown_tick, h);
}

/* on-host-shutdown drain: this node's VMs move away first; the ones
 * that cannot (in no cluster, no quorum, no room) stay running.  true:
 * not yet, ask again (-EAGAIN: e.g. the other nodes' loads not heard). */
static bool
shutdown_drain(struct host *h)
{
	struct err err = { 0 };
	int r = cluster_drain_self(h, &err);

	if (r == -EAGAIN && drain_retry_ms) {
		log_info("host shutting down: drain not yet (%s)", err.msg);
		return true;
	}
	if (r < 0)
		log_warn("host shutting down: no drain (%s); its VMs are left "
		    "running", err.msg);
	else
		host_event(h, "info", NULL, 0, "host shutting down: this node "
		    "is drained first (on-host-shutdown drain); it stays "
		    "paused until 'tern cluster node resume'");
	return false;
}

static void
on_signal(struct loop *l, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;
	struct host *h = data;
	size_t n;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (h->quitting) {	/* a second signal: go now */
		loop_quit(l, 0);
		return;
	}
	h->quitting = true;
	if (streq(h->cfg.on_host_shutdown, "drain")) {
		drain_retry_ms = now_ms() + SHUTDOWN_DRAIN_RETRY_MS;
		drain_next_ms = now_ms() + 1000;
		if (!shutdown_drain(h))
			drain_retry_ms = 0;
	}
	(void)sd_notifyf(0, "STOPPING=1\nSTATUS=stopping "
	    "(on-host-shutdown=%s)", h->cfg.on_host_shutdown ?
	    h->cfg.on_host_shutdown : "keep");
	n = host_stop_vms(h);
	log_info("signal=%d stopping; on-host-shutdown=%s, %zu VM(s) handled",
	    (int)si.ssi_signo, h->cfg.on_host_shutdown ?
	    h->cfg.on_host_shutdown : "keep", n);
	shutdown_deadline_ms = now_ms() + SHUTDOWN_WAIT_MS;
	on_shutdown_tick(l, h);
}

static int
setup_signals(struct host *h, struct err *err)
{
	sigset_t mask;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sigdelset(&mask, SIGCHLD);
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot create signalfd");
	return loop_add_fd(h->loop, fd, EPOLLIN, on_signal, h);
}

static int
host_open(struct host *h, struct api *api, struct err *err)
{
	_cleanup_free_ char *db = xasprintf("%s/ternd.db", h->cfg.state_dir);
	_cleanup_free_ char *tlsdir = xasprintf("%s/tls", h->cfg.state_dir);
	char *key = NULL, *crt = NULL;
	int r;

	if ((r = store_open(db, &h->store, err)) < 0 ||
	    (r = host_identity(h, err)) < 0 ||
	    (r = tls_identity_load(tlsdir, h->cfg.name, &key, &crt,
	    h->fingerprint, err)) < 0)
		return r;
	if ((r = host_probe(h, err)) < 0)
		goto fail;
	/* tern_vms is declared first so /metrics lists it first */
	metrics_const_label(metrics_default(), "host", h->cfg.name);
	vm_metrics_init();
	job_table_init(&h->jobs, h->loop, h->store, vm_job_event);
	vm_jobs_register(h);
	if (!h->qemu_uid)
		log_warn("QEMU will run as root: create the system user '%s' "
		    "(scripts/deps.sh does) or set qemu-user",
		    HOST_QEMU_USER);
	if (h->cfg.listen && (r = peer_client_new(h->loop, key, crt,
	    &h->peers, err)) < 0)
		goto fail;
	track_init(h);
	backup_init(h);
	checkpoint_init(h);
	migrate_init(h);
	storage_init(h);
	replica_jobs_register(h);
	cluster_init(h);
	failover_init(h);
	journal_notify_status("re-attaching VMs, recovering jobs");
	host_switches_isolate(h);
	if ((r = host_config_pools(h, err)) < 0 ||
	    (r = host_load_vms(h, err)) < 0 ||
	    (r = setup_signals(h, err)) < 0)
		goto fail;
	vm_metrics_start(h);
	journal_notify_status("opening the API");
	r = api_start(api, h, key, crt, err);
	key = crt = NULL;
	return r;
fail:
	free(key);
	free(crt);
	return r;
}

static void
host_close(struct host *h, struct api *api)
{
	api_stop(api);
	h->peers = peer_client_free(h->peers);
	while (h->n_vms > 0)
		vm_remove(h->vms[0]);	/* QEMUs keep running */
	free(h->vms);
	job_table_done(&h->jobs);
	for (size_t i = 0; i < h->n_machines; i++)
		free(h->machines[i]);
	free(h->machines);
	h->store = store_close(h->store);
	h->loop = loop_free(h->loop);
}

int
main(int argc, char **argv)
{
	struct daemon_opts o = { 0 };
	struct host h = { 0 };
	struct api api = { 0 };
	struct err err = { 0 };
	int r, lock_fd = -1;

	r = config_load(argc, argv, &o, &err);
	if (r != 0) {
		if (r < 0)
			fprintf(stderr, "ternd: %s\n", err.msg);
		config_done(&o);
		return r > 0 ? 0 : 2;
	}
	h.cfg = o.cfg;
	log_set_prefix(h.cfg.name);
	(void)journal_log_setup();	/* under systemd: structured entries */
	log_set_level(o.debug ? LOG_LVL_DEBUG : LOG_LVL_INFO);
	if ((r = mkdir_p(h.cfg.state_dir, 0700)) < 0 ||
	    (r = mkdir_p(h.cfg.run_dir, 0700)) < 0) {
		log_error("cannot create state or run directory: %s",
		    strerror(-r));
		return 1;
	}
	if (!o.foreground && daemon(0, 1) == -1) {
		log_error("cannot daemonize: %s", strerror(errno));
		return 1;
	}
	if ((lock_fd = host_lock(h.cfg.state_dir, &err)) < 0 ||
	    (r = loop_new(&h.loop)) < 0 ||
	    (r = host_open(&h, &api, &err)) < 0) {
		log_error("cannot start: %s", err.msg[0] ? err.msg :
		    strerror(-r));
		return 1;
	}
	log_info("ternd %s started name=%s accel=%s qemu=%s qemu-user=%s "
	    "listen=%s fingerprint=%s vms=%zu", TERN_VERSION, h.cfg.name,
	    h.kvm ? "kvm" : "tcg", h.qemu_version, host_qemu_user_name(&h),
	    h.cfg.listen ? h.cfg.listen : "-", h.fingerprint, h.n_vms);
	/* Type=notify: the API listens and recovery has run. */
	(void)sd_notifyf(0, "READY=1\nSTATUS=serving: %zu VM(s), listen=%s",
	    h.n_vms, h.cfg.listen ? h.cfg.listen : "local socket only");
	r = loop_run(h.loop);
	host_close(&h, &api);
	config_done(&o);
	close(lock_fd);
	return r < 0 ? 1 : 0;
}
