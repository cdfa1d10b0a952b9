#!/usr/bin/env bash
# test_vnc.sh - the graphical console: every VM has a VGA screen and a VNC
# server on a root-only unix socket (0600, no TCP port); `tern vm
# screenshot` saves a PNG of it; `tern vm vnc --listen` forwards a loopback
# port to it through ternd's WebSocket, over the local socket and over
# HTTPS with client certificates, and a real RFB handshake and a full
# framebuffer update go through; a VM that is off gets clear errors.
# Another host's VM through this one (`--on h2`, /v1/hosts/h2/v1/vms/...):
# its PNG, an RFB session over the WebSocket h1 relays to h2's, an unknown
# host refused, and h2's ternd killed mid-session ends h1's side only.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup vnc 143
lab up 2 >/dev/null
PROBE=$REPO/tests/e2e/rfb_probe.py
guest_create h1 v1 >/dev/null
uuid=$(vm_field h1 v1 .uuid)
sock=$(labenv H1_RUN_DIR)/vms/$uuid/vnc.sock
shot=$TERN_LAB/shot.png

check_err "screenshot of an off vm" 1 "is off" t h1 vm screenshot v1 "$shot"
check "nothing written for it" test ! -e "$shot"
check_err "vnc of an off vm" 1 "is off" t h1 vm vnc v1
check_err "vnc --listen of an off vm" 1 "is off" \
    t h1 vm vnc v1 --listen 127.0.0.1:5931
check_err "--listen on a non-loopback address" 2 "loopback" \
    t h1 vm vnc v1 --listen 0.0.0.0:5931
check_err "screenshot of an unknown vm" 1 "not found" \
    t h1 vm screenshot nosuch "$shot"

t h1 vm start v1 >/dev/null
check "guest boots" wait_for 90 console_has h1 v1 TERN-GUEST-READY
check "VNC socket exists" test -S "$sock"
check_eq "VNC socket is root's, mode 0600" "$(stat -c '%U %a' "$sock")" \
    "root 600"
qargs=$(tr '\0' '\n' </proc/"$(pgrep -f -- "-uuid $uuid" | head -1)"/cmdline)
check_eq "QEMU's VNC is the unix socket alone (no TCP)" \
    "$(grep -A1 -x -- -vnc <<<"$qargs" | grep -vx -- -vnc)" "unix:$sock"
# the screen is the last device, so the disks and NICs keep the PCI slots
# they had before VMs had one
check_eq "QEMU's last device is the VGA" \
    "$(grep -A1 -x -- -device <<<"$qargs" | grep -vx -- -device | grep -v '^--$' | tail -1)" VGA

check "vm screenshot" t h1 vm screenshot v1 "$shot"
check "it is a PNG of VGA text mode (720x400)" python3 -c "
import struct, sys
b = open('$shot', 'rb').read()
assert b[:8] == b'\\x89PNG\\r\\n\\x1a\\n', b[:8]
w, h = struct.unpack('>II', b[16:24])
assert (w, h) == (720, 400), (w, h)"
check "vm screenshot --json" bash -c \
    "$LAB_SH tern h1 vm screenshot v1 $shot.2 --json | jq -e '.bytes > 100'"
t h1 vm pause v1 >/dev/null
check "a paused vm's screenshot" t h1 vm screenshot v1 "$shot.paused"
t h1 vm resume v1 >/dev/null
check_err "screenshot into a directory that does not exist" 1 \
    "cannot write" t h1 vm screenshot v1 /nonexistent/dir/x.png

check "vm vnc says where the socket is" bash -c \
    "$LAB_SH tern h1 vm vnc v1 | grep -qF '$sock'"

# forward PORT HOST [TERN ARGS...]: `tern vm vnc --listen` in HOST's
# namespace, in the background; its PID in FWD_PID once it listens.
forward() {
	local port=$1 h=$2; shift 2
	# shellcheck disable=SC2086 # FWD_VM: the VM and its options, split
	lab exec "$h" "$TERN" "$@" vm vnc ${FWD_VM:-v1} --listen 127.0.0.1:$port \
	    >"$TERN_LAB/fwd-$port.log" 2>&1 &
	FWD_PID=$!
	e2e_at_exit "kill $FWD_PID 2>/dev/null"
	wait_for 20 grep -q forwarding "$TERN_LAB/fwd-$port.log"
}
probe() { lab exec "$1" python3 "$PROBE" 127.0.0.1 "$2"; }

forward 5931 h1 --socket "$(labenv H1_SOCK)"
check "a VNC client's handshake and framebuffer update (local socket)" \
    probe h1 5931
check "a second client after the first left" probe h1 5931
kill "$FWD_PID"; wait "$FWD_PID" 2>/dev/null || true

# Over HTTPS: h2's certificate, which h1 trusts.
fp1=$(t h1 host info --json | jq -r .fingerprint)
fp2=$(t h2 host info --json | jq -r .fingerprint)
t h1 peer add h2 "$(labenv H2_URL)" --fingerprint "$fp2" >/dev/null
forward 5932 h2 --host "$(labenv H1_URL)" --fingerprint "$fp1" \
    --cert "$(labenv H2_STATE_DIR)/tls/host.crt" \
    --key "$(labenv H2_STATE_DIR)/tls/host.key"
