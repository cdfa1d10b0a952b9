/* failover_api.c - failover of replicated VMs (src/failover): on the
 * replica host POST /v1/vms/NAME/failover ({"point": SEQ}, optional),
 * POST /v1/vms/NAME/failover/complete|cancel; on the primary POST
 * /v1/vms/NAME/failover/planned; from the primary over
 * mutual TLS POST /v1/replica/vms/UUID/failover ({"seq", "planned"});
 * from the replica host POST /v1/replications/UUID/failed-over. */
#include <errno.h>

#include "api.h"
#include "failover.h"
#include "http.h"
#include "jsonutil.h"
#include "replica.h"
#include "util.h"
#include "vm.h"

/* POST /v1/vms/NAME/failover */
int
api_vm_failover(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	static const char *const fields[] = { "point", NULL };
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job = NULL;
	int64_t seq = 0;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "failover", e)) < 0 ||
	    (r = json_get_int(body, "point", false, 1, INT64_MAX, &seq,
	    e)) < 0 ||
	    (r = failover_unplanned_start(a->h, vm, seq, false, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/vms/NAME/failover/planned {"timeout_s", "force"} (the
 * primary): 202 + the vm.failover-planned job. */
static int
api_vm_failover_planned(struct api *a, struct http_req *req,
    struct vm *vm, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = failover_planned_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/vms/NAME/failover/complete|cancel|planned */
int
api_vm_failover_end(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	struct job *job = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(p[1], "planned"))
		return api_vm_failover_planned(a, req, vm, e);
	if (streq(p[1], "complete")) {
		if ((r = failover_complete(a->h, vm, e)) < 0)
			return r;
		http_reply_json(req, 200, json_pack("{ss ss}", "vm",
		    vm->row->name, "failover", "completed"));
		return 0;
	}
	if (!streq(p[1], "cancel"))
		return err_set(e, -ENOENT, "no such API path; see docs/api.md");
	if ((r = failover_cancel_start(a->h, vm, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/replica/vms/UUID/failover (the primary: a planned failover) */
int
api_replica_failover(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job = NULL;
	int r;

	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "a failover is asked for by the "
		    "primary, a trusted peer, over HTTPS only");
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = failover_incoming(a->h, req->peer_fp, p[0], body, &job,
	    e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/replications/UUID/failed-over (the replica host: the VM
 * failed over there; this old primary holds its copy) */
int
api_replication_failed_over(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	int r;

	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "a failover is told by the replica "
		    "host, a trusted peer, over HTTPS only");
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = replica_incoming_failed_over(a->h, req->peer_fp, p[0], body,
	    e)) < 0)
		return r;
	http_reply_json(req, 200, json_object());
	return 0;
}

/* POST /v1/vms/NAME/replication/reverse (the new primary) */
int
api_vm_replication_reverse(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	struct job *job = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = failover_reverse_start(a->h, vm, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* POST /v1/replica/vms/UUID/adopt (the new primary, to the old one) */
int
api_replica_adopt(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	int r;

	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "an adoption is asked for by a "
		    "trusted peer over HTTPS only");
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = replica_incoming_adopt(a->h, req->peer_fp, p[0], body, e)) < 0)
		return r;
	http_reply_json(req, 200, json_pack("{sb}", "adopted", true));
	return 0;
}
