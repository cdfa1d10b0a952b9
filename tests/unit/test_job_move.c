/* test_job_move.c - vm.move (src/migrate/source.c), the source of a live
 * move over shared storage, driven against the fake QMP peer and a fake
 * destination: an HTTPS server in the test's loop (src/api/http.c, a
 * pinned identity from src/api/tls.c, as test_peer.c) answering the
 * calls source.c makes (check, prepare, the destination job, commit,
 * cancel) as dest.c would.  Covers the exact command sequence of a move
 * to its end (the VM forgotten here), a commit answered 503 (asked
 * again), a QMP error at each step before the commit, the destination
 * refusing at the check or its job failing, a cancel at the switchover
 * (the move rolls back: the VM keeps running here and the destination's
 * job is cancelled), and a ternd restart before the stream, during it
 * and once committed (docs/architecture.md's restart table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "http.h"
#include "jobtest.h"
#include "metrics.h"
#include "migrate.h"
#include "peer.h"
#include "test.h"
#include "tls.h"
#include "util.h"

#define TIMEOUT_MS 10000
#define DEST_JOB 42

/* The source's commands, in order, as QEMU sees them. */
enum { ST_CAPS, ST_PARAMS, ST_MIGRATE, ST_CONTINUE, ST__COUNT };
static const char *const steps[ST__COUNT] = { "migrate-set-capabilities",
	"migrate-set-parameters", "migrate", "migrate-continue" };

static struct jobtest t;

/* The fake destination. */
static struct {
	struct http_server *srv;
	struct peer_client *pc;
	char listen[64], url[64], fp[TLS_FP_LEN], cli_fp[TLS_FP_LEN];
	char *key, *crt, *cli_key, *cli_crt;
	int n_checks, n_prepares, n_commits, n_cancels;
	bool committed, cancelled;
	bool refuse;		/* the check answers 409 */
	bool dest_fails;	/* the destination job reads failed */
	int loading;		/* commits answered 503 before the ok */
	bool listening;		/* its job has the stream's URI */
} d;

static void
reply_job(struct http_req *req)
{
	const char *st = d.committed ? "succeeded" : d.cancelled ?
	    "cancelled" : d.dest_fails ? "failed" : "running";

	http_reply_json(req, 200, json_pack("{sI ss ss s{so* sI ss}}", "id",
	    (json_int_t)DEST_JOB, "state", st, "phase", d.committed ? "done" :
	    d.listening ? "listening" : "launching", "details", "uri",
	    d.listening ? json_string("tcp:127.0.0.1:40001") : NULL,
	    "resumed_wall_ms", (json_int_t)wall_ms(), "qemu_version",
	    "10.0.2"));
}

/* As dest.c and api/ answer a source (no checks beyond the paths). */
static void
dest_handle(struct http_req *req, void *ud)
{
	_cleanup_free_ char *job = xasprintf("/v1/jobs/%d", DEST_JOB);
	_cleanup_free_ char *commit = xasprintf("/v1/migrations/%d/commit",
	    DEST_JOB);
	_cleanup_free_ char *cancel = xasprintf("/v1/jobs/%d/cancel",
	    DEST_JOB);
	json_t *body = req->body ? json_loads(req->body, 0, NULL) : NULL;

	(void)ud;
	if (streq(req->url, "/v1/migrations") && json_is_true(
	    json_object_get(body, "check"))) {
		d.n_checks++;
		http_reply_json(req, d.refuse ? 409 : 200, d.refuse ?
		    json_pack("{s{ss}}", "error", "message", "injected: a "
		    "name is taken") : json_pack("{sb ss}", "ok", true,
		    "storage", "shared"));
	} else if (streq(req->url, "/v1/migrations")) {
		d.n_prepares++;
		http_reply_json(req, 202, json_pack("{s{sI ss s{ss}}}", "job",
		    "id", (json_int_t)DEST_JOB, "state", "running", "details",
		    "qemu_version", "10.0.2"));
	} else if (streq(req->url, commit) && d.n_commits++ < d.loading) {
		http_reply_json(req, 503, json_pack("{s{ss}}", "error",
		    "message", "still being loaded here; ask again"));
	} else if (streq(req->url, commit)) {
		d.committed = true;
		reply_job(req);
	} else if (streq(req->url, cancel)) {
		d.n_cancels++;
		d.cancelled = true;
		http_reply_json(req, 200, json_object());
	} else if (streq(req->url, job)) {
		reply_job(req);
	} else {
		http_reply_json(req, 404, json_pack("{s{ss}}", "error",
		    "message", "no such thing here"));
	}
	json_decref(body);
}

