/* test_net_uplink.c - unit tests for src/net/uplink.c's parts that need
 * no kernel: the stored uplinks and bond mode read back, and the uplink
 * names refused before any netlink request; announce.c's RARP frame,
 * untagged as QEMU's and tagged. */
#include <errno.h>
#include <net/if.h>
#include <linux/if_bonding.h>
#include <string.h>

#include "net.h"
#include "test.h"

static void
test_uplinks_parse(void)
{
	struct net_uplinks u;
	struct err e = { 0 };

	ASSERT_EQ(net_uplinks_parse("", NULL, &u, &e), 0);
	ASSERT_EQ(u.n, 0);
	ASSERT_EQ(net_uplinks_parse(NULL, NULL, &u, &e), 0);
	ASSERT_EQ(u.n, 0);
	ASSERT_EQ(net_uplinks_parse("eth1", NULL, &u, &e), 0);
	ASSERT_EQ(u.n, 1);
	ASSERT_STREQ(u.ifs[0], "eth1");
	ASSERT_EQ(net_uplinks_parse("eth1,eth2", "802.3ad", &u, &e), 0);
	ASSERT_EQ(u.n, 2);
	ASSERT_STREQ(u.ifs[1], "eth2");
	ASSERT_EQ(u.mode, BOND_MODE_8023AD);
	ASSERT_STREQ(net_bond_mode_name(u.mode), "802.3ad");
	ASSERT_EQ(net_uplinks_parse("a,b,c,d,e,f,g,h,i", NULL, &u, &e),
	    -EINVAL);
	ASSERT_TRUE(strstr(e.msg, "at most 8") != NULL);
	e = (struct err){ 0 };
	ASSERT_EQ(net_uplinks_parse("eth1,eth2", "round-robin", &u, &e),
	    -EINVAL);
	ASSERT_TRUE(strstr(e.msg, "active-backup, 802.3ad or balance-xor"));
}

static void
test_bond_modes(void)
{
	ASSERT_EQ(net_bond_mode_parse("active-backup"),
	    BOND_MODE_ACTIVEBACKUP);
	ASSERT_EQ(net_bond_mode_parse("balance-xor"), BOND_MODE_XOR);
	ASSERT_EQ(net_bond_mode_parse("802.3ad"), BOND_MODE_8023AD);
	ASSERT_EQ(net_bond_mode_parse("broadcast"), -EINVAL);
	ASSERT_EQ(net_bond_mode_parse(""), -EINVAL);
	ASSERT_EQ(net_bond_mode_parse(NULL), -EINVAL);
	ASSERT_STREQ(net_bond_mode_name(BOND_MODE_ROUNDROBIN), "?");
}

/* Refused by name alone, before the kernel is asked. */
static void
test_uplink_names(void)
{
	static const char *const bad[] = { "", "a/b", "eth1,eth2",
		"0123456789abcdef", "tb-lan", "tu-lan", "tt0", NULL };
	struct err e;

	for (size_t i = 0; bad[i]; i++) {
		e = (struct err){ 0 };
		ASSERT_EQ(net_uplink_check(bad[i], &e), -EINVAL);
		ASSERT_TRUE(e.msg[0] != 0);
	}
	ASSERT_TRUE(strstr(e.msg, "tern's own") != NULL);
}

/* The frame QEMU's announce-self sends (net/announce.c), and the same
 * with an 802.1Q tag for VLAN 100. */
static void
test_rarp_frame(void)
{
	static const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	static const uint8_t head[] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56,
	};
	static const uint8_t arp[] = {
		0x80, 0x35, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x03,
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0,
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 0, 0,
	};
	static const uint8_t zero[18] = { 0 };
	uint8_t buf[NET_RARP_FRAME_MAX];

	ASSERT_EQ(net_rarp_frame(mac, 0, buf), 60);
	ASSERT_TRUE(memcmp(buf, head, 12) == 0);
	ASSERT_TRUE(memcmp(buf + 12, arp, sizeof(arp)) == 0);
	ASSERT_TRUE(memcmp(buf + 42, zero, 18) == 0);
	ASSERT_EQ(net_rarp_frame(mac, 100, buf), 64);
	ASSERT_TRUE(memcmp(buf, head, 12) == 0);
	ASSERT_EQ(buf[12], 0x81);
	ASSERT_EQ(buf[13], 0x00);
	ASSERT_EQ(buf[14], 0x00);
	ASSERT_EQ(buf[15], 100);
	ASSERT_TRUE(memcmp(buf + 16, arp, sizeof(arp)) == 0);
	ASSERT_TRUE(memcmp(buf + 46, zero, 18) == 0);
	net_rarp_frame(mac, 4094, buf);
	ASSERT_EQ(buf[14], 0x0f);
	ASSERT_EQ(buf[15], 0xfe);
}

int
main(void)
{
	RUN_TEST(test_uplinks_parse);
	RUN_TEST(test_bond_modes);
	RUN_TEST(test_uplink_names);
	RUN_TEST(test_rarp_frame);
	return TEST_REPORT();
}
