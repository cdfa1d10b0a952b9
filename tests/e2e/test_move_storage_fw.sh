#!/usr/bin/env bash
# test_move_storage_fw.sh - a running UEFI+TPM VM's disk 0 moves to another
# pool while its disk writer runs, and its NVRAM file and TPM state go
# with it (src/storage/tpm_move.c): afterwards the verifier passes on the
# data disk, the VM still runs (never rebooted), QEMU has the new NVRAM
# file open and swtpm's link points at the new TPM directory, the old
# ones are gone, the TPM's permanent state unchanged (no TPM startup
# happened); after a reset (QMP system_reset) the TPM state is rewritten
# in the new directory.  Faults: ternd killed after the TPM's copy,
# before the switch (failpoint storage.tpm-copied): the VM runs on its old
# files, the copies are gone, a retry succeeds; a TPM copy that fails
# (the target pool, a small tmpfs, filled up while the mirrors are in
# sync) goes back the same way; ternd killed once disk 0 switched, before
# its record (storage.pivoted): the restart finishes the move, the TPM's
# link switched to the copy; QEMU killed with the TPM copied: the VM
# crashed on its old files, which it boots from again.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup movefw 170
export GUEST_FIRMWARE=uefi GUEST_TPM=1

TINY=/tmp/tern-e2e-movefw${E2E_SHIFT:+-s$E2E_SHIFT}-tiny
mountpoint -q "$TINY" 2>/dev/null && umount "$TINY"
mkdir -p "$TINY"
fw_cleanup() { # the tmpfs first: lab down removes only its own file system
	local rc=$?
	set +e
	mountpoint -q "$TINY" 2>/dev/null && umount "$TINY"
	rmdir "$TINY" 2>/dev/null
	(exit $rc)
	e2e_cleanup
}
trap fw_cleanup EXIT
lab up 1 >/dev/null
POOL=$(labenv H1_POOL_DIR); P2=$TERN_LAB/pool2; P3=$TERN_LAB/pool3
S=$(labenv H1_STATE_DIR); RUN=$(labenv H1_RUN_DIR)
mkdir -p "$P2" "$P3"
t h1 pool create pool2 "$P2" >/dev/null
t h1 pool create pool3 "$P3" >/dev/null
# ternd (and the QEMU it starts) run in a mount namespace of their own,
# copied when ternd starts: restarted after the mount, it sees it.
mount -t tmpfs -o size=48M tmpfs "$TINY"
lab stop h1 >/dev/null; lab start h1 >/dev/null
t h1 pool create tiny "$TINY" >/dev/null
sum() { md5sum <"$1" | cut -d' ' -f1; }
qemu_pid() { pgrep -f -- "^qemu-system-x86_64 .*-uuid $1" | head -n 1; }
# qemu_has UUID PATH: the VM's QEMU has PATH open (not a deleted file)
# (grep reads all: with -q, ls could die of SIGPIPE and pipefail fail it)
qemu_has() { ls -l /proc/"$(qemu_pid "$1")"/fd 2>/dev/null | grep -E -- " $2\$" >/dev/null; }
console() { cat "$S/vms/$U/console.log"; }
boots() { console | grep -ac TERN-GUEST-READY; }
acks() { console | grep -ao 'TERN-ACK [0-9]*' | tail -n 1 | awk '{print $2+0}' | grep . || echo 0; }
writes_go_on() {
	local a; a=$(acks)
	wait_for 60 bash -c "[ \$(cat $S/vms/$U/console.log | grep -ao 'TERN-ACK [0-9]*' | tail -n 1 | awk '{print \$2}') -gt $a ]"
}
verify_vm() { "$VERIFY" --image "$(vm_field h1 g1 '.disks[1].path')" --console "$S/vms/$U/console.log"; }
last_job() { t h1 job list --vm g1 --json | jq -c '[.jobs[] | select(.type=="vm.move-storage")][0]'; }
# on_files DIR: the VM's disk 0, NVRAM and TPM recorded in DIR, QEMU has
# those open, swtpm writes there, and no other pool holds any of them
on_files() {
	local d=$1 p
	[ "$(vm_field h1 g1 .disks[0].path)" = "$d/g1-vda.qcow2" ] || { echo "disk 0 recorded elsewhere"; return 1; }
	[ "$(vm_field h1 g1 .nvram)" = "$d/g1-nvram.fd" ] || { echo "NVRAM recorded elsewhere"; return 1; }
	[ "$(vm_field h1 g1 .tpm_dir)" = "$d/g1-tpm" ] || { echo "TPM recorded elsewhere"; return 1; }
	qemu_has "$U" "$d/g1-vda.qcow2" || { echo "QEMU has not disk 0 open"; return 1; }
	qemu_has "$U" "$d/g1-nvram.fd" || { echo "QEMU has not the NVRAM open"; return 1; }
	tpm_link_ok h1 "$U" "$d/g1-tpm" || { echo "swtpm's link: $(readlink "$RUN/vms/$U/tpm-state")"; return 1; }
	for p in "$POOL" "$P2" "$P3"; do
		[ "$p" = "$d" ] && continue
		[ -z "$(ls -A "$p" | grep -E '^g1-(vda|nvram|tpm)')" ] || { echo "left in $p:" $(ls -A "$p"); return 1; }
	done
	! find "$POOL" "$P2" "$P3" -name '*.partial' | grep .
}
# qmp_reset: QMP system_reset (ternd steps aside: QEMU takes one client)
qmp_reset() {
	lab stop h1 >/dev/null
	python3 - "$RUN/vms/$U/qmp.sock" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
f.readline()
for c in ("qmp_capabilities", "system_reset"):
    f.write(json.dumps({"execute": c}) + "\n"); f.flush()
    while True:
        m = json.loads(f.readline())
        if "event" not in m:
            break
    if "return" not in m:
        sys.exit("%s: %s" % (c, m))
PY
	local rc=$?
	lab start h1 >/dev/null
	return $rc
}
# booted_after N: a TERN-GUEST-READY past the first N within 180 s; else
# QEMU's pid and any oops of the guest's kernel, to tell a hang from a reset
# that never happened.
booted_after() {
	wait_for 180 bash -c "[ \$(cat $S/vms/$U/console.log | grep -ac TERN-GUEST-READY) -gt $1 ]" && return 0
	echo "no boot past $1 in 180 s; QEMU pid '$(qemu_pid "$U")'; the console since the reset:"
	# an oops since the last boot's READY, if any: its first lines and the call trace's
	# top (check shows 20 lines)
	awk '/TERN-GUEST-READY/ { n = 0 } { l[n++] = $0 } END { for (i = 0; i < n; i++) print l[i] }' \
	    "$S/vms/$U/console.log" | tr -d '\r' | awk '
	    /BUG|Oops|RIP:|Comm:/ && shown < 6 { print; shown++ }
	    /Call Trace/ { trace = 11 } trace > 0 { print; trace-- }' | head -n 18
	return 1
}

