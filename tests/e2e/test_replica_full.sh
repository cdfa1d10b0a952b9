#!/usr/bin/env bash
# test_replica_full.sh - issue 12's bad input on the replica's side: its
# pool full, and a cycle out of order.  The replica's pool is a small
# tmpfs of its own on h2.  Filled before a cycle, the room check refuses
# the cycle with an error naming the pool; filled after the check passed
# (a failpoint holds the apply once its overlays exist), the write's
# ENOSPC fails the cycle just as cleanly.  Either way the replica's latest
# point is untouched (its image's sha256, qemu-img check), no overlay of
# the cycle is left, and once the filler goes the next cycle carries
# everything.  A cycle from the future and a replayed older one, posted
# with h1's own TLS identity, are refused (409 "out of order"), the
# replica unchanged; the next real cycle is exact.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replfull 99
# h2's replica pool: a 192 MiB tmpfs of its own (the initial copy and a
# few cycles fit), mounted before the lab starts (each ternd has its own
# mount namespace, a copy of ours), unmounted on exit.
P2=$TERN_LAB-small
mountpoint -q "$P2" 2>/dev/null && umount "$P2"
mkdir -p "$P2"
mount -t tmpfs -o size=192m "tern-e2e-replfull" "$P2"
e2e_at_exit "umount '$P2' 2>/dev/null || umount -l '$P2'; rmdir '$P2'"
lab up 2 >/dev/null
trust_both
check "h2 has the small pool" t h2 pool create small "$P2"
t h2 replica server enable --allow h1=small >/dev/null

guest_writing h1 c1

seq_of() { t h1 vm replication show c1 --json | jq -r .seq; }
rseq() { t h2 vm replication show c1 --json | jq -r .seq; }
last_cycle() {
	t h1 job list --json | jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'
}
last_error() { t h1 vm replication show c1 --json | jq -r '.stats.last_error'; }
sums() { (cd "$P2" && sha256sum -- *.qcow2); }
free_kib() { df -k --output=avail "$P2" | tail -n 1 | tr -d ' '; }

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

# untouched DESC: the replica's point as it was (seq, files, sums, qemu-img
# check) and nothing of the failed cycle left in its pool.
untouched() {
	check_eq "$1: the replica's seq did not move" "$(rseq)" "$seq"
	check_eq "$1: the replica's images are untouched" "$(sums)" "$sums_before"
	check "$1: qemu-img check of the replica's images" bash -c \
	    "for f in $P2/c1-*.qcow2; do qemu-img check -q \"\$f\" || exit 1; done"
	check "$1: no overlay of the failed cycle is left" bash -c \
	    "! ls $P2/c1-*.rp-* 2>/dev/null | grep -q ."
	check "$1: no spool of the failed cycle is left" bash -c \
	    "! ls -d $P2/.tern-replica/*/$(printf %012d $((seq + 1))) 2>/dev/null | grep -q ."
	check "$1: h2 has no job left" wait_for 30 no_active_jobs h2
	check "$1: the primary keeps the last cycle's spool" bash -c \
	    "ls -d $(labenv H1_POOL_DIR)/.tern-replica/*/$(printf %012d "$seq")"
	check "$1: the primary's spool of the failed cycle is removed" bash -c \
	    "! ls -d $(labenv H1_POOL_DIR)/.tern-replica/*/$(printf %012d $((seq + 1))) 2>/dev/null | grep -q ."
	check_eq "$1: the primary keeps one reference point" "$(t h1 vm refpoint \
	    list c1 --json | jq -r '[.refpoints[] | select(.owner == "replica")] | length')" 1
}

# fill KIB: a filler leaving KIB KiB free in the pool.
fill() {
	local have
	rm -f "$P2/filler"
	have=$(free_kib)
	[ "$have" -le "$1" ] || fallocate -l "$(((have - $1) * 1024))" "$P2/filler"
}

# ---- the initial copy into the small pool ----
LO=$(acked h1 c1)
check "enable c1 -> h2" t h1 vm replication enable c1 --to h2 --interval 15m
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
HI=$(($(acked h1 c1) + 1))
check_eq "h2 has point 1" "$(rseq)" 1
check_eq "the replica's disks are in the small pool" \
    "$(t h2 vm show c1 --json | jq -r '.disks[] | select(.name == "vdb") | .path')" \
    "$P2/c1-vdb.qcow2"
exact "initial"
sleep 2
cycle "cycle 2" incremental
exact "cycle 2"
echo "# the pool after cycle 2: $(free_kib) KiB free"

