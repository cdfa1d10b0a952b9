#!/usr/bin/env bash
# run-libfuzzer.sh [SECONDS] - build every fuzz target with clang's
# libFuzzer plus ASan/UBSan and fuzz each for SECONDS (default 30), from a
# scratch copy of its seed corpus (the repository's corpus is only read).
# Prints "N passed, N failed" (one per target); exit 1 if any crashed.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-30}
B=${FUZZ_BUILD:-build-fuzz}
if ! command -v clang >/dev/null; then
	echo "fuzz: clang not installed; skipping libFuzzer runs"
	exit 0
fi
[ -f "$B/build.ninja" ] || CC=clang meson setup "$B" -Dlibfuzzer=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null
ninja -C "$B" >/dev/null || { echo "fuzz: build failed"; exit 1; }
passed=0 failed=0
# fuzz_one TARGET: fuzz TARGET from a scratch copy of its corpus; its
# outcome in $B/fuzz-TARGET.rc.
fuzz_one() {
	local target=$1 work rc=0
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$target/." "$work/"
	"$B/tests/fuzz/fuzz_$target" -max_total_time="$SECS" \
	    -max_len=65536 -timeout=10 -artifact_prefix="$B/crash-$target-" \
	    "$work" >"$B/fuzz-$target.log" 2>&1 || rc=$?
	echo "$rc" >"$B/fuzz-$target.rc"
	rm -rf "$work"
}
# Every target has a corpus directory of its name: the list is theirs,
# so a new target cannot be left out (fuzz_login once was).  As many run
# at once as there are cores (each its own SECONDS): CI's budget is time.
targets=$(cd tests/fuzz/corpus && ls -d -- */ | tr -d /)
jobs=$(nproc)
for target in $targets; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	rm -f "$B/fuzz-$target.rc"
	fuzz_one "$target" &
done
wait
for target in $targets; do
	if [ "$(cat "$B/fuzz-$target.rc" 2>/dev/null)" = 0 ]; then
		passed=$((passed + 1))
		echo "fuzz: $target: $(grep -ao 'Done [0-9]* runs in [0-9]* second(s)' \
		    "$B/fuzz-$target.log" | tail -n 1), no crash"
	else
		failed=$((failed + 1))
		echo "fuzz: $target: CRASH, see $B/fuzz-$target.log and $B/crash-$target-*"
		grep -a -A12 'ERROR:' "$B/fuzz-$target.log" | head -n 20
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
