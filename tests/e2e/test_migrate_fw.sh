#!/usr/bin/env bash
# test_migrate_fw.sh - a UEFI+TPM VM's NVRAM and TPM state carried by live
# moves.  Over shared storage (there and back): the destination's swtpm
# runs on a directory of its own until the commit (the source's swtpm
# holds the shared one's lock) and writes to the shared one after it;
# shared-nothing: the destination's NVRAM file holds the source's
# variables and its TPM directory the source's state, the source's are
# gone.  Every time: one QEMU, one swtpm, the TPM's permanent state
# unchanged (a lost state would be a newly manufactured TPM: other
# seeds, another file), the guest never rebooted, and it boots again from
# the moved NVRAM.  A storage move carries both with disk 0, running (the
# NVRAM mirrored, the TPM state copied at the switch) and off.  An export
# holds both, and an import puts them next to its disk 0; so does a
# backup point, checked by its restore.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup migfw 150
export GUEST_FIRMWARE=uefi GUEST_TPM=1

lab up 2 --shared-pool >/dev/null
trust_both
SP=$(labenv LAB_SHARED_POOL)
P1=$(labenv H1_POOL_DIR); P2=$(labenv H2_POOL_DIR)
S1=$(labenv H1_STATE_DIR); S2=$(labenv H2_STATE_DIR)
sum() { md5sum <"$1" | cut -d' ' -f1; }

# ---- shared storage ----
shared_guest h1 g1 "disk:/dev/vdb:50"
U=$(vm_field h1 g1 .uuid)
check "the UEFI guest boots" wait_for 180 console_has h1 g1 TERN-GUEST-READY
check_eq "its NVRAM is next to its disk" "$(vm_field h1 g1 .nvram)" "$SP/g1-nvram.fd"
check_eq "its TPM state too" "$(vm_field h1 g1 .tpm_dir)" "$SP/g1-tpm"
check "swtpm wrote its state" test -s "$SP/g1-tpm/tpm2-00.permall"
check "h1's swtpm writes there" tpm_link_ok h1 "$U" "$SP/g1-tpm"
T0=$(sum "$SP/g1-tpm/tpm2-00.permall")
for dst in h2 h1; do
	src=$( [ $dst = h2 ] && echo h1 || echo h2 )
	check "shared move $src -> $dst" t "$src" vm move g1 --to "$dst"
	check_eq "g1 runs on $dst" "$(vm_where g1)" "$dst running"
	check_eq "one QEMU" "$(qemu_count "$U")" 1
	check_eq "one swtpm" "$(swtpm_count "$U")" 1
	check "$dst's swtpm writes to the shared state, no incoming dir left" \
	    tpm_link_ok "$dst" "$U" "$SP/g1-tpm"
	check_eq "the TPM state is the same" "$(sum "$SP/g1-tpm/tpm2-00.permall")" "$T0"
done
check "the verifier passes" verify_moved g1

# ---- shared-nothing ----
t h1 vm create g2 --cpus 1 --memory 256M --disk 256M@local --disk 64M@local \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g2 tern.workload=disk:/dev/vdb:50" \
    $(guest_fw_opts) >/dev/null
t h1 vm start g2 >/dev/null
U2=$(vm_field h1 g2 .uuid)
check "g2 boots" wait_for 180 console_has h1 g2 TERN-GUEST-READY
N0=$(sum "$P1/g2-nvram.fd"); T2=$(sum "$P1/g2-tpm/tpm2-00.permall")
check_eq "g2's NVRAM differs from the template (OVMF wrote it)" \
    "$( [ "$N0" != "$(sum /usr/share/OVMF/OVMF_VARS_4M.fd)" ] && echo yes)" yes
check "shared-nothing move h1 -> h2" t h1 vm move g2 --to h2
check_eq "g2 runs on h2" "$(vm_where g2)" "h2 running"
check_eq "its NVRAM is in h2's pool" "$(vm_field h2 g2 .nvram)" "$P2/g2-nvram.fd"
check_eq "with h1's variables" "$(sum "$P2/g2-nvram.fd")" "$N0"
check_eq "its TPM state in h2's pool, the same" \
    "$(sum "$P2/g2-tpm/tpm2-00.permall")" "$T2"
check "h2's swtpm writes there" tpm_link_ok h2 "$U2" "$P2/g2-tpm"
check "h1's copies are gone" bash -c "[ ! -e '$P1/g2-nvram.fd' ] && [ ! -e '$P1/g2-tpm' ]"
check_eq "one QEMU, one swtpm" "$(qemu_count "$U2") $(swtpm_count "$U2")" "1 1"
check "and back h2 -> h1" t h2 vm move g2 --to h1
check_eq "the variables came back" "$(sum "$P1/g2-nvram.fd")" "$N0"
check_eq "so did the TPM state" "$(sum "$P1/g2-tpm/tpm2-00.permall")" "$T2"
check "h2's copies are gone" bash -c "[ ! -e '$P2/g2-nvram.fd' ] && [ ! -e '$P2/g2-tpm' ]"

boots() { cat "$S1/vms/$1/console.log" "$S2/vms/$1/console.log" 2>/dev/null | grep -ac TERN-GUEST-READY; }
check_eq "neither guest rebooted" "$(boots "$U") $(boots "$U2")" "1 1"
# A restart boots from the moved NVRAM with the moved TPM.
t h1 vm stop g2 >/dev/null
check "g2 stops" wait_for 60 bash -c "[ \"\$($LAB_SH tern h1 vm show g2 --json | jq -r .state)\" = off ]"
check_eq "no swtpm left once it is off" "$(swtpm_count "$U2")" 0
t h1 vm start g2 >/dev/null
check "g2 boots again from its moved NVRAM" wait_for 180 bash -c "[ \$(cat '$S1/vms/$U2/console.log' | grep -ac TERN-GUEST-READY) -ge 2 ]"

