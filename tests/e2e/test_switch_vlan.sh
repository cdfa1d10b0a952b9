#!/usr/bin/env bash
# test_switch_vlan.sh - a NIC's VLANs (issue 18) on one lab host: bad
# --net settings refused with no change of state; on a kernel with bridge
# VLAN filtering two guests on one VLAN ping each other (through the
# guest agent's exec) and a guest on another VLAN cannot reach them; on a
# kernel without it, a NIC with VLANs is refused by name and two untagged
# guests on the switch still ping each other.  A guest on an isolated
# switch cannot reach an address the test puts on the host side of its
# bridge, where a guest on the ordinary switch can, even when it is given
# the bridge's MAC statically (nftables drops its frames to the host:
# src/net/isolate.c); ternd's start makes that nftables entry again and
# the switch's delete removes it.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup switch_vlan 152
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)

check "switch create" t h1 switch create lan
nvms() { t h1 vm list --json | jq '.vms | length'; }
nfiles() { find "$pool" -maxdepth 1 -type f | wc -l; }
before="$(nvms)/$(nfiles)"
check_err "vlan 0 is refused" 1 "outside" guest_create h1 bad disk:/dev/vdb:50 --net lan,vlan=0
check_err "vlan 4095 is refused" 1 "outside" guest_create h1 bad disk:/dev/vdb:50 --net lan,vlan=4095
check_err "a trunk overlapping the access vlan is refused" 1 \
    "overlaps the access vlan 10" guest_create h1 bad disk:/dev/vdb:50 --net lan,vlan=10,trunk=5-15
check_err "a trunk outside 1-4094 is refused" 1 "within 1-4094" \
    guest_create h1 bad disk:/dev/vdb:50 --net lan,trunk=4000-4095
check_err "an unknown --net setting is refused" 2 "unknown setting" \
    guest_create h1 bad disk:/dev/vdb:50 --net lan,vlam=10
check_err "an unknown switch is refused" 1 "switch 'nosuch' not found" \
    guest_create h1 bad disk:/dev/vdb:50 --net nosuch,vlan=10
check_eq "none of them changed anything (vms/pool files)" "$(nvms)/$(nfiles)" "$before"

# An isolated switch: no uplink, and its ports reach nothing of the
# host's, even an address the test puts on its bridge.
check "isolated switch create" t h1 switch create iso --isolated
check_eq "switch list says so" "$(t h1 switch list --json | jq -r '.switches[] | select(.name=="iso") | .isolated')" true
check "gi on the isolated switch" guest_create h1 gi disk:/dev/vdb:50 --net iso
t h1 vm start gi >/dev/null
gi_uuid=$(vm_field h1 gi .uuid)

# guest_ip VM ADDR: the guest's eth0 up with ADDR (ternd must be down:
# the agent channel takes one client).
guest_ip() {
	qga h1 "$1" exec /sbin/ip addr add "$2/24" dev eth0 >/dev/null &&
	    qga h1 "$1" exec /sbin/ip link set eth0 up >/dev/null
}
# pings VM ADDR: three pings from VM to ADDR through the guest agent.
pings() { qga h1 "$1" exec /bin/ping -c 3 -W 2 "$2" >/dev/null; }
no_ping() { ! pings "$@"; }

# The switch's bridge lives in h1's namespace (ip netns exec mounts
# that namespace's /sys).
filtering() {
	lab exec h1 test -e /sys/class/net/tb-lan/bridge/vlan_filtering
}
if filtering; then
	check "g1 on vlan 10" guest_create h1 g1 disk:/dev/vdb:50 --net lan,vlan=10
	check "g2 on vlan 10 with trunks" guest_create h1 g2 disk:/dev/vdb:50 --net lan,vlan=10,trunk=100-110,120
	check "g3 on vlan 20" guest_create h1 g3 disk:/dev/vdb:50 --net lan,vlan=20
	check_eq "vm show carries the vlan" "$(vm_field h1 g2 '.nics[0].vlan')/$(vm_field h1 g2 '.nics[0].trunks')" "10/100-110,120"
	for g in g1 g2 g3; do t h1 vm start "$g" >/dev/null; done
	for g in g1 g2 g3; do
		check "$g boots" wait_for 180 console_has h1 "$g" TERN-GUEST-READY
	done
	lab stop h1 >/dev/null
	for i in 1 2 3; do
		check "g$i address set through the agent" guest_ip g$i 10.99.0.$i
	done
	check "same vlan: g1 pings g2" pings g1 10.99.0.2
	check "different vlans: g1 cannot ping g3" no_ping g1 10.99.0.3
	check "different vlans: g3 cannot ping g2" no_ping g3 10.99.0.2
