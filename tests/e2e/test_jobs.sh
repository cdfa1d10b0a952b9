#!/usr/bin/env bash
# test_jobs.sh - jobs as an operator sees them: the JSON contract of
# `vm show` and `job show`, watching, cancelling a start half way (QEMU
# killed, VM back to off), and refusals for jobs that cannot be cancelled.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup jobs 86
lab up 1 >/dev/null
t h1 switch create lan >/dev/null
guest_create h1 j1 disk:/dev/vdb:50 --net lan >/dev/null
uuid=$(vm_field h1 j1 .uuid)

check "vm show --json has the documented fields" bash -c "
    $LAB_SH tern h1 vm show j1 --json | jq -e '
    (.name, .uuid, .state, .cpus, .memory_mib, .host) and
    (.disks | length == 2) and
    (.disks[0] | has(\"name\") and has(\"path\") and has(\"pool\") and
     has(\"virtual_size\") and has(\"allocated\")) and
    (.nics[0] | has(\"mac\") and has(\"switch\"))'"
id=$(t h1 job list --json | jq -r '.jobs[0].id')
check "job show --json has the documented fields" bash -c "
    $LAB_SH tern h1 job show $id --json | jq -e '
    has(\"id\") and has(\"type\") and has(\"vm\") and has(\"state\") and
    (.progress | has(\"done\") and has(\"total\") and has(\"unit\")) and
    has(\"rate\") and has(\"eta_s\") and has(\"error\") and
    has(\"started_at\") and has(\"ended_at\") and has(\"details\")'"
check "job watch of an ended job returns at once" t h1 job watch "$id"
check_err "cancel of an ended job" 1 "already ended" t h1 job cancel "$id"
check_err "cancel of an unknown job" 1 "not found" t h1 job cancel 9999
check_err "show of an unknown job" 1 "not found" t h1 job show 9999

# A start held just before its vCPUs run, then cancelled.
lab kill h1 >/dev/null
TERN_FAILPOINT=vm.start.before-cont=delay:5000 lab start h1 >/dev/null
sid=$(t h1 vm start j1 --no-wait --json | jq -r .job.id)
check "the start job is running" wait_for 10 bash -c \
    "[ \$($LAB_SH tern h1 vm show j1 --json | jq -r .state) = starting ]"
check "QEMU is up (daemonized, pid known), vCPUs not yet run" wait_for 10 \
    bash -c "[ \$($LAB_SH tern h1 vm show j1 --json | jq -r .pid) != null ] &&
    [ \$(pgrep -f -- '^qemu-system-x86_64 .*-uuid $uuid' | wc -l) = 1 ]"
check "cancel the start" t h1 job cancel "$sid"
check_eq "job cancelled" "$(t h1 job show "$sid" --json | jq -r .state)" \
    cancelled
check "vm back to off" wait_for 10 bash -c \
    "[ \$($LAB_SH tern h1 vm show j1 --json | jq -r .state) = off ]"
check "its QEMU is gone" wait_for 10 bash -c \
    "[ \$(pgrep -f -- '^qemu-system-x86_64 .*-uuid $uuid' | wc -l) = 0 ]"
check_err "a cancelled start shows in the events" 0 "cancelled" \
    t h1 events --vm j1

# The same start without the cancel ends running; a running VM's start
# and a stop job in flight refuse a cancel.
check "start succeeds after the delay" t h1 vm start j1
check_eq "running" "$(vm_field h1 j1 .state)" running
lab kill h1 >/dev/null
lab start h1 >/dev/null
check "stop" t h1 vm stop j1
check "delete" t h1 vm delete j1
e2e_openapi_check
e2e_finish
