/* test_job.c - the job layer (src/job) on its own, with a real loop and a
 * store in a temporary directory: claims, references after a job moved on,
 * states with CANCELLING and refused cancels, the registry, the slot queue
 * and the throttled progress writes. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "job.h"
#include "test.h"
#include "util.h"

static char dir[] = "/tmp/tern-test-job-XXXXXX";
static struct loop *loop;
static struct store *st;
static struct job_table t;
static int steps;		/* step() calls of the test types */
static int events;

static const char *const phases[] = { "start", "middle", "end" };

static void
count_step(struct job *job)
{
	(void)job;
	steps++;
}

/* Cancel refused while the job is in phase "end", else it goes on. */
static int
cautious_cancel(struct job *job, struct err *err)
{
	if (job_phase_is(job, 2))
		return err_set(err, -EBUSY, "too late: job %lld is at its "
		    "end", (long long)job->row->id);
	return 0;
}

static const struct job_ops job_test = { .type = "test.plain",
	.phases = phases, .n_phases = 3, .step = count_step,
	.cancel = cautious_cancel };
static const struct job_ops job_nocancel = { .type = "test.nocancel",
	.phases = phases, .n_phases = 3, .step = count_step };

static void
on_event(struct job_table *tab, struct job *job, const char *sev,
    const char *msg)
{
	(void)tab;
	(void)job;
	(void)sev;
	(void)msg;
	events++;
}

static void
fixture(void)
{
	char *db;

	if (!mkdtemp(dir) || loop_new(&loop) < 0)
		abort();
	db = xasprintf("%s/ternd.db", dir);
	if (store_open(db, &st, NULL) < 0)
		abort();
	free(db);
	job_table_init(&t, loop, st, on_event);
	job_type_register(&t, &job_test);
	job_type_register(&t, &job_nocancel);
}

static struct job *
make(const char *subject, enum job_claim claim, struct err *err)
{
	struct job_subject s = { .id = subject, .what = subject,
		.claim = claim };
	struct job *job = NULL;

	if (job_create(&t, &job_test, &s, NULL, &job, err) < 0)
		return NULL;
	return job;
}

/* Run the loop until nothing is due (finished jobs are freed). */
static void
settle(int ms)
{
	uint64_t end = now_ms() + ms;

	do
		(void)loop_run_once(loop, 10);
	while (now_ms() < end);
}

static char *
stored(int64_t id, const char *field)
{
	json_t *j = store_job_json(st, id);
	char *v = j ? xstrdup(json_string_value(json_object_get(j, field)) ?:
	    "") : NULL;

	json_decref(j);
	return v;
}

static void
test_claims(void)
{
	struct err err = { 0 };
	struct job *a = make("vm:1", JOB_CLAIM_SHARED, &err);
	struct job *b = make("vm:1", JOB_CLAIM_SHARED, &err);
	struct job *c;

	ASSERT_TRUE(a && b);		/* shared with shared is fine */
	c = make("vm:1", JOB_CLAIM_EXCLUSIVE, &err);
	ASSERT_TRUE(c == NULL);		/* exclusive conflicts with any */
	ASSERT_EQ(err.code, -EBUSY);
	ASSERT_CONTAINS(err.msg, "is busy with job");
	ASSERT_CONTAINS(err.msg, "(test.plain)");
	ASSERT_TRUE(make("vm:2", JOB_CLAIM_EXCLUSIVE, &err) != NULL);
	memset(&err, 0, sizeof(err));
	ASSERT_TRUE(make("vm:2", JOB_CLAIM_SHARED, &err) == NULL);
	ASSERT_EQ(err.code, -EBUSY);
	ASSERT_TRUE(job_find_by_subject(&t, "vm:1", true) == NULL);
	ASSERT_TRUE(job_find_by_subject(&t, "vm:1", false) == a);
	ASSERT_TRUE(job_next_by_subject(&t, "vm:1", a) == b);
	ASSERT_TRUE(job_find_by_subject(&t, "vm:2", true) != NULL);
	/* The claim ends with the job. */
	job_finish(a, 0, NULL);
	job_finish(b, 0, NULL);
	job_finish(job_find_by_subject(&t, "vm:2", true), 0, NULL);
	settle(0);
	ASSERT_TRUE(make("vm:1", JOB_CLAIM_EXCLUSIVE, &err) != NULL);
	job_finish(job_find_by_subject(&t, "vm:1", true), 0, NULL);
	settle(0);
	ASSERT_EQ(t.n_jobs, 0);
}

