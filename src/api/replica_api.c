/* replica_api.c - Replica (src/replica): the replica server's settings
 * (GET, PUT, DELETE /v1/replica/server), a VM's replication (GET, POST,
 * DELETE /v1/vms/NAME/replication; POST .../replication/pause|resume),
 * every relationship (GET /v1/replications), and what a primary asks of
 * its replica server over mutual TLS (POST /v1/replica/vms, GET and DELETE
 * /v1/replica/vms/UUID), and a seed imported (POST /v1/replica/seeds). */
#include <errno.h>

#include "api.h"
#include "http.h"
#include "jsonutil.h"
#include "cluster.h"
#include "replica.h"
#include "util.h"
#include "vm.h"

int
api_replica_server(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	int r = 0;

	(void)p;
	if (streq(req->method, "PUT"))
		r = api_body(req, &body, e) < 0 ? -EINVAL :
		    replica_server_enable(a->h, body, e);
	else if (streq(req->method, "DELETE"))
		r = replica_server_disable(a->h, e);
	if (r < 0)
		return r;
	http_reply_json(req, 200, replica_server_get(a->h));
	return 0;
}

int
api_replications(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	(void)p;
	(void)e;
	http_reply_json(req, 200, json_pack("{so}", "replications",
	    replica_list(a->h)));
	return 0;
}

static bool
arg_true(struct http_req *req, const char *name)
{
	const char *v = http_req_arg(req, name);

	return v && !streq(v, "0") && !streq(v, "false");
}

/* 202 with job, or 200 with body (stolen; NULL: {}) when the request
 * was done at once. */
static void
reply_job_or(struct http_req *req, struct job *job, json_t *body)
{
	if (job) {
		json_decref(body);
		api_reply_job(req, job, NULL);
	} else {
		http_reply_json(req, 200, body ? body : json_object());
	}
}

/* What only a trusted peer asks, over HTTPS with its pinned certificate:
 * -EACCES with msg for anyone else. */
static int
from_peer(const struct http_req *req, const char *msg, struct err *e)
{
	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "%s", msg);
	return 0;
}

int
api_vm_replication(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job = NULL;
	json_t *o;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(req->method, "GET")) {
		if ((r = replica_show(a->h, vm, &o, e)) < 0)
			return r;
		http_reply_json(req, 200, o);
		return 0;
	}
	if (streq(req->method, "DELETE"))
		r = replica_remove_start(a->h, vm, arg_true(req,
		    "keep_replica"), &job, e);
	else if ((r = api_body(req, &body, e)) == 0)
		r = replica_enable_start(a->h, vm, body, &job, e);
	if (r < 0)
		return r;
	reply_job_or(req, job, NULL);
	return 0;
}

int
api_vm_replication_pause(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	json_t *o;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(p[1], "now") || streq(p[1], "verify") ||
	    streq(p[1], "resync")) {
		struct job *job;

		if ((r = streq(p[1], "now") ? replica_cycle_start(a->h, vm,
		    &job, e) : replica_verify_start(a->h, vm, streq(p[1],
		    "resync"), &job, e)) < 0)
			return r;
		api_reply_job(req, job, NULL);
		return 0;
	}
	if (streq(p[1], "reverse"))	/* failover_api.c */
		return api_vm_replication_reverse(a, req, p, e);
	if (!streq(p[1], "pause") && !streq(p[1], "resume"))
		return err_set(e, -ENOENT, "no such API path; see docs/api.md");
	if ((r = replica_pause(a->h, vm, streq(p[1], "pause"), e)) < 0 ||
	    (r = replica_show(a->h, vm, &o, e)) < 0)
		return r;
	http_reply_json(req, 200, o);
	return 0;
}

/* POST /v1/replica/vms/UUID/cycles (the primary) */
int
api_replica_cycles(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	int64_t applied_ms = 0;
	int r;

	if ((r = from_peer(req, "cycles come from trusted peers "
	    "over HTTPS only", e)) < 0)
		return r;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = replica_incoming_cycle(a->h, req->peer_fp, p[0], body, &job,
	    &applied_ms, e)) < 0)
		return r;
	/* a replica server in a cluster names its nodes: any may hold
	 * the replica later (src/replica/broker.c) */
	if (job)
		api_reply_job(req, job, json_pack("{so}", "cluster_nodes",
		    cluster_node_keys(a->h)));
	else
		http_reply_json(req, 200, json_pack("{sb sI so}", "applied",
		    true, "time_ms", (json_int_t)applied_ms, "cluster_nodes",
		    cluster_node_keys(a->h)));
	return 0;
}

/* POST /v1/replications/UUID/replica-moved (a node of the replica
 * server's cluster: it took the replica over) */
int
api_replication_replica_moved(struct api *a, struct http_req *req,
    char **p, struct err *e)
{
	int r;

	if ((r = from_peer(req, "a replica's new node tells its primary "
	    "over HTTPS only", e)) < 0 ||
	    (r = replica_broker_moved(a->h, req->peer_fp, p[0], e)) < 0)
		return r;
	http_reply_json(req, 200, json_object());
	return 0;
}

/* GET /v1/replica/deltas/UUID/POINT/DISK (the replica server) */
int
api_replica_delta(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	uint64_t size;
	int fd, r;

	if ((r = from_peer(req, "deltas go to trusted peers over "
	    "HTTPS only", e)) < 0)
		return r;
	if ((r = replica_delta_open(a->h, req->peer_fp, p[0], p[1], p[2], &fd,
	    &size, e)) < 0)
		return r;
	http_reply_file(req, fd, size);
	return 0;
}

/* POST /v1/replica/vms/UUID/maps (the primary: verify, resync) */
int
api_replica_maps(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct job *job = NULL;
	int r;

	if ((r = from_peer(req, "maps are asked for by trusted peers over "
	    "HTTPS only", e)) < 0 || (r = replica_incoming_map(a->h,
	    req->peer_fp, p[0], &job, e)) < 0)
		return r;
	reply_job_or(req, job, NULL);
	return 0;
}

/* GET /v1/replica/maps/UUID/DISK (the primary) */
int
api_replica_map(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	uint64_t size;
	int fd, r;

	if ((r = from_peer(req, "maps go to trusted peers over HTTPS only",
	    e)) < 0)
		return r;
	if ((r = replica_map_open(a->h, req->peer_fp, p[0], p[1], &fd, &size,
	    e)) < 0)
		return r;
	http_reply_file(req, fd, size);
	return 0;
}

/* From the primary, over HTTPS with its pinned certificate only. */
int
api_replica_vms(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	int r;

	if ((r = from_peer(req, "replicas are asked for by trusted "
	    "peers over HTTPS only", e)) < 0)
		return r;
	if (streq(req->method, "GET")) {
		json_t *o;

		if ((r = replica_incoming_status(a->h, req->peer_fp, p[0], &o,
		    e)) < 0)
			return r;
		http_reply_json(req, 200, o);
		return 0;
	}
	if (streq(req->method, "DELETE"))
		r = replica_incoming_remove(a->h, req->peer_fp, p[0],
		    arg_true(req, "keep"), &job, e);
	else if ((r = api_body(req, &body, e)) == 0)
		r = replica_incoming_create(a->h, req->peer_fp, body, &job, e);
	if (r < 0)
		return r;
	reply_job_or(req, job, NULL);
	return 0;
}

/* POST /v1/replica/seeds {"dir"} (the operator, on the replica host) */
int
api_replica_seeds(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = replica_seed_import(a->h, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}
