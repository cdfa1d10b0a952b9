#!/usr/bin/env bash
# test_restart.sh - state survives kill -9 of ternd: running VMs are
# re-attached (same QEMU, guest never stopped), and jobs in flight are
# finished or rolled back, with exactly one QEMU per VM.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup restart 82
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)

guest_create h1 r1 >/dev/null
t h1 vm start r1 >/dev/null
uuid=$(vm_field h1 r1 .uuid)
pid=$(vm_field h1 r1 .pid)
check "guest is up" wait_for 90 console_has h1 r1 TERN-GUEST-READY

# 1. kill -9 with a running VM
lab kill h1 >/dev/null
check "QEMU outlives a killed ternd" kill -0 "$pid"
a1=$(TERN_LAB=$TERN_LAB acked h1 r1 2>/dev/null || echo 0)
lab start h1 >/dev/null
check_eq "re-attached: still running" "$(vm_field h1 r1 .state)" running
check_eq "re-attached: same QEMU pid" "$(vm_field h1 r1 .pid)" "$pid"
check "the guest kept running" wait_for 30 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 r1) -gt ${a1:-0} ]"
check "pause works on a re-attached VM" t h1 vm pause r1
check "resume too" t h1 vm resume r1

# 2. kill -9 in the middle of a start job (QEMU up, vCPUs not yet run)
t h1 vm stop r1 >/dev/null
lab kill h1 >/dev/null
TERN_FAILPOINT=vm.start.before-cont=kill lab start h1 >/dev/null
t h1 vm start r1 --no-wait >/dev/null || true
check "ternd died at the failpoint" wait_for 30 bash -c \
    "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null"
check_eq "one QEMU, paused before start" "$(qemu_count "$uuid")" 1
lab start h1 >/dev/null
check "the start job finishes after restart" wait_for 30 bash -c \
    "$LAB_SH tern h1 job list --vm r1 --json | jq -e '.jobs[0] | select(.type==\"vm.start\" and .state==\"succeeded\")'"
check_eq "vm running" "$(vm_field h1 r1 .state)" running
check_eq "still exactly one QEMU" "$(qemu_count "$uuid")" 1

# 3. kill -9 in the middle of a stop job (quit sent)
lab kill h1 >/dev/null
TERN_FAILPOINT=vm.stop.sent=kill lab start h1 >/dev/null
t h1 vm stop r1 --no-wait >/dev/null || true
check "ternd died after sending quit" wait_for 30 bash -c \
    "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null"
lab start h1 >/dev/null
check "the stop job finishes after restart" wait_for 30 bash -c \
    "$LAB_SH tern h1 job list --vm r1 --json | jq -e '.jobs[0] | select(.type==\"vm.stop\" and .state==\"succeeded\")'"
check_eq "vm off" "$(vm_field h1 r1 .state)" off
check_eq "no QEMU" "$(qemu_count "$uuid")" 0
console=$(labenv H1_STATE_DIR)/vms/$uuid/console.log
check "verifier passes after all that" \
    "$VERIFY" --image "$pool/r1-vdb.qcow2" --console "$console"

# 4. kill -9 in the middle of a create job: rolled back, no trace
lab kill h1 >/dev/null
TERN_FAILPOINT=vm.create.disk=kill lab start h1 >/dev/null
guest_create h1 r2 >/dev/null 2>&1 || true
check "ternd died creating disks" wait_for 30 bash -c \
    "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null"
lab start h1 >/dev/null
check "the create job is rolled back" wait_for 30 bash -c \
    "$LAB_SH tern h1 job list --json | jq -e '.jobs[] | select(.type==\"vm.create\" and .vm==\"r2\" and .state==\"failed\")'"
check_err "no half-made vm" 1 "not found" t h1 vm show r2
check "no disk file left" bash -c "! ls $pool | grep -q '^r2-'"

# 5. QEMU dies while ternd is down: the VM is reported crashed, not running
t h1 vm start r1 >/dev/null
pid=$(vm_field h1 r1 .pid)
lab kill h1 >/dev/null
kill -9 "$pid"
lab start h1 >/dev/null
check_eq "a VM whose QEMU died while ternd was down is crashed" \
    "$(vm_field h1 r1 .state)" crashed
check "a crashed VM can be started again" t h1 vm start r1
check "and stopped" t h1 vm stop r1
e2e_finish
