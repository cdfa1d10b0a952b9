#!/usr/bin/env bash
# export.sh - figures for VM export and import, measured in one run on a
# lab host: a VM whose disk holds DATA_MIB of random data in a SIZE_MIB
# virtual disk is exported, imported (--copy) and registered in place; each
# is set next to its floor measured on the same files in the same run:
# cp --sparse=always (+ sync) of the file, and sha256sum of it.  Reports;
# never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=/tmp/tern-bench-export TERN_LAB_ID=bx LAB_NET=122
LAB=$REPO/tests/lab/lab.sh
DATA_MIB=${DATA_MIB:-1024}
SIZE_MIB=${SIZE_MIB:-4096}

trap '"$LAB" down >/dev/null 2>&1 || true' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 1 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
pool=$H1_POOL_DIR
work=$TERN_LAB/bench
mkdir -p "$work" "$pool/exports"
t() { "$LAB" tern h1 "$@"; }
ms() { date +%s%3N; }
# rate LABEL MS: DATA_MIB over MS milliseconds
rate() { awk -v l="$1" -v ms="$2" -v mib="$DATA_MIB" 'BEGIN {
	printf "%-52s %7d ms  %7.1f MiB/s\n", l, ms, mib * 1000 / (ms ? ms : 1) }'; }
timed() { local a; a=$(ms); "$@" >/dev/null; echo $(($(ms) - a)); }

echo "# tern export/import benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "$DATA_MIB MiB of data in a $SIZE_MIB MiB disk"
t vm create b1 --cpus 1 --memory 64M --disk "${SIZE_MIB}M" >/dev/null
head -c "$((DATA_MIB << 20))" /dev/urandom >"$work/data.raw"
qemu-img convert -n -f raw -O qcow2 "$work/data.raw" "$pool/b1-vda.qcow2"
rm -f "$work/data.raw"
src=$pool/b1-vda.qcow2
echo "# source image: $(du -m "$src" | cut -f1) MiB allocated"
sync

# Floors first, so the source is in the page cache for everyone.
ms_cp=$(timed bash -c "cp --sparse=always '$src' '$work/cp.qcow2' && sync '$work/cp.qcow2'")
ms_sum=$(timed sha256sum "$work/cp.qcow2")
ms_conv=$(timed bash -c "qemu-img convert -f qcow2 -O qcow2 '$src' '$work/conv.qcow2'")
rm -f "$work/cp.qcow2" "$work/conv.qcow2"

ms_exp=$(timed t vm export b1 "$work/exp")
exp_disk=$work/exp/disks/vda.qcow2
echo "# export's disk: $(du -m "$exp_disk" | cut -f1) MiB allocated" \
    "($(stat -c %s "$exp_disk") bytes long)"
ms_imp=$(timed t vm import "$work/exp" --name b2 --new-id)
ms_cp2=$(timed bash -c "cp --sparse=always '$exp_disk' '$work/cp2.qcow2' && sync '$work/cp2.qcow2'")
rm -f "$work/cp2.qcow2"
cp -a "$work/exp" "$pool/exports/b1"
ms_reg=$(timed t vm import "$pool/exports/b1" --register --name b3 --new-id)

rate "floor: cp --sparse=always + sync of the disk" "$ms_cp"
rate "floor: sha256sum of the disk" "$ms_sum"
rate "floor: qemu-img convert -O qcow2 of the disk" "$ms_conv"
rate "tern vm export (convert + sha256, all files)" "$ms_exp"
rate "floor for import: cp + sync of the export's disk" "$ms_cp2"
rate "tern vm import --copy (cp + sync + sha256)" "$ms_imp"
rate "tern vm import --register (sha256 in place)" "$ms_reg"
t job list --json | jq -r '.jobs[] | select(.type == "vm.export" or
    .type == "vm.import") | "# job \(.id) \(.type) \(.vm): rate " +
    "\((.rate // 0) / 1048576 | floor) MiB/s of \(.progress.total / 1048576
    | floor) MiB progress"'
