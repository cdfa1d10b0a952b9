/* vm_api.c - VM routes.  Synchronous checks answer bad input at once with
 * no change of state; anything that takes time becomes a job (202). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "job.h"
#include "jsonutil.h"
#include "util.h"
#include "vm.h"
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
	int r = store_vm_insert(a->h->store, row);

	if (r < 0) {
		vm_row_free(row);
		json_decref(details);
		return err_set(e, r, r == -EEXIST ? "a vm with that name, "
		    "uuid, disk path or MAC already exists" :
		    "cannot record vm");
	}
	vm = vm_add(a->h, row);
	r = vm_job_create(a->h, ops, vm, details, &job, e);
	if (r < 0) {
		(void)store_vm_delete(a->h->store, row->uuid);
		vm_remove(vm);
		return r;
	}
	job_start(job);
	api_reply_job(req, job, json_pack("{so}", "vm", vm_to_json(vm)));
	return 0;
}

int
api_vm_create(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm_row *row = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = vm_spec_parse(body, &row, e)) < 0)
		return r;
	if ((r = vm_spec_check(a->h, row, e)) < 0) {
		vm_row_free(row);
		return r;
	}
	return api_vm_start_new(a, req, row, &job_vm_create, NULL, e);
}


int
api_vm_delete(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *keep = http_req_arg(req, "keep_disks");
	struct vm *vm = NULL;
	struct job *job;
	int r = api_vm_lookup(a, p[0], &vm, e);

	if (r < 0)
		return r;
	if (!vm_is_down(vm) && !vm_job(vm))
		return err_set(e, -EBUSY, "vm '%s' is %s; turn it off first "
		    "('tern vm stop %s')", vm->row->name,
		    vm_state_name(vm->state), vm->row->name);
	r = vm_job_create(a->h, &job_vm_delete, vm, json_pack("{sb}",
	    "keep_disks", keep && !streq(keep, "0")), &job, e);
	if (r < 0)
		return r;
	job_start(job);
	api_reply_job(req, job, NULL);
	return 0;
}

/* Is action allowed in the VM's state?  Sets err if not. */
static int
vm_action_check(struct vm *vm, const char *action, struct err *e)
{
	const char *n = vm->row->name, *st = vm_state_name(vm->state);
	uint64_t total, avail;

	if (vm_job(vm))
		return err_set(e, -EBUSY, "vm '%s' is busy with job %lld (%s)",
		    n, (long long)vm_job(vm)->row->id, vm_job(vm)->ops->type);
	if (streq(action, "start")) {
		if (!vm_is_down(vm))
			return err_set(e, -EBUSY, "vm '%s' is %s, not off", n,
			    st);
		if (host_memory_mib(&total, &avail) == 0 &&
		    vm->row->memory_mib > avail)
			return err_set(e, -ENOMEM, "not enough memory to start "
			    "vm '%s': it needs %llu MiB, the host has %llu "
			    "MiB available", n,
			    (unsigned long long)vm->row->memory_mib,
			    (unsigned long long)avail);
	} else if (streq(action, "stop") && vm_is_down(vm) &&
	    vm->state != VM_SAVED) {
		return err_set(e, -EBUSY, "vm '%s' is already off", n);
	} else if ((streq(action, "shutdown") || streq(action, "quiesce")) &&
	    vm->state != VM_RUNNING) {
		return err_set(e, -EBUSY, "vm '%s' is %s, not running", n, st);
	} else if (streq(action, "save") && vm->state != VM_RUNNING) {
		return err_set(e, -EBUSY, "vm '%s' is %s; only a running VM "
		    "can be saved (resume it first)", n, st);
	} else if (streq(action, "pause") && vm->state != VM_RUNNING) {
		return err_set(e, -EBUSY, "vm '%s' is %s, not running", n, st);
	} else if (streq(action, "resume") && vm->state != VM_PAUSED) {
		return err_set(e, -EBUSY, "vm '%s' is %s, not paused", n, st);
	}
	return 0;
}

static const struct {
	const char *action;
	const struct job_ops *ops;
	const char *const *fields;	/* body fields it takes */
} vm_actions[] = {
	{ "start", &job_vm_start, NULL },
	{ "stop", &job_vm_stop, NULL },
	{ "pause", &job_vm_pause, NULL },
	{ "resume", &job_vm_resume, NULL },
	{ "save", &job_vm_save, NULL },
	{ "shutdown", &job_vm_shutdown,
	  (const char *const[]){ "timeout_s", "force", NULL } },
	{ "quiesce", &job_vm_quiesce, (const char *const[]){ "hold_s", NULL } },
};

