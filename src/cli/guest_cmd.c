/* guest_cmd.c - commands for the guest integration services: graceful
 * shutdown, quiesce, switching services on and off, and the key/values
 * the host keeps for the guest.  Never talks to QEMU or the agent: all
 * through ternd's API. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

int
cmd_vm_shutdown(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *t = cli_args_get(a, "timeout");
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/shutdown");
	bool force = cli_args_get(a, "force") != NULL;
	uint64_t secs;
	int r;

	if (t) {
		if ((r = cli_parse_u64("--timeout", t, 1, 3600, &secs,
		    err)) < 0)
			return r;
		json_object_set_new(body, "timeout_s", json_integer(secs));
	}
	if (force)
		json_object_set_new(body, "force", json_true());
	return cli_vm_job(cli, "POST", path, body, a->pos[0], "shut down",
	    err);
}

int
cmd_vm_quiesce(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *h = cli_args_get(a, "hold");
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/quiesce");
	uint64_t secs = 0;
	int r;

	if (h && (r = cli_parse_u64("--hold", h, 0, 600, &secs, err)) < 0)
		return r;
	json_object_set_new(body, "hold_s", json_integer(secs));
	return cli_vm_job(cli, "POST", path, body, a->pos[0],
	    "quiesced and thawed", err);
}

/* --service NAME=on|off, repeatable, into {"NAME": bool}. */
static int
services_parse(const struct cli_args *a, json_t *svc, struct err *err)
{
	for (int i = 0; i < a->nopt; i++) {
		const char *v = a->opt[i].value, *eq = strchr(v, '=');
		_cleanup_free_ char *name = NULL;

		if (!streq(a->opt[i].name, "service"))
			continue;
		if (!eq || (!streq(eq + 1, "on") && !streq(eq + 1, "off")))
			return cli_usage(err, "--service takes NAME=on or "
			    "NAME=off, not '%s'", v);
		name = strndup(v, eq - v);
		json_object_set_new(svc, name, json_boolean(streq(eq + 1,
		    "on")));
	}
	if (json_object_size(svc) == 0)
		return cli_usage(err, "vm set needs --service NAME=on|off");
	return 0;
}

int
cmd_vm_set(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *svc = json_object(), *answer = NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/config");
	json_t *body;
	int r = services_parse(a, svc, err);

	if (r < 0)
		return r;
	body = json_pack("{sO}", "services", svc);
	r = http_call(cli->http, "POST", path, body, &answer, err);
	json_decref(body);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("vm '%s' services set\n", a->pos[0]);
	return 0;
}

static int
kvp_print(struct cli *cli, const json_t *answer)
{
	static const char *const head[] = { "KEY", "VALUE" };
	struct table *t;
	const char *key;
	json_t *v;

	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(2, head);
	json_object_foreach(json_object_get(answer, "kvp"), key, v)
		table_row(t, (const char *const[]){ key, json_string_value(v) });
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* vm kvp set NAME KEY VALUE | vm kvp list NAME | vm kvp delete NAME KEY */
int
cmd_vm_kvp(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *verb = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_json_ json_t *answer = NULL, *body = NULL;
	_cleanup_free_ char *key = NULL, *path = NULL, *suffix = NULL;
	int r;

	if (streq(verb, "list")) {
		path = cli_path(cli, "/v1/vms/", a->pos[0], "/kvp");
		r = http_call(cli->http, "GET", path, NULL, &answer, err);
		return r < 0 ? r : kvp_print(cli, answer);
	}
	/* A '/' would split the URL path: say what keys may hold here. */
	for (const char *k = a->pos[1]; *k; k++)
		if (!isalnum((unsigned char)*k) && !strchr("._-", *k))
			return cli_usage(err, "kvp key '%s' may hold only "
			    "letters, digits, '.', '_' and '-'", a->pos[1]);
	key = http_escape(cli->http, a->pos[1]);
	suffix = xasprintf("/kvp/%s", key);
	path = cli_path(cli, "/v1/vms/", a->pos[0], suffix);
	if (streq(verb, "set")) {
		body = json_object();
		if ((r = cli_json_set_str(body, "value", a->pos[2], err)) < 0)
			return r;
	}
	r = http_call(cli->http, streq(verb, "set") ? "PUT" : "DELETE", path,
	    body, &answer, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("vm '%s' key '%s' %s\n", a->pos[0], a->pos[1],
		    streq(verb, "set") ? "set" : "deleted");
	return 0;
}

/* vm media insert NAME ISO | vm media eject NAME */
int
cmd_vm_media(struct cli *cli, const struct cli_args *a, struct err *err)
{
	bool insert = streq(cli->cmd->verb, "media insert");
	_cleanup_json_ json_t *answer = NULL, *body = NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/media");
	_cleanup_free_ char *iso = NULL;
	int r;

	if (insert) {
		iso = cli_file_arg(cli, a->pos[1]);
		body = json_object();
		if ((r = cli_json_set_str(body, "iso", iso, err)) < 0)
			return r;
	}
	r = http_call(cli->http, insert ? "PUT" : "DELETE", path, body,
	    &answer, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else if (insert)
		printf("vm '%s': '%s' in the CD drive\n", a->pos[0], iso);
	else
		printf("vm '%s': CD drive empty\n", a->pos[0]);
	return 0;
}
