#!/usr/bin/env python3
"""plain_qemu_migrate.py - the floor for 'tern vm move': the same guest
migrated the plain QEMU way, as a naive tool would, between two lab
namespaces over shared storage.

The source boots in the first namespace.  Each run starts a destination
`qemu-system-x86_64 ... -incoming tcp:ADDR:PORT` (no -S: it starts the
guest by itself) in the other namespace, sends the source `migrate
tcp:ADDR:PORT` with QEMU's defaults (no capabilities, max-bandwidth 128
MiB/s, downtime-limit 300 ms, no TLS), polls query-migrate every 100 ms
until `completed`, waits for the destination's RESUME and quits the source;
the next run goes back the other way.  The command line has the shape
ternd's (src/vm/qemu.c) has: --machine (pc-q35-7.2 unless given), -cpu
max, -blockdev file+qcow2, virtio-blk, file console, guest-agent port,
-sandbox; no NIC, no -runas.

The floor with tern's capabilities: --uncapped lifts max-bandwidth (to 1
TiB/s), --multifd N turns multifd on with N channels, --tls encrypts with
a pre-shared key (tls-creds-psk, as tern does); with either of the last
two the destination starts with -incoming defer and is set up over QMP
first.  --qemu and --data-dir run another QEMU build (its -L).

Prints one JSON object a line on stdout: first {"kind":"dirty-rate"} when
--dirty-calc is set (QEMU's calc-dirty-rate on the source before the
first run, page sampling: its dirty-bitmap mode segfaults QEMU 7.2 under
TCG), then {"kind":"run"} per run:
  total_ms     destination spawned -> source QEMU gone (after quit)
  running_ms   destination spawned -> destination's RESUME event
  stream_ms    the source's query-migrate total-time
  qemu_downtime_ms  its downtime
  downtime_ms  source STOP event -> destination RESUME event, from the
               events' own (wall clock) timestamps
  bytes, passes, mbps  ram.transferred, dirty-sync-count, mbps
  guest_oops   kernel oopses on the guest's consoles so far, read
               --settle seconds after the run (a guest corrupted by a
               migration prints one)
  alive, dirty_rate_mb_s  with --alive-check: what the guest dirties
               after the run (calc-dirty-rate, 1 s); 0 means hung
A guest that oopsed or hung is restarted where it is before the next run.
A run that has not completed after --timeout seconds is cancelled (the
source keeps running) and reported with "ok": false; after --max-fail
such runs in a row the rest are skipped.  Every QEMU it started is killed
by PID on any exit; each also writes DIR/*.pid."""
import argparse, json, os, re, select, signal, socket, subprocess, sys, time
import uuid

CONNS = []


class QMP:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.s.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.s.close()
                if time.monotonic() > deadline:
                    raise TimeoutError("no QMP at " + path)
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self.replies = []
        self.greeting = None
        CONNS.append(self)
        while self.greeting is None:
            pump(timeout)
        cmd(self, "qmp_capabilities")

    def fileno(self):
        return self.s.fileno()

    def close(self):
        if self in CONNS:
            CONNS.remove(self)
        self.s.close()

    def feed(self):
        d = self.s.recv(1 << 16)
        if not d:
            self.close()
            return
        self.buf += d
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if not line.strip():
                continue
            m = json.loads(line)
            if "QMP" in m:
                self.greeting = m
            elif "event" in m:
                self.events.append(m)
            else:
                self.replies.append(m)


def pump(timeout):
    """Read whatever any connection has, for at most timeout seconds."""
    if not CONNS:
        time.sleep(timeout)
        return
    r, _, _ = select.select(CONNS, [], [], timeout)
    for c in r:
        c.feed()


def cmd(c, name, timeout=30, **args):
    msg = {"execute": name}
    if args:
        msg["arguments"] = {k.replace("_", "-"): v for k, v in args.items()}
    c.s.sendall((json.dumps(msg) + "\n").encode())
    deadline = time.monotonic() + timeout
    while not c.replies:
        if c not in CONNS:
            raise EOFError("QMP closed during " + name)
        if time.monotonic() > deadline:
            raise TimeoutError("no reply to " + name)
        pump(0.1)
    m = c.replies.pop(0)
    if "error" in m:
        raise RuntimeError(f"{name}: {m['error'].get('desc')}")
    return m["return"]


