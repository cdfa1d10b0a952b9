#!/usr/bin/env bash
# test_replica_apply.sh - a replication's two halves against the real
# qemu-nbd and qemu-img: tern-blockcopy --delta-out reads a source served
# by qemu-nbd, tern-replica-apply writes the delta into a qcow2 overlay.
# A full cycle onto an empty overlay, then a compare cycle and a
# dirty-bitmap cycle, each onto an overlay over the one before, each
# checked with qemu-img compare and by its map against blockcopy's; then
# a corrupted, a replayed and a truncated delta (exit 3, the overlay's
# bytes unchanged, no map or summary), a write damaged on its way to the
# disk (a failpoint; caught by the read back, exit 4), and bad arguments
# (exit 2).
# Usage: test_replica_apply.sh TERN_BLOCKCOPY TERN_REPLICA_APPLY
set -uo pipefail

BC=$1
APPLY=$2
T=$(mktemp -d /tmp/tern-replica-apply.XXXXXX)
SRV=
PASS=0
FAIL=0
UUID=6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b
# Not a multiple of the 64 KiB block: the last block is short.
SIZE=$((20 * 1048576 + 4608))

stop() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	SRV=
}

cleanup() {
	stop
	rm -rf "$T"
}
trap cleanup EXIT

ok() {
	PASS=$((PASS + 1))
}

bad() {
	echo "test_replica_apply.sh:${BASH_LINENO[-2]}: $*" >&2
	FAIL=$((FAIL + 1))
}

# expect CMD... : the command succeeds
expect() {
	if timeout 120 "$@" >"$T/out" 2>&1; then ok; else
		bad "failed: $* ($(tail -n 3 "$T/out"))"
	fi
}

# expect_exit CODE MESSAGE CMD... : the command exits CODE saying MESSAGE
expect_exit() {
	local want=$1 msg=$2 got
	shift 2
	timeout 120 "$@" >"$T/out" 2>&1
	got=$?
	if [ "$got" = "$want" ] && grep -q -- "$msg" "$T/out"; then ok; else
		bad "exit $got (want $want, '$msg'): $* ($(tail -n 3 "$T/out"))"
	fi
}

# serve: export $T/src.raw read-only at $T/sock
serve() {
	stop
	rm -f "$T/sock"
	qemu-nbd -r -t -x src -k "$T/sock" -f raw "$T/src.raw" \
	    2>"$T/srv.err" &
	SRV=$!
	for _ in $(seq 100); do
		[ -S "$T/sock" ] && return 0
		sleep 0.05
	done
	echo "qemu-nbd did not start: $(cat "$T/srv.err")" >&2
	exit 1
}

URI="nbd+unix:///src?socket=$T/sock"

io() {
	qemu-io -f raw "$@" "$T/src.raw" >/dev/null || bad "qemu-io $*"
}

same() {
	expect qemu-img compare -q -f raw -F qcow2 "$T/src.raw" "$1"
}

same_file() {
	if cmp -s "$1" "$2"; then ok; else bad "$1 and $2 differ"; fi
}

# A source with text-like data, random data, holes, and data in the
# short last block.
truncate -s $SIZE "$T/src.raw"
io -c "write -P 0x41 0 3M" -c "write -P 0x42 8M 5M" \
    -c "write -P 0x43 $((SIZE - 4096)) 4096"
head -c 1048576 /dev/urandom | dd of="$T/src.raw" bs=65536 seek=240 \
    conv=notrunc status=none

# Cycle 1: everything, onto an empty overlay.
serve
expect "$BC" --from "$URI" --all --delta-out "$T/d1" --seq 1 --base-seq 0 \
    --disk vda --vm-uuid $UUID --compress --map-out "$T/bc1.map" \
    --summary "$T/bs1"
stop
[ "$(jq -r .delta_frames "$T/bs1")" -gt 0 ] && ok || bad "no frames in d1"
[ "$(jq -r .delta_sha256 "$T/bs1")" = "$(sha256sum "$T/d1" | cut -c1-64)" ] \
    && ok || bad "delta_sha256 is not the file's"
