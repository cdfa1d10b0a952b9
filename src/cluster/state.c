/* state.c - the cluster's state, replicated over CPG the way Proxmox's
 * pmxcfs does: every change is a message multicast in Corosync's agreed
 * (total) order to the group every node's ternd joined; each node applies
 * the messages in that order to its own copy, which it keeps in its
 * SQLite store (meta key "cluster-state").  Same messages, same order,
 * same state everywhere.
 *
 * The state is the cluster's VMs, by UUID (vms.c publishes them, ha.c
 * acts on them):
 *   {"gen": N, "vms": {UUID: {"uuid", "name", "owner": NODE | null,
 *     "state", "memory_mib" (its size now: a dynamic VM's current
 *     size), "record" (what another node needs to run
 *     it), "ha": {...} (absent: not highly available), "restart": bool}}}
 * gen counts the changes applied; a quorate partition is the only one
 * that changes anything, so after a partition the side with the higher
 * gen holds the truth.
 *
 * Messages ("t"): vm (a node says it has VM uuid, with its facts), gone
 * (a node no longer has it), ha (settings on or off), place (move the
 * ownership of a dead node's VM to another, which restarts it), load (a
 * node's free memory, not kept), moved (a live move committed),
 * ha-failed, settings (the cluster's settings), balance (VMs to move
 * for balance: balance.c), node (a node drained,
 * resumed, isolated or quarantined: drain.c; kept in the settings'
 * "nodes"), sync (a member's whole state).
 *
 * Joining: when the group gains a member, every member multicasts its
 * state (sync) and queues what else it is delivered; once it has every
 * member's sync it takes the one with the highest gen (ties: the lowest
 * node id), then applies the queue.  All members see the same syncs and
 * queue in the same order, so they all land on the same state.
 *
 *   synced --confchg with joiners--> syncing (send own sync)
 *   syncing --a sync from every member--> adopt best, apply queue --> synced
 *   syncing --another confchg--> drop syncs and queue, send own sync again
 *   any --Corosync lost--> unsynced (sends nothing) --reconnect--> syncing
 *
 * A change is only sent while this node is synced and quorate; a change
 * that is lost to a confchg during syncing is sent again by vms.c's tick
 * (its facts are re-read, not remembered). */
#include <corosync/cpg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "state_rules.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "store.h"
#include "util.h"

#define CL_STATE_KEY "cluster-state"

static void
state_persist(struct cluster *c)
{
	json_t *o = json_pack("{sIsOsO}", "gen", (json_int_t)c->gen, "vms",
	    c->vms, "settings", c->settings);
	_cleanup_free_ char *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	if (!text || store_meta_set(c->h->store, CL_STATE_KEY, text) < 0)
		log_warn("cluster: cannot keep the cluster state in the store");
}

void
cl_state_load(struct cluster *c)
{
	_cleanup_free_ char *text = NULL;
	json_t *o = NULL;

	c->vms = json_object();
	c->settings = json_object();
	c->gen = 0;
	if (store_meta_get(c->h->store, CL_STATE_KEY, &text) < 0 || !text ||
	    !(o = json_loads(text, 0, NULL)))
		return;
	if (json_is_object(json_object_get(o, "vms"))) {
		json_object_update(c->vms, json_object_get(o, "vms"));
		c->gen = json_integer_value(json_object_get(o, "gen"));
	}
	if (json_is_object(json_object_get(o, "settings")))
		json_object_update(c->settings, json_object_get(o, "settings"));
	json_decref(o);
}

void
cl_state_drop(struct cluster *c)
{
	json_object_clear(c->vms);
	json_object_clear(c->failback);
	json_object_clear(c->settings);
	c->gen = 0;
	store_meta_delete(c->h->store, CL_STATE_KEY);
}

int
cl_state_send(struct cluster *c, json_t *msg)
{
	_cleanup_free_ char *text = msg ? json_dumps(msg, JSON_COMPACT) :
	    NULL;
	struct iovec iov;
	cs_error_t r;

	json_decref(msg);
	if (!c->connected || !text)
		return -ENOTCONN;
	iov.iov_base = text;
	iov.iov_len = strlen(text);
	r = cpg_mcast_joined(c->cpgh, CPG_TYPE_AGREED, &iov, 1);
	if (r != CS_OK) {
		static uint64_t last;

		if (now_ms() - last > 10000) {
			last = now_ms();
			log_warn("cluster: CPG refused a state message (%d); it "
			    "is sent again", r);
		}
		return r == CS_ERR_TRY_AGAIN ? -EAGAIN : -EIO;
	}
	return 0;
}

bool
cl_state_ready(const struct cluster *c)
{
	return c->connected && c->quorate && c->synced;
}

static void
apply_change(struct cluster *c, const char *t, const json_t *m)
{
	json_int_t was = json_integer_value(json_object_get(c->settings,
	    "balance_threshold_pct"));
	bool changed = streq(t, "settings") ? cl_settings_apply(c->settings,
	    m) : streq(t, "node") ? cl_node_apply(c->settings, c->vms, m) :
	    streq(t, "balance") ? cl_balance_apply(c->vms, m) :
	    cl_state_apply(c->vms, t, m);

	/* balancing turned off: its queued moves dropped too */
	if (streq(t, "settings") && cl_balance_off(was, c->settings, c->vms))
		changed = true;

	if (!changed)
		return;		/* a stale or unknown change: nothing */
	c->gen++;
	state_persist(c);
	cl_vms_applied(c);
}