guest_create h1 g1 "disk:/dev/vdb:50" >/dev/null
t h1 vm start g1 >/dev/null
U=$(vm_field h1 g1 .uuid)
check "the UEFI+TPM guest boots" wait_for 180 console_has h1 g1 TERN-GUEST-READY
check "the writer acknowledges" wait_for 60 bash -c "[ \$(cat $S/vms/$U/console.log | grep -ac TERN-ACK) -gt 5 ]"
check "on its files in local" on_files "$POOL"
N0=$(sum "$POOL/g1-nvram.fd"); T0=$(sum "$POOL/g1-tpm/tpm2-00.permall")
b0=$(boots)

# ---- ternd killed after the TPM's copy, before the switch ----
restart_with h1 storage.tpm-copied=kill
t h1 vm move-storage g1 --disk vda=pool3 >/dev/null 2>&1 || true
wait_for 30 bash -c "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null" || true
check "ternd died after the TPM copy, the copy was there" test -e "$P3/g1-tpm/tpm2-00.permall"
sleep 1
TERN_FAILPOINT= lab start h1 >/dev/null
wait_for 60 no_active_jobs h1 || true
check_eq "the move was rolled back after the restart" "$(last_job | jq -r .state)" failed
check_eq "the vm runs (the restart resumed its vCPUs)" "$(vm_field h1 g1 .state)" running
check "on its old files, the copies gone" on_files "$POOL"
check_eq "its NVRAM and TPM state as they were" \
    "$(sum "$POOL/g1-nvram.fd") $(sum "$POOL/g1-tpm/tpm2-00.permall")" "$N0 $T0"
