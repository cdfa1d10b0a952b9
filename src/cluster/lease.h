/* lease.h - the VMs' sanlock leases (lease.c). */
#pragma once

#include <stddef.h>

struct host;
struct vm;

/* The lease of vm's disks as this host sees it now, without taking it:
 * 0 free (or held by this host), -EBUSY held by a node whose host lease
 * is still alive (its name in owner), -ENOENT the VM needs no lease
 * (not in a cluster, disks not on one pool), -EAGAIN not known yet
 * (lockspace not joined yet). Does not block the loop for long. */
int cl_lease_probe(struct host *h, struct vm *vm, char *owner, size_t len);
