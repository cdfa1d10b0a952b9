/* rp_int.h - what the replica module's files share; not for others. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "job.h"
#include "peer.h"

#define RP_CALL_MS 15000	/* one call to the peer */
#define RP_POLL_MS 500		/* the peer's job, while it runs */

/* One call to the peer in flight for a job; its reply pokes the job
 * (found again by reference: a reply for a job that ended reaches
 * nobody).  First member of the job's private state. */
struct rp_call {
	struct host *h;
	struct job_ref ref;
	struct peer_call *call;
	bool out, replied;
	long status;		/* HTTP status; 0: transport failed */
	json_t *reply;		/* the reply's body, or NULL */
	char err[256];		/* the transport's or the peer's message */
};

/* The job's rp_call, made on first use (job_priv of size bytes, which
 * start with a struct rp_call). */
struct rp_call *rp_call_of(struct job *job, size_t size);
/* Send METHOD path with body (stolen) to the job's details "peer_url",
 * "peer_fp". */
void rp_call_send(struct job *job, const char *method, const char *path,
    json_t *body);
/* Send METHOD path without a body, its reply ignored (it outlives the
 * job: a cancel of the peer's job on the way out). */
void rp_call_forget(struct job *job, const char *method, const char *path);
/* True once the reply is in (then c->out is false again). */
bool rp_call_done(struct rp_call *c);
/* The job's private state freed, a call in flight forgotten. */
void rp_call_free(struct job *job);
/* The peer's job id from a 202 reply, or 0. */
int64_t rp_call_job_id(const struct rp_call *c);

/* details "peer", "peer_url", "peer_fp" for peer name; -ENOENT when it
 * is not a trusted peer. */
int rp_peer_details(struct host *h, json_t *details, const char *peer,
    struct err *err);
