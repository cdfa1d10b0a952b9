#!/usr/bin/env bash
# cluster.sh - figures for the failover cluster (issue 14): a node with
# VMS (10) HA VMs dies, how long until each runs on another node.
#
# A 3-node lab with a shared pool, one cluster on real Corosync (token
# 3000 ms: with three nodes Corosync's timeout is 3000 + 650 = 3650 ms,
# consensus 1.2 x that) and each node's sanlock (when ternd has leases).
# VMS test guests (128 MiB, idle) made on h1 on the shared pool, started,
# HA on, priorities mixed (a third each high, medium, low).  Then h1 dies
# entirely: its ternd, Corosync and QEMUs killed with SIGKILL (and its
# sanlock, when running), its link cut.  From that instant (t0), polling
# every ~0.2 s:
#   - membership: until h2's Corosync shows h1 down (the floor: nothing
#     can act before the nodes agree that h1 left);
#   - per VM: until its QEMU runs on h2 or h3 (its started_at, the wall
#     clock when ternd launched it) and until its guest agent answers
#     (heartbeat ok, polled VM after VM: an upper bound, the later VMs
#     read when the earlier ones answered);
#   p50 and max of each over the VMS VMs, and the order of the starts by
#   priority.
# Comparison, measured here: the same VMS guests started by hand on h2 with
# `tern vm start` at once (the plain cost of starting them under this
# machine's TCG: what any HA manager pays after it decides), and the
# detection floor above.  Published figures for the others are in
# ../shared/reference/HA-DR-ANCHORS.md (Hyper-V 10-20 s, vSphere HA ~15 s,
# Proxmox ~2 min); libvirt + Pacemaker is not run in this lab (its
# VirtualDomain agent and fencing setup are not here yet): said, not
# measured.
#
# About 4 minutes with the defaults on 2 TCG cores.  Reports; never fails
# on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-cluster} \
    TERN_LAB_ID=${BENCH_LAB_ID:-clb} LAB_NET=${BENCH_LAB_NET:-181}
LAB=$REPO/tests/lab/lab.sh
VMS=${VMS:-10}	# (not N: lab.env sets N, the hosts)

trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 3 --shared-pool >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
ms() { date +%s%3N; }
iso_ms() { date -d "$1" +%s%3N; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
sec() { awk -v m="$1" 'BEGIN {if (m == "" || m == "-") print "-"; else printf "%.2f", m / 1000}'; }
wait_until() {
	local n=$(($1 * 5)); shift
	while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.2; n=$((n - 1)); done
	return 1
}

for i in 1 2 3; do FP[$i]=$(t h$i host info --json | jq -r .fingerprint); done
for i in 1 2 3; do for j in 1 2 3; do
	[ $i = $j ] || t h$i peer add h$j "$(eval echo "\$H${j}_URL")" \
	    --fingerprint "${FP[$j]}" >/dev/null
done; done
t h1 cluster create c1 --node h1 --node h2 --node h3 >/dev/null

prio() { case $(($1 % 3)) in 0) echo high ;; 1) echo medium ;; *) echo low ;; esac; }
mk() {	# mk HOST NAME: a 128 MiB idle guest on the shared pool
	t "$1" vm create "$2" --cpus 1 --memory 128M --disk 64M@shared \
	    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
	    --cmdline "console=ttyS0 quiet tern.hostname=$2 tern.workload=idle" \
	    >/dev/null
}
beat() { [ "$(t "$1" vm show "$2" --json 2>/dev/null | jq -r .heartbeat)" = ok ]; }

# ---- the comparison: N guests started by hand on h2 at once ----
for i in $(seq 1 "$VMS"); do mk h2 "p$i"; done
s0=$(ms)
for i in $(seq 1 "$VMS"); do t h2 vm start "p$i" >/dev/null & done; wait
plain_run=() plain_beat=()
for i in $(seq 1 "$VMS"); do
	plain_run+=($(($(iso_ms "$(t h2 vm show "p$i" --json | jq -r .started_at)") - s0)))
done
for i in $(seq 1 "$VMS"); do
	wait_until 300 beat h2 "p$i" || true
	plain_beat+=($(($(ms) - s0)))