/* The job details from an action's body: checked, copied. */
static int
vm_action_details(const char *action, const char *const *fields,
    json_t *body, json_t **ret, struct err *e)
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
	size_t i = 0;
	int r;

	while (i < ARRAY_SIZE(vm_actions) && !streq(vm_actions[i].action,
	    action))
		i++;
	if (i == ARRAY_SIZE(vm_actions))
		return err_set(e, -ENOENT, "no such action '%s'", action);
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = vm_action_details(action, vm_actions[i].fields, body,
	    &details, e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = vm_action_check(vm, action, e)) < 0 ||
	    (r = vm_job_create(a->h, vm_actions[i].ops, vm, TAKE_PTR(details),
	    &job, e)) < 0) {
		json_decref(details);
		return r;
	}
	job_start(job);
	api_reply_job(req, job, NULL);
	return 0;
}

/* Console bytes as JSON-safe text: other than \n, \r and \t, control and
 * non-ASCII bytes become '?' (the log holds raw serial output). */
static void
console_sanitize(char *buf, size_t n)
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
	path = vm_state_path(vm, "console.log");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		n = pread(fd, buf, CONSOLE_CHUNK, off);
	if (n < 0)
		n = 0;
	console_sanitize(buf, n);
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
	_cleanup_json_ json_t *body = NULL, *cur = NULL;
	_cleanup_free_ char *text = NULL;
	json_t *svc, *v;
	const char *key;
	struct vm *vm = NULL;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "vm config", e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	svc = json_object_get(body, "services");
	if (svc && !json_is_object(svc))
		return err_set(e, -EINVAL, "services must be an object");
	json_object_foreach(svc, key, v)
		if (vm_service_from_name(key) < 0 || !json_is_boolean(v))
			return err_set(e, -EINVAL, "unknown service '%.64s' or "
			    "not true/false (services: heartbeat, shutdown, "
			    "data-exchange, time-sync, quiesce)", key);
	cur = vm->row->services ? json_loads(vm->row->services, 0, NULL) : NULL;
	if (!cur)
		cur = json_object();
	json_object_update(cur, svc);
	text = json_to_string(cur);
	if ((r = store_vm_set_text(a->h->store, vm->row->uuid, "services",
	    text)) < 0)
		return err_setf_errno(e, r, "cannot record services");
	free(vm->row->services);
	vm->row->services = TAKE_PTR(text);
	host_event(a->h, "info", vm, 0, "services set: %s", vm->row->services);
	http_reply_json(req, 200, vm_to_json(vm));
	return 0;
}

static int
vm_kvp_store(struct api *a, struct vm *vm, json_t *kvp, struct err *e)
{
	_cleanup_free_ char *text = json_to_string(kvp);
	int r = store_vm_set_text(a->h->store, vm->row->uuid, "kvp", text);

	if (r < 0)
		return err_setf_errno(e, r, "cannot record key/values");
	free(vm->row->kvp);
	vm->row->kvp = TAKE_PTR(text);
	agent_kvp_push(vm);
	return 0;
}

/* GET .../kvp; PUT .../kvp/KEY {"value"}; DELETE .../kvp/KEY */
int
api_vm_kvp(struct api *a, struct http_req *req, char **p, struct err *e)
{
	static const char *const fields[] = { "value", NULL };
	_cleanup_json_ json_t *body = NULL, *kvp = NULL;
	const char *value = NULL;
	struct vm *vm = NULL;
	int r;

	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0)
		return r;
	kvp = vm->row->kvp ? json_loads(vm->row->kvp, 0, NULL) : NULL;
	if (!kvp)
		kvp = json_object();
	if (streq(req->method, "GET")) {
		http_reply_json(req, 200, json_pack("{sO}", "kvp", kvp));
		return 0;
	}
	if ((r = agent_kvp_check(p[1], NULL, e)) < 0)
		return r;
	if (streq(req->method, "DELETE")) {
		if (json_object_del(kvp, p[1]) < 0)
			return err_set(e, -ENOENT, "vm '%s' has no key '%s'",
			    vm->row->name, p[1]);
	} else {
		if ((r = api_body(req, &body, e)) < 0 ||
		    (r = json_check_fields(body, fields, "kvp", e)) < 0 ||
		    (r = json_get_str(body, "value", true, &value, e)) < 0 ||
		    (r = agent_kvp_check(p[1], value, e)) < 0)
			return r;
		if (!json_object_get(kvp, p[1]) &&
		    json_object_size(kvp) >= AGENT_KVP_MAX)
			return err_set(e, -E2BIG, "vm '%s' already has %d "
			    "key/values, the limit", vm->row->name,
			    AGENT_KVP_MAX);
		json_object_set_new(kvp, p[1], json_string(value));
	}
	if ((r = vm_kvp_store(a, vm, kvp, e)) < 0)
		return r;
	http_reply_json(req, 200, json_pack("{sO}", "kvp", kvp));
	return 0;
}
