/* agent.c - qemu-guest-agent services (diagram in agent.h).  Every call to
 * the agent has a timeout; a guest that never answers costs one queued
 * ping per tick and nothing else.  Reports to the VM's job by poking it. */
#include <ctype.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "job.h"
#include "log.h"
#include "util.h"
#include "vm.h"

#define AGENT_CALL_MS 3000	/* one agent command */
#define AGENT_FREEZE_MS 10000	/* the freeze call itself */

static const char *const beat_names[AGENT_BEAT__COUNT] = {
	[AGENT_ABSENT] = "absent", [AGENT_OK] = "ok", [AGENT_LOST] = "lost",
	[AGENT_OFF] = "off",
};

static const char *const service_names[SVC__COUNT] = {
	[SVC_HEARTBEAT] = "heartbeat", [SVC_SHUTDOWN] = "shutdown",
	[SVC_DATA_EXCHANGE] = "data-exchange", [SVC_TIME_SYNC] = "time-sync",
	[SVC_QUIESCE] = "quiesce",
};

const char *
agent_beat_name(enum agent_beat b)
{
	return b < AGENT_BEAT__COUNT ? beat_names[b] : "unknown";
}

const char *
vm_service_name(enum vm_service s)
{
	return s < SVC__COUNT ? service_names[s] : "unknown";
}

int
vm_service_from_name(const char *name)
{
	for (int i = 0; i < SVC__COUNT; i++)
		if (streq(name, service_names[i]))
			return i;
	return -EINVAL;
}

bool
vm_service_on(const struct vm *vm, enum vm_service s)
{
	json_t *o = vm->row->services ? json_loads(vm->row->services, 0, NULL)
	    : NULL;
	bool on = !json_is_false(json_object_get(o, service_names[s]));

	json_decref(o);
	return on;
}

static void
agent_poke_job(struct vm *vm)
{
	vm_poke_jobs(vm);
}

static void
agent_set_error(struct agent *a, const struct err *e, const char *what)
{
	free(a->error);
	a->error = xasprintf("%s: %s", what, e ? e->msg : "no answer");
}

bool
agent_is_ready(const struct vm *vm)
{
	return vm->agent.q && qmp_is_ready(vm->agent.q);
}

/* ---- heartbeat ---- */

static void
agent_beat_set(struct vm *vm, enum agent_beat b)
{
	struct agent *a = &vm->agent;
	enum agent_beat old = a->beat;

	a->beat = b;
	if (old == b || !vm_service_on(vm, SVC_HEARTBEAT))
		return;
	if (b == AGENT_OK)
		host_event(vm->h, "info", vm, 0, "guest agent answering "
		    "(heartbeat ok)");
	else if (b == AGENT_LOST)
		host_event(vm->h, "warning", vm, 0, "guest agent stopped "
		    "answering (heartbeat lost)");
}

static void
agent_on_ping(struct qmp *q, json_t *ret, const struct err *e, void *data)
{
	struct vm *vm = data;
	struct agent *a = &vm->agent;

	(void)q;
	(void)e;
	a->ping_in_flight = false;
	if (ret) {
		a->answered = true;
		a->last_answer_ms = now_ms();
		a->misses = 0;
		agent_beat_set(vm, vm_service_on(vm, SVC_HEARTBEAT) ?
		    AGENT_OK : AGENT_OFF);
		return;
	}
	a->misses++;
	if (a->answered && a->misses >= 2 &&
	    vm_service_on(vm, SVC_HEARTBEAT))
		agent_beat_set(vm, AGENT_LOST);
}

static void agent_connect(struct vm *vm);
static void agent_info_refresh(struct vm *vm);

static void
agent_tick(struct loop *l, void *data)
{
	struct vm *vm = data;
	struct agent *a = &vm->agent;

	(void)l;
	a->timer = loop_timer_add(vm->h->loop, AGENT_TICK_MS, agent_tick, vm);
	if (!vm_service_on(vm, SVC_HEARTBEAT) && a->beat != AGENT_ABSENT)
		a->beat = AGENT_OFF;
	if (!a->q) {
		agent_connect(vm);
		return;
	}
	if (!qmp_is_ready(a->q)) {
		/* Still syncing: no agent, or one that stopped answering. */
		struct err e = { 0 };

		err_set(&e, -ETIMEDOUT, "agent did not sync");
		agent_on_ping(a->q, NULL, &e, vm);
		return;
	}
	if (!a->ping_in_flight) {
		a->ping_in_flight = true;
		(void)qmp_send(a->q, "guest-ping", NULL, AGENT_CALL_MS,
		    agent_on_ping, vm);
	}
	if (vm_service_on(vm, SVC_DATA_EXCHANGE) &&
	    now_ms() - a->info_ms >= AGENT_INFO_MS)
		agent_info_refresh(vm);
}

