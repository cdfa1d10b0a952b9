#!/usr/bin/env bash
# test_completion.sh - the bash completion of tern (completion/tern): the
# function called as bash calls it (COMP_WORDS, COMP_CWORD), COMPREPLY
# checked.  First without a daemon: every command, subcommand and option
# of the CLI's own table ("tern __commands") is offered where it belongs,
# enumerated values, files; nothing printed when no ternd answers.  Then
# against a real ternd on a temporary socket, in a network namespace of
# its own (unshare -n: its switch's bridge is made there and goes with
# it): VM, pool, switch and peer names where the command expects them.
# Usage: test_completion.sh TERN TERND COMPLETION_FILE
set -uo pipefail

TERN=$1
TERND=$2
COMPLETION=$3
T=$(mktemp -d /tmp/tern-completion.XXXXXX)
DPID=
PASS=0
FAIL=0

cleanup() {
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

ok() {
	PASS=$((PASS + 1))
}

bad() {
	echo "test_completion.sh:${BASH_LINENO[-2]}: $*" >&2
	FAIL=$((FAIL + 1))
}

# shellcheck source=../../completion/tern
. "$COMPLETION" || { echo "cannot source $COMPLETION" >&2; exit 1; }

# comp WORD... : complete the last word, the cursor at its end, as bash
# does: COMP_LINE is the words joined by blanks, then split at blanks and
# at bash's word breaks "=" and ":" into COMP_WORDS ("--to=h" gives
# "--to" "=" "h"); the candidates go into $T/reply, one a line, sorted,
# and stderr into $T/err.
comp() {
	local w
	COMP_LINE="$TERN $*"
	COMP_POINT=${#COMP_LINE}
	COMP_WORDS=()
	for w in "$TERN" "$@"; do
		while [[ $w =~ ^([^=:]*)([=:]+)(.*)$ ]]; do
			[ -n "${BASH_REMATCH[1]}" ] &&
			    COMP_WORDS+=("${BASH_REMATCH[1]}")
			COMP_WORDS+=("${BASH_REMATCH[2]}")
			w=${BASH_REMATCH[3]}
		done
		[ -n "$w" ] && COMP_WORDS+=("$w")
	done
	# the word being completed: empty after a blank or a break
	case $COMP_LINE in
	*' ' | *= | *:) COMP_WORDS+=("") ;;
	esac
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_tern 2>"$T/err"
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort -u >"$T/reply"
}

# offers WANT WORD... : the completion of WORD... includes WANT
offers() {
	local want=$1
	shift
	comp "$@"
	if grep -qxF -- "$want" "$T/reply"; then ok; else
		bad "'$*' does not offer '$want' (got: $(tr '\n' ' ' <"$T/reply"))"
	fi
}

# lacks NOT WORD... : the completion of WORD... does not include NOT
lacks() {
	local not=$1
	shift
	comp "$@"
	if grep -qxF -- "$not" "$T/reply"; then
		bad "'$*' offers '$not'"
	else ok; fi
}

# exactly "A B ..." WORD... : the completion is exactly these words
exactly() {
	local want
	want=$(printf '%s\n' $1 | sed '/^$/d' | sort -u | tr '\n' ' ')
	shift
	comp "$@"
	if [ "$(tr '\n' ' ' <"$T/reply")" = "$want" ]; then ok; else
		bad "'$*' gives '$(tr '\n' ' ' <"$T/reply")', want '$want'"
	fi
}

quiet() {
	if [ -s "$T/err" ]; then bad "printed on stderr: $(head -3 "$T/err")"
	else ok; fi
}

# ---- every command of the table, each word where it belongs ----
"$TERN" __commands >"$T/table" || bad "tern __commands failed"
[ "$(wc -l <"$T/table")" -gt 40 ] && ok || bad "short table"
while IFS=$'\t' read -r cmd pos rest; do
	[ "$cmd" = - ] && continue
	read -r -a w <<<"$cmd"
	# each word of the command path at its place, from its first letter
	for ((i = 0; i < ${#w[@]}; i++)); do
		offers "${w[i]}" "${w[@]:0:i}" "${w[i]:0:1}"
	done
	# each option after the command (and its positionals)
	read -r -a p <<<"$pos"
	IFS=$'\t' read -r -a opts <<<"$rest"
	for o in "${opts[@]}"; do
		offers "${o%%=*}" "${w[@]}" "${p[@]/#/x}" --
	done
done <"$T/table"
# the global options, before the command
for o in socket host fingerprint cert key json no-wait help version; do
	offers "--$o" --
done
offers vm --socket "$T/none" v
exactly "start stop" vm st
exactly "list delete set" vm kvp ""
# a two-word verb's second word, and its one-word sibling's argument
offers test vm failover ""
offers test-stop vm failover te
lacks --kind vm failover test x --
offers --switch vm failover test x --
# an option's enumerated values, after a space or an "="
exactly "production standard" vm checkpoint create x --kind ""
exactly "30s 5m 15m" vm replication enable x --interval ""
exactly "on off" vm replication enable x --compress=""
exactly "memory cpu" cluster set --balance-by ""
exactly "active-backup 802.3ad balance-xor" switch create x --bond-mode ""
# an uplink: this machine's interfaces
offers lo switch create x --uplink ""
offers no-auto-start vm ha enable x --priority n
# bash splits "--opt=value" at "=" and "https://h:1" at ":": a value
# after "=", and the words after --host's URL, are still found
exactly "production standard" vm checkpoint create x --kind=
exactly "standard" vm checkpoint create x --kind=st
exactly "start stop" --host https://127.0.0.1:9 --fingerprint sha256:00 vm st
exactly "start stop" --host=https://127.0.0.1:9 vm st
# an option's value is not taken for a positional, nor offered options
lacks --cpus vm create x --cpus ""
# files and directories
mkdir "$T/repo-dir" && touch "$T/kernel-file"
offers "$T/kernel-file" vm create x --kernel "$T/kern"
offers "$T/repo-dir" backup create web1 --to "$T/repo-"
offers "$T/repo-dir" vm import "$T/repo-"
offers "$T/repo-dir" --socket "$T/re"
offers "$T/kernel-file" --cert="$T/ker"
touch "$T/initrd file"
offers "$T/initrd file" vm create x --initrd "$T/initrd"
# no daemon: names are asked of ternd, which is not there, quietly
exactly "" --socket "$T/nosuch.sock" vm start ""
quiet
exactly "" --socket "$T/nosuch.sock" vm move web1 --to ""
quiet
# an unknown command or option completes nothing, and says nothing
exactly "" nosuch ""
quiet
exactly "" vm nosuch x --
quiet

# ---- names from a real ternd ----
mkdir -p "$T/pool" "$T/state" "$T/run"
unshare -n "$TERND" --foreground --config /dev/null --name tc1 \
    --state-dir "$T/state" --run-dir "$T/run" --pool "p1=$T/pool" \
    >"$T/ternd.log" 2>&1 &
DPID=$!
S="$T/run/ternd.sock"
for _ in $(seq 1 100); do
	[ -S "$S" ] && "$TERN" --socket "$S" host info >/dev/null 2>&1 && break
	sleep 0.1
done
t() {
	timeout 60 "$TERN" --socket "$S" "$@" >>"$T/tern.log" 2>&1 ||
	    bad "tern $* failed: $(tail -2 "$T/tern.log")"
}
t vm create web1 --cpus 1 --memory 64M
t vm create db1 --cpus 1 --memory 64M
t switch create sw0
t peer add h2 https://127.0.0.1:9 --fingerprint \
    "sha256:$(printf '%064d' 0)"
exactly "web1 db1" --socket "$S" vm start ""
quiet
exactly "web1" --socket "$S" vm show w
exactly "web1 db1" --socket="$S" vm failover test ""
offers web1 --socket "$S" vm failover ""
offers test --socket "$S" vm failover ""
exactly "web1 db1" --socket "$S" backup create ""
exactly "web1 db1" --socket "$S" job list --vm ""
exactly "web1 db1" --socket "$S" events --vm=""
# TERN_SOCKET, as tern itself reads it
TERN_SOCKET=$S exactly "web1 db1" vm delete ""
# hosts where a host is expected
exactly "h2" --socket "$S" vm move web1 --to ""
exactly "h2" --socket "$S" vm move web1 --to=""
exactly "h2" --socket "$S" vm replication enable web1 --to ""
exactly "h2" --socket "$S" peer remove ""
exactly "h2" --socket "$S" cluster node add ""
offers h2 --socket "$S" cluster create c --node ""
# pools and switches
exactly "p1" --socket "$S" vm move web1 --pool ""
exactly "p1" --socket "$S" pool delete ""
exactly "sw0" --socket "$S" vm create x --net ""
exactly "sw0" --socket "$S" switch delete ""
offers p1 --socket "$S" vm move-storage web1 --to ""
# job ids: the two creates' jobs
exactly "$("$TERN" --socket "$S" job list | awk 'NR > 1 { print $1 }' |
    tr '\n' ' ')" --socket "$S" job show ""
[ "$(wc -l <"$T/reply")" -ge 2 ] && ok || bad "fewer than 2 job ids"
# a new name is not completed from the existing ones
exactly "" --socket "$S" vm create ""
exactly "" --socket "$S" pool create ""
# a second VM positional (kvp KEY) is not a VM
exactly "" --socket "$S" vm kvp set web1 ""
quiet

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
