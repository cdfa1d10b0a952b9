/* net.h - virtual switches as Linux bridges and VM NICs as tap devices.
 * The tap is opened here and its fd handed to QEMU, so QEMU needs no
 * network privileges; the device vanishes when QEMU, its last holder,
 * exits. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "err.h"

#define NET_BRIDGE_PREFIX "tb-"
#define NET_SWITCH_NAME_MAX 12	/* IFNAMSIZ - 1 - strlen(prefix) */

struct net_vlans;

/* Bridge interface name for switch name into buf (16 bytes). */
void net_bridge_name(const char *switch_name, char buf[16]);
/* True when name can name a switch (1..12 of [a-z0-9_-]). */
bool net_switch_name_is_valid(const char *name);
/* Create and bring up the bridge; an existing one is fine. */
int net_bridge_create(const char *bridge, struct err *err);
/* The bridge gone, and its isolation's nftables entry with it. */
int net_bridge_delete(const char *bridge, struct err *err);
/* Cut an isolated switch's bridge off the host (nftables drops what its
 * ports send the host; no ARP, no IPv6, no VLAN of its own where it
 * filters VLANs); again at every launch. */
int net_bridge_isolate(const char *bridge, struct err *err);
bool net_bridge_exists(const char *bridge);
/* isolate.c: bridge's name in nftables' set of isolated bridges, whose
 * frames to the host (IPv4, IPv6, ARP) are dropped; idempotent, and the
 * bridge need not exist yet.  -EIO with nft's message on failure. */
int net_isolate_apply(const char *bridge, struct err *err);
/* The bridge's entry removed; 0 when it had none. */
int net_isolate_remove(const char *bridge, struct err *err);
/* True when the bridge's name is in the set. */
bool net_isolate_is_applied(const char *bridge);
/* Open a new tap device, up, enslaved to bridge, on v's VLANs (NULL or
 * none: the bridge's default); returns the fd (with O_CLOEXEC) or -errno.
 * The device is not persistent. */
int net_tap_open(const char *bridge, const struct net_vlans *v,
    struct err *err);
/* A random locally administered MAC in QEMU's 52:54:00 range (18 bytes). */
void net_mac_generate(char out[18]);
bool net_mac_is_valid(const char *mac);

/* A NIC's VLANs: vlan is the access VLAN (PVID, untagged; 0 = none, the
 * bridge's default VLAN 1), trunk the tagged ranges. */
#define NET_VLAN_MAX 4094
#define NET_TRUNKS_MAX 16
#define NET_TRUNKS_TEXT_MAX 160	/* "a-b," * 16 fits */
struct net_vlans {
	uint16_t vlan;
	unsigned n;
	struct { uint16_t lo, hi; } trunk[NET_TRUNKS_MAX];
};

/* Parse trunk text "ID[-ID][,ID[-ID]]..." (untrusted: CLI, API, a peer's
 * description) into v's trunks, checked: each ID 1..4094, lo <= hi, no
 * overlap between ranges or with v->vlan, at most NET_TRUNKS_MAX ranges.
 * "" is none.  The message names the text and what to do. */
int net_trunks_parse(const char *text, struct net_vlans *v,
    struct err *err);
/* Check an access VLAN (0 = none, else 1..4094). */
int net_vlan_check(long vlan, struct err *err);
/* v's trunks as canonical text (sorted as given) into buf. */
void net_trunks_format(const struct net_vlans *v, char *buf, size_t len);
/* True when some VLAN of v is in lo..hi. */
bool net_vlans_overlap(const struct net_vlans *v, unsigned lo, unsigned hi);
/* Put the bridge port ifname (a tap) on v's VLANs. */
int net_port_set_vlans(const char *ifname, const struct net_vlans *v,
    struct err *err);
/* True when the bridge filters VLANs (a switch tern made); false for a
 * plain bridge, which carries no VLAN. */
bool net_bridge_vlan_filtering(const char *bridge);

/* ---- uplinks (uplink.c) ---- */
/* A switch's bond of several uplinks: "tu-NAME" (as "tb-NAME" its
 * bridge: the same 12-character name fits, and no switch's bridge can
 * take it). */
