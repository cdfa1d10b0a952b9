/* cluster_cmd.c - `tern cluster ...`: the failover cluster on Corosync
 * (docs/api.md "Cluster").  validate: starts cluster.validate, waits
 * for it and prints its report; exit 1 when the report has errors
 * (warnings alone: 0).  Talks to ternd only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

/* `tern cluster create NAME --node H... [--witness ADDR[:PORT]]
 * [--token MS]` */
int
cmd_cluster_create(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_pack("{sss[]}", "name", a->pos[0],
	    "nodes");
	_cleanup_free_ char *done = NULL;
	const char *w = cli_args_get(a, "witness");
	const char *tok = cli_args_get(a, "token");
	uint64_t ms;
	int r;

	for (int i = 0; i < a->nopt; i++)
		if (streq(a->opt[i].name, "node") &&
		    (r = json_array_append_new(json_object_get(body, "nodes"),
		    json_string(a->opt[i].value))) < 0)
			return cli_usage(err, "--node '%s' is not text",
			    a->opt[i].value);
	if (json_array_size(json_object_get(body, "nodes")) < 2)
		return cli_usage(err, "name at least two nodes, this host "
		    "among them: --node H1 --node H2");
	if (w && (r = cli_json_set_str(body, "witness", w, err)) < 0)
		return r;
	if (tok) {
		if ((r = cli_parse_u64("--token", tok, 500, 30000, &ms,
		    err)) < 0)
			return r;
		json_object_set_new(body, "token_ms", json_integer(ms));
	}
	done = xasprintf("cluster '%s' formed: %zu nodes, quorate", a->pos[0],
	    json_array_size(json_object_get(body, "nodes")));
	return cli_run_job(cli, "POST", "/v1/cluster", body, done, err);
}

static void
show_nodes(const json_t *nodes)
{
	static const char *const hdr[] = { "NODE", "ID", "ADDRESS", "STATE",
		"TERND", NULL };
	struct table *t = table_new(5, hdr);
	const json_t *n;
	size_t i;
	char id[24];

	json_array_foreach(nodes, i, n) {
		const char *name = json_string_value(json_object_get(n,
		    "name"));
		_cleanup_free_ char *label = json_is_true(json_object_get(n,
		    "self")) ? xasprintf("%s (this host)", name) :
		    xstrdup(name ? name : "?");
		const char *row[5] = { label, id, json_string_value(
		    json_object_get(n, "addr")), json_string_value(
		    json_object_get(n, "state")), json_is_true(json_object_get(
		    n, "ternd")) ? "yes" : "no" };

		snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(
		    json_object_get(n, "nodeid")));
		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
}

/* `tern cluster show [--json]` */
int
cmd_cluster_show(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_json_ json_t *answer = NULL;
	const json_t *c, *q, *w;
	int r;

	(void)a;
	if ((r = http_call(cli->http, "GET", "/v1/cluster", NULL, &answer,
	    err)) < 0)
		return r;
	c = json_object_get(answer, "cluster");
	if (cli->json) {
		print_json(c);
		return 0;
	}
	if (!json_is_object(c)) {
		printf("this host is in no cluster\n");
		return 0;
	}
	q = json_object_get(c, "quorum");
	w = json_object_get(q, "witness");
	printf("cluster:  %s\ncorosync: %s\nquorum:   %s (%lld of %lld votes, "
	    "%lld needed)\n", json_string_value(json_object_get(c, "name")),
	    json_string_value(json_object_get(c, "corosync")),
	    json_is_true(json_object_get(q, "quorate")) ? "quorate" :
	    "NOT quorate", (long long)json_integer_value(json_object_get(q,
	    "votes")), (long long)json_integer_value(json_object_get(q,
	    "expected")), (long long)json_integer_value(json_object_get(q,
	    "quorum")));
	if (json_is_string(json_object_get(c, "witness")))
		printf("witness:  %s (%s)\n", json_string_value(
		    json_object_get(c, "witness")), !json_is_object(w) ?
		    "NOT alive: corosync-qdevice not registered" :
		    json_is_true(json_object_get(w, "alive")) &&
		    json_is_true(json_object_get(w, "casts_vote")) ?
		    "alive, its vote counted" : "NOT alive: no vote from it");
	w = json_object_get(c, "settings");
	printf("resiliency: %lld s, %s\n", (long long)json_integer_value(
	    json_object_get(w, "resiliency_period_s")), json_string_value(
	    json_object_get(w, "resiliency_level")));
	if (json_object_get(c, "without_quorum_s"))
		printf("this node:  without quorum for %lld s\n", (long long)
		    json_integer_value(json_object_get(c, "without_quorum_s")));
	show_nodes(json_object_get(c, "nodes"));
	return 0;
}

