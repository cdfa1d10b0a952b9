/* net.c - a switch's bridge (made over rtnetlink by nl.c, removed by
 * ioctl), its isolation (nftables by isolate.c, sysctls) and taps (/dev/net/tun, enslaved by
 * ioctl, their VLANs by nl.c) on the host's (or the lab namespace's)
 * network stack.  Never logs above debug. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "nl.h"
#include "util.h"

void
net_bridge_name(const char *switch_name, char buf[16])
{
	snprintf(buf, 16, NET_BRIDGE_PREFIX "%.12s", switch_name);
}

bool
net_switch_name_is_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > NET_SWITCH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char)name[i]) &&
		    !isdigit((unsigned char)name[i]) && name[i] != '-' &&
		    name[i] != '_')
			return false;
	return true;
}

static int
ctl_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	return fd == -1 ? -errno : fd;
}

static int
if_up(int s, const char *ifname)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		return -errno;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		return -errno;
	return 0;
}

bool
net_bridge_exists(const char *bridge)
{
	char path[96];

	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge", bridge);
	return access(path, F_OK) == 0;
}

int
net_bridge_create(const char *bridge, struct err *err)
{
	int r = nl_bridge_create(bridge);

	if (r < 0 && r != -EEXIST)
		return err_setf_errno(err, r, "cannot create bridge '%s'",
		    bridge);
	return 0;
}

static int
sysctl_write(const char *fmt, const char *ifname, const char *value)
{
	char path[128];
	_cleanup_close_ int fd = -1;
	size_t n = strlen(value);

	snprintf(path, sizeof(path), fmt, ifname);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1)
		return -errno;
	return write(fd, value, n) == (ssize_t)n ? 0 : -errno;
}

/* An isolated switch's bridge takes nothing from its ports: nftables
 * drops their IPv4, IPv6 and ARP to the host (isolate.c; the one layer
 * that holds on every kernel, even against a guest that knows the
 * bridge's MAC), and, in depth, no ARP reply for any of the host's
 * addresses (arp_ignore 8), no IPv6 and, where the bridge filters VLANs,
 * no VLAN of its own. */
int
net_bridge_isolate(const char *bridge, struct err *err)
{
	int r = net_isolate_apply(bridge, err);

	if (r < 0)
		return r;
	r = sysctl_write("/proc/sys/net/ipv4/conf/%s/arp_ignore", bridge,
	    "8");
	if (r < 0)
		return err_setf_errno(err, r, "cannot isolate bridge '%s' "
		    "(arp_ignore)", bridge);
	r = sysctl_write("/proc/sys/net/ipv6/conf/%s/disable_ipv6", bridge,
	    "1");
	if (r < 0 && r != -ENOENT)
		return err_setf_errno(err, r, "cannot isolate bridge '%s' "
		    "(disable_ipv6)", bridge);
	if (!net_bridge_vlan_filtering(bridge))
		return 0;
	r = nl_bridge_self_vlan_del((int)if_nametoindex(bridge), 1);
	if (r < 0 && r != -ENOENT)
		return err_setf_errno(err, r, "cannot drop bridge '%s' from "
		    "VLAN 1", bridge);
	return 0;
}

bool
net_bridge_vlan_filtering(const char *bridge)
{
	char path[96], c = '0';
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "/sys/class/net/%s/bridge/"
	    "vlan_filtering", bridge);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || read(fd, &c, 1) != 1)
		return false;
	return c == '1';
}

int
net_port_set_vlans(const char *ifname, const struct net_vlans *v,
    struct err *err)
{
	int ifindex = (int)if_nametoindex(ifname);
	int r;

	if (ifindex == 0)
		return err_setf_errno(err, -errno, "no interface '%s'",
		    ifname);
	if (v->vlan == 0 && v->n == 0)
		return 0;
	r = nl_port_vlans(ifindex, v);
	if (r < 0)
		return err_setf_errno(err, r, "cannot set the VLANs of "
		    "'%s'", ifname);
	return 0;
}

int
net_bridge_delete(const char *bridge, struct err *err)
{
	_cleanup_close_ int s = ctl_socket();
	struct ifreq ifr = { 0 };

	if (s < 0)
		return err_setf_errno(err, s, "cannot open control socket");
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags &= ~IFF_UP;
		(void)ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	if (ioctl(s, SIOCBRDELBR, bridge) == -1 && errno != ENXIO &&
	    errno != ENODEV)
		return err_setf_errno(err, -errno, "cannot delete bridge "
		    "'%s'", bridge);
	return net_isolate_remove(bridge, err);
}

int
net_tap_open(const char *bridge, const struct net_vlans *v, struct err *err)
{
	_cleanup_close_ int s = ctl_socket();
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	struct ifreq ifr = { 0 };
	char name[IFNAMSIZ];
	int r;

	if (fd == -1)
		return err_setf_errno(err, -errno, "cannot open /dev/net/tun");
	if (s < 0)
		return err_setf_errno(err, s, "cannot open control socket");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	snprintf(ifr.ifr_name, IFNAMSIZ, "tt%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) == -1)
		return err_setf_errno(err, -errno, "cannot create tap device");
	r = if_up(s, ifr.ifr_name);
	if (r < 0)
		return err_setf_errno(err, r, "cannot bring up '%s'",
		    ifr.ifr_name);
	snprintf(name, sizeof(name), "%s", ifr.ifr_name);
	ifr.ifr_ifindex = if_nametoindex(ifr.ifr_name);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	if (ifr.ifr_ifindex == 0 || ioctl(s, SIOCBRADDIF, &ifr) == -1)
		return err_setf_errno(err, -errno, "cannot attach tap to "
		    "bridge '%s'", bridge);
	if (v && (v->vlan || v->n) && !net_bridge_vlan_filtering(bridge))
		return err_set(err, -EOPNOTSUPP, "switch bridge '%s' does not "
		    "filter VLANs, so it cannot carry this NIC's VLANs: "
		    "remove the NIC's vlan/trunk or use a switch tern made "
		    "on a kernel with bridge VLAN filtering", bridge);
	if (v && (r = net_port_set_vlans(name, v, err)) < 0)
		return r;
	return TAKE_FD(fd);
}

void
net_mac_generate(char out[18])
{
	uint8_t b[3] = { 0 };

	(void)!getrandom(b, sizeof(b), 0);
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", b[0], b[1], b[2]);
}

bool
net_mac_is_valid(const char *mac)
{
	unsigned o[6];
	char tail;

	if (!mac || strlen(mac) != 17)
		return false;
	if (sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &o[0], &o[1], &o[2],
	    &o[3], &o[4], &o[5], &tail) != 6)
		return false;
	return (o[0] & 1) == 0;	/* not multicast */
}
