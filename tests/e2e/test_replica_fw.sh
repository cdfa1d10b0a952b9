#!/usr/bin/env bash
# test_replica_fw.sh - a UEFI+TPM VM's NVRAM and TPM state under Replica:
# each cycle carries them whole and the replica installs them with the
# recovery point (the replica VM's files equal the primary's); a test
# failover boots NAME-test on copies of its own next to its overlays,
# never writing the replica's (their checksums unchanged after it booted
# and ran), and test-stop removes the copies with the test VM.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replfw 151
export GUEST_FIRMWARE=uefi GUEST_TPM=1
lab up 2 >/dev/null
trust_both
P1=$(labenv H1_POOL_DIR); P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null
t h1 switch create lan >/dev/null
t h2 switch create lan >/dev/null
sum() { md5sum <"$1" | cut -d' ' -f1; }

guest_create h1 c1 disk:/dev/vdb:50 --net lan >/dev/null
t h1 vm start c1 >/dev/null
check "the UEFI+TPM guest boots" wait_for 180 console_has h1 c1 TERN-GUEST-READY
check "enable c1 -> h2 every 30 s" \
    t h1 vm replication enable c1 --to h2 --interval 30s
check "the initial copy is acknowledged" wait_for 180 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
check "a cycle now" wait_for 120 t h1 vm replication now c1
t h1 vm replication pause c1 >/dev/null
check "no job runs" wait_for 60 no_active_jobs h1 h2
N1=$(sum "$P1/c1-nvram.fd"); T1=$(sum "$P1/c1-tpm/tpm2-00.permall")
check_eq "the replica's NVRAM is next to its disk 0" "$(vm_field h2 c1 .nvram)" "$P2/c1-nvram.fd"
check_eq "the cycle carried the primary's NVRAM" "$(sum "$P2/c1-nvram.fd")" "$N1"
check_eq "and its TPM state" "$(sum "$P2/c1-tpm/tpm2-00.permall")" "$T1"

# ---- the test failover boots on copies ----
check "test failover of c1 on h2" t h2 vm failover test c1
check_eq "c1-test's NVRAM is its own" "$(vm_field h2 c1-test .nvram)" "$P2/c1-test-nvram.fd"
check_eq "so is its TPM directory" "$(vm_field h2 c1-test .tpm_dir)" "$P2/c1-test-tpm"
check "c1-test boots" wait_for 180 console_has h2 c1-test TERN-GUEST-READY
check "its swtpm writes its own copy" tpm_link_ok h2 "$(vm_field h2 c1-test .uuid)" "$P2/c1-test-tpm"
check_eq "the replica's NVRAM and TPM state are untouched" \
    "$(sum "$P2/c1-nvram.fd") $(sum "$P2/c1-tpm/tpm2-00.permall")" "$N1 $T1"
check "test-stop" t h2 vm failover test-stop c1
check "its copies are gone with it" bash -c "! ls '$P2'/c1-test-* >/dev/null 2>&1"
e2e_finish
