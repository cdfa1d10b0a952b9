/* test_job_move_in.c - vm.move-in (src/migrate/dest.c), the destination
 * of a live move, driven against the fake QMP peer with the source's
 * calls made directly (migrate_incoming, migrate_commit, job_cancel):
 * the exact command sequence from launch to running, with shared disks,
 * a keyed stream (a PSK: TLS object, key file removed after) and copied
 * disks (qemu-img, NBD exports, made disks removed on failure), a
 * launcher or qemu-img that fails, a commit asked too early (-EAGAIN
 * while the stream loads), a QMP error at each step (the job fails, the
 * incoming VM, its QEMU and its files are gone), a cancel and QEMU
 * exiting in each phase, the source's job ending while the destination
 * listens (a fake HTTPS source it watches), and a ternd restart in each
 * phase (the outcomes of docs/architecture.md's restart table).  The
 * "QEMU" is the harness's fake launcher (jt_fake_qemu_install). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "http.h"
#include "jobtest.h"
#include "migrate.h"
#include "peer.h"
#include "test.h"
#include "tls.h"
#include "util.h"

#define TIMEOUT_MS 5000
#define SRC_FP "sha256:00112233445566778899aabbccddeeff"

/* How the source moves the VM: its disks shared, or shared with the
 * stream keyed (a PSK), or copied (new disks here, served over NBD). */
enum { M_SHARED, M_KEYED, M_COPY, M__COUNT };
static const char *const modes[M__COUNT] = { "shared", "keyed", "copy" };

/* The commands of the destination, in order, as QEMU sees them, with
 * arguments they must have; some only in one mode. */
enum { ST_CAPS, ST_OBJ, ST_PARAMS, ST_GETFD, ST_NBD, ST_EXPORT,
       ST_INCOMING, ST_QUERY, ST__COUNT };
static const struct {
	const char *cmd, *args, *args_keyed;
	int only;		/* the mode it is in; -1: all */
} steps[ST__COUNT] = {
	{ "migrate-set-capabilities", NULL, NULL, -1 },
	{ "object-add", NULL, "{\"qom-type\":\"tls-creds-psk\","
	  "\"id\":\"tern-mig1\",\"endpoint\":\"server\"}", M_KEYED },
	{ "migrate-set-parameters", "{\"tls-creds\":\"\"}",
	  "{\"tls-creds\":\"tern-mig1\"}", -1 },
	{ "getfd", "{\"fdname\":\"tern-nbd\"}", NULL, M_COPY },
	{ "nbd-server-start", "{\"addr\":{\"type\":\"fd\"}}", NULL,
	  M_COPY },
	{ "block-export-add", "{\"type\":\"nbd\",\"id\":\"exp-vda\","
	  "\"node-name\":\"vda-fmt\",\"name\":\"vda\","
	  "\"writable\":true}", NULL, M_COPY },
	{ "migrate-incoming", "{\"uri\":\"tcp:127.0.0.1:0\"}",
	  "{\"uri\":\"tcp:127.0.0.1:0\"}", -1 },
	{ "query-migrate", NULL, NULL, -1 },
};
#define PSK "00112233445566778899aabbccddeeff" \
	"00112233445566778899aabbccddeeff"

static struct jobtest t;

/* A fake source (watch test only): HTTPS, answers GET /v1/jobs/7 with
 * its job's state. */
static struct {
	struct http_server *srv;
	struct peer_client *pc;
	char url[64], fp[TLS_FP_LEN], cli_fp[TLS_FP_LEN];
	char *key, *crt, *cli_key, *cli_crt;
	const char *state;
	int n_gets;
} src;
static int mode;		/* M_SHARED, ... */
static char disk[256];		/* the VM's disk, the source's (shared) */
static char copy_disk[256];	/* M_COPY: the disk made here */

static bool
step_in_mode(int i)
{
	return steps[i].only < 0 || steps[i].only == mode;
}

static void
on_host(struct host *h)
{
	static char *machines[] = { "pc-q35-10.0" };

	h->machines = machines;
	h->n_machines = 1;
	snprintf(h->qemu_version, sizeof(h->qemu_version), "10.0.2");
	job_type_register(&h->jobs, &job_vm_move_in);
}

