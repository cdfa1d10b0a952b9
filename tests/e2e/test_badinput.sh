#!/usr/bin/env bash
# test_badinput.sh - every bad request gets a clear error, a non-zero exit
# and no change of state: no VM row, no disk file, no job, no event.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup badinput 83
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)
sock=$(labenv H1_SOCK)
t h1 switch create lan >/dev/null
guest_create h1 b1 disk:/dev/vdb:50 --net lan >/dev/null

snapshot() {
	{ t h1 vm list --json | jq -c '[.vms[] | {name, state}]'
	  t h1 job list --json | jq -c '[.jobs[].id]'
	  ls -A "$pool"; } 2>&1
}
before=$(snapshot)

check_err "unknown vm" 1 "vm 'nope' not found" t h1 vm show nope
check_err "start of an unknown vm" 1 "not found" t h1 vm start nope
check_err "duplicate name" 1 "already exists" guest_create h1 b1
check_err "malformed size" 2 "invalid size '12X'" \
    t h1 vm create x1 --cpus 1 --memory 12X
check_err "malformed cpu count" 2 "cpus" \
    t h1 vm create x1 --cpus lots --memory 64M
check_err "missing vm name" 2 "" t h1 vm create --cpus 1 --memory 64M
check_err "unknown option" 2 "--bogus" t h1 vm list --bogus
check_err "unknown command" 2 "frobnicate" t h1 frobnicate
check_err "disk path outside the pools" 1 "outside the storage pools" \
    t h1 vm create x1 --cpus 1 --memory 64M --disk-path /etc/passwd
check_err "disk path that does not exist" 1 "does not exist" \
    t h1 vm create x1 --cpus 1 --memory 64M --disk-path "$pool/missing.qcow2"
check_err "missing kernel file" 1 "kernel file" \
    t h1 vm create x1 --cpus 1 --memory 64M --kernel /nonexistent/vmlinuz
check_err "switch that does not exist" 1 "switch 'nosuch' not found" \
    t h1 vm create x1 --cpus 1 --memory 64M --net nosuch
check_err "more memory than the host has" 1 "more than this host has" \
    t h1 vm create x1 --cpus 1 --memory 1000G
check_err "pool that does not exist" 1 "pool 'nopool' not found" \
    t h1 vm create x1 --cpus 1 --memory 64M --disk 1G@nopool
check_err "stop of a vm that is off" 1 "already off" t h1 vm stop b1
check_err "pause of a vm that is off" 1 "not running" t h1 vm pause b1
check_err "delete of a switch in use" 1 "in use" t h1 switch delete lan
check_err "invalid switch name" 1 "invalid switch name" \
    t h1 switch create "bad/name"

api() { # api METHOD PATH [BODY]: raw request on the local socket
	lab exec h1 curl -s --unix-socket "$sock" -X "$1" \
	    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
	    "http://tern$2"
}
check_err "unknown field" 0 "unknown field 'bogus' in vm create request" \
    api POST /v1/vms '{"name":"x2","cpus":1,"memory_mib":64,"bogus":1}'
check_err "malformed JSON" 0 "malformed JSON" api POST /v1/vms '{"name":'
check_err "JSON that is not an object" 0 "expected a JSON object" \
    api POST /v1/vms '[1,2]'
check_err "wrong type" 0 "field 'cpus' must be an integer" \
    api POST /v1/vms '{"name":"x2","cpus":"1","memory_mib":64}'
check_err "out-of-range cpus" 0 "between 1 and 64" \
    api POST /v1/vms '{"name":"x2","cpus":500,"memory_mib":64}'
check_err "invalid name" 0 "invalid vm name" \
    api POST /v1/vms '{"name":"../etc","cpus":1,"memory_mib":64}'
check_err "disk with neither size nor path" 0 "needs either" \
    api POST /v1/vms '{"name":"x2","cpus":1,"memory_mib":64,"disks":[{}]}'
big=$TERN_LAB/big.json
{ printf '{"name":"x","pad":"'; head -c 1100000 /dev/zero | tr '\0' 'a'
  printf '"}'; } >"$big"
check_err "oversized body" 0 "over 1 MiB" lab exec h1 curl -s \
    --unix-socket "$sock" -X POST --data-binary @"$big" http://tern/v1/vms
rm -f "$big"
check_err "unknown route" 0 "no such API path" api GET /v1/nothing
check_err "wrong method" 0 "method not allowed" api PUT /v1/vms

check_eq "no state changed by any of it" "$(snapshot)" "$before"
check "ternd is still alive" t h1 host info
e2e_openapi_check
e2e_finish
