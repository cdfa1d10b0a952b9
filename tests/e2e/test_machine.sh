#!/usr/bin/env bash
# test_machine.sh - the machine type is the VM's: chosen at creation (the
# newest versioned q35 the host's QEMU offers, or --machine), shown, used on
# QEMU's command line, kept across a move; a move to a host whose QEMU lacks
# it, an unknown or malformed --machine, and a QEMU older than 7.2 are
# refused with a clear error and nothing changed.  h2 runs a QEMU wrapper
# that hides the newest machine type, as an older QEMU would.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup machine 87

QEMU=$(command -v qemu-system-x86_64)
newest=$("$QEMU" -machine help | awk '$1 ~ /^pc-q35-[0-9]+\.[0-9]+$/ {print $1}' |
    sort -t- -k3,3V | tail -n 1)
work=$(mktemp -d /tmp/tern-e2e-machine.XXXXXX)
e2e_at_exit "rm -rf '$work'"

# The wrapper: in h2's namespace, `-machine help` lacks the newest type.
cat >"$work/qemu" <<EOF
#!/bin/bash
ns=\$(ip netns identify \$\$ 2>/dev/null)
if [ "\${ns##*-}" = h2 ] && [ "\$*" = "-machine help" ]; then
	"$QEMU" -machine help | grep -v -e "^$newest " -e "alias of $newest"
	exit \${PIPESTATUS[0]}
fi
exec -a qemu-system-x86_64 "$QEMU" "\$@"
EOF
chmod 755 "$work/qemu"
printf 'qemu = %s\n' "$work/qemu" >"$work/ternd.conf"
lab up 2 --shared-pool --config "$work/ternd.conf" >/dev/null
trust_both

check_eq "h1's default is the newest q35 its QEMU offers" \
    "$(t h1 host info --json | jq -r .machine_default)" "$newest"
check "h2's QEMU (wrapped) does not offer it" \
    test "$(t h2 host info --json | jq -r .machine_default)" != "$newest"
check "host info names the machine types" bash -c \
    "$LAB_SH tern h1 host info | grep -q 'machine types: *$newest (default)'"

shared_guest h1 g1 idle
check_eq "a new vm gets the newest machine type" \
    "$(vm_field h1 g1 .machine)" "$newest"
check "vm show prints it" bash -c \
    "$LAB_SH tern h1 vm show g1 | grep -q '^machine: *$newest'"
uuid1=$(vm_field h1 g1 .uuid)
check "QEMU runs that machine type" \
    pgrep -f -- "-uuid $uuid1 -machine $newest,accel="

t h1 vm create g2 --cpus 1 --memory 256M --disk 64M@shared \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g2 tern.workload=idle" \
    --machine pc-q35-7.2 >/dev/null
t h1 vm start g2 >/dev/null
check_eq "--machine picks an older type" "$(vm_field h1 g2 .machine)" \
    pc-q35-7.2
uuid2=$(vm_field h1 g2 .uuid)
check "QEMU runs pc-q35-7.2" pgrep -f -- "-uuid $uuid2 -machine pc-q35-7.2,accel="

# ---- bad input: clear error, nothing changed ----
snapshot() {
	{ t h1 vm list --json | jq -c '[.vms[] | {name, state, machine}]'
	  t h2 vm list --json | jq -c '[.vms[] | {name, state, machine}]'
	  ls -A "$(labenv LAB_SHARED_POOL)"; } 2>&1
}
before=$(snapshot)
check_err "--machine naming an unknown type" 1 \
    "needs machine type 'pc-q35-99.0', which QEMU" \
    t h1 vm create x1 --cpus 1 --memory 64M --machine pc-q35-99.0
check_err "--machine that is not a machine type name" 1 \
    "machine must be a QEMU machine type" \
    t h1 vm create x1 --cpus 1 --memory 64M --machine 'pc,accel=kvm'
check_err "a move to a host whose QEMU lacks the vm's machine type" 1 \
    "needs machine type '$newest', which QEMU" t h1 vm move g1 --to h2
check_eq "nothing changed" "$(snapshot)" "$before"
check "the refused vm still runs on h1, one QEMU" \
    test "$(vm_where g1)" = "h1 running" -a "$(qemu_count "$uuid1")" = 1

# ---- a vm whose machine type both offer moves, and keeps it ----
check "g2 (pc-q35-7.2) moves to h2" t h1 vm move g2 --to h2
check_eq "on h2 it still runs pc-q35-7.2" \
    "$(vm_field h2 g2 .machine)/$(vm_field h2 g2 .state)" pc-q35-7.2/running
# one_qemu_with UUID MACHINE: one QEMU runs UUID, with that machine type
# (a function: a "bash -c" would match its own pattern).
one_qemu_with() {
	[ "$(pgrep -fc -- "-uuid $1 -machine $2,accel=")" = 1 ] &&
	    [ "$(qemu_count "$1")" = 1 ]
}
check "one QEMU for g2 once the source's quit, with pc-q35-7.2" \
    wait_for 10 one_qemu_with "$uuid2" pc-q35-7.2

# ---- a QEMU older than 7.2: ternd refuses to start ----
cat >"$work/qemu-old" <<'EOF'
#!/bin/sh
echo "QEMU emulator version 6.2.0 (Debian 1:6.2+dfsg-2)"
EOF
chmod 755 "$work/qemu-old"
check_err "ternd refuses a QEMU older than 7.2" 1 \
    "QEMU 6.2.0 at '$work/qemu-old' is older than 7.2" \
    "$TERND" --foreground --name old --state-dir "$work/old" \
    --run-dir "$work/old-run" --qemu "$work/qemu-old"
check "and started nothing" test ! -S "$work/old-run/ternd.sock"

e2e_finish
