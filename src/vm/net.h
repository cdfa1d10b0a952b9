/* net.h - virtual switches as Linux bridges and VM NICs as tap devices.
 * The tap is opened here and its fd handed to QEMU, so QEMU needs no
 * network privileges; the device vanishes when QEMU, its last holder,
 * exits. */
#pragma once

#include <stdbool.h>

#include "err.h"

#define NET_BRIDGE_PREFIX "tb-"
#define NET_SWITCH_NAME_MAX 12	/* IFNAMSIZ - 1 - strlen(prefix) */

/* Bridge interface name for switch name into buf (16 bytes). */
void net_bridge_name(const char *switch_name, char buf[16]);
/* True when name can name a switch (1..12 of [a-z0-9_-]). */
bool net_switch_name_is_valid(const char *name);
/* Create and bring up the bridge; an existing one is fine. */
int net_bridge_create(const char *bridge, struct err *err);
int net_bridge_delete(const char *bridge, struct err *err);
bool net_bridge_exists(const char *bridge);
/* Open a new tap device, up, enslaved to bridge; returns the fd (with
 * O_CLOEXEC) or -errno.  The device is not persistent. */
int net_tap_open(const char *bridge, struct err *err);
/* A random locally administered MAC in QEMU's 52:54:00 range (18 bytes). */
void net_mac_generate(char out[18]);
bool net_mac_is_valid(const char *mac);
