#!/usr/bin/env bash
# test_cluster_cross.sh - two clusters on real Corosync (issue 15): c1 of
# h1, h2 and c2 of h3, h4, each with its own pools.  A guest running the
# disk writer on h1 replicates to h3 (cluster to cluster: a node of c2 is
# its replica server).  It moves live inside c1 to h2 (c1's state gives
# it to h2, h3 takes the next cycle from h2), then shared-nothing and
# live to h4: c1's state lets it go, c2's takes it with owner h4, and its
# replication follows (h3 takes the next cycle from h4; every replica
# exact to its point).  It moves back to h1: c2 lets it go, c1 owns it again, and h3
# takes the next cycle from h1.  The writer's data passes the verifier.
# A replica server inside the VM's own cluster is refused.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster_cross 119
lab up 4 >/dev/null

trust_all 4
P3=$(labenv H3_POOL_DIR)

check "create c1 of h1, h2" t h1 cluster create c1 --node h1 --node h2
check "create c2 of h3, h4" t h3 cluster create c2 --node h3 --node h4
# owner VM ON: the VM's owner in ON's cluster's state ("": not there);
# its replica's entry is another one (state replica)
owner() { t "$2" vm list --cluster --json |
    jq -r --arg n "$1" '.vms[] | select(.name == $n and .state != "replica") | .owner'; }
