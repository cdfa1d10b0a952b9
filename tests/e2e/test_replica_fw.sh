#!/usr/bin/env bash
# test_replica_fw.sh - a UEFI+TPM VM's NVRAM and TPM state under Replica:
# each cycle carries them whole and the replica installs them with the
# recovery point (the replica VM's files equal the primary's); a test
# failover boots NAME-test on copies of its own next to its overlays,
# never writing the replica's (their checksums unchanged after it booted
# and ran), and test-stop removes the copies with the test VM.
#
# Each point keeps its own copies (src/replica/rp_fw.c): the guest is
# stopped and started again between two cycles, which changes both files
# (OVMF writes its variables at boot, e.g. its monotonic counter; the
# TPM's startup and orderly shutdown write its permanent state), so point
# A and the later point B differ.  The checks of a VM's files are made
# while its QEMU waits before `cont` (failpoint vm.start.before-cont, a
# delay): nothing of the guest has run, so they hold what tern copied in.
# A test failover of A gets A's; a point beyond the retention (--points
# 1, the "hour" made 10 s) goes with its copies; with h1 gone, ternd
# killed in a failover to A after the copy (failpoint failover.overlays):
# rolled back, the replica's files B's again; failover to A: A's files,
# it boots; cancel: B's again; every point's copies never written.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replfw 151
export GUEST_FIRMWARE=uefi GUEST_TPM=1
PERIOD_S=10
cfg=$(mktemp /tmp/tern-e2e-replfw.XXXXXX)
e2e_at_exit "rm -f '$cfg'"
echo "replica-point-period-s = $PERIOD_S" >"$cfg"
lab up 2 --config "$cfg" >/dev/null
trust_both
P1=$(labenv H1_POOL_DIR); P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null
t h1 switch create lan >/dev/null
t h2 switch create lan >/dev/null
sum() { sha256sum <"$1" | cut -d' ' -f1; }

guest_create h1 c1 disk:/dev/vdb:50 --net lan >/dev/null
t h1 vm start c1 >/dev/null
check "the UEFI+TPM guest boots" wait_for 180 console_has h1 c1 TERN-GUEST-READY
check "enable c1 -> h2 (15m: only our cycles run; 1 more point)" \
    t h1 vm replication enable c1 --to h2 --interval 15m --points 1
check "the initial copy is acknowledged" wait_for 180 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
to_next_period() { sleep $((PERIOD_S - $(date +%s) % PERIOD_S + 1)); }
to_next_period
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

# ---- each point keeps its own NVRAM and TPM state ----
pts() { t h2 vm replication show c1 --json | jq -c '.points'; }
# fwfile SEQ nvram|tpm: the point's copy (its path)
fwfile() { pts | jq -r --argjson s "$1" ".[] | select(.seq == \$s) | .fw.$2 // empty"; }
fwsums() { echo "$(sum "$(fwfile "$1" nvram)") $(sum "$(fwfile "$1" tpm)")"; }
vmsums() { echo "$(sum "$P2/$1-nvram.fd") $(sum "$P2/$1-tpm/tpm2-00.permall")"; }
ALL_FW() { pts | jq -r '.[] | .fw // {} | .[]' | sort -u | xargs sha256sum; }
# qemu_waits VM: VM's QEMU runs on h2 (its vCPUs not yet: the delay)
qemu_waits() { [ "$(qemu_count "$(vm_field h2 "$1" .uuid)")" = 1 ]; }
UUID=$(vm_field h1 c1 .uuid)
CONSOLE1="$(labenv H1_STATE_DIR)/vms/$UUID/console.log"	# appended to
ready_more() { [ "$(grep -ac TERN-GUEST-READY "$CONSOLE1")" -gt "$1" ]; }
A=$(pts | jq -r '.[0].seq'); OLD=$(pts | jq -r '.[1].seq')
check_eq "h2 keeps 2 points" "$(pts | jq -c '[.[].seq]')" "[$A,$OLD]"
check_eq "point $A's own copies hold its cycle's NVRAM and TPM state" "$(fwsums "$A")" "$N1 $T1"
check_eq "they are named like its disk's file" "$(fwfile "$A" nvram) $(fwfile "$A" tpm)" \
    "$P2/c1-nvram.rp-$(printf %012d "$A").fd $P2/c1-tpm.rp-$(printf %012d "$A").permall"
