/* test_net_uplink.c - unit tests for src/net/uplink.c's parts that need
 * no kernel: the stored uplinks and bond mode read back, and the uplink
 * names refused before any netlink request; announce.c's RARP frame,
 * untagged as QEMU's and tagged. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <linux/if_bonding.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

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

/* The VLAN of a received frame: from the kernel's metadata when the tag
 * was taken off (veth offloads it), else from the frame; 0 untagged. */
static unsigned
frame_vid(const uint8_t *f, ssize_t n, struct msghdr *m)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		struct tpacket_auxdata *a = (void *)CMSG_DATA(c);

		if (c->cmsg_level == SOL_PACKET &&
		    c->cmsg_type == PACKET_AUXDATA &&
		    (a->tp_status & TP_STATUS_VLAN_VALID))
			return a->tp_vlan_tci & 0x0fff;
	}
	if (n >= 16 && f[12] == 0x81 && f[13] == 0x00)
		return ((f[14] << 8) | f[15]) & 0x0fff;
	return 0;
}

/* The sender, in a network namespace of its own (root only, else
 * skipped): trunks 100-102,200 out of one end of a veth pair give four
 * RARP frames from the MAC, one tagged with each VLAN, at the other. */
static void
test_announce_tagged(void)
{
	struct net_vlans v = { .n = 2, .trunk = { { 100, 102 }, { 200, 200 } } };
	struct timeval tv = { .tv_sec = 1 };
	struct sockaddr_ll sa = { .sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL) };
	uint8_t f[128];
	char ctl[256];
	unsigned seen = 0, one = 1;
	struct err e = { 0 };
	int fd;

	if (geteuid() != 0 || unshare(CLONE_NEWNET) != 0 ||
	    system("ip link add ta type veth peer name tb && "
	    "ip link set ta up && ip link set tb up") != 0) {
		printf("# not root or no veth: test_announce_tagged skipped\n");
		return;
	}
	sa.sll_ifindex = (int)if_nametoindex("tb");
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	ASSERT_TRUE(fd >= 0);
	ASSERT_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	(void)setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ASSERT_EQ(net_announce_tagged("ta", "52:54:00:12:34:56", &v, &e), 4);
	for (;;) {
		struct iovec iov = { f, sizeof(f) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl, .msg_controllen = sizeof(ctl) };
		ssize_t n = recvmsg(fd, &m, 0);
		unsigned vid;

		if (n < 0)
			break;
		if (n < 60 || f[6] != 0x52 || f[11] != 0x56)
			continue;	/* the kernel's own (IPv6, ...) */
		vid = frame_vid(f, n, &m);
		ASSERT_TRUE(vid == 100 || vid == 101 || vid == 102 ||
		    vid == 200);
		seen |= 1u << (vid == 200 ? 3 : vid - 100);
	}
	ASSERT_EQ(seen, 0xf);
	ASSERT_EQ(net_announce_tagged("nosuch", "52:54:00:12:34:56", &v, &e),
	    -ENODEV);
	close(fd);
}

int
main(void)
{
	RUN_TEST(test_uplinks_parse);
	RUN_TEST(test_bond_modes);
	RUN_TEST(test_uplink_names);
	RUN_TEST(test_rarp_frame);
	RUN_TEST(test_announce_tagged);	/* last: it leaves the namespace */
	return TEST_REPORT();
}
