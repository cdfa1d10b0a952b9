/* cloudinit_yaml.h - what tern reads of a cloud-init NoCloud seed's
 * inputs, as untrusted text: the user-data checked as YAML (libyaml: one
 * document at most, its root a mapping, as #cloud-config is) and the SSH
 * public keys of --ssh-key, and the meta-data tern writes from them; the
 * network-config (version 2) tern writes from the VM's NICs and the
 * static settings of --cloud-init-net (checked by altip_parse.c).
 * Pure: base, altip_parse and libyaml only, no files, never logs (the
 * unit test and the fuzz target fuzz_cloudinit drive it). */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "err.h"

#define CI_USER_DATA_MAX (256u << 10)	/* bytes of user-data */
#define CI_SSH_KEYS_MAX (64u << 10)	/* bytes of an --ssh-key file */

/* 0 when buf (len bytes) is YAML whose first document is a mapping (or
 * the stream is empty); -EINVAL with "user-data is not valid YAML: line
 * L, column C: PROBLEM" (1-based) or what else is wrong; -E2BIG past
 * CI_USER_DATA_MAX. */
int ci_user_data_check(const char *buf, size_t len, struct err *err);

/* The meta-data: instance-id, local-hostname, and the keys of the
 * --ssh-key text (NULL: none; one OpenSSH public key a line, blank lines
 * and '#' comments skipped) as public-keys.  -EINVAL (err set) for a line
 * that is not a public key.  *ret is malloc'ed. */
int ci_meta_data(const char *uuid, const char *hostname, const char *keys,
    size_t keys_len, char **ret, struct err *err);

/* A VM's static network settings checked against its NICs: macs[i] is
 * nicI's MAC (lower case, as tern stores it), net NULL or a JSON object
 * {"nicN": {"addr", "prefix", "gw"?, "dns"?}} (altip_parse.h's JSON) whose
 * every key names one of the n_nics NICs.  0, or -EINVAL with err naming
 * the NIC and what is wrong. */
int ci_net_check(const char *const *macs, size_t n_nics, const json_t *net,
    struct err *err);

/* The seed's network-config, cloud-init's network config version 2: one
 * "ethernets" entry per NIC, named nicN as tern names it and matched by
 * its MAC (match: macaddress; no set-name, so the guest keeps its own
 * interface names), DHCPv4 unless net gives it a static address (then
 * that address, a default route via its gateway and its DNS servers).
 * Checked as ci_net_check does first.  *ret is malloc'ed, or NULL when
 * the VM has no NIC (the seed then has no network-config, and cloud-init
 * does what it does without one). */
int ci_network_config(const char *const *macs, size_t n_nics,
    const json_t *net, char **ret, struct err *err);
