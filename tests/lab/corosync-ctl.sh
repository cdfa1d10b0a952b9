#!/usr/bin/env bash
# corosync-ctl.sh start|reload|stop - Corosync for one lab host: what
# `systemctl restart corosync`, `corosync-cfgtool -R` and `systemctl stop
# corosync` are on a real host.  ternd runs it (settings cluster-start,
# -reload, -stop) inside the host's network namespace with
# TERN_CLUSTER_DIR set to the host's cluster directory, where ternd wrote
# corosync.conf and the authkey.
#
# Corosync keeps its lock file in /run (/run/corosync.pid), one per
# machine; here each host's Corosync runs in a mount namespace of its own
# whose /run is DIR/run.  Its IPC (libqb's abstract sockets) is per
# network namespace already, so ternd and corosync-quorumtool in the
# host's namespace reach their own Corosync.
set -euo pipefail

dir=${TERN_CLUSTER_DIR:?TERN_CLUSTER_DIR is not set}
pidfile=$dir/run/corosync.pid

running_pid() {
	local pid
	[[ -s $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == corosync ]] || return 1
	echo "$pid"
}

stop() {
	local pid i
	pid=$(running_pid) || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

start() {
	stop
	mkdir -p "$dir/run"
	rm -f "$pidfile"
	# corosync forks into the background once its configuration is read
	unshare -m --propagation private sh -c \
	    'mount --bind "$1/run" /run && exec corosync -c "$1/corosync.conf"' \
	    sh "$dir"
}

case ${1:-} in
start) start ;;
reload) corosync-cfgtool -R ;;
stop) stop ;;
*) echo "usage: corosync-ctl.sh start|reload|stop" >&2; exit 2 ;;
esac
