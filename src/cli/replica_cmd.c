/* replica_cmd.c - replica server enable|show|disable; vm replication
 * enable|show|pause|resume|remove; replication list. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "http.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

static int
server_print(struct cli *cli, const json_t *o)
{
	struct table *t;
	const char *peer;
	json_t *pool;

	if (cli->json) {
		print_json(o);
		return 0;
	}
	t = table_new(2, NULL);
	table_kv(t, "replica server", "%s", json_is_true(json_object_get(o,
	    "enabled")) ? "enabled" : "disabled");
	if (json_is_true(json_object_get(o, "any")))
		table_kv(t, "accepts", "any trusted peer, into pool %s",
		    jv_str(o, "pool"));
	json_object_foreach(json_object_get(o, "allow"), peer, pool)
		table_kv(t, "allows", "%s into pool %s", peer,
		    json_string_value(pool));
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* --allow PEER=POOL, repeated, into {"allow": {PEER: POOL}}. */
static int
server_allow(const struct cli_args *a, json_t *body, struct err *err)
{
	json_t *allow = json_object();
	int n = 0;

	json_object_set_new(body, "allow", allow);
	for (int i = 0; i < a->nopt; i++) {
		const char *v = a->opt[i].value, *eq = strchr(v, '=');
		char peer[128];

		if (!streq(a->opt[i].name, "allow"))
			continue;
		if (!eq || eq == v || !eq[1] || (size_t)(eq - v) >= sizeof(peer))
			return cli_usage(err, "--allow '%s': give PEER=POOL", v);
		snprintf(peer, sizeof(peer), "%.*s", (int)(eq - v), v);
		json_object_set_new(allow, peer, json_string(eq + 1));
		n++;
	}
	if (!n)
		json_object_del(body, "allow");
	return 0;
}

int
cmd_replica_server(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *verb = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_json_ json_t *answer = NULL, *body = NULL;
	const char *method = "GET";
	int r;

	if (streq(verb, "enable")) {
		method = "PUT";
		body = json_object();
		if ((r = server_allow(a, body, err)) < 0)
			return r;
		if (cli_args_get(a, "any"))
			json_object_set_new(body, "any", json_true());
		if (cli_args_get(a, "pool") && (r = cli_json_set_str(body,
		    "pool", cli_args_get(a, "pool"), err)) < 0)
			return r;
	} else if (streq(verb, "disable")) {
		method = "DELETE";
	}
	r = http_call(cli->http, method, "/v1/replica/server", body, &answer,
	    err);
	return r < 0 ? r : server_print(cli, answer);
}

/* The last verify (or resync's comparison): when, which point, counts. */
static void
show_verify(struct table *t, const json_t *v)
{
	long long ms, n;
	char when[40];

	if (!v || !jv_int(v, "time_ms", &ms))
		return;
	table_kv(t, "last verify", "%s: point %lld, %lld of %lld blocks "
	    "match, %lld differ", wall_ms_format((uint64_t)ms, when,
	    sizeof(when)), jv_int(v, "seq", &n) ? n : 0, jv_int(v, "matching",
	    &n) ? n : 0, jv_int(v, "blocks", &n) ? n : 0, jv_int(v,
	    "differing", &n) ? n : 0);
}

static void
show_stats(struct table *t, const json_t *st)
{
	long long v;
	char when[40];

	if (jv_int(st, "last_success_ms", &v) && v > 0)
		table_kv(t, "last cycle", "%s", wall_ms_format((uint64_t)v,
		    when, sizeof(when)));
	else
		table_kv(t, "last cycle", "none yet");
	table_kv(t, "cycles", "%lld successful, %lld failed, %lld missed",
	    jv_int(st, "successful", &v) ? v : 0,
	    jv_int(st, "failed", &v) ? v : 0,
	    jv_int(st, "missed", &v) ? v : 0);
	if (jv_str(st, "mismatch"))
		table_kv(t, "mismatch", "%s", jv_str(st, "mismatch"));
	if (json_is_true(json_object_get(st, "held")))
		table_kv(t, "cycles held", "critical: 'tern vm replication "
		    "resume' lets them run");
	if (jv_str(st, "last_error"))
		table_kv(t, "last error", "%s", jv_str(st, "last_error"));
	show_verify(t, json_object_get(st, "verify"));
}

/* A replica's recovery points, newest first: seq, time (UTC), kind,
 * each disk's image. */
