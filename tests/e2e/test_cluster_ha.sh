#!/usr/bin/env bash
# test_cluster_ha.sh - HA VMs in a 3-node cluster on real Corosync (issue
# 14): the cluster's state replicated over CPG (`vm list --cluster` the
# same on every node), `vm ha enable` and its refusals, then h1 dies
# (ternd, Corosync, sanlock and its QEMUs killed, its link cut): its HA VMs
# restart on h2 and h3, once sanlock says h1's leases expired, in priority
# order, the preferred owner and the
# anti-affinity group obeyed, the no-auto-start VM left alone; the disk
# writer's verifier passes on the restarted VM; a 100 ms sampler never
# sees two QEMUs of one VM (but for mid's failback, a live move); h1 back:
# its stale copies held, the state the majority's, and mid (preferred h1,
# failback immediate) moved back to it live, replacing its stale copy,
# while hi (failback never) stays; h1 alone (cut, alive, its storage
# too): not quorate, it starts nothing, its HA VM mid runs on under its
# lease while the majority sees h1 isolated and moves nothing; h1 back,
# mid is still h1's.
# Replication in the cluster (issue 15, Hyper-V's Replica Broker): hi
# replicates to h4, a standalone replica server; the relationship is in
# the cluster's state, so h3, which restarts hi, replicates it on: its
# next cycle (a compare with the last acknowledged cycle's maps, the
# spool being on the shared pool) is taken by h4 from h3 and verified.
# Deleting h1's stale copy of hi afterwards keeps the disks and the spool
# (they are the VM h3 runs) and drops only the stale row.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster_ha 115
lab up 4 --shared-pool >/dev/null
SHARED=$(labenv LAB_SHARED_POOL)

