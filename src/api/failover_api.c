/* failover_api.c - the failover routes (src/failover): each handler
 * parses, calls the module and replies; no failover logic here. */
#include <errno.h>

#include "api.h"
#include "failover.h"
#include "http.h"
#include "jsonutil.h"
#include "util.h"
#include "vm.h"

/* POST /v1/vms/NAME/failover/planned {"timeout_s", "force"}: 202 + job. */
int
api_vm_failover(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (!streq(p[1], "planned"))
		return err_set(e, -ENOENT, "no such API path; see docs/api.md");
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = failover_planned_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}
