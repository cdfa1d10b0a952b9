/* state_rules.c - how a change message alters the cluster's state, and
 * which member's state a sync round keeps.  Pure (JSON in, JSON out,
 * base only), so the unit test drives every rule; state.c delivers the
 * messages in Corosync's agreed order and keeps the result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_rules.h"
#include "util.h"

static json_t *
entry_of(json_t *vms, const char *uuid, bool make)
{
	json_t *e = json_object_get(vms, uuid);

	if (!e && make) {
		e = json_pack("{ss}", "uuid", uuid);
		json_object_set_new(vms, uuid, e);
	}
	return e;
}

static bool
owned_by(const json_t *e, const json_t *node)
{
	const char *o = json_string_value(json_object_get(e, "owner"));

	return o && streq(o, json_string_value(node));
}

/* "vm": node has the VM; its facts replace the entry's (ha kept). */
static bool
apply_vm(json_t *vms, const char *uuid, const json_t *m)
{
	static const char *const keys[] = { "name", "state", "memory_mib",
		"cpus", "record" };
	json_t *e;

	if (!json_is_string(json_object_get(m, "node")) ||
	    !json_is_string(json_object_get(m, "name")) ||
	    !(e = entry_of(vms, uuid, true)))
		return false;
	json_object_set(e, "owner", json_object_get(m, "node"));
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (json_object_get(m, keys[i]))
			json_object_set(e, keys[i], json_object_get(m,
			    keys[i]));
	json_object_del(e, "why");
	/* up, or a replica (taken over: it is never started) */
	if (json_is_true(json_object_get(m, "up")) || streq(json_string_value(
	    json_object_get(m, "state")), "replica"))
		json_object_del(e, "restart");
	return true;
}

static bool
apply_gone(json_t *e, const json_t *m)
{
	if (!e || !owned_by(e, json_object_get(m, "node")))
		return false;
	json_object_set_new(e, "owner", json_null());
	json_object_set_new(e, "state", json_string("gone"));
	json_object_del(e, "restart");
	return true;
}

static bool
apply_place(json_t *e, const json_t *m)
{
	if (!e || !owned_by(e, json_object_get(m, "from")) ||
	    !json_is_string(json_object_get(m, "to")))
		return false;
	json_object_set(e, "owner", json_object_get(m, "to"));
	json_object_set_new(e, "restart", json_true());
	json_object_set_new(e, "placed", json_true());	/* failback.c */
	json_object_del(e, "drained_from");
	json_object_del(e, "move_to");
	json_object_del(e, "move_by");
	return true;
}

/* "moved": a move from node "from" to "to" committed: the owner
 * changes in one step (the destination then publishes its facts); a
 * VM moved is where someone wants it, so no failback is due.  A move
 * off a draining node ("drain": true) remembers that node, for a
 * resume --failback. */
static bool
apply_moved(json_t *e, const json_t *m)
{
	/* the destination may have published the VM as its own first
	 * (the source left the membership meanwhile): the move still
	 * happened, its marks still apply */
	if (!e || !json_is_string(json_object_get(m, "to")) ||
	    !json_is_string(json_object_get(m, "from")) ||
	    (!owned_by(e, json_object_get(m, "from")) && !owned_by(e,
	    json_object_get(m, "to"))))
		return false;
	json_object_set(e, "owner", json_object_get(m, "to"));
	json_object_del(e, "restart");
	json_object_del(e, "placed");
	json_object_del(e, "move_to");
	json_object_del(e, "move_by");
	if (json_is_true(json_object_get(m, "drain")))
		json_object_set(e, "drained_from", json_object_get(m, "from"));
	else
		json_object_del(e, "drained_from");
	return true;
}

static bool
apply_failed(json_t *e, const json_t *m)
{
	if (!e || !owned_by(e, json_object_get(m, "node")))
		return false;
	json_object_del(e, "restart");
	json_object_set_new(e, "state", json_string("failed"));
	json_object_set(e, "why", json_object_get(m, "why"));
	return true;
}

bool
cl_state_apply(json_t *vms, const char *t, const json_t *m)
{
	const char *uuid = json_string_value(json_object_get(m, "uuid"));
	json_t *e = uuid ? json_object_get(vms, uuid) : NULL;
	const json_t *ha = json_object_get(m, "ha");

	if (!t || !uuid)
		return false;
	if (streq(t, "vm"))
		return apply_vm(vms, uuid, m);
	if (streq(t, "gone"))
		return apply_gone(e, m);
	if (streq(t, "place"))
		return apply_place(e, m);
	if (streq(t, "moved"))
		return apply_moved(e, m);
	if (streq(t, "ha-failed"))
		return apply_failed(e, m);
	if (!streq(t, "ha") || !e)
		return false;
	if (json_is_object(ha))
		json_object_set(e, "ha", (json_t *)ha);
	else
		json_object_del(e, "ha");
	return true;
}

