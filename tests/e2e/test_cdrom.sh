#!/usr/bin/env bash
# test_cdrom.sh - CD drives, boot order and cloud-init: a VM boots from an
# ISO the test makes (grub-mkrescue with the test guest's kernel) by
# --boot cdrom,disk; the test guest gets media inserted and ejected while
# it runs and while it is off, and a NoCloud seed from --cloud-init and
# --ssh-key that it reads as its second CD, with tern's network-config (its
# NICs by MAC, one given a static address by --cloud-init-net); the seed
# goes with the VM.  Bad input (an ISO outside the pools and iso-dirs,
# media on a VM without a CD drive, user-data that is not YAML, a key that
# is not a key, boot devices the VM lacks, a static address for a NIC the
# VM lacks, a malformed one, a gateway outside its prefix) refused with no
# trace.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cdrom 141
work=$TERN_LAB.work
rm -rf "$work" && mkdir -p "$work/iso" "$work/other" "$work/boot/boot/grub"
chmod 755 "$work" "$work/iso"
e2e_at_exit "rm -rf '$work'"
echo "iso-dir = $work/iso" >"$work/ternd.conf"
lab up 1 --config "$work/ternd.conf" >/dev/null
pool=$(labenv H1_POOL_DIR)
t h1 switch create lan >/dev/null

# A bootable ISO (BIOS and EFI) with the test guest, and a data ISO.
cp "$GUEST/vmlinuz" "$GUEST/initrd.img" "$work/boot/boot/"
cat >"$work/boot/boot/grub/grub.cfg" <<'EOF'
set timeout=0
serial --unit=0 --speed=115200
terminal_output serial console
menuentry tern {
	linux /boot/vmlinuz console=ttyS0 quiet tern.hostname=fromcd tern.workload=idle
	initrd /boot/initrd.img
}
EOF
grub-mkrescue -o "$work/iso/boot.iso" "$work/boot" >/dev/null 2>&1
echo "hello from the cd" >"$work/hello.txt"
genisoimage -quiet -V TERNDATA -o "$work/iso/data.iso" "$work/hello.txt"
cp "$work/iso/data.iso" "$work/other/data.iso"
chmod 644 "$work/iso/"*.iso

# ---- boot from a CD by the boot order ----
t h1 vm create fromcd --cpus 1 --memory 256M --disk 64M \
    --cdrom "$work/iso/boot.iso" --boot cdrom,disk >/dev/null
check_eq "the CD drive holds the ISO" "$(vm_field h1 fromcd .cdrom)" \
    "$work/iso/boot.iso"
check_eq "boot order recorded" "$(vm_field h1 fromcd '.boot | join(",")')" \
    cdrom,disk
t h1 vm start fromcd >/dev/null
# no kernel given and an empty disk: only the CD's GRUB boots it
check "the VM boots from its CD" wait_for 150 console_has h1 fromcd \
    TERN-GUEST-READY
fcuuid=$(vm_field h1 fromcd .uuid)
qcmd=$(tr '\0' ' ' </proc/"$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $fcuuid")"/cmdline)
check "the CD is first in QEMU's boot order" grep -q \
    'ide-cd,bus=ide.0,id=cd0,drive=cd0,bootindex=1' <<<"$qcmd"
check "the disk second" grep -q 'id=vda,werror=stop,rerror=stop,bootindex=2' \
    <<<"$qcmd"
t h1 vm stop fromcd >/dev/null
# (OVMF booting a CD by the boot order: test_iso_boot.sh)

# ---- the test guest with an empty drive and a cloud-init seed ----
cat >"$work/user-data" <<'EOF'
#cloud-config
hostname: seeded
packages: [postgresql]
EOF
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx0 op@tern" >"$work/key.pub"
guest_create h1 ci idle --cdrom none --cloud-init "$work/user-data" \
    --ssh-key "$work/key.pub" --net lan --net lan \
    --cloud-init-net nic1=192.0.2.10/24,gw=192.0.2.1,dns=192.0.2.53 >/dev/null