qemu-img create -q -f qcow2 "$T/ov1.qcow2" $SIZE
expect "$APPLY" --delta "$T/d1" --image "$T/ov1.qcow2" --seq 1 \
    --base-seq 0 --disk vda --vm-uuid $UUID --map-size $SIZE \
    --map-out "$T/ap1.map" --summary "$T/as1"
same "$T/ov1.qcow2"
same_file "$T/bc1.map" "$T/ap1.map"
[ "$(jq -r .guest_bytes "$T/as1")" = "$(jq -r .delta_guest_bytes "$T/bs1")" ] \
    && ok || bad "apply's guest_bytes differ from blockcopy's"

# Cycle 2: new data, data zeroed, a partial block, by comparing maps,
# onto an overlay over the first.
io -c "write -P 0x51 1M 64k" -c "write -z 8M 1M" -c "write -P 0x52 19M 512" \
    -c "write -P 0x53 15M 2M"
serve
expect "$BC" --from "$URI" --compare --map-in "$T/bc1.map" \
    --delta-out "$T/d2" --seq 2 --base-seq 1 --disk vda --vm-uuid $UUID \
    --compress --map-out "$T/bc2.map" --summary "$T/bs2"
stop
[ "$(jq -r .delta_zero_bytes "$T/bs2")" = 1048576 ] && ok ||
    bad "d2 zero bytes: $(jq -r .delta_zero_bytes "$T/bs2"), want 1048576"
qemu-img create -q -f qcow2 -b "$T/ov1.qcow2" -F qcow2 "$T/ov2.qcow2"
ov1_sum=$(sha256sum <"$T/ov1.qcow2")
expect "$APPLY" --delta "$T/d2" --image "$T/ov2.qcow2" --seq 2 \
    --base-seq 1 --disk vda --vm-uuid $UUID --map-in "$T/ap1.map" \
    --map-out "$T/ap2.map" --summary "$T/as2"
same "$T/ov2.qcow2"
same_file "$T/bc2.map" "$T/ap2.map"
[ "$(sha256sum <"$T/ov1.qcow2")" = "$ov1_sum" ] && ok ||
    bad "applying onto ov2 changed its backing ov1"

# Cycle 3: from a dirty bitmap (a qcow2 copy of the source tracks the
# writes): new data, and zeroes that must hide the replica's older data.
qemu-img convert -O qcow2 "$T/src.raw" "$T/src.qcow2"
qemu-img bitmap -f qcow2 --add --enable "$T/src.qcow2" bm
qemu-io -f qcow2 -c "write -P 0x61 4M 1M" -c "write -z 15M 1M" \
    -c "write -P 0x62 $((SIZE - 512)) 512" "$T/src.qcow2" >/dev/null ||
    bad "qemu-io on src.qcow2"
qemu-img bitmap -f qcow2 --disable "$T/src.qcow2" bm
stop
rm -f "$T/sock"
qemu-nbd -r -t -B bm -x src -k "$T/sock" -f qcow2 "$T/src.qcow2" \
    2>"$T/srv.err" &
SRV=$!
for _ in $(seq 100); do [ -S "$T/sock" ] && break; sleep 0.05; done
expect "$BC" --from "$URI" --bitmap bm --map-in "$T/bc2.map" \
    --delta-out "$T/d3" --seq 3 --base-seq 2 --disk vda --vm-uuid $UUID \
    --map-out "$T/bc3.map" --summary "$T/bs3"
stop
[ "$(jq -r .delta_zero_bytes "$T/bs3")" = 1048576 ] && ok ||
    bad "d3 zero bytes: $(jq -r .delta_zero_bytes "$T/bs3"), want 1048576"
qemu-img create -q -f qcow2 -b "$T/ov2.qcow2" -F qcow2 "$T/ov3.qcow2"
expect "$APPLY" --delta "$T/d3" --image "$T/ov3.qcow2" --seq 3 \
    --base-seq 2 --disk vda --vm-uuid $UUID --map-in "$T/ap2.map" \
    --map-out "$T/ap3.map" --summary "$T/as3"