# ---- storage moves on one host ----
N1=$(sum "$P1/g2-nvram.fd"); T3=$(sum "$P1/g2-tpm/tpm2-00.permall")
check "a running vm's disk 0 moves with its NVRAM and TPM" \
    t h1 vm move-storage g2 --to shared
check_eq "it still runs" "$(vm_field h1 g2 .state)" running
check_eq "its NVRAM moved next to disk 0" "$(vm_field h1 g2 .nvram)" "$SP/g2-nvram.fd"
check_eq "and its TPM directory" "$(vm_field h1 g2 .tpm_dir)" "$SP/g2-tpm"
check_eq "both the same" "$(sum "$SP/g2-nvram.fd") $(sum "$SP/g2-tpm/tpm2-00.permall")" "$N1 $T3"
check "the old ones are gone" bash -c "[ ! -e '$P1/g2-nvram.fd' ] && [ ! -e '$P1/g2-tpm' ]"
check "its running swtpm writes to the moved directory" tpm_link_ok h1 "$U2" "$SP/g2-tpm"
t h1 vm stop g2 >/dev/null
wait_for 60 bash -c "[ \"\$($LAB_SH tern h1 vm show g2 --json | jq -r .state)\" = off ]" || true
N1=$(sum "$SP/g2-nvram.fd"); T3=$(sum "$SP/g2-tpm/tpm2-00.permall")
check "an offline storage move" t h1 vm move-storage g2 --to local
check_eq "carries the NVRAM next to disk 0" "$(vm_field h1 g2 .nvram)" "$P1/g2-nvram.fd"
check_eq "and the TPM directory" "$(vm_field h1 g2 .tpm_dir)" "$P1/g2-tpm"
check_eq "both the same" "$(sum "$P1/g2-nvram.fd") $(sum "$P1/g2-tpm/tpm2-00.permall")" "$N1 $T3"
check "the old ones are gone" bash -c "[ ! -e '$SP/g2-nvram.fd' ] && [ ! -e '$SP/g2-tpm' ]"
t h1 vm start g2 >/dev/null
check "g2 boots from the moved NVRAM with its TPM" wait_for 180 bash -c "[ \$(cat '$S1/vms/$U2/console.log' | grep -ac TERN-GUEST-READY) -ge 3 ]"
check "its swtpm writes to the moved directory" tpm_link_ok h1 "$U2" "$P1/g2-tpm"

# ---- export and import ----
t h1 vm stop g2 >/dev/null
wait_for 60 bash -c "[ \"\$($LAB_SH tern h1 vm show g2 --json | jq -r .state)\" = off ]" || true
N2=$(sum "$P1/g2-nvram.fd"); T4=$(sum "$P1/g2-tpm/tpm2-00.permall")
X=$(labenv LAB_DIR)/exports; mkdir -p "$X"
check "vm export of the UEFI+TPM vm" t h1 vm export g2 "$X/g2"
check_eq "the export holds its NVRAM and TPM state" \
    "$(sum "$X/g2/nvram.fd") $(sum "$X/g2/tpm2-00.permall")" "$N2 $T4"
check_eq "vm.json names them" "$(jq -c '[.nvram.file, .tpm_state.file]' "$X/g2/vm.json")" \
    '["nvram.fd","tpm2-00.permall"]'
check "import it on h2" t h2 vm import "$X/g2" --copy --name g3 --new-id
check_eq "its NVRAM next to its disk 0" "$(vm_field h2 g3 .nvram)" "$P2/g3-nvram.fd"
check_eq "its TPM directory too" "$(vm_field h2 g3 .tpm_dir)" "$P2/g3-tpm"
check_eq "both as exported" "$(sum "$P2/g3-nvram.fd") $(sum "$P2/g3-tpm/tpm2-00.permall")" "$N2 $T4"
t h2 vm start g3 >/dev/null
check "the imported vm boots" wait_for 180 console_has h2 g3 TERN-GUEST-READY

# ---- backup and restore ----
R=$(labenv LAB_DIR)/repo; mkdir -p "$R"
N3=$(sum "$P2/g3-nvram.fd"); T5=$(sum "$P2/g3-tpm/tpm2-00.permall")
check "a backup of the running UEFI+TPM vm" t h2 backup create g3 --to "$R"
PT=$(t h2 backup list "$R" --json | jq -r '.points[-1].point')
PD=$R/$(vm_field h2 g3 .uuid)/$PT
check_eq "the point holds its NVRAM and TPM state" \
    "$(sum "$PD/nvram.fd") $(sum "$PD/tpm2-00.permall")" "$N3 $T5"
check_eq "the manifest names them" \
    "$(jq -r '.firmware.nvram' "$PD/manifest.json")" "$(sha256sum <"$PD/nvram.fd" | cut -d' ' -f1)"
check "restore it as g4" t h2 backup restore "$R" --point "$PT" --name g4
check_eq "g4's NVRAM and TPM state are the point's" \
    "$(sum "$(vm_field h2 g4 .nvram)") $(sum "$(vm_field h2 g4 .tpm_dir)/tpm2-00.permall")" "$N3 $T5"
check_eq "next to its disk 0" "$(vm_field h2 g4 .tpm_dir)" "$P2/g4-tpm"
printf 'x' >>"$PD/tpm2-00.permall"
check_err "a point whose TPM state was altered is refused" 1 "tpm2-00.permall" \
    t h2 backup restore "$R" --point "$PT" --name g5
e2e_finish
