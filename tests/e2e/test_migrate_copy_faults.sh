#!/usr/bin/env bash
# test_migrate_copy_faults.sh - the shared-nothing fault matrix.  For each
# phase (bulk copy, disks in sync, memory copy, pre-switchover, completed
# before resume) and each fault (destination QEMU kill -9, destination
# ternd kill -9, source ternd kill -9, network cut, destination disk full)
# a move of a guest running the disk writer between hosts with separate
# pools is interrupted there.  Every case must end with exactly one running
# copy on one host, no partial files on the host that did not keep the VM,
# and the verifier passing.  CI (TERN_E2E_SAMPLE=1) runs each fault at
# one phase, turning with the day.
#
# The source holds a phase with a delay failpoint (move.bulk: the bulk copy
# at 256 KiB/s, move.mirrors-ready, move.active: the memory stream at 1
# MiB/s, move.pre-switchover, move.completed) or dies there (kill).  The
# destination's pool for the copies is a tmpfs, so "disk full" is a file
# filling it.  A full disk after the switchover pauses the guest there
# (QEMU's werror=enospc); the case frees the space and resumes it.  A move
# that failed on a full disk must leave the VM running at the source, not
# paused on the destination's ENOSPC.
#
# Then the destination QEMU kill and network cut columns again with a
# UEFI+TPM guest (GUEST_FIRMWARE=uefi GUEST_TPM=1): besides the above, its
# NVRAM file and TPM directory (next to disk 0, so in the pool's listing
# that finds partial files) only where it runs, exactly one swtpm, writing
# there, and the TPM's state unchanged.
# TERN_E2E_MATRIX=uefi runs only that pass (every phase unless sampled).
. "$(dirname "$0")/lib.sh"
e2e_lab_setup migcopyf 127

lab up 2 >/dev/null
# Each host's pool for copies is a tmpfs of its own (a full disk is a
# file filling it).  ternd lives in the mount namespace `ip netns exec`
# made when it started: restart each so that its namespace has the tmpfs.
LD=$(labenv LAB_DIR)
fast_dir() { echo "$LD/fast-$1"; }
for h in h1 h2; do
	mkdir -p "$(fast_dir $h)"
	mount -t tmpfs -o size=512m tmpfs "$(fast_dir $h)"
done
e2e_at_exit 'for h in h1 h2; do umount "$(fast_dir $h)"; rmdir "$(fast_dir $h)"; done 2>/dev/null'
for h in h1 h2; do
	lab stop $h >/dev/null
	lab start $h >/dev/null
	t $h pool create fast "$(fast_dir $h)" >/dev/null
done
trust_both
t h1 vm create g1 --cpus 1 --memory 256M --disk 256M@local --disk 64M@local \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g1 tern.workload=disk:/dev/vdb:50+$MEMCHECK+dirty:10:32" >/dev/null
t h1 vm start g1 >/dev/null
G=g1	# the guest run_case moves
U=$(vm_field h1 g1 .uuid)
S1=$(labenv H1_STATE_DIR); S2=$(labenv H2_STATE_DIR)
wait_for 60 acks_beyond "$U" 0 || true

HOLD_MS=6000
declare -A FP=( [bulk]=move.bulk [in-sync]=move.mirrors-ready
    [memory]=move.active [pre-switchover]=move.pre-switchover
    [completed]=move.completed )
declare -A PHASE=( [bulk]=mirroring [in-sync]=mirroring [memory]=migrating
    [pre-switchover]=migrating [completed]=commit )
declare -A STREAM=( [bulk]="" [in-sync]="" [memory]=active
    [pre-switchover]=pre-switchover [completed]="" )
# verify_on HOST: the verifier on the data disk where HOST keeps it
verify_on() {
	local img args=() f
	img=$(t "$1" vm show $G --json | jq -r '.disks[1].path')
	for f in "$S1/vms/$U/console.log" "$S2/vms/$U/console.log"; do
		[ -f "$f" ] && args+=(--console "$f")
	done
	"$VERIFY" --image "$img" "${args[@]}"
}
# leftovers HOST: the guest's files on HOST although it does not run g1
leftovers() {
	local dir
	for dir in $(t "$1" pool list --json | jq -r '.pools[].path'); do
		ls "$dir" | grep "^$G-" | sed "s|^|$dir/|" || true
	done
}
fill() { dd if=/dev/zero of="$(fast_dir "$1")/fill" bs=1M 2>/dev/null || true; }

