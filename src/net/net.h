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
int net_bridge_delete(const char *bridge, struct err *err);
/* Cut an isolated switch's bridge off the host (no ARP, no IPv6, no VLAN
 * of its own where it filters VLANs); again at every launch. */
int net_bridge_isolate(const char *bridge, struct err *err);
bool net_bridge_exists(const char *bridge);
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
