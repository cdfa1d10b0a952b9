#!/usr/bin/env bash
# test_migrate_faults.sh - the live migration fault matrix.  For each
# phase (setup, active, pre-switchover, completed-before-resume) and each
# fault (destination QEMU kill -9, destination ternd kill -9, source ternd
# kill -9, network cut) a move of a guest running the disk writer is
# interrupted there.  Every case must end with exactly one running copy,
# registered on exactly one host, no incoming leftovers, and the verifier
# passing; the next case starts from wherever the VM ended.
#
# The source ternd holds a phase with a delay failpoint (move.setup,
# move.active - the stream throttled to 1 MiB/s -, move.pre-switchover,
# move.completed), or dies there with a kill failpoint.
#
# One more case: the destination QEMU dies before it resumed the VM and
# the source's first `cont` of the rollback fails for a reason other than
# the image lock (failpoint move.rollback-cont, whose message contains
# "lock" in "Block"): the source must not take that for the destination
# holding the disks.  And one without a fault: the destination's QEMU is
# slow to load the stream's end, so the first commit comes too early.
#
# Then the destination QEMU kill and network cut columns again with a
# UEFI+TPM guest (GUEST_FIRMWARE=uefi GUEST_TPM=1) in place of the test
# guest: besides the above, exactly one swtpm (the destination's ended
# with its QEMU or the rollback), the running host's swtpm writing to the
# shared TPM directory, and the TPM's state unchanged.
# TERN_E2E_MATRIX=uefi runs only that pass (every phase unless sampled).
. "$(dirname "$0")/lib.sh"
e2e_lab_setup migfault 123

lab up 2 --shared-pool >/dev/null
trust_both
shared_guest h1 g1 "disk:/dev/vdb:50+$MEMCHECK+dirty:10:32"
G=g1	# the guest run_case moves
U=$(vm_field h1 g1 .uuid)
SP=$(labenv LAB_SHARED_POOL)
S1=$(labenv H1_STATE_DIR); S2=$(labenv H2_STATE_DIR)
wait_for 60 acks_beyond "$U" 0 || true

HOLD_MS=6000
declare -A FP=( [setup]=move.setup [active]=move.active
    [pre-switchover]=move.pre-switchover [completed]=move.completed )
declare -A PHASE=( [setup]=migrating [active]=migrating
    [pre-switchover]=migrating [completed]=commit )
declare -A STREAM=( [setup]="" [active]=active [pre-switchover]=pre-switchover
    [completed]="" )

results=()
run_case() { # run_case PHASE FAULT [FAILPOINT]: FAILPOINT also set
	local phase=$1 fault=$2 extra=${3:-} src dst st out fp
	read -r src st < <(vm_where $G)
	dst=$(other "$src")
	if [ "$fault" = src-ternd ]; then fp="${FP[$phase]}=kill"; else
		fp="${FP[$phase]}=delay:$HOLD_MS"; fi
	fp=$fp${extra:+,$extra}
	local label=$fault${extra:+ + ${extra%%=*}}
	restart_with "$src" "$fp"
	t "$src" vm move $G --to "$dst" --no-wait >/dev/null
	case $fault in
	src-ternd)
		# the failpoint kills it; bring it back without the failpoint
		wait_for 60 bash -c "! kill -0 \$(cat $(labenv "${src^^}_PIDFILE")) 2>/dev/null" || true
		sleep 1
		TERN_FAILPOINT= lab start "$src" >/dev/null ;;
	dst-qemu)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" || true
		pkill -9 -f -- "$(labenv "${dst^^}_RUN_DIR")/vms/$U/qmp.sock" || true ;;
	dst-ternd)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" || true
		lab kill "$dst" >/dev/null
		sleep 3
		lab start "$dst" >/dev/null ;;
	cut)
		wait_for 60 move_phase_reached "$src" "${PHASE[$phase]}" "${STREAM[$phase]}" || true
		lab cut "$dst" >/dev/null
		# the move must end (stall or commit timeout) while cut
		wait_for 60 bash -c "[ \$($LAB_SH tern $src job list --active --json | jq '[.jobs[] | select(.type==\"vm.move\")] | length') = 0 ]" || true
		lab restore "$dst" >/dev/null ;;
	esac
	wait_for 90 no_active_jobs h1 h2 || true
	restart_with "$src"	# drop the failpoint
	wait_for 30 no_active_jobs h1 h2 || true
	out=$(vm_where $G)
	local n; n=$(qemu_count "$U")
	local okv=no; verify_moved $G >/dev/null 2>&1 && okv=yes
	local okm=no; memcheck_intact "$U" >/dev/null 2>&1 && okm=yes
	local left; left=$(find "$(labenv H1_RUN_DIR)" "$(labenv H2_RUN_DIR)" -name keys.psk | wc -l)
	local tpm=ok	# a UEFI+TPM guest: one swtpm, on the shared state
	[ -n "${T0:-}" ] && { [ "$(swtpm_count "$U")" = 1 ] &&
	    tpm_link_ok "${out%% *}" "$U" "$SP/$G-tpm" &&
	    [ "$(md5sum <"$SP/$G-tpm/tpm2-00.permall")" = "$T0" ] || tpm=bad; }
	[ -n "${T0:-}" ] && label="$label (uefi+tpm)"
	results+=("$(printf '%-15s %-10s -> %-12s qemus=%s verifier=%s memcheck=%s keys=%s tpm=%s' \
	    "$phase" "$label" "$out" "$n" "$okv" "$okm" "$left" "$tpm")")
	if [[ $out == "h1 running" || $out == "h2 running" ]] && [ "$n" = 1 ] &&
	    [ "$okv" = yes ] && [ "$okm" = yes ] && [ "$left" = 0 ] &&
	    [ "$tpm" = ok ]; then
		ok "$phase / $label: one running copy ($out), verifier OK, memory intact"
	else
		not_ok "$phase / $label: $out, $n QEMU(s), verifier $okv, memcheck $okm, $left key file(s), tpm $tpm"
		tail -n 5 "$(labenv H1_LOG)" "$(labenv H2_LOG)" | sed 's/^/#   /'
	fi
	# the writer must still be going
	local a0; a0=$(acks_both "$U")
	wait_for 20 acks_beyond "$U" "$a0" ||
	    not_ok "$phase / $label: the guest stopped writing"
}

