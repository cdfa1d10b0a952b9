/* altip.c - the alternate IP given to a started (failed-over) guest
 * through its agent: failover_altip_apply().  Runs in ternd's loop and
 * never blocks: a timer and the agent's replies drive one small state
 * machine per apply.  It never changes the VM, its disks or its rows but
 * for the "altip" result in the relationship's failover JSON.
 *
 *   WAIT --VM running, agent ready (timer, AGENT_WAIT_MS at most)--> IFACES
 *   IFACES --guest-network-get-interfaces: each NIC's MAC found--> EXEC
 *   EXEC --guest-exec /bin/sh -c SCRIPT, one NIC at a time--> POLL
 *   POLL --guest-exec-status exited 0--> EXEC (next NIC) ... --> DONE
 *   any --VM gone or stopped, agent timeout, MAC absent, exit != 0--> FAILED
 *
 * Transitions: altip_tick() (WAIT, POLL's timer), altip_on_ifaces(),
 * altip_exec_next(), altip_on_exec(), altip_on_status(); DONE and FAILED
 * in altip_end() (an event, the row's record, the run freed).  A
 * restarted ternd forgets a run in flight: the operator runs `tern vm
 * failover apply-ip` again (the script is idempotent). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent.h"
#include "altip_parse.h"
#include "failover.h"
#include "fo_int.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "qmp.h"
#include "store.h"
#include "util.h"
#include "vm.h"

#define AGENT_WAIT_MS 120000	/* the guest boots and its agent answers */
#define ALTIP_TICK_MS 1000
#define ALTIP_CALL_MS 10000

enum altip_phase { ALTIP_WAIT, ALTIP_IFACES, ALTIP_EXEC, ALTIP_POLL };

/* One apply in flight.  Invariant: it is freed only when no agent call is
 * out (pending false) and no timer is armed. */
struct altip_run {
	struct host *h;
	char uuid[37];
	json_t *cfg;		/* {NIC: {addr, prefix, gw, dns}} */
	json_t *todo;		/* [[NIC, ifname, script]...], from IFACES */
	size_t next;		/* the todo entry running (EXEC, POLL) */
	enum altip_phase phase;
	uint64_t deadline_ms;
	struct loop_timer *timer;
	bool pending;
	int64_t pid;		/* guest-exec's, in POLL */
};

static void altip_tick(struct loop *l, void *data);

/* Running, starting, or about to (a job on it: the failover's vm.start). */
static bool
altip_may_run(struct vm *vm)
{
	if (vm->state == VM_REPLICA)	/* never started by hand */
		return false;
	return vm->state == VM_RUNNING || vm->state == VM_STARTING ||
	    vm_job(vm) != NULL;
}

/* The run's VM, running (or still starting, while the run waits for
 * its agent); NULL when it is gone or down. */
static struct vm *
altip_vm(struct altip_run *run)
{
	struct vm *vm = vm_find(run->h, run->uuid);

	if (vm && run->phase == ALTIP_WAIT && altip_may_run(vm))
		return vm;
	return vm && vm->state == VM_RUNNING ? vm : NULL;
}

/* "altip" recorded in the relationship's failover JSON, when there is one
 * (a failed-over replica); a failure to store is logged. */
static void
altip_record(struct host *h, const char *uuid, const char *result)
{
	struct replication_row row;
	json_t *fo;

	if (store_replication_get(h->store, uuid, &row) < 0)
		return;
	fo = row.failover ? json_loads(row.failover, 0, NULL) : NULL;
	if (json_is_object(fo)) {
		json_object_set_new(fo, "altip", json_string(result));
		free(row.failover);
		row.failover = json_dumps(fo, JSON_COMPACT);
		if (store_replication_update(h->store, &row) < 0)
			log_warn("vm=%s cannot record the alternate IP's result,"
			    " ignoring", uuid);
	}
	json_decref(fo);
	replication_row_done(&row);
}

