/* vm_spec.h - turning a "create VM" request into a VM row: first a pure
 * parse of the JSON (no host state: the fuzz target drives it), then a
 * check against this host (names, pools, files, switches, memory). */
#pragma once

#include <jansson.h>

#include "err.h"
#include "host.h"
#include "store.h"
#include "vm_limits.h"

/* Parse and range-check body; on success *ret_row is a new row in state
 * "creating" with a fresh UUID, disks named vda.. (pool names and paths
 * as given: a disk to create has size_bytes and maybe pool, a disk to
 * register has path) and NICs (MACs generated where missing). */
int vm_spec_parse(const json_t *body, struct vm_row **ret_row,
    struct err *err);

/* Resolve row against h: pick pools and file names for new disks, check
 * registered disks (inside a pool, qcow2, not in use), the name, switches,
 * kernel and initrd files, and memory.  Changes nothing on disk. */
int vm_spec_check(struct host *h, struct vm_row *row, struct err *err);

/* Virtual size of a qcow2 image from its header; -EINVAL if not qcow2. */
int qcow2_virtual_size(const char *path, uint64_t *ret_bytes);

/* An ISO a VM may use: a readable file inside a pool or an iso-dir of
 * ternd.conf (after resolving symlinks); -ENOENT, -EPERM with err. */
int vm_spec_check_iso(struct host *h, const char *iso, struct err *err);
