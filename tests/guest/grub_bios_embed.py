#!/usr/bin/python3
"""grub_bios_embed.py DISK BOOT_IMG CORE_IMG FIRST_SECTOR

What grub-bios-setup does for a GPT disk with a BIOS boot partition, on a
disk image file (grub-bios-setup wants to probe the host's own root device
and fails in a container): write core.img, contiguously, at FIRST_SECTOR
(the BIOS boot partition's start) with its blocklist pointing at its own
sectors, and boot.img into the MBR, keeping the protective partition
table, told where core.img starts.  Offsets are GRUB 2.06's
(include/grub/i386/pc/boot.h, grub-core/boot/i386/pc/diskboot.S).
"""
import struct
import sys

KERNEL_SECTOR = 0x5C  # GRUB_BOOT_MACHINE_KERNEL_SECTOR (8 bytes)
BOOT_DRIVE = 0x64     # GRUB_BOOT_MACHINE_BOOT_DRIVE: 0xff = the drive the BIOS booted
DRIVE_CHECK = 0x66    # GRUB_BOOT_MACHINE_DRIVE_CHECK: a jump that nops on hard disks
PART_START = 0x1B8    # disk signature, partition table and 0x55aa stay the disk's
CORE_SEG = 0x820      # GRUB_BOOT_I386_PC_KERNEL_SEG + 0x20: where sector 2+ load


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.split("\n")[0])
    disk, boot_p, core_p, first = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    with open(boot_p, "rb") as f:
        boot = bytearray(f.read())
    with open(core_p, "rb") as f:
        core = bytearray(f.read())
    if len(boot) != 512:
        sys.exit("grub_bios_embed: %s is not a 512-byte boot.img" % boot_p)
    core += b"\0" * (-len(core) % 512)
    nsec = len(core) // 512
    with open(disk, "r+b") as f:
        mbr = f.read(512)
        boot[PART_START:512] = mbr[PART_START:512]
        struct.pack_into("<Q", boot, KERNEL_SECTOR, first)
        boot[BOOT_DRIVE] = 0xFF
        boot[DRIVE_CHECK:DRIVE_CHECK + 2] = b"\x90\x90"
        # diskboot.img's one blocklist entry: the rest of core.img, in a row
        struct.pack_into("<QHH", core, 512 - 12, first + 1, nsec - 1, CORE_SEG)
        f.seek(0)
        f.write(boot)
        f.seek(first * 512)
        f.write(core)


if __name__ == "__main__":
    main()