static void
test_refs(void)
{
	struct err err = { 0 };
	struct job *a = make("host", JOB_CLAIM_SHARED, &err);
	struct job_ref r1, r2;

	ASSERT_TRUE(a);
	job_start(a);
	r1 = job_ref(a);
	ASSERT_TRUE(job_from_ref(&t, r1) == a);
	/* Waiting for a slot again: replies to what it sent before are
	 * stale. */
	ASSERT_TRUE(job_slot_take(a, "p", 1));
	r2 = job_ref(a);
	ASSERT_TRUE(job_from_ref(&t, r2) == a);
	job_finish(a, 0, NULL);
	ASSERT_TRUE(job_from_ref(&t, r2) == NULL);	/* ended */
	settle(0);
	ASSERT_TRUE(job_from_ref(&t, r1) == NULL);
	ASSERT_TRUE(job_from_ref(&t, (struct job_ref){ 99999, 1 }) == NULL);
}

static void
test_ref_after_requeue(void)
{
	struct err err = { 0 };
	struct job *a = make("host", JOB_CLAIM_SHARED, &err);
	struct job *b = make("host", JOB_CLAIM_SHARED, &err);
	struct job_ref rb;

	ASSERT_TRUE(a && b);
	job_start(a);
	job_start(b);
	ASSERT_TRUE(job_slot_take(a, "q", 1));
	rb = job_ref(b);
	ASSERT_TRUE(!job_slot_take(b, "q", 1));	/* back to queued */
	ASSERT_EQ(b->state, JOB_QUEUED);
	ASSERT_TRUE(job_from_ref(&t, rb) == NULL);	/* it moved on */
	ASSERT_TRUE(job_from_ref(&t, job_ref(b)) == b);
	job_finish(a, 0, NULL);
	job_finish(b, 0, NULL);
	settle(0);
}

static void
test_states(void)
{
	ASSERT_TRUE(job_state_can_move(JOB_QUEUED, JOB_RUNNING));
	ASSERT_TRUE(job_state_can_move(JOB_RUNNING, JOB_QUEUED));
	ASSERT_TRUE(job_state_can_move(JOB_RUNNING, JOB_CANCELLING));
	ASSERT_TRUE(job_state_can_move(JOB_CANCELLING, JOB_CANCELLED));
	ASSERT_TRUE(job_state_can_move(JOB_CANCELLING, JOB_SUCCEEDED));
	ASSERT_TRUE(!job_state_can_move(JOB_CANCELLING, JOB_RUNNING));
	ASSERT_TRUE(!job_state_can_move(JOB_QUEUED, JOB_CANCELLING));
	ASSERT_TRUE(!job_state_can_move(JOB_SUCCEEDED, JOB_RUNNING));
	ASSERT_TRUE(!job_state_can_move(JOB_FAILED, JOB_CANCELLED));
	ASSERT_STREQ(job_state_name(JOB_CANCELLING), "cancelling");
	ASSERT_EQ(job_state_from_name("cancelling"), JOB_CANCELLING);
	ASSERT_EQ(job_state_from_name("bogus"), -EINVAL);
}

