#!/usr/bin/env python3
"""link_tcp.py - the raw TCP floor of a link: one bulk stream of BYTES,
COUNT times, no TLS, stdlib only.

  link_tcp.py recv ADDR PORT COUNT    prints "listening", then per stream
                                      "BYTES USEC BYTES_PER_S" (timed from
                                      the first byte received to EOF)
  link_tcp.py send ADDR PORT COUNT BYTES

Run each side in its own namespace (lab.sh exec HOST ...)."""
import os, socket, sys, time


def recv(addr, port, count):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, port))
    ls.listen(1)
    print("listening", flush=True)
    buf = bytearray(1 << 20)
    for _ in range(count):
        c, _ = ls.accept()
        n, t0 = 0, None
        while True:
            k = c.recv_into(buf)
            if t0 is None:
                t0 = time.monotonic()
            if not k:
                break
            n += k
        c.close()
        dt = max(time.monotonic() - t0, 1e-6)
        print(n, int(dt * 1e6), int(n / dt), flush=True)


def send(addr, port, count, total):
    buf = os.urandom(1 << 20)
    for _ in range(count):
        for _ in range(100):
            try:
                s = socket.create_connection((addr, port))
                break
            except ConnectionRefusedError:
                time.sleep(0.05)
        sent = 0
        while sent < total:
            s.sendall(buf)
            sent += len(buf)
        s.close()
        time.sleep(0.2)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 6 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]),
             int(sys.argv[5]))
    else:
        sys.exit(__doc__)
