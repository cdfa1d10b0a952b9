#!/usr/bin/env bash
# test_replica_cycles.sh - Replica's cycles between two hosts with the
# disk writer running on the primary: the initial copy, then incremental
# cycles (only the blocks the dirty bitmaps mark), each recovery point on
# h2 proven exact by the verifier up to the cycle's point in time; a
# corrupted delta is refused by its checksums (the replica's point
# untouched) and the next cycle carries everything; the replica's ternd
# killed while it applies a cycle: the same; killed once it recorded one
# (the ack lost, the primary's retry a new point with the same seq): the
# primary takes the replica's seq and loses no write, and when QEMU dies
# before the next cycle, that cycle is a full copy.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replcyc 93
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1

seq_of() { t h1 vm replication show c1 --json | jq -r .seq; }
last_cycle() {
	t h1 job list --json | jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'
}

# exact: the replica's vdb holds every write acknowledged before the last
# cycle (LO) and none after it ended (HI).
exact() {
	check "$1: the replica's vdb is exact up to the point ($LO..$HI)" \
	    "$VERIFY" --image "$P2/c1-vdb.qcow2" --upto "$LO:$HI"
}

# cycle DESC KIND: one cycle now, of kind KIND, acknowledged.
cycle() {
	LO=$(acked h1 c1)
	check "$1" t h1 vm replication now c1
	HI=$(($(acked h1 c1) + 1))
	check_eq "$1: a $2 cycle" "$(last_cycle | jq -r .details.kind)" "$2"
}

# ---- enable: the initial copy runs on its own within a second ----
LO=$(acked h1 c1)
check "enable c1 -> h2 every 30s" t h1 vm replication enable c1 --to h2 \
    --interval 30s
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
HI=$(($(acked h1 c1) + 1))
check_eq "it was a full cycle" "$(last_cycle | jq -r .details.kind)" full
check_eq "h2 has point 1" "$(t h2 vm replication show c1 --json | jq -r .seq)" 1
check_eq "health normal" "$(t h1 vm replication show c1 --json | jq -r .health)" normal
exact "initial"

for i in 1 2 3; do
	sleep 2
	cycle "cycle $((i + 1))" incremental
	exact "cycle $((i + 1))"
	read=$(last_cycle | jq '[.details.disks[].summary.delta_guest_bytes] | add')
	check "cycle $((i + 1)) read only the changed blocks ($read of 320 MiB)" \
	    test "$read" -lt $((32 << 20))
done
check_eq "one reference point for the replica" "$(t h1 vm refpoint list c1 \
    --json | jq -r '[.refpoints[] | select(.owner == "replica")] | length')" 1
check_eq "the replica's disk is one image again (merged)" \
    "$(t h2 vm show c1 --json | jq -r '.disks[] | select(.name == "vdb") | .path')" \
    "$P2/c1-vdb.qcow2"

# ---- a corrupted delta: refused by its checksums, nothing applied ----
seq=$(seq_of)
sum_before=$(sha256sum "$P2/c1-vdb.qcow2" | cut -d' ' -f1)
restart_with h1 replication.corrupt=fail
check_err "a cycle with a corrupted delta is rejected" 1 "rejected" \
    t h1 vm replication now c1
check_eq "the replica's seq did not move" "$(t h2 vm replication show c1 --json | jq -r .seq)" "$seq"
check_eq "the replica's image is untouched" \
    "$(sha256sum "$P2/c1-vdb.qcow2" | cut -d' ' -f1)" "$sum_before"
check_eq "the primary's error says so" \
    "$(t h1 vm replication show c1 --json | jq -r '.stats.last_error | test("rejected")')" true
restart_with h1
cycle "the next cycle carries everything since" incremental
exact "after the corrupted delta"

# ---- the replica's ternd killed while it applies ----
seq=$(seq_of)
restart_with h2 replica.apply.write=kill
check_err "the cycle fails with the replica gone" 1 "" t h1 vm replication now c1
restart_with h2
check "h2 settles the apply" wait_for 30 no_active_jobs h2
check_eq "the replica's seq did not move" "$(t h2 vm replication show c1 --json | jq -r .seq)" "$seq"
check "no overlay of the dead cycle is left" bash -c "! ls $P2/c1-*.rp-* 2>/dev/null | grep -q ."
cycle "the next cycle" incremental
exact "after the replica's restart"

# ---- the replica's ternd killed once it recorded a point: the ack lost ----
# The primary's retry is a new point with the same seq; the replica holds
# the earlier attempt's.  The primary takes the replica's seq and its next
# cycle reads everything since the last acknowledged one: no write made
# between the two attempts is lost.
seq=$(seq_of)
restart_with h2 replica.merge=kill
check_err "the cycle fails with the replica gone after it recorded" 1 "" \
    t h1 vm replication now c1
restart_with h2
check "h2 settles the merge" wait_for 30 no_active_jobs h2
check_eq "the replica recorded the cycle" \
    "$(t h2 vm replication show c1 --json | jq -r .seq)" "$((seq + 1))"
check_eq "the primary did not acknowledge it" "$(seq_of)" "$seq"
sleep 2
check_err "the retry finds the earlier attempt's point" 1 "earlier attempt" \
    t h1 vm replication now c1
check_eq "the primary takes the replica's seq" "$(seq_of)" "$((seq + 1))"
sleep 2
cycle "the next cycle carries everything since cycle $seq" incremental
exact "after the lost acknowledgement"

# ---- the same, and tracking lost before the retry (QEMU killed -9) ----
# A compare against the cycle before the replica's point would miss a
# block that changed back since: the next cycle is a full copy.
seq=$(seq_of)
restart_with h2 replica.merge=kill
check_err "again the cycle fails after the replica recorded it" 1 "" \
    t h1 vm replication now c1
restart_with h2
check "h2 settles the merge again" wait_for 30 no_active_jobs h2
sleep 2
check_err "again the retry finds the earlier attempt's point" 1 \
    "earlier attempt" t h1 vm replication now c1
uuid=$(t h1 vm show c1 --json | jq -r .uuid)
kill -9 "$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $uuid")"
check "vm crashed" wait_for 30 bash -c "[ \"\$($LAB_SH tern h1 vm show c1 \
    --json | jq -r .state)\" = crashed ]"
t h1 vm start c1 >/dev/null
check "guest boots again" wait_for 90 bash -c \
    "[ \$(grep -c TERN-GUEST-READY $(labenv H1_STATE_DIR)/vms/$uuid/console.log) = 2 ]"
sleep 3
check_err "a compare against the cycle before is not sent" 1 "full copy" \
    t h1 vm replication now c1
sleep 2
cycle "then a full copy" full
exact "after tracking was lost with the ack"

check "remove the replication" t h1 vm replication remove c1
t h1 vm stop c1 >/dev/null 2>&1 || true

e2e_finish
