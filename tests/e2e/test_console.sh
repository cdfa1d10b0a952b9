#!/usr/bin/env bash
# test_console.sh - the web console in a real browser (Debian's Chromium
# driven by playwright-core, tests/browser/) against a 2-host lab whose
# ternds serve the built console (www-dir): PAM login of Unix users made
# here (tern-admin and tern-viewer members), an admin starting a VM and
# watching its job reach 100 % and its event appear, a viewer without
# action buttons whose forged request is refused, a request without the
# CSRF token refused, a wrong password answered with the generic error,
# a replication relationship on the Replication page; the VM list's
# screenshot thumbnail and noVNC connected to a VM's screen (admin), for a
# VM of h1 and for one of h2 (through h1, which relays to h2), the VNC
# WebSocket refused to a viewer and to a page of another origin.
# The browser runs inside h1's network namespace (the lab's addresses are
# reachable only there).  TERN_SCREENSHOTS=DIR keeps the pages' images.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup console 133
WWW=${TERN_WWW:-$BUILD/www}
BROWSER=$REPO/tests/browser
SHOTS=${TERN_SCREENSHOTS:-}

[ -d "$BROWSER/node_modules/playwright-core" ] || {
	echo "tests/browser/node_modules missing: run scripts/deps.sh (npm ci there)" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "no /usr/bin/chromium: run scripts/deps.sh" >&2; exit 1; }
if [ ! -f "$WWW/index.html" ]; then
	[ -d "$REPO/www/node_modules" ] || {
		echo "no built console in $WWW and www/node_modules missing: run make www" >&2; exit 1; }
	(cd "$REPO/www" && npm run build -- --outDir "$WWW") >/dev/null
fi

# The users: made here, removed on exit (groups only when made here too
# and empty then: another test may share them).
ADMIN=ternt-admin VIEWER=ternt-viewer OUTSIDER=ternt-none
PW=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
made_groups=()
for g in tern-admin tern-viewer; do
	getent group "$g" >/dev/null || { groupadd --system "$g"; made_groups+=("$g"); }
done
cleanup_users() {
	local u g
	for u in $ADMIN $VIEWER $OUTSIDER; do userdel "$u" 2>/dev/null; done
	# A group made here goes unless another test put members in it since.
	for g in "${made_groups[@]}"; do
		[ -z "$(getent group "$g" | cut -d: -f4)" ] && groupdel "$g" 2>/dev/null
	done
	[ -n "${made_pam:-}" ] && rm -f /etc/pam.d/tern
}
e2e_at_exit cleanup_users
for u in $ADMIN $VIEWER $OUTSIDER; do userdel "$u" 2>/dev/null || true; done
useradd --no-create-home --shell /usr/sbin/nologin -G tern-admin $ADMIN
useradd --no-create-home --shell /usr/sbin/nologin -G tern-viewer $VIEWER
useradd --no-create-home --shell /usr/sbin/nologin $OUTSIDER
# ensure_members: the groups and our members again (another test on the
# machine may have removed a group it made when it ended).
ensure_members() {
	local g
	for g in tern-admin tern-viewer; do
		getent group "$g" >/dev/null || { groupadd --system "$g"; made_groups+=("$g"); }
	done
	id -nG $ADMIN | grep -qw tern-admin || usermod -aG tern-admin $ADMIN
	id -nG $VIEWER | grep -qw tern-viewer || usermod -aG tern-viewer $VIEWER
}
printf '%s:%s\n' $ADMIN "$PW" $VIEWER "$PW" $OUTSIDER "$PW" | chpasswd
if [ ! -e /etc/pam.d/tern ]; then
	cp "$REPO/packaging/pam.d/tern" /etc/pam.d/tern
	made_pam=1
fi

cfg=$(mktemp /tmp/tern-e2e-console.XXXXXX)
e2e_at_exit "rm -f '$cfg'"
echo "www-dir = $WWW" >"$cfg"
lab up 2 --config "$cfg" >/dev/null
trust_both
URL=$(labenv H1_URL)
guest_create h1 g1 >/dev/null
guest_create h2 g2 >/dev/null

# browser MODE ARGS...: one run of tests/browser/console.mjs in h1's
# namespace; its ok / not ok lines counted here.
browser() {
	local out rc=0 p f
	ensure_members
	out=$(OTHER_VM=h2/g2 SCREEN_HOST=${SCREEN_HOST:-} lab exec h1 timeout 400 node "$BROWSER/console.mjs" "$@" 2>&1) || rc=$?
	echo "$out" | grep -v ' passed, .* failed$'
	p=$(grep -c '^ok - ' <<<"$out" || true)
	f=$(grep -c '^not ok - ' <<<"$out" || true)
	E2E_PASS=$((E2E_PASS + p)) E2E_FAIL=$((E2E_FAIL + f))
	if ! grep -q ' passed, .* failed$' <<<"$out" || { [ "$rc" != 0 ] && [ "$f" = 0 ]; }; then
		not_ok "browser $1 ran to its end (exit $rc)"
	fi
}

