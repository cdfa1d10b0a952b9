/* export_api.c - export and import routes.  Every check (the VM's state,
 * the export directory, the whole manifest and its files) runs before the
 * answer, so bad input changes nothing; the copying is a job (202). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "export.h"
#include "job.h"
#include "jsonutil.h"
#include "libvirt_import.h"
#include "util.h"
#include "vm.h"
#include "vm_action.h"

int
api_vm_export(struct api *a, struct http_req *req, char **p, struct err *e)
{
	static const char *const fields[] = { "dir", NULL };
	_cleanup_json_ json_t *body = NULL;
	json_t *details = NULL;
	const char *dir = NULL;
	struct vm *vm;
	struct job *job;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "vm export", e)) < 0 ||
	    (r = json_get_str(body, "dir", true, &dir, e)) < 0)
		return r;
	if ((r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = vm_action_allowed(vm, VM_ACT_EXPORT, e)) < 0 ||
	    (r = export_prepare(a->h, vm, dir, &details, e)) < 0 ||
	    (r = vm_action_start(vm, VM_ACT_EXPORT, details, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

static int
import_opts_parse(const json_t *body, struct import_opts *o, struct err *e)
{
	static const char *const fields[] = { "dir", "mode", "name",
		"new_id", "pool", NULL };
	const char *mode = "copy";
	int r;

	if ((r = json_check_fields(body, fields, "vm import", e)) < 0 ||
	    (r = json_get_str(body, "dir", true, &o->dir, e)) < 0 ||
	    (r = json_get_str(body, "mode", false, &mode, e)) < 0 ||
	    (r = json_get_str(body, "name", false, &o->name, e)) < 0 ||
	    (r = json_get_str(body, "pool", false, &o->pool, e)) < 0 ||
	    (r = json_get_bool(body, "new_id", &o->new_id, e)) < 0)
		return r;
	if (!streq(mode, "copy") && !streq(mode, "register"))
		return err_set(e, -EINVAL, "mode '%.32s' must be 'copy' or "
		    "'register'", mode);
	o->register_mode = streq(mode, "register");
	if (o->register_mode && o->pool)
		return err_set(e, -EINVAL, "pool applies to mode 'copy' only: "
		    "a registered VM uses the files where they are");
	return 0;
}

int
api_vm_import(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct import_opts o = { 0 };
	struct vm_row *row = NULL;
	json_t *details = NULL;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = import_opts_parse(body, &o, e)) < 0 ||
	    (r = import_prepare(a->h, &o, &row, &details, e)) < 0)
		return r;
	return api_vm_start_new(a, req, row, &job_vm_import, details, e);
}

/* POST /v1/vms/import-libvirt {"xml", "mode", "pool"?, "name"?}: the
 * domain checked whole (libvirt_import.c) before anything is made; the
 * reply's "left_out" lists what the VM does not carry over. */
int
api_vm_import_libvirt(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	static const char *const fields[] = { "xml", "mode", "pool", "name",
		NULL };
	_cleanup_json_ json_t *body = NULL;
	struct lv_import_opts o = { 0 };
	struct vm_row *row = NULL;
	json_t *details = NULL, *left_out;
	struct vm *vm;
	struct job *job;
	const char *mode = "copy";
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = json_check_fields(body, fields, "vm import-libvirt", e)) < 0 ||
	    (r = json_get_str(body, "xml", true, &o.xml, e)) < 0 ||
	    (r = json_get_str(body, "mode", false, &mode, e)) < 0 ||
	    (r = json_get_str(body, "pool", false, &o.pool, e)) < 0 ||
	    (r = json_get_str(body, "name", false, &o.name, e)) < 0)
		return r;
	if (!streq(mode, "copy") && !streq(mode, "register"))
		return err_set(e, -EINVAL, "mode '%.32s' must be 'copy' or "
		    "'register'", mode);
	o.register_mode = streq(mode, "register");
	o.len = strlen(o.xml);
	if (o.register_mode && o.pool)
		return err_set(e, -EINVAL, "pool applies to mode 'copy' only: "
		    "a registered VM uses the files where they are");
	if ((r = lv_import_prepare(a->h, &o, &row, &details, e)) < 0)
		return r;
	left_out = json_incref(json_object_get(details, "left_out"));
	if ((r = vm_create_start(a->h, row, &job_vm_import_libvirt, details,
	    &vm, &job, e)) < 0) {
		json_decref(left_out);
		return r;
	}
	api_reply_job(req, job, json_pack("{so so}", "vm", vm_to_json(vm),
	    "left_out", left_out));
	return 0;
}
