#!/usr/bin/env bash
# test_failover_drill.sh - DR drills (issue 13) on the replica host: c1
# replicates h1 -> h2 every 30 s with its disk writer running; a drill on
# demand passes (boot and heartbeat times shown) and leaves nothing
# behind; a scheduled one (--every 1m, with a --check run in the guest)
# runs by itself; a drill of a replica whose guest never answers (its
# heartbeat service off) fails within its bound, turns the replica's
# health to warning with the reason, and leaves nothing behind; ternd
# killed during a drill: after the restart it is recorded as failed and
# nothing is left; a passing drill clears the warning; bad input is
# refused.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup faildrill 102
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1

show() { t h2 vm replication show c1 --json; }
drills() { # drills STATE: vm.replication-drill jobs on h2 in STATE
	t h2 job list --json | jq --arg s "$1" \
	    '[.jobs[] | select(.type == "vm.replication-drill" and .state == $s)] | length'
}
nothing_left() {
	! t h2 vm show c1-test >/dev/null 2>&1 &&
	    ! ls "$P2"/c1-test-* >/dev/null 2>&1 &&
	    [ "$(t h2 switch list --json | jq '[.switches[] | select(.name | startswith("ft-"))] | length')" = 0 ] &&
	    [ "$(show | jq -r '.test // empty')" = "" ]
}

check "enable c1 -> h2 every 30 s" \
    t h1 vm replication enable c1 --to h2 --interval 30s
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"

# ---- bad input ----
check_err "a drill on the primary is refused" 1 "not a replica here" \
    t h1 vm replication drill c1
check_err "a bad --every is refused" 1 "give Nh or Nm" \
    t h2 vm replication drill c1 --every 5x
check_eq "nothing recorded" "$(show | jq -r '.drill // empty')" ""

# ---- a drill on demand ----
check "a drill now passes" t h2 vm replication drill c1
check_eq "its result is recorded" "$(show | jq -r .drill.last.result)" passed
check "with its boot time" test "$(show | jq .drill.last.boot_ms)" -gt 0
check "and its heartbeat time, after the boot" \
    test "$(show | jq .drill.last.heartbeat_ms)" -ge "$(show | jq .drill.last.boot_ms)"
check "replication show says so" bash -c \
    "$LAB_SH tern h2 vm replication show c1 | grep -q 'last drill.*passed'"
check "an event says so" bash -c \
    "$LAB_SH tern h2 events --vm c1 | grep -q 'DR drill of vm .c1. passed'"
check "it left nothing behind" nothing_left

# ---- a scheduled drill, with a check in the guest ----
check "drill every minute, checking the data disk" \
    t h2 vm replication drill c1 --every 1m --check 'test -b /dev/vdb'
check_eq "the schedule is recorded" "$(show | jq -c '[.drill.every_s, .drill.check]')" \
    '[60,"test -b /dev/vdb"]'
check "a scheduled drill runs by itself and passes" wait_for 200 bash -c \
    "[ \"\$($LAB_SH tern h2 job list --json | jq '[.jobs[] | select(.type == \"vm.replication-drill\" and .state == \"succeeded\")] | length')\" -ge 2 ]"
check "schedule off" t h2 vm replication drill c1 --every off
check "no job runs" wait_for 120 no_active_jobs h2
check "it left nothing behind" nothing_left
check_eq "health normal after passed drills" "$(show | jq -r .health)" normal

# ---- a replica whose guest never answers ----
check "the replica's heartbeat service off" \
    t h2 vm set c1 --service heartbeat=off
check_err "a drill of it fails, saying why" 1 "never answered its agent" \
    t h2 vm replication drill c1
check_eq "recorded as failed" "$(show | jq -r .drill.last.result)" failed
check_eq "the replica's health is warning" "$(show | jq -r .health)" warning
check "with the reason" bash -c \
    "$LAB_SH tern h2 vm replication show c1 --json | jq -r '.health_reasons[]' | grep -q 'last DR drill failed'"
check "it left nothing behind" nothing_left
check_eq "replication still goes on (the primary's health)" \
    "$(t h1 vm replication show c1 --json | jq -r .health)" normal

# ---- ternd killed during a drill (its test's overlays being made) ----
t h2 vm set c1 --service heartbeat=on >/dev/null
restart_with h2 failover.test.overlay=kill
t h2 vm replication drill c1 >/dev/null 2>&1 || true
check "h2's ternd dies in the drill's test failover" \
    wait_for 30 bash -c "! $LAB_SH tern h2 host info >/dev/null 2>&1"
restart_with h2
check "the drill ends after the restart" wait_for 90 no_active_jobs h2
check_eq "it is recorded as failed, saying why" \
    "$(show | jq -r .drill.last.error)" "ternd restarted during the drill"
check "it left nothing behind" nothing_left
check "a drill passes again" t h2 vm replication drill c1
check_eq "and the health is normal again" "$(show | jq -r .health)" normal
check "it left nothing behind" nothing_left

t h1 vm stop c1 >/dev/null 2>&1 || true
e2e_openapi_check
e2e_finish
