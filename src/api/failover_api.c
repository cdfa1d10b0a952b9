/* failover_api.c - failover of replicated VMs (src/failover): POST
 * /v1/vms/NAME/failover/test {"point", "switch"} and
 * /v1/vms/NAME/failover/test-stop, on the replica host; POST
 * /v1/vms/NAME/replication/drill {"every", "check"} (DR drills); a VM's
 * failover IPs set (PUT /v1/vms/NAME/replication/settings), the primary's
 * push of them to its replica server (PUT /v1/replica/vms/UUID/settings,
 * over mutual TLS) and the alternate IP applied to a running VM now (POST
 * /v1/vms/NAME/failover/apply-ip).  Parses and calls one function; every
 * decision is the failover module's. */
#include <errno.h>
#include <stdlib.h>

#include "api.h"
#include "failover.h"
#include "http.h"
#include "jsonutil.h"
#include "replica.h"
#include "store.h"
#include "util.h"
#include "vm.h"

int
api_vm_failover_test(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = api_body(req, &body, e)) < 0)
		return r;
	if ((r = failover_test_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

int
api_vm_failover_test_stop(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	struct job *job = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = failover_test_stop(a->h, vm, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

int
api_vm_replication_drill(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job = NULL;
	json_t *sched = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = api_body(req, &body, e)) < 0 ||
	    (r = failover_drill(a->h, vm, body, &job, &sched, e)) < 0)
		return r;
	if (job)
		api_reply_job(req, job, NULL);
	else
		http_reply_json(req, 200, json_pack("{so}", "drill", sched));
	return 0;
}

int
api_vm_failover_ip(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job = NULL;
	json_t *o;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = api_body(req, &body, e)) < 0 ||
	    (r = failover_ip_set(a->h, vm, body, &job, e)) < 0)
		return r;
	if (job) {
		api_reply_job(req, job, NULL);
		return 0;
	}
	if ((r = replica_show(a->h, vm, &o, e)) < 0)
		return r;
	http_reply_json(req, 200, o);
	return 0;
}

int
api_replica_settings(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	int r;

	if (!req->tls || !req->has_peer_fp)
		return err_set(e, -EACCES, "a replica's settings come from its "
		    "primary over HTTPS only");
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = failover_ip_incoming(a->h, req->peer_fp, p[0], body, e)) < 0)
		return r;
	http_reply_json(req, 200, json_object());
	return 0;
}

/* The VM's own relationship's failover_ip, applied now. */
int
api_vm_failover_apply_ip(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct replication_row row;
	_cleanup_json_ json_t *s = NULL;
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (store_replication_get(a->h->store, vm->row->uuid, &row) < 0)
		return err_set(e, -ENOENT, "vm '%s' is not replicated, so it "
		    "has no failover IP", vm->row->name);
	s = row.settings ? json_loads(row.settings, 0, NULL) : NULL;
	replication_row_done(&row);
	if ((r = failover_altip_apply(a->h, vm, json_object_get(s,
	    "failover_ip"), e)) < 0)
		return r;
	http_reply_json(req, 202, json_pack("{ss}", "applying", "the result "
	    "comes as an event (tern events)"));
	return 0;
}

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

/* POST /v1/vms/NAME/failover/complete|cancel */
int
api_vm_failover_end(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	struct job *job = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
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