const char *
cl_sync_best(const json_t *syncs)
{
	const char *key, *best = NULL;
	json_int_t bgen = -1;
	unsigned long bid = 0;
	json_t *s;

	json_object_foreach((json_t *)syncs, key, s) {
		json_int_t g = json_integer_value(json_object_get(s, "gen"));
		unsigned long id = strtoul(key, NULL, 10);

		if (!best || g > bgen || (g == bgen && id < bid))
			best = key, bgen = g, bid = id;
	}
	return best;
}

bool
cl_failback_in_window(const char *f, int hour)
{
	unsigned a, b;

	if (streq(f, "immediate"))
		return true;
	if (!f || sscanf(f, "window %u-%u", &a, &b) != 2)
		return false;
	return a < b ? (unsigned)hour >= a && (unsigned)hour < b :
	    (unsigned)hour >= a || (unsigned)hour < b;
}

/* Set integer key of m in settings when it is in [lo, hi]; -1: out of
 * range or not an integer, 1: changed, 0: the same or absent. */
static int
set_int(json_t *settings, const json_t *m, const char *key, json_int_t lo,
    json_int_t hi)
{
	json_t *v = json_object_get(m, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi)
		return -1;
	if (json_equal(v, json_object_get(settings, key)))
		return 0;
	json_object_set(settings, key, v);
	return 1;
}

const struct cl_setting_int cl_setting_ints[] = {
	{ "resiliency_period_s", 0, CL_RESILIENCY_MAX_S },
	{ "quarantine_threshold", 0, CL_QUARANTINE_MAX_THRESHOLD },
	{ "quarantine_duration_s", 1, CL_QUARANTINE_MAX_S },
	{ "balance_threshold_pct", 0, CL_BALANCE_MAX_PCT },
	{ "balance_interval_s", CL_BALANCE_MIN_S, CL_BALANCE_MAX_S },
};
const size_t cl_n_setting_ints = ARRAY_SIZE(cl_setting_ints);

bool
cl_level_ok(const char *level)
{
	return level && (streq(level, "always-isolated") ||
	    streq(level, "isolated-if-storage-alive"));
}

bool
cl_balance_by_ok(const char *by)
{
	return by && (streq(by, "memory") || streq(by, "cpu"));
}

bool
cl_settings_apply(json_t *settings, const json_t *m)
{
	const char *l = json_string_value(json_object_get(m,
	    "resiliency_level"));
	const char *by = json_string_value(json_object_get(m, "balance_by"));
	bool changed = false;
	json_t *old = json_deep_copy(settings);

	if ((json_object_get(m, "resiliency_level") && !cl_level_ok(l)) ||
	    (json_object_get(m, "balance_by") && !cl_balance_by_ok(by)))
		goto bad;
	for (size_t i = 0; i < cl_n_setting_ints; i++) {
		const struct cl_setting_int *s = &cl_setting_ints[i];
		int r = set_int(settings, m, s->key, s->lo, s->hi);

		if (r < 0)
			goto bad;
		changed |= r > 0;
	}
	if (l && !streq(l, json_string_value(json_object_get(settings,
	    "resiliency_level")))) {
		json_object_set_new(settings, "resiliency_level",
		    json_string(l));
		changed = true;
	}
	if (by && !streq(by, json_string_value(json_object_get(settings,
	    "balance_by")))) {
		json_object_set_new(settings, "balance_by", json_string(by));
		changed = true;
	}
	json_decref(old);
	return changed;
bad:	/* all or nothing */
	json_object_clear(settings);
	json_object_update(settings, old);
	json_decref(old);
	return false;
}

int64_t
cl_resiliency_ms(const json_t *settings, const json_t *e)
{
	json_t *v = json_object_get(json_object_get(e, "ha"),
	    "resiliency_period_s");

	if (!json_is_integer(v))
		v = json_object_get(settings, "resiliency_period_s");
	return (json_is_integer(v) ? json_integer_value(v) :
	    CL_RESILIENCY_DEFAULT_S) * 1000;
}

bool
cl_isolate_always(const json_t *settings)
{
	return streq(json_string_value(json_object_get(settings,
	    "resiliency_level")), "always-isolated");
}

int64_t
cl_quarantine_threshold(const json_t *settings)
{
	json_t *v = json_object_get(settings, "quarantine_threshold");

	return json_is_integer(v) ? json_integer_value(v) :
	    CL_QUARANTINE_DEFAULT_THRESHOLD;
}

