/* test_net_vlan.c - unit tests for src/net/vlan.c: a NIC's access VLAN
 * and trunk text, good and bad. */
#include <errno.h>
#include <string.h>

#include "net.h"
#include "test.h"

static int
trunks(const char *text, unsigned vlan, struct net_vlans *v, struct err *e)
{
	*e = (struct err){ 0 };
	memset(v, 0, sizeof(*v));
	v->vlan = (uint16_t)vlan;
	return net_trunks_parse(text, v, e);
}

static void
test_vlan_good(void)
{
	struct net_vlans v;
	struct err e;
	char buf[NET_TRUNKS_TEXT_MAX + 1];

	ASSERT_EQ(trunks("", 10, &v, &e), 0);
	ASSERT_EQ(v.n, 0);
	ASSERT_EQ(trunks("20-30,40,4094", 10, &v, &e), 0);
	ASSERT_EQ(v.n, 3);
	ASSERT_EQ(v.trunk[0].lo, 20);
	ASSERT_EQ(v.trunk[0].hi, 30);
	ASSERT_EQ(v.trunk[1].lo, 40);
	ASSERT_EQ(v.trunk[1].hi, 40);
	net_trunks_format(&v, buf, sizeof(buf));
	ASSERT_STREQ(buf, "20-30,40,4094");
	ASSERT_EQ(trunks("1", 0, &v, &e), 0);
	ASSERT_EQ(net_vlan_check(0, &e), 0);
	ASSERT_EQ(net_vlan_check(1, &e), 0);
	ASSERT_EQ(net_vlan_check(4094, &e), 0);
}

static void
test_vlan_bad(void)
{
	static const char *const bad[] = { "0", "4095", "10-5", "1-",
	    "-3", ",", "5,", "a", "5 ", "99999999999", "10-20,15",
	    "010x", "1-2-3", NULL };
	struct net_vlans v;
	struct err e;

	for (size_t i = 0; bad[i]; i++)
		ASSERT_EQ(trunks(bad[i], 0, &v, &e), -EINVAL);
	ASSERT_EQ(trunks("5-15", 10, &v, &e), -EINVAL);
	ASSERT_TRUE(strstr(e.msg, "overlaps the access vlan 10") != NULL);
	ASSERT_EQ(trunks("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", 0, &v,
	    &e), -EINVAL);
	e = (struct err){ 0 };
	ASSERT_EQ(net_vlan_check(4095, &e), -EINVAL);
	ASSERT_TRUE(strstr(e.msg, "outside 1-4094") != NULL);
	ASSERT_EQ(net_vlan_check(-1, NULL), -EINVAL);
}

int
main(void)
{
	RUN_TEST(test_vlan_good);
	RUN_TEST(test_vlan_bad);
	return TEST_REPORT();
}
