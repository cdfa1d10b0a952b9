#!/usr/bin/env bash
# test_failover_back.sh - a failover and the failback (Hyper-V's planned
# failover there and back): c1, its disk writer running, replicated h1 ->
# h2 every 30 s, is failed over to h2 (planned), then back to h1 (planned
# again, from h2).  After the first failover c1's disks on h2 are overlays
# on the recovery points there; the failback's reverse has h2 adopt that
# copy, chain and all, as h1's replica.  Each way: every write
# acknowledged before the shutdown is in the point the VM started from
# (the verifier), the reverse's first cycle sends only changed blocks;
# at the end c1's disk on h1 holds every write any console acknowledged,
# and deleting c1 on both hosts leaves no file of it in either pool.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup fo-back 107
lab up 2 >/dev/null
trust_both
P1=$(labenv H1_POOL_DIR)
P2=$(labenv H2_POOL_DIR)
t h2 replica server enable --allow h1=local >/dev/null
t h1 replica server enable --allow h2=local >/dev/null

guest_writing h1 c1
UUID=$(vm_field h1 c1 .uuid)

show() { t "$1" vm replication show c1 --json | jq -r "$2"; }
health_is() { [ "$(show "$1" .health)" = "$2" ]; }
agent_ok() { [ "$(vm_field "$1" c1 .heartbeat)" = ok ]; }
state_is() { [ "$(vm_field "$1" c1 .state)" = "$2" ]; }
repl_state_is() { [ "$(show "$1" .state)" = "$2" ]; }
# planned FROM TO: c1 failed over from FROM to TO, checked as it goes.
planned() {
	local from=$1 to=$2 last seq vdb pt size sent
	check "$from -> $to: health normal" wait_for 240 health_is "$from" normal
	check "$from -> $to: the guest agent answers" wait_for 90 agent_ok "$from"
	check "$from -> $to: planned failover" t "$from" vm failover planned c1
	last=$(acked "$from" c1)	# the guest is off: its last ack
	seq=$(t "$from" job list --json | jq -r '[.jobs[] | select(.type ==
	    "vm.failover-planned")] | max_by(.id) | .details.seq')
	check "$from -> $to: c1 runs on $to" wait_for 60 state_is "$to" running
	check_eq "$from -> $to: one QEMU of c1" "$(qemu_count "$UUID")" 1
	check_eq "$from -> $to: $from's copy is $to's replica" \
	    "$(vm_field "$from" c1 .state)/$(show "$from" .role)" replica/replica
	check "$from -> $to: c1 boots and writes on $to" \
	    wait_for 120 writer_acks "$to" c1 "$last"
	vdb=$(vm_field "$to" c1 '.disks[] | select(.name == "vdb") | .path')
	pt=$(qemu-img info -U --output=json "$vdb" | jq -r '."full-backing-filename"')
	check "$from -> $to: point $seq holds every write acknowledged before the shutdown ($last)" \
	    "$VERIFY" --image "$pt" --upto "$last:$((last + 1))"
	check "$from -> $to: the reverse's first cycle is acknowledged" \
	    wait_for 240 repl_state_is "$to" replicating
	size=$(vm_field "$to" c1 '[.disks[].virtual_size] | add')
	sent=$(show "$to" .stats.last_bytes)
	echo "# $from -> $to: the reverse's first cycle sent $sent bytes of $size"
	check "$from -> $to: it sent only changed blocks" test "$sent" -lt "$((size / 4))"
}

check "enable c1 -> h2 every 30s" t h1 vm replication enable c1 --to h2 \
    --interval 30s
check "the initial copy is acknowledged" wait_for 180 repl_state_is h1 replicating
planned h1 h2
check "a cycle h2 -> h1 after the reverse's" wait_for 120 bash -c \
    "[ \"\$($LAB_SH tern h2 vm replication show c1 --json | jq -r .seq)\" -ge 2 ]"
planned h2 h1

# ---- no acknowledged write lost; nothing left behind ----
t h1 vm replication pause c1 >/dev/null
check "no job runs" wait_for 120 no_active_jobs h1 h2
t h1 vm stop c1 >/dev/null
VDB=$(vm_field h1 c1 '.disks[] | select(.name == "vdb") | .path')
check "c1's disk on h1 holds every write any console acknowledged" \
    "$VERIFY" --image "$VDB" \
    --console "$(labenv H1_STATE_DIR)/vms/$UUID/console.log" \
    --console "$(labenv H2_STATE_DIR)/vms/$UUID/console.log"
check "remove the replication, the replica deleted" \
    t h1 vm replication remove c1
check "no job runs" wait_for 120 no_active_jobs h1 h2
check "delete c1 on h1" t h1 vm delete c1
check "no file of c1 is left on h1" bash -c "! ls $P1/c1-* 2>/dev/null | grep -q ."
check "no file of c1 is left on h2" bash -c "! ls $P2/c1-* 2>/dev/null | grep -q ."

e2e_finish
