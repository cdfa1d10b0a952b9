/* nodes.c - cluster.node-add and cluster.node-evict, on subject
 * "cluster" (exclusive), from a node of a quorate partition.
 *
 * cluster.node-add (details: node; then old, record):
 *
 *   start --> check: GET /v1/cluster on the new node (trusts us, in no
 *       cluster, names itself as we do, has a ring address)
 *       --refused--> failed, nothing changed
 *   check --the record with the node added (the lowest free node id)-->
 *       join: POST /v1/cluster/join {record, the authkey read from the
 *       cluster directory} to it --> update: POST /v1/cluster/update
 *       {record} to the other nodes, then here (Corosync reloaded)
 *       --> form: wait (<= 60 s) for the new node up --> done
 *   join --refused--> failed, nothing changed
 *   update, form --refused, not formed--> undo: the old record to every
 *       other node and here --> undo-leave: POST leave to the new node
 *       --> failed, as before
 *   restart: the phase runs again (each call is idempotent; the key is
 *       on disk).
 *
 * cluster.node-evict (details: node; then record):
 *
 *   start --> leave: POST /v1/cluster/leave to the node (a dead node
 *       does not answer: evicting it is what evict is for; noted) -->
 *   update: the record without it to the other nodes (one not answering
 *       is noted: it keeps the old record until told again) and here
 *       --> done.  restart: the phase runs again. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "fsutil.h"
#include "host.h"
#include "jsonutil.h"
#include "util.h"
#include "vm_job.h"

enum na_phase { NA_START, NA_CHECK, NA_JOIN, NA_UPDATE, NA_FORM, NA_UNDO,
	NA_UNLEAVE, NA__COUNT };

static const char *const na_phase_names[NA__COUNT] = {
	[NA_START] = "start", [NA_CHECK] = "check", [NA_JOIN] = "join",
	[NA_UPDATE] = "update", [NA_FORM] = "form", [NA_UNDO] = "undo",
	[NA_UNLEAVE] = "undo-leave",
};

static const char *
node_of(const struct job *job)
{
	return json_string_value(json_object_get(job->details, "node"));
}

static json_t *
just(const char *name)
{
	return json_pack("[s]", name);
}

static json_int_t
free_nodeid(const json_t *rec)
{
	const json_t *n;
	size_t i;

	for (json_int_t id = 1; id <= CLUSTER_MAX_NODES; id++) {
		bool used = false;

		json_array_foreach(json_object_get(rec, "nodes"), i, n)
			used |= json_integer_value(json_object_get(n,
			    "nodeid")) == id;
		if (!used)
			return id;
	}
	return 0;
}

/* The new node's answer to GET /v1/cluster: the record with it. */
static int
na_record(struct job *job, const struct cl_reply *r, char *msg, size_t len)
{
	const json_t *self = json_object_get(r->body, "node");
	const json_t *cl = json_object_get(r->body, "cluster");
	const char *name = json_string_value(json_object_get(self, "name"));
	json_t *old = cluster_record(host_of(job)), *rec;

	if (!old)
		return snprintf(msg, len, "this host left the cluster"), -ENOENT;
	if (cl && !json_is_null(cl))
		snprintf(msg, len, "%s is already in cluster '%s'", r->name,
		    json_string_value(json_object_get(cl, "name")));
	else if (!name || !streq(name, r->name))
		snprintf(msg, len, "the peer this host calls %s calls itself "
		    "'%s'", r->name, name ? name : "?");
	else if (!json_object_get(self, "addr") ||
	    json_is_null(json_object_get(self, "addr")))
		snprintf(msg, len, "%s has no cluster address: set "
		    "cluster-address there", r->name);
	else
		msg[0] = '\0';
	if (msg[0]) {
		json_decref(old);
		return -EINVAL;
	}
	rec = json_deep_copy(old);
	json_array_append_new(json_object_get(rec, "nodes"), json_pack(
	    "{sssIsOsO}", "name", r->name, "nodeid", free_nodeid(old), "addr",
	    json_object_get(self, "addr"), "fp", json_object_get(self, "fp")));
	json_object_set_new(job->details, "old", old);
	json_object_set_new(job->details, "record", rec);
	return 0;
}