/* ---- guest info ---- */

static void
agent_info_set(struct vm *vm, const char *key, json_t *v)
{
	struct agent *a = &vm->agent;

	if (!a->info)
		a->info = json_object();
	json_object_set_new(a->info, key, v);
}

static void
agent_on_hostname(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	(void)q;
	(void)e;
	if (ret)
		agent_info_set(d, "hostname",
		    json_copy(json_object_get(ret, "host-name")));
}

static void
agent_on_osinfo(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	(void)q;
	(void)e;
	if (!ret)
		return;
	agent_info_set(d, "os", json_pack("{sO? sO? sO? sO?}",
	    "name", json_object_get(ret, "name"),
	    "version", json_object_get(ret, "version"),
	    "pretty_name", json_object_get(ret, "pretty-name"),
	    "kernel", json_object_get(ret, "kernel-release")));
}

static json_t *
agent_nic_json(json_t *nic)
{
	json_t *ips = json_array(), *ip;
	size_t i;

	json_array_foreach(json_object_get(nic, "ip-addresses"), i, ip) {
		const char *addr = json_string_value(json_object_get(ip,
		    "ip-address"));
		json_int_t prefix = json_integer_value(json_object_get(ip,
		    "prefix"));

		if (addr)
			json_array_append_new(ips, json_sprintf("%s/%d", addr,
			    (int)prefix));
	}
	return json_pack("{sO? sO? so}", "nic", json_object_get(nic, "name"),
	    "mac", json_object_get(nic, "hardware-address"), "ips", ips);
}

static void
agent_on_ifaces(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	json_t *out = json_array(), *nic;
	size_t i;

	(void)q;
	(void)e;
	json_array_foreach(ret, i, nic)
		if (!streq(json_string_value(json_object_get(nic, "name")),
		    "lo"))
			json_array_append_new(out, agent_nic_json(nic));
	if (ret)
		agent_info_set(d, "addresses", out);
	else
		json_decref(out);
}

static void
agent_info_refresh(struct vm *vm)
{
	struct agent *a = &vm->agent;

	a->info_ms = now_ms();
	(void)qmp_send(a->q, "guest-get-host-name", NULL, AGENT_CALL_MS,
	    agent_on_hostname, vm);
	(void)qmp_send(a->q, "guest-get-osinfo", NULL, AGENT_CALL_MS,
	    agent_on_osinfo, vm);
	(void)qmp_send(a->q, "guest-network-get-interfaces", NULL,
	    AGENT_CALL_MS, agent_on_ifaces, vm);
}

/* ---- key/values into the guest ---- */

int
agent_kvp_check(const char *key, const char *value, struct err *err)
{
	size_t n = key ? strlen(key) : 0;

	if (n == 0 || n > AGENT_KVP_KEY_MAX)
		return err_set(err, -EINVAL, "kvp key must be 1 to %d bytes",
		    AGENT_KVP_KEY_MAX);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)key[i]) && !strchr("._-", key[i]))
			return err_set(err, -EINVAL, "kvp key '%.64s' may hold "
			    "only letters, digits, '.', '_' and '-'", key);
	if (value && strlen(value) > AGENT_KVP_VALUE_MAX)
		return err_set(err, -EINVAL, "kvp value for '%s' is longer "
		    "than %d bytes", key, AGENT_KVP_VALUE_MAX);
	for (const char *p = value; p && *p; p++)
		if ((unsigned char)*p < 0x20)
			return err_set(err, -EINVAL, "kvp value for '%s' holds "
			    "a control character (newlines are not allowed)",
			    key);
	return 0;
}

/* "key=value\n" for each pair, in key order. */
static char *
agent_kvp_text(const struct vm *vm)
{
	json_t *o = vm->row->kvp ? json_loads(vm->row->kvp, 0, NULL) : NULL;
	const char *key;
	json_t *v;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	json_object_foreach(o, key, v)
		fprintf(f, "%s=%s\n", key, json_string_value(v));
	fclose(f);
	json_decref(o);
	return buf;
}

