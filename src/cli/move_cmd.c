/* move_cmd.c - "tern vm move", "tern vm move-storage" and "tern peer
 * measure": start the job, follow it with the progress bar, and say what
 * happened in figures. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

static int
move_follow(struct cli *cli, const char *path, const json_t *body,
    json_t **ret_job, struct err *err)
{
	_cleanup_json_ json_t *answer = NULL;
	int r = http_call(cli->http, "POST", path, body, &answer, err);

	if (r < 0)
		return r;
	if (cli->no_wait)
		return cli_job_print_started(cli, answer, err) < 0 ? -EPROTO :
		    1;
	r = cli_job_wait(cli, json_object_get(answer, "job"), ret_job, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(*ret_job);
	return cli_job_check(*ret_job, err);
}

/* --copy-storage, --pool POOL, --disk vdX=POOL (repeatable). */
static int
move_storage_opts(const struct cli_args *a, json_t *body, struct err *err)
{
	const char *pool = cli_args_get(a, "pool");
	json_t *disks = json_object();
	int r = 0;

	if (cli_args_get(a, "copy-storage"))
		json_object_set_new(body, "copy_storage", json_true());
	if (pool)
		r = cli_json_set_str(body, "pool", pool, err);
	for (int i = 0; r == 0 && i < a->nopt; i++) {
		const char *v = a->opt[i].value, *eq = strchr(v, '=');
		_cleanup_free_ char *name = NULL;

		if (!streq(a->opt[i].name, "disk"))
			continue;
		if (!eq || eq == v || !eq[1])
			r = cli_usage(err, "--disk takes vdX=POOL, not '%s'",
			    v);
		else if (pool)
			r = cli_usage(err, "--pool and --disk exclude each "
			    "other");
		else if (json_object_get(disks, (name = strndup(v, eq - v))))
			r = cli_usage(err, "disk %s is named twice", name);
		else
			json_object_set_new(disks, name, json_string(eq + 1));
	}
	if (r == 0 && json_object_size(disks))
		json_object_set(body, "disks", disks);
	json_decref(disks);
	return r;
}

int
cmd_vm_move(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *to = cli_args_get(a, "to");
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/move");
	_cleanup_json_ json_t *body = json_object(), *job = NULL;
	json_t *d, *res;
	int r;

	if (!to)
		return cli_usage(err, "missing option --to PEER");
	if ((r = cli_json_set_str(body, "to", to, err)) < 0 ||
	    (r = move_storage_opts(a, body, err)) < 0)
		return r;
	r = move_follow(cli, path, body, &job, err);
	if (r != 0 || cli->json)
		return r > 0 ? 0 : r;
	d = json_object_get(job, "details");
	res = json_object_get(d, "result");
	if (streq(jv_str(d, "mode"), "live"))
		printf("vm '%s' moved to %s: %s, %s, in %.1f s "
		    "(downtime %lld ms, %.1f MiB of memory sent in %lld "
		    "passes%s)\n", a->pos[0], to, streq(jv_str(d,
		    "memory_copy"), "paused") ? "running, memory copied "
		    "paused" : "live", streq(jv_str(d, "storage"),
		    "copy") ? "shared-nothing (disks copied)" :
		    "shared storage", json_integer_value(json_object_get(d,
		    "total_ms")) / 1000.0, (long long)json_integer_value(
		    json_object_get(res, "downtime_ms")),
		    json_integer_value(json_object_get(res, "bytes")) /
		    1048576.0, (long long)json_integer_value(json_object_get(
		    res, "passes")), json_is_true(json_object_get(d,
		    "encrypted")) ? ", encrypted" : ", not encrypted");
	else
		printf("vm '%s' moved to %s (it is off or saved: no memory "
		    "to copy)\n", a->pos[0], to);
	return 0;
}