/* `tern cluster set [--resiliency-period S] [--resiliency-level L]
 * [--quarantine-threshold N] [--quarantine-duration S]` */
int
cmd_cluster_set(struct cli *cli, const struct cli_args *a, struct err *err)
{
	static const struct { const char *opt, *key; uint64_t lo, hi; } ints[] = {
		{ "resiliency-period", "resiliency_period_s", 0, 86400 },
		{ "quarantine-threshold", "quarantine_threshold", 0, 100 },
		{ "quarantine-duration", "quarantine_duration_s", 1, 604800 },
		{ "balance-threshold", "balance_threshold_pct", 0, 1000 },
		{ "balance-interval", "balance_interval_s", 10, 86400 },
	};
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	const char *l = cli_args_get(a, "resiliency-level");
	char flag[40];
	uint64_t s;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
		const char *v = cli_args_get(a, ints[i].opt);

		snprintf(flag, sizeof(flag), "--%s", ints[i].opt);
		if (!v)
			continue;
		if ((r = cli_parse_u64(flag, v, ints[i].lo, ints[i].hi, &s,
		    err)) < 0)
			return r;
		json_object_set_new(body, ints[i].key,
		    json_integer((json_int_t)s));
	}
	if (l)
		json_object_set_new(body, "resiliency_level", json_string(l));
	if (cli_args_get(a, "balance-by") && (r = cli_json_set_str(body,
	    "balance_by", cli_args_get(a, "balance-by"), err)) < 0)
		return r;
	if ((r = http_call(cli->http, "PUT", "/v1/cluster/settings", body,
	    &answer, err)) < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else
		printf("cluster settings sent to every node\n");
	return 0;
}

/* Node name's entry in GET /v1/cluster, a new reference (NULL: none). */
static json_t *
node_status(struct cli *cli, const char *name, struct err *err)
{
	_cleanup_json_ json_t *answer = NULL;
	json_t *n;
	size_t i;

	if (http_call(cli->http, "GET", "/v1/cluster", NULL, &answer,
	    err) < 0)
		return NULL;
	json_array_foreach(json_object_get(json_object_get(answer, "cluster"),
	    "nodes"), i, n)
		if (streq(jv_str(n, "name"), name))
			return json_incref(n);
	err_set(err, -ENOENT, "node %s is no longer in the cluster", name);
	return NULL;
}

/* After a drain: wait until its outcome is in the cluster's state (the
 * pause itself reaches the state a moment after the answer). */
static int
drain_wait(struct cli *cli, const char *name, struct err *err)
{
	bool seen = false;

	for (int tries = 0;; tries++) {
		_cleanup_json_ json_t *n = node_status(cli, name, err);
		const char *d = n ? jv_str(n, "drain") : NULL;

		if (!n)
			return err->code;
		seen |= d != NULL;
		if (!seen && tries < 20) {
			usleep(500 * 1000);
			continue;
		}
		if (streq(d, "done")) {
			printf("node %s drained: it takes no VMs until 'tern "
			    "cluster node resume %s'\n", name, name);
			return 0;
		}
		if (streq(d, "failed") || !json_object_get(n, "drain"))
			return err_set(err, -EIO, "node %s: %s", name,
			    streq(d, "failed") ? (jv_str(n, "drain_why") ?
			    jv_str(n, "drain_why") : "the drain failed") :
			    "resumed before its drain ended");
		usleep(500 * 1000);
	}
}

/* `tern cluster node drain|resume|clear-quarantine NODE` */
int
cmd_cluster_node_op(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	const char *op = strchr(cli->cmd->verb, ' ') + 1;
	_cleanup_free_ char *suffix = xasprintf("/%s", op);
	_cleanup_free_ char *path = cli_path(cli, "/v1/cluster/nodes/",
	    a->pos[0], suffix);
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	size_t i;
	json_t *m;
	int r;

	if (cli_args_get(a, "failback"))
		json_object_set_new(body, "failback", json_true());
	if ((r = http_call(cli->http, "POST", path, body, &answer, err)) < 0)
		return r;
	if (cli->json && (!streq(op, "drain") || cli->no_wait)) {
		print_json(answer);
		return 0;
	}
	if (!streq(op, "drain")) {
		printf("node %s: %s\n", a->pos[0], streq(op, "resume") ?
		    "resumed, it takes VMs again" : "quarantine cleared; it "
		    "stays paused until resumed");
		return 0;
	}
	json_array_foreach(json_object_get(answer, "moves"), i, m)
		printf("  %s -> %s (%lld MiB)\n", jv_str(m, "name"), jv_str(m,
		    "to"), (long long)json_integer_value(json_object_get(m,
		    "memory_mib")));
	if (cli->no_wait) {
		printf("node %s paused; its drain runs there\n", a->pos[0]);
		return 0;
	}
	return drain_wait(cli, a->pos[0], err);
}

