#!/usr/bin/env bash
# backup.sh - figures for `tern backup create`, measured in one run on a
# lab host, each next to its floor on the same files and the same file
# system: a running VM whose SIZE_MIB data disk (vdb) holds DATA_MIB of
# random data gets a full point, then RUNS incremental points, each after
# CHANGE_PCT % of the data was rewritten in the guest, then a resync point
# after QEMU is killed (-9) and the VM started again.  Floors: the disk's
# sequential rate (dd with O_DIRECT of a file of the same size as the
# data) and qemu-img convert + sync of the same image, plain and, as the
# backup writes its images, compressed (-c, zstd).  The guest's disk
# writer (4 KiB + fdatasync, on a third small disk, vdc) reports its
# latency: without a reference point (change tracking off), with one
# (tracking on), and while each backup runs.  Then the same guest, data
# and rewrites with libvirt 9.0, as an operator would back it up
# (`virsh backup-begin`, push mode, full and then incremental with
# checkpoints; bench/libvirt_lab.sh; LIBVIRT=0 skips it).  Reports;
# never fails on a number.
#
# The rewrite runs in the guest (busybox dd from /dev/urandom, 1 MiB
# records, O_DIRECT, at CHANGE_PCT/100 * DATA_MIB evenly spread offsets,
# moved by 1 MiB each run), so QEMU's dirty bitmap sees real guest
# writes.  tern's guest is reached through its agent with
# tests/guest/qga.py, which needs ternd off the agent's socket (it takes
# one client): ternd is stopped (SIGTERM; QEMU and its bitmaps run on)
# for the rewrite and started again before the backup.  libvirt's guest is
# reached with `virsh qemu-agent-command` guest-exec.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-backup} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bkb} LAB_NET=${BENCH_LAB_NET:-177}
LAB=$REPO/tests/lab/lab.sh
SIZE_MIB=${SIZE_MIB:-4096}	# the data disk, vdb
DATA_MIB=${DATA_MIB:-1024}	# random data at its start
CHANGE_PCT=${CHANGE_PCT:-5}	# of DATA_MIB, rewritten before each point
RUNS=${RUNS:-3}		# incremental points (and qemu-img converts)
BASE_S=${BASE_S:-20}	# seconds of latency samples, tracking off / on
LIBVIRT=${LIBVIRT:-1}	# 0: no libvirt rows
# libvirt's QEMU ports, apart from the other benches' (unused by a push
# backup, but libvirtd is configured with them)
export LIBVIRT_MIG_PORT=${LIBVIRT_MIG_PORT:-49408}
. "$REPO/bench/libvirt_lab.sh"

