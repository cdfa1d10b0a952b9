#!/usr/bin/env bash
# test_netlab.sh - the switches' real code (src/net, as ternd links it) on
# a kernel that has bridge VLAN filtering, 8021q and bonding: the test
# guest's (the CI host's has none of them).  One guest boots
# initrd-netlab.img (tests/guest/build-netlab.sh), loads those modules
# through the agent and runs tern-netlab (tests/guest/netlab.c), whose
# every line becomes a check here: two ports on VLAN 10 ping each other, a
# port on VLAN 20 reaches neither, a trunk carries VLAN 10 tagged; an
# isolated switch's port reaches no address of the guest's own on that
# bridge, even given the bridge's MAC, and nftables alone holds that; an
# active-backup bond into a switch keeps a ping going while its active
# member goes down.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup netlab 155
INITRD=$GUEST/initrd-netlab.img
[ -f "$INITRD" ] || { echo "no $INITRD: run 'make guest'" >&2; exit 1; }
lab up 1 >/dev/null

check "netlab guest created" t h1 vm create nl --cpus 1 --memory 256M \
    --disk 64M --kernel "$GUEST/vmlinuz" --initrd "$INITRD" \
    --cmdline "console=ttyS0 quiet tern.hostname=nl tern.workload=idle"
t h1 vm start nl >/dev/null
check "guest boots" wait_for 120 console_has h1 nl TERN-GUEST-READY
sock=$(labenv H1_RUN_DIR)/vms/$(vm_field h1 nl .uuid)/qga.sock
# The agent's channel takes one client: ternd's goes.
lab stop h1 >/dev/null
# gexec SECS PROG [ARG...]: PROG in the guest through the agent.
gexec() { python3 "$REPO/tests/guest/qga.py" -t "$1" "$sock" exec "${@:2}"; }

# Modules already in (the base initrd's crc32c) are skipped; the ones
# the lab needs must be there at the end.
# shellcheck disable=SC2016  # expanded by the guest's shell
load='for m in $(cat /etc/tern/netlab-modules.list); do
	n=$(echo "${m%.ko}" | tr - _)
	[ -d /sys/module/$n ] || insmod /lib/modules/netlab/$m
done
for n in bridge 8021q bonding veth nf_tables; do
	[ -d /sys/module/$n ] || { echo "module $n not loaded"; exit 1; }
done'
check "the netlab modules load in the guest" gexec 60 /bin/sh -c "$load"

out=$(gexec 240 /usr/bin/tern-netlab 2>&1) || true
echo "$out" | grep '^#' || true
while read -r line; do
	case "$line" in
	"ok "*) ok "guest: ${line#ok }" ;;
	"not ok "*) not_ok "guest: ${line#not ok }" ;;
	esac
done <<<"$out"
# Every check tern-netlab makes must have said ok (a crash or a missing
# line fails here too).
for c in vlan-bridge-filters vlan10-a-pings-b vlan10-b-pings-a \
    vlan20-c-cannot-reach-a vlan20-c-cannot-reach-b \
    trunk-tagged-10-pings-a isolated-control-before \
    isolated-cannot-reach-host isolated-static-neigh-cannot-reach-host \
    isolated-nft-alone-cannot-reach-host \
    isolated-control-without-nft-reaches-host bond-failed-over \
    bond-ping-kept-going bond-pings-after-failover \
    bond-tern-uplink-in-bridge bond-tern-failed-over; do
	check_eq "tern-netlab said ok $c" \
	    "$(grep -cx "ok $c" <<<"$out")" 1
done
e2e_finish
