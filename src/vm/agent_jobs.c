/* agent_jobs.c - jobs built on the guest agent.
 *
 *   vm.shutdown  start --guest-shutdown (agent) or system_powerdown (ACPI)-->
 *                wait --QEMU exits--> done (VM off)
 *                wait --timeout--> force? kill --exit--> done
 *                                  else: VM back to running, job failed
 *   vm.quiesce   start --freeze--> frozen --hold_s--> thaw --> done
 *                (thaw is guaranteed: a timer armed before the freeze, and
 *                 a restarted ternd thaws a guest it finds frozen)
 *
 * Both are level-triggered like vm_jobs.c: step() reads the VM and the
 * phase. */
#include <errno.h>
#include <stdio.h>

#include "agent.h"
#include "failpoint.h"
#include "job.h"
#include "util.h"
#include "vm.h"

#define SHUTDOWN_DEFAULT_S 120
#define QUIESCE_MAX_HOLD_S 600

/* Transitions: shutdown_ask() (start -> wait), shutdown_step() (wait ->
 * force on the timeout); quiesce_step() (start -> freezing -> frozen ->
 * thawed). */
enum shut_phase { SHUT_PH_START, SHUT_PH_WAIT, SHUT_PH_FORCE, SHUT_PH__COUNT };
static const char *const shut_phase_names[SHUT_PH__COUNT] = {
	[SHUT_PH_START] = "start", [SHUT_PH_WAIT] = "wait",
	[SHUT_PH_FORCE] = "force",
};

enum quiesce_phase { QUIESCE_PH_START, QUIESCE_PH_FREEZING, QUIESCE_PH_FROZEN,
		     QUIESCE_PH_THAWED, QUIESCE_PH__COUNT };
static const char *const quiesce_phase_names[QUIESCE_PH__COUNT] = {
	[QUIESCE_PH_START] = "start", [QUIESCE_PH_FREEZING] = "freezing",
	[QUIESCE_PH_FROZEN] = "frozen", [QUIESCE_PH_THAWED] = "thawed",
};

static int64_t
detail_int(const struct job *job, const char *key, int64_t dflt)
{
	json_t *v = json_object_get(job->details, key);

	return json_is_integer(v) ? json_integer_value(v) : dflt;
}

/* ---- vm.shutdown ---- */

static void
shutdown_ask(struct job *job)
{
	struct vm *vm = vm_of(job);
	bool agent = agent_is_ready(vm) && vm_service_on(vm, SVC_SHUTDOWN);

	vm_set_state(vm, VM_STOPPING, NULL);
	json_object_set_new(job->details, "method", json_string(agent ?
	    "agent" : "acpi"));
	job_set_phase(job, SHUT_PH_WAIT);
	if (agent && agent_shutdown(vm) == 0)
		return;
	json_object_set_new(job->details, "method", json_string("acpi"));
	if (vm_qmp(vm, job, "system_powerdown", NULL, 10000, NULL) < 0)
		job_finish(job, -ENOTCONN, "QMP connection lost");
}

static void
shutdown_timeout(struct job *job)
{
	struct vm *vm = vm_of(job);
	int64_t t = detail_int(job, "timeout_s", SHUTDOWN_DEFAULT_S);
	const char *how = json_string_value(json_object_get(job->details,
	    "method"));

	if (json_is_true(json_object_get(job->details, "force"))) {
		host_event(vm->h, "warning", vm, job->row->id, "guest did not "
		    "shut down within %llds: turning it off (--force)",
		    (long long)t);
		job_set_phase(job, SHUT_PH_FORCE);
		vm_kill(vm);
		return;
	}
	vm_set_state(vm, VM_RUNNING, NULL);
	job_finish(job, -ETIMEDOUT, "the guest did not shut down within %llds "
	    "(asked through %s); it keeps running. Use --force to turn it "
	    "off after the timeout", (long long)t, streq(how, "agent") ?
	    "the guest agent" : "ACPI");
}

static void
shutdown_step(struct job *job)
{
	struct vm *vm = vm_of(job);

	if (vm_job_gone(job))
		return;
	if (vm->pidfd < 0 && !vm->launcher) {
		host_event(vm->h, "info", vm, job->row->id, "vm shut down%s",
		    job_phase_is(job, SHUT_PH_FORCE) ? " (forced)" : "");
		job_finish(job, 0, NULL);
		return;
	}
	if (job_phase_is(job, SHUT_PH_START) || job->recovering) {
		job->recovering = false;
		if (vm->state == VM_PAUSED) {
			job_finish(job, -EBUSY, "vm '%s' is paused and cannot "
			    "shut down; resume it first", vm->row->name);
			return;
		}
		shutdown_ask(job);
		if (job->finished)
			return;
	}
	if (job_phase_is(job, SHUT_PH_FORCE))
		return;
	if (!job->deadline_ms) {
		uint64_t ms = detail_int(job, "timeout_s", SHUTDOWN_DEFAULT_S) *
		    1000;

		job->deadline_ms = now_ms() + ms;
		job_wake_after(job, ms);
	}
	if (now_ms() >= job->deadline_ms)
		shutdown_timeout(job);
}

const struct job_ops job_vm_shutdown = { .type = "vm.shutdown",
	.phases = shut_phase_names, .n_phases = SHUT_PH__COUNT,
	.step = shutdown_step };

/* ---- vm.quiesce ---- */

static void
quiesce_step(struct job *job)
{
	struct vm *vm = vm_of(job);
	struct agent *a = vm ? &vm->agent : NULL;
	int64_t hold = detail_int(job, "hold_s", 0);

	if (vm_job_gone(job))
		return;
	if (job->recovering) {
		/* The agent connect path thaws a guest left frozen. */
		job_finish(job, -EIO, "ternd restarted while the guest was "
		    "frozen; it is thawed");
		return;
	}
	if (job_phase_is(job, QUIESCE_PH_START)) {
		int r = agent_freeze(vm, (hold + 30) * 1000);

		if (r < 0) {
			job_finish(job, r, "cannot quiesce vm '%s': the guest "
			    "agent is not answering", vm->row->name);
			return;
		}
		job_set_phase(job, QUIESCE_PH_FREEZING);
		return;
	}
	if (job_phase_is(job, QUIESCE_PH_FREEZING)) {
		if (a->freeze_pending)
			return;
		if (!a->frozen) {
			job_finish(job, -EIO, "%s", a->error ? a->error :
			    "freeze failed");
			return;
		}
		failpoint_check("vm.quiesce.frozen", NULL);
		job_set_phase(job, QUIESCE_PH_FROZEN);
		job->deadline_ms = now_ms() + hold * 1000;
		job_wake_after(job, hold * 1000);
		return;
	}
	if (job_phase_is(job, QUIESCE_PH_FROZEN) &&
	    now_ms() >= job->deadline_ms) {
		agent_thaw(vm);
		job_set_phase(job, QUIESCE_PH_THAWED);
		job_finish(job, 0, NULL);
	}
}

static int
quiesce_cancel(struct job *job, struct err *err)
{
	(void)err;
	if (vm_of(job))
		agent_thaw(vm_of(job));
	job_finish(job, -ECANCELED, "cancelled; file systems thawed");
	return 0;
}

const struct job_ops job_vm_quiesce = { .type = "vm.quiesce",
	.phases = quiesce_phase_names, .n_phases = QUIESCE_PH__COUNT,
	.step = quiesce_step, .cancel = quiesce_cancel };