static void
points_print(struct table *t, const json_t *pts)
{
	const json_t *p, *f;
	const char *disk;
	size_t i;

	json_array_foreach(pts, i, p) {
		time_t sec = (time_t)(json_integer_value(json_object_get(p,
		    "time_ms")) / 1000);
		struct tm tm;
		char when[32];

		gmtime_r(&sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		table_kv(t, i ? "" : "points", "%lld  %s  %s", (long long)
		    json_integer_value(json_object_get(p, "seq")), when,
		    json_is_true(json_object_get(p, "app_consistent")) ?
		    "app-consistent" : "crash-consistent");
		json_object_foreach((json_t *)json_object_get(p, "disks"), disk,
		    f)
			table_kv(t, "", "  %s %s", disk, json_string_value(f));
	}
}

/* A seed (--initial offline): where and when it was written, whether
 * the replica has it. */
static void
show_seed(struct table *t, const json_t *seed)
{
	long long v;
	char when[40];

	if (!seed)
		return;
	if (!jv_str(seed, "dir")) {	/* the replica's side */
		table_kv(t, "seed", "%s", jv_str(seed, "state"));
		return;
	}
	table_kv(t, "seed", "written to %s at %s", jv_str(seed, "dir"),
	    wall_ms_format(jv_int(seed, "exported_ms", &v) ? (uint64_t)v : 0,
	    when, sizeof(when)));
	if (jv_int(seed, "imported_ms", &v))
		table_kv(t, "", "imported on the replica (seen at %s)",
		    wall_ms_format((uint64_t)v, when, sizeof(when)));
	else
		table_kv(t, "", "awaiting its import on the replica server");
}

/* Each NIC's failover IP: "nic0  10.1.2.3/24 gw 10.1.2.1 dns ...". */
static void
show_failover_ip(struct table *t, const json_t *ips)
{
	const char *nic;
	json_t *c;
	char dns[128];
	bool first = true;

	json_object_foreach((json_t *)ips, nic, c) {
		table_kv(t, first ? "failover IP" : "", "%s  %s/%lld%s%s%s%s",
		    nic, jv_str(c, "addr"), (long long)json_integer_value(
		    json_object_get(c, "prefix")), jv_str(c, "gw") ? " gw " :
		    "", jv_str(c, "gw") ?: "", json_object_get(c, "dns") ?
		    " dns " : "", json_object_get(c, "dns") ? jv_text(c, "dns",
		    dns, sizeof(dns)) : "");
		first = false;
	}
}

static int
relation_print(struct cli *cli, const json_t *o)
{
	struct table *t;
	const json_t *s = json_object_get(o, "settings"), *why;
	char buf[64];
	long long lag;
	size_t i;

	if (cli->json) {
		print_json(o);
		return 0;
	}
	t = table_new(2, NULL);
	table_kv(t, "vm", "%s (%s)", jv_str(o, "vm"), jv_str(o, "role"));
	table_kv(t, streq(jv_str(o, "role"), "primary") ? "replica on" :
	    "primary on", "%s", jv_str(o, "peer"));
	table_kv(t, "state", "%s", jv_str(o, "state"));
	table_kv(t, "health", "%s", jv_str(o, "health"));
	json_array_foreach(json_object_get(o, "health_reasons"), i, why)
		table_kv(t, "", "%s", json_string_value(why));
	table_kv(t, "interval", "%s", fmt_duration((uint64_t)
	    json_integer_value(json_object_get(s, "interval_s")), buf,
	    sizeof(buf)));
	table_kv(t, "compress", "%s", jv_text(s, "compress", buf, sizeof(buf)));
	table_kv(t, "recovery points", "%lld now (keeps the latest and %s "
	    "hourly)", (long long)json_integer_value(json_object_get(o,
	    "recovery_points")), jv_text(s, "points", buf, sizeof(buf)));
	if (json_object_get(s, "app_consistent_every_h") &&
	    json_integer_value(json_object_get(s, "app_consistent_every_h")))
		table_kv(t, "app-consistent", "every %lld h", (long long)
		    json_integer_value(json_object_get(s,
		    "app_consistent_every_h")));
	points_print(t, json_object_get(o, "points"));
	if (json_array_size(json_object_get(s, "exclude")))
		table_kv(t, "excluded disks", "%s", jv_text(s, "exclude", buf,
		    sizeof(buf)));
	show_failover_ip(t, json_object_get(s, "failover_ip"));
	if (jv_int(o, "lag_ms", &lag))
		table_kv(t, "lag", "%s", fmt_duration((uint64_t)lag / 1000,
		    buf, sizeof(buf)));
	show_seed(t, json_object_get(o, "seed"));
	failover_show(t, o);	/* the test failover, DR drills */
	show_stats(t, json_object_get(o, "stats"));
	table_print(t, stdout);
	table_free(t);
	return 0;
}

/* "30s", "5m", "15m" (or seconds) into interval_s. */
static int
set_interval(json_t *body, const char *v, struct err *err)
{
	static const struct { const char *text; int s; } iv[] = {
		{ "30s", 30 }, { "5m", 300 }, { "15m", 900 },
		{ "30", 30 }, { "300", 300 }, { "900", 900 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(iv); i++)
		if (streq(iv[i].text, v)) {
			json_object_set_new(body, "interval_s",
			    json_integer(iv[i].s));
			return 0;
		}
	return cli_usage(err, "--interval '%s': give 30s, 5m or 15m", v);
}

static int
set_initial(struct cli *cli, json_t *body, const char *v, struct err *err)
{
	_cleanup_free_ char *dir = NULL;

	if (strncmp(v, "at ", 3) == 0 || strncmp(v, "at=", 3) == 0) {
		json_object_set_new(body, "initial", json_string("at"));
		return cli_json_set_str(body, "initial_at", v + 3, err);
	}
	if (strncmp(v, "offline ", 8) == 0 || strncmp(v, "offline=", 8) == 0) {
		json_object_set_new(body, "initial", json_string("offline"));
		dir = cli_file_arg(cli, v + 8);
		return cli_json_set_str(body, "initial_dir", dir, err);
	}
	if (streq(v, "offline"))
		return cli_usage(err, "--initial offline: give the seed's "
		    "directory too (--initial 'offline DIR')");
	return cli_json_set_str(body, "initial", v, err);
}

static int
enable_body(struct cli *cli, const struct cli_args *a, json_t *body,
    struct err *err)
{
	uint64_t n;
	const char *v;
	json_t *ex = json_array();
	int r = 0;

	json_object_set_new(body, "exclude", ex);
	for (int i = 0; i < a->nopt && r == 0; i++)
		if (streq(a->opt[i].name, "exclude-disk"))
			json_array_append_new(ex, json_string(a->opt[i].value));
	if ((v = cli_args_get(a, "to")) && (r = cli_json_set_str(body, "to",
	    v, err)) < 0)
		return r;
	if ((v = cli_args_get(a, "interval")) && (r = set_interval(body, v,
	    err)) < 0)
		return r;
	if ((v = cli_args_get(a, "compress"))) {
		if (!streq(v, "on") && !streq(v, "off"))
			return cli_usage(err, "--compress: give on or off");
		json_object_set_new(body, "compress", json_boolean(streq(v,
		    "on")));
	}
	if ((v = cli_args_get(a, "points"))) {
		if ((r = cli_parse_u64("--points", v, 0, 24, &n, err)) < 0)
			return r;
		json_object_set_new(body, "points", json_integer((int)n));
	}
	if ((v = cli_args_get(a, "app-consistent-every"))) {
		if ((r = cli_parse_u64("--app-consistent-every", v, 1, 12, &n,
		    err)) < 0)
			return r;
		json_object_set_new(body, "app_consistent_every_h",
		    json_integer((int)n));
	}
	if ((v = cli_args_get(a, "initial")))
		return set_initial(cli, body, v, err);
	return 0;
}

/* The verify job's result: the counts; non-zero when blocks differ. */
static int
verify_print(struct cli *cli, const char *name, const json_t *job,
    struct err *err)
{
	json_t *res = json_object_get(json_object_get(job, "details"),
	    "result"), *o;
	long long n = json_integer_value(json_object_get(res, "differing"));
	size_t i;

	if (cli->json)
		print_json((json_t *)job);
	else
		printf("vm '%s': replica point %lld: %lld of %lld blocks match, "
		    "%lld differ\n", name, (long long)json_integer_value(
		    json_object_get(res, "seq")), (long long)json_integer_value(
		    json_object_get(res, "matching")), (long long)
		    json_integer_value(json_object_get(res, "blocks")), n);
	if (!cli->json && n > 0) {
		printf("first differing offsets:");
		json_array_foreach(json_object_get(res, "first_differing"), i, o)
			printf(" %lld", (long long)json_integer_value(o));
		printf("\n");
	}
	if (n > 0)
		return err_set(err, -EIO, "%lld blocks of vm '%s''s replica "
		    "differ from the primary's point; run tern vm replication "
		    "resync %s", n, name, name);
	return 0;
}

/* verify, or resync: the comparison (then the replica's map is the next
 * cycle's parent), then that cycle at once. */
static int
verify_run(struct cli *cli, const char *path, const char *name,
    bool resync, struct err *err)
{
	_cleanup_json_ json_t *answer = NULL, *job = NULL;
	_cleanup_free_ char *sub = xasprintf("%s/%s", path, resync ? "resync" :
	    "verify");
	_cleanup_free_ char *now = xasprintf("%s/now", path);
	int r = http_call(cli->http, "POST", sub, NULL, &answer, err);

	if (r < 0)
		return r;
	if (cli->no_wait)
		return cli_job_print_started(cli, answer, err);
	if ((r = cli_job_wait(cli, json_object_get(answer, "job"), &job,
	    err)) < 0 || (r = cli_job_check(job, err)) < 0)
		return r;
	if (!resync)
		return verify_print(cli, name, job, err);
	if (!cli->json)
		printf("vm '%s': %lld blocks of the replica differ; sending "
		    "them\n", name, (long long)json_integer_value(
		    json_object_get(json_object_get(json_object_get(job,
		    "details"), "result"), "differing")));
	return cli_vm_job(cli, "POST", now, NULL, name, "resynchronized (one "
	    "cycle against the replica's map)", err);
}

int
cmd_vm_replication(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	const char *verb = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_json_ json_t *answer = NULL, *body = NULL;
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0],
	    "/replication");
	_cleanup_free_ char *sub = NULL;
	bool keep = cli_args_get(a, "keep-replica") != NULL;
	int r;

	if (streq(verb, "show")) {
		r = http_call(cli->http, "GET", path, NULL, &answer, err);
		return r < 0 ? r : relation_print(cli, answer);
	}
	if (streq(verb, "pause") || streq(verb, "resume")) {
		sub = xasprintf("%s/%s", path, verb);
		r = http_call(cli->http, "POST", sub, NULL, &answer, err);
		return r < 0 ? r : relation_print(cli, answer);
	}
	if (streq(verb, "verify") || streq(verb, "resync"))
		return verify_run(cli, path, a->pos[0], streq(verb, "resync"),
		    err);
	if (streq(verb, "reverse")) {
		sub = xasprintf("%s/reverse", path);
		return cli_vm_job(cli, "POST", sub, NULL, a->pos[0],
		    "replicates back to its old primary (the first cycle "
		    "sends only the blocks that differ)", err);
	}
	if (streq(verb, "now")) {
		sub = xasprintf("%s/now", path);
		return cli_vm_job(cli, "POST", sub, NULL, a->pos[0],
		    "replicated (one cycle)", err);
	}
	if (streq(verb, "remove")) {
		sub = xasprintf("%s%s", path, keep ? "?keep_replica=1" : "");
		return cli_vm_job(cli, "DELETE", sub, NULL, a->pos[0], keep ?
		    "is no longer replicated (the replica is kept)" :
		    "is no longer replicated (the replica is deleted)", err);
	}
	body = json_object();
	if ((r = enable_body(cli, a, body, err)) < 0)
		return r;
	return cli_vm_job(cli, "POST", path, body, a->pos[0],
	    "is replicated", err);
}

