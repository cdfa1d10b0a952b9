#!/usr/bin/env bash
# test_dynmem.sh - dynamic memory (issue 18): a guest made with --memory
# MIN..MAX settles at MIN, grows towards MAX while a workload fills its
# memory and shrinks back when the workload's memory is freed, with vm
# show and the host's accounting following; a live move over shared
# storage keeps its settings; a move to a host that cannot admit its
# current size is refused by name, the VM staying where it runs; bad
# --memory text is refused with no change of state.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup dynmem 153
lab up 2 --shared-pool >/dev/null
trust_both

nvms() { t h1 vm list --json | jq '.vms | length'; }
before=$(nvms)
check_err "MIN > MAX is refused" 2 "larger than the maximum" \
    t h1 vm create bad --cpus 1 --memory 768M..256M
check_err "a buffer below 5 % is refused" 2 "buffer '3' must be" \
    t h1 vm create bad --cpus 1 --memory 256M..768M,buffer=3
check_err "a buffer above 95 % is refused" 2 "buffer '96' must be" \
    t h1 vm create bad --cpus 1 --memory 256M..768M,buffer=96
check_err "a buffer without a range is refused" 2 "needs a range" \
    t h1 vm create bad --cpus 1 --memory 256M,buffer=20
check_eq "none of them made a vm" "$(nvms)" "$before"

check "create d1 with 256M..768M" t h1 vm create d1 --cpus 1 \
    --memory 256M..768M,buffer=30 --disk 64M@shared \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=d1 tern.workload=idle"
check_eq "vm show: min/max/buffer/current" \
    "$(vm_field h1 d1 '.dynamic_memory | "\(.minimum_mib)/\(.maximum_mib)/\(.buffer_pct)/\(.current_mib)"')" \
    "256/768/30/256"
t h1 vm start d1 >/dev/null
check "d1 boots" wait_for 120 console_has h1 d1 TERN-GUEST-READY

dm() { vm_field "$1" d1 ".dynamic_memory.$2 // 0"; }
cur_at_least() { [ "$(dm "$1" current_mib)" -ge "$2" ]; }
cur_at_most() { [ "$(dm "$1" current_mib)" -le "$2" ]; }
demand_known() { [ "$(dm "$1" demand_mib)" -gt 0 ]; }
hostmem() { t "$1" host info --json | jq -r "$2"; }
check "the guest's demand is known" wait_for 60 demand_known h1
check "idle after boot, it settles low (<= 300 MiB)" wait_for 40 cur_at_most h1 300
check_eq "host accounting: d1's current size now, 768 MiB at most" \
    "$(hostmem h1 '"\(.memory_vms_mib)/\(.memory_vms_max_mib)"')" \
    "$(dm h1 current_mib)/768"
echo "# idle: $(t h1 vm show d1 | grep memory)"

# The workload: files in the guest's /dev/shm (tmpfs), written a step at a
# time so that the balloon can follow.  The agent's channel takes one
# client, so ternd steps aside while the test talks to the agent; the
# writer goes on in the guest, and the re-attached ternd's controller
# follows it.
eat='(i=0; while [ $i -lt 20 ]; do i=$((i+1)); dd if=/dev/zero of=/dev/shm/eat$i bs=1M count=16 2>/dev/null; sleep 2; done) >/dev/null 2>&1 </dev/null &'
lab stop h1 >/dev/null
check "the workload starts in the guest" qga h1 d1 exec /bin/sh -c "$eat"
lab start h1 >/dev/null
check "d1 grows towards MAX (>= 450 MiB)" wait_for 90 cur_at_least h1 450
echo "# eating: $(t h1 vm show d1 | grep memory)"
check_eq "host accounting follows" "$(hostmem h1 .memory_vms_mib)" "$(dm h1 current_mib)"
check "never past MAX" cur_at_most h1 768

lab stop h1 >/dev/null
check "the workload's memory freed" qga h1 d1 exec /bin/sh -c 'rm -f /dev/shm/eat*'
lab start h1 >/dev/null
check "d1 shrinks back (<= 300 MiB)" wait_for 60 cur_at_most h1 300
echo "# freed: $(t h1 vm show d1 | grep memory)"
check_eq "host accounting follows back" "$(hostmem h1 .memory_vms_mib)" "$(dm h1 current_mib)"

cur=$(dm h1 current_mib)
check "live move to h2" t h1 vm move d1 --to h2
check_eq "on h2 with its settings and current size" \
    "$(vm_field h2 d1 '"\(.state)/\(.dynamic_memory.minimum_mib)/\(.dynamic_memory.maximum_mib)/\(.dynamic_memory.buffer_pct)/\(.dynamic_memory.current_mib)"')" \
    "running/256/768/30/$cur"
check "h2's controller reads the guest" wait_for 30 demand_known h2
check "h2's accounting counts it" wait_for 30 \
    test "$(hostmem h2 .memory_vms_max_mib)" = 768

# h1 keeps all its memory for itself now: it cannot admit d1's current size.
lab stop h1 >/dev/null
printf '%s\n' --memory-reserve 1073741824 >>"$(labenv H1_ARGSFILE)"
lab start h1 >/dev/null
rc=0; out=$(t h2 vm move d1 --to h1 2>&1) || rc=$?
echo "$out" | sed 's/^/#   /'
check_eq "a move to a host without room for its current size fails" "$rc" 1
check "it says why, naming the current size and MAX" grep -qE \
    "not enough memory to start vm 'd1' \(dynamic memory: ([0-9]+) MiB now, up to 768 MiB\): it needs \\1 MiB" <<<"$out"
check_eq "and d1 still runs on h2" "$(vm_where d1)" "h2 running"
echo "# current before the move $cur MiB"
e2e_openapi_check
e2e_finish
