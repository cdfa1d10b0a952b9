/* test_memspec.c - unit tests for src/base/memspec.c: --memory text good
 * and bad (issue 18), and the dynamic-memory controller's decision. */
#include <errno.h>

#include "memspec.h"
#include "test.h"

static int
parse(const char *s, struct memspec *m, struct err *e)
{
	*e = (struct err){ 0 };
	return memspec_parse(s, m, e);
}

static void
test_memspec_good(void)
{
	struct memspec m;
	struct err e;

	ASSERT_EQ(parse("1G", &m, &e), 0);
	ASSERT_EQ(m.min_mib, 1024);
	ASSERT_EQ(m.max_mib, 1024);
	ASSERT_EQ(m.buffer_pct, 0);
	ASSERT_TRUE(!memspec_dynamic(&m));
	ASSERT_EQ(parse("512M..2G", &m, &e), 0);
	ASSERT_EQ(m.min_mib, 512);
	ASSERT_EQ(m.max_mib, 2048);
	ASSERT_EQ(m.buffer_pct, MEMSPEC_BUFFER_DEFAULT);
	ASSERT_TRUE(memspec_dynamic(&m));
	ASSERT_EQ(parse("256M..1G,buffer=5", &m, &e), 0);
	ASSERT_EQ(m.buffer_pct, 5);
	ASSERT_EQ(parse("256M..1G,buffer=95", &m, &e), 0);
	ASSERT_EQ(m.buffer_pct, 95);
	ASSERT_EQ(parse("1G..1G", &m, &e), 0);	/* a range of one: fixed */
	ASSERT_TRUE(!memspec_dynamic(&m));
	ASSERT_EQ(m.buffer_pct, 0);
}

static void
test_memspec_bad(void)
{
	struct memspec m = { 1, 2, 3 };
	struct err e;

	ASSERT_EQ(parse("2G..1G", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "minimum 2G is larger than the maximum 1G");
	ASSERT_EQ(parse("512M..1G,buffer=4", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "between 5 and 95");
	ASSERT_EQ(parse("512M..1G,buffer=96", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "buffer '96'");
	ASSERT_EQ(parse("512M..1G,buffer=", &m, &e), -EINVAL);
	ASSERT_EQ(parse("512M..1G,buffer=20x", &m, &e), -EINVAL);
	ASSERT_EQ(parse("512M..1G,slack=20", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "unknown option 'slack=20'");
	ASSERT_EQ(parse("1G,buffer=20", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "needs a range");
	ASSERT_EQ(parse("..1G", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "minimum");
	ASSERT_EQ(parse("512M..", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "maximum");
	ASSERT_EQ(parse("8M..1G", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "between 16M");
	ASSERT_EQ(parse("512M..1000001K", &m, &e), -EINVAL);
	ASSERT_CONTAINS(e.msg, "whole number of MiB");
	/* nothing changed on error */
	ASSERT_EQ(m.min_mib, 1);
	ASSERT_EQ(m.max_mib, 2);
	ASSERT_EQ(m.buffer_pct, 3);
}

static void
test_memspec_decide(void)
{
	struct memspec m = { 512, 2048, 20 };
	struct memspec fixed = { 1024, 1024, 0 };
	uint64_t big = 1 << 20;

	ASSERT_EQ(memspec_decide(&fixed, 900, 1024, big), 1024);
	/* idle guest: stays at MIN, never below */
	ASSERT_EQ(memspec_decide(&m, 100, 512, big), 512);
	/* load: 1000 MiB used + 20 % = 1200 */
	ASSERT_EQ(memspec_decide(&m, 1000, 512, big), 1200);
	/* more than MAX wanted: MAX */
	ASSERT_EQ(memspec_decide(&m, 1900, 1200, big), 2048);
	/* within hysteresis (1/16 of 1200 = 75): no change */
	ASSERT_EQ(memspec_decide(&m, 1040, 1200, big), 1200);
	/* the host admits only 100 MiB more: grow by that much */
	ASSERT_EQ(memspec_decide(&m, 1600, 1200, 100), 1300);
	/* the host admits nothing: stay */
	ASSERT_EQ(memspec_decide(&m, 1600, 1200, 0), 1200);
	/* load gone: shrink back to MIN */
	ASSERT_EQ(memspec_decide(&m, 150, 2048, big), 512);
	/* shrink never squeezes the buffer: 800 used -> 960 */
	ASSERT_EQ(memspec_decide(&m, 800, 2048, big), 960);
	/* a balloon outside [MIN, MAX] (e.g. set by hand) comes back */
	ASSERT_EQ(memspec_decide(&m, 100, 300, 0), 512);
	ASSERT_EQ(memspec_decide(&m, 100, 4096, big), 512);
}

int
main(void)
{
	RUN_TEST(test_memspec_good);
	RUN_TEST(test_memspec_bad);
	RUN_TEST(test_memspec_decide);
	return TEST_REPORT();
}
