#!/usr/bin/env bash
# test_replica_seed.sh - initial replication by offline media: the first
# copy written into a directory (a seed) instead of sent; nothing reaches
# the replica until the seed is imported there; bad seeds (not a seed, a
# foreign primary, a flipped byte) are refused with the replica
# untouched, and an import cut by a kill -9 of the replica's ternd rolls
# back; once imported, the primary notices and its next cycle carries
# only what changed since the seed's point, the replica exact up to it.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replseed 98
# A file system too small for the seed, mounted before the lab so that
# ternd's mount namespace has it.
small=$(mktemp -d /tmp/tern-seed-small.XXXXXX)
mount -t tmpfs -o size=64k tmpfs "$small"
e2e_at_exit "umount $small; rmdir $small"
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
SEED=$TERN_LAB/seed
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1

state_of() { t "$1" vm replication show c1 --json | jq -r .state; }
seq_of() { t "$1" vm replication show c1 --json | jq -r .seq; }
last_cycle() {
	t h1 job list --json | jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'
}
exact() {
	check "$1: the replica's vdb is exact up to the point ($LO..$HI)" \
	    "$VERIFY" --image "$P2/c1-vdb.qcow2" --upto "$LO:$HI"
}
no_overlay() { ! ls "$P2"/c1-*.rp-* 2>/dev/null | grep -q .; }

# ---- enable: bad directories refused, nothing made ----
check_err "a missing seed directory is refused" 1 "no such directory" \
    t h1 vm replication enable c1 --to h2 --initial "offline $TERN_LAB/nope"
check_err "a directory must be given" 2 "give the seed's directory" \
    t h1 vm replication enable c1 --to h2 --initial offline
check_err "... and c1 is not replicated" 1 "not replicated" \
    t h1 vm replication show c1

# ---- a directory without room: the seed cycle fails, nothing written ----
replica_refpoints() {
	t h1 vm refpoint list c1 --json |
	    jq -r '[.refpoints[] | select(.owner == "replica")] | length'
}
last_error() { t h1 vm replication show c1 --json | jq -r '.stats.last_error // ""'; }
check "enable c1 -> h2 with a seed in a small file system" t h1 vm \
    replication enable c1 --to h2 --interval 15m --initial "offline $small"
check "the seed cycle fails for want of room" wait_for 60 bash -c \
    "$LAB_SH tern h1 vm replication show c1 --json | jq -r .stats.last_error | grep -q 'the seed needs'"
check_eq "nothing was written there" "$(ls -A "$small" | wc -l)" 0
check_eq "the relationship is still initial" "$(state_of h1)" initial
check_eq "no reference point kept" "$(replica_refpoints)" 0
check "remove it" t h1 vm replication remove c1

# ---- ternd killed with the seed written, its point not yet kept ----
mkdir -p "$SEED"
restart_with h1 replication.seed.written=kill
# The seed cycle starts within a second of the enable job's end: the CLI
# following that job may see ternd die first.
t h1 vm replication enable c1 --to h2 --interval 15m \
    --initial "offline $SEED" >/dev/null 2>&1 || true
check "h1's ternd dies with the seed written" wait_for 60 bash -c \
    "! $LAB_SH tern h1 host info >/dev/null 2>&1"
restart_with h1
check "h1 settles the seed cycle" wait_for 30 no_active_jobs h1
check_eq "the seed whose point is gone is removed" "$(ls -A "$SEED" | wc -l)" 0
check_eq "the relationship is still initial" "$(state_of h1)" initial
check_eq "no reference point kept" "$(replica_refpoints)" 0
check "the VM runs on" wait_for 30 bash -c \
    "[ \"\$($LAB_SH tern h1 vm show c1 --json | jq -r .state)\" = running ]"

# ---- the seed written, nothing sent ----
LO=$(acked h1 c1)
check "export the seed now" t h1 vm replication now c1
check_eq "the seed is exported" "$(state_of h1)" awaiting-seed
HI=$(($(acked h1 c1) + 1))
SEED_LO=$LO SEED_HI=$HI
check_eq "it was a full cycle" "$(last_cycle | jq -r .details.kind)" full
FULL=$(last_cycle | jq '[.details.disks[].summary.delta_guest_bytes] | add')
check "the manifest is there" test -s "$SEED/seed.json"
check_eq "a delta per disk it names" "$(ls "$SEED"/*.delta | wc -l)" \
    "$(jq '.disks | length' "$SEED/seed.json")"
check_eq "the manifest's seq" "$(jq -c '[.seq, .base_seq]' "$SEED/seed.json")" "[1,0]"
check_eq "nothing was sent: the replica's seq is 0" "$(seq_of h2)" 0
check_eq "the primary's seq is 0" "$(seq_of h1)" 0
check "show says where the seed is" bash -c \
    "$LAB_SH tern h1 vm replication show c1 | grep -qF 'written to $SEED'"
