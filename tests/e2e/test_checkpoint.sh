#!/usr/bin/env bash
# test_checkpoint.sh - checkpoints of a running guest whose disk writer
# never stops: production and standard checkpoints taken while it runs,
# each frozen image proven exact by the verifier (--upto: every write
# acknowledged before, none after); the first deleted while it runs (a
# commit under the running disks); going back to the standard one (the VM
# saved with its memory, resumed where it was); the current one and then
# the last deleted while it runs (active commits: the disk ends on its
# original file); every acknowledged write there after it all.  Change
# tracking goes through (a backup after a checkpoint stays incremental;
# after going back it resyncs).  A paused VM keeps paused through a
# standard checkpoint.  ternd killed mid-create and mid-delete.  A
# turned-off VM: create, apply, delete.
# Bad input and a busy VM refused, changing nothing.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup checkpoint 91
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)
repo=$TERN_LAB/repo
mkdir -p "$repo"
guest_create h1 c1 >/dev/null
t h1 vm start c1 >/dev/null
check "guest boots" wait_for 90 console_has h1 c1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 c1) -gt 20 ]"
vdb0=$(vm_field h1 c1 '.disks[1].path')
kind_of_last() { t h1 backup list "$repo" --json | jq -r '.points[-1].kind'; }
cp_field() { t h1 vm checkpoint list c1 --json | jq -r "$1"; }

# --- bad input: each refused, nothing made ---
check_err "an unknown vm" 1 "" t h1 vm checkpoint create nosuch cp
check_err "a bad name" 1 "not valid" t h1 vm checkpoint create c1 'a/b'
check_err "an unknown kind" 1 "not known" t h1 vm checkpoint create c1 x \
    --kind full
check_err "apply of an unknown checkpoint" 1 "no checkpoint named" \
    t h1 vm checkpoint apply c1 nosuch
check_err "delete of an unknown checkpoint" 1 "no checkpoint named" \
    t h1 vm checkpoint delete c1 nosuch
check_eq "no checkpoint was made" "$(cp_field '.checkpoints | length')" 0
check_eq "the disk is as it was" "$(vm_field h1 c1 '.disks[1].path')" "$vdb0"

# --- a backup's reference point, then production checkpoint cp1 ---
check "backup (full)" t h1 backup create c1 --to "$repo"
LO1=$(acked h1 c1)
check "checkpoint cp1 (production, running)" t h1 vm checkpoint create c1 cp1
HI1=$(($(acked h1 c1) + 1))
vdb1=$(vm_field h1 c1 '.disks[1].path')
check "the vm writes on in a new overlay" test "$vdb1" != "$vdb0"
check "cp1's frozen image holds the writes up to it ($LO1..$HI1)" \
    "$VERIFY" --image "$vdb0" --upto "$LO1:$HI1"
sleep 2
check "backup after the checkpoint" t h1 backup create c1 --to "$repo"
check_eq "it is incremental (the bitmaps went into the overlay)" \
    "$(kind_of_last)" incremental
check_err "a name clash" 1 "already has a checkpoint named" \
    t h1 vm checkpoint create c1 cp1
check_err "a storage move while it has checkpoints" 1 "has 1 checkpoint" \
    t h1 vm move-storage c1 --to p9

# --- standard checkpoint cp2: disks and memory ---
sleep 2
LO2=$(acked h1 c1)
check "checkpoint cp2 (standard, running)" t h1 vm checkpoint create c1 cp2 \
    --kind standard
HI2=$(($(acked h1 c1) + 1))
check_eq "cp2 holds the memory" "$(cp_field '.checkpoints[1] |
    "\(.kind) \(.consistency) \(.memory)"')" "standard memory true"
check_eq "the vm runs on" "$(vm_field h1 c1 .state)" running
check_eq "the tree: cp1 > cp2 (current)" "$(cp_field '[.checkpoints[] |
    "\(.name)<\(.parent)"] | join(",")'),$(cp_field .current)" \
    "cp1<null,cp2<cp1,cp2"
check "cp2's frozen image holds the writes up to it ($LO2..$HI2)" \
    "$VERIFY" --image "$vdb1" --upto "$LO2:$HI2"
