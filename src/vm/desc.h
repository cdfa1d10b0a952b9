/* desc.h - the one codec for what a VM is: name, size, machine, boot
 * command line and NICs, as create requests, export manifests (vm.json)
 * and the migration wire all carry it.  JSON -> struct validates every
 * field against vm_limits.h and refuses unknown fields; struct -> JSON
 * writes what the parser reads back.  Each format's own fields (disks,
 * whose shape differs per format, kernel/initrd, checksums, the wire's
 * CPU facts) stay with its caller, which names them as extra fields.
 * Pure: no host state, no files, never logs (the fuzz targets reach it
 * through vm_spec_parse, export_manifest_parse and wire_vm_resolve). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "store.h"
#include "vm_limits.h"

/* Who wrote the description. */
enum vm_desc_kind {
	/* A person's create request: no uuid (one is made), a NIC may
	 * leave out its mac (one is generated), nics may be absent. */
	VM_DESC_REQUEST,
	/* What tern wrote (vm.json, a move): uuid, nics and every mac are
	 * required, as the writer always gives them. */
	VM_DESC_RECORD,
	VM_DESC_KIND__COUNT
};

struct vm_desc {
	char uuid[37];		/* "" for a request */
	char *name;		/* name_is_valid() */
	int cpus;		/* VM_CPUS_MIN..VM_CPUS_MAX */
	uint64_t memory_mib;	/* VM_MEMORY_MIB_MIN..VM_MEMORY_MIB_MAX;
				 * dynamic memory: the maximum */
	/* Dynamic memory (issue 18): min < memory_mib, buffer 5..95, cur in
	 * min..memory_mib; fixed: min = cur = memory_mib, buffer 0.  On
	 * the wire only when dynamic. */
	uint64_t memory_min_mib, memory_cur_mib;
	unsigned memory_buffer_pct;
	bool cpu_compat;
	char *machine;		/* NULL when not given: the caller's default */
	char *cmdline;		/* NULL: none; at most VM_CMDLINE_MAX bytes */
	char *firmware;		/* NULL: bios; "uefi" */
	bool secure_boot;	/* only with uefi */
	bool tpm;		/* a TPM 2.0 (swtpm, tpm-crb) */
	char *boot;		/* "cdrom,disk": distinct vm_boot_names; NULL:
				 * the default (kernel when one is given, else
				 * disk) */
	bool cd_drive;		/* a CD drive (its ISO is the caller's) */
	int hotplug_ports;	/* 0..VM_HOTPLUG_PORTS_MAX; -1: not given in
				 * a request (VM_HOTPLUG_PORTS_DEFAULT); a
				 * record without it has 0 (made before) */
	size_t n_nics;
	struct nic_row nics[VM_MAX_NICS];	/* macs lower case, distinct;
						 * ports distinct, at most
						 * hotplug_ports */
};

/* Parse o into *ret (which the caller zeroed; vm_desc_done() empties it
 * whether or not this succeeds).  Fields other than the description's and
 * the NULL-terminated extra (the caller's own; NULL for none) are
 * refused with "unknown field 'x' in <what>" (what NULL: "unknown field
 * 'x'", for a caller that names the file itself). */
int vm_desc_parse(const json_t *o, enum vm_desc_kind kind,
    const char *const *extra, const char *what, struct vm_desc *ret,
    struct err *err);

/* The description as JSON: uuid when set, machine and cmdline when set,
 * firmware, secure_boot, tpm, boot, cd_drive, hotplug_ports and a NIC's
 * port when not the default (so an older peer reads a plain VM's
 * description), nics always.  The caller adds its own fields. */
json_t *vm_desc_to_json(const struct vm_desc *d);

/* Fill d from row (copies); empty it with vm_desc_done(). */
void vm_desc_from_row(struct vm_desc *d, const struct vm_row *row);

/* Move d's fields into row (name, cpus, memory, cpu_compat, machine,
 * cmdline, nics; the uuid when set), leaving d empty. */
void vm_desc_to_row(struct vm_desc *d, struct vm_row *row);

void vm_desc_done(struct vm_desc *d);

/* One NIC of a request ({"switch", "mac"?, "vlan"?, "trunks"?, "port"?})
 * into *n (zeroed by the caller; switch_name the caller's to free on
 * success), checked as in a description; a MAC generated when absent.
 * Messages name the NIC "nics[0]". */
int vm_desc_parse_nic(const json_t *o, struct nic_row *n, struct err *err);

/* The boot devices a VM's "boot" order may name. */
bool vm_boot_name_ok(const char *name);
/* Does the comma list boot (NULL: none) name dev? */
bool vm_boot_has(const char *boot, const char *dev);
