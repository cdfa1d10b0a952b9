#!/usr/bin/env bash
# replica.sh - figures for Replica (`tern vm replication`), measured in
# one run on a 2-host lab (h1 the primary, h2 the replica server), each
# next to its floor measured in the same run:
#
#   - the initial copy of DATA_MIB written on a SIZE_MIB data disk (vdb),
#     next to the plain QEMU way over the same link (qemu-nbd on h1,
#     `qemu-img convert` from nbd:// on h2, + sync: no TLS, no checks);
#   - for each guest write rate in RATES (MiB/s; default "10 50"), CYCLES
#     (20) cycles at a 30 s interval while the guest rewrites vdb at that
#     pace: per cycle the bytes the guest changed (before compression),
#     the bytes sent, the compression ratio, the cycle's wall time next to
#     changed / min(zstd rate, link rate) + 1 s, and the lag (now minus
#     the replica's latest point time, every second of the window, from
#     the cycles' point and acknowledgement times) p50/p99;
#   - the guest's write latency (4 KiB + fdatasync, the disk writer on
#     vdc at 100 records/s, replicated too) p50/p99 during each rate's
#     BASE_S (60) s with replication paused and during its cycles;
#   - a resync after QEMU is killed (-9) and the VM started again: its
#     bytes sent and time next to the initial copy's.
#
# Floors: the link (`tern peer measure`, ternd's TLS probe) and zstd
# level 1 on one core (the delta's compressor) over the guest's data
# pattern, on the host.  The guest writes 1 MiB records with O_DIRECT,
# alternately from 32 MiB of random bytes and 32 MiB of repeated text
# (about 2:1 under zstd), at offsets that move through SPAN_MIB of vdb;
# each second RATE records, then `sleep 1`, so the pace is at most RATE:
# the changed bytes per cycle show the pace it kept.
#
# libvirt has no replication of its own (an operator of libvirt hosts
# would script backups, or replicate the storage: DRBD, ZFS send), so no
# libvirt row here; the plain QEMU initial copy is the comparison.
# Reports; never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-replica} \
    TERN_LAB_ID=${BENCH_LAB_ID:-rpb} LAB_NET=${BENCH_LAB_NET:-178}
LAB=$REPO/tests/lab/lab.sh
SIZE_MIB=${SIZE_MIB:-4096}	# the data disk, vdb
DATA_MIB=${DATA_MIB:-1024}	# written on it before the initial copy
SPAN_MIB=${SPAN_MIB:-3072}	# the guest's rewrites move through this
RATES=${RATES:-10 50}		# guest write rates, MiB/s
CYCLES=${CYCLES:-20}		# cycles per rate
INTERVAL=30			# s, the interval the cycles run at
BASE_S=${BASE_S:-60}		# s of latency with replication paused

trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 2 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
work=$TERN_LAB/bench
mkdir -p "$work"
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
ms() { date +%s%3N; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
mibs() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.1f", b / 1048576 * 1000 / (ms ? ms : 1)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }

f1=$(t h1 host info --json | jq -r .fingerprint)
f2=$(t h2 host info --json | jq -r .fingerprint)
t h1 peer add h2 "$H2_URL" --fingerprint "$f2" >/dev/null
t h2 peer add h1 "$H1_URL" --fingerprint "$f1" >/dev/null
t h2 replica server enable --allow h1=local >/dev/null

echo "# tern replica benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "accel=$(t h1 host info --json | jq -r .accel); $DATA_MIB MiB in a" \
    "$SIZE_MIB MiB disk; rates ${RATES// /, } MiB/s, $CYCLES cycles each" \
    "at ${INTERVAL}s"

# ---- floors: the link, zstd ----
link=$(t h1 peer measure h2 --json | jq '.details.rate_bytes_per_s')
head -c 32M /dev/urandom >"$work/r"
{ yes 'tern replica benchmark: a line of text repeated, as logs are' ||
    true; } | head -c 32M >"$work/t"
cat "$work/r" "$work/t" "$work/r" "$work/t" >"$work/pattern"
a=$(ms)
zlen=$(zstd -1 -T1 -c "$work/pattern" | wc -c)
zms=$(($(ms) - a))
zrate=$(awk -v ms="$zms" 'BEGIN {print int(128 * 1048576 * 1000 / ms)}')
floor=$(awk -v a="$link" -v b="$zrate" 'BEGIN {print (a < b) ? a : b}')
printf '%-60s %10s MiB/s\n' "link: ternd TLS probe (tern peer measure)" "$(mib "$link")"
printf '%-60s %10s MiB/s (ratio %s:1)\n' "zstd -1, one core, the guest's data pattern" \
    "$(mib "$zrate")" "$(ratio $((128 << 20)) "$zlen")"

# ---- the VM: DATA_MIB of the pattern on vdb before it starts ----
t h1 vm create r1 --cpus 1 --memory 512M --disk 256M --disk "${SIZE_MIB}M" \
    --disk 16M --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=r1 tern.workload=disk:/dev/vdc:100:lat" \
    >/dev/null
uuid=$(t h1 vm show r1 --json | jq -r .uuid)
src=$H1_POOL_DIR/r1-vdb.qcow2
for _ in $(seq 1 $((DATA_MIB / 128))); do cat "$work/pattern"; done >"$work/data.raw"
qemu-img convert -n -f raw -O qcow2 "$work/data.raw" "$src"
rm -f "$work/data.raw"
sync

# The plain QEMU way over the same link: qemu-nbd on h1 (read-only),
# qemu-img convert on h2 from nbd:// into a qcow2 on its pool, + sync.
"$LAB" exec h1 qemu-nbd -r -t -f qcow2 -b "$H1_ADDR" -p 10809 --fork \
    --pid-file "$work/nbd.pid" "$src"
a=$(ms)
"$LAB" exec h2 bash -c "qemu-img convert -O qcow2 nbd://$H1_ADDR:10809 \
    '$H2_POOL_DIR/plain.qcow2' && sync '$H2_POOL_DIR/plain.qcow2'"
plain_ms=$(($(ms) - a))
kill "$(cat "$work/nbd.pid")"
rm -f "$H2_POOL_DIR/plain.qcow2"

t h1 vm start r1 >/dev/null
console=$H1_STATE_DIR/vms/$uuid/console.log
for _ in $(seq 1 240); do grep -q TERN-LAT "$console" 2>/dev/null && break; sleep 0.5; done
csize() { wc -c <"$console"; }
# lat FROM TO: latency samples (us) in the console between byte offsets
lat() { tail -c +"$(($1 + 1))" "$console" | head -c "$(($2 - $1))" |
	grep -a '^TERN-LAT' | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }

# cycles_since ID: "id kind snap_ms start_ms end_ms changed sent data
# stored" of each succeeded vm.replicate job after job ID, oldest first
cycles_since() {
	t h1 job list --json | jq -r --argjson after "$1" 'def ms:
	    capture("^(?<s>.*)\\.(?<m>[0-9]+)Z$") | ((.s + "Z") | fromdate) *
	    1000 + (.m | tonumber);
	    [.jobs[] | select(.type == "vm.replicate" and .id > $after and
	    .state == "succeeded")] | sort_by(.id)[] | [.id, .details.kind,
	    .details.snap_ms, (.started_at | ms), (.ended_at | ms),
	    ([.details.disks[].summary.delta_guest_bytes] | add),
	    ([.details.disks[].summary.delta_bytes] | add),
	    ([.details.disks[].summary.delta_data_bytes] | add),
	    ([.details.disks[].summary.delta_stored_bytes] | add)] | join(" ")'
}
# applies_since MS: the wall time (ms) of each replica.apply job on h2
# that started after MS, oldest first
applies_since() {
	t h2 job list --json | jq -r --argjson after "$1" 'def ms:
	    capture("^(?<s>.*)\\.(?<m>[0-9]+)Z$") | ((.s + "Z") | fromdate) *
	    1000 + (.m | tonumber);
	    [.jobs[] | select(.type == "replica.apply" and .state ==
	    "succeeded" and (.started_at | ms) > $after)] | sort_by(.id)[] |
	    (.ended_at | ms) - (.started_at | ms)'
}
last_job() { t h1 job list --json | jq '[.jobs[].id] | max // 0'; }

# ---- the initial copy ----
j0=$(last_job)
a=$(ms)
t h1 vm replication enable r1 --to h2 --interval "${INTERVAL}s" >/dev/null
for _ in $(seq 1 3600); do
	[ "$(t h1 vm replication show r1 --json | jq -r .state)" = replicating ] && break
	sleep 1
done
initial_ms=$(($(ms) - a))
read -r _ ikind _ is ie ich isent idata _ <<<"$(cycles_since "$j0" | head -1)"
t h1 vm replication pause r1 >/dev/null

# The guest's rewriter, started through its agent (ternd off the
# agent's socket meanwhile; QEMU runs on).
guest_sh() {
	"$LAB" stop h1 >/dev/null 2>&1
	python3 "$REPO/tests/guest/qga.py" -t 300 "$H1_RUN_DIR/vms/$uuid/qga.sock" \
	    exec /bin/sh -c "$1" >/dev/null
	"$LAB" start h1 >/dev/null 2>&1
}
guest_sh "head -c 33554432 /dev/urandom >/tmp/r; yes 'tern replica benchmark: \
a line of text repeated, as logs are' | head -c 33554432 >/tmp/t"
# The rewriter, /tmp/rw.sh R S in the guest (busybox: no pkill, so its
# pid in /tmp/rw.pid).
# shellcheck disable=SC2016  # expanded in the guest
guest_sh 'cat >/tmp/rw.sh <<"EOF"
R=$1 S=$2 i=0
while :; do
	k=0
	while [ $k -lt $R ]; do
		o=$(((i * R + k) % S)) f=/tmp/r
		[ $((o % 2)) = 0 ] && f=/tmp/t
		dd if=$f of=/dev/vdb bs=1M count=1 skip=$((o % 32)) seek=$o \
		    oflag=direct conv=notrunc 2>/dev/null
		k=$((k + 1))
	done
	i=$((i + 1))
	sleep 1
done
EOF'
rw_stop='[ -f /tmp/rw.pid ] && kill $(cat /tmp/rw.pid); rm -f /tmp/rw.pid; true'
: >"$work/summary"
for rate in $RATES; do
	guest_sh "$rw_stop; setsid sh /tmp/rw.sh $rate $SPAN_MIB </dev/null \
	    >/dev/null 2>&1 & echo \$! >/tmp/rw.pid"
	c0=$(csize); sleep "$BASE_S"; c1=$(csize)
	lat "$c0" "$c1" >"$work/lat-off-$rate"
	j0=$(last_job)
	t h1 vm replication resume r1 >/dev/null
	# The first cycle after resume carries the paused window: not counted.
	for _ in $(seq 1 300); do
		[ "$(cycles_since "$j0" | wc -l)" -ge 1 ] && break
		sleep 1
	done
	j1=$(cycles_since "$j0" | head -1 | cut -d' ' -f1)
	c0=$(csize); w0=$(ms)
	for _ in $(seq 1 $(((CYCLES + 1) * INTERVAL * 2))); do
		[ "$(cycles_since "$j1" | wc -l)" -ge "$CYCLES" ] && break
		sleep 1
	done
	c1=$(csize); w1=$(ms)
	lat "$c0" "$c1" >"$work/lat-on-$rate"
	t h1 vm replication pause r1 >/dev/null
	cycles_since "$j1" | head -"$CYCLES" >"$work/cycles-$rate"
	# lag: every second of the window, now minus the point time of the
	# latest cycle acknowledged by then (the resume's first included).
	{ cycles_since "$j0" | head -1; cat "$work/cycles-$rate"; } |
	    awk -v w0="$w0" -v w1="$w1" '{s[NR]=$3; e[NR]=$5} END {
	    for (t = w0; t <= w1; t += 1000) { p = 0
	    for (i = 1; i <= NR; i++) if (e[i] <= t) p = s[i]
	    if (p) print t - p }}' >"$work/lag-$rate"
	awk -v link="$floor" '{wall = $5 - $4; bound = $6 / link * 1000 + 1000
	    print wall, bound, $6, $7, $8, $9}' "$work/cycles-$rate" >"$work/c-$rate"
	applies_since "$w0" | head -"$CYCLES" >"$work/apply-$rate"
	echo "$rate" >>"$work/summary"
