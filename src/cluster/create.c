/* create.c - cluster.create and cluster.destroy, on subject "cluster"
 * (exclusive).  The nodes are told over mutual TLS (join.c answers).
 *
 * cluster.create (details: name, nodes, witness, token_ms):
 *
 *   start --> check: GET /v1/cluster on every other node (each must
 *       trust us, be in no cluster, call itself by the name we know it
 *       by, and have a ring address) --any refusal--> failed, nothing
 *       changed
 *   check --record built (node ids in the order given), authkey drawn
 *       (memory only)--> join: POST /v1/cluster/join {record, authkey} to
 *       the others, then joined here --> form: wait (<= 60 s) until
 *       Corosync shows every node up and this partition quorate --> done
 *   join, form --a node refuses or does not answer, or the cluster does
 *       not form--> undo: POST /v1/cluster/leave to every other node,
 *       left here --> failed, as before
 *   restart in join or form: the authkey is gone with ternd's memory:
 *       undo, failed ("run create again").
 *
 * cluster.destroy: start --> check: every other node answers (else
 *   refused: evict the dead ones first) --> leave: POST leave to the
 *   others --> left here --> done.  Restart: check again (a node that
 *   left answers that it is in no cluster; leave is idempotent). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cl_int.h"
#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "util.h"
#include "vm_job.h"

enum cc_phase { CC_START, CC_CHECK, CC_JOIN, CC_FORM, CC_UNDO, CC__COUNT };

static const char *const cc_phase_names[CC__COUNT] = {
	[CC_START] = "start", [CC_CHECK] = "check", [CC_JOIN] = "join",
	[CC_FORM] = "form", [CC_UNDO] = "undo",
};

struct cl_job {
	struct cl_fan fan;
	uint8_t key[CL_KEY_BYTES];
	bool have_key;
};

static void
cl_job_free(struct job *job)
{
	struct cl_job *cj = job->priv;

	if (!cj)
		return;
	cl_fan_clear(&cj->fan);
	explicit_bzero(cj->key, sizeof(cj->key));
	free(cj);
	job->priv = NULL;
}

static struct cl_job *
cl_job_of(struct job *job)
{
	return job_priv(job, sizeof(struct cl_job), NULL);
}

static const char *
dstr(const struct job *job, const char *key)
{
	return json_string_value(json_object_get(job->details, key));
}

/* The others' answers to GET /v1/cluster: each in no cluster, naming
 * itself as we do, with a ring address; their nodes into the record. */
static int
cc_check_replies(struct job *job, json_t *nodes, char *msg, size_t len)
{
	struct cl_fan *f = &cl_job_of(job)->fan;

	if (cl_fan_error(f, msg, len))
		return -EHOSTUNREACH;
	for (size_t i = 0; i < f->n; i++) {
		const json_t *b = f->r[i].body, *self = json_object_get(b,
		    "node"), *cl = json_object_get(b, "cluster");
		const char *name = json_string_value(json_object_get(self,
		    "name"));
		const char *addr = json_string_value(json_object_get(self,
		    "addr"));
		json_t *n = (json_t *)cl_record_node(nodes, f->r[i].name);

		if (cl && !json_is_null(cl)) {
			snprintf(msg, len, "%s is already in cluster '%s'",
			    f->r[i].name, json_string_value(json_object_get(
			    cl, "name")));
			return -EEXIST;
		}
		if (!name || !streq(name, f->r[i].name)) {
			snprintf(msg, len, "the peer this host calls %s calls "
			    "itself '%s': add it as a peer under its own name",
			    f->r[i].name, name ? name : "?");
			return -EINVAL;
		}
		if (!addr) {
			snprintf(msg, len, "%s has no cluster address: set "
			    "cluster-address (or listen on an address) there",
			    f->r[i].name);
			return -EINVAL;
		}
		json_object_set_new(n, "addr", json_string(addr));
		json_object_set(n, "fp", json_object_get(self, "fp"));
	}
	return 0;
}

/* {"nodes": [...]} in the order given, ids 1.., this host's filled. */
static json_t *
cc_record_start(struct job *job)
{
	struct host *h = host_of(job);
	json_t *nodes = json_array(), *n;
	char addr[64];
	size_t i;

	json_array_foreach(json_object_get(job->details, "nodes"), i, n) {
		bool me = streq(json_string_value(n), h->cfg.name);

		json_array_append_new(nodes, json_pack("{sOsI}", "name", n,
		    "nodeid", (json_int_t)(i + 1)));
		if (me)
			json_object_update(json_array_get(nodes, i), json_pack(
			    "{ssss}", "addr", cl_own_addr(h, addr,
			    sizeof(addr)), "fp", h->fingerprint));
	}
	return json_pack("{so}", "nodes", nodes);
}

