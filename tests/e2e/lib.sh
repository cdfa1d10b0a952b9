# lib.sh - shared helpers for the end-to-end tests: a private lab per test
# (its own namespaces, addresses and directory), assertions that count,
# bounded waits, and cleanup on every exit.  Sourced, not run.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=${TERND:-$BUILD/src/daemon/ternd}
export TERN=${TERN:-$BUILD/src/cli/tern}
LAB_SH=$REPO/tests/lab/lab.sh
VERIFY=$GUEST/verify
E2E_PASS=0
E2E_FAIL=0

# e2e_lab_setup NAME NET: a lab of our own, torn down on exit.  E2E_SHIFT
# (default 0) adds to NET and to the lab's name, so that two checkouts can
# run the suite at once on one machine (e.g. E2E_SHIFT=100 in the second).
e2e_lab_setup() {
	local shift=${E2E_SHIFT:-0} net
	net=$(($2 + shift))
	[ "$net" -le 254 ] || { echo "E2E_SHIFT=$shift puts net $2 past 254" >&2; exit 1; }
	export TERN_LAB=/tmp/tern-e2e-$1${E2E_SHIFT:+-s$shift}
	export TERN_LAB_ID=e$net
	export LAB_NET=$net
	[ -f "$TERN_LAB/lab.env" ] && "$LAB_SH" down >/dev/null 2>&1 || true
	# Every answer of the lab's ternds, one JSON line each (src/api/
	# record.c), for e2e_openapi_check; kept after the lab goes.
	export TERN_API_RECORD=$TERN_LAB.api.jsonl
	: >"$TERN_API_RECORD"
	trap e2e_cleanup EXIT
	# A signal (meson's timeout sends SIGTERM) ends the test through
	# the EXIT trap too, with the usual status.
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# e2e_at_exit CMD: run CMD (a shell string) on exit, before the lab goes
# down; the script's exit status stays its own.
E2E_AT_EXIT=()
e2e_at_exit() { E2E_AT_EXIT+=("$1"); }

# e2e_diagnose: what a failed test leaves to read, printed before the lab
# goes: the end of each ternd's log, what each QEMU wrote (its stderr,
# kept in RUN_DIR/vms/UUID/qemu.log) and the kernel's word on a QEMU that
# died of a signal (a segfault writes nothing to stderr).
e2e_diagnose() {
	local i n log f
	n=$(labenv N 2>/dev/null) || return 0
	dmesg 2>/dev/null | grep -a 'qemu-system' | tail -n 5 | sed 's/^/#   kernel: /'
	for ((i = 1; i <= n; i++)); do
		log=$(labenv "H${i}_LOG")
		[ -s "$log" ] && {
			echo "# --- h$i: last lines of $log"
			tail -n 40 "$log" | sed 's/^/#   /'
		}
		for f in "$(labenv "H${i}_RUN_DIR")"/vms/*/qemu.log; do
			[ -s "$f" ] || continue
			echo "# --- h$i: $f"
			tail -n 20 "$f" | sed 's/^/#   /'
		done
	done
}

# The EXIT trap: whatever failed, the lab goes.  No command may end it
# early (set -e is off here), a second signal is ignored, and lab.sh down
# runs in a session of its own, so that a harness killing the test's
# process group after its SIGTERM (meson: SIGKILL 0.5 s later) cannot
# stop it half way: it still removes the lab's processes by PID and its
# namespaces.
e2e_cleanup() {
	local rc=$? c
	set +e
	trap '' HUP INT TERM
	for c in "${E2E_AT_EXIT[@]}"; do eval "$c"; done
	if [ "$rc" != 0 ] || [ "$E2E_FAIL" != 0 ]; then
		e2e_diagnose
	fi
	if [ "${E2E_KEEP:-0}" = 1 ]; then
		echo "# E2E_KEEP=1: lab left at $TERN_LAB" >&2
	else
		setsid -w "$LAB_SH" down >/dev/null 2>&1 ||
		    setsid -w "$LAB_SH" down >&2
	fi
	exit $rc
}

lab() { "$LAB_SH" "$@"; }
# t HOST ARGS...: the tern CLI on HOST.
t() { local h=$1; shift; "$LAB_SH" tern "$h" "$@"; }
labenv() { # labenv VAR: a value from lab.env
	( set +u; . "$TERN_LAB/lab.env"; eval "printf '%s' \"\${$1}\"" )
}

ok() { E2E_PASS=$((E2E_PASS + 1)); echo "ok - $*"; }
not_ok() { E2E_FAIL=$((E2E_FAIL + 1)); echo "not ok - $*"; }

# check DESC CMD...: passes when CMD exits 0.
check() {
	local desc=$1; shift
	local out
	if out=$("$@" 2>&1); then ok "$desc"; else
		not_ok "$desc"; echo "$out" | sed 's/^/#   /' | tail -n 20
	fi
}

# check_err DESC EXIT TEXT CMD...: CMD must exit EXIT and say TEXT.
check_err() {
	local desc=$1 want=$2 text=$3; shift 3
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" = "$want" ] && grep -qF -- "$text" <<<"$out"; then
		ok "$desc"
	else
		not_ok "$desc (exit $rc, want $want and '$text')"
		echo "$out" | sed 's/^/#   /' | tail -n 10
	fi
}

# check_eq DESC GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else
		not_ok "$1: got '$2', want '$3'"; fi
}

# wait_for SECONDS CMD...: until CMD succeeds; 1 on timeout.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.3
	done
}

# vm_field HOST VM JQ: a field of `tern vm show --json`.
vm_field() { t "$1" vm show "$2" --json | jq -r "$3"; }

# guest_fw_opts: --firmware uefi and --tpm when GUEST_FIRMWARE=uefi and
# GUEST_TPM=1 ask for the test guest in its UEFI+TPM form (its kernel has
# an EFI stub: -kernel boots under OVMF).
guest_fw_opts() {
	[ "${GUEST_FIRMWARE:-bios}" = bios ] || printf '%s\n' --firmware "$GUEST_FIRMWARE"
	[ "${GUEST_TPM:-0}" = 0 ] || printf '%s\n' --tpm
}

# guest_create HOST NAME [WORKLOAD]: the test guest with a 64 MiB data disk.
guest_create() {
	local h=$1 name=$2 wl=${3:-disk:/dev/vdb:50} fw
	mapfile -t fw < <(guest_fw_opts)
	t "$h" vm create "$name" --cpus 1 --memory 256M --disk 256M \
	    --disk 64M --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
	    --cmdline "console=ttyS0 quiet tern.hostname=$name tern.workload=$wl${GUEST_EXTRA:+ $GUEST_EXTRA}" \
	    "${fw[@]}" "${@:4}"
}

# guest_writing HOST NAME: the test guest made on HOST, started, booted,
# and its disk writer acknowledging (two checks).
guest_writing() {
	guest_create "$1" "$2" >/dev/null
	t "$1" vm start "$2" >/dev/null
	check "guest boots" wait_for 90 console_has "$1" "$2" TERN-GUEST-READY
	check "writer acknowledges" wait_for 60 writer_acks "$1" "$2" 20
}
# writer_acks HOST VM N: the writer acknowledged more than N records.
writer_acks() { [ "$(acked "$1" "$2")" -gt "$3" ]; }

# trust_both: h1 and h2 pin each other (a move needs trust both ways).
trust_both() {
	local f1 f2
	f1=$(t h1 host info --json | jq -r .fingerprint)
	f2=$(t h2 host info --json | jq -r .fingerprint)
	t h1 peer add h2 "$(labenv H2_URL)" --fingerprint "$f2" >/dev/null
	t h2 peer add h1 "$(labenv H1_URL)" --fingerprint "$f1" >/dev/null
}

# shared_guest HOST NAME WORKLOAD: the test guest with both disks on the
# lab's shared pool (lab up --shared-pool), started.
shared_guest() {
	local fw
	mapfile -t fw < <(guest_fw_opts)
	t "$1" vm create "$2" --cpus 1 --memory 256M --disk 256M@shared \
	    --disk 64M@shared --kernel "$GUEST/vmlinuz" \
	    --initrd "$GUEST/initrd.img" \
	    --cmdline "console=ttyS0 quiet tern.hostname=$2 tern.workload=$3" \
	    "${fw[@]}" >/dev/null
	t "$1" vm start "$2" >/dev/null
}

# verify_moved VM: the verifier on VM's data disk (vdb) in the shared pool,
# with its console logs from both hosts (it may have lived on either).
verify_moved() {
	local uuid args=() f h
	uuid=$( (t h1 vm show "$1" --json || t h2 vm show "$1" --json) 2>/dev/null | jq -r .uuid)
	for h in H1 H2; do
		f=$(labenv ${h}_STATE_DIR)/vms/$uuid/console.log
		[ -f "$f" ] && args+=(--console "$f")
	done
	"$VERIFY" --image "$(labenv LAB_SHARED_POOL)/$1-vdb.qcow2" "${args[@]}"
}

# one_running_copy VM: VM is listed, running, on exactly one of h1, h2.
one_running_copy() {
	local a b
	a=$(t h1 vm show "$1" --json 2>/dev/null | jq -r .state || true)
	b=$(t h2 vm show "$1" --json 2>/dev/null | jq -r .state || true)
	{ [ "$a" = running ] && [ -z "$b" ]; } ||
	    { [ -z "$a" ] && [ "$b" = running ]; }
}

# vm_where VM: "HOST STATE" for the one host of h1, h2 whose ternd lists
# VM; "both:STATE1:STATE2" when both or neither do.
vm_where() {
	local a b
	a=$(t h1 vm show "$1" --json 2>/dev/null | jq -r .state || true)
	b=$(t h2 vm show "$1" --json 2>/dev/null | jq -r .state || true)
	if [ -n "$a" ] && [ -z "$b" ]; then echo "h1 $a";
	elif [ -z "$a" ] && [ -n "$b" ]; then echo "h2 $b";
	else echo "both:$a:$b"; fi
}

# other HOST: the other one of h1, h2.
other() { [ "$1" = h1 ] && echo h2 || echo h1; }

# restart_with HOST [FAILPOINT]: HOST's ternd again (stopped, or killed if
# it will not stop), with TERN_FAILPOINT set to FAILPOINT or cleared.
restart_with() {
	lab stop "$1" >/dev/null 2>&1 || lab kill "$1" >/dev/null 2>&1 || true
	TERN_FAILPOINT=${2:-} lab start "$1" >/dev/null
}

# no_active_jobs HOST...: none of these hosts has an active job.
no_active_jobs() {
	local h
	for h in "$@"; do
		[ "$(t "$h" job list --active --json | jq '.jobs | length')" = 0 ] ||
		    return 1
	done
}

# move_phase_reached SRC PHASE STREAM [DISKS]: SRC's vm.move job sits in
# PHASE with the QEMU stream in state STREAM ("": any); DISKS "in-sync":
# its mirrors are, "bulk": its disk copy has begun.
move_phase_reached() {
	local j
	j=$(t "$1" job list --active --json | jq -c '[.jobs[] | select(.type=="vm.move")][0] // empty')
	[ -n "$j" ] && [ "$(jq -r .phase <<<"$j")" = "$2" ] || return 1
	[ -z "$3" ] || [ "$(jq -r '.details.stream // ""' <<<"$j")" = "$3" ] || return 1
	[ "${4:-}" != in-sync ] || [ "$(jq -r '.details.disks // ""' <<<"$j")" = in-sync ] || return 1
	[ "${4:-}" != bulk ] || [ "$(jq -r '.progress.done' <<<"$j")" -gt 0 ]
}

# qga HOST VM ARGS...: talk to VM's guest agent directly (ternd must be
# down: the agent channel takes one client).
qga() {
	local h=$1 vm=$2; shift 2
	local uuid; uuid=$(sqlite3 "$(labenv "${h^^}_STATE_DIR")/ternd.db" \
	    "SELECT uuid FROM vms WHERE name='$vm'")
	python3 "$REPO/tests/guest/qga.py" -t 10 \
	    "$(labenv "${h^^}_RUN_DIR")/vms/$uuid/qga.sock" "$@"
}

# console_has HOST VM TEXT
console_has() { local out; out=$(t "$1" vm console "$2") && grep -qF -- "$3" <<<"$out"; }

# acked HOST VM: the highest TERN-ACK on the console (0 if none).
acked() {
	t "$1" vm console "$2" | grep -ao 'TERN-ACK [0-9]*' | tail -n 1 |
	    awk '{print $2+0}' | grep . || echo 0
}

# acks_both UUID: TERN-ACK lines in the VM's consoles on h1 and h2
# together (it may have written on either).
acks_both() {
	cat "$(labenv H1_STATE_DIR)/vms/$1/console.log" \
	    "$(labenv H2_STATE_DIR)/vms/$1/console.log" 2>/dev/null |
	    grep -ac TERN-ACK || true
}
# acks_beyond UUID N: more than N of them.
acks_beyond() { [ "$(acks_both "$1")" -gt "$2" ]; }

# ---- memcheck: the guest proves its memory intact (tests/guest/memcheck.c)
# MEMCHECK: the workload every moved guest runs beside its others.
MEMCHECK=${MEMCHECK:-memcheck:10:32}

# mc_consoles UUID: the VM's console logs on h1 and h2, together.
mc_consoles() {
	cat "$(labenv H1_STATE_DIR)/vms/$1/console.log" \
	    "$(labenv H2_STATE_DIR)/vms/$1/console.log" 2>/dev/null || true
}
# memcheck_ns UUID: n of every complete TERN-MEMCHECK-OK line (a line cut
# mid-number by a log read during a write has no " fails=" yet).
memcheck_ns() {
	mc_consoles "$1" | grep -ao 'TERN-MEMCHECK-OK n=[0-9]* fails=' |
	    sed 's/.*n=//; s/ .*//' || true
}
# memcheck_passes UUID: the highest TERN-MEMCHECK-OK n= (0 if none).
memcheck_passes() {
	memcheck_ns "$1" | sort -n | tail -n 1 | grep . || echo 0
}
# memcheck_fails UUID: TERN-MEMCHECK-FAIL lines so far.
memcheck_fails() { mc_consoles "$1" | grep -ac TERN-MEMCHECK-FAIL || true; }
# memcheck_covered UUID N0: every page was checked after the OK line n=N0
# was logged.  The first line above N0 (n1) was printed later, so at most
# n1 passes had ended by then; pass n1 + 2 began after that, so a line
# with n >= n1 + 2 means a full pass ran wholly after the mark.
memcheck_covered() {
	memcheck_ns "$1" | awk -v n0="$2" '
	    $1 > n0 && (n1 == "" || $1 < n1) { n1 = $1 }
	    $1 > max { max = $1 }
	    END { exit !(n1 != "" && max >= n1 + 2) }'
}

# memcheck_mark UUID: remember the highest OK n so far (MC_MARK).  Call it
# once the move has returned (the source stopped): every OK line logged
# after it was printed by the guest running on after the move.
declare -A MC_MARK=()
memcheck_mark() { MC_MARK[$1]=$(memcheck_passes "$1"); }
# memcheck_check UUID [SECS]: true when no console of the VM has a
# TERN-MEMCHECK-FAIL line and, within SECS (30), a full verification pass
# ran after memcheck_mark; else says why on stdout and returns 1.  A
# predicate, so a loop can count failures; wrap it in check for one.
memcheck_check() {
	local n0=${MC_MARK[$1]:-} secs=${2:-30}
	[ -n "$n0" ] || { echo "memcheck_check $1 without memcheck_mark"; return 1; }
	wait_for "$secs" memcheck_covered "$1" "$n0" || {
		echo "memcheck: no full pass after n=$n0 in $secs s (highest n=$(memcheck_passes "$1"))"
		return 1; }
	[ "$(memcheck_fails "$1")" = 0 ] || {
		echo "memcheck: $(memcheck_fails "$1") FAIL line(s):"
		mc_consoles "$1" | grep -a TERN-MEMCHECK-FAIL | head -n 5
		return 1; }
}
# memcheck_intact UUID [SECS]: memcheck_mark, then memcheck_check: the
# guest's memory is intact now, and it is still checking.
memcheck_intact() { memcheck_mark "$1"; memcheck_check "$@"; }

# qemu_count UUID: QEMU processes running that VM.
# (pgrep finds none: exit 1, which pipefail would pass on and set -e act on)
# An empty or null UUID (a VM not made yet) counts none: the pattern
# would match every QEMU.
qemu_count() {
	case $1 in "" | null) echo 0; return ;; esac
	pgrep -f -- "^qemu-system-x86_64 .*-uuid $1" | wc -l || true
}
# swtpm_count UUID: the swtpm processes of VM UUID on any lab host.
swtpm_count() {
	case $1 in "" | null) echo 0; return ;; esac
	pgrep -f -- "swtpm socket .*/vms/$1/swtpm.sock" | wc -l || true
}
# tpm_link_ok HOST UUID DIR: HOST's swtpm of VM UUID writes to DIR (its
# run dir's tpm-state link) and no incoming move's directory is left.
tpm_link_ok() {
	local run; run=$(labenv "${1^^}_RUN_DIR")/vms/$2
	[ "$(readlink "$run/tpm-state")" = "$3" ] && [ ! -e "$run/tpm-in" ]
}

