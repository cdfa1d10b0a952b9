/* jobtest.c - the job-type test harness (jobtest.h): a host built as
 * daemon/main.c builds one, over a store in a temp dir, with fake QEMUs.
 * Test code only: it aborts on anything a test cannot go on without. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fsutil.h"
#include "job_int.h"	/* job_free: a test drops jobs as ternd's exit does */
#include "jobtest.h"
#include "storage.h"
#include "util.h"

extern char **environ;

static void
jt_host_init(struct jobtest *t)
{
	static char name[] = "h1";

	memset(&t->h, 0, sizeof(t->h));
	if (loop_new(&t->loop) < 0)
		abort();
	t->h.loop = t->loop;
	t->h.store = t->st;
	t->h.cfg.name = name;
	t->h.cfg.state_dir = xasprintf("%s/state", t->dir);
	t->h.cfg.run_dir = xasprintf("%s/run", t->dir);
	/* As ternd makes it at start: job helpers log into it. */
	if (mkdir_p(t->h.cfg.run_dir, 0700) < 0)
		abort();
	t->h.cfg.qemu_img = xstrdup("qemu-img");
	t->h.cfg.stop_timeout_ms = 2000;
	t->h.cfg.max_storage_migrations = 2;
	t->h.qemu_major = 10;
	if (t->fake_qemu_bin)
		t->h.cfg.qemu_binary = xasprintf("%s/fake-qemu", t->dir);
	job_table_init(&t->h.jobs, t->loop, t->st, vm_job_event);
	vm_jobs_register(&t->h);
	storage_init(&t->h);
	if (t->on_host_init)
		t->on_host_init(&t->h);
}

void
jt_jobs_drop(struct jobtest *t)
{
	while (t->h.jobs.n_jobs > 0) {
		struct job *job = t->h.jobs.jobs[t->h.jobs.n_jobs - 1];

		job_detach(job);
		job_free(job);
	}
}

static void
jt_host_done(struct jobtest *t)
{
	while (t->h.n_vms > 0)
		vm_remove(t->h.vms[0]);	/* the fake QEMU keeps running */
	free(t->h.vms);
	/* Jobs still active are abandoned as ternd's exit abandons them:
	 * their rows stay, nothing of theirs runs again (their timers and
	 * children are dropped with them, before the loop goes). */
	jt_jobs_drop(t);
	job_table_done(&t->h.jobs);
	free(t->h.cfg.state_dir);
	free(t->h.cfg.run_dir);
	free(t->h.cfg.qemu_img);
	free(t->h.cfg.qemu_binary);
	t->qmp = fake_qmp_free(t->qmp);
	t->loop = loop_free(t->loop);
}

void
jt_setup(struct jobtest *t)
{
	struct obj_row p1 = { .name = "p1" }, p2 = { .name = "p2" };
	char db[128];
	struct err err = { 0 };

	memset(t, 0, sizeof(*t));
	snprintf(t->dir, sizeof(t->dir), "/tmp/tern-jobtest-XXXXXX");
	if (!mkdtemp(t->dir))
		abort();
	snprintf(t->pool, sizeof(t->pool), "%s/p1", t->dir);
	snprintf(t->pool2, sizeof(t->pool2), "%s/p2", t->dir);
	snprintf(db, sizeof(db), "%s/ternd.db", t->dir);
	p1.a = t->pool;
	p2.a = t->pool2;
	if (mkdir_p(t->pool, 0700) < 0 || mkdir_p(t->pool2, 0700) < 0 ||
	    store_open(db, &t->st, &err) < 0 ||
	    store_obj_insert(t->st, STORE_POOL, &p1) < 0 ||
	    store_obj_insert(t->st, STORE_POOL, &p2) < 0)
		abort();
	jt_host_init(t);
}

