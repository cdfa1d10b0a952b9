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
		"record" };
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
	if (json_is_true(json_object_get(m, "up")))
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
	return true;
}

/* "moved": a move from node "from" to "to" committed: the owner
 * changes in one step (the destination then publishes its facts); a
 * VM moved is where someone wants it, so no failback is due. */
static bool
apply_moved(json_t *e, const json_t *m)
{
	if (!e || !owned_by(e, json_object_get(m, "from")) ||
	    !json_is_string(json_object_get(m, "to")))
		return false;
	json_object_set(e, "owner", json_object_get(m, "to"));
	json_object_del(e, "restart");
	json_object_del(e, "placed");
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

bool
cl_settings_apply(json_t *settings, const json_t *m)
{
	json_t *p = json_object_get(m, "resiliency_period_s");
	const char *l = json_string_value(json_object_get(m,
	    "resiliency_level"));
	bool changed = false;

	if ((p && (!json_is_integer(p) || json_integer_value(p) < 0 ||
	    json_integer_value(p) > CL_RESILIENCY_MAX_S)) ||
	    (json_object_get(m, "resiliency_level") && !streq(l,
	    "always-isolated") && !streq(l, "isolated-if-storage-alive")))
		return false;
	if (p && !json_equal(p, json_object_get(settings,
	    "resiliency_period_s"))) {
		json_object_set(settings, "resiliency_period_s", p);
		changed = true;
	}
	if (l && !streq(l, json_string_value(json_object_get(settings,
	    "resiliency_level")))) {
		json_object_set_new(settings, "resiliency_level",
		    json_string(l));
		changed = true;
	}
	return changed;
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
