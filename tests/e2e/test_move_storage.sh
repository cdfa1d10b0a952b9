#!/usr/bin/env bash
# test_move_storage.sh - moving a VM's disks between pools on one host.
# A guest runs the disk writer at full speed: its storage moves live to
# another pool and per disk to two others (the verifier passes, the writes
# go on, the guest never reboots); every bad request is refused with
# nothing changed; faults: QEMU kill -9 during the mirror, a cancel, ternd
# kill -9 at storage.ready and at storage.pivoted, a target pool (tmpfs)
# too small for a disk whose data was compressed; a stopped VM and a saved
# VM (with its state file) are moved by copy, and a ternd killed during a
# copy finishes it after the restart; max-storage-migrations 1 queues a
# second move.  After each: exactly one set of files, the one recorded and
# the one QEMU has open, and no .partial anywhere.
. "$(dirname "$0")/lib.sh"
LABDIR=/tmp/tern-e2e-movestorage${E2E_SHIFT:+-s$E2E_SHIFT}	# as e2e_lab_setup names it
TINY=$LABDIR/tiny
mountpoint -q "$TINY" 2>/dev/null && umount "$TINY"
e2e_lab_setup movestorage 125
# ternd reads the settings file at every (re)start: it lives as long as
# the lab.
cfg=$(mktemp)
st_cleanup() { # the tmpfs first: lab down removes only its own file system
	local rc=$?
	set +e	# a umount that fails must not skip the lab's teardown
	mountpoint -q "$TINY" 2>/dev/null && umount "$TINY"
	rm -f "$cfg"
	(exit $rc)
	e2e_cleanup
}
trap st_cleanup EXIT
echo "max-storage-migrations = 1" >"$cfg"
lab up 1 --config "$cfg" >/dev/null
POOL=$(labenv H1_POOL_DIR); P2=$TERN_LAB/pool2; P3=$TERN_LAB/pool3
OUTSIDE=$TERN_LAB/outside; S=$(labenv H1_STATE_DIR)
mkdir -p "$P2" "$P3" "$OUTSIDE" "$TINY"
mount -t tmpfs -o size=48M tmpfs "$TINY"
# ternd runs in its own mount namespace (ip netns exec), copied when it
# starts: restart it so that it sees the tmpfs.
lab stop h1 >/dev/null; lab start h1 >/dev/null
t h1 pool create pool2 "$P2" >/dev/null
t h1 pool create pool3 "$P3" >/dev/null
t h1 pool create tiny "$TINY" >/dev/null

