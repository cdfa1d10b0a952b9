#!/usr/bin/env bash
# vnc.sh - the graphical console's costs on a 2-host lab, the test guest
# running on h1 (VGA text mode, 720x400): `RUNS` (20) screenshots through
# the API (curl on the local socket) and through `tern vm screenshot`,
# p50/p99; then `UPDATES` (50) full raw framebuffer updates (1.1 MiB each)
# read by a VNC client (tests/e2e/rfb_probe.py) straight from QEMU's
# vnc.sock (the floor), through `tern vm vnc --listen` on the local socket
# and through it over HTTPS with client certificates (h2 -> h1), and from
# a plain QEMU's own VNC over TLS (VeNCrypt with client certificates, as
# libvirt's vnc_tls serves it; h2 -> h1), as updates/s and MiB/s.
# Reports; never fails on a number.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=${TERN_GUEST:-$BUILD/guest}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
# BENCH_LAB, BENCH_LAB_ID, BENCH_LAB_NET: another lab dir, id and net
export TERN_LAB=${BENCH_LAB:-/tmp/tern-bench-vnc} \
    TERN_LAB_ID=${BENCH_LAB_ID:-bvn} LAB_NET=${BENCH_LAB_NET:-144}
LAB=$REPO/tests/lab/lab.sh
PROBE=$REPO/tests/e2e/rfb_probe.py
RUNS=${RUNS:-20}
UPDATES=${UPDATES:-50}

work=$(mktemp -d /tmp/tern-bench-vnc.XXXXXX)
fwd=
trap '[ -n "$fwd" ] && kill $fwd 2>/dev/null; "$LAB" down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
[ -f "$TERN_LAB/lab.env" ] && "$LAB" down >/dev/null 2>&1
"$LAB" up 2 >/dev/null 2>&1
. "$TERN_LAB/lab.env"
t() { local h=$1; shift; "$LAB" tern "$h" "$@"; }
pct() { sort -n | awk -v p="$1" '{a[NR]=$1} END {i=int((NR-1)*p/100+0.5)+1; print a[i]}'; }
ms() { date +%s%N; }

t h1 vm create v1 --cpus 1 --memory 256M --disk 64M --kernel "$GUEST/vmlinuz" \
    --initrd "$GUEST/initrd.img" --cmdline "console=ttyS0 quiet tern.hostname=v1" >/dev/null
t h1 vm start v1 >/dev/null
for _ in $(seq 120); do t h1 vm console v1 | grep -q TERN-GUEST-READY && break; sleep 1; done
uuid=$(t h1 vm show v1 --json | jq -r .uuid)

# times LABEL CMD...: RUNS runs of CMD, p50/p99 in ms.
times() {
	local label=$1 i a; shift
	: >"$work/t"
	for ((i = 0; i < RUNS; i++)); do
		a=$(ms); "$@" >/dev/null; echo $((($(ms) - a) / 1000)) >>"$work/t"
	done
	printf '%-44s p50 %7.1f ms  p99 %7.1f ms  (%d runs)\n' "$label" \
	    "$(awk '{print $1/1000}' "$work/t" | pct 50)" \
	    "$(awk '{print $1/1000}' "$work/t" | pct 99)" "$RUNS"
}
echo "== screenshots (PNG of 720x400)"
times "GET /v1/vms/v1/screenshot (curl, local)" \
    curl -sf --unix-socket "$H1_SOCK" -o "$work/s.png" http://ternd/v1/vms/v1/screenshot
times "tern vm screenshot (CLI, local)" t h1 vm screenshot v1 "$work/s.png"

# rate LABEL ARGS...: rfb_probe.py's figures for UPDATES updates.
rate() {
	local label=$1 out; shift
	out=$("$@" | tail -n 1)
	printf '%-44s %s  (%d updates)\n' "$label" "$out" "$UPDATES"
}
# forward PORT HOST TERN-ARGS...: tern vm vnc --listen in the background.
forward() {
	local port=$1 h=$2; shift 2
	"$LAB" exec "$h" "$TERN" "$@" vm vnc v1 --listen 127.0.0.1:$port >"$work/fwd" 2>&1 &
	fwd=$!
	for _ in $(seq 50); do grep -q forwarding "$work/fwd" && return; sleep 0.2; done
}
stop_fwd() { kill $fwd 2>/dev/null; wait $fwd 2>/dev/null || true; fwd=; }
echo "== VNC full framebuffer updates (raw, 720x400x4 bytes)"
rate "QEMU's vnc.sock directly (floor)" \
    python3 "$PROBE" "unix:$H1_RUN_DIR/vms/$uuid/vnc.sock" "$UPDATES"