done
guest_sh "$rw_stop"

# ---- resync after QEMU kill -9 ----
qpid=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $uuid")
kill -9 "$qpid"
for _ in $(seq 1 60); do
	[ "$(t h1 vm show r1 --json | jq -r .state)" = crashed ] && break
	sleep 0.5
done
t h1 vm start r1 >/dev/null
sleep 5
j0=$(last_job)
t h1 vm replication resume r1 >/dev/null
t h1 vm replication now r1 >/dev/null 2>&1 || true
for _ in $(seq 1 600); do
	[ "$(cycles_since "$j0" | wc -l)" -ge 1 ] && break
	sleep 1
done
read -r _ rkind _ rs re rch rsent rdata _ <<<"$(cycles_since "$j0" | head -1)"
t h1 vm stop r1 >/dev/null 2>&1 || true

# ---- report ----
echo
printf '%-60s %10s %10s %10s\n' "initial copy of $DATA_MIB MiB" "time s" "MiB/s" "vs plain"
printf '%-60s %10s %10s %10s\n' "plain QEMU: qemu-nbd + qemu-img convert nbd:// + sync" \
    "$(awk -v m="$plain_ms" 'BEGIN {printf "%.1f", m / 1000}')" \
    "$(mibs $((DATA_MIB << 20)) "$plain_ms")" "1.00"