void
jt_teardown(struct jobtest *t)
{
	char *argv[] = { "rm", "-rf", t->dir, NULL };
	pid_t pid;

	/* Ended jobs are freed on the loop's next turn (job_free_later). */
	(void)loop_run_once(t->loop, 0);
	jt_qemu_kill(t);
	jt_host_done(t);
	t->st = store_close(t->st);
	if (posix_spawnp(&pid, "rm", NULL, NULL, argv, environ) == 0)
		(void)waitpid(pid, NULL, 0);
}

struct vm *
jt_vm_add(struct jobtest *t, const char *name, int n_disks,
    const char *state)
{
	struct vm_row *r = xzalloc(sizeof(*r));

	uuid_generate_text(r->uuid);
	memcpy(t->uuid, r->uuid, sizeof(t->uuid));
	r->name = xstrdup(name);
	r->cpus = 1;
	r->memory_mib = 64;
	r->machine = xstrdup("pc-q35-10.0");
	r->state = xstrdup(state);
	r->n_disks = (size_t)n_disks;
	r->disks = xzalloc((size_t)n_disks * sizeof(*r->disks));
	for (int i = 0; i < n_disks; i++) {
		snprintf(r->disks[i].name, 8, "vd%c", 'a' + i);
		r->disks[i].path = xasprintf("%s/%s-vd%c.qcow2", t->pool,
		    name, 'a' + i);
		r->disks[i].pool = xstrdup("p1");
		r->disks[i].size_bytes = 1 << 20;
		r->disks[i].owned = true;
		if (file_write_atomic(r->disks[i].path, "data", 4, 0600) < 0)
			abort();
	}
	if (store_vm_insert(t->st, r) < 0)
		abort();
	return vm_add(&t->h, r);
}

struct vm *
jt_vm(struct jobtest *t)
{
	return vm_find(&t->h, t->uuid);
}

/* posix_spawn() returns once the child's exec has begun, and bash then
 * execs sleep: /proc/PID/cmdline reads empty during each exec, and names
 * the UUID as argv[0] only once sleep runs.  Wait for that, as ternd
 * only ever reattaches much later. */
static void
jt_wait_cmdline(pid_t pid, const char *uuid)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/cmdline", (int)pid);
	uint64_t end = now_ms() + 5000;

	while (now_ms() < end) {
		_cleanup_free_ char *buf = NULL;
		size_t len = 0;

		if (file_read_all(path, 1 << 20, &buf, &len) == 0 && len > 0 &&
		    streq(buf, uuid))
			return;
		(void)usleep(1000);
	}
	abort();
}

void
jt_qemu_spawn(struct jobtest *t)
{
	/* A sleep whose argv[0] is the UUID (vm_reattach() looks for it on
	 * the command line): killing it leaves no child behind, as killing
	 * a shell that waits for its sleep did. */
	char *argv[] = { "bash", "-c", "exec -a \"$0\" sleep 600", t->uuid,
	    NULL };
	_cleanup_free_ char *rundir = xasprintf("%s/run/vms/%s", t->dir,
	    t->uuid);

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;

	/* Not the test's stdout: a pipe reading it would wait for sleep.
	 * Its own process group: jt_qemu_kill() kills sleep with it. */
	if (mkdir_p(rundir, 0700) < 0 ||
	    posix_spawnattr_init(&attr) != 0 ||
	    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP) != 0 ||
	    posix_spawnattr_setpgroup(&attr, 0) != 0 ||
	    posix_spawn_file_actions_init(&fa) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY,
	    0) != 0 ||
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
	    0) != 0 ||
	    posix_spawnp(&t->qemu_pid, "bash", &fa, &attr, argv, environ) != 0)
		abort();
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	jt_wait_cmdline(t->qemu_pid, t->uuid);
}

/* QEMU's -daemonize, faked: the process left behind is a sleep whose
 * argv[0] is the UUID (bash's exec -a), so killing it leaves nothing. */
