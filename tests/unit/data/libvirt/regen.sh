#!/bin/sh
# regen.sh - write the fixtures in this directory from src/*.xml with a
# real `virsh dumpxml`: libvirt's test driver (test:///default) needs no
# daemon.  Run by hand when a source changes: sh regen.sh
set -eu
cd "$(dirname "$0")"
for f in src/*.xml; do
	name=$(sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$f" | head -n 1)
	virsh -q -c test:///default "define $f; dumpxml $name" |
	    sed '/^Domain .* defined from /d; /^$/d' > "$(basename "$f")"
done