/* `tern cluster maintain --run NAME` */
int
cmd_cluster_maintain(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object();
	int r;

	if ((r = cli_json_set_str(body, "run", cli_args_get(a, "run"),
	    err)) < 0)
		return r;
	return cli_run_job(cli, "POST", "/v1/cluster/maintain", body,
	    "maintenance done on every node, no VM down", err);
}

/* `tern cluster balance [--dry-run] [--threshold PCT]` */
int
cmd_cluster_balance(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	const char *thr = cli_args_get(a, "threshold");
	bool dry = cli_args_get(a, "dry-run") != NULL;
	const char *name;
	uint64_t v;
	size_t i;
	json_t *m;
	int r;

	json_object_set_new(body, "dry_run", json_boolean(dry));
	if (thr) {
		if ((r = cli_parse_u64("--threshold", thr, 1, 1000, &v,
		    err)) < 0)
			return r;
		json_object_set_new(body, "threshold_pct", json_integer(v));
	}
	if ((r = http_call(cli->http, "POST", "/v1/cluster/balance", body,
	    &answer, err)) < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	printf("load by %s, threshold %lld %%:\n", jv_str(answer, "by"),
	    (long long)json_integer_value(json_object_get(answer,
	    "threshold_pct")));
	json_object_foreach(json_object_get(answer, "loads"), name, m)
		printf("  %s %.1f %% -> %.1f %%\n", name, json_real_value(m),
		    json_real_value(json_object_get(json_object_get(answer,
		    "loads_after"), name)));
	if (json_array_size(json_object_get(answer, "moves")) == 0)
		printf("balanced: nothing to move\n");
	json_array_foreach(json_object_get(answer, "moves"), i, m)
		printf("%s %s: %s -> %s\n", dry ? "would move" : "moves",
		    jv_str(m, "name"), jv_str(m, "from"), jv_str(m, "to"));
	return 0;
}

/* `tern cluster destroy` */
int
cmd_cluster_destroy(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	(void)a;
	return cli_run_job(cli, "DELETE", "/v1/cluster", NULL, "cluster "
	    "destroyed: Corosync stopped on every node", err);
}

/* `tern cluster node add|evict NAME` */
int
cmd_cluster_node(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	bool add = streq(cli->cmd->verb, "node add");
	_cleanup_json_ json_t *body = add ? json_pack("{ss}", "node",
	    a->pos[0]) : NULL;
	_cleanup_free_ char *path = add ? xstrdup("/v1/cluster/nodes") :
	    cli_path(cli, "/v1/cluster/nodes/", a->pos[0], NULL);
	_cleanup_free_ char *done = xasprintf("node %s %s", a->pos[0], add ?
	    "added: it is up in the cluster" : "evicted");

	return cli_run_job(cli, add ? "POST" : "DELETE", path, body, done,
	    err);
}

/* "  NODE  check: message" for each finding of list. */
static void
validate_print_list(const json_t *report, const char *list,
    const char *title)
{
	const json_t *arr = json_object_get(report, list);
	size_t i;
	json_t *f;

	if (json_array_size(arr) == 0)
		return;
	printf("\n%s:\n", title);
	json_array_foreach(arr, i, f)
		printf("  %s [%s] %s\n", jv_str(f, "node") ? jv_str(f, "node") :
		    "-", jv_str(f, "check") ? jv_str(f, "check") : "-",
		    jv_str(f, "message") ? jv_str(f, "message") : "-");
}

static void
validate_print(const json_t *report)
{
	static const char *const hdr[] = { "CHECK", "RESULT" };
	struct table *t = table_new(2, hdr);
	const json_t *nodes = json_object_get(report, "nodes");
	size_t i;
	json_t *c;

	printf("validated:");
	json_array_foreach(nodes, i, c)
		printf("%s %s", i ? "," : "", json_string_value(c));
	printf("\n\n");
	json_array_foreach(json_object_get(report, "checks"), i, c) {
		const char *row[] = { jv_str(c, "name"), jv_str(c, "result") };

		table_row(t, row);
	}
	table_print(t, stdout);
	table_free(t);
	validate_print_list(report, "errors", "errors");
	validate_print_list(report, "warnings", "warnings");
}

/* `tern cluster validate [--node N]... [--json]`. */
int
cmd_cluster_validate(struct cli *cli, const struct cli_args *a,
    struct err *err)
{
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	_cleanup_json_ json_t *job = NULL;
	json_t *nodes = json_array(), *report;
	size_t n_err;
	int r;

	json_object_set_new(body, "nodes", nodes);
	for (int i = 0; i < a->nopt; i++) {
		json_t *v = json_string(a->opt[i].value);

		if (!streq(a->opt[i].name, "node"))
			continue;
		if (!v)
			return cli_usage(err, "--node '%s' is not valid UTF-8",
			    a->opt[i].value);
		json_array_append_new(nodes, v);
	}
	if ((r = http_call(cli->http, "POST", "/v1/cluster/validate", body,
	    &answer, err)) < 0)
		return r;
	if (cli->no_wait)
		return cli_job_print_started(cli, answer, err);
	if ((r = cli_job_wait(cli, json_object_get(answer, "job"), &job,
	    err)) < 0 || (r = cli_job_check(job, err)) < 0)
		return r;
	report = json_object_get(json_object_get(job, "details"), "report");
	if (!json_is_object(report))
		return err_set(err, -EPROTO, "the job ended with no report");
	if (cli->json)
		print_json(report);
	else
		validate_print(report);
	n_err = json_array_size(json_object_get(report, "errors"));
	if (n_err)
		return err_set(err, -EIO, "the validation found %zu error%s: "
		    "the cluster cannot work as it is; fix %s", n_err,
		    n_err == 1 ? "" : "s", n_err == 1 ? "it" : "them");
	return 0;
}

/* `tern vm ha enable|disable NAME` */
int
cmd_vm_ha(struct cli *cli, const struct cli_args *a, struct err *err)
{
	bool on = streq(cli->cmd->verb, "ha enable");
	_cleanup_free_ char *path = cli_path(cli, "/v1/vms/", a->pos[0], "/ha");
	_cleanup_json_ json_t *body = json_object(), *answer = NULL;
	const char *pref = cli_args_get(a, "preferred");
	static const char *const keys[][2] = { { "priority", "priority" },
		{ "anti-affinity", "anti_affinity" },
		{ "failback", "failback" } };
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (cli_args_get(a, keys[i][0]))
			json_object_set_new(body, keys[i][1], json_string(
			    cli_args_get(a, keys[i][0])));
	if (cli_args_get(a, "resiliency-period")) {
		uint64_t s;

		if ((r = cli_parse_u64("--resiliency-period", cli_args_get(a,
		    "resiliency-period"), 0, 86400, &s, err)) < 0)
			return r;
		json_object_set_new(body, "resiliency_period_s",
		    json_integer((json_int_t)s));
	}
	if (pref) {
		json_t *list = json_array();
		_cleanup_free_ char *copy = xstrdup(pref);
		char *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t;
		    t = strtok_r(NULL, ",", &save))
			json_array_append_new(list, json_string(t));
		json_object_set_new(body, "preferred", list);
	}
	if ((r = http_call(cli->http, on ? "PUT" : "DELETE", path, on ? body :
	    NULL, &answer, err)) < 0)
		return r;
	if (cli->json)
		print_json(answer);
	else if (on)
		printf("vm %s: HA on (priority %s)\n", a->pos[0],
		    jv_str(json_object_get(answer, "ha"), "priority"));
	else
		printf("vm %s: HA off\n", a->pos[0]);
	return 0;
}

