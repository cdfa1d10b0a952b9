#!/usr/bin/env bash
# test_replica_move.sh - replication follows the primary VM: h3 is the
# replica server taking h1 and h2 into its pool "local"; c1 (disk writer
# on vdb) is replicated from h1 every 30s.  A shared-nothing live move to
# h2 carries the relationship and the last cycle's maps: the next cycle,
# from h2, is incremental and the replica exact; so after a storage move
# on h2 (local -> shared), and after a shared-storage live move back to
# h1.  h3 no longer allowing h2: after a move there the cycle is refused
# with the command to allow it and replication is critical; allowed
# again, it catches up incrementally.  Deleting the primary drops its
# relationship and spool; the replica stays on h3.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup replmove 97
lab up 3 --shared-pool >/dev/null
for a in h1 h2 h3; do
	for b in h1 h2 h3; do
		[ "$a" = "$b" ] && continue
		t "$a" peer add "$b" "$(labenv "${b^^}_URL")" --fingerprint \
		    "$(t "$b" host info --json | jq -r .fingerprint)" >/dev/null
	done
done
P1=$(labenv H1_POOL_DIR)
P3=$(labenv H3_POOL_DIR)
PS=$(labenv LAB_SHARED_POOL)
t h3 replica server enable --allow h1=local --allow h2=local >/dev/null

guest_writing h1 c1
UUID=$(vm_field h1 c1 .uuid)

last_cycle() {
	t "$1" job list --json | jq -c '[.jobs[] | select(.type == "vm.replicate")][0]'
}
# idle HOST: no job runs there (a scheduled cycle holds the VM).
idle() { wait_for 60 no_active_jobs "$1"; }
# exact: the replica's vdb holds every write acknowledged before the last
# cycle (LO) and none after it ended (HI).
exact() {
	check "$1: the replica's vdb is exact up to the point ($LO..$HI)" \
	    "$VERIFY" --image "$P3/c1-vdb.qcow2" --upto "$LO:$HI"
}
# cycle HOST DESC: one cycle now on HOST, incremental, small, exact.
cycle() {
	local read
	idle "$1"
	LO=$(acked "$1" c1)
	check "$2: a cycle from $1" t "$1" vm replication now c1
	HI=$(($(acked "$1" c1) + 1))
	check_eq "$2: it was incremental" "$(last_cycle "$1" | jq -r .details.kind)" \
	    incremental
	read=$(last_cycle "$1" | jq '[.details.disks[].summary.delta_guest_bytes] | add')
	check "$2: it read only the changed blocks ($read of 320 MiB)" \
	    test "$read" -lt $((32 << 20))
	exact "$2"
}
# moved FROM TO ARGS...: a live move, the relationship on TO only.
moved() {
	local from=$1 to=$2
	shift 2
	idle "$from"
	check "move $from -> $to $*" t "$from" vm move c1 --to "$to" "$@"
	check_eq "$to has the relationship" "$(t "$to" vm replication show c1 \
	    --json | jq -r '.role + " " + .peer')" "primary h3"
	check "$from has none" bash -c "! $LAB_SH tern $from vm replication show c1 2>/dev/null"
	sleep 2
}

check "enable c1 -> h3 every 30s" t h1 vm replication enable c1 --to h3 \
    --interval 30s
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
sleep 2
cycle h1 "on h1"
seq=$(t h1 vm replication show c1 --json | jq -r .seq)

# ---- shared-nothing live move to h2 ----
moved h1 h2 --copy-storage --pool local
check_eq "the seq came along" "$(t h2 vm replication show c1 --json | jq -r .seq)" "$seq"
check_eq "so did the settings" "$(t h2 vm replication show c1 --json |
    jq -r .settings.interval_s)" 30
check "h1's spool is gone" test ! -e "$P1/.tern-replica/$UUID"
cycle h2 "after the shared-nothing move"
check_eq "h3 takes c1's cycles from h2 now" "$(t h3 vm replication show c1 \
    --json | jq -r .peer)" h2

# ---- storage move on h2 ----
idle h2
check "move c1's disks to the shared pool on h2" t h2 vm move-storage c1 --to shared
sleep 2
cycle h2 "after the storage move"

# ---- shared-storage live move back to h1 ----
moved h2 h1
cycle h1 "after the shared-storage move"

# ---- a host the replica server does not allow ----
t h3 replica server enable --allow h1=local >/dev/null
moved h1 h2
idle h2
check_err "the cycle from h2 is refused, naming the command" 1 \
    "enable --allow h2=POOL" t h2 vm replication now c1
show=$(t h2 vm replication show c1 --json)
check_eq "replication is critical" "$(jq -r .health <<<"$show")" critical
check "the reason says what to allow" grep -q "allow h2" <<<"$(jq -r \
    '.health_reasons[0]' <<<"$show")"
t h3 replica server enable --allow h1=local --allow h2=local >/dev/null
cycle h2 "allowed again"
check_eq "health normal again" "$(t h2 vm replication show c1 --json |
    jq -r .health)" normal

# ---- delete the primary ----
idle h2
t h2 vm stop c1 >/dev/null 2>&1 || t h2 vm stop c1 --force >/dev/null
check "delete c1 on h2" t h2 vm delete c1
check "its spool went with it" test ! -e "$PS/.tern-replica/$UUID"
check_eq "no relationship on h2" "$(t h2 replication list --json |
    jq '.replications | length')" 0
check "an event says the replica stays on h3" bash -c \
    "$LAB_SH tern h2 events | grep -q 'its replica stays on h3'"
check_eq "the replica stays on h3" "$(vm_field h3 c1 .state)" replica
e2e_finish
