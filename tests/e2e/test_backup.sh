#!/usr/bin/env bash
# test_backup.sh - change tracking and backup of a running guest whose disk
# writer never stops: a full point, three incrementals, QEMU kill -9 (the
# bitmaps lost: the next point compares checksums), a storage move (the
# bitmaps carried over: the next point is still incremental), prune; each
# point restored as a new VM and proven exact by the verifier (--upto: every
# write acknowledged before the point, none made after); verify catches a
# changed byte, naming the file; ternd kill -9 mid-backup and a full
# repository leave no half point and the VM running; restore over the
# original once it is off; bad requests change nothing.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup backup 84
# A small file system for the repository that fills up, mounted before
# the lab so that ternd's mount namespace has it.
small=$(mktemp -d /tmp/tern-bk-small.XXXXXX)
mount -t tmpfs -o size=8m tmpfs "$small"
e2e_at_exit "umount $small; rmdir $small"
# All but 256 KiB of it taken by a filler beside the (empty) repository:
# a full point is always more than that (its maps alone are 40 KiB, its
# images' metadata more), however well its data compresses.
mkdir "$small/repo"
dd if=/dev/zero of="$small/filler" bs=64k count=124 status=none
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)
repo=$TERN_LAB/repo
mkdir -p "$repo"
guest_create h1 b1 >/dev/null
# 32 MiB of data on the boot disk (the guest never touches it), so that a
# full point is large and a point that silently copied everything shows.
qemu-io -f qcow2 -c "write -P 0x5a 16M 32M" "$pool/b1-vda.qcow2" >/dev/null
t h1 vm start b1 >/dev/null
check "guest boots" wait_for 90 console_has h1 b1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 b1) -gt 20 ]"

# backup_point KIND: a point of b1; LO/HI of the writes it must hold are
# left in LO and HI (the acks before it began, and after it ended + 1).
backup_point() {
	LO=$(acked h1 b1)
	check "backup ($1)" t h1 backup create b1 --to "$repo"
	HI=$(($(acked h1 b1) + 1))
	POINT=$(t h1 backup list "$repo" --json | jq -r '.points[-1].point')
	check_eq "the point is $1" "$(t h1 backup list "$repo" --json |
	    jq -r '.points[-1].kind')" "$1"
}

# restore_check NAME: the last point restored as vm NAME, its data disk
# holding exactly the writes up to it.
restore_check() {
	check "restore point $POINT as $1" t h1 backup restore "$repo" \
	    --point "$POINT" --name "$1"
	check_eq "$1 is off" "$(vm_field h1 "$1" .state)" off
	check "$1's data disk holds the writes up to the point ($LO..$HI)" \
	    "$VERIFY" --image "$pool/$1-vdb.qcow2" --upto "$LO:$HI"
}

written() { # written_bytes of the last point, every disk
	t h1 backup list "$repo" --json | jq -r '.points[-1].written_bytes'
}

# --- bad input: each refused, nothing made ---
check_err "a missing repository" 1 "" t h1 backup create b1 --to \
    "$TERN_LAB/nope"
mkdir -p "$TERN_LAB/notrepo" && touch "$TERN_LAB/notrepo/x"
check_err "a non-empty directory that is no repository" 1 \
    "not a tern backup repository" t h1 backup create b1 --to \
    "$TERN_LAB/notrepo"
check_err "an unknown vm" 1 "" t h1 backup create nosuch --to "$repo"
guest_create h1 off1 >/dev/null
check_err "a vm that is off" 1 "start it first" t h1 backup create off1 \
    --to "$repo"
check_eq "no point was made" "$(ls "$repo" | grep -vc tern-backup-repo)" 0
check_err "restore over the running original" 1 "running" bash -c \
    "$LAB_SH tern h1 backup create b1 --to $repo >/dev/null &&
     $LAB_SH tern h1 backup restore $repo --point \$($LAB_SH tern h1 backup \
     list $repo --json | jq -r '.points[0].point')"
check_err "restore of an unknown point" 1 "no point" t h1 backup restore \
    "$repo" --point 20260101T000000000Z --name x1
rm -rf "${repo:?}"/* && mkdir -p "$repo"
t h1 vm refpoint list b1 --json | jq -r '.refpoints[].name' |
    while read -r rp; do t h1 vm refpoint delete b1 "$rp" >/dev/null; done

# --- full, then three incrementals, each restored exact ---
backup_point full
full=$(written)
restore_check r0
for i in 1 2 3; do
	sleep 3
	backup_point incremental
	check "incremental $i wrote less than a tenth of the full ($(written) of $full)" \
	    test "$(written)" -lt $((full / 10 + 65536))
	restore_check "r$i"
done
check_eq "one reference point, the last" "$(t h1 vm refpoint list b1 \
    --json | jq -r '[.refpoints[].name] | unique | join(",")')" "bk-$POINT"

# --- QEMU kill -9 while the writer writes: tracking is lost, and the next
# point compares checksums instead of copying everything ---
uuid=$(vm_field h1 b1 .uuid)
kill -9 "$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $uuid")"
check "vm crashed" wait_for 30 bash -c "[ \"\$($LAB_SH tern h1 vm show b1 \
    --json | jq -r .state)\" = crashed ]"
t h1 vm start b1 >/dev/null
check "the reference point is marked incomplete" bash -c \
    "$LAB_SH tern h1 vm refpoint list b1 --json | jq -e \
    '[.refpoints[].disks[].complete] | all | not'"
check "guest boots again" wait_for 90 bash -c \
    "[ \$(grep -c TERN-GUEST-READY $(labenv H1_STATE_DIR)/vms/$uuid/console.log) = 2 ]"
sleep 3
backup_point resync
check "the resync wrote less than a tenth of the full ($(written) of $full)" \
    test "$(written)" -lt $((full / 10 + 65536))
restore_check r4
sleep 3
backup_point incremental

# --- a storage move: the bitmaps are carried to the new images, so the
# next point is still incremental, and exact ---
mkdir -p "$pool/moved"
check "storage move" t h1 vm move-storage b1 --to "$pool/moved"
check "tracking is still complete after the move" bash -c \
    "$LAB_SH tern h1 vm refpoint list b1 --json | jq -e \
    '[.refpoints[].disks[].complete] | all'"
sleep 3
backup_point incremental
check "it wrote less than a tenth of the full ($(written) of $full)" \
    test "$(written)" -lt $((full / 10 + 65536))
restore_check r5

# --- verify: all good; then one changed byte is named ---
check "backup verify passes" t h1 backup verify "$repo"
img=$(ls "$repo"/*/"$POINT"/vdb.qcow2)
cp "$img" "$TERN_LAB/good.qcow2"
at=$(($(stat -c %s "$img") - 100))
byte=$(od -An -tu1 -j "$at" -N 1 "$img" | tr -d ' ')
printf "\\$(printf %03o $((255 - byte)))" | dd of="$img" bs=1 seek="$at" \
    conv=notrunc status=none
