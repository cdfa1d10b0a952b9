/* maintain.c - rolling maintenance (Cluster-Aware Updating in spirit):
 * `tern cluster maintain --run NAME` takes the cluster's nodes one at a
 * time: drain, run NAME on the node, wait for it to be healthy, resume
 * it with failback, then the next; the first failure stops the round
 * and is reported.  No VM is down at any time: a node's VMs have moved
 * live before its command runs, and the command runs only on a paused
 * node.
 *
 * NAME is the host's own command: an executable file in that node's
 * maintenance directory (`--maintenance-dir`, /etc/tern/maintenance.d),
 * put there by its administrator; nothing else runs.  It runs as the
 * job cluster.run on the node (POST /v1/cluster/maintenance/run), its
 * output in STATE_DIR/maintenance.log, TERN_NODE in its environment.
 *
 * The cluster.maintain job, on the node it was started on (that node
 * last), per node:
 *
 *   drain --"node drain"--> drain_wait --drain done--> run
 *   drain_wait --drain failed--> resume the node (failback): FAILED
 *   run --cluster.run started there--> run_wait (its job polled)
 *   run --refused (no such command there)--> resume the node: FAILED
 *   run_wait --succeeded, or the node gone (a reboot)--> health
 *   run_wait --failed--> FAILED, the node left paused (look at it)
 *   health --the node live and in step for MT_SETTLE_MS--> resume
 *       --failback--> back_wait --no VM left to go back--> next node
 *   health, back_wait --MT_HEALTH_MS / MT_BACK_MS passed--> FAILED
 *   last node done --> SUCCEEDED
 *
 * After a ternd restart each phase steps again: the drain and resume
 * messages only apply once; a cluster.run found unfinished after a
 * restart of its ternd succeeds (the command restarted the host, as an
 * update may), and the health check decides. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl_int.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "state_rules.h"
#include "store.h"
#include "child.h"
#include "util.h"
#include "vm_job.h"

#define MT_SUBJECT "cluster-maintain"
#define RUN_SUBJECT "cluster-run"
#define MT_POLL_MS 2000
#define MT_SETTLE_MS 5000	/* healthy this long before the resume */
#define MT_HEALTH_MS (30 * 60 * 1000)	/* to come back after its command */
#define MT_BACK_MS (10 * 60 * 1000)	/* its VMs to move back */
#define MT_DRAIN_RETRY_MS 30000	/* a drain not plannable yet (loads) */

/* ---- cluster.run: the command, on this node ---- */

static void
run_exit(struct child *ch, int status, void *data)
{
	struct job *job = data;

	(void)ch;
	job->child = child_free(job->child);
	if (status == 0)
		job_finish(job, 0, "maintenance command '%s' succeeded",
		    json_string_value(json_object_get(job->details, "name")));
	else
		job_finish(job, -EIO, "maintenance command '%s' failed (status "
		    "%d); see maintenance.log in the state directory",
		    json_string_value(json_object_get(job->details, "name")),
		    status);
}

static void
run_step(struct job *job)
{
	struct host *h = host_of(job);
	const char *path = json_string_value(json_object_get(job->details,
	    "path"));
	const char *argv[] = { path, NULL };
	_cleanup_free_ char *log = xasprintf("%s/maintenance.log",
	    h->cfg.state_dir);
	int r;

	if (job->recovering) {	/* the command restarted the host? */
		job_finish(job, 0, "ternd restarted while maintenance command "
		    "'%s' ran: taken as the command's restart",
		    json_string_value(json_object_get(job->details, "name")));
		return;
	}
	if (job->child)
		return;
	setenv("TERN_NODE", h->cfg.name, 1);
	if ((r = job_spawn(job, argv, log, run_exit)) < 0)
		job_finish(job, r, "cannot run '%s': %s", path, strerror(-r));
}

static const char *const run_phases[] = { "start" };

const struct job_ops job_cluster_run = {
	.type = "cluster.run", .phases = run_phases, .n_phases = 1,
	.step = run_step,
};

int
cluster_run_start(struct host *h, const char *name, struct job **ret_job,
    struct err *err)
{
	struct job_subject s = { .id = RUN_SUBJECT, .what = "the maintenance "
		"command", .claim = JOB_CLAIM_EXCLUSIVE };
	_cleanup_free_ char *path = NULL;
	char why[240];
	struct stat st;
	int r;