int64_t
cl_quarantine_ms(const json_t *settings)
{
	json_t *v = json_object_get(settings, "quarantine_duration_s");

	return (json_is_integer(v) ? json_integer_value(v) :
	    CL_QUARANTINE_DEFAULT_S) * 1000;
}

/* ---- nodes: drain, resume, quarantine ("node" messages) ---- */

static json_t *
node_entry(json_t *settings, const char *name)
{
	json_t *nodes = json_object_get(settings, "nodes"), *n;

	if (!json_is_object(nodes)) {
		nodes = json_object();
		json_object_set_new(settings, "nodes", nodes);
	}
	if (!(n = json_object_get(nodes, name))) {
		n = json_object();
		json_object_set_new(nodes, name, n);
	}
	return n;
}

/* "isolated": the coordinator saw node leave the membership at at_ms;
 * the threshold-th time within an hour quarantines and drains it. */
static bool
node_isolated(json_t *settings, json_t *n, json_int_t at)
{
	json_t *list = json_object_get(n, "isolations"), *keep = json_array();
	int64_t thr = cl_quarantine_threshold(settings);
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
		if (json_is_integer(v) && json_integer_value(v) > at -
		    CL_QUARANTINE_WINDOW_MS && json_integer_value(v) <= at)
			json_array_append(keep, v);
	json_array_append_new(keep, json_integer(at));
	json_object_set_new(n, "isolations", keep);
	if (thr > 0 && (int64_t)json_array_size(keep) >= thr &&
	    !json_object_get(n, "quarantined_until_ms")) {
		json_object_set_new(n, "quarantined_until_ms", json_integer(at +
		    cl_quarantine_ms(settings)));
		json_object_set_new(n, "paused", json_string("quarantine"));
		json_object_set_new(n, "drain", json_string("due"));
		json_object_del(n, "why");
		json_object_set_new(n, "isolations", json_array());
	}
	return true;
}

/* "resume": the node takes VMs again; with failback the VMs drained off
 * it go back (failback.c moves each once it is ready). */
static bool
node_resume(json_t *vms, json_t *n, const char *name, const json_t *m)
{
	json_t *q = json_object_get(n, "quarantined_until_ms"), *e;
	bool fb = json_is_true(json_object_get(m, "failback"));
	const char *uuid;

	if (!json_object_get(n, "paused") || (json_is_integer(q) &&
	    json_integer_value(q) > json_integer_value(json_object_get(m,
	    "at_ms"))))
		return false;	/* not paused, or quarantined still */
	json_object_del(n, "paused");
	json_object_del(n, "drain");
	json_object_del(n, "why");
	json_object_del(n, "quarantined_until_ms");
	json_object_foreach(vms, uuid, e) {
		if (!streq(json_string_value(json_object_get(e,
		    "drained_from")), name))
			continue;
		if (fb)
			json_object_set_new(e, "move_to", json_string(name));
		else
			json_object_del(e, "drained_from");
	}
	return true;
}

/* "forget": node was evicted: its pause, quarantine and isolations go,
 * and no VM is due to move to it or back to it. */
static bool
node_forget(json_t *settings, json_t *vms, const char *name)
{
	bool changed = json_object_del(json_object_get(settings, "nodes"),
	    name) == 0;
	const char *uuid;
	json_t *e;

	json_object_foreach(vms, uuid, e) {
		if (streq(json_string_value(json_object_get(e, "move_to")),
		    name)) {
			json_object_del(e, "move_to");
			json_object_del(e, "move_by");
			changed = true;
		}
		if (streq(json_string_value(json_object_get(e,
		    "drained_from")), name)) {
			json_object_del(e, "drained_from");
			changed = true;
		}
	}
	return changed;
}