/* The destination's server and the source's peer client, on loop l
 * (again after a restart: same address, same identities). */
static int
dest_listen(struct loop *l)
{
	if (http_server_start_tls(l, d.listen, d.key, d.crt, dest_handle,
	    NULL, &d.srv, NULL) < 0)
		return -1;
	if (peer_client_new(l, d.cli_key, d.cli_crt, &d.pc, NULL) < 0)
		abort();
	return 0;
}

static void
dest_close(void)
{
	t.h.peers = NULL;
	d.pc = peer_client_free(d.pc);
	d.srv = http_server_stop(d.srv);
}

static void
on_host(struct host *h)
{
	static char *machines[] = { "pc-q35-10.0" };

	h->machines = machines;
	h->n_machines = 1;
	snprintf(h->qemu_version, sizeof(h->qemu_version), "10.0.2");
	h->cfg.migration_plain = true;
	h->cfg.migration_timeout_ms = 60000;
	h->cfg.max_migrations = 1;
	if (!d.srv && dest_listen(h->loop) < 0)
		abort();
	h->peers = d.pc;
	job_type_register(&h->jobs, &job_vm_move);
}

/* Identities for both ends, the destination listening on a free port,
 * the source's peer client. */
static void
dest_start(void)
{
	_cleanup_free_ char *sd = xasprintf("%s/tls-dst", t.dir);
	_cleanup_free_ char *cd = xasprintf("%s/tls-src", t.dir);
	struct obj_row p = { .name = "dst" };
	struct err e = { 0 };

	memset(&d, 0, sizeof(d));
	if (tls_identity_load(sd, "dst", &d.key, &d.crt, d.fp, &e) < 0 ||
	    tls_identity_load(cd, "h1", &d.cli_key, &d.cli_crt, d.cli_fp,
	    &e) < 0)
		abort();
	d.listening = true;
	for (int port = 20000 + getpid() % 20000, i = 0; i < 50 && !d.srv;
	    i++, port++) {
		snprintf(d.listen, sizeof(d.listen), "127.0.0.1:%d", port);
		snprintf(d.url, sizeof(d.url), "https://127.0.0.1:%d/", port);
		(void)dest_listen(t.loop);
	}
	if (!d.srv)
		abort();
	p.a = d.url;
	p.b = d.fp;
	if (store_obj_insert(t.st, STORE_PEER, &p) < 0)
		abort();
	t.on_host_init = on_host;
	on_host(&t.h);
	host_link_record(&t.h, "dst", 1 << 30);
}

static void
dest_stop(void)
{
	jt_jobs_drop(&t);	/* their calls are on the client */
	dest_close();
	free(d.key);
	free(d.crt);
	free(d.cli_key);
	free(d.cli_crt);
}

/* A running VM "web" attached to its fake QEMU; the destination up. */
static void
fixture(void)
{
	jt_setup(&t);
	dest_start();
	(void)jt_vm_add(&t, "web", 1, "running");
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	if (!jt_qemu_attach(&t))
		abort();
}

static void
finish(void)
{
	if (!t.st)
		return;
	dest_stop();
	jt_teardown(&t);
}

static void
mig_event(const char *st)
{
	_cleanup_free_ char *data = xasprintf("{\"status\":\"%s\"}", st);

	fake_qmp_event(t.qmp, "MIGRATION", data);
}

/* Script the source's commands up to (not including) step upto with
 * QEMU's replies and events; the handle of step upto (-1: ST__COUNT,
 * then quit is expected too). */
static int
script(int upto)
{
	struct fake_qmp *f = t.qmp;
	int h = -1;

	/* Polled whenever the move looks; never part of the order. */
	fake_qmp_always(f, "query-migrate", "{\"status\":\"active\","
	    "\"ram\":{\"transferred\":4096,\"remaining\":4096,"
	    "\"total\":8192}}");
	for (int i = 0; i <= upto && i < ST__COUNT; i++) {
		h = fake_qmp_expect(f, steps[i], i == ST_MIGRATE ?
		    "{\"uri\":\"tcp:127.0.0.1:40001\"}" : NULL);
		if (i == upto)
			return h;
		fake_qmp_reply(f, h, "{}");
		if (i == ST_MIGRATE) {
			mig_event("setup");
			mig_event("active");
			fake_qmp_event(f, "STOP", NULL);
			mig_event("pre-switchover");
		}
	}
	mig_event("completed");
	h = fake_qmp_expect(f, "quit", NULL);
	fake_qmp_reply(f, h, "{}");
	return -1;
}