static void
cc_check(struct job *job)
{
	struct cl_job *cj = cl_job_of(job);
	_cleanup_json_ json_t *wrap = cc_record_start(job);
	json_t *rec;
	char msg[240], id[37];
	struct err e = { 0 };
	int r;

	if ((r = cc_check_replies(job, wrap, msg, sizeof(msg))) < 0) {
		job_finish(job, r, "cluster not created (nothing changed): %s",
		    msg);
		return;
	}
	uuid_generate_text(id);
	rec = json_pack("{sssssIsIsOsO}", "name", dstr(job, "name"), "id", id,
	    "created_ms", (json_int_t)wall_ms(), "token_ms",
	    json_integer_value(json_object_get(job->details, "token_ms")),
	    "witness", json_object_get(job->details, "witness"), "nodes",
	    json_object_get(wrap, "nodes"));
	if ((r = cluster_record_check(rec, &e)) < 0 ||
	    getrandom(cj->key, sizeof(cj->key), 0) != sizeof(cj->key)) {
		json_decref(rec);
		job_finish(job, r < 0 ? r : -EIO, "cluster not created "
		    "(nothing changed): %s", r < 0 ? e.msg : "no randomness");
		return;
	}
	cj->have_key = true;
	json_object_set_new(job->details, "record", rec);
	job_set_phase(job, CC_JOIN);
	job_poke(job);
}

static json_t *
key_hex(const struct cl_job *cj)
{
	char hex[2 * CL_KEY_BYTES + 1];

	hex_encode(cj->key, sizeof(cj->key), hex);
	return json_string(hex);
}

static void
cc_fail_undo(struct job *job, const char *msg)
{
	json_object_set_new(job->details, "error", json_string(msg));
	job_set_phase(job, CC_UNDO);
	job_poke(job);
}

static void
cc_join(struct job *job)
{
	struct host *h = host_of(job);
	struct cl_job *cj = cl_job_of(job);
	json_t *rec = json_object_get(job->details, "record"), *body;
	char msg[240];
	struct err e = { 0 };
	int r;

	if (!cj->fan.out) {
		_cleanup_json_ json_t *others = cl_names_but(rec,
		    h->cfg.name);

		cl_fan_send(job, &cj->fan, others, "POST", "/v1/cluster/join",
		    json_pack("{sOso}", "record", rec, "authkey",
		    key_hex(cj)));
		return;
	}
	if (!cl_fan_done(&cj->fan))
		return;
	if (cl_fan_error(&cj->fan, msg, sizeof(msg))) {
		cc_fail_undo(job, msg);
		return;
	}
	body = json_pack("{sOso}", "record", rec, "authkey", key_hex(cj));
	r = cluster_join(h, body, h->fingerprint, &e);
	json_decref(body);
	if (r < 0) {
		cc_fail_undo(job, e.msg);
		return;
	}
	job_set_phase(job, CC_FORM);
	job_poke(job);
}

/* Every node up in Corosync's membership and this partition quorate. */
static bool
cc_formed(struct host *h, const json_t *rec, char *msg, size_t len)
{
	const json_t *n;
	size_t i, k = 0;

	msg[0] = '\0';
	json_array_foreach(json_object_get(rec, "nodes"), i, n)
		if (!cl_member_up(h->cluster, (uint32_t)json_integer_value(
		    json_object_get(n, "nodeid"))))
			k += (size_t)snprintf(msg + k, k < len ? len - k : 0,
			    "%s%s", k ? ", " : "", json_string_value(
			    json_object_get(n, "name")));
	return !msg[0] && cluster_quorate(h);
}

static void
cc_form(struct job *job)
{
	struct host *h = host_of(job);
	char missing[160], msg[240];

	if (job_failpoint(job, "cluster-form") < 0) {	/* tests */
		cc_fail_undo(job, "failpoint cluster-form");
		return;
	}
	if (cc_formed(h, json_object_get(job->details, "record"), missing,
	    sizeof(missing))) {
		host_event(h, "info", NULL, job->row->id, "cluster '%s' "
		    "formed: %zu nodes, quorate", dstr(job, "name"),
		    json_array_size(json_object_get(job->details, "nodes")));
		job_finish(job, 0, NULL);
		return;
	}
	if (job_past_deadline(job, CL_FORM_MS)) {
		snprintf(msg, sizeof(msg), "Corosync did not form the cluster "
		    "within %d s (not seen: %s; is it installed and are the "
		    "ring addresses reachable?)", CL_FORM_MS / 1000,
		    missing[0] ? missing : "none, but no quorum");
		cc_fail_undo(job, msg);
		return;
	}
	job_wake_after(job, 250);
}

