#!/usr/bin/env bash
# console.sh - the web console's figures, in a real browser (Debian's
# Chromium driven by tests/browser/bench.mjs) inside a 1-host lab's
# namespace: first paint and all rows shown of the VMs page with `VMS`
# (200) VMs registered (defined, off), `RUNS` (5) fresh browsers; how long
# after a job's own end (its ended_at) the Jobs page shows it, `JOBVMS`
# (5) VMs started and stopped from the page; ternd's RSS with `BIG` (1000)
# VMs registered and the console open on them (sampled every 0.5 s for
# `HOLD_S` (20) s) next to ternd without the console.  Targets: paint
# <= 1 s, job <= 500 ms, RSS <= 64 MB.  Reports; never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-console} TERN_LAB_ID=${BENCH_LAB_ID:-bc}
export LAB_NET=${BENCH_LAB_NET:-133}
LAB=$REPO/tests/lab/lab.sh
WWW=${TERN_WWW:-$BUILD/www}
VMS=${VMS:-200} RUNS=${RUNS:-5} JOBVMS=${JOBVMS:-5} BIG=${BIG:-1000} HOLD_S=${HOLD_S:-20}
USER_NAME=ternb-admin
PW=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
[ -f "$WWW/index.html" ] || { echo "no console in $WWW: run make www" >&2; exit 1; }

made_group=0 made_pam=0 cfg=$(mktemp /tmp/tern-bench-console.XXXXXX)
cleanup() {
	"$LAB" down >/dev/null 2>&1 || true
	userdel "$USER_NAME" 2>/dev/null || true
	[ "$made_group" = 1 ] && [ -z "$(getent group tern-admin | cut -d: -f4)" ] &&
	    groupdel tern-admin 2>/dev/null
	[ "$made_pam" = 1 ] && rm -f /etc/pam.d/tern
	rm -f "$cfg" /tmp/bench-console-*
}
trap cleanup EXIT
getent group tern-admin >/dev/null || { groupadd --system tern-admin; made_group=1; }
userdel "$USER_NAME" 2>/dev/null || true
useradd --no-create-home --shell /usr/sbin/nologin -G tern-admin "$USER_NAME"
printf '%s:%s\n' "$USER_NAME" "$PW" | chpasswd
[ -e /etc/pam.d/tern ] || {
	cp "$REPO/packaging/pam.d/tern" /etc/pam.d/tern; made_pam=1; }
echo "www-dir = $WWW" >"$cfg"

[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 1 --config "$cfg" >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { "$LAB" tern h1 "$@"; }
bench() { "$LAB" exec h1 timeout 900 node "$REPO/tests/browser/bench.mjs" "$1" "$H1_URL" "$USER_NAME" "$PW" "${@:2}"; }
# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print NR ? a[int((NR+1)/2)] : "-"}'; }
rss() { awk '/VmRSS/ {print $2}' /proc/"$(cat "$H1_PIDFILE")"/status; }
register() { # register FROM TO: VMs vFROM..vTO defined, not started
	local i
	for ((i = $1; i <= $2; i++)); do
		t vm create v$i --cpus 1 --memory 64M --disk 16M --no-wait >/dev/null
	done
	for ((i = 0; i < 600; i++)); do
		[ "$(t job list --active --json | jq '.jobs | length')" = 0 ] && return 0
		sleep 1
	done
}

echo "# tern console benchmark, $(date -u +%FT%TZ), $(nproc) cores, $(/usr/bin/chromium --version 2>/dev/null | tail -n 1)"
register 1 "$VMS"
rss_idle=$(rss)
bench paint "$VMS" "$RUNS" >/tmp/bench-console-paint
printf '%-52s median %5s ms  (runs: %s)\n' \
    "VMs page, first contentful paint, $VMS VMs" "$(jq .fcp_ms /tmp/bench-console-paint | median)" \
    "$(jq -r .fcp_ms /tmp/bench-console-paint | paste -sd' ')" \
    "VMs page, all $VMS rows shown (target <= 1000)" "$(jq .rows_ms /tmp/bench-console-paint | median)" \
    "$(jq -r .rows_ms /tmp/bench-console-paint | paste -sd' ')"

jvms=()
for ((i = 1; i <= JOBVMS; i++)); do jvms+=(v$i); done
bench jobs "${jvms[@]}" >/tmp/bench-console-jobs
printf '%-52s median %5s ms  max %s ms  (%s jobs)\n' \
    "job's end -> shown on the Jobs page (target <= 500)" \
    "$(jq .latency_ms /tmp/bench-console-jobs | median)" \
    "$(jq .latency_ms /tmp/bench-console-jobs | sort -n | tail -n 1)" \
    "$(wc -l </tmp/bench-console-jobs)"

register $((VMS + 1)) "$BIG"
rss_big=$(rss)
bench hold "$BIG" "$HOLD_S" >/tmp/bench-console-hold &
holder=$!
until grep -q open /tmp/bench-console-hold 2>/dev/null || ! kill -0 $holder 2>/dev/null; do sleep 0.5; done
: >/tmp/bench-console-rss
while kill -0 $holder 2>/dev/null; do rss >>/tmp/bench-console-rss; sleep 0.5; done
wait $holder || echo "# the browser holding the console failed" >&2
printf '%-52s %6s KiB\n' \
    "ternd RSS, $VMS VMs, no console" "$rss_idle" \
    "ternd RSS, $BIG VMs, no console" "$rss_big" \
    "ternd RSS, $BIG VMs, console open: median" "$(median </tmp/bench-console-rss)" \
    "ternd RSS, $BIG VMs, console open: max (target <= 65536)" "$(sort -n /tmp/bench-console-rss | tail -n 1)"
echo "# rows shown by the held page: $(tail -n 1 /tmp/bench-console-hold)"
