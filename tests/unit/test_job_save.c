/* test_job_save.c - vm.save (src/vm/save.c) driven against the fake QMP
 * peer: the exact command sequence of a save, a QMP error at each of its
 * steps (the VM keeps running, no state file, nothing partial), and a
 * ternd restart in each phase (the outcomes of docs/architecture.md's
 * restart table). */
#include <stdio.h>
#include <stdlib.h>

#include "jobtest.h"
#include "test.h"
#include "util.h"

#define TIMEOUT_MS 5000

/* The commands of a save, in order, as QEMU sees them. */
enum { ST_STOP, ST_CAPS, ST_PARAMS, ST_GETFD, ST_MIGRATE, ST_QUERY,
       ST_QUIT, ST__COUNT };
static const char *const steps[ST__COUNT] = { "stop",
	"migrate-set-capabilities", "migrate-set-parameters", "getfd",
	"migrate", "query-migrate", "quit" };

static struct jobtest t;

static char *
state_path(const char *suffix)
{
	return xasprintf("%s/web.state%s", t.pool, suffix);
}

/* A running VM "web" attached to its fake QEMU. */
static void
fixture(void)
{
	jt_setup(&t);
	(void)jt_vm_add(&t, "web", 1, "running");
	jt_qemu_spawn(&t);
	jt_qmp_new(&t, true);
	if (!jt_qemu_attach(&t))
		abort();
}

/* Script the save's commands up to (not including) step upto with the
 * replies QEMU gives; returns the handle of step upto's expect (-1 when
 * upto is ST__COUNT). */
static int
script(int upto)
{
	struct fake_qmp *f = t.qmp;
	int h = -1;

	for (int i = 0; i <= upto && i < ST__COUNT; i++) {
		if (i == ST_GETFD)
			h = fake_qmp_expect_fd(f, steps[i], "{\"fdname\":"
			    "\"tern-save\"}");
		else if (i == ST_MIGRATE)
			h = fake_qmp_expect(f, steps[i], "{\"uri\":"
			    "\"fd:tern-save\"}");
		else
			h = fake_qmp_expect(f, steps[i], NULL);
		if (i == upto)
			return h;
		if (i == ST_QUERY)
			fake_qmp_reply(f, h, "{\"status\":\"completed\","
			    "\"ram\":{\"transferred\":4096,\"total\":4096}}");
		else
			fake_qmp_reply(f, h, "{}");
		if (i == ST_STOP)
			fake_qmp_event(f, "STOP", NULL);
	}
	return -1;
}

static void
test_save_success(void)
{
	_cleanup_free_ char *final = NULL, *partial = NULL;
	int64_t id;

	fixture();	/* first: it sets t.pool */
	final = state_path("");
	partial = state_path(".partial");
	(void)script(ST__COUNT);
	t.kill_when_done = true;	/* QEMU exits after quit */
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_TRUE(fake_qmp_is_done(t.qmp));
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	ASSERT_EQ(jt_vm(&t)->state, VM_SAVED);
	ASSERT_STREQ(jt_vm(&t)->row->state_file, final);
	ASSERT_TRUE(jt_exists(final));
	ASSERT_TRUE(!jt_exists(partial));
	jt_teardown(&t);
}

/* After a failure, QEMU is asked to cancel the transfer and to run the
 * vCPUs again; any other command it may still get is answered too. */
static void
rollback_rules(void)
{
	fake_qmp_always(t.qmp, "migrate_cancel", "{}");
	fake_qmp_always(t.qmp, "cont", "{}");
	fake_qmp_always(t.qmp, "migrate-set-parameters", "{}");
	fake_qmp_always(t.qmp, "getfd", "{}");
	fake_qmp_always(t.qmp, "migrate", "{}");
	fake_qmp_always(t.qmp, "query-migrate", "{\"status\":\"active\"}");
}

/* The VM is as it was before the save: running, no state file, nothing
 * partial left. */
static void
assert_not_saved(int64_t id)
{
	_cleanup_free_ char *final = state_path("");
	_cleanup_free_ char *partial = state_path(".partial");

	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_CONTAINS(jt_job_error(&t, id), "vm 'web' not saved");
	ASSERT_CONTAINS(jt_job_error(&t, id), "it keeps running");
	ASSERT_EQ(jt_vm(&t)->state, VM_RUNNING);
	ASSERT_TRUE(jt_vm(&t)->row->state_file == NULL);
	ASSERT_TRUE(!jt_exists(final));
	ASSERT_TRUE(!jt_exists(partial));
}

static void
save_error_at(int k)
{
	int64_t id;
	int h;

	fixture();
	h = script(k);
	fake_qmp_error(t.qmp, h, "GenericError", "injected");
	rollback_rules();
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	if (k == ST_QUIT) {
		/* The state file was whole on disk: ternd answers a
		 * refused quit with SIGKILL, the VM saved. */
		ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
		ASSERT_EQ(jt_vm(&t)->state, VM_SAVED);
	} else {
		assert_not_saved(id);
	}
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	jt_teardown(&t);
}

