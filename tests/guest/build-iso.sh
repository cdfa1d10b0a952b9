#!/bin/bash
# build-iso.sh OUTDIR [GUESTDIR] - a bootable ISO (BIOS and UEFI) made with
# Debian's grub-mkrescue, holding the test guest's kernel and initramfs:
#   OUTDIR/tern-test.iso
# Its GRUB menu shows the title "TERN ISO TEST" for ISO_TIMEOUT seconds, then
# boots the test guest, which prints TERN-GUEST-READY on ttyS0 as usual.
# GUESTDIR holds vmlinuz and initrd.img (tests/guest/build.sh's output;
# default: $TERN_GUEST, else OUTDIR/..).  Cached: rebuilt only when this script,
# the kernel or the initramfs is newer than the ISO.
set -euo pipefail

usage() {
	echo "usage: $0 OUTDIR [GUESTDIR]" >&2
	exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
GDIR=${2:-${TERN_GUEST:-$OUT/..}}
ISO=$OUT/tern-test.iso
PKGS=(grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools)
ISO_TIMEOUT=10
TITLE="TERN ISO TEST"
CMDLINE="console=ttyS0 quiet tern.hostname=tern-iso tern.workload=idle"

log() { echo "build-iso.sh: $*"; }

for f in vmlinuz initrd.img; do
	[ -f "$GDIR/$f" ] || {
		log "no $GDIR/$f: build the test guest first (bash tests/guest/build.sh DIR) and pass DIR"
		exit 1
	}
done
if [ -f "$ISO" ] && [ -z "$(find "$SELF" "$GDIR/vmlinuz" "$GDIR/initrd.img" -newer "$ISO" -print -quit)" ]; then
	log "tern-test.iso up to date"
	exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

TMPW=$(mktemp -d "$OUT/.iso.XXXXXX")
trap 'rm -rf "$TMPW"' EXIT
mkdir -p "$TMPW/tree/boot/grub"
cp "$GDIR/vmlinuz" "$GDIR/initrd.img" "$TMPW/tree/boot/"
# The menu is drawn on the screen (VGA text under BIOS, the firmware's text
# console under UEFI) and on the serial line, so both the screendump test
# and a console log can see it.
cat >"$TMPW/tree/boot/grub/grub.cfg" <<EOF
set timeout=$ISO_TIMEOUT
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
menuentry '$TITLE' {
	echo 'TERN-ISO booting the test guest'
	linux /boot/vmlinuz $CMDLINE
	initrd /boot/initrd.img
}
EOF
T0=$(date +%s)
grub-mkrescue -o "$TMPW/out.iso" "$TMPW/tree" -- -volid TERN_ISO_TEST >"$TMPW/mkrescue.log" 2>&1 ||
	{ cat "$TMPW/mkrescue.log"; log "grub-mkrescue failed"; exit 1; }
mv -f "$TMPW/out.iso" "$ISO"
log "done in $(($(date +%s) - T0)) s: $ISO ($(du -k "$ISO" | cut -f1) KiB)"