forward 5941 h1 --socket "$H1_SOCK"
rate "tern vm vnc --listen (local socket)" \
    "$LAB" exec h1 python3 "$PROBE" 127.0.0.1 5941 "$UPDATES"
stop_fwd
fp1=$(t h1 host info --json | jq -r .fingerprint)
fp2=$(t h2 host info --json | jq -r .fingerprint)
t h1 peer add h2 "$H2_URL" --fingerprint "$fp2" >/dev/null
forward 5942 h2 --host "$H1_URL" --fingerprint "$fp1" \
    --cert "$H2_STATE_DIR/tls/host.crt" --key "$H2_STATE_DIR/tls/host.key"
rate "tern vm vnc --listen (HTTPS, h2 -> h1)" \
    "$LAB" exec h2 python3 "$PROBE" 127.0.0.1 5942 "$UPDATES"
stop_fwd

# The baseline an operator would use instead: QEMU's own VNC server over
# TLS (VeNCrypt X509None, the client's certificate checked), which is what
# libvirt's vnc_tls = 1 configures and remote-viewer/virt-viewer speak,
# on a plain QEMU with the same guest, TCG and VGA, in h1's namespace; the
# client in h2's, as for ternd's HTTPS path above.
pki=$work/pki
mkdir -p "$pki"
certtool --generate-privkey --key-type=ecdsa --outfile "$pki/ca-key.pem" 2>/dev/null
printf 'cn = bench-ca\nca\ncert_signing_key\nexpiration_days = 2\n' >"$pki/ca.tmpl"
certtool --generate-self-signed --load-privkey "$pki/ca-key.pem" \
    --template "$pki/ca.tmpl" --outfile "$pki/ca-cert.pem" 2>/dev/null
for who in server client; do
	certtool --generate-privkey --key-type=rsa --bits=2048 --outfile "$pki/$who-key.pem" 2>/dev/null
	printf 'cn = %s\nip_address = %s\n%s\nsigning_key\nencryption_key\nexpiration_days = 2\n' "$who" "$H1_ADDR" \
	    "$([ $who = server ] && echo tls_www_server || echo tls_www_client)" >"$pki/$who.tmpl"
	certtool --generate-certificate --load-privkey "$pki/$who-key.pem" \
	    --load-ca-certificate "$pki/ca-cert.pem" --load-ca-privkey "$pki/ca-key.pem" \
	    --template "$pki/$who.tmpl" --outfile "$pki/$who-cert.pem" 2>/dev/null
done
"$LAB" exec h1 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 -nodefaults \
    -device VGA -kernel "$GUEST/vmlinuz" -initrd "$GUEST/initrd.img" \
    -append "console=ttyS0 quiet tern.hostname=plain" -serial "file:$work/plain.console" \
    -object "tls-creds-x509,id=tls0,dir=$pki,endpoint=server,verify-peer=on" \
    -vnc "$H1_ADDR:1,tls-creds=tls0" -daemonize -pidfile "$work/plain.pid" >/dev/null
trap '[ -n "$fwd" ] && kill $fwd 2>/dev/null; [ -f "$work/plain.pid" ] && kill "$(cat "$work/plain.pid")" 2>/dev/null; "$LAB" down >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
for _ in $(seq 120); do grep -q TERN-GUEST-READY "$work/plain.console" 2>/dev/null && break; sleep 1; done
rate "QEMU's own VNC over TLS (h2 -> h1; libvirt)" \
    "$LAB" exec h2 python3 "$PROBE" --tls "$pki/ca-cert.pem,$pki/client-cert.pem,$pki/client-key.pem" \
    "$H1_ADDR" 5901 "$UPDATES"
