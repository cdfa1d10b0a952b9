/* lease.c - sanlock leases for VMs on shared storage (issue 14: never two
 * copies).  While this host is in a cluster it joins the sanlock
 * lockspace of every pool it has (POOL/.tern-leases/lockspace, named
 * "tern-" and the pool's storage identity, host id = its Corosync node
 * id; made by the first node that needs it): the delta leases there are
 * the storage heartbeat.  A VM whose disks are all on one pool runs only
 * while its QEMU holds the resource lease POOL/.tern-leases/VMUUID.
 *
 * The lease is held by tern-lease (lease_hold.c), a helper in its own
 * session that registers with sanlock, acquires, and then watches the
 * VM's QEMU (QEMU daemonizes, so it cannot be the registered process
 * itself): QEMU's exit ends the helper and sanlock releases the lease;
 * the lease's loss makes sanlock SIGTERM the helper, which SIGKILLs QEMU
 * first.  vm.start drives it through host->vm_lease:
 *
 *   lockspace:  new --tern-lease init-lockspace--> init --exit 0: add
 *               (SANLK_ADD_ASYNC)--> adding --inq 0--> joined
 *               init failed --> failed (tried again in 10 s) --> new
 *               joined --inq -ENOENT (removed under us)--> adding
 *               any --host leaves the cluster--> removed (REM_UNUSED)
 *   a VM start: TAKE: wait (lockspace not joined, <= LEASE_WAIT_MS)
 *               --spawn tern-lease hold--> acquiring --"H"--> held
 *               (QEMU launched) --BIND: QEMU's pid on fd 4--> binding
 *               --"B"--> bound (vCPUs may run) --helper exits--> gone
 *               acquiring --exit 10--> refused: the owner named
 *               DROP (the start failed): the helper killed, lease freed
 *   a live move: source RELEASE (before the commit): bound --SIGUSR1-->
 *               releasing --the helper exits 0, the lease free on
 *               disk--> released (QEMU paused, unleased); destination
 *               BIND for its paused QEMU before `cont`; a rollback's
 *               BIND takes it again here before the source's `cont`
 *   ternd restarted: each holder found (/proc) and watched (a pidfd):
 *               bound --exits, QEMU still running--> lease lost: QEMU
 *               killed
 *
 * Nothing here blocks: the lease files are written by tern-lease, and
 * ternd's own sanlock calls are requests to the local daemon. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdint.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sanlock.h>
#include <sanlock_admin.h>
#include <sanlock_resource.h>

#include "child.h"
#include "cl_int.h"
#include "fsutil.h"
#include "host.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"

#define LEASE_TICK_MS 1000
#define LEASE_WAIT_MS 30000	/* a start waits this long for a lockspace */

enum ls_state { LS_NEW, LS_INIT, LS_ADDING, LS_JOINED, LS_FAILED };

struct cl_lockspace {
	struct cl_leases *L;
	char pool[64];
	char *dir;		/* POOL/.tern-leases */
	char name[SANLK_NAME_LEN];
	enum ls_state st;
	uint64_t failed_ms;
	bool warned;		/* the failure's event is out */
	struct child *init;
};

enum hold_state { HOLD_ACQUIRING, HOLD_HELD, HOLD_BINDING, HOLD_BOUND,
	HOLD_RELEASING, HOLD_GONE };

struct cl_hold {
	struct cl_leases *L;
	char uuid[37];
	char vm_name[64];
	char pool[64];
	enum hold_state st;
	int status;		/* the helper's exit status once GONE */
	pid_t pid;		/* the QEMU it is bound to (0: none yet) */
	int ofd;		/* an adopted helper's pidfd (it outlived a ternd
				 * restart: no child of ours), -1: none */
	bool released;		/* gone after a release asked */
	struct child *child;
	int rfd, wfd;		/* "H"/"B" from it; the pid to it */
	struct job_ref job;
};

struct cl_leases {
	struct host *h;
	bool on;
	uint64_t host_id;
	struct loop_timer *timer;
	struct cl_lockspace **ls;
	size_t n_ls;
	struct cl_hold **holds;
	size_t n_holds;
};

/* ---- helpers ---- */

/* tern-lease: next to ternd, else in libexec (fsutil.h). */
static char *
helper_path(void)
{
	return helper_exe_path("tern-lease");
}

static struct sanlk_lockspace
ls_of(const struct cl_lockspace *s, uint64_t host_id)
{
	struct sanlk_lockspace ls = { 0 };

	snprintf(ls.name, sizeof(ls.name), "%s", s->name);
	ls.host_id = host_id;
	snprintf(ls.host_id_disk.path, sizeof(ls.host_id_disk.path),
	    "%s/lockspace", s->dir);
	return ls;
}

