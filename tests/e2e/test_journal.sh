#!/usr/bin/env bash
# test_journal.sh - ternd under "systemd": with JOURNAL_STREAM naming its
# stderr, its log lines reach journald's native socket as structured
# entries (PRIORITY, MESSAGE, SYSLOG_IDENTIFIER=ternd, TERN_HOST, TERN_VM,
# TERN_JOB); without it, stderr as before.  No systemd runs here (it is
# not PID 1): in a private mount namespace (unshare -m) a tmpfs covers
# /run and fake_journald.py listens at /run/systemd/journal/socket, a
# stand-in for journald.  It also reads NOTIFY_SOCKET: READY=1, STATUS=,
# STOPPING=1.  No lab, no network: the local API socket only.
. "$(dirname "$0")/lib.sh"

if [ "${TERN_JOURNAL_INNER:-}" != 1 ]; then
	# Re-run inside a mount namespace of our own: nothing outside sees
	# the tmpfs or the fake socket, and it all goes with the process.
	exec env TERN_JOURNAL_INNER=1 unshare -m --propagation private \
	    timeout 120 bash "$0" "$@"
fi

T=$(mktemp -d /tmp/tern-journal.XXXXXX)
PIDS=()
cleanup() {
	local p
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${KEEP:-}" ] && cp "$T/journal.jsonl" "$KEEP"; rm -rf "$T"
}
trap cleanup EXIT
mount -t tmpfs -o mode=0755 tern-journal /run
mkdir -p /run/systemd/journal
python3 "$REPO/tests/e2e/fake_journald.py" /run/systemd/journal/socket \
    "$T/journal.jsonl" &
PIDS+=($!)
python3 "$REPO/tests/e2e/fake_journald.py" "$T/notify" "$T/notify.jsonl" &
PIDS+=($!)
wait_for 10 test -S /run/systemd/journal/socket -a -S "$T/notify" ||
    { echo "fake sockets did not appear"; exit 1; }

# start_ternd NAME STREAM: ternd with stderr in $T/NAME.err and
# JOURNAL_STREAM=STREAM ("match": stderr's DEV:INODE); its pid in TPID.
start_ternd() {
	local stream=$2
	: >"$T/$1.err"
	[ "$stream" = match ] && stream=$(stat -c '%d:%i' "$T/$1.err")
	mkdir -p "$T/$1/pool"
	JOURNAL_STREAM=$stream NOTIFY_SOCKET=$T/notify \
	    "$TERND" --config /dev/null --foreground --debug --name "$1" \
	    --state-dir "$T/$1/state" --run-dir "$T/$1/run" \
	    --pool "p1=$T/$1/pool" 2>>"$T/$1.err" &
	TPID=$!
	PIDS+=("$TPID")
}
tern_on() { local n=$1; shift; "$TERN" --socket "$T/$n/run/ternd.sock" "$@"; }
jq_has() { jq -e -s "$1" "$T/journal.jsonl" >/dev/null; }
ready() { grep -q '"READY": "1"' "$T/notify.jsonl"; }

start_ternd j1 match
check "READY=1 reaches NOTIFY_SOCKET" wait_for 30 ready
check "a STATUS= line before READY" jq -e -s \
    '[.[] | select(.STATUS)] | length >= 2' "$T/notify.jsonl"
check "the start line is a journald entry with ternd's fields" jq_has \
    'any(.[]; (.MESSAGE | startswith("ternd ")) and .PRIORITY == "6"
      and .SYSLOG_IDENTIFIER == "ternd" and .TERN_HOST == "j1")'
check "stderr stays empty while the journal takes the lines" \
    test ! -s "$T/j1.err"
# A VM with a disk: its job's lines carry TERN_VM and TERN_JOB.
check "vm create with a disk" tern_on j1 vm create jv1 --cpus 1 \
    --memory 64M --disk 16M@p1
job_line() {
	jq_has 'any(.[]; .TERN_VM == "jv1" and (.TERN_JOB // "" | test("^[0-9]+$"))
	    and .TERN_HOST == "j1")'
}
check "a line about the VM's job has TERN_VM and TERN_JOB" wait_for 30 job_line
# (--debug) "job=N spawn=qemu-img", logged inside the job's step, names
# no VM: its TERN_VM comes from the log context the job layer set.
check "a line inside a job step gets TERN_VM from the job's context" jq_has \
    'any(.[]; .TERN_VM == "jv1" and (.MESSAGE | test("vm=") | not))'
check "no CODE_FILE naming the sink" jq_has 'all(.[]; has("CODE_FILE") | not)'
check "vm delete" tern_on j1 vm delete jv1
kill "$TPID"
check "STOPPING=1 on SIGTERM" wait_for 20 \
    grep -q '"STOPPING": "1"' "$T/notify.jsonl"
check "ternd exits on SIGTERM" wait_for 30 bash -c "! kill -0 $TPID"

# JOURNAL_STREAM naming another file: not the journal, lines on stderr.
n_before=$(wc -l <"$T/journal.jsonl")
start_ternd j2 "1:1"
check "without a matching JOURNAL_STREAM, lines go to stderr" wait_for 30 \
    grep -q 'ternd .* started name=j2' "$T/j2.err"
check_eq "and no journal entry from j2" \
    "$(jq -s '[.[] | select(.TERN_HOST == "j2")] | length' "$T/journal.jsonl")" 0
check_eq "nothing new on the journal socket" "$(wc -l <"$T/journal.jsonl")" \
    "$n_before"
kill "$TPID"
wait_for 30 bash -c "! kill -0 $TPID" || true
e2e_finish