#define NET_BOND_PREFIX "tu-"
#define NET_UPLINKS_MAX 8
#define NET_UPLINKS_TEXT_MAX (NET_UPLINKS_MAX * 16)

/* A switch's uplinks as the store keeps them: interface names, and the
 * bond's mode (BOND_MODE_*) when there are 2 or more. */
struct net_uplinks {
	size_t n;
	char ifs[NET_UPLINKS_MAX][16];
	int mode;
};

/* What RTM_GETLINK says of one interface. */
struct net_link {
	int ifindex;
	char name[16];
	char kind[16];		/* IFLA_INFO_KIND: "bridge", "bond", "" */
	char operstate[16];	/* RFC 2863: "up", "down", "lowerlayerdown" */
	bool carrier, up, loopback;
	int master;		/* ifindex, 0: none */
	char master_name[16];
	char active[16];	/* a bond's active member, "" none */
};

/* Read interface name: 0, -ENODEV when there is none, or -errno. */
int net_link_get(const char *name, struct net_link *ret);
/* The bond interface name for switch name into buf (16 bytes). */
void net_bond_name(const char *switch_name, char buf[16]);
/* "active-backup", "balance-xor", "802.3ad" to BOND_MODE_*, or -EINVAL. */
int net_bond_mode_parse(const char *text);
const char *net_bond_mode_name(int mode);
/* Uplinks from the store's text "if1,if2" and mode (NULL or "": active-
 * backup) into u. */
int net_uplinks_parse(const char *text, const char *mode,
    struct net_uplinks *u, struct err *err);
/* Check that ifname may become an uplink: it exists, is not loopback, a
 * bridge, one of tern's own (tap, bridge, bond) nor in a bridge or bond
 * already.  -ENODEV, -EINVAL, -EBUSY with a message naming it. */
int net_uplink_check(const char *ifname, struct err *err);
/* Attach u to switch_name's bridge (which must exist): one interface
 * directly, several through the bond "tu-NAME" (made here; -EOPNOTSUPP
 * naming the module 'bonding' when the kernel has none, nothing changed
 * then).  Idempotent.  On other failures what was done stays: release. */
int net_uplink_attach(const char *switch_name, const struct net_uplinks *u,
    struct err *err);
/* Undo attach: every interface of u still in the bridge or the bond gets
 * no master, the bond is deleted.  Idempotent. */
int net_uplink_release(const char *switch_name, const struct net_uplinks *u,
    struct err *err);

/* ---- tagged announcements after a move (announce.c) ---- */
#define NET_RARP_FRAME_MAX 64	/* 60 untagged, 64 with an 802.1Q tag */
/* The RARP frame QEMU's announce-self sends for mac, tagged with VLAN vid
 * (0: untagged) into buf; returns its length. */
size_t net_rarp_frame(const uint8_t mac[6], uint16_t vid,
    uint8_t buf[NET_RARP_FRAME_MAX]);
/* One tagged RARP frame for mac_text per trunk VLAN of v, out of ifname
 * (a switch's uplink or bond): the number sent, or -errno. */
int net_announce_tagged(const char *ifname, const char *mac_text,
    const struct net_vlans *v, struct err *err);

/* tap.c.  The tap device of fd into name (16 bytes): 0 or -errno. */
int net_tap_name(int fd, char name[16]);
/* Mark tap ifname as the one of the NIC with this MAC (its alias), so
 * net_tap_find() finds it while QEMU holds it. */
int net_tap_tag(const char *ifname, const char *mac, struct err *err);
/* The tap tagged with mac into name (16 bytes); -ENOENT none (a tap
 * opened before tags, or no QEMU). */
int net_tap_find(const char *mac, char name[16]);
/* Move tap ifname (in use) onto bridge and v's VLANs: off its bridge,
 * onto the new one (may be the same), VLANs set.  -EOPNOTSUPP when v has
 * VLANs and the bridge filters none. */
int net_tap_move(const char *ifname, const char *bridge,
    const struct net_vlans *v, struct err *err);
