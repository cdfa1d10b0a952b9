#!/usr/bin/env python3
"""qga.py - minimal qemu-guest-agent client for tern's test tooling (stdlib only).

Talks to the host end of the agent's virtio-serial chardev (a unix socket).
It must never be imported by product code; it is a test helper.

  qga.py [-t SECS] SOCKET COMMAND [ARGS_JSON]   print the command's "return" as JSON
  qga.py [-t SECS] SOCKET --no-reply COMMAND [ARGS_JSON]   (guest-shutdown)
  qga.py [-t SECS] SOCKET exec PROG [ARG ...]   guest-exec, wait, print its stdout,
                                                exit with the guest's exit code
Exit codes: 0 ok, 1 agent error or timeout, 2 usage.
"""
import base64
import json
import random
import socket
import sys
import time


class Agent:
    def __init__(self, path, timeout):
        self.deadline = time.monotonic() + timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self._left())
        self.sock.connect(path)
        self.buf = b""

    def _left(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for the guest agent")
        return left

    def send(self, obj):
        self.sock.settimeout(self._left())
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def recv(self):
        while True:
            nl = self.buf.find(b"\n")
            if nl >= 0:
                line, self.buf = self.buf[:nl], self.buf[nl + 1:]
                line = line.strip().lstrip(b"\xff")
                if not line:
                    continue
                try:
                    return json.loads(line)
                except ValueError:
                    continue  # leftovers of an earlier, interrupted session
            self.sock.settimeout(self._left())
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("agent socket closed")
            self.buf += chunk

    def sync(self):
        """guest-sync-delimited: flush stale input/output on the channel."""
        token = random.randint(1, 2**31 - 1)
        self.sock.settimeout(self._left())
        self.sock.sendall(b"\xff")
        self.send({"execute": "guest-sync-delimited", "arguments": {"id": token}})
        while True:
            msg = self.recv()
            if msg.get("return") == token:
                return

    def call(self, cmd, args=None, reply=True):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.send(msg)
        if not reply:
            return None
        resp = self.recv()
        if "error" in resp:
            raise RuntimeError("%s: %s" % (cmd, resp["error"].get("desc", resp["error"])))
        return resp.get("return")


def main(argv):
    timeout = 10.0
    if len(argv) >= 2 and argv[0] == "-t":
        timeout = float(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    path, rest = argv[0], argv[1:]
    agent = Agent(path, timeout)
    agent.sync()
    if rest[0] == "exec":
        if len(rest) < 2:
            print(__doc__, file=sys.stderr)
            return 2
        ret = agent.call("guest-exec", {"path": rest[1], "arg": rest[2:],
                                        "capture-output": True})
        pid = ret["pid"]
        while True:
            st = agent.call("guest-exec-status", {"pid": pid})
            if st.get("exited"):
                break
            time.sleep(0.1)
        sys.stdout.write(base64.b64decode(st.get("out-data", "")).decode(errors="replace"))
        sys.stderr.write(base64.b64decode(st.get("err-data", "")).decode(errors="replace"))
        return st.get("exitcode", 1)
    reply = True
    if rest[0] == "--no-reply":
        reply = False
        rest = rest[1:]
    args = json.loads(rest[1]) if len(rest) > 1 else None
    ret = agent.call(rest[0], args, reply=reply)
    if reply:
        print(json.dumps(ret, sort_keys=True))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (OSError, RuntimeError, TimeoutError, ValueError, KeyError) as e:
        print("qga.py: %s" % e, file=sys.stderr)
        sys.exit(1)