static void
test_cancel(void)
{
	struct err err = { 0 };
	struct job *a = make("vm:c", JOB_CLAIM_EXCLUSIVE, &err);
	struct job *q = make("vm:q", JOB_CLAIM_EXCLUSIVE, &err);
	struct job_subject s = { .id = "vm:n", .claim = JOB_CLAIM_EXCLUSIVE };
	struct job *n = NULL;
	int64_t qid, aid;
	char *v;

	ASSERT_TRUE(a && q);
	ASSERT_EQ(job_create(&t, &job_nocancel, &s, NULL, &n, &err), 0);
	job_start(a);
	job_start(n);
	/* Past its point of no return: refused, with the reason. */
	job_set_phase(a, 2);
	ASSERT_EQ(job_cancel(&t, a->row->id, &err), -EBUSY);
	ASSERT_CONTAINS(err.msg, "too late");
	ASSERT_EQ(a->state, JOB_RUNNING);
	/* Before it: CANCELLING, persisted, and the job goes on. */
	job_set_phase(a, 1);
	memset(&err, 0, sizeof(err));
	ASSERT_EQ(job_cancel(&t, a->row->id, &err), 0);
	ASSERT_EQ(a->state, JOB_CANCELLING);
	v = stored(a->row->id, "state");
	ASSERT_STREQ(v, "cancelling");
	free(v);
	ASSERT_EQ(job_cancel(&t, a->row->id, &err), 0);	/* again: fine */
	aid = a->row->id;
	job_finish(a, -ECANCELED, "undone");
	v = stored(aid, "state");
	ASSERT_STREQ(v, "cancelled");
	free(v);
	ASSERT_EQ(job_cancel(&t, aid, &err), -EBUSY);	/* ended */
	ASSERT_CONTAINS(err.msg, "already ended");
	/* A type without cancel refuses once running. */
	memset(&err, 0, sizeof(err));
	ASSERT_EQ(job_cancel(&t, n->row->id, &err), -EBUSY);
	ASSERT_CONTAINS(err.msg, "cannot be cancelled");
	/* Queued: cancelled at once. */
	qid = q->row->id;
	ASSERT_EQ(job_cancel(&t, qid, &err), 0);
	v = stored(qid, "state");
	ASSERT_STREQ(v, "cancelled");
	free(v);
	ASSERT_EQ(job_cancel(&t, 424242, &err), -ENOENT);
	job_finish(n, 0, NULL);
	settle(0);
}

static void
test_registry_grows(void)
{
	struct job_ops *ops = xzalloc(40 * sizeof(*ops));
	static char names[40][24];	/* registered: they must outlive this */

	for (int i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "test.many%d", i);
		ops[i] = job_test;
		ops[i].type = names[i];
		job_type_register(&t, &ops[i]);
	}
	for (int i = 0; i < 40; i++)
		ASSERT_TRUE(job_type_find(&t, names[i]) == &ops[i]);
	ASSERT_TRUE(job_type_find(&t, "test.plain") == &job_test);
	ASSERT_TRUE(job_type_find(&t, "test.none") == NULL);
	/* ops stay registered (and allocated) for the table's life. */
}

static void
test_register_twice_aborts(void)
{
	pid_t pid = fork();
	int status = 0;

	if (pid == 0) {
		(void)freopen("/dev/null", "w", stderr);	/* assert's text */
		job_type_register(&t, &job_test);
		_exit(0);
	}
	ASSERT_TRUE(pid > 0);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}

static void
test_recover_unknown(void)
{
	struct job_row r = { .type = "test.gone", .subject = "host",
		.claim = "shared", .state = "running", .phase = "start",
		.unit = "steps", .rate = -1, .eta_s = -1, .created_ms = 1 };
	struct job_row p = { .type = "test.plain", .subject = "vm:r",
		.claim = "exclusive", .state = "cancelling", .phase = "middle",
		.unit = "steps", .rate = -1, .eta_s = -1, .created_ms = 1 };
	struct job_row b = { .type = "test.plain", .subject = "host",
		.claim = "shared", .state = "running", .phase = "nowhere",
		.unit = "steps", .rate = -1, .eta_s = -1, .created_ms = 1 };
	struct job *job;
	char *v;

	ASSERT_EQ(store_job_insert(st, &r), 0);
	ASSERT_EQ(store_job_insert(st, &p), 0);
	ASSERT_EQ(store_job_insert(st, &b), 0);
	steps = 0;
	job_recover_all(&t);
	v = stored(r.id, "state");
	ASSERT_STREQ(v, "failed");
	free(v);
	v = stored(r.id, "error");
	ASSERT_CONTAINS(v, "unknown job type 'test.gone'");
	free(v);
	v = stored(b.id, "error");
	ASSERT_CONTAINS(v, "unknown phase 'nowhere'");
	free(v);
	job = job_find(&t, p.id);
	ASSERT_TRUE(job && job->recovering);
	ASSERT_EQ(job->state, JOB_CANCELLING);
	ASSERT_EQ(job->claim, JOB_CLAIM_EXCLUSIVE);
	ASSERT_TRUE(job_phase_is(job, 1));
	settle(0);
	ASSERT_EQ(steps, 1);		/* poked, once */
	job_finish(job, -ECANCELED, NULL);
	settle(0);
}

