/* tap.c - a VM NIC's tap found again and moved while QEMU holds it: each
 * tap tern opens carries its NIC's MAC in its alias (net_tap_tag), so a
 * restarted ternd finds it without QEMU's help; a move re-enslaves it to
 * another bridge and sets its VLANs afresh.  Never logs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "util.h"

#define TAP_ALIAS_PREFIX "tern-nic "

int
net_tap_name(int fd, char name[16])
{
	struct ifreq ifr = { 0 };

	if (ioctl(fd, TUNGETIFF, &ifr) == -1)
		return -errno;
	snprintf(name, 16, "%s", ifr.ifr_name);
	return 0;
}

int
net_tap_tag(const char *ifname, const char *mac, struct err *err)
{
	char path[96], alias[48];
	_cleanup_close_ int fd = -1;
	int n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", ifname);
	n = snprintf(alias, sizeof(alias), TAP_ALIAS_PREFIX "%s\n", mac);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd == -1 || write(fd, alias, (size_t)n) != n)
		return err_setf_errno(err, -errno, "cannot name tap '%s'",
		    ifname);
	return 0;
}

/* Does ifname's alias say mac's? */
static bool
tap_has_tag(const char *ifname, const char *mac)
{
	char path[96], buf[64] = "", want[48];
	_cleanup_close_ int fd = -1;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/ifalias", ifname);
	snprintf(want, sizeof(want), TAP_ALIAS_PREFIX "%s\n", mac);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 || (n = read(fd, buf, sizeof(buf) - 1)) <= 0)
		return false;
	buf[n] = '\0';
	return streq(buf, want);
}

int
net_tap_find(const char *mac, char name[16])
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	int r = -ENOENT;

	if (!d)
		return -errno;
	while (r == -ENOENT && (e = readdir(d)))
		if (e->d_name[0] != '.' && strlen(e->d_name) < 16 &&
		    tap_has_tag(e->d_name, mac)) {
			snprintf(name, 16, "%s", e->d_name);
			r = 0;
		}
	closedir(d);
	return r;
}

/* The bridge ifname is a port of into master (16 bytes); -ENOENT none. */
static int
tap_master(const char *ifname, char master[16])
{
	char path[96], link[128];
	const char *base;
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/class/net/%s/master", ifname);
	n = readlink(path, link, sizeof(link) - 1);
	if (n == -1)
		return -errno;
	link[n] = '\0';
	base = strrchr(link, '/');
	snprintf(master, 16, "%.15s", base ? base + 1 : link);
	return 0;
}

int
net_tap_move(const char *ifname, const char *bridge,
    const struct net_vlans *v, struct err *err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	char old[16];

	if (s == -1)
		return err_setf_errno(err, -errno, "cannot open control "
		    "socket");
	if ((v->vlan || v->n) && !net_bridge_vlan_filtering(bridge))
		return err_set(err, -EOPNOTSUPP, "switch bridge '%s' does not "
		    "filter VLANs, so it cannot carry this NIC's VLANs",
		    bridge);
	ifr.ifr_ifindex = (int)if_nametoindex(ifname);
	if (ifr.ifr_ifindex == 0)
		return err_setf_errno(err, -errno, "no tap '%s'", ifname);
	/* Leaving the bridge drops the port's VLANs; joining gives it the
	 * bridge's default, then v's. */
	if (tap_master(ifname, old) == 0) {
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", old);
		if (ioctl(s, SIOCBRDELIF, &ifr) == -1)
			return err_setf_errno(err, -errno, "cannot take tap "
			    "'%s' off bridge '%s'", ifname, old);
	}
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", bridge);
	if (ioctl(s, SIOCBRADDIF, &ifr) == -1)
		return err_setf_errno(err, -errno, "cannot attach tap '%s' to "
		    "bridge '%s'", ifname, bridge);
	return net_port_set_vlans(ifname, v, err);
}
