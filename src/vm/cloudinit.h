/* cloudinit.h - a VM's cloud-init NoCloud seed, DIR/NAME-seed.iso next to
 * disk 0 (the row's cloud_init_seed), attached as a second read-only CD
 * (cd1, qemu.c): the operator's user-data, checked as YAML, and tern's
 * meta-data (instance-id: the VM's UUID, local-hostname: its name,
 * public-keys: --ssh-key's) and network-config (the NICs by MAC, DHCP or
 * --cloud-init-net's static addresses, kept in the row's cloud_init_net),
 * made by genisoimage (volume cidata) in the vm.create job.  No path
 * changes an existing VM's NICs, so nothing writes the seed again.  Never
 * logs. */
#pragma once

#include <jansson.h>

#include "child.h"
#include "err.h"
#include "host.h"
#include "store.h"

struct job;

/* For a create request body with "cloud_init" (and maybe "ssh_key" and
 * "cloud_init_net"): read and check both files and the static addresses
 * against row's NICs, name row->cloud_init_seed, set row->cloud_init_net,
 * and set *ret_details to the create job's details {"seed": {"user_data",
 * "meta_data", "network_config" (absent without NICs)}} (NULL when the
 * body asks for no seed).  Changes nothing on disk. */
int cloudinit_plan(struct host *h, const json_t *body, struct vm_row *row,
    json_t **ret_details, struct err *err);

/* Write the seed of job's details ("seed") for row: the two files into a
 * staging directory, then genisoimage as job's child (fn on its exit).
 * 0 spawned, -errno (err set) when it cannot. */
int cloudinit_seed_spawn(struct job *job, const struct vm_row *row,
    child_exit_fn fn, struct err *err);

/* Remove the staging directory (and with all, the seed too). */
void cloudinit_seed_cleanup(const struct vm_row *row, bool all);
