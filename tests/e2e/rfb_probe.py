#!/usr/bin/env python3
"""rfb_probe.py [--tls CA,CERT,KEY] HOST PORT [N] | unix:PATH [N]: a VNC
(RFB 3.8) client's handshake and N (1) full framebuffer updates, as a VNC
viewer would do it.  Prints "WIDTHxHEIGHT NAME RECTS" (and, for N > 1,
"updates/s MiB/s") and exits 0 when the server answered with at least one
rectangle; exits 1 with the reason otherwise.  bench/vnc.sh uses N > 1.
--tls: QEMU's own TLS (VeNCrypt, subtype X509None, a client certificate),
the way libvirt's vnc_tls serves a VM's screen: bench/vnc.sh's baseline."""
import socket
import ssl
import struct
import sys
import time


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


TLS = None
if len(sys.argv) > 2 and sys.argv[1] == "--tls":
    TLS = sys.argv[2].split(",")
    del sys.argv[1:3]


def connect():
    if sys.argv[1].startswith("unix:"):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(20)
        s.connect(sys.argv[1][5:])
        return s, sys.argv[2:]
    return socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20), sys.argv[3:]


def update(s, w, h):
    """One full (non-incremental) update; its raw bytes and rectangles."""
    s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))
    while True:
        kind = recv_exact(s, 1)[0]
        if kind == 0:
            break
        if kind == 2:                  # Bell
            continue
        raise SystemExit("unexpected server message %d" % kind)
    recv_exact(s, 1)
    rects = struct.unpack(">H", recv_exact(s, 2))[0]
    got = nbytes = 0
    for _ in range(rects):
        x, y, rw, rh, enc = struct.unpack(">HHHHi", recv_exact(s, 12))
        if enc == 0:
            recv_exact(s, rw * rh * 4)
            got += 1
            nbytes += rw * rh * 4
        elif enc == -223:              # DesktopSize pseudo-encoding
            pass
        else:
            raise SystemExit("unexpected encoding %d" % enc)
    return got, nbytes


def vencrypt(s, types):
    """VeNCrypt 0.2 with X509None (260): TLS with our certificate, then the
    security result comes over TLS.  Returns the TLS socket."""
    if 19 not in types:
        raise SystemExit("no VeNCrypt security type: %r" % types)
    s.sendall(b"\x13")
    if recv_exact(s, 2) != b"\x00\x02":
        raise SystemExit("VeNCrypt version is not 0.2")
    s.sendall(b"\x00\x02")
    if recv_exact(s, 1) != b"\x00":
        raise SystemExit("VeNCrypt 0.2 refused")
    n = recv_exact(s, 1)[0]
    subs = struct.unpack(">%dI" % n, recv_exact(s, 4 * n))
    if 260 not in subs:
        raise SystemExit("no X509None VeNCrypt subtype: %r" % (subs,))
    s.sendall(struct.pack(">I", 260))
    if recv_exact(s, 1) != b"\x01":
        raise SystemExit("X509None refused")
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=TLS[0])
    ctx.check_hostname = False         # the lab's address, pinned by the CA
    ctx.load_cert_chain(TLS[1], TLS[2])
    return ctx.wrap_socket(s)


def main():
    s, rest = connect()
    n = int(rest[0]) if rest else 1
    banner = recv_exact(s, 12)
    if banner != b"RFB 003.008\n":
        raise SystemExit("banner %r" % banner)
    s.sendall(b"RFB 003.008\n")
    n_types = recv_exact(s, 1)[0]
    types = recv_exact(s, n_types)
    if TLS:
        s = vencrypt(s, types)
    elif 1 not in types:               # None: the socket is the guard
        raise SystemExit("no 'None' security type: %r" % types)
    else:
        s.sendall(b"\x01")
    if struct.unpack(">I", recv_exact(s, 4))[0] != 0:
        raise SystemExit("security handshake failed")
    s.sendall(b"\x01")                 # ClientInit: shared
    w, h = struct.unpack(">HH", recv_exact(s, 4))
    recv_exact(s, 16)                  # pixel format
    name = recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
    s.sendall(struct.pack(">BxHi", 2, 1, 0))   # SetEncodings: Raw only
    got, _ = update(s, w, h)
    if got == 0:
        raise SystemExit("no rectangle in the update")
    print("%dx%d %s %d" % (w, h, name.decode(errors="replace"), got))
    if n > 1:
        t0, total = time.monotonic(), 0
        for _ in range(n):
            total += update(s, w, h)[1]
        dt = time.monotonic() - t0
        print("%.1f updates/s %.1f MiB/s" % (n / dt, total / dt / 2**20))


main()
