#!/usr/bin/env bash
# test_cluster_drain.sh - drain, resume and quarantine (issue 15) in a
# 3-node cluster on real Corosync and sanlock, two VMs on h1 over the
# shared pool: `a` (HA, high, the disk writer) and `b` (not HA).
# Refusals: settings out of range, unknown node, resume of a node not
# paused, clear-quarantine of one not quarantined, a drain when every
# other node is paused (nothing moved), a move to a paused node.  Then
# h1 drained (both VMs live-moved away, h1 paused), resumed --failback
# (both come back); three link flaps of h1 within the hour quarantine it
# (its VMs drained away again); resume refused until clear-quarantine.
# Load balancing: `cluster balance --dry-run` shows the one move that
# evens two VMs on one node out, without it moving them; `cluster
# balance` makes it; the policy (`cluster set --balance-threshold`)
# does it on its own when an operator puts them together again.
# --on-host-shutdown drain: SIGTERM of h2's ternd moves its VMs away
# before it exits, and leaves h2 paused.  Rolling maintenance: `cluster
# maintain --run update` runs each node's own command on it while it is
# drained (the command sees none of the lab's QEMUs there), h2, h3, then
# h1; refused while a node's ternd is down; a command a node lacks stops
# the round with that node resumed; a failing one leaves it paused.
# Standalone h4: an HA VM may not leave the cluster for it; b moves out
# to h4 (the cluster's state lets it go at once) and back in to h2.
# A 100 ms sampler never sees a VM on two hosts outside its own live
# moves; a's verifier passes.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup drain 117
lab up 4 --shared-pool >/dev/null
SHARED=$(labenv LAB_SHARED_POOL)

# h4: a standalone host on the same shared pool; all four trust each other
trust_all 4
quorate() { [ "$(t "$1" cluster show --json | jq -r .quorum.quorate)" = true ]; }
nodef() { t "${3:-h2}" cluster show --json |
    jq -r --arg n "$1" --arg f "$2" '.nodes[] | select(.name == $n) | .[$f] // ""'; }
st() { t "$1" vm show "$2" --json 2>/dev/null | jq -r .state; }
running_on() { [ "$(st "$2" "$1")" = running ]; }
elsewhere() { running_on "$1" h2 || running_on "$1" h3; }
check_fails() { local d=$1 want=$2; shift 2
	check "$d" eval "out=\$($* 2>&1); [ \$? -ne 0 ] && grep -q -- \"$want\" <<<\"\$out\""; }

check "create c1 of h1, h2, h3" t h1 cluster create c1 --node h1 --node h2 --node h3

# ---- bad input: refused, nothing changed ----
check_fails "a quarantine threshold out of range is refused" "quarantine-threshold" \
    t h1 cluster set --quarantine-threshold 101
check_fails "a quarantine duration of 0 is refused" "quarantine-duration" \
    t h1 cluster set --quarantine-duration 0
check "the defaults stand: 3 isolations, 7200 s" eval \
    '[ "$(t h3 cluster show --json | jq -r ".settings | \"\(.quarantine_threshold),\(.quarantine_duration_s)\"")" = 3,7200 ]'
check_fails "drain of a node not in the cluster is refused" "is no node of cluster" \
    t h1 cluster node drain h9
check_fails "resume of a node not paused is refused" "is not paused" \
    t h1 cluster node resume h2
check_fails "clear-quarantine of a node not quarantined is refused" "is not quarantined" \
    t h1 cluster node clear-quarantine h2

# ---- a (HA) and b (not HA) on h1 ----
shared_guest h1 a disk:/dev/vdb:50
shared_guest h1 b idle
check "a boots" wait_for 120 console_has h1 a TERN-GUEST-READY
check "a's writer acknowledges" wait_for 60 writer_acks h1 a 20
check "ha enable a" t h1 vm ha enable a --priority high
check "a holds its lease on h1" wait_for 10 eval \
    '[ "$(SANLOCK_RUN_DIR=$(labenv H1_STATE_DIR)/sanlock sanlock client status | grep -c "^r ")" = 1 ]'
