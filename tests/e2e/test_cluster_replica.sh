#!/usr/bin/env bash
# test_cluster_replica.sh - a cluster as a replica server (issue 15,
# Hyper-V's Replica Broker, the replica side): h1 (standalone) replicates
# a guest running the disk writer to h2, a node of c2 (h2, h3, h4, a
# shared pool); c2's state holds the replica.  h2 dies (ternd, Corosync,
# sanlock killed, link cut): the replica goes to h3 or h4, which tells h1;
# h1's next cycle goes there, the replica exact to the point.  h2 back:
# its copy is forgotten, the replica's files stay.  An unplanned
# failover there makes a an HA VM of c2.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster_replica 120
lab up 4 --shared-pool >/dev/null
SHARED=$(labenv LAB_SHARED_POOL)
trust_all 4
cdir() { echo "$(labenv "H${1#h}_STATE_DIR")/corosync"; }
quorate() { [ "$(t "$1" cluster show --json | jq -r .quorum.quorate)" = true ]; }
# entry ON FIELD: the replica's entry in c2's state as ON sees it
entry() { t "$1" vm list --cluster --json |
    jq -r --arg n a '.vms[] | select(.name == $n) | '"$2"; }
rs() { t "$1" vm replication show a --json 2>/dev/null | jq -r "$2"; }
last_cycle() { t h1 job list --json |
    jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'; }

check "create c2 of h2, h3, h4" t h2 cluster create c2 --node h2 --node h3 --node h4
for h in h2 h3 h4; do t $h replica server enable --allow h1=shared >/dev/null; done

guest_writing h1 a
UUID=$(vm_field h1 a .uuid)
check "enable a -> h2 (every 15 min: the test starts each cycle)" \
    t h1 vm replication enable a --to h2 --interval 15m
check "the initial copy is acknowledged" wait_for 180 eval '[ "$(rs h1 .state)" = replicating ]'
# cycle TO DESC: one cycle of a now, taken on TO, exact to the point
cycle() {
	local lo hi
	wait_for 60 no_active_jobs h1 "$1"
	lo=$(acked h1 a)
	check "$2: a cycle" t h1 vm replication now a
	hi=$(($(acked h1 a) + 1))
	echo "# $2: $(last_cycle | jq -r '.state + ", " + .details.kind')"
	check "$2: the replica on $1 is exact up to the point ($lo..$hi)" \
	    "$VERIFY" --image "$(t "$1" vm show a --json | jq -r '.disks[] | select(.name == "vdb") | .path')" \
	    --upto "$lo:$hi"
}
cycle h2 "to h2"
check_eq "h1 knows c2's nodes" "$(t h1 vm replication show a --json |
    jq -r '[.stats.replica_nodes[].name] | sort | join(",")')" h2,h3,h4
check "c2's state holds the replica, on h2" wait_for 20 eval \
    '[ "$(entry h3 ".owner + \" \" + .state")" = "h2 replica" ]'

# ---- h2 dies ----
lab kill h2 >/dev/null 2>&1
kill -KILL "$(cat "$(cdir h2)/run/corosync.pid")" "$(cat "$(labenv H2_DIR)/sanlock.pid")" 2>/dev/null || true
lab cut h2 >/dev/null 2>&1
check "h3 and h4 stay quorate" wait_for 30 eval 'quorate h3 && quorate h4'
check "the replica goes to h3 or h4" wait_for 240 eval \
    '[ "$(entry h3 .owner)" = h3 ] || [ "$(entry h3 .owner)" = h4 ]'
NEW=$(entry h3 .owner)
check "... which holds it as a replica of h1's" wait_for 20 eval \
    '[ "$(vm_field $NEW a .state)" = replica ] && [ "$(rs $NEW ".role + \" \" + .peer")" = "replica h1" ]'
check "h1 takes $NEW as its replica server" wait_for 60 eval '[ "$(rs h1 .peer)" = "$NEW" ]'
cycle "$NEW" "to $NEW"
check "replication verify on h1 matches $NEW's point" t h1 vm replication verify a

# ---- h2 back: its copy forgotten, the files stay ----
lab restore h2 >/dev/null 2>&1
TERN_CLUSTER_DIR="$(cdir h2)" lab exec h2 "$REPO/tests/lab/corosync-ctl.sh" start
lab sanlock h2 >/dev/null 2>&1
lab start h2 >/dev/null 2>&1
check "h2 forgets its copy of the replica" wait_for 60 eval '! t h2 vm show a >/dev/null 2>&1'
check "the replica stands on $NEW, its files there" eval \
    '[ "$(vm_field $NEW a .state)" = replica ] &&
     test -e "$(t $NEW vm show a --json | jq -r ".disks[0].path")"'
cycle "$NEW" "after h2's return"

# ---- h1 lost: a fails over on $NEW and is an HA VM of c2 there ----
t h1 vm stop a >/dev/null
check "failover a on $NEW" t $NEW vm failover a
check "a boots on $NEW" wait_for 120 console_has $NEW a TERN-GUEST-READY
check "c2's state has a running on $NEW, HA (priority medium)" wait_for 30 eval \
    '[ "$(t h4 vm list --cluster --json | jq -r ".vms[] | select(.name == \"a\" and .state == \"running\") |
        .owner + \" \" + (.ha.priority // \"-\")")" = "$NEW medium" ]'
check "its replica's entry is gone from c2's state" wait_for 20 eval \
    '[ -z "$(t h4 vm list --cluster --json | jq -r ".vms[] | select(.state == \"replica\") | .name")" ]'
e2e_finish
