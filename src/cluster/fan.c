/* fan.c - one request to many nodes at once for a cluster job: each
 * node reached through this host's peer row of that name (mutual TLS,
 * its key pinned), every reply kept, the job poked when the last one is
 * in.  A reply for a job that ended reaches nobody (job_ref). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl_int.h"
#include "host.h"
#include "peer.h"
#include "util.h"
#include "vm_job.h"

struct fan_slot {
	struct cl_fan *f;
	size_t i;
};

static void
fan_reply_done(struct cl_fan *f)
{
	struct job *job;

	if (--f->pending)
		return;
	if ((job = job_from_ref(&f->h->jobs, f->ref)))
		job_poke(job);
}

static void
on_fan_reply(long status, json_t *body, const struct err *e, void *data)
{
	struct fan_slot *s = data;
	struct cl_reply *r = &s->f->r[s->i];
	const char *msg = json_string_value(json_object_get(json_object_get(
	    body, "error"), "message"));

	r->call = NULL;
	r->rtt_ms = now_ms() - r->t0_ms;
	r->status = status;
	r->body = body ? json_incref(body) : NULL;
	snprintf(r->err, sizeof(r->err), "%s", e ? e->msg : msg ? msg :
	    status >= 300 ? "unexpected reply" : "");
	fan_reply_done(s->f);
}

static void
fan_one(struct cl_fan *f, size_t i, const char *method, const char *path,
    json_t *body)
{
	struct cl_reply *r = &f->r[i];
	struct host_peer p = { 0 };
	struct err e = { 0 };
	struct fan_slot *s = &((struct fan_slot *)f->slots)[i];
	int rc = -ENOTCONN;

	if (f->h->peers && (rc = host_peer_by_name(f->h, r->name, &p,
	    &e)) == 0) {
		*s = (struct fan_slot){ f, i };
		r->sent_ms = wall_ms();
		r->t0_ms = now_ms();
		rc = peer_call(f->h->peers, p.url, p.fp, method, path, body,
		    f->timeout_ms ? f->timeout_ms : CL_CALL_MS, on_fan_reply, s,
		    &r->call);
		body = NULL;
	}
	json_decref(body);
	host_peer_done(&p);
	if (rc < 0) {
		snprintf(r->err, sizeof(r->err), "cannot call %.63s: %.160s",
		    r->name, e.msg[0] ? e.msg : f->h->peers ? strerror(-rc) :
		    "this host does not listen on HTTPS");
		fan_reply_done(f);
	}
}

void
cl_fan_send(struct job *job, struct cl_fan *f, const json_t *names,
    const char *method, const char *path, json_t *body)
{
	const json_t *n;
	size_t i;

	cl_fan_clear(f);
	f->h = host_of(job);
	f->ref = job_ref(job);
	f->n = json_array_size(names);
	f->r = xzalloc((f->n + 1) * sizeof(*f->r));
	f->slots = xzalloc((f->n + 1) * sizeof(struct fan_slot));
	f->pending = f->n + 1;	/* one more, dropped below: no early poke */
	f->out = true;
	json_array_foreach(names, i, n)
		snprintf(f->r[i].name, sizeof(f->r[i].name), "%s",
		    json_string_value(n));
	for (i = 0; i < f->n; i++)
		fan_one(f, i, method, path, body ? json_deep_copy(body) :
		    NULL);
	json_decref(body);
	fan_reply_done(f);
}

bool
cl_fan_done(struct cl_fan *f)
{
	if (!f->out || f->pending)
		return false;
	f->out = false;
	return true;
}

void
cl_fan_clear(struct cl_fan *f)
{
	for (size_t i = 0; f->r && i < f->n; i++) {
		/* a call still out holds its slot: forget it (never called) */
		if (f->r[i].call)
			peer_call_cancel(f->r[i].call);
		json_decref(f->r[i].body);
	}
	free(f->r);
	free(f->slots);
	f->r = NULL;
	f->slots = NULL;
	f->n = f->pending = 0;
	f->out = false;
}

const char *
cl_reply_error(const struct cl_reply *r, char *buf, size_t len)
{
	if (r->status >= 200 && r->status < 300)
		return NULL;
	if (r->status == 403)
		snprintf(buf, len, "%s does not trust this host (run `tern "
		    "peer add` on %s for this host)", r->name, r->name);
	else if (r->status == 0)
		snprintf(buf, len, "%s does not answer: %s", r->name, r->err);
	else
		snprintf(buf, len, "%s: %s", r->name, r->err);
	return buf;
}

const char *
cl_fan_error(const struct cl_fan *f, char *buf, size_t len)
{
	for (size_t i = 0; i < f->n; i++)
		if (cl_reply_error(&f->r[i], buf, len))
			return buf;
	return NULL;
}
