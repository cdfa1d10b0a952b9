/* vm_api.c - VM routes.  Synchronous checks answer bad input at once with
 * no change of state; anything that takes time becomes a job (202). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cloudinit.h"
#include "job.h"
#include "jsonutil.h"
#include "media.h"
#include "screen.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"
#include "vm_spec.h"

#define CONSOLE_CHUNK (64 * 1024)

int
api_vm_lookup(struct api *a, const char *name, struct vm **ret, struct err *e)
{
	struct vm *vm = vm_find(a->h, name);

	if (!vm)
		return err_set(e, -ENOENT, "vm '%.64s' not found (see 'tern "
		    "vm list')", name);
	*ret = vm;
	return 0;
}

int
api_vm_list(struct api *a, struct http_req *req, char **p, struct err *e)
{
	json_t *arr = json_array();

	(void)p;
	(void)e;
	for (size_t i = 0; i < a->h->n_vms; i++)
		json_array_append_new(arr, vm_to_json(a->h->vms[i]));
	http_reply_json(req, 200, json_pack("{so}", "vms", arr));
	return 0;
}

int
api_vm_get(struct api *a, struct http_req *req, char **p, struct err *e)
{
	struct vm *vm = NULL;
	int r = api_vm_lookup(a, p[0], &vm, e);

	if (r < 0)
		return r;
	http_reply_json(req, 200, vm_to_json(vm));
	return 0;
}

int
api_vm_start_new(struct api *a, struct http_req *req, struct vm_row *row,
    const struct job_ops *ops, json_t *details, struct err *e)
{
	struct vm *vm;
	struct job *job;
	int r = vm_create_start(a->h, row, ops, details, &vm, &job, e);

	if (r < 0)
		return r;
	api_reply_job(req, job, json_pack("{so}", "vm", vm_to_json(vm)));
	return 0;
}

int
api_vm_create(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm_row *row = NULL;
	json_t *details = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = vm_spec_parse(body, &row, e)) < 0)
		return r;
	if ((r = vm_spec_check(a->h, row, e)) < 0 ||
	    (r = cloudinit_plan(a->h, body, row, &details, e)) < 0) {
		store_vm_row_free(row);
		return r;
	}
	return api_vm_start_new(a, req, row, &job_vm_create, details, e);
}

int
api_vm_delete(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *keep = http_req_arg(req, "keep_disks");
	struct vm *vm = NULL;
	struct job *job;
	int r = api_vm_lookup(a, p[0], &vm, e);

	if (r < 0 || (r = vm_action_start(vm, VM_ACT_DELETE,
	    json_pack("{sb}", "keep_disks", keep && !streq(keep, "0")), &job,
	    e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* The body fields each action takes (NULL: none), by enum vm_action. */
static const char *const *const vm_action_fields[VM_ACT__COUNT] = {
	[VM_ACT_SHUTDOWN] = (const char *const[]){ "timeout_s", "force",
	    NULL },
	[VM_ACT_QUIESCE] = (const char *const[]){ "hold_s", NULL },
};

/* The job details from an action's body: checked, copied. */
static int
vm_action_details(const char *action, const char *const *fields,
    const json_t *body, json_t **ret, struct err *e)
{
	static const char *const none[] = { NULL };
	int64_t v = 0;
	bool force = false;
	int r;

	if ((r = json_check_fields(body, fields ? fields : none, action,
	    e)) < 0)
		return r;
	*ret = json_object();
	if (streq(action, "shutdown")) {
		v = 120;
		if ((r = json_get_int(body, "timeout_s", false, 1, 3600, &v,
		    e)) < 0 || (r = json_get_bool(body, "force", &force, e)) < 0)
			return r;
		json_object_set_new(*ret, "timeout_s", json_integer(v));
		json_object_set_new(*ret, "force", json_boolean(force));
	} else if (streq(action, "quiesce")) {
		if ((r = json_get_int(body, "hold_s", false, 0, 600, &v,
		    e)) < 0)
			return r;
		json_object_set_new(*ret, "hold_s", json_integer(v));
	}
	return 0;
}