check "the replica says it awaits the seed" bash -c \
    "$LAB_SH tern h2 vm replication show c1 | grep -qF 'awaiting import'"
check_err "no cycle while the seed waits" 1 "waits for its seed" \
    t h1 vm replication now c1
sleep 5	# writes meanwhile: tracked, sent after the seed
check_eq "still nothing sent" "$(seq_of h2)" 0

# ---- bad seeds: refused, the replica untouched ----
sum_before=$(sha256sum "$P2/c1-vdb.qcow2" | cut -d' ' -f1)
mkdir -p "$TERN_LAB/empty"
check_err "a directory without a seed is refused" 1 "is not a replication seed" \
    t h2 vm replication import-seed "$TERN_LAB/empty"
check_err "a missing directory too" 1 "no such directory" \
    t h2 vm replication import-seed "$TERN_LAB/nope"
cp -r "$SEED" "$TERN_LAB/foreign"
jq '.primary_fingerprint = "sha256:" + ("0" * 64)' "$SEED/seed.json" \
    >"$TERN_LAB/foreign/seed.json"
check_err "a seed from a primary h2 does not allow is refused" 1 \
    "not a primary this replica server allows" \
    t h2 vm replication import-seed "$TERN_LAB/foreign"
cp -r "$SEED" "$TERN_LAB/bad"
big=$(ls -S "$TERN_LAB"/bad/*.delta | head -1)
off=$(($(stat -c %s "$big") - 100))
printf "$(printf '\\x%02x' $(( $(od -An -tu1 -j$off -N1 "$big") ^ 0x5a )))" |
    dd of="$big" bs=1 seek=$off conv=notrunc status=none
check_err "a seed with one byte flipped is rejected" 1 "rejected" \
    t h2 vm replication import-seed "$TERN_LAB/bad"
check_eq "the replica's seq did not move" "$(seq_of h2)" 0
check_eq "the replica's image is untouched" \
    "$(sha256sum "$P2/c1-vdb.qcow2" | cut -d' ' -f1)" "$sum_before"
check "no overlay of the rejected seed is left" no_overlay
check_eq "the primary still waits" "$(state_of h1)" awaiting-seed

# ---- an import cut by kill -9 of h2's ternd rolls back ----
restart_with h2 replica.apply.write=kill
check_err "the import dies with h2's ternd" 1 "" \
    t h2 vm replication import-seed "$SEED"
restart_with h2
check "h2 settles the import" wait_for 30 no_active_jobs h2
check_eq "the replica's seq did not move" "$(seq_of h2)" 0
check "no overlay of the cut import is left" no_overlay

# ---- the import: seq 1 here, the primary notices ----
check "import-seed on h2" t h2 vm replication import-seed "$SEED"
check_eq "h2 has point 1" "$(seq_of h2)" 1
LO=$SEED_LO HI=$SEED_HI
exact "the seed"
check_err "the same seed again is refused (wrong seq)" 1 "already" \
    t h2 vm replication import-seed "$SEED"
check "the primary notices: replicating" wait_for 60 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
check_eq "the primary's seq is 1" "$(seq_of h1)" 1
check "show says the seed was imported" bash -c \
    "$LAB_SH tern h1 vm replication show c1 | grep -qF 'imported on the replica'"

# ---- the next cycle: only the changes since the seed's point ----
LO=$(acked h1 c1)
check "a cycle after the seed" t h1 vm replication now c1
HI=$(($(acked h1 c1) + 1))
check_eq "it is incremental" "$(last_cycle | jq -r .details.kind)" incremental
check_eq "on the seed's point" "$(last_cycle | jq -r .details.base_seq)" 1
read=$(last_cycle | jq '[.details.disks[].summary.delta_guest_bytes] | add')
size=$(last_cycle | jq '[.details.disks[].size] | add')
check "it read only the changes ($read bytes of $size; the seed $FULL)" \
    test "$read" -lt $((size / 10))
exact "after the seed"
# The failed seed attempts above still count in the 20 % rule of the
# last hour (docs/replica-health.md): nothing else may be wrong.
check "health: not critical, no reason but the earlier failed attempts" \
    bash -c "$LAB_SH tern h1 vm replication show c1 --json | jq -e '.health != \"critical\" and
    ([.health_reasons[] | select(test(\"missed or failed\") | not)] | length == 0)'"

check "remove the replication" t h1 vm replication remove c1
check_err "a directory holding a seed is refused" 1 "holds a seed already" \
    t h1 vm replication enable c1 --to h2 --initial "offline $SEED"
check_err "... and c1 is not replicated" 1 "not replicated" \
    t h1 vm replication show c1
t h1 vm stop c1 >/dev/null 2>&1 || true

e2e_openapi_check
e2e_finish