trap 'libvirt_down "$TERN_LAB" || true; "$LAB" down >/dev/null 2>&1 || true' EXIT
[ "$LIBVIRT" = 0 ] || libvirt_install
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 1 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
pool=$H1_POOL_DIR
work=$TERN_LAB/bench
repo=$TERN_LAB/repo
mkdir -p "$work" "$repo"
t() { "$LAB" tern h1 "$@"; }
ms() { date +%s%3N; }
timed() { local a; a=$(ms); "$@" >/dev/null; echo $(($(ms) - a)); }
# pct P: the P-th percentile of the numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
# lat FROM TO: latency samples (us) in the console between byte offsets
lat() { tail -c +"$(($1 + 1))" "$console" | head -c "$(($2 - $1))" |
	grep -a '^TERN-LAT' | tr ' ' '\n' | grep -E '^[0-9]+$' || true; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
mibs() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.1f", b / 1048576 * 1000 / (ms ? ms : 1)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
csize() { wc -c <"$console"; }
wait_lat() { for _ in $(seq 1 240); do grep -q TERN-LAT "$console" 2>/dev/null && return 0; sleep 0.5; done; return 1; }

# The rewrite: CHUNKS records of 1 MiB at offsets STRIDE MiB apart, moved
# by RUN MiB; rewrite_script RUN prints the guest's shell script.
CHUNKS=$(((DATA_MIB * CHANGE_PCT + 50) / 100))
((CHUNKS > 0)) || CHUNKS=1
STRIDE=$((DATA_MIB / CHUNKS))
CHANGED=$((CHUNKS << 20))
rewrite_script() {
	local o s=""
	for ((o = $1 % STRIDE; o < DATA_MIB; o += STRIDE)); do
		s+="$o "
	done
	# shellcheck disable=SC2016  # expanded in the guest
	printf 'set -e; for o in %s; do dd if=/dev/urandom of=/dev/vdb bs=1M count=1 seek=$o iflag=fullblock oflag=direct conv=notrunc 2>/dev/null; done; sync' \
	    "$(echo "$s" | cut -d' ' -f1-"$CHUNKS")"
}
# tern_rewrite RUN: ternd off the agent, the rewrite, ternd back.
tern_rewrite() {
	"$LAB" stop h1 >/dev/null 2>&1
	python3 "$REPO/tests/guest/qga.py" -t 300 "$H1_RUN_DIR/vms/$uuid/qga.sock" \
	    exec /bin/sh -c "$(rewrite_script "$1")" >/dev/null
	"$LAB" start h1 >/dev/null 2>&1
}
# tern_point NAME [--full]: a point, the guest's latency during it in
# $work/lat-NAME, "ms kind vdb_changed vdb_read vdb_written all_changed
# all_read all_written" appended to $work/pt-NAME
tern_point() {
	local name=$1 c0 c1 ms_bk job
	shift
	c0=$(csize)
	ms_bk=$(ms)
	job=$work/job-$name-$ms_bk
	t backup create b1 --to "$repo" "$@" --json >"$job"
	ms_bk=$(($(ms) - ms_bk))
	c1=$(csize)
	lat "$c0" "$c1" >>"$work/lat-$name"
	# and the job's own times: started .. ended, started .. snapshot
	t backup list "$repo" --json | jq -r --arg ms "$ms_bk" \
	    --slurpfile j "$job" 'def ms: capture("^(?<s>.*)\\.(?<m>[0-9]+)Z$") |
	    ((.s + "Z") | fromdate) * 1000 + (.m | tonumber);
	    ($j[0].started_at | ms) as $t0 | .points[-1] |
	    (.disks[] | select(.name == "vdb")) as $d | [$ms, .kind,
	    $d.changed_bytes, $d.read_bytes, $d.written_bytes,
	    ([.disks[].changed_bytes] | add), ([.disks[].read_bytes] | add),
	    ([.disks[].written_bytes] | add), ($j[0].ended_at | ms) - $t0,
	    $j[0].details.snap_ms - $t0] | join(" ")' >>"$work/pt-$name"
}

echo "# tern backup benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "accel=$(t host info --json | jq -r .accel), $DATA_MIB MiB of data" \
    "in a $SIZE_MIB MiB disk, $CHANGE_PCT % ($CHUNKS MiB) rewritten before" \
    "each of $RUNS incremental points"
t vm create b1 --cpus 1 --memory 256M --disk 256M --disk "${SIZE_MIB}M" \
    --disk 16M --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=b1 tern.workload=disk:/dev/vdc:0:lat" \
    >/dev/null
uuid=$(t vm show b1 --json | jq -r .uuid)
src=$pool/b1-vdb.qcow2
head -c "$((DATA_MIB << 20))" /dev/urandom >"$work/data.raw"
qemu-img convert -n -f raw -O qcow2 "$work/data.raw" "$src"
sync

# Floors, on the same file system as the pool and the repository.  The
# disk's sequential rates: DATA_MIB written and read back with O_DIRECT
# (no page cache).  qemu-img convert + sync of the same image (in the
# page cache, as the backup reads it), RUNS times, the median: plain, and
# with zstd-compressed clusters as the backup writes them (-c), the fair
# floor for the backup's rate.  Both run before the VM starts: they have
# both cores, where the backup shares them with the guest's TCG vCPU.
ms_seqw=$(timed dd if="$work/data.raw" of="$work/seq.raw" bs=4M oflag=direct status=none)
ms_seqr=$(timed dd if="$work/seq.raw" of=/dev/null bs=4M iflag=direct status=none)
rm -f "$work/data.raw" "$work/seq.raw"
seq_rate=$(awk -v m="$DATA_MIB" -v ms="$ms_seqr" 'BEGIN {print m * 1048576 * 1000 / ms}')
: >"$work/conv"; : >"$work/convc"
for _ in $(seq 1 "$RUNS"); do
	timed bash -c "qemu-img convert -f qcow2 -O qcow2 '$src' '$work/conv.qcow2' && sync '$work/conv.qcow2'" >>"$work/conv"
	rm -f "$work/conv.qcow2"
	timed bash -c "qemu-img convert -c -o compression_type=zstd -f qcow2 -O qcow2 '$src' '$work/conv.qcow2' && sync '$work/conv.qcow2'" >>"$work/convc"
	rm -f "$work/conv.qcow2"
done
ms_conv=$(pct 50 <"$work/conv")
ms_convc=$(pct 50 <"$work/convc")
alloc=$(($(stat -c %b "$src") * 512))
# libvirt's guest gets the same images, in a directory of its own.
lvd=$TERN_LAB/lv-pool
mkdir -p "$lvd"
if [ "$LIBVIRT" != 0 ]; then
	cp --sparse=always "$src" "$lvd/lv-b1-vdb.qcow2"
	qemu-img create -q -f qcow2 "$lvd/lv-b1-vda.qcow2" 256M
	qemu-img create -q -f qcow2 "$lvd/lv-b1-vdc.qcow2" 16M
fi

machine=$(t vm show b1 --json | jq -r '.machine // "q35"')
t vm start b1 >/dev/null
console=$H1_STATE_DIR/vms/$uuid/console.log
wait_lat
sleep 2
# Tracking off: no reference point yet.
nref=$(t vm refpoint list b1 --json | jq '.refpoints | length')
# window FILE: BASE_S seconds of latency samples appended to FILE
# (and its own p50/p99 to $work/windows, to show how much they vary)
window() {
	local c0 c1
	c0=$(csize); sleep "$BASE_S"; c1=$(csize)
	lat "$c0" "$c1" >"$1.w"
	cat "$1.w" >>"$1"
	echo "${1##*/} p50 $(pct 50 <"$1.w") p99 $(pct 99 <"$1.w") us ($(wc -l <"$1.w") samples)" >>"$work/windows"
}
: >"$work/windows"
: >"$work/lat-off"; : >"$work/lat-on"
window "$work/lat-off"

: >"$work/lat-full"; : >"$work/pt-full"
tern_point full
# Tracking on: the full point's reference point.
window "$work/lat-on"

: >"$work/lat-inc"; : >"$work/pt-inc"; : >"$work/rw"
for i in $(seq 1 "$RUNS"); do
	timed tern_rewrite "$i" >>"$work/rw"
	sleep 2
	tern_point inc
done

# Crash: QEMU killed, the VM started again, the same rewrite, a point.
qpid=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $uuid")
kill -9 "$qpid"
for _ in $(seq 1 60); do
	[ "$(t vm show b1 --json | jq -r .state)" = crashed ] && break
	sleep 0.5
done
t vm start b1 >/dev/null
boots=$(grep -ac TERN-GUEST-READY "$console")
for _ in $(seq 1 240); do
	[ "$(grep -ac TERN-GUEST-READY "$console")" -gt 1 ] && break
	sleep 0.5
done
sleep 3
tern_rewrite $((RUNS + 1))
sleep 2
: >"$work/lat-resync"; : >"$work/pt-resync"
tern_point resync
# Tracking on and off again, in the other order, so that neither owes
# its figure to when in the run it was measured.
sleep 2
window "$work/lat-on"
t vm refpoint list b1 --json | jq -r '.refpoints[].name' | sort -u |
    while read -r rp; do t vm refpoint delete b1 "$rp" >/dev/null; done
nref2=$(t vm refpoint list b1 --json | jq '.refpoints | length')
window "$work/lat-off"
acks=$(grep -ac TERN-ACK "$console")
boots=$(grep -ac TERN-GUEST-READY "$console")
t vm stop b1 >/dev/null 2>&1 || true

# ---- libvirt 9.0: the same guest, data and rewrites ----
# virsh backup-begin DOMAIN BACKUP.xml CHECKPOINT.xml, push mode, every
# disk into a qcow2 of its own in LABDIR/lv-repo; the first full with
# checkpoint cp0, then each incremental from cpN-1 with cpN.  A backup's
# time: backup-begin until `virsh domjobinfo` reports no job.
lv() { libvirt_virsh h1 "$@"; }
# lv_exec SCRIPT: sh -c SCRIPT in libvirt's guest through its agent
lv_exec() {
	local pid st
	pid=$(lv qemu-agent-command lv-b1 --timeout 10 "$(jq -nc --arg s "$1" \
	    '{execute: "guest-exec", arguments: {path: "/bin/sh",
	    arg: ["-c", $s], "capture-output": true}}')" | jq .return.pid)
	for _ in $(seq 1 600); do
		st=$(lv qemu-agent-command lv-b1 --timeout 10 \
		    "{\"execute\":\"guest-exec-status\",\"arguments\":{\"pid\":$pid}}")
		jq -e .return.exited <<<"$st" >/dev/null && break
		sleep 0.5
	done
	jq -e '.return.exitcode == 0' <<<"$st" >/dev/null
}
# lv_point NAME N: backup N (0: full), its latency in $work/lv-lat-NAME,
# "ms vdb_bytes all_bytes job_ms" (the targets' allocation; libvirt's
# time_elapsed) in $work/lv-pt-NAME
lv_point() {
	local name=$1 n=$2 dir=$TERN_LAB/lv-repo/$2 c0 c1 a d all=0 vdb=0
	mkdir -p "$dir"
	{
		echo "<domainbackup mode='push'>"
		((n == 0)) || echo "<incremental>cp$((n - 1))</incremental>"
		echo "<disks>"
		for d in vda vdb vdc; do
			echo "<disk name='$d' type='file'><target file='$dir/$d.qcow2'/><driver type='qcow2'/></disk>"
		done
		echo "</disks></domainbackup>"
	} >"$dir/backup.xml"
	{
		echo "<domaincheckpoint><name>cp$n</name><disks>"
		for d in vda vdb vdc; do
			echo "<disk name='$d' checkpoint='bitmap'/>"
		done
		echo "</disks></domaincheckpoint>"
	} >"$dir/checkpoint.xml"
	c0=$(csize)
	a=$(ms)
	if ! lv backup-begin lv-b1 "$dir/backup.xml" "$dir/checkpoint.xml" \
	    >"$dir/out" 2>&1; then
		sed "s/^/# libvirt backup-begin $name failed: /" "$dir/out" >>"$work/lv-err"
		return 1
	fi
	# Until virsh itself says there is no job (a virsh that fails to
	# answer is no answer).
	until lv domjobinfo lv-b1 2>/dev/null | grep -q '^Job type: *None'; do
		sleep 0.1
	done
	a=$(($(ms) - a))
	c1=$(csize)
	lat "$c0" "$c1" >>"$work/lv-lat-$name"
	lv domjobinfo lv-b1 --completed --rawstats >"$dir/jobinfo" 2>&1 || true
	for d in vda vdb vdc; do
		[ -f "$dir/$d.qcow2" ] || continue
		all=$((all + $(stat -c %b "$dir/$d.qcow2") * 512))
	done
	[ ! -f "$dir/vdb.qcow2" ] || vdb=$(($(stat -c %b "$dir/vdb.qcow2") * 512))
	echo "$a $vdb $all $(awk '$1 == "time_elapsed:" {print $2}' "$dir/jobinfo")" \
	    >>"$work/lv-pt-$name"
}
: >"$work/lv-err"; : >"$work/lv-lat-on"; : >"$work/lv-lat-off"
if [ "$LIBVIRT" != 0 ]; then
	# shellcheck disable=SC2034  # read by libvirt_define_guest
	LIBVIRT_MACHINE=$machine
	libvirt_up "$TERN_LAB" h1
	libvirt_define_guest h1 lv-b1 "$GUEST/vmlinuz" "$GUEST/initrd.img" \
	    "console=ttyS0 quiet tern.hostname=lv-b1 tern.workload=disk:/dev/vdc:0:lat" \
	    "$lvd/lv-b1-vda.qcow2,$lvd/lv-b1-vdb.qcow2,$lvd/lv-b1-vdc.qcow2" 256
	tern_console=$console
	console=$TERN_LAB/libvirt/lv-b1.console
	wait_lat
	for _ in $(seq 1 60); do
		lv qemu-agent-command lv-b1 --timeout 5 '{"execute":"guest-ping"}' \
		    >/dev/null 2>&1 && break
		sleep 1
	done
	sleep 2
	window "$work/lv-lat-off"
	: >"$work/lv-lat-full"; : >"$work/lv-pt-full"
	: >"$work/lv-lat-inc"; : >"$work/lv-pt-inc"; : >"$work/lv-rw"
	if lv_point full 0; then
		window "$work/lv-lat-on"
		for i in $(seq 1 "$RUNS"); do
			timed lv_exec "$(rewrite_script "$i")" >>"$work/lv-rw"
			sleep 2
			lv_point inc "$i" || break
		done
	fi
	lv_acks=$(grep -ac TERN-ACK "$console")
	lv_boots=$(grep -ac TERN-GUEST-READY "$console")
	lv destroy lv-b1 >/dev/null || true
	libvirt_down "$TERN_LAB"
	console=$tern_console
