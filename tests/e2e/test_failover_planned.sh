#!/usr/bin/env bash
# test_failover_planned.sh - a planned failover from the primary (h1) of a
# guest whose disk writer runs, replicated to h2 every 30 s:
# - refusals, nothing changed (the VM runs, no hold): asked on the replica
#   host, a bad --timeout, replication paused, the replica unreachable;
# - the link cut during the final cycle: the job fails, the VM runs on h1
#   again, no hold, its writer acknowledging;
# - h1's ternd killed once the commit may have gone out, and h2's ternd
#   killed during the commit: h1 holds c1 (off, a start refused naming
#   h2) until h2 answers; h2 never failed it over: the way back, c1 runs
#   on h1 again, never on both;
# - the whole run: the guest shut down, the final cycle of the shut-down
#   VM, c1 started on h2 from that point (the verifier: every write
#   acknowledged before the shutdown is in it), replication reversed (h1's
#   copy h2's replica; its first cycle sends only changed blocks, the
#   figure printed); at the end c1's disk on h2 holds every write either
#   console acknowledged.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup fo-planned 105
lab up 2 >/dev/null
trust_both
P2=$(labenv H2_POOL_DIR)
ARGS1=$(labenv H1_ARGSFILE)
# the 20 % rule over the last minute: a cycle that fails on the cut link
# below ages out of the health rules within a test's patience
printf '%s\n' --replica-monitor-window-s 60 >>"$ARGS1"
restart_with h1
t h2 replica server enable --allow h1=local >/dev/null

guest_writing h1 c1
UUID=$(vm_field h1 c1 .uuid)

show() { t "$1" vm replication show c1 --json | jq -r "$2"; }
health_is() { [ "$(show h1 .health)" = "$1" ]; }
# runs_here_unheld DESC: c1 runs on h1, no hold, and not on h2.
runs_here_unheld() {
	check_eq "$1: c1 runs on h1" "$(vm_field h1 c1 .state)" running
	check_eq "$1: no hold on h1" "$(vm_field h1 c1 .hold)" null
	check_eq "$1: h2's copy is still the replica" \
	    "$(vm_field h2 c1 .state)" replica
	check_eq "$1: one QEMU of c1" "$(qemu_count "$UUID")" 1
}
# fo_job FIELD: a field of h1's newest vm.failover-planned job.
fo_job() {
	t h1 job list --json | jq -r "[.jobs[] | select(.type ==
	    \"vm.failover-planned\")] | max_by(.id) | $1"
}
fo_phase_is() { [ "$(fo_job .phase)" = "$1" ]; }
# agent_ok: c1's guest agent answers on h1 (this guest ignores ACPI: a
# shutdown goes through the agent, which a restarted ternd reconnects).
agent_ok() { [ "$(vm_field h1 c1 .heartbeat)" = ok ]; }
# fo_start: a planned failover of c1, not waited for.
fo_start() {
	check "the guest agent answers" wait_for 90 agent_ok
	check "planned failover started" t h1 vm failover planned c1 --no-wait
}
fo_ended() { case $(fo_job .state) in succeeded|failed|cancelled) return 0;; esac; return 1; }

check "enable c1 -> h2 every 30s" t h1 vm replication enable c1 --to h2 \
    --interval 30s
check "the initial copy is acknowledged" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h1 vm replication show c1 --json | jq -r .state)\" = replicating ]"

# ---- refusals: a clear error, nothing changed ----
check_err "on the replica host: refused, it starts on the primary" 1 \
    "is the replica here" t h2 vm failover planned c1
check_err "a bad --timeout is a usage error" 2 "--timeout" \
    t h1 vm failover planned c1 --timeout 0
check_err "an unknown VM" 1 "nosuch" t h1 vm failover planned nosuch
t h1 vm replication pause c1 >/dev/null
check_err "replication paused: refused, resume first" 1 \
    "replication resume" t h1 vm failover planned c1
t h1 vm replication resume c1 >/dev/null
lab cut h2 >/dev/null
check_err "the replica unreachable: refused" 1 "does not answer" \
    t h1 vm failover planned c1
lab restore h2 >/dev/null
runs_here_unheld "after the refusals"

# ---- the link cut during the final cycle ----
check "health normal before the next failover" wait_for 150 health_is normal
# each cycle's copy held 20 s, time to cut the link during it
restart_with h1 backup.copy=delay:20000
fo_start
check "it reaches the final cycle (the guest shut down)" \
    wait_for 180 fo_phase_is final
lab cut h2 >/dev/null
check "the job ends" wait_for 240 fo_ended
lab restore h2 >/dev/null
check_eq "it failed" "$(fo_job .state)" failed
check "its error names the final cycle" bash -c \
    "$LAB_SH tern h1 job list --json | jq -r '[.jobs[] | select(.type == \"vm.failover-planned\")] | max_by(.id) | .error' | grep -q 'final cycle'"
