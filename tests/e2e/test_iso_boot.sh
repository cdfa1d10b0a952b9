#!/usr/bin/env bash
# test_iso_boot.sh - a VM boots from an ISO to its first screen: the test
# ISO (tests/guest/build-iso.sh: GRUB from Debian's grub-mkrescue, the test
# guest's kernel and initramfs) in a VM with an empty disk and --boot
# cdrom,disk, once with UEFI and once with BIOS.  `tern vm screenshot`
# is polled until tests/guest/screen_match.py recognises the GRUB menu
# ("TERN ISO TEST"), then the menu's timeout boots the test guest on to
# TERN-GUEST-READY on the console.
. "$(dirname "$0")/lib.sh"

ISO=$GUEST/iso/tern-test.iso
if [ ! -f "$ISO" ]; then
	bash "$REPO/tests/guest/build-iso.sh" "$GUEST/iso" "$GUEST" >/dev/null
fi
MATCH=(python3 "$REPO/tests/guest/screen_match.py")
[ -x /usr/bin/python3 ] && MATCH=(/usr/bin/python3 "$REPO/tests/guest/screen_match.py")

e2e_lab_setup iso 146
lab up 1 >/dev/null
POOL=$(labenv H1_POOL_DIR)
SHOTS=$TERN_LAB/shots
mkdir -p "$SHOTS"
# the ISO inside the pool, where a CD image is allowed
cp "$ISO" "$POOL/tern-test.iso"

# grub_seen VM FILE: a screenshot of VM now shows the ISO's GRUB menu
grub_seen() {
	rm -f "$2"
	t h1 vm screenshot "$1" "$2" >/dev/null 2>&1 || return 1
	"${MATCH[@]}" "$2" >"$2.match" 2>&1
}

# boot_iso FIRMWARE: one VM that boots the ISO with that firmware
boot_iso() {
	local fw=$1 vm=iso-$1 shot=$SHOTS/$1.png
	# GRUB 2.06's EFI loader runs out of memory loading the guest in 256 MiB
	check "$fw: create a VM with the ISO and an empty disk" \
	    t h1 vm create "$vm" --cpus 1 --memory 512M --disk 1G \
	    --firmware "$fw" --cdrom "$POOL/tern-test.iso" --boot cdrom,disk
	check "$fw: starts" t h1 vm start "$vm"
	# the menu waits 10 s; under TCG the firmware takes 2-6 s to reach it
	if wait_for 60 grub_seen "$vm" "$shot"; then
		ok "$fw: the screen shows the ISO's GRUB menu ($(cat "$shot.match"))"
	else
		not_ok "$fw: the screen shows the ISO's GRUB menu"
		sed 's/^/#   /' "$shot.match" 2>/dev/null
		echo "#   last screenshot: $shot"
	fi
	check "$fw: the menu's entry boots the test guest" \
	    wait_for 120 console_has h1 "$vm" TERN-GUEST-READY
	check "$fw: stops" t h1 vm stop "$vm"
	check "$fw: deleted" t h1 vm delete "$vm"
}

# the matcher itself: each reference matches, a blank screen, another
# title and console text do not
check "screen_match.py tells the menu from other screens" "${MATCH[@]}" --self-test
boot_iso uefi
boot_iso bios

e2e_finish