printf '%-60s %10s %10s %10s\n' "tern: enable until acknowledged ($ikind, $(mib "$isent") MiB sent)" \
    "$(awk -v m="$initial_ms" 'BEGIN {printf "%.1f", m / 1000}')" \
    "$(mibs $((DATA_MIB << 20)) "$initial_ms")" "$(ratio "$plain_ms" "$initial_ms")"
printf '%-60s %10s %10s\n' "  of which the cycle job (start to acknowledged)" \
    "$(awk -v m="$((ie - is))" 'BEGIN {printf "%.1f", m / 1000}')" \
    "$(mibs $((DATA_MIB << 20)) $((ie - is)))"
echo
printf '%-9s %6s %9s %9s %8s %8s %9s %9s %8s %8s %9s %9s\n' "rate" "cycles" \
    "changed" "sent" "sent/" "zstd" "wall p50" "bound" "lag p50" "lag p99" \
    "lat p99" "lat p99"
printf '%-9s %6s %9s %9s %8s %8s %9s %9s %8s %8s %9s %9s\n' "MiB/s" "" \
    "MiB p50" "MiB p50" "changed" "ratio" "s" "p50 s" "s" "s" "off us" "on us"
for rate in $(cat "$work/summary"); do
	c=$work/c-$rate
	printf '%-9s %6s %9s %9s %8s %8s %9s %9s %8s %8s %9s %9s\n' "$rate" \
	    "$(wc -l <"$c")" \
	    "$(mib "$(awk '{print $3}' "$c" | pct 50)")" \
	    "$(mib "$(awk '{print $4}' "$c" | pct 50)")" \
	    "$(ratio "$(awk '{s += $4} END {print s}' "$c")" "$(awk '{s += $3} END {print s}' "$c")")" \
	    "$(ratio "$(awk '{s += $5} END {print s}' "$c")" "$(awk '{s += $6} END {print s}' "$c")")" \
	    "$(awk '{printf "%.1f\n", $1 / 1000}' "$c" | pct 50)" \
	    "$(awk '{printf "%.1f\n", $2 / 1000}' "$c" | pct 50)" \
	    "$(awk '{printf "%.1f\n", $1 / 1000}' "$work/lag-$rate" | pct 50)" \
	    "$(awk '{printf "%.1f\n", $1 / 1000}' "$work/lag-$rate" | pct 99)" \
	    "$(pct 99 <"$work/lat-off-$rate")" "$(pct 99 <"$work/lat-on-$rate")"
	printf '%-9s cycles over their bound: %s of %s; guest pace kept: %s MiB/s;' \
	    "" "$(awk '$1 > $2' "$c" | wc -l)" "$(wc -l <"$c")" \
	    "$(awk -v i="$INTERVAL" '{printf "%.1f\n", $3 / 1048576 / i}' "$c" | pct 50)"
	printf ' latency p50 off/on: %s/%s us;' "$(pct 50 <"$work/lat-off-$rate")" \
	    "$(pct 50 <"$work/lat-on-$rate")"
	printf ' of the wall, the replica applying p50: %s s\n' \
	    "$(awk '{printf "%.1f\n", $1 / 1000}' "$work/apply-$rate" | pct 50)"
done
echo
printf '%-60s %10s %10s %10s %10s\n' "resync after QEMU kill -9" "time s" "sent MiB" \
    "data MiB" "delta MiB"
printf '%-60s %10s %10s %10s %10s\n' "tern: the cycle after the restart ($rkind)" \
    "$(awk -v m="$((re - rs))" 'BEGIN {printf "%.1f", m / 1000}')" \
    "$(mib "$rsent")" "$(mib "$rdata")" "$(mib "$rch")"
printf '%-60s %10s %10s %10s %10s\n' "tern: the initial copy, for scale" \
    "$(awk -v m="$((ie - is))" 'BEGIN {printf "%.1f", m / 1000}')" \
    "$(mib "$isent")" "$(mib "$idata")" "$(mib "$ich")"
