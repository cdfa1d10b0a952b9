#!/usr/bin/env bash
# test_blockcopy.sh - tern-blockcopy against the real qemu-nbd, qemu-img and
# qemu-io: a full point, an incremental one from a dirty bitmap (with a
# zeroed region that must hide the parent's data), a compare resync, a
# compressed copy, and the errors.  Each result is checked with qemu-img
# compare against a raw copy of the source at that time, and its map with
# bmcheck.  Usage: test_blockcopy.sh TERN_BLOCKCOPY BMCHECK
set -uo pipefail

BC=$1
BMCHECK=$2
T=$(mktemp -d /tmp/tern-blockcopy.XXXXXX)
SRV=
PASS=0
FAIL=0

cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ok() {
	PASS=$((PASS + 1))
}

bad() {
	echo "test_blockcopy.sh:${BASH_LINENO[-2]}: $*" >&2
	FAIL=$((FAIL + 1))
}

# expect CMD... : the command succeeds
expect() {
	if timeout 60 "$@" >"$T/out" 2>&1; then ok; else
		bad "failed: $* ($(tail -n 3 "$T/out"))"
	fi
}

# serve IMG [BITMAP]: export IMG read-only at $T/sock as "src"
serve() {
	stop
	rm -f "$T/sock"
	qemu-nbd -r -t ${2:+-B "$2"} -x src -k "$T/sock" -f qcow2 "$1" \
	    2>"$T/srv.err" &
	SRV=$!
	for _ in $(seq 100); do
		[ -S "$T/sock" ] && return 0
		sleep 0.05
	done
	echo "qemu-nbd did not start: $(cat "$T/srv.err")" >&2
	exit 1
}

stop() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null
	SRV=
}

URI="nbd+unix:///src?socket=$T/sock"

io() {
	qemu-io -f qcow2 "$@" "$T/src.qcow2" >/dev/null || bad "qemu-io $*"
}

# field NAME FILE: an integer from a summary
field() {
	jq -r ".$1" "$2"
}

# summary_is FILE read written zeroed changed
summary_is() {
	local got
	got="$(field read_bytes "$1") $(field written_bytes "$1")"
	got="$got $(field zeroed_bytes "$1") $(field changed_bytes "$1")"
	if [ "$got" = "$2 $3 $4 $5" ]; then ok; else
		bad "summary $1: read written zeroed changed = $got, want" \
		    "$2 $3 $4 $5"
	fi
}

# same QCOW2 RAW MAP: the copy reads as RAW and MAP is RAW's map
same() {
	expect qemu-img compare -q -f qcow2 -F raw "$1" "$2"
	expect "$BMCHECK" check "$3" "$2"
}

# fails_with CODE PATTERN CMD...: exits CODE saying PATTERN on stderr
fails_with() {
	local code=$1 pat=$2 rc
	shift 2
	timeout 60 "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" = "$code" ] && grep -q -- "$pat" "$T/err"; then ok; else
		bad "want exit $code and '$pat': got $rc, $(cat "$T/err")"
	fi
}

K=1024
M=$((1024 * 1024))
SIZE=$((4 * M + 12 * K))	# the last block is 12 KiB

# ---- a full point ----
qemu-img create -q -f qcow2 "$T/src.qcow2" $SIZE
io -c "write -P 0x11 0 1M" -c "write -P 0x22 2M 64k" \
    -c "write -P 0x33 4M 12k" -c "write -z 3M 64k"
qemu-img convert -O raw "$T/src.qcow2" "$T/raw0"
qemu-img bitmap -f qcow2 --add --enable "$T/src.qcow2" bm
qemu-img create -q -f qcow2 "$T/full.qcow2" $SIZE
serve "$T/src.qcow2"
expect "$BC" --from "$URI" --to "$T/full.qcow2" --map-out "$T/full.map" \
    --all --summary "$T/full.json" --progress "$T/full.prog"
same "$T/full.qcow2" "$T/raw0" "$T/full.map"
# data: 1 MiB + the 64 KiB at 2M + the 12 KiB tail; 3M is a zero cluster
DATA=$((M + 64 * K + 12 * K))
summary_is "$T/full.json" $DATA $DATA 0 $DATA
[ "$(cat "$T/full.prog")" = "$DATA $DATA" ] && ok ||
    bad "progress: $(cat "$T/full.prog")"
# the sha256 of the image and the map, as the seal takes them
for f in image:full.qcow2 map:full.map; do
	want=$(sha256sum <"$T/${f#*:}" | cut -c1-64)
	got=$(field "${f%%:*}_sha256" "$T/full.json")
	[ "$got" = "$want" ] && ok || bad "${f%%:*}_sha256 $got, want $want"
