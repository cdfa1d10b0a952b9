#!/usr/bin/env bash
# migrate_copy.sh - shared-nothing live migration, measured in one run on a
# 2-host lab with separate pools: a guest whose data disk holds DATA_MIB of
# written data and whose memory holds ~MEM_MIB of non-zero pages (the
# dirtier, slow) moves back and forth RUNS times.  Each move's total time
# is set against its floor: (allocated disk bytes + non-zero memory sent)
# / the link rate measured in the same run, both by ternd's own TLS probe
# (`tern peer measure`, the path the move takes) and by a raw TCP stream
# between the two namespaces.  Then the same guest, the same data and the
# same number of moves with libvirt 9.0, as an operator would (`virsh
# migrate --live --p2p --tls --copy-storage-all`, bench/libvirt_lab.sh;
# LIBVIRT=0 skips it), in a table of the same shape.  Reports; never
# fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=$BUILD/guest
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-copy} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bc} LAB_NET=${BENCH_LAB_NET:-133}
LAB=$REPO/tests/lab/lab.sh
RUNS=${RUNS:-6}
DATA_MIB=${DATA_MIB:-512}
MEM_MIB=${MEM_MIB:-200}
LIBVIRT=${LIBVIRT:-1}		# 0: no libvirt table
. "$REPO/bench/libvirt_lab.sh"

trap 'libvirt_down "$TERN_LAB" || true; "$LAB" down >/dev/null 2>&1 || true' EXIT
[ "$LIBVIRT" = 0 ] || libvirt_install
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 2 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
f1=$(t h1 host info --json | jq -r .fingerprint)
f2=$(t h2 host info --json | jq -r .fingerprint)
t h1 peer add h2 "$H2_URL" --fingerprint "$f2" >/dev/null
t h2 peer add h1 "$H1_URL" --fingerprint "$f1" >/dev/null

echo "# tern shared-nothing migration benchmark, $(date -u +%FT%TZ)," \
    "$(nproc) cores, TCG; $DATA_MIB MiB written on a data disk, ~$MEM_MIB" \
    "MiB of non-zero guest memory, $RUNS moves"

