#!/usr/bin/env bash
# test_storage_pause.sh - a VM whose storage fails is paused, not failed,
# and goes on by itself when the storage answers again (issue 15's
# storage path failure; Hyper-V pauses such VMs the same way).  The
# guest's data disk is on a 40 MiB tmpfs pool and its disk writer
# covers its 64 MiB disk flat out: the file system fills, QEMU pauses the VM on the failed
# write (werror=stop) and tern says why; while the pool stays full the VM
# stays paused; the tmpfs grown (the storage back), tern resumes it, the
# writer goes on, and the verifier finds every acknowledged write.
. "$(dirname "$0")/lib.sh"
LABDIR=/tmp/tern-e2e-iopause${E2E_SHIFT:+-s$E2E_SHIFT}
TINY=$LABDIR/tiny
mountpoint -q "$TINY" 2>/dev/null && umount "$TINY"
e2e_lab_setup iopause 118
sp_cleanup() { # the tmpfs first: lab down removes only its own file system
	local rc=$?
	set +e
	mountpoint -q "$TINY" 2>/dev/null && umount "$TINY"
	(exit $rc)
	e2e_cleanup
}
trap sp_cleanup EXIT
lab up 1 >/dev/null
mkdir -p "$TINY"
mount -t tmpfs -o size=40M tmpfs "$TINY"
# ternd runs in its own mount namespace, copied when it starts: restart
# it so that it sees the tmpfs.
lab stop h1 >/dev/null; lab start h1 >/dev/null
t h1 pool create tiny "$TINY" >/dev/null
st() { vm_field h1 "$1" .state; }

check "a guest with its data disk on the 40 MiB pool" \
    t h1 vm create g1 --cpus 1 --memory 256M --disk 256M --disk 64M@tiny \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g1 tern.workload=disk:/dev/vdb:0"
check "g1 starts" t h1 vm start g1
check "its disks have werror=stop,rerror=stop" eval \
    'ps -eo args= | grep "[q]emu-system-x86_64 .*-uuid $(vm_field h1 g1 .uuid)" | grep -q "virtio-blk-pci,drive=[^ ]*,werror=stop,rerror=stop"'
check "g1 boots" wait_for 90 console_has h1 g1 TERN-GUEST-READY
check "the pool fills: QEMU pauses g1" wait_for 120 eval '[ "$(st g1)" = paused ]'
df -h "$TINY" | sed 's/^/# /'
check "the event names the disk and the error" \
    grep -q "vm 'g1' paused: write of its disk .* failed (No space left on device)" "$(labenv H1_LOG)"
n=$(acked h1 g1)
sleep 8
check "the pool still full: g1 stays paused, its writer stopped" eval \
    '[ "$(st g1)" = paused ] && [ "$(acked h1 g1)" = "$n" ]'
t0=$SECONDS
mount -o remount,size=160M "$TINY"
check "room again: tern resumes g1 by itself" wait_for 60 eval '[ "$(st g1)" = running ]'
echo "# storage back -> g1 running again: $((SECONDS - t0)) s"
check "an event says so" grep -q "vm 'g1' resumed: the storage of its disk .* answers again" "$(labenv H1_LOG)"
check "its writer goes on" wait_for 60 writer_acks h1 g1 $((n + 10))
check "g1 stops" t h1 vm stop g1
check "the verifier finds every acknowledged write" "$VERIFY" \
    --image "$(vm_field h1 g1 '.disks[1].path')" \
    --console "$(labenv H1_STATE_DIR)/vms/$(vm_field h1 g1 .uuid)/console.log"
e2e_finish