	if (!name || !*name || strchr(name, '/') || name[0] == '.')
		return err_set(err, -EINVAL, "a maintenance command is the name "
		    "of a file in %s, not a path", h->cfg.maintenance_dir);
	path = xasprintf("%s/%s", h->cfg.maintenance_dir, name);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
	    access(path, X_OK) < 0)
		return err_set(err, -ENOENT, "host %s has no maintenance "
		    "command '%.64s' (an executable file in %s)", h->cfg.name,
		    name, h->cfg.maintenance_dir);
	if (!cl_self_paused(h, why, sizeof(why)))
		return err_set(err, -EBUSY, "host %s is not paused: a "
		    "maintenance command runs only on a drained node ('tern "
		    "cluster node drain %s')", h->cfg.name, h->cfg.name);
	if ((r = job_create(&h->jobs, &job_cluster_run, &s, json_pack(
	    "{ssss}", "name", name, "path", path), ret_job, err)) < 0)
		return r;
	job_start(*ret_job);
	return 0;
}

/* ---- cluster.maintain: the round ---- */

enum { MT_START, MT_DRAIN, MT_DRAIN_WAIT, MT_RUN, MT_RUN_WAIT, MT_HEALTH,
	MT_BACK_WAIT, MT__COUNT };
static const char *const mt_phases[] = { "start", "drain", "drain_wait",
	"run", "run_wait", "health", "back_wait" };

struct mt_priv {
	struct cl_fan fan;
};

static void
mt_free(struct job *job)
{
	struct mt_priv *p = job->priv;

	if (p)
		cl_fan_clear(&p->fan);
	free(p);
	job->priv = NULL;
}

static const char *
mt_node(const struct job *job)
{
	json_t *d = job->details;

	return json_string_value(json_array_get(json_object_get(d, "nodes"),
	    (size_t)json_integer_value(json_object_get(d, "at"))));
}

static bool
mt_self(struct job *job, const char *node)
{
	return streq(node, json_string_value(json_object_get(job->details,
	    "self")));
}

static void
mt_go(struct job *job, unsigned phase)
{
	json_object_set_new(job->details, "since_ms", json_integer(
	    (json_int_t)now_ms()));
	job_set_phase(job, phase);
	job_poke(job);
}

static uint64_t
mt_since(const struct job *job)
{
	return now_ms() - (uint64_t)json_integer_value(json_object_get(
	    job->details, "since_ms"));
}

/* The round ends: failed with why, or the next node. */
static void
mt_fail(struct job *job, const char *node, const char *why)
{
	json_object_set_new(job->details, "failed_node", json_string(node));
	job_finish(job, -EIO, "maintenance stopped at node %s: %s (%lld of "
	    "%zu nodes done)", node, why, (long long)json_integer_value(
	    json_object_get(job->details, "at")), json_array_size(
	    json_object_get(job->details, "nodes")));
}

static void
mt_next(struct job *job, struct host *h, const char *node)
{
	json_int_t at = json_integer_value(json_object_get(job->details,
	    "at")) + 1;

	host_event(h, "info", NULL, 0, "cluster: maintenance of node %s done "
	    "(its command ran, it is back with its VMs)", node);
	json_object_set_new(job->details, "at", json_integer(at));
	job_set_progress(job, (uint64_t)at, json_array_size(json_object_get(
	    job->details, "nodes")), "nodes");
	if ((size_t)at >= json_array_size(json_object_get(job->details,
	    "nodes"))) {
		job_finish(job, 0, "maintenance done on %lld nodes, no VM "
		    "down", (long long)at);
		return;
	}
	mt_go(job, MT_DRAIN);
}

static void
mt_drain(struct job *job, struct cluster *c, const char *node)
{
	struct err err = { 0 };
	json_t *plan = NULL;
	int r;

	if (job_phase_is(job, MT_DRAIN)) {
		r = cl_node_paused(c->settings, node) ? 0 :
		    cluster_node_drain(c->h, node, &plan, &err);
		if (r == -EAGAIN && mt_since(job) < MT_DRAIN_RETRY_MS) {
			job_wake_after(job, MT_POLL_MS);	/* loads due */
			return;
		}
		if (r < 0) {
			mt_fail(job, node, err.msg);
			return;
		}
		json_decref(plan);
		mt_go(job, MT_DRAIN_WAIT);
		return;
	}
	if (streq(cl_node_drain(c->settings, node), "done"))
		mt_go(job, MT_RUN);
	else if (streq(cl_node_drain(c->settings, node), "failed")) {
		(void)cluster_node_resume(c->h, node, true, &err);
		mt_fail(job, node, "its drain failed; it was resumed, its VMs "
		    "going back");
	} else
		job_wake_after(job, MT_POLL_MS);
}

/* The node's cluster.run job as it is now (local or through the fan):
 * its state, NULL while not known. */
