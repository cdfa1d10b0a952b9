#!/usr/bin/env bash
# test_save.sh - saved state: a guest with the disk writer saved to a file
# next to its disks and restored (same boot, writes carry on, verifier
# passes); a saved VM turned off discards its state; the host shutdown
# policy saves running VMs on SIGTERM; bad requests change nothing.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup save 80
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)
guest_create h1 s1 >/dev/null
uuid=$(vm_field h1 s1 .uuid)
console=$(labenv H1_STATE_DIR)/vms/$uuid/console.log
t h1 vm start s1 >/dev/null
check "guest boots" wait_for 90 console_has h1 s1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 s1) -gt 20 ]"

check_err "save of a paused vm is refused" 1 "only a running VM" bash -c \
    "$LAB_SH tern h1 vm pause s1 >/dev/null; $LAB_SH tern h1 vm save s1"
t h1 vm resume s1 >/dev/null
check "vm save" t h1 vm save s1
check_eq "state saved" "$(vm_field h1 s1 .state)" saved
check_eq "state file next to the disks" "$(vm_field h1 s1 .saved_state)" \
    "$pool/s1.state"
check "the file is there, no partial left" \
    test -s "$pool/s1.state" -a ! -e "$pool/s1.state.partial"
check_eq "no QEMU" "$(qemu_count "$uuid")" 0
check "the save job reported progress in bytes" bash -c \
    "$LAB_SH tern h1 job list --vm s1 --json | jq -e '.jobs[0] |
     .type == \"vm.save\" and .progress.unit == \"bytes\" and
     .progress.total > 0'"
a1=$(acked h1 s1)
check_err "pause of a saved vm" 1 "not running" t h1 vm pause s1

check "vm start restores it" t h1 vm start s1
check_eq "running" "$(vm_field h1 s1 .state)" running
check "restored, not rebooted: one boot on the console" bash -c \
    "[ \$(grep -c TERN-GUEST-READY $console) = 1 ]"
check "the writer carries on from where it was" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 s1) -gt $a1 ]"
check "the state file is gone once running" test ! -e "$pool/s1.state"
check "restore is an event" bash -c \
    "$LAB_SH tern h1 events --vm s1 | grep -q 'restored from its saved state'"

# A saved VM turned off discards its state and boots fresh.
t h1 vm save s1 >/dev/null
check "vm stop of a saved vm discards the state" t h1 vm stop s1
check_eq "off" "$(vm_field h1 s1 .state)" off
check "state file removed" test ! -e "$pool/s1.state"
check "verifier passes after save, restore and off" \
    "$VERIFY" --image "$pool/s1-vdb.qcow2" --console "$console"

# Host shutdown policy: save.
printf -- '--on-host-shutdown\nsave\n' >>"$(labenv H1_ARGSFILE)"
lab kill h1 >/dev/null
lab start h1 >/dev/null
t h1 vm start s1 >/dev/null
check "guest boots again" wait_for 90 bash -c \
    "[ \$(grep -c TERN-GUEST-READY $console) = 2 ]"
lab stop h1 >/dev/null
check_eq "SIGTERM saved the running VM (no QEMU left)" \
    "$(qemu_count "$uuid")" 0
lab start h1 >/dev/null
check_eq "it is saved after the restart" "$(vm_field h1 s1 .state)" saved
check "and restores" t h1 vm start s1
check "a saved vm deleted takes its state file along" bash -c \
    "$LAB_SH tern h1 vm save s1 && $LAB_SH tern h1 vm delete s1 &&
     [ ! -e $pool/s1.state ]"
e2e_openapi_check
e2e_finish