ciuuid=$(vm_field h1 ci .uuid)
mac0=$(vm_field h1 ci '.nics[0].mac')
mac1=$(vm_field h1 ci '.nics[1].mac')
check_eq "the static address is recorded" \
    "$(vm_field h1 ci '.cloud_init_net.nic1 | "\(.addr)/\(.prefix) \(.gw) \(.dns[0])"')" \
    "192.0.2.10/24 192.0.2.1 192.0.2.53"
isoinfo -R -x /network-config -i "$pool/ci-seed.iso" >"$work/network-config" 2>/dev/null || true
echo "# network-config:"; sed 's/^/#   /' "$work/network-config"
check "the seed holds a network-config, version 2" grep -qx 'version: 2' "$work/network-config"
check "nic0 matched by its MAC, by DHCP" bash -c \
    "grep -A3 '^  nic0:' '$work/network-config' | grep -qx '      macaddress: \"$mac0\"' &&
     grep -A3 '^  nic0:' '$work/network-config' | grep -qx '    dhcp4: true'"
check "nic1 matched by its MAC, its static address" bash -c \
    "grep -A5 '^  nic1:' '$work/network-config' | grep -qx '      macaddress: \"$mac1\"' &&
     grep -A5 '^  nic1:' '$work/network-config' | grep -qx '      - \"192.0.2.10/24\"' &&
     grep -qx '        via: \"192.0.2.1\"' '$work/network-config' &&
     grep -qx '        - \"192.0.2.53\"' '$work/network-config'"
check "no set-name" bash -c "! grep -q set-name '$work/network-config'"
check "vm show lists the static address" grep -q \
    'nic1  192.0.2.10/24 gw 192.0.2.1' <<<"$(t h1 vm show ci)"
check_eq "an empty CD drive" "$(vm_field h1 ci '.cd_drive, .cdrom' | tr '\n' ' ')" \
    "true null "
check_eq "the seed is next to disk 0" "$(vm_field h1 ci .cloud_init_seed)" \
    "$pool/ci-seed.iso"
check "the seed is a cidata ISO" bash -c \
    "isoinfo -d -i '$pool/ci-seed.iso' | grep -q 'Volume id: cidata'"
check "its user-data is the operator's" bash -c \
    "isoinfo -R -x /user-data -i '$pool/ci-seed.iso' | cmp - '$work/user-data'"
check "its meta-data is tern's" bash -c \
    "isoinfo -R -x /meta-data -i '$pool/ci-seed.iso' | grep -qx 'instance-id: $ciuuid' &&
     isoinfo -R -x /meta-data -i '$pool/ci-seed.iso' | grep -qx 'local-hostname: ci' &&
     isoinfo -R -x /meta-data -i '$pool/ci-seed.iso' | grep -qF '  - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx0 op@tern\"'"
check "no staging left" test ! -e "$pool/.ci-seed.d"
t h1 vm start ci >/dev/null
check "the guest boots" wait_for 120 console_has h1 ci TERN-GUEST-READY
check "media insert while running" t h1 vm media insert ci "$work/iso/data.iso"
check_eq "recorded" "$(vm_field h1 ci .cdrom)" "$work/iso/data.iso"
lab stop h1 >/dev/null
# the volume id of an ISO 9660 image: 32 bytes at 32808
label() { qga h1 ci exec dd if="$1" bs=1 skip=32808 count=8 2>/dev/null; }
label_is() { [ "$(label "$1")" = "$2" ]; }
# (the first read after a change may report it to the guest)
if wait_for 20 label_is /dev/sr0 TERNDATA; then
	ok "the guest reads the inserted ISO"
else
	not_ok "the guest reads the inserted ISO"
	qga h1 ci exec dd if=/dev/sr0 bs=1 skip=32808 count=8 2>&1 | sed 's/^/#   /'
	qga h1 ci exec dmesg 2>&1 | tail -n 15 | sed 's/^/#   /'
fi
check "and the seed on its second CD" bash -c \
    ". '$REPO/tests/e2e/lib.sh'; qga h1 ci exec sh -c 'mkdir -p /mnt/s && mount -t iso9660 -o ro /dev/sr1 /mnt/s && cat /mnt/s/meta-data' |
     grep -qx 'local-hostname: ci'"
