#!/usr/bin/env bash
# test_lifecycle.sh - a real guest through its whole life on a lab host:
# create, start, console, pause, resume, stop, verify its disk writes,
# delete; events recorded; nothing left behind.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup lifecycle 81
lab up 1 >/dev/null

check "pool 'local' comes from the daemon's flags" \
    bash -c "t() { $LAB_SH tern \"\$@\"; }; t h1 pool list | grep -q local"
check "switch create" t h1 switch create lan
check "vm create with two disks and a NIC" guest_create h1 g1 disk:/dev/vdb:50 --net lan
check_eq "new vm is off" "$(vm_field h1 g1 .state)" off
uuid=$(vm_field h1 g1 .uuid)
pool=$(labenv H1_POOL_DIR)
check "its disks exist in the pool" test -f "$pool/g1-vda.qcow2" -a -f "$pool/g1-vdb.qcow2"
check_eq "MAC is kept in the config" "$(vm_field h1 g1 '.nics[0].mac' | cut -c1-8)" "52:54:00"

check "vm start" t h1 vm start g1
check_eq "state after start" "$(vm_field h1 g1 .state)" running
pid=$(vm_field h1 g1 .pid)
check "QEMU runs with the VM's uuid" test "$(qemu_count "$uuid")" = 1
quser=$(t h1 host info --json | jq -r .qemu_user)
check_eq "QEMU runs as the unprivileged tern-qemu user" \
    "$(ps -o user= -p "$pid")/$quser" "tern-qemu/tern-qemu"
check "the VM's disks belong to it" test \
    "$(stat -c %U "$pool/g1-vda.qcow2")" = tern-qemu
check "guest boots to a ready agent" wait_for 90 console_has h1 g1 TERN-GUEST-READY
check "disk writer acknowledges writes" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 g1) -gt 20 ]"

check "vm pause" t h1 vm pause g1
check_eq "state paused" "$(vm_field h1 g1 .state)" paused
a1=$(acked h1 g1); sleep 2; a2=$(acked h1 g1)
check_eq "a paused guest writes nothing" "$a2" "$a1"
check "vm resume" t h1 vm resume g1
check "guest writes again after resume" wait_for 30 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 g1) -gt $a2 ]"
check_eq "same QEMU all along" "$(vm_field h1 g1 .pid)" "$pid"

check "vm list shows it" bash -c "$LAB_SH tern h1 vm list | grep -q g1"
check "vm stop (turn off)" t h1 vm stop g1
check_eq "state off" "$(vm_field h1 g1 .state)" off
check "QEMU is gone" test "$(qemu_count "$uuid")" = 0
console=$(labenv H1_STATE_DIR)/vms/$uuid/console.log
check "verifier: no acknowledged write lost or torn" \
    "$VERIFY" --image "$pool/g1-vdb.qcow2" --console "$console"

check "events record the lifecycle" bash -c \
    "$LAB_SH tern h1 events --vm g1 | grep -q 'vm started' &&
     $LAB_SH tern h1 events --vm g1 | grep -q 'vm turned off'"
check "job list shows the start job succeeded" bash -c \
    "$LAB_SH tern h1 job list --json | jq -e '.jobs[] | select(.type==\"vm.start\" and .state==\"succeeded\")'"
check "vm delete" t h1 vm delete g1
check "its disks are gone" test ! -e "$pool/g1-vda.qcow2" -a ! -e "$pool/g1-vdb.qcow2"
check_err "deleted vm is unknown" 1 "not found" t h1 vm show g1
check "switch delete" t h1 switch delete lan
e2e_openapi_check
e2e_finish
