#!/usr/bin/env bash
# metrics.sh - what a Prometheus scrape costs: GET /metrics over HTTPS with
# the bearer token (as Prometheus scrapes it), `SCRAPES` (200) times, p50/p99
# latency and the body's size, on a lab host with 0 VMs and again with
# `VMS` (1000) VMs registered (defined, not running: no disks, so the
# create jobs have nothing to copy); ternd's RSS with each.  Reports;
# never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-metrics} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bmt} LAB_NET=${BENCH_LAB_NET:-134}
LAB=$REPO/tests/lab/lab.sh
SCRAPES=${SCRAPES:-200}
VMS=${VMS:-1000}

work=$(mktemp -d /tmp/tern-bench-metrics.XXXXXX)
trap '"$LAB" down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/token"
chmod 600 "$work/token"
echo "metrics-token-file = $work/token" >"$work/ternd.conf"
"$LAB" up 1 --config "$work/ternd.conf" >/dev/null 2>&1
. "$TERN_LAB/lab.env"
# pct P: the P-th percentile of numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
rss() { awk '/VmRSS/ {print $2}' /proc/"$(cat "$H1_PIDFILE")"/status; }

# scrape LABEL: N scrapes in one curl (one TLS connection, as Prometheus
# keeps it), each one's time, then one line of figures.
scrape() {
	local urls=() i
	for ((i = 0; i < SCRAPES; i++)); do urls+=(-o /dev/null "$H1_URL/metrics"); done
	"$LAB" exec h1 curl -sfk -H "Authorization: Bearer $(cat "$work/token")" \
	    -w '%{time_total}\n' "${urls[@]}" | awk '{print $1*1000}' >"$work/t"
	"$LAB" exec h1 curl -sfk -H "Authorization: Bearer $(cat "$work/token")" \
	    -o "$work/body" "$H1_URL/metrics"
	printf '%-28s p50 %6.2f ms  p99 %6.2f ms  (%d scrapes, %d samples, %d KiB)  ternd RSS %d KiB\n' \
	    "$1" "$(pct 50 <"$work/t")" "$(pct 99 <"$work/t")" "$SCRAPES" \
	    "$(grep -vc '^#' "$work/body")" "$(($(stat -c %s "$work/body") / 1024))" \
	    "$(rss)"
}

echo "# tern metrics benchmark, $(date -u +%FT%TZ), $(nproc) cores"
scrape "GET /metrics, 0 VMs"
# VMs through the API in one curl: POST /v1/vms without disks, one after
# another (each answer comes once its job is queued; the job ends at once)
for ((i = 1; i <= VMS; i++)); do
	printf 'unix-socket = "%s"\n' "$H1_SOCK"
	printf 'url = "http://tern/v1/vms"\nrequest = "POST"\n'
	printf 'data = "{\\"name\\":\\"v%d\\",\\"cpus\\":1,\\"memory_mib\\":64}"\n' "$i"
	printf 'output = "/dev/null"\n'
	[ "$i" = "$VMS" ] || printf 'next\n'
done >"$work/create.cfg"
a=$(date +%s%3N)
"$LAB" exec h1 curl -s -K "$work/create.cfg"
for _ in $(seq 1 60); do
	n=$("$LAB" tern h1 vm list --json | jq '[.vms[] | select(.state == "off")] | length')
	[ "$n" -ge "$VMS" ] && break
	sleep 1
done
printf '%-28s %d of %d off in %d ms\n' "register $VMS VMs" "$n" "$VMS" \
    "$(($(date +%s%3N) - a))"
sleep $((11))	# one poll of vm_metrics.c (10 s) over all of them
scrape "GET /metrics, $n VMs"
