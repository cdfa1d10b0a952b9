#!/bin/bash
# build-netlab.sh OUTDIR NETLAB - the test guest's second initramfs, for
# tests/e2e/test_netlab.sh only:
#   OUTDIR/initrd-netlab.img  OUTDIR/initrd.img (build.sh's, unchanged)
#       followed by a second gzip'd newc archive, which the kernel unpacks
#       over the first: the modules bridge, 8021q, bonding, veth and
#       nf_tables with their dependencies in /lib/modules/netlab (listed in
#       load order in /etc/tern/netlab-modules.list, NOT loaded at boot),
#       and NETLAB (tern-netlab, built by meson from src/net) as
#       /usr/bin/tern-netlab with every shared library ldd names.
# Runs after build.sh (make guest), from its kernel .deb in OUTDIR/cache;
# downloads nothing.  Skipped while its output is newer than its inputs.
# shellcheck disable=SC2012  # ls -t on our own cache of Debian .deb names
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 OUTDIR NETLAB" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$(cd "$1" && pwd)
NETLAB=$2
MODULES=(bridge 8021q bonding veth nf_tables)

log() { echo "build-netlab.sh: $*"; }

[ -f "$OUT/initrd.img" ] || { log "no $OUT/initrd.img: run build.sh first (make guest)"; exit 1; }
[ -x "$NETLAB" ] || { log "no $NETLAB: build tern first (ninja -C BUILD)"; exit 1; }
KDEB=$(ls -t "$OUT"/cache/linux-image-*-amd64_*.deb 2>/dev/null | head -n1 || true)
[ -n "$KDEB" ] || { log "no kernel .deb in $OUT/cache: run build.sh first"; exit 1; }

libs() {
	ldd "$NETLAB" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u
}
# Host libraries keep their package mtimes when apt upgrades them: track
# them by content, as build.sh does.
STAMP=$OUT/obj/netlab-inputs.stamp
mkdir -p "$OUT/obj"
inputs=$(echo "kernel $(basename "$KDEB")"; libs | xargs readlink -f | xargs sha256sum)
[ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$inputs" ] || printf '%s\n' "$inputs" >"$STAMP"
if [ -e "$OUT/initrd-netlab.img" ] && [ -z "$(find "$OUT/initrd.img" "$NETLAB" "$STAMP" \
	"$HERE/build-netlab.sh" -newer "$OUT/initrd-netlab.img" -print -quit)" ]; then
	log "initrd-netlab.img up to date"
	exit 0
fi

TMPW=$(mktemp -d "$OUT/.netlab.XXXXXX")
trap 'rm -rf "$TMPW"' EXIT
KX=$TMPW/kernel
ROOT=$TMPW/root
mkdir -p "$KX" "$ROOT/lib/modules/netlab" "$ROOT/etc/tern" "$ROOT/usr/bin"
log "extracting the modules of $(basename "$KDEB")"
dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$KX" --wildcards '*/modules/*'
KMODDIR=$(find "$KX" -maxdepth 4 -type d -path '*/modules/*' -name '[0-9]*' | head -n1)
[ -n "$KMODDIR" ] || { log "no modules in $KDEB"; exit 1; }
KVER=$(basename "$KMODDIR")
mkdir -p "$KX/lib"
[ -e "$KX/lib/modules" ] || ln -s "${KMODDIR%/*}" "$KX/lib/modules"
depmod -b "$KX" "$KVER"

: >"$ROOT/etc/tern/netlab-modules.list"
modprobe -d "$KX" -S "$KVER" -a --show-depends "${MODULES[@]}" |
	awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' |
	while read -r ko; do
		install -m 0644 "$ko" "$ROOT/lib/modules/netlab/$(basename "$ko")"
		basename "$ko" >>"$ROOT/etc/tern/netlab-modules.list"
	done
log "modules: $(tr '\n' ' ' <"$ROOT/etc/tern/netlab-modules.list")"

install -m 0755 "$NETLAB" "$ROOT/usr/bin/tern-netlab"
libs | while read -r lib; do
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib"
done

log "packing initrd-netlab.img"
find "$ROOT" -exec touch -h -d @1 {} +
(cd "$ROOT" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -9n >"$TMPW/netlab.cpio.gz"
cat "$OUT/initrd.img" "$TMPW/netlab.cpio.gz" >"$OUT/initrd-netlab.img.tmp"
mv -f "$OUT/initrd-netlab.img.tmp" "$OUT/initrd-netlab.img"
log "done: $OUT/initrd-netlab.img ($(du -k "$OUT/initrd-netlab.img" | cut -f1) KiB)"
