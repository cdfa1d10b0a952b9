/* validate.c - `tern cluster validate`: the job cluster.validate asks
 * every named node for its facts (GET /v1/cluster/facts over the peers'
 * mutual TLS, all at once, each round trip measured), adds this host's
 * own, and keeps the report of validate_rules.c in its details
 * ("report").  It only reads: it never changes a VM, a record or
 * another host.
 *
 *   start --cv_send (every call out)--> ask --cv_ask (every call
 *   answered or failed: cluster_validate_rules)--> job_finish(0)
 *
 *   start, ask: a restart (job->recovering) -> job_finish(-EIO): the
 *   calls died with ternd and nothing was changed; run it again.
 *   cancel (cv_cancel): the calls forgotten, finished cancelled at once.
 *
 * The job succeeds whenever it could build a report, errors in the
 * report or not: the CLI decides its exit status from the report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "host.h"
#include "jsonutil.h"
#include "peer.h"
#include "util.h"
#include "validate_rules.h"
#include "vm_job.h"

#define CV_CALL_MS 10000	/* a node that says nothing for this long
				 * does not answer */
#define CV_MAX_NODES 64

enum cv_phase { CV_PH_START, CV_PH_ASK, CV_PH__COUNT };
static const char *const cv_phase_names[] = { "start", "ask" };

struct cv_job;

/* One node's call.  Invariant: call is NULL once done. */
struct cv_call {
	struct cv_job *j;
	struct peer_call *call;
	uint64_t sent_ms;	/* wall clock, for the skew */
	uint64_t t0_ms;		/* monotonic, for the round trip */
	uint64_t rtt_ms;
	bool done;
	json_t *facts;		/* NULL: it did not answer */
	char err[240];
};

/* The job's priv: one call per node of details "peers", in order. */
struct cv_job {
	struct host *h;
	struct job_ref ref;
	size_t n;
	struct cv_call *calls;
};

static void
cv_priv_free(struct job *job)
{
	struct cv_job *j = job->priv;

	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		j->calls[i].call = peer_call_cancel(j->calls[i].call);
		json_decref(j->calls[i].facts);
	}
	free(j->calls);
	free(j);
	job->priv = NULL;
}

static void
cv_on_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct cv_call *c = data;	/* alive: the job's priv_free cancels */
	struct job *job = job_from_ref(&c->j->h->jobs, c->j->ref);
	const char *msg = json_string_value(json_object_get(json_object_get(
	    body, "error"), "message"));

	c->call = NULL;
	c->done = true;
	c->rtt_ms = now_ms() - c->t0_ms;
	if (!e && status == 200 && json_is_object(body))
		c->facts = json_incref(body);
	else if (e)
		snprintf(c->err, sizeof(c->err), "%s", e->msg);
	else if (status == 403)
		snprintf(c->err, sizeof(c->err), "it does not trust this host: "
		    "%s", msg ? msg : "403");
	else
		snprintf(c->err, sizeof(c->err), "HTTP %ld: %s", status,
		    msg ? msg : "unexpected reply (an older ternd?)");
	if (job)
		job_poke(job);
}

static void
cv_send_one(struct job *job, struct cv_call *c, const json_t *peer)
{
	int r = -ENOTCONN;

	c->sent_ms = wall_ms();
	c->t0_ms = now_ms();
	if (c->j->h->peers)
		r = peer_call(c->j->h->peers, json_string_value(
		    json_object_get(peer, "url")), json_string_value(
		    json_object_get(peer, "fp")), "GET", "/v1/cluster/facts",
		    NULL, CV_CALL_MS, cv_on_reply, c, &c->call);
	if (r < 0) {
		c->done = true;
		snprintf(c->err, sizeof(c->err), "cannot call it: %s",
		    c->j->h->peers ? strerror(-r) : "this host does not "
		    "listen on HTTPS (no peers)");
	}
	(void)job;
}

static void
cv_send(struct job *job)
{
	const json_t *peers = json_object_get(job->details, "peers");
	struct cv_job *j = job_priv(job, sizeof(*j), NULL);
	size_t i;
	json_t *p;

	j->h = host_of(job);
	j->ref = job_ref(job);
	j->n = json_array_size(peers);
	j->calls = xzalloc((j->n ? j->n : 1) * sizeof(*j->calls));
	json_array_foreach(peers, i, p) {
		j->calls[i].j = j;
		cv_send_one(job, &j->calls[i], p);
	}
	job_set_phase(job, CV_PH_ASK);
	job_poke(job);
}

