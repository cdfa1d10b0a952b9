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
#
# When corosync.conf has a quorum device (the cluster has a witness),
# corosync-qdevice runs next to Corosync in the same mount namespace (its
# lock and socket: /run/corosync-qdevice, here DIR/run/corosync-qdevice;
# it reaches Corosync over the same per-network-namespace IPC), as ternd's
# default commands do with systemctl on a host.  stop stops both.
set -euo pipefail

dir=${TERN_CLUSTER_DIR:?TERN_CLUSTER_DIR is not set}
pidfile=$dir/run/corosync.pid

qpidfile=$dir/run/corosync-qdevice/corosync-qdevice.pid

# running_pid [PIDFILE COMM]: the pid of Corosync (or of COMM) if it runs
running_pid() {
	local pid f=${1:-$pidfile} comm=${2:-corosync}
	[[ -s $f ]] || return 1
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	[[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$comm"* ]] || return 1
	echo "$pid"
}

stop() {
	stop_one "$qpidfile" corosync-qdevi
	stop_one "$pidfile" corosync
}

stop_one() {
	local pid i
	pid=$(running_pid "$1" "$2") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

start() {
	local i
	stop
	mkdir -p "$dir/run"
	rm -f "$pidfile"
	# corosync forks into the background once its configuration is read
	unshare -m --propagation private sh -c \
	    'mount --bind "$1/run" /run && exec corosync -c "$1/corosync.conf"' \
	    sh "$dir"
	# back once Corosync runs and says so in its pid file, as systemctl
	# start is (Type=notify): a stop right after finds it
	for ((i = 0; i < 100; i++)); do
		running_pid >/dev/null && break
		sleep 0.1
	done
	grep -qs 'model: net' "$dir/corosync.conf" || return 0
	mkdir -p "$dir/run/corosync-qdevice"
	rm -f "$qpidfile"
	# corosync-qdevice gives up when Corosync's IPC is not there yet
	for ((i = 0; i < 100; i++)); do
		corosync-cmapctl totem.cluster_name >/dev/null 2>&1 && break
		sleep 0.1
	done
	# it daemonizes once it has reached Corosync
	unshare -m --propagation private sh -c \
	    'mount --bind "$1/run" /run && exec corosync-qdevice' sh "$dir"
}

case ${1:-} in
start) start ;;
reload) corosync-cfgtool -R ;;
stop) stop ;;
*) echo "usage: corosync-ctl.sh start|reload|stop" >&2; exit 2 ;;
esac