static void
na_fail(struct job *job, bool undo, const char *msg)
{
	if (!undo) {
		job_finish(job, -EIO, "node %s not added (nothing changed): %s",
		    node_of(job), msg);
		return;
	}
	json_object_set_new(job->details, "error", json_string(msg));
	job_set_phase(job, NA_UNDO);
	job_poke(job);
}

/* Send what the phase sends; NULL body: nothing to send. */
static void
na_send(struct job *job, struct cl_fan *f)
{
	struct host *h = host_of(job);
	json_t *rec = json_object_get(job->details, "record");
	_cleanup_free_ char *kp = xasprintf("%s/authkey", h->cfg.cluster_dir);
	_cleanup_free_ char *key = NULL;
	_cleanup_json_ json_t *others = NULL;
	char hex[2 * CL_KEY_BYTES + 1];
	size_t n = 0;

	if (job_phase_is(job, NA_CHECK)) {
		_cleanup_json_ json_t *one = just(node_of(job));

		cl_fan_send(job, f, one, "GET", "/v1/cluster", NULL);
	} else if (job_phase_is(job, NA_JOIN)) {
		_cleanup_json_ json_t *one = just(node_of(job));

		if (file_read_all(kp, CL_KEY_BYTES, &key, &n) < 0 ||
		    n != CL_KEY_BYTES) {
			na_fail(job, false, "cannot read this cluster's "
			    "authkey");
			return;
		}
		hex_encode((const uint8_t *)key, n, hex);
		cl_fan_send(job, f, one, "POST", "/v1/cluster/join", json_pack(
		    "{sOss}", "record", rec, "authkey", hex));
	} else if (job_phase_is(job, NA_UNLEAVE)) {
		_cleanup_json_ json_t *one = just(node_of(job));

		cl_fan_send(job, f, one, "POST", "/v1/cluster/leave", NULL);
	} else {	/* update, undo: the old nodes */
		bool undo = job_phase_is(job, NA_UNDO);

		others = cl_names_but(json_object_get(job->details, "old"),
		    h->cfg.name);
		cl_fan_send(job, f, others, "POST", "/v1/cluster/update",
		    json_pack("{sO}", "record", json_object_get(job->details,
		    undo ? "old" : "record")));
	}
}

static void
na_form(struct job *job)
{
	struct host *h = host_of(job);
	const json_t *n = cl_record_node(json_object_get(job->details,
	    "record"), node_of(job));

	if (cl_member_up(h->cluster, (uint32_t)json_integer_value(
	    json_object_get(n, "nodeid")))) {
		job_finish(job, 0, NULL);
		return;
	}
	if (job_past_deadline(job, CL_FORM_MS)) {
		na_fail(job, true, "Corosync did not see the new node within "
		    "60 s (is its ring address reachable?)");
		return;
	}
	job_wake_after(job, 250);
}