static int64_t
move_start(void)
{
	json_t *body = json_pack("{ss}", "to", "dst");
	struct job *job = NULL;
	struct err err = { 0 };
	int r = migrate_move_start(&t.h, jt_vm(&t), body, &job, &err);

	json_decref(body);
	if (r < 0) {
		fprintf(stderr, "migrate_move_start: %s\n", err.msg);
		return 0;
	}
	return job->row->id;
}

static void
move_success(void)
{
	_cleanup_free_ char *rundir = NULL, *disk = NULL;
	const char *const shared[] = { "storage", "shared", NULL };
	int64_t moves = metrics_get(metrics_default(), "tern_migration_bytes",
	    shared), id;

	fixture();	/* first: it makes t.dir and the VM */
	rundir = xasprintf("%s/run/vms/%s", t.dir, t.uuid);
	disk = xstrdup(jt_vm(&t)->row->disks[0].path);
	(void)script(ST__COUNT);
	t.kill_when_done = true;	/* QEMU exits after quit */
	ASSERT_EQ(metrics_get(metrics_default(), "tern_vm_state",
	    (const char *const[]){ "vm", "web", "state", "running", NULL }), 1);
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(d.n_checks, 1);
	ASSERT_EQ(d.n_prepares, 1);
	ASSERT_EQ(d.n_commits, 1);
	ASSERT_EQ(d.n_cancels, 0);
	/* Forgotten here, its shared disk left to the destination. */
	ASSERT_TRUE(jt_vm(&t) == NULL);
	ASSERT_TRUE(!jt_row_stored(&t));
	ASSERT_TRUE(!jt_exists(rundir));
	ASSERT_TRUE(jt_exists(disk));
	/* /metrics: the move in its histogram, the VM's samples gone */
	ASSERT_EQ(metrics_get(metrics_default(), "tern_migration_bytes",
	    shared), moves + 1);
	ASSERT_EQ(metrics_get(metrics_default(),
	    "tern_migration_downtime_seconds", shared), moves + 1);
	ASSERT_EQ(metrics_drop(metrics_default(), "vm", "web"), 0);
}

/* After a failure QEMU is asked to cancel the stream and to run the
 * vCPUs again. */
static void
rollback_rules(void)
{
	fake_qmp_always(t.qmp, "migrate_cancel", "{}");
	fake_qmp_always(t.qmp, "cont", "{}");
	fake_qmp_always(t.qmp, "migrate-set-parameters", "{}");
	fake_qmp_always(t.qmp, "migrate", "{}");
	fake_qmp_always(t.qmp, "migrate-continue", "{}");
}

static void
move_error_at(int k)
{
	int64_t id;

	fixture();
	fake_qmp_error(t.qmp, script(k), "GenericError", "injected");
	if (k == ST_CONTINUE)	/* the stream stopped, then cancelled */
		mig_event("cancelled");
	fake_qmp_event(t.qmp, "RESUME", NULL);
	rollback_rules();
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "injected");
	ASSERT_CONTAINS(jt_job_error(&t, id), "the vm keeps running on h1");
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(d.n_commits, 0);
	jt_run_for(&t, 300);	/* calls sent as the job ended land */
	ASSERT_TRUE(d.n_cancels >= 1);	/* the destination drops its copy */
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_vm(&t)->pidfd >= 0);
	ASSERT_TRUE(jt_row_stored(&t));
}

/* The destination refuses at the check: nothing starts here. */
static void
move_refused(void)
{
	int64_t id;

	fixture();
	d.refuse = true;
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "refused the move");
	ASSERT_CONTAINS(jt_job_error(&t, id), "injected");
	ASSERT_EQ(d.n_prepares, 0);
	ASSERT_EQ(fake_qmp_n_received(t.qmp), 2);	/* the handshake */
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
}

/* The destination's job fails before it listens: roll back. */
static void
move_dest_fails(void)
{
	int64_t id;

	fixture();
	d.dest_fails = true;
	rollback_rules();
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "host dst");
	ASSERT_EQ(d.n_prepares, 1);
	ASSERT_EQ(d.n_commits, 0);
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_row_stored(&t));
}

/* The destination answers the commit 503 (its QEMU still loads the
 * stream's end) twice, then ok: asked again until then. */
static void
move_commit_again(void)
{
	int64_t id;

	fixture();
	d.loading = 2;
	(void)script(ST__COUNT);
	t.kill_when_done = true;
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(d.n_commits, 3);
	ASSERT_TRUE(jt_vm(&t) == NULL);
}