# ---- full before the cycle: the room check refuses it ----
seq=$(rseq)
sums_before=$(sums)
fill 64
sleep 3
check_err "a cycle into the full pool fails" 1 "small" \
    t h1 vm replication now c1
err=$(last_error)
check "the primary's last_error names the pool and its room ($err)" \
    bash -c "grep -q \"pool 'small'.* has [0-9]* MiB free\" <<<\"\$1\"" \
    _ "$err"
check_eq "the primary's seq did not move" "$(seq_of)" "$seq"
untouched "refused by the room check"

# ---- full after the check: ENOSPC while the cycle is written ----
# held_full DESC KIB: h2 holds the apply once the delta is fetched and
# the overlays are made (the room check passed); the pool is filled to
# KIB KiB free; the apply's writes fail with ENOSPC.
held_full() {
	local now_pid rc=0
	rm -f "$P2/filler"
	restart_with h2 replica.apply.prepared=delay:8000
	t h1 vm replication now c1 >/dev/null 2>&1 &
	now_pid=$!
	check "$1: h2 holds the apply with its overlays made" wait_for 60 \
	    bash -c "$LAB_SH tern h2 job list --active --json | jq -e '.jobs[] |
	    select(.type == \"replica.apply\" and .phase == \"apply\")'"
	fill "$2"
	check "$1: the pool is full" test "$(free_kib)" -le $(($2 + 64))
	wait "$now_pid" || rc=$?
	check_eq "$1: the cycle fails" "$rc" 1
	err=$(last_error)
	check "$1: the primary's last_error says the pool ran out of room ($err)" \
	    bash -c "grep -q \"pool 'small'\" <<<\"\$1\" && grep -qi 'room' <<<\"\$1\"" \
	    _ "$err"
	echo "# $1: h2's replica.log: $(tail -n 1 "$(labenv H2_STATE_DIR)"/vms/*/replica.log)"
	restart_with h2
	untouched "$1"
}
held_full "no room at all" 0
# Room for the first disk's map but not for the second disk's blocks:
# the overlay's writes through qemu-nbd fail.
map=$(du -k "$P2"/.tern-replica/*/"$(printf %012d "$seq")"/vda.map | cut -f1)
sleep 3
held_full "room for a map only" $((map + 64))

# ---- the filler gone: the next cycle carries everything ----
rm -f "$P2/filler"
sleep 2
cycle "the next cycle carries everything since cycle $seq" incremental
exact "after the pool was full"
check_eq "the replica has the next point" "$(rseq)" "$((seq + 1))"

# ---- a cycle out of order, posted with h1's own identity ----
uuid=$(t h1 vm show c1 --json | jq -r .uuid)
crt1=$(labenv H1_STATE_DIR)/tls/host.crt
key1=$(labenv H1_STATE_DIR)/tls/host.key
post_cycle() { # post_cycle SEQ BASE: the HTTP status, the body in $TERN_LAB/post.out
	lab exec h1 curl -sk --cert "$crt1" --key "$key1" -o "$TERN_LAB/post.out" \
	    -w '%{http_code}' -H 'Content-Type: application/json' -X POST \
	    --data "{\"seq\": $1, \"base_seq\": $2, \"time_ms\": $(date +%s%3N),
	    \"consistency\": \"crash\", \"disks\": [{\"name\": \"vdb\",
	    \"size\": 67108864, \"delta_bytes\": 4096}]}" \
	    "$(labenv H2_URL)/v1/replica/vms/$uuid/cycles"
}
seq=$(rseq)
sums_before=$(sums)
applies() { t h2 job list --json | jq '[.jobs[] | select(.type == "replica.apply")] | length'; }
n_applies=$(applies)
check_eq "a cycle from the future is refused" "$(post_cycle $((seq + 2)) "$seq")" 409
check "it says out of order" grep -q "out of order" "$TERN_LAB/post.out"
check_eq "a replayed older cycle is refused" \
    "$(post_cycle $((seq - 1)) $((seq - 2)))" 409
check "it says out of order" grep -q "out of order" "$TERN_LAB/post.out"
check_eq "a cycle on another base is refused" \
    "$(post_cycle $((seq + 1)) $((seq - 1)))" 409
check "it says out of order" grep -q "out of order" "$TERN_LAB/post.out"
check_eq "the replica's seq did not move" "$(rseq)" "$seq"
check_eq "the replica's images are untouched" "$(sums)" "$sums_before"
check_eq "h2 started no apply" "$(applies)" "$n_applies"
sleep 2
cycle "the next real cycle" incremental
exact "after the out-of-order cycles"

check "remove the replication" t h1 vm replication remove c1
t h1 vm stop c1 >/dev/null 2>&1 || true
e2e_finish
