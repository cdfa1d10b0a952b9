/* test_net_isolate.c - unit tests for src/net/isolate.c's guard: a name
 * that is not a switch's bridge name never reaches nft's language.  Run
 * in a network namespace of its own when it may (root), so that a broken
 * guard cannot change the host's nftables; as another user nft is
 * refused anyway. */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "net.h"
#include "test.h"

static void
test_isolate_refuses_bad_names(void)
{
	static const char *const bad[] = { "", "tb-a\" } flush ruleset #",
	    "tb-A", "tb a", "tb-a;", "tb-0123456789abc", NULL };
	struct err e;

	for (size_t i = 0; bad[i]; i++) {
		e = (struct err){ 0 };
		ASSERT_EQ(net_isolate_apply(bad[i], &e), -EINVAL);
		ASSERT_CONTAINS(e.msg, "not a switch's bridge name");
		e = (struct err){ 0 };
		ASSERT_TRUE(!net_isolate_is_applied(bad[i]));
		ASSERT_EQ(net_isolate_remove(bad[i], &e), 0);
	}
}

int
main(void)
{
	(void)unshare(CLONE_NEWNET);
	RUN_TEST(test_isolate_refuses_bad_names);
	return TEST_REPORT();
}