static const char fake_qemu_fmt[] =
    "#!/bin/sh\n"
    "uuid= pidfile=\n"
    "while [ $# -gt 0 ]; do\n"
    "\tcase \"$1\" in\n"
    "\t-uuid) uuid=$2; shift ;;\n"
    "\t-pidfile) pidfile=$2; shift ;;\n"
    "\tesac\n"
    "\tshift\n"
    "done\n"
    "%s"
    "bash -c 'exec -a \"$0\" sleep 600' \"$uuid\" </dev/null "
    ">/dev/null 2>&1 &\n"
    "echo $! > \"$pidfile\"\n"
    "echo $! > %s/fake-qemu.pid\n"
    "exit 0\n";

void
jt_fake_qemu_install(struct jobtest *t, bool fail)
{
	_cleanup_free_ char *path = xasprintf("%s/fake-qemu", t->dir);
	_cleanup_free_ char *text = xasprintf(fake_qemu_fmt, fail ?
	    "echo 'fake-qemu: injected failure' >&2; exit 1\n" : "", t->dir);

	if (file_write_atomic(path, text, strlen(text), 0700) < 0)
		abort();
	t->fake_qemu_bin = true;
	free(t->h.cfg.qemu_binary);
	t->h.cfg.qemu_binary = xstrdup(path);
}

bool
jt_qemu_launched(struct jobtest *t)
{
	_cleanup_free_ char *path = xasprintf("%s/fake-qemu.pid", t->dir);
	_cleanup_free_ char *buf = NULL;
	pid_t pid;

	if (file_read_all(path, 64, &buf, NULL) < 0)
		return false;
	pid = (pid_t)atoi(buf);
	if (pid <= 0)
		return false;
	t->qemu_pid = pid;
	return true;
}

void
jt_qmp_new(struct jobtest *t, bool running)
{
	_cleanup_free_ char *rundir = xasprintf("%s/run/vms/%s", t->dir,
	    t->uuid);
	_cleanup_free_ char *sock = xasprintf("%s/qmp.sock", rundir);
	int h;

	t->qmp = fake_qmp_free(t->qmp);
	if (fake_qmp_new(t->loop, FAKE_QMP_QEMU, &t->qmp) < 0 ||
	    mkdir_p(rundir, 0700) < 0)
		abort();
	(void)unlink(sock);
	if (symlink(fake_qmp_path(t->qmp), sock) == -1)
		abort();
	fake_qmp_handshake(t->qmp);
	h = fake_qmp_expect(t->qmp, "query-status", NULL);
	fake_qmp_reply(t->qmp, h, running ?
	    "{\"status\":\"running\",\"running\":true}" :
	    "{\"status\":\"paused\",\"running\":false}");
}

bool
jt_qemu_attach(struct jobtest *t)
{
	struct vm *vm = jt_vm(t);
	uint64_t end;

	vm->row->pid = t->qemu_pid;
	vm->row->pid_start = 0;
	if (!vm_reattach(vm)) {
		fprintf(stderr, "jobtest: vm_reattach(%d) refused\n",
		    (int)t->qemu_pid);
		return false;
	}
	/* Until QMP is ready, as a job after a restart would wait. */
	end = now_ms() + 10000;	/* a loaded machine is slow */

	while (now_ms() < end && !vm->qmp_ready)
		(void)loop_run_once(t->loop, 10);
	if (!vm->qmp_ready)
		fprintf(stderr, "jobtest: QMP not ready after 10 s (%u "
		    "connects, %s)\n", fake_qmp_n_connects(t->qmp),
		    fake_qmp_mismatch(t->qmp) ?: "no mismatch");
	return vm->qmp_ready;
}

void
jt_qemu_kill(struct jobtest *t)
{
	if (t->qemu_pid <= 0)
		return;
	/* Its group when jt_qemu_spawn() made it (a leader); a fake QEMU
	 * launched by a job is in no group of its own. */
	(void)kill(-t->qemu_pid, SIGKILL);
	(void)kill(t->qemu_pid, SIGKILL);
	(void)waitpid(t->qemu_pid, NULL, 0);
	t->qemu_pid = 0;
}

