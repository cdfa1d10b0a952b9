/* track_api.c - a VM's reference points of change tracking (src/track):
 * GET /v1/vms/NAME/refpoints lists them, with their age and the bytes
 * their bitmaps have tracked; DELETE /v1/vms/NAME/refpoints/POINT drops
 * one and frees its bitmaps. */
#include <errno.h>

#include "api.h"
#include "http.h"
#include "refpoint.h"
#include "util.h"
#include "vm.h"

int
api_vm_refpoints(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(req->method, "DELETE") &&
	    (r = track_refpoint_delete(vm, p[1], e)) < 0)
		return r;
	http_reply_json(req, 200, json_pack("{ss so}", "vm", vm->row->name,
	    "refpoints", track_refpoints_json(vm)));
	return 0;
}
