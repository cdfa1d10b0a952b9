#!/usr/bin/env bash
# test_replica.sh - Replica's relationships between two hosts: h2 made a
# replica server that accepts h1 into its pool; a VM of h1 enabled for
# replication gets its replica VM on h2 (state replica: never started,
# stopped or deleted by hand); pause and resume; remove keeping the
# replica (an ordinary VM then) or deleting it.  Every bad input is
# refused with a clear error and changes nothing on either host.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replica 92
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)

t h1 vm create r1 --cpus 1 --memory 256M --disk 64M --disk 32M \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" >/dev/null

# nothing_changed: no relationship on h1, no replica on h2.
nothing_changed() {
	! t h1 vm replication show r1 >/dev/null 2>&1 &&
	    ! t h2 vm show r1 >/dev/null 2>&1 &&
	    [ "$(t h2 replication list --json | jq '.replications | length')" = 0 ]
}

# ---- the replica server ----
check_err "h2 is not a replica server yet" 1 "is not a replica server" \
    t h1 vm replication enable r1 --to h2
check "a refused enable changed nothing" nothing_changed
check_err "a pool that does not exist" 1 "no pool named 'nopool'" \
    t h2 replica server enable --allow h1=nopool
check_err "a peer that is not trusted" 1 "no peer named 'h9'" \
    t h2 replica server enable --allow h9=local
check_err "--any without --pool" 1 "--any needs --pool" \
    t h2 replica server enable --any
check_err "--allow and --any together" 1 "not both" \
    t h2 replica server enable --any --pool local --allow h1=local
check_err "--allow without POOL" 2 "give PEER=POOL" \
    t h2 replica server enable --allow h1
check_eq "refused settings left the server disabled" \
    "$(t h2 replica server show --json | jq -c '[.enabled, .allow]')" '[false,{}]'
check "h2 accepts h1 into its pool 'local'" \
    t h2 replica server enable --allow h1=local
check "show lists h1 -> local" bash -c \
    "$LAB_SH tern h2 replica server show | grep -q 'h1 into pool local'"

# ---- bad enable requests: each refused, nothing made ----
check_err "an interval Replica does not offer" 2 "give 30s, 5m or 15m" \
    t h1 vm replication enable r1 --to h2 --interval 10m
check_err "an unknown disk" 1 "has no such disk" \
    t h1 vm replication enable r1 --to h2 --exclude-disk vdz
check_err "every disk excluded" 1 "every disk of vm 'r1' is excluded" \
    t h1 vm replication enable r1 --to h2 --exclude-disk vda --exclude-disk vdb
check_err "25 recovery points" 2 "--points" \
    t h1 vm replication enable r1 --to h2 --points 25
check_err "app-consistent points need recovery points" 1 "needs recovery points" \
    t h1 vm replication enable r1 --to h2 --app-consistent-every 2
check_err "an initial time in the past" 1 "in the next 7 days" \
    t h1 vm replication enable r1 --to h2 --initial "at 2020-01-01T00:00:00Z"
check_err "a peer that does not exist" 1 "no peer named 'h7'" \
    t h1 vm replication enable r1 --to h7
check "bad requests changed nothing" nothing_changed

# ---- enable ----
check_err "13 hours between app-consistent points" 2 "--app-consistent-every" \
    t h1 vm replication enable r1 --to h2 --points 2 --app-consistent-every 13
check "enable r1 -> h2 (30s, vdb excluded)" \
    t h1 vm replication enable r1 --to h2 --interval 30s --exclude-disk vdb
check_eq "h1: primary, initial, waiting for the initial copy" \
    "$(t h1 vm replication show r1 --json | jq -c '[.role, .peer, .state, .health, .settings.interval_s, .settings.exclude]')" \
    '["primary","h2","initial","warning",30,["vdb"]]'
check_eq "h2: the replica VM, state replica" "$(vm_field h2 r1 .state)" replica
check_eq "h2: the same VM (uuid)" "$(vm_field h2 r1 .uuid)" "$(vm_field h1 r1 .uuid)"
check_eq "h2: only vda, in pool local" \
    "$(t h2 vm show r1 --json | jq -c '[.disks[] | [.name, .pool]]')" '[["vda","local"]]'
