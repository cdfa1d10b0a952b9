#!/usr/bin/env bash
# migrate.sh - figures for live migration (`tern vm move`), measured in one
# run on a two-host lab with a shared pool: the link rate (ternd's own TLS
# probe, `tern peer measure`, and a raw TCP bulk stream between the same
# namespaces), then RUNS moves back and forth h1<->h2 of an idle guest and
# of a guest dirtying DIRTY_MIB of non-zero memory, with migration
# encryption on and off, each next to the same guest migrated the plain
# QEMU way (QEMU's defaults, as a naive tool would: plain_qemu_migrate.py)
# and with libvirt 9.0, as an operator would (`virsh migrate --live --p2p
# --tls`, bench/libvirt_lab.sh; LIBVIRT=0 skips it).
# Reports total time, downtime p50/p99, bytes sent, and the rate of the
# stream against the measured link.  Reports; never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-migrate} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bm} LAB_NET=${BENCH_LAB_NET:-131}
LAB=$REPO/tests/lab/lab.sh
RUNS=${BENCH_RUNS:-20}		# moves per scenario
DIRTY_RATE=${DIRTY_RATE:-100}	# MiB/s the dirtier rewrites
DIRTY_MIB=${DIRTY_MIB:-400}	# of non-zero memory it holds
SETTLE=${SETTLE:-2}		# seconds the guest runs between moves
PLAIN_TIMEOUT=${PLAIN_TIMEOUT:-120}	# a plain migration still going: cancelled
LIVE_WAIT=${LIVE_WAIT:-20}	# s for the guest agent to answer after a move
LINK_RUNS=${LINK_RUNS:-3}
LINK_MIB=${LINK_MIB:-1024}	# per raw TCP stream
LIBVIRT=${LIBVIRT:-1}		# 0: no libvirt rows
. "$REPO/bench/libvirt_lab.sh"
# shellcheck disable=SC2034  # read by libvirt_migrate
LIBVIRT_MIGRATE_TIMEOUT=$PLAIN_TIMEOUT
# MIGRATION_MEMORY: ternd's migration-memory (unset: auto, which under TCG
# with QEMU 7.2 copies memory with the VM paused; live measures the live
# copy, with the lost writes QEMU 7.2 has under TCG)

