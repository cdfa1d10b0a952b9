#!/usr/bin/env bash
# tcg_dirty_bug.sh - shows that the test guest's memcheck catches the QEMU
# 7.2 TCG dirty-tracking bug (fixed in 9.0 by 03bfc2188f): the same guest
# (WL, by default memcheck alone rewriting 120 MiB/s of 256 MiB)
# live-migrated back and forth MOVES times with plain QEMU under TCG, once
# with bookworm's QEMU 7.2 (its .deb unpacked into a temporary directory,
# not installed) and once with the installed QEMU (10.0 from
# bookworm-backports).  Reports, per QEMU, the moves made, the
# TERN-MEMCHECK-FAIL lines and kernel oopses the guest printed, the
# dirty-bitmap syncs per move, and the first FAIL lines.  A figure, not a
# test: it never fails on a number.
# Why this workload and QEMU's own 128 MiB/s cap (UNCAPPED=1 lifts it): a
# write is lost when a page is sent while the guest runs after a sync and
# written again through a TLB entry that sync left writable.  Uncapped, or
# with a slow writer, QEMU stops the guest after the bulk pass (3 syncs a
# move) and no such window opens; memcheck at 120 MiB/s keeps the capped
# stream busy for some 60 syncs a move.  With a disk writer and a dirtier
# beside memcheck (the former default), 10 moves on 7.2, capped or not,
# printed no FAIL: likely because their context switches write CR3, which
# flushes QEMU's TLB.  The FAIL lines 7.2 prints here say got = want + 1:
# the page holds a newer generation than memcheck's table, whose page's
# last write was lost.
# Needs root, the test guest (make guest) and the network to Debian's
# archive (apt-get download).
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
# (so two runs on one machine cannot collide).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-tcgbug} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bt} LAB_NET=${BENCH_LAB_NET:-133}
LAB=$REPO/tests/lab/lab.sh
MOVES=${MOVES:-10}
WL=${WL:-memcheck:120:256:32}

work=$(mktemp -d /tmp/tern-bench-tcgbug.XXXXXX)
cleanup() {
	local rc=$?
	for f in "$TERN_LAB"/plain-*/*.pid; do
		if [ -f "$f" ]; then kill -9 "$(cat "$f")" 2>/dev/null || true; fi
	done
	"$LAB" down >/dev/null 2>&1 || true
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT

# bookworm's QEMU 7.2, unpacked: the binary, its firmware and its modules
# (TCG itself is one, in qemu-system-common; QEMU_MODULE_DIR points 7.2 at
# them, not at the installed QEMU's).
ver() { apt-cache madison "$1" | awk -F'|' '$2 ~ /7\.2/ {gsub(/ /, "", $2); print $2; exit}'; }
pkgs=()
for p in qemu-system-x86 qemu-system-data qemu-system-common; do
	v=$(ver "$p")
	[ -n "$v" ] || { echo "no $p 7.2 in the apt lists (apt-get update?)" >&2; exit 1; }
	pkgs+=("$p=$v")
done
(cd "$work" && apt-get download -q "${pkgs[@]}" >/dev/null 2>&1)
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/q72"; done
# Its firmware links point into ../seabios and ../ipxe: the installed ones.
for f in seabios ipxe; do
	[ -e "$work/q72/usr/share/$f" ] || ln -s "/usr/share/$f" "$work/q72/usr/share/$f"
done
Q72=$work/q72/usr/bin/qemu-system-x86_64

[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 2 --shared-pool >/dev/null 2>&1
. "$TERN_LAB/lab.env"

# run NAME QEMU MACHINE [ARGS]: MOVES plain live migrations of the guest.
run() {
	local name=$1 qemu=$2 machine=$3 d=$TERN_LAB/plain-$1
	shift 3
	mkdir -p "$d"
	qemu-img create -q -f qcow2 "$LAB_SHARED_POOL/$name-vda.qcow2" 256M
	qemu-img create -q -f qcow2 "$LAB_SHARED_POOL/$name-vdb.qcow2" 64M
	python3 "$REPO/bench/plain_qemu_migrate.py" --dir "$d" --runs "$MOVES" \
	    --memory 768 --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
	    --cmdline "console=ttyS0 quiet tern.hostname=$name tern.workload=$WL" \
	    --disk "$LAB_SHARED_POOL/$name-vda.qcow2" \
	    --disk "$LAB_SHARED_POOL/$name-vdb.qcow2" \
	    --ns "$H1_NS" "$H2_NS" --addr "$H1_ADDR" "$H2_ADDR" \
	    --ready "TERN-MEMCHECK-OK" --qemu "$qemu" --machine "$machine" \
	    ${UNCAPPED:+--uncapped} --max-fail 3 "$@" >"$work/$name.jsonl" || true
	local moves fails oops syncs
	moves=$(jq -s 'map(select(.kind == "run" and .ok)) | length' "$work/$name.jsonl")
	fails=$(cat "$d"/console-*.log | grep -ac TERN-MEMCHECK-FAIL || true)
	oops=$(cat "$d"/console-*.log | grep -acE 'BUG: |Oops: |general protection' || true)
	syncs=$(jq -s 'map(select(.kind == "run" and .ok) | .passes) |
	    if length > 0 then add / length * 10 | round / 10 else 0 end' \
	    "$work/$name.jsonl")
	printf '%-28s moves %3s   memcheck FAIL lines %5s   oopses %3s   syncs/move %s\n' \
	    "$("$qemu" --version | head -n 1 | awk '{print "QEMU " $4}') ($machine)" \
	    "$moves" "$fails" "$oops" "$syncs"
	{ cat "$d"/console-*.log | grep -a TERN-MEMCHECK-FAIL || true; } |
	    head -n 3 | sed 's/^/#   /'
}

echo "# TCG dirty-tracking bug: $MOVES live moves each, workload $WL, ${UNCAPPED:+un}capped," \
    "$(date -u +%FT%TZ), $(nproc) cores"
QEMU_MODULE_DIR=$work/q72/usr/lib/x86_64-linux-gnu/qemu \
    run q72 "$Q72" pc-q35-7.2 --data-dir "$work/q72/usr/share/qemu"
run q10 qemu-system-x86_64 pc-q35-7.2