/* `tern vm list --cluster` */
int
cmd_vm_list_cluster(struct cli *cli, struct err *err)
{
	static const char *const head[] = { "NAME", "OWNER", "STATE",
		"MEMORY", "HA", "REPLICA", "UUID" };
	_cleanup_json_ json_t *answer = NULL;
	struct table *t;
	json_t *vm;
	size_t i;
	int r;

	if ((r = http_call(cli->http, "GET", "/v1/cluster/vms", NULL, &answer,
	    err)) < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	json_array_foreach(json_object_get(answer, "vms"), i, vm) {
		char mem[32], ha[64], rp[80];
		long long mib = 0;
		const json_t *h = json_object_get(vm, "ha");
		const json_t *rj = json_object_get(vm, "replication");

		(void)jv_int(vm, "memory_mib", &mib);
		snprintf(ha, sizeof(ha), "%s%s", json_is_object(h) ?
		    jv_str(h, "priority") : "-",
		    json_is_true(json_object_get(vm, "restarting")) ?
		    " (restarting)" : "");
		snprintf(rp, sizeof(rp), "%s", json_is_object(rj) ?
		    jv_str(rj, "to") : "-");
		table_row(t, (const char *[]){ jv_str(vm, "name"),
		    jv_str(vm, "owner"), jv_str(vm, "state"),
		    fmt_mib(mib, mem, sizeof(mem)), ha, rp,
		    jv_str(vm, "uuid") });
	}
	table_print(t, stdout);
	table_free(t);
	if (!json_is_true(json_object_get(answer, "quorate")))
		printf("(this node is not quorate and in step: the list may be "
		    "stale)\n");
	return 0;
}
