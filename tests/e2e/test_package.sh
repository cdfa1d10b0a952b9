#!/usr/bin/env bash
# test_package.sh - the Debian package, as CI can check it without systemd
# as PID 1: build tern_*.deb from a copy of the tree (dpkg-buildpackage,
# nocheck: one build, no ASan tree), lintian without errors, the installed
# unit through `systemd-analyze verify --root`, an install into a scratch
# root with `dpkg -x` (no maintainer scripts: their sysusers and tmpfiles
# steps are run with --root on it), then the installed ternd started from
# that root with its installed config (state and run dirs in a temp dir),
# READY=1 read from NOTIFY_SOCKET, the installed tern talking to it, and a
# stop by PID.  No network, no lab.  About a minute on two cores.
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/tern-package.XXXXXX)
PIDS=()
cleanup() {
	local rc=$? p
	set +e
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# 1. The source: the working tree as git sees it (committed or not), never
# build directories or other ignored files.
mkdir -p "$T/src/tern"
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$REPO" ls-files -z -co --exclude-standard |
	    (cd "$REPO" && tar --null -cf - -T - 2>/dev/null) |
	    tar -xf - -C "$T/src/tern"
else
	tar -C "$REPO" --exclude='./build*' --exclude='./obj-*' -cf - . |
	    tar -xf - -C "$T/src/tern"
fi
t0=$SECONDS
if (cd "$T/src/tern" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
    timeout 600 dpkg-buildpackage -b -uc -us) >"$T/build.log" 2>&1; then
	ok "dpkg-buildpackage -b ($((SECONDS - t0)) s)"
else
	not_ok "dpkg-buildpackage -b"; tail -n 30 "$T/build.log" | sed 's/^/#   /'
	e2e_finish; exit 1
fi
deb=$(ls "$T"/src/tern_*_*.deb | grep -v dbgsym)
check "one tern_*.deb" test -f "$deb"

# 2. lintian: no errors; the warnings are printed for the log.
lintian --tag-display-limit 0 "$deb" >"$T/lintian.txt" 2>&1 || true
sed 's/^/#   lintian: /' "$T/lintian.txt"
check_eq "lintian reports no error" "$(grep -c '^E:' "$T/lintian.txt" || true)" 0

# 3. The installed tree (dpkg -x) and what the maintainer scripts would do.
R=$T/root
dpkg -x "$deb" "$R"
for f in usr/sbin/ternd usr/bin/tern usr/libexec/tern/tern-blockcopy \
    usr/libexec/tern/tern-lease usr/libexec/tern/tern-replica-apply \
    usr/libexec/tern/tern-auth; do
	check "installed /$f, executable" test -x "$R/$f"
done
unit=$(cd "$R" && ls lib/systemd/system/ternd.service \
    usr/lib/systemd/system/ternd.service 2>/dev/null | head -n 1 || true)
check "the unit is installed" test -n "$unit"
for f in etc/tern/ternd.conf usr/lib/tmpfiles.d/tern.conf \
    usr/lib/sysusers.d/tern.conf; do
	check "installed /$f" test -f "$R/$f"
done
check "the web console's PAM service /etc/pam.d/tern" \
    grep -q common-auth "$R/etc/pam.d/tern"
check "the web console built into /usr/share/tern/www" \
    test -f "$R/usr/share/tern/www/index.html"
check "its scripts are files of the package, not a CDN's" \
    bash -c "! grep -qE 'src=\"https?://' '$R/usr/share/tern/www/index.html'"
for m in man1/tern.1 man8/ternd.8 man5/ternd.conf.5; do
	check "man page $m" bash -c "ls '$R/usr/share/man/$m'* >/dev/null"
done
check "bash completion" test -f "$R/usr/share/bash-completion/completions/tern"
check "ternd looks for its helpers in /usr/libexec/tern" \
    grep -q /usr/libexec/tern "$R/usr/sbin/ternd"
dpkg-deb -e "$deb" "$T/ctl"
check "/etc/tern/ternd.conf is a conffile" \
    grep -qx /etc/tern/ternd.conf "$T/ctl/conffiles"
for w in systemd-sysusers systemd-tmpfiles ternd.service; do
	check "postinst runs the $w step" grep -q "$w" "$T/ctl/postinst"
done
check "systemd-sysusers --root on the installed file" \
    systemd-sysusers --root="$R" "$R/usr/lib/sysusers.d/tern.conf"
check "user tern-qemu" grep -q '^tern-qemu:' "$R/etc/passwd"
check "group tern-admin" \
    grep -q "^tern-admin:" "$R/etc/group"
check "group tern-viewer" grep -q '^tern-viewer:' "$R/etc/group"
check "systemd-tmpfiles --root --create" \
    systemd-tmpfiles --root="$R" --create "$R/usr/lib/tmpfiles.d/tern.conf"
check_eq "/var/lib/tern 0700" "$(stat -c %a "$R/var/lib/tern")" 700
check_eq "/run/tern 0700" "$(stat -c %a "$R/run/tern")" 700

# Every key config.c accepts is in the installed ternd.conf, commented out.
keys=$(grep -oE '(streq\(key, "[a-z-]+"|\{ "[a-z-]+", &c->)' \
    "$REPO/src/daemon/config.c" |
    grep -oE '"[a-z-]+"' | tr -d '"' | sort -u)
missing=
for k in $keys; do
	grep -qE "^#$k = " "$R/etc/tern/ternd.conf" || missing="$missing $k"
done
check_eq "ternd.conf shows every key config.c accepts" "${missing# }" ""
check_eq "ternd.conf sets nothing (all commented out)" \
    "$(grep -cvE '^(#|$)' "$R/etc/tern/ternd.conf" || true)" 0

# 4. The unit as installed.  systemd is not PID 1 here: verify against the
# scratch root (--root: ExecStart is checked there), with the host's
# targets copied in (After=/WantedBy= name them) and man pages not looked
# up (they are checked where they are built).
cp -n /lib/systemd/system/*.target "$R/$(dirname "$unit")/" 2>/dev/null || true
check "systemd-analyze verify --root" \
    systemd-analyze verify --man=no --root="$R" ternd.service
grep -E '^(Type|ExecStart|KillMode|Restart)=' "$R/$unit" >"$T/unit.keys"
check "Type=notify" grep -qx 'Type=notify' "$T/unit.keys"
check "KillMode=process" grep -qx 'KillMode=process' "$T/unit.keys"
check "Restart=on-failure" grep -qx 'Restart=on-failure' "$T/unit.keys"
check "ExecStart: /usr/sbin/ternd, the installed config, foreground" grep -qx \
    'ExecStart=/usr/sbin/ternd --config /etc/tern/ternd.conf --foreground' \
    "$T/unit.keys"
systemd-analyze security --offline=yes --root="$R" ternd.service 2>/dev/null |
    tail -n 1 | sed 's/^/# /' || true

# 5. The installed ternd, as the unit starts it (its ExecStart flags, its
# installed config), with state and run dirs in $T, NOTIFY_SOCKET read.
python3 "$REPO/tests/e2e/fake_journald.py" "$T/notify" "$T/notify.jsonl" &
PIDS+=($!)
wait_for 10 test -S "$T/notify" || { echo "no notify socket"; exit 1; }
mkdir -p "$T/run"
NOTIFY_SOCKET=$T/notify "$R/usr/sbin/ternd" --config "$R/etc/tern/ternd.conf" \
    --foreground --name pkg1 --state-dir "$T/state" --run-dir "$T/run" \
    2>"$T/ternd.err" &
TPID=$!
PIDS+=("$TPID")
ready() { grep -q '"READY": "1"' "$T/notify.jsonl"; }
check "READY=1 from the installed ternd" wait_for 30 ready
itern() { "$R/usr/bin/tern" --socket "$T/run/ternd.sock" "$@"; }
check_eq "the installed tern talks to it" \
    "$(itern host info --json 2>&1 | jq -r .name 2>&1)" pkg1
check "tern vm list" itern vm list
kill "$TPID"
check "STOPPING=1 on SIGTERM" wait_for 20 \
    grep -q '"STOPPING": "1"' "$T/notify.jsonl"
check "ternd ends on SIGTERM" wait_for 30 bash -c "! kill -0 $TPID"
[ "$E2E_FAIL" = 0 ] || tail -n 20 "$T/ternd.err" | sed 's/^/#   ternd: /'
echo "# package test took $SECONDS s"
e2e_finish
