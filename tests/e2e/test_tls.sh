#!/usr/bin/env bash
# test_tls.sh - the HTTPS API between lab hosts: mutual TLS with pinned
# fingerprints.  A client without a certificate (and without a console
# session), or with one the host does not trust, is refused; a pinned server key that does not match is
# refused by the client; after 'peer add' the same call works.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup tls 84
lab up 2 >/dev/null
fp1=$(t h1 host info --json | jq -r .fingerprint)
fp2=$(t h2 host info --json | jq -r .fingerprint)
url2=$(labenv H2_URL)
crt1=$(labenv H1_STATE_DIR)/tls/host.crt
key1=$(labenv H1_STATE_DIR)/tls/host.key
remote() { lab exec h1 "$TERN" --host "$url2" --cert "$crt1" --key "$key1" "$@"; }

check "fingerprints look right" bash -c "[[ $fp1 =~ ^sha256:[0-9a-f]{64}$ ]]"
check "private key is root-only" test "$(stat -c %a "$key1")" = 600
check_err "untrusted client is refused" 1 "not trusted" \
    remote --fingerprint "$fp2" host info
# (a browser's case: without a certificate only a session opens the API)
check_err "a client without a certificate is refused" 0 "401" \
    lab exec h1 curl -sk -o /dev/null -w '%{http_code}' "$url2/v1/host"
check_err "and told to log in" 0 '"code":"session"' \
    lab exec h1 curl -sk "$url2/v1/host"
check_err "a host-to-host path without a certificate is refused" 0 "403" \
    lab exec h1 curl -sk -o /dev/null -w '%{http_code}' -X POST "$url2/v1/migrations"
check_err "a wrong server pin is refused by the client" 1 "" \
    remote --fingerprint "sha256:$(printf '0%.0s' {1..64})" host info
check_err "--host without a pin is a usage error" 2 "fingerprint" \
    lab exec h1 "$TERN" --host "$url2" host info
check "h2 trusts h1" t h2 peer add h1 "$(labenv H1_URL)" --fingerprint "$fp1"
check "trusted client is served" remote --fingerprint "$fp2" host info
check_eq "and talks to the right host" \
    "$(remote --fingerprint "$fp2" host info --json | jq -r .name)" h2
check "peer list shows h1" bash -c "$LAB_SH tern h2 peer list | grep -q h1"
check "peer remove" t h2 peer remove h1
check_err "removed peer is refused again" 1 "not trusted" \
    remote --fingerprint "$fp2" host info
e2e_openapi_check
e2e_finish
