/* failover_cmd.c - `tern vm failover ...`: the failovers of a replicated
 * VM (src/failover on ternd); this file only builds requests. */
#include <stdbool.h>

#include "cli.h"
#include "jsonutil.h"
#include "util.h"

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
