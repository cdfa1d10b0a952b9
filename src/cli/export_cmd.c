/* export_cmd.c - "tern vm export" and "tern vm import": build the request
 * (directories made absolute, as for --disk-path), follow the job, say
 * what came of it.  Checks only what the command line can get wrong; the
 * export directory and its manifest are ternd's to judge. */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"
#include "vm_limits.h"

/* POST body, then follow the job; ret_job is the final job (NULL with
 * --no-wait, which prints the job instead). */
static int
export_call(struct cli *cli, const char *path, const json_t *body,
    json_t **ret_answer, json_t **ret_job, struct err *err)
{
	int r = http_call(cli->http, "POST", path, body, ret_answer, err);

	*ret_job = NULL;
	if (r < 0)
		return r;
	if (cli->no_wait)
		return cli_job_print_started(cli, *ret_answer, err);
	return cli_job_wait(cli, json_object_get(*ret_answer, "job"),
	    ret_job, err);
}

int
cmd_vm_export(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/export");
	_cleanup_free_ char *dir = cli_file_arg(cli, a->pos[1]);
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	_cleanup_json_ json_t *job = NULL;
	int r;

	if ((r = cli_json_set_str(body, "dir", dir, err)) < 0 ||
	    (r = export_call(cli, path, body, &answer, &job, err)) < 0 ||
	    !job)
		return r;
	if (cli->json)
		print_json(job);
	r = cli_job_check(job, err);
	if (r == 0 && !cli->json)
		printf("vm '%s' exported to %s\n", a->pos[0], dir);
	return r;
}

/* What both imports take: --copy [--pool P] or --register, --name;
 * into body as mode, pool and name.  Usage errors only. */
static int
import_mode(const struct cli_args *a, json_t *body, struct err *err)
{
	bool reg = cli_args_get(a, "register") != NULL;
	const char *name = cli_args_get(a, "name");
	const char *pool = cli_args_get(a, "pool");
	int r = 0;

	if (reg && cli_args_get(a, "copy"))
		return cli_usage(err, "--copy and --register exclude each "
		    "other");
	if (reg && pool)
		return cli_usage(err, "--pool goes with --copy: a registered "
		    "VM uses the files where they are");
	if (name)
		r = cli_json_set_str(body, "name", name, err);
	if (r == 0 && pool)
		r = cli_json_set_str(body, "pool", pool, err);
	json_object_set_new(body, "mode", json_string(reg ? "register" :
	    "copy"));
	return r;
}

/* The POST /v1/imports body; usage errors only. */
static int
import_body(struct cli *cli, const struct cli_args *a, json_t *body,
    struct err *err)
{
	_cleanup_free_ char *dir = cli_file_arg(cli, a->pos[0]);
	int r;

	if ((r = import_mode(a, body, err)) < 0 ||
	    (r = cli_json_set_str(body, "dir", dir, err)) < 0)
		return r;
	if (cli_args_get(a, "new-id"))
		json_object_set_new(body, "new_id", json_true());
	return 0;
}

/* POST body to url (an import), wait for its job, then read the VM it
 * made: *ret_job NULL (and 0) when the answer had no job. */
static int
import_call(struct cli *cli, const char *url, json_t *body,
    json_t **ret_answer, json_t **ret_job, json_t **ret_vm,
    const char **ret_name, struct err *err)
{
	_cleanup_free_ char *path = NULL;
	int r;

	*ret_name = NULL;
	if ((r = export_call(cli, url, body, ret_answer, ret_job, err)) < 0 ||
	    !*ret_job)
		return r;
	*ret_name = jv_str(json_object_get(*ret_answer, "vm"), "name");
	r = cli_job_check(*ret_job, err);
	if (r == 0 && *ret_name) {
		path = cli_path(cli, "/v1/vms/", *ret_name, NULL);
		r = http_call(cli->http, "GET", path, NULL, ret_vm, err);
	}
	return r;
}

int
cmd_vm_import(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	_cleanup_json_ json_t *job = NULL, *vm = NULL, *out = NULL;
	const char *name;
	int r;

	if ((r = import_body(cli, a, body, err)) < 0)
		return r;
	r = import_call(cli, "/v1/imports", body, &answer, &job, &vm, &name,
	    err);
	if (!job)
		return r;
	if (cli->json) {
		out = json_pack("{s:O?, s:O}", "vm", vm, "job", job);
		print_json(out);
	} else if (r == 0) {
		printf("vm '%s' imported: uuid %s, state %s\n", name,
		    jv_str(vm, "uuid"), jv_str(vm, "state"));
	}
	return r;
}

/* The POST /v1/vms/import-libvirt body: the file read here (the domain's
 * XML is the operator's file, not ternd's); usage errors only. */
static int
import_libvirt_body(const struct cli_args *a, json_t *body, struct err *err)
{
	_cleanup_free_ char *xml = NULL;
	size_t len = 0;
	int r;

	if ((r = import_mode(a, body, err)) < 0)
		return r;
	r = file_read_all(a->pos[0], VM_LIBVIRT_XML_MAX, &xml, &len);
	if (r == -EFBIG)
		return err_set(err, -EFBIG, "%s is larger than %d KiB: not a "
		    "libvirt domain definition (virsh dumpxml DOMAIN)",
		    a->pos[0], VM_LIBVIRT_XML_MAX / 1024);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read %s", a->pos[0]);
	if (strlen(xml) != len)
		return err_set(err, -EINVAL, "%s holds a NUL byte: not a "
		    "libvirt domain definition", a->pos[0]);
	return cli_json_set_str(body, "xml", xml, err);
}

static void
print_left_out(const json_t *answer)
{
	const json_t *list = json_object_get(answer, "left_out");
	size_t i;
	json_t *v;

	if (!json_array_size(list))
		return;
	printf("left out (tern provides its own or the guest does not "
	    "depend on them):\n");
	json_array_foreach(list, i, v)
		printf("  %s\n", json_string_value(v));
}

int
cmd_vm_import_libvirt(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	_cleanup_json_ json_t *job = NULL, *vm = NULL, *out = NULL;
	const char *name;
	int r;

	if ((r = import_libvirt_body(a, body, err)) < 0)
		return r;
	r = import_call(cli, "/v1/vms/import-libvirt", body, &answer, &job,
	    &vm, &name, err);
	if (!job)
		return r;
	if (cli->json) {
		out = json_pack("{s:O?, s:O, s:O?}", "vm", vm, "job", job,
		    "left_out", json_object_get(answer, "left_out"));
		print_json(out);
	} else if (r == 0) {
		printf("vm '%s' imported from libvirt: uuid %s, state %s\n",
		    name, jv_str(vm, "uuid"), jv_str(vm, "state"));
		print_left_out(answer);
	}
	return r;
}
