#!/usr/bin/env bash
# test_guest.sh - integration services with the real test guest: heartbeat
# (ok, lost while paused, absent without an agent), data exchange both
# ways, time sync, quiesce with a guaranteed thaw (also across a ternd
# killed while frozen), graceful shutdown with and without --force, and
# switching services off.  Bad input gets an error and changes nothing.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup guest 89
lab up 1 >/dev/null
t h1 switch create lan >/dev/null
beat() { vm_field h1 "$1" .heartbeat; }

GUEST_EXTRA="tern.ip=192.0.2.10/24" guest_create h1 g idle --net lan >/dev/null
t h1 vm start g >/dev/null
check "heartbeat ok once the agent answers" wait_for 90 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
check "guest host name reported" wait_for 40 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .guest.hostname) = g ]"
check_eq "guest OS reported" "$(vm_field h1 g .guest.os.name)" \
    "tern test guest"
check "guest IP address reported per NIC" wait_for 40 bash -c \
    "$LAB_SH tern h1 vm show g --json | jq -e '.guest.addresses[] |
     select(.nic==\"eth0\") | .ips | index(\"192.0.2.10/24\")'"
check "vm show prints them" bash -c \
    "$LAB_SH tern h1 vm show g | grep -q 'guest address.*192.0.2.10/24'"

# Heartbeat lost while the guest cannot answer, back on resume.
t h1 vm pause g >/dev/null
check "heartbeat lost while paused" wait_for 30 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = lost ]"
sleep 4
t h1 vm resume g >/dev/null
check "heartbeat ok after resume" wait_for 20 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
check "both transitions are events" bash -c \
    "$LAB_SH tern h1 events --vm g | grep -q 'heartbeat lost' &&
     $LAB_SH tern h1 events --vm g | grep -q 'heartbeat ok'"

# Host -> guest key/values, re-pushed on reconnect; time set on resume.
check "kvp set" t h1 vm kvp set g role web
check "kvp set another" t h1 vm kvp set g site "branch 7"
check "kvp list" bash -c "$LAB_SH tern h1 vm kvp list g | grep -q 'role.*web'"
check_err "kvp key with a slash" 2 "may hold only" t h1 vm kvp set g a/b c
check_err "kvp key with a space (refused by ternd)" 0 "may hold only" \
    lab exec h1 curl -s --unix-socket "$(labenv H1_SOCK)" -X PUT \
    --data-binary '{"value":"x"}' "http://tern/v1/vms/g/kvp/a%20b"
check_err "kvp value over the limit" 1 "longer than 1024" \
    t h1 vm kvp set g big "$(head -c 1100 /dev/zero | tr '\0' x)"
check_err "kvp delete of a missing key" 1 "no key 'nope'" \
    t h1 vm kvp delete g nope
sleep 2
lab kill h1 >/dev/null
check "the guest reads the pairs" bash -c "
    . $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB qga h1 g exec cat /run/tern-kvp |
    grep -qx 'role=web' && TERN_LAB=$TERN_LAB qga h1 g exec cat /run/tern-kvp |
    grep -qx 'site=branch 7'"
lag=$(python3 -c "
import json,subprocess,time
out=subprocess.run(['bash','-c','. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB qga h1 g guest-get-time'],capture_output=True,text=True).stdout
print(abs(int(out.strip())/1e9 - time.time()))")
check "guest clock set on resume (off by ${lag%.*}s, paused 4+s)" \
    python3 -c "import sys; sys.exit(0 if $lag < 2 else 1)"
lab start h1 >/dev/null
wait_for 30 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
check "pairs survive a ternd restart" bash -c \
    "$LAB_SH tern h1 vm kvp list g --json | jq -e '.kvp.site == \"branch 7\"'"

# Quiesce: freeze, hold, thaw; and a ternd killed while frozen.
check "quiesce (freeze, hold 1s, thaw)" t h1 vm quiesce g --hold 1
check "freeze and thaw are events" bash -c \
    "$LAB_SH tern h1 events --vm g | grep -q 'file systems frozen' &&
     $LAB_SH tern h1 events --vm g | grep -q 'file systems thawed'"
lab kill h1 >/dev/null
TERN_FAILPOINT=vm.quiesce.frozen=kill lab start h1 >/dev/null
wait_for 30 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
t h1 vm quiesce g --hold 60 --no-wait >/dev/null
check "ternd died while the guest was frozen" wait_for 30 bash -c \
    "! kill -0 \$(cat $(labenv H1_PIDFILE)) 2>/dev/null"
check_eq "the guest is frozen" "$(qga h1 g guest-fsfreeze-status)" '"frozen"'
lab start h1 >/dev/null
check "a restarted ternd thaws it" wait_for 30 bash -c \
    "$LAB_SH tern h1 events --vm g | grep -q 'left frozen: thawing'"
sleep 2
lab kill h1 >/dev/null
check_eq "the guest is thawed" "$(qga h1 g guest-fsfreeze-status)" '"thawed"'
lab start h1 >/dev/null

# Services can be switched off.
check "switch heartbeat off" t h1 vm set g --service heartbeat=off
check_eq "heartbeat shows off" "$(beat g)" off
check_err "unknown service" 1 "unknown service" \
    t h1 vm set g --service telepathy=off
check_err "service value not on/off" 2 "NAME=on or NAME=off" \
    t h1 vm set g --service heartbeat=maybe
check "switch it on again" t h1 vm set g --service heartbeat=on
check "heartbeat back" wait_for 20 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"

# Graceful shutdown through the agent.
check "vm shutdown (agent)" t h1 vm shutdown g --timeout 60
check_eq "off" "$(vm_field h1 g .state)" off
check "it went through the agent" bash -c \
    "$LAB_SH tern h1 job list --vm g --json | jq -e '.jobs[0].details.method == \"agent\"'"
check_err "shutdown of a vm that is off" 1 "not running" t h1 vm shutdown g

# An agentless guest: services absent; ACPI is ignored by this guest, so
# shutdown times out and the VM keeps running, unless --force.
GUEST_EXTRA="tern.agent=0" guest_create h1 n idle >/dev/null
t h1 vm start n >/dev/null
check "agentless guest boots" wait_for 90 console_has h1 n TERN-GUEST-READY
sleep 6
check_eq "heartbeat absent" "$(beat n)" absent
check_err "shutdown times out, VM keeps running" 1 "keeps running" \
    t h1 vm shutdown n --timeout 3
check_eq "still running" "$(vm_field h1 n .state)" running
check_err "quiesce without an agent" 1 "not answering" t h1 vm quiesce n
check "shutdown --force turns it off after the timeout" \
    t h1 vm shutdown n --timeout 3 --force
check_eq "off" "$(vm_field h1 n .state)" off
check "the forced turn-off is an event" bash -c \
    "$LAB_SH tern h1 events --vm n | grep -q 'turning it off (--force)'"
e2e_finish
