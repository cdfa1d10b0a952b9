#!/usr/bin/env bash
# test_failover_unplanned.sh - the unplanned failover (issue 13): c1
# replicates h1 -> h2 with 4 recovery points (the "hour" made 10 s), then
# h1 is gone (its ternd and QEMU killed).  On h2: bad input refused with
# nothing changed; ternd killed with the overlays made: back to the
# replica, points intact; failover to the second-latest point: the guest
# boots from exactly that point (the writer's first record follows the
# point's acks; the point passes the verifier --upto); cancel: a replica
# again, every point file unchanged (sha256); failover to the latest and
# complete: an ordinary VM (stop, start); h1 back: its stale c1 is held
# (a start refused, naming h2) until its replication is removed there;
# delete on h2 removes the VM's whole chain.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup fo-unplanned 103
PERIOD_S=10
cfg=$(mktemp /tmp/tern-e2e-fo-unplanned.XXXXXX)
e2e_at_exit "rm -f '$cfg'"
echo "replica-point-period-s = $PERIOD_S" >"$cfg"
lab up 2 --config "$cfg" >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1
UUID=$(vm_field h1 c1 .uuid)

points() { t h2 vm replication show c1 --json | jq -c '.points'; }
point_files() { points | jq -r '.[].disks[]' | sort; }
sums() { point_files | xargs sha256sum; }
rstate() { t h2 vm replication show c1 --json | jq -r .state; }
declare -A LO HI

to_next_period() {
	local now; now=$(date +%s)
	sleep $((PERIOD_S - now % PERIOD_S + 1))
}

# ---- replicating, 4 points (each cycle in its own period) ----
LO[1]=$(acked h1 c1)
check "enable c1 -> h2 (15m: only our cycles run; 3 hourly points)" \
    t h1 vm replication enable c1 --to h2 --interval 15m --points 3
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
HI[1]=$(($(acked h1 c1) + 1))
for i in 2 3 4; do
	to_next_period
	LO[$i]=$(acked h1 c1)
	check "cycle $i" t h1 vm replication now c1
	HI[$i]=$(($(acked h1 c1) + 1))
done
check "no job runs" wait_for 60 no_active_jobs h1 h2
check_eq "h2 keeps 4 points" "$(points | jq -c '[.[].seq]')" "[4,3,2,1]"
S2=$(points | jq -r '.[1].seq')
SUMS=$(sums)

# ---- h1 gone: its ternd and its QEMU killed ----
lab kill h1 >/dev/null
QPID=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $UUID" || true)
[ -n "$QPID" ] && kill -9 $QPID
check "h1's QEMU is gone" wait_for 20 bash -c "! kill -0 $QPID 2>/dev/null"

# ---- bad input: clear errors, nothing changed ----
check_err "a point that does not exist" 1 "no recovery point 99; it has 1, 2, 3, 4" \
    t h2 vm failover c1 --point 99
check_err "complete with no failover" 1 "has no failover pending" \
    t h2 vm failover complete c1
check_err "cancel with no failover" 1 "has no failover pending" \
    t h2 vm failover cancel c1
check_err "a bad --point" 2 "is not a recovery point's number" \
    t h2 vm failover c1 --point x
check_eq "still a replica" "$(vm_field h2 c1 .state)/$(rstate)" "replica/replica"

# ---- ternd killed with the overlays made: back to the replica ----
restart_with h2 failover.overlays=kill
t h2 vm failover c1 --point "$S2" >/dev/null 2>&1 || true
check "h2's ternd died in the failover" wait_for 30 bash -c \
    "! $LAB_SH tern h2 host info >/dev/null 2>&1"
restart_with h2
check "the failover job ends" wait_for 60 no_active_jobs h2
check_eq "the failover job failed (rolled back)" \
    "$(t h2 job list --json | jq -r '[.jobs[] | select(.type == "vm.failover")][0].state')" failed
check_eq "c1 is a replica again" "$(vm_field h2 c1 .state)/$(rstate)" "replica/replica"
check_eq "the point files are unchanged" "$(sums)" "$SUMS"
check "no overlay is left" bash -c "! ls $P2/*-fo[0-9]*.qcow2 2>/dev/null | grep -q ."

