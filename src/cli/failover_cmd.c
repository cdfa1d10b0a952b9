/* failover_cmd.c - `tern vm failover ...`: failover of replicated VMs
 * (docs/api.md "Failover").  Talks to ternd only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

/* `tern vm failover NAME [--point SEQ]` on the replica host. */
int
cmd_vm_failover(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/failover");
	const char *pt = cli_args_get(a, "point");

	if (pt) {
		char *end;
		long long seq = strtoll(pt, &end, 10);

		if (!pt[0] || *end || seq < 1)
			return cli_usage(err, "--point '%s' is not a recovery "
			    "point's number (see 'tern vm replication show "
			    "%s')", pt, a->pos[0]);
		json_object_set_new(body, "point", json_integer(seq));
	}
	return cli_vm_job(cli, "POST", path, body, a->pos[0], "failed over "
	    "(it is being started; 'tern vm failover complete' or 'cancel' "
	    "next)", err);
}

/* `tern vm failover complete|cancel NAME`. */
int
cmd_vm_failover_end(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	const char *verb = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_json_ json_t *answer = NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    streq(verb, "complete") ? "/failover/complete" :
	    "/failover/cancel");
	int r;

	if (streq(verb, "cancel"))
		return cli_vm_job(cli, "POST", path, NULL, a->pos[0],
		    "is a replica again (failover cancelled)", err);
	if ((r = http_call(cli->http, "POST", path, NULL, &answer, err)) < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("vm '%s' failover completed: it is an ordinary vm on "
		    "its recovery point\n", a->pos[0]);
	return 0;
}

/* On the primary: shut down, final cycle, started on the replica. */
int
cmd_vm_failover_planned(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	const char *t = cli_args_get(a, "timeout");
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/failover/planned");
	uint64_t secs;
	int r;

	if (t) {
		if ((r = cli_parse_u64("--timeout", t, 1, 3600, &secs,
		    err)) < 0)
			return r;
		json_object_set_new(body, "timeout_s", json_integer(secs));
	}
	if (cli_args_get(a, "force"))
		json_object_set_new(body, "force", json_true());
	return cli_vm_job(cli, "POST", path, body, a->pos[0], "failed over "
	    "(planned: shut down, final cycle, started on the replica)", err);
}
