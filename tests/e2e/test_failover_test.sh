#!/usr/bin/env bash
# test_failover_test.sh - the test failover (issue 13) on the replica host:
# c1 replicates h1 -> h2 every 30 s with its disk writer running; a test
# failover boots c1-test from the latest point on new overlays, its NICs
# on an isolated switch of its own; its agent answers; at least two more
# cycles are applied meanwhile; the point's files are unchanged (sha256)
# and exact (the verifier up to that point's acks); test-stop leaves no
# VM, overlay or switch; bad input is refused with no change; ternd
# killed while the overlays are made: after the restart the job has
# removed what it made.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup failtest 101
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

# c1 has a NIC on switch lan (h2 has one too): the test's copy must not.
t h1 switch create lan >/dev/null
t h2 switch create lan >/dev/null
guest_create h1 c1 disk:/dev/vdb:50 --net lan >/dev/null
t h1 vm start c1 >/dev/null
check "guest boots" wait_for 90 console_has h1 c1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 writer_acks h1 c1 20

seq_of() { t h2 vm replication show c1 --json | jq -r '.points[0].seq'; }
point_file() { # point_file SEQ DISK
	t h2 vm replication show c1 --json |
	    jq -r --argjson s "$1" --arg d "$2" '.points[] | select(.seq == $s) | .disks[$d]'
}
test_json() { sqlite3 "$(labenv H2_STATE_DIR)/ternd.db" \
    "SELECT coalesce(test, '') FROM replications WHERE role = 'replica'"; }
nothing_left() { # nothing_left: no test VM, overlay, switch or record
	! t h2 vm show c1-test >/dev/null 2>&1 &&
	    ! ls "$P2"/c1-test-* >/dev/null 2>&1 &&
	    [ "$(t h2 switch list --json | jq '[.switches[] | select(.name | startswith("ft-"))] | length')" = 0 ] &&
	    [ -z "$(test_json)" ]
}

check "enable c1 -> h2 every 30 s" \
    t h1 vm replication enable c1 --to h2 --interval 30s
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
t h1 vm replication pause c1 >/dev/null
check "no job runs" wait_for 60 no_active_jobs h1 h2

# ---- bad input: clear errors, nothing changes ----
check_err "a test failover on the primary is refused" 1 "not a replica here" \
    t h1 vm failover test c1
check_err "an unknown point is refused, naming the points" 1 "has no recovery point 999; it has" \
    t h2 vm failover test c1 --point 999
check_err "an unknown switch is refused" 1 "switch 'nosuch' not found" \
    t h2 vm failover test c1 --switch nosuch
check_err "test-stop with no test is refused" 1 "no test failover" \
    t h2 vm failover test-stop c1
check "nothing was made by the refusals" nothing_left

# ---- one cycle with known bounds: the point the test boots ----
t h1 vm replication resume c1 >/dev/null
LO=$(acked h1 c1)
# (a scheduled cycle may hold the VM: then the next "now" comes after it)
check "a cycle now" wait_for 120 t h1 vm replication now c1
HI=$(($(acked h1 c1) + 1))
P=$(seq_of)
FA=$(point_file "$P" vda)
FB=$(point_file "$P" vdb)
SUM=$(sha256sum "$FA" "$FB")

# ---- the test failover ----
check "test failover of c1 on h2" t h2 vm failover test c1
check_eq "c1-test runs" "$(vm_field h2 c1-test .state)" running
SW=$(t h2 vm show c1-test --json | jq -r '.nics[0].switch')
check "its NIC is on an isolated switch of its own (ft-...)" \
    test "${SW#ft-}" != "$SW"
check "with a new MAC" test "$(vm_field h2 c1-test '.nics[0].mac')" != \
    "$(vm_field h2 c1 '.nics[0].mac')"
check "the switch has no uplink (its bridge has only the test's tap)" \
    test "$(lab exec h2 ls "/sys/class/net/tb-$SW/brif" | wc -l)" = 1
check_eq "the row's test names the point and the VM" \
    "$(test_json | jq -c '[.seq, .name, .switch, .made_switch, .state]')" \
    "[$P,\"c1-test\",\"$SW\",true,\"running\"]"
check "the test guest boots" wait_for 90 console_has h2 c1-test TERN-GUEST-READY
check "its agent answers (heartbeat ok)" wait_for 90 bash -c \
    "[ \$($LAB_SH tern h2 vm show c1-test --json | jq -r .heartbeat) = ok ]"
check "its disks are new overlays over the point's files" bash -c \
    "qemu-img info --output=json '$P2/c1-test-vdb.qcow2' | jq -e --arg b '$FB' '.[\"backing-filename\"] == \$b' >/dev/null"
check_err "a second test failover is refused while one runs" 1 "runs already" \
    t h2 vm failover test c1
check_err "removing the replication on h2 is refused while it runs" 1 \
    "test failover of vm 'c1' runs" t h2 vm replication remove c1
check "two more cycles are applied while the test runs" wait_for 150 bash -c \
    "[ \$($LAB_SH tern h2 vm replication show c1 --json | jq -r '.points[0].seq') -ge $((P + 2)) ]"
check_eq "the tested point is still recorded" "$(point_file "$P" vdb)" "$FB"
check_eq "the point's files are unchanged (sha256)" "$(sha256sum "$FA" "$FB")" "$SUM"
check "the point is exact up to its acks ($LO..$HI)" \
    "$VERIFY" --image "$FB" --upto "$LO:$HI"

# ---- test-stop leaves nothing behind ----
check "test-stop" t h2 vm failover test-stop c1
check "no test VM, overlay, switch or record is left" nothing_left
check_eq "the point's files are still unchanged" "$(sha256sum "$FA" "$FB")" "$SUM"
check_eq "replication still healthy" \
    "$(t h1 vm replication show c1 --json | jq -r .health)" normal

# ---- ternd killed while the test's overlays are made ----
t h1 vm replication pause c1 >/dev/null
check "no job runs" wait_for 90 no_active_jobs h1 h2
restart_with h2 failover.test.overlay=kill
t h2 vm failover test c1 >/dev/null 2>&1 || true
check "h2's ternd dies making the overlays" \
    wait_for 30 bash -c "! $LAB_SH tern h2 host info >/dev/null 2>&1"
restart_with h2
check "the job ends after the restart" wait_for 60 no_active_jobs h2
check_eq "it failed (rolled back)" \
    "$(t h2 job list --json | jq -r '[.jobs[] | select(.type == "vm.failover-test")][0].state')" failed
check "it removed what it made" nothing_left
check "a test failover works again" t h2 vm failover test c1
check "and stops again" t h2 vm failover test-stop c1
check "nothing left" nothing_left

t h1 vm stop c1 >/dev/null 2>&1 || true
e2e_openapi_check
e2e_finish