# ---- failover to the second-latest point ----
check "failover c1 to point $S2" t h2 vm failover c1 --point "$S2"
check "c1 boots on h2" wait_for 90 console_has h2 c1 TERN-GUEST-READY
check_eq "failed over, pending" "$(rstate)/$(t h2 vm replication show c1 --json | jq -r .failover.state)" \
    "failed-over/pending"
# The writer says where it starts a little after the guest is ready.
check "c1's writer starts on h2" wait_for 60 console_has h2 c1 "TERN-DISK start"
NEXT=$(t h2 vm console c1 | grep -ao 'TERN-DISK start .*next=[0-9]*' | head -n 1 | sed 's/.*next=//')
check "the guest's disk is point $S2 (its highest record in ${LO[$S2]}..${HI[$S2]})" \
    test "$((NEXT - 1))" -ge "${LO[$S2]}" -a "$((NEXT - 1))" -le "${HI[$S2]}"
F2=$(points | jq -r --argjson s "$S2" '.[] | select(.seq == $s) | .disks.vdb')
check "point $S2 passes the verifier --upto ${LO[$S2]}:${HI[$S2]}" \
    "$VERIFY" --image "$F2" --upto "${LO[$S2]}:${HI[$S2]}"
check "c1's disk is an overlay on point $S2" bash -c "qemu-img info --output=json \
    \"\$($LAB_SH tern h2 vm show c1 --json | jq -r '.disks[] | select(.name == \"vdb\") | .path')\" \
    | jq -e --arg f '$F2' '.[\"backing-filename\"] == \$f'"
check_err "a second failover is refused" 1 "has failed over already" \
    t h2 vm failover c1

# ---- cancel: a replica again, nothing lost ----
check "cancel the failover" t h2 vm failover cancel c1
check_eq "c1 is a replica again" "$(vm_field h2 c1 .state)/$(rstate)" "replica/replica"
check_eq "no failover recorded" "$(t h2 vm replication show c1 --json | jq -r '.failover // "none"')" none
check_eq "the point files are unchanged (sha256)" "$(sums)" "$SUMS"
check_eq "c1's disk is the latest point again" \
    "$(vm_field h2 c1 '.disks[] | select(.name == "vdb") | .path')" \
    "$(points | jq -r '.[0].disks.vdb')"
check "no overlay is left" bash -c "! ls $P2/*-fo[0-9]*.qcow2 2>/dev/null | grep -q ."
check "no QEMU of c1 on h2" test "$(qemu_count "$UUID")" = 0

# ---- failover to the latest, complete: an ordinary VM ----
check "failover c1 to the latest point" t h2 vm failover c1
check "c1 boots on h2" wait_for 90 console_has h2 c1 TERN-GUEST-READY
check "complete" t h2 vm failover complete c1
check_eq "completed, no points" \
    "$(t h2 vm replication show c1 --json | jq -c '[.failover.state, (.points | length)]')" \
    '["completed",0]'
check "the older points are the disk's backing chain" bash -c "qemu-img info \
    --backing-chain --output=json \"\$($LAB_SH tern h2 vm show c1 --json | jq -r \
    '.disks[] | select(.name == \"vdb\") | .path')\" | jq -e 'length == 5'"
check "c1 acknowledges writes on h2" wait_for 60 writer_acks h2 c1 "$((NEXT + 20))"
check "stop is allowed" t h2 vm stop c1
check "start is allowed" t h2 vm start c1

# ---- the old primary returns: its c1 is held ----
lab start h1 >/dev/null
check "h1 learns that c1 failed over to h2" wait_for 60 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = failed-over ]"
check_err "h1 refuses to start its stale c1" 1 "failed over to h2" \
    t h1 vm start c1
check "removing the replication on h1 releases it" \
    t h1 vm replication remove c1 --keep-replica
check_eq "h1's c1 is no longer replicated" \
    "$(t h1 vm replication show c1 >/dev/null 2>&1 && echo yes || echo no)" no

# ---- delete on h2 takes the whole chain ----
check "stop c1 on h2" t h2 vm stop c1
check "delete c1 on h2" t h2 vm delete c1
check "no file of c1 is left on h2" bash -c "! ls $P2/c1-* 2>/dev/null | grep -q ."

e2e_openapi_check
e2e_finish
