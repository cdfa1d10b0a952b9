/* storage_api.c - POST /v1/vms/NAME/move-storage: moving a VM's disks to
 * other pools on this host.  Every check runs before the answer (see
 * src/storage/plan.c), so a refused request changes nothing; the move
 * itself is the vm.move-storage job (202). */
#include <errno.h>

#include "api.h"
#include "jsonutil.h"
#include "storage.h"
#include "util.h"
#include "vm.h"

int
api_vm_move_storage(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = storage_move_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}
