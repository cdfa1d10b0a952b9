/* announce.c - a moved VM's MAC announced on its NIC's trunk VLANs.
 * QEMU's announce-self sends untagged RARP frames, which the switch puts
 * on the NIC's access VLAN only; for the tagged VLANs ternd sends the
 * same frame (as QEMU's net/announce.c builds it) with an 802.1Q tag per
 * VLAN out of the switch's uplink, so the physical switches learn where
 * the MAC is on every VLAN.  The frame builder is pure; the sender uses
 * an AF_PACKET socket of its own.  Never logs. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

/* The frame, big-endian, as QEMU's announce_self_create() builds it,
 * with an IEEE 802.1Q tag after the source MAC when vid is not 0:
 *
 *   offset  size  field
 *   0       6     destination ff:ff:ff:ff:ff:ff
 *   6       6     source: the NIC's MAC
 *   12      4     tagged only: TPID 0x8100, TCI (priority 0, the VID)
 *   then    2     ethertype 0x8035 (RARP)
 *           2     hardware 1 (Ethernet), 2 protocol 0x0800 (IPv4)
 *           1     6 hardware addr length, 1 4 protocol addr length
 *           2     op 3 (reverse request)
 *           6+4   sender: the MAC, 0.0.0.0
 *           6+4   target: the MAC, 0.0.0.0
 *           18    zero padding: 60 bytes in all untagged, 64 tagged */
static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

size_t
net_rarp_frame(const uint8_t mac[6], uint16_t vid,
    uint8_t buf[NET_RARP_FRAME_MAX])
{
	uint8_t *p = buf;

	memset(buf, 0, NET_RARP_FRAME_MAX);
	memset(p, 0xff, 6);
	memcpy(p + 6, mac, 6);
	p += 12;
	if (vid) {
		put16(p, ETH_P_8021Q);
		put16(p + 2, vid & 0x0fff);
		p += 4;
	}
	put16(p, ETH_P_RARP);
	put16(p + 2, 1);		/* ARPHRD_ETHER */
	put16(p + 4, ETH_P_IP);
	p[6] = 6;
	p[7] = 4;
	put16(p + 8, 3);		/* ARPOP_RREQUEST */
	memcpy(p + 10, mac, 6);
	memcpy(p + 20, mac, 6);
	return vid ? NET_RARP_FRAME_MAX : NET_RARP_FRAME_MAX - 4;
}

static int
mac_parse(const char *text, uint8_t mac[6])
{
	unsigned o[6];

	if (!net_mac_is_valid(text) || sscanf(text, "%x:%x:%x:%x:%x:%x",
	    &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)o[i];
	return 0;
}

int
net_announce_tagged(const char *ifname, const char *mac_text,
    const struct net_vlans *v, struct err *err)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_halen = 6 };
	_cleanup_close_ int fd = -1;
	uint8_t mac[6], frame[NET_RARP_FRAME_MAX];
	int sent = 0;

	if (mac_parse(mac_text, mac) < 0)
		return err_set(err, -EINVAL, "invalid MAC '%.32s'", mac_text);
	if (!(sa.sll_ifindex = (int)if_nametoindex(ifname)))
		return err_setf_errno(err, -errno, "no interface '%s'", ifname);
	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot open a packet "
		    "socket");
	memset(sa.sll_addr, 0xff, 6);
	for (unsigned i = 0; i < v->n; i++)
		for (unsigned vid = v->trunk[i].lo; vid <= v->trunk[i].hi;
		    vid++) {
			size_t n = net_rarp_frame(mac, (uint16_t)vid, frame);

			if (sendto(fd, frame, n, 0, (struct sockaddr *)&sa,
			    sizeof(sa)) == -1)
				return err_setf_errno(err, -errno, "cannot "
				    "send on '%s' (VLAN %u)", ifname, vid);
			sent++;
		}
	return sent;
}
