/* backup_api.c - backups (src/backup): POST /v1/vms/NAME/backup takes a
 * point (the vm.backup job, 202); GET /v1/backups?repo=DIR[&vm=NAME]
 * lists a repository's points. */
#include <errno.h>

#include "api.h"
#include "backup.h"
#include "http.h"
#include "jsonutil.h"
#include "util.h"
#include "vm.h"
#include "vm_job.h"

int
api_vm_backup(struct api *a, struct http_req *req, char **p, struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm *vm = NULL;
	struct job *job;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = api_vm_lookup(a, p[0], &vm, e)) < 0 ||
	    (r = backup_start(a->h, vm, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

int
api_backup_list(struct api *a, struct http_req *req, char **p, struct err *e)
{
	const char *repo = http_req_arg(req, "repo");
	const char *vm_arg = http_req_arg(req, "vm");
	const char *uuid = NULL;
	struct vm *vm = NULL;
	json_t *list = NULL;
	int r;

	(void)p;
	if (!repo)
		return err_set(e, -EINVAL, "give the repository: "
		    "/v1/backups?repo=DIR");
	if (vm_arg) {
		vm = vm_find(a->h, vm_arg);
		uuid = vm ? vm->row->uuid : vm_arg;
	}
	if ((r = backup_list(repo, uuid, &list, e)) < 0)
		return r;
	http_reply_json(req, 200, json_pack("{ss so}", "repo", repo,
	    "points", list));
	return 0;
}

int
api_backup_restore(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	_cleanup_json_ json_t *body = NULL;
	struct vm_row *row = NULL;
	struct vm *vm = NULL;
	json_t *details = NULL;
	struct job *job;
	int r;

	(void)p;
	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = backup_restore_prepare(a->h, body, &row, &vm, &details,
	    e)) < 0)
		return r;
	if (row)
		return api_vm_start_new(a, req, row, &job_vm_restore, details,
		    e);
	if ((r = vm_job_create(a->h, &job_vm_restore, vm, details, &job,
	    e)) < 0)
		return r;
	job_start(job);
	api_reply_job(req, job, json_pack("{so}", "vm", vm_to_json(vm)));
	return 0;
}

/* A repository job's request: the body to start, the job (202). */
static int
repo_job(struct api *a, struct http_req *req, struct err *e,
    int (*start)(struct host *, const json_t *, struct job **, struct err *))
{
	_cleanup_json_ json_t *body = NULL;
	struct job *job;
	int r;

	if ((r = api_body(req, &body, e)) < 0 ||
	    (r = start(a->h, body, &job, e)) < 0)
		return r;
	api_reply_job(req, job, NULL);
	return 0;
}

int
api_backup_verify(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	(void)p;
	return repo_job(a, req, e, backup_verify_start);
}

int
api_backup_prune(struct api *a, struct http_req *req, char **p,
    struct err *e)
{
	(void)p;
	return repo_job(a, req, e, backup_prune_start);
}