static struct cl_lockspace *
ls_find(struct cl_leases *L, const char *pool)
{
	for (size_t i = 0; i < L->n_ls; i++)
		if (streq(L->ls[i]->pool, pool))
			return L->ls[i];
	return NULL;
}

static void ls_adopt(struct cl_leases *L, struct cl_lockspace *s);

/* ---- the lockspaces ---- */

static void
on_init_exit(struct child *ch, int status, void *data)
{
	struct cl_lockspace *s = data;
	struct sanlk_lockspace ls = ls_of(s, s->L->host_id);
	int r = 0;

	child_free(ch);
	s->init = NULL;
	if (status == 0 && (r = sanlock_add_lockspace_timeout(&ls,
	    SANLK_ADD_ASYNC, LEASE_IO_TIMEOUT_S)) >= 0) {
		s->st = LS_ADDING;
		return;
	}
	if (status == 0 && r == -EEXIST) {
		s->st = LS_ADDING;
		return;
	}
	s->st = LS_FAILED;
	s->failed_ms = now_ms();
	if (s->warned)	/* tried every 10 s: one event, then the log */
		log_warn("cluster: lockspace of pool '%s' still not joined",
		    s->pool);
	else
		host_event(s->L->h, "error", NULL, 0, "cluster: cannot join "
		    "the lease lockspace of pool '%s' (%s): %s; is sanlock "
		    "running?", s->pool, s->dir, status ? "tern-lease "
		    "init-lockspace failed" : strerror(-r));
	s->warned = true;
}

static void
ls_start(struct cl_leases *L, struct cl_lockspace *s)
{
	_cleanup_free_ char *bin = helper_path();
	_cleanup_free_ char *file = xasprintf("%s/lockspace", s->dir);
	_cleanup_free_ char *logp = xasprintf("%s/lease.log",
	    L->h->cfg.state_dir);
	const char *argv[] = { bin, "init-lockspace", s->name, file, NULL };
	struct child_opts o = { .argv = argv, .log_path = logp };
	int r;

	if ((r = mkdir_p(s->dir, 0755)) < 0 || (r = child_spawn(L->h->loop,
	    &o, on_init_exit, s, &s->init)) < 0) {
		s->st = LS_FAILED;
		s->failed_ms = now_ms();
		log_warn("cluster: lockspace of pool '%s': %s", s->pool,
		    strerror(-r));
		return;
	}
	s->st = LS_INIT;
}

static void
ls_check(struct cl_leases *L, struct cl_lockspace *s)
{
	struct sanlk_lockspace ls = ls_of(s, L->host_id);
	int r;

	if (s->st == LS_NEW || (s->st == LS_FAILED &&
	    now_ms() - s->failed_ms > 10000))
		ls_start(L, s);
	if (s->st != LS_ADDING && s->st != LS_JOINED)
		return;
	r = sanlock_inq_lockspace(&ls, 0);
	if (r == 0 && s->st != LS_JOINED) {
		s->st = LS_JOINED;
		s->warned = false;
		log_info("cluster: joined lockspace %s of pool '%s' as host "
		    "%llu", s->name, s->pool, (unsigned long long)L->host_id);
		ls_adopt(L, s);
	} else if (r == -ENOENT) {
		if (s->st == LS_JOINED)
			host_event(L->h, "warning", NULL, 0, "cluster: the "
			    "lease lockspace of pool '%s' was removed; "
			    "joining it again", s->pool);
		s->st = LS_NEW;
	}
}

