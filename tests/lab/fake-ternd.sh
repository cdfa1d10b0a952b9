#!/usr/bin/env bash
# STAND-IN for ternd, used ONLY by tests/lab/selftest.sh to test the lab
# itself while the real daemon does not exist yet.  It is NOT ternd and does
# nothing tern-like: it parses ternd's command-line flags, then listens on
# RUN_DIR/ternd.sock (unix) and on the --listen address (plain TCP, no TLS),
# answering every connection with one line of JSON.
#
# Test hooks (environment): FAKE_TERND_MODE=fail  exit 3 at once ("bad config")
#                           FAKE_TERND_MODE=hang  run but never open the socket
set -euo pipefail

me=fake-ternd
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }

config="" name="" state_dir="" run_dir="" listen="" foreground=0
pools=()
while (($#)); do
	case $1 in
	--config | --name | --state-dir | --run-dir | --listen | --pool)
		(($# >= 2)) || die "$1 needs an argument"
		case $1 in
		--config) config=$2 ;;
		--name) name=$2 ;;
		--state-dir) state_dir=$2 ;;
		--run-dir) run_dir=$2 ;;
		--listen) listen=$2 ;;
		--pool) pools+=("$2") ;;
		esac
		shift 2
		;;
	--cluster-dir | --cluster-start | --cluster-reload | --cluster-stop | \
	--maintenance-dir)
		(($# >= 2)) || die "$1 needs an argument"
		shift 2	# the cluster's settings: no cluster here
		;;
	--foreground) foreground=1; shift ;;
	*) die "unknown argument '$1'" ;;
	esac
done

[[ -z $config || -f $config ]] || die "config file not found: $config"
[[ -n $name ]] || die "--name is required"
[[ -d $state_dir ]] || die "--state-dir must be an existing directory"
[[ -d $run_dir ]] || die "--run-dir must be an existing directory"
[[ $listen =~ ^[0-9.]+:[0-9]+$ ]] || die "--listen must be ADDR:PORT"
((foreground)) || die "this stand-in only runs with --foreground"
for p in "${pools[@]}"; do
	[[ $p == ?*=?* ]] || die "--pool must be NAME=DIR, got '$p'"
	[[ -d ${p#*=} ]] || die "pool directory does not exist: ${p#*=}"
done

case ${FAKE_TERND_MODE:-} in
fail) printf '%s: failing on purpose (FAKE_TERND_MODE=fail)\n' "$me" >&2; exit 3 ;;
esac

py=/usr/bin/python3
[[ -x $py ]] || py=python3

# exec: the PID the lab recorded stays this process; the arguments stay on the
# command line (the lab recognises its processes by LABDIR in their cmdline).
exec "$py" -c '
import json, os, selectors, signal, socket, sys, time
name, state_dir, run_dir, listen, mode = sys.argv[1:6]
pools = sys.argv[6:]
def log(msg):
    print("fake-ternd %s: %s" % (name, msg), file=sys.stderr, flush=True)
def bye(signum, frame):
    log("signal %d, exiting" % signum)
    try:
        os.unlink(sock_path)
    except OSError:
        pass
    sys.exit(0)
sock_path = os.path.join(run_dir, "ternd.sock")
signal.signal(signal.SIGTERM, bye)
signal.signal(signal.SIGINT, bye)
if mode == "hang":
    log("hanging on purpose (FAKE_TERND_MODE=hang)")
    while True:
        time.sleep(3600)
host, port = listen.rsplit(":", 1)
tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
tcp.bind((host, int(port)))
tcp.listen(16)
if os.path.exists(sock_path):
    os.unlink(sock_path)          # stale socket from a killed predecessor
unx = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unx.bind(sock_path)
unx.listen(16)
info = json.dumps({"stand_in": True, "name": name, "state_dir": state_dir,
                   "listen": listen, "pools": pools, "pid": os.getpid()})
sel = selectors.DefaultSelector()
sel.register(tcp, selectors.EVENT_READ)
sel.register(unx, selectors.EVENT_READ)
log("listening on %s and %s" % (sock_path, listen))
while True:
    for key, _ in sel.select():
        conn, _ = key.fileobj.accept()
        try:
            conn.settimeout(2)
            conn.recv(4096)
            conn.sendall((info + "\n").encode())
        except OSError as e:
            log("connection error: %s" % e)
        finally:
            conn.close()
' "$name" "$state_dir" "$run_dir" "$listen" "${FAKE_TERND_MODE:-}" "${pools[@]}"
