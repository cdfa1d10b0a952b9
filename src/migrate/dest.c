/* dest.c - vm.move-in on the destination host: receives one VM.
 *
 *  live:  start [--in_make_disks (copy): qemu-img create each disk-->
 *         create-disks] --in_launch: QEMU -incoming defer, paused-->
 *         launching --in_setup, QMP up: caps, key, [copy: NBD server on a
 *         socket we bound, every disk exported writable] migrate-incoming
 *         tcp:ADDR:0--> listen --in_on_listen_query: the port--> listening
 *         (details.uri, details.nbd for the source) --stream in, source
 *         asks: migrate_commit--> committing ([copy: nbd-server-stop]
 *         `cont`) --in_running--> done: VM RUNNING here
 *  cold:  the VM is recorded off or saved at once --> done
 *
 *  abort (any time before `cont` succeeded; in_abort, in_cancel): -->
 *  aborting: SIGKILL the incoming QEMU, delete the disks this job created
 *  (copy), forget the VM --> failed (or cancelled when the source asked).
 *  in_cancel in committing: -EBUSY (the vm is being resumed here).
 *
 * Nothing here may end the only copy: before the commit the source still
 * runs the VM, so aborting is always safe; the commit is the source's call
 * (migrate_commit).  While listening the job watches the source's job
 * (every DEST_WATCH_MS): the source ending its job, or silence for
 * DEST_SILENCE_MS, aborts.  So does QEMU exiting (an incoming QEMU exits
 * when its stream fails).  A restarted ternd keeps the VM only if its QEMU
 * is running, i.e. the commit's `cont` happened. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "agent.h"
#include "cluster.h"
#include "failpoint.h"
#include "firmware.h"
#include "jsonutil.h"
#include "log.h"
#include "mig_int.h"
#include "migrate.h"
#include "peer.h"
#include "refpoint.h"
#include "tpm_state.h"
#include "util.h"
#include "vm.h"

#define DEST_QMP_MS 10000
#define DEST_WATCH_MS 1000
#define DEST_CALL_MS 5000
#define DEST_SILENCE_MS 20000
#define DEST_LAUNCH_MS 30000

enum in_phase { IN_PH_START, IN_PH_CREATE_DISKS, IN_PH_LAUNCHING,
		IN_PH_LISTEN, IN_PH_LISTENING, IN_PH_COMMITTING,
		IN_PH_ABORTING, IN_PH__COUNT };
static const char *const in_phase_names[IN_PH__COUNT] = {
	[IN_PH_START] = "start", [IN_PH_CREATE_DISKS] = "create-disks",
	[IN_PH_LAUNCHING] = "launching", [IN_PH_LISTEN] = "listen",
	[IN_PH_LISTENING] = "listening", [IN_PH_COMMITTING] = "committing",
	[IN_PH_ABORTING] = "aborting",
};

struct in_ctx {
	struct host *h;
	struct job_ref ref;		/* the job, for the source's replies */
	char psk[65];
	struct peer_call *call;
	uint64_t t0_ms, last_contact_ms;
	bool launched, setup_sent, querying;
	size_t disks_made;		/* copy: qemu-img create done */
	bool fw_made;			/* copy: NVRAM and TPM dir made */
	uint64_t commit_asked_ms;	/* the source's first commit */
};

static struct in_ctx *
in_ctx(struct job *job)
{
	bool fresh;
	struct in_ctx *c = job_priv(job, sizeof(*c), &fresh);

	if (fresh) {
		c->ref = job_ref(job);
		c->h = host_of(job);
		c->t0_ms = c->last_contact_ms = now_ms();
	}
	return c;
}

static void
in_ctx_free(struct job *job)
{
	struct in_ctx *c = job->priv;

	if (!c)
		return;
	c->call = peer_call_cancel(c->call);
	explicit_bzero(c->psk, sizeof(c->psk));
	free(c);
	job->priv = NULL;
}

static bool
in_copy(const struct job *job)
{
	return streq(detail_str(job, "storage"), "copy");
}

/* Remove what this job made: the VM's row and runtime files.  Its console
 * log stays (it may hold the VM's history from an earlier stay here). */