static void
apply_load(struct cluster *c, const json_t *m)
{
	const char *node = json_string_value(json_object_get(m, "node"));

	if (!node)
		return;
	json_object_set_new(c->load, node, json_pack("{sO?sO?sO?sO?sO?sI}",
	    "avail_mib", json_object_get(m, "avail_mib"), "total_mib",
	    json_object_get(m, "total_mib"), "cpus", json_object_get(m,
	    "cpus"), "pools", json_object_get(m, "pools"), "leases",
	    json_object_get(m, "leases"), "at_ms", (json_int_t)now_ms()));
}

static void send_sync(struct cluster *c);

static void
sync_retry(struct loop *l, void *data)
{
	struct cluster *c = data;

	(void)l;
	c->sync_retry = NULL;
	if (c->connected && !c->synced)
		send_sync(c);
}

/* The sync every member sends on a confchg with joiners.  CPG refuses
 * to send (TRY_AGAIN) while the membership settles: sent again shortly
 * (a member's second copy of its sync is harmless). */
static void
send_sync(struct cluster *c)
{
	json_t *ids = json_array();

	for (size_t i = 0; i < c->n_group; i++)
		json_array_append_new(ids, json_integer(c->group[i]));
	if (cl_state_send(c, json_pack("{sssosIsOsO}", "t", "sync", "members",
	    ids, "gen", (json_int_t)c->gen, "vms", c->vms, "settings",
	    c->settings)) < 0 &&
	    !c->sync_retry)
		c->sync_retry = loop_timer_add(c->h->loop, CL_SYNC_RETRY_MS,
		    sync_retry, c);
}

static bool
same_members(const struct cluster *c, const json_t *ids)
{
	size_t i;
	json_t *v;

	if (json_array_size(ids) != c->n_group)
		return false;
	json_array_foreach(ids, i, v)
		if ((uint32_t)json_integer_value(v) != c->group[i])
			return false;
	return true;
}

/* Every member's sync is in: take the best, then what was queued. */
static void
sync_finish(struct cluster *c)
{
	const char *best = cl_sync_best(c->syncs);
	json_t *s = json_object_get(c->syncs, best), *q = c->queue;
	size_t i;

	json_object_clear(c->vms);
	if (json_is_object(json_object_get(s, "vms")))
		json_object_update(c->vms, json_object_get(s, "vms"));
	json_object_clear(c->settings);
	if (json_is_object(json_object_get(s, "settings")))
		json_object_update(c->settings, json_object_get(s,
		    "settings"));
	c->gen = json_integer_value(json_object_get(s, "gen"));
	state_persist(c);
	c->synced = true;
	c->queue = json_array();
	json_object_clear(c->syncs);
	log_info("cluster: state in step with the group (gen %lld, %zu VMs)",
	    (long long)c->gen, json_object_size(c->vms));
	json_array_foreach(q, i, s)
		apply_change(c, json_string_value(json_object_get(s, "t")), s);
	json_decref(q);
	cl_vms_applied(c);
}

static void
on_sync(struct cluster *c, uint32_t nodeid, const json_t *m)
{
	char key[16];

	if (c->synced || !same_members(c, json_object_get(m, "members")))
		return;		/* an old round's, or this node is in step */
	snprintf(key, sizeof(key), "%u", nodeid);
	json_object_set(c->syncs, key, (json_t *)m);
	if (json_object_size(c->syncs) == c->n_group)
		sync_finish(c);
}

void
cl_state_deliver(struct cluster *c, uint32_t nodeid, const void *msg,
    size_t len)
{
	json_t *m = json_loadb(msg, len, 0, NULL);
	const char *t = json_string_value(json_object_get(m, "t"));

	if (!t)
		log_warn("cluster: a malformed state message from node %u",
		    nodeid);
	else if (streq(t, "sync"))
		on_sync(c, nodeid, m);
	else if (streq(t, "load"))
		apply_load(c, m);
	else if (!c->synced)
		json_array_append(c->queue, m);
	else
		apply_change(c, t, m);
	json_decref(m);
}

/* The group changed (members.c has the new list in c->group). */
void
cl_state_confchg(struct cluster *c, size_t n_joined)
{
	if (n_joined == 0 && c->synced)
		return;		/* someone left: nothing to catch up on */
	c->synced = false;
	json_object_clear(c->syncs);
	json_array_clear(c->queue);
	log_debug("cluster: syncing the state with %zu members", c->n_group);
	send_sync(c);
}

void
cl_state_init(struct cluster *c)
{
	c->syncs = json_object();
	c->queue = json_array();
	c->load = json_object();
	cl_state_load(c);
}

void
cl_state_disconnected(struct cluster *c)
{
	c->synced = false;
	json_object_clear(c->syncs);
	json_array_clear(c->queue);
	json_object_clear(c->load);
	c->sync_retry = loop_timer_cancel(c->h->loop, c->sync_retry);
}
