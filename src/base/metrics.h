/* metrics.h - a registry of counters and gauges (a name, a help text,
 * samples told apart by labels) written in Prometheus' text format 0.0.4.
 * Lower layers update it as things happen; api/metrics.c only renders it.
 * It knows nothing about what it counts, and never logs. */
#pragma once

#include <stdint.h>

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC__COUNT };

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
/* Add delta to (or set to v) the sample of declared family name whose
 * labels are labels: NULL, or "name", "value", ... NULL.  A new sample
 * starts at 0 and is written after the family's older ones.  A counter
 * only grows (delta >= 0). */
void metrics_add(struct metrics *m, const char *name,
    const char *const *labels, int64_t delta);
void metrics_set(struct metrics *m, const char *name,
    const char *const *labels, int64_t v);
/* Value of a sample, 0 when absent (tests). */
int64_t metrics_get(const struct metrics *m, const char *name,
    const char *const *labels);

/* The registry in Prometheus text format (caller frees). */
char *metrics_text(const struct metrics *m);
