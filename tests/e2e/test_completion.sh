#!/usr/bin/env bash
# test_completion.sh - the bash completion's names from a real two-host
# lab: cluster nodes where a node is expected (a real Corosync cluster),
# VMs over --host with mutual TLS from the other host (options, then
# TERN_HOST and the other TERN_ variables, as tern itself reads them), and
# nothing, quietly and within its 2 s, from a host that does not answer.
# The commands and options, and the names over the local socket, are
# tests/unit/test_completion.sh's.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup completion 135
lab up 2 >/dev/null
trust_all 2

# comp HOST WORD...: complete the last word (as bash would, the cursor at
# its end) in HOST's namespace; the candidates sorted, on one line.
comp() {
	local h=$1
	shift
	lab exec "$h" env "${COMP_ENV[@]}" bash -c '
	    . "$1"; shift
	    COMP_WORDS=("$@"); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
	    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	    _tern
	    printf "%s\n" "${COMPREPLY[@]}" | sed "/^$/d" | sort -u |
	        tr "\n" " "' _ "$REPO/completion/tern" "$TERN" "$@" 2>&1
}
COMP_ENV=(TERN_X=)
S1=$(labenv H1_SOCK)

t h1 vm create web1 --cpus 1 --memory 64M >/dev/null
t h1 vm create db1 --cpus 1 --memory 64M >/dev/null
check "create a cluster of h1 and h2" t h1 cluster create c1 --node h1 --node h2

# ---- cluster nodes ----
check_eq "cluster node drain: the nodes" \
    "$(comp h1 --socket "$S1" cluster node drain "")" "h1 h2 "
check_eq "cluster node evict: the nodes" \
    "$(comp h1 --socket "$S1" cluster node evict h)" "h1 h2 "
check_eq "vm ha enable --preferred: the nodes" \
    "$(comp h1 --socket "$S1" vm ha enable web1 --preferred "")" "h1 h2 "
check_eq "cluster validate --node: nodes and peers" \
    "$(comp h1 --socket "$S1" cluster validate --node "")" "h1 h2 "
check_eq "vm move --to: the peers" \
    "$(comp h1 --socket "$S1" vm move web1 --to "")" "h2 "

# ---- VMs over --host, from h2, with h2's certificate ----
FP1=$(t h1 host info --json | jq -r .fingerprint)
URL1=$(labenv H1_URL)
D2=$(labenv H2_STATE_DIR)/tls
check_eq "vm start over --host: h1's VMs" \
    "$(comp h2 --host "$URL1" --fingerprint "$FP1" --cert "$D2/host.crt" \
    --key "$D2/host.key" vm start "")" "db1 web1 "
COMP_ENV=(TERN_HOST="$URL1" TERN_FINGERPRINT="$FP1" \
    TERN_CERT="$D2/host.crt" TERN_KEY="$D2/host.key")
check_eq "vm show with TERN_HOST: h1's VMs" \
    "$(comp h2 vm show w)" "web1 "
check_eq "cluster node resume with TERN_HOST: h1's nodes" \
    "$(comp h2 cluster node resume "")" "h1 h2 "
COMP_ENV=(TERN_X=)

# ---- a host that does not answer: nothing, quietly, in time ----
lab stop h1 >/dev/null 2>&1
start=$(date +%s)
check_eq "h1 down: no names, nothing printed" \
    "$(comp h2 --host "$URL1" --fingerprint "$FP1" --cert "$D2/host.crt" \
    --key "$D2/host.key" vm start "")" ""
check "... within its 2 s (and the table's read)" \
    test $(($(date +%s) - start)) -le 5
check_eq "the options still complete" \
    "$(comp h2 --host "$URL1" vm move web1 --copy)" "--copy-storage "
lab start h1 >/dev/null 2>&1

check "destroy the cluster" t h1 cluster destroy
e2e_finish