# e2e_openapi_check: one check that every answer the lab's ternds gave
# (TERN_API_RECORD) is what docs/openapi.yaml says: a route and method it
# has, a status it lists, a JSON body valid against that status's schema.
# Called before e2e_finish by the tests docs/api.md names.
e2e_openapi_check() {
	local out
	if out=$(python3 "$REPO/tests/openapi/validate.py" \
	    "$REPO/docs/openapi.yaml" "$TERN_API_RECORD" 2>&1); then
		ok "all $(tail -n 1 <<<"$out" | cut -d' ' -f1) answers match docs/openapi.yaml"
	else
		not_ok "answers match docs/openapi.yaml ($TERN_API_RECORD)"
		head -n 20 <<<"$out" | sed 's/^/#   /'
	fi
}

e2e_finish() {
	echo "$E2E_PASS passed, $E2E_FAIL failed"
	[ "$E2E_FAIL" = 0 ]
}

# sample_qemus FILE: in the background (its pid in SAMPLER), every 100 ms,
# on how many hosts a QEMU of each VM runs (all the lab's hosts share the
# machine's process table; a QEMU's host is this lab's host directory in
# its command line), one line per sample into FILE: "TIME uuid hosts ...
# .".  Hosts, not processes: `qemu -daemonize` shows up to three
# processes of one VM on its host while it starts.  The "never two
# running copies" sampler of the cluster tests.
sample_qemus() {
	( set +e +o pipefail; while :; do
		printf '%s ' "$EPOCHREALTIME"
		ps -eo args= | awk -v lab="$TERN_LAB/" '
		    $1 ~ /qemu-system-x86_64$/ {
			s = $0; h = ""
			while (!h && (p = index(s, lab))) {
				s = substr(s, p + length(lab))
				if (match(s, /^h[0-9]+\/run\//)) h = substr(s, 1, RLENGTH)
			}
			if (h) for (i = 2; i < NF; i++)
				if ($i == "-uuid") seen[$(i + 1), h] = 1 }
		    END { for (k in seen) { split(k, a, SUBSEP); n[a[1]]++ }
			for (u in n) printf "%s %s ", u, n[u]; print "." }'
		sleep 0.1
	  done ) >"$1" 2>/dev/null &
	SAMPLER=$!
}

# two_outside_moves SAMPLES NAME=UUID...: the samples of sample_qemus that
# show a VM on two hosts outside its own live moves (a live move has a
# QEMU on both ends by design, the destination's paused until the
# commit): each vm.move job on any host excuses its VM from its creation to
# a second after its end (job times are whole seconds here).
two_outside_moves() {
	local samples=$1 h kv; shift
	declare -A id
	for kv in "$@"; do id[${kv%%=*}]=${kv#*=}; done
	for h in $(cd "$TERN_LAB" && ls -d h[0-9]* 2>/dev/null); do
		t $h job list --json 2>/dev/null | jq -r '.jobs[] |
		    select(.type == "vm.move") | [.vm, .created_at,
		    (.ended_at // "9999-01-01T00:00:00.000Z")] | @tsv'
	done | while IFS=$'\t' read -r name c e; do
		[ -n "${id[$name]:-}" ] || continue
		echo "${id[$name]} $(date -d "$c" +%s) $(($(date -d "$e" +%s) + 2))"
	done >"$samples.moves"
	awk 'NR == FNR { n[$1]++; a[$1, n[$1]] = $2; b[$1, n[$1]] = $3; next }
	    { for (i = 2; i < NF; i += 2) if ($(i + 1) >= 2) {
		ok = 0
		for (k = 1; k <= n[$i]; k++)
			if ($1 >= a[$i, k] - 1 && $1 <= b[$i, k]) ok = 1
		if (!ok) { print; next } } }' "$samples.moves" "$samples"
}

# trust_three: every pair of h1, h2, h3 pins each other.
trust_three() { trust_all 3; }
# trust_all N: every pair of h1..hN pins each other.
trust_all() {
	local i j
	declare -A fp
	for i in $(seq 1 "$1"); do
		fp[$i]=$(t "h$i" host info --json | jq -r .fingerprint)
	done
	for i in $(seq 1 "$1"); do
		for j in $(seq 1 "$1"); do
			[ "$i" = "$j" ] && continue
			t "h$i" peer add "h$j" "$(labenv "H${j}_URL")" \
			    --fingerprint "${fp[$j]}" >/dev/null
		done
	done
}