/* On the replica host: the seed in DIR (its manifest names the VM). */
int
cmd_replication_import_seed(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object();
	_cleanup_free_ char *dir = cli_file_arg(cli, a->pos[0]);
	int r;

	if ((r = cli_json_set_str(body, "dir", dir, err)) < 0)
		return r;
	return cli_vm_job(cli, "POST", "/v1/replica/seeds", body, dir,
	    "was imported: the replica has the seed's point", err);
}

int
cmd_replication_list(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	static const char *const head[] = { "VM", "ROLE", "PEER", "STATE",
		"HEALTH", "LAG", "CYCLE" };
	_cleanup_json_ json_t *answer = NULL;
	struct table *t;
	const json_t *o;
	size_t i;
	int r;

	(void)a;
	if ((r = http_call(cli->http, "GET", "/v1/replications", NULL,
	    &answer, err)) < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	json_array_foreach(json_object_get(answer, "replications"), i, o) {
		char lag[32] = "-", seq[32];
		long long v;

		if (jv_int(o, "lag_ms", &v))
			fmt_duration((uint64_t)v / 1000, lag, sizeof(lag));
		jv_text(o, "seq", seq, sizeof(seq));
		table_row(t, (const char *const[]){ jv_str(o, "vm"),
		    jv_str(o, "role"), jv_str(o, "peer"), jv_str(o, "state"),
		    jv_str(o, "health"), lag, seq });
	}
	table_print(t, stdout);
	table_free(t);
	return 0;
}