static void
in_forget_vm(struct job *job)
{
	struct vm *vm = vm_of(job);

	job->child = child_free(job->child);
	/* Copies: every path was checked free before this job made it. */
	for (size_t i = 0; in_copy(job) && i < vm->row->n_disks; i++)
		(void)unlink(vm->row->disks[i].path);
	if (in_copy(job))	/* the NVRAM file and TPM directory, too */
		firmware_files_remove(vm->row);
	tpm_apart_remove(vm);	/* shared: the incoming swtpm's directory */
	mig_psk_remove(vm, job->row->id);
	vm_remove_run_files(vm);
	(void)store_vm_delete(host_of(job)->store, vm->row->uuid);
}

/* End without the VM: kill the incoming QEMU, forget the VM.  Called
 * again (phase aborting) until QEMU is gone. */
static void
in_abort(struct job *job, int r, const char *why)
{
	struct vm *vm = vm_of(job);

	if (!detail_str(job, "why")) {
		json_object_set_new(job->details, "why", json_string(why));
		json_object_set_new(job->details, "abort_code",
		    json_integer(r));
	}
	if (!job_phase_is(job, IN_PH_ABORTING))
		job_set_phase(job, IN_PH_ABORTING);
	if (host_of(job)->vm_lease)	/* taken for the commit: freed */
		(void)host_of(job)->vm_lease(vm, job, HOST_LEASE_DROP, NULL);
	if (vm->pidfd >= 0 || vm->launcher) {
		vm_kill(vm);		/* the exit pokes the job */
		job_wake_after(job, 1000);
		return;
	}
	why = detail_str(job, "why");
	r = (int)json_integer_value(json_object_get(job->details,
	    "abort_code"));
	in_forget_vm(job);
	host_event(host_of(job), r == -ECANCELED ? "info" : "warning", vm,
	    job->row->id, "incoming vm from %s not taken: %s",
	    detail_str(job, "source_host"), why);
	in_ctx_free(job);
	job_finish(job, r ? r : -EIO, "%s", why);
	vm_remove(vm);
}

/* After the commit nothing may fail the job (or leave an error on the VM
 * for the next job to trip over). */
static void
in_on_ignored(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	(void)job;
	if (!ret)
		log_warn("vm=%s after the move: %s", vm->row->name, e->msg);
}

static void in_launch(struct job *job);

static void
in_on_disk_made(struct child *ch, int status, void *data)
{
	struct job *job = data;
	struct in_ctx *c = in_ctx(job);
	char why[300];

	(void)ch;
	job->child = child_free(job->child);
	if (status != 0) {
		snprintf(why, sizeof(why), "cannot create disk '%s' (qemu-img "
		    "exit %d)", vm_of(job)->row->disks[c->disks_made].path,
		    status);
		in_abort(job, -EIO, why);
		return;
	}
	c->disks_made++;
	job_poke(job);
}

/* Copy mode: the NVRAM file (the template, overwritten by the source's
 * variables when the VM resumes here) and an empty TPM directory (its
 * state arrives in the stream), next to disk 0; then the launch. */
static void
in_make_fw(struct job *job)
{
	struct in_ctx *c = in_ctx(job);
	struct err err = { 0 };

	if (!c->fw_made && firmware_files_make(host_of(job), vm_of(job)->row,
	    &err) < 0) {
		in_abort(job, -EIO, err.msg);
		return;
	}
	c->fw_made = true;
	in_launch(job);
}

/* Copy mode: one empty qcow2 of the same virtual size per disk. */
static void
in_make_disks(struct job *job)
{
	struct in_ctx *c = in_ctx(job);
	struct vm_row *r = vm_of(job)->row;

	if (job->child)
		return;
	if (c->disks_made == r->n_disks) {
		in_make_fw(job);
		return;
	}
	if (!job_phase_is(job, IN_PH_CREATE_DISKS))
		job_set_phase(job, IN_PH_CREATE_DISKS);
	if (vm_image_create(job, r->disks[c->disks_made].path,
	    r->disks[c->disks_made].size_bytes, NULL, in_on_disk_made) < 0)
		in_abort(job, -EIO, "cannot run qemu-img");
}