/* As daemon/main.c's host_load_vms() and host_reattach(). */
static void
jt_host_load(struct jobtest *t)
{
	struct vm_row **rows;
	size_t n;

	if (store_vm_load_all(t->st, &rows, &n) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		struct vm *vm = vm_add(&t->h, rows[i]);

		if (vm_is_down(vm) || vm->state == VM_CREATING ||
		    vm->state == VM_DELETING || vm_reattach(vm))
			continue;
		vm->pid = 0;
		if (vm->state == VM_RUNNING || vm->state == VM_PAUSED ||
		    (vm->state == VM_SAVING && !vm->row->state_file))
			vm_set_state(vm, VM_CRASHED, "QEMU exited while "
			    "ternd was not running");
		else
			vm_set_state(vm, vm_down_state(vm), NULL);
	}
	free(rows);
}

void
jt_restart(struct jobtest *t, bool qemu_up, bool running)
{
	jt_host_done(t);
	if (!qemu_up)
		jt_qemu_kill(t);
	jt_host_init(t);
	if (qemu_up)
		jt_qmp_new(t, running);
	jt_host_load(t);
	job_recover_all(&t->h.jobs);
}

int64_t
jt_job_start(struct jobtest *t, const struct job_ops *ops, json_t *details)
{
	struct job *job;
	struct err err = { 0 };

	if (vm_job_create(&t->h, ops, jt_vm(t), details, &job, &err) < 0) {
		fprintf(stderr, "jobtest: %s\n", err.msg);
		return 0;
	}
	job_start(job);
	return job->row->id;
}

/* One turn of the loop; the fake QEMU exits once its script ran when the
 * test asked for that (QEMU exits after answering quit). */
static void
jt_turn(struct jobtest *t)
{
	(void)loop_run_once(t->loop, 5);
	if (t->kill_when_done && t->qmp && fake_qmp_is_done(t->qmp)) {
		t->kill_when_done = false;
		jt_qemu_kill(t);
	}
}

bool
jt_run_until_phase(struct jobtest *t, int64_t id, const char *phase,
    uint64_t timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		struct job *job = job_find(&t->h.jobs, id);

		if (!job)
			return phase == NULL;
		if (phase && streq(job_phase_name(job), phase))
			return true;
		jt_turn(t);
	}
	return false;
}

bool
jt_run_until_ended(struct jobtest *t, int64_t id, uint64_t timeout_ms)
{
	return jt_run_until_phase(t, id, NULL, timeout_ms);
}

void
jt_run_for(struct jobtest *t, uint64_t ms)
{
	uint64_t end = now_ms() + ms;

	while (now_ms() < end)
		jt_turn(t);
}

static const char *
jt_job_field(struct jobtest *t, int64_t id, const char *key)
{
	static char buf[512];
	json_t *o = store_job_json(t->st, id);

	snprintf(buf, sizeof(buf), "%s", json_string_value(
	    json_object_get(o, key)) ?: "");
	json_decref(o);
	return buf;
}

const char *
jt_job_state(struct jobtest *t, int64_t id)
{
	return jt_job_field(t, id, "state");
}

const char *
jt_job_error(struct jobtest *t, int64_t id)
{
	return jt_job_field(t, id, "error");
}

bool
jt_row_stored(struct jobtest *t)
{
	struct vm_row **rows;
	size_t n;
	bool found = false;

	if (store_vm_load_all(t->st, &rows, &n) < 0)
		abort();
	for (size_t i = 0; i < n; i++) {
		found = found || streq(rows[i]->uuid, t->uuid);
		store_vm_row_free(rows[i]);
	}
	free(rows);
	return found;
}

bool
jt_exists(const char *path)
{
	struct stat s;

	return stat(path, &s) == 0;
}