results=()
run_case() { # run_case PHASE FAULT
	local phase=$1 fault=$2 src dst st out fp
	read -r src st < <(vm_where $G)
	dst=$(other "$src")
	if [ "$fault" = src-ternd ]; then fp="${FP[$phase]}=kill"; else
		fp="${FP[$phase]}=delay:$HOLD_MS"; fi
	restart_with "$src" "$fp"
	t "$src" vm move $G --to "$dst" --pool fast --no-wait >/dev/null
	case $fault in
	src-ternd)
		wait_for 60 bash -c "! kill -0 \$(cat $(labenv "${src^^}_PIDFILE")) 2>/dev/null" || true
		sleep 1
		TERN_FAILPOINT= lab start "$src" >/dev/null ;;
	dst-qemu)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" "$phase" || true
		pkill -9 -f -- "$(labenv "${dst^^}_RUN_DIR")/vms/$U/qmp.sock" || true ;;
	dst-ternd)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" "$phase" || true
		lab kill "$dst" >/dev/null
		sleep 3
		lab start "$dst" >/dev/null ;;
	cut)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" "$phase" || true
		lab cut "$dst" >/dev/null
		sleep 25	# past the stall (10 s) and silence (20 s) limits
		lab restore "$dst" >/dev/null ;;
	dst-full)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" "$phase" || true
		fill "$dst" ;;
	esac
	wait_for 120 no_active_jobs h1 h2 || true
	rm -f "$(fast_dir h1)/fill" "$(fast_dir h2)/fill"
	restart_with "$src"	# drop the failpoint
	wait_for 30 no_active_jobs h1 h2 || true
	read -r now nst < <(vm_where $G)
	local note="" kept=yes
	if [ "$nst" = paused ]; then	# ENOSPC paused it: space is back
		note=" (paused on ENOSPC, resumed)"
		# only where it moved to: a move that failed leaves it running
		[ "$now" = "$src" ] && kept=no
		t "$now" vm resume $G >/dev/null || true
	fi
	out=$(vm_where $G)
	local n; n=$(qemu_count "$U")
	local okv=no; verify_on "$now" >/dev/null 2>&1 && okv=yes
	local okm=no; memcheck_intact "$U" >/dev/null 2>&1 && okm=yes
	local left; left=$(leftovers "$(other "$now")" | wc -l)
	local keys; keys=$(find "$(labenv H1_RUN_DIR)" "$(labenv H2_RUN_DIR)" -name keys.psk | wc -l)
	local tpm=ok td	# a UEFI+TPM guest: one swtpm, on its own state
	[ -n "${T0:-}" ] && { td=$(t "$now" vm show $G --json | jq -r .tpm_dir)
	    [ "$(swtpm_count "$U")" = 1 ] && tpm_link_ok "$now" "$U" "$td" &&
	    [ "$(md5sum <"$td/tpm2-00.permall")" = "$T0" ] || tpm=bad; }
	results+=("$(printf '%-15s %-10s -> %-12s qemus=%s verifier=%s memcheck=%s partial-files=%s keys=%s tpm=%s%s' \
	    "$phase" "$fault${T0:+ (uefi+tpm)}" "$out" "$n" "$okv" "$okm" "$left" "$keys" "$tpm" "$note")")
	if [[ $out == "h1 running" || $out == "h2 running" ]] && [ "$n" = 1 ] &&
	    [ "$okv" = yes ] && [ "$okm" = yes ] && [ "$left" = 0 ] &&
	    [ "$keys" = 0 ] && [ "$kept" = yes ] && [ "$tpm" = ok ]; then
		ok "$phase / $fault: one running copy ($out$note), verifier OK, memory intact, nothing left behind"
	else
		not_ok "$phase / $fault: $out$note, $n QEMU(s), verifier $okv, memcheck $okm, $left file(s) left, $keys key(s), tpm $tpm"
		leftovers "$(other "$now")" | sed 's/^/#   left: /'
		tail -n 6 "$(labenv H1_LOG)" "$(labenv H2_LOG)" | sed 's/^/#   /'
	fi
	# The writer must go on - except after a disk that filled up under a
	# VM that moved there: the guest may see that error (a failed flush
	# is not paused on) and its writer stops, as on any full disk.
	local a0; a0=$(acks_both "$U")
	if wait_for 20 acks_beyond "$U" "$a0"; then
		:
	elif [ "$fault" = dst-full ] && { [ "$now" = "$dst" ] || [ "$writer_stopped" = 1 ]; }; then
		echo "# $phase / $fault: the guest's writer stopped on the full disk"
		writer_stopped=1
	else
		not_ok "$phase / $fault: the guest stopped writing"
	fi
}
writer_stopped=0

