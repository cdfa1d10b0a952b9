/* failover_cmd.c - tern vm failover test|test-stop (the test failover,
 * on the replica host), apply-ip, and the failover settings of a
 * replication (tern vm replication set --failover-ip: checked by ternd,
 * src/failover/altip_parse.c, which names the part that is wrong).
 * Talks to ternd over HTTP only. */
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static const char *
fo_when(const json_t *o, const char *key, char *buf, size_t len)
{
	time_t s = (time_t)(json_integer_value(json_object_get(o, key)) /
	    1000);
	struct tm tm;

	if (!s || !gmtime_r(&s, &tm))
		return "-";
	strftime(buf, len, "%Y-%m-%d %H:%M:%SZ", &tm);
	return buf;
}

void
failover_show(struct table *t, const json_t *o)
{
	const json_t *test = json_object_get(o, "test");
	const json_t *d = json_object_get(o, "drill");
	const json_t *last = json_object_get(d, "last");
	long long every = json_integer_value(json_object_get(d, "every_s"));
	char buf[40];

	if (test)
		table_kv(t, "test failover", "%s from point %lld on switch %s "
		    "(%s)", jv_str(test, "name"), (long long)json_integer_value(
		    json_object_get(test, "seq")), jv_str(test, "switch"),
		    jv_str(test, "state"));
	if (every)
		table_kv(t, "DR drills", "every %lld s, next %s%s%s", every,
		    fo_when(d, "next_ms", buf, sizeof(buf)),
		    jv_str(d, "check") ? ", check: " : "",
		    jv_str(d, "check") ? jv_str(d, "check") : "");
	if (last)
		table_kv(t, "last drill", "%s at %s (boot %lld ms, heartbeat "
		    "%lld ms)%s%s", jv_str(last, "result"), fo_when(last,
		    "time_ms", buf, sizeof(buf)), (long long)
		    json_integer_value(json_object_get(last, "boot_ms")),
		    (long long)json_integer_value(json_object_get(last,
		    "heartbeat_ms")), jv_str(last, "error") ? ": " : "",
		    jv_str(last, "error") ? jv_str(last, "error") : "");
}

int
cmd_vm_replication_drill(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/replication/drill");
	const char *every = cli_args_get(a, "every");
	const char *check = cli_args_get(a, "check");
	int r;

	if ((every && (r = cli_json_set_str(body, "every", every, err)) < 0) ||
	    (check && (r = cli_json_set_str(body, "check", check, err)) < 0))
		return r;
	if (!every)
		return cli_vm_job(cli, "POST", path, body, a->pos[0], "passed "
		    "its DR drill (see 'tern vm replication show')", err);
	if ((r = http_call(cli->http, "POST", path, body, &answer, err)) < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else if (streq(every, "off"))
		printf("vm '%s': scheduled DR drills off\n", a->pos[0]);
	else
		printf("vm '%s': a DR drill every %s\n", a->pos[0], every);
	return 0;
}

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
