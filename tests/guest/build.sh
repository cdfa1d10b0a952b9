#!/bin/bash
# build.sh OUTDIR - builds the tern test guest from Debian packages only:
#   OUTDIR/vmlinuz     Debian's linux-image-6.1.0-*-amd64 kernel
#   OUTDIR/initrd.img  gzip'd newc initramfs: busybox, qemu-ga, virtio modules, workloads
#   OUTDIR/verify      host-side checker for the disk workload
# Installs missing build packages with apt-get; never installs a kernel on the
# host and never downloads anything except through apt.  Idempotent: a step is
# skipped while its output is newer than all of its inputs.
# shellcheck disable=SC2012  # ls -t on our own cache of Debian .deb names
set -euo pipefail

usage() {
	echo "usage: $0 OUTDIR" >&2
	exit 2
}
[ $# -eq 1 ] || usage

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CACHE=$OUT/cache
OBJ=$OUT/obj
mkdir -p "$CACHE" "$OBJ"

CFLAGS=(-std=gnu17 -O2 -Wall -Wextra -Werror)
# ahci, sr_mod, isofs: CD drives on q35's AHCI (--cdrom, cloud-init's seed)
MODULES=(virtio_pci virtio_blk virtio_net virtio_console virtio_rng virtio_balloon loop ext4
	ahci sr_mod isofs)
BUILD_PKGS=(busybox-static qemu-guest-agent cpio gzip kmod gcc libc6-dev)

log() { echo "build.sh: $*"; }

. "$HERE/pkgs.sh"

# true if $1 exists and nothing among the other arguments is newer than it
up_to_date() {
	local out=$1
	shift
	[ -e "$out" ] || return 1
	[ -z "$(find "$@" -newer "$out" -print -quit)" ]
}

kernel_pkg_name() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ { print $2; exit }'
}

