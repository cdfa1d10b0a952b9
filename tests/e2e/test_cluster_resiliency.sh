#!/usr/bin/env bash
# test_cluster_resiliency.sh - compute resiliency (issue 15) in a 3-node
# cluster on real Corosync and sanlock: `cluster set` and its refusals;
# two HA VMs on h1, `stay` (the disk writer, the cluster's period, 240 s)
# and `quick` (its own period, 30 s).  (a) h1's link flaps for 10 s: the
# majority sees h1 isolated, nothing moves; (b) h1 cut off (alive, its
# storage too) past quick's period: h1 stops quick itself, the majority
# restarts it elsewhere, while stay runs on on h1, unmonitored; h1 back
# within stay's period: nothing else moved, quick's copy on h1 held;
# (c) h1 dead (ternd, Corosync, sanlock, QEMUs killed, link cut): its
# storage heartbeat stops, so stay fails over without waiting its 240 s;
# the writer's verifier passes; a 100 ms sampler never sees a VM on two
# hosts.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup resil 116
lab up 3 --shared-pool >/dev/null
SHARED=$(labenv LAB_SHARED_POOL)

trust_three
cdir() { echo "$(labenv "H${1#h}_STATE_DIR")/corosync"; }
quorate() { [ "$(t "$1" cluster show --json | jq -r .quorum.quorate)" = true ]; }
# node_state ON NODE: NODE's state as ON sees it
node_state() { t "$1" cluster show --json |
    jq -r --arg n "$2" '.nodes[] | select(.name == $n) | .state'; }
owner() { t "${2:-h2}" vm list --cluster --json |
    jq -r --arg n "$1" '.vms[] | select(.name == $n) | .owner'; }
unmonitored() { [ "$(t h2 vm list --cluster --json |
    jq -r --arg n "$1" '.vms[] | select(.name == $n) | .unmonitored')" = true ]; }
st() { t "$1" vm show "$2" --json 2>/dev/null | jq -r .state; }
running_on() { [ "$(st "$2" "$1")" = running ]; }
elsewhere() { running_on "$1" h2 || running_on "$1" h3; }

check "create c1 of h1, h2, h3" t h1 cluster create c1 --node h1 --node h2 --node h3

# ---- bad input: refused, nothing changed ----
check_fails() { local d=$1 want=$2; shift 2
	check "$d" eval "out=\$($* 2>&1); [ \$? -ne 0 ] && grep -q -- \"$want\" <<<\"\$out\""; }
check_fails "a period out of range is refused" "resiliency-period" \
    t h1 cluster set --resiliency-period 99999
check_fails "an unknown level is refused" "is not always-isolated" \
    t h1 cluster set --resiliency-level sometimes
check_fails "nothing to set is refused" "nothing to set" t h1 cluster set
check "the defaults stand: 240 s, isolated-if-storage-alive" eval \
    '[ "$(t h3 cluster show --json | jq -r ".settings | \"\(.resiliency_period_s),\(.resiliency_level)\"")" = 240,isolated-if-storage-alive ]'
check "cluster set on h1" t h1 cluster set --resiliency-period 240 \
    --resiliency-level isolated-if-storage-alive

# ---- two HA VMs on h1 ----
shared_guest h1 stay disk:/dev/vdb:50
shared_guest h1 quick idle
check "stay boots" wait_for 120 console_has h1 stay TERN-GUEST-READY
check "stay's writer acknowledges" wait_for 60 writer_acks h1 stay 20
check "both in the cluster's state as h1's" wait_for 30 eval \
    '[ "$(owner stay)" = h1 ] && [ "$(owner quick)" = h1 ]'
check "ha enable stay (the cluster's period)" t h1 vm ha enable stay --priority high
check_fails "a VM's period out of range is refused" "resiliency-period" \
    t h1 vm ha enable quick --resiliency-period 100000
check "ha enable quick, its own period 30 s" t h1 vm ha enable quick --resiliency-period 30
check "h3 sees quick's period" wait_for 10 eval \
    '[ "$(t h3 vm list --cluster --json | jq -r ".vms[] | select(.name == \"quick\") | .ha.resiliency_period_s")" = 30 ]'
check "both hold their leases on h1 (taken within a second)" wait_for 10 eval \
    '[ "$(SANLOCK_RUN_DIR=$(labenv H1_STATE_DIR)/sanlock sanlock client status | grep -c "^r ")" = 2 ]'

# ---- the sampler: never a VM on two hosts (lib.sh) ----
declare -A U
for v in stay quick; do U[$v]=$(t h1 vm show $v --json | jq -r .uuid); done
SAMPLES=$TERN_LAB/samples
sample_qemus "$SAMPLES"

# ---- (a) a 10 s flap: isolated, nothing moves ----
lab cut h1 >/dev/null 2>&1
t0=$SECONDS
check "(a) h2 sees h1 isolated" wait_for 20 eval '[ "$(node_state h2 h1)" = isolated ]'
check "(a) stay and quick unmonitored" eval 'unmonitored stay && unmonitored quick'
sleep $((10 - (SECONDS - t0) > 0 ? 10 - (SECONDS - t0) : 0))
lab restore h1 >/dev/null 2>&1
check "(a) h1 back up, quorate" wait_for 30 eval \
    '[ "$(node_state h2 h1)" = up ] && quorate h1'
check "(a) nothing moved: both run on h1 only" eval \
    'running_on stay h1 && running_on quick h1 && ! elsewhere stay && ! elsewhere quick &&
     [ "$(owner stay)" = h1 ] && [ "$(owner quick)" = h1 ]'
check "(a) h2's events say h1 came back within the period" wait_for 10 \
    grep -q "node h1 is back within the resiliency period" "$(labenv H2_LOG)"

# ---- (b) cut off past quick's period: quick fails over, stay does not ----
n=$(acked h1 stay)
lab cut h1 >/dev/null 2>&1
t0=$(date +%s.%N)
check "(b) h1 stops quick itself once 30 s without quorum" wait_for 60 eval \
    '! running_on quick h1'
t1=$(date +%s.%N)
check "(b) the majority restarts quick elsewhere" wait_for 60 elsewhere quick
t2=$(date +%s.%N)
echo "# (b) cut -> quick stopped on h1 after $(echo "$t1 - $t0" | bc) s," \
    "running elsewhere after $(echo "$t2 - $t0" | bc) s (its period: 30 s)"
check "(b) stay runs on on h1, unmonitored, nowhere else" eval \
    'running_on stay h1 && unmonitored stay && ! elsewhere stay'
check "(b) h1's log says why quick stopped" \
    grep -q "without quorum for 30 s, the resiliency period of HA vm 'quick'" "$(labenv H1_LOG)"
lab restore h1 >/dev/null 2>&1
check "(b) h1 back within stay's period: up, quorate" wait_for 30 eval \
    '[ "$(node_state h2 h1)" = up ] && quorate h1'
check "(b) stay never moved; its writer goes on" eval \
    'running_on stay h1 && ! elsewhere stay && [ "$(owner stay)" = h1 ]'
check "(b) ... acknowledging" wait_for 60 writer_acks h1 stay $((n + 10))
check "(b) h1's copy of quick is stale, held" wait_for 20 eval \
    'out=$(t h1 vm start quick 2>&1); [ $? -ne 0 ] && grep -q "gave this VM to node" <<<"$out"'

# ---- (c) h1 dead, storage heartbeat gone: stay fails over at once ----
sleep 5
t0=$(date +%s.%N)
lab kill h1 >/dev/null 2>&1
kill -KILL "$(cat "$(cdir h1)/run/corosync.pid")" "$(cat "$(labenv H1_DIR)/sanlock.pid")" 2>/dev/null || true
pkill -KILL -f -- "^qemu-system-x86_64 .*-uuid ${U[stay]}" || true
lab cut h1 >/dev/null 2>&1
check "(c) h2 sees h1 down, not isolated, once its storage heartbeat stopped" \
    wait_for 60 eval '[ "$(node_state h2 h1)" = down ]'
check "(c) stay restarts elsewhere well within its 240 s" wait_for 150 elsewhere stay
echo "# (c) kill of h1 -> stay running elsewhere: $(echo "$(date +%s.%N) - $t0" | bc) s" \
    "(period 240 s; sanlock's lease expiry 68 s)"
check "(c) h2's events say h1 is down, its storage heartbeat gone" \
    grep -q "node h1 is down (its membership and storage heartbeat are gone)" "$(labenv H2_LOG)"

kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
two() { grep -E ' ([2-9]|[1-9][0-9]+) ' "$SAMPLES" || true; }
echo "# $(grep -c '\.$' "$SAMPLES") samples; with a VM on two hosts: $(two | wc -l)"
check "never a VM on two hosts at once" eval '[ -z "$(two)" ]'
check "the sampler saw stay and quick" eval \
    'grep -q -- "${U[stay]} 1" "$SAMPLES" && grep -q -- "${U[quick]} 1" "$SAMPLES"'

# ---- the writer's data ----
h=h2; running_on stay h3 && h=h3
t $h vm stop stay >/dev/null
args=()
for H in H1 H2 H3; do
	f=$(labenv ${H}_STATE_DIR)/vms/${U[stay]}/console.log
	[ -f "$f" ] && args+=(--console "$f")
done
check "stay's disk passes the verifier" "$VERIFY" --image "$SHARED/stay-vdb.qcow2" "${args[@]}"
e2e_finish
