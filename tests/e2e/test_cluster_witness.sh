#!/usr/bin/env bash
# test_cluster_witness.sh - a 2-node cluster with a corosync-qnetd witness
# on real Corosync (issue 14): each node's corosync-qdevice started next to
# its Corosync (corosync-ctl.sh), the witness a 4th namespace on the lab's
# bridge (lab.sh witness).  Without a witness two nodes are two_node; a
# witness nobody listens on: the cluster forms, show says the witness is not
# alive and validate reports it; with the witness: 3 votes, quorate, alive
# on both; h2 gone entirely (ternd, Corosync, qdevice killed, link cut): h1
# stays quorate on the witness's vote; the witness gone too: h1 NOT
# quorate; everything back: both quorate with 3 votes; destroy leaves no
# corosync-qdevice anywhere.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster_witness 113
lab up 2 >/dev/null
WADDR=10.$LAB_NET.0.9

for i in 1 2; do FP[$i]=$(t h$i host info --json | jq -r .fingerprint); done
t h1 peer add h2 "$(labenv H2_URL)" --fingerprint "${FP[2]}" >/dev/null
t h2 peer add h1 "$(labenv H1_URL)" --fingerprint "${FP[1]}" >/dev/null

cj() { t "$1" cluster show --json; }
q() { cj "$1" | jq -r ".quorum.$2"; }
quorate() { [ "$(q "$1" quorate)" = true ]; }
not_quorate() { [ "$(q "$1" quorate)" = false ]; }
votes() { [ "$(q "$1" votes)" = "$2" ] && [ "$(q "$1" expected)" = 3 ]; }
witness_alive() {
	[ "$(cj "$1" | jq -r '.quorum.witness | (.alive and .casts_vote)')" = true ]
}
cdir() { echo "$(labenv "H${1#h}_STATE_DIR")/corosync"; }
coro_ctl() { TERN_CLUSTER_DIR="$(cdir "$1")" \
    lab exec "$1" "$REPO/tests/lab/corosync-ctl.sh" "$2"; }
pid_of() { cat "$(cdir "$1")/run/$2" 2>/dev/null; }
# no corosync-qdevice (nor Corosync) in any of the lab's namespaces
none_left() {
	local ns p
	for ns in $(labenv LAB_NAMESPACES); do
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			grep -q '^corosync' "/proc/$p/comm" 2>/dev/null && \
			    ! grep -q '^corosync-qnet' "/proc/$p/comm" && return 1
		done
	done
	return 0
}
both() { "$@" h1 && "$@" h2; }

# ---- without a witness: two_node ----
check "create c0 of h1, h2 without a witness" t h1 cluster create c0 --node h1 --node h2
check "no witness: Corosync's two_node (2Node)" eval \
    '[[ $(lab exec h1 corosync-quorumtool -s) == *2Node* ]]'
check "destroy c0" t h1 cluster destroy
check "no Corosync left" wait_for 20 none_left

# ---- a witness nobody listens on ----
check "create c1 with a witness nobody listens on: Corosync forms anyway" \
    t h1 cluster create c1 --node h1 --node h2 --witness "$WADDR"
check "show says the witness is not alive" eval \
    "[[ \$(t h1 cluster show) == *'witness:  $WADDR (NOT alive'* ]]"
vout=$(t h1 cluster validate 2>&1 || true)
check "validate reports the witness on both nodes" eval \
    "grep -q 'h2 does not see the witness $WADDR alive' <<<\"\$vout\" &&
     grep -q 'h1 does not see the witness $WADDR alive' <<<\"\$vout\""
check "corosync-qdevice runs on both nodes" eval \
    '[ -n "$(pid_of h1 corosync-qdevice/corosync-qdevice.pid)" ] &&
     [ -n "$(pid_of h2 corosync-qdevice/corosync-qdevice.pid)" ]'

# ---- the witness comes up ----
check "the lab's witness starts" lab witness start
check "both: 3 of 3 votes, quorate, the witness alive" wait_for 40 eval \
    'both quorate && votes h1 3 && votes h2 3 && both witness_alive'
check "corosync-quorumtool counts the Qdevice's vote" eval \
    'grep -Eq "^ +0 +1 +Qdevice" <<<"$(lab exec h1 corosync-quorumtool -s)"'
vout=$(t h1 cluster validate 2>&1 || true)
check "validate: no witness error now" eval \
    '! grep -q "see the witness" <<<"$vout" && grep -q "^corosync *pass" <<<"$vout"'

# ---- h2 gone entirely: h1 survives on the witness's vote ----
c2=$(pid_of h2 corosync.pid) q2=$(pid_of h2 corosync-qdevice/corosync-qdevice.pid)
lab kill h2 >/dev/null 2>&1
kill -KILL $q2 $c2 2>/dev/null || true
lab cut h2 >/dev/null 2>&1
check "h2 gone: h1 quorate on 2 of 3 votes within 30 s" wait_for 30 eval \
    'quorate h1 && votes h1 2 && [ "$(cj h1 | jq -r ".nodes[] | select(.name == \"h2\") | .state")" = isolated ]'
check "h1 still has the witness's vote" witness_alive h1

# ---- the witness gone too: h1 alone is 1 of 3 ----
lab witness stop >/dev/null 2>&1
check "witness gone too: h1 NOT quorate within 30 s" wait_for 30 not_quorate h1
check "show says NOT quorate, 1 of 3" eval \
    '[[ $(t h1 cluster show) == *"NOT quorate (1 of 3 votes"* ]]'

# ---- everything back ----
lab witness start >/dev/null 2>&1
lab restore h2 >/dev/null 2>&1
lab start h2 >/dev/null 2>&1
coro_ctl h2 start
check "all back: both quorate, 3 votes, the witness alive" wait_for 60 eval \
    'both quorate && votes h1 3 && votes h2 3 && both witness_alive'

# ---- destroy stops the qdevices too ----
check "destroy c1" t h2 cluster destroy
check "no corosync-qdevice nor Corosync left in any lab namespace" wait_for 20 none_left
e2e_finish
