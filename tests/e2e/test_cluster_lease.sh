#!/usr/bin/env bash
# test_cluster_lease.sh - sanlock leases for VMs on shared storage (issue
# 14, "never two copies"), on real sanlock, Corosync and QEMU.  Two hosts
# with the lab's shared pool, each with its own sanlock daemon (lab.sh,
# -w 0), in a 2-node cluster (two_node).  One HA VM (only HA VMs, which
# the cluster may start on another node, take leases), registered in
# place on h1 from an export, and the same files registered on h2 too
# (vm import --register: the same UUID; the cluster's state gives it to
# h1, so h2's copy is held).  (a) started on h1 its QEMU holds the VM's
# lease (sanlock client status); (b) a start on h2 is refused, nothing
# started there; a VM whose disks are in two pools cannot be HA and
# starts without a lease; (f) a live move to h2 and back hands the lease
# over (sanlock shows it on the destination only) and the cluster's state
# names the new owner, the writer going on; (g) faults of the handover:
# the destination unable to take the lease (the move rolls back, the
# source takes it again) and the source's ternd killed just after the
# release (restarted, it takes it again and resumes); (c) the lease taken away on h1 (its
# lockspace removed in sanlock): h1's QEMU is killed; (d) h1 dead
# (sanlock, ternd, Corosync, QEMU killed, link cut): the HA restart on h2
# waits while sanlock deems h1's host lease alive (h2's log says so,
# naming h1), then starts it; the time from the kill to QEMU running on
# h2 is printed; the disk writer's verifier passes; (e) all along, QEMUs
# with the VM's UUID sampled every 100 ms: never two.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster_lease 114
lab up 2 --shared-pool >/dev/null
trust_both
SH=$(labenv LAB_SHARED_POOL)
sldir() { echo "$(labenv "H${1#h}_STATE_DIR")/sanlock"; }
sl() { local h=$1; shift; SANLOCK_RUN_DIR=$(sldir "$h") sanlock client "$@"; }
cdir() { echo "$(labenv "H${1#h}_STATE_DIR")/corosync"; }

check "a sanlock daemon per host" eval \
    '[ -S "$(sldir h1)/sanlock.sock" ] && [ -S "$(sldir h2)/sanlock.sock" ]'
check "create c1 of h1, h2" t h1 cluster create c1 --node h1 --node h2
LS="tern-$(head -1 "$SH/.tern-pool")"
check "both join the shared pool's lockspace (host ids 1, 2)" wait_for 40 eval \
    'sl h1 status | grep -q "^s $LS:1:" && sl h2 status | grep -q "^s $LS:2:"'

# ---- one VM known on both hosts: same UUID, same disk files ----
E=$SH/exp-g1
t h1 vm create g1 --cpus 1 --memory 256M --disk 256M@shared --disk 64M@shared \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g1 tern.workload=disk:/dev/vdb:50" >/dev/null
check "g1 exported" t h1 vm export g1 "$E"
check "the original deleted" t h1 vm delete g1
check "h1 registers the export in place" t h1 vm import "$E" --register
check "g1 off on h1" wait_for 60 eval '[ "$(vm_field h1 g1 .state)" = off ]'
check "g1 made HA (once the cluster's state has it)" wait_for 30 \
    t h1 vm ha enable g1 --priority high
check "h2 registers the same files" t h2 vm import "$E" --register
check "g1 off on h2" wait_for 60 eval '[ "$(vm_field h2 g1 .state)" = off ]'
UUID=$(vm_field h1 g1 .uuid)
check_eq "the same UUID on both" "$UUID" "$(vm_field h2 g1 .uuid)"

# (e) the sampler: QEMUs with g1's UUID on h1 and on h2 (by the host's
# run directory in QEMU's command line), every 100 ms.  A host may show
# two for a moment: `qemu -daemonize`'s parent waits for its child.  A
# live move has a QEMU on each host by design (the source's paused, the
# destination's paused until the commit): samples taken while one runs are
# marked "m" and left out; the lease (f) is what keeps one running then.
SAMPLES=$TERN_LAB/qemu-samples
STOPF=$TERN_LAB/sampler.stop
MOVING=$TERN_LAB/moving
D1=$(labenv H1_RUN_DIR) D2=$(labenv H2_RUN_DIR)
(
	while [ ! -e "$STOPF" ]; do
		a=$(pgrep -fc -- "^qemu-system-x86_64 .*-uuid $UUID .*$D1/" || true)
		b=$(pgrep -fc -- "^qemu-system-x86_64 .*-uuid $UUID .*$D2/" || true)
		echo "$a $b $([ -e "$MOVING" ] && echo m)"
		sleep 0.1
	done
) >"$SAMPLES" &
SAMPLER=$!

# ---- (a) started on h1, its QEMU holds the lease ----
check "g1 starts on h1" t h1 vm start g1
check "h1's sanlock shows g1's lease" eval "sl h1 status | grep -q '^r $LS:$UUID:'"
check "guest boots" wait_for 90 console_has h1 g1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 writer_acks h1 g1 20

# ---- (b) h2's start refused, naming h1 ----
out=$(t h2 vm start g1 2>&1) && rc=0 || rc=$?
echo "# h2 start: $out"
check "h2's start fails" [ "$rc" -ne 0 ]
named=0; [[ $out == *"node h1"* ]] && named=1
check "the refusal names h1" [ "$named" = 1 ]
check "g1 stays off on h2" eval '[ "$(vm_field h2 g1 .state)" = off ]'
check "one QEMU of g1 in all" eval '[ "$(qemu_count "$UUID")" = 1 ]'

# ---- bad input: disks in two pools: started as before, without a lease ----
t h1 vm create mixed --cpus 1 --memory 128M --disk 32M@local --disk 32M@shared \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" >/dev/null
MU=$(vm_field h1 mixed .uuid)
mixout=$(t h1 vm ha enable mixed 2>&1) && rc=0 || rc=$?
check "a VM with disks in two pools cannot be HA" eval \
    '[ "$rc" -ne 0 ] && [[ $mixout == *"one shared pool"* ]]'
check "a VM with disks in two pools starts" t h1 vm start mixed
check "... without a lease" eval "! sl h1 status | grep -q ':$MU:'"
check "... and no lease file" [ ! -e "$SH/.tern-leases/$MU" ]
check "it stops" t h1 vm stop mixed

# ---- (f) a live move hands the lease over, and the state's owner ----
# owner: g1's owner in the cluster's state as h1 sees it
owner() { t h1 vm list --cluster --json |
    jq -r --arg u "$UUID" '.vms[] | select(.uuid == $u) | .owner'; }
holds() { sl "$1" status | grep -q "^r $LS:$UUID:"; }
check "h2's stale copy deleted (registered: the files stay)" t h2 vm delete g1
check "the files are still there" [ -f "$E/disks/vdb.qcow2" ]
n=$(acked h1 g1)
touch "$MOVING"
check "g1 (HA, leased) moves live to h2" t h1 vm move g1 --to h2
rm -f "$MOVING"
check "g1 runs on h2, gone from h1" eval \
    '[ "$(vm_field h2 g1 .state)" = running ] && ! t h1 vm show g1 >/dev/null 2>&1'
check "h2's sanlock holds g1's lease, h1's does not" eval 'holds h2 && ! holds h1'
# at once (the source's "moved" as it let the VM go), and it stays: the
# nodes' ticks alone would first show it h1's, then gone, then h2's
owner_stays() { local i
	for ((i = 0; i < 15; i++)); do [ "$(owner)" = "$1" ] || return 1; sleep 0.2; done; }
check "the cluster's state gives g1 to h2 at once, and keeps it" owner_stays h2
check "the writer goes on from h2" wait_for 60 writer_acks h2 g1 $((n + 10))
n=$(acked h2 g1)
touch "$MOVING"
check "g1 moves back live to h1" t h2 vm move g1 --to h1
rm -f "$MOVING"
check "h1 holds g1's lease again, h2 not" eval 'holds h1 && ! holds h2'
check "the state gives g1 to h1 at once, and keeps it" owner_stays h1
check "the writer goes on from h1" wait_for 60 writer_acks h1 g1 $((n + 10))
check "one QEMU of g1 in all" eval '[ "$(qemu_count "$UUID")" = 1 ]'

# ---- (g) the handover's faults: one copy runs, holding the lease ----
# ready H: H's ternd in step with the cluster and in the shared lockspace
ready() { [ "$(t "$1" vm list --cluster --json | jq -r .in_step)" = true ] &&
    [ "$(t "$1" cluster show --json | jq -r .lockspaces.shared)" = joined ]; }
on_h1_alone() { [ "$(vm_field h1 g1 .state)" = running ] && holds h1 &&
    ! holds h2 && ! t h2 vm show g1 >/dev/null 2>&1; }
# the destination cannot take the lease: the move rolls back, h1 takes
# its lease again before its QEMU resumes
restart_with h2 move-in.lease=fail
check "h2's ternd back, in step, in the lockspace" wait_for 60 ready h2
n=$(acked h1 g1)
touch "$MOVING"
gout=$(t h1 vm move g1 --to h2 2>&1) && rc=0 || rc=$?
echo "# move, h2 cannot take the lease: $gout"
check "the move fails when h2 cannot take the lease" [ "$rc" -ne 0 ]
named=0; [[ $gout == *"refused the commit"*"move-in.lease"* ]] && named=1
check "... at the commit, saying why" [ "$named" = 1 ]
check "g1 runs on h1 alone, which holds its lease again" wait_for 30 on_h1_alone
# the move's window ends when h2's refused QEMU (paused, -incoming, never
# run) has exited: the job fails as soon as h2 refuses, before that
wait_for 15 eval '! pgrep -f -- "^qemu-system-x86_64 .*-uuid $UUID .*$D2/" >/dev/null' || true
rm -f "$MOVING"
check "the writer goes on from h1" wait_for 60 writer_acks h1 g1 $((n + 10))
restart_with h2
check "h2's ternd back, in step, in the lockspace" wait_for 60 ready h2
# the source's ternd killed just after releasing the lease: restarted,
# it takes the lease again and resumes the VM; h2 never runs it
restart_with h1 move.lease-released=kill
check "h1's ternd back, in step, in the lockspace" wait_for 60 ready h1
n=$(acked h1 g1)
touch "$MOVING"
t h1 vm move g1 --to h2 >/dev/null 2>&1 || true
check "h1's ternd died after the release" wait_for 30 eval '! t h1 host info >/dev/null 2>&1'
check "g1's lease is held by no host meanwhile" eval '! holds h1 && ! holds h2'
restart_with h1
check "g1 runs on h1 alone again, its lease taken again" wait_for 60 on_h1_alone
rm -f "$MOVING"
check "the writer goes on from h1" wait_for 60 writer_acks h1 g1 $((n + 10))

# ---- (c) the lease lost on h1: its QEMU killed ----
# (h1's ternd was restarted in (g): g1's holder is one an earlier ternd
# ran, found and watched again)
q1=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $UUID")
t0=$(date +%s.%N)
sl h1 rem_lockspace -s "$LS:1:$SH/.tern-leases/lockspace:0" >/dev/null 2>&1 || true
check "h1's QEMU killed within 30 s of the lease's loss" wait_for 30 eval \
    '! kill -0 "$q1" 2>/dev/null'
echo "# QEMU gone $(echo "$(date +%s.%N) - $t0" | bc) s after rem_lockspace"
check "g1 no longer running on h1" wait_for 20 eval \
    '[ "$(vm_field h1 g1 .state)" != running ]'
check "h1 rejoins the lockspace" wait_for 40 eval 'sl h1 status | grep -q "^s $LS:1:"'

# ---- (d) h1 dead: h2 starts g1 once h1's host lease expired ----
n=$(acked h1 g1)
check "g1 starts on h1 again" t h1 vm start g1
check "writer acknowledges again" wait_for 90 writer_acks h1 g1 $((n + 20))
sleep 5
q1=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $UUID")
sp=$(cat "$(labenv H1_DIR)/sanlock.pid")
cp=$(cat "$(cdir h1)/run/corosync.pid" 2>/dev/null || true)
t0=$(date +%s.%N)
kill -KILL "$sp" $cp $q1 2>/dev/null || true
lab kill h1 >/dev/null 2>&1 || true
lab cut h1 >/dev/null 2>&1 || true
started=0
for ((i = 0; i < 400; i++)); do
	[ "$(vm_field h2 g1 .state 2>/dev/null)" = running ] && { started=1; break; }
	sleep 0.5
done
t1=$(date +%s.%N)
check "h2's HA restart waited for h1's lease" \
    grep -q "vm 'g1' waits for its lease (h1)" "$(labenv H2_LOG)"
check "h2 restarted g1 once h1's host lease expired" [ "$started" = 1 ]
echo "# kill of h1 -> g1 running on h2: $(echo "$t1 - $t0" | bc) s" \
    "(lockspace io_timeout 1 s: sanlock's host_dead_seconds = 8 x 1 + 60 = 68 s)"
check "h2's sanlock holds g1's lease" eval "sl h2 status | grep -q '^r $LS:$UUID:'"
n=$(acked h2 g1 || echo 0)
check "the writer goes on from h2" wait_for 90 eval "writer_acks h2 g1 $((n + 20))"
check "g1 stops on h2" t h2 vm stop g1
touch "$STOPF"; wait "$SAMPLER" || true
args=()
for h in H1 H2; do
	f=$(labenv ${h}_STATE_DIR)/vms/$UUID/console.log
	[ -f "$f" ] && args+=(--console "$f")
done
check "the verifier passes: no acknowledged write lost" \
    "$VERIFY" --image "$E/disks/vdb.qcow2" "${args[@]}"
both=$(awk '$1 > 0 && $2 > 0 && $3 != "m"' "$SAMPLES" | wc -l)
echo "# $(wc -l <"$SAMPLES") samples; on h1: $(awk '$1 > 0' "$SAMPLES" | wc -l)," \
    "on h2: $(awk '$2 > 0' "$SAMPLES" | wc -l), on both at once: $both" \
    "(during the moves, left out: $(awk '$3 == "m"' "$SAMPLES" | wc -l))"
check "(e) never a QEMU of g1 on both hosts at once" [ "$both" = 0 ]
check "(e) the sampler saw g1 on each host" eval \
    '[ "$(awk '"'"'$1 > 0'"'"' "$SAMPLES" | wc -l)" -gt 0 ] && [ "$(awk '"'"'$2 > 0'"'"' "$SAMPLES" | wc -l)" -gt 0 ]'
e2e_finish