last_job() { t h1 job list --vm "$1" --json | jq -c '[.jobs[] | select(.type=="vm.move-storage")][0]'; }
paths() { t h1 vm show "$1" --json | jq -r '.disks[].path, (.saved_state // empty)' | sort; }
# files VM: every file of VM in every pool (disks, saved state, partials)
files() { find "$POOL" "$P2" "$P3" "$TINY" "$OUTSIDE" -maxdepth 1 -type f \( -name "$1-*" -o -name "$1.state*" \) 2>/dev/null | sort; }
qemu_pid() { pgrep -f -- "^qemu-system-x86_64 .*-uuid $1" | head -n 1; }
# qemu_files UUID: the disk images the VM's QEMU has open
# (an image deleted while still open shows as "PATH (deleted)": a mismatch)
qemu_files() { ls -l /proc/"$(qemu_pid "$1")"/fd 2>/dev/null | grep -oE '/[^ ]*\.qcow2( \(deleted\))?$' | sort -u; }
# one_set VM: the files of VM in the pools are exactly the recorded ones;
# with QEMU running, those are the ones it has open
one_set() {
	local u; u=$(t h1 vm show "$1" --json | jq -r .uuid)
	[ "$(files "$1")" = "$(paths "$1")" ] || return 1
	[ -z "$(qemu_pid "$u")" ] || [ "$(qemu_files "$u")" = "$(paths "$1" | grep qcow2)" ]
}
no_partial() { ! find "$POOL" "$P2" "$P3" "$TINY" -name '*.partial' | grep -q .; }
console_of() { echo "$S/vms/$(t h1 vm show "$1" --json | jq -r .uuid)/console.log"; }
acks() { grep -ao 'TERN-ACK [0-9]*' "$(console_of "$1")" | tail -n 1 | awk '{print $2+0}' | grep . || echo 0; }
boots() { grep -ac TERN-GUEST-READY "$(console_of "$1")"; }
verify_vm() { "$VERIFY" --image "$(t h1 vm show "$1" --json | jq -r '.disks[1].path')" --console "$(console_of "$1")"; }
writes_go_on() { # writes_go_on VM: the writer acks more than before
	local a; a=$(acks "$1")
	wait_for 30 bash -c "[ \$(grep -ao 'TERN-ACK [0-9]*' $(console_of "$1") | tail -n 1 | awk '{print \$2}') -gt $a ]"
}
phase_is() { [ "$(last_job "$1" | jq -r '.state + "/" + .phase')" = "$2" ]; }
# qmp UUID bitmap-add|bitmap-remove NAME: on the node vda uses now, over
# the VM's QMP socket (ternd must be stopped: QEMU serves one client)
qmp() {
	python3 - "$(labenv H1_RUN_DIR)/vms/$1/qmp.sock" "$2" "$3" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
def cmd(execute, **args):
    f.write(json.dumps({"execute": execute, "arguments": args}) + "\n")
    f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            if "error" in m:
                sys.exit("qmp: %s: %s" % (execute, m["error"]["desc"]))
            return m["return"]
f.readline(); cmd("qmp_capabilities")
node = [b["inserted"]["node-name"] for b in cmd("query-block")
        if "/vda/" in b.get("qdev", "")][0]
cmd("block-dirty-bitmap-" + sys.argv[2].split("-")[1], node=node, name=sys.argv[3])
PY
}

# ---- a running guest, the writer at full speed ----
guest_create h1 g1 "disk:/dev/vdb:0+$MEMCHECK" >/dev/null
t h1 vm start g1 >/dev/null
U=$(vm_field h1 g1 .uuid)
check "guest boots" wait_for 90 console_has h1 g1 TERN-GUEST-READY
check "the writer acknowledges" wait_for 60 bash -c "[ \$(grep -ac TERN-ACK $(console_of g1)) -gt 5 ]"
# an off VM for the copy and queue cases, and one whose data needs space
t h1 vm create tr --cpus 1 --memory 64M --disk 32M >/dev/null
qemu-img create -q -f qcow2 "$POOL/fat-data.qcow2" 256M
qemu-io -f qcow2 -c 'write -P 0x33 0 100M' "$POOL/fat-data.qcow2" >/dev/null
t h1 vm create fat --cpus 1 --memory 64M --disk-path "$POOL/fat-data.qcow2" >/dev/null

# ---- bad input: a clear error, nothing changes ----
snapshot() {
	t h1 vm list --json | jq -c '[.vms[] | {name, state, d: [.disks[].path]}] | sort_by(.name)'
	find "$POOL" "$P2" "$P3" "$TINY" "$OUTSIDE" -type f | sort
	t h1 job list --active --json | jq -c '.jobs | length'
}
before=$(snapshot)
check_err "unknown vm" 1 "vm 'nope' not found" t h1 vm move-storage nope --to pool2
check_err "unknown pool" 1 "pool 'p9' not found" t h1 vm move-storage g1 --to p9
check_err "a directory outside every pool" 1 "outside every storage pool" \
    t h1 vm move-storage g1 --to "$OUTSIDE"
check_err "a directory that does not exist" 1 "does not exist" \
    t h1 vm move-storage g1 --to "$P2/nope"
touch "$P2/g1-vdb.qcow2"
check_err "target file exists" 1 "already exists" t h1 vm move-storage g1 --to pool2
rm -f "$P2/g1-vdb.qcow2"
check_err "a disk named twice" 2 "disk vda given twice" \
    t h1 vm move-storage g1 --disk vda=pool2 --disk vda=pool3