/* The source's description of VM "web" (its disk on the shared pool p1);
 * the VM itself is then forgotten here, as a destination never had it. */
static json_t *
describe(void)
{
	struct vm *vm = jt_vm_add(&t, "web", 1, "running");
	json_t *desc = NULL;
	struct err err = { 0 };

	snprintf(disk, sizeof(disk), "%s", vm->row->disks[0].path);
	if (wire_vm_describe(&t.h, vm, false, &desc, &err) < 0) {
		fprintf(stderr, "describe: %s\n", err.msg);
		abort();
	}
	(void)store_vm_delete(t.st, vm->row->uuid);
	vm_remove(vm);
	return desc;
}

/* A host that trusts the source, the fake QEMU launcher and a fake QMP
 * at the incoming VM's qmp.sock (greeting, query-status: paused). */
static json_t *
fixture(bool launch_fails)
{
	struct obj_row p = { .name = "src", .a = "https://127.0.0.1:1",
		.b = SRC_FP };
	json_t *desc;

	t.on_host_init = NULL;
	jt_setup(&t);
	t.on_host_init = on_host;
	on_host(&t.h);
	if (store_obj_insert(t.st, STORE_PEER, &p) < 0)
		abort();
	desc = describe();
	jt_fake_qemu_install(&t, launch_fails);
	jt_qmp_new(&t, false);
	return desc;
}

/* The source's POST /v1/migrations: the job's id (0: refused). */
static int64_t
incoming(json_t *desc)
{
	json_t *body = json_pack("{ss so ss sI ss}", "mode", "live", "vm",
	    desc, "address", "127.0.0.1", "source_job", (json_int_t)7,
	    "storage", mode == M_COPY ? "copy" : "shared");
	struct job *job = NULL;
	json_t *check = NULL;
	struct err err = { 0 };
	int r;

	if (mode == M_KEYED)
		json_object_set_new(body, "psk", json_string(PSK));
	if (mode == M_COPY)
		json_object_set_new(body, "pool", json_string("p2"));
	r = migrate_incoming(&t.h, src.srv ? src.fp : SRC_FP, body, &job,
	    &check, &err);
	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "migrate_incoming: %s\n", err.msg);
		return 0;
	}
	snprintf(copy_disk, sizeof(copy_disk), "%s", mode == M_COPY ?
	    jt_vm(&t)->row->disks[0].path : "");
	return job->row->id;
}

/* Script the destination's commands up to (not including) step upto
 * with QEMU's replies; the handle of step upto (-1: ST__COUNT). */
static int
script(int upto)
{
	struct fake_qmp *f = t.qmp;
	int h = -1;

	for (int i = 0; i <= upto && i < ST__COUNT; i++) {
		const char *args = mode == M_KEYED && steps[i].args_keyed ?
		    steps[i].args_keyed : steps[i].args;

		if (!step_in_mode(i))
			continue;
		h = i == ST_GETFD ? fake_qmp_expect_fd(f, steps[i].cmd, args) :
		    fake_qmp_expect(f, steps[i].cmd, args);
		if (i == upto)
			return h;
		if (i == ST_QUERY)
			fake_qmp_reply(f, h, "{\"status\":\"setup\","
			    "\"socket-address\":[{\"type\":\"inet\","
			    "\"host\":\"127.0.0.1\",\"port\":\"40001\"}]}");
		else
			fake_qmp_reply(f, h, "{}");
	}
	return -1;
}

/* What a resumed VM gets after `cont`; anything else after a failure. */
static void
after_rules(void)
{
	fake_qmp_always(t.qmp, "migrate-set-parameters", "{}");
	fake_qmp_always(t.qmp, "migrate-set-capabilities", "{}");
	fake_qmp_always(t.qmp, "migrate-incoming", "{}");
	fake_qmp_always(t.qmp, "query-migrate", "{\"status\":\"setup\"}");
	fake_qmp_always(t.qmp, "announce-self", "{}");
	fake_qmp_always(t.qmp, "cont", "{}");
	fake_qmp_always(t.qmp, "object-add", "{}");
	fake_qmp_always(t.qmp, "object-del", "{}");
	fake_qmp_always(t.qmp, "getfd", "{}");
	fake_qmp_always(t.qmp, "nbd-server-start", "{}");
	fake_qmp_always(t.qmp, "block-export-add", "{}");
	fake_qmp_always(t.qmp, "nbd-server-stop", "{}");
}