check "a VNC client's handshake and framebuffer update (HTTPS)" \
    probe h2 5932
kill "$FWD_PID"; wait "$FWD_PID" 2>/dev/null || true

# hold PORT TAG: a VNC client in the background that reads the banner
# (then TERN_LAB/held-TAG) and waits for the end (then TERN_LAB/closed-TAG).
hold() {
	lab exec h1 python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $1)); s.recv(12)
open('$TERN_LAB/held-$2', 'w').write('1')
s.settimeout(120)
while s.recv(4096): pass
open('$TERN_LAB/closed-$2', 'w').write('1')" &
	e2e_at_exit "kill $! 2>/dev/null"
}

# ternd stopping with a console open ends the relay cleanly; the VM runs on.
forward 5934 h1 --socket "$(labenv H1_SOCK)"
hold 5934 restart
check "a client holds the console" wait_for 20 test -e "$TERN_LAB/held-restart"
check "ternd stops cleanly with a console open" lab stop h1
check "the client's connection ended with ternd" \
    wait_for 30 test -e "$TERN_LAB/closed-restart"
kill "$FWD_PID" 2>/dev/null; wait "$FWD_PID" 2>/dev/null || true
lab start h1 >/dev/null
check_eq "the VM ran on" "$(vm_field h1 v1 .state)" running

# A client in the middle of a session when the VM stops: the relay ends.
forward 5933 h1 --socket "$(labenv H1_SOCK)"
hold 5933 stop
check "a client holds the console again" wait_for 20 test -e "$TERN_LAB/held-stop"
t h1 vm stop v1 >/dev/null
check "the VM's stop closes the client's connection" \
    wait_for 30 test -e "$TERN_LAB/closed-stop"
check_err "screenshot after stop" 1 "is off" t h1 vm screenshot v1 "$shot"
kill "$FWD_PID" 2>/dev/null; wait "$FWD_PID" 2>/dev/null || true

# -- h2's VM through h1: h1 fetches the PNG from h2 and relays the
# WebSocket over the peers' mutual TLS (h2 trusts h1 for that).
t h2 peer add h1 "$(labenv H1_URL)" --fingerprint "$fp1" >/dev/null
guest_create h2 v2 >/dev/null
t h2 vm start v2 >/dev/null
check "h2's guest boots" wait_for 90 console_has h2 v2 TERN-GUEST-READY
png_720x400() {
	python3 -c "
import struct, sys
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'\x89PNG\r\n\x1a\n', b[:8]
w, h = struct.unpack('>II', b[16:24])
assert (w, h) == (720, 400), (w, h)" "$1"
}
check "through h1, the screenshot of h2's vm" \
    t h1 vm screenshot v2 "$shot.h2" --on h2
check "it is h2's screen, a PNG of 720x400" png_720x400 "$shot.h2"
h1curl() { lab exec h1 curl -s --max-time 20 --unix-socket "$(labenv H1_SOCK)" "$@"; }
check_eq "as image/png" "$(h1curl -o /dev/null -w '%{http_code} %{content_type}' \
    http://localhost/v1/hosts/h2/v1/vms/v2/screenshot)" "200 image/png"
check_eq "h2's refusal passed back (no vm)" "$(h1curl -o /dev/null -w '%{http_code}' \
    http://localhost/v1/hosts/h2/v1/vms/nosuch/screenshot)" 404
check_eq "an unknown host's screenshot: 404" "$(h1curl -o /dev/null -w '%{http_code}' \
    http://localhost/v1/hosts/nosuch/v1/vms/v2/screenshot)" 404
check_eq "an unknown host's WebSocket: 404" "$(h1curl -o /dev/null -w '%{http_code}' \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
    http://localhost/v1/hosts/nosuch/v1/vms/v2/vnc)" 404
FWD_VM="v2 --on h2" forward 5935 h1 --socket "$(labenv H1_SOCK)"
check_eq "through h1, an RFB handshake and a full update of h2's vm" \
    "$(probe h1 5935 | cut -d' ' -f1)" 720x400
check "and a second session after it" probe h1 5935
hold 5935 fwdstop
check "a client holds h2's console through h1" \
    wait_for 20 test -e "$TERN_LAB/held-fwdstop"
check "h1's ternd stops cleanly with it open" lab stop h1
check "the client's connection ended with h1's ternd" \
    wait_for 30 test -e "$TERN_LAB/closed-fwdstop"
lab start h1 >/dev/null
hold 5935 peerkill
check "a client holds h2's console through h1 again" \
    wait_for 20 test -e "$TERN_LAB/held-peerkill"
lab kill h2 >/dev/null
check "h2's ternd killed: the client's connection through h1 ends" \
    wait_for 30 test -e "$TERN_LAB/closed-peerkill"
check "h1's ternd still answers" t h1 host info
kill "$FWD_PID" 2>/dev/null; wait "$FWD_PID" 2>/dev/null || true
lab start h2 >/dev/null

e2e_openapi_check
e2e_finish