check "list shows the tree and where the vm is" bash -c \
    "$LAB_SH tern h1 vm checkpoint list c1 | grep -q '\`- now'"

# --- a job holds the vm: a delete is refused, naming it ---
t h1 --no-wait backup create c1 --to "$repo" >/dev/null
check_err "delete while a backup runs" 1 "busy" \
    t h1 vm checkpoint delete c1 cp1
check "the backup finishes" wait_for 120 bash -c "$LAB_SH tern h1 job list \
    --json | jq -e '[.jobs[] | select(.type == \"vm.backup\" and
    (.state == \"running\" or .state == \"queued\"))] | length == 0'"

# --- delete cp1 while the vm runs: cp2's image committed into cp1's ---
check "delete cp1 (running: a commit under the disks)" \
    t h1 vm checkpoint delete c1 cp1
check_eq "the tree: cp2 (current)" "$(cp_field '[.checkpoints[] |
    "\(.name)<\(.parent)"] | join(",")'),$(cp_field .current)" \
    "cp2<null,cp2"
check "cp1's image is gone: cp2's image is the original file" \
    test ! -e "$vdb1"
check "cp2 still reads the writes up to it ($LO2..$HI2)" \
    "$VERIFY" --image "$vdb0" --upto "$LO2:$HI2"
N=$(acked h1 c1)
check "the guest writes on" wait_for 30 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 c1) -gt $N ]"

# --- apply cp2 (standard) while running: saved with its memory ---
check "apply cp2 (running)" t h1 vm checkpoint apply c1 cp2
check_eq "the vm is saved" "$(vm_field h1 c1 .state)" saved
check "its disk holds exactly cp2's writes ($LO2..$HI2)" \
    "$VERIFY" --image "$(vm_field h1 c1 '.disks[1].path')" --upto "$LO2:$HI2"
check "its reference points are marked incomplete" bash -c \
    "$LAB_SH tern h1 vm refpoint list c1 --json | jq -e \
    '[.refpoints[].disks[] | (.complete | not)] | all'"
N=$(t h1 vm console c1 | grep -ac TERN-ACK)
check "start resumes it from the checkpoint's memory" t h1 vm start c1
check "the guest writes on from there" wait_for 60 bash -c \
    "[ \$($LAB_SH tern h1 vm console c1 | grep -ac TERN-ACK) -gt $((N + 5)) ]"
check "backup after going back" t h1 backup create c1 --to "$repo"
check_eq "it resyncs (checksums compared)" "$(kind_of_last)" resync

# --- cp3, then delete cp3 and cp2 while running: active commits ---
check "checkpoint cp3 (production, running)" t h1 vm checkpoint create c1 cp3
sleep 2
check "backup after cp3 (its reference point only in cp3's overlay)" \
    t h1 backup create c1 --to "$repo"
check_eq "it is incremental" "$(kind_of_last)" incremental
sleep 2
check "delete cp3, the current one (active commit)" \
    t h1 vm checkpoint delete c1 cp3
check_eq "the tree: cp2 (current)" "$(cp_field '[.checkpoints[].name] |
    join(",")'),$(cp_field .current)" "cp2,cp2"
sleep 2
check "backup after the merge" t h1 backup create c1 --to "$repo"
check_eq "it is incremental (the bitmaps merged into the image)" \
    "$(kind_of_last)" incremental
check "delete cp2, the last one (active commit)" \
    t h1 vm checkpoint delete c1 cp2
check_eq "no checkpoints" "$(cp_field '.checkpoints | length')" 0
check_eq "the disk is back on its original file" \
    "$(vm_field h1 c1 '.disks[1].path')" "$vdb0"
check_eq "no overlay left in the pool" "$(ls "$pool" |
    grep -Ec '^c1-vd[ab]\.[0-9]+\.qcow2$')" 0
N=$(acked h1 c1)
check "the guest writes on" wait_for 30 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 c1) -gt $N ]"
# --- ternd kill -9 mid-create and mid-delete: the VM runs on, nothing
# half made; a delete stopped half way finishes when run again ---
restart_with h1 checkpoint.snap=delay:60000
t h1 --no-wait vm checkpoint create c1 k1 >/dev/null
check "the create reaches its snapshot" wait_for 60 bash -c "$LAB_SH tern h1 \
    job list --vm c1 --json | jq -e '.jobs[0].phase == \"snap\"'"
