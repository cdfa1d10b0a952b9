/* nic_api.c - a VM's NICs after create (vm/nic.h): POST
 * /v1/vms/NAME/nics adds one, DELETE /v1/vms/NAME/nics/NIC removes one,
 * PUT /v1/vms/NAME/nics/NIC changes its switch and VLANs.  A running
 * VM's add and remove answer once QEMU (and, for a remove, the guest)
 * did it; the answer is the VM. */
#include <errno.h>

#include "api.h"
#include "jsonutil.h"
#include "nic.h"
#include "util.h"
#include "vm.h"

/* PUT body {"switch"?, "vlan"? (0: none), "trunks"? ("": none)}. */
static int
nic_api_set(struct vm *vm, struct http_req *req, const char *nic,
    struct err *e)
{
	static const char *const fields[] = { "switch", "vlan", "trunks",
	    NULL };
	_cleanup_json_ json_t *body = NULL;
	const char *sw = NULL, *trunks = NULL;
	int64_t vlan = -1;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "nic", e)) < 0 ||
	    (r = json_get_str(body, "switch", false, &sw, e)) < 0 ||
	    (r = json_get_int(body, "vlan", false, 0, 65535, &vlan, e)) < 0 ||
	    (r = json_get_str(body, "trunks", false, &trunks, e)) < 0)
		return r;
	if (sw && !name_is_valid(sw))
		return err_set(e, -EINVAL, "switch '%.64s' is not a valid "
		    "switch name", sw);
	if ((r = vm_nic_set(vm, nic, sw, (long)vlan, trunks, e)) < 0)
		return r;
	http_reply_json(req, 200, vm_to_json(vm));
	return 0;
}

int
api_vm_nics(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(req->method, "PUT"))
		return nic_api_set(vm, req, p[1], e);
	if (streq(req->method, "POST")) {
		if ((r = api_body(req, &body, e)) < 0)
			return r;
		r = vm_nic_add(vm, body, api_reply_vm_done, req, e);
	} else {
		r = vm_nic_remove(vm, p[1], api_reply_vm_done, req, e);
	}
	return api_vm_change_started(req, vm, r);
}