static void
in_launch(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct in_ctx *c = in_ctx(job);
	struct err err = { 0 };

	c->launched = true;
	vm->incoming = true;
	/* Shared storage: the source's swtpm holds the state directory's
	 * lock until it exits, so ours starts on a directory of its own and
	 * is pointed at the shared one at the commit (tpm.h). */
	vm->tpm_apart = !in_copy(job) && vm->row->tpm_dir;
	job_set_phase(job, IN_PH_LAUNCHING);
	if (vm_launch(vm, &err) < 0)
		in_abort(job, -EIO, err.msg);
	else
		job_wake_after(job, DEST_LAUNCH_MS);
}

/* Copy mode: the disks, exported writable over NBD (with the move's TLS
 * key) on a socket ternd binds, so it knows the port before QEMU does. */
static int
in_nbd_start(struct job *job, const char *addr, const char *tls)
{
	struct vm *vm = vm_of(job);
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
		.ai_flags = AI_NUMERICHOST | AI_PASSIVE }, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char port[16];
	_cleanup_close_ int fd = -1;
	int r;

	if (getaddrinfo(addr, "0", &hints, &ai) != 0)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	r = fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
	    listen(fd, 16) < 0 || getsockname(fd, (struct sockaddr *)&ss,
	    &len) < 0 ? -errno : 0;
	freeaddrinfo(ai);
	if (r < 0)
		return r;
	snprintf(port, sizeof(port), "%u", ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port));
	if ((r = vm_qmp_fd(vm, job, "getfd", json_pack("{ss}", "fdname",
	    "tern-nbd"), fd, DEST_QMP_MS, vm_reply_first_error)) < 0)
		return r;
	(void)vm_qmp_cmd(vm, job, qmp_nbd_server_start_fd("tern-nbd", tls),
	    DEST_QMP_MS, vm_reply_first_error);
	for (size_t i = 0; i < vm->row->n_disks; i++) {
		const char *d = vm->row->disks[i].name;
		char node[VM_NODE_NAME_MAX], id[VM_NODE_NAME_MAX];

		vm_node_name(node, d, "fmt", 0);
		vm_block_id(id, "exp", d, 0);

		(void)vm_qmp_cmd(vm, job, qmp_nbd_export_writable(id, node, d),
		    DEST_QMP_MS, vm_reply_first_error);
	}
	json_object_set_new(job->details, "nbd", json_sprintf(strchr(addr,
	    ':') ? "[%s]:%s" : "%s:%s", addr, port));
	return 0;
}

static void
in_setup(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct in_ctx *c = in_ctx(job);
	int channels = json_integer_value(json_object_get(job->details,
	    "channels"));
	_cleanup_free_ char *objid = xasprintf("tern-mig%lld",
	    (long long)job->row->id);
	const char *addr = host_of(job)->cfg.migration_address ?
	    host_of(job)->cfg.migration_address : detail_str(job, "address");
	_cleanup_free_ char *uri = NULL;
	char dir[256];
	json_t *caps = json_array(), *params, *map;
	static const char *const on[] = { "events", "return-path",
		"late-block-activate" };

	c->setup_sent = true;
	free(vm->last_error);
	vm->last_error = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(on); i++)
		json_array_append_new(caps, json_pack("{ss sb}", "capability",
		    on[i], "state", true));
	json_array_append_new(caps, json_pack("{ss sb}", "capability",
	    "multifd", "state", channels > 1));
	/* Copied disks: the points' bitmaps arrive in the stream. */
	map = in_copy(job) ? track_bitmap_mapping(vm, NULL) : NULL;
	json_array_append_new(caps, json_pack("{ss sb}", "capability",
	    "dirty-bitmaps", "state", map != NULL));
	(void)vm_qmp(vm, job, "migrate-set-capabilities", json_pack("{so}",
	    "capabilities", caps), DEST_QMP_MS, vm_reply_first_error);
	if (c->psk[0]) {
		if (mig_psk_write(vm, job->row->id, c->psk, dir,
		    sizeof(dir)) < 0) {
			in_abort(job, -EIO, "cannot write the migration key");
			return;
		}
		(void)vm_qmp(vm, job, "object-add", mig_tls_args(host_of(job),
		    objid,
		    dir, "server"), DEST_QMP_MS, vm_reply_first_error);
	}
	params = json_pack("{si ss}", "multifd-channels", channels > 1 ?
	    channels : 2, "tls-creds", c->psk[0] ? objid : "");
	if (map)
		json_object_set_new(params, "block-bitmap-mapping", map);
	(void)vm_qmp(vm, job, "migrate-set-parameters", params, DEST_QMP_MS,
	    vm_reply_first_error);
	if (in_copy(job) && in_nbd_start(job, addr, c->psk[0] ? objid : NULL)
	    < 0) {
		in_abort(job, -EIO, "cannot open the NBD socket for the disks");
		return;
	}
	uri = strchr(addr, ':') ? xasprintf("tcp:[%s]:0", addr) :
	    xasprintf("tcp:%s:0", addr);
	(void)vm_qmp(vm, job, "migrate-incoming", json_pack("{ss}", "uri", uri),
	    DEST_QMP_MS, vm_reply_first_error);
	job_set_phase(job, IN_PH_LISTEN);
}

