/* drain.c - pausing a node (Hyper-V's Suspend-ClusterNode -Drain):
 * `tern cluster node drain N` live-moves every running VM off N, then N
 * stays paused, takes no VMs (no HA placement, failback or move lands
 * on it) until `tern cluster node resume N [--failback]`.  Quarantine
 * (seed 002) is the same pause, begun by the cluster: a node isolated
 * quarantine_threshold times (3) within an hour is drained and kept out
 * for quarantine_duration_s (2 h), or until `clear-quarantine`.
 *
 * The pause is the cluster's state (a "node" message, state_rules.c),
 * so every node agrees on it and it outlives restarts.  A node, in the
 * state:
 *
 *   up --drain (operator) | isolated the threshold-th time in an hour
 *       (the coordinator counts)--> paused, drain due
 *   drain due --on the node itself, quorate and in step: a cluster.drain
 *       job--> moves planned (HA VMs by priority, then the others; each
 *       to the live, unpaused, in-step node with the most free memory,
 *       that can take its lease) and started (vm.move jobs, within
 *       max-migrations)
 *   moves all ended --> "drained" {ok} --> paused, drain done | failed
 *   paused --resume [--failback] (not while quarantined)--> up; with
 *       failback each VM drained off it goes back (failback.c, move_to)
 *   quarantined --clear-quarantine--> paused (resume next)
 *   quarantined --its end passed (the coordinator)--> resumed
 *
 * The cluster.drain job (subject "cluster-drain"):
 *
 *   start --plan--> moving --every move moved, skipped or failed-->
 *   report --"drained" sent--> SUCCEEDED (all moved) | FAILED (naming
 *   the VMs that stayed)
 *   moving --the node resumed meanwhile--> moves not yet started skipped
 *
 * After a ternd restart the job steps again: moves still to start are
 * started; a vm.move recovers on its own, and one that went back leaves
 * its VM here, which counts as failed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "state_rules.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"

#define DRAIN_SUBJECT "cluster-drain"
#define DRAIN_POLL_MS 1000

enum { DR_START, DR_MOVING, DR_REPORT };
static const char *const dr_phases[] = { "start", "moving", "report" };

/* ---- the plan ---- */

static int
by_prio(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return cl_ha_prio(y) - cl_ha_prio(x);
}

/* The node with the most room for e (need MiB) but from, or NULL. */
static const char *
target(const struct cluster *c, const json_t *rec, const json_t *e,
    const char *from, const json_t *used)
{
	int64_t need = json_integer_value(json_object_get(e, "memory_mib"));
	const char *best = NULL;
	int64_t best_room = -1;
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		int64_t room = json_integer_value(json_object_get(
		    json_object_get(c->load, name), "avail_mib")) -
		    json_integer_value(json_object_get(used, name));

		if (streq(name, from) || !cl_node_live(c, rec, name) ||
		    !cl_node_ready(c, name, e) || room < need ||
		    room <= best_room)
			continue;
		best = name;
		best_room = room;
	}
	return best;
}

/* The room left on every other node, for a refusal. */
static void
rooms(const struct cluster *c, const json_t *rec, const char *from,
    const json_t *used, char *buf, size_t len)
{
	size_t i, at = 0;
	json_t *n;

	buf[0] = '\0';
	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		int w;

		if (streq(name, from))
			continue;
		if (!cl_node_live(c, rec, name))
			w = snprintf(buf + at, len - at, "%s%s takes no VMs "
			    "(not up, or paused)", at ? ", " : "", name);
		else
			w = snprintf(buf + at, len - at, "%s%s %lld MiB free",
			    at ? ", " : "", name, (long long)(
			    json_integer_value(json_object_get(json_object_get(
			    c->load, name), "avail_mib")) - json_integer_value(
			    json_object_get(used, name))));
		if (w < 0 || (size_t)w >= len - at)
			break;
		at += (size_t)w;
	}
}

