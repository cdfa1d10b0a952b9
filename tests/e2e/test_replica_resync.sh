#!/usr/bin/env bash
# test_replica_resync.sh - Replica's verify and resync paths between two
# hosts with the disk writer running on the primary: --initial existing
# (the VM's images copied to the replica server's pool while it was off;
# a missing or wrong copy refused, nothing made): the initial cycle
# compares and sends only what changed since the copy; verify compares the
# replica's point with ours by per-block checksums (clean); the replica's
# image damaged behind its back: verify names the differing blocks and
# the health goes critical; resync sends them (a compare against the
# replica's own map) and verify is clean again; the primary's QEMU killed
# -9 (its tracking lost) and the VM started again: the next cycle is a
# resync that sends only the blocks that differ.  Every recovery point
# is checked exact (verifier --upto).
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replresync 96
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

guest_create h1 c1 >/dev/null
# 64 MiB of data on vda (the guest leaves it alone): a compare reads it,
# a resync must not send it.
P1=$(labenv H1_POOL_DIR)
qemu-io -f qcow2 -c "write -P 0x5a 0 64M" "$P1/c1-vda.qcow2" >/dev/null

# ---- --initial existing: a missing or wrong copy is refused ----
nothing_made() {
	check_eq "$1: h2 has no vm c1" "$(t h2 vm list --json | jq -r '[.vms[] | select(.name == "c1")] | length')" 0
	check_err "$1: c1 is not replicated" 1 "not replicated" t h1 vm replication show c1
}
check_err "enable --initial existing without a copy" 1 "no copy of disk vda of vm 'c1' at $P2/c1-vda.qcow2" \
    t h1 vm replication enable c1 --to h2 --initial existing
nothing_made "no copy"
cp "$P1/c1-vda.qcow2" "$P2/c1-vda.qcow2"
qemu-img create -q -f qcow2 "$P2/c1-vdb.qcow2" 32M
check_err "enable --initial existing with a copy of another size" 1 \
    "c1-vdb.qcow2 is 33554432 bytes, disk vdb of vm 'c1' 67108864" \
    t h1 vm replication enable c1 --to h2 --initial existing
nothing_made "another size"
check "the operator's copy is left alone" test -f "$P2/c1-vdb.qcow2"
# the real copy of vdb, VM off
cp "$P1/c1-vdb.qcow2" "$P2/c1-vdb.qcow2"
t h1 vm start c1 >/dev/null
check "guest boots" wait_for 90 console_has h1 c1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 writer_acks h1 c1 20

last_cycle() {
	t h1 job list --json | jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'
}
# The bytes a cycle's deltas carried (before compression).
sent() { last_cycle | jq '[.details.disks[].summary.delta_guest_bytes] | add'; }
# The bytes it read of the disks (a compare reads every allocated block).
readb() { last_cycle | jq '[.details.disks[].summary.read_bytes] | add'; }
exact() {
	check "$1: the replica's vdb is exact up to the point ($LO..$HI)" \
	    "$VERIFY" --image "$P2/c1-vdb.qcow2" --upto "$LO:$HI"
}
cycle() {
	LO=$(acked h1 c1)
	check "$1" t h1 vm replication now c1
	HI=$(($(acked h1 c1) + 1))
	check_eq "$1: a $2 cycle" "$(last_cycle | jq -r .details.kind)" "$2"
}

# ---- enable from the copies, a few cycles ----
LO=$(acked h1 c1)
check "enable c1 -> h2 every 15m from the existing copy" t h1 vm \
    replication enable c1 --to h2 --interval 15m --initial existing
check "the initial cycle is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
HI=$(($(acked h1 c1) + 1))
check_eq "it compared with the copy" "$(last_cycle | jq -r .details.kind)" resync
check "it read every block ($(readb) bytes, vda's 64 MiB too)" \
    test "$(readb)" -ge $((64 << 20))
check "it sent only what changed since the copy, a tenth or less ($(sent))" \
    test "$(sent)" -le $(($(readb) / 10))
