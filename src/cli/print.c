/* print.c - tables, "key: value" blocks, sizes, durations and the job
 * progress bar for tern's human output.  Pure formatting: never talks to
 * ternd, never decides an exit code. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "print.h"
#include "size.h"
#include "util.h"

#define BAR_WIDTH 20

/* Invariant: cells holds nrows * ncols strings owned by the table; row 0 is
 * the header when has_header. */
struct table {
	size_t ncols;
	size_t nrows;
	size_t cap;
	char **cells;
};

struct table *
table_new(size_t ncols, const char *const *headers)
{
	struct table *t = xzalloc(sizeof(*t));

	t->ncols = ncols;
	if (headers)
		table_row(t, headers);
	return t;
}

struct table *
table_free(struct table *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
	return NULL;
}

void
table_row(struct table *t, const char *const *cells)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 8;
		t->cells = xrealloc(t->cells,
		    t->cap * t->ncols * sizeof(*t->cells));
	}
	for (size_t c = 0; c < t->ncols; c++)
		t->cells[t->nrows * t->ncols + c] =
		    xstrdup(cells[c] ? cells[c] : "-");
	t->nrows++;
}

void
table_kv(struct table *t, const char *key, const char *fmt, ...)
{
	_cleanup_free_ char *k = xasprintf("%s:", key);
	_cleanup_free_ char *v = NULL;
	va_list ap;

	va_start(ap, fmt);
	if (vasprintf(&v, fmt, ap) < 0)
		v = NULL;
	va_end(ap);
	table_row(t, (const char *[]){ k, v ? v : "?" });
}

void
table_print(const struct table *t, FILE *f)
{
	_cleanup_free_ size_t *w = xzalloc(t->ncols * sizeof(*w));

	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		w[i % t->ncols] = MAX(w[i % t->ncols], strlen(t->cells[i]));
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			if (c + 1 == t->ncols)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s  ", (int)w[c], s);
		}
	}
}

const char *
jv_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

bool
jv_int(const json_t *o, const char *key, long long *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*ret = json_integer_value(v);
	return true;
}

bool
jv_num(const json_t *o, const char *key, double *ret)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_number(v))
		return false;
	*ret = json_number_value(v);
	return true;
}

const char *
jv_text(const json_t *o, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);
	_cleanup_free_ char *s = NULL;

	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		return json_string_value(v);
	case JSON_INTEGER:
		snprintf(buf, len, "%lld", (long long)json_integer_value(v));
		return buf;
	case JSON_REAL:
		snprintf(buf, len, "%g", json_real_value(v));
		return buf;
	case JSON_TRUE:
		return "yes";
	case JSON_FALSE:
		return "no";
	case JSON_NULL:
		return "-";
	default:
		s = json_to_string(v);
		snprintf(buf, len, "%s", s);
		return buf;
	}
}

