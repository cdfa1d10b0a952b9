#!/usr/bin/env bash
# test_uefi.sh - a VM with UEFI (OVMF) and a TPM 2.0 (swtpm): its NVRAM
# and TPM state made next to its first disk, the test guest booted by
# OVMF (its kernel's EFI stub) seeing /dev/tpm0, its swtpm outliving a
# ternd restart and ending with QEMU, Secure Boot on q35 with SMM, the
# files gone with the VM; bad input (Secure Boot without UEFI, OVMF or
# swtpm missing, a file in the way, a bad boot order) refused with no
# trace; a network-first VM runs QEMU's iPXE ROM.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup uefi 140
work=$TERN_LAB.work
rm -rf "$work" && mkdir -p "$work"
e2e_at_exit "rm -rf '$work'"
cfg=$work/ternd.conf
: >"$cfg"
lab up 1 --config "$cfg" >/dev/null
pool=$(labenv H1_POOL_DIR)
run=$(labenv H1_RUN_DIR)
swtpm_of() { pgrep -f -- "swtpm socket --tpm2 .*$run/vms/$1/swtpm.sock" || true; }
qemu_of() { pgrep -f -- "^qemu-system-x86_64 .*-uuid $1" || true; }

# ---- a UEFI + TPM guest ----
GUEST_FIRMWARE=uefi GUEST_TPM=1 guest_create h1 g idle >/dev/null
uuid=$(vm_field h1 g .uuid)
check_eq "firmware recorded" "$(vm_field h1 g .firmware)" uefi
check_eq "tpm recorded" "$(vm_field h1 g .tpm)" true
check_eq "NVRAM next to disk 0" "$(vm_field h1 g .nvram)" "$pool/g-nvram.fd"
check_eq "TPM state next to disk 0" "$(vm_field h1 g .tpm_dir)" "$pool/g-tpm"
check "NVRAM is a copy of OVMF's template" cmp "$pool/g-nvram.fd" \
    /usr/share/OVMF/OVMF_VARS_4M.fd
check "TPM directory made" test -d "$pool/g-tpm"
# ---- and one with Secure Boot: the secboot build, Microsoft's keys ----
GUEST_FIRMWARE=uefi guest_create h1 sb idle --secure-boot >/dev/null
sbuuid=$(vm_field h1 sb .uuid)
check_eq "secure boot recorded" "$(vm_field h1 sb .secure_boot)" true
check "its NVRAM has Microsoft's keys" cmp "$pool/sb-nvram.fd" \
    /usr/share/OVMF/OVMF_VARS_4M.ms.fd
t h1 vm start g >/dev/null
t h1 vm start sb >/dev/null
check "OVMF boots the guest" wait_for 150 console_has h1 g TERN-GUEST-READY
check "and the Secure Boot one" wait_for 150 console_has h1 sb \
    TERN-GUEST-READY
check "a swtpm runs for the vm" test -n "$(swtpm_of "$uuid")"
check "the TPM's state is kept in its directory" \
    test -f "$pool/g-tpm/tpm2-00.permall"
check "QEMU runs q35 with SMM and secure pflash" bash -c \
    "tr '\\0' ' ' </proc/$(qemu_of "$sbuuid")/cmdline | grep -q 'smm=on.*property=secure,value=on'"
check "no swtpm for a vm without a TPM" test -z "$(swtpm_of "$sbuuid")"
qpid=$(qemu_of "$uuid")
spid=$(swtpm_of "$uuid")

# ternd away: QEMU and swtpm stay; the guests see their firmware and TPM
# (the agent channel takes one client, so ask while ternd is down).
lab stop h1 >/dev/null
check_eq "QEMU outlives ternd" "$(qemu_of "$uuid")" "$qpid"
check_eq "swtpm outlives ternd" "$(swtpm_of "$uuid")" "$spid"
check_eq "the guest booted through UEFI" \
    "$(qga h1 g exec ls -d /sys/firmware/efi)" /sys/firmware/efi
check_eq "the guest sees /dev/tpm0" "$(qga h1 g exec ls /dev/tpm0)" /dev/tpm0
check_eq "a TPM 2.0" \
    "$(qga h1 g exec cat /sys/class/tpm/tpm0/tpm_version_major)" 2