int
cl_drain_plan(struct cluster *c, const json_t *rec, const char *node,
    json_t **ret, struct err *err)
{
	json_t *used = json_object(), *plan = json_array(), *e;
	size_t n = 0;
	const char *uuid;
	json_t **list = xzalloc((json_object_size(c->vms) + 1) * sizeof(*list));
	char room[400];
	int r = 0;

	json_object_foreach(c->vms, uuid, e)
		if (streq(json_string_value(json_object_get(e, "owner")),
		    node) && streq(json_string_value(json_object_get(e,
		    "state")), "running"))
			list[n++] = e;
	qsort(list, n, sizeof(*list), by_prio);
	for (size_t i = 0; i < n && r == 0; i++) {
		int64_t mib = json_integer_value(json_object_get(list[i],
		    "memory_mib"));
		const char *to = target(c, rec, list[i], node, used);

		if (!to) {
			rooms(c, rec, node, used, room, sizeof(room));
			r = err_set(err, -ENOSPC, "cannot drain %s: no other "
			    "node can take vm '%s' (%lld MiB%s) after the %zu "
			    "planned before it (%s); nothing moved", node,
			    json_string_value(json_object_get(list[i], "name")),
			    (long long)mib, json_object_get(list[i], "ha") ?
			    ", HA: the node must have joined its pool's "
			    "lockspace" : "", i, room);
			break;
		}
		json_object_set_new(used, to, json_integer(json_integer_value(
		    json_object_get(used, to)) + mib));
		json_array_append_new(plan, json_pack("{sOsOsssI}", "uuid",
		    json_object_get(list[i], "uuid"), "name", json_object_get(
		    list[i], "name"), "to", to, "memory_mib", (json_int_t)mib));
	}
	free(list);
	json_decref(used);
	if (r < 0)
		json_decref(plan);
	else
		*ret = plan;
	return r;
}

/* ---- the job, on the node being drained ---- */

static bool
move_end(json_t *m, const char *state, const char *why)
{
	json_object_set_new(m, "state", json_string(state));
	json_object_set_new(m, "why", json_string(why));
	return true;
}

/* Start or follow move m (details entry); true once it ended. */
static bool
move_step(struct host *h, json_t *m, bool resumed)
{
	const char *st = json_string_value(json_object_get(m, "state"));
	struct vm *vm = vm_find(h, json_string_value(json_object_get(m,
	    "uuid")));
	struct err err = { 0 };

	if (!streq(st, "pending") && !streq(st, "moving"))
		return true;
	if (!vm) {
		json_object_set_new(m, "state", json_string("moved"));
		return true;
	}
	if (vm_job(vm))
		return false;	/* its move, or another job, runs */
	if (streq(st, "moving"))
		return move_end(m, "failed", "its move did not commit; it runs "
		    "here (see 'tern job list')");
	if (resumed)
		return move_end(m, "skipped", "the node was resumed first");
	if (vm->state != VM_RUNNING)
		return move_end(m, "skipped", "it is not running any more");
	if (h->move_vm(h, vm, json_string_value(json_object_get(m, "to")),
	    &err) < 0)
		return move_end(m, "failed", err.msg);
	json_object_set_new(m, "state", json_string("moving"));
	return false;
}

static void
dr_start(struct job *job, struct cluster *c, const json_t *rec,
    const char *me)
{
	json_t *plan = NULL;
	struct err err = { 0 };
	size_t i;
	json_t *m;

	if (cl_drain_plan(c, rec, me, &plan, &err) < 0) {
		json_object_set_new(job->details, "why", json_string(err.msg));
		job_set_phase(job, DR_REPORT);
		job_poke(job);
		return;
	}
	json_array_foreach(plan, i, m)
		json_object_set_new(m, "state", json_string("pending"));
	json_object_set_new(job->details, "moves", plan);
	host_event(c->h, "info", NULL, 0, "cluster: draining node %s (%s): "
	    "%zu VM(s) move away", me, streq(cl_node_paused(c->settings, me),
	    "quarantine") ? "quarantined: isolated too often" : "paused by "
	    "an operator", json_array_size(plan));
	job_set_phase(job, DR_MOVING);
	job_poke(job);
}

