#!/usr/bin/env bash
# test_replica_points.sh - a replica's recovery points (--points 2) and
# app-consistent points (--app-consistent-every 1) with the "hour" made
# 20 s (replica-point-period-s): cycles over six periods; the replica
# keeps exactly the latest and the last point of the two newest earlier
# periods, the others merged (their images gone, the chain sound), each
# kept point proven exact by the verifier up to its own time, its
# app-consistent flag the cycle's; the replica's ternd killed while it
# merges: every recorded point still exact after the restart; remove:
# every point's image gone.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replpoints 94
PERIOD_S=20
# The settings file stays while the lab runs: restart_with reads it.
cfg=$(mktemp /tmp/tern-e2e-replpoints.XXXXXX)
e2e_at_exit "rm -f '$cfg'"
echo "replica-point-period-s = $PERIOD_S" >"$cfg"
lab up 2 --config "$cfg" >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1

seq_of() { t h1 vm replication show c1 --json | jq -r .seq; }
points() { t h2 vm replication show c1 --json | jq -c '.points'; }
declare -A LO HI

# cycle DESC: one cycle now, acknowledged; its point's bounds kept.
cycle() {
	local lo hi s
	lo=$(acked h1 c1)
	check "$1" t h1 vm replication now c1
	hi=$(($(acked h1 c1) + 1))
	s=$(seq_of)
	LO[$s]=$lo
	HI[$s]=$hi
}

# to_next_period: sleep into the next period (a second past its start).
to_next_period() {
	local now; now=$(date +%s)
	sleep $((PERIOD_S - now % PERIOD_S + 1))
}

# expected: the seqs the retention keeps (the latest, and the last point
# of each of the 2 newest earlier periods), computed here from the
# primary's acknowledged cycles, newest first.
expected() {
	t h1 job list --json | jq -c --argjson p $((PERIOD_S * 1000)) '
	    [.jobs[] | select(.type == "vm.replicate" and .state == "succeeded")
	     | {s: .details.seq, b: (.details.snap_ms / $p | floor)}]
	    | sort_by(.s) | . as $a | ($a | length) as $n
	    | [range(0; $n - 1) | select($a[.].b != $a[. + 1].b and
	                                 $a[.].b != $a[$n - 1].b) | $a[.].s]
	    | [$a[$n - 1].s] + (reverse | .[0:2])'
}

# app_of SEQ: whether the primary's (newest) cycle SEQ was app-consistent.
app_of() {
	t h1 job list --json | jq -r --argjson s "$1" '[.jobs[] |
	    select(.type == "vm.replicate" and .details.seq == $s)][0]
	    | .details.consistency == "filesystem"'
}

# all_points_exact WHEN: every recorded point's vdb passes the verifier
# up to its own time, its chain sound, its flag the cycle's.
all_points_exact() {
	local p s f
	for p in $(points | jq -c '.[]'); do
		s=$(jq -r .seq <<<"$p")
		f=$(jq -r .disks.vdb <<<"$p")
		check "$1: point $s ($f) is exact (${LO[$s]}..${HI[$s]})" \
		    "$VERIFY" --image "$f" --upto "${LO[$s]}:${HI[$s]}"
		check "$1: point $s's image passes qemu-img check" \
		    qemu-img check -q "$f"
		check_eq "$1: point $s's app-consistent flag" \
		    "$(jq -r .app_consistent <<<"$p")" "$(app_of "$s")"
	done
}

# chain_sound WHEN: the latest's chain is exactly the kept points' files,
# and no other image of vdb is left.
chain_sound() {
	local latest
	latest=$(points | jq -r '.[0].disks.vdb')
	check_eq "$1: the latest's backing chain is the kept points" \
	    "$(qemu-img info --backing-chain --output=json "$latest" |
	    jq -c '[.[].filename]')" "$(points | jq -c '[.[].disks.vdb]')"
	check_eq "$1: older points merged (only the kept points' images)" \
	    "$(ls "$P2"/c1-vdb*.qcow2 | sort | tr '\n' ' ')" \
	    "$(points | jq -r '.[].disks.vdb' | sort | tr '\n' ' ')"
}

# ---- enable: 30 s interval, 2 hourly points, app-consistent hourly ----
LO[1]=$(acked h1 c1)
check "enable c1 -> h2 (30s, 2 points, app-consistent every 1)" \
    t h1 vm replication enable c1 --to h2 --interval 30s --points 2 \
    --app-consistent-every 1
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
HI[1]=$(($(acked h1 c1) + 1))

# Six periods; in each, two cycles (the first point of the period merged
# into the second: only the last of a period is an hourly point).
for i in 1 2 3 4 5 6; do
	to_next_period
	cycle "period $i: first cycle"
	cycle "period $i: second cycle"
done
t h1 vm replication pause c1 >/dev/null
check "no job runs" wait_for 60 no_active_jobs h1 h2

exp=$(expected)
check_eq "the replica keeps the latest and 2 hourly points" \
    "$(points | jq -c '[.[].seq]')" "$exp"
check_eq "3 points" "$(t h2 vm replication show c1 --json | jq .recovery_points)" 3
check_eq "the primary's show gives the count" \
    "$(t h1 vm replication show c1 --json | jq .recovery_points)" 3
check_eq "the replica's disk is the latest point" \
    "$(t h2 vm show c1 --json | jq -r '.disks[] | select(.name == "vdb") | .path')" \
    "$(points | jq -r '.[0].disks.vdb')"
chain_sound "after 6 periods"
all_points_exact "after 6 periods"
# Every 20 s since the last app-consistent point: the first cycle of a
# period may be, the second (seconds after it) is not.
napp() {
	t h1 job list --json | jq --arg c "$1" '[.jobs[] | select(.type ==
	    "vm.replicate" and .state == "succeeded" and
	    (.details.consistency == "filesystem") == ($c == "app"))] | length'
}
check "some cycles were app-consistent" test "$(napp app)" -gt 0
check "cycles soon after an app-consistent one were not" \
    test "$(napp crash)" -ge 6

# ---- the replica's ternd killed while it merges ----
s=$(($(seq_of) + 1))
LO[$s]=$(acked h1 c1)
restart_with h2 replica.merge=kill
t h1 vm replication resume c1 >/dev/null
check "h2's ternd dies in the merge of the next (scheduled) cycle" \
    wait_for 90 bash -c "! $LAB_SH tern h2 host info >/dev/null 2>&1"
HI[$s]=$(($(acked h1 c1) + 1))
t h1 vm replication pause c1 >/dev/null
restart_with h2
check "h2 finishes the merge" wait_for 60 no_active_jobs h1 h2
check_eq "the point was recorded before the kill" \
    "$(points | jq -r '.[0].seq')" "$s"
check_eq "still 3 points" "$(points | jq length)" 3
chain_sound "after the kill in merge"
all_points_exact "after the kill in merge"

# ---- remove: every point's image goes ----
check "remove the replication" t h1 vm replication remove c1
check "h2 deletes the replica" wait_for 60 no_active_jobs h2
check "no image of the replica is left" bash -c "! ls $P2/c1-* 2>/dev/null | grep -q ."
t h1 vm stop c1 >/dev/null 2>&1 || true

e2e_finish
