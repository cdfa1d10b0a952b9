/* checkpoint_cmd.c - vm checkpoint create|list|apply|delete. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

#define TREE_DEPTH_MAX 64

static void
tree_row(struct table *t, const json_t *c, int depth)
{
	char name[256], when[40];
	long long ms = 0;
	int k = 0;

	for (int i = 0; i < depth - 1 && k < 200; i++)
		k += snprintf(name + k, sizeof(name) - (size_t)k, "   ");
	snprintf(name + k, sizeof(name) - (size_t)k, "%s%s", depth ? "`- " :
	    "", c ? jv_str(c, "name") : "now (the VM's current state)");
	if (!c) {
		table_row(t, (const char *const[]){ name, "", "", "" });
		return;
	}
	jv_int(c, "created_ms", &ms);
	wall_ms_format((uint64_t)ms, when, sizeof(when));
	table_row(t, (const char *const[]){ name, jv_str(c, "kind"),
	    jv_str(c, "consistency"), when });
}

/* The checkpoints whose parent is parent (NULL: the roots), each followed
 * by its own; "now" under the current one. */
static void
tree_rows(struct table *t, const json_t *list, const char *parent,
    const char *current, int depth)
{
	const json_t *c;
	size_t i;

	if (depth > TREE_DEPTH_MAX)
		return;
	json_array_foreach(list, i, c) {
		const char *p = jv_str(c, "parent");

		if (parent ? !p || !streq(p, parent) : p != NULL)
			continue;
		tree_row(t, c, depth);
		tree_rows(t, list, jv_str(c, "name"), current, depth + 1);
	}
	if (parent ? current && streq(parent, current) : !current)
		tree_row(t, NULL, depth);
}

static int
checkpoints_print(struct cli *cli, const json_t *answer)
{
	static const char *const head[] = { "CHECKPOINT", "KIND",
		"CONSISTENCY", "TAKEN" };
	struct table *t;

	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	tree_rows(t, json_object_get(answer, "checkpoints"), NULL,
	    jv_str(answer, "current"), 0);
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* vm checkpoint create NAME [CHECKPOINT] [--kind K] | list NAME |
 * apply NAME CHECKPOINT | delete NAME CHECKPOINT */
int
cmd_vm_checkpoint(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *verb = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_json_ json_t *answer = NULL, *body = NULL;
	_cleanup_free_ char *path = NULL, *suffix = NULL, *cp = NULL;
	int r;

	if (streq(verb, "list") || streq(verb, "create")) {
		path = cli_path(cli, "/v1/vms/", a->pos[0], "/checkpoints");
		if (streq(verb, "list")) {
			r = http_call(cli->http, "GET", path, NULL, &answer,
			    err);
			return r < 0 ? r : checkpoints_print(cli, answer);
		}
		body = json_object();
		if ((a->npos > 1 && (r = cli_json_set_str(body, "name",
		    a->pos[1], err)) < 0) || (cli_args_get(a, "kind") &&
		    (r = cli_json_set_str(body, "kind", cli_args_get(a,
		    "kind"), err)) < 0))
			return r;
		return cli_vm_job(cli, "POST", path, body, a->pos[0],
		    "checkpointed", err);
	}
	cp = http_escape(cli->http, a->pos[1]);
	suffix = xasprintf("/checkpoints/%s%s", cp, streq(verb, "apply") ?
	    "/apply" : "");
	path = cli_path(cli, "/v1/vms/", a->pos[0], suffix);
	return cli_vm_job(cli, streq(verb, "apply") ? "POST" : "DELETE", path,
	    NULL, a->pos[0], streq(verb, "apply") ? "returned to the "
	    "checkpoint" : "checkpoint deleted", err);
}
