#!/usr/bin/env bash
# failover.sh - figures for failover (issue 13) on a 2-host lab: a guest
# with DATA_MIB (256) of random data on a SIZE_MIB (1024) data disk (vdb)
# and its disk writer acknowledging 50 records/s on vdc (TERN-ACK lines),
# replicated h1 -> h2 every 30 s, both hosts replica servers for each
# other.  Each figure next to its comparison measured in the same run:
#
#   - planned failover (`tern vm failover planned`) h1 -> h2, RUNS (3)
#     times, each of a new VM (made, started, replicated: its boot and
#     initial copy timed too): the job's total time; its phases
#     (shutdown, launch, final, quit, commit, reverse; read by polling
#     the job every ~0.3 s, so each is +-0.5 s); the guest's downtime,
#     from the last TERN-ACK on the old host's console to the first
#     TERN-ACK on the new host's (each console line stamped as the bench
#     reads it); the final cycle's bytes sent.  The first VM is also
#     failed over back, h2 -> h1, once (the failback: h2's copy, an
#     overlay on h2's recovery points, becomes h1's replica): its
#     figures printed apart (a new VM each run, so that every run starts
#     the same way).  Comparison, what an operator would do instead
#     (libvirt has no replication): shut down, copy the disks with
#     `qemu-img convert` from nbd:// over the same link (qemu-nbd on the
#     source, + sync), start on the other host: the copy of the same
#     disks is timed here, and the operator's downtime estimated as the
#     shutdown phase + that copy + the guest's boot to its first ack;
#     the link rate (`tern peer measure`).
#   - reverse replication (each planned run ends with it): the bytes its
#     first cycle sent (stats.last_bytes) vs the disks' allocated bytes
#     (`qemu-img map`: what a full re-copy sends), its cycle's wall time
#     vs the initial copy's.
#   - test failover (`vm failover test` on the replica host, RUNS times):
#     until the command returns (VM-test running), until its console
#     says TERN-GUEST-READY, and `test-stop`; a drill (RUNS times): its
#     boot_ms / heartbeat_ms as the drill records them (it looks every
#     0.5-1 s, so they come in whole steps) and its wall.
#   - unplanned failover: the primary's ternd and QEMU killed, then RUNS
#     times `tern vm failover VM` (the last run's VM) on the replica
#     host: until it returns, until TERN-GUEST-READY and the first
#     TERN-ACK on the console (from the command's start), each followed
#     by `vm failover cancel`.
#
# About 4 minutes with the defaults on 2 TCG cores.  Reports; never
# fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-failover} \
    TERN_LAB_ID=${BENCH_LAB_ID:-fob} LAB_NET=${BENCH_LAB_NET:-179}
LAB=$REPO/tests/lab/lab.sh
SIZE_MIB=${SIZE_MIB:-1024}	# the data disk, vdb
DATA_MIB=${DATA_MIB:-256}	# random data written on it before the start
RUNS=${RUNS:-3}
INTERVAL=30			# s, the replication interval

watches=()
unwatch() {
	local p
	for p in "${watches[@]}"; do kill "$p" 2>/dev/null || true; done
	watches=()
}
# BENCH_KEEP=DIR keeps the raw figures (one line a run) and the stamped
# consoles.
trap 'unwatch; [ -z "${BENCH_KEEP:-}" ] || cp -r "$TERN_LAB/bench/." "$BENCH_KEEP/" 2>/dev/null
    "$LAB" down >/dev/null 2>&1 || true' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 2 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
