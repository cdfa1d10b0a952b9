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

#include "cl_int.h"
#include "cluster.h"
#include "host.h"
#include "jsonutil.h"
#include "util.h"
#include "validate_rules.h"
#include "vm_job.h"

#define CV_CALL_MS 10000	/* a node that says nothing for this long
				 * does not answer */
#define CV_MAX_NODES 64

enum cv_phase { CV_PH_START, CV_PH_ASK, CV_PH__COUNT };
static const char *const cv_phase_names[] = { "start", "ask" };

static void
cv_priv_free(struct job *job)
{
	if (job->priv)
		cl_fan_clear(job->priv);
	free(job->priv);
	job->priv = NULL;
}

static void
cv_send(struct job *job)
{
	struct cl_fan *f = job_priv(job, sizeof(*f), NULL);
	_cleanup_json_ json_t *names = cl_names_but(json_pack("{sO}",
	    "nodes", json_object_get(job->details, "peers")), "");

	f->timeout_ms = CV_CALL_MS;
	cl_fan_send(job, f, names, "GET", "/v1/cluster/facts", NULL);
	job_set_phase(job, CV_PH_ASK);
}

/* Why reply r brought no facts, for the rules' "does not answer". */
static const char *
cv_why(const struct cl_reply *r, char *buf, size_t len)
{
	const char *msg = r->err[0] ? r->err : "403";

	if (r->status == 403)
		snprintf(buf, len, "it does not trust this host: %.200s", msg);
	else if (r->status == 0)
		snprintf(buf, len, "%s", r->err);
	else
		snprintf(buf, len, "HTTP %ld: %.200s", r->status, r->err[0] ?
		    r->err : "unexpected reply (an older ternd?)");
	return buf;
}

/* The rules' input: this host first, then every node in order. */
static json_t *
cv_nodes(struct job *job, const struct cl_fan *f)
{
	struct host *h = host_of(job);
	json_t *nodes = json_array();
	char why[240];

	json_array_append_new(nodes, json_pack("{ss so}", "node",
	    h->cfg.name, "facts", cluster_facts(h)));
	for (size_t i = 0; i < f->n; i++) {
		const struct cl_reply *r = &f->r[i];
		json_t *n = json_pack("{ss sI sI}", "node", r->name, "sent_ms",
		    (json_int_t)r->sent_ms, "rtt_ms", (json_int_t)r->rtt_ms);

		if (r->status == 200 && json_is_object(r->body))
			json_object_set(n, "facts", r->body);
		else
			json_object_set_new(n, "error", json_string(cv_why(r,
			    why, sizeof(why))));
		json_array_append_new(nodes, n);
	}
	return nodes;
}

static void
cv_ask(struct job *job)
{
	struct cl_fan *f = job->priv;
	json_t *nodes, *report;

	job_set_progress(job, f->n - (f->pending < f->n ? f->pending : f->n),
	    f->n, "nodes");
	if (!cl_fan_done(f))
		return;
	nodes = cv_nodes(job, f);
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