if qga h1 sb exec dmesg | grep -q 'Secure boot enabled'; then
	ok "the Secure Boot guest's kernel sees it on"
else
	not_ok "the Secure Boot guest's kernel sees it on"
fi
lab start h1 >/dev/null
check_eq "running after the ternd restart" "$(vm_field h1 g .state)" running
check_eq "same QEMU" "$(qemu_of "$uuid")" "$qpid"
check "agent answers again" wait_for 60 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"

# swtpm ends with its QEMU; a new start has a new one on the same state.
no_swtpm() { [ -z "$(swtpm_of "$1")" ]; }
t h1 vm stop g >/dev/null
t h1 vm stop sb >/dev/null
check "swtpm ends with QEMU" wait_for 10 no_swtpm "$uuid"
t h1 vm start g >/dev/null
check "a new start runs a new swtpm" test -n "$(swtpm_of "$uuid")"
check_eq "and the vm runs" "$(vm_field h1 g .state)" running
# A saved state restores onto a new swtpm with the same TPM state.
check "the guest boots again (its NVRAM kept)" wait_for 150 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
check "save a UEFI+TPM vm" t h1 vm save g
check "no swtpm while saved" wait_for 10 no_swtpm "$uuid"
check "restore it" t h1 vm start g
check "swtpm again for the restored vm" test -n "$(swtpm_of "$uuid")"
check "the restored guest answers" wait_for 60 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
t h1 vm stop g >/dev/null

# ---- network boot first: QEMU's iPXE ROM (ipxe-qemu), seen under OVMF ----
t h1 switch create lan >/dev/null
t h1 vm create pxe --cpus 1 --memory 256M --disk 64M --net lan \
    --firmware uefi --boot network,disk >/dev/null
t h1 vm start pxe >/dev/null
check "a network-first vm runs iPXE" wait_for 120 console_has h1 pxe iPXE
check "OVMF tries PXE first" wait_for 60 console_has h1 pxe "PXEv4"
t h1 vm stop pxe >/dev/null
t h1 vm delete pxe >/dev/null

# ---- bad input: clear errors, nothing made ----
check_err "secure boot without UEFI" 1 "--firmware uefi" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --secure-boot
check_err "an unknown firmware" 1 "bios or uefi" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --firmware efi
check_err "an unknown boot device" 1 "disk, cdrom, network, kernel" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --boot floppy
check_err "boot from cdrom without a CD drive" 1 "--cdrom" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --boot cdrom
: >"$pool/bad1-nvram.fd"
check_err "an NVRAM file in the way" 1 "bad1-nvram.fd' already exists" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --firmware uefi
rm -f "$pool/bad1-nvram.fd"
echo "swtpm = $work/no-such-swtpm" >"$cfg"
lab stop h1 >/dev/null && lab start h1 >/dev/null
check_err "--tpm without swtpm names the package" 1 "package swtpm" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --tpm
echo "ovmf-dir = $work/no-ovmf" >"$cfg"
lab stop h1 >/dev/null && lab start h1 >/dev/null
check_err "UEFI without OVMF names the package" 1 "package ovmf" \
    t h1 vm create bad1 --cpus 1 --memory 64M --disk 64M --firmware uefi
check_err "a UEFI vm cannot start without OVMF" 1 "package ovmf" t h1 vm start g
: >"$cfg"
lab stop h1 >/dev/null && lab start h1 >/dev/null
check_err "no vm was made" 1 "not found" t h1 vm show bad1
check "no file was left" bash -c "! ls '$pool' | grep -q '^bad1'"

# ---- the files go with the VM ----
t h1 vm delete g >/dev/null
t h1 vm delete sb >/dev/null
check "NVRAM removed with the vm" test ! -e "$pool/g-nvram.fd"
check "TPM state removed with the vm" test ! -e "$pool/g-tpm"
check "secure boot NVRAM removed" test ! -e "$pool/sb-nvram.fd"
check "nothing of theirs is left" bash -c "! ls '$pool' | grep -q '^g-\|^sb-'"
check "no swtpm left" no_swtpm "$uuid"

e2e_openapi_check
e2e_finish