done

# ---- an incremental point from the dirty bitmap ----
stop
io -c "write -P 0x44 512k 128k" -c "write -z 0 64k" \
    -c "write -P 0x22 2M 64k" -c "write -P 0x55 3076k 4k"
qemu-img convert -O raw "$T/src.qcow2" "$T/raw1"
qemu-img bitmap -f qcow2 --disable "$T/src.qcow2" bm
qemu-img create -q -f qcow2 -b "$T/full.qcow2" -F qcow2 "$T/inc.qcow2"
serve "$T/src.qcow2" bm
expect "$BC" --from "$URI" --to "$T/inc.qcow2" --map-out "$T/inc.map" \
    --bitmap bm --map-in "$T/full.map" --summary "$T/inc.json" \
    --progress "$T/inc.prog"
same "$T/inc.qcow2" "$T/raw1" "$T/inc.map"
# dirty: 0 (now zero), 512k+128k, 2M (same bytes again), 3M: 5 blocks
summary_is "$T/inc.json" $((256 * K)) $((256 * K)) $((64 * K)) $((256 * K))
[ "$(cat "$T/inc.prog")" = "$((320 * K)) $((320 * K))" ] && ok ||
    bad "progress of the dirty bytes: $(cat "$T/inc.prog")"
# the zeroed block reads as zeros although the parent has 0x11 there
# (qemu-io prints the "read" line even when the pattern does not match)
qemu-io -f qcow2 -r -c "read -P 0 0 64k" "$T/inc.qcow2" >"$T/out" 2>&1
grep -q "^read" "$T/out" && ! grep -q "verification failed" "$T/out" &&
    ok || bad "the parent's data shows through a zeroed block"

fails_with 1 "offers no dirty bitmap 'nope'" "$BC" --from "$URI" \
    --to "$T/inc.qcow2" --map-out "$T/x.map" --bitmap nope \
    --map-in "$T/full.map"
head -c $M /dev/zero >"$T/small.raw"
"$BMCHECK" make "$T/small.raw" "$T/small.map"
fails_with 1 "map-in '$T/small.map' is of a disk of $M bytes" "$BC" \
    --from "$URI" --to "$T/inc.qcow2" --map-out "$T/x.map" --bitmap bm \
    --map-in "$T/small.map"
fails_with 1 "is not an existing qcow2" "$BC" --from "$URI" \
    --to "$T/missing.qcow2" --map-out "$T/x.map" --all
cp "$T/raw0" "$T/not-qcow2"
fails_with 1 "qemu-nbd cannot open '$T/not-qcow2'" "$BC" --from "$URI" \
    --to "$T/not-qcow2" --map-out "$T/x.map" --all
qemu-img create -q -f qcow2 "$T/wrong-size.qcow2" $M
fails_with 1 "create the target with the point's size" "$BC" \
    --from "$URI" --to "$T/wrong-size.qcow2" --map-out "$T/x.map" --all
# a target another process writes to: qemu-nbd cannot take its lock
qemu-img create -q -f qcow2 "$T/locked.qcow2" $SIZE
rm -f "$T/w.sock"
qemu-nbd -t -x w -k "$T/w.sock" -f qcow2 "$T/locked.qcow2" 2>/dev/null &
WPID=$!
for _ in $(seq 100); do [ -S "$T/w.sock" ] && break; sleep 0.05; done
fails_with 1 "qemu-nbd cannot open '$T/locked.qcow2' (.*lock" "$BC" \
    --from "$URI" --to "$T/locked.qcow2" --map-out "$T/x.map" --all
kill "$WPID"
wait "$WPID" 2>/dev/null
fails_with 1 "needs a disk size that is a multiple" "$BC" --from "$URI" \
    --to "$T/full.qcow2" --map-out "$T/x.map" --all --compress
[ ! -e "$T/x.map" ] && ok || bad "a failed copy left its --map-out"
fails_with 2 "give one of" "$BC" --from "$URI" --to "$T/full.qcow2" \
    --map-out "$T/x.map"
fails_with 2 "need --map-in" "$BC" --from "$URI" --to "$T/full.qcow2" \
    --map-out "$T/x.map" --compare

# ---- a resync by comparing every block ----
stop
io -c "write -P 0x66 1M 64k" -c "write -z 512k 64k"
qemu-img convert -O raw "$T/src.qcow2" "$T/raw2"
qemu-img create -q -f qcow2 -b "$T/inc.qcow2" -F qcow2 "$T/cmp.qcow2"
serve "$T/src.qcow2"
expect "$BC" --from "$URI" --to "$T/cmp.qcow2" --map-out "$T/cmp.map" \
    --compare --map-in "$T/inc.map" --summary "$T/cmp.json" \
    --progress "$T/cmp.prog"
