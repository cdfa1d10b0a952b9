#!/usr/bin/env bash
# test_replica_sched.sh - Replica left to its scheduler: enabled at a 30 s
# interval with the disk writer running, the initial copy and then ten
# cycles (four with TERN_E2E_SAMPLE=1, as CI runs it) started by the
# scheduler alone (no `now`), each about 30 s after the one before; then the primary VM stopped: the replica's latest point
# holds every write acknowledged before that cycle's point in time and
# none after it (the verifier), and the stats count every cycle, none
# missed or failed.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replsched 100
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1
uuid=$(t h1 vm show c1 --json | jq -r .uuid)
con=$(labenv H1_STATE_DIR)/vms/$uuid/console.log

# "ms acked" five times a second: the bounds of any point in time.
(
	while :; do
		printf '%s %s\n' "$(date +%s%3N)" "$(grep -ao 'TERN-ACK [0-9]*' \
		    "$con" | tail -n 1 | awk '{print $2 + 0}')"
		sleep 0.2
	done
) >"$TERN_LAB/acks" &
sampler=$!
e2e_at_exit "kill $sampler 2>/dev/null"

seq_of() { t h1 vm replication show c1 --json | jq -r .seq; }
CYCLES=10
[ "${TERN_E2E_SAMPLE:-0}" = 1 ] && CYCLES=4
check "enable c1 -> h2 every 30s" t h1 vm replication enable c1 --to h2 \
    --interval 30s
check "the initial copy and $CYCLES cycles, by the scheduler alone" \
    wait_for $((CYCLES * 30 + 180)) bash -c "[ \$($LAB_SH tern h1 vm replication show c1 \
    --json | jq -r .seq) -ge $((CYCLES + 1)) ]"
check "pause" t h1 vm replication pause c1
check "no cycle runs" wait_for 60 no_active_jobs h1 h2
check "stop the primary VM" t h1 vm stop c1
kill "$sampler" 2>/dev/null

jobs=$(t h1 job list --json | jq -c '[.jobs[] | select(.type ==
    "vm.replicate")] | sort_by(.id)')
last=$(jq -c '[.[] | select(.state == "succeeded")] | last' <<<"$jobs")
check_eq "the replica holds the last cycle" \
    "$(t h2 vm replication show c1 --json | jq -r .seq)" \
    "$(jq -r .details.seq <<<"$last")"
snap=$(jq -r .details.snap_ms <<<"$last")
LO=$(awk -v s="$snap" '$1 < s {lo = $2} END {print lo + 0}' "$TERN_LAB/acks")
HI=$(awk -v s="$snap" '$1 > s {print $2 + 1; exit}' "$TERN_LAB/acks")
check "the latest point is exact at its time ($LO..$HI)" \
    "$VERIFY" --image "$P2/c1-vdb.qcow2" --upto "$LO:${HI:-0}"

st=$(t h1 vm replication show c1 --json)
check "at least $((CYCLES + 1)) successful cycles ($(jq .stats.successful <<<"$st"))" \
    test "$(jq .stats.successful <<<"$st")" -ge $((CYCLES + 1))
check_eq "none failed" "$(jq '.stats.failed // 0' <<<"$st")" 0
check_eq "none missed" "$(jq '.stats.missed // 0' <<<"$st")" 0
check_eq "every cycle succeeded" \
    "$(jq '[.[] | select(.state != "succeeded")] | length' <<<"$jobs")" 0
# The scheduler counts the interval from each cycle's start.
gaps=$(jq -r 'def ms: capture("^(?<s>.*)\\.(?<m>[0-9]+)Z$") |
    ((.s + "Z") | fromdate) * 1000 + (.m | tonumber);
    [.[].started_at | ms] | [range(1; length) as $i | .[$i] - .[$i - 1]] |
    .[1:] | map(. / 1000 | floor) | join(" ")' <<<"$jobs")
check "the cycles after the first came every 30 s (gaps: $gaps)" \
    bash -c "for g in $gaps; do [ \$g -ge 29 ] && [ \$g -le 35 ] || exit 1; done"

check "remove the replication" t h1 vm replication remove c1

e2e_finish