static void
in_on_listen_query(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	json_t *sa, *a;
	const char *host, *port;

	if (!job)
		return;
	in_ctx(job)->querying = false;
	sa = json_object_get(ret, "socket-address");
	a = json_array_get(sa, 0);
	host = json_string_value(json_object_get(a, "host"));
	port = json_string_value(json_object_get(a, "port"));
	if (!ret) {
		if (!vm->last_error)
			vm->last_error = xstrdup(e->msg);
	} else if (host && port) {
		json_object_set_new(job->details, "uri", strchr(host, ':') ?
		    json_sprintf("tcp:[%s]:%s", host, port) :
		    json_sprintf("tcp:%s:%s", host, port));
		job_set_phase(job, IN_PH_LISTENING);
	}
	job_poke(job);
}

/* The source's job, as the source sees it: still going? */
static void
in_on_watch(long status, json_t *body, const struct err *e, void *data)
{
	struct in_ctx *c = data;
	struct job *job = job_from_ref(&c->h->jobs, c->ref);
	const char *st = json_string_value(json_object_get(body, "state"));
	char why[300];

	c->call = NULL;
	if (!job)
		return;
	if (status == 200 && st && (streq(st, "running") ||
	    streq(st, "queued") || streq(st, "cancelling"))) {
		json_t *pr = json_object_get(body, "progress");
		json_t *pass = json_object_get(json_object_get(body,
		    "details"), "pass");

		c->last_contact_ms = now_ms();
		/* One move, visible from both hosts: mirror its progress. */
		if (pass)
			json_object_set(job->details, "pass", pass);
		if (json_is_string(json_object_get(pr, "unit")) &&
		    streq(json_string_value(json_object_get(pr, "unit")),
		    "bytes"))
			job_set_progress(job, json_integer_value(
			    json_object_get(pr, "done")), json_integer_value(
			    json_object_get(pr, "total")), "bytes");
	} else if (status == 200 || status == 404) {
		snprintf(why, sizeof(why), "the source ended the move (%s)",
		    st ? st : "its job is gone");
		if (job_phase_is(job, IN_PH_LISTENING) ||
		    job_phase_is(job, IN_PH_LAUNCHING) ||
		    job_phase_is(job, IN_PH_LISTEN))
			in_abort(job, -ECANCELED, why);
		return;
	} else {
		log_debug("vm-move-in job=%lld source unreachable: %s",
		    (long long)c->ref.id, e ? e->msg : "bad reply");
	}
	job_wake_after(job, DEST_WATCH_MS);
}

static void
in_watch(struct job *job)
{
	struct in_ctx *c = in_ctx(job);
	_cleanup_free_ char *path = xasprintf("/v1/jobs/%lld",
	    (long long)json_integer_value(json_object_get(job->details,
	    "source_job")));

	if (now_ms() - c->last_contact_ms > DEST_SILENCE_MS) {
		in_abort(job, -EIO, "lost contact with the source host for "
		    "20 s");
		return;
	}
	if (!c->call && host_of(job)->peers)
		(void)peer_call(host_of(job)->peers, detail_str(job,
		    "source_url"),
		    detail_str(job, "source_fp"), "GET", path, NULL, DEST_CALL_MS,
		    in_on_watch, c, &c->call);
	job_wake_after(job, DEST_WATCH_MS);
}

static void
in_on_cont(struct vm *vm, struct job *job, json_t *ret,
    const struct err *e)
{
	char why[300];

	if (!job)
		return;
	if (!ret) {
		/* Typically the write lock: the source resumed first. */
		snprintf(why, sizeof(why), "could not resume the vm here: %s",
		    e->msg);
		in_abort(job, -EIO, why);
		return;
	}
	json_object_set_new(job->details, "resumed_wall_ms",
	    json_integer((json_int_t)wall_ms()));
	vm->vcpus_running = true;
	job_poke(job);
}