/* Every other node told to leave (what answers nothing is ignored: a
 * node that never joined has nothing to undo), then this one. */
static void
cc_undo(struct job *job)
{
	struct host *h = host_of(job);
	struct cl_job *cj = cl_job_of(job);
	json_t *rec = json_object_get(job->details, "record");

	if (rec && !cj->fan.out) {
		_cleanup_json_ json_t *others = cl_names_but(rec,
		    h->cfg.name);

		cl_fan_send(job, &cj->fan, others, "POST",
		    "/v1/cluster/leave", NULL);
		return;
	}
	if (rec && !cl_fan_done(&cj->fan))
		return;
	(void)cluster_leave(h, h->fingerprint, NULL);
	job_finish(job, -EIO, "cluster not created (undone on every node "
	    "that answered): %s", dstr(job, "error") ? dstr(job, "error") :
	    "ternd restarted while the nodes joined: run create again");
}

static void
cc_step(struct job *job)
{
	struct cl_job *cj = cl_job_of(job);
	struct host *h = host_of(job);

	if (job->recovering) {	/* what was out, and the key, died */
		job->recovering = false;
		cj->fan.out = false;
		if (!job_phase_is(job, CC_START) &&
		    !job_phase_is(job, CC_CHECK))
			job_set_phase(job, CC_UNDO);
	}
	if (job_phase_is(job, CC_START) || job_phase_is(job, CC_CHECK)) {
		if (!cj->fan.out) {
			_cleanup_json_ json_t *others = cl_names_but(
			    job->details, h->cfg.name);

			job_set_phase(job, CC_CHECK);
			cl_fan_send(job, &cj->fan, others, "GET",
			    "/v1/cluster", NULL);
		} else if (cl_fan_done(&cj->fan))
			cc_check(job);
	} else if (job_phase_is(job, CC_JOIN))
		cc_join(job);
	else if (job_phase_is(job, CC_FORM))
		cc_form(job);
	else
		cc_undo(job);
}

const struct job_ops job_cluster_create = {
	.type = "cluster.create", .phases = cc_phase_names,
	.n_phases = CC__COUNT, .step = cc_step, .priv_free = cl_job_free,
};

/* ---- cluster.destroy ---- */

enum cd_phase { CD_START, CD_CHECK, CD_LEAVE, CD__COUNT };

static const char *const cd_phase_names[CD__COUNT] = {
	[CD_START] = "start", [CD_CHECK] = "check", [CD_LEAVE] = "leave",
};

static void
cd_step(struct job *job)
{
	struct cl_job *cj = cl_job_of(job);
	struct host *h = host_of(job);
	_cleanup_json_ json_t *others = cluster_other_nodes(h);
	char msg[240];

	if (job->recovering) {
		job->recovering = false;
		cj->fan.out = false;
		job_set_phase(job, CD_CHECK);
	}
	if (!others) {	/* left already (a restart after the last step) */
		job_finish(job, 0, NULL);
		return;
	}
	if (!cj->fan.out) {
		bool leave = job_phase_is(job, CD_LEAVE);

		if (!leave)
			job_set_phase(job, CD_CHECK);
		cl_fan_send(job, &cj->fan, others, leave ? "POST" : "GET",
		    leave ? "/v1/cluster/leave" : "/v1/cluster", NULL);
		return;
	}
	if (!cl_fan_done(&cj->fan))
		return;
	if (cl_fan_error(&cj->fan, msg, sizeof(msg))) {
		job_finish(job, -EHOSTUNREACH, "cluster not destroyed: %s "
		    "(a dead node: `tern cluster node evict` it first)", msg);
		return;
	}
	if (job_phase_is(job, CD_CHECK)) {
		job_set_phase(job, CD_LEAVE);
		job_poke(job);
		return;
	}
	(void)cluster_leave(h, h->fingerprint, NULL);
	job_finish(job, 0, NULL);
}

const struct job_ops job_cluster_destroy = {
	.type = "cluster.destroy", .phases = cd_phase_names,
	.n_phases = CD__COUNT, .step = cd_step, .priv_free = cl_job_free,
};

