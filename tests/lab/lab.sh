#!/usr/bin/env bash
# tests/lab/lab.sh - multi-host test lab for tern.
#
# Creates N "hosts" on this machine, each a network namespace on a shared
# bridge with its own address and its own ternd, and lets tests manipulate
# them (stop/kill/start the daemon, cut/restore the network) and tear the lab
# down again.  Must run as root.  See tests/lab/README.md.
#
# The lab only creates: network namespaces named ${TERN_LAB_ID}-* (recorded in
# LABDIR/namespaces as they are created), veth pairs created directly inside
# those namespaces, a bridge inside the switch namespace, processes whose PIDs
# are recorded under LABDIR, and LABDIR itself.  `down` removes exactly those
# (plus QEMU processes whose command line references LABDIR, and anything still
# running inside the lab's namespaces).

set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
REPO=$(cd -- "$SCRIPT_DIR/../.." && pwd -P)

readonly LAB_PORT_DEFAULT=7443
readonly MARKER=.tern-lab
readonly NETNS_DIR=/run/netns

ready_timeout=${TERN_LAB_READY_TIMEOUT:-30}   # ternd readiness, seconds
readonly stop_timeout=20                      # `stop`: SIGTERM -> exit
readonly kill_timeout=10                      # `kill`: SIGKILL -> exit
readonly down_term_timeout=10                 # `down`: SIGTERM -> SIGKILL
readonly down_kill_timeout=5                  # `down`: SIGKILL -> exit
readonly link_timeout=10                      # links reach operstate UP
readonly restore_timeout=15                   # `restore`: ping works again

log() { printf 'lab: %s\n' "$*" >&2; }
warn() { printf 'lab: warning: %s\n' "$*" >&2; }
die() { printf 'lab: error: %s\n' "$*" >&2; exit 1; }

usage() {
	cat <<'EOF'
usage: lab.sh [--dir LABDIR] COMMAND [ARGS...]

  up N [--shared-pool] [--config FILE]  create N hosts h1..hN, start a sanlock and a ternd in each
  env                                   print LABDIR/lab.env (shell-sourceable)
  status                                per host: namespace, ternd, network, address
  tern HOST ARGS...                     run $TERN --socket <HOST's socket> ARGS... in HOST's namespace
  exec HOST CMD...                      run CMD inside HOST's namespace
  ping HOST TARGET                      one ping from HOST to TARGET (host name or address)
  stop HOST                             SIGTERM HOST's ternd, wait up to 20 s
  kill HOST                             SIGKILL HOST's ternd, wait for exit
  start HOST                            start HOST's ternd again (same arguments), wait until ready
  sanlock HOST                          start HOST's sanlock daemon again (a host back from the dead)
  cut HOST                              take HOST's network link down (both veth ends)
  restore HOST                          bring it back up and wait until HOST can ping
  witness start|stop                    run (or stop) a corosync-qnetd witness (TLS off)
                                        in namespace ID-w at 10.NET.0.9, port 5403
  down                                  remove everything the lab created

Options and environment:
  --dir LABDIR / TERN_LAB   lab directory (default /tmp/tern-lab); every command accepts it
  TERN_LAB_ID               name prefix for namespaces (default tl), used by `up`
  LAB_NET                   second octet of 10.X.0.0/24 (default 77), used by `up`
  TERND, TERN               ternd / tern binaries (default REPO/build/src/{daemon/ternd,cli/tern};
                            later commands default to the paths recorded by `up`)
  TERN_LAB_READY_TIMEOUT    seconds to wait for a ternd to become ready (default 30)
EOF
}

# ---------------------------------------------------------------- helpers

require_root() {
	[[ $EUID -eq 0 ]] || die "must run as root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)"
}