static void
test_save_error_at_every_step(void)
{
	for (int k = 0; k < ST__COUNT; k++) {
		int before = test_failed_asserts;

		save_error_at(k);
		if (test_failed_asserts != before) {
			fprintf(stderr, "  (QMP error at step %d: %s)\n", k,
			    steps[k]);
			jt_teardown(&t);
			return;
		}
	}
}

/* Script the save up to the migrate; query-migrate then says "active"
 * for ever: the job stays in phase migrating. */
static void
script_until_migrating(void)
{
	(void)script(ST_QUERY);
	fake_qmp_always(t.qmp, "query-migrate", "{\"status\":\"active\"}");
}

/* ternd restarts while the transfer runs, QEMU still up (its vCPUs
 * stopped): the transfer is cancelled, the partial file removed, the VM
 * runs again as before. */
static void
test_save_restart_migrating(void)
{
	_cleanup_free_ char *partial = NULL;
	int64_t id;

	fixture();
	partial = state_path(".partial");
	script_until_migrating();
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "migrating", TIMEOUT_MS));
	jt_run_for(&t, 300);
	ASSERT_TRUE(jt_exists(partial));
	jt_restart(&t, true, false);
	rollback_rules();
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_CONTAINS(jt_job_error(&t, id), "ternd restarted");
	assert_not_saved(id);
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	jt_teardown(&t);
}

/* ternd restarts in phase stopping (stop sent, not answered): as above. */
static void
test_save_restart_stopping(void)
{
	int64_t id;

	fixture();
	(void)script(ST_STOP);	/* stop is never answered */
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "stopping", TIMEOUT_MS));
	jt_run_for(&t, 100);
	jt_restart(&t, true, false);
	rollback_rules();
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	assert_not_saved(id);
	ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	jt_teardown(&t);
}

/* QEMU dies with ternd during the transfer: no state file, so the VM
 * crashed (not saved), and nothing partial is left. */
static void
test_save_restart_migrating_qemu_gone(void)
{
	_cleanup_free_ char *partial = NULL;
	int64_t id;

	fixture();
	partial = state_path(".partial");
	script_until_migrating();
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "migrating", TIMEOUT_MS));
	jt_run_for(&t, 300);
	jt_restart(&t, false, false);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "failed");
	ASSERT_EQ(jt_vm(&t)->state, VM_CRASHED);
	ASSERT_TRUE(jt_vm(&t)->row->state_file == NULL);
	ASSERT_TRUE(!jt_exists(partial));
	jt_teardown(&t);
}

/* ternd restarts once the state file is on disk and recorded, QEMU not
 * yet gone (quit unanswered): the restarted ternd ends that QEMU (quit,
 * or SIGKILL when its QMP is not back yet: the vCPUs were stopped and
 * the disks flushed before the transfer); the VM is saved, whether QEMU
 * was still up or already gone. */
static void
save_restart_quitting(bool qemu_up)
{
	_cleanup_free_ char *final = NULL;
	int64_t id;

	fixture();
	final = state_path("");
	(void)script(ST_QUIT);	/* quit is never answered */
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_phase(&t, id, "quitting", TIMEOUT_MS));
	ASSERT_TRUE(jt_exists(final));
	jt_restart(&t, qemu_up, false);
	if (qemu_up)
		fake_qmp_always(t.qmp, "quit", "{}");
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	ASSERT_EQ(jt_vm(&t)->state, VM_SAVED);
	ASSERT_STREQ(jt_vm(&t)->row->state_file, final);
	ASSERT_TRUE(jt_exists(final));
	ASSERT_TRUE(jt_vm(&t)->pidfd < 0);
	if (qemu_up)
		ASSERT_EQ(fake_qmp_n_mismatches(t.qmp), 0);
	jt_teardown(&t);
}

static void
test_save_restart_quitting(void)
{
	save_restart_quitting(true);
	save_restart_quitting(false);
}

/* A finished save says all of it was done, though QEMU's counter of
 * bytes sent stops short of the memory size (zero pages cost nothing). */
static void
test_save_progress_complete(void)
{
	json_t *o;
	int64_t id;
	int h;

	fixture();
	h = script(ST_QUERY);
	fake_qmp_reply(t.qmp, h, "{\"status\":\"completed\","
	    "\"ram\":{\"transferred\":1000,\"total\":4096}}");
	fake_qmp_reply(t.qmp, fake_qmp_expect(t.qmp, "quit", NULL), "{}");
	t.kill_when_done = true;
	id = jt_job_start(&t, &job_vm_save, NULL);
	ASSERT_TRUE(jt_run_until_ended(&t, id, TIMEOUT_MS));
	ASSERT_STREQ(jt_job_state(&t, id), "succeeded");
	o = store_job_json(t.st, id);
	ASSERT_EQ(json_integer_value(json_object_get(json_object_get(o,
	    "progress"), "done")), 4096);
	json_decref(o);
	jt_teardown(&t);
}

int
main(void)
{
	RUN_TEST(test_save_success);
	RUN_TEST(test_save_error_at_every_step);
	RUN_TEST(test_save_restart_stopping);
	RUN_TEST(test_save_restart_migrating);
	RUN_TEST(test_save_restart_migrating_qemu_gone);
	RUN_TEST(test_save_restart_quitting);
	RUN_TEST(test_save_progress_complete);
	return TEST_REPORT();
}