check_err "the API refuses a disk named twice too" 0 "duplicate object key" \
    lab exec h1 curl -s --unix-socket "$(labenv H1_SOCK)" -X POST \
    -d '{"disks": {"vda": "pool2", "vda": "pool3"}}' http://tern/v1/vms/g1/move-storage
check_err "an unknown disk" 1 "no disk 'vdz' (it has vda, vdb)" \
    t h1 vm move-storage g1 --disk vdz=pool2
check_err "--to together with --disk" 2 "exclude each other" \
    t h1 vm move-storage g1 --to pool2 --disk vda=pool3
check_err "neither --to nor --disk" 2 "missing option --to" t h1 vm move-storage g1
check_err "target is where the disks are" 1 "already in 'local'" \
    t h1 vm move-storage g1 --to local
check_err "target is where the disk is (a directory)" 1 "disk vdb of vm 'g1' is already in" \
    t h1 vm move-storage g1 --disk vdb="$POOL"
check_err "not enough free space in the target" 1 "not enough space" \
    t h1 vm move-storage fat --to tiny
t h1 vm quiesce g1 --hold 4 --no-wait >/dev/null
check_err "vm busy with another job" 1 "busy with job" t h1 vm move-storage g1 --to pool2
wait_for 30 no_active_jobs h1 || true
# A dirty bitmap not tern's would not follow the switch (tern carries
# only its own): the job refuses before anything is made.  QEMU takes one
# QMP client: ternd steps aside.
lab stop h1 >/dev/null
qmp "$U" bitmap-add cbt0
lab start h1 >/dev/null
check_err "a disk with a dirty bitmap is refused" 1 "dirty bitmap 'cbt0'" \
    t h1 vm move-storage g1 --to pool2
lab stop h1 >/dev/null
qmp "$U" bitmap-remove cbt0
lab start h1 >/dev/null
restart_with h1 vm.start.before-cont=delay:4000
t h1 vm start tr --no-wait >/dev/null
wait_for 10 bash -c "[ \"\$($LAB_SH tern h1 vm show tr --json | jq -r .state)\" = starting ]" || true
check_err "vm in a transitional state (starting)" 1 "(vm.start)" \
    t h1 vm move-storage tr --to pool2
wait_for 30 no_active_jobs h1 || true
t h1 vm stop tr >/dev/null
restart_with h1
check_eq "refusals changed nothing, left nothing" "$(snapshot)" "$before"

# ---- live: every disk to another pool ----
b0=$(boots g1)
check "live move to pool2" t h1 vm move-storage g1 --to pool2
check_eq "both disks recorded in pool2" "$(t h1 vm show g1 --json | jq -c '[.disks[].pool]')" '["pool2","pool2"]'
check "one set of files, the one QEMU has open" one_set g1
check "no old file left in local, no .partial" bash -c "[ -z \"\$(ls $POOL | grep '^g1-')\" ] && ! find $TERN_LAB -name '*.partial' | grep -q ."
check "the writes go on" writes_go_on g1
check "verifier after the live move" verify_vm g1
check "memcheck: memory intact, still checking" memcheck_intact "$U"
# QEMU 8.2+: the bulk copy ran in background mode, then each mirror went
# write-blocking (block-job-change) before the switch.
check_eq "each disk's mirror went write-blocking before the switch" \
    "$(t h1 events --vm g1 | grep -c 'in sync after its background copy: switching it to write-blocking')" 2
check "the job reported bytes, a rate and what it copied" bash -c \
    "$LAB_SH tern h1 job list --vm g1 --json | jq -e '.jobs[0] | .state == \"succeeded\" and .progress.unit == \"bytes\" and .progress.total > 0 and .details.copied_bytes > 0 and .details.total_ms >= 0'"

# ---- live, per disk: vda to pool3, vdb into the local pool's directory ----
check "per-disk move" t h1 vm move-storage g1 --disk vda=pool3 --disk vdb="$POOL"
check_eq "vda in pool3, vdb in local" \
    "$(t h1 vm show g1 --json | jq -c '[.disks[] | .pool + ":" + .path]')" \
    "[\"pool3:$P3/g1-vda.qcow2\",\"local:$POOL/g1-vdb.qcow2\"]"
