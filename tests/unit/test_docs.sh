#!/usr/bin/env bash
# test_docs.sh - the man pages against the code, so that a command, option
# or setting added without its documentation fails here:
# - tern(1): every command of the CLI's own table ("tern __commands") has
#   its entry (a line "*GROUP VERB*" under COMMANDS), and every option of
#   the command (--no-wait for a job) is in that entry; every global option
#   is in OPTIONS; and no entry names a command tern does not have;
# - ternd(8): every long option ternd parses (config.c's longopts) and
#   every one its --help shows has its entry, and no entry is stale;
# - ternd.conf(5): every key config.c accepts has its entry "*KEY* = ...",
#   and no entry is stale;
# - each page renders: scdoc, then groff -man with every warning (-ww),
#   which must print nothing.
# Usage: test_docs.sh TERN TERND CONFIG_C TERN_1_SCD TERND_8_SCD
#        TERND_CONF_5_SCD
set -uo pipefail

TERN=$1
TERND=$2
CONFIG_C=$3
TERN1=$4
TERND8=$5
CONF5=$6
T=$(mktemp -d /tmp/tern-docs.XXXXXX)
PASS=0
FAIL=0
trap 'rm -rf "$T"' EXIT

ok() {
	PASS=$((PASS + 1))
}

bad() {
	echo "test_docs.sh:${BASH_LINENO[-2]}: $*" >&2
	FAIL=$((FAIL + 1))
}

# at_least N WHAT FILE: FILE has at least N lines (an extraction that
# finds nothing must not pass as "nothing undocumented")
at_least() {
	if [ "$(wc -l <"$3")" -ge "$1" ]; then ok; else
		bad "only $(wc -l <"$3") $2 found; the extraction is broken"
	fi
}

