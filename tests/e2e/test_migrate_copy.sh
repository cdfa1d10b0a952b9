#!/usr/bin/env bash
# test_migrate_copy.sh - shared-nothing live migration between two lab
# hosts with separate pools: a guest running the disk writer and the
# memory dirtier moves back and forth 5 times (its disks copied each time,
# the verifier after every move, one boot, one QEMU, no file left behind
# on the host it left), a move over shared storage can be forced to copy,
# and every bad input is refused before anything starts.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup migcopy 126

lab up 2 >/dev/null
trust_both
t h1 vm create g1 --cpus 1 --memory 256M --disk 256M@local --disk 64M@local \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g1 tern.workload=disk:/dev/vdb:50+$MEMCHECK+dirty:10:32" >/dev/null
t h1 vm start g1 >/dev/null
U=$(vm_field h1 g1 .uuid)
P1=$(labenv H1_POOL_DIR); P2=$(labenv H2_POOL_DIR)
S1=$(labenv H1_STATE_DIR); S2=$(labenv H2_STATE_DIR)
wait_for 60 acks_beyond "$U" 0 || true
TINY=$(labenv LAB_DIR)/tiny
# ternd (and its QEMUs) live in their own mount namespace (ip netns exec):
# a small file system must be mounted in there to be seen.
in_h2_mnt() { nsenter -t "$(cat "$(labenv H2_PIDFILE)")" -m -- "$@"; }
cleanup_tiny() {
	in_h2_mnt sh -c "mountpoint -q '$TINY' && umount '$TINY'" 2>/dev/null || true
	rmdir "$TINY" 2>/dev/null || true
}
e2e_at_exit cleanup_tiny

verify_here() { # verify_here POOLDIR
	local args=() f
	for f in "$S1/vms/$U/console.log" "$S2/vms/$U/console.log"; do
		[ -f "$f" ] && args+=(--console "$f")
	done
	"$VERIFY" --image "$1/g1-vdb.qcow2" "${args[@]}"
}
snapshot() {
	echo "h1: $(t h1 vm list --json | jq -c '[.vms[] | {name, state}]')"
	echo "h2: $(t h2 vm list --json | jq -c '[.vms[] | {name, state}]')"
	echo "qemus: $(qemu_count "$U")"
	ls "$P1" "$P2"
}

# ---- bad input: nothing starts, nothing changes ----
mkdir -p "$TINY" && in_h2_mnt mount -t tmpfs -o size=256k tmpfs "$TINY"
t h2 pool create tiny "$TINY" >/dev/null
before=$(snapshot)
check_err "unknown destination pool" 1 "no pool named 'nope'" \
    t h1 vm move g1 --to h2 --pool nope
check_err "a disk named twice" 2 "named twice" \
    t h1 vm move g1 --to h2 --disk vda=local --disk vda=local
check_err "a disk the vm does not have" 1 "has no disk 'vdz'" \
    t h1 vm move g1 --to h2 --disk vdz=local
check_err "--pool and --disk together" 2 "exclude each other" \
    t h1 vm move g1 --to h2 --pool local --disk vda=local
check_err "destination pool too small" 1 "MiB free" \
    t h1 vm move g1 --to h2 --pool tiny
touch "$P2/g1-vda.qcow2"
check_err "target file already there" 1 "already exists" \
    t h1 vm move g1 --to h2
rm -f "$P2/g1-vda.qcow2"
check_eq "refusals changed nothing" "$(snapshot)" "$before"
t h2 pool delete tiny >/dev/null
cleanup_tiny

# ---- 5 round trips, disks copied each way ----
fails=0 src=h1 dst=h2 sp=$P1 dp=$P2
for i in $(seq 1 10); do
	a0=$(acks_both "$U")
	if ! out=$(t $src vm move g1 --to $dst 2>&1); then
		fails=$((fails + 1)); echo "# move $i: $out"
	fi
	memcheck_mark "$U"	# checked below, after the other waits
	grep -q "shared-nothing" <<<"$out" || fails=$((fails + 1))
	[ "$(qemu_count "$U")" = 1 ] || { fails=$((fails + 1)); echo "# move $i: qemus"; }
	[ "$(vm_field $dst g1 .state)" = running ] || { fails=$((fails + 1)); echo "# move $i: not running"; }
	ls "$sp" | grep -q '^g1-' && { fails=$((fails + 1)); echo "# move $i: files left on $src: $(ls "$sp")"; }
	[ "$(ls "$dp" | grep -c '^g1-vd[ab].qcow2$')" = 2 ] || { fails=$((fails + 1)); echo "# move $i: disks on $dst: $(ls "$dp")"; }
	wait_for 20 acks_beyond "$U" "$a0" ||
	    { fails=$((fails + 1)); echo "# move $i: no new writes"; }
	verify_here "$dp" >/dev/null 2>&1 || { fails=$((fails + 1)); echo "# move $i: verifier"; }
	out=$(memcheck_check "$U") || { fails=$((fails + 1)); echo "# move $i: $out"; }
	tmp=$src; src=$dst; dst=$tmp; tmp=$sp; sp=$dp; dp=$tmp
done
check_eq "10 shared-nothing moves (5 round trips): each one copy, running, writing, verified, memory intact (memcheck), nothing left behind" "$fails" 0
check "memcheck ran through it all" test "$(memcheck_passes "$U")" -gt 10
check "the copy was live: every move says so" bash -c \
    "[ \$($LAB_SH tern h1 events --vm g1 | grep -c 'memory is copied live') -ge 5 ]"
check_eq "one boot in all consoles" \
    "$(cat "$S1/vms/$U/console.log" "$S2/vms/$U/console.log" | grep -ac TERN-GUEST-READY)" 1
job=$(t h1 job list --json | jq -c '[.jobs[] | select(.type=="vm.move")][0]')
check "one progress bar over disks and memory" \
    jq -e '.details.storage == "copy" and .progress.total > .details.result.bytes' <<<"$job"
check "the destination's job shows the progress too" \
    bash -c "$LAB_SH tern h2 job list --json | jq -e '[.jobs[] | select(.type==\"vm.move-in\" and .progress.unit==\"bytes\")] | length > 0'"
check "no NBD or key leftovers" bash -c "! find $(labenv H1_RUN_DIR) $(labenv H2_RUN_DIR) -name keys.psk | grep -q ."

# ---- off vm on storage the destination does not mount ----
t h1 vm stop g1 >/dev/null
check_err "an off vm without shared storage is refused" 1 \
    "moves only over shared storage" t h1 vm move g1 --to h2
check "verifier after all moves" verify_here "$P1"
e2e_finish