/* ---- starting them ---- */

int
cl_job_new(struct host *h, const struct job_ops *ops, json_t *details,
    struct job **ret_job, struct err *err)
{
	struct job_subject s = { .id = "cluster", .what = "the cluster",
		.claim = JOB_CLAIM_EXCLUSIVE };
	int r = job_create(&h->jobs, ops, &s, details, ret_job, err);

	if (r == 0)
		job_start(*ret_job);
	return r;
}

/* The node names given: 2..CLUSTER_MAX_NODES distinct, this host among
 * them, the others trusted peers. */
static int
cc_nodes_check(struct host *h, const json_t *nodes, struct err *err)
{
	struct host_peer p;
	const json_t *n;
	bool me = false;
	size_t i, j;

	if (!json_is_array(nodes) || json_array_size(nodes) < 2 ||
	    json_array_size(nodes) > CLUSTER_MAX_NODES)
		return err_set(err, -EINVAL, "a cluster has 2..%d nodes: name "
		    "each with --node", CLUSTER_MAX_NODES);
	json_array_foreach(nodes, i, n) {
		const char *name = json_string_value(n);

		if (!name || !name_is_valid(name))
			return err_set(err, -EINVAL, "node %zu is not a host "
			    "name", i + 1);
		for (j = 0; j < i; j++)
			if (streq(name, json_string_value(json_array_get(
			    nodes, j))))
				return err_set(err, -EINVAL, "node %s is "
				    "named twice", name);
		if (streq(name, h->cfg.name)) {
			me = true;
			continue;
		}
		if (host_peer_by_name(h, name, &p, NULL) < 0)
			return err_set(err, -EINVAL, "%s is not a trusted peer "
			    "of this host: `tern peer add %s URL "
			    "--fingerprint ...` first (on both hosts)", name,
			    name);
		host_peer_done(&p);
	}
	if (!me)
		return err_set(err, -EINVAL, "this host (%s) is not among the "
		    "nodes: create the cluster on one of them", h->cfg.name);
	return 0;
}

int
cluster_create_start(struct host *h, const json_t *body,
    struct job **ret_job, struct err *err)
{
	static const char *const fields[] = { "name", "nodes", "witness",
		"token_ms", NULL };
	const char *name = NULL, *wit = NULL;
	int64_t token = CLUSTER_TOKEN_DEFAULT_MS;
	json_t *rec;
	char addr[64], buf[64];
	int port, r;

	if ((r = json_check_fields(body, fields, "cluster", err)) < 0 ||
	    (r = json_get_str(body, "name", true, &name, err)) < 0 ||
	    (r = json_get_str(body, "witness", false, &wit, err)) < 0 ||
	    (r = json_get_int(body, "token_ms", false, CLUSTER_TOKEN_MIN_MS,
	    CLUSTER_TOKEN_MAX_MS, &token, err)) < 0)
		return r;
	if (!name_is_valid(name))
		return err_set(err, -EINVAL, "cluster name '%.64s': 1..63 of "
		    "A-Z a-z 0-9 . _ -", name);
	if (wit && cluster_witness_split(wit, buf, sizeof(buf), &port) < 0)
		return err_set(err, -EINVAL, "witness '%.64s': ADDR[:PORT] "
		    "with ADDR an IPv4 or IPv6 address", wit);
	if ((rec = cluster_record(h))) {
		r = err_set(err, -EEXIST, "this host is already in cluster "
		    "'%s'", json_string_value(json_object_get(rec, "name")));
		json_decref(rec);
		return r;
	}
	if ((r = cc_nodes_check(h, json_object_get(body, "nodes"), err)) < 0)
		return r;
	if (!cl_own_addr(h, addr, sizeof(addr)))
		return err_set(err, -EINVAL, "this host has no cluster "
		    "address: set cluster-address, or listen on an address");
	return cl_job_new(h, &job_cluster_create, json_pack("{sssOsIso}",
	    "name", name, "nodes", json_object_get(body, "nodes"), "token_ms",
	    (json_int_t)token, "witness", wit ? json_string(wit) :
	    json_null()), ret_job, err);
}

int
cluster_destroy_start(struct host *h, struct job **ret_job,
    struct err *err)
{
	json_t *rec = cluster_record(h);

	if (!rec)
		return err_set(err, -ENOENT, "this host is in no cluster");
	json_decref(rec);
	return cl_job_new(h, &job_cluster_destroy, json_object(), ret_job,
	    err);
}
