#!/usr/bin/env bash
# run.sh BUILD [ASAN_BUILD] - run the whole test suite and end with one line
# "N passed, N failed" summing every test's own counts: unit tests, fuzz
# corpus replays and end-to-end tests from BUILD, and unit tests and fuzz
# replays again under ASan/UBSan from ASAN_BUILD.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
ASAN=${2:-}
passed=0
failed=0

# count BUILDDIR: add the per-test counts of the last meson test run.
count() {
	local log=$1/meson-logs/testlog.json p f
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	while IFS=$'\t' read -r name result line; do
		if [ -n "$line" ]; then
			p=${line%% passed*}; f=${line#*, }; f=${f%% failed*}
		else
			p=0; f=0
		fi
		if [ "$result" != OK ] && [ "$f" = 0 ]; then f=$((f + 1)); fi
		if [ -z "$line" ] && [ "$result" = OK ]; then p=1; fi
		echo "== $name: $result ($p passed, $f failed)"
		passed=$((passed + p)); failed=$((failed + f))
	done < <(jq -r '[.name, .result, ((.stdout // "") |
	    [scan("(?m)^[0-9]+ passed, [0-9]+ failed")] | last // "")] | @tsv' \
	    "$log")
}

if [ -n "$ASAN" ]; then
	echo "== unit and fuzz replay tests under ASan/UBSan ($ASAN)"
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    meson test -C "$ASAN" --suite unit --suite fuzz --print-errorlogs \
	    >"$ASAN/test-output.txt" 2>&1
	tail -n 12 "$ASAN/test-output.txt"
	count "$ASAN"
fi
echo "== all tests ($BUILD)"
meson test -C "$BUILD" --print-errorlogs
count "$BUILD"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