static void
altip_end(struct altip_run *run, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "nic0 10.1.2.3/24 on eth0, ..." for the event; caller frees. */
static char *
altip_summary(const struct altip_run *run)
{
	char *s = NULL;
	size_t n, i;
	json_t *t;
	FILE *f = open_memstream(&s, &n);

	if (!f)
		return NULL;
	json_array_foreach(run->todo, i, t) {
		const json_t *c = json_object_get(run->cfg, json_string_value(
		    json_array_get(t, 0)));

		fprintf(f, "%s%s %s/%d on %s", i ? ", " : "", json_string_value(
		    json_array_get(t, 0)), json_string_value(json_object_get(c,
		    "addr")), (int)json_integer_value(json_object_get(c,
		    "prefix")), json_string_value(json_array_get(t, 1)));
	}
	fclose(f);
	return s;
}

/* DONE (fmt NULL) or FAILED (why): the event, the record, the run freed. */
static void
altip_end(struct altip_run *run, const char *fmt, ...)
{
	struct vm *vm = vm_find(run->h, run->uuid);
	_cleanup_free_ char *sum = fmt ? NULL : altip_summary(run);
	char why[200] = "", result[220];
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	snprintf(result, sizeof(result), fmt ? "failed: %s" : "applied", why);
	if (vm)
		host_event(run->h, fmt ? "error" : "info", vm, 0, "alternate "
		    "IP %s%s", fmt ? "not applied: " : "applied: ", fmt ? why :
		    sum ? sum : "");
	altip_record(run->h, run->uuid, result);
	run->timer = loop_timer_cancel(run->h->loop, run->timer);
	json_decref(run->cfg);
	json_decref(run->todo);
	free(run);
}

static void
altip_arm(struct altip_run *run, uint64_t ms)
{
	run->timer = loop_timer_cancel(run->h->loop, run->timer);
	run->timer = loop_timer_add(run->h->loop, ms, altip_tick, run);
}

/* The guest's interface with mac (lower case), from the agent's list. */
static const char *
altip_ifname(const json_t *ifaces, const char *mac)
{
	json_t *i;
	size_t k;

	json_array_foreach(ifaces, k, i)
		if (!strcasecmp(json_string_value(json_object_get(i,
		    "hardware-address")) ?: "", mac))
			return json_string_value(json_object_get(i, "name"));
	return NULL;
}

/* Each NIC of cfg into todo: its guest interface (by MAC) and script. */
static int
altip_plan(struct altip_run *run, struct vm *vm, const json_t *ifaces,
    char *why, size_t len)
{
	const char *nic, *ifname, *mac;
	json_t *c;

	json_object_foreach(run->cfg, nic, c) {
		char *script;

		mac = failover_nic_mac(vm, nic);
		ifname = mac ? altip_ifname(ifaces, mac) : NULL;
		script = ifname ? altip_script(c, ifname) : NULL;
		if (!script) {
			snprintf(why, len, "the guest has no usable interface "
			    "with %s's MAC %s", nic, mac ? mac : "?");
			return -ENODEV;
		}
		json_array_append_new(run->todo, json_pack("[ss s]", nic,
		    ifname, script));
		free(script);
	}
	return 0;
}

static void altip_exec_next(struct altip_run *run, struct vm *vm);

static void
altip_on_ifaces(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	struct altip_run *run = d;
	struct vm *vm = altip_vm(run);
	char why[160];

	(void)q;
	run->pending = false;
	if (!vm)
		return altip_end(run, "the VM stopped");
	if (!ret)
		return altip_end(run, "the guest agent did not list its "
		    "interfaces: %s", e ? e->msg : "no answer");
	if (altip_plan(run, vm, ret, why, sizeof(why)) < 0)
		return altip_end(run, "%s", why);
	run->phase = ALTIP_EXEC;
	altip_exec_next(run, vm);
}

static void
altip_on_status(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	struct altip_run *run = d;
	struct vm *vm = altip_vm(run);
	const char *nic = json_string_value(json_array_get(json_array_get(
	    run->todo, run->next), 0));

	(void)q;
	run->pending = false;
	if (!vm)
		return altip_end(run, "the VM stopped");
	if (!ret)
		return altip_end(run, "guest-exec-status for %s: %s", nic,
		    e ? e->msg : "no answer");
	if (!json_is_true(json_object_get(ret, "exited")))
		return altip_arm(run, ALTIP_TICK_MS / 2);
	if (json_integer_value(json_object_get(ret, "exitcode")) != 0)
		return altip_end(run, "the guest's ip command for %s exited "
		    "%lld", nic, (long long)json_integer_value(
		    json_object_get(ret, "exitcode")));
	run->next++;
	run->phase = ALTIP_EXEC;
	altip_exec_next(run, vm);
}

static void
altip_on_exec(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	struct altip_run *run = d;

	(void)q;
	run->pending = false;
	if (!altip_vm(run))
		return altip_end(run, "the VM stopped");
	if (!ret || !json_is_integer(json_object_get(ret, "pid")))
		return altip_end(run, "guest-exec failed: %s (the guest needs "
		    "/bin/sh and ip)", e ? e->msg : "no pid");
	run->pid = json_integer_value(json_object_get(ret, "pid"));
	run->phase = ALTIP_POLL;
	altip_arm(run, ALTIP_TICK_MS / 2);
}

/* The next NIC's script run in the guest, or DONE. */
static void
altip_exec_next(struct altip_run *run, struct vm *vm)
{
	json_t *t = json_array_get(run->todo, run->next);

	if (!t)
		return altip_end(run, NULL);
	run->pending = qmp_send(vm->agent.q, "guest-exec", json_pack(
	    "{ss s[ss] sb}", "path", "/bin/sh", "arg", "-c", json_string_value(
	    json_array_get(t, 2)), "capture-output", 1), ALTIP_CALL_MS,
	    altip_on_exec, run) == 0;
	if (!run->pending)
		altip_end(run, "the guest agent connection is gone");
}

/* WAIT: is the agent up yet?  POLL: has the script exited? */
static void
altip_tick(struct loop *l, void *data)
{
	struct altip_run *run = data;
	struct vm *vm = altip_vm(run);
	const char *cmd = run->phase == ALTIP_POLL ? "guest-exec-status" :
	    "guest-network-get-interfaces";
	qmp_reply_fn fn = run->phase == ALTIP_POLL ? altip_on_status :
	    altip_on_ifaces;

	(void)l;
	run->timer = NULL;
	if (!vm)
		return altip_end(run, "the VM is not running");
	if (run->phase == ALTIP_WAIT && (vm->state != VM_RUNNING ||
	    !agent_is_ready(vm))) {
		if (now_ms() >= run->deadline_ms)
			return altip_end(run, "the guest agent did not answer "
			    "within %ds", AGENT_WAIT_MS / 1000);
		return altip_arm(run, ALTIP_TICK_MS);
	}
	if (run->phase == ALTIP_WAIT)
		run->phase = ALTIP_IFACES;
	run->pending = qmp_send(vm->agent.q, cmd, run->phase == ALTIP_POLL ?
	    json_pack("{sI}", "pid", (json_int_t)run->pid) : NULL,
	    ALTIP_CALL_MS, fn, run) == 0;
	if (!run->pending)
		altip_end(run, "the guest agent connection is gone");
}

const char *
failover_nic_mac(const struct vm *vm, const char *nic)
{
	unsigned long i;
	char *end;

	if (strncmp(nic, "nic", 3) != 0 || !nic[3])
		return NULL;
	i = strtoul(nic + 3, &end, 10);
	if (*end || i >= vm->row->n_nics)
		return NULL;
	return vm->row->nics[i].mac;
}

int
failover_altip_check(const struct vm *vm, const json_t *cfg,
    struct err *err)
{
	const char *nic;
	json_t *c;
	int r;

	if (!json_is_object(cfg) || !json_object_size(cfg))
		return err_set(err, -EINVAL, "vm '%s' has no failover IP set; "
		    "set one with tern vm replication set %s --failover-ip "
		    "NIC=ADDR/PREFIX", vm->row->name, vm->row->name);
	json_object_foreach((json_t *)cfg, nic, c) {
		if (!failover_nic_mac(vm, nic))
			return err_set(err, -EINVAL, "vm '%s' has no NIC '%s' "
			    "(it has nic0..nic%zu; see tern vm show)",
			    vm->row->name, nic, vm->row->n_nics ?
			    vm->row->n_nics - 1 : 0);
		if ((r = altip_check("--failover-ip", nic, c, err)) < 0)
			return r;
	}
	return 0;
}

int
failover_altip_apply(struct host *h, struct vm *vm, const json_t *cfg,
    struct err *err)
{
	struct altip_run *run;
	int r;

	if ((r = failover_altip_check(vm, cfg, err)) < 0)
		return r;
	if (!altip_may_run(vm))
		return err_set(err, -EBUSY, "vm '%s' is %s; start it before its "
		    "failover IP is applied", vm->row->name,
		    vm_state_name(vm->state));
	run = xzalloc(sizeof(*run));
	run->h = h;
	snprintf(run->uuid, sizeof(run->uuid), "%s", vm->row->uuid);
	run->cfg = json_deep_copy(cfg);
	run->todo = json_array();
	run->deadline_ms = now_ms() + AGENT_WAIT_MS;
	altip_arm(run, 0);
	host_event(h, "info", vm, 0, "applying the alternate IP (waiting up "
	    "to %ds for the guest agent)", AGENT_WAIT_MS / 1000);
	return 0;
}

/* The relationship's failover IPs (its settings' "failover_ip"), when
 * set, given to the started vm (altip.c); a refusal is a warning: the
 * VM runs on whatever it had. */
void
fo_altip_start(struct host *h, const char *ruuid, struct vm *vm,
    int64_t job_id)
{
	struct replication_row row;
	_cleanup_json_ json_t *s = NULL;
	struct err e = { 0 };

	if (store_replication_get(h->store, ruuid, &row) < 0)
		return;
	s = row.settings ? json_loads(row.settings, 0, NULL) : NULL;
	replication_row_done(&row);
	if (!json_object_size(json_object_get(s, "failover_ip")))
		return;
	if (failover_altip_apply(h, vm, json_object_get(s, "failover_ip"),
	    &e) < 0)
		host_event(h, "warning", vm, job_id, "alternate IP not "
		    "applied: %s", e.msg);
}
