/* failover_cmd.c - tern vm failover ... and the failover settings of a
 * replication (tern vm replication set --failover-ip).  The values are
 * checked by ternd (src/failover/altip_parse.c), which answers with the
 * part that is wrong. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

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
