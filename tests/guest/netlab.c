/* netlab.c - tern-netlab: the switches' real code (src/net, as ternd links
 * it) run on a kernel that has bridge VLAN filtering, 8021q and bonding:
 * the test guest's, through the guest agent (tests/e2e/test_netlab.sh).
 * It makes its own network namespaces and veth pairs and prints one line
 * per check, "ok NAME" or "not ok NAME: why"; exit 1 if any failed.
 * Never touches an interface it did not make; removes what it made.
 *
 *   tb-nlv  VLAN-filtering switch: a, b on VLAN 10, c on VLAN 20, t a
 *           trunk (10,20) with an 8021q sub-interface t.10
 *   tb-nli  isolated switch: port i; the guest's 10.0.30.1 on the bridge
 *   tb-nlb  switch whose uplink is tern's own bond tu-nlb (uplink.c's
 *           net_uplink_attach, active-backup) over two veths to
 *           namespace p, itself bonded; port q pings p while the
 *           active member goes down, and both bonds fail over */
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"
#include "nl.h"

#define MAX_NS 8

struct ns {
	const char *name;	/* the namespace's end of its veth */
	pid_t pid;		/* holds the namespace open */
	int fd;
};

static struct ns nss[MAX_NS];
static int n_ns, n_failed;

static void
report(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("ok %s\n", name);
		return;
	}
	n_failed++;
	printf("not ok %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A new network namespace held by a child that dies with us. */
static struct ns *
ns_new(const char *name)
{
	struct ns *ns = &nss[n_ns];
	char path[64], c = 0;
	int p[2];

	if (n_ns == MAX_NS || pipe2(p, O_CLOEXEC) == -1)
		return NULL;
	ns->pid = fork();
	if (ns->pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (unshare(CLONE_NEWNET) == -1)
			_exit(1);
		(void)!write(p[1], &c, 1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (ns->pid == -1 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return NULL;
	}
	close(p[0]);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)ns->pid);
	ns->fd = open(path, O_RDONLY | O_CLOEXEC);
	ns->name = name;
	n_ns++;
	return ns->fd == -1 ? NULL : ns;
}

/* Run the shell command fmt in ns (NULL: here); its output into out
 * (may be NULL).  The exit status, or -1. */
static int
sh_in(const struct ns *ns, char *out, size_t len, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int p[2], st = -1;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (ns && setns(ns->fd, CLONE_NEWNET) == -1)
			_exit(126);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	/* past out's end (or without one) the rest is drained into cmd */
	while (pid > 0 && (n = out && got + 1 < len ? read(p[0], out + got,
	    len - 1 - got) : read(p[0], cmd, sizeof(cmd))) > 0)
		got += out && got + 1 < len ? (size_t)n : 0;
	if (out)
		out[got] = '\0';
	close(p[0]);
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return -1;
}

/* fn(arg) in ns, in a child: 0 or -errno. */
static int
call_in(const struct ns *ns, int (*fn)(const void *), const void *arg)
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(setns(ns->fd, CLONE_NEWNET) == -1 ? EPERM : -fn(arg));
	if (pid == -1 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -EIO;
	return -WEXITSTATUS(st);
}

/* A veth pair: name here, peer in ns (named ns->name unless given). */
static int
veth_new(const char *name, const struct ns *ns, const char *peer)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_NEWLINK,
	    NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
	struct nlattr *info, *data, *pe;

	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	pe = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	memset(mnl_nlmsg_get_payload_tail(nlh), 0, sizeof(struct ifinfomsg));
	nlh->nlmsg_len += MNL_ALIGN(sizeof(struct ifinfomsg));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer ? peer : ns->name);
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)ns->fd);
	mnl_attr_nest_end(nlh, pe);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return nl_talk(nlh);
}

/* Link name up or down, enslaved to master (an ifindex; 0: unchanged). */
static int
link_set(const char *name, int master, bool up)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	int ifindex = (int)if_nametoindex(name);
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifm;

	if (ifindex == 0)
		return -ENODEV;
	nlh = nl_link_msg(buf, RTM_SETLINK, 0, AF_UNSPEC, ifindex);
	ifm = mnl_nlmsg_get_payload(nlh);
	ifm->ifi_change = IFF_UP;
	ifm->ifi_flags = up ? IFF_UP : 0;
	if (master > 0)
		mnl_attr_put_u32(nlh, IFLA_MASTER, (uint32_t)master);
	return nl_talk(nlh);
}

/* A port of bridge: veth host-side hname into the bridge on v's VLANs
 * (NULL: the bridge's default), ns's end up with addr (NULL: none). */
