#!/bin/bash
# build-debian.sh OUTDIR - builds a small Debian 12 (bookworm) disk image from
# Debian's packages, bootable by BIOS and by UEFI with Secure Boot:
#   OUTDIR/debian.qcow2   compressed qcow2, GPT:
#                           p1 BIOS boot (1 MiB, GRUB's core.img for BIOS)
#                           p2 ESP (FAT, shim -> Debian-signed GRUB)
#                           p3 root (ext4, label "root")
#   OUTDIR/debian.info    kernel version, root UUID, sizes
# Needs root (debootstrap, chroot), but no loop device, no mount and no nbd:
# the root filesystem is made with `mkfs.ext4 -d` from the debootstrap tree, the
# ESP with mtools, and the GPT with sfdisk; the pieces are written into one raw
# file with dd.  Cached: rebuilt only when this script (which holds the package
# set) changes or the image is missing.  Downloaded .debs stay in OUTDIR/cache.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

usage() {
	echo "usage: $0 OUTDIR" >&2
	exit 2
}
[ $# -eq 1 ] || usage

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
mkdir -p "$1"
OUT=$(cd "$1" && pwd)
CACHE=$OUT/cache
mkdir -p "$CACHE/debs" "$CACHE/host"

SUITE=bookworm
MIRROR=${TERN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Packages in the guest.  grub and shim are not installed in the guest: their
# Debian builds are unpacked from their .debs on the host (their maintainer
# scripts want a real disk to install to), see fetch_boot_debs.
GUEST_PKGS=(systemd systemd-sysv udev dbus linux-image-amd64 initramfs-tools
	qemu-guest-agent cloud-init cloud-guest-utils openssh-server postgresql postgresql-contrib
	ifupdown isc-dhcp-client iproute2 netbase ca-certificates
	mokutil tpm2-tools e2fsprogs procps less)
BOOT_DEBS=(shim-signed grub-efi-amd64-signed)
HOST_PKGS=(debootstrap qemu-utils fdisk dosfstools mtools e2fsprogs grub-pc-bin
	grub-common)
DISK_MIB=1400 # virtual size of the image
BIOS_MIB=1    # p1 starts at 1 MiB
ESP_MIB=63    # p2 right after, so p3 starts at 65 MiB
CMDLINE="console=tty0 console=ttyS0,115200n8"

log() { echo "build-debian.sh: $*"; }

. "$HERE/pkgs.sh"

# The stamp: everything that decides the image's content.  The package set and
# every step live in this script (and the BIOS boot writer), so their hash is
# the input.
STAMP=$OUT/debian.stamp
stamp_text() {
	echo "script $(cat "$SELF" "$HERE/grub_bios_embed.py" | sha256sum | cut -d' ' -f1)"
	echo "suite $SUITE mirror $MIRROR"
}
if [ -f "$OUT/debian.qcow2" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(stamp_text)" ]; then
	log "debian.qcow2 up to date"
	exit 0
fi
[ "$(id -u)" = 0 ] || { log "needs root (debootstrap and chroot); run it as root"; exit 1; }

T0=$(date +%s)
ensure_packages "${HOST_PKGS[@]}"

WORK=
mount_chroot() {
	local m
	for m in proc sys dev dev/pts; do
		mkdir -p "$ROOT/$m"
	done
	mount -t proc proc "$ROOT/proc"
	mount -t sysfs sys "$ROOT/sys"
	mount --bind /dev "$ROOT/dev"
	mount --bind /dev/pts "$ROOT/dev/pts"
}
umount_chroot() {
	local m
	for m in var/cache/apt/archives dev/pts dev sys proc; do
		if mountpoint -q "$ROOT/$m"; then umount "$ROOT/$m"; fi
	done
	return 0
}
cleanup() {
	if [ -n "$WORK" ]; then
		umount_chroot
		# never recurse into a /dev or /proc still bound in the chroot
		if grep -qF " $WORK/" /proc/mounts; then
			log "left $WORK: something is still mounted in it"
		else
			rm -rf --one-file-system "$WORK"
		fi
	fi
}
trap cleanup EXIT
WORK=$(mktemp -d "$OUT/.build.XXXXXX")
ROOT=$WORK/root

# Sets BOOTX to a tree holding shim's and the signed GRUB's files.
fetch_boot_debs() {
	local p deb
	BOOTX=$WORK/bootx
	mkdir -p "$BOOTX"
	for p in "${BOOT_DEBS[@]}"; do
		deb=$(find "$CACHE/host" -maxdepth 1 -name "${p}_*.deb" | sort | tail -n1)
		if [ -z "$deb" ]; then
			log "apt-get download $p"
			(cd "$CACHE/host" && apt-get download -q -o APT::Sandbox::User=root "$p")
			deb=$(find "$CACHE/host" -maxdepth 1 -name "${p}_*.deb" | sort | tail -n1)
		fi
		dpkg-deb -x "$deb" "$BOOTX"
	done
}

# ---- 1. the root tree: debootstrap's minimal base, then apt in the chroot ----
# (apt resolves the package set; debootstrap --include does not handle
# alternatives and fails configuring cloud-init's Python dependencies)
log "debootstrap $SUITE ($MIRROR)"
debootstrap --variant=minbase --cache-dir="$CACHE/debs" \
	"$SUITE" "$ROOT" "$MIRROR" >"$OUT/build.log" 2>&1 ||
	{ tail -n 30 "$OUT/build.log"; log "debootstrap failed (log: $OUT/build.log)"; exit 1; }
mount_chroot
# no service starts in the chroot
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
mkdir -p "$CACHE/apt"
mount --bind "$CACHE/apt" "$ROOT/var/cache/apt/archives"
log "apt-get install ${#GUEST_PKGS[@]} packages in the chroot"
{
	echo "deb $MIRROR $SUITE main"
	echo "deb $MIRROR $SUITE-updates main"
	echo "deb http://security.debian.org/debian-security $SUITE-security main"
} >"$ROOT/etc/apt/sources.list"
if ! {
	chroot "$ROOT" apt-get update -q &&
		chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			--no-install-recommends "${GUEST_PKGS[@]}"
} >>"$OUT/build.log" 2>&1; then
	tail -n 30 "$OUT/build.log"
	log "apt-get install in the chroot failed (log: $OUT/build.log)"
	exit 1
fi
umount "$ROOT/var/cache/apt/archives"
T1=$(date +%s)
log "debootstrap and apt took $((T1 - T0)) s"

ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
ESP_ID=$(printf '%08X' $((RANDOM * 65536 + RANDOM)))
ESP_UUID="${ESP_ID:0:4}-${ESP_ID:4:4}"
KVER=$(basename "$(find "$ROOT/lib/modules" -mindepth 1 -maxdepth 1 -type d | sort | tail -n1)")
log "kernel $KVER, root UUID $ROOT_UUID"

# ---- 2. configuration inside the tree ----
echo "debian" >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
cat >"$ROOT/etc/fstab" <<EOF
UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1
UUID=$ESP_UUID /boot/efi vfat umask=0077,nofail 0 2
EOF
mkdir -p "$ROOT/boot/efi"
cat >"$ROOT/etc/network/interfaces" <<'EOF'
# cloud-init writes /etc/network/interfaces.d/50-cloud-init
source /etc/network/interfaces.d/*
auto lo
iface lo inet loopback
EOF
mkdir -p "$ROOT/etc/cloud/cloud.cfg.d"
cat >"$ROOT/etc/cloud/cloud.cfg.d/90-tern.cfg" <<'EOF'
# tern: provisioned by a NoCloud seed (a CD labelled cidata)
datasource_list: [ NoCloud, None ]
# no locales package: C.UTF-8 is built into libc (update-locale refuses others)
locale: C.UTF-8
EOF
# no password anywhere: root is locked; access is by cloud-init's SSH keys
chroot "$ROOT" passwd -l root >/dev/null
# the agent starts when its virtio port appears (udev), sshd from its unit
chroot "$ROOT" systemctl enable ssh.service >/dev/null 2>&1 || true
chroot "$ROOT" systemctl enable cloud-init.service cloud-init-local.service \
	cloud-config.service cloud-final.service >/dev/null 2>&1 || true
# a fresh SSH host key and machine-id per VM (cloud-init and systemd make them)
rm -f "$ROOT"/etc/ssh/ssh_host_*
: >"$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"

# the initramfs must find virtio disks without the host's hardware
echo 'MODULES=most' >"$ROOT/etc/initramfs-tools/conf.d/tern"
chroot "$ROOT" update-initramfs -u -k "$KVER" >>"$OUT/build.log" 2>&1
chroot "$ROOT" apt-get clean
rm -f "$ROOT/usr/sbin/policy-rc.d"
umount_chroot

# smaller: no docs, man pages or translations (dpkg keeps them out from now on)
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-tern-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
find "$ROOT/usr/share/doc" -type f ! -name copyright -delete
rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/*
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/var/log/*.log \
	"$ROOT"/tmp/* "$ROOT"/var/tmp/*

# ---- 3. GRUB: one menu, used by BIOS and UEFI alike ----
mkdir -p "$ROOT/boot/grub"
cat >"$ROOT/boot/grub/grub.cfg" <<EOF
set timeout=1
set default=0
serial --unit=0 --speed=115200
terminal_input console serial
terminal_output console serial
insmod part_gpt
insmod ext2
search --no-floppy --fs-uuid --set=root $ROOT_UUID
menuentry 'Debian GNU/Linux 12 (tern test image)' {
	linux /boot/vmlinuz-$KVER root=UUID=$ROOT_UUID ro $CMDLINE
	initrd /boot/initrd.img-$KVER
}
EOF
# BIOS: GRUB's modules from the host's grub-pc-bin (Debian's build) in /boot/grub
cp -r /usr/lib/grub/i386-pc "$ROOT/boot/grub/i386-pc"
rm -f "$ROOT"/boot/grub/i386-pc/*.image "$ROOT"/boot/grub/i386-pc/*.module
T2=$(date +%s)

# ---- 4. the root filesystem ----
DISK_SECTORS=$((DISK_MIB * 2048))
ROOT_START=$(((BIOS_MIB + ESP_MIB + 1) * 2048))
ROOT_SECTORS=$((DISK_SECTORS - ROOT_START - 2048)) # room for the backup GPT
log "mkfs.ext4 -d ($((ROOT_SECTORS / 2048)) MiB)"
mkfs.ext4 -q -F -L root -U "$ROOT_UUID" -d "$ROOT" -E root_owner=0:0 \
	"$WORK/root.ext4" "$((ROOT_SECTORS / 2))k" >/dev/null
used=$(du -sm "$ROOT" | cut -f1)

# ---- 5. the ESP: shim as the fallback loader, Debian's signed GRUB beside it ----
fetch_boot_debs
SHIM=$BOOTX/usr/lib/shim/shimx64.efi.signed
MM=$BOOTX/usr/lib/shim/mmx64.efi.signed
GRUBX=$BOOTX/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed
for f in "$SHIM" "$GRUBX"; do
	[ -f "$f" ] || { log "missing $f in ${BOOT_DEBS[*]}"; exit 1; }
done
# Debian's signed GRUB reads \EFI\debian\grub.cfg (its built-in prefix)
cat >"$WORK/esp-grub.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
configfile \$prefix/grub.cfg
EOF
ESP_IMG=$WORK/esp.fat
truncate -s "${ESP_MIB}M" "$ESP_IMG"
mkfs.vfat -n ESP -i "$ESP_ID" "$ESP_IMG" >/dev/null
export MTOOLS_SKIP_CHECK=1
mmd -i "$ESP_IMG" ::/EFI ::/EFI/BOOT ::/EFI/debian
mcopy -i "$ESP_IMG" "$SHIM" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$ESP_IMG" "$GRUBX" ::/EFI/BOOT/grubx64.efi
[ -f "$MM" ] && mcopy -i "$ESP_IMG" "$MM" ::/EFI/BOOT/mmx64.efi
mcopy -i "$ESP_IMG" "$WORK/esp-grub.cfg" ::/EFI/BOOT/grub.cfg
mcopy -i "$ESP_IMG" "$SHIM" ::/EFI/debian/shimx64.efi
mcopy -i "$ESP_IMG" "$GRUBX" ::/EFI/debian/grubx64.efi
mcopy -i "$ESP_IMG" "$WORK/esp-grub.cfg" ::/EFI/debian/grub.cfg

# ---- 6. the disk: GPT, then the pieces at their offsets ----
RAW=$WORK/disk.raw
truncate -s "${DISK_MIB}M" "$RAW"
sfdisk -q "$RAW" <<EOF
label: gpt
start=2048, size=$((BIOS_MIB * 2048)), type=21686148-6449-6E6F-744E-656564454649, name="bios"
start=$(((BIOS_MIB + 1) * 2048)), size=$((ESP_MIB * 2048)), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="esp"
start=$ROOT_START, size=$ROOT_SECTORS, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name="root"
EOF
dd if="$ESP_IMG" of="$RAW" bs=1M seek=$((BIOS_MIB + 1)) conv=notrunc,sparse status=none
dd if="$WORK/root.ext4" of="$RAW" bs=1M seek=$((ROOT_START / 2048)) conv=notrunc,sparse status=none

# BIOS: core.img in the BIOS boot partition, boot.img in the MBR (what
# grub-bios-setup does; it cannot run on an image file here).  The config
# baked into core.img finds the root by UUID and reads /boot/grub from it.
cat >"$WORK/core.cfg" <<EOF
search --no-floppy --fs-uuid --set=root $ROOT_UUID
set prefix=(\$root)/boot/grub
EOF
mkdir -p "$WORK/grubdir"
cp /usr/lib/grub/i386-pc/boot.img "$WORK/grubdir/"
grub-mkimage -O i386-pc -o "$WORK/grubdir/core.img" -c "$WORK/core.cfg" -p /boot/grub \
	biosdisk part_gpt ext2 search search_fs_uuid normal
[ "$(stat -c %s "$WORK/grubdir/core.img")" -le $((BIOS_MIB * 1048576)) ] ||
	{ log "core.img does not fit the BIOS boot partition"; exit 1; }
python3 "$HERE/grub_bios_embed.py" "$RAW" "$WORK/grubdir/boot.img" "$WORK/grubdir/core.img" 2048
T3=$(date +%s)

# ---- 7. compress ----
log "qemu-img convert -c"
qemu-img convert -c -f raw -O qcow2 -o compression_type=zlib "$RAW" "$OUT/debian.qcow2.tmp"
mv -f "$OUT/debian.qcow2.tmp" "$OUT/debian.qcow2"
T4=$(date +%s)
size=$(du -m "$OUT/debian.qcow2" | cut -f1)
cat >"$OUT/debian.info" <<EOF
suite=$SUITE
kernel=$KVER
root_uuid=$ROOT_UUID
esp_uuid=$ESP_UUID
cmdline=$CMDLINE
virtual_mib=$DISK_MIB
qcow2_mib=$size
rootfs_used_mib=$used
seconds_debootstrap=$((T1 - T0))
seconds_total=$((T4 - T0))
EOF
stamp_text >"$STAMP"
log "done in $((T4 - T0)) s (debootstrap $((T1 - T0)) s, configure $((T2 - T1)) s, disk $((T3 - T2)) s, compress $((T4 - T3)) s): $OUT/debian.qcow2 ($size MiB, ${DISK_MIB} MiB virtual, root tree $used MiB)"