/* The replies are in: act on them, next phase. */
static void
na_replied(struct job *job, struct cl_fan *f)
{
	struct host *h = host_of(job);
	struct err e = { 0 };
	char msg[240];
	bool failed = cl_fan_error(f, msg, sizeof(msg)) != NULL;
	json_t *body;

	if (job_phase_is(job, NA_CHECK)) {
		if (failed || na_record(job, &f->r[0], msg, sizeof(msg)) < 0)
			na_fail(job, false, msg);
		else
			job_set_phase(job, NA_JOIN), job_poke(job);
	} else if (job_phase_is(job, NA_JOIN)) {
		if (failed)
			na_fail(job, false, msg);
		else
			job_set_phase(job, NA_UPDATE), job_poke(job);
	} else if (job_phase_is(job, NA_UPDATE)) {
		body = json_pack("{sO}", "record", json_object_get(
		    job->details, "record"));
		if (!failed && cluster_update(h, body, h->fingerprint, &e) < 0)
			snprintf(msg, sizeof(msg), "%s", e.msg), failed = true;
		json_decref(body);
		if (failed)
			na_fail(job, true, msg);
		else
			job_set_phase(job, NA_FORM), job_poke(job);
	} else if (job_phase_is(job, NA_UNDO)) {
		body = json_pack("{sO}", "record", json_object_get(
		    job->details, "old"));
		(void)cluster_update(h, body, h->fingerprint, NULL);
		json_decref(body);
		job_set_phase(job, NA_UNLEAVE);
		job_poke(job);
	} else {
		job_finish(job, -EIO, "node %s not added (undone%s): %s",
		    node_of(job), failed ? "; it did not answer the leave" :
		    "", json_string_value(json_object_get(job->details,
		    "error")));
	}
}

static void
na_step(struct job *job)
{
	struct cl_fan *f = job_priv(job, sizeof(*f), NULL);

	if (job->recovering) {
		job->recovering = false;
		f->out = false;
	}
	if (job_phase_is(job, NA_START))
		job_set_phase(job, NA_CHECK);
	if (job_phase_is(job, NA_FORM)) {
		na_form(job);
		return;
	}
	if (!f->out)
		na_send(job, f);
	else if (cl_fan_done(f))
		na_replied(job, f);
}

static void
fan_free(struct job *job)
{
	if (job->priv)
		cl_fan_clear(job->priv);
	free(job->priv);
	job->priv = NULL;
}

const struct job_ops job_cluster_node_add = {
	.type = "cluster.node-add", .phases = na_phase_names,
	.n_phases = NA__COUNT, .step = na_step, .priv_free = fan_free,
};

/* ---- cluster.node-evict ---- */

enum ne_phase { NE_START, NE_LEAVE, NE_UPDATE, NE__COUNT };

static const char *const ne_phase_names[NE__COUNT] = {
	[NE_START] = "start", [NE_LEAVE] = "leave", [NE_UPDATE] = "update",
};

static void
ne_replied(struct job *job, struct cl_fan *f)
{
	struct host *h = host_of(job);
	struct err e = { 0 };
	char msg[240];
	json_t *body;

	if (job_phase_is(job, NE_LEAVE)) {
		if (cl_fan_error(f, msg, sizeof(msg)))
			json_object_set_new(job->details, "left",
			    json_string(msg));
		job_set_phase(job, NE_UPDATE);
		job_poke(job);
		return;
	}
	if (cl_fan_error(f, msg, sizeof(msg)))
		host_event(h, "warning", NULL, job->row->id, "cluster: %s keeps "
		    "the old list of nodes until told again", msg);
	body = json_pack("{sO}", "record", json_object_get(job->details,
	    "record"));
	if (cluster_update(h, body, h->fingerprint, &e) < 0) {
		json_decref(body);
		job_finish(job, e.code, "node %s evicted elsewhere, not here: "
		    "%s", node_of(job), e.msg);
		return;
	}
	json_decref(body);
	/* its pause, quarantine and VMs due to it are forgotten */
	if (h->cluster && cl_state_ready(h->cluster))
		(void)cl_state_send(h->cluster, json_pack("{ssssss}", "t",
		    "node", "op", "forget", "name", node_of(job)));
	host_event(h, "info", NULL, job->row->id, "cluster: node %s evicted%s%s",
	    node_of(job), json_object_get(job->details, "left") ?
	    " (it did not answer: " : "", json_object_get(job->details,
	    "left") ? "stop its Corosync before it joins again)" : "");
	job_finish(job, 0, NULL);
}

