#!/usr/bin/env python3
"""plain_qemu_start.py DIR - the floor for 'tern vm start': milliseconds
from spawning qemu-system-x86_64 -daemonize -S (same machine, CPU and
-blockdev shape as tern's) to the reply of QMP 'cont', timed inside one
process so the interpreter's own start-up is not counted."""
import os, socket, subprocess, sys, time

d = sys.argv[1]
t0 = time.monotonic()
subprocess.run(["qemu-system-x86_64", "-machine", "pc-q35-7.2,accel=tcg",
    "-cpu", "max", "-m", "128", "-nodefaults", "-display", "none",
    "-blockdev", f"driver=file,filename={d}/a.qcow2,node-name=f",
    "-blockdev", "driver=qcow2,file=f,node-name=q",
    "-device", "virtio-blk-pci,drive=q",
    "-qmp", f"unix:{d}/q.sock,server=on,wait=off", "-daemonize",
    "-pidfile", f"{d}/pid", "-S"], check=True)
s = socket.socket(socket.AF_UNIX)
s.connect(f"{d}/q.sock")
f = s.makefile("rw")
f.readline()
for cmd in ('{"execute":"qmp_capabilities"}', '{"execute":"cont"}'):
    f.write(cmd + "\n")
    f.flush()
    while '"return"' not in f.readline():
        pass
print(int((time.monotonic() - t0) * 1000))
os.kill(int(open(f"{d}/pid").read()), 9)
