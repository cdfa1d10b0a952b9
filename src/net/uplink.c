/* uplink.c - a switch's uplink: one interface enslaved to its bridge, or
 * several in a bond (kind "bond", IFLA_BOND_MODE) that is; released
 * again; and the link state `switch show` reads (RTM_GETLINK).  All over
 * rtnetlink with libmnl.  Never logs above debug, never touches an
 * interface that failed its check.
 *
 * Attaching, one step per request (net_uplink_attach):
 *
 *   checked --n == 1--------------------------------> member -> bridge, up
 *      \--n >= 2--> bond created --> each member down, -> bond, up
 *                       |                               --> bond -> bridge, up
 *                   EOPNOTSUPP: "load 'bonding'", nothing made
 *
 * A failed attach leaves what it did: the caller that wants all or
 * nothing (a create) releases (net_uplink_release); ternd's start, which
 * applies a switch's uplinks again, keeps the members it could. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <net/if.h>	/* before linux/: its libc-compat then defers */
#include <linux/if_bonding.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "nl.h"
#include "util.h"

static const char *const bond_modes[] = {
	[BOND_MODE_ACTIVEBACKUP] = "active-backup",
	[BOND_MODE_XOR] = "balance-xor",
	[BOND_MODE_8023AD] = "802.3ad",
};

int
net_bond_mode_parse(const char *text)
{
	for (size_t i = 0; i < ARRAY_SIZE(bond_modes); i++)
		if (bond_modes[i] && text && streq(text, bond_modes[i]))
			return (int)i;
	return -EINVAL;
}

void
net_bond_name(const char *switch_name, char buf[16])
{
	snprintf(buf, 16, NET_BOND_PREFIX "%.12s", switch_name);
}

static const char *
oper_name(unsigned v)
{
	static const char *const n[] = { "unknown", "notpresent", "down",
		"lowerlayerdown", "testing", "dormant", "up" };

	return v < ARRAY_SIZE(n) ? n[v] : "unknown";
}

static int
attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	unsigned t = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, IFLA_MAX) > 0)
		tb[t] = a;
	return MNL_CB_OK;
}

static int
info_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;

	if (mnl_attr_type_valid(a, IFLA_INFO_MAX) > 0)
		tb[mnl_attr_get_type(a)] = a;
	return MNL_CB_OK;
}

/* A bond's IFLA_INFO_DATA: its active member (ifindex). */
static int
bond_cb(const struct nlattr *a, void *data)
{
	if (mnl_attr_get_type(a) == IFLA_BOND_ACTIVE_SLAVE &&
	    mnl_attr_validate(a, MNL_TYPE_U32) >= 0)
		*(uint32_t *)data = mnl_attr_get_u32(a);
	return MNL_CB_OK;
}

static void
link_info(const struct nlattr *li, struct net_link *l)
{
	const struct nlattr *tb[IFLA_INFO_MAX + 1] = { 0 };
	uint32_t active = 0;

	mnl_attr_parse_nested(li, info_cb, tb);
	if (tb[IFLA_INFO_KIND])
		snprintf(l->kind, sizeof(l->kind), "%s",
		    mnl_attr_get_str(tb[IFLA_INFO_KIND]));
	if (streq(l->kind, "bond") && tb[IFLA_INFO_DATA]) {
		mnl_attr_parse_nested(tb[IFLA_INFO_DATA], bond_cb, &active);
		if (active)
			(void)if_indextoname(active, l->active);
	}
}

static int
link_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
	struct net_link *l = data;

	mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb);
	l->ifindex = ifm->ifi_index;
	l->loopback = ifm->ifi_flags & IFF_LOOPBACK;
	l->up = ifm->ifi_flags & IFF_UP;
	if (tb[IFLA_IFNAME])
		snprintf(l->name, sizeof(l->name), "%s",
		    mnl_attr_get_str(tb[IFLA_IFNAME]));
	snprintf(l->operstate, sizeof(l->operstate), "%s", oper_name(
	    tb[IFLA_OPERSTATE] ? mnl_attr_get_u8(tb[IFLA_OPERSTATE]) : 0));
	l->carrier = tb[IFLA_CARRIER] && mnl_attr_get_u8(tb[IFLA_CARRIER]);
	l->master = tb[IFLA_MASTER] ? (int)mnl_attr_get_u32(tb[IFLA_MASTER])
	    : 0;
	if (l->master)
		(void)if_indextoname((unsigned)l->master, l->master_name);
	if (tb[IFLA_LINKINFO])
		link_info(tb[IFLA_LINKINFO], l);
	return MNL_CB_OK;
}

