#!/usr/bin/env bash
# test_migrate_converge.sh - a move that does not converge: with the
# stream capped (migration-bandwidth 8 MiB/s) a guest dirtying its memory
# faster than that makes the source escalate (events naming the throttle
# and the downtime limit), and a move that cannot finish within the
# host's migration-timeout is cancelled with an event saying why; either
# way one copy runs and the verifier passes.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup migconv 124

CFG=$TERN_LAB.conf
# migration-memory live: under TCG (QEMU 7.2) tern copies memory with the
# VM paused, which always converges; escalation needs a live copy.  This
# test checks escalation and the timeout, not the guest's memory after a
# move (test_migrate.sh does that, with the default).
printf 'migration-bandwidth = 8\nmigration-timeout = 25\nmax-downtime = 1000\nmigration-memory = live\n' >"$CFG"
lab up 2 --shared-pool --config "$CFG" >/dev/null
trust_both
shared_guest h1 g1 "disk:/dev/vdb:20+$MEMCHECK+dirty:40:24"
U=$(vm_field h1 g1 .uuid)
POOL=$(labenv LAB_SHARED_POOL)
wait_for 60 acks_beyond "$U" 0 || true
sleep 3

# ---- escalation ----
rc=0
out=$(t h1 vm move g1 --to h2 2>&1) || rc=$?
job=$(t h1 job list --json | jq -c '[.jobs[] | select(.type=="vm.move")][0]')
check "the source saw the move not converging and escalated" \
    bash -c "$LAB_SH tern h1 events | grep -q 'is not converging'"
check "the escalation raised the throttle and the downtime limit" \
    jq -e '.details.escalation >= 1 and .details.downtime_limit_ms > 100' <<<"$job"
if [ $rc = 0 ]; then
	ok "the throttled move converged and finished ($out)"
else
	check "a move that did not finish says it hit the timeout" \
	    grep -q "did not finish within the migration timeout" <<<"$out"
fi
check "one running copy" one_running_copy g1
check "the verifier passes" verify_moved g1
check "memcheck: no FAIL line, still checking" memcheck_intact "$U"

# ---- the migration timeout: the stream held at 1 MiB/s ----
src=h1; t h2 vm show g1 >/dev/null 2>&1 && src=h2
dst=h1; [ $src = h1 ] && dst=h2
lab stop $src >/dev/null
TERN_FAILPOINT=move.active=delay:60000 lab start $src >/dev/null
check_err "a move over the migration timeout is cancelled" 1 \
    "did not finish within the migration timeout of 25 s" \
    t $src vm move g1 --to $dst
check "with an event saying why" \
    bash -c "$LAB_SH tern $src events | grep -q 'did not finish within the migration timeout'"
check_eq "the vm stays at the source, running" "$(vm_field $src g1 .state)" running
check "one running copy" one_running_copy g1
check "the verifier passes" verify_moved g1
check "memcheck: no FAIL line, still checking" memcheck_intact "$U"
lab stop $src >/dev/null
TERN_FAILPOINT= lab start $src >/dev/null
rm -f "$CFG"
e2e_finish
