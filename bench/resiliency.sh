#!/usr/bin/env bash
# resiliency.sh - figures for compute resiliency and drain (issue 15).
#
# A 3-node lab with a shared pool, one cluster on real Corosync and each
# node's sanlock; VMS (4) HA test guests (128 MiB, idle) on h1.  Three
# faults of h1, each from the same start (every VM on h1, h1 up):
#   (a) isolated, back at RETURN_S (60 s), the default 240 s period:
#       how many VMs moved (none should), and whether each guest ran on
#       (its boot count in the console log is unchanged);
#   (b) isolated for good (alive, its storage heartbeat on), period
#       PERIOD_S (90 s): cut -> each VM running elsewhere (the period,
#       then h1 stops them itself, then the restart);
#   (c) dead (ternd, Corosync, sanlock and QEMUs killed, link cut):
#       kill -> each VM running elsewhere; the storage heartbeat tells
#       dead from isolated, so no period is waited, only sanlock's lease
#       expiry.
# Then drain: h2 drained with the VMS VMs on it, against moving them one
# by one by hand (`tern vm move`, the plain way an operator would), and
# the link's rate as the lab measured it (the physical limit).
# Hyper-V's figures (ResiliencyDefaultPeriod 240 s for every loss, dead
# or not) are in ../shared/reference/HA-DR-ANCHORS.md; libvirt +
# Pacemaker is not run in this lab (no fencing agent here): said, not
# measured.  About 12 minutes on 2 TCG cores.  Reports; never fails on a
# number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-resil} \
    TERN_LAB_ID=${BENCH_LAB_ID:-rsb} LAB_NET=${BENCH_LAB_NET:-182}
LAB=$REPO/tests/lab/lab.sh
VMS=${VMS:-4}
RETURN_S=${RETURN_S:-60}
PERIOD_S=${PERIOD_S:-90}

trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 3 --shared-pool >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
ms() { date +%s%3N; }
sec() { awk -v m="$1" 'BEGIN {printf "%.1f", m / 1000}'; }
med() { sort -n | awk '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	print a[int((NR+1)/2)]}'; }
wait_until() {
	local n=$(($1 * 5)); shift
	while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.2; n=$((n - 1)); done
	return 1
}
st() { t "$1" vm show "$2" --json 2>/dev/null | jq -r .state; }
where() { local h; for h in h1 h2 h3; do
	[ "$(st $h "$1")" = running ] && { echo $h; return 0; }; done; return 1; }
beat() { [ "$(t "$1" vm show "$2" --json 2>/dev/null | jq -r .heartbeat)" = ok ]; }
boots() { cat "$H1_STATE_DIR"/vms/"$1"/console.log "$H2_STATE_DIR"/vms/"$1"/console.log \
    "$H3_STATE_DIR"/vms/"$1"/console.log 2>/dev/null | grep -c TERN-GUEST-READY || true; }

for i in 1 2 3; do FP[$i]=$(t h$i host info --json | jq -r .fingerprint); done
for i in 1 2 3; do for j in 1 2 3; do
	[ $i = $j ] || t h$i peer add h$j "$(eval echo "\$H${j}_URL")" \
	    --fingerprint "${FP[$j]}" >/dev/null
done; done
t h1 cluster create c1 --node h1 --node h2 --node h3 >/dev/null
# the faults below isolate h1 again and again: no quarantine in between
t h1 cluster set --quarantine-threshold 0 >/dev/null
for i in $(seq 1 "$VMS"); do
	t h1 vm create "v$i" --cpus 1 --memory 128M --disk 64M@shared \
	    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
	    --cmdline "console=ttyS0 quiet tern.hostname=v$i tern.workload=idle" >/dev/null
	t h1 vm start "v$i" >/dev/null
done
for i in $(seq 1 "$VMS"); do wait_until 300 beat h1 "v$i" || echo "# v$i: no heartbeat"; done
sleep 3
for i in $(seq 1 "$VMS"); do
	t h1 vm ha enable "v$i" >/dev/null
	U[$i]=$(t h1 vm show "v$i" --json | jq -r .uuid)
done
sleep 3

