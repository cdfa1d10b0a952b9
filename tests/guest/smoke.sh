#!/bin/bash
# smoke.sh OUTDIR - end-to-end check of the tern test guest built by build.sh.
# Boots it under qemu-system-x86_64, talks to qemu-ga, crashes it while the
# disk writer runs, and checks `verify` passes on the image and fails on a
# corrupted copy; then reboots it, checks the writer continues, and shuts it
# down through the agent.  It must never leave a QEMU or temp files behind:
# everything lives in OUTDIR/smoke.XXXXXX and is removed on exit.
# Env: TERN_ACCEL (default: kvm:tcg if KVM looks usable, else tcg),
#      TERN_SMOKE_TIMEOUT (seconds, default 120), TERN_SMOKE_KEEP=1 keeps the work directory.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# /dev/kvm alone is not enough: inside some VMs it opens but guests never
# run (no nested virtualisation), so also require vmx/svm in the CPU flags.
if [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
	KVM=yes
else
	KVM=no
fi
if [ "$KVM" = yes ]; then ACCEL=${TERN_ACCEL:-kvm:tcg}; else ACCEL=${TERN_ACCEL:-tcg}; fi
LIMIT=${TERN_SMOKE_TIMEOUT:-120}

say() { echo "smoke: $*"; }

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}
missing=()
for p in qemu-system-x86 qemu-utils python3; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

bash "$HERE/build.sh" "$1"
OUT=$(cd "$1" && pwd)
VERIFY=$OUT/verify
QGA=(python3 "$HERE/qga.py")
SECONDS=0

W=$(mktemp -d "$OUT/smoke.XXXXXX")
QPID=
QEMU_MAY_EXIT=0
LOG=
cleanup() {
	local rc=$?
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill -KILL "$QPID" 2>/dev/null || true
		wait "$QPID" 2>/dev/null || true
	fi
	if [ "${TERN_SMOKE_KEEP:-0}" = 1 ]; then
		say "kept $W"
	else
		rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	say "FAIL: $*"
	if [ -n "$LOG" ] && [ -f "$LOG" ]; then
		say "--- last console lines ($LOG) ---"
		tail -n 25 "$LOG" | tr -d '\r' | sed 's/^/  | /'
	fi
	[ -s "$W/qemu.err" ] && sed 's/^/  qemu: /' "$W/qemu.err"
	exit 1
}

left() { echo $((LIMIT - SECONDS)); }

# wait_for DESC SECS CMD... : poll CMD every 0.1 s, bounded by SECS and the total limit
wait_for() {
	local desc=$1 secs=$2 end
	shift 2
	[ "$secs" -le "$(left)" ] || secs=$(left)
	end=$((SECONDS + secs))
	until "$@"; do
		if [ -n "$QPID" ] && [ "$QEMU_MAY_EXIT" = 0 ] && ! kill -0 "$QPID" 2>/dev/null; then
			fail "QEMU exited while waiting for $desc"
		fi
		[ "$SECONDS" -lt "$end" ] || fail "timed out after ${secs}s waiting for $desc"
		sleep 0.1
	done
}

qemu_gone() { ! kill -0 "$QPID" 2>/dev/null; }
in_log() { grep -aq -- "$1" "$LOG" 2>/dev/null; }

# boot LOG APPEND: start QEMU in the background (sets QPID, LOG)
boot() {
	LOG=$1
	rm -f "$W/qga.sock"
	say "boot: accel=$ACCEL append='$2'"
	qemu-system-x86_64 \
		-machine "pc-q35-7.2,accel=$ACCEL" -cpu max -m 256 -smp 1 \
		-nodefaults -no-user-config -display none \
		-serial "file:$LOG" \
		-chardev "socket,id=qga0,path=$W/qga.sock,server=on,wait=off" \
		-device virtio-serial-pci,id=vser0 \
		-device virtserialport,bus=vser0.0,chardev=qga0,name=org.qemu.guest_agent.0 \
		-drive "file=$W/sys.raw,format=raw,if=none,id=disk0" \
		-device virtio-blk-pci,drive=disk0,serial=sys \
		-drive "file=$W/data.qcow2,format=qcow2,if=none,id=disk1" \
		-device virtio-blk-pci,drive=disk1,serial=data \
		-netdev user,id=net0,restrict=on \
		-device virtio-net-pci,netdev=net0 \
		-kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" \
		-append "$2" 2>"$W/qemu.err" &
	QPID=$!
	BOOT_T0=$(date +%s%N)
	wait_for "TERN-GUEST-READY on the console" 90 in_log TERN-GUEST-READY
	say "guest ready after $((($(date +%s%N) - BOOT_T0) / 1000000)) ms (QEMU start to TERN-GUEST-READY)"
}

kill_qemu() {
	kill -KILL "$QPID" 2>/dev/null || true
	wait "$QPID" 2>/dev/null || true
	QPID=
}

qga() { "${QGA[@]}" -t 10 "$W/qga.sock" "$@"; }