work=$TERN_LAB/bench
mkdir -p "$work"
declare -A STATE=([h1]=$H1_STATE_DIR [h2]=$H2_STATE_DIR)
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
ms() { date +%s%3N; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
mib() { awk -v b="$1" 'BEGIN {if (b == "" || b == "-") print "-"; else printf "%.1f", b / 1048576}'; }
# size BYTES: in B, KiB or MiB, whichever reads best
size() { awk -v b="$1" 'BEGIN {if (b == "" || b == "-") print "-"
	else if (b < 1024) printf "%d B", b; else if (b < 1048576)
	printf "%.1f KiB", b / 1024; else printf "%.1f MiB", b / 1048576}'; }
sec() { awk -v m="$1" 'BEGIN {if (m == "" || m == "-") print "-"; else printf "%.2f", m / 1000}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }
other() { if [ "$1" = h1 ]; then echo h2; else echo h1; fi; }
# wait_until S CMD...: CMD succeeds within S seconds (1 if not)
wait_until() {
	local n=$(($1 * 2)); shift
	while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.5; n=$((n - 1)); done
	return 1
}
# con_watch FILE OUT: each line FILE gets from now on, stamped "MS line"
# into OUT, until unwatch (tail -F: the file may not exist yet, or be
# made anew when QEMU starts).
con_watch() {
	: >"$2"
	rm -f "$2.pid"
	{ tail -n 0 -F "$1" 2>/dev/null & echo $! >"$2.pid"; wait; } |
	    while IFS= read -r l; do
		printf '%s %s\n' "$((${EPOCHREALTIME/./} / 1000))" "${l%$'\r'}"
	    done >>"$2" &
	while [ ! -s "$2.pid" ]; do sleep 0.1; done
	watches+=("$(cat "$2.pid")")
}
con() { echo "${STATE[$1]}/vms/$uuid/console.log"; }
first_ms() { grep -a -m1 -- "$2" "$1" | cut -d' ' -f1 || true; }
last_ms() { grep -a -- "$2" "$1" | tail -n 1 | cut -d' ' -f1 || true; }
has() { grep -aq -- "$2" "$1"; }
# jobs_json HOST TYPE AFTER_ID: HOST's jobs of TYPE with a greater id,
# oldest first, with start/end in ms
jobs_json() {
	t "$1" job list --json | jq -c --arg ty "$2" --argjson after "$3" 'def ms:
	    capture("^(?<s>.*)\\.(?<m>[0-9]+)Z$") | ((.s + "Z") | fromdate) *
	    1000 + (.m | tonumber);
	    [.jobs[] | select(.type == $ty and .id > $after)] | sort_by(.id)[] |
	    . + {s: (.started_at // "" | if . == "" then 0 else ms end),
	    e: (.ended_at // "" | if . == "" then 0 else ms end),
	    sent: ([.details.disks[]?.summary.delta_bytes // 0] | add)}'
}
last_job() { t "$1" job list --json | jq '[.jobs[].id] | max // 0'; }
rshow() { t "$1" vm replication show "$vm" --json | jq -r "$2"; }
# ready_planned HOST: $vm on HOST is a healthy primary, its agent answering
ready_planned() {
	[ "$(rshow "$1" '[.role, .state, .health] | join("/")')" = \
	    primary/replicating/normal ] &&
	    [ "$(t "$1" vm show "$vm" --json | jq -r .heartbeat)" = ok ]
}
# alloc HOST: the allocated bytes of $vm's disks on HOST (whole chains)
alloc() {
	local p s=0 b
	for p in $(t "$1" vm show "$vm" --json | jq -r '.disks[].path'); do
		b=$(qemu-img map -U --output=json "$p" |
		    jq '[.[] | select(.data) | .length] | add // 0')
		s=$((s + b))
	done
	echo "$s"
}

f1=$(t h1 host info --json | jq -r .fingerprint)
f2=$(t h2 host info --json | jq -r .fingerprint)
t h1 peer add h2 "$H2_URL" --fingerprint "$f2" >/dev/null
t h2 peer add h1 "$H1_URL" --fingerprint "$f1" >/dev/null
t h2 replica server enable --allow h1=local >/dev/null
t h1 replica server enable --allow h2=local >/dev/null

echo "# tern failover benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "accel=$(t h1 host info --json | jq -r .accel); $DATA_MIB MiB in a" \
    "$SIZE_MIB MiB disk, replicated every ${INTERVAL}s; $RUNS runs"
link=$(t h1 peer measure h2 --json | jq '.details.rate_bytes_per_s')

# ---- the VMs: one a run, DATA_MIB of random data on vdb before it starts ----
# vm_make NAME: NAME made on h1, started (boot timed), replicated to h2
# (the initial copy timed); sets vm, uuid and the boot/initial figures.
vm_make() {
	local a j0 init d
	vm=$1
	t h1 vm create "$vm" --cpus 1 --memory 256M --disk 256M \
	    --disk "${SIZE_MIB}M" --disk 16M --kernel "$GUEST/vmlinuz" \
	    --initrd "$GUEST/initrd.img" --cmdline "console=ttyS0 quiet \
tern.hostname=$vm tern.workload=disk:/dev/vdc:50" >/dev/null
	uuid=$(t h1 vm show "$vm" --json | jq -r .uuid)
	mapfile -t disks < <(t h1 vm show "$vm" --json | jq -r '.disks[].path')
	head -c "${DATA_MIB}M" /dev/urandom >"$work/data.raw"
	qemu-img convert -n -f raw -O qcow2 "$work/data.raw" "${disks[1]}"
	rm -f "$work/data.raw"
	sync
	[ -n "${copy_ms:-}" ] || op_copy

	con_watch "$(con h1)" "$work/boot.con"
	a=$(ms)
	t h1 vm start "$vm" >/dev/null
	wait_until 180 has "$work/boot.con" TERN-ACK || true
	d=$(first_ms "$work/boot.con" TERN-GUEST-READY)
	boot_ready_ms=$(( ${d:-0} ? d - a : -1 ))
	d=$(first_ms "$work/boot.con" TERN-ACK)
	boot_ack_ms=$(( ${d:-0} ? d - a : -1 ))
	unwatch

	j0=$(last_job h1)
	a=$(ms)
	t h1 vm replication enable "$vm" --to h2 --interval "${INTERVAL}s" >/dev/null
	wait_until 1800 bash -c "[ \"\$('$LAB' tern h1 vm replication show $vm \
	    --json | jq -r .state)\" = replicating ]" || true
	initial_ms=$(($(ms) - a))
	init=$(jobs_json h1 vm.replicate "$j0" | jq -s -c 'map(select(.state ==
	    "succeeded")) | first // {}')
	init_wall=$(jq -r 'if .s then .e - .s else "-" end' <<<"$init")
	init_sent=$(jq -r '.sent // "-"' <<<"$init")
}

# op_copy: what an operator would do instead, timed for the first VM's
# disks: each copied h1 -> h2 with qemu-nbd on h1 (read-only) and
# `qemu-img convert` from nbd:// on h2 into its pool, + sync.
op_copy() {
	local d a port=10809
	disk_alloc=$(alloc h1)
	copy_ms=0
	for d in "${disks[@]}"; do
		"$LAB" exec h1 qemu-nbd -r -t -f qcow2 -b "$H1_ADDR" -p "$port" \
		    --fork --pid-file "$work/nbd.pid" "$d"
		a=$(ms)
		"$LAB" exec h2 bash -c "qemu-img convert -O qcow2 \
		    nbd://$H1_ADDR:$port '$H2_POOL_DIR/op.qcow2' &&
		    sync '$H2_POOL_DIR/op.qcow2'"
		copy_ms=$((copy_ms + $(ms) - a))
		kill "$(cat "$work/nbd.pid")"
		rm -f "$H2_POOL_DIR/op.qcow2"
		port=$((port + 1))
	done
}

# planned P TAG: a planned failover of $vm from P, timed; its row
# ("TAG total down ready final rev_sent rev_wall alloc") appended to
# $work/planned, its phases to $work/phases.  1 if it failed (the error
# printed).
planned() {
	local P=$1 R i=$2 j0 jr a b id="" st="" ph="" nph last first ready
	local down=- fin rev rev_wall rev_sent
	R=$(other "$P")
	if ! wait_until 300 ready_planned "$P"; then
		echo "# $i: $vm on $P not a healthy primary in 300 s:" \
		    "$(rshow "$P" '[.role, .state, .health] | join("/")')"
		return 1
	fi
	con_watch "$(con "$P")" "$work/p$i.old"
	con_watch "$(con "$R")" "$work/p$i.new"
	j0=$(last_job "$P")
	jr=$(last_job "$R")
	a=$(ms)
	t "$P" vm failover planned "$vm" --no-wait >/dev/null
	: >"$work/p$i.ph"
	while :; do
		read -r id st nph <<<"$(jobs_json "$P" vm.failover-planned "$j0" |
		    jq -r -s 'first // {} | "\(.id) \(.state) \(.phase)"')"
		if [ "$nph" != "$ph" ]; then
			echo "$(ms) $nph" >>"$work/p$i.ph"
			ph=$nph
		fi
		case $st in succeeded|failed|cancelled) break;; esac
		sleep 0.3
	done
	b=$(ms)
	echo "$b end" >>"$work/p$i.ph"
	if [ "$st" != succeeded ]; then
		echo "# $i ($vm, $P -> $R): the planned failover $st after" \
		    "$(sec $((b - a))) s: $(t "$P" job list --json | jq -r \
		    --argjson id "$id" '.jobs[] | select(.id == $id) | .error')"
		unwatch
		return 1
	fi
	awk -v r="$i" 'NR > 1 {print r, ph, $1 - t} {t = $1; ph = $2}' \
	    "$work/p$i.ph" >>"$work/phases"
	wait_until 180 has "$work/p$i.new" TERN-ACK || true
	last=$(last_ms "$work/p$i.old" TERN-ACK)
	first=$(first_ms "$work/p$i.new" TERN-ACK)
	ready=$(first_ms "$work/p$i.new" TERN-GUEST-READY)
	[ -n "$last" ] && [ -n "$first" ] && down=$((first - last))
	# the final cycle: the last one from the old primary
	fin=$(jobs_json "$P" vm.replicate "$j0" | jq -s -r 'map(select(.state ==
	    "succeeded")) | last // {} | .sent // "-"')
	# the reverse: its first cycle acknowledged on the new primary
	wait_until 900 bash -c "[ \"\$('$LAB' tern $R vm replication show $vm \
	    --json | jq -r '[.role, .state] | join(\"/\")')\" = \
	    primary/replicating ]" || true
	rev=$(jobs_json "$R" vm.replicate "$jr" | jq -s -c 'map(select(.state ==
	    "succeeded")) | first // {}')
	rev_wall=$(jq -r 'if .s then .e - .s else "-" end' <<<"$rev")
	rev_sent=$(rshow "$R" '.stats.last_bytes // "-"')
	echo "$i $((b - a)) $down $(( ${ready:-0} ? ready - a : -1 ))" \
	    "$fin $rev_sent $rev_wall $(alloc "$R")" >>"$work/planned"
	unwatch
}

# ---- planned failovers h1 -> h2, a new VM each run ----
# (Each run's VM is new, so that every run starts the same way; the
# first VM is failed over back, h2 -> h1, once: the failback, printed
# apart.)
: >"$work/planned"
: >"$work/phases"
: >"$work/made"
for i in $(seq 1 "$RUNS"); do
	vm_make "c$i"
	echo "$boot_ready_ms $boot_ack_ms $initial_ms $init_wall $init_sent" \
	    >>"$work/made"
	planned h1 "$i" || break
	if [ "$i" = 1 ] && [ "$RUNS" -gt 1 ]; then
		if planned h2 back; then
			echo "# the planned failover back h2 -> h1 succeeded" \
			    "(its figures not in the medians)"
		fi
		for h in h1 h2; do
			t "$h" vm replication pause "$vm" >/dev/null 2>&1 || true
			t "$h" vm stop "$vm" >/dev/null 2>&1 || true
		done
	fi
done
P=h2 R=h1

# ---- test failover and drills, on the replica host ----
: >"$work/test"
: >"$work/drill"
test_ready() { t "$R" vm console "$vm-test" 2>/dev/null | grep -aq TERN-GUEST-READY; }
for i in $(seq 1 "$RUNS"); do
	a=$(ms)
	if ! e=$(t "$R" vm failover test "$vm" 2>&1 >/dev/null); then
		echo "# test failover $i failed: $e"
		break
	fi
	b=$(ms)
	wait_until 180 test_ready || true
	c=$(ms)
	if ! e=$(t "$R" vm failover test-stop "$vm" 2>&1 >/dev/null); then
		echo "# test-stop $i failed: $e"
		break
	fi
	d=$(ms)
	echo "$((b - a)) $((c - a)) $((d - c))" >>"$work/test"
done
for i in $(seq 1 "$RUNS"); do
	a=$(ms)
	t "$R" vm replication drill "$vm" >/dev/null || true
	b=$(ms)
	echo "$((b - a)) $(rshow "$R" '.drill.last | "\(.result) \(.boot_ms) \(.heartbeat_ms)"')" \
	    >>"$work/drill"
done

# ---- unplanned failover: the primary gone ----
: >"$work/unplanned"
"$LAB" kill "$P" >/dev/null
qpid=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $uuid" || true)
[ -n "$qpid" ] && kill -9 "$qpid"
sleep 2
for i in $(seq 1 "$RUNS"); do
	con_watch "$(con "$R")" "$work/u$i.con"
	a=$(ms)
	if ! e=$(t "$R" vm failover "$vm" 2>&1 >/dev/null); then
		echo "# unplanned failover $i failed: $e"
		unwatch
		break
	fi
	b=$(ms)
	wait_until 180 has "$work/u$i.con" TERN-ACK || true
	ready=$(first_ms "$work/u$i.con" TERN-GUEST-READY)
	ack=$(first_ms "$work/u$i.con" TERN-ACK)
	c=$(ms)
	e=$(t "$R" vm failover cancel "$vm" 2>&1 >/dev/null) ||
	    echo "# cancel $i failed: $e"
	d=$(ms)
	echo "$((b - a)) $(( ${ready:-0} ? ready - a : -1 )) $(( ${ack:-0} ? ack - a : -1 ))" \
	    "$((d - c))" >>"$work/unplanned"
	unwatch
done

# ---- report ----
# col FILE N: the median of column N over the numbered runs' rows
col() { awk -v c="$2" '$1 ~ /^[0-9]+$/ && $c ~ /^[0-9]+$/ {print $c}' "$1" | pct 50; }
row() { printf '%-66s %12s %10s\n' "$@"; }
n=$(awk '$1 ~ /^[0-9]+$/' "$work/planned" | wc -l)
phase() { awk -v p="$1" '$1 ~ /^[0-9]+$/ && $2 == p {print $3}' "$work/phases" | pct 50; }
echo
row "link: ternd TLS probe (tern peer measure), MiB/s" "$(mib "$link")" ""
row "a VM's disks: virtual $((256 + SIZE_MIB + 16)) MiB, allocated" "" "$(size "$disk_alloc")"
echo
row "planned failover h1 -> h2 ($n runs, medians)" "s" "bytes"
row "tern vm failover planned: total" "$(sec "$(col "$work/planned" 2)")" ""
for ph in shutdown launch final quit commit reverse; do
	row "  phase $ph" "$(sec "$(phase "$ph")")" ""
done
row "  guest down: last ack on the old host to first ack on the new" \
    "$(sec "$(col "$work/planned" 3)")" ""
row "  TERN-GUEST-READY on the new host, from the command" \
    "$(sec "$(col "$work/planned" 4)")" ""
row "  the final cycle, bytes sent" "" "$(size "$(col "$work/planned" 5)")"
boot_ack=$(col "$work/made" 2)
row "operator: shutdown + nbd copy of the disks + boot to first ack" \
    "$(sec "$(awk -v a="$(phase shutdown)" -v b="$copy_ms" -v c="$boot_ack" \
    'BEGIN {print (a == "-" ? 0 : a) + b + (c == "-" ? 0 : c)}')")" ""
row "  qemu-nbd + qemu-img convert nbd:// + sync, the same disks" \
    "$(sec "$copy_ms")" "$(size "$disk_alloc")"
row "  boot: vm start to TERN-GUEST-READY / to first ack" \
    "$(sec "$(col "$work/made" 1)") / $(sec "$boot_ack")" ""
if grep -q '^back ' "$work/planned"; then
	read -r _ tot down _ fin _ <<<"$(grep '^back ' "$work/planned")"
	row "planned failover back h2 -> h1 (the first VM, once): total / down" \
	    "$(sec "$tot") / $(sec "$down")" "$(size "$fin")"
fi
echo
row "reverse replication (medians)" "s" "bytes"
row "the reverse's first cycle: wall, bytes sent" \
    "$(sec "$(col "$work/planned" 7)")" "$(size "$(col "$work/planned" 6)")"
row "  a full re-copy: the disks' allocated bytes" "" \
    "$(size "$(col "$work/planned" 8)")"
row "the initial copy: enable to acknowledged / its cycle; bytes sent" \
    "$(sec "$(col "$work/made" 3)") / $(sec "$(col "$work/made" 4)")" \
    "$(size "$(col "$work/made" 5)")"
echo
row "test failover and drills on the replica host (medians)" "s" "runs"
row "vm failover test: until it returns (VM-test running)" \
    "$(sec "$(col "$work/test" 1)")" "$(wc -l <"$work/test")"
row "  until the test VM's TERN-GUEST-READY" "$(sec "$(col "$work/test" 2)")" ""
row "vm failover test-stop" "$(sec "$(col "$work/test" 3)")" ""
row "vm replication drill: wall ($(awk '{print $2}' "$work/drill" | sort |
    uniq -c | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}'))" \
    "$(sec "$(col "$work/drill" 1)")" "$(wc -l <"$work/drill")"
row "  as it records them: boot_ms / heartbeat_ms" \
    "$(sec "$(col "$work/drill" 3)") / $(sec "$(col "$work/drill" 4)")" ""
echo
row "unplanned failover, the primary's ternd and QEMU killed (medians)" "s" "runs"
row "vm failover: until it returns" "$(sec "$(col "$work/unplanned" 1)")" \
    "$(wc -l <"$work/unplanned")"
row "  until TERN-GUEST-READY / the first ack, from the command" \
    "$(sec "$(col "$work/unplanned" 2)") / $(sec "$(col "$work/unplanned" 3)")" ""
row "vm failover cancel" "$(sec "$(col "$work/unplanned" 4)")" ""
