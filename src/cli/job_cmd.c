/* job_cmd.c - "tern job" (list, show, watch, cancel) and "tern events":
 * what ternd did and is doing.  Following (job watch, events --follow)
 * polls with a sleep between requests and ends on SIGINT; it never
 * cancels anything unless asked to with "job cancel". */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "jsonutil.h"
#include "print.h"
#include "size.h"
#include "util.h"

#define EVENTS_POLL_MS 500
#define EVENTS_PAGE_MAX 1000

/* path with "?key=value" or "&key=value" appended (value escaped); frees
 * path and returns the new one. */
static char *
query_add(struct cli *cli, char *path, const char *key, const char *value)
{
	_cleanup_free_ char *e = http_escape(cli->http, value);
	char *s = xasprintf("%s%c%s=%s", path, strchr(path, '?') ? '&' : '?',
	    key, e);

	free(path);
	return s;
}

static int
job_path(const struct cli_args *a, const char *suffix, char **ret_path,
    struct err *err)
{
	uint64_t id;
	int r = cli_parse_u64("job id", a->pos[0], 1, INT64_MAX, &id, err);

	if (r < 0)
		return r;
	*ret_path = xasprintf("/v1/jobs/%llu%s", (unsigned long long)id,
	    suffix);
	return 0;
}

int
cmd_job_list(struct cli *cli, const struct cli_args *a, struct err *err)
{
	static const char *const head[] = {
		"ID", "TYPE", "VM", "STATE", "PROGRESS", "CREATED"
	};
	_cleanup_free_ char *path = xstrdup("/v1/jobs");
	_cleanup_json_ json_t *answer = NULL;
	struct table *t;
	json_t *j;
	size_t i;
	int r;

	if (cli_args_get(a, "vm"))
		path = query_add(cli, path, "vm", cli_args_get(a, "vm"));
	if (cli_args_get(a, "active"))
		path = query_add(cli, path, "active", "1");
	r = http_call(cli->http, "GET", path, NULL, &answer, err);
	if (r < 0)
		return r;
	if (cli->json) {
		print_json(answer);
		return 0;
	}
	t = table_new(ARRAY_SIZE(head), head);
	json_array_foreach(json_object_get(answer, "jobs"), i, j) {
		char id[24], progress[96];

		table_row(t, (const char *[]){ jv_text(j, "id", id, sizeof(id)),
		    jv_str(j, "type"), jv_str(j, "vm"), jv_str(j, "state"),
		    fmt_job_progress(j, progress, sizeof(progress)),
		    jv_str(j, "created_at") });
	}
	table_print(t, stdout);
	table_free(t);
	return 0;
}

static const char *
job_rate_text(const json_t *job, char *buf, size_t len)
{
	const char *unit = jv_str(json_object_get(job, "progress"), "unit");
	char tmp[32];
	double rate;

	if (!jv_num(job, "rate", &rate) || rate < 0)
		return "-";
	if (streq(unit, "bytes"))
		snprintf(buf, len, "%s/s",
		    size_format((uint64_t)rate, tmp, sizeof(tmp)));
	else
		snprintf(buf, len, "%.1f %s/s", rate, unit ? unit : "units");
	return buf;
}

static void
job_print(const json_t *job)
{
	struct table *t = table_new(2, NULL);
	_cleanup_free_ char *details = NULL;
	char b[128], p[96];
	long long eta;

	table_kv(t, "id", "%s", jv_text(job, "id", b, sizeof(b)));
	table_kv(t, "type", "%s", jv_text(job, "type", b, sizeof(b)));
	table_kv(t, "vm", "%s", jv_text(job, "vm", b, sizeof(b)));
	table_kv(t, "state", "%s", jv_text(job, "state", b, sizeof(b)));
	table_kv(t, "progress", "%s", fmt_job_progress(job, p, sizeof(p)));
	table_kv(t, "rate", "%s", job_rate_text(job, b, sizeof(b)));
	table_kv(t, "eta", "%s", jv_int(job, "eta_s", &eta) && eta >= 0 ?
	    fmt_duration(eta, b, sizeof(b)) : "-");
	table_kv(t, "error", "%s", jv_text(job, "error", b, sizeof(b)));
	table_kv(t, "created", "%s", jv_text(job, "created_at", b, sizeof(b)));
	table_kv(t, "started", "%s", jv_text(job, "started_at", b, sizeof(b)));
	table_kv(t, "ended", "%s", jv_text(job, "ended_at", b, sizeof(b)));
	if (json_object_get(job, "details"))
		details = json_to_string(json_object_get(job, "details"));
	table_kv(t, "details", "%s", details ? details : "-");
	table_print(t, stdout);
	table_free(t);
}