int
net_link_get(const char *name, struct net_link *ret)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_GETLINK, NLM_F_REQUEST,
	    AF_UNSPEC, 0);
	struct mnl_socket *nl;
	struct net_link l = { 0 };
	ssize_t n;
	int r = 0;

	if (strlen(name) >= IFNAMSIZ)
		return -ENODEV;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	if (!(nl = mnl_socket_open(NETLINK_ROUTE)))
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0 ||
	    (n = mnl_socket_recvfrom(nl, buf, sizeof(buf))) < 0)
		r = -errno;
	else if (mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq,
	    mnl_socket_get_portid(nl), link_cb, &l) < 0)
		r = errno ? -errno : -EIO;
	mnl_socket_close(nl);
	if (r == 0 && l.ifindex == 0)
		r = -ENODEV;
	if (r == 0)
		*ret = l;
	return r;
}

/* RTM_SETLINK on ifindex: its master (-1: leave it, 0: none) and up or
 * down (-1: leave it). */
static int
link_set(int ifindex, int master, int up)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_SETLINK, 0, AF_UNSPEC,
	    ifindex);
	struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);

	if (up >= 0) {
		ifm->ifi_flags = up ? IFF_UP : 0;
		ifm->ifi_change = IFF_UP;
	}
	if (master >= 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	return nl_talk(nlh);
}

static bool
is_terns(const char *name)
{
	return strncmp(name, NET_BRIDGE_PREFIX, 3) == 0 ||
	    strncmp(name, NET_BOND_PREFIX, 3) == 0 ||
	    (strncmp(name, "tt", 2) == 0 && name[2] >= '0' && name[2] <= '9');
}

int
net_uplink_check(const char *ifname, struct err *err)
{
	struct net_link l;
	int r;

	if (!*ifname || strlen(ifname) >= IFNAMSIZ || strpbrk(ifname,
	    "/, \t\n:"))
		return err_set(err, -EINVAL, "invalid uplink interface name "
		    "'%.32s': give an interface name as 'ip link' shows it",
		    ifname);
	if (is_terns(ifname))
		return err_set(err, -EINVAL, "uplink '%s' is one of tern's own "
		    "interfaces (a switch's bridge, bond or a VM's tap): give "
		    "a host's network interface", ifname);
	r = net_link_get(ifname, &l);
	if (r == -ENODEV)
		return err_set(err, -ENODEV, "uplink '%s' does not exist on "
		    "this host: give an interface 'ip link' lists", ifname);
	if (r < 0)
		return err_setf_errno(err, r, "cannot read uplink '%s'", ifname);
	if (l.loopback || streq(l.kind, "bridge"))
		return err_set(err, -EINVAL, "uplink '%s' is %s, not an "
		    "interface a bridge can take: give a host's network "
		    "interface", ifname, l.loopback ? "the loopback" :
		    "a bridge");
	if (l.master)
		return err_set(err, -EBUSY, "uplink '%s' is already in '%s' "
		    "(a bridge or bond, maybe another switch's): release it "
		    "from there first (ip link set %s nomaster)", ifname,
		    l.master_name, ifname);
	return 0;
}

static int
bond_create(const char *name, int mode)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_NEWLINK,
	    NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
	struct nlattr *info, *data;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bond");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_BOND_MODE, (uint8_t)mode);
	/* link monitoring every 100 ms: a member that loses its carrier
	 * is left at once (without it active-backup never fails over) */
	mnl_attr_put_u32(nlh, IFLA_BOND_MIIMON, 100);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_talk(nlh);
}

static int
link_delete(int ifindex)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];

	return nl_talk(nl_link_msg(buf, RTM_DELLINK, 0, AF_UNSPEC, ifindex));
}

/* ifname into master (ifindex), up; a no-op when it is there already
 * (ternd's start applies uplinks again). */
static int
enslave(const char *ifname, int master, struct err *err)
{
	struct net_link l;
	int r = net_link_get(ifname, &l);

	if (r < 0)
		return err_setf_errno(err, r, "cannot read uplink '%s'", ifname);
	if (l.master != master) {
		/* a bond takes only members that are down */
		if ((r = link_set(l.ifindex, -1, 0)) < 0 ||
		    (r = link_set(l.ifindex, master, -1)) < 0)
			return err_setf_errno(err, r, "cannot enslave '%s'",
			    ifname);
	}
	if ((r = link_set(l.ifindex, -1, 1)) < 0)
		return err_setf_errno(err, r, "cannot bring up '%s'", ifname);
	return 0;
}

/* The uplink port carries every VLAN: 1 untagged (the switch's default),
 * 2-4094 tagged, so that each NIC's VLAN reaches the wire as it is. */