fi

# ---- report ----
col() { awk -v c="$1" '{print $c}' "$2" | pct 50; }
full_ms=$(col 1 "$work/pt-full")
full_w=$(col 8 "$work/pt-full")
inc_ms=$(col 1 "$work/pt-inc")
inc_ch=$(col 6 "$work/pt-inc")
rs_ms=$(col 1 "$work/pt-resync")
echo "# image: $(mib "$alloc") MiB allocated of $SIZE_MIB; the guest during" \
    "the run: $acks TERN-ACK lines, $boots boot(s); reference points" \
    "before the first point: $nref, after deleting them: $nref2; rewrite in the guest $(pct 50 <"$work/rw") ms (median)"
printf '%-60s %7s ms  %7s MiB/s\n' \
    "floor: disk sequential write, dd oflag=direct ($DATA_MIB MiB)" "$ms_seqw" "$(mibs $((DATA_MIB << 20)) "$ms_seqw")" \
    "floor: disk sequential read, dd iflag=direct ($DATA_MIB MiB)" "$ms_seqr" "$(mibs $((DATA_MIB << 20)) "$ms_seqr")" \
    "floor: qemu-img convert -O qcow2 + sync of vdb (median of $RUNS)" "$ms_conv" "$(mibs "$alloc" "$ms_conv")" \
    "floor: qemu-img convert -c (zstd) + sync of vdb (median of $RUNS)" "$ms_convc" "$(mibs "$alloc" "$ms_convc")" \
    "tern backup, full (3 disks, $(mib "$full_w") MiB written)" "$full_ms" "$(mibs "$full_w" "$full_ms")"
