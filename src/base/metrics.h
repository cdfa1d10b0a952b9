/* metrics.h - a registry of counters, gauges and histograms (a name, a
 * help text, samples told apart by labels) written in Prometheus' text
 * format 0.0.4.  Lower layers update it as things happen; api/metrics.c
 * only renders it.  It knows nothing about what it counts, and never
 * logs. */
#pragma once

#include <stddef.h>
#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM,
		   METRIC__COUNT };

/* The most buckets a histogram may declare (+Inf is added). */
#define METRICS_MAX_BUCKETS 32

struct metrics;

/* An empty registry (for tests); metrics_free() is NULL-safe, returns
 * NULL. */
struct metrics *metrics_new(void);
struct metrics *metrics_free(struct metrics *m);
/* The process's registry, which ternd's modules update and /metrics
 * shows. */
struct metrics *metrics_default(void);

/* Add label name="value" to every sample when written, before its own
 * labels (ternd: host="NAME"). */
void metrics_const_label(struct metrics *m, const char *name,
    const char *value);
/* Declare family name (idempotent; the first declaration's type and help
 * stay).  Families are written in the order they were declared. */
void metrics_declare(struct metrics *m, const char *name,
    enum metric_type type, const char *help);
/* Declare histogram name with the n (1..METRICS_MAX_BUCKETS) ascending
 * upper bounds les; the +Inf bucket is implied.  Idempotent. */
void metrics_declare_histogram(struct metrics *m, const char *name,
    const char *help, const double *les, size_t n);
/* Add delta to (or set to v) the sample of declared family name whose
 * labels are labels: NULL, or "name", "value", ... NULL.  A new sample
 * starts at 0 and is written after the family's older ones.  A counter
 * only grows (delta >= 0).  Not for histograms. */
void metrics_add(struct metrics *m, const char *name,
    const char *const *labels, int64_t delta);
void metrics_set(struct metrics *m, const char *name,
    const char *const *labels, int64_t v);
/* metrics_set() with a fraction (seconds, ratios). */
void metrics_setf(struct metrics *m, const char *name,
    const char *const *labels, double v);
/* Count observation v in histogram name's sample with labels: every
 * bucket whose bound is >= v, _sum and _count. */
void metrics_observe(struct metrics *m, const char *name,
    const char *const *labels, double v);
/* Forget every sample, in every family, that has label name="value"
 * (a deleted VM's).  Returns how many went. */
size_t metrics_drop(struct metrics *m, const char *name, const char *value);
/* Forget family name's sample with labels, if any. */
void metrics_remove(struct metrics *m, const char *name,
    const char *const *labels);
/* Forget every sample of family name (a family rebuilt from scratch on
 * each tick: what is no longer there goes). */
void metrics_clear(struct metrics *m, const char *name);
/* Set every sample of family name to 0 (a gauge recounted from
 * scratch: the labels stay, so a state at 0 still shows). */
void metrics_zero(struct metrics *m, const char *name);
/* Value of a sample (a histogram's: its count), 0 when absent (tests). */
int64_t metrics_get(const struct metrics *m, const char *name,
    const char *const *labels);
/* Number of samples of family name (tests). */
size_t metrics_n_samples(const struct metrics *m, const char *name);

/* The registry in Prometheus text format (caller frees). */
char *metrics_text(const struct metrics *m);
