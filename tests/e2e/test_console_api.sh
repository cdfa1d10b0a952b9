#!/usr/bin/env bash
# test_console_api.sh - the web console's server side with curl, as a
# browser would call it (no client certificate), on a 2-host lab: PAM
# login of Unix users made here (tern-admin, tern-viewer, neither), the
# session cookie's flags, roles, CSRF, 401 without or with a forged or
# outdated session, oversized login body, the login rate limit (429 and
# Retry-After), host-only paths, static files with their headers and '..'
# refused, /v1/stream carrying a VM start's job to its end and the VM's
# new state, the serial console followed, /v1/fleet listing h2's VM and a
# request forwarded to h2.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup console_api 136

# The users: made here, removed on exit (groups and the PAM file only when
# made here too).
ADMIN=ternc-admin VIEWER=ternc-viewer OUTSIDER=ternc-none LIMITED=ternc-lim
PW=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
made_groups=()
cleanup_users() {
	local u g
	for u in $ADMIN $VIEWER $OUTSIDER $LIMITED; do userdel "$u" 2>/dev/null; done
	# A group or PAM file made here stays while another test (the
	# browser's, on net 133) has members in the groups.
	busy=$(getent group tern-admin tern-viewer | cut -d: -f4 | tr -d '\n')
	for g in "${made_groups[@]}"; do
		[ -z "$(getent group "$g" | cut -d: -f4)" ] && groupdel "$g" 2>/dev/null
	done
	[ -n "${made_pam:-}" ] && [ -z "$busy" ] && rm -f /etc/pam.d/tern
	rm -rf "${www:-/nonexistent}" "${work:-/nonexistent}"
}
e2e_at_exit cleanup_users
for g in tern-admin tern-viewer; do
	getent group "$g" >/dev/null || { groupadd --system "$g"; made_groups+=("$g"); }
done
for u in $ADMIN $VIEWER $OUTSIDER $LIMITED; do userdel "$u" 2>/dev/null || true; done
useradd --no-create-home --shell /usr/sbin/nologin -G tern-admin $ADMIN
useradd --no-create-home --shell /usr/sbin/nologin -G tern-viewer $VIEWER
useradd --no-create-home --shell /usr/sbin/nologin $OUTSIDER
useradd --no-create-home --shell /usr/sbin/nologin -G tern-viewer $LIMITED
printf '%s:%s\n' $ADMIN "$PW" $VIEWER "$PW" $OUTSIDER "$PW" $LIMITED "$PW" | chpasswd
if [ ! -e /etc/pam.d/tern ]; then
	cp "$REPO/packaging/pam.d/tern" /etc/pam.d/tern
	made_pam=1
fi

# A console of our own: an index page and a hashed asset.
www=$(mktemp -d /tmp/tern-e2e-capi-www.XXXXXX)
work=$(mktemp -d /tmp/tern-e2e-capi.XXXXXX)
mkdir "$www/assets"
echo '<!doctype html><title>tern</title>' >"$www/index.html"
echo 'console.log(1)' >"$www/assets/app-0a1b2c.js"
echo "www-dir = $www" >"$work/ternd.conf"
lab up 2 --config "$work/ternd.conf" >/dev/null
trust_both
URL=$(labenv H1_URL)
guest_create h1 g1 >/dev/null
guest_create h2 g2 >/dev/null

hcurl() { lab exec h1 curl -sk --max-time 20 "$@"; }
# call METHOD PATH [CURL ARGS]: "STATUS CODE" (CODE: .error.code or -).
call() {
	local out m=$1 path=$2
	shift 2
	out=$(hcurl -o - -w '\n%{http_code}' -X "$m" "$@" "$URL$path")
	echo "$(tail -n 1 <<<"$out") $(head -n -1 <<<"$out" | jq -r '.error.code // "-"' 2>/dev/null)"
}
# login USER PASSWORD JAR: the answer's body (headers in JAR.h).
login() {
	hcurl -c "$3" -D "$3.h" -H 'Content-Type: application/json' \
	    -d "{\"user\":\"$1\",\"password\":\"$2\"}" "$URL/v1/session"
}

# -- static files
hdrs=$(hcurl -D - -o "$work/index" "$URL/")
check "GET / is www-dir's index.html" grep -q '<title>tern' "$work/index"
check "with the CSP" grep -qi "^content-security-policy: default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'" <<<"$hdrs"
check "with nosniff and no-referrer" bash -c "grep -qi '^x-content-type-options: nosniff' <<<\"\$1\" && grep -qi '^referrer-policy: no-referrer' <<<\"\$1\"" _ "$hdrs"
check "index.html is not cached" grep -qi '^cache-control: no-cache' <<<"$hdrs"
hdrs=$(hcurl -D - -o /dev/null "$URL/assets/app-0a1b2c.js")
check "an asset is immutable" grep -qi '^cache-control: max-age=31536000, immutable' <<<"$hdrs"
check "as JavaScript" grep -qi '^content-type: text/javascript' <<<"$hdrs"
check "a client-side route gets index.html" bash -c "$LAB_SH exec h1 curl -sk '$URL/vms/g1' | grep -q '<title>tern'"
check_eq "'..' is refused" "$(hcurl --path-as-is -o /dev/null -w '%{http_code}' "$URL/assets/../../etc/passwd")" 400
check_eq "a missing asset is 404" "$(hcurl -o /dev/null -w '%{http_code}' "$URL/assets/none.js")" 404