printf '%-60s %7s ms  changed %6s MiB  floor %5s ms  %5sx\n' \
    "tern backup, incremental (median of $RUNS, all disks)" "$inc_ms" \
    "$(mib "$inc_ch")" "$(awk -v b="$inc_ch" -v r="$seq_rate" 'BEGIN {printf "%d", b / r * 1000}')" \
    "$(awk -v ms="$inc_ms" -v b="$inc_ch" -v r="$seq_rate" 'BEGIN {printf "%.2f", ms / (b / r * 1000)}')" \
    "tern backup after QEMU kill -9 ($(awk '{print $2}' "$work/pt-resync"))" "$rs_ms" \
    "$(mib "$(col 6 "$work/pt-resync")")" "-" "-"
echo "# per point: ms (CLI; job; job start to snapshot) kind | vdb: changed read written MiB (x rewritten $(mib "$CHANGED") MiB) | all disks: changed read written MiB"
cat "$work"/pt-full "$work"/pt-inc "$work"/pt-resync | awk -v c="$CHANGED" '{
	printf "#   %6d %6d %5d %-11s | vdb %7.1f %7.1f %7.1f (read %.2fx, written %.2fx) | all %7.1f %7.1f %7.1f\n",
	$1, $9, $10, $2, $3/1048576, $4/1048576, $5/1048576, $4/c, $5/c, $6/1048576, $7/1048576, $8/1048576 }'