/* Cancelled at the switchover (migrate-continue unanswered): the stream
 * is cancelled, the VM resumes here, the destination job is cancelled. */
static void
move_cancel_at_switchover(void)
{
	struct err err = { 0 };
	int64_t id;

	fixture();
	(void)script(ST_CONTINUE);
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "switchover", TIMEOUT_MS));
	ASSERT_EQ(job_cancel(&t.h.jobs, id, &err), 0);
	mig_event("cancelled");
	fake_qmp_event(t.qmp, "RESUME", NULL);
	rollback_rules();
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "cancelled");
	ASSERT_CONTAINS(jt_job_error(&t, id), "the vm keeps running on h1");
	jt_run_for(&t, 300);
	ASSERT_TRUE(d.n_cancels >= 1);
	ASSERT_EQ(d.n_commits, 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_vm(&t)->pidfd >= 0);
}

/* ternd restarts: the destination's server and client go with the
 * loop and come back with the host (on_host). */
static void
restart(bool running)
{
	jt_jobs_drop(&t);	/* their calls are on the client */
	dest_close();
	jt_restart(&t, true, running);
}

/* Restarted before the stream (the destination not yet listening): the
 * destination job is cancelled, the job fails, the VM untouched. */
static void
move_restart_before_stream(void)
{
	int64_t id;

	fixture();
	d.listening = false;
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "dest-wait", TIMEOUT_MS));
	jt_run_for(&t, 100);
	restart(true);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "ternd restarted before the "
	    "move started");
	jt_run_for(&t, 300);
	ASSERT_TRUE(d.n_cancels >= 1);
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_vm(&t)->pidfd >= 0);
}

/* Restarted at the switchover (stream started, not committed, vCPUs
 * stopped): migrate_cancel, then cont: the VM runs here. */
static void
move_restart_in_stream(void)
{
	int64_t id;

	fixture();
	(void)script(ST_CONTINUE);
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "switchover", TIMEOUT_MS));
	restart(false);
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, "migrate_cancel", NULL),
	    "{}");
	mig_event("cancelled");
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, "cont", NULL), "{}");
	fake_qmp_event(t.qmp, "RESUME", NULL);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "the vm keeps running on h1");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(d.n_commits, 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_row_stored(&t));
}

/* Restarted once committed (quit unanswered): QEMU quits, the VM is
 * forgotten here, the job succeeds. */
static void
move_restart_committed(void)
{
	int64_t id;

	fixture();
	(void)script(ST__COUNT - 1);	/* up to migrate-continue's reply */
	fake_qmp_reply(t.qmp, FAKE_LAST, "{}");
	mig_event("completed");
	(void)fake_qmp_expect(t.qmp, "quit", NULL);
	id = move_start();
	ASSERT_TRUE(id != 0);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "committed", TIMEOUT_MS));
	jt_run_for(&t, 100);
	restart(false);
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, "quit", NULL), "{}");
	t.kill_when_done = true;
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_TRUE(jt_vm(&t) == NULL);
	ASSERT_TRUE(!jt_row_stored(&t));
}

static void
test_move_restart(void)
{
	static void (*const cases[])(void) = { move_restart_before_stream,
		move_restart_in_stream, move_restart_committed };

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int before = test_failed_asserts;

		cases[i]();
		finish();
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (restart case %zu)\n", i);
			return;
		}
	}
}

static void
test_move_refused(void)
{
	move_refused();
	finish();
}

static void
test_move_dest_fails(void)
{
	move_dest_fails();
	finish();
}

static void
test_move_commit_again(void)
{
	move_commit_again();
	finish();
}

static void
test_move_cancel_at_switchover(void)
{
	move_cancel_at_switchover();
	finish();
}

static void
test_move_error_at_every_step(void)
{
	for (int k = 0; k < ST__COUNT; k++) {
		int before = test_failed_asserts;

		move_error_at(k);
		finish();
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (QMP error at step %d: %s)\n", k,
			    steps[k]);
			return;
		}
	}
}

static void
test_move_success(void)
{
	move_success();
	finish();
}

int
main(void)
{
	RUN_TEST(test_move_success);
	RUN_TEST(test_move_error_at_every_step);
	RUN_TEST(test_move_refused);
	RUN_TEST(test_move_dest_fails);
	RUN_TEST(test_move_commit_again);
	RUN_TEST(test_move_cancel_at_switchover);
	RUN_TEST(test_move_restart);
	return TEST_REPORT();
}
