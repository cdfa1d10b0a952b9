#!/usr/bin/env bash
# test_metrics.sh - GET /metrics scraped by a real Prometheus (Debian's
# /usr/bin/prometheus, its own config and data in a temporary directory,
# listening on the host namespace's loopback only, scraping every second
# over HTTPS with the bearer token): the running guest's state, its disk
# write bytes growing while it writes, the jobs counter after a backup,
# up == 1; `promtool check metrics` on a raw scrape; a scrape without a
# token or with a wrong one refused, saying what to do; a world-readable
# token file refused at start.  Prometheus is stopped by its PID.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup metrics 130
work=$(mktemp -d /tmp/tern-e2e-metrics.XXXXXX)
e2e_at_exit "rm -rf '$work'"
tok=$work/metrics.token
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tok"
chmod 600 "$tok"
echo "metrics-token-file = $tok" >"$work/ternd.conf"
lab up 1 --config "$work/ternd.conf" >/dev/null
ns=$(labenv H1_NS)
url=$(labenv H1_URL)/metrics
nsx() { ip netns exec "$ns" "$@"; }

# --- the token file's checks, the refusals ---
chmod 644 "$tok"
check_err "a world-readable token file stops ternd from starting" 2 \
    "readable by every user" "$TERND" --foreground --name x \
    --state-dir "$work/x" --run-dir "$work/xr" --metrics-token-file "$tok"
chmod 600 "$tok"
code=$(nsx curl -sk -o "$work/noauth" -w '%{http_code}' "$url")
check_eq "no token, no certificate: 401" "$code" 401
check "the refusal says what to do" grep -q \
    "Authorization: Bearer TOKEN.*metrics-token-file" "$work/noauth"
check_eq "a wrong token: 401" "$(nsx curl -sk -o /dev/null -w \
    '%{http_code}' -H 'Authorization: Bearer wrong-token-0123456789' \
    "$url")" 401
check_eq "the token grants /metrics only" "$(nsx curl -sk -o /dev/null \
    -w '%{http_code}' -H "Authorization: Bearer $(cat "$tok")" \
    "$(labenv H1_URL)/v1/vms")" 401

# --- a running guest writing to its disk, a backup ---
guest_writing h1 m1
guest_create h1 m2 >/dev/null
mkdir -p "$TERN_LAB/repo"
check "a backup of m1" t h1 backup create m1 --to "$TERN_LAB/repo"

# --- a raw scrape ---
# scrape FILE: /metrics with the token into FILE.
scrape() {
	nsx curl -sfk -H "Authorization: Bearer $(cat "$tok")" "$url" >"$1"
}
check "a scrape with the token" scrape "$work/scrape"
check "promtool check metrics passes" promtool check metrics \
    <"$work/scrape"
check "m2 (off) has its configured memory" grep -q \
    '^tern_vm_memory_bytes{host="h1",vm="m2"} 268435456$' "$work/scrape"

# --- Prometheus, scraping every second ---
port=$((19000 + LAB_NET))
cat >"$work/prometheus.yml" <<EOT
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: tern
    scheme: https
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: $tok
    tls_config:
      insecure_skip_verify: true
    static_configs:
      - targets: ['$(labenv H1_LISTEN)']
EOT
nsx ip link set lo up
nsx setsid /usr/bin/prometheus --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
prom=$!
e2e_at_exit "kill $prom 2>/dev/null; wait $prom 2>/dev/null"
# query EXPR: the first result's value, or nothing.
query() {
	nsx curl -sf "http://127.0.0.1:$port/api/v1/query" \
	    --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // empty'
}
has() { [ -n "$(query "$1")" ]; }
check "Prometheus scrapes: up == 1" wait_for 60 has 'up{job="tern"} == 1'
check "m1's state is running" wait_for 30 has \
    'tern_vm_state{vm="m1",state="running"} == 1'
check "m2's state is off" has 'tern_vm_state{vm="m2",state="off"} == 1'
check "VMs by state: 1 running" has 'tern_vms{state="running"} == 1'
check "m1's disk write bytes grow while it writes" wait_for 60 has \
    'increase(tern_vm_disk_written_bytes_total{vm="m1",disk="vdb"}[30s]) > 0'
check "m1's vCPU time is counted" has 'tern_vm_cpu_seconds_total{vm="m1"} > 0'
check "m1's QEMU RSS is known" has 'tern_vm_memory_rss_bytes{vm="m1"} > 1e6'
check "the backup job is counted" has \
    'tern_jobs_finished_total{type="vm.backup",result="succeeded"} >= 1'
check "the guest agent answers" wait_for 30 has 'tern_vm_guest_up{vm="m1"} == 1'

# --- a deleted VM's samples go ---
check "delete m2" t h1 vm delete m2
scrape "$work/scrape2"
check "m2's samples are gone" bash -c "! grep -q 'vm=\"m2\"' \
    $work/scrape2"
check "m1's are still there" grep -q 'tern_vm_state{host="h1",vm="m1"' \
    "$work/scrape2"
kill "$prom"
wait "$prom" 2>/dev/null || true
check "Prometheus stopped" bash -c "! kill -0 $prom 2>/dev/null"
e2e_finish
