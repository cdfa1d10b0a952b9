/* call.c - a replica job's calls to the peer: one at a time, the reply
 * kept for the job's next step. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "jsonutil.h"
#include "log.h"
#include "replica.h"
#include "rp_int.h"
#include "util.h"
#include "vm.h"

struct rp_call *
rp_job_call(struct job *job)
{
	bool fresh;
	struct rp_call *c;

	if (vm_job_gone(job))
		return NULL;
	c = job_priv(job, sizeof(*c), &fresh);
	if (fresh)
		c->h = host_of(job);
	if (job->recovering) {	/* what was out died with ternd */
		job->recovering = false;
		c->out = false;
	}
	return c;
}

static void
rp_on_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct rp_call *c = data;	/* alive: its job cancels the call */
	struct job *job = job_from_ref(&c->h->jobs, c->ref);
	const char *msg = json_string_value(json_object_get(json_object_get(
	    body, "error"), "message"));

	c->call = NULL;
	c->status = status;
	json_decref(c->reply);
	c->reply = body ? json_incref(body) : NULL;
	snprintf(c->err, sizeof(c->err), "%s", e ? e->msg : msg ? msg :
	    status >= 300 ? "unexpected reply" : "");
	c->replied = true;
	if (job)
		job_poke(job);
}

const char *
rp_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

int64_t
rp_int(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

json_t *
rp_stats_load(const char *text)
{
	json_t *o = text ? json_loads(text, 0, NULL) : NULL;

	if (json_is_object(o))
		return o;
	json_decref(o);
	return json_object();
}

void
rp_call_send(struct job *job, struct rp_call *c, const char *method,
    const char *path, json_t *body)
{
	int r = -ENOTCONN;

	c->h = host_of(job);

	c->out = true;
	c->replied = false;
	c->ref = job_ref(job);
	if (c->h->peers)
		r = peer_call(c->h->peers, rp_str(job->details, "peer_url"),
		    rp_str(job->details, "peer_fp"), method, path, body, RP_CALL_MS,
		    rp_on_reply, c, &c->call);
	else
		json_decref(body);
	if (r < 0) {
		c->replied = true;
		c->status = 0;
		snprintf(c->err, sizeof(c->err), "cannot call %s: %s",
		    rp_str(job->details, "peer"), c->h->peers ? strerror(-r) :
		    "this host does not listen on HTTPS (no peers)");
		job_poke(job);
	}
}

static void
rp_on_ignored(long status, json_t *body, const struct err *e, void *data)
{
	(void)status;
	(void)body;
	(void)e;
	(void)data;
}

void
rp_call_forget(struct job *job, const char *method, const char *path)
{
	struct host *h = host_of(job);

	if (h->peers)
		(void)peer_call(h->peers, rp_str(job->details, "peer_url"),
		    rp_str(job->details, "peer_fp"), method, path, NULL, RP_CALL_MS,
		    rp_on_ignored, NULL, NULL);
}

bool
rp_call_done(struct rp_call *c)
{
	if (!c->out || !c->replied)
		return false;
	c->out = false;
	return true;
}

void
rp_call_clear(struct rp_call *c)
{
	c->call = peer_call_cancel(c->call);
	json_decref(c->reply);
	c->reply = NULL;
	c->out = c->replied = false;
}

void
rp_call_free(struct job *job)
{
	struct rp_call *c = job->priv;

	if (!c)
		return;
	rp_call_clear(c);
	free(c);
	job->priv = NULL;
}

int64_t
rp_call_job_id(const struct rp_call *c)
{
	return json_integer_value(json_object_get(json_object_get(c->reply,
	    "job"), "id"));
}

int
rp_peer_details(struct host *h, json_t *details, const char *peer,
    struct err *err)
{
	struct host_peer p = { 0 };
	int r = host_peer_by_name(h, peer, &p, err);

	if (r < 0)
		return r;
	json_object_set_new(details, "peer", json_string(p.name));
	json_object_set_new(details, "peer_url", json_string(p.url));
	json_object_set_new(details, "peer_fp", json_string(p.fp));
	host_peer_done(&p);
	return 0;
}

int
rp_call_poll_job(struct job *job, struct rp_call *c, int64_t id,
    const char **ret_msg)
{
	const char *st;
	char path[48];

	*ret_msg = NULL;
	if (!c->out) {
		snprintf(path, sizeof(path), "/v1/jobs/%lld", (long long)id);
		rp_call_send(job, c, "GET", path, NULL);
		return RP_JOB_RUNNING;
	}
	if (!rp_call_done(c))
		return RP_JOB_RUNNING;
	st = json_string_value(json_object_get(c->reply, "state"));
	if (c->status != 200 || !st) {
		*ret_msg = c->err;
		return RP_JOB_UNKNOWN;
	}
	if (streq(st, "succeeded"))
		return RP_JOB_SUCCEEDED;
	if (streq(st, "failed") || streq(st, "cancelled")) {
		*ret_msg = json_string_value(json_object_get(c->reply,
		    "error"));
		if (!*ret_msg)
			*ret_msg = st;
		return RP_JOB_FAILED;
	}
	job_wake_after(job, RP_POLL_MS);
	return RP_JOB_RUNNING;
}

int
rp_relation_for_peer(struct host *h, const char *uuid, const char *fp,
    const char *role, struct vm **ret_vm, struct replication_row *ret)
{
	struct vm *vm = uuid_is_valid(uuid) ? vm_find(h, uuid) : NULL;
	struct host_peer p = { 0 };
	bool ok;

	if (!vm || store_replication_get(h->store, vm->row->uuid, ret) < 0)
		return -ENOENT;
	*ret_vm = vm;
	ok = host_peer_by_fp(h, fp, &p) == 0 && streq(ret->role, role) &&
	    streq(ret->peer, p.name);
	host_peer_done(&p);
	if (!ok) {
		replication_row_done(ret);
		return -EACCES;
	}
	return 0;
}

int
rp_replica_for_primary(struct host *h, const char *uuid, const char *fp,
    const char *what, struct vm **ret_vm, struct replication_row *ret,
    struct err *err)
{
	int rc = rp_relation_for_peer(h, uuid, fp, "replica", ret_vm, ret);

	if (rc == -ENOENT)
		return err_set(err, -ENOENT, "host %s has no replica with uuid "
		    "%.40s", h->cfg.name, uuid);
	if (rc < 0)
		return err_set(err, -EACCES, "only the primary of vm '%s' %s",
		    (*ret_vm)->row->name, what);
	return 0;
}

void
rp_stats_save(struct host *h, struct replication_row *r, const json_t *st)
{
	free(r->stats);
	r->stats = json_to_string(st);
	if (store_replication_update(h->store, r) < 0)
		log_warn("vm=%s cannot record its replication's stats",
		    r->vm_uuid);
}