check "h2: its disk exists" test -f "$P2/r1-vda.qcow2"
check_eq "h2 lists it as a replica of h1" \
    "$(t h2 replication list --json | jq -c '[.replications[] | [.vm, .role, .peer]]')" \
    '[["r1","replica","h1"]]'
check_err "the replica cannot be started by hand" 1 "is a replica" t h2 vm start r1
check_err "nor deleted by hand" 1 "is a replica" t h2 vm delete r1
check_err "a second enable" 1 "already replicated" t h1 vm replication enable r1 --to h2

# ---- pause, resume ----
check_eq "pause" "$(t h1 vm replication pause r1 --json | jq -r .state)" paused
check_err "pause twice" 1 "already paused" t h1 vm replication pause r1
check_err "pause on the replica host" 1 "on the primary" t h2 vm replication pause r1
check_eq "resume: initial again" "$(t h1 vm replication resume r1 --json | jq -r .state)" initial

# ---- remove keeping the replica, then deleting it ----
check "remove, keeping the replica" t h1 vm replication remove r1 --keep-replica
check_err "h1: no longer replicated" 1 "not replicated" t h1 vm replication show r1
check_eq "h2: the copy is an ordinary VM, off" "$(vm_field h2 r1 .state)" off
check "h2: it can be deleted now" t h2 vm delete r1
check "h2: its disk went with it" test ! -e "$P2/r1-vda.qcow2"

check "enable again (defaults)" t h1 vm replication enable r1 --to h2
check_eq "defaults: 5m, compressed, no points, both disks" \
    "$(t h1 vm replication show r1 --json | jq -c '[.settings.interval_s, .settings.compress, .settings.points, (.settings.exclude | length)]')" \
    '[300,true,0,0]'
check_eq "h2: both disks" "$(t h2 vm show r1 --json | jq '.disks | length')" 2
check "remove (the replica is deleted)" t h1 vm replication remove r1
check "h2: the replica is gone" bash -c "! $LAB_SH tern h2 vm show r1"
check "h2: its disks are gone" bash -c "! ls $P2/r1-vd* 2>/dev/null | grep -q ."
check "h1: the VM itself is untouched" test "$(vm_field h1 r1 .state)" = off

# ---- the replica host removes it; a disabled server refuses ----
check "enable once more" t h1 vm replication enable r1 --to h2
check "remove on the replica host, keeping the copy" \
    t h2 vm replication remove r1 --keep-replica
check_eq "h2: an ordinary VM" "$(vm_field h2 r1 .state)" off
check "h2: delete it" t h2 vm delete r1
check "h1: remove (the replica is gone already)" t h1 vm replication remove r1
# ---- h1's ternd dies once the replica is asked for, before it knows
# the peer's job: the restarted job asks again and adopts the replica ----
restart_with h1 replication.enable.asked=kill
t h1 vm replication enable r1 --to h2 >/dev/null 2>&1 || true
check "h1's ternd died at the failpoint" bash -c "! $LAB_SH tern h1 host info"
restart_with h1
check "the enable job finishes after the restart" wait_for 30 no_active_jobs h1 h2
check_eq "it succeeded" "$(t h1 job list --json |
    jq -r '[.jobs[] | select(.type == "vm.replication-enable")][0].state')" succeeded
check_eq "h1: replicated" "$(t h1 vm replication show r1 --json | jq -r .state)" initial
check_eq "h2: one replica, made once" "$(t h2 job list --json |
    jq '[.jobs[] | select(.type == "vm.create")] | length')" \
    "$(( $(t h2 job list --json | jq '[.jobs[] | select(.type == "vm.create" and .state == "succeeded")] | length') ))"
check_eq "h2: state replica" "$(vm_field h2 r1 .state)" replica
check "remove it" t h1 vm replication remove r1

check "h2 disables its replica server" t h2 replica server disable
check_err "a disabled server refuses" 1 "is not a replica server" \
    t h1 vm replication enable r1 --to h2
check "nothing changed" nothing_changed

e2e_openapi_check
e2e_finish
