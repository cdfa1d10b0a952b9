/* nl.c - rtnetlink requests through libmnl: a VLAN-filtering bridge
 * created, a port's VLANs set.  One request, one ack, on a socket of its
 * own; never logs above debug. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdbool.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "nl.h"

/* Send the request in buf and wait for its ack; -errno on failure. */
int
nl_talk(struct nlmsghdr *nlh)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
	unsigned portid;
	ssize_t n;
	int r = 0;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		goto out;
	}
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (n < 0)
		r = -errno;
	else if (mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, portid, NULL,
	    NULL) < 0)
		r = errno ? -errno : -EIO;
out:
	mnl_socket_close(nl);
	return r;
}

struct nlmsghdr *
nl_link_msg(char *buf, uint16_t type, uint16_t flags, unsigned char family,
    int ifindex)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = family;
	ifm->ifi_index = ifindex;
	return nlh;
}

static int
bridge_create(const char *name, bool vlan_filtering)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_NEWLINK,
	    NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct nlattr *info, *data;

	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	if (vlan_filtering)
		mnl_attr_put_u8(nlh, IFLA_BR_VLAN_FILTERING, 1);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_talk(nlh);
}

/* A kernel built without CONFIG_BRIDGE_VLAN_FILTERING refuses the
 * attribute with EOPNOTSUPP: the switch is then a plain bridge, which
 * carries untagged frames only and refuses a NIC with VLANs. */
int
nl_bridge_create(const char *name)
{
	int r = bridge_create(name, true);

	if (r == -EOPNOTSUPP)
		r = bridge_create(name, false);
	return r;
}

static void
put_vlan(struct nlmsghdr *nlh, uint16_t vid, uint16_t flags)
{
	struct bridge_vlan_info vi = { .flags = flags, .vid = vid };

	mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi);
}

/* One VLAN or range added to (RTM_SETLINK) or removed from (RTM_DELLINK)
 * the bridge port ifindex. */
static int
port_vlan(int ifindex, uint16_t type, uint16_t lo, uint16_t hi,
    uint16_t flags)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, type, 0, AF_BRIDGE, ifindex);
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);

	if (lo == hi) {
		put_vlan(nlh, lo, flags);
	} else {
		put_vlan(nlh, lo, flags | BRIDGE_VLAN_INFO_RANGE_BEGIN);
		put_vlan(nlh, hi, flags | BRIDGE_VLAN_INFO_RANGE_END);
	}
	mnl_attr_nest_end(nlh, spec);
	return nl_talk(nlh);
}

int
nl_port_vlans(int ifindex, const struct net_vlans *v)
{
	int r;

	if (v->vlan > 1) {
		r = port_vlan(ifindex, RTM_SETLINK, v->vlan, v->vlan,
		    BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED);
		if (r < 0)
			return r;
		r = port_vlan(ifindex, RTM_DELLINK, 1, 1, 0);
		if (r < 0 && r != -ENOENT && r != -EINVAL)
			return r;
	}
	for (unsigned i = 0; i < v->n; i++) {
		r = port_vlan(ifindex, RTM_SETLINK, v->trunk[i].lo,
		    v->trunk[i].hi, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The bridge itself (BRIDGE_FLAGS_SELF) leaves VLAN vid: frames on it no
 * longer reach the host. */
int
nl_bridge_self_vlan_del(int ifindex, uint16_t vid)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_DELLINK, 0, AF_BRIDGE,
	    ifindex);
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);

	mnl_attr_put_u16(nlh, IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_SELF);
	put_vlan(nlh, vid, 0);
	mnl_attr_nest_end(nlh, spec);
	return nl_talk(nlh);
}