bool
cl_node_apply(json_t *settings, json_t *vms, const json_t *m)
{
	const char *name = json_string_value(json_object_get(m, "name"));
	const char *op = json_string_value(json_object_get(m, "op"));
	json_t *at = json_object_get(m, "at_ms"), *n;

	if (!name || !op || !json_is_object(settings) ||
	    !json_is_object(vms))
		return false;
	n = json_object_get(json_object_get(settings, "nodes"), name);
	if (streq(op, "isolated"))
		return json_is_integer(at) && node_isolated(settings,
		    node_entry(settings, name), json_integer_value(at));
	if (streq(op, "drain")) {
		if (json_object_get(n, "paused"))
			return false;
		n = node_entry(settings, name);
		json_object_set_new(n, "paused", json_string("drain"));
		json_object_set_new(n, "drain", json_string("due"));
		json_object_del(n, "why");
		return true;
	}
	if (streq(op, "drained")) {
		if (!streq(json_string_value(json_object_get(n, "drain")),
		    "due"))
			return false;
		json_object_set_new(n, "drain", json_string(json_is_true(
		    json_object_get(m, "ok")) ? "done" : "failed"));
		if (json_is_string(json_object_get(m, "why")))
			json_object_set(n, "why", json_object_get(m, "why"));
		return true;
	}
	if (streq(op, "resume"))
		return n && json_is_integer(at) && node_resume(vms, n, name,
		    m);
	if (streq(op, "forget"))
		return node_forget(settings, vms, name);
	if (!streq(op, "clear-quarantine") || !json_object_get(n,
	    "quarantined_until_ms"))
		return false;
	json_object_del(n, "quarantined_until_ms");
	json_object_set_new(n, "isolations", json_array());
	if (json_object_get(n, "paused"))	/* paused until resumed */
		json_object_set_new(n, "paused", json_string("drain"));
	return true;
}

const char *
cl_node_drain(const json_t *settings, const char *name)
{
	return json_string_value(json_object_get(json_object_get(
	    json_object_get(settings, "nodes"), name), "drain"));
}

const char *
cl_node_paused(const json_t *settings, const char *name)
{
	return json_string_value(json_object_get(json_object_get(
	    json_object_get(settings, "nodes"), name), "paused"));
}

/* ---- load balancing ---- */

static int64_t
setting_int(const json_t *settings, const char *key, int64_t def)
{
	json_t *v = json_object_get(settings, key);

	return json_is_integer(v) ? json_integer_value(v) : def;
}

int64_t
cl_balance_threshold(const json_t *settings)
{
	return setting_int(settings, "balance_threshold_pct", 0);
}

int64_t
cl_balance_interval_ms(const json_t *settings)
{
	return setting_int(settings, "balance_interval_s",
	    CL_BALANCE_DEFAULT_S) * 1000;
}

bool
cl_balance_by_cpu(const json_t *settings)
{
	return streq(json_string_value(json_object_get(settings,
	    "balance_by")), "cpu");
}

bool
cl_node_can_take(const json_t *load, const json_t *e)
{
	const char *pool = json_string_value(json_object_get(json_array_get(
	    json_object_get(json_object_get(e, "record"), "disks"), 0),
	    "pool"));
	const char *id = json_string_value(json_object_get(json_object_get(
	    load, "pools"), pool ? pool : ""));
	size_t i;
	json_t *v;

	if (!json_object_get(e, "ha"))
		return true;	/* no lease to take */
	json_array_foreach(json_object_get(load, "leases"), i, v)
		if (id && streq(json_string_value(v), id))
			return true;
	return false;
}

/* What e weighs on a node: MiB of memory, or vCPUs. */
static double
weight(const json_t *e, bool cpu)
{
	return (double)json_integer_value(json_object_get(e, cpu ? "cpus" :
	    "memory_mib"));
}

/* Node load as a percentage of its memory (or cores). */
static double
pct(const json_t *nodes, const json_t *used, const char *n, bool cpu)
{
	json_t *l = json_object_get(nodes, n);
	double cap = (double)json_integer_value(json_object_get(l, cpu ?
	    "cpus" : "total_mib"));
	json_t *u = json_object_get(used, n);

	return cap > 0 ? json_real_value(u) * 100.0 / cap : 0;
}

static bool
movable(const json_t *e, const json_t *nodes, int64_t now, int64_t cool)
{
	json_t *b = json_object_get(e, "balanced_ms");

	return streq(json_string_value(json_object_get(e, "state")),
	    "running") && json_object_get(nodes, json_string_value(
	    json_object_get(e, "owner"))) && !json_object_get(e, "move_to") &&
	    (!json_is_integer(b) || now - json_integer_value(b) >= cool);
}

/* The best move off the most loaded node s: the one that leaves the
 * higher of s and its target least loaded, the target staying below s's
 * load before it (so nothing moves back and forth); NULL: none. */