check_eq "the copy is the replica's disk" \
    "$(t h2 vm show c1 --json | jq -r '.disks[] | select(.name == "vdb") | .path')" \
    "$P2/c1-vdb.qcow2"
exact "initial"
for i in 1 2; do
	sleep 2
	cycle "cycle $((i + 1))" incremental
	exact "cycle $((i + 1))"
done

# ---- verify: the replica's point equals ours, block by block ----
check "verify: the replica's point matches" t h1 vm replication verify c1
check_err "verify on the replica's host is refused" 1 "run it on the primary" \
    t h2 vm replication verify c1
vres() { t h1 vm replication show c1 --json | jq -r ".stats.verify.$1"; }
check_eq "verify compared every block (none differ)" "$(vres differing)" 0
check "verify counted the blocks" test "$(vres blocks)" -gt 1000

# ---- the replica's image damaged: verify finds exactly those blocks ----
sum_before=$(sha256sum "$P2/c1-vdb.qcow2" | cut -d' ' -f1)
qemu-io -f qcow2 -c "write -P 0xab 4M 192k" "$P2/c1-vdb.qcow2" >/dev/null
check_err "verify reports the damage" 1 "3 blocks of vm 'c1''s replica differ" \
    t h1 vm replication verify c1
check_eq "3 differing blocks recorded" "$(vres differing)" 3
check_eq "the first differing offset is the damage's" \
    "$(vres 'first_differing[0]')" $((4 << 20))
check_eq "health critical" "$(t h1 vm replication show c1 --json | jq -r .health)" critical
check "show says what verify found" bash -c "$LAB_SH tern h1 vm replication \
    show c1 | grep -q 'last verify.*blocks match, 3 differ'"
check "the reason says to resync" bash -c "$LAB_SH tern h1 vm replication \
    show c1 --json | jq -r '.health_reasons[]' | grep -q 'verify found 3 differing blocks; run tern vm replication resync'"

# ---- resync: only the blocks the replica lacks (and the writer's) ----
LO=$(acked h1 c1)
check "resync" t h1 vm replication resync c1
HI=$(($(acked h1 c1) + 1))
check_eq "the resync's cycle compared" "$(last_cycle | jq -r .details.kind)" resync
check "it read every block ($(readb) bytes, vda's 64 MiB too)" \
    test "$(readb)" -ge $((64 << 20))
check "it sent the 3 blocks and the writer's, a tenth or less of that ($(sent))" \
    bash -c "[ $(sent) -ge $((3 << 16)) ] && [ $(sent) -le $(($(readb) / 10)) ]"
exact "after the resync"
check "verify is clean again" t h1 vm replication verify c1
check_eq "health normal" "$(t h1 vm replication show c1 --json | jq -r .health)" normal

# ---- the primary's QEMU killed -9: tracking lost, a resync follows ----
uuid=$(t h1 vm show c1 --json | jq -r .uuid)
kill -9 "$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $uuid")"
check "vm crashed" wait_for 30 bash -c "[ \"\$($LAB_SH tern h1 vm show c1 \
    --json | jq -r .state)\" = crashed ]"
t h1 vm start c1 >/dev/null
check "guest boots again" wait_for 90 bash -c \
    "[ \$(grep -c TERN-GUEST-READY $(labenv H1_STATE_DIR)/vms/$uuid/console.log) = 2 ]"
sleep 3
cycle "the cycle after the crash" resync
exact "after the crash"
check "the resync read the disks ($(readb) bytes) but sent a tenth or less ($(sent))" \
    test "$(sent)" -le $(($(readb) / 10))
check_eq "health normal" "$(t h1 vm replication show c1 --json | jq -r .health)" normal
check "verify is clean after the crash resync" t h1 vm replication verify c1
sleep 2
cycle "the next cycle" incremental
exact "after the crash resync"

check "remove the replication" t h1 vm replication remove c1
t h1 vm stop c1 >/dev/null 2>&1 || true

e2e_finish