static void
ne_step(struct job *job)
{
	struct cl_fan *f = job_priv(job, sizeof(*f), NULL);
	struct host *h = host_of(job);
	_cleanup_json_ json_t *names = NULL;

	if (job->recovering) {
		job->recovering = false;
		f->out = false;
	}
	if (job_phase_is(job, NE_START))
		job_set_phase(job, NE_LEAVE);
	if (f->out) {
		if (cl_fan_done(f))
			ne_replied(job, f);
		return;
	}
	if (job_phase_is(job, NE_LEAVE)) {
		names = just(node_of(job));
		cl_fan_send(job, f, names, "POST", "/v1/cluster/leave", NULL);
		return;
	}
	names = cl_names_but(json_object_get(job->details, "record"),
	    h->cfg.name);
	cl_fan_send(job, f, names, "POST", "/v1/cluster/update", json_pack(
	    "{sO}", "record", json_object_get(job->details, "record")));
}

const struct job_ops job_cluster_node_evict = {
	.type = "cluster.node-evict", .phases = ne_phase_names,
	.n_phases = NE__COUNT, .step = ne_step, .priv_free = fan_free,
};

/* ---- starting them ---- */

/* This host in a cluster whose partition is quorate; *ret the record. */
static int
quorate_record(struct host *h, const char *what, json_t **ret,
    struct err *err)
{
	if (!(*ret = cluster_record(h)))
		return err_set(err, -ENOENT, "this host is in no cluster");
	if (!cluster_quorate(h)) {
		json_decref(*ret);
		return err_set(err, -EAGAIN, "this node's partition has no "
		    "quorum: %s from a node of the quorate part", what);
	}
	return 0;
}

int
cluster_node_add_start(struct host *h, const char *name,
    struct job **ret_job, struct err *err)
{
	_cleanup_json_ json_t *rec = NULL;
	struct host_peer p;
	int r;

	if ((r = quorate_record(h, "add nodes", &rec, err)) < 0)
		return r;
	if (!name || !name_is_valid(name))
		return err_set(err, -EINVAL, "node name: 1..63 of A-Z a-z 0-9 "
		    ". _ -");
	if (cl_record_node(rec, name))
		return err_set(err, -EEXIST, "%s is a node of cluster '%s' "
		    "already", name, json_string_value(json_object_get(rec,
		    "name")));
	if (json_array_size(json_object_get(rec, "nodes")) >=
	    CLUSTER_MAX_NODES)
		return err_set(err, -EINVAL, "a cluster has at most %d nodes",
		    CLUSTER_MAX_NODES);
	if (host_peer_by_name(h, name, &p, NULL) < 0)
		return err_set(err, -EINVAL, "%s is not a trusted peer of this "
		    "host: `tern peer add %s URL --fingerprint ...` first (on "
		    "both hosts)", name, name);
	host_peer_done(&p);
	return cl_job_new(h, &job_cluster_node_add, json_pack("{ss}", "node",
	    name), ret_job, err);
}

int
cluster_node_evict_start(struct host *h, const char *name,
    struct job **ret_job, struct err *err)
{
	_cleanup_json_ json_t *rec = NULL;
	json_t *nodes, *n;
	size_t i;
	int r;

	if ((r = quorate_record(h, "evict nodes", &rec, err)) < 0)
		return r;
	if (!name || !cl_record_node(rec, name))
		return err_set(err, -ENOENT, "%.64s is not a node of cluster "
		    "'%s'", name ? name : "", json_string_value(
		    json_object_get(rec, "name")));
	if (json_array_size(json_object_get(rec, "nodes")) == 1)
		return err_set(err, -EINVAL, "%s is the last node: destroy the "
		    "cluster instead (tern cluster destroy)", name);
	if (streq(name, h->cfg.name))
		return err_set(err, -EINVAL, "a node does not evict itself: "
		    "run evict on another node of the cluster");
	nodes = json_array();
	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		if (!streq(name, json_string_value(json_object_get(n, "name"))))
			json_array_append(nodes, n);
	json_object_set_new(rec, "nodes", nodes);
	return cl_job_new(h, &job_cluster_node_evict, json_pack("{sssO}",
	    "node", name, "record", rec), ret_job, err);
}