expect_verify() {
	local want=$1 out rc=0
	shift
	out=$("$VERIFY" "$@") || rc=$?
	say "  $out"
	[ "$rc" = "$want" ] || fail "verify $* exited $rc, expected $want"
	VERIFY_OUT=$out
}

field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$2"; }

# ---- 0. host-only checks of the guest programs ----
say "host: tern-diskwriter on a 16-slot file (wraps), SIGKILL, verify"
truncate -s 64K "$W/ring.img"
"$OUT/obj/tern-diskwriter" "$W/ring.img" 0 >"$W/ring.log" &
WPID=$!
ring_wrapped() { awk '$1 == "TERN-ACK" && $2 > 40 { f = 1 } END { exit !f }' "$W/ring.log"; }
wait_for "the host ring writer to wrap" 20 ring_wrapped
kill -KILL "$WPID"
wait "$WPID" 2>/dev/null || true
expect_verify 0 --image "$W/ring.img" --format raw --console "$W/ring.log"
[ "$(field highest "$VERIFY_OUT")" -gt 16 ] || fail "writer did not wrap the ring"
say "host: verify --upto judges the ring as a backup point"
A=$(field acked "$VERIFY_OUT")
H=$(field highest "$VERIFY_OUT")
expect_verify 0 --image "$W/ring.img" --format raw --upto "$A:$H"
expect_verify 0 --image "$W/ring.img" --format raw --upto "$A"
# seq H on disk is above a HI of H-1: written after the point
expect_verify 1 --image "$W/ring.img" --format raw --upto "$A:$((H - 1))"
# seq H+1 was never written
expect_verify 1 --image "$W/ring.img" --format raw --upto "$((H + 1))"
expect_verify 2 --image "$W/ring.img" --format raw --upto "$A" --console "$W/ring.log"
say "host: tern-dirtier starts"
timeout 1 "$OUT/obj/tern-dirtier" 50 8 >"$W/dirty.log" || true
grep -q '^TERN-DIRTY start size_mib=8 rate_mib_s=50' "$W/dirty.log" || fail "tern-dirtier did not start"
# mc_page LOG: the FAIL line names the page SIGUSR1 corrupted, and only it.
mc_page() {
	local p
	p=$(grep -ao 'TERN-MEMCHECK-CORRUPTED page=[0-9]*' "$1" | sed 's/.*=//')
	[ -n "$p" ] || fail "no TERN-MEMCHECK-CORRUPTED line"
	[ "$(grep -ao 'TERN-MEMCHECK-FAIL page=[0-9]*' "$1" | sort -u)" = \
	    "TERN-MEMCHECK-FAIL page=$p" ] ||
		fail "memcheck's FAIL lines are not (only) the corrupted page $p"
}
say "host: tern-memcheck checks its pages, and a corrupted byte is caught"
"$OUT/obj/tern-memcheck" 20 8 >"$W/memcheck.log" &
MPID=$!
mc_ok() { grep -q '^TERN-MEMCHECK-OK n=[1-9]' "$W/memcheck.log"; }
wait_for "tern-memcheck's first OK line" 10 mc_ok
grep -q '^TERN-MEMCHECK-FAIL' "$W/memcheck.log" && fail "tern-memcheck failed untouched memory"
kill -USR1 "$MPID"
mc_fail() { grep -q '^TERN-MEMCHECK-FAIL page=' "$W/memcheck.log"; }
wait_for "tern-memcheck to report the corruption" 10 mc_fail
mc_page "$W/memcheck.log"
kill -KILL "$MPID"
wait "$MPID" 2>/dev/null || true

qemu-img create -q -f raw "$W/sys.raw" 16M
qemu-img create -q -f qcow2 "$W/data.qcow2" 64M
say "kvm usable on this host: $KVM (/dev/kvm writable and vmx/svm in /proc/cpuinfo); accel=$ACCEL"

# ---- 1. boot, agent, crash, verify ----
boot "$W/console1.log" "console=ttyS0 tern.hostname=tern-smoke tern.ip=192.0.2.10/24 tern.workload=disk:/dev/vdb:50+memcheck:10:16"

say "agent: guest-ping"
r=$(qga guest-ping) || fail "guest-ping failed"
[ "$r" = "{}" ] || fail "guest-ping returned $r"
say "agent: guest-get-host-name"
r=$(qga guest-get-host-name) || fail "guest-get-host-name failed"
[[ $r == *'"tern-smoke"'* ]] || fail "host name: $r"
say "agent: guest-get-osinfo"
r=$(qga guest-get-osinfo) || fail "guest-get-osinfo failed"
[[ $r == *'"tern-guest"'* ]] || fail "osinfo: $r"
say "agent: guest-network-get-interfaces"
r=$(qga guest-network-get-interfaces) || fail "guest-network-get-interfaces failed"
[[ $r == *'"192.0.2.10"'* ]] || fail "interfaces: $r"
say "agent: guest-set-time"
qga guest-set-time "{\"time\": $(date +%s%N)}" >/dev/null || fail "guest-set-time failed"
say "agent: guest-file-open/write/close + guest-exec cat"
h=$(qga guest-file-open '{"path": "/tmp/smoke.txt", "mode": "w"}') || fail "guest-file-open failed"
qga guest-file-write "{\"handle\": $h, \"buf-b64\": \"$(printf 'hello tern' | base64)\"}" >/dev/null ||
	fail "guest-file-write failed"