gmac=$(qga h1 ci exec cat /sys/class/net/eth0/address 2>/dev/null | tr -d '\r\n' || true)
check_eq "the guest's first NIC is nic0" "$gmac" "$mac0"
check "the guest reads network-config with its MAC" bash -c \
    ". '$REPO/tests/e2e/lib.sh'; qga h1 ci exec cat /mnt/s/network-config |
     grep -qxF '      macaddress: \"$gmac\"'"
lab start h1 >/dev/null
check "media eject while running" t h1 vm media eject ci
check_eq "recorded as empty" "$(vm_field h1 ci .cdrom)" null
lab stop h1 >/dev/null
check_eq "the guest's drive is empty" "$(label /dev/sr0 || true)" ""
lab start h1 >/dev/null
t h1 vm stop ci >/dev/null
check "media insert while off" t h1 vm media insert ci "$work/iso/data.iso"
check_eq "recorded for the next start" "$(vm_field h1 ci .cdrom)" \
    "$work/iso/data.iso"
check "media eject while off" t h1 vm media eject ci
check_eq "empty again" "$(vm_field h1 ci .cdrom)" null

# ---- bad input ----
t h1 vm create nocd --cpus 1 --memory 64M --disk 64M >/dev/null
check_err "media insert on a VM without a CD drive" 1 "has no CD drive" \
    t h1 vm media insert nocd "$work/iso/data.iso"
check_err "an ISO outside pools and iso-dirs (media)" 1 \
    "outside the storage pools and the iso-dir" \
    t h1 vm media insert ci "$work/other/data.iso"
check_eq "the drive did not change" "$(vm_field h1 ci .cdrom)" null
check_err "an ISO outside pools and iso-dirs (create)" 1 \
    "outside the storage pools and the iso-dir" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M \
    --cdrom "$work/other/data.iso"
check_err "a missing ISO" 1 "does not exist" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M \
    --cdrom "$work/iso/nope.iso"
printf '#cloud-config\npackages: [vim\nhostname: x\n' >"$work/bad.yaml"
check_err "user-data that is not YAML" 1 "not valid YAML: line" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M \
    --cloud-init "$work/bad.yaml"
echo "just some words" >"$work/words.yaml"
check_err "user-data that is not a mapping" 1 "YAML mapping" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M \
    --cloud-init "$work/words.yaml"
echo "not a key" >"$work/bad.pub"
check_err "an SSH key file without keys" 1 "not an OpenSSH public key" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M \
    --cloud-init "$work/user-data" --ssh-key "$work/bad.pub"
check_err "--ssh-key without --cloud-init" 1 "--cloud-init" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M \
    --ssh-key "$work/key.pub"
check_err "--cloud-init-net for a NIC the VM lacks" 1 \
    "the VM has no NIC 'nic1' (it has nic0..nic0" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M --net lan \
    --cloud-init "$work/user-data" --cloud-init-net nic1=192.0.2.10/24
check_err "--cloud-init-net with a malformed address" 1 \
    "--cloud-init-net nic0: address '192.0.2.300' is not an IPv4 or IPv6 address" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M --net lan \
    --cloud-init "$work/user-data" --cloud-init-net nic0=192.0.2.300/24
check_err "--cloud-init-net with a gateway outside the prefix" 1 \
    "gateway '192.0.3.1' is outside 192.0.2.10/24" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M --net lan \
    --cloud-init "$work/user-data" \
    --cloud-init-net nic0=192.0.2.10/24,gw=192.0.3.1
check_err "--cloud-init-net without --cloud-init" 1 "give --cloud-init FILE" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M --net lan \
    --cloud-init-net nic0=192.0.2.10/24
check_err "network boot without a NIC" 1 "--net" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M --boot network
check_err "kernel boot without a kernel" 1 "--kernel" \
    t h1 vm create bad --cpus 1 --memory 64M --disk 64M --boot kernel,disk
check_err "no vm was made" 1 "not found" t h1 vm show bad
check "no file was left" bash -c "! ls -A '$pool' | grep -q 'bad'"

# ---- the seed goes with the VM ----
t h1 vm delete ci >/dev/null
check "the seed is removed with the vm" test ! -e "$pool/ci-seed.iso"
check "the ISOs the vm used stay" test -f "$work/iso/data.iso"

e2e_openapi_check
e2e_finish