/* The rules' input: this host first, then every node in order. */
static json_t *
cv_nodes(struct job *job, struct cv_job *j)
{
	const json_t *peers = json_object_get(job->details, "peers");
	json_t *nodes = json_array(), *p;
	size_t i;

	json_array_append_new(nodes, json_pack("{ss so}", "node",
	    j->h->cfg.name, "facts", cluster_facts(j->h)));
	json_array_foreach(peers, i, p) {
		struct cv_call *c = &j->calls[i];
		json_t *n = json_pack("{ss sI sI}", "node", json_string_value(
		    json_object_get(p, "name")), "sent_ms",
		    (json_int_t)c->sent_ms, "rtt_ms", (json_int_t)c->rtt_ms);

		if (c->facts)
			json_object_set(n, "facts", c->facts);
		else
			json_object_set_new(n, "error", json_string(c->err));
		json_array_append_new(nodes, n);
	}
	return nodes;
}

static void
cv_ask(struct job *job)
{
	struct cv_job *j = job->priv;
	json_t *nodes, *report;
	size_t done = 0;

	for (size_t i = 0; i < j->n; i++)
		done += j->calls[i].done;
	job_set_progress(job, done, j->n, "nodes");
	if (done < j->n)
		return;
	nodes = cv_nodes(job, j);
	report = cluster_validate_rules(nodes);
	json_decref(nodes);
	json_object_set_new(job->details, "report", report);
	job_save(job);
	job_finish(job, 0, NULL);
}

static void
cv_step(struct job *job)
{
	if (job->recovering) {
		job_finish(job, -EIO, "ternd restarted during the validation; "
		    "nothing was changed: run it again");
		return;
	}
	if (job_phase_is(job, CV_PH_START))
		cv_send(job);
	else if (job->priv)
		cv_ask(job);
}

static int
cv_cancel(struct job *job, struct err *err)
{
	(void)err;
	job_finish(job, -ECANCELED, "cancelled; nothing was changed");
	return 0;
}

static const struct job_ops job_cluster_validate = {
	.type = "cluster.validate", .phases = cv_phase_names,
	.n_phases = CV_PH__COUNT, .step = cv_step, .cancel = cv_cancel,
	.priv_free = cv_priv_free };

void
cluster_validate_init(struct host *h)
{
	job_type_register(&h->jobs, &job_cluster_validate);
}

/* Add node name's peer row to peers; -ENOENT naming it when it is not a
 * trusted peer, -EINVAL for a name given twice. */
static int
cv_add_peer(struct host *h, json_t *peers, const char *name, struct err *err)
{
	struct host_peer p = { 0 };
	size_t i;
	json_t *o;

	json_array_foreach(peers, i, o)
		if (streq(json_string_value(json_object_get(o, "name")), name))
			return err_set(err, -EINVAL, "node '%.64s' is named "
			    "twice: name each node once", name);
	if (host_peer_by_name(h, name, &p, NULL) < 0)
		return err_set(err, -ENOENT, "node '%.64s' is not a trusted "
		    "peer of %s: add it with 'tern peer add' (and this host "
		    "on it), or check the name ('tern peer list')", name,
		    h->cfg.name);
	json_array_append_new(peers, json_pack("{ss ss ss}", "name", p.name,
	    "url", p.url, "fp", p.fp));
	host_peer_done(&p);
	return 0;
}

/* The peers to ask for names (an array of strings; NULL: the cluster's
 * other nodes), into a new array of {name, url, fp}. */
static int
cv_peers(struct host *h, const json_t *names, json_t **ret, struct err *err)
{
	_cleanup_json_ json_t *own = names ? NULL : cluster_other_nodes(h);
	_cleanup_json_ json_t *peers = json_array();
	const json_t *list = names ? names : own;
	size_t i;
	json_t *v;
	int r;

	if (!list)
		return err_set(err, -EINVAL, "this host is in no cluster: name "
		    "the hosts to validate with --node");
	if (json_array_size(list) > CV_MAX_NODES)
		return err_set(err, -EINVAL, "%zu nodes named: at most %d",
		    json_array_size(list), CV_MAX_NODES);
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(v);

		if (!name || !name_is_valid(name))
			return err_set(err, -EINVAL, "nodes[%zu] is not a "
			    "host name: give peer names as 'tern peer list' "
			    "shows them", i);
		if (streq(name, h->cfg.name))
			continue;	/* this host is always in */
		if ((r = cv_add_peer(h, peers, name, err)) < 0)
			return r;
	}
	*ret = TAKE_PTR(peers);
	return 0;
}

int
cluster_validate_start(struct host *h, const json_t *nodes,
    struct job **ret_job, struct err *err)
{
	struct job_subject s = { .id = "cluster", .what = "the cluster",
		.claim = JOB_CLAIM_SHARED };
	json_t *peers = NULL;
	int r;

	if (nodes && !json_is_array(nodes))
		return err_set(err, -EINVAL, "\"nodes\" must be an array of "
		    "host names");
	if (nodes && json_array_size(nodes) == 0)
		nodes = NULL;
	if ((r = cv_peers(h, nodes, &peers, err)) < 0)
		return r;
	r = job_create(&h->jobs, &job_cluster_validate, &s, json_pack("{so}",
	    "peers", peers), ret_job, err);
	if (r < 0)
		return r;
	job_start(*ret_job);
	return 0;
}