else
	echo "# this kernel has no bridge VLAN filtering: VLAN isolation is not testable here"
	before="$(nvms)/$(nfiles)"
	check_err "a NIC with a vlan is refused on a switch that cannot carry it" 1 \
	    "cannot carry nic 0's VLANs" guest_create h1 bad disk:/dev/vdb:50 --net lan,vlan=10
	check_eq "and nothing changed" "$(nvms)/$(nfiles)" "$before"
	check "g1 untagged" guest_create h1 g1 disk:/dev/vdb:50 --net lan
	check "g2 untagged" guest_create h1 g2 disk:/dev/vdb:50 --net lan
	for g in g1 g2; do t h1 vm start "$g" >/dev/null; done
	for g in g1 g2; do
		check "$g boots" wait_for 180 console_has h1 "$g" TERN-GUEST-READY
	done
	lab stop h1 >/dev/null
	check "g1 address set through the agent" guest_ip g1 10.99.0.1
	check "g2 address set through the agent" guest_ip g2 10.99.0.2
	check "untagged on one switch: g1 pings g2" pings g1 10.99.0.2
	check "and g2 pings g1" pings g2 10.99.0.1
fi
check "gi boots" wait_for 180 grep -qF TERN-GUEST-READY \
    "$(labenv H1_STATE_DIR)/vms/$gi_uuid/console.log"
check "gi address set through the agent" guest_ip gi 10.99.1.2
lab exec h1 ip addr add 10.99.0.254/24 dev tb-lan
lab exec h1 ip addr add 10.99.1.1/24 dev tb-iso
check "control: g1 reaches the host's address on lan's bridge" pings g1 10.99.0.254
check "gi cannot reach the host's address on iso's bridge" no_ping gi 10.99.1.1
# No ARP needed: gi is told the bridge's MAC.  On a kernel without VLAN
# filtering only nftables stands between gi and the host now.
iso_mac=$(lab exec h1 cat /sys/class/net/tb-iso/address)
check "gi is given iso's bridge MAC statically" \
    qga h1 gi exec /sbin/arp -i eth0 -s 10.99.1.1 "$iso_mac"
check "with the bridge's MAC gi still cannot reach the host's address" \
    no_ping gi 10.99.1.1
# isolated BRIDGE: the bridge is in nftables' set of isolated bridges.
isolated() {
	lab exec h1 nft list set inet tern isolated | grep -qF "\"$1\"" &&
	    lab exec h1 nft list set arp tern isolated | grep -qF "\"$1\""
}
check "nftables lists iso's bridge as isolated" isolated tb-iso
check "and not lan's" eval '! isolated tb-lan'
# The test's own control: without that entry the static MAC does reach
# the host (the gap nftables closes).
for fam in inet arp; do
	lab exec h1 nft delete element $fam tern isolated '{ "tb-iso" }'
done
check "control: without the nftables entry gi reaches the host" \
    pings gi 10.99.1.1
lab start h1 >/dev/null
check "ternd's start puts the entry back" isolated tb-iso
check "gi stopped" t h1 vm stop gi
check "gi deleted" t h1 vm delete gi
check "switch delete iso" t h1 switch delete iso
check "and its nftables entry goes with it" eval '! isolated tb-iso'
e2e_openapi_check
e2e_finish