static int
uplink_vlans(const char *bridge, const char *port, struct err *err)
{
	struct net_vlans v = { .n = 1, .trunk = { { 2, NET_VLAN_MAX } } };

	if (!net_bridge_vlan_filtering(bridge))
		return 0;
	return net_port_set_vlans(port, &v, err);
}

static int
bond_make(const char *bond, int mode, struct err *err)
{
	struct net_link l;
	int r;

	if (net_link_get(bond, &l) == 0)
		return streq(l.kind, "bond") ? 0 : err_set(err, -EEXIST,
		    "'%s' exists and is not a bond: rename or remove it",
		    bond);
	r = bond_create(bond, mode);
	if (r == -EOPNOTSUPP || r == -ENOENT || r == -ENODEV)
		return err_set(err, -EOPNOTSUPP, "cannot make bond '%s': this "
		    "kernel has no bonding (load the kernel module 'bonding': "
		    "modprobe bonding), or give one uplink", bond);
	if (r < 0)
		return err_setf_errno(err, r, "cannot make bond '%s'", bond);
	return 0;
}

int
net_uplink_attach(const char *switch_name, const struct net_uplinks *u,
    struct err *err)
{
	char bridge[16], bond[16];
	int br, bo, r = 0;

	net_bridge_name(switch_name, bridge);
	net_bond_name(switch_name, bond);
	if (u->n == 0)
		return 0;
	if (!(br = (int)if_nametoindex(bridge)))
		return err_set(err, -ENODEV, "no bridge '%s'", bridge);
	if (u->n == 1) {
		r = enslave(u->ifs[0], br, err);
		return r < 0 ? r : uplink_vlans(bridge, u->ifs[0], err);
	}
	if ((r = bond_make(bond, u->mode, err)) < 0)
		return r;	/* nothing changed yet */
	bo = (int)if_nametoindex(bond);
	for (size_t i = 0; i < u->n; i++) {
		int q = enslave(u->ifs[i], bo, r < 0 ? NULL : err);

		r = r < 0 ? r : q;	/* the first error; the rest go on */
	}
	if (r == 0)
		r = enslave(bond, br, err);
	if (r == 0)
		r = uplink_vlans(bridge, bond, err);
	return r;
}

int
net_uplink_release(const char *switch_name, const struct net_uplinks *u,
    struct err *err)
{
	char bridge[16], bond[16];
	int br, bo, r = 0;
	struct net_link l;

	net_bridge_name(switch_name, bridge);
	net_bond_name(switch_name, bond);
	br = (int)if_nametoindex(bridge);
	bo = (int)if_nametoindex(bond);
	/* only what is ours: an interface enslaved elsewhere since stays */
	for (size_t i = 0; i < u->n; i++) {
		if (net_link_get(u->ifs[i], &l) < 0 || !l.master ||
		    (l.master != br && l.master != bo))
			continue;
		if ((r = link_set(l.ifindex, 0, -1)) < 0)
			(void)err_setf_errno(err, r, "cannot release '%s'",
			    u->ifs[i]);
	}
	if (bo && (r = link_delete(bo)) < 0 && r != -ENODEV)
		return err_setf_errno(err, r, "cannot delete bond '%s'", bond);
	return r == -ENODEV ? 0 : r;
}

int
net_uplinks_parse(const char *text, const char *mode, struct net_uplinks *u,
    struct err *err)
{
	char copy[NET_UPLINKS_TEXT_MAX], *save = NULL, *tok;

	memset(u, 0, sizeof(*u));
	if (strlen(text ? text : "") >= sizeof(copy))
		return err_set(err, -EINVAL, "too many uplinks: at most %d",
		    NET_UPLINKS_MAX);
	snprintf(copy, sizeof(copy), "%s", text ? text : "");
	for (tok = strtok_r(copy, ",", &save); tok;
	    tok = strtok_r(NULL, ",", &save)) {
		if (u->n == NET_UPLINKS_MAX)
			return err_set(err, -EINVAL, "too many uplinks: at "
			    "most %d", NET_UPLINKS_MAX);
		snprintf(u->ifs[u->n++], IFNAMSIZ, "%s", tok);
	}
	u->mode = BOND_MODE_ACTIVEBACKUP;
	if (mode && *mode && (u->mode = net_bond_mode_parse(mode)) < 0)
		return err_set(err, -EINVAL, "unknown bond mode '%.32s': use "
		    "active-backup, 802.3ad or balance-xor", mode);
	return 0;
}

const char *
net_bond_mode_name(int mode)
{
	return mode >= 0 && (size_t)mode < ARRAY_SIZE(bond_modes) &&
	    bond_modes[mode] ? bond_modes[mode] : "?";
}
