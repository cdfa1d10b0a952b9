/* failover_cmd.c - tern vm failover test|test-stop (the test failover,
 * on the replica host).  Talks to ternd over HTTP only. */
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