check "the writes go on after the rollback" writes_go_on

# ---- a TPM copy that fails (its pool full) goes back the same way ----
# The target pool is a small tmpfs (mounted before the VM started),
# filled once the mirrors are in sync (held at storage.ready): the vCPUs
# are stopped and the TPM's files do not fit.
restart_with h1 storage.ready=delay:4000
t h1 vm move-storage g1 --disk vda=tiny --no-wait >/dev/null
check "the move holds with its mirrors in sync" wait_for 60 bash -c \
    "$LAB_SH tern h1 job list --vm g1 --json | jq -e '[.jobs[] | select(.type==\"vm.move-storage\")][0] | .phase == \"mirroring\" and .progress.done == .progress.total'"
dd if=/dev/zero of="$TINY/fill" bs=1M 2>/dev/null || true	# until full
check "the move fails at the TPM's copy" wait_for 60 bash -c \
    "$LAB_SH tern h1 job list --vm g1 --json | jq -e '[.jobs[] | select(.type==\"vm.move-storage\")][0] | .state == \"failed\" and (.error | test(\"TPM state.*No space left\"))'"
check_eq "the vm still runs" "$(vm_field h1 g1 .state)" running
check "on its old files after the failed copy" on_files "$POOL"
check_eq "nothing of the move left in the full pool" "$(ls -A "$TINY" | sort | tr '\n' ' ')" ".tern-pool fill "
check_eq "its NVRAM and TPM state still as they were" \
    "$(sum "$POOL/g1-nvram.fd") $(sum "$POOL/g1-tpm/tpm2-00.permall")" "$N0 $T0"
rm -f "$TINY/fill"
restart_with h1

# ---- ternd killed once disk 0 switched, before its record ----
# (failpoint storage.pivoted: the vCPUs stopped, the TPM copied, the link
# not yet switched): the restart records disk 0 and the NVRAM where QEMU
# has them, switches the TPM's link to the copy, and resumes the vCPUs.
restart_with h1 storage.pivoted=kill
t h1 vm move-storage g1 --disk vda=pool3 >/dev/null 2>&1 || true
wait_for 30 bash -c "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null" || true
sleep 1
TERN_FAILPOINT= lab start h1 >/dev/null
wait_for 60 no_active_jobs h1 || true
check_eq "the switch happened, the restart finished the move" "$(last_job | jq -r .state)" succeeded
check_eq "the vm runs" "$(vm_field h1 g1 .state)" running
check "disk 0, NVRAM and TPM in pool3, in use there; the old ones gone" on_files "$P3"
check_eq "its NVRAM and TPM state as they were" \
    "$(sum "$P3/g1-nvram.fd") $(sum "$P3/g1-tpm/tpm2-00.permall")" "$N0 $T0"
check "the writes go on after the restart" writes_go_on

# ---- QEMU killed with the vCPUs stopped and the TPM copied ----
# (held at storage.tpm-copied): nobody to switch; the VM crashed on its
# old files, the copies removed; it boots again from them.
restart_with h1 storage.tpm-copied=delay:20000
t h1 vm move-storage g1 --disk vda=local --no-wait >/dev/null
check "the move holds with the TPM copied" wait_for 60 test -e "$POOL/g1-tpm/tpm2-00.permall"
kill -9 "$(qemu_pid "$U")"
check "the move fails when QEMU dies" wait_for 30 bash -c "$LAB_SH tern h1 job list --vm g1 --json | jq -e '[.jobs[] | select(.type==\"vm.move-storage\")][0] | .state == \"failed\" and (.error | test(\"QEMU exited\"))'"
check_eq "the vm crashed" "$(vm_field h1 g1 .state)" crashed
check_eq "NVRAM and TPM recorded where they were" "$(vm_field h1 g1 .nvram) $(vm_field h1 g1 .tpm_dir)" "$P3/g1-nvram.fd $P3/g1-tpm"
check "the copies removed" bash -c "[ -z \"\$(ls -A '$POOL' | grep -E '^g1-(vda|nvram|tpm)')\" ]"
restart_with h1
b2=$(boots)
t h1 vm start g1 >/dev/null
check "it boots again from its files in pool3" wait_for 180 bash -c "[ \$(cat $S/vms/$U/console.log | grep -ac TERN-GUEST-READY) -gt $b2 ]"
check "on its files in pool3" on_files "$P3"
check "the verifier after the QEMU kill" verify_vm
# the boot wrote both anew: what the next move must carry
b0=$(boots); N0=$(sum "$P3/g1-nvram.fd"); T0=$(sum "$P3/g1-tpm/tpm2-00.permall")

