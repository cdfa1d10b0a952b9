/* cloudinit_yaml.h - what tern reads of a cloud-init NoCloud seed's
 * inputs, as untrusted text: the user-data checked as YAML (libyaml: one
 * document at most, its root a mapping, as #cloud-config is) and the SSH
 * public keys of --ssh-key, and the meta-data tern writes from them.
 * Pure: base and libyaml only, no files, never logs (the unit test and
 * the fuzz target fuzz_cloudinit drive it). */
#pragma once

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