# -- without a session
check_eq "the API without a session: 401 session" "$(call GET /v1/vms)" "401 session"
check_eq "a forged session cookie: 401" "$(call GET /v1/vms -b "tern_session=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')")" "401 session"
check_eq "a host-to-host path: 403" "$(call POST /v1/migrations -d '{}')" "403 forbidden"

# -- logins
out=$(login $ADMIN wrong-password "$work/bad")
check_eq "a wrong password: login_failed" "$(jq -r .error.code <<<"$out")" login_failed
msg=$(jq -r .error.message <<<"$out")
out=$(login $OUTSIDER "$PW" "$work/bad")
check_eq "in neither group: the very same answer" "$(jq -r .error.message <<<"$out")" "$msg"
out=$(login nosuchuser "$PW" "$work/bad")
check_eq "an unknown user: the very same answer" "$(jq -r .error.message <<<"$out")" "$msg"
big=$(head -c 5000 /dev/zero | tr '\0' x)
check_eq "an oversized login body: 413" "$(call POST /v1/session -d "{\"user\":\"$ADMIN\",\"password\":\"$big\"}")" "413 too_large"

out=$(login $ADMIN "$PW" "$work/admin")
check_eq "the admin logs in" "$(jq -r .role <<<"$out")" admin
check_eq "idle timeout 30 min" "$(jq -r .idle_timeout_s <<<"$out")" 1800
csrf=$(jq -r .csrf <<<"$out")
check "the cookie is Secure; HttpOnly; SameSite=Strict" grep -qiE \
    '^set-cookie: tern_session=[0-9a-f]{64}; Path=/; Secure; HttpOnly; SameSite=Strict' "$work/admin.h"
check_eq "GET /v1/session answers the same csrf" "$(hcurl -b "$work/admin" "$URL/v1/session" | jq -r .csrf)" "$csrf"
out=$(login $VIEWER "$PW" "$work/viewer")
check_eq "the viewer logs in" "$(jq -r .role <<<"$out")" viewer
vcsrf=$(jq -r .csrf <<<"$out")
check_eq "the viewer reads" "$(call GET /v1/vms -b "$work/viewer")" "200 -"
check_eq "the viewer cannot act" "$(call POST /v1/vms/g1/start -b "$work/viewer" -H "X-CSRF-Token: $vcsrf")" "403 forbidden"
check_eq "nor through another host" "$(call POST /v1/hosts/h2/v1/vms/g2/start -b "$work/viewer" -H "X-CSRF-Token: $vcsrf")" "403 forbidden"
check_eq "the admin without the CSRF token" "$(call POST /v1/vms/g1/start -b "$work/admin")" "403 csrf"
check_eq "the admin with another session's token" "$(call POST /v1/vms/g1/start -b "$work/admin" -H "X-CSRF-Token: $vcsrf")" "403 csrf"
check_eq "g1 is still off" "$(vm_field h1 g1 .state)" off
check_eq "a session cannot call a host-only path" "$(call POST /v1/migrations -b "$work/admin" -H "X-CSRF-Token: $csrf" -d '{}')" "403 forbidden"

# -- /v1/stream: g1's start, its job to the end, the VM's new state
hcurl --max-time 150 -N -b "$work/admin" "$URL/v1/stream" >"$work/stream" 2>/dev/null &
spid=$!
e2e_at_exit "kill $spid 2>/dev/null"
sleep 1
out=$(hcurl -b "$work/admin" -H "X-CSRF-Token: $csrf" -X POST "$URL/v1/vms/g1/start")
job=$(jq -r .job.id <<<"$out")
check "the admin starts g1 (202 with a job)" test "$job" -gt 0
# sse_data TYPE JQ: the stream's events of TYPE that JQ selects, one JSON
# per line (nothing, and no failure, when none)
sse_data() {
	{ grep -A1 "^event: $1\$" "$work/stream" || true; } |
	    sed -n 's/^data: //p' | jq -c "select($2)"
}
# sse_has TYPE JQ: at least one such event
sse_has() { [ -n "$(sse_data "$1" "$2")" ]; }
check "the stream carries the job to succeeded" wait_for 120 \
    sse_has job ".id == $job and .state == \"succeeded\""
last=$(sse_data job ".id == $job" | tail -n 1)
check_eq "its last event is the final state" "$(jq -r .state <<<"$last")" succeeded
check_eq "at 100 %" "$(jq -r '.progress.done == .progress.total and .progress.total > 0' <<<"$last")" true
check "and a vm event says running" sse_has vm '.name == "g1" and .state == "running"'
check "and an event names the job" sse_has event ".job == $job"
check "with progress on the way (several job events)" \
    test "$(sse_data job ".id == $job" | wc -l)" -ge 2