[ -n "$SHOTS" ] && mkdir -p "$SHOTS"
browser badlogin "$URL" $ADMIN "$PW"
browser admin "$URL" $ADMIN "$PW" g1 ${SHOTS:+"$(realpath "$SHOTS")"}
check_eq "g1 runs after the admin's start" "$(vm_field h1 g1 .state)" running
browser screen "$URL" $ADMIN "$PW" g1 ${SHOTS:+"$(realpath "$SHOTS")"}
# (the job's outcome is the checkpoint's business: here, that it reached h2)
check "h2 ran the checkpoint job asked through h1" bash -c \
    "$LAB_SH tern h2 job list --json | jq -e '.jobs[] | select(.type == \"vm.checkpoint\" and .vm == \"g2\")'"
browser viewer "$URL" $VIEWER "$PW" g1
check_eq "the viewer's forged start changed nothing on h2" "$(vm_field h2 g2 .state)" off
t h2 replica server enable --allow h1=local >/dev/null
check "g1 replicates to h2" t h1 vm replication enable g1 --to h2
browser replication "$URL" $ADMIN "$PW" g1 ${SHOTS:+"$(realpath "$SHOTS")"}
# h2's VM on h1's console: its thumbnail and noVNC, through h1.
t h2 vm start g2 >/dev/null
check "g2 boots on h2" wait_for 90 console_has h2 g2 TERN-GUEST-READY
SCREEN_HOST=h2 browser screen "$URL" $ADMIN "$PW" g2

# From curl in h1's namespace: the session's cookie without the CSRF token.
jar=$(mktemp /tmp/tern-e2e-console-jar.XXXXXX)
e2e_at_exit "rm -f '$jar'"
hcurl() { lab exec h1 curl -sk --max-time 20 "$@"; }
ensure_members
hdrfile=$jar.h
e2e_at_exit "rm -f '$hdrfile'"
login=$(hcurl -c "$jar" -D "$hdrfile" -H 'Content-Type: application/json' \
    -d "{\"user\":\"$ADMIN\",\"password\":\"$PW\"}" "$URL/v1/session")
csrf=$(jq -r .csrf <<<"$login")
check_eq "curl logs in as admin" "$(jq -r .role <<<"$login")" admin
check "the session cookie is Secure, HttpOnly, SameSite=Strict" grep -qiE \
    '^set-cookie: tern_session=[0-9a-f]{64}; Path=/; Secure; HttpOnly; SameSite=Strict' "$hdrfile"
# req JAR PATH [CURL ARGS]: "STATUS CODE" of a POST (JAR "": no cookie).
req() {
	local out jar=$1 path=$2
	shift 2
	out=$(hcurl ${jar:+-b "$jar"} -o - -w '\n%{http_code}' -X POST "$@" "$URL$path")
	echo "$(tail -n 1 <<<"$out") $(head -n -1 <<<"$out" | jq -r '.error.code // "-"' 2>/dev/null)"
}
check_eq "a POST with the cookie but no CSRF token is refused" \
    "$(req "$jar" /v1/vms/g1/pause)" "403 csrf"
check_eq "a POST with a wrong CSRF token is refused" \
    "$(req "$jar" /v1/vms/g1/pause -H "X-CSRF-Token: ${csrf//?/0}")" "403 csrf"
check_eq "g1 still runs (nothing changed)" "$(vm_field h1 g1 .state)" running
check_eq "a POST without a session is refused" "$(req "" /v1/vms/g1/pause)" "401 session"
# The VNC WebSocket: no CSRF header possible, so the Origin must be ours.
ws_hdrs=(-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13'
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: binary')
check_eq "a VNC WebSocket with another page's Origin is refused" \
    "$(hcurl -b "$jar" -o /dev/null -w '%{http_code}' "${ws_hdrs[@]}" \
    -H 'Origin: https://evil.example' "$URL/v1/vms/g1/vnc")" 403
check_eq "a session gets the screenshot as image/png" \
    "$(hcurl -b "$jar" -o /dev/null -w '%{http_code} %{content_type}' "$URL/v1/vms/g1/screenshot")" \
    "200 image/png"
check_eq "a host-to-host path is refused to a session" \
    "$(hcurl -b "$jar" -o /dev/null -w '%{http_code}' "$URL/v1/replica/vms/x")" 403
hdrs=$(hcurl -D - -o /dev/null "$URL/")
check "the page is served with the CSP default-src 'self'" \
    grep -qi "^content-security-policy: default-src 'self'" <<<"$hdrs"
check "a logout with the token ends the session" test "$(hcurl -b "$jar" -o /dev/null \
    -w '%{http_code}' -X DELETE -H "X-CSRF-Token: $csrf" "$URL/v1/session")" = 204
e2e_finish