/* Every pool of this host has its lockspace entry. */
static void
ls_sync(struct cl_leases *L)
{
	struct obj_row *rows;
	size_t n;
	char id[37];

	if (store_obj_list(L->h->store, STORE_POOL, &rows, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		struct cl_lockspace *s;

		if (ls_find(L, rows[i].name) ||
		    host_pool_identity(rows[i].a, id) < 0)
			continue;
		L->ls = xrealloc(L->ls, (L->n_ls + 1) * sizeof(*L->ls));
		s = L->ls[L->n_ls++] = xzalloc(sizeof(*s));
		s->L = L;
		snprintf(s->pool, sizeof(s->pool), "%s", rows[i].name);
		snprintf(s->name, sizeof(s->name), "tern-%s", id);
		s->dir = xasprintf("%s/%s", rows[i].a, LEASE_DIR);
	}
	obj_rows_free(rows, n);
}

static void
lease_tick(struct loop *l, void *data)
{
	struct cl_leases *L = data;
	json_t *rec = cluster_record(L->h);
	const json_t *self = rec ? cl_record_self(L->h, rec) : NULL;

	(void)l;
	L->timer = loop_timer_add(L->h->loop, LEASE_TICK_MS, lease_tick, L);
	if (self && !L->host_id)
		L->host_id = (uint64_t)json_integer_value(json_object_get(self,
		    "nodeid"));
	json_decref(rec);
	if (!L->host_id)
		return;
	ls_sync(L);
	cl_res_self(L->h->cluster);
	for (size_t i = 0; i < L->n_ls; i++) {
		ls_check(L, L->ls[i]);
		/* a running VM made HA since: its QEMU takes its lease */
		if (L->ls[i]->st == LS_JOINED)
			ls_adopt(L, L->ls[i]);
	}
}

void
cl_lease_follow(struct host *h, bool on)
{
	struct cl_leases *L = h->cluster->leases;

	if (on && !L->on) {
		L->on = true;
		L->host_id = 0;
		L->timer = loop_timer_add(h->loop, 0, lease_tick, L);
		return;
	}
	if (on || !L->on)
		return;
	L->on = false;
	L->timer = loop_timer_cancel(h->loop, L->timer);
	for (size_t i = 0; i < L->n_ls; i++) {
		struct cl_lockspace *s = L->ls[i];
		struct sanlk_lockspace ls = ls_of(s, L->host_id);

		/* REM_UNUSED: a lockspace a VM's lease is held in stays,
		 * or sanlock would kill that VM */
		if (s->st == LS_ADDING || s->st == LS_JOINED)
			(void)sanlock_rem_lockspace(&ls, SANLK_REM_ASYNC |
			    SANLK_REM_UNUSED);
		child_free(s->init);
		free(s->dir);
		free(s);
	}
	free(L->ls);
	L->ls = NULL;
	L->n_ls = 0;
}

/* ---- a VM's lease ---- */

/* Is vm highly available in the cluster's state?  Only such a VM is
 * ever started by the cluster on another node, so only it needs a lease;
 * any other VM is guarded by the state (a start of a VM the state gives
 * to another node is refused) and moves live as before. */
static bool
vm_is_ha(const struct cl_leases *L, const struct vm *vm)
{
	const struct cluster *c = L->h->cluster;

	return json_object_get(json_object_get(c->vms, vm->row->uuid),
	    "ha") != NULL;
}

/* The lockspace vm's lease is in: its disks' one pool; NULL (and
 * *needed false) when it needs none (not HA, or disks on no one pool). */
static struct cl_lockspace *
vm_lockspace(struct cl_leases *L, const struct vm *vm, bool *needed)
{
	const char *pool = NULL;

	*needed = false;
	if (!L->on || !vm->row->n_disks || !vm_is_ha(L, vm))
		return NULL;
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *p = vm->row->disks[i].pool;

		if (!p || (pool && !streq(p, pool)))
			return NULL;
		pool = p;
	}
	*needed = true;
	return ls_find(L, pool);
}

static struct sanlk_resource *
res_of(const struct cl_lockspace *s, const char *uuid)
{
	struct sanlk_resource *r = xzalloc(sizeof(*r) +
	    sizeof(struct sanlk_disk));

	snprintf(r->lockspace_name, sizeof(r->lockspace_name), "%s",
	    s->name);
	snprintf(r->name, sizeof(r->name), "%s", uuid);
	r->num_disks = 1;
	snprintf(r->disks[0].path, sizeof(r->disks[0].path), "%s/%s",
	    s->dir, uuid);
	return r;
}

/* The name of node id in the cluster's record ("node N" if unknown). */
static void
node_name(struct host *h, uint64_t id, char *buf, size_t len)
{
	json_t *rec = cluster_record(h);
	const json_t *n;
	size_t i;

	snprintf(buf, len, "node %llu", (unsigned long long)id);
	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		if ((uint64_t)json_integer_value(json_object_get(n,
		    "nodeid")) == id)
			snprintf(buf, len, "%s", json_string_value(
			    json_object_get(n, "name")));
	json_decref(rec);
}

static int
probe_owners(struct cl_leases *L, struct cl_lockspace *s,
    struct sanlk_resource *res, char *owner, size_t len)
{
	struct sanlk_host *own = NULL, *hosts = NULL;
	int n_own = 0, n_hosts = 0, r;
	uint32_t tf = 0;

