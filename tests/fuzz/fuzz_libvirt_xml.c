/* fuzz_libvirt_xml.c - fuzz the libvirt domain reader
 * (src/vm/libvirt_xml.c): the domain XML is the operator's file from
 * another system, so untrusted.  Whatever it accepts must hold the
 * invariants libvirt_import.c relies on (libvirt_xml.h: a bounded name,
 * cpus and memory in range, absolute paths, kernel set for an initrd or
 * cmdline, bounded disks and NICs, valid switch names); anything else
 * aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libvirt_xml.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct lv_domain *d)
{
	if (!d->name || !d->name[0] || strlen(d->name) > LV_NAME_MAX ||
	    d->cpus < VM_CPUS_MIN ||
	    d->cpus > VM_CPUS_MAX || d->memory_mib < VM_MEMORY_MIB_MIN ||
	    d->memory_mib > VM_MEMORY_MIB_MAX ||
	    (d->uuid[0] && !uuid_is_valid(d->uuid)) ||
	    ((d->initrd || d->cmdline) && !d->kernel) ||
	    d->disk_boot == (d->kernel != NULL) ||
	    (d->kernel && d->kernel[0] != '/') ||
	    (d->initrd && d->initrd[0] != '/') ||
	    (d->cmdline && strlen(d->cmdline) > VM_CMDLINE_MAX) ||
	    d->n_disks > VM_MAX_DISKS || d->n_nics > VM_MAX_NICS)
		abort();
	for (size_t i = 0; i < d->n_disks; i++)
		if (!d->disks[i].path || d->disks[i].path[0] != '/' ||
		    strlen(d->disks[i].path) > LV_PATH_MAX ||
		    !name_is_valid(d->disks[i].target))
			abort();
	for (size_t i = 0; i < d->n_nics; i++)
		if (!name_is_valid(d->nics[i].source) ||
		    (d->nics[i].mac[0] && strlen(d->nics[i].mac) != 17))
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lv_domain d;
	char buf[240];

	if (lv_domain_parse((const char *)data, size, &d, NULL) == 0) {
		check(&d);
		lv_notes_join(d.refused, d.n_refused, buf, sizeof(buf));
		lv_notes_join(d.left_out, d.n_left_out, buf, sizeof(buf));
	}
	lv_domain_done(&d);
	return 0;
}
