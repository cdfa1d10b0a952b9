#!/usr/bin/env bash
# foundation.sh - figures for the foundation, measured in one run on a lab
# host: VM create+start latency next to plain QEMU started by hand with the
# same command line shape (the floor tern adds to), API request latency
# p50/p99 with 200 VMs registered, and ternd's memory.  Reports; never
# fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=/tmp/tern-bench TERN_LAB_ID=bn LAB_NET=91
LAB=$REPO/tests/lab/lab.sh
RUNS=${RUNS:-10}
VMS=${VMS:-200}
REQS=${REQS:-1000}

trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 1 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { "$LAB" tern h1 "$@"; }
ms() { date +%s%3N; }
# pct P: the P-th percentile of numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }

echo "# tern foundation benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "accel=$(t host info --json | jq -r .accel)"

# 1. create + start (to QEMU running the guest's vCPUs), tern vs plain QEMU
: >/tmp/bench-create; : >/tmp/bench-start; : >/tmp/bench-qemu
: >/tmp/bench-startjob
for i in $(seq 1 "$RUNS"); do
	a=$(ms); t vm create c$i --cpus 1 --memory 128M --disk 1G >/dev/null
	b=$(ms); job=$(t vm start c$i --json); c=$(ms)
	echo $((b - a)) >>/tmp/bench-create; echo $((c - b)) >>/tmp/bench-start
	jq -r '[.started_at, .ended_at] | map(sub("Z$"; "") | split(".") |
	    (.[0] + "Z" | fromdate) * 1000 + (.[1] | tonumber)) |
	    .[1] - .[0]' <<<"$job" >>/tmp/bench-startjob
	t vm stop c$i >/dev/null; t vm delete c$i >/dev/null
	d=$(mktemp -d); qemu-img create -q -f qcow2 "$d/a.qcow2" 1G
	python3 "$REPO/bench/plain_qemu_start.py" "$d" >>/tmp/bench-qemu
	rm -rf "$d"
done
printf '%-44s p50 %5s ms  p90 %5s ms\n' \
    "tern vm create (1 GiB qcow2)" "$(pct 50 </tmp/bench-create)" \
    "$(pct 90 </tmp/bench-create)" \
    "tern vm start, as the CLI sees it" "$(pct 50 </tmp/bench-start)" \
    "$(pct 90 </tmp/bench-start)" \
    "tern vm start, the job (launch, QMP, cont)" \
    "$(pct 50 </tmp/bench-startjob)" "$(pct 90 </tmp/bench-startjob)" \
    "plain qemu -daemonize + QMP cont (floor)" "$(pct 50 </tmp/bench-qemu)" \
    "$(pct 90 </tmp/bench-qemu)"

# 2. API latency with $VMS VMs registered
rss0=$(awk '/VmRSS/ {print $2}' /proc/"$(cat "$H1_PIDFILE")"/status)
for i in $(seq 1 "$VMS"); do
	t vm create v$i --cpus 1 --memory 64M --disk 16M --no-wait >/dev/null
done
sleep 2
urls=()
for i in $(seq 1 "$REQS"); do
	urls+=(-o /dev/null "http://tern/v1/vms/v$(( (i % VMS) + 1 ))")
done
"$LAB" exec h1 curl -s --unix-socket "$H1_SOCK" \
    -w '%{time_total}\n' "${urls[@]}" | awk '{print $1*1000}' >/tmp/bench-get
urls=()
for i in $(seq 1 $((REQS / 10))); do urls+=(-o /dev/null http://tern/v1/vms); done
"$LAB" exec h1 curl -s --unix-socket "$H1_SOCK" \
    -w '%{time_total}\n' "${urls[@]}" | awk '{print $1*1000}' >/tmp/bench-list
printf '%-44s p50 %6.2f ms  p99 %6.2f ms  (%d requests)\n' \
    "GET /v1/vms/NAME with $VMS VMs" "$(pct 50 </tmp/bench-get)" \
    "$(pct 99 </tmp/bench-get)" "$REQS" \
    "GET /v1/vms (all $VMS) " "$(pct 50 </tmp/bench-list)" \
    "$(pct 99 </tmp/bench-list)" "$((REQS / 10))"
rss1=$(awk '/VmRSS/ {print $2}' /proc/"$(cat "$H1_PIDFILE")"/status)
printf '%-44s %6d KiB idle, %6d KiB with %d VMs registered\n' \
    "ternd RSS" "$rss0" "$rss1" "$VMS"
rm -f /tmp/bench-create /tmp/bench-start /tmp/bench-startjob /tmp/bench-qemu /tmp/bench-get \
    /tmp/bench-list