	if ((r = sanlock_read_resource_owners(res, 0, &own, &n_own)) < 0)
		return -EAGAIN;
	r = 0;
	for (int i = 0; i < n_own; i++)
		if (own[i].host_id != L->host_id)
			r = -EBUSY;
	if (r == -EBUSY && (sanlock_get_hosts(s->name, 0, &hosts, &n_hosts,
	    0) < 0 || sanlock_test_resource_owners(res, 0, own, n_own,
	    hosts, n_hosts, &tf) < 0))
		tf = SANLK_TRF_FAIL;	/* not known: as if alive */
	if (r == -EBUSY && !(tf & SANLK_TRF_FAIL))
		r = 0;
	for (int i = 0; r == -EBUSY && i < n_own; i++)
		if (own[i].host_id != L->host_id)
			node_name(L->h, own[i].host_id, owner, len);
	free(own);
	free(hosts);
	return r;
}

int
cl_lease_probe(struct host *h, struct vm *vm, char *owner, size_t len)
{
	struct cl_leases *L = h->cluster ? h->cluster->leases : NULL;
	struct cl_lockspace *s;
	struct sanlk_resource *res;
	bool needed;
	int r;

	if (len)
		owner[0] = '\0';
	if (!L || !(s = vm_lockspace(L, vm, &needed)))
		return L && needed ? -EAGAIN : -ENOENT;
	if (s->st != LS_JOINED)
		return -EAGAIN;
	res = res_of(s, vm->row->uuid);
	r = access(res->disks[0].path, F_OK) < 0 ? 0 :
	    probe_owners(L, s, res, owner, len);
	free(res);
	return r;
}

static void
hold_close(struct cl_hold *hd)
{
	if (hd->rfd >= 0) {
		loop_del_fd(hd->L->h->loop, hd->rfd);
		close(hd->rfd);
	}
	if (hd->wfd >= 0)
		close(hd->wfd);
	hd->rfd = hd->wfd = -1;
}

/* Forget hd; its helper (if it runs) is killed: the lease is freed. */
static void
hold_free(struct cl_hold *hd)
{
	struct cl_leases *L = hd->L;

	for (size_t i = 0; i < L->n_holds; i++)
		if (L->holds[i] == hd)
			L->holds[i] = L->holds[--L->n_holds];
	hold_close(hd);
	child_free(hd->child);
	if (hd->ofd >= 0) {	/* still running: freed, like a child */
		(void)syscall(SYS_pidfd_send_signal, hd->ofd, SIGKILL, NULL, 0);
		loop_del_fd(L->h->loop, hd->ofd);
		close(hd->ofd);
	}
	free(hd);
}

static struct cl_hold *
hold_find(struct cl_leases *L, const char *uuid)
{
	for (size_t i = 0; i < L->n_holds; i++)
		if (streq(L->holds[i]->uuid, uuid))
			return L->holds[i];
	return NULL;
}

static void
hold_poke(struct cl_hold *hd)
{
	struct job *job = job_from_ref(&hd->L->h->jobs, hd->job);

	if (job)
		job_poke(job);
}

static void
on_hold_fd(struct loop *l, int fd, uint32_t events, void *data)
{
	struct cl_hold *hd = data;
	char c;
	ssize_t n = read(fd, &c, 1);

	(void)l;
	(void)events;
	if (n == 1 && c == 'H' && hd->st == HOLD_ACQUIRING)
		hd->st = HOLD_HELD;
	else if (n == 1 && c == 'B')
		hd->st = HOLD_BOUND;
	else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		loop_del_fd(hd->L->h->loop, hd->rfd);
		close(hd->rfd);
		hd->rfd = -1;
	}
	hold_poke(hd);
}

/* hd's helper ended with status (see on_hold_exit, on_orphan_exit). */
static void
hold_ended(struct cl_hold *hd, int status)
{
	bool bound = hd->st == HOLD_BOUND;

	hd->released = hd->st == HOLD_RELEASING;
	hd->st = HOLD_GONE;
	hd->status = status;
	hold_close(hd);
	if (hd->released) {	/* the move reads it (lease_release) */
		if (job_from_ref(&hd->L->h->jobs, hd->job))
			hold_poke(hd);
		else
			hold_free(hd);
		return;
	}
	if (!bound && job_from_ref(&hd->L->h->jobs, hd->job)) {
		hold_poke(hd);	/* the start reads why */
		return;
	}
	if (!bound) {
		host_event(hd->L->h, "error", NULL, 0, "vm '%s' runs here but "
		    "its lease on pool '%s' could not be taken for it (tern-"
		    "lease status %d)%s", hd->vm_name, hd->pool, status,
		    status == 10 ? ": another node holds it; stop one copy" :
		    "");
		hold_free(hd);
		return;
	}
	if (status != 0) {
		/* sanlock freed the lease with its holder: the helper
		 * killed QEMU unless it got SIGKILL first; make sure */
		struct vm *vm = vm_find(hd->L->h, hd->uuid);

		if (vm && vm->pid == hd->pid)
			vm_kill(vm);
		host_event(hd->L->h, "error", NULL, 0, "vm '%s': its lease on "
		    "pool '%s' was lost (sanlock ended its holder, status "
		    "%d); its QEMU was killed", hd->vm_name, hd->pool, status);
	}
	hold_free(hd);
}