int
api_vm_action(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *action = strrchr(req->url, '/') + 1;
	_cleanup_json_ json_t *body = NULL;
	json_t *details = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r = vm_action_from_name(action, e);
	int act = r;

	if (r < 0 || (r = api_body(req, &body, e)) < 0 ||
	    (r = vm_action_details(action, vm_action_fields[act], body,
	    &details, e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0) {
		json_decref(details);
		return r;
	}
	if ((r = vm_action_start(vm, act, details, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

/* Console bytes as JSON-safe text: other than \n, \r and \t, control and
 * non-ASCII bytes become '?' (the log holds raw serial output). */
void
api_console_sanitize(char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = buf[i];

		if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') ||
		    c >= 0x7f)
			buf[i] = '?';
	}
}

int
api_vm_console(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *off_s = http_req_arg(req, "offset");
	long long off = off_s ? strtoll(off_s, NULL, 10) : 0;
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *buf = xmalloc(CONSOLE_CHUNK + 1);
	_cleanup_close_ int fd = -1;
	struct vm *vm = NULL;
	ssize_t n = 0;
	int r = api_vm_lookup(a, p[0], &vm, e);

	if (r < 0)
		return r;
	if (off < 0)
		return err_set(e, -EINVAL, "offset must be >= 0");
	if (http_req_arg(req, "follow") && streq(http_req_arg(req, "follow"),
	    "1"))
		return api_console_follow(a, req, vm, e);
	path = vm_state_path(vm, "console.log");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		n = pread(fd, buf, CONSOLE_CHUNK, off);
	if (n < 0)
		n = 0;
	api_console_sanitize(buf, n);
	buf[n] = '\0';
	http_reply_json(req, 200, json_pack("{sI ss}", "offset",
	    (json_int_t)(off + n), "data", buf));
	return 0;
}

/* POST /v1/vms/NAME/config {"services": {"heartbeat": false, ...}} */
int
api_vm_config(struct api *a, struct http_req *req, char **p, struct err *e)
{
	static const char *const fields[] = { "services", NULL };
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "vm config", e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = vm_services_update(vm, json_object_get(body, "services"),
	    e)) < 0)
		return r;
	http_reply_json(req, 200, vm_to_json(vm));
	return 0;
}

/* GET .../kvp; PUT .../kvp/KEY {"value"}; DELETE .../kvp/KEY */
int
api_vm_kvp(struct api *a, struct http_req *req, char **p, struct err *e)
{
	static const char *const fields[] = { "value", NULL };
	_cleanup_json_ json_t *body = NULL;
	const char *value = NULL;
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (!streq(req->method, "GET")) {
		/* the key is judged before the body, as it always was */
		if ((r = agent_kvp_check(p[1], NULL, e)) < 0)
			return r;
		if (!streq(req->method, "DELETE") &&
		    ((r = api_body(req, &body, e)) < 0 ||
		    (r = json_check_fields(body, fields, "kvp", e)) < 0 ||
		    (r = json_get_str(body, "value", true, &value, e)) < 0))
			return r;
		if ((r = vm_kvp_update(vm, p[1], value, e)) < 0)
			return r;
	}
	http_reply_json(req, 200, json_pack("{so}", "kvp", vm_kvp_get(vm)));
	return 0;
}

int
api_vm_change_started(struct http_req *req, struct vm *vm, int r)
{
	if (r < 0)
		return r;
	if (r == 1)
		http_req_defer(req);
	else
		http_reply_json(req, 200, vm_to_json(vm));
	return 0;
}

void
api_reply_vm_done(struct vm *vm, const struct err *e, void *data)
{
	struct http_req *req = data;
	unsigned status;

	if (!e && vm) {
		http_reply_json(req, 200, vm_to_json(vm));
		return;
	}
	status = e ? api_status_of(e->code) : 404;
	api_reply_error_code(req, status, status == 409 ? "conflict" :
	    status == 400 ? "invalid" : status == 404 ? "not_found" :
	    "internal", e ? e->msg : "the vm is gone");
}

/* PUT /v1/vms/NAME/media {"iso": PATH}: insert (or swap) the CD drive's
 * medium; DELETE: eject it.  A running VM's answer waits for QEMU. */
int
api_vm_media(struct api *a, struct http_req *req, char **p, struct err *e)
{
	static const char *const fields[] = { "iso", NULL };
	_cleanup_json_ json_t *body = NULL;
	const char *iso = NULL;
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	if (streq(req->method, "PUT") &&
	    ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "media", e)) < 0 ||
	    (r = json_get_str(body, "iso", true, &iso, e)) < 0))
		return r;
	if (iso && iso[0] != '/')
		return err_set(e, -EINVAL, "iso must be an absolute path");
	return api_vm_change_started(req, vm, vm_media_change(vm, iso,
	    api_reply_vm_done, req, e));
}

static void
vm_api_on_shot(void *data, const void *png, size_t len, const struct err *e)
{
	struct http_req *req = data;

	unsigned status = png ? 200 : api_status_of(e->code);

	if (!png) {	/* QEMU refused, or went away meanwhile */
		api_reply_error_code(req, status, status == 409 ?
		    "conflict" : "internal", e->msg);
		return;
	}
	http_queue_bytes(req, 200, "image/png", png, len);
}

/* GET /v1/vms/NAME/screenshot: QEMU's screendump as image/png, answered
 * once QEMU wrote it (the request deferred meanwhile). */
int
api_vm_screenshot(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = vm_screenshot(vm, vm_api_on_shot, req, e)) < 0)
		return r;
	http_req_add_header(req, "Cache-Control", "no-store");
	http_req_defer(req);
	return 0;
}