require_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || die "required tool '$t' not found in PATH"
	done
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# Sets PSTATE to the state letter from /proc/PID/stat ("" if gone). No forks.
proc_state() {
	PSTATE=""
	local stat
	{ IFS= read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 0
	stat=${stat##*) }
	PSTATE=${stat%% *}
}

# Alive = exists and is not a zombie (PID 1 here may not reap orphans).
is_alive() {
	is_uint "${1:-}" || return 1
	proc_state "$1"
	[[ -n $PSTATE && $PSTATE != Z && $PSTATE != X ]]
}

# Sets CMDLINE (arguments joined by spaces) and ARGV0 for PID. No forks.
read_cmdline() {
	CMDLINE="" ARGV0=""
	local -a a=()
	{ mapfile -d '' -t a <"/proc/$1/cmdline"; } 2>/dev/null || return 0
	((${#a[@]})) || return 0
	CMDLINE="${a[*]}" ARGV0=${a[0]}
}

# Wait until every PID given is dead; returns 1 on timeout.
wait_dead() {
	local timeout=$1 pid alive
	shift
	local deadline=$((SECONDS + timeout))
	while :; do
		alive=0
		for pid in "$@"; do
			if is_alive "$pid"; then alive=1; break; fi
		done
		((alive)) || return 0
		((SECONDS < deadline)) || return 1
		sleep 0.1
	done
}

netns_exists() { [[ -e $NETNS_DIR/$1 ]]; }

# Resolve LABDIR to an absolute path and sanity-check it.
set_labdir() {
	local d=$1
	[[ -n $d ]] || die "empty lab directory"
	[[ $d != *$'\n'* ]] || die "lab directory must not contain a newline"
	d=$(realpath -m -- "$d")
	[[ $d != / ]] || die "refusing to use / as lab directory"
	LABDIR=$d
}

load_env() {
	[[ -f $LABDIR/lab.env ]] || die "no lab at $LABDIR (no lab.env); run 'lab.sh up N' first"
	# shellcheck source=/dev/null
	source "$LABDIR/lab.env"
}

ternd_bin() { printf '%s' "${TERND:-${LAB_TERND:-$REPO/build/src/daemon/ternd}}"; }
tern_bin() { printf '%s' "${TERN:-${LAB_TERN:-$REPO/build/src/cli/tern}}"; }

# Host name (h3 or 3) -> index; validated against the loaded lab.env.
host_index() {
	local h=${1:-} i
	[[ -n $h ]] || die "missing HOST argument (h1..h${N:-N})"
	i=${h#h}
	{ is_uint "$i" && ((10#$i >= 1 && 10#$i <= N)); } || die "unknown host '$h' (lab has h1..h$N)"
	printf '%d' "$((10#$i))"
}

# hv I FIELD -> value of H<I>_<FIELD> from lab.env
hv() {
	local v="H$1_$2"
	[[ -n ${!v+x} ]] || die "lab.env lacks $v"
	printf '%s' "${!v}"
}

# PID recorded for host I if that process is alive and is ours, else "".
ternd_pid() {
	local i=$1 pidfile pid
	pidfile=$(hv "$i" PIDFILE)
	[[ -f $pidfile ]] || return 0
	pid=$(<"$pidfile")
	is_uint "$pid" || return 0
	if is_alive "$pid" && owned_pid "$pid"; then printf '%s' "$pid"; fi
}

# Ours = command line references LABDIR, or it lives in one of our namespaces.
owned_pid() {
	local pid=$1 ns
	read_cmdline "$pid"
	[[ $CMDLINE == *"$LABDIR/"* ]] && return 0
	ns=$(ip netns identify "$pid" 2>/dev/null || true)
	[[ -n $ns && $ns == "${LAB_ID:-}-"* ]] && grep -qxF -- "$ns" "$LABDIR/namespaces" 2>/dev/null
}

# Ping command: iputils ping if installed, else busybox ping, else none.
ping_cmd() {
	if command -v ping >/dev/null 2>&1; then
		printf 'ping'
	elif command -v busybox >/dev/null 2>&1 && grep -qx ping <<<"$(busybox --list 2>/dev/null)"; then
		printf 'busybox ping'
	fi
}

# One echo request from namespace NS to ADDR, 1 s timeout (needs a ping tool).
ns_ping() {
	local ns=$1 addr=$2 pc
	pc=$(ping_cmd)
	[[ -n $pc ]] || return 1
	# shellcheck disable=SC2086  # pc is "ping" or "busybox ping"
	ip netns exec "$ns" $pc -c 1 -W 1 -q "$addr" >/dev/null 2>&1
}

# Administratively up: UP among the <FLAGS> of `ip -o link show`.
link_admin_up() {
	local out
	out=$(ip -n "$1" -o link show dev "$2" 2>/dev/null) || return 1
	[[ $out =~ \<([^>]*)\> && ,${BASH_REMATCH[1]}, == *,UP,* ]]
}
# Operationally up (carrier: both veth ends up).
link_oper_up() {
	local out
	out=$(ip -n "$1" -br link show dev "$2" 2>/dev/null) || return 1
	read -r _ out _ <<<"$out"
	[[ $out == UP ]]
}

wait_links_up() { # wait_links_up I...
	local deadline=$((SECONDS + link_timeout)) i pending
	while :; do
		pending=()
		for i in "$@"; do
			link_oper_up "$(hv "$i" NS)" eth0 || pending+=("h$i")
		done
		((${#pending[@]} == 0)) && return 0
		((SECONDS < deadline)) || die "timeout after ${link_timeout}s waiting for eth0 to come up on: ${pending[*]}"
		sleep 0.1
	done
}

# ---------------------------------------------------------------- ternd

# Launch host I's ternd in the background (detached: own session, stdin
# /dev/null, output to its log, no inherited descriptors) and record its PID.
launch_ternd() {
	local i=$1 ns log pidfile argsfile bin pid
	local -a args
	ns=$(hv "$i" NS) log=$(hv "$i" LOG) pidfile=$(hv "$i" PIDFILE) argsfile=$(hv "$i" ARGSFILE)
	bin=$(ternd_bin)
	[[ -x $bin ]] || die "ternd binary not executable: $bin (build it, or set TERND)"
	[[ -f $argsfile ]] || die "missing $argsfile"
	mapfile -t args <"$argsfile"
	netns_exists "$ns" || die "namespace $ns does not exist (lab partially torn down? run 'lab.sh down')"
	printf '=== lab: %s starting %s %s\n' "$(date '+%F %T')" "$bin" "${args[*]}" >>"$log"
	(
		exec </dev/null >>"$log" 2>&1
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then { exec {fd}>&-; } 2>/dev/null || true; fi
		done
		# Not a process-group leader (no job control here), so setsid does not
		# fork, and `ip netns exec` execs: the PID stays the ternd's PID.
		exec env SANLOCK_RUN_DIR="$(hv "$i" STATE_DIR)/sanlock" \
			setsid ip netns exec "$ns" "$bin" "${args[@]}"
	) &
	pid=$!
	printf '%s\n' "$pid" >"$pidfile.tmp"
	mv -f "$pidfile.tmp" "$pidfile"
	log "h$i: started ternd (pid $pid) in $ns, log $log"
}

# Start host I's own sanlock daemon (the VMs' leases, issue 14) in its
# namespace, its socket and pid file in STATE_DIR/sanlock, where the
# host's ternd finds it (SANLOCK_RUN_DIR).  Lab only: no watchdog (-w 0;
# a production host runs sanlock.service with wdmd and a real watchdog),
# and SANLOCK_PRIVILEGED=0 because this container may not raise its
# memlock limit (CAP_SYS_RESOURCE) as sanlock otherwise insists.
launch_sanlock() {
	local i=$1 dir pid
	dir=$(hv "$i" STATE_DIR)/sanlock
	command -v sanlock >/dev/null || die "sanlock is not installed (scripts/deps.sh)"
	mkdir -p -- "$dir"
	(
		exec </dev/null >>"$dir/sanlock.log" 2>&1
		for fd in /proc/self/fd/*; do
			fd=${fd##*/}
			if ((fd > 2)); then { exec {fd}>&-; } 2>/dev/null || true; fi
		done
		exec env SANLOCK_PRIVILEGED=0 SANLOCK_RUN_DIR="$dir" setsid \
			ip netns exec "$(hv "$i" NS)" sanlock daemon -D -w 0 -l 0 -U root -G root
	) &
	pid=$!
	printf '%s\n' "$pid" >"$(hv "$i" DIR)/sanlock.pid"
	log "h$i: started sanlock (pid $pid), SANLOCK_RUN_DIR=$dir"
}

# Is host I's ternd ready? (socket exists and `tern host info` succeeds)
ternd_ready() {
	local i=$1 sock
	sock=$(hv "$i" SOCK)
	[[ -S $sock ]] || return 1
	timeout 10 ip netns exec "$(hv "$i" NS)" "$(tern_bin)" --socket "$sock" host info >/dev/null 2>&1
}

# Wait until every host I given is ready; fail early if a ternd exits.
wait_ready() {
	local deadline=$((SECONDS + ready_timeout)) i pid pending rc
	local tb
	tb=$(tern_bin)
	[[ -x $tb ]] || die "tern binary not executable: $tb (build it, or set TERN)"
	local -a dead
	while :; do
		pending=() dead=()
		for i in "$@"; do
			pid=$(<"$(hv "$i" PIDFILE)")
			if ! is_alive "$pid"; then
				if wait "$pid" 2>/dev/null; then rc=0; else rc=$?; fi
				log "h$i: ternd (pid $pid) exited with status $rc during startup; last lines of $(hv "$i" LOG):"
				tail -n 20 "$(hv "$i" LOG)" | sed 's/^/lab:   | /' >&2 || true
				dead+=("h$i")
				continue
			fi
			ternd_ready "$i" || pending+=("h$i")
		done
		((${#dead[@]} == 0)) || die "ternd failed to start on: ${dead[*]}"
		((${#pending[@]} == 0)) && return 0
		if ((SECONDS >= deadline)); then
			for i in "$@"; do
				[[ " ${pending[*]} " == *" h$i "* ]] || continue
				log "h$i: not ready; last lines of $(hv "$i" LOG):"
				tail -n 10 "$(hv "$i" LOG)" | sed 's/^/lab:   | /' >&2 || true
			done
			die "timeout after ${ready_timeout}s waiting for ternd to become ready on: ${pending[*]} (socket exists and 'tern host info' succeeds)"
		fi
		sleep 0.2
	done
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local n="" shared=0 config="" id=${TERN_LAB_ID:-tl} net=${LAB_NET:-77} port=$LAB_PORT_DEFAULT
	while (($#)); do
		case $1 in
		--shared-pool) shared=1 ;;
		--dir) (($# >= 2)) || die "--dir needs an argument"; set_labdir "$2"; shift ;;
		--dir=*) set_labdir "${1#--dir=}" ;;
		--config) (($# >= 2)) || die "--config needs an argument"; config=$2; shift ;;
		-*) die "up: unknown option '$1'" ;;
		*) [[ -z $n ]] || die "up: unexpected argument '$1'"; n=$1 ;;
		esac
		shift
	done
	[[ -n $n ]] || die "usage: lab.sh up N [--shared-pool] [--config FILE] [--dir LABDIR]"
	{ is_uint "$n" && ((10#$n >= 1 && 10#$n <= 200)); } || die "N must be 1..200, got '$n'"
	n=$((10#$n))
	[[ $id =~ ^[A-Za-z0-9][A-Za-z0-9_.]{0,31}$ ]] || die "TERN_LAB_ID must be 1-32 chars [A-Za-z0-9_.], got '$id'"
	{ is_uint "$net" && ((10#$net <= 255)); } || die "LAB_NET must be 0..255, got '$net'"
	net=$((10#$net))
	if [[ -n $config ]]; then
		[[ -f $config ]] || die "config file not found: $config"
		config=$(realpath -- "$config")
	fi

	require_root
	require_tools ip setsid realpath timeout
	local ternd tern
	ternd=$(ternd_bin) tern=$(tern_bin)
	[[ -x $ternd ]] || die "ternd binary not executable: $ternd (build it, or set TERND)"
	[[ -x $tern ]] || die "tern binary not executable: $tern (build it, or set TERN)"
	ternd=$(realpath -- "$ternd") tern=$(realpath -- "$tern")

	[[ ! -e $LABDIR/lab.env ]] || die "a lab already exists at $LABDIR (lab.env present); run 'lab.sh down' first"
	if [[ -e $LABDIR && ! -e $LABDIR/$MARKER ]]; then
		[[ -d $LABDIR ]] || die "$LABDIR exists and is not a directory"
		[[ -z $(ls -A -- "$LABDIR") ]] || die "$LABDIR exists, is not empty and is not a lab directory; refusing to use it"
	fi
	local sw="$id-sw" i ns
	local -a all_ns=("$sw")
	for ((i = 1; i <= n; i++)); do all_ns+=("$id-h$i"); done
	for ns in "${all_ns[@]}"; do
		netns_exists "$ns" && die "network namespace '$ns' already exists (another lab with TERN_LAB_ID=$id? use a different TERN_LAB_ID, or run 'down' for that lab)"
	done

	log "up: $n host(s), id $id, net 10.$net.0.0/24, dir $LABDIR"
	mkdir -p -- "$LABDIR"
	printf 'LAB_ID=%s\n' "$id" >"$LABDIR/$MARKER"
	: >"$LABDIR/namespaces"

	# From here on a failure leaves a partial lab that `down` can remove.
	trap 'rc=$?; if ((rc != 0)); then log "up failed; logs are under $LABDIR/h*/log/; run '\''lab.sh down'\'' to clean up"; fi' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	local shared_dir=""
	((shared)) && shared_dir="$LABDIR/shared"
	{
		printf '# tern lab, written by tests/lab/lab.sh up on %s; source this file.\n' "$(date '+%F %T')"
		printf '%s=%q\n' LAB_ID "$id" LAB_DIR "$LABDIR" LAB_NET "$net" LAB_PORT "$port" N "$n" \
			LAB_SW_NS "$sw" LAB_BRIDGE br0 LAB_SHARED_POOL "$shared_dir" LAB_CONFIG "$config" \
			LAB_TERND "$ternd" LAB_TERN "$tern"
		local hosts="" nss="$sw"
		for ((i = 1; i <= n; i++)); do hosts+="${hosts:+ }h$i"; nss+=" $id-h$i"; done
		printf '%s=%q\n' LAB_HOSTS "$hosts" LAB_NAMESPACES "$nss"
		for ((i = 1; i <= n; i++)); do
			local d="$LABDIR/h$i" addr="10.$net.0.$((10 + i))"
			printf '%s=%q\n' \
				"H${i}_NAME" "h$i" "H${i}_NS" "$id-h$i" "H${i}_ADDR" "$addr" "H${i}_CIDR" "$addr/24" \
				"H${i}_LISTEN" "$addr:$port" "H${i}_URL" "https://$addr:$port" \
				"H${i}_DIR" "$d" "H${i}_STATE_DIR" "$d/state" "H${i}_RUN_DIR" "$d/run" \
				"H${i}_POOL_DIR" "$d/pool" "H${i}_LOG_DIR" "$d/log" "H${i}_LOG" "$d/log/ternd.log" \
				"H${i}_SOCK" "$d/run/ternd.sock" "H${i}_PIDFILE" "$d/ternd.pid" \
				"H${i}_ARGSFILE" "$d/ternd.args" "H${i}_VETH" "veth-h$i"
		done
		printf 'LAB_READY=0\n'
	} >"$LABDIR/lab.env"
	load_env

	# Switch namespace with the bridge.
	ip netns add "$sw"
	printf '%s\n' "$sw" >>"$LABDIR/namespaces"
	ip -n "$sw" link set lo up
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0
	ip -n "$sw" link set br0 up

	# Hosts: namespace, veth pair created inside the switch namespace with its
	# peer placed directly into the host namespace as eth0.
	for ((i = 1; i <= N; i++)); do
		ns=$(hv "$i" NS)
		ip netns add "$ns"
		printf '%s\n' "$ns" >>"$LABDIR/namespaces"
		ip -n "$ns" link set lo up
		ip -n "$sw" link add "$(hv "$i" VETH)" type veth peer name eth0 netns "$ns"
		ip -n "$sw" link set "$(hv "$i" VETH)" master br0
		ip -n "$sw" link set "$(hv "$i" VETH)" up
		ip -n "$ns" addr add "$(hv "$i" CIDR)" dev eth0
		ip -n "$ns" link set eth0 up
		log "h$i: namespace $ns, eth0 $(hv "$i" CIDR)"
	done
	local -a idx=()
	for ((i = 1; i <= N; i++)); do idx+=("$i"); done
	wait_links_up "${idx[@]}"

	# Directories, ternd arguments, daemons.
	[[ -z $LAB_SHARED_POOL ]] || mkdir -p -- "$LAB_SHARED_POOL"
	for ((i = 1; i <= N; i++)); do
		mkdir -p -- "$(hv "$i" STATE_DIR)" "$(hv "$i" RUN_DIR)" "$(hv "$i" POOL_DIR)" "$(hv "$i" LOG_DIR)"
		{
			[[ -z $LAB_CONFIG ]] || printf '%s\n' --config "$LAB_CONFIG"
			printf '%s\n' --foreground --name "h$i" --state-dir "$(hv "$i" STATE_DIR)" \
				--run-dir "$(hv "$i" RUN_DIR)" --listen "$(hv "$i" LISTEN)" \
				--pool "local=$(hv "$i" POOL_DIR)"
			[[ -z $LAB_SHARED_POOL ]] || printf '%s\n' --pool "shared=$LAB_SHARED_POOL"
			# The cluster: each host's Corosync files and process
			# are its own (corosync-ctl.sh), not the machine's.
			printf '%s\n' --cluster-dir "$(hv "$i" STATE_DIR)/corosync" \
				--cluster-start "$REPO/tests/lab/corosync-ctl.sh start" \
				--cluster-reload "$REPO/tests/lab/corosync-ctl.sh reload" \
				--cluster-stop "$REPO/tests/lab/corosync-ctl.sh stop" \
				--maintenance-dir "$(hv "$i" STATE_DIR)/maintenance.d"
		} >"$(hv "$i" ARGSFILE)"
	done
	for ((i = 1; i <= N; i++)); do launch_sanlock "$i"; done
	for ((i = 1; i <= N; i++)); do launch_ternd "$i"; done
	log "waiting up to ${ready_timeout}s for $N ternd(s) to become ready"
	wait_ready "${idx[@]}"

	printf 'LAB_READY=1\n' >>"$LABDIR/lab.env"
	trap - EXIT INT TERM
	log "up: $N host(s) ready; facts in $LABDIR/lab.env (source it, or 'lab.sh env')"
}

cmd_env() {
	[[ -f $LABDIR/lab.env ]] || die "no lab at $LABDIR (no lab.env); run 'lab.sh up N' first"
	cat -- "$LABDIR/lab.env"
}

cmd_status() {
	load_env
	local i ns pid nsok td net addr bad=0
	printf 'lab: %s  id %s  %s hosts  %s\n' "$LABDIR" "$LAB_ID" "$N" \
		"$([[ ${LAB_READY:-0} == 1 ]] && echo ready || echo 'NOT READY (up incomplete)')"
	if netns_exists "$LAB_SW_NS"; then
		printf '%-5s %-16s %s\n' sw "$LAB_SW_NS" "ok (bridge $LAB_BRIDGE)"
	else
		printf '%-5s %-16s %s\n' sw "$LAB_SW_NS" missing
		bad=1
	fi
	printf '%-5s %-16s %-8s %-18s %-6s %s\n' HOST NAMESPACE NS TERND NET ADDRESS
	for ((i = 1; i <= N; i++)); do
		ns=$(hv "$i" NS)
		addr=-
		net=-
		if netns_exists "$ns"; then
			nsok=ok
			addr=$(ip -n "$ns" -4 -o addr show dev eth0 2>/dev/null | awk 'NR == 1 {print $4}') || true
			[[ -n $addr ]] || addr=none
			if ! link_admin_up "$ns" eth0 || ! link_admin_up "$LAB_SW_NS" "$(hv "$i" VETH)"; then
				net="cut"
			elif link_oper_up "$ns" eth0; then
				net=up
			else
				net=down
			fi
		else
			nsok=missing
			bad=1
		fi
		pid=$(ternd_pid "$i")
		if [[ -n $pid ]]; then td="running $pid"; else td=stopped; bad=1; fi
		printf '%-5s %-16s %-8s %-18s %-6s %s\n' "h$i" "$ns" "$nsok" "$td" "$net" "$addr"
	done
	return "$bad"
}

cmd_tern() {
	load_env
	local i
	i=$(host_index "${1:-}")
	shift
	local tb
	tb=$(tern_bin)
	[[ -x $tb ]] || die "tern binary not executable: $tb (build it, or set TERN)"
	exec ip netns exec "$(hv "$i" NS)" "$tb" --socket "$(hv "$i" SOCK)" "$@"
}

cmd_exec() {
	load_env
	local i
	i=$(host_index "${1:-}")
	shift
	(($#)) || die "usage: lab.sh exec HOST CMD..."
	exec ip netns exec "$(hv "$i" NS)" "$@"
}

cmd_ping() {
	load_env
	local i j target=${2:-}
	i=$(host_index "${1:-}")
	[[ -n $target ]] || die "usage: lab.sh ping HOST TARGET"
	[[ -n $(ping_cmd) ]] || die "no ping tool found (install iputils-ping, or busybox)"
	if [[ $target =~ ^h?[0-9]+$ ]]; then
		j=$(host_index "$target")
		target=$(hv "$j" ADDR)
	fi
	ns_ping "$(hv "$i" NS)" "$target"
}

cmd_stop() {
	load_env
	local i pid
	i=$(host_index "${1:-}")
	pid=$(ternd_pid "$i")
	if [[ -z $pid ]]; then
		log "h$i: ternd is not running"
		return 0
	fi
	log "h$i: SIGTERM to ternd (pid $pid), waiting up to ${stop_timeout}s"
	kill -TERM "$pid" 2>/dev/null || true
	wait_dead "$stop_timeout" "$pid" ||
		die "h$i: ternd (pid $pid) still running ${stop_timeout}s after SIGTERM (use 'lab.sh kill h$i')"
	rm -f -- "$(hv "$i" PIDFILE)"
	log "h$i: ternd stopped"
}

cmd_kill() {
	load_env
	local i pid
	i=$(host_index "${1:-}")
	pid=$(ternd_pid "$i")
	if [[ -z $pid ]]; then
		log "h$i: ternd is not running"
		return 0
	fi
	log "h$i: SIGKILL to ternd (pid $pid)"
	kill -KILL "$pid" 2>/dev/null || true
	wait_dead "$kill_timeout" "$pid" || die "h$i: ternd (pid $pid) still present ${kill_timeout}s after SIGKILL"
	rm -f -- "$(hv "$i" PIDFILE)"
	log "h$i: ternd killed"
}

cmd_start() {
	load_env
	local i pid
	i=$(host_index "${1:-}")
	pid=$(ternd_pid "$i")
	[[ -z $pid ]] || die "h$i: ternd already running (pid $pid); 'lab.sh stop h$i' first"
	require_root
	launch_ternd "$i"
	log "h$i: waiting up to ${ready_timeout}s for ternd to become ready"
	wait_ready "$i"
	log "h$i: ternd ready"
}

cmd_sanlock() {
	load_env
	local i pid
	i=$(host_index "${1:-}")
	pid=$(cat "$(hv "$i" DIR)/sanlock.pid" 2>/dev/null || true)
	if is_uint "$pid" && is_alive "$pid"; then
		die "h$i: sanlock already running (pid $pid)"
	fi
	require_root
	launch_sanlock "$i"
}

# The witness: a namespace ID-w on the bridge (recorded like a host's, so
# `down` removes it and what runs in it) running corosync-qnetd with TLS off
# (the lab's link is trusted; see docs/architecture.md "## The cluster"),
# its /run (lock, pid file, socket) LABDIR/witness/run in a mount namespace
# of its own.
witness_pid() {
	local f=$LABDIR/witness/run/corosync-qnetd/corosync-qnetd.pid pid
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	is_uint "$pid" && is_alive "$pid" || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == corosync-qnet* ]] || return 1
	echo "$pid"
}

witness_ns() {
	local ns=$LAB_ID-w addr=10.$LAB_NET.0.9
	netns_exists "$ns" && return 0
	ip netns add "$ns"
	printf '%s\n' "$ns" >>"$LABDIR/namespaces"
	printf '%s=%q\n' LAB_NAMESPACES "$LAB_NAMESPACES $ns" LAB_WITNESS_NS "$ns" \
		LAB_WITNESS_ADDR "$addr" >>"$LABDIR/lab.env"
	ip -n "$ns" link set lo up
	ip -n "$LAB_SW_NS" link add veth-w type veth peer name eth0 netns "$ns"
	ip -n "$LAB_SW_NS" link set veth-w master br0
	ip -n "$LAB_SW_NS" link set veth-w up
	ip -n "$ns" addr add "$addr/24" dev eth0
	ip -n "$ns" link set eth0 up
	load_env
}

cmd_witness() {
	load_env
	local pid i d=$LABDIR/witness
	case ${1:-} in
	start)
		witness_pid >/dev/null && return 0
		witness_ns
		mkdir -p "$d/run/corosync-qnetd"
		rm -f "$d/run/corosync-qnetd/corosync-qnetd.pid"
		# qnetd daemonizes once it listens
		ip netns exec "$LAB_WITNESS_NS" unshare -m --propagation private sh -c \
			'mount --bind "$1" /run && exec corosync-qnetd -s off -l "$2"' \
			sh "$d/run" "$LAB_WITNESS_ADDR" >"$d/qnetd.log" 2>&1
		for ((i = 0; i < 50; i++)); do witness_pid >/dev/null && break; sleep 0.1; done
		witness_pid >/dev/null || die "corosync-qnetd did not start (see $d/qnetd.log)"
		log "witness: corosync-qnetd at $LAB_WITNESS_ADDR:5403 in $LAB_WITNESS_NS" ;;
	stop)
		pid=$(witness_pid) || return 0
		kill -TERM "$pid"
		wait_dead 10 "$pid" || kill -KILL "$pid"
		log "witness: stopped" ;;
	*) die "usage: lab.sh witness start|stop" ;;
	esac
}

cmd_cut() {
	load_env
	local i ns
	i=$(host_index "${1:-}")
	ns=$(hv "$i" NS)
	ip -n "$LAB_SW_NS" link set "$(hv "$i" VETH)" down
	ip -n "$ns" link set eth0 down
	log "h$i: network cut (eth0 in $ns and $(hv "$i" VETH) on the bridge are down)"
}

cmd_restore() {
	load_env
	local i ns j peers=() pc
	i=$(host_index "${1:-}")
	ns=$(hv "$i" NS)
	ip -n "$LAB_SW_NS" link set "$(hv "$i" VETH)" up
	ip -n "$ns" link set eth0 up
	wait_links_up "$i"
	pc=$(ping_cmd)
	if [[ -z $pc ]]; then
		warn "no ping tool (iputils-ping or busybox); verified link state only"
		log "h$i: network restored (links up)"
		return 0
	fi
	# Reachability: any other lab host whose own link is up, else our own address.
	for ((j = 1; j <= N; j++)); do
		((j != i)) || continue
		link_oper_up "$(hv "$j" NS)" eth0 && peers+=("$(hv "$j" ADDR)")
	done
	((${#peers[@]})) || peers=("$(hv "$i" ADDR)")
	local deadline=$((SECONDS + restore_timeout)) a
	while :; do
		for a in "${peers[@]}"; do
			if ns_ping "$ns" "$a"; then
				log "h$i: network restored (pinged $a)"
				return 0
			fi
		done
		((SECONDS < deadline)) || die "h$i: timeout after ${restore_timeout}s: links are up but cannot ping ${peers[*]}"
	done
}

# Kill PIDs: SIGTERM, wait, SIGKILL, wait. Returns 1 if any survive.
terminate_pids() {
	local what=$1 pid
	shift
	(($#)) || return 0
	log "down: SIGTERM to $what: $*"
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	wait_dead "$down_term_timeout" "$@" && return 0
	local -a left=()
	for pid in "$@"; do is_alive "$pid" && left+=("$pid"); done
	log "down: still alive after ${down_term_timeout}s, SIGKILL: ${left[*]}"
	for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
	wait_dead "$down_kill_timeout" "${left[@]}" && return 0
	warn "down: $what still alive ${down_kill_timeout}s after SIGKILL: ${left[*]}"
	return 1
}

# SELF[pid]=1 for this script and its ancestors (never killed or reported).
declare -A SELF=()
collect_self() {
	local pid=$BASHPID stat
	SELF[$$]=1
	while is_uint "$pid" && ((pid > 1)); do
		SELF[$pid]=1
		{ IFS= read -r stat <"/proc/$pid/stat"; } 2>/dev/null || break
		stat=${stat##*) }
		stat=${stat#* }
		pid=${stat%% *}
	done
}

cmd_down() {
	require_root
	if [[ ! -d $LABDIR ]]; then
		log "down: no lab at $LABDIR; nothing to do"
		local id=${TERN_LAB_ID:-tl} f
		for f in "$NETNS_DIR/$id"-*; do
			[[ -e $f ]] && warn "namespace ${f##*/} exists but is not recorded by a lab at $LABDIR; left alone (ip netns del ${f##*/})"
		done
		return 0
	fi
	[[ -e $LABDIR/$MARKER || -e $LABDIR/lab.env ]] || die "$LABDIR is not a lab directory (no $MARKER); refusing to touch it"
	LAB_ID=""
	if [[ -f $LABDIR/lab.env ]]; then
		load_env
	elif [[ -f $LABDIR/$MARKER ]]; then
		LAB_ID=$(sed -n 's/^LAB_ID=//p' "$LABDIR/$MARKER")
	fi
	log "down: lab at $LABDIR (id ${LAB_ID:-?})"
	local failed=0 pidfile pid
	local -a pids=() nss=()
	collect_self

	# 1. ternds, by recorded PID.
	for pidfile in "$LABDIR"/h*/ternd.pid; do
		[[ -f $pidfile ]] || continue
		pid=$(<"$pidfile")
		is_uint "$pid" || continue
		if is_alive "$pid"; then
			if owned_pid "$pid"; then pids+=("$pid"); else warn "pid $pid from $pidfile is not a lab process (reused?); left alone"; fi
		fi
	done
	terminate_pids "ternd" "${pids[@]}" || failed=1

	# 2. QEMU processes whose command line references LABDIR.
	pids=()
	local d comm
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ -z ${SELF[$pid]:-} ]] || continue
		is_alive "$pid" || continue
		read_cmdline "$pid"
		[[ $CMDLINE == *"$LABDIR/"* ]] || continue
		comm=""
		{ IFS= read -r comm <"/proc/$pid/comm"; } 2>/dev/null || true
		if [[ ${ARGV0##*/} == qemu* || $comm == qemu* ]]; then pids+=("$pid"); fi
	done
	terminate_pids "QEMU processes referencing $LABDIR" "${pids[@]}" || failed=1

	# 2b. sanlock daemons, by recorded PID (after QEMU: a lease's loss
	# would only kill what is going anyway).
	pids=()
	for pidfile in "$LABDIR"/h*/sanlock.pid; do
		[[ -f $pidfile ]] || continue
		pid=$(<"$pidfile")
		is_uint "$pid" || continue
		if is_alive "$pid" && owned_pid "$pid"; then pids+=("$pid"); fi
	done
	terminate_pids "sanlock" "${pids[@]}" || failed=1

	# 3. Anything still running inside the lab's namespaces; 4. the namespaces.
	if [[ -f $LABDIR/namespaces ]]; then
		mapfile -t nss <"$LABDIR/namespaces"
	fi
	local ns
	pids=()
	for ns in "${nss[@]}"; do
		[[ -n $ns ]] || continue
		if [[ -z $LAB_ID || $ns != "$LAB_ID-"* ]]; then
			warn "down: '$ns' in $LABDIR/namespaces lacks the lab prefix '${LAB_ID:-?}-'; left alone"
			continue
		fi
		if [[ -n ${LAB_NAMESPACES:-} && " $LAB_NAMESPACES " != *" $ns "* ]]; then
			warn "down: '$ns' is not listed in lab.env; left alone"
			continue
		fi
		netns_exists "$ns" || continue
		while read -r pid; do
			is_uint "$pid" || continue
			[[ -z ${SELF[$pid]:-} ]] || continue
			is_alive "$pid" && pids+=("$pid")
		done < <(ip netns pids "$ns" 2>/dev/null || true)
	done
	terminate_pids "processes left in lab namespaces" "${pids[@]}" || failed=1
	for ns in "${nss[@]}"; do
		[[ -n $ns && -n $LAB_ID && $ns == "$LAB_ID-"* ]] || continue
		[[ -z ${LAB_NAMESPACES:-} || " $LAB_NAMESPACES " == *" $ns "* ]] || continue
		netns_exists "$ns" || continue
		if ip netns del "$ns"; then
			log "down: deleted namespace $ns"
		else
			warn "down: could not delete namespace $ns"
			failed=1
		fi
	done

	# Report (do not kill) other processes that still reference LABDIR.
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[[ -z ${SELF[$pid]:-} ]] || continue
		is_alive "$pid" || continue
		read_cmdline "$pid"
		[[ $CMDLINE == *"$LABDIR/"* ]] && warn "down: process $pid still references $LABDIR, not started by the lab; left alone: ${CMDLINE:0:120}"
	done

	if ((failed)); then
		die "down: some lab processes or namespaces could not be removed; $LABDIR kept (run 'lab.sh down' again)"
	fi
	# 5. The lab directory (never crossing into other file systems).
	if grep -q " $LABDIR/" /proc/self/mounts 2>/dev/null; then
		warn "down: something is mounted under $LABDIR; not crossing into it"
	fi
	rm -rf --one-file-system -- "$LABDIR" || die "down: could not remove $LABDIR"
	log "down: removed $LABDIR; lab is gone"
}

# ---------------------------------------------------------------- main

main() {
	set_labdir "${TERN_LAB:-/tmp/tern-lab}"
	while (($#)); do
		case $1 in
		--dir) (($# >= 2)) || die "--dir needs an argument"; set_labdir "$2"; shift 2 ;;
		--dir=*) set_labdir "${1#--dir=}"; shift ;;
		-h | --help | help) usage; return 0 ;;
		-*) die "unknown option '$1' (see lab.sh --help)" ;;
		*) break ;;
		esac
	done
	(($#)) || { usage >&2; exit 2; }
	local cmd=$1
	shift
	case $cmd in
	tern | exec | ping) ;; # HOST ARGS... pass through; --dir only before the command
	*)
		# Other commands accept --dir anywhere after the command too.
		local -a rest=()
		while (($#)); do
			case $1 in
			--dir) (($# >= 2)) || die "--dir needs an argument"; set_labdir "$2"; shift 2 ;;
			--dir=*) set_labdir "${1#--dir=}"; shift ;;
			*) rest+=("$1"); shift ;;
			esac
		done
		set -- "${rest[@]}"
		;;
	esac
	case $cmd in
	up) cmd_up "$@" ;;
	env) cmd_env ;;
	status) cmd_status ;;
	tern) require_root; cmd_tern "$@" ;;
	exec) require_root; cmd_exec "$@" ;;
	ping) require_root; cmd_ping "$@" ;;
	stop) require_root; cmd_stop "$@" ;;
	kill) require_root; cmd_kill "$@" ;;
	start) cmd_start "$@" ;;
	sanlock) cmd_sanlock "$@" ;;
	cut) require_root; cmd_cut "$@" ;;
	witness) require_root; cmd_witness "$@" ;;
	restore) require_root; cmd_restore "$@" ;;
	down) cmd_down ;;
	*) die "unknown command '$cmd' (see lab.sh --help)" ;;
	esac
}

main "$@"