declare -A U
for v in a b; do U[$v]=$(t h1 vm show $v --json | jq -r .uuid); done
SAMPLES=$TERN_LAB/samples
sample_qemus "$SAMPLES"

# ---- every other node paused: the drain of h1 is refused ----
check "drain h2 (no VMs): done" t h1 cluster node drain h2
check "drain h3 from h2" t h2 cluster node drain h3
check "h1 sees h2 and h3 paused" eval \
    '[ "$(nodef h2 state h1)" = paused ] && [ "$(nodef h3 state h1)" = paused ]'
check_fails "drain of h1 with h2 and h3 paused is refused, naming them" \
    "no other node can take vm 'a' (256 MiB" t h1 cluster node drain h1
check "... nothing moved, h1 not paused" eval \
    'running_on a h1 && running_on b h1 && [ "$(nodef h1 state)" = up ]'
check "resume h3" t h1 cluster node resume h3
check_fails "a move to paused h2 is refused" "is paused (drained)" \
    t h1 vm move b --to h2
check "... b still runs on h1" running_on b h1
check "resume h2" t h3 cluster node resume h2

# ---- drain h1: both move away live ----
n=$(acked h1 a)
t0=$SECONDS
check "drain h1 (waits for the drain)" t h2 cluster node drain h1
echo "# drain of h1 (2 VMs, 256 MiB each): $((SECONDS - t0)) s"
check "a and b run elsewhere, not on h1" eval \
    'elsewhere a && elsewhere b && ! running_on a h1 && ! running_on b h1'
check "h1 is paused, its drain done" eval \
    '[ "$(nodef h1 state)" = paused ] && [ "$(nodef h1 drain)" = done ]'
check "a's writer goes on after the move" eval \
    'h=h2; running_on a h3 && h=h3; wait_for 60 writer_acks $h a $((n + 5))'
check "a move back to paused h1 is refused" eval \
    'h=h2; running_on b h3 && h=h3; out=$(t $h vm move b --to h1 2>&1); [ $? -ne 0 ] && grep -q "is paused" <<<"$out"'

# ---- resume --failback: both come back ----
t0=$SECONDS
check "resume h1 --failback" t h3 cluster node resume h1 --failback
check "a and b back on h1" wait_for 150 eval 'running_on a h1 && running_on b h1'
echo "# resume --failback -> both back on h1: $((SECONDS - t0)) s (10 s settle)"
check "h1 up again" eval '[ "$(nodef h1 state)" = up ]'

# ---- three flaps within the hour: h1 quarantined, drained ----
for i in 1 2 3; do
	lab cut h1 >/dev/null 2>&1
	check "flap $i: h2 sees h1 isolated" wait_for 30 eval '[ "$(nodef h1 state)" = isolated ]'
	lab restore h1 >/dev/null 2>&1
	check "flap $i: h1 back, quorate" wait_for 40 eval \
	    '[ "$(nodef h1 state)" != isolated ] && quorate h1'
	[ $i = 3 ] || check "flap $i: not quarantined yet" eval \
	    'sleep 3; [ "$(nodef h1 state)" = up ]'
done
check "h1 is quarantined" wait_for 20 eval '[ "$(nodef h1 state)" = quarantined ]'
check "its VMs are drained away" wait_for 150 eval \
    'elsewhere a && elsewhere b && ! running_on a h1 && ! running_on b h1'
check "its drain is done" wait_for 20 eval '[ "$(nodef h1 drain)" = done ]'
check "h1's events say why" grep -q "draining node h1 (quarantined: isolated too often)" "$(labenv H1_LOG)"
check_fails "resume of quarantined h1 is refused" "is quarantined until" \
    t h2 cluster node resume h1
check "clear-quarantine h1" t h2 cluster node clear-quarantine h1
check "h1 paused, no longer quarantined" eval '[ "$(nodef h1 state)" = paused ]'
check "resume h1" t h2 cluster node resume h1
check "h1 up" eval '[ "$(nodef h1 state)" = up ]'
check "a and b stay where they are (no failback asked)" eval 'elsewhere a && elsewhere b'