static const char *
run_state(struct job *job, struct host *h, const char *node, bool *gone)
{
	struct mt_priv *p = job_priv(job, sizeof(*p), NULL);
	int64_t id = json_integer_value(json_object_get(job->details,
	    "run_job"));
	_cleanup_free_ char *path = xasprintf("/v1/jobs/%lld", (long long)id);
	static char st[16];
	json_t *j;

	*gone = false;
	if (mt_self(job, node)) {
		struct job *rj = job_find(&h->jobs, id);

		j = rj ? job_to_json(rj) : store_job_json(h->store, id);
		snprintf(st, sizeof(st), "%s", json_string_value(
		    json_object_get(j, "state")) ?: "gone");
		json_decref(j);
		*gone = streq(st, "gone");
		return st;
	}
	if (!p->fan.out && !p->fan.n) {
		json_t *names = json_pack("[s]", node);

		cl_fan_send(job, &p->fan, names, "GET", path, NULL);
		json_decref(names);
		return NULL;
	}
	if (!cl_fan_done(&p->fan))
		return NULL;
	*gone = p->fan.r[0].status == 0 || p->fan.r[0].status == 404;
	snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(
	    p->fan.r[0].body, "state")) ?: "");
	cl_fan_clear(&p->fan);
	return st;
}

/* The node's command could not start: nothing ran there, so the node
 * is resumed (its VMs going back) and the round stops. */
static void
mt_run_refused(struct job *job, struct cluster *c, const char *node,
    const char *why)
{
	struct err err = { 0 };
	char msg[400];

	(void)cluster_node_resume(c->h, node, true, &err);
	snprintf(msg, sizeof(msg), "%s; nothing ran there, it was resumed, "
	    "its VMs going back", why);
	mt_fail(job, node, msg);
}

static void
mt_run(struct job *job, struct cluster *c, const char *node)
{
	struct mt_priv *p = job_priv(job, sizeof(*p), NULL);
	const char *name = json_string_value(json_object_get(job->details,
	    "run"));
	struct err err = { 0 };
	struct job *rj;
	char buf[300];

	if (mt_self(job, node)) {
		if (cluster_run_start(c->h, name, &rj, &err) < 0) {
			mt_run_refused(job, c, node, err.msg);
			return;
		}
		json_object_set_new(job->details, "run_job", json_integer(
		    rj->row->id));
		mt_go(job, MT_RUN_WAIT);
		return;
	}
	if (!p->fan.out && !p->fan.n) {
		json_t *names = json_pack("[s]", node);

		cl_fan_send(job, &p->fan, names, "POST",
		    "/v1/cluster/maintenance/run", json_pack("{ss}", "name",
		    name));
		json_decref(names);
		return;
	}
	if (!cl_fan_done(&p->fan))
		return;
	if (cl_reply_error(&p->fan.r[0], buf, sizeof(buf))) {
		cl_fan_clear(&p->fan);
		mt_run_refused(job, c, node, buf);
		return;
	}
	json_object_set(job->details, "run_job", json_object_get(
	    json_object_get(p->fan.r[0].body, "job"), "id"));
	cl_fan_clear(&p->fan);
	mt_go(job, MT_RUN_WAIT);
}

static void
mt_run_wait(struct job *job, struct cluster *c, const char *node)
{
	bool gone = false;
	const char *st = run_state(job, c->h, node, &gone);

	if (!st)
		return;		/* a reply comes */
	if (streq(st, "succeeded") || gone) {
		mt_go(job, MT_HEALTH);	/* done, or it restarted the node */
		return;
	}
	if (streq(st, "failed") || streq(st, "cancelled")) {
		mt_fail(job, node, "its maintenance command failed (see "
		    "maintenance.log in its state directory); it stays paused");
		return;
	}
	job_wake_after(job, MT_POLL_MS);
}

static void
mt_health(struct job *job, struct cluster *c, const json_t *rec,
    const char *node)
{
	struct err err = { 0 };
	uint64_t ok = (uint64_t)json_integer_value(json_object_get(
	    job->details, "healthy_ms"));
	uint32_t id = cl_record_nodeid(rec, node);

	/* cl_node_live less the pause: the node is paused until resumed */
	if (!(id && cl_member_up(c, id) && cl_member_in_group(c, id) &&
	    cl_node_fresh(c, node))) {
		json_object_del(job->details, "healthy_ms");
		if (mt_since(job) > MT_HEALTH_MS)
			mt_fail(job, node, "it did not come back healthy (a "
			    "member, its ternd in step) within 30 minutes");
		else
			job_wake_after(job, MT_POLL_MS);
		return;
	}
	if (!ok) {
		json_object_set_new(job->details, "healthy_ms", json_integer(
		    (json_int_t)now_ms()));
		job_wake_after(job, MT_SETTLE_MS);
		return;
	}
	if (now_ms() - ok < MT_SETTLE_MS) {
		job_wake_after(job, MT_POLL_MS);
		return;
	}
	if (cl_node_paused(c->settings, node) && cluster_node_resume(c->h,
	    node, true, &err) < 0) {
		mt_fail(job, node, err.msg);
		return;
	}
	json_object_del(job->details, "healthy_ms");
	mt_go(job, MT_BACK_WAIT);
}