static void
agent_on_kvp_closed(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	(void)q;
	if (!ret)
		log_warn("vm=%s cannot write key/values into the guest: %s, "
		    "will retry on reconnect", ((struct vm *)d)->row->name,
		    e->msg);
}

static void
agent_on_kvp_open(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	struct vm *vm = d;
	_cleanup_free_ char *text = NULL;
	gnutls_datum_t in, b64 = { 0 };
	json_int_t handle;

	if (!ret) {
		agent_on_kvp_closed(q, NULL, e, d);
		return;
	}
	handle = json_integer_value(ret);
	text = agent_kvp_text(vm);
	in = (gnutls_datum_t){ (unsigned char *)text, strlen(text) };
	if (in.size == 0 || gnutls_base64_encode2(&in, &b64) == 0)
		(void)qmp_send(q, "guest-file-write", json_pack("{sI ss#}",
		    "handle", handle, "buf-b64", b64.data ? (char *)b64.data :
		    "", (int)b64.size), AGENT_CALL_MS, NULL, NULL);
	gnutls_free(b64.data);
	(void)qmp_send(q, "guest-file-close", json_pack("{sI}", "handle",
	    handle), AGENT_CALL_MS, agent_on_kvp_closed, vm);
}

void
agent_kvp_push(struct vm *vm)
{
	if (!agent_is_ready(vm) || !vm_service_on(vm, SVC_DATA_EXCHANGE))
		return;
	(void)qmp_send(vm->agent.q, "guest-file-open", json_pack("{ss ss}",
	    "path", AGENT_KVP_PATH, "mode", "w"), AGENT_CALL_MS,
	    agent_on_kvp_open, vm);
}

/* ---- time, shutdown ---- */

void
agent_set_time(struct vm *vm)
{
	struct timespec ts;

	if (!agent_is_ready(vm) || !vm_service_on(vm, SVC_TIME_SYNC))
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	(void)qmp_send(vm->agent.q, "guest-set-time", json_pack("{sI}", "time",
	    (json_int_t)ts.tv_sec * 1000000000 + ts.tv_nsec), AGENT_CALL_MS,
	    NULL, NULL);
}

int
agent_shutdown(struct vm *vm)
{
	if (!agent_is_ready(vm))
		return -ENOTCONN;
	return qmp_send_noreply(vm->agent.q, "guest-shutdown",
	    json_pack("{ss}", "mode", "powerdown"), AGENT_CALL_MS, NULL,
	    NULL);
}

/* ---- quiesce ---- */

static void
agent_on_thawed(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	struct vm *vm = d;

	(void)q;
	if (ret)
		host_event(vm->h, "info", vm, 0, "guest file systems thawed");
	else
		log_warn("vm=%s thaw failed: %s, will retry on reconnect",
		    vm->row->name, e->msg);
	agent_poke_job(vm);
}

void
agent_thaw(struct vm *vm)
{
	struct agent *a = &vm->agent;

	a->thaw_timer = loop_timer_cancel(vm->h->loop, a->thaw_timer);
	if (!a->frozen)
		return;
	a->frozen = false;
	if (a->q)
		(void)qmp_send(a->q, "guest-fsfreeze-thaw", NULL,
		    AGENT_FREEZE_MS, agent_on_thawed, vm);
}

static void
agent_on_thaw_timer(struct loop *l, void *data)
{
	struct vm *vm = data;

	(void)l;
	vm->agent.thaw_timer = NULL;
	log_warn("vm=%s freeze held past its limit: thawing", vm->row->name);
	agent_thaw(vm);
}

static void
agent_on_frozen(struct qmp *q, json_t *ret, const struct err *e, void *d)
{
	struct vm *vm = d;
	struct agent *a = &vm->agent;

	(void)q;
	a->freeze_pending = false;
	if (ret) {
		host_event(vm->h, "info", vm, 0, "guest file systems frozen "
		    "(%lld)", (long long)json_integer_value(ret));
	} else {
		/* A failed freeze thaws what it froze (qemu-ga); thaw anyway
		 * in case the answer, not the freeze, was lost. */
		agent_set_error(a, e, "freeze failed");
		agent_thaw(vm);
	}
	agent_poke_job(vm);
}

