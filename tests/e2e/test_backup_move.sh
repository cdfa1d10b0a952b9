#!/usr/bin/env bash
# test_backup_move.sh - change tracking across live moves between hosts: a
# point on h1; a live move over shared storage (the bitmaps are stored in
# the images and the reference point travels with the VM): the next point,
# on h2, is incremental; a shared-nothing move back (QEMU copies the disks
# and carries the reference points' bitmaps in the migration stream): the
# point arrives complete, and the next point, on h1, is incremental too.
# Each point is restored and proven exact by the verifier.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup backupmove 85
lab up 2 --shared-pool >/dev/null
trust_both
repo=$TERN_LAB/repo
mkdir -p "$repo"
t h1 vm create m1 --cpus 1 --memory 256M --disk 256M@shared --disk 64M@shared \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=m1 tern.workload=disk:/dev/vdb:50" \
    >/dev/null
# 32 MiB on the boot disk (the guest never touches it): a full point is
# large, so a point that silently copied everything would show.
qemu-io -f qcow2 -c "write -P 0x5a 16M 32M" \
    "$(labenv LAB_SHARED_POOL)/m1-vda.qcow2" >/dev/null
t h1 vm start m1 >/dev/null
check "guest boots" wait_for 90 console_has h1 m1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 m1) -gt 20 ]"

# point HOST KIND: a point of m1 taken on HOST; LO/HI bound its writes.
point() {
	LO=$(acked "$1" m1)
	check "backup on $1 ($2)" t "$1" backup create m1 --to "$repo"
	HI=$(($(acked "$1" m1) + 1))
	POINT=$(t "$1" backup list "$repo" --json | jq -r '.points[-1].point')
	check_eq "the point is $2" "$(t "$1" backup list "$repo" --json |
	    jq -r '.points[-1].kind')" "$2"
}

# restored HOST NAME POOLDIR: the last point as vm NAME on HOST, exact.
restored() {
	check "restore $POINT on $1" t "$1" backup restore "$repo" \
	    --point "$POINT" --name "$2"
	check "$2 holds the writes up to the point ($LO..$HI)" \
	    "$VERIFY" --image "$3/$2-vdb.qcow2" --upto "$LO:$HI"
}

point h1 full
full=$(t h1 backup list "$repo" --json | jq -r '.points[-1].written_bytes')

check "live move to h2 over shared storage" t h1 vm move m1 --to h2
check "the reference point came along, complete" bash -c \
    "$LAB_SH tern h2 vm refpoint list m1 --json | jq -e \
    '(.refpoints | length) == 1 and ([.refpoints[].disks[].complete] | all)'"
sleep 3
point h2 incremental
written() { t "$1" backup list "$repo" --json | jq -r '.points[-1].written_bytes'; }
check "it wrote less than a tenth of the full ($(written h2) of $full)" \
    test "$(written h2)" -lt $((full / 10))
restored h2 n1 "$(labenv H2_POOL_DIR)"

check "shared-nothing move back to h1" t h2 vm move m1 --to h1 \
    --copy-storage --pool local
check "the move carried the bitmaps" bash -c "$LAB_SH tern h2 job list \
    --vm m1 --json | jq -e '[.jobs[] | select(.type == \"vm.move\")][0] |
    .details.bitmaps == true'"
check "the reference point arrived complete" bash -c \
    "$LAB_SH tern h1 vm refpoint list m1 --json | jq -e \
    '(.refpoints | length) == 1 and ([.refpoints[].disks[].complete] | all)'"
sleep 3
point h1 incremental
check "it wrote less than a tenth of the full ($(written h1) of $full)" \
    test "$(written h1)" -lt $((full / 10))
restored h1 n2 "$(labenv H1_POOL_DIR)"
e2e_finish