same "$T/cmp.qcow2" "$T/raw2" "$T/cmp.map"
# data now: 64k..1M, 1M, 2M, 3M, the tail (0 and 512k are zeros)
READ=$((1024 * K - 128 * K + 64 * K + 64 * K + 64 * K + 12 * K))
summary_is "$T/cmp.json" $READ $((64 * K)) $((64 * K)) $((128 * K))
[ "$(cat "$T/cmp.prog")" = "$SIZE $SIZE" ] && ok ||
    bad "progress of the whole disk: $(cat "$T/cmp.prog")"
[ "$(qemu-img map --output=json -f qcow2 "$T/cmp.qcow2" |
    jq '[.[] | select(.depth == 0 and .data)] | length')" = 1 ] && ok ||
    bad "compare wrote more than the changed block"

# ---- a compressed full point ----
stop
qemu-img create -q -f qcow2 "$T/srcz.qcow2" $((4 * M))
qemu-io -f qcow2 -c "write -P 0x77 0 3M" "$T/srcz.qcow2" >/dev/null
qemu-img convert -O raw "$T/srcz.qcow2" "$T/rawz"
qemu-img create -q -f qcow2 -o compression_type=zstd "$T/z.qcow2" $((4 * M))
serve "$T/srcz.qcow2"
expect "$BC" --from "$URI" --to "$T/z.qcow2" --map-out "$T/z.map" --all \
    --compress
same "$T/z.qcow2" "$T/rawz" "$T/z.map"
[ "$(qemu-img map --output=json -f qcow2 "$T/z.qcow2" |
    jq '[.[] | select(.data and .compressed)] | map(.length) | add')" = \
    $((3 * M)) ] && ok || bad "the copy is not compressed"

# ---- SIGTERM (ternd's cancel): exit non-zero, no map, no qemu-nbd left ----
stop
qemu-img create -q -f qcow2 "$T/big.qcow2" 256M
qemu-io -f qcow2 -c "write -P 0x99 0 256M" "$T/big.qcow2" >/dev/null
qemu-img create -q -f qcow2 "$T/bigcopy.qcow2" 256M
serve "$T/big.qcow2"
"$BC" --from "$URI" --to "$T/bigcopy.qcow2" --map-out "$T/big.map" --all \
    --progress "$T/big.prog" 2>/dev/null &
BCPID=$!
# the progress file appears once the copy is about to start
for _ in $(seq 200); do [ -s "$T/big.prog" ] && break; sleep 0.01; done
kill -TERM $BCPID
wait $BCPID
RC=$?
[ "$RC" != 0 ] && [ ! -e "$T/big.map" ] && ok ||
    bad "after SIGTERM: exit $RC, map $(ls "$T/big.map" 2>&1)"
sleep 0.2
pgrep -f "qemu-nbd.*$T/bigcopy.qcow2" >/dev/null &&
    bad "qemu-nbd outlived tern-blockcopy" || ok
stop

# --from-image IMG --map-out MAP: the image only read, every block (its
# backing chain's too) hashed; the map is the raw image's (bmcheck).
qemu-img create -q -f qcow2 "$T/mo-base.qcow2" 3M
qemu-io -f qcow2 -c "write -P 0x21 0 1M" "$T/mo-base.qcow2" >/dev/null
qemu-img create -q -f qcow2 -b "$T/mo-base.qcow2" -F qcow2 "$T/mo.qcow2"
qemu-io -f qcow2 -c "write -P 0x42 512k 96k" -c "write -z 2M 64k" \
    "$T/mo.qcow2" >/dev/null
sum_before=$(sha256sum "$T/mo.qcow2" "$T/mo-base.qcow2")
expect "$BC" --from-image "$T/mo.qcow2" --map-out "$T/mo.map" \
    --summary "$T/mo.sum"
qemu-img convert -O raw "$T/mo.qcow2" "$T/mo.raw"
expect "$BMCHECK" check "$T/mo.map" "$T/mo.raw"
[ "$(sha256sum "$T/mo.qcow2" "$T/mo-base.qcow2")" = "$sum_before" ] && ok ||
    bad "--map-out alone changed the image"
expect "$BC" --from-image "$T/mo.qcow2" --check-map "$T/mo.map"
fails_with 2 "give one of --to and --delta-out" "$BC" --from-image \
    "$T/mo.qcow2" --map-out "$T/mo2.map" --compare
[ ! -e "$T/mo2.map" ] && ok || bad "a refused --map-out wrote a map"

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
