#!/usr/bin/env bash
# migrate_copy.sh - shared-nothing live migration, measured in one run on a
# 2-host lab with separate pools: a guest whose data disk holds DATA_MIB of
# written data and whose memory holds ~MEM_MIB of non-zero pages (the
# dirtier, slow) moves back and forth RUNS times.  Each move's total time
# is set against its floor: (allocated disk bytes + non-zero memory sent)
# / the link rate measured in the same run, both by ternd's own TLS probe
# (`tern peer measure`, the path the move takes) and by a raw TCP stream
# between the two namespaces.  Reports; never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=$BUILD/guest
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=/tmp/tern-bench-copy TERN_LAB_ID=bc LAB_NET=133
LAB=$REPO/tests/lab/lab.sh
RUNS=${RUNS:-6}
DATA_MIB=${DATA_MIB:-512}
MEM_MIB=${MEM_MIB:-200}

trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
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

src=h1 dst=h2 sp=$H1_POOL_DIR
rows=()
for i in $(seq 1 "$RUNS"); do
	alloc=$(stat -c '%b %B' "$sp"/b1-vd?.qcow2 | awk '{s += $1 * $2} END {print s}')
	j=$(t $src vm move b1 --to $dst --json)
	rows+=("$(jq -r --argjson alloc "$alloc" --argjson tls "$tls" --argjson raw "$raw" '
	    .details as $d | $d.result as $r |
	    (($alloc + $r.bytes) / $tls * 1000) as $floor |
	    [$d.total_ms, $r.downtime_ms, ($alloc / 1048576), ($r.bytes / 1048576),
	     $floor, ($d.total_ms / $floor),
	     (($alloc + $r.bytes) / $raw * 1000)] | @tsv' <<<"$j")")
	tmp=$src; src=$dst; dst=$tmp
	[ "$sp" = "$H1_POOL_DIR" ] && sp=$H2_POOL_DIR || sp=$H1_POOL_DIR
done

echo
printf '%-4s %9s %9s %11s %11s %11s %7s %11s\n' run total_ms down_ms \
    disk_MiB memory_MiB floor_ms ratio raw_floor
i=0
for r in "${rows[@]}"; do
	i=$((i + 1))
	printf '%-4s %9.0f %9.0f %11.1f %11.1f %11.0f %7.2f %11.0f\n' "$i" $r
done
med() { sort -g | awk '{v[NR] = $1} END { print v[int((NR + 1) / 2)] }'; }
mt=$(printf '%s\n' "${rows[@]}" | cut -f1 | med)
mr=$(printf '%s\n' "${rows[@]}" | cut -f6 | med)
md=$(printf '%s\n' "${rows[@]}" | cut -f2 | med)
echo
echo "median total $mt ms, median downtime $md ms; median total / floor $mr" \
    "(floor: allocated disk + memory sent, over the TLS probe rate)"
