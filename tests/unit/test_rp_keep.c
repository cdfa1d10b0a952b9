/* test_rp_keep.c - unit tests for src/replica/rp_keep.c: which recovery
 * points a replica keeps (the latest, and the last of each hour). */
#include <stdio.h>
#include <string.h>

#include "rp_keep.h"
#include "test.h"

#define H 3600000LL	/* an hour in ms */

/* keep[] as a string of 'k' (kept) and '.' (merged). */
static const char *
keep_str(const int64_t *t, size_t n, unsigned hourly, size_t *ret_kept)
{
	static char buf[64];
	bool keep[64];

	*ret_kept = rp_keep_points(t, n, hourly, H, keep);
	for (size_t i = 0; i < n; i++)
		buf[i] = keep[i] ? 'k' : '.';
	buf[n] = '\0';
	return buf;
}

static void
test_latest_only(void)
{
	int64_t t[] = { 10, 20 * 60000, 2 * H + 5 };
	size_t kept;

	ASSERT_STREQ(keep_str(t, 3, 0, &kept), "..k");
	ASSERT_EQ(kept, 1);
	ASSERT_STREQ(keep_str(t, 1, 5, &kept), "k");
	ASSERT_EQ(rp_keep_points(t, 0, 3, H, NULL), 0);
}

static void
test_last_of_each_hour(void)
{
	/* hour 0: two points, hour 1: three, hour 2: the latest two */
	int64_t t[] = { 1, H - 1, H, H + 10, 2 * H - 1, 2 * H, 2 * H + 30 };
	size_t kept;

	ASSERT_STREQ(keep_str(t, 7, 24, &kept), ".k..k.k");
	ASSERT_EQ(kept, 3);
	/* one hourly point: the newest hour's wins, the older merged */
	ASSERT_STREQ(keep_str(t, 7, 1, &kept), "....k.k");
	ASSERT_EQ(kept, 2);
}

static void
test_beyond_n_oldest_go(void)
{
	/* one point an hour for 6 hours, N = 2: the latest and 2 before */
	int64_t t[] = { 0, H, 2 * H, 3 * H, 4 * H, 5 * H };
	size_t kept;

	ASSERT_STREQ(keep_str(t, 6, 2, &kept), "...kkk");
	ASSERT_EQ(kept, 3);
	/* hours with no point are not counted; a point of the latest's
	 * hour is no hourly point */
	{
		int64_t g[] = { 0, 3 * H, 7 * H, 7 * H + 1 };

		ASSERT_STREQ(keep_str(g, 4, 2, &kept), "kk.k");
		ASSERT_EQ(kept, 3);
	}
}

static void
test_same_hour_as_latest(void)
{
	/* every point in the latest's hour: only the latest stays */
	int64_t t[] = { 5 * H, 5 * H + 1, 5 * H + 2 };
	size_t kept;

	ASSERT_STREQ(keep_str(t, 3, 4, &kept), "..k");
	ASSERT_EQ(kept, 1);
}

int
main(void)
{
	RUN_TEST(test_latest_only);
	RUN_TEST(test_last_of_each_hour);
	RUN_TEST(test_beyond_n_oldest_go);
	RUN_TEST(test_same_hour_as_latest);
	return TEST_REPORT();
}
