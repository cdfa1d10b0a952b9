#!/usr/bin/env bash
# test_switch_uplink.sh - a switch's uplink (issue 18) on one lab host: a
# veth pair stands for the host's NIC and the wire, its far end in a
# "physical network" namespace of the test's own with an address.  A
# guest on the switch pings that address through the uplink; `switch
# show` lists the uplink and the guest's port, and says when the uplink
# loses its carrier; a restarted ternd puts a released uplink back; bad
# uplinks (missing, already in a bridge, with --isolated, a bond of one)
# are refused with nothing made; two uplinks bond (where the kernel has
# bonding traffic survives a member going down; where it has none the
# refusal names the module and nothing is left); `switch delete` gives
# the uplink back.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup swup 156
lab up 1 >/dev/null
ns=$(labenv H1_NS)
phys=${TERN_LAB_ID}-phys
ip netns del "$phys" 2>/dev/null || true
ip netns add "$phys"
e2e_at_exit "ip netns del $phys 2>/dev/null"
ip -n "$phys" link set lo up
# veth NAME PEER: NAME in h1's namespace, PEER up in the physical one
veth() {
	ip -n "$ns" link add "$1" type veth peer name "$2" netns "$phys"
	ip -n "$phys" link set "$2" up
}
veth up0 wire0
ip -n "$phys" addr add 10.98.0.254/24 dev wire0
master_of() { # the master of interface $1 in h1's namespace, or "-"
	local m; m=$(lab exec h1 ip -j link show "$1" | jq -r '.[0].master')
	[ "$m" = null ] && echo - || echo "$m"
}
nswitches() { t h1 switch list --json | jq '.switches | length'; }
no_link() { ! lab exec h1 ip link show "$1" >/dev/null 2>&1; }

# ---- bad uplinks: refused, nothing made ----
check_err "an uplink that does not exist is refused" 1 \
    "uplink 'nosuch0' does not exist" t h1 switch create bad --uplink nosuch0
lab exec h1 ip link add obr type bridge
veth up1 wire1
lab exec h1 ip link set up1 master obr
check_err "an uplink already in a bridge is refused" 1 \
    "uplink 'up1' is already in 'obr'" t h1 switch create bad --uplink up1
check_err "--isolated with --uplink is refused" 2 \
    "an isolated switch has no uplink" t h1 switch create bad --isolated --uplink up0
check_err "ternd refuses isolated with uplinks too" 0 \
    "an isolated switch has no uplink" lab exec h1 curl -s --unix-socket \
    "$(labenv H1_SOCK)" -X POST -H 'Content-Type: application/json' \
    --data-binary '{"name":"bad","isolated":true,"uplinks":["up0"]}' \
    http://tern/v1/switches
check_err "--bond-mode with one uplink is refused" 2 \
    "--bond-mode needs 2 or more --uplink" t h1 switch create bad --uplink up0 --bond-mode 802.3ad
check_err "a tern bridge as uplink is refused" 1 "tern's own" \
    t h1 switch create bad --uplink tb-x
check_eq "none of them made a switch" "$(nswitches)" 0
check "nor its bridge" no_link tb-bad
check_eq "and the uplinks are as they were" "$(master_of up0)/$(master_of up1)" "-/obr"

# ---- two uplinks bonded ----
veth b0 bwire0
veth b1 bwire1
ip -n "$phys" link add pbr type bridge
ip -n "$phys" link set bwire0 master pbr
ip -n "$phys" link set bwire1 master pbr
ip -n "$phys" link set pbr up
ip -n "$phys" addr add 10.98.1.254/24 dev pbr
if lab exec h1 sh -c 'ip link add tprobe type bond && ip link del tprobe' \
    2>/dev/null; then
	bonding=1
	check "a bond of two uplinks" t h1 switch create bnd --uplink b0 \
	    --uplink b1 --bond-mode active-backup
	check_eq "the members are the bond's" "$(master_of b0)/$(master_of b1)" "tu-bnd/tu-bnd"
	check_eq "the bond is the bridge's" "$(master_of tu-bnd)" tb-bnd
	check_eq "switch show: the bond's mode and an active member" \
	    "$(t h1 switch show bnd --json | jq -r '"\(.bond.mode) \(.bond.active | test("^b[01]$"))"')" \
	    "active-backup true"
	nets=(--net wan --net bnd)