# The disk-full cases last: one that moves the VM may stop its writer.
# TERN_E2E_SAMPLE=1 (CI): each fault at one phase, the phases turning
# with the day, so every fault and every phase runs in each CI run and
# every pair within five days; else the whole matrix.
PHASES=(bulk in-sync memory pre-switchover completed)
FAULTS=(dst-qemu dst-ternd src-ternd cut dst-full)
day=$(( $(date +%s) / 86400 ))
# TERN_E2E_MATRIX=uefi: only the UEFI+TPM pass below (its columns at
# every phase unless sampled).
uefi_only() { [ "${TERN_E2E_MATRIX:-}" = uefi ]; }
for f in 0 1 2 3 4; do
	for p in 0 1 2 3 4; do
		uefi_only && continue
		[ "${TERN_E2E_SAMPLE:-0}" = 1 ] && [ $(( (f + day) % 5 )) != $p ] &&
		    continue
		[ "$writer_stopped" = 1 ] && [ "${FAULTS[$f]}" != dst-full ] &&
		    not_ok "${PHASES[$p]} / ${FAULTS[$f]}: run after the writer stopped"
		run_case "${PHASES[$p]}" "${FAULTS[$f]}"
	done
done
uefi_only || check_eq "the guest never rebooted" \
    "$(cat "$S1/vms/$U/console.log" "$S2/vms/$U/console.log" | grep -ac TERN-GUEST-READY)" 1

# ---- the UEFI+TPM guest: destination QEMU killed, network cut ----
# (sampled: each fault at one phase turning with the day; else all five)
read -r src st < <(vm_where g1)
t "$src" vm stop g1 >/dev/null	# two TCG guests would slow both
wait_for 60 bash -c "[ \"\$($LAB_SH tern $src vm show g1 --json | jq -r .state)\" = off ]" || true
t h1 vm create gu --cpus 1 --memory 256M --disk 256M@local --disk 64M@local \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=gu tern.workload=disk:/dev/vdb:50+$MEMCHECK+dirty:10:32" \
    $(GUEST_FIRMWARE=uefi GUEST_TPM=1 guest_fw_opts) >/dev/null
t h1 vm start gu >/dev/null
G=gu; U=$(vm_field h1 gu .uuid); writer_stopped=0
check "the UEFI+TPM guest boots" wait_for 180 console_has h1 gu TERN-GUEST-READY
wait_for 60 acks_beyond "$U" 0 || true
T0=$(md5sum <"$(vm_field h1 gu .tpm_dir)/tpm2-00.permall")
for f in 0 3; do
	for p in 0 1 2 3 4; do
		[ "${TERN_E2E_SAMPLE:-0}" = 1 ] && [ $(( (f + day) % 5 )) != $p ] &&
		    continue
		run_case "${PHASES[$p]}" "${FAULTS[$f]}"
	done
done
check_eq "the UEFI+TPM guest never rebooted" \
    "$(cat "$S1/vms/$U/console.log" "$S2/vms/$U/console.log" | grep -ac TERN-GUEST-READY)" 1
echo "# shared-nothing fault matrix (phase, fault -> where the vm runs):"
printf '#   %s\n' "${results[@]}"
e2e_finish