static void
dr_moving(struct job *job, struct cluster *c, const char *me)
{
	json_t *moves = json_object_get(job->details, "moves"), *m;
	bool resumed = !cl_node_paused(c->settings, me);
	size_t i, done = 0;

	json_array_foreach(moves, i, m)
		done += move_step(c->h, m, resumed);
	job_set_progress(job, done, json_array_size(moves), "VMs");
	job_save(job);
	if (done < json_array_size(moves)) {
		job_wake_after(job, DRAIN_POLL_MS);
		return;
	}
	job_set_phase(job, DR_REPORT);
	job_poke(job);
}

static void
dr_report(struct job *job, struct cluster *c, const char *me)
{
	json_t *moves = json_object_get(job->details, "moves"), *m;
	const char *why = json_string_value(json_object_get(job->details,
	    "why"));
	size_t i, failed = 0;
	char buf[400] = "";

	json_array_foreach(moves, i, m)
		if (streq(json_string_value(json_object_get(m, "state")),
		    "failed")) {
			size_t at = strlen(buf);

			snprintf(buf + at, sizeof(buf) - at, "%s'%s': %s",
			    failed++ ? "; " : "", json_string_value(
			    json_object_get(m, "name")), json_string_value(
			    json_object_get(m, "why")));
		}
	if (!why && failed)
		why = buf;
	if (cl_state_send(c, json_pack("{sssssssbss?}", "t", "node", "op",
	    "drained", "name", me, "ok", !why, "why", why)) < 0) {
		job_wake_after(job, DRAIN_POLL_MS);
		return;
	}
	if (why)
		job_finish(job, -EIO, "node %s not drained: %s; it stays "
		    "paused (resume it, or drain again after fixing this)",
		    me, why);
	else
		job_finish(job, 0, "node %s drained: %zu VM(s) moved away; it "
		    "takes no VMs until 'tern cluster node resume %s'", me,
		    json_array_size(moves), me);
}

static void
dr_step(struct job *job)
{
	struct host *h = host_of(job);
	struct cluster *c = h->cluster;
	json_t *rec = c && cl_state_ready(c) ? cluster_record(h) : NULL;
	char me[64];

	if (!rec || !cl_self_name(h, rec, me, sizeof(me))) {
		json_decref(rec);
		job_wake_after(job, DRAIN_POLL_MS);	/* in step again first */
		return;
	}
	if (job_phase_is(job, DR_START))
		dr_start(job, c, rec, me);
	else if (job_phase_is(job, DR_MOVING))
		dr_moving(job, c, me);
	else
		dr_report(job, c, me);
	json_decref(rec);
}

const struct job_ops job_cluster_drain = {
	.type = "cluster.drain",
	.phases = dr_phases,
	.n_phases = ARRAY_SIZE(dr_phases),
	.step = dr_step,
};

/* ---- each tick ---- */

/* The coordinator ends quarantines whose time is up. */
static void
quarantine_expiry(struct cluster *c)
{
	json_t *nodes = json_object_get(c->settings, "nodes"), *n;
	const char *name;

	json_object_foreach(nodes, name, n) {
		json_t *q = json_object_get(n, "quarantined_until_ms");

		if (!json_is_integer(q) || (uint64_t)json_integer_value(q) >
		    wall_ms())
			continue;
		if (cl_state_send(c, json_pack("{sssssssI}", "t", "node", "op",
		    "resume", "name", name, "at_ms", (json_int_t)wall_ms())) ==
		    0)
			host_event(c->h, "info", NULL, 0, "cluster: the "
			    "quarantine of node %s ended: it takes VMs again",
			    name);
	}
}

void
cl_drain_tick(struct cluster *c, const json_t *rec, const char *me)
{
	struct job_subject s = { .id = DRAIN_SUBJECT, .what = "the drain of "
		"this node", .claim = JOB_CLAIM_EXCLUSIVE };
	struct err err = { 0 };
	struct job *job;

	(void)rec;
	if (cl_coordinator(c))
		quarantine_expiry(c);
	if (!streq(cl_node_drain(c->settings, me), "due") ||
	    job_find_by_subject(&c->h->jobs, DRAIN_SUBJECT, false))
		return;
	if (job_create(&c->h->jobs, &job_cluster_drain, &s, json_pack("{ss}",
	    "node", me), &job, &err) < 0) {
		log_warn("cluster: cannot start the drain of this node: %s",
		    err.msg);
		return;
	}
	job_start(job);
}