int
cmd_job_show(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *job = NULL;
	int r;

	r = job_path(a, "", &path, err);
	if (r == 0)
		r = http_call(cli->http, "GET", path, NULL, &job, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(job);
	else
		job_print(job);
	return 0;
}

int
cmd_job_watch(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *job = NULL, *final = NULL;
	char label[200];
	int r;

	r = job_path(a, "", &path, err);
	if (r == 0)
		r = http_call(cli->http, "GET", path, NULL, &job, err);
	if (r == 0)
		r = cli_job_wait(cli, job, &final, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(final);
	r = cli_job_check(final, err);
	if (r == 0 && !cli->json)
		printf("%s succeeded\n",
		    cli_job_label(final, label, sizeof(label)));
	return r;
}

int
cmd_job_cancel(struct cli *cli, const struct cli_args *a, struct err *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_json_ json_t *job = NULL;
	char label[200];
	int r;

	r = job_path(a, "/cancel", &path, err);
	if (r == 0)
		r = http_call(cli->http, "POST", path, NULL, &job, err);
	if (r < 0)
		return r;
	if (cli->json)
		print_json(job);
	else
		printf("%s: cancel requested; it is %s\n",
		    cli_job_label(job, label, sizeof(label)),
		    jv_str(job, "state") ? jv_str(job, "state") : "?");
	return 0;
}

/* Where "tern events" is in the log.  Invariant: every event with an id
 * up to after has been shown (or collected into all, for --json without
 * --follow). */
struct events {
	char *filter;		/* "&vm=NAME" or "" */
	long long after;
	uint64_t limit;		/* at most this many in all; 0: no limit */
	uint64_t shown;
	json_t *all;
};

static void
event_print(const json_t *e)
{
	const char *vm = jv_str(e, "vm");
	char b[64];
	long long job;

	printf("%s %-7s %s%s%s%s", jv_text(e, "time", b, sizeof(b)),
	    jv_str(e, "severity") ? jv_str(e, "severity") : "-",
	    vm ? "[" : "", vm ? vm : "", vm ? "] " : "",
	    jv_str(e, "message") ? jv_str(e, "message") : "");
	if (jv_int(e, "job", &job))
		printf(" (job %lld)", job);
	putchar('\n');
}

/* Fetch and show the events after ev->after, at most page of them;
 * *ret_full when the page was full, so more may be waiting. */
static int
events_page(struct cli *cli, struct events *ev, bool follow, bool *ret_full,
    struct err *err)
{
	uint64_t page = ev->limit ? MIN(EVENTS_PAGE_MAX, ev->limit - ev->shown)
	    : EVENTS_PAGE_MAX;
	_cleanup_free_ char *path = xasprintf("/v1/events?after=%lld&limit=%llu"
	    "%s", ev->after, (unsigned long long)page, ev->filter);
	_cleanup_json_ json_t *answer = NULL;
	json_t *list, *e;
	long long last = ev->after;
	size_t i;
	int r;

	r = http_call(cli->http, "GET", path, NULL, &answer, err);
	if (r < 0)
		return r;
	list = json_object_get(answer, "events");
	(void)jv_int(answer, "last_id", &last);
	if (!json_is_array(list) || (json_array_size(list) > 0 &&
	    last <= ev->after))
		return err_set(err, -EPROTO, "malformed events answer from "
		    "ternd");
	json_array_foreach(list, i, e) {
		if (cli->json && follow)
			print_json_line(e);
		else if (cli->json)
			json_array_append(ev->all, e);
		else
			event_print(e);
	}
	fflush(stdout);
	ev->after = last;
	ev->shown += json_array_size(list);
	*ret_full = json_array_size(list) == page;
	return 0;
}

/* Pages until one is not full; with follow, then every 500 ms until
 * SIGINT, which ends it without an error. */
static int
events_run(struct cli *cli, struct events *ev, bool follow, struct err *err)
{
	struct err e = { 0 };
	bool full = false;
	int r;

	for (;;) {
		if (ev->limit && ev->shown >= ev->limit)
			return 0;
		r = events_page(cli, ev, follow, &full, &e);
		if (r < 0)
			break;
		if (full)
			continue;
		if (!follow || !cli_sleep_ms(EVENTS_POLL_MS))
			return 0;
	}
	if (follow && cli_interrupted)
		return 0;
	return err_set(err, r, "%s", e.msg);
}

int
cmd_events(struct cli *cli, const struct cli_args *a, struct err *err)
{
	const char *vm = cli_args_get(a, "vm");
	const char *limit = cli_args_get(a, "limit");
	bool follow = cli_args_get(a, "follow") != NULL;
	_cleanup_free_ char *esc = vm ? http_escape(cli->http, vm) : NULL;
	_cleanup_json_ json_t *out = NULL;
	struct events ev = { .all = json_array() };
	struct sigaction old;
	int r = 0;

	if (limit)
		r = cli_parse_u64("--limit", limit, 1, INT64_MAX, &ev.limit,
		    err);
	if (r < 0) {
		json_decref(ev.all);
		return r;
	}
	ev.filter = esc ? xasprintf("&vm=%s", esc) : xstrdup("");
	if (follow)
		cli_sigint_catch(&old);
	r = events_run(cli, &ev, follow, err);
	if (follow)
		cli_sigint_restore(&old);
	if (r == 0 && cli->json && !follow) {
		out = json_pack("{s:O, s:I}", "events", ev.all, "last_id",
		    (json_int_t)ev.after);
		print_json(out);
	}
	free(ev.filter);
	json_decref(ev.all);
	return r;
}