static void
test_slot_queue(void)
{
	struct err err = { 0 };
	struct job *a = make("host", JOB_CLAIM_SHARED, &err);
	struct job *b = make("host", JOB_CLAIM_SHARED, &err);
	struct job *c = make("host", JOB_CLAIM_SHARED, &err);
	char *v;

	ASSERT_TRUE(a && b && c);
	job_start(a);
	job_start(b);
	job_start(c);
	ASSERT_TRUE(job_slot_take(a, "pool", 1));
	ASSERT_TRUE(job_slot_take(a, "pool", 1));	/* kept, not twice */
	ASSERT_TRUE(!job_slot_take(c, "pool", 1));	/* full */
	ASSERT_EQ(c->state, JOB_QUEUED);
	v = stored(c->row->id, "state");
	ASSERT_STREQ(v, "queued");		/* persisted */
	free(v);
	ASSERT_TRUE(!job_slot_take(b, "pool", 1));
	/* a ends: its slot is free, and the waiters are poked */
	steps = 0;
	job_finish(a, 0, NULL);
	settle(0);
	ASSERT_EQ(steps, 2);
	/* job-id order: b is older than c, so c still waits for it */
	ASSERT_TRUE(!job_slot_take(c, "pool", 1));
	ASSERT_TRUE(job_slot_take(b, "pool", 1));
	ASSERT_EQ(b->state, JOB_RUNNING);	/* back to running */
	ASSERT_TRUE(json_object_get(b->details, "pool_wait") == NULL);
	ASSERT_TRUE(json_is_true(json_object_get(b->details, "pool_slot")));
	ASSERT_TRUE(!job_slot_take(c, "pool", 1));
	ASSERT_TRUE(job_slot_take(c, "pool", 2));	/* a bigger limit */
	/* Another pool is counted apart; a job waiting in one stays queued
	 * until it holds every slot it asked for. */
	ASSERT_TRUE(!job_slot_take(b, "other", 0));
	ASSERT_EQ(b->state, JOB_QUEUED);
	ASSERT_TRUE(job_slot_take(b, "pool", 2));
	ASSERT_EQ(b->state, JOB_QUEUED);
	ASSERT_TRUE(job_slot_take(b, "other", 1));
	ASSERT_EQ(b->state, JOB_RUNNING);
	job_finish(b, 0, NULL);
	job_finish(c, 0, NULL);
	settle(0);
}

/* A waiting job that ends (cancelled in the queue) lets the younger ones
 * go: they are poked. */
static void
test_slot_waiter_ends(void)
{
	struct err err = { 0 };
	struct job *a = make("host", JOB_CLAIM_SHARED, &err);
	struct job *b = make("host", JOB_CLAIM_SHARED, &err);
	struct job *c = make("host", JOB_CLAIM_SHARED, &err);

	ASSERT_TRUE(a && b && c);
	job_start(a);
	job_start(b);
	job_start(c);
	ASSERT_TRUE(job_slot_take(a, "w", 2));
	ASSERT_TRUE(!job_slot_take(b, "w", 1));
	ASSERT_TRUE(!job_slot_take(c, "w", 2));	/* b is older */
	settle(0);
	steps = 0;
	ASSERT_EQ(job_cancel(&t, b->row->id, &err), 0);	/* queued */
	settle(0);
	ASSERT_EQ(steps, 1);			/* c was poked */
	ASSERT_TRUE(job_slot_take(c, "w", 2));
	job_finish(a, 0, NULL);
	job_finish(c, 0, NULL);
	settle(0);
}