/* ---- the API ---- */

/* rec's node name, this node ready to change the state. */
static int
node_check(struct host *h, const char *name, json_t **rec, struct err *err)
{
	if (!(*rec = cluster_record(h)))
		return err_set(err, -EINVAL, "this host is in no cluster (see "
		    "'tern cluster create')");
	if (!cl_record_nodeid(*rec, name))
		return err_set(err, -ENOENT, "'%.64s' is no node of cluster "
		    "'%s' (see 'tern cluster show')", name, json_string_value(
		    json_object_get(*rec, "name")));
	if (!cl_state_ready(h->cluster))
		return err_set(err, -EAGAIN, "this node is not in a quorate "
		    "partition in step with the cluster; only such a node "
		    "changes the cluster (see 'tern cluster show')");
	return 0;
}

static int
node_send(struct cluster *c, json_t *m, struct err *err)
{
	int r = cl_state_send(c, m);

	return r < 0 ? err_set(err, r, "cannot reach the cluster's group "
	    "(Corosync); try again") : 0;
}

/* Every other live node's free memory known and fresh (a ternd that
 * just started has heard nobody's yet): else -EAGAIN, not a plan that
 * finds no room. */
static int
loads_known(const struct cluster *c, const json_t *rec, const char *name,
    struct err *err)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *o = json_string_value(json_object_get(n, "name"));

		if (!streq(o, name) && cl_node_live(c, rec, o) &&
		    !cl_node_fresh(c, o))
			return err_set(err, -EAGAIN, "node %s has not told its "
			    "free memory lately (a ternd just started hears "
			    "every node within seconds); try again", o);
	}
	return 0;
}

int
cluster_node_drain(struct host *h, const char *name, json_t **ret,
    struct err *err)
{
	_cleanup_json_ json_t *rec = NULL;
	struct cluster *c = h->cluster;
	json_t *plan = NULL;
	int r;

	if ((r = node_check(h, name, &rec, err)) < 0)
		return r;
	if (cl_node_paused(c->settings, name))
		return err_set(err, -EBUSY, "node %s is paused already (%s, "
		    "drain %s); 'tern cluster node resume %s' ends it", name,
		    cl_node_paused(c->settings, name), cl_node_drain(
		    c->settings, name), name);
	if (cl_node_state(c, rec, name, NULL, NULL) != CL_NODE_UP)
		return err_set(err, -EAGAIN, "node %s is not up (it left the "
		    "membership): it cannot move its VMs away; they fail over "
		    "if it does not come back", name);
	if ((r = loads_known(c, rec, name, err)) < 0 ||
	    (r = cl_drain_plan(c, rec, name, &plan, err)) < 0)
		return r;
	if ((r = node_send(c, json_pack("{ssssss}", "t", "node", "op",
	    "drain", "name", name), err)) < 0) {
		json_decref(plan);
		return r;
	}
	host_event(h, "info", NULL, 0, "cluster: node %s paused: %zu VM(s) "
	    "move away from it", name, json_array_size(plan));
	*ret = json_pack("{ssso}", "node", name, "moves", plan);
	return 0;
}

int
cluster_drain_self(struct host *h, struct err *err)
{
	_cleanup_json_ json_t *rec = cluster_record(h), *plan = NULL;
	char me[64];
	int r;

	if (!rec || !h->cluster || !cl_self_name(h, rec, me, sizeof(me)))
		return err_set(err, -EINVAL, "this host is in no cluster");
	if ((r = cluster_node_drain(h, me, &plan, err)) < 0)
		return r;
	h->cluster->self_drain = true;
	return 0;
}