/* The move committed: the VM's replication, carried, recorded here. */
static void
in_arrived(struct job *job)
{
	json_t *rep = json_object_get(job->details, "replication");

	if (rep && host_of(job)->repl_arrived)
		host_of(job)->repl_arrived(vm_of(job), rep);
	json_object_del(job->details, "replication");
}

static void
in_running(struct job *job)
{
	struct vm *vm = vm_of(job);
	_cleanup_free_ char *objid = xasprintf("tern-mig%lld",
	    (long long)job->row->id);

	vm->incoming = false;
	vm->mig_status[0] = '\0';
	mig_psk_remove(vm, job->row->id);
	/* swtpm writes to the shared directory now (tpm_apart_join) */
	vm->tpm_apart = false;
	tpm_apart_remove(vm);
	/* The key's job is done: a later save or move starts clean. */
	(void)vm_qmp(vm, job, "migrate-set-parameters", json_pack("{ss}",
	    "tls-creds", ""), DEST_QMP_MS, in_on_ignored);
	if (json_is_true(json_object_get(job->details, "encrypted")))
		(void)vm_qmp(vm, job, "object-del", json_pack("{ss}", "id",
		    objid),
		    DEST_QMP_MS, in_on_ignored);
	/* The guest announces itself again now that it runs: switches
	 * learn where its MACs are (QEMU also did at the stream's end). */
	(void)vm_qmp(vm, job, "announce-self", json_pack("{si si si si}",
	    "initial", 50, "max", 550, "rounds", 5, "step", 100),
	    DEST_QMP_MS, in_on_ignored);
	/* ... untagged: its trunk VLANs are ternd's to announce (one round,
	 * beside QEMU's five on the access VLAN) */
	host_switch_announce(host_of(job), vm);
	agent_set_time(vm);
	vm->row->started_ms = wall_ms();
	vm_set_state(vm, VM_RUNNING, NULL);
	host_event(host_of(job), "info", vm, job->row->id, "vm arrived from %s "
	    "(live) and runs here", detail_str(job, "source_host"));
	in_arrived(job);
	in_ctx_free(job);
	if (streq(job->row->unit, "bytes"))
		job_set_progress(job, job->row->total, job->row->total,
		    "bytes");
	else
		job_set_progress(job, 1, 1, "steps");
	job_finish(job, 0, NULL);
}

static void
in_recover(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (streq(detail_str(job, "mode"), "cold")) {
		job->recovering = false;
		in_arrived(job);
		job_finish(job, 0, NULL);
		return;
	}
	if (vm->pidfd >= 0 && !vm->qmp_ready) {
		job_wake_after(job, 2000);	/* QMP pokes sooner */
		if (now_ms() - in_ctx(job)->t0_ms < 10000)
			return;
	}
	job->recovering = false;
	if (vm->pidfd >= 0 && vm->vcpus_running) {
		in_running(job);
		return;
	}
	in_abort(job, -EINTR, "ternd restarted before the vm was resumed "
	    "here");
}