done
for i in $(seq 1 "$VMS"); do t h2 vm delete "p$i" >/dev/null 2>&1 || { t h2 vm stop "p$i" >/dev/null; t h2 vm delete "p$i" >/dev/null; }; done

# ---- N HA VMs on h1 ----
for i in $(seq 1 "$VMS"); do mk h1 "v$i"; t h1 vm start "v$i" >/dev/null; done
for i in $(seq 1 "$VMS"); do wait_until 300 beat h1 "v$i" || echo "# v$i: no heartbeat on h1"; done
sleep 3	# the state has every VM (published every 2 s)
for i in $(seq 1 "$VMS"); do
	t h1 vm ha enable "v$i" --priority "$(prio "$i")" >/dev/null
	UUID[$i]=$(t h1 vm show "v$i" --json | jq -r .uuid)
done
sleep 3

# ---- h1 dies ----
cpid=$(cat "$H1_STATE_DIR/corosync/run/corosync.pid" 2>/dev/null || true)
spid=$(cat "$H1_DIR/sanlock.pid" 2>/dev/null || true)
t0=$(ms)
"$LAB" kill h1 >/dev/null 2>&1
kill -KILL $cpid $spid 2>/dev/null || true
for i in $(seq 1 "$VMS"); do pkill -KILL -f -- "^qemu-system-x86_64 .*-uuid ${UUID[$i]}" || true; done
"$LAB" cut h1 >/dev/null 2>&1
h1_down() { [ "$(t h2 cluster show --json | jq -r '.nodes[] | select(.name == "h1") | .state')" = down ]; }
wait_until 60 h1_down
t_down=$(($(ms) - t0))

where() { local h; for h in h2 h3; do
	[ "$(t $h vm show "$1" --json 2>/dev/null | jq -r .state)" = running ] && { echo $h; return 0; }
done; return 1; }
run_ms=() beat_ms=() order=()
for i in $(seq 1 "$VMS"); do
	if wait_until 400 where "v$i" >/dev/null; then
		h=$(where "v$i")
		st=$(t "$h" vm show "v$i" --json | jq -r .started_at)
		run_ms+=($(($(iso_ms "$st") - t0)))
		order+=("$(iso_ms "$st") $(prio "$i") v$i@$h")
		wait_until 300 beat "$h" "v$i" || true
		beat_ms+=($(($(ms) - t0)))
	else
		echo "# v$i did not restart within 400 s"
	fi
done

echo
echo "== node kill: $VMS HA VMs on h1 (128 MiB idle guests, TCG, 2 cores)"
printf '%-44s %s\n' "corosync token (3 nodes: 3000 + 650 ms)" "3.65 s"
printf '%-44s %s s\n' "kill -> h2's Corosync shows h1 down" "$(sec $t_down)"
printf '%-44s p50 %s s, max %s s\n' "kill -> QEMU running elsewhere" \
    "$(sec "$(printf '%s\n' "${run_ms[@]}" | pct 50)")" \
    "$(sec "$(printf '%s\n' "${run_ms[@]}" | pct 100)")"
printf '%-44s p50 %s s, max %s s\n' "kill -> guest heartbeat (polled)" \
    "$(sec "$(printf '%s\n' "${beat_ms[@]}" | pct 50)")" \
    "$(sec "$(printf '%s\n' "${beat_ms[@]}" | pct 100)")"
printf '%-44s p50 %s s, max %s s\n' "plain: $VMS starts at once by hand -> QEMU" \
    "$(sec "$(printf '%s\n' "${plain_run[@]}" | pct 50)")" \
    "$(sec "$(printf '%s\n' "${plain_run[@]}" | pct 100)")"
printf '%-44s p50 %s s, max %s s\n' "plain: ... -> guest heartbeat" \
    "$(sec "$(printf '%s\n' "${plain_beat[@]}" | pct 50)")" \
    "$(sec "$(printf '%s\n' "${plain_beat[@]}" | pct 100)")"
echo "start order (wall ms, priority, where):"
printf '%s\n' "${order[@]}" | sort -n | awk '{printf "  %s %-6s %s\n", $1, $2, $3}'
if [ -n "$spid" ]; then echo "leases: sanlock as ternd runs it (see docs/architecture.md \"Leases\")"
else echo "leases: none in this run (no sanlock pid file): restart gated by Corosync only"; fi