static void
on_hold_exit(struct child *ch, int status, void *data)
{
	struct cl_hold *hd = data;

	child_free(ch);
	hd->child = NULL;
	hold_ended(hd, status);
}

/* Does vm's QEMU (the one hd is bound to) still run? */
static bool
qemu_runs(const struct cl_hold *hd)
{
	struct vm *vm = vm_find(hd->L->h, hd->uuid);
	struct pollfd p = { .fd = vm ? vm->pidfd : -1, .events = POLLIN };

	return vm && vm->pid == hd->pid && p.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* An adopted helper ended.  Not our child: no status; it ends when its
 * QEMU ends, when a release was asked, or when sanlock took the lease
 * away (then QEMU may still run, and must not). */
static void
on_orphan_exit(struct loop *l, int fd, uint32_t events, void *data)
{
	struct cl_hold *hd = data;

	(void)events;
	loop_del_fd(l, fd);
	close(fd);
	hd->ofd = -1;
	hold_ended(hd, hd->st == HOLD_RELEASING || !qemu_runs(hd) ? 0 : 1);
}

/* A new hold for vm's lease in s: not bound, not listed yet. */
static struct cl_hold *
hold_new(struct cl_leases *L, struct cl_lockspace *s, const struct vm *vm)
{
	struct cl_hold *hd = xzalloc(sizeof(*hd));

	hd->L = L;
	hd->rfd = hd->wfd = hd->ofd = -1;
	snprintf(hd->uuid, sizeof(hd->uuid), "%s", vm->row->uuid);
	snprintf(hd->vm_name, sizeof(hd->vm_name), "%s", vm->row->name);
	snprintf(hd->pool, sizeof(hd->pool), "%s", s->pool);
	return hd;
}

static void
hold_list(struct cl_leases *L, struct cl_hold *hd)
{
	L->holds = xrealloc(L->holds, (L->n_holds + 1) * sizeof(*L->holds));
	L->holds[L->n_holds++] = hd;
}

/* The helper holder (an earlier ternd ran it: it outlived a restart)
 * holds vm's lease for its QEMU: watched from now on, as if ours. */
static struct cl_hold *
hold_adopt(struct cl_leases *L, struct cl_lockspace *s, struct vm *vm,
    pid_t holder)
{
	int fd = child_pidfd_open(holder);
	struct cl_hold *hd;

	if (fd < 0)
		return NULL;
	hd = hold_new(L, s, vm);
	hd->st = HOLD_BOUND;
	hd->pid = vm->pid;
	hd->ofd = fd;
	loop_add_fd(L->h->loop, fd, EPOLLIN, on_orphan_exit, hd);
	hold_list(L, hd);
	return hd;
}

static int
hold_spawn(struct cl_leases *L, struct cl_lockspace *s, struct vm *vm,
    pid_t pid, struct err *err)
{
	_cleanup_free_ char *bin = helper_path();
	_cleanup_free_ char *file = xasprintf("%s/%s", s->dir, vm->row->uuid);
	_cleanup_free_ char *logp = xasprintf("%s/lease.log",
	    L->h->cfg.state_dir);
	char pids[24];
	const char *argv[] = { bin, "hold", s->name, file, vm->row->uuid,
	    pid ? pids : NULL, NULL };
	int a[2], b[2], keep[2], r;
	struct child_opts o = { .argv = argv, .log_path = logp,
	    .keep_fds = keep, .n_keep_fds = 2, .new_session = true };
	struct cl_hold *hd;

	snprintf(pids, sizeof(pids), "%d", (int)pid);
	if (pipe2(a, O_CLOEXEC) < 0)
		return err_setf_errno(err, -errno, "cannot make a pipe");
	if (pipe2(b, O_CLOEXEC) < 0) {
		r = -errno;
		close(a[0]), close(a[1]);
		return err_setf_errno(err, r, "cannot make a pipe");
	}
	keep[0] = a[1], keep[1] = b[0];
	hd = hold_new(L, s, vm);
	hd->rfd = a[0], hd->wfd = b[1];
	r = child_spawn(L->h->loop, &o, on_hold_exit, hd, &hd->child);
	close(a[1]), close(b[0]);
	if (r < 0) {
		hold_close(hd);
		free(hd);
		return err_setf_errno(err, r, "cannot run %s", bin);
	}
	(void)fcntl(hd->rfd, F_SETFL, O_NONBLOCK);
	loop_add_fd(L->h->loop, hd->rfd, EPOLLIN, on_hold_fd, hd);
	hold_list(L, hd);
	return 0;
}

/* Why the helper hd ended before the VM ran, as err; hd forgotten. */
static int
hold_refused(struct cl_leases *L, struct cl_hold *hd, struct vm *vm,
    struct err *err)
{
	char owner[64];
	int st = hd->status, r;

	hold_free(hd);
	if (st == 10) {
		r = cl_lease_probe(L->h, vm, owner, sizeof(owner));
		return err_set(err, -EBUSY, "vm '%s' runs elsewhere: its "
		    "lease is held by %s, whose host lease is alive; stop it "
		    "there (or wait until that node is dead)", vm->row->name,
		    r == -EBUSY ? owner : "another node");
	}
	if (st == 11)
		return err_set(err, -EAGAIN, "vm '%s': this host has not "
		    "joined the lease lockspace of its pool; try again in a "
		    "few seconds", vm->row->name);
	return err_set(err, -EIO, "vm '%s': cannot take its lease (tern-"
	    "lease status %d); see %s/lease.log", vm->row->name, st,
	    L->h->cfg.state_dir);
}

static int
lease_take(struct cl_leases *L, struct cl_lockspace *s, struct vm *vm,
    struct job *job, struct err *err)
{
	struct cl_hold *hd = hold_find(L, vm->row->uuid);
	json_t *t0 = json_object_get(job->details, "lease_wait_ms");
	int r;

	if (hd && hd->st == HOLD_GONE)
		return hold_refused(L, hd, vm, err);
	if (hd && (hd->st == HOLD_ACQUIRING || (hd->pid && hd->pid !=
	    vm->pid))) {
		/* acquiring; or the last run's holder still ends */
		hd->job = job_ref(job);
		job_wake_after(job, 200);
		return 1;
	}
	if (hd)
		return 0;
	if (!s || s->st != LS_JOINED) {
		if (!t0)
			json_object_set_new(job->details, "lease_wait_ms",
			    json_integer((json_int_t)now_ms()));
		else if (now_ms() - (uint64_t)json_integer_value(t0) >
		    LEASE_WAIT_MS)
			return err_set(err, -EAGAIN, "vm '%s' needs its lease "
			    "but this host has not joined its pool's sanlock "
			    "lockspace; is sanlock running? (see the events)",
			    vm->row->name);
		job_wake_after(job, 500);
		return 1;
	}
	if ((r = hold_spawn(L, s, vm, 0, err)) < 0)
		return r;
	hold_find(L, vm->row->uuid)->job = job_ref(job);
	return 1;
}

static int
lease_bind(struct cl_leases *L, struct cl_lockspace *s, struct vm *vm,
    struct job *job, struct err *err)
{
	struct cl_hold *hd = hold_find(L, vm->row->uuid);
	char buf[24];
	int r;

	if (!hd) {
		/* ternd restarted since TAKE: take it for this QEMU */
		if (!s || s->st != LS_JOINED)
			return lease_take(L, s, vm, job, err);
		if ((r = hold_spawn(L, s, vm, vm->pid, err)) < 0)
			return r;
		hd = hold_find(L, vm->row->uuid);
		hd->pid = vm->pid;
	}
	hd->job = job_ref(job);
	if (hd->st == HOLD_GONE && hd->status == 10)
		return hold_refused(L, hd, vm, err);
	if (hd->st == HOLD_GONE) {
		r = hd->status;
		hold_free(hd);
		return err_set(err, -EIO, "vm '%s' lost its lease before its "
		    "vCPUs ran (tern-lease status %d); see %s/lease.log",
		    vm->row->name, r, L->h->cfg.state_dir);
	}
	if (hd->st == HOLD_HELD && !hd->pid) {
		hd->pid = vm->pid;
		snprintf(buf, sizeof(buf), "%d\n", (int)vm->pid);
		if (write(hd->wfd, buf, strlen(buf)) < 0)
			return err_setf_errno(err, -errno, "vm '%s': cannot "
			    "reach its lease holder", vm->row->name);
	}
	return hd->st == HOLD_BOUND ? 0 : 1;
}

static bool held_here(struct cl_leases *L, struct cl_lockspace *s,
    const struct vm *vm);

/* Is pid a tern-lease holding uuid's lease? */
static bool
is_holder_of(pid_t pid, const char *uuid)
{
	char path[64], buf[1024];
	const char *a[6] = { buf };
	size_t k = 1;
	ssize_t n;
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return false;
	buf[n] = '\0';
	for (char *p = buf; k < 6 && p < buf + n; p++)
		if (!*p)
			a[k++] = p + 1;
	/* argv: .../tern-lease hold LOCKSPACE FILE UUID [PID] */
	return k >= 5 && strstr(a[0], "tern-lease") && streq(a[1], "hold") &&
	    streq(a[4], uuid);
}

/* The tern-lease holding uuid's lease that an earlier ternd ran (it
 * outlived a restart): its pid from /proc, 0 when none runs. */
static pid_t
orphan_holder(const char *uuid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t pid = 0;

	while (d && !pid && (de = readdir(d))) {
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (pid > 0 && !is_holder_of(pid, uuid))
			pid = 0;
	}
	if (d)
		closedir(d);
	return pid;
}

/* A live move hands vm's lease to the destination (src/migrate/
 * commit.c): its holder releases it and exits, QEMU left paused.  0
 * released (or none held here), 1 wait (the job is poked), <0 failed. */
static int
lease_release(struct cl_leases *L, struct cl_lockspace *s, struct vm *vm,
    struct job *job, struct err *err)
{
	struct cl_hold *hd = hold_find(L, vm->row->uuid);
	bool joined = s && s->st == LS_JOINED;
	pid_t o;
	int st;

	if (!hd && (o = orphan_holder(vm->row->uuid)) > 0 && joined)
		hd = hold_adopt(L, s, vm, o);
	if (!hd)
		return joined && held_here(L, s, vm) ? err_set(err, -EIO,
		    "vm '%s': its lease is held here by no helper tern "
		    "knows; cannot hand it over", vm->row->name) : 0;
	hd->job = job_ref(job);
	if (hd->st == HOLD_BOUND) {
		hd->st = HOLD_RELEASING;
		if (hd->ofd >= 0)
			(void)syscall(SYS_pidfd_send_signal, hd->ofd, SIGUSR1,
			    NULL, 0);
		else
			(void)child_kill(hd->child, SIGUSR1);
	}
	if (hd->st != HOLD_GONE) {
		if (hd->st != HOLD_RELEASING)
			job_wake_after(job, 200);	/* still binding */
		return 1;
	}
	st = hd->released ? hd->status : -1;
	hold_free(hd);
	if (st == 0 && !(joined && held_here(L, s, vm)))
		return 0;
	return err_set(err, -EIO, "vm '%s': its lease could not be released "
	    "for the move (tern-lease status %d); see %s/lease.log; the vm "
	    "stays here", vm->row->name, st, L->h->cfg.state_dir);
}

static int
lease_hook(struct vm *vm, struct job *job, int step, struct err *err)
{
	struct cl_leases *L = vm->h->cluster->leases;
	struct cl_hold *hd = hold_find(L, vm->row->uuid);
	bool needed;
	struct cl_lockspace *s = vm_lockspace(L, vm, &needed);
	char why[240];

	/* needed, not only held as far as this ternd knows: a restarted
	 * ternd has no record of the holders that run on */
	if (step == HOST_LEASE_HELD)
		return needed;
	if (step == HOST_LEASE_DROP) {
		if (hd)
			hold_free(hd);	/* QEMU is killed: the lease freed */
		return 0;
	}
	if (step == HOST_LEASE_RELEASE)
		return hd || needed ? lease_release(L, s, vm, job, err) : 0;
	if (step == HOST_LEASE_CHECK && cl_self_paused(vm->h, why,
	    sizeof(why)))	/* a paused node takes no VMs (drain.c) */
		return err_set(err, -EBUSY, "%s", why);
	if (!needed)
		return 0;
	if (step == HOST_LEASE_CHECK)
		return s && s->st == LS_JOINED ? 0 : err_set(err, -EAGAIN,
		    "host %s has not joined the sanlock lockspace of pool "
		    "'%s', which HA vm '%s' needs for its lease; is sanlock "
		    "running there? try again in a few seconds",
		    L->h->cfg.name, vm->row->disks[0].pool, vm->row->name);
	if (step == HOST_LEASE_TAKE)
		return lease_take(L, s, vm, job, err);
	return lease_bind(L, s, vm, job, err);
}

/* Is vm's lease held by this host (any of its sanlock clients)? */
static bool
held_here(struct cl_leases *L, struct cl_lockspace *s, const struct vm *vm)
{
	struct sanlk_resource *res = res_of(s, vm->row->uuid);
	struct sanlk_host *own = NULL;
	int n = 0;
	bool here = false;

	if (access(res->disks[0].path, F_OK) == 0 &&
	    sanlock_read_resource_owners(res, 0, &own, &n) >= 0)
		for (int i = 0; i < n; i++)
			here |= own[i].host_id == L->host_id;
	free(own);
	free(res);
	return here;
}

/* The lockspace s joined (and each tick): every VM of it whose QEMU runs
 * here, with no job on it, without a holder ternd knows gets one for
 * that QEMU (it ran before it was made HA), unless this host holds its
 * lease already: then its holder outlived a ternd restart, and is found
 * by its command line and watched (its end without a release asked,
 * QEMU still running, means the lease was lost: QEMU is killed). */
static void
ls_adopt(struct cl_leases *L, struct cl_lockspace *s)
{
	for (size_t i = 0; i < L->h->n_vms; i++) {
		struct vm *vm = L->h->vms[i];
		struct cl_hold *hd;
		bool needed;

		/* running, no job on it: a move's QEMUs (paused, the
		 * lease handed over) are the move's to lease */
		if (vm->pid <= 0 || (vm->state != VM_RUNNING && vm->state !=
		    VM_PAUSED) || vm->incoming || vm_job(vm) ||
		    vm_lockspace(L, vm, &needed) != s ||
		    hold_find(L, vm->row->uuid))
			continue;
		if (held_here(L, s, vm)) {
			/* its helper outlived a ternd restart: watched */
			pid_t o = orphan_holder(vm->row->uuid);

			if (o > 0 && hold_adopt(L, s, vm, o))
				log_info("cluster: vm '%s': its lease holder "
				    "(pid %d) watched again", vm->row->name,
				    (int)o);
			continue;
		}
		if (hold_spawn(L, s, vm, vm->pid, NULL) < 0)
			continue;
		hd = hold_find(L, vm->row->uuid);
		hd->pid = vm->pid;
		log_info("cluster: vm '%s' runs here: its lease taken for it",
		    vm->row->name);
	}
}

int
cl_lease_host_alive(struct host *h, uint32_t host_id)
{
	struct cl_leases *L = h->cluster->leases;
	int verdict = -1;

	for (size_t i = 0; L && L->on && i < L->n_ls; i++) {
		struct sanlk_host *hs = NULL;
		int n = 0, st;

		if (L->ls[i]->st != LS_JOINED || sanlock_get_hosts(
		    L->ls[i]->name, host_id, &hs, &n, 0) < 0 || n < 1) {
			free(hs);
			continue;
		}
		st = hs[0].flags & SANLK_HOST_MASK;
		free(hs);
		if (st == SANLK_HOST_LIVE)
			return 1;	/* renewing on some pool */
		/* FREE: no delta lease there (never joined it, e.g. a
		 * pool of this host alone): says nothing */
		if (st == SANLK_HOST_FAIL || st == SANLK_HOST_DEAD)
			verdict = 0;
	}
	return verdict;
}

json_t *
cl_lease_states(struct host *h)
{
	static const char *const names[] = { [LS_NEW] = "new",
		[LS_INIT] = "writing", [LS_ADDING] = "joining",
		[LS_JOINED] = "joined", [LS_FAILED] = "failed" };
	struct cl_leases *L = h->cluster->leases;
	json_t *o = json_object();

	for (size_t i = 0; L && L->on && i < L->n_ls; i++)
		json_object_set_new(o, L->ls[i]->pool, json_string(
		    names[L->ls[i]->st]));
	return o;
}

json_t *
cl_lease_joined(struct host *h)
{
	struct cl_leases *L = h->cluster->leases;
	json_t *a = json_array();

	for (size_t i = 0; L && i < L->n_ls; i++)
		if (L->ls[i]->st == LS_JOINED)
			json_array_append_new(a, json_string(L->ls[i]->name +
			    strlen("tern-")));
	return a;
}

void
cl_lease_init(struct host *h)
{
	struct cl_leases *L = xzalloc(sizeof(*L));

	L->h = h;
	h->cluster->leases = L;
	h->vm_lease = lease_hook;
}
