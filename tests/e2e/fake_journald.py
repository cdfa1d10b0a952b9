#!/usr/bin/env python3
"""fake_journald.py SOCKET OUT - a stand-in for journald's native socket
(and for systemd's NOTIFY_SOCKET, whose messages use the same KEY=VALUE
lines): binds a datagram socket at SOCKET and appends each message to OUT
as one JSON object per line.  Parses both field forms of the native
protocol (systemd's "Native Journal Protocol"): KEY=VALUE\\n, and
KEY\\n<64-bit little-endian length><value>\\n for values with newlines.
Runs until killed."""
import json
import os
import socket
import struct
import sys


def parse(data):
    fields, i = {}, 0
    while i < len(data):
        nl = data.find(b"\n", i)
        if nl < 0:  # sd_notify's last line has no newline
            nl = len(data)
        line = data[i:nl]
        if b"=" in line:
            k, v = line.split(b"=", 1)
            i = nl + 1
        else:
            k = line
            (n,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            v = data[nl + 9:nl + 9 + n]
            i = nl + 9 + n + 1
        fields[k.decode()] = v.decode(errors="replace")
    return fields


def main():
    path, out = sys.argv[1], sys.argv[2]
    if os.path.exists(path):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    with open(out, "a", buffering=1) as f:
        while True:
            data = s.recv(1 << 20)
            try:
                f.write(json.dumps(parse(data)) + "\n")
            except (ValueError, struct.error):
                f.write(json.dumps({"_unparsed": data.hex()}) + "\n")


main()