def event(c, name, timeout):
    deadline = time.monotonic() + timeout
    while True:
        for e in c.events:
            if e["event"] == name:
                return e
        if time.monotonic() > deadline:
            return None
        pump(0.1)


def ev_ms(e):
    t = e["timestamp"]
    return t["seconds"] * 1000 + t["microseconds"] / 1000


class VM:
    """One QEMU in one namespace; killed by PID at the latest on exit."""
    all = []

    def __init__(self, a, side, tag, incoming=None, extra=()):
        d = a.dir
        self.tag = tag
        self.qmp_path = f"{d}/{tag}.qmp"
        self.pidfile = f"{d}/{tag}.pid"
        argv = ["ip", "netns", "exec", a.ns[side], a.qemu,
                "-name", "guest=plain,debug-threads=on", "-uuid", a.uuid,
                "-machine", f"{a.machine},accel=tcg", "-cpu", "max",
                "-m", str(a.memory), "-smp", str(a.cpus), "-nodefaults",
                "-no-user-config", "-display", "none",
                "-msg", "timestamp=on",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-chardev", f"file,id=con0,path={d}/console-{side}.log,"
                "append=on", "-serial", "chardev:con0",
                "-chardev", f"socket,id=qga0,path={d}/{tag}.qga,"
                "server=on,wait=off",
                "-device", "virtio-serial-pci,id=vser0",
                "-device", "virtserialport,bus=vser0.0,chardev=qga0,"
                "name=org.qemu.guest_agent.0,id=qgaport"]
        for i, path in enumerate(a.disk):
            n = "vd" + chr(ord("a") + i)
            argv += ["-blockdev", json.dumps({
                "driver": "file", "filename": path, "node-name": n + "-file",
                "aio": "threads",
                "cache": {"direct": False, "no-flush": False}}),
                "-blockdev", json.dumps({"driver": "qcow2",
                "file": n + "-file", "node-name": n + "-fmt"}),
                "-device", f"virtio-blk-pci,drive={n}-fmt,id={n}"]
        argv += ["-kernel", a.kernel, "-initrd", a.initrd,
                 "-append", a.cmdline,
                 "-sandbox", "on,obsolete=deny,resourcecontrol=deny",
                 "-pidfile", self.pidfile]
        if a.data_dir:
            argv += ["-L", a.data_dir]
        if incoming:
            argv += ["-incoming", incoming]
        argv += list(extra)
        log = open(f"{d}/{tag}.log", "w")
        # `ip netns exec` execs QEMU: the child's PID is QEMU's.
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=log,
                                  start_new_session=True)
        log.close()
        VM.all.append(self)
        self.setup_done = set()
        self.qmp = None
        try:
            self.qmp = QMP(self.qmp_path)
        except TimeoutError:
            with open(f"{d}/{tag}.log") as f:
                sys.stderr.write(f.read())
            raise

    def gone(self, timeout):
        try:
            self.p.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        if self.qmp in CONNS:
            self.qmp.close()
        if self in VM.all:
            VM.all.remove(self)

    def quit(self):
        try:
            cmd(self.qmp, "quit", timeout=5)
        except (EOFError, TimeoutError, RuntimeError, OSError):
            pass
        if not self.gone(10):
            self.kill()
        self.kill()


def console_counts(a, side, texts):
    try:
        with open(f"{a.dir}/console-{side}.log", "rb") as f:
            s = f.read()
    except FileNotFoundError:
        s = b""
    return [s.count(t.encode()) for t in texts]


def wait_console(a, side, texts, timeout, base=None):
    """Until the guest printed each of texts (once more than base)."""
    base = base or [0] * len(texts)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(n > b for n, b in zip(console_counts(a, side, texts), base)):
            return
        time.sleep(0.2)
    raise TimeoutError(f"the guest did not print {texts} in {timeout} s")


