/* nic_cmd.c - tern vm nic add|remove|set: a VM's NICs after create, over
 * /v1/vms/NAME/nics.  Only the shape of the options is checked here;
 * ternd judges the values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

/* --vlan ID|none as the API's "vlan" (0: none). */
static int
nic_vlan_arg(const char *v, json_t *body, struct err *err)
{
	uint64_t n;
	int r;

	if (streq(v, "none")) {
		json_object_set_new(body, "vlan", json_integer(0));
		return 0;
	}
	r = cli_parse_u64("--vlan", v, 1, 4094, &n, err);
	if (r == 0)
		json_object_set_new(body, "vlan", json_integer((json_int_t)n));
	return r;
}

static int
nic_set_body(const struct cli_args *a, json_t *body, struct err *err)
{
	const char *sw = cli_args_get(a, "switch");
	const char *vlan = cli_args_get(a, "vlan");
	const char *trunk = cli_args_get(a, "trunk");
	int r = 0;

	if (!sw && !vlan && !trunk)
		return cli_usage(err, "nothing to change: give --switch, "
		    "--vlan or --trunk");
	if (sw && (r = cli_json_set_str(body, "switch", sw, err)) < 0)
		return r;
	if (vlan && (r = nic_vlan_arg(vlan, body, err)) < 0)
		return r;
	if (trunk)
		r = cli_json_set_str(body, "trunks", streq(trunk, "none") ?
		    "" : trunk, err);
	return r;
}

/* vm nic add NAME --net ... | remove NAME NIC | set NAME NIC ... */
int
cmd_vm_nic(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *verb = cli->cmd->verb + strlen("nic ");
	_cleanup_json_ json_t *answer = NULL, *body = NULL;
	_cleanup_free_ char *base = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/nics");
	_cleanup_free_ char *path = NULL;
	const char *method = "POST";
	int r;

	if (streq(verb, "add")) {
		if (!cli_args_get(a, "net"))
			return cli_usage(err, "missing option --net SWITCH");
		if ((r = cli_net_parse(cli_args_get(a, "net"), &body,
		    err)) < 0)
			return r;
		path = xstrdup(base);
	} else {
		_cleanup_free_ char *b = xasprintf("%s/", base);

		path = cli_path(cli, b, a->pos[1], NULL);
		method = streq(verb, "remove") ? "DELETE" : "PUT";
		if (streq(verb, "set") && (r = nic_set_body(a,
		    body = json_object(), err)) < 0)
			return r;
	}
	r = http_call(cli->http, method, path, body, &answer, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else if (streq(verb, "remove"))
		printf("vm '%s': nic '%s' removed\n", a->pos[0], a->pos[1]);
	else if (streq(verb, "add"))
		printf("vm '%s': nic added on switch '%s'\n", a->pos[0],
		    jv_str(body, "switch"));
	else
		printf("vm '%s': nic '%s' changed\n", a->pos[0], a->pos[1]);
	return 0;
}