static int
port_add(const char *bridge, const char *hname, struct ns *ns,
    const char *addr, const struct net_vlans *v)
{
	struct err e = { 0 };
	int r;

	if ((r = veth_new(hname, ns, NULL)) < 0 ||
	    (r = link_set(hname, (int)if_nametoindex(bridge), true)) < 0)
		return r;
	if (v && net_port_set_vlans(hname, v, &e) < 0) {
		fprintf(stderr, "%s\n", e.msg);
		return e.code;
	}
	if (sh_in(ns, NULL, 0, "ip link set lo up && ip link set %s up%s%s"
	    "%s%s", ns->name, addr ? " && ip addr add " : "", addr ? addr :
	    "", addr ? "/24 dev " : "", addr ? ns->name : "") != 0)
		return -EIO;
	return 0;
}

static bool
pings(const struct ns *ns, const char *addr)
{
	for (int i = 0; i < 3; i++)
		if (sh_in(ns, NULL, 0, "ping -c 1 -W 2 %s", addr) == 0)
			return true;
	return false;
}

static bool
no_ping(const struct ns *ns, const char *addr)
{
	return sh_in(ns, NULL, 0, "ping -c 2 -W 1 %s", addr) != 0;
}

static void
check_ping(const char *name, const struct ns *ns, const char *addr,
    bool want)
{
	bool ok = want ? pings(ns, addr) : no_ping(ns, addr);

	report(ok, name, "%s %s %s", ns->name, want ? "cannot reach" :
	    "reaches", addr);
}

static struct ns *
must_ns(const char *name)
{
	struct ns *ns = ns_new(name);

	if (!ns) {
		printf("not ok namespace-%s: %s\n", name, strerror(errno));
		exit(1);
	}
	return ns;
}

static bool
made(const char *name, int r, struct err *e)
{
	report(r >= 0, name, "%s", e && e->msg[0] ? e->msg : strerror(-r));
	return r >= 0;
}

/* a, b on VLAN 10, c on VLAN 20, t a trunk with t.10 tagged. */
static void
lab_vlans(void)
{
	struct ns *a = must_ns("nla"), *b = must_ns("nlb"), *c = must_ns("nlc");
	struct ns *t = must_ns("nlt");
	struct net_vlans v10 = { .vlan = 10 }, v20 = { .vlan = 20 };
	struct net_vlans trunk = { 0 };
	struct err e = { 0 };
	int r;

	if (!made("vlan-bridge-created", net_bridge_create("tb-nlv", &e), &e))
		return;
	report(net_bridge_vlan_filtering("tb-nlv"), "vlan-bridge-filters",
	    "tb-nlv has vlan_filtering 0: no VLAN filtering in this kernel?");
	r = net_trunks_parse("10,20", &trunk, &e);
	if (r == 0 && (r = port_add("tb-nlv", "nlh-a", a, "10.0.10.1",
	    &v10)) == 0 && (r = port_add("tb-nlv", "nlh-b", b, "10.0.10.2",
	    &v10)) == 0 && (r = port_add("tb-nlv", "nlh-c", c, "10.0.10.3",
	    &v20)) == 0)
		r = port_add("tb-nlv", "nlh-t", t, NULL, &trunk);
	if (r == 0 && sh_in(t, NULL, 0, "ip link add link nlt name nlt.10 "
	    "type vlan id 10 && ip addr add 10.0.10.4/24 dev nlt.10 && "
	    "ip link set nlt.10 up") != 0)
		r = -EIO;
	if (!made("vlan-ports-made", r, &e))
		return;
	check_ping("vlan10-a-pings-b", a, "10.0.10.2", true);
	check_ping("vlan10-b-pings-a", b, "10.0.10.1", true);
	check_ping("vlan20-c-cannot-reach-a", c, "10.0.10.1", false);
	check_ping("vlan20-c-cannot-reach-b", c, "10.0.10.2", false);
	check_ping("trunk-tagged-10-pings-a", t, "10.0.10.1", true);
}

/* The bridge itself back on VLAN 1 (pvid, untagged), as if isolation had
 * not taken it off: what is left is nftables. */
static int
bridge_self_vlan1_add(const char *bridge)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_SETLINK, 0, AF_BRIDGE,
	    (int)if_nametoindex(bridge));
	struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
	struct bridge_vlan_info vi = { .vid = 1, .flags =
	    BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED };

	mnl_attr_put_u16(nlh, IFLA_BRIDGE_FLAGS, BRIDGE_FLAGS_SELF);
	mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof(vi), &vi);
	mnl_attr_nest_end(nlh, spec);
	return nl_talk(nlh);
}

/* The MAC of link name as text into mac (18 bytes; "" if unknown). */
static void
hwaddr(const char *name, char mac[18])
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	const unsigned char *a = (const unsigned char *)ifr.ifr_hwaddr.sa_data;

	mac[0] = '\0';
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (s != -1 && ioctl(s, SIOCGIFHWADDR, &ifr) == 0)
		snprintf(mac, 18, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1],
		    a[2], a[3], a[4], a[5]);
	if (s != -1)
		close(s);
}