static void
mt_back_wait(struct job *job, struct cluster *c, const char *node)
{
	const char *uuid;
	json_t *e;
	size_t left = 0;

	json_object_foreach(c->vms, uuid, e)
		left += streq(json_string_value(json_object_get(e, "move_to")),
		    node);
	if (left == 0 && !cl_node_paused(c->settings, node)) {
		mt_next(job, c->h, node);
		return;
	}
	if (mt_since(job) > MT_BACK_MS)
		mt_fail(job, node, "its VMs did not all move back within 10 "
		    "minutes (they run on the other nodes)");
	else
		job_wake_after(job, MT_POLL_MS);
}

static void
mt_step(struct job *job)
{
	struct host *h = host_of(job);
	struct cluster *c = h->cluster;
	json_t *rec = c && cl_state_ready(c) ? cluster_record(h) : NULL;
	const char *node = mt_node(job);

	if (!rec) {
		job_wake_after(job, MT_POLL_MS);	/* in step again first */
		return;
	}
	if (job_phase_is(job, MT_START))
		mt_go(job, MT_DRAIN);
	else if (job_phase_is(job, MT_DRAIN) || job_phase_is(job,
	    MT_DRAIN_WAIT))
		mt_drain(job, c, node);
	else if (job_phase_is(job, MT_RUN))
		mt_run(job, c, node);
	else if (job_phase_is(job, MT_RUN_WAIT))
		mt_run_wait(job, c, node);
	else if (job_phase_is(job, MT_HEALTH))
		mt_health(job, c, rec, node);
	else
		mt_back_wait(job, c, node);
	json_decref(rec);
}

const struct job_ops job_cluster_maintain = {
	.type = "cluster.maintain", .phases = mt_phases,
	.n_phases = MT__COUNT, .step = mt_step, .priv_free = mt_free,
};

/* Every node live, in step, not paused: else why not, in err. */
static int
mt_check(struct cluster *c, const json_t *rec, struct err *err)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(rec, "nodes"), i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		uint32_t id = cl_record_nodeid(rec, name);

		if (!cl_member_up(c, id) || !cl_member_in_group(c, id))
			return err_set(err, -EAGAIN, "node %s is not up (or "
			    "its ternd not in the group): maintenance needs "
			    "every node, so that each one's VMs have "
			    "somewhere to go", name);
		if (cl_node_paused(c->settings, name))
			return err_set(err, -EBUSY, "node %s is paused (%s); "
			    "resume it first", name, cl_node_paused(
			    c->settings, name));
	}
	return 0;
}

int
cluster_maintain_start(struct host *h, const char *run,
    struct job **ret_job, struct err *err)
{
	struct job_subject s = { .id = MT_SUBJECT, .what = "the cluster's "
		"maintenance", .claim = JOB_CLAIM_EXCLUSIVE };
	_cleanup_json_ json_t *rec = cluster_record(h);
	struct cluster *c = h->cluster;
	json_t *order;
	char me[64];
	int r;

	if (!rec || !cl_self_name(h, rec, me, sizeof(me)))
		return err_set(err, -EINVAL, "this host is in no cluster (see "
		    "'tern cluster create')");
	if (!run || !*run || strchr(run, '/'))
		return err_set(err, -EINVAL, "--run NAME: a command in each "
		    "node's maintenance directory, by name");
	if (!cl_state_ready(c))
		return err_set(err, -EAGAIN, "this node is not in a quorate "
		    "partition in step with the cluster; only such a node "
		    "changes the cluster (see 'tern cluster show')");
	if ((r = mt_check(c, rec, err)) < 0)
		return r;
	order = cl_names_but(rec, me);		/* node id order, this one last */
	json_array_append_new(order, json_string(me));
	if ((r = job_create(&h->jobs, &job_cluster_maintain, &s, json_pack(
	    "{sssssosi}", "run", run, "self", me, "nodes", order, "at", 0),
	    ret_job, err)) < 0)
		return r;
	job_start(*ret_job);
	return 0;
}
