#!/usr/bin/env bash
# tests/lab/selftest.sh - tests the lab (tests/lab/lab.sh) itself.
#
# Runs the lab with stand-ins for the daemon and the CLI (fake-ternd.sh,
# fake-tern.sh), so it works before the real ternd exists.  Uses its own lab
# id (tlself, plus tlself2 for a coexistence check), its own LAB_NET and a
# temporary lab directory, so it does not clash with a real lab.  Needs root.
# Prints "N passed, M failed" and exits non-zero if anything failed.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
LAB=$HERE/lab.sh

export TERN_LAB_ID=tlself
export LAB_NET=${TERN_LAB_SELFTEST_NET:-197}
export TERND=$HERE/fake-ternd.sh
export TERN=$HERE/fake-tern.sh
unset TERN_SOCKET FAKE_TERND_MODE TERN_LAB_READY_TIMEOUT
ID2=tlself2 NET2=$((LAB_NET + 1))

[[ $EUID -eq 0 ]] || { echo "selftest: must run as root" >&2; exit 2; }
for f in /run/netns/"$TERN_LAB_ID"-* /run/netns/"$ID2"-*; do
	if [[ -e $f ]]; then
		echo "selftest: namespace ${f##*/} already exists (another selftest running, or a leftover:" >&2
		echo "selftest: remove with 'ip netns del ${f##*/}'); not starting" >&2
		exit 2
	fi
done

TMP=$(mktemp -d /tmp/tern-lab-selftest.XXXXXX)
export TERN_LAB=$TMP/lab
LAB2=$TMP/lab2
planted=()   # PIDs of processes this script starts itself

cleanup() {
	local rc=$? pid
	set +e
	for d in "$TERN_LAB" "$LAB2" "$TMP/fail" "$TMP/hang"; do
		[[ -d $d ]] && "$LAB" --dir "$d" down >/dev/null 2>&1
	done
	for pid in "${planted[@]}"; do kill -KILL "$pid" 2>/dev/null; done
	rm -rf --one-file-system -- "$TMP"
	exit "$rc"
}
trap cleanup EXIT

passed=0 failed=0
pass() { passed=$((passed + 1)); printf 'ok      %s\n' "$1"; }
failc() {
	failed=$((failed + 1))
	printf 'FAIL    %s\n' "$1"
	[[ -z ${2:-} ]] || printf '%s\n' "$2" | tail -n 15 | sed 's/^/        | /'
}
# check DESC CMD...     : CMD must succeed
check() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then pass "$desc"; else failc "$desc" "$out"; fi
}
# check_fails DESC CMD...: CMD must fail
check_fails() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then failc "$desc (unexpectedly succeeded)" "$out"; else pass "$desc"; fi
}
# check_out DESC PATTERN CMD...: CMD must succeed and print PATTERN (grep -E)
check_out() {
	local desc=$1 pat=$2 out
	shift 2
	if out=$("$@" 2>&1) && grep -qE -- "$pat" <<<"$out"; then pass "$desc"; else failc "$desc" "$out"; fi
}
# check_fails_out DESC PATTERN CMD...: CMD must fail and print PATTERN
check_fails_out() {
	local desc=$1 pat=$2 out
	shift 2
	if out=$("$@" 2>&1); then
		failc "$desc (unexpectedly succeeded)" "$out"
	elif grep -qE -- "$pat" <<<"$out"; then
		pass "$desc"
	else
		failc "$desc (message lacks /$pat/)" "$out"
	fi
}

lab() { "$LAB" "$@"; }
alive() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [[ -n $s && $s != Z && $s != X ]]; }
all_dead() { local p; for p in "$@"; do ! alive "$p" || return 1; done; }
ns_left() { compgen -G "/run/netns/$1-*" || true; }
no_ns_left() { [[ -z $(ns_left "$1") ]]; }
root_links() { ip -o link show | awk -F': ' '{print $2}' | sort; }
procs_referencing() { # PIDs whose command line contains $1
	local d
	for d in /proc/[0-9]*; do
		[[ $(tr '\0' ' ' <"$d/cmdline" 2>/dev/null) == *"$1"* ]] && alive "${d#/proc/}" && echo "${d#/proc/}"
	done
	return 0
}