/* The stream's key file, while a keyed move is under way. */
static char *
key_path(void)
{
	return xasprintf("%s/run/vms/%s/mig-1/keys.psk", t.dir, t.uuid);
}

/* The fake QEMU is dead (or a zombie its new parent has yet to reap). */
static bool
qemu_gone(pid_t pid)
{
	_cleanup_free_ char *path = xasprintf("/proc/%d/stat", (int)pid);
	_cleanup_free_ char *buf = NULL;
	const char *p;

	if (pid <= 0 || file_read_all(path, 4096, &buf, NULL) < 0)
		return true;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Nothing of the incoming VM is left: no VM, no row, no QEMU, no run
 * directory; the source's disk is untouched. */
static void
assert_not_taken(int64_t id, const char *state)
{
	_cleanup_free_ char *rundir = xasprintf("%s/run/vms/%s", t.dir,
	    t.uuid);
	uint64_t end = now_ms() + 2000;

	ASSERT_STREQ(jt_job_state(&t, id), state);
	ASSERT_TRUE(jt_vm(&t) == NULL);
	ASSERT_TRUE(!jt_row_stored(&t));
	ASSERT_TRUE(!jt_exists(rundir));
	ASSERT_TRUE(jt_exists(disk));
	ASSERT_TRUE(!copy_disk[0] || !jt_exists(copy_disk));
	while (t.qemu_pid > 0 && !qemu_gone(t.qemu_pid) && now_ms() < end)
		jt_run_for(&t, 10);
	ASSERT_TRUE(t.qemu_pid <= 0 || qemu_gone(t.qemu_pid));
}

/* Start the move (desc from fixture()) and run it to phase; the fake
 * QEMU adopted.  0 if it did not get there. */
static int64_t
start_to(json_t *desc, const char *phase)
{
	int64_t id = incoming(desc);

	if (!id || !jt_run_until_phase(&t, id, phase, TIMEOUT_MS))
		return 0;
	(void)jt_qemu_launched(&t);
	return id;
}

/* Send the MIGRATION event with status st and let ternd read it. */
static void
mig_event(const char *st)
{
	_cleanup_free_ char *data = xasprintf("{\"status\":\"%s\"}", st);

	fake_qmp_event(t.qmp, "MIGRATION", data);
	jt_run_for(&t, 50);
}

static void
src_handle(struct http_req *req, void *ud)
{
	(void)ud;
	if (!streq(req->url, "/v1/jobs/7")) {
		http_reply_json(req, 404, json_pack("{s{ss}}", "error",
		    "message", "no such thing here"));
		return;
	}
	src.n_gets++;
	http_reply_json(req, 200, json_pack("{si ss ss}", "id", 7, "type",
	    "vm.move", "state", src.state));
}

/* The source as a trusted peer "src2" that really answers. */
static void
src_start(void)
{
	_cleanup_free_ char *sd = xasprintf("%s/tls-src", t.dir);
	_cleanup_free_ char *cd = xasprintf("%s/tls-dst", t.dir);
	struct obj_row p = { .name = "src2" };
	char listen[64];
	struct err e = { 0 };

	memset(&src, 0, sizeof(src));
	src.state = "running";
	if (tls_identity_load(sd, "src2", &src.key, &src.crt, src.fp,
	    &e) < 0 || tls_identity_load(cd, "h1", &src.cli_key,
	    &src.cli_crt, src.cli_fp, &e) < 0)
		abort();
	for (int port = 20000 + getpid() % 20000, i = 0; i < 50 && !src.srv;
	    i++, port++) {
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
		snprintf(src.url, sizeof(src.url), "https://127.0.0.1:%d/",
		    port);
		(void)http_server_start_tls(t.loop, listen, src.key, src.crt,
		    src_handle, NULL, &src.srv, NULL);
	}
	if (!src.srv || peer_client_new(t.loop, src.cli_key, src.cli_crt,
	    &src.pc, &e) < 0)
		abort();
	p.a = src.url;
	p.b = src.fp;
	if (store_obj_insert(t.st, STORE_PEER, &p) < 0)
		abort();
	t.h.peers = src.pc;
}

static void
src_stop(void)
{
	t.h.peers = NULL;
	src.pc = peer_client_free(src.pc);
	src.srv = http_server_stop(src.srv);
	free(src.key);
	free(src.crt);
	free(src.cli_key);
	free(src.cli_crt);
	memset(&src, 0, sizeof(src));
}

/* Teardown even when an assertion returned early. */
static void
finish(void)
{
	if (src.srv)
		src_stop();
	if (t.st)
		jt_teardown(&t);
}

/* Listening, the destination watches the source's job: while it runs
 * the move goes on; once it ended (failed) the VM is not taken. */
static void
move_in_source_ends(void)
{
	json_t *desc = fixture(false);
	int64_t id;

	src_start();
	(void)script(ST__COUNT);
	after_rules();
	id = start_to(desc, "listening");
	ASSERT_TRUE(id != 0);
	jt_run_for(&t, 1500);	/* a watch (every DEST_WATCH_MS) or two */
	ASSERT_TRUE(src.n_gets >= 1);
	ASSERT_STREQ(job_phase_name(job_find(&t.h.jobs, id)), "listening");
	src.state = "failed";
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_not_taken(id, "cancelled");
	ASSERT_CONTAINS(jt_job_error(&t, id), "the source ended the move");
}

static void
test_move_in_source_ends(void)
{
	move_in_source_ends();
	finish();
}

static void
move_in_success(void)
{
	struct err err = { 0 };
	int64_t id;
	json_t *desc = fixture(false);
	_cleanup_free_ char *key = key_path();
	int h;

	(void)script(ST__COUNT);
	id = start_to(desc, "listening");
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(t.qemu_pid > 0);
	ASSERT_EQ(jt_exists(key), mode == M_KEYED);
	ASSERT_TRUE(!copy_disk[0] || jt_exists(copy_disk));
	ASSERT_TRUE(mode != M_COPY || json_object_get(job_find(&t.h.jobs,
	    id)->details, "nbd"));
	ASSERT_EQ(jt_vm(&t)->state, VM_INCOMING);
	ASSERT_STREQ(json_string_value(json_object_get(job_find(&t.h.jobs,
	    id)->details, "uri")), "tcp:127.0.0.1:40001");
	/* The source's stream is done, ours still loads: ask again. */
	mig_event("active");
	ASSERT_EQ(migrate_commit(&t.h, id, &err), -EAGAIN);
	mig_event("completed");
	if (mode == M_COPY)	/* the source's mirrors are done */
		fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp,
		    "nbd-server-stop", NULL), "{}");
	h = fake_qmp_expect(t.qmp, "cont", NULL);
	fake_qmp_reply(t.qmp, h, "{}");
	fake_qmp_event(t.qmp, "RESUME", NULL);
	after_rules();
	ASSERT_EQ(migrate_commit(&t.h, id, &err), 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_row_stored(&t));
	ASSERT_TRUE(!qemu_gone(t.qemu_pid));
	ASSERT_TRUE(!jt_exists(key));
	ASSERT_TRUE(!copy_disk[0] || jt_exists(copy_disk));
}