bool
cluster_self_draining(struct host *h)
{
	struct cluster *c = h->cluster;
	json_t *rec;
	char me[64];
	const char *d = NULL;

	if (!c || !c->self_drain || !(rec = cluster_record(h)))
		return false;
	if (cl_self_name(h, rec, me, sizeof(me)))
		d = cl_node_drain(c->settings, me);
	json_decref(rec);
	/* not yet applied (in flight), or due: wait */
	return !d || streq(d, "due");
}

int
cluster_node_resume(struct host *h, const char *name, bool failback,
    struct err *err)
{
	_cleanup_json_ json_t *rec = NULL;
	struct cluster *c = h->cluster;
	json_t *q;
	char when[40];
	int r;

	if ((r = node_check(h, name, &rec, err)) < 0)
		return r;
	q = json_object_get(json_object_get(json_object_get(c->settings,
	    "nodes"), name), "quarantined_until_ms");
	if (json_is_integer(q) && (uint64_t)json_integer_value(q) > wall_ms())
		return err_set(err, -EBUSY, "node %s is quarantined until %s "
		    "(isolated too often within an hour); end it first with "
		    "'tern cluster node clear-quarantine %s'", name,
		    wall_ms_format((uint64_t)json_integer_value(q), when,
		    sizeof(when)), name);
	if (!cl_node_paused(c->settings, name))
		return err_set(err, -EINVAL, "node %s is not paused; nothing "
		    "to resume", name);
	if ((r = node_send(c, json_pack("{sssssssIsb}", "t", "node", "op",
	    "resume", "name", name, "at_ms", (json_int_t)wall_ms(),
	    "failback", failback), err)) < 0)
		return r;
	host_event(h, "info", NULL, 0, "cluster: node %s resumed: it takes "
	    "VMs again%s", name, failback ? "; the VMs drained off it move "
	    "back" : "");
	return 0;
}

int
cluster_node_clear_quarantine(struct host *h, const char *name,
    struct err *err)
{
	_cleanup_json_ json_t *rec = NULL;
	struct cluster *c = h->cluster;
	int r;

	if ((r = node_check(h, name, &rec, err)) < 0)
		return r;
	if (!json_object_get(json_object_get(json_object_get(c->settings,
	    "nodes"), name), "quarantined_until_ms"))
		return err_set(err, -EINVAL, "node %s is not quarantined",
		    name);
	if ((r = node_send(c, json_pack("{ssssss}", "t", "node", "op",
	    "clear-quarantine", "name", name), err)) < 0)
		return r;
	host_event(h, "info", NULL, 0, "cluster: the quarantine of node %s "
	    "cleared by an operator; it stays paused until resumed", name);
	return 0;
}

bool
cl_self_paused(struct host *h, char *why, size_t len)
{
	json_t *rec = h->cluster ? cluster_record(h) : NULL;
	char me[64];
	const char *p = rec && cl_self_name(h, rec, me, sizeof(me)) ?
	    cl_node_paused(h->cluster->settings, me) : NULL;

	if (p)
		snprintf(why, len, "host %s is %s in cluster '%s': it takes no "
		    "VMs until 'tern cluster node resume %s'%s", me,
		    streq(p, "quarantine") ? "quarantined" : "paused (drained)",
		    json_string_value(json_object_get(rec, "name")), me,
		    streq(p, "quarantine") ? " (after clear-quarantine)" : "");
	json_decref(rec);
	return p != NULL;
}

/* What cluster show adds to node name's entry n. */
void
cl_node_show(const struct cluster *c, const char *name, json_t *n)
{
	json_t *e = json_object_get(json_object_get(c->settings, "nodes"),
	    name), *q = json_object_get(e, "quarantined_until_ms");
	const char *paused = cl_node_paused(c->settings, name);

	if (!paused)
		return;
	if (streq(json_string_value(json_object_get(n, "state")), "up"))
		json_object_set_new(n, "state", json_string(json_is_integer(q) ?
		    "quarantined" : "paused"));
	json_object_set(n, "drain", json_object_get(e, "drain"));
	if (json_object_get(e, "why"))
		json_object_set(n, "drain_why", json_object_get(e, "why"));
	if (json_is_integer(q))
		json_object_set(n, "quarantined_until_ms", q);
}
