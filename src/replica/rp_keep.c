/* rp_keep.c - the retention of a replica's recovery points (Hyper-V's
 * RecoveryHistory): the latest point, and up to N points more, one per
 * hour, each the last point taken in its hour. */
#include "rp_keep.h"

static uint64_t
period_of(int64_t time_ms, uint64_t period_ms)
{
	return time_ms < 0 ? 0 : (uint64_t)time_ms / period_ms;
}

size_t
rp_keep_points(const int64_t *time_ms, size_t n, unsigned n_hourly,
    uint64_t period_ms, bool *ret_keep)
{
	uint64_t latest;
	size_t kept = 1, hourly = 0;

	if (n == 0)
		return 0;
	if (period_ms == 0)
		period_ms = 1;
	latest = period_of(time_ms[n - 1], period_ms);
	ret_keep[n - 1] = true;
	/* Newest first, so that the newest hours win. */
	for (size_t i = n - 1; i-- > 0;) {
		uint64_t p = period_of(time_ms[i], period_ms);
		bool last = p != period_of(time_ms[i + 1], period_ms);

		ret_keep[i] = last && p != latest && hourly < n_hourly;
		if (ret_keep[i]) {
			hourly++;
			kept++;
		}
	}
	return kept;
}