static void
move_in_error_at(int k)
{
	json_t *desc = fixture(false);
	int64_t id;

	fake_qmp_error(t.qmp, script(k), "GenericError", "injected");
	after_rules();
	id = incoming(desc);
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_TRUE(jt_qemu_launched(&t));
	assert_not_taken(id, "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "injected");
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
}

static void
test_move_in_error_at_every_step(void)
{
	for (int k = 0; k < M__COUNT * ST__COUNT; k++) {
		int before = test_failed_asserts;

		mode = k / ST__COUNT;
		if (!step_in_mode(k % ST__COUNT))
			continue;
		move_in_error_at(k % ST__COUNT);
		finish();
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (QMP error at step %s, %s)\n",
			    steps[k % ST__COUNT].cmd, modes[mode]);
			break;
		}
	}
	mode = M_SHARED;
}

/* QEMU does not start (the launcher exits 1): nothing stays. */
static void
move_in_launch_fails(void)
{
	int64_t id = incoming(fixture(true));

	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_TRUE(!jt_qemu_launched(&t));
	assert_not_taken(id, "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "QEMU failed to start");
}

/* The phases a move can be cancelled or interrupted in. */
enum { PH_LAUNCHING, PH_LISTEN, PH_LISTENING, PH_COMMITTING, PH__COUNT };
static const char *const phases[PH__COUNT] = { "launching", "listen",
	"listening", "committing" };

/* A fake QMP that accepts ternd and says nothing (no greeting): QEMU
 * still starting, so the job stays in launching. */
static void
qmp_silent(void)
{
	_cleanup_free_ char *sock = xasprintf("%s/run/vms/%s/qmp.sock",
	    t.dir, t.uuid);

	t.qmp = fake_qmp_free(t.qmp);
	if (fake_qmp_new(t.loop, FAKE_QMP_QEMU, &t.qmp) < 0)
		abort();
	(void)unlink(sock);
	if (symlink(fake_qmp_path(t.qmp), sock) == -1)
		abort();
}

/* A move held in phase ph: its QEMU launched and watched, the command
 * that would end the phase left unanswered.  Committing: the commit
 * asked, `cont` unanswered (*cont: its handle).  0 on failure. */
static int64_t
hold_in(int ph, int *cont)
{
	json_t *desc = fixture(false);
	struct err err = { 0 };
	int64_t id;

	if (ph == PH_LAUNCHING)
		qmp_silent();
	else
		(void)script(ph == PH_LISTEN ? ST_QUERY : ST__COUNT);
	if (!(id = start_to(desc, phases[ph == PH_COMMITTING ? PH_LISTENING :
	    ph])))
		return 0;
	jt_run_for(&t, 200);	/* the launcher exits, QEMU is watched */
	if (!jt_vm(&t) || jt_vm(&t)->pidfd < 0 || !jt_qemu_launched(&t))
		return 0;
	if (ph == PH_COMMITTING) {
		mig_event("completed");
		*cont = fake_qmp_expect(t.qmp, "cont", NULL);
		if (migrate_commit(&t.h, id, &err) < 0)
			return 0;
		jt_run_for(&t, 100);
	}
	if (!streq(job_phase_name(job_find(&t.h.jobs, id)), phases[ph]))
		return 0;
	return id;
}

/* The source cancels: the VM is not taken, except once committing
 * (-EBUSY: it is being resumed here, and then runs here). */
static void
move_in_cancel_in(int ph)
{
	struct err err = { 0 };
	int cont = -1;
	int64_t id = hold_in(ph, &cont);

	ASSERT_TRUE(id != 0);
	after_rules();
	if (ph == PH_COMMITTING) {
		ASSERT_EQ(job_cancel(&t.h.jobs, id, &err), -EBUSY);
		fake_qmp_reply(t.qmp, cont, "{}");
		ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
		ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
		ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
		return;
	}
	ASSERT_EQ(job_cancel(&t.h.jobs, id, &err), 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_not_taken(id, "cancelled");
	ASSERT_CONTAINS(jt_job_error(&t, id), "cancelled by the source");
}

static void
test_move_in_cancel_in_each_phase(void)
{
	for (int ph = 0; ph < PH__COUNT; ph++) {
		int before = test_failed_asserts;

		move_in_cancel_in(ph);
		finish();
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (cancel in %s)\n", phases[ph]);
			return;
		}
	}
}

/* The incoming QEMU exits before the commit (its stream failed): the
 * job fails and nothing of the VM stays. */
static void
move_in_qemu_exits_in(int ph)
{
	int cont = -1;
	int64_t id = hold_in(ph, &cont);

	ASSERT_TRUE(id != 0);
	after_rules();
	jt_qemu_kill(&t);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_not_taken(id, "failed");
	/* In listen the unanswered query-migrate fails first. */
	ASSERT_CONTAINS(jt_job_error(&t, id), ph == PH_LAUNCHING ?
	    "QEMU did not start" : ph == PH_LISTEN ? "query-migrate" :
	    "the incoming QEMU exited");
}

static void
test_move_in_qemu_exits_in_each_phase(void)
{
	for (int ph = 0; ph < PH_COMMITTING; ph++) {
		int before = test_failed_asserts;

		move_in_qemu_exits_in(ph);
		finish();
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (QEMU exits in %s)\n", phases[ph]);
			return;
		}
	}
}

