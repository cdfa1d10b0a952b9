#!/usr/bin/env bash
# STAND-IN for the tern CLI, used ONLY by tests/lab/selftest.sh to test the lab
# itself while the real CLI does not exist yet.  It understands just
#   fake-tern.sh [--socket PATH] [--host https://ADDR:PORT] host info
# and succeeds when the stand-in daemon (fake-ternd.sh) answers on the unix
# socket (PATH or $TERN_SOCKET), or with --host on ADDR:PORT over plain TCP.
set -euo pipefail

me=fake-tern
die() { printf '%s: %s\n' "$me" "$*" >&2; exit 2; }

socket=${TERN_SOCKET:-} host=""
while (($#)); do
	case $1 in
	--socket) (($# >= 2)) || die "--socket needs an argument"; socket=$2; shift 2 ;;
	--socket=*) socket=${1#--socket=}; shift ;;
	--host) (($# >= 2)) || die "--host needs an argument"; host=$2; shift 2 ;;
	--host=*) host=${1#--host=}; shift ;;
	-*) die "unknown option '$1'" ;;
	*) break ;;
	esac
done
[[ "$*" == "host info" ]] || die "this stand-in only supports 'host info' (got '$*')"

py=/usr/bin/python3
[[ -x $py ]] || py=python3

if [[ -n $host ]]; then
	[[ $host =~ ^https://([0-9.]+):([0-9]+)/?$ ]] || die "--host must be https://ADDR:PORT"
	target=(tcp "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}")
else
	[[ -n $socket ]] || die "no socket (--socket or TERN_SOCKET)"
	[[ -S $socket ]] || { printf '%s: no socket at %s\n' "$me" "$socket" >&2; exit 1; }
	target=(unix "$socket")
fi

exec "$py" -c '
import socket, sys
kind = sys.argv[1]
try:
    if kind == "tcp":
        s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=2)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(sys.argv[2])
    s.sendall(b"host info\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
except OSError as e:
    print("fake-tern: %s" % e, file=sys.stderr)
    sys.exit(1)
if not data:
    print("fake-tern: empty reply", file=sys.stderr)
    sys.exit(1)
sys.stdout.write(data.decode())
' "${target[@]}"