# all VMs back on h1 (after a failover: moved live, h1 up again)
home() {
	local i h
	for i in $(seq 1 "$VMS"); do
		h=$(where "v$i") || continue
		[ "$h" = h1 ] || t "$h" vm move "v$i" --to h1 >/dev/null 2>&1 || true
	done
}
elsewhere_ms() {	# per VM: ms from $1 until it runs on h2 or h3
	local i t0=$1
	for i in $(seq 1 "$VMS"); do
		wait_until 400 eval '[ "$(where v'"$i"')" = h2 ] || [ "$(where v'"$i"')" = h3 ]' &&
		    echo $(($(ms) - t0))
	done
}

# ---- (a) isolated, back at RETURN_S, period 240 s ----
for i in $(seq 1 "$VMS"); do B0[$i]=$(boots "${U[$i]}"); done
"$LAB" cut h1 >/dev/null 2>&1
sleep "$RETURN_S"
"$LAB" restore h1 >/dev/null 2>&1
wait_until 60 eval '[ "$(t h1 cluster show --json | jq -r .quorum.quorate)" = true ]' || true
sleep 5
moved=0 rebooted=0
for i in $(seq 1 "$VMS"); do
	[ "$(where "v$i")" = h1 ] || moved=$((moved + 1))
	[ "$(boots "${U[$i]}")" = "${B0[$i]}" ] || rebooted=$((rebooted + 1))
done

# ---- (b) isolated for good, period PERIOD_S ----
t h2 cluster set --resiliency-period "$PERIOD_S" >/dev/null
t0=$(ms)
"$LAB" cut h1 >/dev/null 2>&1
iso=$(elsewhere_ms "$t0" | med)
"$LAB" restore h1 >/dev/null 2>&1
wait_until 60 eval '[ "$(t h1 cluster show --json | jq -r .quorum.quorate)" = true ]' || true
sleep 5; home; sleep 5

# ---- (c) dead ----
cpid=$(cat "$H1_STATE_DIR/corosync/run/corosync.pid" 2>/dev/null || true)
spid=$(cat "$H1_DIR/sanlock.pid" 2>/dev/null || true)
t0=$(ms)
"$LAB" kill h1 >/dev/null 2>&1
kill -KILL $cpid $spid 2>/dev/null || true
for i in $(seq 1 "$VMS"); do pkill -KILL -f -- "^qemu-system-x86_64 .*-uuid ${U[$i]}" || true; done
"$LAB" cut h1 >/dev/null 2>&1
dead=$(elsewhere_ms "$t0" | med)

# ---- drain h2 vs moving by hand; the link ----
for i in $(seq 1 "$VMS"); do h=$(where "v$i") && [ "$h" != h2 ] && t "$h" vm move "v$i" --to h2 >/dev/null; done
t0=$(ms); t h2 cluster node drain h2 >/dev/null; drain=$(($(ms) - t0))
t h2 cluster node resume h2 >/dev/null
for i in $(seq 1 "$VMS"); do t "$(where "v$i")" vm move "v$i" --to h2 >/dev/null; done
t0=$(ms)
for i in $(seq 1 "$VMS"); do t h2 vm move "v$i" --to h3 >/dev/null; done
byhand=$(($(ms) - t0))
link=$(t h2 --json peer measure h3 | jq -r '.details.rate_bytes_per_s / 1048576 | floor')

echo
echo "== compute resiliency: $VMS HA VMs on h1 (128 MiB idle guests, TCG, 2 cores)"
printf '%-52s %s\n' "(a) isolated, back after ${RETURN_S} s (period 240 s)" \
    "$moved of $VMS moved, $rebooted rebooted"
printf '%-52s %s s (median)\n' "(b) isolated for good, period ${PERIOD_S} s: cut -> running elsewhere" "$(sec "$iso")"
printf '%-52s %s s (median)\n' "(c) dead: kill -> running elsewhere" "$(sec "$dead")"
printf '%-52s %s\n' "Hyper-V (HA-DR-ANCHORS.md): any loss" "waits 240 s, dead or not"
echo "== drain: $VMS VMs off h2"
printf '%-52s %s s\n' "tern cluster node drain h2 (to h1 and h3, 2 at once)" "$(sec "$drain")"
printf '%-52s %s s\n' "by hand: tern vm move, one after another" "$(sec "$byhand")"
printf '%-52s %s MiB/s: %s x 128 MiB in %s s at best\n' "link h2 -> h3 as ternd measures it" \
    "$link" "$VMS" "$(awk -v l="$link" -v n="$VMS" 'BEGIN {printf "%.1f", n * 128 / l}')"
