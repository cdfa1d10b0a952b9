#!/usr/bin/env bash
# move_storage.sh - figures for `tern vm move-storage`, measured in one run
# on a lab host, each next to its floor on the same files and the same
# file system: a running VM whose data disk holds DATA_MIB of random data
# (its disk writer running flat out on its other disk, with latency
# reporting) is moved live between two pools RUNS times, against
# cp --sparse=always + sync of the same image; the same VM off is moved by
# copy, against qemu-img convert + sync; and the guest's write latency
# (pwrite + fdatasync of one 4 KiB record) p50/p99 while a mirror runs,
# against the same guest before any move.  Then the same guest and data
# moved live the same number of times with libvirt 9.0, as an operator
# would (`virsh blockcopy --wait --pivot`, one disk after the other;
# bench/libvirt_lab.sh; LIBVIRT=0 skips it), with its own latency
# figures.  Reports; never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-storage} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bs} LAB_NET=${BENCH_LAB_NET:-127}
LAB=$REPO/tests/lab/lab.sh
DATA_MIB=${DATA_MIB:-512}
SIZE_MIB=${SIZE_MIB:-2048}
RUNS=${RUNS:-3}
BASE_S=${BASE_S:-20}	# seconds of latency samples before any move
LIBVIRT=${LIBVIRT:-1}	# 0: no libvirt rows
. "$REPO/bench/libvirt_lab.sh"

trap 'libvirt_down "$TERN_LAB" || true; "$LAB" down >/dev/null 2>&1 || true' EXIT
[ "$LIBVIRT" = 0 ] || libvirt_install
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 1 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
pool=$H1_POOL_DIR
p2=$TERN_LAB/pool2
work=$TERN_LAB/bench
mkdir -p "$work" "$p2"
t() { "$LAB" tern h1 "$@"; }
ms() { date +%s%3N; }
timed() { local a; a=$(ms); "$@" >/dev/null; echo $(($(ms) - a)); }
# pct P: the P-th percentile of the numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
# lat FROM TO: latency samples (us) in the console between byte offsets
lat() { tail -c +"$(($1 + 1))" "$console" | head -c "$(($2 - $1))" |
	grep -a '^TERN-LAT' | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }
mibs() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.1f", b / 1048576 * 1000 / (ms ? ms : 1)}'; }

t pool create pool2 "$p2" >/dev/null
echo "# tern move-storage benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "accel=$(t host info --json | jq -r .accel), $DATA_MIB MiB of data" \
    "in a $SIZE_MIB MiB disk, $RUNS live moves"
t vm create b1 --cpus 1 --memory 256M --disk "${SIZE_MIB}M" --disk 64M \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=b1 tern.workload=disk:/dev/vdb:0:lat" \
    >/dev/null
head -c "$((DATA_MIB << 20))" /dev/urandom >"$work/data.raw"
qemu-img convert -n -f raw -O qcow2 "$work/data.raw" "$pool/b1-vda.qcow2"
rm -f "$work/data.raw"
src=$pool/b1-vda.qcow2
# libvirt's guest gets the same image, in directories of its own on the
# same file system.
lva=$TERN_LAB/lv-pool-a lvb=$TERN_LAB/lv-pool-b
mkdir -p "$lva" "$lvb"
[ "$LIBVIRT" = 0 ] || cp --sparse=always "$src" "$lva/lv-b1-vda.qcow2"
alloc=$(($(stat -c %b "$src") * 512))
sync

# Floors first, on the same file system, the source in the page cache;
# RUNS of each, alternating, the median kept.
: >"$work/cp"; : >"$work/conv"
for i in $(seq 1 "$RUNS"); do
	timed bash -c "cp --sparse=always '$src' '$work/cp.qcow2' && sync '$work/cp.qcow2'" >>"$work/cp"
	rm -f "$work/cp.qcow2"
	timed bash -c "qemu-img convert -f qcow2 -O qcow2 '$src' '$work/conv.qcow2' && sync '$work/conv.qcow2'" >>"$work/conv"
	rm -f "$work/conv.qcow2"
done
ms_cp=$(pct 50 <"$work/cp")
ms_conv=$(pct 50 <"$work/conv")

machine=$(t vm show b1 --json | jq -r '.machine // "q35"')
t vm start b1 >/dev/null
console=$H1_STATE_DIR/vms/$(t vm show b1 --json | jq -r .uuid)/console.log
for _ in $(seq 1 120); do grep -q TERN-LAT "$console" 2>/dev/null && break; sleep 0.5; done
b0=$(stat -c %s "$console")
sleep "$BASE_S"
b1=$(stat -c %s "$console")
lat "$b0" "$b1" >"$work/lat-base"

: >"$work/lat-mirror"; : >"$work/live"
dst=pool2
for i in $(seq 1 "$RUNS"); do
	m0=$(stat -c %s "$console")
	job=$(t vm move-storage b1 --to "$dst" --json)
	m1=$(stat -c %s "$console")
	lat "$m0" "$m1" >>"$work/lat-mirror"
	jq -r '"\(.details.total_ms) \(.details.copied_bytes)"' <<<"$job" >>"$work/live"
	dst=$([ "$dst" = pool2 ] && echo local || echo pool2)
	sleep 3
done
acks=$(grep -ac TERN-ACK "$console")
boots=$(grep -ac TERN-GUEST-READY "$console")
t vm stop b1 >/dev/null
job=$(t vm move-storage b1 --to "$dst" --json)
ms_copy=$(jq -r .details.total_ms <<<"$job")
copied=$(jq -r .details.copied_bytes <<<"$job")