# TERN_E2E_SAMPLE=1 (CI): each fault at one phase, the phases turning
# with the day, so every fault and every phase runs in each CI run and
# every pair within four days; else the whole matrix.
PHASES=(setup active pre-switchover completed)
FAULTS=(dst-qemu dst-ternd src-ternd cut)
day=$(( $(date +%s) / 86400 ))
# TERN_E2E_MATRIX=uefi: only the UEFI+TPM pass below (its columns at
# every phase unless sampled).
uefi_only() { [ "${TERN_E2E_MATRIX:-}" = uefi ]; }
for p in 0 1 2 3; do
	for f in 0 1 2 3; do
		uefi_only && continue
		[ "${TERN_E2E_SAMPLE:-0}" = 1 ] && [ $(( (f + day) % 4 )) != $p ] &&
		    continue
		run_case "${PHASES[$p]}" "${FAULTS[$f]}"
	done
done
if ! uefi_only; then
	run_case completed dst-qemu move.rollback-cont=fail

	# A busy destination: its QEMU loads the stream's end after the source saw
	# the stream complete, so it refuses the commit (503) until then (failpoint
	# move-in.commit).  The source must ask again, and the move succeed.
	read -r src st < <(vm_where g1)
	dst=$(other "$src")
	restart_with "$dst" move-in.commit=delay:2000
	t "$src" vm move g1 --to "$dst" >/dev/null 2>&1 || true
	check_eq "an early commit is asked again: the vm moved" "$(vm_where g1)" \
	    "$dst running"
	check "and the verifier passes" verify_moved g1
	check "memory intact" memcheck_intact "$U"
	restart_with "$dst"
	check_eq "the guest never rebooted" \
	    "$(cat "$S1/vms/$U/console.log" "$S2/vms/$U/console.log" | grep -ac TERN-GUEST-READY)" 1
fi

# ---- the UEFI+TPM guest: destination QEMU killed, network cut ----
# (sampled: each fault at one phase turning with the day; else all four)
read -r src st < <(vm_where g1)
t "$src" vm stop g1 >/dev/null	# two TCG guests would slow both
wait_for 60 bash -c "[ \"\$($LAB_SH tern $src vm show g1 --json | jq -r .state)\" = off ]" || true
GUEST_FIRMWARE=uefi GUEST_TPM=1 shared_guest h1 gu "disk:/dev/vdb:50+$MEMCHECK+dirty:10:32"
G=gu; U=$(vm_field h1 gu .uuid)
check "the UEFI+TPM guest boots" wait_for 180 console_has h1 gu TERN-GUEST-READY
wait_for 60 acks_beyond "$U" 0 || true
T0=$(md5sum <"$SP/gu-tpm/tpm2-00.permall")
for p in 0 1 2 3; do
	for f in 0 3; do
		[ "${TERN_E2E_SAMPLE:-0}" = 1 ] && [ $(( (f + day) % 4 )) != $p ] &&
		    continue
		run_case "${PHASES[$p]}" "${FAULTS[$f]}"
	done
done
check_eq "the UEFI+TPM guest never rebooted" \
    "$(cat "$S1/vms/$U/console.log" "$S2/vms/$U/console.log" | grep -ac TERN-GUEST-READY)" 1
echo "# fault matrix (phase, fault -> where the vm runs):"
printf '#   %s\n' "${results[@]}"
e2e_finish