work=$(mktemp -d /tmp/tern-bench-migrate-work.XXXXXX)
plain_pid=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ -n "$plain_pid" ]; then kill "$plain_pid" 2>/dev/null || true; fi
	# The plain QEMUs, by the PIDs they wrote (lab.sh down would also
	# find them: their command lines name the lab directory).
	for f in "$TERN_LAB"/plain-*/*.pid; do
		if [ -f "$f" ]; then kill -9 "$(cat "$f")" 2>/dev/null || true; fi
	done
	libvirt_down "$TERN_LAB" || true
	"$LAB" down >/dev/null 2>&1 || "$LAB" down >&2 || true
	if [ -n "${BENCH_KEEP:-}" ]; then
		mkdir -p "$BENCH_KEEP" && cp -a "$work"/. "$BENCH_KEEP"/
	fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
for f in vmlinuz initrd.img; do
	[ -f "$GUEST/$f" ] || { echo "no $GUEST/$f: build the test guest" \
	    "(bash tests/guest/build.sh $GUEST)" >&2; exit 1; }
done
[ "$LIBVIRT" = 0 ] || libvirt_install
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
mem_conf() { [ -z "${MIGRATION_MEMORY:-}" ] ||
	echo "migration-memory = $MIGRATION_MEMORY"; }
{ echo "migration-encryption = on"; mem_conf; } >"$work/ternd.conf"
"$LAB" up 2 --shared-pool --config "$work/ternd.conf" >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
other() { [ "$1" = h1 ] && echo h2 || echo h1; }
# pct P: the P-th percentile of numbers on stdin
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {if (!NR) {print "-"; exit}
	i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
median() { pct 50; }
mib() { awk '{printf "%.1f\n", $1 / 1048576}'; }

# Trust both ways.
t h1 peer add h2 "$H2_URL" --fingerprint \
    "$(t h2 host info --json | jq -r .fingerprint)" >/dev/null
t h2 peer add h1 "$H1_URL" --fingerprint \
    "$(t h1 host info --json | jq -r .fingerprint)" >/dev/null

echo "# tern migrate benchmark, $(date -u +%FT%TZ), $(nproc) cores," \
    "accel=$(t h1 host info --json | jq -r .accel)," \
    "QEMU $(t h1 host info --json | jq -r .qemu_version), $RUNS moves a" \
    "scenario back and forth h1<->h2 (shared pool), load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg);" \
    "tern's memory copy: migration-memory ${MIGRATION_MEMORY:-auto}"

# ---- 1. the link, both ways ----
: >"$work/link-tcp"; : >"$work/link-probe"
for dir in h1:h2 h2:h1; do
	set -- "${dir%:*}" "${dir#*:}"
	to_addr=$(eval echo "\$H${2#h}_ADDR")
	"$LAB" exec "$2" python3 "$REPO/bench/link_tcp.py" recv "$to_addr" \
	    7999 "$LINK_RUNS" >"$work/recv.out" 2>&1 &
	recv_pid=$!
	for _ in $(seq 50); do
		grep -q listening "$work/recv.out" 2>/dev/null && break
		sleep 0.1
	done
	"$LAB" exec "$1" python3 "$REPO/bench/link_tcp.py" send "$to_addr" \
	    7999 "$LINK_RUNS" $((LINK_MIB << 20))
	wait "$recv_pid"
	awk 'NF == 3 {print $3}' "$work/recv.out" >>"$work/link-tcp"
	for _ in $(seq "$LINK_RUNS"); do
		t "$1" --json peer measure "$2" |
		    jq -r .details.rate_bytes_per_s >>"$work/link-probe"
	done
done
tcp_rate=$(median <"$work/link-tcp")
probe_rate=$(median <"$work/link-probe")
printf '%-56s %8.1f MiB/s  (min %.1f, max %.1f; %d streams of %d MiB)\n' \
    "link, raw TCP bulk stream (python3, no TLS), median" \
    "$(mib <<<"$tcp_rate")" "$(pct 0 <"$work/link-tcp" | mib)" \
    "$(pct 100 <"$work/link-tcp" | mib)" "$((LINK_RUNS * 2))" "$LINK_MIB"
printf '%-56s %8.1f MiB/s  (min %.1f, max %.1f; %d probes of 64 MiB)\n' \
    "link, tern peer measure (ternd's HTTPS probe), median" \
    "$(mib <<<"$probe_rate")" "$(pct 0 <"$work/link-probe" | mib)" \
    "$(pct 100 <"$work/link-probe" | mib)" "$((LINK_RUNS * 2))"

# ---- 2. tern ----
OOPS='BUG: |Oops: |Kernel panic|invalid opcode: |general protection'
# console_count NAME REGEX: matches on NAME's consoles on both hosts
console_count() {
	local uuid=$1 re=$2
	cat "$H1_STATE_DIR/vms/$uuid/console.log" \
	    "$H2_STATE_DIR/vms/$uuid/console.log" 2>/dev/null |
	    grep -a -c -E "$re" || true
}
# wait_ready UUID MARK N: until MARK was printed more than N times
wait_ready() {
	local deadline=$((SECONDS + 180))
	until [ "$(console_count "$1" "$2")" -gt "$3" ]; do
		[ $SECONDS -lt $deadline ] || { echo "guest not ready" >&2; return 1; }
		sleep 0.5
	done
	sleep "$SETTLE"
}

# alive HOST NAME: the guest agent answers (tern's heartbeat is ok)
# within LIVE_WAIT s.  A guest hung by a move (a spin with interrupts off)
# prints nothing; this is how it shows.
alive() {
	local deadline=$((SECONDS + LIVE_WAIT))
	until [ "$(t "$1" vm show "$2" --json | jq -r .guest.heartbeat)" = ok ]
	do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.5
	done
}

# tern_scenario KEY NAME MEMORY WORKLOAD: RUNS moves, one JSON line each
# in $work/KEY.jsonl: the job's details, plus "ok", "oops" (kernel oopses
# the guest printed after the move) and "alive" (its agent answered after
# the move).  A guest that oopsed or hangs is restarted where it is, so
# every move carries a live guest.
tern_scenario() {
	local key=$1 name=$2 mem=$3 wl=$4 at=h1 mark uuid n job ok oops live
	mark="TERN-GUEST-READY"
	[ "$wl" = idle ] || mark="TERN-DIRTY start"
	t h1 vm create "$name" --cpus 1 --memory "$mem" --disk 256M@shared \
	    --disk 64M@shared --kernel "$GUEST/vmlinuz" \
	    --initrd "$GUEST/initrd.img" --cmdline "console=ttyS0 quiet \
tern.hostname=$name tern.workload=$wl" >/dev/null
	uuid=$(t h1 vm show "$name" --json | jq -r .uuid)
	t h1 vm start "$name" >/dev/null
	wait_ready "$uuid" "$mark" 0
	alive h1 "$name" || { echo "$name: no guest agent" >&2; return 1; }
	: >"$work/$key.jsonl"
	for _ in $(seq "$RUNS"); do
		oops=$(console_count "$uuid" "$OOPS")
		ok=true
		job=$(t "$at" --json vm move "$name" --to "$(other "$at")") ||
		    ok=false
		[ -n "$job" ] || job='{"error": "tern vm move printed no job"}'
		$ok && at=$(other "$at")
		live=true
		alive "$at" "$name" || live=false
		sleep "$SETTLE"
		oops=$(( $(console_count "$uuid" "$OOPS") - oops ))
		jq -c --argjson ok "$ok" --argjson oops "$oops" \
		    --argjson alive "$live" '(.details // {}) + {ok: $ok,
		    oops: $oops, alive: $alive, error: .error}' \
		    <<<"$job" >>"$work/$key.jsonl"
		if [ "$oops" -gt 0 ] || ! $live; then
			n=$(console_count "$uuid" "$mark")
			t "$at" vm stop "$name" >/dev/null
			t "$at" vm start "$name" >/dev/null
			wait_ready "$uuid" "$mark" "$n"
			alive "$at" "$name" ||
			    { echo "$name: no guest agent" >&2; return 1; }
		fi
	done
	t "$at" vm stop "$name" >/dev/null
	t "$at" vm delete "$name" >/dev/null
}

idle_wl=idle
dirty_wl="dirty:$DIRTY_RATE:$DIRTY_MIB"
tern_scenario idle-on b-idle 512M "$idle_wl"
tern_scenario dirty-on b-dirty 768M "$dirty_wl"
{ echo "migration-encryption = off"; mem_conf; } >"$work/ternd.conf"
for h in h1 h2; do "$LAB" stop "$h" >/dev/null 2>&1; done
for h in h1 h2; do "$LAB" start "$h" >/dev/null 2>&1; done
tern_scenario idle-off b-idle 512M "$idle_wl"
tern_scenario dirty-off b-dirty 768M "$dirty_wl"

# ---- 3. plain QEMU, the same guest between the same namespaces ----
# plain_scenario KEY MEMORY_MIB WORKLOAD [ARGS]: $work/KEY.jsonl
plain_scenario() {
	local key=$1 mem=$2 wl=$3 d=$TERN_LAB/plain-$1
	shift 3
	mkdir -p "$d"
	qemu-img create -q -f qcow2 "$LAB_SHARED_POOL/plain-$key-vda.qcow2" 256M
	qemu-img create -q -f qcow2 "$LAB_SHARED_POOL/plain-$key-vdb.qcow2" 64M
	python3 "$REPO/bench/plain_qemu_migrate.py" --dir "$d" --runs "$RUNS" \
	    --memory "$mem" --kernel "$GUEST/vmlinuz" \
	    --initrd "$GUEST/initrd.img" --cmdline "console=ttyS0 quiet \
tern.hostname=plain tern.workload=$wl" \
	    --disk "$LAB_SHARED_POOL/plain-$key-vda.qcow2" \
	    --disk "$LAB_SHARED_POOL/plain-$key-vdb.qcow2" \
	    --ns "$H1_NS" "$H2_NS" --addr "$H1_ADDR" "$H2_ADDR" \
	    --settle "$SETTLE" --timeout "$PLAIN_TIMEOUT" "$@" \
	    >"$work/$key.all" &
	plain_pid=$!
	wait "$plain_pid"
	plain_pid=""
	# guest_oops counts from the start; oops: this run's
	jq -cs 'map(select(.kind == "run")) | . as $r | to_entries[] |
	    .value + {oops: (.value.guest_oops - (if .key > 0 then
	    $r[.key - 1].guest_oops else 0 end))}' "$work/$key.all" \
	    >"$work/$key.jsonl"
}
# The machine type tern gives a new VM, so both run the same machine.
machine=$(t h1 host info --json | jq -r .machine_default)
plain_scenario idle-plain 512 "$idle_wl" --machine "$machine"
plain_scenario dirty-plain 768 "$dirty_wl" --ready "TERN-DIRTY start" \
    --dirty-calc 3 --alive-check --machine "$machine"
# The floor with tern's capabilities: uncapped, multifd, TLS (PSK).
floor=(--machine "$machine" --uncapped --multifd 2 --tls
    --tls-priority NORMAL:-CHACHA20-POLY1305)
plain_scenario idle-floor 512 "$idle_wl" "${floor[@]}"
plain_scenario dirty-floor 768 "$dirty_wl" --ready "TERN-DIRTY start" \
    --alive-check "${floor[@]}"

# ---- 4. libvirt 9.0, the same guest between the same namespaces ----
# libvirt_scenario KEY NAME MEMORY_MIB WORKLOAD: RUNS `virsh migrate
# --live --p2p --tls --unsafe` back and forth on the shared pool, one JSON
# line each in $work/KEY.jsonl (libvirt_migrate's, plus oops, alive,
# passes), the guest checked and restarted as tern's is.
libvirt_scenario() {
	local key=$1 name=$2 mem=$3 wl=$4 at=h1 mark j oops live n con d
	local xml=$TERN_LAB/libvirt/$name.xml
	mark="TERN-GUEST-READY"
	[ "$wl" = idle ] || mark="TERN-DIRTY start"
	con=$TERN_LAB/libvirt/$name.console
	lv_count() { grep -a -c -E "$1" "$con" 2>/dev/null || true; }
	lv_ready() {
		local deadline=$((SECONDS + 180))
		until [ "$(lv_count "$mark")" -gt "$1" ]; do
			[ $SECONDS -lt $deadline ] || return 1
			sleep 0.5
		done
		sleep "$SETTLE"
	}
	lv_live() {
		local deadline=$((SECONDS + LIVE_WAIT))
		until libvirt_alive "$1" "$name"; do
			[ $SECONDS -lt $deadline ] || return 1
			sleep 0.5
		done
	}
	for d in vda:256M vdb:64M; do
		qemu-img create -q -f qcow2 \
		    "$LAB_SHARED_POOL/$name-${d%:*}.qcow2" "${d#*:}"
	done
	libvirt_define_guest h1 "$name" "$GUEST/vmlinuz" "$GUEST/initrd.img" \
	    "console=ttyS0 quiet tern.hostname=$name tern.workload=$wl" \
	    "$LAB_SHARED_POOL/$name-vda.qcow2,$LAB_SHARED_POOL/$name-vdb.qcow2" \
	    "$mem"
	lv_ready 0 || { echo "$name: guest not ready" >&2; return 1; }
	lv_live h1 || { echo "$name: no guest agent" >&2; return 1; }
	: >"$work/$key.jsonl"
	for _ in $(seq "$RUNS"); do
		oops=$(lv_count "$OOPS")
		j=$(libvirt_migrate "$at" "$(other "$at")" "$name")
		[ "$(jq -r .ok <<<"$j")" = true ] && at=$(other "$at")
		live=true
		lv_live "$at" || live=false
		sleep "$SETTLE"
		oops=$(( $(lv_count "$OOPS") - oops ))
		jq -c --argjson oops "$oops" --argjson alive "$live" \
		    '. + {oops: $oops, alive: $alive, channels: 1,
		    stream_ms: .total_ms}' \
		    <<<"$j" >>"$work/$key.jsonl"
		if [ "$oops" -gt 0 ] || ! $live; then
			n=$(lv_count "$mark")
			libvirt_virsh "$at" destroy "$name" >/dev/null
			libvirt_virsh "$at" create "$xml" >/dev/null
			lv_ready "$n" && lv_live "$at" ||
			    { echo "$name: no guest after restart" >&2; return 1; }
		fi
	done
	libvirt_virsh "$at" destroy "$name" >/dev/null
	rm -f "$LAB_SHARED_POOL/$name"-vd?.qcow2
}
lv_skipped=""
if [ "$LIBVIRT" != 0 ]; then
	# The machine type tern gives a VM on this host (its newest pc-q35).
	LIBVIRT_MACHINE=$(t h1 host info --json | jq -r '.machines[0] // "q35"')
	libvirt_up "$TERN_LAB" h1 h2
	for s in "idle-libvirt lv-idle 512 $idle_wl" \
	    "dirty-libvirt lv-dirty 768 $dirty_wl"; do
		# In the background, so that a failure stops only this one.
		# shellcheck disable=SC2086
		libvirt_scenario $s & wait $! ||
		    lv_skipped+="${lv_skipped:+; }libvirt ${s%% *} stopped early"
		[ -f "$work/${s%% *}.jsonl" ] || : >"$work/${s%% *}.jsonl"
	done
	libvirt_down "$TERN_LAB"
fi

dirty_calc=$(jq -r 'select(.kind == "dirty-rate") | .dirty_rate_mb_s' \
    "$work/dirty-plain.all")
skipped=$(jq -r 'select(.kind == "skipped") | "\(.runs) plain runs " +
    "skipped: \(.why)"' "$work"/*-plain.all)

# ---- 5. the table ----
# col KEY JQ P: the P-th percentile of JQ over KEY's completed runs
col() { jq -r "select(.ok) | try ($2 // empty) catch empty" \
    "$work/$1.jsonl" | pct "$3"; }
row() {
	local key=$1 label=$2 n ok rate ch
	n=$(wc -l <"$work/$key.jsonl")
	ok=$(jq -r 'select(.ok) | 1' "$work/$key.jsonl" | wc -l)
	rate=$(col "$key" '(.result.bytes // .bytes) * 1000 /
	    (.result.stream_ms // .stream_ms)' 50)
	ch=$(jq -r 'select(.ok) | .channels // 1' "$work/$key.jsonl" |
	    sort -u | paste -sd/)
	printf '%-9s %-17s %5s %6s / %-6s %5s / %-5s %5s / %-5s %8s %5s %4s %7s %5s %5s %5s\n' \
	    "${key%-*}" "$label" "$ok/$n" \
	    "$(col "$key" .total_ms 50)" "$(col "$key" .total_ms 99)" \
	    "$(col "$key" '.result.downtime_ms // .downtime_ms' 50)" \
	    "$(col "$key" '.result.downtime_ms // .downtime_ms' 99)" \
	    "$(col "$key" '.result.qemu_downtime_ms // .qemu_downtime_ms' 50)" \
	    "$(col "$key" '.result.qemu_downtime_ms // .qemu_downtime_ms' 99)" \
	    "$(col "$key" '.result.bytes // .bytes' 50 | mib)" \
	    "$(col "$key" '.result.passes // .passes' 50)" "${ch:--}" \
	    "$(mib <<<"${rate/-/0}")" \
	    "$(awk -v r="${rate/-/0}" -v l="$tcp_rate" 'BEGIN {printf "%.2f", r / l}')" \
	    "$(awk -v r="${rate/-/0}" -v l="$probe_rate" 'BEGIN {printf "%.2f", r / l}')" \
	    "$(jq -s 'map(select(.oops > 0 or .alive == false)) | length' \
	    "$work/$key.jsonl")"
}
echo "# guest: 1 vCPU; idle = 512 MiB, workload idle; dirty = 768 MiB," \
    "workload $dirty_wl ($DIRTY_MIB MiB non-zero, rewritten at" \
    "$DIRTY_RATE MiB/s; QEMU's calc-dirty-rate saw ${dirty_calc:-?} MB/s)"
printf '%-9s %-17s %5s %15s %13s %13s %8s %5s %4s %7s %5s %5s %5s\n' \
    scenario way ok "total ms" "downtime ms" "qemu dt ms" "MiB sent" \
    passes ch "MiB/s" "/tcp" "/probe" crash
printf '%-9s %-17s %5s %15s %13s %13s %8s %5s %4s %7s %5s %5s %5s\n' \
    "" "" "" "p50 / p99" "p50 / p99" "p50 / p99" p50 p50 "" p50 "" "" ""
row idle-on "tern, TLS"
row idle-off "tern, no TLS"
row idle-plain "plain QEMU"
row idle-floor "QEMU uncapped,TLS"
[ "$LIBVIRT" = 0 ] || row idle-libvirt "libvirt, TLS"
row dirty-on "tern, TLS"
row dirty-off "tern, no TLS"
row dirty-plain "plain QEMU"
row dirty-floor "QEMU uncapped,TLS"
[ "$LIBVIRT" = 0 ] || row dirty-libvirt "libvirt, TLS"
cat <<EOF
# total: tern's job (check .. source QEMU gone); plain: destination spawned ..
#   source QEMU gone.  downtime: source STOP -> destination running, wall
#   clock (tern: its downtime_ms; plain: STOP and RESUME event timestamps).
#   qemu dt: QEMU's own downtime.  MiB/s: bytes / QEMU's stream time, over
#   the raw TCP and the peer-measure link rates.  ch: multifd channels tern
#   chose.  crash: moves after which the guest oopsed (its console) or
#   hung (tern: no heartbeat within ${LIVE_WAIT}s; plain, dirty guest: a
#   dirty rate of 0); the guest is then restarted where it is, so every
#   move carries a live guest.
# plain QEMU: no capabilities, max-bandwidth 128 MiB/s, downtime-limit
#   300 ms, no TLS, destination without -S; runs cancelled after
#   ${PLAIN_TIMEOUT}s do not count.  QEMU uncapped,TLS (the floor with
#   tern's capabilities): max-bandwidth 1 TiB/s, multifd with 2 channels,
#   TLS with a pre-shared key and without ChaCha20 (tern's choice on a
#   CPU with AES instructions), downtime-limit 300 ms.
EOF
[ "$LIBVIRT" = 0 ] || cat <<EOF
# libvirt $(libvirtd --version | awk '{print $NF}'): virsh migrate --live --p2p --tls --unsafe (the
#   shared pool is a local directory), libvirt's defaults (no bandwidth cap,
#   QEMU's 300 ms downtime limit, no multifd, no auto-converge), machine
#   $LIBVIRT_MACHINE.  total: libvirt's "Time elapsed", downtime: its "Total
#   downtime" (source paused -> destination running, wall clock), both
#   from the destination's completed job (domjobinfo --completed); MiB/s
#   over that total; libvirt reports no QEMU downtime; crash: an oops, or
#   no guest-agent answer within ${LIVE_WAIT}s.  virsh migrate's own wall
#   time, p50: idle $(jq -r 'select(.ok) | .wall_ms' "$work/idle-libvirt.jsonl" | pct 50) ms, dirty $(jq -r 'select(.ok) | .wall_ms' "$work/dirty-libvirt.jsonl" | pct 50) ms.  Runs not done after
#   ${PLAIN_TIMEOUT}s are aborted (virsh domjobabort) and do not count.
EOF
echo "# load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "$skipped" ] || echo "# $skipped"
[ -z "$lv_skipped" ] || echo "# $lv_skipped"
lv_keys=""
[ "$LIBVIRT" = 0 ] || lv_keys="idle-libvirt dirty-libvirt"
# shellcheck disable=SC2086
for key in idle-on dirty-on idle-off dirty-off idle-plain dirty-plain \
    idle-floor dirty-floor $lv_keys; do
	jq -r 'select(.ok | not) | "# failed: '"$key"' run: \(.error //
	    "?")"' "$work/$key.jsonl"
done | sort | uniq -c | sed -E 's/^ *([0-9]+) # (.*)/# \2 (x\1)/'