trust_all 4	# h4: the replica server, outside the cluster
t h4 replica server enable --allow h1=local --allow h2=local --allow h3=local >/dev/null
cdir() { echo "$(labenv "H${1#h}_STATE_DIR")/corosync"; }
coro_ctl() { TERN_CLUSTER_DIR="$(cdir "$1")" \
    lab exec "$1" "$REPO/tests/lab/corosync-ctl.sh" "$2"; }
quorate() { [ "$(t "$1" cluster show --json | jq -r .quorum.quorate)" = true ]; }
# owner VM [ON]: the VM's owner in the cluster's state as ON sees it
owner() { t "${2:-h2}" vm list --cluster --json |
    jq -r --arg n "$1" '.vms[] | select(.name == $n) | .owner'; }
st() { t "$1" vm show "$2" --json 2>/dev/null | jq -r .state; }
running_on() { [ "$(st "$2" "$1")" = running ]; }
uuid_of() { t h1 vm show "$1" --json | jq -r .uuid; }

check "create c1 of h1, h2, h3" t h1 cluster create c1 --node h1 --node h2 --node h3

# ---- four VMs on h1, on the shared pool; one more on h1's own pool ----
shared_guest h1 hi disk:/dev/vdb:50
check "hi boots" wait_for 120 console_has h1 hi TERN-GUEST-READY
for v in mid lo no; do shared_guest h1 $v idle; done
t h1 vm create loc --cpus 1 --memory 64M --disk 16M >/dev/null
check "hi's writer acknowledges" wait_for 60 writer_acks h1 hi 20
# h1_vms HOST: the names the state HOST has gives to h1, sorted
h1_vms() { t "$1" vm list --cluster --json |
    jq -r '[.vms[] | select(.owner == "h1") | .name] | sort | join(",")'; }
all_h1() { local h
	for h in h1 h2 h3; do [ "$(h1_vms $h)" = hi,lo,loc,mid,no ] || return 1; done; }
check "the state lists every VM once, owner h1, on all three nodes" wait_for 30 all_h1
t h2 vm list --cluster | sed 's/^/# /'

# ---- bad input: refused, nothing changed ----
check_fails() { local d=$1 want=$2; shift 2
	check "$d" eval "out=\$($* 2>&1); [ \$? -ne 0 ] && grep -q -- \"$want\" <<<\"\$out\""; }
check_fails "HA on a VM on a pool that is not shared is refused" "not shared with node" \
    t h1 vm ha enable loc
check_fails "a preferred owner that is no node is refused" "is not a node of this cluster" \
    t h1 vm ha enable hi --preferred h9
check_fails "a bad priority is refused" "is not high, medium, low" \
    t h1 vm ha enable hi --priority urgent
check_fails "a bad failback is refused" "window HH-HH" \
    t h1 vm ha enable hi --failback sometimes
check_fails "HA on a VM of another node is refused" "not found on this host" \
    t h2 vm ha enable hi
check "nothing became HA" eval \
    '[ "$(t h2 vm list --cluster --json | jq "[.vms[] | select(.ha != null)] | length")" = 0 ]'

check "ha enable hi: high, preferred h3" t h1 vm ha enable hi --priority high --preferred h3
check "ha enable mid: medium, group g, preferred h1, failback immediate" \
    t h1 vm ha enable mid --anti-affinity g --preferred h1 --failback immediate
check "ha enable lo: low, group g" t h1 vm ha enable lo --priority low --anti-affinity g
check "ha enable no: no-auto-start" t h1 vm ha enable no --priority no-auto-start
check "h3 sees the settings" wait_for 10 eval \
    '[ "$(t h3 vm list --cluster --json | jq -r ".vms[] | select(.name == \"hi\") | .ha.priority + \",\" + (.ha.preferred | join(\",\"))")" = high,h3 ]'
check "vm list --cluster prints the owner and HA" eval \
    '[[ $(t h3 vm list --cluster) == *"mid "*"h1 "*"running"*"medium"* ]]'
check "mid, lo, no running on h1" eval 'running_on mid h1 && running_on lo h1 && running_on no h1'

# ---- hi replicates to h4; the cluster's state holds the relationship ----
# rs HOST FIELDS: hi's relationship on HOST, as jq prints FIELDS
rs() { t "$1" vm replication show hi --json 2>/dev/null | jq -r "$2"; }
check "enable hi -> h4 (every 15 min: the test starts each cycle)" \
    t h1 vm replication enable hi --to h4 --interval 15m
check "the initial copy is acknowledged" wait_for 180 eval '[ "$(rs h1 .state)" = replicating ]'
check "the cluster's state holds it: h2 sees hi replicating to h4" wait_for 20 eval \
    '[ "$(t h2 vm list --cluster --json | jq -r ".vms[] | select(.name == \"hi\") | .replication | \"\(.to),\(.seq)\"")" = "h4,$(rs h1 .seq)" ]'
RSEQ=$(rs h1 .seq)

# ---- the sampler: never two QEMUs of one VM ----
declare -A U
for v in hi mid lo no; do U[$v]=$(uuid_of $v); done
SAMPLES=$TERN_LAB/samples
sample_qemus "$SAMPLES"
S0=$SECONDS

# ---- h1 dies: ternd, Corosync, sanlock, QEMUs killed, link cut ----
check "hi holds its lease on h1" eval \
    'SANLOCK_RUN_DIR=$(labenv H1_STATE_DIR)/sanlock sanlock client status | grep -q ":${U[hi]}:"'
t0=$(date +%s.%N) T0=$EPOCHREALTIME
lab kill h1 >/dev/null 2>&1
kill -KILL "$(cat "$(cdir h1)/run/corosync.pid")" "$(cat "$(labenv H1_DIR)/sanlock.pid")" 2>/dev/null || true
for v in hi mid lo no; do pkill -KILL -f -- "^qemu-system-x86_64 .*-uuid ${U[$v]}" || true; done
lab cut h1 >/dev/null 2>&1
check "h2 and h3 stay quorate" wait_for 30 eval 'quorate h2 && quorate h3'
check "hi restarts on h3 (its preferred owner), once h1's lease expired" wait_for 240 running_on hi h3
t_hi=$(date +%s.%N)
check "mid and lo restart on two different nodes (anti-affinity)" wait_for 120 eval \
    '{ running_on mid h2 && running_on lo h3; } || { running_on mid h3 && running_on lo h2; }'
echo "# from the kill: hi running after $(echo "$t_hi - $t0" | bc) s"
started() { local h; for h in h2 h3; do
	t $h vm show "$1" --json 2>/dev/null | jq -r '.started_at // empty'; done; }
echo "# started: hi $(started hi), mid $(started mid), lo $(started lo)"
check "restarted in priority order: hi, then mid, then lo" eval \
    '[[ ! "$(started mid)" < "$(started hi)" && ! "$(started lo)" < "$(started mid)" ]]'
check "no (no-auto-start) is not restarted: still h1's" eval \
    '[ "$(owner no)" = h1 ] && [ -z "$(st h2 no)" ] && [ -z "$(st h3 no)" ]'
check "the state says hi is h3's" eval '[ "$(owner hi)" = h3 ] && [ "$(owner hi h3)" = h3 ]'
check "hi's writer acknowledges on h3" wait_for 90 writer_acks h3 hi 5

# ---- h3 replicates hi on, from the cluster's state ----
check_eq "h3 took hi's relationship: primary to h4, cycle $RSEQ" \
    "$(rs h3 '.role + " " + .peer + " " + (.seq | tostring)')" "primary h4 $RSEQ"
check "a cycle of hi from h3" wait_for 60 eval 't h3 vm replication now hi >/dev/null 2>&1'
last_cycle() { t h3 job list --json | jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'; }
echo "# hi's first cycle from h3: $(last_cycle | jq -r '.state + ", " + .details.kind')"
check_eq "... succeeded, the next seq" "$(rs h3 .seq)" $((RSEQ + 1))
check_eq "h4 takes hi's cycles from h3 now" "$(t h4 vm replication show hi --json | jq -r .peer)" h3
check "the replica's point matches h3's (replication verify)" t h3 vm replication verify hi

# ---- h1 back: its copies stale, held; mid fails back to it ----
FB0=$EPOCHREALTIME
lab restore h1 >/dev/null 2>&1
coro_ctl h1 start
lab sanlock h1 >/dev/null 2>&1
lab start h1 >/dev/null 2>&1
check "h1 back in step: it sees hi on h3" wait_for 60 eval '[ "$(owner hi h1)" = h3 ]'
check "h1's stale copy of hi is held: a start is refused" wait_for 20 eval \
    'out=$(t h1 vm start hi 2>&1); [ $? -ne 0 ] && grep -q "gave this VM to node h3" <<<"$out"'
check "hi still h3's after h1's return" eval '[ "$(owner hi h3)" = h3 ] && running_on hi h3'
# mid prefers h1 and fails back at once: moved live (its lease handed
# over), replacing h1's stale copy; hi (failback never) stays
mid_from=h2; running_on mid h3 && mid_from=h3
check "mid fails back to h1, live" wait_for 90 eval \
    'running_on mid h1 && [ "$(owner mid)" = h1 ] && [ -z "$(st $mid_from mid)" ]'
FB1=$EPOCHREALTIME
check "... by a vm.move from $mid_from" eval \
    '[ "$(t $mid_from job list --json | jq "[.jobs[] | select(.type == \"vm.move\" and .state == \"succeeded\")] | length")" -ge 1 ]'
check "h1 holds mid's lease" eval \
    'SANLOCK_RUN_DIR=$(labenv H1_STATE_DIR)/sanlock sanlock client status | grep -q ":${U[mid]}:"'
check "hi stays on h3 (failback never)" eval 'running_on hi h3 && [ "$(owner hi)" = h3 ]'
check "h1's stale copy of hi has no relationship (h3 replicates hi)" eval \
    '! t h1 vm replication show hi >/dev/null 2>&1'
# Delete h1's stale copy: its disks and the spool are hi's on h3.
cp "$(labenv H1_STATE_DIR)/vms/${U[hi]}/console.log" "$TERN_LAB/hi-h1-console.log"
check "delete h1's stale copy of hi" t h1 vm delete hi
check "... its disks and replication spool stay, hi runs on h3" eval \
    'test -e "$SHARED/hi-vdb.qcow2" && test -d "$SHARED/.tern-replica/${U[hi]}" &&
     running_on hi h3 && [ "$(owner hi)" = h3 ] && [ "$(rs h3 .role)" = primary ]'

kill $SAMPLER 2>/dev/null || true; wait $SAMPLER 2>/dev/null || true
NS=$(grep -c '\.$' "$SAMPLES") DUR=$((SECONDS - S0))
# two: a sample with some VM on two hosts, but for mid during its failback
# (a live move has a QEMU on each host by design, one paused; its lease
# keeps one running)
two() { awk -v mid="${U[mid]}" -v a="$FB0" -v b="$FB1" '{
	for (i = 2; i < NF; i += 2) if ($(i + 1) >= 2 &&
	    !($i == mid && $1 >= a && $1 <= b)) { print; next } }' "$SAMPLES"; }
echo "# $NS samples in $DUR s (the kill at $T0); with a VM on two hosts: $(two | wc -l)" \
    "(mid during its failback, left out: $(grep -cE "${U[mid]} 2 " "$SAMPLES"))"
two | head -n 3 | sed 's/^/# /'
check "the sampler sampled at least every 250 ms on average" eval \
    '[ "$NS" -gt 0 ] && [ $((DUR * 1000 / NS)) -le 250 ]'
check "the sampler saw hi's QEMU (on h1, then on h3)" grep -q -- "${U[hi]} 1" "$SAMPLES"
check "never a VM running on two hosts at once" eval '[ -z "$(two)" ]'

# ---- the writer's data: every acknowledged write there ----
t h3 vm stop hi >/dev/null
check "hi's disk passes the verifier" "$VERIFY" --image "$SHARED/hi-vdb.qcow2" \
    --console "$TERN_LAB/hi-h1-console.log" \
    --console "$(labenv H3_STATE_DIR)/vms/${U[hi]}/console.log"

# ---- h1 alone: no quorum, it starts nothing; its HA VM runs on ----
# mid (HA, on h1 since its failback) while h1 is cut off but alive, its
# storage too: the majority sees h1 isolated (compute resiliency, its
# storage heartbeat goes on), mid unmonitored, and moves nothing within
# the 240 s period (even past it, the lease h1 renews would stop a second
# copy: test_cluster_resiliency.sh); h1 back, mid is still h1's.
lab cut h1 >/dev/null 2>&1
check "h1 cut off: not quorate" wait_for 30 eval '! quorate h1'
check "the majority sees h1 isolated, mid unmonitored, still h1's" wait_for 30 eval \
    '[ "$(t h2 cluster show --json | jq -r ".nodes[] | select(.name == \"h1\") | .state")" = isolated ] &&
     [ "$(t h2 vm list --cluster --json | jq -r ".vms[] | select(.name == \"mid\") | \"\(.owner),\(.unmonitored)\"")" = h1,true ]'
sleep 10
check "mid runs on h1 alone, cut off (its lease renewed)" eval \
    'running_on mid h1 && [ "$(st h2 mid)" != running ] && [ "$(st h3 mid)" != running ] &&
     [ "$(pgrep -fc -- "^qemu-system-x86_64 .*-uuid ${U[mid]}")" = 1 ]'
check "h1 without quorum refuses to start no" eval \
    'out=$(t h1 vm start no 2>&1); [ $? -ne 0 ] && grep -q "not in a quorate partition" <<<"$out"'
check "no is still off on h1" eval '[ "$(st h1 no)" != running ]'
lab restore h1 >/dev/null 2>&1
check "h1 back, quorate and in step: the state still gives mid to h1, which runs it" \
    wait_for 60 eval '[ "$(t h1 vm list --cluster --json | jq -r .quorate)" = true ] &&
    [ "$(owner mid)" = h1 ] && [ "$(owner mid h1)" = h1 ] && running_on mid h1'
check "... and nowhere else" eval \
    '[ "$(st h2 mid)" != running ] && [ "$(st h3 mid)" != running ]'
check "ha disable mid (from its owner, h1)" t h1 vm ha disable mid
check "mid is no longer HA everywhere" wait_for 10 eval \
    '[ "$(t h1 vm list --cluster --json | jq -r ".vms[] | select(.name == \"mid\") | .ha")" = null ]'
e2e_openapi_check
e2e_finish
