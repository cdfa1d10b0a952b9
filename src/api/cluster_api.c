/* cluster_api.c - the failover cluster (src/cluster): GET /v1/cluster
 * (status, and this host as a node), POST /v1/cluster (create), DELETE
 * /v1/cluster (destroy), POST /v1/cluster/nodes {"node"} (add), DELETE
 * /v1/cluster/nodes/NAME (evict); from another node over mutual TLS only
 * POST /v1/cluster/join, /update, /leave; validation: GET
 * /v1/cluster/facts (a node's facts for a validating peer), POST
 * /v1/cluster/validate (the job); the cluster's VMs: GET /v1/cluster/vms,
 * PUT and DELETE /v1/vms/NAME/ha (HA on, off).  Parses, calls one function of
 * src/cluster, renders; decides nothing itself. */
#include <errno.h>

#include "api.h"
#include "cluster.h"
#include "http.h"
#include "jsonutil.h"
#include "util.h"

/* GET, POST, DELETE /v1/cluster */
int
api_cluster(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	int r;

	(void)p;
	if (streq(req->method, "GET")) {
		http_reply_json(req, 200, cluster_get(a->h));
		return 0;
	}
	if (streq(req->method, "DELETE"))
		r = cluster_destroy_start(a->h, &job, e);
	else if ((r = api_body(req, &body, e)) == 0)
		r = cluster_create_start(a->h, body, &job, e);
	if (r < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/cluster/nodes {"node": NAME}, DELETE /v1/cluster/nodes/NAME */
int
api_cluster_nodes(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	static const char *const fields[] = { "node", NULL };
	_cleanup_json_ json_t *body = NULL;
	const char *name = NULL;
	struct job *job = NULL;
	int r;

	if (streq(req->method, "DELETE"))
		r = cluster_node_evict_start(a->h, p[0], &job, e);
	else if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "node", e)) < 0 ||
	    (r = json_get_str(body, "node", true, &name, e)) < 0)
		return r;
	else
		r = cluster_node_add_start(a->h, name, &job, e);
	if (r < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/cluster/maintain {run} (the round) and
 * /v1/cluster/maintenance/run {name} (one node's command) */
int
api_cluster_maintain(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	static const char *const f_round[] = { "run", NULL };
	static const char *const f_run[] = { "name", NULL };
	bool round = !strstr(req->url, "maintenance");
	_cleanup_json_ json_t *body = NULL;
	const char *name = NULL;
	struct job *job = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, round ? f_round : f_run,
	    "maintenance", e)) < 0 ||
	    (r = json_get_str(body, round ? "run" : "name", true, &name,
	    e)) < 0)
		return r;
	r = round ? cluster_maintain_start(a->h, name, &job, e) :
	    cluster_run_start(a->h, name, &job, e);
	if (r < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/cluster/balance */
int
api_cluster_balance(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = cluster_balance(a->h, body, &out, e)) < 0)
		return r;
	http_reply_json(req, 200, out);
	return 0;
}

/* POST /v1/cluster/nodes/NAME/drain|resume|clear-quarantine */
int
api_cluster_node_op(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	static const char *const fields[] = { "failback", NULL };
	_cleanup_json_ json_t *body = NULL;
	json_t *out = NULL;
	bool fb = false;
	int r;

	if (streq(p[1], "drain"))
		r = cluster_node_drain(a->h, p[0], &out, e);
	else if (streq(p[1], "clear-quarantine"))
		r = cluster_node_clear_quarantine(a->h, p[0], e);
	else if (!streq(p[1], "resume"))
		return err_set(e, -ENOENT, "no such node operation '%.40s' "
		    "(drain, resume, clear-quarantine)", p[1]);
	else if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "resume", e)) < 0 ||
	    (r = json_get_bool(body, "failback", &fb, e)) < 0)
		return r;
	else
		r = cluster_node_resume(a->h, p[0], fb, e);
	if (r < 0)
		return r;
	http_reply_json(req, 200, out ? out : json_pack("{ssss}", "node",
	    p[0], "done", p[1]));
	return 0;
}

/* POST /v1/cluster/join|update|leave (another node of the cluster) */
int
api_cluster_peer(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	int r;

	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "only another node of the cluster "
		    "joins, updates or takes out a node, over HTTPS");
	if (streq(p[0], "leave"))
		r = cluster_leave(a->h, req->peer_fp, e);
	else if ((r = api_body(req, &body, e)) < 0)
		return r;
	else if (streq(p[0], "join"))
		r = cluster_join(a->h, body, req->peer_fp, e);
	else if (streq(p[0], "update"))
		r = cluster_update(a->h, body, req->peer_fp, e);
	else
		return err_set(e, -ENOENT, "no such route");
	if (r < 0)
		return r;
	http_reply_json(req, 200, json_object());
	return 0;
}

/* GET /v1/cluster/facts: this host's facts (peers and local callers). */
int
api_cluster_facts(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	(void)p;
	(void)e;
	http_reply_json(req, 200, cluster_facts(a->h));
	return 0;
}

/* POST /v1/cluster/validate {"nodes": [NAME...]} (absent or empty: the
 * cluster's other nodes) -> 202 with the job. */
int
api_cluster_validate(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	static const char *const fields[] = { "nodes", NULL };
	_cleanup_json_ json_t *body = NULL;
	struct job *job;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "cluster validate",
	    e)) < 0)
		return r;
	r = cluster_validate_start(a->h, json_object_get(body, "nodes"), &job,
	    e);
	if (r < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* GET /v1/cluster/vms */
int
api_cluster_vms(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	(void)p, (void)e;
	http_reply_json(req, 200, cluster_vms(a->h));
	return 0;
}

/* PUT /v1/vms/NAME/ha {priority, preferred, anti_affinity, failback},
 * DELETE /v1/vms/NAME/ha */
int
api_vm_ha(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	json_t *ha = NULL;
	int r;

	if (streq(req->method, "DELETE")) {
		if ((r = cluster_ha_clear(a->h, p[0], e)) < 0)
			return r;
		http_reply_json(req, 200, json_pack("{ss}", "ha", "off"));
		return 0;
	}
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = cluster_ha_set(a->h, p[0], body, &ha, e)) < 0)
		return r;
	http_reply_json(req, 200, json_pack("{so}", "ha", ha));
	return 0;
}

/* PUT /v1/cluster/settings {resiliency_period_s, resiliency_level} */
int
api_cluster_settings(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL, *out = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = cluster_settings_set(a->h, body, &out, e)) < 0)
		return r;
	http_reply_json(req, 200, json_incref(out));
	return 0;
}