OLD_FW=$(pts | jq -r --argjson s "$OLD" '.[] | select(.seq == $s) | .fw // {} | .[]')
check "the older point has copies of its own" test "$(wc -w <<<"$OLD_FW")" = 2

t h1 vm replication resume c1 >/dev/null
READY=$(grep -ac TERN-GUEST-READY "$CONSOLE1" || true)
check "c1 stops on h1" t h1 vm stop c1
check "and starts again" t h1 vm start c1
check "it boots again" wait_for 180 ready_more "$READY"
to_next_period
check "a cycle now" wait_for 120 t h1 vm replication now c1
check "no job runs" wait_for 60 no_active_jobs h1 h2
t h1 vm replication pause c1 >/dev/null
N2=$(sum "$P1/c1-nvram.fd"); T2=$(sum "$P1/c1-tpm/tpm2-00.permall")
check "the reboot changed the NVRAM file" test "$N2" != "$N1"
check "and the TPM state" test "$T2" != "$T1"
B=$(pts | jq -r '.[0].seq')
check_eq "h2 keeps points $B and $A" "$(pts | jq -c '[.[].seq]')" "[$B,$A]"
check_eq "point $B's copies hold the new state" "$(fwsums "$B")" "$N2 $T2"
check_eq "point $A's still hold the old" "$(fwsums "$A")" "$N1 $T1"
check_eq "the replica VM's files are the latest point's" "$(vmsums c1)" "$N2 $T2"
check "point $OLD, beyond the retention, went with its copies" \
    bash -c "! ls $(tr '\n' ' ' <<<"$OLD_FW") >/dev/null 2>&1"
check "and no other copy is left" bash -c "[ \$(ls $P2/c1-*.rp-*.fd $P2/c1-*.rp-*.permall | wc -l) = 4 ]"
FWSUMS=$(ALL_FW)

# ---- a test failover of point A gets A's state ----
restart_with h2 vm.start.before-cont=delay:30000
check "test failover of c1's point $A on h2" t h2 vm failover test c1 --point "$A" --no-wait
check "c1-test's QEMU waits before cont" wait_for 60 qemu_waits c1-test
check_eq "c1-test's NVRAM and TPM state are point $A's" "$(vmsums c1-test)" "$N1 $T1"
check "c1-test boots" wait_for 180 console_has h2 c1-test TERN-GUEST-READY
check "test-stop" t h2 vm failover test-stop c1
check "no job runs" wait_for 60 no_active_jobs h2

# ---- h1 gone; ternd killed in a failover to A after the copy ----
lab kill h1 >/dev/null
QPID=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $UUID" || true)
[ -n "$QPID" ] && kill -9 $QPID
check "h1's QEMU is gone" wait_for 20 bash -c "! kill -0 ${QPID:-0} 2>/dev/null"
restart_with h2 failover.overlays=kill
t h2 vm failover c1 --point "$A" >/dev/null 2>&1 || true
check "h2's ternd died in the failover" wait_for 30 bash -c \
    "! $LAB_SH tern h2 host info >/dev/null 2>&1"
restart_with h2 vm.start.before-cont=delay:30000
check "the failover job ends" wait_for 60 no_active_jobs h2
check_eq "it failed (rolled back)" \
    "$(t h2 job list --json | jq -r '[.jobs[] | select(.type == "vm.failover")][0].state')" failed
check_eq "c1 is a replica again" "$(vm_field h2 c1 .state)" replica
check_eq "its files are the latest point's again" "$(vmsums c1)" "$N2 $T2"

# ---- failover to A: A's state, it boots ----
check "failover c1 to point $A" t h2 vm failover c1 --point "$A"
check "c1's QEMU waits before cont" wait_for 60 qemu_waits c1
check_eq "c1's NVRAM and TPM state are point $A's" "$(vmsums c1)" "$N1 $T1"
check "c1 boots on h2" wait_for 180 console_has h2 c1 TERN-GUEST-READY
check "cancel the failover" t h2 vm failover cancel c1
check_eq "c1 is a replica again" "$(vm_field h2 c1 .state)" replica
check_eq "its files are the latest point's again" "$(vmsums c1)" "$N2 $T2"
check_eq "no point's copy was written (sha256)" "$(ALL_FW)" "$FWSUMS"
restart_with h2
e2e_finish
