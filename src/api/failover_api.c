/* failover_api.c - failover of replicated VMs (src/failover): POST
 * /v1/vms/NAME/failover/test {"point", "switch"} and
 * /v1/vms/NAME/failover/test-stop, on the replica host; POST
 * /v1/vms/NAME/replication/drill {"every", "check"} (DR drills).  Parses and
 * calls one function; every decision is the failover module's. */
#include <errno.h>

#include "api.h"
#include "failover.h"
#include "http.h"
#include "jsonutil.h"
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