/* i on tb-nli, whose bridge holds the guest's own 10.0.30.1. */
static void
lab_isolated(void)
{
	struct ns *i = must_ns("nli");
	struct err e = { 0 };
	char mac[18];
	int r;

	r = net_bridge_create("tb-nli", &e);
	if (r == 0 && sh_in(NULL, NULL, 0, "ip addr add 10.0.30.1/24 dev "
	    "tb-nli && ip link set tb-nli up") != 0)
		r = -EIO;
	if (r == 0)
		r = port_add("tb-nli", "nlh-i", i, "10.0.30.2", NULL);
	if (!made("isolated-bridge-made", r, &e))
		return;
	check_ping("isolated-control-before", i, "10.0.30.1", true);
	if (!made("isolated-isolate", net_bridge_isolate("tb-nli", &e), &e))
		return;
	report(net_isolate_is_applied("tb-nli"), "isolated-nft-entry",
	    "tb-nli not in nftables' set");
	check_ping("isolated-cannot-reach-host", i, "10.0.30.1", false);
	hwaddr("tb-nli", mac);
	r = sh_in(i, NULL, 0, "arp -i nli -s 10.0.30.1 %s", mac);
	report(r == 0, "isolated-static-neigh", "arp -s %s failed", mac);
	check_ping("isolated-static-neigh-cannot-reach-host", i, "10.0.30.1",
	    false);
	r = bridge_self_vlan1_add("tb-nli");
	report(r == 0, "isolated-self-vlan1-back", "%s", strerror(-r));
	check_ping("isolated-nft-alone-cannot-reach-host", i, "10.0.30.1",
	    false);
	r = net_isolate_remove("tb-nli", &e);
	report(r == 0, "isolated-nft-removed", "%s", e.msg);
	check_ping("isolated-control-without-nft-reaches-host", i,
	    "10.0.30.1", true);
}

/* In namespace p: bond nlbond (active-backup, miimon 100 ms) over nlp1
 * and nlp2, up.  Plain rtnetlink: ternd's own bond code is elsewhere. */
static int
bond_make(const void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = nl_link_msg(buf, RTM_NEWLINK,
	    NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
	struct nlattr *info, *data;
	int r, bond;

	(void)arg;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "nlbond");
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bond");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_BOND_MODE, 1);	/* active-backup */
	mnl_attr_put_u32(nlh, IFLA_BOND_MIIMON, 100);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	if ((r = nl_talk(nlh)) < 0)
		return r;
	bond = (int)if_nametoindex("nlbond");
	if ((r = link_set("nlp1", bond, false)) < 0 ||
	    (r = link_set("nlp2", bond, false)) < 0 ||
	    (r = link_set("nlp1", 0, true)) < 0 ||
	    (r = link_set("nlp2", 0, true)) < 0)
		return r;
	return link_set("nlbond", 0, true);
}

/* The bond's active member in p, from /proc/net/bonding (per namespace). */
static void
bond_active(const struct ns *p, char *out, size_t len)
{
	(void)sh_in(p, out, len, "sed -n 's/^Currently Active Slave: //p' "
	    "/proc/net/bonding/nlbond");
	out[strcspn(out, "\n")] = '\0';
}

/* The bond's active member is another of its members ("None" when it
 * has none left). */
static bool
failed_over(const char *before, const char *after)
{
	return !strncmp(after, "nlp", 3) && strcmp(after, before) != 0;
}

/* q's 40 pings of the bond's address, 0.2 s apart: 0 when at most 5
 * were lost. */
static int
bond_pinger(const struct ns *q)
{
	char out[2048] = "";
	unsigned sent = 0, got = 0;
	const char *s;

	if (sh_in(q, out, sizeof(out), "ping -q -c 40 -i 0.2 "
	    "10.0.40.2") < 0 ||
	    !(s = strstr(out, "\n40 packets transmitted")) ||
	    sscanf(s, "\n%u packets transmitted, %u", &sent, &got) != 2)
		return 2;
	printf("# bond: %u sent, %u received across the failover\n", sent,
	    got);
	return sent - got <= 5 ? 0 : 1;
}

/* q pings the bond in the background while its active member goes
 * down. */