else
	bonding=0
	echo "# this kernel has no bonding: a bond is refused, nothing is left"
	check_err "a bond is refused, naming the module" 1 "'bonding'" \
	    t h1 switch create bnd --uplink b0 --uplink b1 --bond-mode active-backup
	check_eq "no switch" "$(nswitches)" 0
	check "no bridge" no_link tb-bnd
	check "no bond" no_link tu-bnd
	check_eq "the members have no master" "$(master_of b0)/$(master_of b1)" "-/-"
	nets=(--net wan)
fi

# ---- one uplink: traffic, show, carrier ----
check "switch create wan --uplink up0" t h1 switch create wan --uplink up0
check_eq "up0 is in wan's bridge" "$(master_of up0)" tb-wan
check_err "another switch's bridge as uplink is refused" 1 "tern's own" \
    t h1 switch create bad --uplink tb-wan
check_err "an uplink in another switch is refused" 1 \
    "uplink 'up0' is already in 'tb-wan'" t h1 switch create bad --uplink up0
check_eq "switch list: the UPLINK column" \
    "$(t h1 switch list | awk '$1 == "wan" { print $4 }')" up0
check "g1 on wan" guest_create h1 g1 disk:/dev/vdb:50 "${nets[@]}"
t h1 vm start g1 >/dev/null
check "g1 boots" wait_for 180 console_has h1 g1 TERN-GUEST-READY
show() { t h1 switch show wan --json; }
check_eq "switch show: the uplink up, with carrier" \
    "$(show | jq -r '.uplinks[0] | "\(.name) \(.operstate) \(.carrier)"')" "up0 up true"
check_eq "switch show: g1's port with its tap" \
    "$(show | jq -r '.ports[0] | "\(.vm) \(.nic) \(.tap | startswith("tt"))"')" "g1 nic0 true"
check "switch show prints" t h1 switch show wan
lab stop h1 >/dev/null
# ip_up NIC ADDR: the guest's NIC up with ADDR, through its agent
ip_up() {
	qga h1 g1 exec /sbin/ip addr add "$2/24" dev "$1" >/dev/null &&
	    qga h1 g1 exec /sbin/ip link set "$1" up >/dev/null
}
check "g1 address set through the agent" ip_up eth0 10.98.0.1
check "g1 pings the physical network through the uplink" \
    qga h1 g1 exec /bin/ping -c 3 -W 2 10.98.0.254
if [ "$bonding" = 1 ]; then
	check "g1's second NIC addressed" ip_up eth1 10.98.1.1
	check "g1 pings through the bond" qga h1 g1 exec /bin/ping -c 3 -W 2 10.98.1.254
	# the active member's wire cut: the bond moves to the other
	active=$(lab exec h1 cat /sys/class/net/tu-bnd/bonding/active_slave)
	ip -n "$phys" link set "bwire${active#b}" down
	check "one member down: traffic flows on the other" \
	    qga h1 g1 exec /bin/ping -c 3 -W 2 10.98.1.254
	ip -n "$phys" link set "bwire${active#b}" up
fi

# a ternd that starts puts a released uplink back (and leaves one in
# place as it is)
lab exec h1 ip link set up0 nomaster
lab start h1 >/dev/null
check_eq "ternd's start re-applied the uplink" "$(master_of up0)" tb-wan
ip -n "$phys" link set wire0 down
# (a veth whose peer is in another namespace says "down", one whose
# peer is beside it "lowerlayerdown": either is not "up")
no_carrier() {
	show | jq -e '.uplinks[0] | .carrier == false and .operstate != "up"'
}
check "the peer down: show says the uplink has no carrier" wait_for 10 no_carrier
ip -n "$phys" link set wire0 up

# ---- delete gives the uplink back ----
check_err "delete while a VM uses it is refused" 1 "in use" t h1 switch delete wan
t h1 vm stop g1 >/dev/null
check "g1 deleted" t h1 vm delete g1
check "switch delete wan" t h1 switch delete wan
check_eq "up0 has no master afterwards" "$(master_of up0)" -
check "and the bridge is gone" no_link tb-wan
if [ "$bonding" = 1 ]; then
	check "switch delete bnd" t h1 switch delete bnd
	check_eq "the members have no master" "$(master_of b0)/$(master_of b1)" "-/-"
	check "the bond is gone" no_link tu-bnd
fi
e2e_openapi_check
e2e_finish