# ---- the link, two ways, in this run ----
tls=$(t h1 peer measure h2 --json | jq '.details.rate_bytes_per_s')
port=5201
"$LAB" exec h2 python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$H2_ADDR', $port)); s.listen(1); c, _ = s.accept()
while c.recv(1 << 20): pass" &
sleep 0.5
raw=$("$LAB" exec h1 python3 -c "
import socket, time
b = bytes(1 << 20); s = socket.create_connection(('$H2_ADDR', $port))
t = time.monotonic()
for _ in range(1024): s.sendall(b)
s.shutdown(socket.SHUT_WR); s.recv(1)
print(int(1024 * (1 << 20) / (time.monotonic() - t)))")
wait
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
printf '%-58s %8s MiB/s\n' "link: ternd TLS probe (tern peer measure, 64 MiB)" \
    "$(mib "$tls")"
printf '%-58s %8s MiB/s\n' "link: raw TCP between the namespaces (1 GiB)" \
    "$(mib "$raw")"

# ---- the guest: data written on vdc before it starts ----
t h1 vm create b1 --cpus 1 --memory "$((MEM_MIB + 256))M" --disk 256M \
    --disk 64M --disk "$((DATA_MIB * 2))M" --kernel "$GUEST/vmlinuz" \
    --initrd "$GUEST/initrd.img" --cmdline "console=ttyS0 quiet \
tern.hostname=b1 tern.workload=disk:/dev/vdb:20+dirty:2:$MEM_MIB" >/dev/null
qemu-io -f qcow2 -c "write -P 0x5a 0 ${DATA_MIB}M" "$H1_POOL_DIR/b1-vdc.qcow2" \
    >/dev/null
t h1 vm start b1 >/dev/null
sleep 15	# boot, and let the dirtier touch its memory

# row TOTAL_MS DOWNTIME_MS ALLOC MEMORY_BYTES: one tab-separated row
row() {
	jq -nr --argjson t "$1" --argjson d "$2" --argjson alloc "$3" \
	    --argjson m "$4" --argjson tls "$tls" --argjson raw "$raw" '
	    (($alloc + $m) / $tls * 1000) as $floor |
	    [$t, $d, ($alloc / 1048576), ($m / 1048576), $floor, ($t / $floor),
	     (($alloc + $m) / $raw * 1000)] | @tsv'
}
alloc_of() { stat -c '%b %B' "$@" | awk '{s += $1 * $2} END {print s}'; }
# table TITLE ROW...: the rows, then their medians
table() {
	local i=0 r mt mr md
	echo
	echo "$1"
	shift
	printf '%-4s %9s %9s %11s %11s %11s %7s %11s\n' run total_ms down_ms \
	    disk_MiB memory_MiB floor_ms ratio raw_floor
	for r in "$@"; do
		i=$((i + 1))
		# shellcheck disable=SC2086  # r: the row's 7 fields
		printf '%-4s %9.0f %9.0f %11.1f %11.1f %11.0f %7.2f %11.0f\n' "$i" $r
	done
	(($#)) || { echo "(no completed move)"; return 0; }
	mt=$(printf '%s\n' "$@" | cut -f1 | med)
	mr=$(printf '%s\n' "$@" | cut -f6 | med)
	md=$(printf '%s\n' "$@" | cut -f2 | med)
	echo "median total $mt ms, median downtime $md ms; median total / floor $mr" \
	    "(floor: allocated disk + memory sent, over the TLS probe rate)"
}
med() { sort -g | awk '{v[NR] = $1} END { print v[int((NR + 1) / 2)] }'; }

src=h1 dst=h2 sp=$H1_POOL_DIR
rows=()
for i in $(seq 1 "$RUNS"); do
	alloc=$(alloc_of "$sp"/b1-vd?.qcow2)
	j=$(t $src vm move b1 --to $dst --json)
	rows+=("$(jq -r '.details | "\(.total_ms) \(.result.downtime_ms) \(.result.bytes)"' \
	    <<<"$j" | { read -r a b c; row "$a" "$b" "$alloc" "$c"; })")
	tmp=$src; src=$dst; dst=$tmp
	[ "$sp" = "$H1_POOL_DIR" ] && sp=$H2_POOL_DIR || sp=$H1_POOL_DIR
done
machine=$(t "$src" vm show b1 --json | jq -r '.machine // "q35"')
t "$src" vm stop b1 >/dev/null	# its CPU is the libvirt guest's now
table "tern vm move" "${rows[@]}"

# ---- libvirt 9.0: the same guest, data and moves ----
# total: libvirt's "Time elapsed", downtime its "Total downtime"
# (domjobinfo --completed on the destination); memory: its memory
# processed; disk: the source images' allocation, as for tern.
if [ "$LIBVIRT" != 0 ]; then
	# shellcheck disable=SC2034  # read by libvirt_define_guest
	LIBVIRT_MACHINE=$machine
	libvirt_up "$TERN_LAB" h1 h2
	for d in vda:256 vdb:64 vdc:$((DATA_MIB * 2)); do
		qemu-img create -q -f qcow2 "$H1_POOL_DIR/lv-b1-${d%:*}.qcow2" \
		    "${d#*:}M"
	done
	qemu-io -f qcow2 -c "write -P 0x5a 0 ${DATA_MIB}M" \
	    "$H1_POOL_DIR/lv-b1-vdc.qcow2" >/dev/null
	libvirt_define_guest h1 lv-b1 "$GUEST/vmlinuz" "$GUEST/initrd.img" \
	    "console=ttyS0 quiet tern.hostname=lv-b1 \
tern.workload=disk:/dev/vdb:20+dirty:2:$MEM_MIB" \
	    "$H1_POOL_DIR/lv-b1-vda.qcow2,$H1_POOL_DIR/lv-b1-vdb.qcow2,$H1_POOL_DIR/lv-b1-vdc.qcow2" \
	    "$((MEM_MIB + 256))"
	sleep 15	# as tern's guest
	src=h1 dst=h2 sp=$H1_POOL_DIR
	lv_rows=() lv_wall=() lv_err=()
	for i in $(seq 1 "$RUNS"); do
		alloc=$(alloc_of "$sp"/lv-b1-vd?.qcow2)
		j=$(libvirt_migrate $src $dst lv-b1 --copy-storage-all)
		if [ "$(jq -r .ok <<<"$j")" != true ]; then
			lv_err+=("$(jq -r .error <<<"$j")")
			continue
		fi
		lv_rows+=("$(row "$(jq .total_ms <<<"$j")" \
		    "$(jq .downtime_ms <<<"$j")" "$alloc" "$(jq .bytes <<<"$j")")")
		lv_wall+=("$(jq .wall_ms <<<"$j")")
		tmp=$src; src=$dst; dst=$tmp
		[ "$sp" = "$H1_POOL_DIR" ] && sp=$H2_POOL_DIR || sp=$H1_POOL_DIR
	done
	libvirt_virsh "$src" destroy lv-b1 >/dev/null || true
	libvirt_down "$TERN_LAB"
	table "libvirt $(libvirtd --version | awk '{print $NF}'): virsh migrate --live --p2p --tls --copy-storage-all, machine $machine (${#lv_rows[@]}/$RUNS completed)" \
	    ${lv_rows[@]+"${lv_rows[@]}"}
	((${#lv_wall[@]} == 0)) || echo "libvirt: total/downtime from" \
	    "domjobinfo --completed; virsh migrate's own wall time, median" \
	    "$(printf '%s\n' "${lv_wall[@]}" | med) ms"
	for e in ${lv_err[@]+"${lv_err[@]}"}; do echo "libvirt: failed move: $e"; done
fi
