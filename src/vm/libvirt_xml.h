/* libvirt_xml.h - a libvirt domain definition (virsh dumpxml) read as
 * untrusted input with libxml2 and mapped onto what a tern VM is: name,
 * uuid, memory, vCPUs, machine, direct kernel or disk boot, virtio disks
 * (qcow2/raw files) and virtio NICs.  What tern provides its own way, or
 * what does not change the guest's data or identity, is listed as left
 * out; anything else that would change what the guest sees or owns is
 * listed as refused.  Pure: base and libxml2 only, no host state, no
 * files, never logs (the unit test and the fuzz target drive it); the
 * host checks (pools, switches, files) are libvirt_import.c's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "vm_limits.h"

#define LV_XML_MAX VM_LIBVIRT_XML_MAX
#define LV_NOTES_MAX 32			/* notes kept per list; more counted */
#define LV_PATH_MAX 1023
#define LV_NAME_MAX 255		/* bytes of libvirt's <name> */

struct lv_disk {
	char target[16];	/* libvirt's target dev, e.g. "vda" */
	char *path;		/* absolute, at most LV_PATH_MAX bytes */
	bool raw;		/* driver type raw (else qcow2) */
	unsigned boot_order;	/* <boot order='N'/>, 0 if none */
};

struct lv_nic {
	char mac[18];		/* lower case; "" when the XML gives none */
	char *source;		/* the bridge's or network's name */
};

/* A parsed domain.  Invariants after lv_domain_parse() returned 0:
 * name 1..LV_NAME_MAX bytes (libvirt's, which may not be a valid tern
 * name: the importer checks it, or takes another), cpus and memory_mib
 * within vm_limits.h,
 * uuid "" or a UUID, kernel set when initrd or cmdline is, disk_boot ==
 * !kernel, at most VM_MAX_DISKS disks and VM_MAX_NICS NICs.  A domain
 * with n_refused > 0 must not be imported. */
struct lv_domain {
	char *name;
	char uuid[37];
	uint64_t memory_mib;
	int cpus;
	char *machine;		/* os type machine='...', NULL if none */
	char *kernel, *initrd, *cmdline;
	bool disk_boot;
	size_t n_disks;
	struct lv_disk disks[VM_MAX_DISKS];
	size_t n_nics;
	struct lv_nic nics[VM_MAX_NICS];
	/* Short notes for a person, e.g. "graphics vnc (tern has no
	 * display)"; beyond LV_NOTES_MAX only counted in n_*. */
	size_t n_left_out, n_refused;
	char *left_out[LV_NOTES_MAX];
	char *refused[LV_NOTES_MAX];
};

/* Parse len bytes of a domain's XML into *ret (zeroed here; empty it
 * with lv_domain_done() whether or not this succeeds).  -EFBIG over
 * LV_XML_MAX; -EINVAL (err names the line or the element) for XML that
 * is not well formed, has a DOCTYPE or entities, nests too deep, is not
 * a <domain>, or lacks or garbles name, memory or vcpu.  Returns 0 for
 * a domain read to the end even when it refuses parts of it (see
 * n_refused). */
int lv_domain_parse(const char *buf, size_t len, struct lv_domain *ret,
    struct err *err);

void lv_domain_done(struct lv_domain *d);

/* The notes of list (n of them, max LV_NOTES_MAX kept) joined with "; "
 * into buf, ending in "and N more" when they do not fit. */
void lv_notes_join(char *const *list, size_t n, char *buf, size_t size);
