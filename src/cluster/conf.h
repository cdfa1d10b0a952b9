/* conf.h - the cluster's record checked, and corosync.conf written from
 * it (pure, base only; unit test test_cluster_conf).  The record reaches
 * a node from another over mutual TLS, but is still checked whole before
 * anything is written from it: a bad record is refused, never half
 * applied. */
#pragma once

#include <jansson.h>

#include "err.h"

#define CLUSTER_MAX_NODES 32	/* "a handful to a few dozen hosts" */
#define CLUSTER_TOKEN_MIN_MS 500
#define CLUSTER_TOKEN_MAX_MS 30000
#define CLUSTER_TOKEN_DEFAULT_MS 3000	/* Corosync's own default */
#define CLUSTER_QNETD_PORT 5403		/* corosync-qnetd's default */

/* Check rec (the shape in cluster.h): name a valid name, id a UUID,
 * 1..CLUSTER_MAX_NODES nodes with distinct valid names, distinct node
 * ids 1..CLUSTER_MAX_NODES and distinct IPv4 or IPv6 addresses; token_ms
 * in range; witness null or "ADDR[:PORT]".  0, or -EINVAL with err
 * naming the field. */
int cluster_record_check(const json_t *rec, struct err *err);

/* Split a witness "ADDR[:PORT]" ("[V6]:PORT" for IPv6 with a port) into
 * host (an address literal, into buf) and port (default
 * CLUSTER_QNETD_PORT).  0 or -EINVAL. */
int cluster_witness_split(const char *w, char *buf, size_t len,
    int *ret_port);

/* corosync.conf for a checked rec, with the authkey at keyfile and
 * Corosync's state in state_dir (newly allocated text).  Two nodes
 * without a witness get votequorum's two_node (either survives the
 * other, the fence being the leases); a witness is a qdevice with the
 * ffsplit algorithm for an even count, lms otherwise. */
char *cluster_conf_render(const json_t *rec, const char *keyfile,
    const char *state_dir);