# ---- load balancing, by vCPUs over cores: one VM is 100/N %, two 200/N % ----
THR=$((150 / $(nproc)))
host_of() { local h; for h in h1 h2 h3; do running_on "$1" $h && echo $h && return; done; }
together() { [ "$(host_of a)" = "$(host_of b)" ]; }
apart() { local x y; x=$(host_of a); y=$(host_of b); [ -n "$x" ] && [ -n "$y" ] && [ "$x" != "$y" ]; }
check_fails "balance-by out of the list is refused" "is not memory or cpu" \
    t h1 cluster set --balance-by disk
check "balance by cpu (still off)" t h1 cluster set --balance-by cpu
check_fails "balance without a threshold is refused" "no threshold" t h1 cluster balance --dry-run
ha=$(host_of a)
together || check "b joins a on $ha (an operator's move)" t "$(host_of b)" vm move b --to "$ha"
check "a and b together on $ha" wait_for 15 together
plan=$(t h1 cluster balance --dry-run --threshold $THR 2>&1)
echo "$plan" | sed 's/^/# /'
check "balance --dry-run shows one move off $ha" eval \
    '[ "$(grep -c "^would move" <<<"$plan")" = 1 ] && grep -q ": $ha -> " <<<"$plan"'
check "... and moves nothing" eval 'sleep 3; together'
check "balance --threshold $THR" t h2 cluster balance --threshold $THR
check "a and b apart" wait_for 90 apart
check "balanced now: nothing to move" eval \
    't h3 cluster balance --dry-run --threshold $THR | grep -q "balanced: nothing to move"'
check "the policy: --balance-threshold $THR every 10 s" \
    t h1 cluster set --balance-threshold $THR --balance-interval 10
check "b joins a again (an operator's move)" t "$(host_of b)" vm move b --to "$(host_of a)"
check "the policy moves one of them away" wait_for 90 apart
check "an event says so" eval 'grep -h "balancing: vm" "$(labenv H1_LOG)" "$(labenv H2_LOG)" "$(labenv H3_LOG)" | grep -q .'
check "balancing off" t h1 cluster set --balance-threshold 0
nm=$(cat "$TERN_LAB"/h*/log/ternd.log | grep -c "balancing: vm")
check "no thrashing: one balancing move per imbalance" eval '[ "$nm" -le 2 ]'

# ---- on-host-shutdown drain: SIGTERM of h2's ternd drains h2 first ----
on_h2() { [ "$(host_of a)" = h2 ] || [ "$(host_of b)" = h2 ]; }
on_h2 || check "b moves to h2" t "$(host_of b)" vm move b --to h2
check "a VM runs on h2" on_h2
printf -- '--on-host-shutdown\ndrain\n' >>"$(labenv H2_ARGSFILE)"
lab kill h2 >/dev/null 2>&1	# ternd alone: its QEMUs run on
lab start h2 >/dev/null 2>&1
check "h2's ternd back (on-host-shutdown drain), in step" wait_for 30 eval \
    'quorate h2 && [ "$(nodef h2 ternd h1)" = true ] && on_h2'
t0=$SECONDS
check "SIGTERM: h2's ternd exits after its drain" lab stop h2
echo "# SIGTERM of h2 -> drained, ternd gone: $((SECONDS - t0)) s"
check "a and b run on h1 or h3" wait_for 30 eval \
    '(running_on a h1 || running_on a h3) && (running_on b h1 || running_on b h3)'
check "h2 is paused" eval '[ "$(nodef h2 state h1)" = paused ]'
check "h2's events say why" grep -q "host shutting down: this node is drained first" "$(labenv H2_LOG)"
lab start h2 >/dev/null 2>&1
check "resume h2" wait_for 30 t h1 cluster node resume h2

# ---- rolling maintenance: each node drained, its command run, back ----
for i in 1 2 3; do
	d=$(labenv H${i}_STATE_DIR)/maintenance.d
	mkdir -p "$d"
	# the command notes how many of this lab's QEMUs run on its node
	cat >"$d/update" <<SCRIPT
#!/bin/sh
n=\$(ps -eo args= | grep -c "[q]emu-system-x86_64 .*$TERN_LAB/\$TERN_NODE/run/")
echo "\$TERN_NODE \$n" >>"$TERN_LAB/maint.log"
sleep 1
SCRIPT
	chmod +x "$d/update"
