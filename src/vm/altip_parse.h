/* altip_parse.h - a NIC's static IP setting: the alternate IP a
 * failed-over guest is given (Hyper-V's "failover TCP/IP", src/failover)
 * and the static address of cloud-init's network-config (cloudinit_yaml.c,
 * --cloud-init-net).  One NIC's setting parsed from the operator's text,
 * checked when it comes back as JSON, and (failover) turned into the shell
 * script the guest runs.  Pure (base only): it never talks to a VM or logs.
 * Every message starts with the option it came from (opt, such as
 * "--failover-ip") and the NIC.
 *
 * Text:  NIC=ADDR/PREFIX[,gw=GW][,dns=DNS[;DNS2...]]   or   NIC=none
 * JSON:  {"addr": "A.B.C.D", "prefix": N, "gw": "..." (optional),
 *         "dns": ["...", ...] (optional)}
 * IPv4 or IPv6 (one family per NIC); a gateway must lie inside the prefix
 * (the guest's `ip route add default via GW` refuses one that does not). */
#pragma once

#include <jansson.h>

#include "err.h"

#define ALTIP_NIC_MAX 16	/* bytes of a NIC's name ("nic0") */
#define ALTIP_DNS_MAX 3		/* resolv.conf's own limit */
#define ALTIP_IFNAME_MAX 16	/* IFNAMSIZ */

/* arg parsed: *ret_nic its NIC (caller frees), *ret_cfg the JSON above, or
 * JSON null for "none" (a new reference).  -EINVAL with err naming the part
 * that is wrong; nothing is returned then. */
int altip_parse(const char *opt, const char *arg, char **ret_nic,
    json_t **ret_cfg, struct err *err);
/* The JSON of one NIC (from a request or a row) checked as altip_parse
 * checks text: 0, or -EINVAL with err naming the NIC and the part. */
int altip_check(const char *opt, const char *nic, const json_t *cfg,
    struct err *err);
/* The guest's script for cfg (checked) on guest interface ifname: flush
 * its addresses of cfg's family, add ADDR/PREFIX, bring it up, the
 * default route via GW, resolv.conf from DNS.  Caller frees; NULL when
 * ifname is not a plain interface name. */
char *altip_script(const json_t *cfg, const char *ifname);
