/* cluster_api.c - the failover cluster's routes (docs/api.md "Cluster"):
 * a node's facts for a validating peer and the validation job.  Parses,
 * calls one function of src/cluster, renders; decides nothing itself. */
#include <errno.h>

#include "api.h"
#include "cluster.h"
#include "jsonutil.h"
#include "util.h"

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