check "the byte changed" bash -c "! cmp -s $img $TERN_LAB/good.qcow2"
check_err "verify names the changed file" 1 "$POINT/vdb.qcow2" \
    t h1 backup verify "$repo"
check_err "restore of that point refuses it" 1 "vdb.qcow2" \
    t h1 backup restore "$repo" --point "$POINT" --name r6
check_err "and leaves no vm behind" 1 "" t h1 vm show r6

# --- ternd kill -9 in the middle of a backup: no half point, VM runs ---
cp "$TERN_LAB/good.qcow2" "$img"
check "verify passes again once the file is back" t h1 backup verify "$repo"
restart_with h1 backup.copy=delay:60000
npoints=$(ls "$repo"/*/ | wc -l)
t h1 --no-wait backup create b1 --to "$repo" >/dev/null
check "backup reaches its copy" wait_for 60 bash -c "$LAB_SH tern h1 job \
    list --vm b1 --json | jq -e '.jobs[0].phase == \"copy\"'"
lab kill h1 >/dev/null
restart_with h1
check "the backup failed after the restart" wait_for 60 bash -c \
    "$LAB_SH tern h1 job list --vm b1 --json | jq -e \
    '.jobs[0].type == \"vm.backup\" and .jobs[0].state == \"failed\"'"
check_eq "no half point left" "$(ls "$repo"/*/ | wc -l)" "$npoints"
check_eq "the vm still runs" "$(vm_field h1 b1 .state)" running
check "no scratch image left" bash -c "! ls $pool/moved/.b1-* 2>/dev/null"

# --- a repository that fills up mid-backup: the point is not kept, the
# VM runs, the earlier points are untouched ---
check_err "a full repository fails the backup" 1 "No space left" \
    t h1 backup create b1 --to "$small/repo"
check_eq "no half point in the full repository" \
    "$(find "$small/repo" -mindepth 2 -maxdepth 2 -type d | wc -l)" 0
check_eq "the vm still runs" "$(vm_field h1 b1 .state)" running

# --- prune: keep 2; the older kept becomes a synthetic full point that
# reads byte for byte as before; the newest still restores exact ---
check_err "prune needs --keep 1 or more" 2 "--keep" t h1 backup prune \
    "$repo" --vm b1 --keep 0
check_err "prune of a vm with no point" 1 "no point" t h1 backup prune \
    "$repo" --vm off1 --keep 1
vmdir=$(ls -d "$repo"/*/ | head -n 1)
base=$(t h1 backup list "$repo" --json | jq -r '.points[-2].point')
for d in vda vdb; do
	qemu-img convert -O raw "$vmdir/$base/$d.qcow2" "$TERN_LAB/$d.before"
done
check "prune --keep 2" t h1 backup prune "$repo" --vm b1 --keep 2
check_eq "two points left" "$(t h1 backup list "$repo" --json |
    jq -r '.points | length')" 2
check_eq "the older is now full" "$(t h1 backup list "$repo" --json |
    jq -r '.points[0].kind')" full
check "its images have no backing file" bash -c "! qemu-img info \
    $vmdir/$base/vdb.qcow2 | grep -q backing"
for d in vda vdb; do
	check "$d of the merged point equals it before, byte for byte" \
	    qemu-img compare -q -f qcow2 -F raw "$vmdir/$base/$d.qcow2" \
	    "$TERN_LAB/$d.before"
done
check "backup verify passes after the prune" t h1 backup verify "$repo"
restore_check r7

# --- restore over the original, once it is off ---
t h1 vm stop b1 >/dev/null
check "restore over the original vm (off)" t h1 backup restore "$repo" \
    --point "$POINT"
check_eq "it is still off" "$(vm_field h1 b1 .state)" off
check "its data disk holds the writes up to the point ($LO..$HI)" \
    "$VERIFY" --image "$(vm_field h1 b1 '.disks[1].path')" --upto "$LO:$HI"
check "its reference points are marked incomplete" bash -c \
    "$LAB_SH tern h1 vm refpoint list b1 --json | jq -e \
    '[.refpoints[].disks[] | (.complete | not) and (.reason | test(\"restored\"))] | all'"
check "no restore copy left beside its disks" bash -c \
    "! ls $pool/moved/*.restore 2>/dev/null"
check "it starts" t h1 vm start b1
e2e_openapi_check
e2e_finish
