/* cluster_cmd.c - `tern cluster ...`: the failover cluster (docs/api.md
 * "Cluster").  validate: starts cluster.validate, waits for it and prints
 * its report; exit 1 when the report has errors (warnings alone: 0).
 * Talks to ternd only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "util.h"

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
