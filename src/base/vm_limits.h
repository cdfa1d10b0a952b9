/* vm_limits.h - the bounds of a VM's description, in one place: create,
 * export/import, the migration wire and the CLI all check against these
 * (the CLI links only base, so they live here and not in vm/).  Raising
 * one is a format change for exports and moves: an older tern refuses
 * what a newer one accepts. */
#pragma once

#define VM_CPUS_MIN 1
#define VM_CPUS_MAX 64
#define VM_MEMORY_MIB_MIN 16
#define VM_MEMORY_MIB_MAX (1 << 20)		/* 1 TiB */
#define VM_MAX_DISKS 16				/* named vda..vdp */
#define VM_MAX_NICS 8
/* PCIe root ports for NIC hot-plug: at most, and a new q35 VM's */
#define VM_HOTPLUG_PORTS_MAX 8
#define VM_HOTPLUG_PORTS_DEFAULT 4
#define VM_DISK_SIZE_MAX (16LL << 40)		/* bytes: 16 TiB */
#define VM_CMDLINE_MAX 2048			/* bytes of kernel cmdline */
#define VM_LIBVIRT_XML_MAX (512 * 1024)	/* bytes of a libvirt domain's XML: fits
					 * JSON_MAX_BODY once escaped */