OOPS = re.compile(rb"BUG: |Oops: |Kernel panic|invalid opcode: |general protection")


def oops(a):
    """Kernel oopses the guest printed so far, on both consoles."""
    n = 0
    for side in (0, 1):
        try:
            with open(f"{a.dir}/console-{side}.log", "rb") as f:
                n += len(OOPS.findall(f.read()))
        except FileNotFoundError:
            pass
    return n


def out(o):
    print(json.dumps(o), flush=True)


def dirty_rate(vm, secs):
    """MB/s the guest dirties, by QEMU's calc-dirty-rate (page sampling:
    its dirty-bitmap mode segfaults QEMU 7.2 under TCG)."""
    cmd(vm.qmp, "calc-dirty-rate", calc_time=secs, mode="page-sampling")
    deadline = time.monotonic() + secs + 30
    while time.monotonic() < deadline:
        r = cmd(vm.qmp, "query-dirty-rate")
        if r.get("status") == "measured":
            return r["dirty-rate"]
        pump(0.5)
    raise TimeoutError("calc-dirty-rate did not finish")


def migration_setup(a, vm, role):
    """What --multifd, --tls and --uncapped ask of one end (role "src" or
    "dst"); once per QEMU and role."""
    if role in vm.setup_done:
        return
    vm.setup_done.add(role)
    if a.multifd > 1:
        cmd(vm.qmp, "migrate-set-capabilities",
            capabilities=[{"capability": "multifd", "state": True}])
    params = {}
    if a.multifd > 1:
        params["multifd_channels"] = a.multifd
    if a.tls:
        oid = f"tls-{role}"
        extra = {"priority": a.tls_priority} if a.tls_priority else {}
        cmd(vm.qmp, "object-add", qom_type="tls-creds-psk", id=oid,
            dir=f"{a.dir}/psk",
            endpoint="server" if role == "dst" else "client", **extra)
        params["tls_creds"] = oid
    if a.uncapped and role == "src":
        params["max_bandwidth"] = 1 << 40
    if params:
        cmd(vm.qmp, "migrate-set-parameters", **params)