check "one set of files after the per-disk move" one_set g1
check "the writes go on after the per-disk move" writes_go_on g1
check "verifier after the per-disk move" verify_vm g1
check "memcheck: memory intact, still checking" memcheck_intact "$U"
check_eq "the guest never rebooted" "$(boots g1)" "$b0"

# ---- cancel, and the queue (max-storage-migrations 1) ----
restart_with h1 storage.ready=delay:15000
set1=$(paths g1)
t h1 vm move-storage g1 --to pool2 --no-wait >/dev/null
check "the move holds at storage.ready" wait_for 30 phase_is g1 running/mirroring
t h1 vm move-storage tr --to pool3 --no-wait >/dev/null
check "a second move waits for the slot" wait_for 10 phase_is tr queued/queued
check "cancel of the held move" t h1 job cancel "$(last_job g1 | jq -r .id)"
check "it ends cancelled" wait_for 30 phase_is g1 cancelled/cancelling
check_eq "the disks stay where they were" "$(paths g1)" "$set1"
check "one set of files, targets removed" one_set g1
check "the queued move then ran" wait_for 30 phase_is tr succeeded/done
check_eq "tr is in pool3" "$(t h1 vm show tr --json | jq -r '.disks[0].pool')" pool3
check "the writes go on after the cancel" writes_go_on g1
check "memcheck after the cancel: memory intact" memcheck_intact "$U"

# ---- QEMU kill -9 during the mirror ----
t h1 vm move-storage g1 --to pool2 --no-wait >/dev/null
wait_for 30 phase_is g1 running/mirroring || true
kill -9 "$(qemu_pid "$U")"
check "the move fails when QEMU dies" wait_for 30 bash -c "$LAB_SH tern h1 job list --vm g1 --json | jq -e '[.jobs[] | select(.type==\"vm.move-storage\")][0] | .state == \"failed\" and (.error | test(\"QEMU exited\"))'"
check_eq "the vm crashed" "$(vm_field h1 g1 .state)" crashed
check_eq "on its old files" "$(paths g1)" "$set1"
check "the old files intact, the targets removed" one_set g1
check "verifier after the QEMU kill" verify_vm g1
restart_with h1
t h1 vm start g1 >/dev/null
check "the guest boots again" wait_for 90 bash -c "[ \$(grep -ac TERN-GUEST-READY $(console_of g1)) -gt $b0 ]"
check "the writer carries on" writes_go_on g1

# ---- ternd kill -9 at each failpoint ----
for fp in storage.ready storage.pivoted; do
	restart_with h1 "$fp=kill"
	before_paths=$(paths g1)
	t h1 vm move-storage g1 --to pool2 >/dev/null 2>&1 || true
	wait_for 30 bash -c "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null" || true
	sleep 1
	TERN_FAILPOINT= lab start h1 >/dev/null
	wait_for 60 no_active_jobs h1 || true
	j=$(last_job g1)
	check "$fp kill: ternd died there and resolved the job after the restart" \
	    bash -c "$LAB_SH tern h1 events --vm g1 | grep -q 'ternd restarted during job $(jq -r .id <<<"$j") (vm.move-storage, phase $( [ $fp = storage.ready ] && echo mirroring || echo resolve))'"
	if [ "$fp" = storage.ready ]; then
		check_eq "$fp kill: the job was rolled back after the restart" \
		    "$(jq -r .state <<<"$j")" failed
		check_eq "$fp kill: the disks stay where they were" "$(paths g1)" "$before_paths"
	else
		check_eq "$fp kill: the switch happened, the restart recorded it" \
		    "$(jq -r .state <<<"$j")" succeeded
		check_eq "$fp kill: both disks in pool2" \
		    "$(t h1 vm show g1 --json | jq -c '[.disks[].pool]')" '["pool2","pool2"]'
	fi
	check_eq "$fp kill: still running" "$(vm_field h1 g1 .state)" running
	check "$fp kill: exactly one set of files, the one QEMU uses" one_set g1
	check "$fp kill: no .partial" no_partial
	check "$fp kill: the writes go on" writes_go_on g1
	check "$fp kill: verifier" verify_vm g1
