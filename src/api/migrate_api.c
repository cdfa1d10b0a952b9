/* migrate_api.c - moves between hosts: the operator's `vm move` and
 * `peer measure`, and the two calls one ternd makes to another
 * (POST /v1/migrations, POST /v1/migrations/JOB/commit).  The mechanics
 * are in src/migrate; this only parses and answers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonutil.h"
#include "migrate.h"
#include "util.h"
#include "vm.h"

/* POST /v1/vms/NAME/move {"to": "PEER"} */
int
api_vm_move(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = migrate_move_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/migrations: a peer prepares (or only checks) a move here. */
int
api_migration_create(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	json_t *check = NULL;
	int r;

	(void)p;
	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "moves arrive from trusted peers "
		    "over HTTPS only");
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = migrate_incoming(a->h, req->peer_fp, body, &job, &check,
	    e)) < 0)
		return r;
	if (!job) {
		http_reply_json(req, 200, check);
		return 0;
	}
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/migrations/JOB/commit */
int
api_migration_commit(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	int64_t id;
	int r;

	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "moves are committed by trusted "
		    "peers over HTTPS only");
	if ((r = api_parse_id(p[0], &id, e)) < 0 ||
	    (r = migrate_commit(a->h, id, e)) < 0)
		return r;
	api_reply_job(req, job_find(&a->h->jobs, id), NULL);
	return 0;
}

/* POST /v1/peers/NAME/measure */
int
api_peer_measure(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct job *job;
	int r;

	if (!a->h->peers)
		return err_set(e, -EINVAL, "this host has no HTTPS identity to "
		    "reach peers with (start ternd with --listen)");
	if ((r = migrate_measure_start(a->h, p[0], &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}
