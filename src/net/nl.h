/* nl.h - rtnetlink requests through libmnl (net/ only). */
#pragma once

#include <linux/netlink.h>
#include <stdint.h>

#include "net.h"

/* Send one request and wait for its ack: 0 or -errno. */
int nl_talk(struct nlmsghdr *nlh);
/* A link message header in buf (MNL_SOCKET_BUFFER_SIZE bytes). */
struct nlmsghdr *nl_link_msg(char *buf, uint16_t type, uint16_t flags,
    unsigned char family, int ifindex);
/* A new bridge, up, with VLAN filtering on (off when the kernel has
 * none): 0, -EEXIST or -errno. */
int nl_bridge_create(const char *name);
/* The port's access VLAN (PVID, untagged; VLAN 1 dropped) and trunks. */
int nl_port_vlans(int ifindex, const struct net_vlans *v);
/* The bridge itself leaves VLAN vid. */
int nl_bridge_self_vlan_del(int ifindex, uint16_t vid);