printf '%-60s p50 %6s us  p99 %6s us  (%d samples)\n' \
    "guest write latency, tracking off (no reference point, 2 windows)" \
    "$(pct 50 <"$work/lat-off")" "$(pct 99 <"$work/lat-off")" "$(wc -l <"$work/lat-off")" \
    "guest write latency, tracking on, idle (2 windows)" \
    "$(pct 50 <"$work/lat-on")" "$(pct 99 <"$work/lat-on")" "$(wc -l <"$work/lat-on")" \
    "guest write latency during the full backup" \
    "$(pct 50 <"$work/lat-full")" "$(pct 99 <"$work/lat-full")" "$(wc -l <"$work/lat-full")" \
    "guest write latency during the incremental backups" \
    "$(pct 50 <"$work/lat-inc")" "$(pct 99 <"$work/lat-inc")" "$(wc -l <"$work/lat-inc")"
echo "# window by window: $(paste -sd';' "$work/windows" | sed 's/;/; /g')"
echo "# ratios: full rate / convert rate $(ratio "$(mibs "$full_w" "$full_ms")" "$(mibs "$alloc" "$ms_conv")")," \
    "/ compressed convert rate $(ratio "$(mibs "$full_w" "$full_ms")" "$(mibs "$alloc" "$ms_convc")");" \
    "p99 on / off $(ratio "$(pct 99 <"$work/lat-on")" "$(pct 99 <"$work/lat-off")");" \
    "p99 during incrementals / idle on $(ratio "$(pct 99 <"$work/lat-inc")" "$(pct 99 <"$work/lat-on")");" \
    "resync ms / full ms $(ratio "$rs_ms" "$full_ms")"