# Sets KDEB to the cached .deb of Debian's current amd64 kernel (apt-get download).
fetch_kernel_deb() {
	local pkg deb
	pkg=$(kernel_pkg_name)
	if [ -z "$pkg" ]; then
		apt_update_once
		pkg=$(kernel_pkg_name)
	fi
	if [ -z "$pkg" ]; then
		# no apt lists at all: fall back to what is already cached
		KDEB=$(ls -t "$CACHE"/linux-image-*-amd64_*.deb 2>/dev/null | head -n1 || true)
		[ -n "$KDEB" ] || { log "cannot resolve linux-image-amd64's kernel package"; exit 1; }
		log "apt cannot resolve the kernel; using cached $(basename "$KDEB")"
		return
	fi
	deb=$(ls -t "$CACHE/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		log "apt-get download $pkg"
		if ! (cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg"); then
			apt_update_once
			(cd "$CACHE" && apt-get download -q -o APT::Sandbox::User=root "$pkg")
		fi
		deb=$(ls -t "$CACHE/${pkg}"_*.deb | head -n1)
		# drop older kernels from the cache
		find "$CACHE" -maxdepth 1 -name 'linux-image-*.deb' ! -name "$(basename "$deb")" -delete
	fi
	KDEB=$deb
}

TMPW=
cleanup() {
	if [ -n "$TMPW" ]; then
		rm -rf "$TMPW"
	fi
}
trap cleanup EXIT

ensure_packages "${BUILD_PKGS[@]}"
fetch_kernel_deb
log "kernel package $(basename "$KDEB")"

# ---- host verifier ----
if up_to_date "$OUT/verify" "$HERE/verify.c" "$HERE/record.h" "$HERE/build.sh"; then
	log "verify up to date"
else
	log "cc verify"
	gcc "${CFLAGS[@]}" -o "$OUT/verify.tmp" "$HERE/verify.c"
	mv -f "$OUT/verify.tmp" "$OUT/verify"
fi

# ---- static guest programs ----
for prog in diskwriter dirtier memcheck; do
	if up_to_date "$OBJ/tern-$prog" "$HERE/$prog.c" "$HERE/record.h" "$HERE/build.sh"; then
		continue
	fi
	log "cc -static tern-$prog"
	gcc "${CFLAGS[@]}" -static -o "$OBJ/tern-$prog.tmp" "$HERE/$prog.c"
	strip "$OBJ/tern-$prog.tmp"
	mv -f "$OBJ/tern-$prog.tmp" "$OBJ/tern-$prog"
done

QGA=/usr/sbin/qemu-ga
BUSYBOX=/bin/busybox
qga_libs() {
	ldd "$QGA" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u
}

# Host files copied into the guest keep their package mtimes when apt upgrades
# them, so track them by content: the stamp is rewritten only when it changes.
HOST_STAMP=$OBJ/host-inputs.stamp
host_inputs=$(
	echo "kernel $(basename "$KDEB")"
	qga_libs | xargs readlink -f | xargs sha256sum "$QGA" "$BUSYBOX"
)
if [ ! -f "$HOST_STAMP" ] || [ "$(cat "$HOST_STAMP")" != "$host_inputs" ]; then
	printf '%s\n' "$host_inputs" >"$HOST_STAMP"
fi

INITRD_INPUTS=("$HERE/init" "$HERE/shutdown" "$HERE/udhcpc.script" "$HERE/build.sh"
	"$OBJ/tern-diskwriter" "$OBJ/tern-dirtier" "$OBJ/tern-memcheck"
	"$HOST_STAMP")
if up_to_date "$OUT/vmlinuz" "$HOST_STAMP" "$HERE/build.sh" &&
	up_to_date "$OUT/initrd.img" "${INITRD_INPUTS[@]}"; then
	log "vmlinuz and initrd.img up to date"
	exit 0
fi

# ---- kernel and modules from the .deb ----
TMPW=$(mktemp -d "$OUT/.build.XXXXXX")
KX=$TMPW/kernel
ROOT=$TMPW/root
mkdir -p "$KX" "$ROOT"
log "extracting $(basename "$KDEB")"
dpkg-deb -x "$KDEB" "$KX"
KMODDIR=
for d in "$KX"/lib/modules/* "$KX"/usr/lib/modules/*; do
	if [ -d "$d/kernel" ]; then
		KMODDIR=$d
		break
	fi
done
[ -n "$KMODDIR" ] || { log "no modules in $KDEB"; exit 1; }
KVER=$(basename "$KMODDIR")
if [ "$KMODDIR" = "$KX/usr/lib/modules/$KVER" ] && [ ! -e "$KX/lib/modules" ]; then
	mkdir -p "$KX/lib"
	ln -s ../usr/lib/modules "$KX/lib/modules"
fi
[ -f "$KX/boot/vmlinuz-$KVER" ] || { log "no vmlinuz-$KVER in $KDEB"; exit 1; }
log "kernel $KVER"
depmod -b "$KX" "$KVER"

# ---- initramfs tree ----
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,etc/tern,proc,sys,dev,run,tmp,mnt,root,var/log}
mkdir -p "$ROOT/lib/modules" "$ROOT/usr/share/udhcpc" "$ROOT/etc/qemu"
ln -s ../run "$ROOT/var/run"
chmod 1777 "$ROOT/tmp"

# busybox and its applet links
install -m 0755 "$BUSYBOX" "$ROOT/bin/busybox"
while read -r applet; do
	[ -n "$applet" ] || continue
	dir=$(dirname "$applet")
	case "$dir" in
	bin) rel=busybox ;;
	sbin | usr) rel=../bin/busybox ;;
	usr/bin | usr/sbin) rel=../../bin/busybox ;;
	*) continue ;;
	esac
	[ -e "$ROOT/$applet" ] || ln -s "$rel" "$ROOT/$applet"
done < <("$ROOT/bin/busybox" --list-full)

# qemu-ga with every shared library ldd names, at the same paths
install -m 0755 "$QGA" "$ROOT/usr/sbin/qemu-ga"
qga_libs | while read -r lib; do
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib"
done

# kernel modules, flat, with the load order modprobe would use
: >"$ROOT/etc/tern/modules.list"
modprobe -d "$KX" -S "$KVER" -a --show-depends "${MODULES[@]}" |
	awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' |
	while read -r ko; do
		install -m 0644 "$ko" "$ROOT/lib/modules/$(basename "$ko")"
		basename "$ko" >>"$ROOT/etc/tern/modules.list"
	done
log "modules: $(tr '\n' ' ' <"$ROOT/etc/tern/modules.list")"

# our programs and scripts
install -m 0755 "$HERE/init" "$ROOT/init"
install -m 0755 "$HERE/shutdown" "$ROOT/sbin/shutdown"
install -m 0755 "$HERE/udhcpc.script" "$ROOT/usr/share/udhcpc/default.script"
install -m 0755 "$OBJ/tern-diskwriter" "$ROOT/usr/bin/tern-diskwriter"
install -m 0755 "$OBJ/tern-dirtier" "$ROOT/usr/bin/tern-dirtier"
install -m 0755 "$OBJ/tern-memcheck" "$ROOT/usr/bin/tern-memcheck"

# configuration
cat >"$ROOT/etc/os-release" <<EOF
NAME="tern test guest"
ID=tern-guest
ID_LIKE=debian
VERSION_ID=1
VERSION="1 (Debian kernel $KVER)"
PRETTY_NAME="tern test guest 1 (Debian kernel $KVER)"
EOF
mkdir -p "$ROOT/usr/lib"
ln -s ../../etc/os-release "$ROOT/usr/lib/os-release"
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOT/etc/passwd"
printf 'root:x:0:\ntty:x:5:\n' >"$ROOT/etc/group"
echo "tern-guest" >"$ROOT/etc/hostname"
: >"$ROOT/etc/resolv.conf"
cat >"$ROOT/etc/profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
PS1='\h:\w# '
EOF
echo "$KVER" >"$ROOT/etc/tern/kernel-version"
# the console node the kernel opens before /init runs (needs root; /init copes without)
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || log "mknod /dev/console skipped (not root)"

# ---- pack ----
log "packing initrd.img"
find "$ROOT" -exec touch -h -d @1 {} +
(cd "$ROOT" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) |
	gzip -9n >"$OUT/initrd.img.tmp"
mv -f "$OUT/initrd.img.tmp" "$OUT/initrd.img"
install -m 0644 "$KX/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
mv -f "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
echo "$KVER" >"$OUT/kernel-version"
log "done: $OUT/vmlinuz ($KVER), $OUT/initrd.img ($(du -k "$OUT/initrd.img" | cut -f1) KiB), $OUT/verify"
