#!/usr/bin/env bash
# test_cluster_validate.sh - `tern cluster validate` on three lab hosts
# (issue 14): a good set passes with the shared pool the same storage
# everywhere; a switch on h1 only warns naming h2 and h3; a node that
# does not trust h1, an unknown name and a stopped ternd are errors; --json
# is the report; with no --node and no cluster, the clear error.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup cluster_validate 111
lab up 3 --shared-pool >/dev/null

trust_three

# facts HOST: GET /v1/cluster/facts on HOST's local socket.
facts() {
	curl -sf --unix-socket "$(labenv "H${1#h}_RUN_DIR")/ternd.sock" \
	    http://ternd/v1/cluster/facts
}
# report ARGS...: the JSON report of validate on h1 (exit status ignored).
report() { t h1 cluster validate --json "$@" 2>/dev/null || true; }

check "a VM (not started) on h1's shared pool" t h1 vm create v1 --cpus 1 \
    --memory 64M --disk 16M@shared
facts_ok() {
	facts h1 | jq -e '.vms[0].name == "v1" and
	    (.vms[0].machine | startswith("pc-q35-")) and
	    (.vms[0].cpu_model | length > 0) and (.cpu.flags | length > 0) and
	    (.pools | map(select(.name == "shared"))[0].id | length == 36) and
	    .time_ms > 0'
}
check "facts: the VM's machine type and CPU model, the host's CPU" facts_ok
check_eq "the shared pool is the same storage on h1 and h3" \
    "$(facts h1 | jq -r '.pools[] | select(.name=="shared") | .id')" \
    "$(facts h3 | jq -r '.pools[] | select(.name=="shared") | .id')"

check "validate --node h2 --node h3 passes" t h1 cluster validate \
    --node h2 --node h3
r=$(report --node h2 --node h3)
check_eq "--json: the nodes" "$(jq -c .nodes <<<"$r")" '["h1","h2","h3"]'
check_eq "--json: every check listed" "$(jq -c '[.checks[].name]' <<<"$r")" \
    '["reach","versions","machines","cpu","memory","pools","switches","time","corosync"]'
check_eq "--json: no error" "$(jq '.errors | length' <<<"$r")" 0
check_eq "the shared pool draws no warning" \
    "$(jq '[.warnings[] | select(.message | contains("pool '"'"'shared'"'"'"))] | length' <<<"$r")" 0
check "each host's own 'local' pool is not the same storage: a warning" \
    jq -e '.warnings[] | select(.check == "pools" and
    (.message | contains("pool '"'"'local'"'"' is not the same storage")))' \
    <<<"$r"
check "human output: the checks table" bash -c \
    "$LAB_SH tern h1 cluster validate --node h2 --node h3 |
     grep -Eq '^switches +pass'"

check "a switch on h1 only" t h1 switch create onlyh1
check_err "it warns naming h2 and h3, exit 0" 0 \
    "switch 'onlyh1' is on h1 but not on h2, h3" \
    t h1 cluster validate --node h2 --node h3
check_eq "--json: switches is a warning" \
    "$(report --node h2 --node h3 | jq -r '.checks[] | select(.name=="switches") | .result')" \
    warning
check "the switch removed" t h1 switch delete onlyh1

check_err "an unknown node: refused, naming it" 1 \
    "node 'h9' is not a trusted peer of h1" \
    t h1 cluster validate --node h2 --node h9
check_eq "... and no job was started" \
    "$(t h1 job list --json | jq '[.jobs[] | select(.type=="cluster.validate" and .state!="succeeded")] | length')" 0
check_err "a node named twice: refused" 1 "named twice" \
    t h1 cluster validate --node h2 --node h2

check "h2 stops trusting h1" t h2 peer remove h1
check_err "a node that does not trust h1: an error naming it, exit 1" 1 \
    "h2 does not answer (it does not trust this host" \
    t h1 cluster validate --node h2 --node h3
check "h2 trusts h1 again" t h2 peer add h1 "$(labenv H1_URL)" \
    --fingerprint "$(t h1 host info --json | jq -r .fingerprint)"

check "h3's ternd stopped" lab stop h3
check_err "a stopped node: 'h3 does not answer', exit 1" 1 \
    "h3 does not answer" t h1 cluster validate --node h2 --node h3
r=$(report --node h2 --node h3)
check_eq "--json: reach is an error for h3" \
    "$(jq -r '[.errors[] | select(.check=="reach") | .node] | join(",")' <<<"$r")" h3
check_eq "--json: the checks of the others still ran" \
    "$(jq -r '.checks[] | select(.name=="pools") | .result' <<<"$r")" warning
check "h3's ternd started again" lab start h3

check_err "no --node and no cluster: the clear error" 1 \
    "this host is in no cluster: name the hosts to validate with --node" \
    t h1 cluster validate
check "nothing changed on h1: the VM is still off" bash -c \
    "[ \"\$($LAB_SH tern h1 vm show v1 --json | jq -r .state)\" = off ]"
check "vm delete" t h1 vm delete v1
e2e_openapi_check
e2e_finish