static void
in_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct in_ctx *c;

	if (vm_job_gone(job)) {
		in_ctx_free(job);
		return;
	}
	if (job->recovering) {
		in_recover(job);
		return;
	}
	c = in_ctx(job);
	if (job_phase_is(job, IN_PH_ABORTING)) {
		in_abort(job, -EIO, "aborted");
		return;
	}
	if (job_phase_is(job, IN_PH_START)) {
		if (streq(detail_str(job, "mode"), "cold")) {
			host_event(host_of(job), "info", vm, job->row->id, "vm "
			    "arrived from %s (%s)", detail_str(job, "source_host"),
			    vm_state_name(vm->state));
			in_arrived(job);
			in_ctx_free(job);
			job_finish(job, 0, NULL);
			return;
		}
		if (in_copy(job))
			in_make_disks(job);
		else
			in_launch(job);
		return;
	}
	if (job_phase_is(job, IN_PH_CREATE_DISKS)) {
		in_make_disks(job);
		return;
	}
	if (vm->last_error && !job_phase_is(job, IN_PH_COMMITTING)) {
		in_abort(job, -EIO, vm->last_error);
		return;
	}
	if (c->launched && vm->pidfd < 0 && !vm->launcher) {
		in_abort(job, -EIO, job_phase_is(job, IN_PH_LAUNCHING) ?
		    "QEMU did not start" : "the incoming QEMU exited (the "
		    "stream failed or was cancelled)");
		return;
	}
	if (job_phase_is(job, IN_PH_LAUNCHING)) {
		if (vm->qmp_ready)
			in_setup(job);
		else if (now_ms() - c->t0_ms > DEST_LAUNCH_MS)
			in_abort(job, -ETIMEDOUT, "QEMU did not come up");
		return;
	}
	if (job_phase_is(job, IN_PH_LISTEN)) {
		if (!c->querying && vm_qmp(vm, job, "query-migrate", NULL,
		    DEST_QMP_MS, in_on_listen_query) == 0)
			c->querying = true;
		return;
	}
	if (job_phase_is(job, IN_PH_LISTENING)) {
		in_watch(job);
		return;
	}
	if (job_phase_is(job, IN_PH_COMMITTING) && vm->vcpus_running &&
	    json_object_get(job->details, "resumed_wall_ms"))
		in_running(job);
}

/* The source asked us to stop: abort unless it is too late. */
static int
in_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, IN_PH_COMMITTING))
		return err_set(err, -EBUSY, "cannot cancel job %lld: the vm is "
		    "being resumed here", (long long)job->row->id);
	in_abort(job, -ECANCELED, "cancelled by the source");
	return 0;
}

const struct job_ops job_vm_move_in = { .type = "vm.move-in",
	.phases = in_phase_names, .n_phases = IN_PH__COUNT,
	.step = in_step, .cancel = in_cancel, .priv_free = in_ctx_free };

/* Test hook (failpoint move-in.commit=delay:MS): the stream reads as
 * still loading for MS after the source's first commit. */
static bool
in_commit_early(struct in_ctx *c)
{
	uint64_t ms = 0;

	if (!c->commit_asked_ms)
		c->commit_asked_ms = now_ms();
	return failpoint_check("move-in.commit", &ms) == FP_DELAY &&
	    now_ms() - c->commit_asked_ms < ms;
}

int
migrate_commit(struct host *h, int64_t id, struct err *err)
{
	struct job *job = job_find(&h->jobs, id);
	struct vm *vm;
	int r;

	if (!job || job->ops != &job_vm_move_in)
		return err_set(err, -ENOENT, "no incoming move with job %lld",
		    (long long)id);
	vm = vm_of(job);
	if (!job_phase_is(job, IN_PH_LISTENING) || !vm || vm->pidfd < 0)
		return err_set(err, -EBUSY, "the incoming move (job %lld) is "
		    "%s, not waiting for a commit", (long long)id,
		    job_phase_name(job));
	/* The source's stream completes when it has sent the last byte; ours
	 * when QEMU here has loaded it: the source asks again (503). */
	if (streq(vm->mig_status, "active") || streq(vm->mig_status,
	    "device") || streq(vm->mig_status, "setup") ||
	    in_commit_early(in_ctx(job)))
		return err_set(err, -EAGAIN, "the stream into vm '%s' is "
		    "still being loaded here (%s); ask again", vm->row->name,
		    vm->mig_status);
	if (!streq(vm->mig_status, "completed"))
		return err_set(err, -EBUSY, "the stream into vm '%s' has not "
		    "completed here (%s)", vm->row->name,
		    vm->mig_status[0] ? vm->mig_status : "no status");
	/* An HA VM's lease, which the source released: ours before `cont`
	 * (test hook move-in.lease=fail: as if another node held it) */
	if (h->vm_lease && failpoint_check("move-in.lease", NULL) == FP_FAIL)
		return err_set(err, -EBUSY, "cannot take the lease of vm '%s' "
		    "here (failpoint move-in.lease)", vm->row->name);
	if (h->vm_lease && (r = h->vm_lease(vm, job, HOST_LEASE_BIND,
	    err)) != 0)
		return r < 0 ? r : err_set(err, -EAGAIN, "taking the lease of "
		    "vm '%s' here; ask again", vm->row->name);
	/* The TPM's state dir, shared: ours from now on.  Both vCPUs are
	 * stopped (no TPM command in flight), the source's swtpm wrote its
	 * last state there, and ours holds the same (from the stream). */
	if (vm->tpm_apart && (r = tpm_apart_join(vm)) < 0)
		return err_setf_errno(err, r, "cannot point the TPM of vm "
		    "'%s' at its state directory '%s'", vm->row->name,
		    vm->row->tpm_dir);
	in_ctx(job)->call = peer_call_cancel(in_ctx(job)->call);
	job_set_phase(job, IN_PH_COMMITTING);
	if (in_copy(job))	/* the source's mirrors are done */
		(void)vm_qmp_cmd(vm, job, qmp_nbd_server_stop(), DEST_QMP_MS,
		    in_on_ignored);
	if (vm_qmp(vm, job, "cont", NULL, DEST_QMP_MS, in_on_cont) < 0)
		return err_set(err, -EIO, "QMP of vm '%s' is not connected",
		    vm->row->name);
	return 0;
}