rs() { t "$1" vm replication show a --json 2>/dev/null | jq -r "$2"; }
last_cycle() { t "$1" job list --json |
    jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'; }

guest_writing h1 a
UUID=$(vm_field h1 a .uuid)
check "c1's state gives a to h1" wait_for 20 eval '[ "$(owner a h2)" = h1 ]'

# ---- cluster to cluster replication: a (c1) replicates to h3 (c2) ----
t h3 replica server enable --allow h1=local --allow h2=local --allow h4=local >/dev/null
t h2 replica server enable --allow h1=local >/dev/null
check "a replica on a node of a's own cluster is refused, naming it" eval \
    'out=$(t h1 vm replication enable a --to h2 2>&1); [ $? -ne 0 ] &&
     grep -q "node of cluster .c1." <<<"$out" && ! t h1 vm replication show a >/dev/null 2>&1'
check "enable a -> h3 (every 15 min: the test starts each cycle)" \
    t h1 vm replication enable a --to h3 --interval 15m
check "the initial copy is acknowledged" wait_for 180 eval '[ "$(rs h1 .state)" = replicating ]'
check "c1's state holds it: h2 sees a replicating to h3" wait_for 20 eval \
    '[ "$(t h2 vm list --cluster --json | jq -r ".vms[] | select(.name == \"a\") | .replication.to")" = h3 ]'
check "c2's state holds the replica, on h3, apart from the VM" wait_for 20 eval \
    '[ -z "$(owner a h4)" ] && [ "$(t h4 vm list --cluster --json | jq -r ".vms[] |
        select(.name == \"a\" and .state == \"replica\") | .owner + \" \" + .uuid")" = "h3 replica:$UUID" ]'

# cycle HOST DESC: one cycle of a from HOST now, taken by h3 from HOST,
# the replica's vdb exact to the point (every write acknowledged before
# the cycle began, none after it ended).
cycle() {
	local lo hi
	wait_for 60 no_active_jobs "$1" h3
	lo=$(acked "$1" a)
	check "$2: a cycle from $1" t "$1" vm replication now a
	hi=$(($(acked "$1" a) + 1))
	echo "# $2: $(last_cycle "$1" | jq -r '.state + ", " + .details.kind')"
	check_eq "$2: h3 takes a's cycles from $1" "$(t h3 vm replication show a \
	    --json | jq -r .peer)" "$1"
	check "$2: the replica's vdb is exact up to the point ($lo..$hi)" \
	    "$VERIFY" --image "$P3/a-vdb.qcow2" --upto "$lo:$hi"
}
cycle h1 "in c1"

# ---- h1 -> h2, inside c1: it keeps replicating ----
check "move a h1 -> h2 (inside c1)" t h1 vm move a --to h2 --copy-storage --pool local
check "c1's state gives a to h2" wait_for 20 eval \
    '[ "$(owner a h1)" = h2 ] && [ "$(owner a h2)" = h2 ]'
cp "$(labenv H1_STATE_DIR)/vms/$UUID/console.log" "$TERN_LAB/a-h1-console.log"
cycle h2 "inside c1, on h2"

# ---- h2 (c1) -> h4 (c2), shared-nothing, live ----
cp "$(labenv H2_STATE_DIR)/vms/$UUID/console.log" "$TERN_LAB/a-h2-console.log"
check "move a h2 -> h4 (into c2)" t h2 vm move a --to h4 --copy-storage --pool local
check "c2's state gives a to h4" wait_for 20 eval \
    '[ "$(owner a h3)" = h4 ] && [ "$(owner a h4)" = h4 ]'
check "c1's state lets a go" wait_for 20 eval \
    '[ -z "$(owner a h1)" ] && [ -z "$(owner a h2)" ]'
check "a runs on h4 only" eval \
    '[ "$(vm_field h4 a .state)" = running ] && ! t h2 vm show a >/dev/null 2>&1'
check_eq "h4 has a's relationship" "$(rs h4 '.role + " " + .peer')" "primary h3"
check "c2's state holds it: h3 sees a replicating to h3" wait_for 20 eval \
    '[ "$(t h3 vm list --cluster --json | jq -r ".vms[] | select(.name == \"a\" and .state != \"replica\") | .replication.to")" = h3 ]'
cycle h4 "in c2"
cp "$(labenv H4_STATE_DIR)/vms/$UUID/console.log" "$TERN_LAB/a-h4-console.log"

# ---- h4 (c2) -> h1 (c1), back ----
check "move a h4 -> h1 (back into c1)" t h4 vm move a --to h1 --copy-storage --pool local
check "c1's state gives a to h1 again" wait_for 20 eval \
    '[ "$(owner a h1)" = h1 ] && [ "$(owner a h2)" = h1 ]'
check "c2's state lets a go" wait_for 20 eval \
    '[ -z "$(owner a h3)" ] && [ -z "$(owner a h4)" ]'
cycle h1 "back in c1"

# ---- the writer's data ----
check "a's writer acknowledges on h1" wait_for 60 writer_acks h1 a "$(acked h1 a)"
t h1 vm stop a >/dev/null
cons=(--console "$TERN_LAB/a-h1-console.log" --console "$TERN_LAB/a-h2-console.log"
    --console "$TERN_LAB/a-h4-console.log"
    --console "$(labenv H1_STATE_DIR)/vms/$UUID/console.log")
check "a's disk passes the verifier (its consoles on h1, h2, h4, h1)" "$VERIFY" \
    --image "$(labenv H1_POOL_DIR)/a-vdb.qcow2" "${cons[@]}"
check_eq "the guest booted once (its first console)" \
    "$(grep -ac TERN-GUEST-READY "$TERN_LAB/a-h1-console.log")" 1
# h1's console now: what was written since a came back (QEMU appends to
# a console file that stayed)
since_back() { local f=$1 old=$2 n
	n=$(stat -c %s "$old")
	if cmp -s -n "$n" "$old" "$f"; then tail -c +$((n + 1)) "$f"; else cat "$f"; fi; }
check "and never again (no boot in the later consoles)" eval \
    '! { cat "$TERN_LAB/a-h2-console.log" "$TERN_LAB/a-h4-console.log"
         since_back "$(labenv H1_STATE_DIR)/vms/$UUID/console.log" \
             "$TERN_LAB/a-h1-console.log"; } | grep -aq TERN-GUEST-READY'

e2e_finish