/* ternd restarts in phase ph; QEMU up or not, running (the commit's
 * `cont` happened) or not.  The restart table: QEMU running, the VM
 * runs here and the job succeeds; paused or gone, QEMU killed, the VM
 * forgotten, the job fails. */
static void
move_in_restart_in(int ph, bool qemu_up, bool running)
{
	int cont = -1;
	int64_t id = hold_in(ph, &cont);

	ASSERT_TRUE(id != 0);
	jt_restart(&t, qemu_up, running);
	if (qemu_up)
		after_rules();
	ASSERT_TRUE(jt_run_until_ended(&t, id, 15000));
	if (running) {
		ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
		ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
		ASSERT_TRUE(jt_row_stored(&t));
		ASSERT_TRUE(!qemu_gone(t.qemu_pid));
		return;
	}
	assert_not_taken(id, "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "ternd restarted");
	if (qemu_up)
		ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
}

static void
test_move_in_restart_in_each_phase(void)
{
	static const struct { bool up, running; } cases[] = {
		{ true, false }, { false, false }, { true, true } };

	for (int ph = 0; ph < PH__COUNT; ph++)
		for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
			int before = test_failed_asserts;

			/* Before the commit QEMU cannot be running. */
			if (cases[c].running && ph != PH_COMMITTING)
				continue;
			move_in_restart_in(ph, cases[c].up, cases[c].running);
			finish();
			if (test_failed_asserts != before) {
				fprintf(stderr, "  (restart in %s, QEMU %s)\n",
				    phases[ph], !cases[c].up ? "gone" :
				    cases[c].running ? "running" : "paused");
				return;
			}
		}
}