void
print_json(const json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

void
print_json_line(const json_t *v)
{
	json_dumpf(v, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
	fputc('\n', stdout);
	fflush(stdout);
}

const char *
fmt_mib(uint64_t mib, char *buf, size_t len)
{
	if (mib >= 1024 && mib % 1024 == 0)
		snprintf(buf, len, "%llu GiB", (unsigned long long)mib / 1024);
	else if (mib >= 1024)
		snprintf(buf, len, "%.1f GiB", mib / 1024.0);
	else
		snprintf(buf, len, "%llu MiB", (unsigned long long)mib);
	return buf;
}

const char *
fmt_duration(uint64_t s, char *buf, size_t len)
{
	unsigned long long v = s;

	if (v < 60)
		snprintf(buf, len, "%llus", v);
	else if (v < 3600)
		snprintf(buf, len, "%llum%02llus", v / 60, v % 60);
	else if (v < 86400)
		snprintf(buf, len, "%lluh%02llum", v / 3600, v % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", v / 86400, v % 86400 / 3600);
	return buf;
}

/* done and total of a job's progress; false when the total is unknown. */
static bool
job_amounts(const json_t *job, double *ret_done, double *ret_total)
{
	const json_t *p = json_object_get(job, "progress");
	double done = 0, total = 0;

	(void)jv_num(p, "done", &done);
	if (!jv_num(p, "total", &total) || total <= 0)
		return false;
	*ret_done = done < 0 ? 0 : done > total ? total : done;
	*ret_total = total;
	return true;
}

/* "1.2 GiB / 2.0 GiB" for bytes, "3/5" for steps and anything else. */
static void
fmt_amounts(const json_t *job, double done, double total, char *buf,
    size_t len)
{
	const json_t *p = json_object_get(job, "progress");
	char a[32], b[32];

	if (streq(jv_str(p, "unit"), "bytes"))
		snprintf(buf, len, "%s / %s",
		    size_format((uint64_t)done, a, sizeof(a)),
		    size_format((uint64_t)total, b, sizeof(b)));
	else
		snprintf(buf, len, "%.0f/%.0f", done, total);
}

const char *
fmt_job_progress(const json_t *job, char *buf, size_t len)
{
	const json_t *p = json_object_get(job, "progress");
	double done, total;
	char amounts[80];

	if (!job_amounts(job, &done, &total)) {
		snprintf(buf, len, "-");
		return buf;
	}
	fmt_amounts(job, done, total, amounts, sizeof(amounts));
	if (streq(jv_str(p, "unit"), "bytes"))
		snprintf(buf, len, "%d%% (%s)", (int)(done * 100 / total),
		    amounts);
	else
		snprintf(buf, len, "%s %s", amounts,
		    jv_str(p, "unit") ? jv_str(p, "unit") : "");
	return buf;
}

/* "  150.0 MiB/s  ETA 5s" (either part may be missing), for the bar. */
static void
fmt_rate_eta(const json_t *job, char *buf, size_t len)
{
	const json_t *p = json_object_get(job, "progress");
	char r[32] = "", e[32] = "", tmp[24];
	double rate;
	long long eta;

	if (streq(jv_str(p, "unit"), "bytes") && jv_num(job, "rate", &rate) &&
	    rate > 0)
		snprintf(r, sizeof(r), "  %s/s",
		    size_format((uint64_t)rate, tmp, sizeof(tmp)));
	if (jv_int(job, "eta_s", &eta) && eta >= 0)
		snprintf(e, sizeof(e), "  ETA %s",
		    fmt_duration(eta, tmp, sizeof(tmp)));
	snprintf(buf, len, "%s%s", r, e);
}

/* The bar form at bar_width; false when the total is unknown. */
static bool
fmt_bar_line(const json_t *job, size_t bar_width, const char *what,
    char *buf, size_t len)
{
	char bar[BAR_WIDTH + 1], amounts[80], rest[64];
	double done, total;
	size_t fill;

	if (!job_amounts(job, &done, &total))
		return false;
	fill = (size_t)(done * bar_width / total);
	memset(bar, '#', fill);
	memset(bar + fill, '-', bar_width - fill);
	bar[bar_width] = '\0';
	fmt_amounts(job, done, total, amounts, sizeof(amounts));
	fmt_rate_eta(job, rest, sizeof(rest));
	snprintf(buf, len, "[%s] %3d%%  %s%s  %s", bar,
	    (int)(done * 100 / total), amounts, rest, what);
	return true;
}

void
fmt_progress_bar(const json_t *job, unsigned tick, size_t width, char *buf,
    size_t len)
{
	static const char spin[] = "|/-\\";
	const char *state = jv_str(job, "state");
	char what[160];

	snprintf(what, sizeof(what), "%s %s", jv_str(job, "type") ?: "job",
	    jv_str(job, "vm") ?: "");
	if (!fmt_bar_line(job, BAR_WIDTH, what, buf, len))
		snprintf(buf, len, "%c %s  %s", spin[tick % 4],
		    state ? state : "waiting", what);
	else if (width > 0 && strlen(buf) > width)
		fmt_bar_line(job, BAR_WIDTH / 2, what, buf, len);
	if (width > 0 && width < len && strlen(buf) > width)
		buf[width] = '\0';
}