done

# ---- the target fills up: the move fails, the guest never notices ----
qemu-img create -q -f qcow2 "$TERN_LAB/pattern.qcow2" 256M
qemu-io -f qcow2 -c 'write -P 0x5a 0 100M' "$TERN_LAB/pattern.qcow2" >/dev/null
# compressed: 100 MiB of data in well under 1 MiB of file, so the free
# space check (allocated bytes) lets it through and the mirror fills tiny
qemu-img convert -c -O qcow2 "$TERN_LAB/pattern.qcow2" "$POOL/g2-packed.qcow2"
rm -f "$TERN_LAB/pattern.qcow2"
t h1 vm create g2 --cpus 1 --memory 256M --disk-path "$POOL/g2-packed.qcow2" \
    --disk 64M@local --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g2 tern.workload=disk:/dev/vdb:0" >/dev/null
t h1 vm start g2 >/dev/null
wait_for 90 console_has h1 g2 TERN-GUEST-READY || true
set2=$(paths g2)
check_err "a move that fills the target fails" 1 "No space left on device" \
    t h1 vm move-storage g2 --disk vda=tiny
check_eq "g2 keeps running" "$(vm_field h1 g2 .state)" running
check_eq "on its old disk" "$(paths g2)" "$set2"
check_eq "nothing left in the full pool" "$(ls -A "$TINY")" .tern-pool
check "one set of files for g2" one_set g2
check "g2's writes go on" writes_go_on g2
check "g2's verifier" verify_vm g2

# ---- a stopped VM moves by copy ----
t h1 vm stop g1 >/dev/null
check "an off vm moves by copy" t h1 vm move-storage g1 --to pool3
check_eq "both disks in pool3" "$(t h1 vm show g1 --json | jq -c '[.disks[].pool]')" '["pool3","pool3"]'
check "one set of files after the copy" one_set g1
check "no .partial after the copy" no_partial
check "verifier after the copy" verify_vm g1
b1=$(boots g1)
t h1 vm start g1 >/dev/null
check "it boots from the copied disks" wait_for 90 bash -c "[ \$(grep -ac TERN-GUEST-READY $(console_of g1)) -gt $b1 ]"
check "the writer carries on after the copy" writes_go_on g1

# ---- a saved VM moves with its state file, and restores ----
t h1 vm save g1 >/dev/null
b2=$(boots g1)
check "a saved vm moves by copy" t h1 vm move-storage g1 --to local
check_eq "its state file moved along" "$(vm_field h1 g1 .saved_state)" "$POOL/g1.state"
check "the old state file is gone" bash -c "[ ! -e $P3/g1.state ]"
check "one set of files for the saved vm" one_set g1
check "restores from the moved state" t h1 vm start g1
check_eq "restored, not rebooted" "$(boots g1)" "$b2"
check "the writer carries on after the restore" writes_go_on g1
check "verifier after the saved move" verify_vm g1

# ---- ternd kill -9 during a copy: the restarted ternd finishes it ----
t h1 vm stop g1 >/dev/null
restart_with h1 storage.copied=kill
t h1 vm move-storage g1 --to pool2 >/dev/null 2>&1 || true
wait_for 30 bash -c "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null" || true
sleep 1
TERN_FAILPOINT= lab start h1 >/dev/null
wait_for 60 no_active_jobs h1 || true
check "ternd died during the copy" bash -c "$LAB_SH tern h1 events --vm g1 | grep -q 'ternd restarted during job $(last_job g1 | jq -r .id) (vm.move-storage, phase copy)'"
check_eq "the copy finished after the restart" "$(last_job g1 | jq -r .state)" succeeded
check_eq "both disks in pool2" "$(t h1 vm show g1 --json | jq -c '[.disks[].pool]')" '["pool2","pool2"]'
check "one set of files after the resumed copy" one_set g1
check "no .partial anywhere" no_partial
check "verifier at the end" verify_vm g1
e2e_openapi_check
e2e_finish
