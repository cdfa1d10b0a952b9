/* failback.c - an HA VM going back to its preferred owner once that
 * node is back (Hyper-V's failback), after an HA restart put it on
 * another node.  `tern vm ha enable VM --preferred h1,h2 --failback
 * immediate|'window HH-HH'` (never: the default, it stays).
 *
 * Per VM, on the node that owns it, each tick (vms.c):
 *
 *   due: placed here by an HA restart ("placed" in its entry), running,
 *     no job on it, failback not never, and a node before this one in
 *     its preferred list live (a member, its ternd in the group, its
 *     load message fresh: in step with the state) and able to take the
 *     VM's lease (the load lists its pool's lockspace as joined)
 *   due --FB_SETTLE_MS in a row (a node just back may go again) and
 *     inside the window--> vm.move (live, the lease handed over) to
 *     the first such node
 *   the move committed: "moved" clears "placed" (done); not started or
 *     failed: an event, tried again FB_RETRY_MS later while still due
 *   not due any more (the node left, HA off, moved by an operator):
 *     forgotten
 *
 * A VM an operator moves is where the operator wants it: "moved" clears
 * "placed", so it is not moved back.
 *
 * The same tick moves back a VM drained off a node that was resumed
 * with --failback ("move_to" in its entry, drain.c): due once that node
 * is live and ready, whatever the VM's HA settings. */
#include <stdio.h>
#include <time.h>

#include "cl_int.h"
#include "host.h"
#include "state_rules.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"

#define FB_SETTLE_MS 10000	/* the preferred node live this long */
#define FB_RETRY_MS 300000	/* a failback that failed, tried again */
#define LOAD_FRESH_MS 6000	/* a node's load: 3 ticks */

bool
cl_node_fresh(const struct cluster *c, const char *node)
{
	json_t *at = json_object_get(json_object_get(c->load, node), "at_ms");

	return at && now_ms() - (uint64_t)json_integer_value(at) <=
	    LOAD_FRESH_MS;
}

bool
cl_node_ready(const struct cluster *c, const char *node, const json_t *e)
{
	return cl_node_fresh(c, node) && cl_node_can_take(json_object_get(
	    c->load, node), e);
}

/* The node e should go back to, or NULL: not due (see the top). */
static const char *
due(const struct cluster *c, const json_t *rec, const json_t *e,
    const char *me)
{
	const json_t *ha = json_object_get(e, "ha");
	const char *f = json_string_value(json_object_get(ha, "failback"));
	const char *back = json_string_value(json_object_get(e, "move_to"));
	size_t i;
	json_t *p;

	if (back)	/* drained off back, which resumed --failback */
		return streq(json_string_value(json_object_get(e, "owner")),
		    me) && streq(json_string_value(json_object_get(e,
		    "state")), "running") && cl_node_live(c, rec, back) &&
		    cl_node_ready(c, back, e) ? back : NULL;
	if (!ha || !f || streq(f, "never") || !json_object_get(e, "placed") ||
	    !streq(json_string_value(json_object_get(e, "owner")), me) ||
	    !streq(json_string_value(json_object_get(e, "state")), "running"))
		return NULL;
	json_array_foreach(json_object_get(ha, "preferred"), i, p) {
		const char *n = json_string_value(p);

		if (streq(n, me))
			return NULL;	/* this node comes first */
		if (cl_node_live(c, rec, n) && cl_node_ready(c, n, e))
			return n;
	}
	return NULL;
}

static void
try_move(struct cluster *c, const char *uuid, const json_t *e,
    const char *to, json_t *st)
{
	struct host *h = c->h;
	struct vm *vm = vm_find(h, uuid);
	const char *f = json_string_value(json_object_get(json_object_get(e,
	    "ha"), "failback"));
	uint64_t since = json_integer_value(json_object_get(st, "since"));
	uint64_t tried = json_integer_value(json_object_get(st, "tried"));
	struct err err = { 0 };
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	if (json_object_get(e, "move_to"))
		f = "immediate";	/* the operator's resume --failback */
	if (now_ms() - since < FB_SETTLE_MS || (tried && now_ms() - tried <
	    FB_RETRY_MS) || !cl_failback_in_window(f, tm.tm_hour) || !vm ||
	    vm->state != VM_RUNNING || vm_job(vm) || !h->move_vm)
		return;
	json_object_set_new(st, "tried", json_integer((json_int_t)now_ms()));
	if (h->move_vm(h, vm, to, &err) < 0)
		host_event(h, "warning", vm, 0, "cluster: failback of vm '%s' "
		    "to its preferred node %s not started: %s; tried again "
		    "in %d min", vm->row->name, to, err.msg,
		    FB_RETRY_MS / 60000);
	else
		host_event(h, "info", vm, 0, "cluster: failback: vm '%s' "
		    "moves back to its preferred node %s (failback %s)",
		    vm->row->name, to, f);
}

void
cl_failback_tick(struct cluster *c, const json_t *rec, const char *me)
{
	const char *uuid;
	json_t *e, *st;
	void *tmp;

	if (!c->failback)
		c->failback = json_object();
	/* forget what is no longer due */
	json_object_foreach_safe(c->failback, tmp, uuid, st)
		if (!due(c, rec, json_object_get(c->vms, uuid), me))
			json_object_del(c->failback, uuid);
	json_object_foreach(c->vms, uuid, e) {
		const char *to = due(c, rec, e, me);

		if (!to)
			continue;
		if (!(st = json_object_get(c->failback, uuid))) {
			json_object_set_new(c->failback, uuid, json_pack(
			    "{sI}", "since", (json_int_t)now_ms()));
			continue;
		}
		try_move(c, uuid, e, to, st);
	}
}
