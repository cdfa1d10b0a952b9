/* lease.h - sanlock leases for VMs on shared storage (issue 14, "never
 * two copies"): a VM whose disks are all on one pool runs, while this
 * host is in a cluster, only while its QEMU holds the VM's resource
 * lease in that pool's lockspace (lease.c, tern-lease). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct host;
struct vm;

#define LEASE_DIR ".tern-leases"	/* in each pool's directory */
#define LEASE_IO_TIMEOUT_S 1		/* the lockspace's io timeout */

/* Start (on) or stop following this host's pools' lockspaces: on joins
 * the lockspace of every pool of this host (asynchronously), off leaves
 * them (those no lease is held in). */
void cl_lease_follow(struct host *h, bool on);

/* The lease of vm's disks as this host sees it now, without taking it:
 * 0 free (or held by this host), -EBUSY held by a node whose host lease
 * is still alive (its name in owner), -ENOENT the VM needs no lease
 * (not in a cluster, disks not on one pool), -EAGAIN not known yet
 * (lockspace not joined yet). Does not block the loop for long. */
int cl_lease_probe(struct host *h, struct vm *vm, char *owner, size_t len);