lab kill h1 >/dev/null
restart_with h1
check "the create failed after the restart" wait_for 60 bash -c \
    "$LAB_SH tern h1 job list --vm c1 --json | jq -e \
    '.jobs[0].type == \"vm.checkpoint\" and .jobs[0].state == \"failed\"'"
check_eq "no checkpoint k1" "$(cp_field '[.checkpoints[].name] | join(",")')" ""
check_eq "the disk is as it was" "$(vm_field h1 c1 '.disks[1].path')" "$vdb0"
check_eq "no overlay left in the pool" "$(ls "$pool" |
    grep -Ec '^c1-vd[ab]\.[0-9]+\.qcow2$')" 0
check_eq "the vm still runs" "$(vm_field h1 c1 .state)" running
check "checkpoint k2" t h1 vm checkpoint create c1 k2
restart_with h1 checkpoint.switch=delay:60000
t h1 --no-wait vm checkpoint delete c1 k2 >/dev/null
check "the delete reaches its switch" wait_for 60 bash -c "$LAB_SH tern h1 \
    job list --vm c1 --json | jq -e '.jobs[0].phase == \"commit\"' &&
    grep -q 'checkpoint.switch' $TERN_LAB/h1/log/ternd.log"
lab kill h1 >/dev/null
restart_with h1
check "the delete finishes after the restart" wait_for 60 bash -c \
    "$LAB_SH tern h1 job list --vm c1 --json | jq -e \
    '.jobs[0].type == \"vm.checkpoint-delete\" and .jobs[0].state == \"succeeded\"'"
check_eq "no checkpoints" "$(cp_field '.checkpoints | length')" 0
check_eq "the disk is back on its original file" \
    "$(vm_field h1 c1 '.disks[1].path')" "$vdb0"
N=$(acked h1 c1)
check "the guest writes on" wait_for 30 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 c1) -gt $N ]"

# --- a paused vm: a standard checkpoint, the vm stays paused ---
t h1 vm pause c1 >/dev/null
check "checkpoint p1 (standard, paused)" t h1 vm checkpoint create c1 p1 \
    --kind standard
check_eq "the vm is still paused" "$(vm_field h1 c1 .state)" paused
check_eq "p1 holds the memory" "$(cp_field '.checkpoints[0].memory')" true
t h1 vm resume c1 >/dev/null
N=$(acked h1 c1)
check "the guest writes on once resumed" wait_for 30 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 c1) -gt $N ]"
check "delete p1 (running)" t h1 vm checkpoint delete c1 p1

t h1 vm stop c1 >/dev/null
LO=$(acked h1 c1)
check "every acknowledged write is on the disk ($LO)" \
    "$VERIFY" --image "$vdb0" --upto "$LO"

# --- a turned-off vm: create, apply, delete ---
check "checkpoint off1 (off)" t h1 vm checkpoint create c1 off1
check_eq "off1 is of a turned-off vm" "$(cp_field '.checkpoints[0].consistency')" off
check "checkpoint off2 (off)" t h1 vm checkpoint create c1 off2
check_err "an export while it has checkpoints" 1 "has 2 checkpoints" \
    t h1 vm export c1 "$TERN_LAB/export1"
check "and no export was made" test ! -e "$TERN_LAB/export1/vm.json"
check "apply off1 (off)" t h1 vm checkpoint apply c1 off1
check_eq "the vm is off" "$(vm_field h1 c1 .state)" off
check "delete off2 (nothing builds on it)" t h1 vm checkpoint delete c1 off2
check "delete off1 (offline commit)" t h1 vm checkpoint delete c1 off1
check_eq "the disk is back on its original file" \
    "$(vm_field h1 c1 '.disks[1].path')" "$vdb0"
check "the disk still holds every acknowledged write ($LO)" \
    "$VERIFY" --image "$vdb0" --upto "$LO"
check_eq "no overlay left in the pool" "$(ls "$pool" |
    grep -Ec '^c1-vd[ab]\.[0-9]+\.qcow2$')" 0
check "it starts" t h1 vm start c1
e2e_openapi_check
e2e_finish
