#!/usr/bin/env bash
# test_cluster.sh - the failover cluster on real Corosync (issue 14), three
# hosts in namespaces, each host's Corosync its own (corosync-ctl.sh):
# bad input refused with nothing changed on any host (an untrusted name, a
# node that does not trust us, a node whose ternd is down, this host not
# among the nodes, a bad witness); create forms a quorate 3-node cluster
# seen alike from every node, and validate's corosync check passing;
# Corosync killed on one node (the others go on quorate, it is not
# quorate, validate names it) and started again (its ternd follows it
# again); ternd kill -9 alone changes no membership; a node's link cut (the
# majority stays quorate, the cut node is not) and restored; evict and
# re-add; a node already in a cluster refused; destroy stops every
# Corosync.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster 112
lab up 3 >/dev/null

# Every host trusts every other.
for i in 1 2 3; do FP[$i]=$(t h$i host info --json | jq -r .fingerprint); done
trust() { t "h$1" peer add "h$2" "$(labenv "H$2_URL")" --fingerprint "${FP[$2]}" >/dev/null; }
for i in 1 2 3; do for j in 1 2 3; do [ "$i" = "$j" ] || trust "$i" "$j"; done; done

cj() { t "$1" cluster show --json; }
in_cluster() { [ "$(cj "$1" | jq -r '.name // empty')" = "$2" ]; }
no_cluster_anywhere() {
	for h in h1 h2 h3; do [ "$(cj $h)" = null ] || return 1; done
}
coro_pid() { cat "$(labenv "H${1#h}_STATE_DIR")/corosync/run/corosync.pid" 2>/dev/null; }
coro_running() { local p; p=$(coro_pid "$1") && kill -0 "$p" 2>/dev/null; }
no_corosync() { for h in h1 h2 h3; do ! coro_running $h || return 1; done; }
# up_seen H N: H's ternd sees N nodes up in Corosync's membership
up_seen() { [ "$(cj "$1" | jq '[.nodes[] | select(.state == "up")] | length')" = "$2" ]; }
quorate() { [ "$(cj "$1" | jq -r .quorum.quorate)" = true ]; }
node_field() { cj "$1" | jq -r --arg n "$2" ".nodes[] | select(.name == \$n) | .$3"; }
coro_ctl() { TERN_CLUSTER_DIR="$(labenv "H${1#h}_STATE_DIR")/corosync" \
    lab exec "$1" "$REPO/tests/lab/corosync-ctl.sh" "$2"; }

# ---- bad input: refused, nothing changed on any host ----
check_err "an untrusted node is refused by name" 1 "h9 is not a trusted peer" \
    t h1 cluster create c1 --node h1 --node h9
check_err "this host must be a node" 1 "this host (h1) is not among the nodes" \
    t h1 cluster create c1 --node h2 --node h3
check_err "one node is not a cluster" 2 "at least two nodes" \
    t h1 cluster create c1 --node h1
check_err "a witness that is not an address" 1 "witness 'qnetd.example'" \
    t h1 cluster create c1 --node h1 --node h2 --witness qnetd.example
check_err "a bad cluster name" 1 "cluster name" \
    t h1 cluster create "c 1" --node h1 --node h2
t h3 peer remove h1 >/dev/null
check_err "a node that does not trust us is refused, named" 1 "h3 does not trust this host" \
    t h1 cluster create c1 --node h1 --node h2 --node h3
trust 3 1
lab stop h3 >/dev/null 2>&1
check_err "a node whose ternd is down is refused, named" 1 "h3 does not answer" \
    t h1 cluster create c1 --node h1 --node h2 --node h3
check "nothing was made on h1 or h2" eval '[ "$(cj h1)" = null ] && [ "$(cj h2)" = null ]'
lab start h3 >/dev/null 2>&1
check "no cluster on any host, no Corosync started" eval 'no_cluster_anywhere && no_corosync'
check_err "evict outside a cluster" 1 "in no cluster" t h1 cluster node evict h2
check_err "destroy outside a cluster" 1 "in no cluster" t h1 cluster destroy

# ---- a create that fails half way is undone on every node ----
restart_with h1 cluster-form=fail
check_err "create failing once the nodes joined" 1 "undone on every node" \
    t h1 cluster create c1 --node h1 --node h2 --node h3
check "undone: no cluster on any host, every Corosync stopped" wait_for 20 eval \
    'no_cluster_anywhere && no_corosync'
restart_with h1 cluster-form=kill
t h1 cluster create c1 --node h1 --node h2 --node h3 >/dev/null 2>&1 || true
restart_with h1
check "ternd killed while the cluster formed: undone after its restart" wait_for 30 eval \
    'no_cluster_anywhere && no_corosync'
check "the job says why" eval \
    "t h1 job list --json | jq -r '.jobs[] | select(.type == \"cluster.create\") | .error' | grep -q 'ternd restarted'"

# ---- create ----
check "create c1 of h1, h2, h3" t h1 cluster create c1 --node h1 --node h2 --node h3
# this test takes h3 out of the membership again and again: with the
# default threshold (3 within an hour) it would be quarantined, which
# test_cluster_drain.sh tests; here every node must come back up
check "no quarantine here" t h1 cluster set --quarantine-threshold 0
for h in h1 h2 h3; do
	check "$h: in c1, 3 nodes up, every ternd in the group" eval \
	    "in_cluster $h c1 && up_seen $h 3 && [ \"\$(cj $h | jq '[.nodes[] | select(.ternd)] | length')\" = 3 ]"
	check "$h: quorate, 3 of 3 votes, 2 needed, Corosync running" eval \
	    "[ \"\$(cj $h | jq -c '[.quorum.quorate, .quorum.votes, .quorum.expected, .quorum.quorum, .corosync]')\" = '[true,3,3,2,\"running\"]' ]"
done
check "h2's corosync.conf names the 3 nodes and the authkey is root's alone" eval \
    "[ \"\$(grep -c ring0_addr $(labenv H2_STATE_DIR)/corosync/corosync.conf)\" = 3 ] &&
     [ \"\$(stat -c %a $(labenv H2_STATE_DIR)/corosync/authkey)\" = 400 ]"
check "Corosync itself agrees (corosync-quorumtool on h3)" eval \
    "lab exec h3 corosync-quorumtool -s | grep -q 'Quorate: *Yes'"
check "validate (the cluster's nodes): Corosync's check passes" eval \
    "t h1 cluster validate --json | jq -e '.checks[] | select(.name == \"corosync\") | .result == \"pass\"'"
check_err "a second create is refused" 1 "already in cluster 'c1'" \
    t h2 cluster create c2 --node h2 --node h3

# ---- Corosync killed on h3, then started again ----
kill -9 "$(coro_pid h3)"
check "h1 sees h3 gone (isolated: no shared storage says it died) within 30 s, stays quorate" \
    wait_for 30 eval 'up_seen h1 2 && quorate h1 && [ "$(node_field h1 h3 state)" = isolated ]'
check "h3 is not quorate and says Corosync is not running" eval \
    '! quorate h3 && [ "$(cj h3 | jq -r .corosync)" = "not running" ]'
check_err "h3 without quorum adds no node" 1 "no quorum" t h3 cluster node add h9
check_err "validate names h3's Corosync as an error" 1 \
    "ternd on h3 does not reach Corosync" t h1 cluster validate
coro_ctl h3 start
check "h3 follows Corosync again once it is back: 3 up, quorate" wait_for 30 eval \
    'up_seen h3 3 && quorate h3 && up_seen h1 3'

# ---- ternd kill -9 on h2: Corosync's membership does not change ----
lab kill h2 >/dev/null 2>&1
check "h2's ternd gone: h2 still up in Corosync, its ternd out of the group" wait_for 20 eval \
    '[ "$(node_field h1 h2 state)" = up ] && [ "$(node_field h1 h2 ternd)" = false ] && quorate h1'
lab start h2 >/dev/null 2>&1
check "h2's ternd back: in the group again, quorate" wait_for 20 eval \
    '[ "$(node_field h1 h2 ternd)" = true ] && quorate h2 && up_seen h2 3'

# ---- h3's link cut: the majority stays quorate, h3 is not ----
lab cut h3 >/dev/null 2>&1
check "h1 and h2 quorate without h3 within 30 s" wait_for 30 eval \
    'up_seen h1 2 && quorate h1 && up_seen h2 2 && quorate h2'
check "h3 alone is not quorate" wait_for 30 eval '! quorate h3'
lab restore h3 >/dev/null 2>&1
check "h3 back in the membership, quorate" wait_for 30 eval \
    'up_seen h3 3 && quorate h3 && up_seen h1 3'

# ---- evict and re-add ----
check_err "a node does not evict itself" 1 "does not evict itself" t h1 cluster node evict h1
check_err "evicting a node that is none" 1 "h9 is not a node" t h1 cluster node evict h9
check "evict h3 (from h1)" t h1 cluster node evict h3
check "h3 is in no cluster and its Corosync stopped" wait_for 20 eval \
    '[ "$(cj h3)" = null ] && ! coro_running h3'
check "h1 and h2: 2 nodes, quorate" wait_for 30 eval \
    '[ "$(cj h1 | jq ".nodes | length")" = 2 ] && quorate h1 && up_seen h2 2'
check_err "h3 cannot make a cluster with h1, which is in c1" 1 "h1 is already in cluster 'c1'" \
    t h3 cluster create c2 --node h3 --node h1
check "h3 in no cluster after that refusal" eval '[ "$(cj h3)" = null ]'
check "re-add h3 (from h2)" t h2 cluster node add h3
check "all three up and quorate again" wait_for 30 eval \
    'up_seen h1 3 && up_seen h3 3 && quorate h3'
check_err "adding a node twice" 1 "node of cluster 'c1' already" t h1 cluster node add h3

# ---- destroy ----
check "destroy" t h3 cluster destroy
check "no cluster on any host, every Corosync stopped" wait_for 20 eval \
    'no_cluster_anywhere && no_corosync'
e2e_openapi_check
e2e_finish