/* Copy mode: qemu-img cannot make the disk (exits 1): no QEMU starts,
 * nothing stays. */
static void
move_in_disk_create_fails(void)
{
	json_t *desc = fixture(false);
	int64_t id;

	free(t.h.cfg.qemu_img);
	t.h.cfg.qemu_img = xstrdup("false");
	id = incoming(desc);
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_TRUE(!jt_qemu_launched(&t));
	assert_not_taken(id, "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "cannot create disk");
}

static void
test_move_in_disk_create_fails(void)
{
	mode = M_COPY;
	move_in_disk_create_fails();
	finish();
	mode = M_SHARED;
}

static void
test_move_in_success(void)
{
	move_in_success();
	finish();
}

static void
test_move_in_success_keyed(void)
{
	mode = M_KEYED;
	move_in_success();
	finish();
	mode = M_SHARED;
}

static void
test_move_in_success_copy(void)
{
	mode = M_COPY;
	move_in_success();
	finish();
	mode = M_SHARED;
}

static void
test_move_in_launch_fails(void)
{
	move_in_launch_fails();
	finish();
}

int
main(void)
{
	RUN_TEST(test_move_in_success);
	RUN_TEST(test_move_in_success_keyed);
	RUN_TEST(test_move_in_success_copy);
	RUN_TEST(test_move_in_error_at_every_step);
	RUN_TEST(test_move_in_launch_fails);
	RUN_TEST(test_move_in_disk_create_fails);
	RUN_TEST(test_move_in_cancel_in_each_phase);
	RUN_TEST(test_move_in_qemu_exits_in_each_phase);
	RUN_TEST(test_move_in_source_ends);
	RUN_TEST(test_move_in_restart_in_each_phase);
	return TEST_REPORT();
}