check "the job's GET matches the stream's last" test "$(hcurl -b "$work/admin" "$URL/v1/jobs/$job" | jq -c '{state, progress}')" = "$(jq -c '{state, progress}' <<<"$last")"
kill $spid 2>/dev/null

# -- the serial console, followed
check "the guest boots" wait_for 90 console_has h1 g1 TERN-GUEST-READY
check "its disk writer writes (to the console too)" wait_for 60 writer_acks h1 g1 5
hcurl --max-time 5 -N -b "$work/viewer" "$URL/v1/vms/g1/console?follow=1" >"$work/console" 2>/dev/null || true
check "console?follow=1 streams the serial log" bash -c "grep -q '^event: console' '$work/console' && grep '^data: ' '$work/console' | head -n 1 | cut -c7- | jq -e 'type == \"string\" and length > 0'"
check "first the backlog, then what the guest writes" \
    test "$(grep -c '^event: console' "$work/console")" -ge 2

# -- all hosts
fleet=$(hcurl -b "$work/viewer" "$URL/v1/fleet")
check_eq "/v1/fleet lists both hosts" "$(jq -r '[.hosts[].name] | sort | join(",")' <<<"$fleet")" "h1,h2"
check_eq "h2 reachable" "$(jq -r '.hosts[] | select(.name == "h2") | .reachable' <<<"$fleet")" true
check_eq "and h2's VM with its host" "$(jq -r '.vms[] | select(.name == "g2") | .host' <<<"$fleet")" h2
check_eq "a GET forwarded to h2" "$(hcurl -b "$work/viewer" "$URL/v1/hosts/h2/v1/vms/g2" | jq -r .name)" g2
check_eq "a POST forwarded to h2, h2's refusal passed back" "$(call POST /v1/hosts/h2/v1/vms/g2/pause -b "$work/admin" -H "X-CSRF-Token: $csrf")" "409 conflict"
check_eq "the query string goes along" "$(hcurl -b "$work/viewer" "$URL/v1/hosts/h2/v1/events?vm=g2" | jq -r '[.events[].vm] | unique | join(",")')" g2
check_eq "an unknown host: 404" "$(call GET /v1/hosts/nosuch/v1/vms -b "$work/viewer")" "404 not_found"
check_eq "this host by name is served here" "$(hcurl -b "$work/viewer" "$URL/v1/hosts/h1/v1/vms/g1" | jq -r .name)" g1
# Another host's screen through h1 (g2 is off: h2's refusal comes back).
ws_hdrs=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: binary')
check_eq "the viewer cannot open h2's VNC through h1" "$(call GET /v1/hosts/h2/v1/vms/g2/vnc -b "$work/viewer" "${ws_hdrs[@]}" -H "Origin: $URL")" "403 forbidden"
check_eq "nor the admin from another page's Origin" "$(call GET /v1/hosts/h2/v1/vms/g2/vnc -b "$work/admin" "${ws_hdrs[@]}" -H 'Origin: https://evil.example')" "403 csrf"
check_eq "the admin's WebSocket to h2's vm that is off: h2's 409 passed back" "$(call GET /v1/hosts/h2/v1/vms/g2/vnc -b "$work/admin" "${ws_hdrs[@]}" -H "Origin: $URL")" "409 conflict"
check_eq "its screenshot through h1: h2's 409 passed back" "$(call GET /v1/hosts/h2/v1/vms/g2/screenshot -b "$work/viewer")" "409 conflict"
check_eq "an unknown host's screenshot: 404" "$(call GET /v1/hosts/nosuch/v1/vms/g2/screenshot -b "$work/viewer")" "404 not_found"

# -- logout, rate limit, restart
check_eq "logout without the token" "$(call DELETE /v1/session -b "$work/viewer")" "403 csrf"
hdrs=$(hcurl -D - -o /dev/null -b "$work/viewer" -X DELETE -H "X-CSRF-Token: $vcsrf" "$URL/v1/session")
check "logout: 204" grep -q '^HTTP/1.1 204' <<<"$hdrs"
check "and the cookie cleared" grep -qi '^set-cookie: tern_session=;.*Max-Age=0' <<<"$hdrs"
check_eq "the old cookie is refused" "$(call GET /v1/vms -b "$work/viewer")" "401 session"
for i in 1 2 3 4 5; do login $LIMITED "wrong$i" "$work/lim" >/dev/null; done
out=$(hcurl -D "$work/lim.h" -d "{\"user\":\"$LIMITED\",\"password\":\"$PW\"}" "$URL/v1/session")
check_eq "a 6th login within 60 s: 429, even with the right password" "$(jq -r .error.code <<<"$out")" rate_limited
check "with Retry-After" grep -qiE '^retry-after: [0-9]+' "$work/lim.h"
restart_with h1
check_eq "after a restart of ternd the session is gone" "$(call GET /v1/vms -b "$work/admin")" "401 session"
e2e_openapi_check
e2e_finish