[ "$LIBVIRT" != 0 ] || exit 0
echo "# libvirt $(libvirtd --version | awk '{print $NF}'), machine $machine:" \
    "virsh backup-begin, push, checkpoints; its guest: ${lv_acks:-0} TERN-ACK" \
    "lines, ${lv_boots:-0} boot(s); rewrite in the guest $(pct 50 <"$work/lv-rw") ms (median)"
if [ -s "$work/lv-pt-full" ]; then
	lf_ms=$(col 1 "$work/lv-pt-full") lf_b=$(col 3 "$work/lv-pt-full")
	printf '%-60s %7s ms  %7s MiB/s\n' \
	    "libvirt backup-begin, full ($(mib "$lf_b") MiB allocated)" "$lf_ms" "$(mibs "$lf_b" "$lf_ms")"
	echo "# libvirt's own time_elapsed: full $(col 4 "$work/lv-pt-full") ms," \
	    "incremental (median) $(col 4 "$work/lv-pt-inc") ms"
fi
if [ -s "$work/lv-pt-inc" ]; then
	printf '%-60s %7s ms  vdb %6s MiB  all %6s MiB allocated\n' \
	    "libvirt backup-begin, incremental (median of $(wc -l <"$work/lv-pt-inc"))" \
	    "$(col 1 "$work/lv-pt-inc")" "$(mib "$(col 2 "$work/lv-pt-inc")")" \
	    "$(mib "$(col 3 "$work/lv-pt-inc")")"
fi
printf '%-60s p50 %6s us  p99 %6s us  (%d samples)\n' \
    "libvirt guest write latency, no checkpoint" \
    "$(pct 50 <"$work/lv-lat-off")" "$(pct 99 <"$work/lv-lat-off")" "$(wc -l <"$work/lv-lat-off")" \
    "libvirt guest write latency, checkpoint (bitmap) on, idle" \
    "$(pct 50 <"$work/lv-lat-on")" "$(pct 99 <"$work/lv-lat-on")" "$(wc -l <"$work/lv-lat-on")" \
    "libvirt guest write latency during the full backup" \
    "$(pct 50 <"$work/lv-lat-full")" "$(pct 99 <"$work/lv-lat-full")" "$(wc -l <"$work/lv-lat-full")" \
    "libvirt guest write latency during the incremental backups" \
    "$(pct 50 <"$work/lv-lat-inc")" "$(pct 99 <"$work/lv-lat-inc")" "$(wc -l <"$work/lv-lat-inc")"
cat "$work/lv-err"