# ---- the move: disk 0 to pool2 while the writer runs ----
check "live move of disk 0 with its NVRAM and TPM" t h1 vm move-storage g1 --disk vda=pool2
check_eq "the vm still runs" "$(vm_field h1 g1 .state)" running
check "disk 0, NVRAM and TPM in pool2, in use there; the old ones gone" on_files "$P2"
check_eq "the data disk stayed" "$(vm_field h1 g1 .disks[1].pool)" local
check_eq "the NVRAM file holds the variables" "$(sum "$P2/g1-nvram.fd")" "$N0"
check_eq "the TPM state unchanged (no TPM startup)" "$(sum "$P2/g1-tpm/tpm2-00.permall")" "$T0"
check "the writes go on" writes_go_on
check "the verifier passes on the data disk" verify_vm
check_eq "the guest never rebooted" "$(boots)" "$b0"
check_eq "one QEMU, one swtpm" "$(qemu_count "$U") $(swtpm_count "$U")" "1 1"
check "events name the new NVRAM and TPM paths" bash -c \
    "$LAB_SH tern h1 events --vm g1 | grep -q \"UEFI variables now '$P2/g1-nvram.fd'\" && $LAB_SH tern h1 events --vm g1 | grep -q \"TPM state now '$P2/g1-tpm'\""
# The guest's one cost for its TPM: the vCPUs stopped from the TPM's copy
# to the switch's end, reported by the job and printed here.
pause=$(t h1 events --vm g1 | grep -o 'ran again after [0-9]* ms stopped for the TPM' | tail -n 1 | grep -o '[0-9]*')
check "the job reports the vCPUs' pause for the TPM's copy" test -n "$pause"
echo "# vCPUs stopped for the TPM state's copy: ${pause:-?} ms"

# ---- a reset: swtpm rewrites its state in the new directory ----
I0=$(stat -c %i "$P2/g1-tpm/tpm2-00.permall" 2>/dev/null || echo none)
NR=$(sum "$P2/g1-nvram.fd")
check "QMP system_reset answered" qmp_reset
check "the guest boots again after the reset" booted_after "$b0"
check "swtpm rewrote tpm2-00.permall in the new directory" \
    bash -c "[ \$(stat -c %i '$P2/g1-tpm/tpm2-00.permall') != $I0 ] && [ $I0 != none ]"
check "nothing came back to the old pool" on_files "$P2"
check "OVMF's variable writes during the boot landed in the new NVRAM file" \
    bash -c "[ \$(md5sum <'$P2/g1-nvram.fd' | cut -d' ' -f1) != $NR ]"
# The NVRAM file QEMU wrote is the new one: after a stop it boots from it.
t h1 vm stop g1 >/dev/null
check "g1 stops" wait_for 60 bash -c "[ \"\$($LAB_SH tern h1 vm show g1 --json | jq -r .state)\" = off ]"
b1=$(boots)
t h1 vm start g1 >/dev/null
check "g1 boots from the moved NVRAM with its moved TPM" wait_for 180 bash -c "[ \$(cat $S/vms/$U/console.log | grep -ac TERN-GUEST-READY) -gt $b1 ]"
check "swtpm writes to the moved directory" tpm_link_ok h1 "$U" "$P2/g1-tpm"
check "the verifier after the restart" verify_vm
e2e_finish
