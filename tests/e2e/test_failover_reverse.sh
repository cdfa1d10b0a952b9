#!/usr/bin/env bash
# test_failover_reverse.sh - reverse replication after an unplanned
# failover (issue 13): c1 replicates h1 -> h2; h1 gone; c1 failed over on
# h2 and completed; h1 back (its copy held).  Reverse while h1 is no
# replica server for h2: refused, nothing changed on either host.  Then
# allowed: h1's held copy becomes the replica, the first cycle compares
# checksums and sends only the blocks that differ (under a tenth of the
# initial copy, which carried 64 MiB of random data; figures printed), a further cycle runs from h2; the point on h1
# passes the verifier --upto the acks of that cycle.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup fo-reverse 104
lab up 2 >/dev/null
trust_both
P1=$(labenv H1_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null

# 64 MiB of random data on vda (the guest leaves it alone): both hosts
# hold it after the failover, so the reverse must not send it again.
guest_create h1 c1 >/dev/null
RND=$(mktemp /tmp/tern-e2e-fo-reverse.XXXXXX)
e2e_at_exit "rm -f '$RND'"
head -c 64M /dev/urandom >"$RND"
check "64 MiB of random data on c1's vda" qemu-io -f qcow2 -c \
    "write -q -s $RND 0 64M" "$(vm_field h1 c1 '.disks[] | select(.name == "vda") | .path')"
t h1 vm start c1 >/dev/null
check "guest boots" wait_for 90 console_has h1 c1 TERN-GUEST-READY
check "writer acknowledges" wait_for 60 writer_acks h1 c1 20
UUID=$(vm_field h1 c1 .uuid)
rshow() { t "$1" vm replication show c1 --json; }

check "enable c1 -> h2 (15m: only our cycles run)" \
    t h1 vm replication enable c1 --to h2 --interval 15m
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"
FULL=$(rshow h1 | jq -r .stats.last_bytes)
check "a second cycle" t h1 vm replication now c1

# ---- h1 gone; c1 failed over on h2 and completed ----
lab kill h1 >/dev/null
QPID=$(pgrep -f -- "^qemu-system-x86_64 .*-uuid $UUID" || true)
[ -n "$QPID" ] && kill -9 $QPID
check "failover c1 on h2" t h2 vm failover c1
check "c1 boots on h2" wait_for 90 console_has h2 c1 TERN-GUEST-READY
check_err "reverse before complete is refused" 1 "has no completed failover" \
    t h2 vm replication reverse c1
check "complete" t h2 vm failover complete c1
check "c1 writes on h2" wait_for 60 writer_acks h2 c1 20
lab start h1 >/dev/null
check "h1 holds its stale c1" wait_for 60 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = failed-over ]"

# ---- reverse without trust both ways: refused, nothing changed ----
check_err "reverse while h1 is no replica server for h2" 1 "is not a replica server" \
    t h2 vm replication reverse c1
check_eq "h1 unchanged (held, failed-over)" \
    "$(rshow h1 | jq -r '[.role, .state] | join("/")')" primary/failed-over
check_eq "h2 unchanged (failed over, completed)" \
    "$(rshow h2 | jq -r '[.role, .state, .failover.state] | join("/")')" \
    replica/failed-over/completed
check_err "h1's c1 still refuses to start" 1 "failed over to h2" \
    t h1 vm start c1

# ---- reverse ----
t h1 replica server enable --allow h2=local >/dev/null
check "reverse c1 on h2" t h2 vm replication reverse c1
check_eq "h1's copy is the replica" \
    "$(vm_field h1 c1 .state)/$(rshow h1 | jq -r '[.role, .peer] | join("/")')" replica/replica/h2
check "the first reverse cycle is acknowledged" wait_for 180 bash -c \
    "[ \"\$($LAB_SH tern h2 vm replication show c1 --json | jq -r .state)\" = replicating ]"
SIZE=$(vm_field h2 c1 '[.disks[].virtual_size] | add')
SENT=$(rshow h2 | jq -r .stats.last_bytes)
echo "# the first reverse cycle sent $SENT bytes; the initial copy h1 -> h2 $FULL; the disks $SIZE"
check "the initial copy carried the random data" test "$FULL" -gt $((64 << 20))
check "the reverse sent far less (under a tenth of the initial copy)" \
    test "$((SENT * 10))" -lt "$FULL"

# ---- a further cycle from h2, exact on h1 ----
LO=$(acked h2 c1)
check "a further cycle h2 -> h1" t h2 vm replication now c1
HI=$(($(acked h2 c1) + 1))
F=$(rshow h1 | jq -r '.points[0].disks.vdb')
check "h1's point passes the verifier --upto $LO:$HI" \
    "$VERIFY" --image "$F" --upto "$LO:$HI"
check "h1's replica images are all in its pool" test -n "$(ls "$P1"/c1-vdb*)"

e2e_finish