int
agent_freeze(struct vm *vm, uint64_t max_ms)
{
	struct agent *a = &vm->agent;
	int r;

	if (!agent_is_ready(vm))
		return -ENOTCONN;
	free(a->error);
	a->error = NULL;
	/* Frozen from the moment we ask: the thaw is armed before the
	 * freeze can take effect. */
	a->frozen = true;
	a->freeze_pending = true;
	a->thaw_timer = loop_timer_cancel(vm->h->loop, a->thaw_timer);
	a->thaw_timer = loop_timer_add(vm->h->loop, max_ms,
	    agent_on_thaw_timer, vm);
	r = qmp_send(a->q, "guest-fsfreeze-freeze", NULL, AGENT_FREEZE_MS,
	    agent_on_frozen, vm);
	if (r < 0) {
		a->frozen = a->freeze_pending = false;
		a->thaw_timer = loop_timer_cancel(vm->h->loop, a->thaw_timer);
	}
	return r;
}

/* A guest found frozen on connect was left so by a ternd that died (or a
 * connection lost) mid-quiesce: thaw it unless we hold the freeze. */
static void
agent_on_freeze_status(struct qmp *q, json_t *ret, const struct err *e,
    void *d)
{
	struct vm *vm = d;

	(void)e;
	if (!streq(json_string_value(ret), "frozen") || vm->agent.frozen)
		return;
	host_event(vm->h, "warning", vm, 0, "guest file systems were left "
	    "frozen: thawing");
	(void)qmp_send(q, "guest-fsfreeze-thaw", NULL, AGENT_FREEZE_MS,
	    agent_on_thawed, vm);
}

/* ---- connection ---- */

static void
agent_on_state(struct qmp *q, int state, void *ud)
{
	struct vm *vm = ud;
	struct agent *a = &vm->agent;

	if (state == QMP_READY) {
		(void)qmp_send(q, "guest-fsfreeze-status", NULL, AGENT_CALL_MS,
		    agent_on_freeze_status, vm);
		a->ping_in_flight = true;
		(void)qmp_send(q, "guest-ping", NULL, AGENT_CALL_MS,
		    agent_on_ping, vm);
		agent_kvp_push(vm);
		if (vm_service_on(vm, SVC_DATA_EXCHANGE))
			agent_info_refresh(vm);
		agent_poke_job(vm);
		return;
	}
	/* Closed: QEMU going away, or the channel broke; the next tick
	 * reconnects while QEMU lives.  A freeze we hold stays armed. */
	a->q = qmp_free(a->q);
	a->ping_in_flight = false;
	agent_poke_job(vm);
}

static void
agent_connect(struct vm *vm)
{
	_cleanup_free_ char *path = vm_run_path(vm, "qga.sock");

	if (vm->pidfd < 0)
		return;
	if (qmp_connect(vm->h->loop, path, QMP_MODE_QGA, NULL, agent_on_state,
	    vm, &vm->agent.q) < 0)
		vm->agent.q = NULL;
}

void
agent_start(struct vm *vm)
{
	struct agent *a = &vm->agent;

	agent_stop(vm);
	a->beat = vm_service_on(vm, SVC_HEARTBEAT) ? AGENT_ABSENT : AGENT_OFF;
	agent_connect(vm);
	a->timer = loop_timer_add(vm->h->loop, AGENT_TICK_MS, agent_tick, vm);
}

void
agent_stop(struct vm *vm)
{
	struct agent *a = &vm->agent;

	a->q = qmp_free(a->q);
	a->timer = loop_timer_cancel(vm->h->loop, a->timer);
	a->thaw_timer = loop_timer_cancel(vm->h->loop, a->thaw_timer);
	json_decref(a->info);
	free(a->error);
	*a = (struct agent){ .beat = AGENT_ABSENT };
}

json_t *
agent_to_json(const struct vm *vm)
{
	const struct agent *a = &vm->agent;
	json_t *o = a->info ? json_deep_copy(a->info) : json_object();
	enum agent_beat b = vm->pidfd < 0 ? AGENT_ABSENT : a->beat;

	if (!vm_service_on(vm, SVC_HEARTBEAT))
		b = AGENT_OFF;
	json_object_set_new(o, "heartbeat", json_string(agent_beat_name(b)));
	json_object_set_new(o, "agent", json_string(agent_is_ready(vm) ?
	    "connected" : "absent"));
	json_object_set_new(o, "frozen", json_boolean(a->frozen));
	return o;
}