int
cmd_peer_measure(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = cli_path(cli, "/v1/peers/", a->pos[0],
	    "/measure");
	_cleanup_json_ json_t *job = NULL;
	int r = move_follow(cli, path, NULL, &job, err);

	if (r != 0 || cli->json)
		return r > 0 ? 0 : r;
	printf("link to %s: %.1f MiB/s\n", a->pos[0], json_integer_value(
	    json_object_get(json_object_get(job, "details"),
	    "rate_bytes_per_s")) / 1048576.0);
	return 0;
}

/* A target as the daemon must see it: a pool name as given, a directory
 * (anything with a '/' or starting with '.') made absolute. */
static char *
storage_target(struct cli *cli, const char *v)
{
	if (strchr(v, '/') || v[0] == '.')
		return cli_file_arg(cli, v);
	return xstrdup(v);
}

/* --disk NAME=TARGET options into {"disks": {NAME: TARGET}}. */
static int
storage_disks(struct cli *cli, const struct cli_args *a, json_t *disks,
    struct err *err)
{
	for (int i = 0; i < a->nopt; i++) {
		const char *v = a->opt[i].value, *eq = strchr(v, '=');
		_cleanup_free_ char *name = NULL, *target = NULL;
		int r;

		if (!streq(a->opt[i].name, "disk"))
			continue;
		if (!eq || eq == v || !eq[1])
			return cli_usage(err, "invalid --disk '%s': expected "
			    "DISK=POOL|DIR, like vda=fast", v);
		name = xasprintf("%.*s", (int)(eq - v), v);
		if (json_object_get(disks, name))
			return cli_usage(err, "disk %s given twice", name);
		target = storage_target(cli, eq + 1);
		if ((r = cli_json_set_str(disks, name, target, err)) < 0)
			return r;
	}
	return 0;
}

static void
storage_summary(const char *vm, const char *to, const json_t *job)
{
	const json_t *d = json_object_get(job, "details");
	const json_t *disks = json_object_get(d, "disks"), *k;
	long long copied = 0, ms = 0;
	size_t i, n = json_array_size(disks);

	(void)jv_int(d, "copied_bytes", &copied);
	(void)jv_int(d, "total_ms", &ms);
	printf("vm '%s' storage moved", vm);
	if (to)
		printf(" to %s", to);
	else
		json_array_foreach(disks, i, k)
			printf("%s%s to %s", i ? ", " : ": ", jv_str(k, "name"),
			    jv_str(k, "dst_pool"));
	printf(": %zu disk%s%s, %.*f MiB copied in %.1f s%s\n", n,
	    n == 1 ? "" : "s", json_object_get(d, "state") ?
	    " and the saved state" : "", copied < (10 << 20) ? 1 : 0,
	    copied / 1048576.0, ms / 1000.0, streq(jv_str(d, "mode"), "live") ?
	    " (live)" : " (copied while down)");
}

int
cmd_vm_move_storage(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	const char *to = cli_args_get(a, "to");
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/move-storage");
	_cleanup_free_ char *target = NULL;
	_cleanup_json_ json_t *body = json_object(), *job = NULL;
	json_t *disks = json_object();
	int r;

	json_object_set_new(body, "disks", disks);
	if (to && cli_args_get(a, "disk"))
		return cli_usage(err, "--to and --disk exclude each other: "
		    "--to moves every disk, --disk one");
	if (!to && !cli_args_get(a, "disk"))
		return cli_usage(err, "missing option --to POOL|DIR or --disk "
		    "DISK=POOL|DIR");
	if (to) {
		json_object_del(body, "disks");
		target = storage_target(cli, to);
		r = cli_json_set_str(body, "to", target, err);
	} else {
		r = storage_disks(cli, a, disks, err);
	}
	if (r < 0)
		return r;
	r = move_follow(cli, path, body, &job, err);
	if (r != 0 || cli->json)
		return r > 0 ? 0 : r;
	storage_summary(a->pos[0], to, job);
	return 0;
}
