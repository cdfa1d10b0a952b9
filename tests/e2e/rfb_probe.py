#!/usr/bin/env python3
"""rfb_probe.py HOST PORT: a VNC (RFB 3.8) client's handshake and one full
framebuffer update over TCP, as a VNC viewer would do it.  Prints
"WIDTHxHEIGHT NAME RECTS" and exits 0 when the server answered with at
least one rectangle; exits 1 with the reason otherwise."""
import socket
import struct
import sys


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def main():
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
    banner = recv_exact(s, 12)
    if banner != b"RFB 003.008\n":
        raise SystemExit("banner %r" % banner)
    s.sendall(b"RFB 003.008\n")
    n = recv_exact(s, 1)[0]
    types = recv_exact(s, n)
    if 1 not in types:                 # None: the socket is the guard
        raise SystemExit("no 'None' security type: %r" % types)
    s.sendall(b"\x01")
    if struct.unpack(">I", recv_exact(s, 4))[0] != 0:
        raise SystemExit("security handshake failed")
    s.sendall(b"\x01")                 # ClientInit: shared
    w, h = struct.unpack(">HH", recv_exact(s, 4))
    recv_exact(s, 16)                  # pixel format
    name = recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
    # SetEncodings: Raw only, then a full FramebufferUpdateRequest.
    s.sendall(struct.pack(">BxHi", 2, 1, 0))
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
    got = 0
    for _ in range(rects):
        x, y, rw, rh, enc = struct.unpack(">HHHHi", recv_exact(s, 12))
        if enc == 0:
            recv_exact(s, rw * rh * 4)
            got += 1
        elif enc == -223:              # DesktopSize pseudo-encoding
            pass
        else:
            raise SystemExit("unexpected encoding %d" % enc)
    if got == 0:
        raise SystemExit("no rectangle in the update")
    print("%dx%d %s %d" % (w, h, name.decode(errors="replace"), got))


main()
