/* failover_cmd.c - tern vm failover test|test-stop (the test failover,
 * on the replica host), apply-ip, and the failover settings of a
 * replication (tern vm replication set --failover-ip: checked by ternd,
 * src/failover/altip_parse.c, which names the part that is wrong).
 * Talks to ternd over HTTP only. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

int
cmd_vm_failover_test(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *path = NULL, *done = NULL;
	const char *point = cli_args_get(a, "point");
	const char *sw = cli_args_get(a, "switch");
	uint64_t seq;
	int r;

	if (strstr(cli->cmd->verb, "test-stop")) {
		path = cli_path(cli, "/v1/vms/", a->pos[0],
		    "/failover/test-stop");
		return cli_vm_job(cli, "POST", path, NULL, a->pos[0], "test "
		    "failover stopped: its vm, overlays and switch removed",
		    err);
	}
	if (point) {
		if ((r = cli_parse_u64("--point", point, 1, INT64_MAX, &seq,
		    err)) < 0)
			return r;
		json_object_set_new(body, "point", json_integer(
		    (json_int_t)seq));
	}
	if (sw && (r = cli_json_set_str(body, "switch", sw, err)) < 0)
		return r;
	path = cli_path(cli, "/v1/vms/", a->pos[0], "/failover/test");
	done = xasprintf("test failover runs as '%s-test' (stop it with: "
	    "tern vm failover test-stop %s)", a->pos[0], a->pos[0]);
	return cli_vm_job(cli, "POST", path, body, a->pos[0], done, err);
}

int
cmd_vm_replication_set(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *ips = json_array();
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/replication/settings");

	for (int i = 0; i < a->nopt; i++)
		if (streq(a->opt[i].name, "failover-ip"))
			json_array_append_new(ips, json_string(a->opt[i].value));
	if (!json_array_size(ips))
		return cli_usage(err, "give at least one --failover-ip NIC="
		    "ADDR/PREFIX[,gw=GW][,dns=DNS[;DNS2]] or NIC=none");
	json_object_set(body, "failover_ip", ips);
	return cli_vm_job(cli, "PUT", path, body, a->pos[0], "failover IP set",
	    err);
}

int
cmd_vm_failover_apply_ip(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/failover/apply-ip");
	int r = http_call(cli->http, "POST", path, NULL, &answer, err);

	if (r < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("vm '%s': applying its failover IP through the guest "
		    "agent; the result comes as an event (tern events)\n",
		    a->pos[0]);
	return 0;
}