expect qemu-img compare -q -f qcow2 -F qcow2 "$T/src.qcow2" "$T/ov3.qcow2"
same_file "$T/bc3.map" "$T/ap3.map"

# rejected SUFFIX MESSAGE DELTA SEQ BASE: exit 3, overlay bytes unchanged,
# no map or summary left.
rejected() {
	local ov="$T/ov-$1.qcow2" before
	qemu-img create -q -f qcow2 -b "$T/ov1.qcow2" -F qcow2 "$ov"
	before=$(sha256sum <"$ov")
	expect_exit 3 "$2" "$APPLY" --delta "$3" --image "$ov" --seq "$4" \
	    --base-seq "$5" --disk vda --vm-uuid $UUID --map-in "$T/ap1.map" \
	    --map-out "$T/rej-$1.map" --summary "$T/rej-$1.json"
	[ "$(sha256sum <"$ov")" = "$before" ] && ok || bad "$1: $ov changed"
	[ ! -e "$T/rej-$1.map" ] && [ ! -e "$T/rej-$1.json" ] && ok ||
	    bad "$1: a map or summary was left"
}

# One byte flipped in the middle of d2.
cp "$T/d2" "$T/d2-bad"
mid=$(($(stat -c %s "$T/d2") / 2))
orig=$(od -An -tu1 -j $mid -N1 "$T/d2" | tr -d ' ')
printf "\\$(printf %03o $(((orig + 1) % 256)))" |
    dd of="$T/d2-bad" bs=1 seek=$mid conv=notrunc status=none
rejected flip "delta frame" "$T/d2-bad" 2 1
# d1 again as cycle 2 (a replay), and d2 cut short.
rejected replay "replayed or out of order" "$T/d1" 2 1
head -c $(($(stat -c %s "$T/d2") - 10)) "$T/d2" >"$T/d2-short"
rejected short "truncated" "$T/d2-short" 2 1
# Storage that damages what is written: the read back catches it (exit 4,
# no map or summary).
qemu-img create -q -f qcow2 -b "$T/ov1.qcow2" -F qcow2 "$T/ov-damaged.qcow2"
expect_exit 4 "reads back other data than delta frame 1" \
    env TERN_FAILPOINT=replica-apply.corrupt-write=fail "$APPLY" \
    --delta "$T/d2" --image "$T/ov-damaged.qcow2" --seq 2 --base-seq 1 \
    --disk vda --vm-uuid $UUID --map-in "$T/ap1.map" \
    --map-out "$T/damaged.map" --summary "$T/damaged.json"
[ ! -e "$T/damaged.map" ] && [ ! -e "$T/damaged.json" ] && ok ||
    bad "damaged: a map or summary was left"

# Another disk's delta.
expect_exit 3 "of disk 'vda', not 'vdb'" "$APPLY" --delta "$T/d2" \
    --image "$T/ov2.qcow2" --seq 2 --base-seq 1 --disk vdb --vm-uuid $UUID \
    --map-in "$T/ap1.map" --map-out "$T/x.map"

# Bad arguments.
expect_exit 2 "give one of --map-in and --map-size" "$APPLY" --delta "$T/d2" \
    --image "$T/ov2.qcow2" --seq 2 --base-seq 1 --disk vda --vm-uuid $UUID \
    --map-out "$T/x.map"
expect_exit 2 "not a uuid" "$APPLY" --delta "$T/d2" --image "$T/ov2.qcow2" \
    --seq 2 --base-seq 1 --disk vda --vm-uuid nope --map-size 1M \
    --map-out "$T/x.map"
expect_exit 2 "give one of --to and --delta-out" "$BC" --from "$URI" --all \
    --to "$T/ov1.qcow2" --delta-out "$T/x" --seq 1 --base-seq 0 --disk vda \
    --vm-uuid $UUID --map-out "$T/x.map"
expect_exit 2 "base_seq 1 is not before seq 1" "$BC" --from "$URI" --all --delta-out "$T/x" \
    --seq 1 --base-seq 1 --disk vda --vm-uuid $UUID --map-out "$T/x.map"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