# entry PAGE CMD: the lines of CMD's entry in tern(1): its "*CMD*" line
# and the indented text below it, up to the next entry or heading.
entry() {
	awk -v head="*$2*" '
	    index($0, head) == 1 && (length($0) == length(head) ||
	        substr($0, length(head) + 1, 1) == " ") { on = 1; print; next }
	    on && /^(\*|#)/ { on = 0 }
	    on { print }' "$1"
}

# ---- tern(1) ----
"$TERN" __commands >"$T/table" || bad "tern __commands failed"
grep -v '^-	' "$T/table" >"$T/cmds"
at_least 40 commands "$T/cmds"
while IFS=$'\t' read -r cmd _ rest; do
	entry "$TERN1" "$cmd" >"$T/entry"
	if [ ! -s "$T/entry" ]; then
		bad "tern.1.scd: no entry '*$cmd*' for command 'tern $cmd'"
		continue
	fi
	ok
	IFS=$'\t' read -r -a opts <<<"$rest"
	for o in "${opts[@]}"; do
		o=${o%%=*}
		# --json and --help: every command's, said once under OPTIONS
		[ "$o" = --json ] || [ "$o" = --help ] && continue
		if grep -qF -- "*$o*" "$T/entry"; then ok; else
			bad "tern.1.scd: 'tern $cmd' does not describe $o"
		fi
	done
done <"$T/cmds"
# the global options, in OPTIONS
sed -n '/^# OPTIONS/,/^# COMMANDS/p' "$TERN1" >"$T/options"
grep '^-	' "$T/table" | tr '\t' '\n' | sed -n 's/^\(--[a-z-]*\).*/\1/p' \
    >"$T/globals"
at_least 5 "global options" "$T/globals"
while read -r o; do
	if grep -q -- "^\*$o\*" "$T/options"; then ok; else
		bad "tern.1.scd: global option $o not under OPTIONS"
	fi
done <"$T/globals"
# no entry for a command tern does not have
sed -n '/^# COMMANDS/,/^# EXIT STATUS/p' "$TERN1" |
    sed -n 's/^\*\([a-z][a-z -]*\)\*.*/\1/p' >"$T/documented"
at_least 40 "command entries" "$T/documented"
while read -r cmd; do
	if cut -f1 "$T/cmds" | grep -qxF -- "$cmd"; then ok; else
		bad "tern.1.scd documents 'tern $cmd', which tern does not have"
	fi
done <"$T/documented"

# ---- ternd(8): options ----
# config.c's longopts: { "name", required_argument|no_argument, ...
sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", \(required\|no\)_argument.*/--\1/p' \
    "$CONFIG_C" | sort -u >"$T/dopts"
at_least 20 "ternd options in config.c" "$T/dopts"
# (an option's own line, or after a comma: "--help, --version")
"$TERND" --help | grep -o -- '^  --[a-z-]*\|, --[a-z-]*' |
    sed 's/^[ ,]*//' | sort -u >"$T/dhelp"
at_least 20 "options in ternd --help" "$T/dhelp"
# every option the daemon takes and every one its --help shows
sort -u "$T/dopts" "$T/dhelp" >"$T/dall"
grep '^\*--' "$TERND8" >"$T/dentries"
while read -r o; do
	if grep -qF -- "*$o*" "$T/dentries"; then ok; else
		bad "ternd.8.scd: no entry for ternd option $o"
	fi
done <"$T/dall"
grep -o '^\*--[a-z-]*\*\|, \*--[a-z-]*\*' "$TERND8" |
    sed 's/^, //; s/\*//g' >"$T/ddoc"
while read -r o; do
	if grep -qxF -- "$o" "$T/dopts"; then ok; else
		bad "ternd.8.scd documents $o, which ternd does not take"
	fi
done <"$T/ddoc"

# ---- ternd.conf(5): keys ----
# config_set()'s keys: the table { "key", &c->slot } and streq(key, "key")
{
	grep -o '{ "[a-z-]*", &c->' "$CONFIG_C" | sed 's/{ "\(.*\)".*/\1/'
	grep -o 'streq(key, "[a-z-]*")' "$CONFIG_C" |
	    sed 's/streq(key, "\(.*\)")/\1/'
} | sort -u >"$T/keys"
at_least 20 "config keys in config.c" "$T/keys"
while read -r k; do
	if grep -q "^\*$k\* = " "$CONF5"; then ok; else
		bad "ternd.conf.5.scd: no entry '*$k* = ...' for key '$k'"
	fi
done <"$T/keys"
sed -n 's/^\*\([a-z-]*\)\* = .*/\1/p' "$CONF5" >"$T/kdoc"
while read -r k; do
	if grep -qxF -- "$k" "$T/keys"; then ok; else
		bad "ternd.conf.5.scd documents '$k', which ternd does not accept"
	fi
done <"$T/kdoc"
# each option but these is a key of the file too, documented in both
while read -r o; do
	case $o in
	--config | --foreground | --debug | --help | --version) continue ;;
	esac
	if grep -qxF -- "${o#--}" "$T/keys"; then ok; else
		bad "ternd option $o is no key of ternd.conf (config_set)"
	fi
done <"$T/dopts"

# ---- each page renders, without a warning ----
for page in "$TERN1" "$TERND8" "$CONF5"; do
	name=$(basename "$page" .scd)
	if ! scdoc <"$page" >"$T/$name" 2>"$T/scdoc.err"; then
		bad "scdoc fails on $name: $(head -3 "$T/scdoc.err")"
		continue
	fi
	if groff -man -ww -z "$T/$name" >"$T/groff.out" 2>&1 &&
	    [ ! -s "$T/groff.out" ]; then ok; else
		bad "groff warns on $name: $(head -3 "$T/groff.out")"
	fi
	# its title line names the page as it is installed
	if head -1 "$page" | grep -qxF "${name%.*}(${name##*.})"; then ok; else
		bad "$name: first line '$(head -1 "$page")'"
	fi
done

echo "$PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