done
printf '#!/bin/sh\nexit 3\n' >"$(labenv H2_STATE_DIR)/maintenance.d/broken"
chmod +x "$(labenv H2_STATE_DIR)/maintenance.d/broken"
check_fails "maintain without --run is refused" "run" t h1 cluster maintain
lab kill h3 >/dev/null 2>&1	# its ternd only: Corosync stays up
check_fails "maintain while h3's ternd is down is refused, naming it" "node h3 is not up" \
    t h1 cluster maintain --run update
lab start h3 >/dev/null 2>&1
check "h3 back in step" wait_for 30 eval '[ "$(nodef h3 ternd h1)" = true ]'
check_fails "maintain of a command h2 does not have stops at h2, resumed" \
    "host h2 has no maintenance command 'nope'" \
    t h1 cluster maintain --run nope
check "... h2 up again" wait_for 30 eval '[ "$(nodef h2 state h1)" = up ]'
n=$(acked "$(host_of a)" a)
t0=$SECONDS
check "maintain --run update (h2, h3, then h1)" t h1 cluster maintain --run update
echo "# maintain of 3 nodes: $((SECONDS - t0)) s"
sed 's/^/# maint.log: /' "$TERN_LAB/maint.log"
check "the command ran on h2, h3, h1 in turn, no VM on its node" eval \
    '[ "$(cat "$TERN_LAB/maint.log" | tr "\n" " ")" = "h2 0 h3 0 h1 0 " ]'
check "every node up, a and b running" eval \
    '[ "$(nodef h1 state)" = up ] && [ "$(nodef h2 state)" = up ] && [ "$(nodef h3 state)" = up ] && [ -n "$(host_of a)" ] && [ -n "$(host_of b)" ]'
check "a's writer went on" wait_for 60 eval 'writer_acks "$(host_of a)" a $((n + 5))'
check_fails "a failing command stops the round at h2" \
    "maintenance stopped at node h2: its maintenance command failed" \
    t h1 cluster maintain --run broken
check "... h2 stays paused" eval '[ "$(nodef h2 state h1)" = paused ]'
check "resume h2 --failback" t h1 cluster node resume h2 --failback

# ---- standalone <-> cluster: the cluster's state follows the VM ----
incl() { t h1 vm list --cluster --json | jq -r --arg n "$1" '.vms[] | select(.name == $n) | .owner'; }
check_fails "an HA VM does not leave its cluster, saying why" \
    "vm 'a' is highly available in cluster 'c1' and host h4 is no node of it" \
    t "$(host_of a)" vm move a --to h4
check "b (not HA) moves live out of the cluster, to h4" t "$(host_of b)" vm move b --to h4
check "b runs on h4" running_on b h4
check "the cluster's state let b go at once" eval 'sleep 0.3; [ -z "$(incl b)" ]'
check "b moves live from h4 into the cluster, to h2" t h4 vm move b --to h2
check "the cluster's state has b, owner h2" wait_for 10 eval '[ "$(incl b)" = h2 ]'

kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
two() { two_outside_moves "$SAMPLES" a=${U[a]} b=${U[b]}; }
echo "# $(grep -c '\.$' "$SAMPLES") samples; a VM on two hosts:" \
    "$(grep -cE ' ([2-9]|[1-9][0-9]+) ' "$SAMPLES") during its moves," \
    "$(two | wc -l) outside them ($(wc -l < "$SAMPLES.moves") moves)"
check "never a VM on two hosts outside its own live moves" eval '[ -z "$(two)" ]'
check "the sampler saw a and b" eval \
    'grep -q -- "${U[a]} 1" "$SAMPLES" && grep -q -- "${U[b]} 1" "$SAMPLES"'

t "$(host_of a)" vm stop a >/dev/null
args=()
for H in H1 H2 H3; do
	f=$(labenv ${H}_STATE_DIR)/vms/${U[a]}/console.log
	[ -f "$f" ] && args+=(--console "$f")
done
check "a's disk passes the verifier" "$VERIFY" --image "$SHARED/a-vdb.qcow2" "${args[@]}"
e2e_openapi_check
e2e_finish