def one_run(a, i, src, side):
    dst_side = 1 - side
    port = a.port + i
    uri = f"tcp:{a.addr[dst_side]}:{port}"
    src.qmp.events.clear()
    t0 = time.time() * 1000
    if a.multifd > 1 or a.tls:
        dst = VM(a, dst_side, f"run{i}-dst", incoming="defer")
        migration_setup(a, dst, "dst")
        cmd(dst.qmp, "migrate-incoming", uri=uri)
    else:
        dst = VM(a, dst_side, f"run{i}-dst", incoming=uri)
    migration_setup(a, src, "src")
    cmd(src.qmp, "migrate", uri=uri)
    t_mig = time.monotonic()
    r = {"kind": "run", "run": i, "from": side, "ok": False}
    cancelled = False
    while True:
        pump(0.1)
        q = cmd(src.qmp, "query-migrate")
        st = q.get("status")
        if st == "completed":
            break
        if st in ("failed", "cancelled"):
            r.setdefault("error", q.get("error-desc", st))
            break
        if not cancelled and time.monotonic() - t_mig > a.timeout:
            ram = q.get("ram", {})
            r["error"] = (f"not completed after {a.timeout:g} s: "
                          f"{ram.get('remaining', 0) >> 20} MiB left after "
                          f"{ram.get('dirty-sync-count')} passes "
                          f"({ram.get('transferred', 0) >> 20} MiB sent)")
            cmd(src.qmp, "migrate_cancel")
            cancelled = True
    if st != "completed":
        dst.kill()
        return r, src, side
    ram = q["ram"]
    resume = event(dst.qmp, "RESUME", 30)
    stop = event(src.qmp, "STOP", 1)
    if resume is None:
        r["error"] = "completed, but the destination did not resume"
        dst.kill()
        src.quit()
        raise RuntimeError(r["error"])
    src.quit()
    t1 = time.time() * 1000
    r.pop("error", None)	# a cancel that came too late
    r.update(ok=True, total_ms=round(t1 - t0),
             running_ms=round(ev_ms(resume) - t0),
             stream_ms=q.get("total-time"),
             qemu_downtime_ms=q.get("downtime"),
             downtime_ms=round(ev_ms(resume) - ev_ms(stop)) if stop
             else None,
             bytes=ram.get("transferred"),
             passes=ram.get("dirty-sync-count"), mbps=ram.get("mbps"))
    return r, dst, dst_side


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dir", required=True)
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--memory", type=int, required=True, help="MiB")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--kernel", required=True)
    p.add_argument("--initrd", required=True)
    p.add_argument("--cmdline", required=True)
    p.add_argument("--disk", action="append", default=[])
    p.add_argument("--ns", nargs=2, required=True)
    p.add_argument("--addr", nargs=2, required=True)
    p.add_argument("--port", type=int, default=49200)
    p.add_argument("--ready", action="append", default=["TERN-GUEST-READY"],
                   help="console text to wait for before the first run")
    p.add_argument("--settle", type=float, default=2,
                   help="seconds the guest runs before each migration")
    p.add_argument("--timeout", type=float, default=300)
    p.add_argument("--max-fail", type=int, default=2)
    p.add_argument("--dirty-calc", type=int, default=0,
                   help="seconds of calc-dirty-rate before the first run")
    p.add_argument("--alive-check", action="store_true",
                   help="after each run, a guest that dirties nothing "
                   "(calc-dirty-rate, 1 s) counts as hung")
    p.add_argument("--qemu", default="qemu-system-x86_64")
    p.add_argument("--data-dir", help="QEMU's -L (another build's data)")
    p.add_argument("--machine", default="pc-q35-7.2")
    p.add_argument("--uncapped", action="store_true",
                   help="max-bandwidth 1 TiB/s instead of QEMU's 128 MiB/s")
    p.add_argument("--multifd", type=int, default=1,
                   help="multifd channels (1: no multifd)")
    p.add_argument("--tls", action="store_true",
                   help="TLS with a pre-shared key, as tern does")
    p.add_argument("--tls-priority",
                   help="the GnuTLS priority string of the TLS objects")
    a = p.parse_args()
    a.uuid = str(uuid.uuid4())
    if a.tls:
        os.makedirs(f"{a.dir}/psk", mode=0o700, exist_ok=True)
        with open(f"{a.dir}/psk/keys.psk", "w") as f:
            f.write("qemu:" + os.urandom(32).hex() + "\n")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        src, side = VM(a, 0, "boot"), 0
        wait_console(a, 0, a.ready, 180)
        time.sleep(a.settle)
        if a.dirty_calc:
            out({"kind": "dirty-rate", "calc_time_s": a.dirty_calc,
                 "dirty_rate_mb_s": dirty_rate(src, a.dirty_calc)})
        fails = 0
        for i in range(1, a.runs + 1):
            n_oops = oops(a)
            r, src, side = one_run(a, i, src, side)
            time.sleep(a.settle)
            r["guest_oops"] = oops(a)
            if a.alive_check:
                r["dirty_rate_mb_s"] = dirty_rate(src, 1)
                r["alive"] = r["dirty_rate_mb_s"] > 0
            out(r)
            if r["guest_oops"] > n_oops or not r.get("alive", True):
                # Restart it where it is: the next run carries a live guest.
                base = console_counts(a, side, a.ready)
                src.quit()
                src = VM(a, side, f"reboot{i}")
                wait_console(a, side, a.ready, 180, base)
                time.sleep(a.settle)
            fails = 0 if r["ok"] else fails + 1
            if fails >= a.max_fail:
                out({"kind": "skipped", "runs": a.runs - i,
                     "why": f"{fails} runs in a row did not complete"})
                break
        src.quit()
    except KeyboardInterrupt:
        sys.exit(130)
    finally:
        for vm in list(VM.all):
            vm.kill()


if __name__ == "__main__":
    main()