qga guest-file-close "{\"handle\": $h}" >/dev/null || fail "guest-file-close failed"
r=$(qga exec /bin/cat /tmp/smoke.txt) || fail "guest-exec failed"
[ "$r" = "hello tern" ] || fail "guest-exec cat returned '$r'"
r=$(qga exec /bin/ls /dev/disk/by-id) || fail "guest-exec ls failed"
[[ $r == *virtio-data* ]] || fail "/dev/disk/by-id lacks virtio-data: $r"
say "agent: guest-fsfreeze-freeze/status/thaw"
r=$(qga guest-fsfreeze-freeze) || fail "guest-fsfreeze-freeze failed"
[ "$r" -ge 1 ] || fail "fsfreeze froze $r filesystems"
r=$(qga guest-fsfreeze-status) || fail "guest-fsfreeze-status failed"
[ "$r" = '"frozen"' ] || fail "fsfreeze status $r"
qga guest-fsfreeze-thaw >/dev/null || fail "guest-fsfreeze-thaw failed"

say "letting the disk writer run for 5 s"
sleep 5
in_log "TERN-ACK " || fail "no TERN-ACK on the console"
say "memcheck in the guest: OK lines, then SIGUSR1 corrupts a page and it says so"
wait_for "the guest's memcheck OK line" 20 in_log "TERN-MEMCHECK-OK n=[1-9]"
in_log "TERN-MEMCHECK-FAIL" && fail "memcheck failed in an untouched guest"
qga exec /bin/sh -c 'kill -USR1 $(pidof tern-memcheck)' >/dev/null ||
	fail "could not signal tern-memcheck"
wait_for "the guest's memcheck to report the corruption" 20 in_log "TERN-MEMCHECK-FAIL page="
mc_page "$LOG"
say "SIGKILL QEMU (pid $QPID)"
kill_qemu
expect_verify 0 --image "$W/data.qcow2" --console "$W/console1.log"
ACKED1=$(field acked "$VERIFY_OUT")
HIGH1=$(field highest "$VERIFY_OUT")
SLOTS=$(field slots "$VERIFY_OUT")
[ "$ACKED1" -gt 0 ] || fail "nothing acknowledged"

# ---- 2. damaged copies must fail ----
say "corrupt one payload byte of the record in slot 0 (raw copy)"
qemu-img convert -f qcow2 -O raw "$W/data.qcow2" "$W/bad.raw"
printf '\xa5' | dd of="$W/bad.raw" bs=1 seek=$((48 + 100)) conv=notrunc status=none
expect_verify 1 --image "$W/bad.raw" --format raw --console "$W/console1.log"
[[ $VERIFY_OUT == *checksum* ]] || fail "corruption not reported as a checksum failure"
say "drop the last acknowledged record (raw copy)"
qemu-img convert -f qcow2 -O raw "$W/data.qcow2" "$W/lost.raw"
dd if=/dev/zero of="$W/lost.raw" bs=4096 seek=$(((ACKED1 - 1) % SLOTS)) count=1 conv=notrunc status=none
expect_verify 1 --image "$W/lost.raw" --format raw --console "$W/console1.log"
rm -f "$W/bad.raw" "$W/lost.raw"

# ---- 3. reboot: the writer continues; agent shutdown ----
boot "$W/console2.log" "console=ttyS0 tern.hostname=tern-smoke tern.workload=disk:/dev/vdb:0"
wait_for "the disk writer to start" 20 in_log "TERN-DISK start"
in_log "next=$((HIGH1 + 1)) " || fail "writer did not continue at $((HIGH1 + 1)): $(grep -a 'TERN-DISK start' "$LOG")"
say "writer continued at seq $((HIGH1 + 1)); running 2 s at full speed"
sleep 2
say "agent: guest-shutdown"
qga --no-reply guest-shutdown || fail "guest-shutdown failed"
QEMU_MAY_EXIT=1
wait_for "QEMU to power off" 30 qemu_gone
QEMU_MAY_EXIT=0
wait "$QPID" 2>/dev/null || true
QPID=
in_log "TERN-GUEST-SHUTDOWN poweroff" || fail "no TERN-GUEST-SHUTDOWN on the console"
in_log "TERN-DISK stop" || fail "disk writer was not stopped cleanly"
expect_verify 0 --image "$W/data.qcow2" --console "$W/console1.log" --console "$W/console2.log"
[ "$(field acked "$VERIFY_OUT")" -gt "$ACKED1" ] || fail "no new acks after the reboot"

say "PASS in ${SECONDS}s"