if command -v ping >/dev/null 2>&1; then
	PING=(ping)
elif command -v busybox >/dev/null 2>&1 && grep -qx ping <<<"$(busybox --list 2>/dev/null)"; then
	PING=(busybox ping)
else
	PING=()
fi
can_ping() { lab exec "$1" "${PING[@]}" -c 1 -W 1 "$2"; }
if ((${#PING[@]})); then
	echo "# ping tool: ${PING[*]}"
else
	echo "# no ping tool (iputils-ping or busybox): ping checks are skipped, TCP checks still run"
fi

links_before=$(root_links)

# ------------------------------------------------------------------ up
echo "# up 3 --shared-pool (lab dir $TERN_LAB, id $TERN_LAB_ID, net 10.$LAB_NET.0.0/24)"
check "up 3 --shared-pool" lab up 3 --shared-pool
if [[ ! -f $TERN_LAB/lab.env ]]; then
	failc "lab.env exists; cannot continue"
	echo "$passed passed, $failed failed"
	exit 1
fi
# shellcheck source=/dev/null
source "$TERN_LAB/lab.env"
check "lab.env: N=3, LAB_READY=1, LAB_ID=tlself" test "$N/$LAB_READY/$LAB_ID" = "3/1/tlself"
check "lab.sh env prints lab.env" cmp -s <(lab env) "$TERN_LAB/lab.env"
check "switch namespace tlself-sw exists" test -e /run/netns/tlself-sw
check_out "bridge br0 in tlself-sw has 3 ports" '^3$' bash -c "ip -n tlself-sw -o link show master br0 | wc -l"
check "root namespace links unchanged" test "$(root_links)" = "$links_before"
check "shared pool dir exists" test -d "$TERN_LAB/shared"

for i in 1 2 3; do
	ns=tlself-h$i addr=10.$LAB_NET.0.$((10 + i))
	check "h$i: namespace $ns exists" test -e "/run/netns/$ns"
	check_out "h$i: eth0 has $addr/24" "inet $addr/24" ip -n "$ns" -4 -o addr show dev eth0
	check_out "h$i: lo is up" 'LOOPBACK,UP' ip -n "$ns" -o link show dev lo
	v="H${i}_ADDR" u="H${i}_URL" s="H${i}_SOCK"
	check "h$i: lab.env ADDR/URL/SOCK" test "${!v} ${!u} ${!s}" = "$addr https://$addr:7443 $TERN_LAB/h$i/run/ternd.sock"
	check "h$i: state/run/pool/log dirs" test -d "$TERN_LAB/h$i/state" -a -d "$TERN_LAB/h$i/run" -a -d "$TERN_LAB/h$i/pool" -a -d "$TERN_LAB/h$i/log"
	check "h$i: ternd.args has local pool" grep -qxF -e "local=$TERN_LAB/h$i/pool" "$TERN_LAB/h$i/ternd.args"
	check "h$i: ternd.args has shared pool" grep -qxF -e "shared=$TERN_LAB/shared" "$TERN_LAB/h$i/ternd.args"
	pid=$(cat "$TERN_LAB/h$i/ternd.pid")
	check "h$i: ternd pid $pid alive" alive "$pid"
	check_out "h$i: ternd runs in $ns" "^$ns\$" ip netns identify "$pid"
	check "h$i: ternd is a session leader (setsid)" test "$(awk '{print $6}' "/proc/$pid/stat")" = "$pid"
	check_out "h$i: lab.sh tern h$i host info" "\"name\": \"h$i\"" lab tern "h$i" host info
done
check_out "status shows 3 running hosts" 'h3 +tlself-h3 +ok +running' lab status

# ------------------------------------------------------------------ network
check_out "h1 reaches h2's listener over the bridge (tern --host)" '"name": "h2"' lab tern h1 --host "$H2_URL" host info
if ((${#PING[@]})); then
	check "ping h2 from h1 (lab.sh exec h1 ${PING[*]})" can_ping h1 "$H2_ADDR"
	check "lab.sh ping h1 h3" lab ping h1 h3
fi
check "exec runs inside the namespace" test "$(lab exec h2 ip -4 -o addr show dev eth0 | awk '{print $4}')" = "$H2_ADDR/24"
check_out "exec passes the exit status" '^7$' bash -c "'$LAB' exec h1 sh -c 'exit 7'; echo \$?"
check_fails_out "unknown host is refused" 'unknown host' lab tern h9 host info

# ------------------------------------------------------------------ idempotency / coexistence
check_fails_out "second up on the same dir is refused" "run 'lab.sh down'" lab up 2
check_fails_out "up with the same id in another dir is refused" 'already exists' lab --dir "$TMP/other" up 1
check "... and left nothing behind" test ! -e "$TMP/other"
check "a second lab (id $ID2) comes up beside the first" env TERN_LAB_ID=$ID2 LAB_NET=$NET2 "$LAB" --dir "$LAB2" up 1
check_out "second lab's h1 answers" '"name": "h1"' lab --dir "$LAB2" tern h1 host info
check "second lab down" lab --dir "$LAB2" down
check "second lab's namespaces are gone" no_ns_left "$ID2"
check "first lab untouched by second lab's down" lab status

# ------------------------------------------------------------------ cut / restore
check "cut h2" lab cut h2
check_out "status shows h2 cut" 'h2 .* cut ' lab status
if ((${#PING[@]})); then
	check_fails "h1 cannot ping h2 while cut" can_ping h1 "$H2_ADDR"
	check "h1 can still ping h3" can_ping h1 "$H3_ADDR"
fi
check_fails "h1 cannot reach h2's listener while cut" lab tern h1 --host "$H2_URL" host info
check "h2's local socket still works while cut" lab tern h2 host info
check "restore h2" timeout 30 "$LAB" restore h2
if ((${#PING[@]})); then
	check "h1 can ping h2 after restore" can_ping h1 "$H2_ADDR"
fi
check_out "h1 reaches h2's listener after restore" '"name": "h2"' lab tern h1 --host "$H2_URL" host info

# ------------------------------------------------------------------ kill / start / stop
old3=$(cat "$TERN_LAB/h3/ternd.pid")
check "kill h3" lab kill h3
check "h3's old ternd ($old3) is dead" all_dead "$old3"
check_fails_out "status reports h3 stopped (and exits non-zero)" 'h3 .* stopped' lab status
check_fails "h3 host info fails while killed" lab tern h3 host info
check "start h3" lab start h3
new3=$(cat "$TERN_LAB/h3/ternd.pid" 2>/dev/null || echo none)
check "h3 has a new live ternd ($new3)" bash -c "[[ $new3 != $old3 ]] && kill -0 $new3"
check_out "h3 answers again" '"name": "h3"' lab tern h3 host info
check_out "h3's log shows two starts" '^2$' grep -c '^=== lab: .* starting ' "$TERN_LAB/h3/log/ternd.log"
check_fails_out "start of a running ternd is refused" 'already running' lab start h3
old1=$(cat "$TERN_LAB/h1/ternd.pid")
check "stop h1 (SIGTERM)" lab stop h1
check "h1's ternd ($old1) is gone" all_dead "$old1"
check "stop h1 again is a no-op" lab stop h1
check "start h1" lab start h1
check_out "h1 answers again" '"name": "h1"' lab tern h1 host info
check "status: all hosts running" lab status

# ------------------------------------------------------------------ down
# Plant what `down` must remove (a "VM" referencing LABDIR, a process in a lab
# namespace) and what it must leave alone (another process referencing LABDIR).
setsid bash -c "exec -a qemu-system-x86_64 /usr/bin/python3 -c 'import time; time.sleep(600)' -drive file=$TERN_LAB/h1/pool/vm.qcow2" </dev/null >/dev/null 2>&1 &
qemu=$!
setsid "$LAB" exec h2 sleep 600 </dev/null >/dev/null 2>&1 &
nsproc=$!
setsid bash -c "exec -a decoy-viewer /usr/bin/python3 -c 'import time; time.sleep(600)' $TERN_LAB/h1/log/ternd.log" </dev/null >/dev/null 2>&1 &
decoy=$!
planted+=("$qemu" "$nsproc" "$decoy")
sleep 0.5
ternds=()
for i in 1 2 3; do ternds+=("$(cat "$TERN_LAB/h$i/ternd.pid")"); done
check "planted processes are running" bash -c "kill -0 $qemu $nsproc $decoy"
check_out "planted sleeper is in tlself-h2" '^tlself-h2$' ip netns identify "$nsproc"

check "down" lab down
check "no tlself-* namespaces left" no_ns_left tlself
check "ternds dead (${ternds[*]})" all_dead "${ternds[@]}"
check "fake QEMU referencing LABDIR killed" all_dead "$qemu"
check "process inside a lab namespace killed" all_dead "$nsproc"
check "unrelated process referencing LABDIR left alone" alive "$decoy"
kill "$decoy" 2>/dev/null || true
check "LABDIR removed" test ! -e "$TERN_LAB"
check "root namespace links unchanged" test "$(root_links)" = "$links_before"
check "down again is safe" lab down

# ------------------------------------------------------------------ failure paths
check_fails_out "up with a ternd that exits (bad config) fails clearly" 'ternd failed to start on: h[12]' \
	env FAKE_TERND_MODE=fail "$LAB" --dir "$TMP/fail" up 2
check "... down after the failed up" lab --dir "$TMP/fail" down
check "... nothing left" bash -c "[[ ! -e $TMP/fail && -z \$(compgen -G '/run/netns/tlself-*') ]]"

check_fails_out "up with a ternd that never gets ready times out clearly" 'timeout after 2s' \
	env FAKE_TERND_MODE=hang TERN_LAB_READY_TIMEOUT=2 "$LAB" --dir "$TMP/hang" up 1
hung=$(cat "$TMP/hang/h1/ternd.pid" 2>/dev/null || echo 0)
check "... down after the timed-out up" lab --dir "$TMP/hang" down
check "... hung ternd ($hung) killed, nothing left" bash -c "! kill -0 $hung 2>/dev/null || [[ \$(awk '{print \$3}' /proc/$hung/stat) == Z ]]"
check "... no namespaces, no dir" bash -c "[[ ! -e $TMP/hang && -z \$(compgen -G '/run/netns/tlself-*') ]]"

check_fails_out "up with a missing ternd binary is refused" 'not executable' env TERND=/nonexistent/ternd "$LAB" --dir "$TMP/nobin" up 1
check "... before creating anything" bash -c "[[ ! -e $TMP/nobin && -z \$(compgen -G '/run/netns/tlself-*') ]]"
mkdir -p "$TMP/notlab" && touch "$TMP/notlab/precious"
check_fails_out "up refuses a non-empty non-lab dir" 'not a lab directory' lab --dir "$TMP/notlab" up 1
check_fails_out "down refuses a non-lab dir" 'not a lab directory' lab --dir "$TMP/notlab" down
check "... and leaves it alone" test -f "$TMP/notlab/precious"

# ------------------------------------------------------------------ leftovers
check "nothing left: no namespaces with the selftest prefixes" bash -c "[[ -z \$(compgen -G '/run/netns/tlself*') ]]"
check "nothing left: no live process references $TMP" test -z "$(procs_referencing "$TMP/")"

echo "$passed passed, $failed failed"
((failed == 0))
