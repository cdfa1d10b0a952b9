/* checkpoint_api.c - checkpoints (src/checkpoint): GET
 * /v1/vms/NAME/checkpoints lists the tree; POST takes one (the
 * vm.checkpoint job, 202); POST .../checkpoints/CP/apply goes back to one;
 * DELETE .../checkpoints/CP deletes one (merged). */
#include <errno.h>

#include "api.h"
#include "checkpoint.h"
#include "http.h"
#include "jsonutil.h"
#include "util.h"
#include "vm.h"

int
api_vm_checkpoints(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job;
	json_t *list;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(req->method, "GET")) {
		list = checkpoint_list_json(vm);
		json_object_set_new(list, "vm", json_string(vm->row->name));
		http_reply_json(req, 200, list);
		return 0;
	}
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = checkpoint_create_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

int
api_vm_checkpoint(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	struct job *job;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	r = streq(req->method, "DELETE") ? checkpoint_delete_start(a->h, vm,
	    p[1], &job, e) : checkpoint_apply_start(a->h, vm, p[1], &job, e);
	if (r < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}