static json_t *
best_move(const json_t *vms, const json_t *nodes, json_t *used,
    const char *s, bool cpu, int64_t now, int64_t cool)
{
	double ls = pct(nodes, used, s, cpu), best = ls;
	const char *uuid, *t;
	json_t *e, *l, *mv = NULL;

	json_object_foreach((json_t *)vms, uuid, e) {
		if (!movable(e, nodes, now, cool) || !streq(json_string_value(
		    json_object_get(e, "owner")), s) || json_object_get(used,
		    uuid))
			continue;
		json_object_foreach((json_t *)nodes, t, l) {
			double cap = (double)json_integer_value(json_object_get(
			    l, cpu ? "cpus" : "total_mib"));
			double lt, ls2;

			if (streq(t, s) || !cl_node_can_take(l, e) || cap <= 0)
				continue;
			lt = pct(nodes, used, t, cpu) + weight(e, cpu) * 100.0 /
			    cap;
			ls2 = ls - weight(e, cpu) * 100.0 / (double)
			    json_integer_value(json_object_get(json_object_get(
			    nodes, s), cpu ? "cpus" : "total_mib"));
			if ((lt > ls2 ? lt : ls2) >= best)
				continue;
			best = lt > ls2 ? lt : ls2;
			json_decref(mv);
			mv = json_pack("{sssOssss}", "uuid", uuid, "name",
			    json_object_get(e, "name"), "from", s, "to", t);
		}
	}
	return mv;
}

static void
use(json_t *used, const char *n, double w)
{
	json_object_set_new(used, n, json_real(json_real_value(
	    json_object_get(used, n)) + w));
}

json_t *
cl_balance_plan(const json_t *vms, const json_t *nodes,
    const json_t *settings, int64_t threshold, int64_t now)
{
	bool cpu = cl_balance_by_cpu(settings);
	int64_t cool = cl_balance_interval_ms(settings);
	json_t *used = json_object(), *moves = json_array(), *e, *loads;
	json_t *after;
	const char *key;

	json_object_foreach((json_t *)nodes, key, e)
		use(used, key, 0);
	json_object_foreach((json_t *)vms, key, e) {
		/* a VM with a move due counts where it is going */
		const char *at = json_string_value(json_object_get(e,
		    "move_to"));

		if (!at)
			at = json_string_value(json_object_get(e, "owner"));
		if (streq(json_string_value(json_object_get(e, "state")),
		    "running") && json_object_get(nodes, at))
			use(used, at, weight(e, cpu));
	}
	loads = json_object();
	json_object_foreach((json_t *)nodes, key, e)
		json_object_set_new(loads, key, json_real(pct(nodes, used, key,
		    cpu)));
	for (size_t round = 0; round < CL_BALANCE_MAX_MOVES; round++) {
		const char *s = NULL;
		json_t *mv;

		json_object_foreach((json_t *)nodes, key, e)
			if (pct(nodes, used, key, cpu) > threshold && (!s ||
			    pct(nodes, used, key, cpu) > pct(nodes, used, s,
			    cpu)))
				s = key;
		if (!s || !(mv = best_move(vms, nodes, used, s, cpu, now,
		    cool)))
			break;
		e = json_object_get(vms, json_string_value(json_object_get(mv,
		    "uuid")));
		use(used, s, -weight(e, cpu));
		use(used, json_string_value(json_object_get(mv, "to")),
		    weight(e, cpu));
		json_object_set_new(used, json_string_value(json_object_get(mv,
		    "uuid")), json_true());	/* one move per VM a round */
		json_array_append_new(moves, mv);
	}
	after = json_object();
	json_object_foreach((json_t *)nodes, key, e)
		json_object_set_new(after, key, json_real(pct(nodes, used, key,
		    cpu)));
	json_decref(used);
	return json_pack("{sososo}", "moves", moves, "loads", loads,
	    "loads_after", after);
}

bool
cl_balance_off(json_int_t was, const json_t *settings, json_t *vms)
{
	const char *uuid;
	json_t *e;
	bool changed = false;

	if (was <= 0 || json_integer_value(json_object_get(settings,
	    "balance_threshold_pct")) > 0)
		return false;
	json_object_foreach(vms, uuid, e)
		if (streq(json_string_value(json_object_get(e, "move_by")),
		    "balance")) {
			json_object_del(e, "move_to");
			json_object_del(e, "move_by");
			changed = true;
		}
	return changed;
}

bool
cl_balance_apply(json_t *vms, const json_t *m)
{
	json_t *at = json_object_get(m, "at_ms"), *mv;
	bool changed = false;
	size_t i;

	if (!json_is_integer(at))
		return false;
	json_array_foreach(json_object_get(m, "moves"), i, mv) {
		json_t *e = json_object_get(vms, json_string_value(
		    json_object_get(mv, "uuid")));

		if (!e || !json_is_string(json_object_get(mv, "to")) ||
		    !owned_by(e, json_object_get(mv, "from")) ||
		    json_object_get(e, "move_to"))
			continue;
		json_object_set(e, "move_to", json_object_get(mv, "to"));
		json_object_set_new(e, "move_by", json_string("balance"));
		json_object_set(e, "balanced_ms", at);
		changed = true;
	}
	return changed;
}
