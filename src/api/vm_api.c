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

static int
vm_lookup(struct api *a, const char *name, struct vm **ret, struct err *e)
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
	int r = vm_lookup(a, p[0], &vm, e);

	if (r < 0)
		return r;
	http_reply_json(req, 200, vm_to_json(vm));
	return 0;
}

static void
reply_job(struct http_req *req, struct job *job, json_t *extra)
{
	json_t *o = extra ? extra : json_object();

	json_object_set_new(o, "job", job_to_json(job));
	http_reply_json(req, 202, o);
}

int
api_vm_create(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm_row *row = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = vm_spec_parse(body, &row, e)) < 0)
		return r;
	if ((r = vm_spec_check(a->h, row, e)) < 0) {
		vm_row_free(row);
		return r;
	}
	r = store_vm_insert(a->h->store, row);
	if (r < 0) {
		vm_row_free(row);
		return err_set(e, r, r == -EEXIST ? "a vm with that name, "
		    "disk path or MAC already exists" : "cannot record vm");
	}
	vm = vm_add(a->h, row);
	r = job_create(a->h, &job_vm_create, vm, NULL, &job, e);
	if (r < 0) {
		(void)store_vm_delete(a->h->store, row->uuid);
		vm_remove(vm);
		return r;
	}
	job_start(job);
	reply_job(req, job, json_pack("{so}", "vm", vm_to_json(vm)));
	return 0;
}

static bool
vm_is_off(const struct vm *vm)
{
	return vm->state == VM_OFF || vm->state == VM_CRASHED;
}

int
api_vm_delete(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *keep = http_req_arg(req, "keep_disks");
	struct vm *vm = NULL;
	struct job *job;
	int r = vm_lookup(a, p[0], &vm, e);

	if (r < 0)
		return r;
	if (!vm_is_off(vm) && !vm->job)
		return err_set(e, -EBUSY, "vm '%s' is %s; turn it off first "
		    "('tern vm stop %s')", vm->row->name,
		    vm_state_name(vm->state), vm->row->name);
	r = job_create(a->h, &job_vm_delete, vm, json_pack("{sb}",
	    "keep_disks", keep && !streq(keep, "0")), &job, e);
	if (r < 0)
		return r;
	job_start(job);
	reply_job(req, job, NULL);
	return 0;
}

/* Is action allowed in the VM's state?  Sets err if not. */
static int
vm_action_check(struct vm *vm, const char *action, struct err *e)
{
	const char *n = vm->row->name, *st = vm_state_name(vm->state);
	uint64_t total, avail;

	if (vm->job)
		return err_set(e, -EBUSY, "vm '%s' is busy with job %lld (%s)",
		    n, (long long)vm->job->row->id, vm->job->ops->type);
	if (streq(action, "start")) {
		if (!vm_is_off(vm))
			return err_set(e, -EBUSY, "vm '%s' is %s, not off", n,
			    st);
		if (host_memory_mib(&total, &avail) == 0 &&
		    vm->row->memory_mib > avail)
			return err_set(e, -ENOMEM, "not enough memory to start "
			    "vm '%s': it needs %llu MiB, the host has %llu "
			    "MiB available", n,
			    (unsigned long long)vm->row->memory_mib,
			    (unsigned long long)avail);
	} else if (streq(action, "stop") && vm_is_off(vm)) {
		return err_set(e, -EBUSY, "vm '%s' is already off", n);
	} else if (streq(action, "pause") && vm->state != VM_RUNNING) {
		return err_set(e, -EBUSY, "vm '%s' is %s, not running", n, st);
	} else if (streq(action, "resume") && vm->state != VM_PAUSED) {
		return err_set(e, -EBUSY, "vm '%s' is %s, not paused", n, st);
	}
	return 0;
}

int
api_vm_action(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *action = strrchr(req->url, '/') + 1;
	const struct job_ops *ops = streq(action, "start") ? &job_vm_start :
	    streq(action, "stop") ? &job_vm_stop :
	    streq(action, "pause") ? &job_vm_pause : &job_vm_resume;
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r;

	if ((r = api_body(req, &body, e)) < 0)
		return r;
	if (json_object_size(body) > 0)
		return err_set(e, -EINVAL, "vm %s takes no fields", action);
	if ((r = vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = vm_action_check(vm, action, e)) < 0 ||
	    (r = job_create(a->h, ops, vm, NULL, &job, e)) < 0)
		return r;
	job_start(job);
	reply_job(req, job, NULL);
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
	int r = vm_lookup(a, p[0], &vm, e);

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