/* ---- POST /v1/migrations ---- */

/* A POST /v1/migrations body, its fields checked one by one and against
 * each other; opt says how the VM is to be resolved here. */
struct in_req {
	bool check, live;
	const char *mode, *addr, *psk, *storage, *pool;
	int64_t src_job, channels;
	const json_t *vm;
};

static int
in_req_parse(struct host *h, const json_t *body, struct in_req *q,
    struct wire_opts *opt, struct err *err)
{
	static const char *const fields[] = { "check", "mode", "vm",
		"address", "psk", "source_job", "channels", "storage", "pool",
		"disk_pools", "replication", NULL };
	json_t *dp = json_object_get(body, "disk_pools");
	int r;

	*q = (struct in_req){ .storage = "auto", .channels = 1,
	    .vm = json_object_get(body, "vm") };
	if ((r = json_check_fields(body, fields, "migration", err)) < 0 ||
	    (r = json_get_bool(body, "check", &q->check, err)) < 0 ||
	    (r = json_get_str(body, "mode", true, &q->mode, err)) < 0 ||
	    (r = json_get_str(body, "address", false, &q->addr, err)) < 0 ||
	    (r = json_get_str(body, "psk", false, &q->psk, err)) < 0 ||
	    (r = json_get_str(body, "storage", false, &q->storage, err)) < 0 ||
	    (r = json_get_str(body, "pool", false, &q->pool, err)) < 0 ||
	    (r = json_get_int(body, "source_job", !q->check, 1, INT64_MAX,
	    &q->src_job, err)) < 0 ||
	    (r = json_get_int(body, "channels", false, 1, 8, &q->channels,
	    err)) < 0)
		return r;
	q->live = streq(q->mode, "live");
	if (!q->live && !streq(q->mode, "cold"))
		return err_set(err, -EINVAL, "mode must be live or cold");
	if (!streq(q->storage, "auto") && !streq(q->storage, "shared") &&
	    !streq(q->storage, "copy"))
		return err_set(err, -EINVAL, "storage must be auto, shared or "
		    "copy");
	if (dp && !json_is_object(dp))
		return err_set(err, -EINVAL, "disk_pools must be an object");
	if (q->psk && (strlen(q->psk) != 64 ||
	    strspn(q->psk, "0123456789abcdef") != 64))
		return err_set(err, -EINVAL, "psk must be 64 hex digits");
	if (q->live && !h->cfg.migration_address && (!q->addr || !*q->addr ||
	    strlen(q->addr) > 64 || strpbrk(q->addr, " ,/[]")))
		return err_set(err, -EINVAL, "no address to listen on: the "
		    "source sent none and migration-address is not set");
	if (!q->live && q->psk)
		return err_set(err, -EINVAL, "a cold move has no stream to "
		    "key");
	*opt = (struct wire_opts){ .running = q->live, .pool = q->pool,
	    .disk_pools = dp };
	opt->copy = streq(q->storage, "copy") || (streq(q->storage, "auto") &&
	    json_is_object(q->vm) && !wire_vm_shared(h, q->vm));
	if (opt->copy && !q->live)
		return err_set(err, -EINVAL, "host %s does not mount the "
		    "storage of this vm, and a vm that is off or saved moves "
		    "only over shared storage: start it to move it live (its "
		    "disks are copied), or export and import it",
		    h->cfg.name);
	if ((q->pool || dp) && !opt->copy)
		return err_set(err, -EINVAL, "a destination pool is for copied "
		    "disks; these are on storage host %s shares (force a "
		    "copy with --copy-storage)", h->cfg.name);
	return 0;
}

