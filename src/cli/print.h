/* print.h - how tern shows things to people: aligned tables, "key: value"
 * blocks, sizes, durations and the one-line job progress bar.  Pure
 * formatting over jansson values; never talks to ternd, never exits. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct table;

/* A table of ncols columns.  headers (ncols strings) is printed as the first
 * row; NULL makes a header-less table, as "key: value" blocks use. */
struct table *table_new(size_t ncols, const char *const *headers);
/* NULL-safe; returns NULL. */
struct table *table_free(struct table *t);
/* Append a row: cells holds ncols strings, copied; NULL prints as "-". */
void table_row(struct table *t, const char *const *cells);
/* Append the row "key:" value to a 2-column table, value printf-style. */
void table_kv(struct table *t, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Print the rows, columns padded to their widest cell and separated by
 * two spaces; the last column is not padded. */
void table_print(const struct table *t, FILE *f);

/* Members of a JSON object, tolerant of a missing or mistyped member and
 * of o itself being NULL. */
const char *jv_str(const json_t *o, const char *key);	/* NULL if absent */
bool jv_int(const json_t *o, const char *key, long long *ret);
bool jv_num(const json_t *o, const char *key, double *ret); /* int or real */
/* Any member as text: strings as they are, numbers in decimal, booleans
 * "yes"/"no", null and absent "-", arrays and objects as compact JSON. */
const char *jv_text(const json_t *o, const char *key, char *buf, size_t len);

/* v as JSON, indented by 2, then a newline, on stdout. */
void print_json(const json_t *v);
/* v as one line of compact JSON on stdout, for streams (--follow). */
void print_json_line(const json_t *v);

/* Memory as people size it: "512 MiB", "2 GiB", "1.5 GiB". */
const char *fmt_mib(uint64_t mib, char *buf, size_t len);
/* "45s", "3m05s", "2h03m", "4d02h". */
const char *fmt_duration(uint64_t s, char *buf, size_t len);
/* A job's progress for tables: "45% (1.2 GiB / 2.0 GiB)", "3/5 steps",
 * or "-" when the total is not known. */
const char *fmt_job_progress(const json_t *job, char *buf, size_t len);
/* A job's one-line progress bar, at most width columns:
 * "[#####-----]  45%  1.2 GiB / 2.0 GiB  150.0 MiB/s  ETA 5s  vm.create web1"
 * or, with no known total, a spinner (turned by tick) and the state. */
void fmt_progress_bar(const json_t *job, unsigned tick, size_t width,
    char *buf, size_t len);