static void
bond_failover(struct ns *p, struct ns *q)
{
	char active[32] = "", after[32] = "";
	int st = -1;
	pid_t pid;

	bond_active(p, active, sizeof(active));
	report(active[0] != '\0', "bond-has-active-member", "none");
	pid = fork();
	if (pid == 0)
		_exit(bond_pinger(q));
	sleep(3);
	report(sh_in(p, NULL, 0, "ip link set %s down", active) == 0,
	    "bond-member-down", "ip link set %s down failed", active);
	/* the bond's link monitor sees the member go within its 100 ms */
	for (int i = 0; i < 30; i++) {
		bond_active(p, after, sizeof(after));
		if (failed_over(active, after))
			break;
		usleep(100 * 1000);
	}
	report(failed_over(active, after), "bond-failed-over",
	    "active member '%s' after '%s' went down", after, active);
	report(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
	    WEXITSTATUS(st) == 0, "bond-ping-kept-going",
	    "q's 40 pings lost more than 5 across the failover");
	check_ping("bond-pings-after-failover", q, "10.0.40.2", true);
}

/* tb-nlb's uplinks nlh-p1 and nlh-p2 bonded by tern's own code, as
 * `tern switch create nlb --uplink nlh-p1 --uplink nlh-p2` does; the bond
 * tu-nlb is checked to be in the bridge with both members in it. */
static int
uplink_bond(struct err *e)
{
	struct net_uplinks u;
	struct net_link l1 = { 0 }, l2 = { 0 }, b = { 0 };
	int r;

	if ((r = net_uplinks_parse("nlh-p1,nlh-p2", "active-backup", &u,
	    e)) < 0 || (r = net_uplink_check("nlh-p1", e)) < 0 ||
	    (r = net_uplink_check("nlh-p2", e)) < 0 ||
	    (r = net_uplink_attach("nlb", &u, e)) < 0)
		return r;
	r = net_link_get("nlh-p1", &l1) == 0 && net_link_get("nlh-p2",
	    &l2) == 0 && net_link_get("tu-nlb", &b) == 0 &&
	    !strcmp(l1.master_name, "tu-nlb") &&
	    !strcmp(l2.master_name, "tu-nlb") &&
	    !strcmp(b.master_name, "tb-nlb");
	report(r, "bond-tern-uplink-in-bridge", "nlh-p1 in '%s', nlh-p2 in "
	    "'%s', tu-nlb in '%s'", l1.master_name, l2.master_name,
	    b.master_name);
	return 0;
}

static void
lab_bond(void)
{
	struct ns *p = must_ns("nlp"), *q = must_ns("nlq");
	struct net_link before = { 0 }, after = { 0 };
	struct err e = { 0 };
	int r = net_bridge_create("tb-nlb", &e);

	if (r == 0 && (r = veth_new("nlh-p1", p, "nlp1")) == 0 &&
	    (r = veth_new("nlh-p2", p, "nlp2")) == 0 &&
	    (r = uplink_bond(&e)) == 0)
		r = call_in(p, bond_make, NULL);
	if (r == 0 && sh_in(p, NULL, 0, "ip link set lo up && ip addr add "
	    "10.0.40.2/24 dev nlbond") != 0)
		r = -EIO;
	if (r == 0)
		r = port_add("tb-nlb", "nlh-q", q, "10.0.40.1", NULL);
	if (!made("bond-made", r, &e))
		return;
	check_ping("bond-q-pings-p", q, "10.0.40.2", true);
	(void)net_link_get("tu-nlb", &before);
	bond_failover(p, q);
	/* the far end's member went down: its veth's near end lost its
	 * carrier, and tern's bond left it within its 100 ms link check */
	for (int i = 0; i < 30; i++) {
		if (net_link_get("tu-nlb", &after) == 0 && after.active[0] &&
		    strcmp(after.active, before.active) != 0)
			break;
		usleep(100 * 1000);
	}
	report(before.active[0] && after.active[0] &&
	    strcmp(after.active, before.active) != 0, "bond-tern-failed-over",
	    "tu-nlb's active member '%s' after '%s'", after.active,
	    before.active);
}

static void
cleanup(void)
{
	for (int i = 0; i < n_ns; i++) {
		kill(nss[i].pid, SIGKILL);
		(void)waitpid(nss[i].pid, NULL, 0);
		close(nss[i].fd);
	}
	n_ns = 0;
	(void)net_bridge_delete("tb-nlv", NULL);
	(void)net_bridge_delete("tb-nli", NULL);
	if (if_nametoindex("tu-nlb")) {
		struct net_uplinks u;
		struct err e = { 0 };

		if (net_uplinks_parse("nlh-p1,nlh-p2", "active-backup", &u,
		    &e) == 0)
			(void)net_uplink_release("nlb", &u, &e);
	}
	(void)net_bridge_delete("tb-nlb", NULL);
}

int
main(int argc, char **argv)
{
	const char *only = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	cleanup();	/* a previous run's leftovers */
	if (!*only || !strcmp(only, "vlan"))
		lab_vlans();
	if (!*only || !strcmp(only, "isolated"))
		lab_isolated();
	if (!*only || !strcmp(only, "bond"))
		lab_bond();
	cleanup();
	printf("# %d failed\n", n_failed);
	return n_failed ? 1 : 0;
}
