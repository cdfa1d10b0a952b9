/* rp_keep.h - which of a replica's recovery points are kept (pure: no
 * I/O, so a unit test links it alone). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For n points (n >= 1) by their times, oldest first: ret_keep[i] true
 * for the points kept.  The latest is always kept; of the others, the
 * last point of each period (Hyper-V's hourly points: period_ms is an
 * hour but for tests) whose period is not the latest's, the newest
 * n_hourly of those.  Returns how many are kept. */
size_t rp_keep_points(const int64_t *time_ms, size_t n, unsigned n_hourly,
    uint64_t period_ms, bool *ret_keep);