static void
test_progress_throttled(void)
{
	struct err err = { 0 };
	struct job *a = make("host", JOB_CLAIM_SHARED, &err);
	json_t *j, *s;
	int64_t id;

	ASSERT_TRUE(a);
	id = a->row->id;
	t.progress_every_ms = 200;
	job_start(a);			/* a store write */
	for (int i = 1; i <= 50; i++)
		job_set_progress(a, i, 50, "bytes");
	j = job_to_json(a);		/* memory: current */
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(j,
	    "progress"), "done")), 50);
	json_decref(j);
	s = store_job_json(st, id);	/* store: not yet */
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(s,
	    "progress"), "done")), 0);
	json_decref(s);
	settle(300);			/* the held-back write comes */
	s = store_job_json(st, id);
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(s,
	    "progress"), "done")), 50);
	json_decref(s);
	/* A phase change writes at once, progress included. */
	job_set_progress(a, 60, 100, "bytes");
	job_set_phase(a, 1);
	s = store_job_json(st, id);
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(s,
	    "progress"), "done")), 60);
	ASSERT_STREQ(json_string_value(json_object_get(s, "phase")), "middle");
	json_decref(s);
	/* And the end writes the last value. */
	job_set_progress(a, 100, 100, "bytes");
	job_finish(a, 0, NULL);
	s = store_job_json(st, id);
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(s,
	    "progress"), "done")), 100);
	json_decref(s);
	settle(0);
	t.progress_every_ms = JOB_PROGRESS_MS;
}

static int spawn_status = -1;

static void
on_spawned(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	spawn_status = status;
}

/* A helper's log may go where nothing was made yet (the state directory
 * of a VM never started): the directory is made, the helper runs, and
 * its output lands in the log.  Was: the checkpoint of a VM never
 * started failed, "qemu-img could not make an overlay". */
static void
test_spawn_log_dir(void)
{
	struct err err = { 0 };
	struct job *job = make("vm:spawn", JOB_CLAIM_EXCLUSIVE, &err);
	_cleanup_free_ char *log = xasprintf("%s/vms/new/tool.log", dir);
	const char *argv[] = { "/bin/echo", "hello", NULL };
	char buf[32] = "";
	FILE *f;

	ASSERT_TRUE(job != NULL);
	ASSERT_EQ(job_spawn(job, argv, log, on_spawned), 0);
	for (int i = 0; i < 300 && spawn_status < 0; i++)
		(void)loop_run_once(loop, 10);
	ASSERT_EQ(spawn_status, 0);
	f = fopen(log, "r");
	ASSERT_TRUE(f != NULL);
	if (f) {
		ASSERT_TRUE(fgets(buf, sizeof(buf), f) != NULL);
		fclose(f);
	}
	ASSERT_STREQ(buf, "hello\n");
	job_finish(job, 0, NULL);
	settle(20);
}

int
main(void)
{
	char *cmd;

	fixture();
	RUN_TEST(test_claims);
	RUN_TEST(test_refs);
	RUN_TEST(test_ref_after_requeue);
	RUN_TEST(test_states);
	RUN_TEST(test_cancel);
	RUN_TEST(test_registry_grows);
	RUN_TEST(test_register_twice_aborts);
	RUN_TEST(test_recover_unknown);
	RUN_TEST(test_slot_queue);
	RUN_TEST(test_slot_waiter_ends);
	RUN_TEST(test_progress_throttled);
	RUN_TEST(test_spawn_log_dir);
	cmd = xasprintf("rm -rf %s", dir);
	(void)system(cmd);
	free(cmd);
	return TEST_REPORT();
}
