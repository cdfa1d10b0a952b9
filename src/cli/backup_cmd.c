/* backup_cmd.c - change tracking and backups: vm refpoint list|delete. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

static void
refpoint_row(struct table *t, const json_t *rp, const json_t *d)
{
	char age[32], changed[32], gen[24];
	long long v = 0;
	const char *state = json_is_true(json_object_get(d, "complete")) ?
	    "complete" : "incomplete";

	fmt_duration((uint64_t)json_integer_value(json_object_get(rp,
	    "age_s")), age, sizeof(age));
	if (jv_int(d, "changed_bytes", &v))
		fmt_mib((uint64_t)v >> 20, changed, sizeof(changed));
	else
		snprintf(changed, sizeof(changed), "-");
	jv_int(d, "gen", &v);
	snprintf(gen, sizeof(gen), "%lld", v);
	table_row(t, (const char *const[]){ jv_str(rp, "name"),
	    jv_str(d, "disk"), age, changed, gen, state,
	    jv_str(d, "reason") ? jv_str(d, "reason") : "" });
}

static int
refpoints_print(struct cli *cli, const json_t *answer)
{
	static const char *const head[] = { "POINT", "DISK", "AGE",
		"CHANGED", "RUNS", "TRACKING", "WHY" };
	struct table *t;
	const json_t *rp, *d;
	size_t i, j;

	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	json_array_foreach(json_object_get(answer, "refpoints"), i, rp)
		json_array_foreach(json_object_get(rp, "disks"), j, d)
			refpoint_row(t, rp, d);
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* vm refpoint list NAME | vm refpoint delete NAME POINT */
int
cmd_vm_refpoint(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *verb = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *path = NULL, *suffix = NULL, *point = NULL;
	int r;

	if (streq(verb, "list")) {
		path = cli_path(cli, "/v1/vms/", a->pos[0], "/refpoints");
		r = http_call(cli->http, "GET", path, NULL, &answer, err);
		return r < 0 ? r : refpoints_print(cli, answer);
	}
	point = http_escape(cli->http, a->pos[1]);
	suffix = xasprintf("/refpoints/%s", point);
	path = cli_path(cli, "/v1/vms/", a->pos[0], suffix);
	if ((r = http_call(cli->http, "DELETE", path, NULL, &answer, err)) < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("vm '%s' reference point '%s' deleted\n", a->pos[0],
		    a->pos[1]);
	return 0;
}

/* backup create VM --to REPO [--full] [--quiesce] */
int
cmd_backup_create(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *to = cli_args_get(a, "to");
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/backup");
	_cleanup_free_ char *repo = NULL;
	int r;

	if (!to)
		return cli_usage(err, "backup create needs --to REPO (a "
		    "directory)");
	repo = cli_file_arg(cli, to);
	if ((r = cli_json_set_str(body, "repo", repo, err)) < 0)
		return r;
	if (cli_args_get(a, "full"))
		json_object_set_new(body, "full", json_true());
	if (cli_args_get(a, "quiesce"))
		json_object_set_new(body, "quiesce", json_true());
	return cli_vm_job(cli, "POST", path, body, a->pos[0], "backed up",
	    err);
}

static void
point_row(struct table *t, const json_t *p)
{
	char when[40], size[32];
	long long ms = 0, w = 0;

	jv_int(p, "time_ms", &ms);
	jv_int(p, "written_bytes", &w);
	wall_ms_format((uint64_t)ms, when, sizeof(when));
	fmt_mib((uint64_t)w >> 20, size, sizeof(size));
	table_row(t, (const char *const[]){ jv_str(p, "name"),
	    jv_str(p, "point"), jv_str(p, "kind"), jv_str(p, "consistency"),
	    when, size });
}

/* backup list REPO [--vm NAME] */
int
cmd_backup_list(struct cli *cli, const struct cli_args *a, struct err *err)
{
	static const char *const head[] = { "VM", "POINT", "KIND",
		"CONSISTENCY", "TAKEN", "STORED" };
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *repo = cli_file_arg(cli, a->pos[0]);
	_cleanup_free_ char *erepo = http_escape(cli->http, repo);
	_cleanup_free_ char *path = NULL, *evm = NULL;
	const char *vm = cli_args_get(a, "vm");
	struct table *t;
	const json_t *p;
	size_t i;
	int r;

	if (vm)
		evm = http_escape(cli->http, vm);
	path = xasprintf("/v1/backups?repo=%s%s%s", erepo, vm ? "&vm=" : "",
	    vm ? evm : "");
	if ((r = http_call(cli->http, "GET", path, NULL, &answer, err)) < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	json_array_foreach(json_object_get(answer, "points"), i, p)
		point_row(t, p);
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* The body's optional strings from the options of the same names. */
static int
set_opts(json_t *body, const struct cli_args *a, const char *const *names,
    struct err *err)
{
	int r = 0;

	for (size_t i = 0; r == 0 && names[i]; i++)
		if (cli_args_get(a, names[i]))
			r = cli_json_set_str(body, names[i], cli_args_get(a,
			    names[i]), err);
	return r;
}

/* POST body to path, then (unless --no-wait) wait for the job it starts
 * and check it; *ret_answer keeps the answer.  1 when the job succeeded
 * and a sentence may follow, 0 when nothing more is to be said. */
static int
repo_job(struct cli *cli, const char *path, const json_t *body,
    json_t **ret_answer, struct err *err)
{
	_cleanup_json_ json_t *job = NULL;
	int r;

	if ((r = http_call(cli->http, "POST", path, body, ret_answer,
	    err)) < 0)
		return r;
	if (cli->no_wait)
		return cli_job_print_started(cli, *ret_answer, err);
	if ((r = cli_job_wait(cli, json_object_get(*ret_answer, "job"), &job,
	    err)) < 0)
		return r;
	if (cli->json)
		print_json(job);
	if ((r = cli_job_check(job, err)) < 0)
		return r;
	return !cli->json;
}

/* backup restore REPO --point P [--vm NAME] [--name NEW] [--pool POOL] */
int
cmd_backup_restore(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	static const char *const names[] = { "point", "vm", "name", "pool",
		NULL };
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *repo = cli_file_arg(cli, a->pos[0]);
	int r;

	if (!cli_args_get(a, "point"))
		return cli_usage(err, "backup restore needs --point P (see: "
		    "tern backup list %s)", a->pos[0]);
	if ((r = cli_json_set_str(body, "repo", repo, err)) < 0 ||
	    (r = set_opts(body, a, names, err)) < 0 ||
	    (r = repo_job(cli, "/v1/backups/restore", body, &answer,
	    err)) <= 0)
		return r;
	printf("vm '%s' restored from point %s (off)\n",
	    jv_str(json_object_get(answer, "vm"), "name"),
	    cli_args_get(a, "point"));
	return 0;
}

/* backup verify REPO [--point P] [--vm NAME] */
int
cmd_backup_verify(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	static const char *const names[] = { "point", "vm", NULL };
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *repo = cli_file_arg(cli, a->pos[0]);
	int r;

	if ((r = cli_json_set_str(body, "repo", repo, err)) < 0 ||
	    (r = set_opts(body, a, names, err)) < 0 ||
	    (r = repo_job(cli, "/v1/backups/verify", body, &answer,
	    err)) <= 0)
		return r;
	printf("%s: every file and block matches\n", repo);
	return 0;
}

/* backup prune REPO --vm NAME --keep N */
int
cmd_backup_prune(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *body = json_object();
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *repo = cli_file_arg(cli, a->pos[0]);
	const char *vm = cli_args_get(a, "vm"), *keep = cli_args_get(a, "keep");
	uint64_t n = 0;
	int r;

	if (!vm || !keep)
		return cli_usage(err, "backup prune needs --vm NAME and "
		    "--keep N");
	if ((r = cli_parse_u64("--keep", keep, 1, 100000, &n, err)) < 0)
		return r;
	json_object_set_new(body, "keep", json_integer((json_int_t)n));
	if ((r = cli_json_set_str(body, "repo", repo, err)) < 0 ||
	    (r = cli_json_set_str(body, "vm", vm, err)) < 0 ||
	    (r = repo_job(cli, "/v1/backups/prune", body, &answer,
	    err)) <= 0)
		return r;
	printf("%s: vm '%s' keeps its newest %llu point(s)\n", repo, vm,
	    (unsigned long long)n);
	return 0;
}