# ---- libvirt 9.0: the same guest and data, RUNS live moves ----
# Each move: `virsh blockcopy DISK --dest NEW --wait --pivot` for vda,
# then vdb (virsh copies one disk a command), the old images removed;
# its time is the two commands'.
if [ "$LIBVIRT" != 0 ]; then
	# shellcheck disable=SC2034  # read by libvirt_define_guest
	LIBVIRT_MACHINE=$machine
	libvirt_up "$TERN_LAB" h1
	qemu-img create -q -f qcow2 "$lva/lv-b1-vdb.qcow2" 64M
	libvirt_define_guest h1 lv-b1 "$GUEST/vmlinuz" "$GUEST/initrd.img" \
	    "console=ttyS0 quiet tern.hostname=lv-b1 tern.workload=disk:/dev/vdb:0:lat" \
	    "$lva/lv-b1-vda.qcow2,$lva/lv-b1-vdb.qcow2" 256
	tern_console=$console
	console=$TERN_LAB/libvirt/lv-b1.console
	for _ in $(seq 1 120); do grep -q TERN-LAT "$console" 2>/dev/null && break; sleep 0.5; done
	b0=$(stat -c %s "$console")
	sleep "$BASE_S"
	b1=$(stat -c %s "$console")
	lat "$b0" "$b1" >"$work/lv-lat-base"
	: >"$work/lv-lat-mirror"; : >"$work/lv-live"; : >"$work/lv-err"
	from=$lva to=$lvb
	for _ in $(seq 1 "$RUNS"); do
		m0=$(stat -c %s "$console")
		ms_sum=0 bytes_sum=0 ok=1
		for d in vda vdb; do
			j=$(libvirt_blockcopy h1 lv-b1 "$d" "$to/lv-b1-$d.qcow2")
			if [ "$(jq -r .ok <<<"$j")" != true ]; then
				jq -r .error <<<"$j" >>"$work/lv-err"
				ok=0
				break
			fi
			ms_sum=$((ms_sum + $(jq .total_ms <<<"$j")))
			bytes_sum=$((bytes_sum + $(jq .bytes <<<"$j")))
		done
		m1=$(stat -c %s "$console")
		lat "$m0" "$m1" >>"$work/lv-lat-mirror"
		((ok)) || break
		echo "$ms_sum $bytes_sum" >>"$work/lv-live"
		tmp=$from; from=$to; to=$tmp
		sleep 3
	done
	lv_acks=$(grep -ac TERN-ACK "$console")
	lv_boots=$(grep -ac TERN-GUEST-READY "$console")
	libvirt_virsh h1 destroy lv-b1 >/dev/null || true
	libvirt_down "$TERN_LAB"
	console=$tern_console
fi

live_ms=$(awk '{print $1}' "$work/live" | pct 50)
live_bytes=$(awk '{print $2}' "$work/live" | pct 50)
echo "# source image: $((alloc >> 20)) MiB allocated; the guest during the" \
    "run: $acks TERN-ACK lines, $boots boot(s)"
printf '%-56s %7s ms  %7s MiB/s\n' \
    "floor: cp --sparse=always + sync (median of $RUNS)" "$ms_cp" "$(mibs "$alloc" "$ms_cp")" \
    "floor: qemu-img convert -O qcow2 + sync (median of $RUNS)" "$ms_conv" "$(mibs "$alloc" "$ms_conv")" \
    "tern move-storage, running VM (median of $RUNS, both disks)" "$live_ms" "$(mibs "$live_bytes" "$live_ms")" \
    "tern move-storage, VM off (copy, both disks)" "$ms_copy" "$(mibs "$copied" "$ms_copy")"
printf '%-56s p50 %6s us  p99 %6s us  (%d samples)\n' \
    "guest write latency (4 KiB + fdatasync), no move" \
    "$(pct 50 <"$work/lat-base")" "$(pct 99 <"$work/lat-base")" "$(wc -l <"$work/lat-base")" \
    "guest write latency while the mirror runs" \
    "$(pct 50 <"$work/lat-mirror")" "$(pct 99 <"$work/lat-mirror")" "$(wc -l <"$work/lat-mirror")"
awk '{printf "# live run: %d ms, %.1f MiB copied\n", $1, $2 / 1048576}' "$work/live"
[ "$LIBVIRT" != 0 ] || exit 0
lv_ms=$(awk '{print $1}' "$work/lv-live" | pct 50)
lv_bytes=$(awk '{print $2}' "$work/lv-live" | pct 50)
echo "# libvirt $(libvirtd --version | awk '{print $NF}'), machine $machine:" \
    "the same image, between two directories on the same file system;" \
    "its guest during the run: $lv_acks TERN-ACK lines, $lv_boots boot(s)"
printf '%-56s %7s ms  %7s MiB/s\n' \
    "libvirt blockcopy, running VM (median of $(wc -l <"$work/lv-live"), both disks)" \
    "$lv_ms" "$(mibs "${lv_bytes/-/0}" "${lv_ms/-/0}")"
printf '%-56s p50 %6s us  p99 %6s us  (%d samples)\n' \
    "libvirt guest write latency, no move" \
    "$(pct 50 <"$work/lv-lat-base")" "$(pct 99 <"$work/lv-lat-base")" "$(wc -l <"$work/lv-lat-base")" \
    "libvirt guest write latency while blockcopy runs" \
    "$(pct 50 <"$work/lv-lat-mirror")" "$(pct 99 <"$work/lv-lat-mirror")" "$(wc -l <"$work/lv-lat-mirror")"
awk '{printf "# libvirt live run: %d ms, %.1f MiB copied\n", $1, $2 / 1048576}' "$work/lv-live"
sed 's/^/# libvirt blockcopy failed: /' "$work/lv-err"