runs_here_unheld "after the cut"
A=$(acked h1 c1)
check "the guest boots and writes again on h1" wait_for 120 writer_acks h1 c1 "$A"
restart_with h1

# ---- h1's ternd killed once the commit may have gone out ----
check "health normal again" wait_for 180 health_is normal
restart_with h1 failover.planned.commit=kill
fo_start
check "h1's ternd dies at the commit" \
    wait_for 240 bash -c "! $LAB_SH tern h1 host info >/dev/null 2>&1"
check_eq "the VM's QEMU is gone (no copy runs here)" "$(qemu_count "$UUID")" 0
restart_with h1
check "the job settles with the replica" wait_for 120 fo_ended
check "h2 never failed it over: the way back" bash -c \
    "$LAB_SH tern h1 job list --json | jq -r '[.jobs[] | select(.type == \"vm.failover-planned\")] | max_by(.id) | .error' | grep -q 'did not fail'"
runs_here_unheld "after h1's ternd was killed in the commit"

# ---- h2's ternd killed during the commit ----
check "health normal again" wait_for 180 health_is normal
restart_with h1 failover.planned.commit=delay:15000
fo_start
check "it reaches the commit" wait_for 240 fo_phase_is commit
lab kill h2 >/dev/null
check "with no answer from h2 it settles" wait_for 60 fo_phase_is settle
sleep 10
check_eq "meanwhile c1 is off on h1" "$(vm_field h1 c1 .state)" off
check_eq "and held" "$(vm_field h1 c1 .hold | grep -c h2)" 1
check_err "a start is refused, naming h2" 1 "failed over to h2" \
    t h1 vm start c1
check_eq "no QEMU of c1 runs" "$(qemu_count "$UUID")" 0
lab start h2 >/dev/null
check "h2 answers: the job settles" wait_for 120 fo_ended
runs_here_unheld "after h2's ternd was killed in the commit"
restart_with h1

# ---- the whole run: failed over to h2, replication reversed ----
check "h1 takes h2's replication (for the reverse)" \
    t h1 replica server enable --allow h2=local
check "health normal again" wait_for 180 health_is normal
fo_start
check "the guest is shut down, QEMU started paused for the final cycle" \
    wait_for 180 fo_phase_is final
LAST=$(acked h1 c1)	# the guest is off: its last acknowledged write
check "the job ends" wait_for 300 fo_ended
check_eq "it succeeded" "$(fo_job .state)" succeeded
SEQ=$(fo_job .details.seq)
check "the final cycle's point is in the job" test "$SEQ" -gt 0
check "c1 runs on h2" wait_for 60 bash -c \
    "[ \"\$($LAB_SH tern h2 vm show c1 --json | jq -r .state)\" = running ]"
check_eq "one QEMU of c1" "$(qemu_count "$UUID")" 1
check_eq "h1's copy is h2's replica now" \
    "$(vm_field h1 c1 .state)/$(show h1 '[.role, .peer] | join("/")')" \
    replica/replica/h2
check "c1 boots and writes on h2" wait_for 120 writer_acks h2 c1 20
VDB=$(vm_field h2 c1 '.disks[] | select(.name == "vdb") | .path')
PT=$(qemu-img info -U --output=json "$VDB" | jq -r '."full-backing-filename"')
check "point $SEQ ($PT) holds every write acknowledged before the shutdown ($LAST)" \
    "$VERIFY" --image "$PT" --upto "$LAST:$((LAST + 1))"
check "the reverse's first cycle is acknowledged" wait_for 240 bash -c \
    "[ \"\$($LAB_SH tern h2 vm replication show c1 --json | jq -r .state)\" = replicating ]"
SIZE=$(vm_field h2 c1 '[.disks[].virtual_size] | add')
SENT=$(show h2 .stats.last_bytes)
echo "# the first reverse cycle sent $SENT bytes of $SIZE (the disks' size)"
check "it sent only changed blocks (under a quarter of the disks)" \
    test "$SENT" -lt "$((SIZE / 4))"

# ---- no acknowledged write lost, on either host ----
t h2 vm replication pause c1 >/dev/null
check "no job runs" wait_for 120 no_active_jobs h1 h2
t h2 vm stop c1 >/dev/null
check "c1's disk on h2 holds every write both consoles acknowledged" \
    "$VERIFY" --image "$VDB" \
    --console "$(labenv H1_STATE_DIR)/vms/$UUID/console.log" \
    --console "$(labenv H2_STATE_DIR)/vms/$UUID/console.log"

e2e_openapi_check
e2e_finish