/* An HA VM arriving live needs its lease here at the commit: refused up
 * front when this host cannot take it (its lockspace not joined). */
static int
in_lease_check(struct host *h, struct vm_row *row, bool live,
    struct err *err)
{
	struct vm probe = { .h = h, .row = row };

	return live && h->vm_lease ? h->vm_lease(&probe, NULL,
	    HOST_LEASE_CHECK, err) : 0;
}

int
migrate_incoming(struct host *h, const char *peer_fp, const json_t *body,
    struct job **ret_job, json_t **ret_check, struct err *err)
{
	struct host_peer p = { 0 };
	struct vm_row *row = NULL;
	struct err terr = { 0 };
	struct in_req q;
	struct wire_opts opt;
	struct vm *vm;
	struct job *job;
	int r;

	if (host_peer_by_fp(h, peer_fp, &p) < 0)
		return err_set(err, -EACCES, "moves arrive from trusted peers "
		    "over HTTPS only");
	if ((r = in_req_parse(h, body, &q, &opt, err)) < 0 ||
	    (r = wire_vm_resolve(h, q.vm, &opt, &row, err)) < 0 ||
	    (r = in_lease_check(h, row, q.live, err)) < 0) {
		row = store_vm_row_free(row);
		goto out;
	}
	if (q.check) {
		row = store_vm_row_free(row);
		*ret_check = json_pack("{sb ss}", "ok", true, "storage",
		    opt.copy ? "copy" : "shared");
		goto out;
	}
	if (!q.live && row->state_file) {
		free(row->state);
		row->state = xstrdup(vm_state_name(VM_SAVED));
	}
	if ((vm = vm_find(h, row->uuid)) && cluster_vm_stale(vm)) {
		/* The cluster's stale copy (wire_check_new): its row goes,
		 * never its disks (the arriving VM's own files). */
		log_info("vm '%s': the stale copy here is replaced by the vm "
		    "arriving from %s", vm->row->name, p.name);
		vm_remove_run_files(vm);
		(void)store_vm_delete(h->store, vm->row->uuid);
		vm_remove(vm);
	}
	if ((r = store_vm_insert(h->store, row)) < 0) {
		row = store_vm_row_free(row);
		r = err_set(err, r == -EEXIST ? -EEXIST : r, "cannot record the "
		    "vm here: %s", r == -EEXIST ? "a name, disk or MAC is "
		    "taken" : strerror(-r));
		goto out;
	}
	/* Checked with the description: a failure here is the store's. */
	/* A live copy carries the bitmaps (track_bitmap_mapping()). */
	if (track_refpoints_import(h->store, row, json_object_get(q.vm,
	    "refpoints"), opt.copy && !q.live, &terr) < 0)
		log_warn("vm '%s': %s; its next backup compares checksums",
		    row->name, terr.msg);
	vm = vm_add(h, row);
	r = vm_job_create(h, &job_vm_move_in, vm,
	    json_pack("{ss ss ss ss ss sI "
	    "ss sI ss}", "qemu_version", h->qemu_version,
	    "source_host", p.name, "source_url", p.url, "source_fp",
	    p.fp, "mode", q.mode, "source_job", (json_int_t)q.src_job,
	    "address", q.addr ? q.addr : "", "channels",
	    (json_int_t)q.channels, "storage", opt.copy ? "copy" : "shared"),
	    &job, err);
	if (r < 0) {
		(void)store_vm_delete(h->store, vm->row->uuid);
		vm_remove(vm);
		goto out;
	}
	if (q.psk)
		snprintf(in_ctx(job)->psk, sizeof(in_ctx(job)->psk), "%s",
		    q.psk);
	json_object_set_new(job->details, "encrypted", json_boolean(q.psk));
	/* Recorded at the commit (in_arrived); checked then, by replica. */
	if (json_is_object(json_object_get(body, "replication")))
		json_object_set_new(job->details, "replication", json_deep_copy(
		    json_object_get(body, "replication")));
	*ret_job = job;
	job_start(job);
out:
	host_peer_done(&p);
	return r;
}
