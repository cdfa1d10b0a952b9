#!/usr/bin/env bash
# test_nic_hotplug.sh - a VM's NICs after create (issue 18): bad input
# refused with nothing changed; on a VM that is off add/remove change only
# its config; a VM made with no hot-plug ports refuses a running add by
# name (and its command line has no root port); a running test guest gets
# a NIC plugged in, sees it and pings an address on that switch through
# it; `nic set --switch` moves it to another switch under the guest's
# feet; a live move to h2 carries it (the guest still has it and reaches
# h2's switch); removed, the guest no longer has it.  The guest is asked
# through its agent, which takes one client: ternd is stopped around each
# look.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup nichp 154
lab up 2 --shared-pool >/dev/null
trust_both
for h in h1 h2; do
	for s in lan lan2 lan3; do t $h switch create $s >/dev/null; done
done

nics() { t h1 vm show "$1" --json | jq -c '[.nics[] | [.switch, .port]]'; }
# the test guest on the shared pool (a quick move), one NIC on lan
t h1 vm create g1 --cpus 1 --memory 256M --disk 256M@shared \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=g1 tern.workload=disk:/dev/vda:50" \
    --net lan >/dev/null
check_eq "a new vm has 4 hot-plug ports" "$(vm_field h1 g1 .hotplug_ports)" 4

# ---- bad input: a clear error, no change ----
before=$(nics g1)
check_err "unknown switch" 1 "switch 'nosuch' not found" t h1 vm nic add g1 --net nosuch
check_err "vlan outside 1-4094" 1 "outside" t h1 vm nic add g1 --net lan,vlan=5000
check_err "missing --net" 2 "--net" t h1 vm nic add g1
check_err "unknown nic" 1 "has no nic 'nic7'" t h1 vm nic remove g1 nic7
check_err "set to an unknown switch" 1 "switch 'nosuch' not found" \
    t h1 vm nic set g1 nic0 --switch nosuch
check_err "set a bad vlan" 2 "--vlan" t h1 vm nic set g1 nic0 --vlan 9999
check_err "set with nothing" 2 "nothing to change" t h1 vm nic set g1 nic0
check_err "a MAC another NIC has" 1 "is in use" \
    t h1 vm nic add g1 --net "lan2,mac=$(vm_field h1 g1 '.nics[0].mac')"
check_eq "none of them changed the nics" "$(nics g1)" "$before"

# ---- off: the config only ----
check "add while off" t h1 vm nic add g1 --net lan2
check_eq "off: recorded on a free port" "$(nics g1)" '[["lan",0],["lan2",1]]'
check "remove while off (by its MAC)" t h1 vm nic remove g1 "$(vm_field h1 g1 '.nics[1].mac')"
check "set while off" t h1 vm nic set g1 nic0 --switch lan2
check "and back" t h1 vm nic set g1 nic0 --switch lan
check_eq "off: back as it was" "$(nics g1)" "$before"

# ---- a vm with no hot-plug ports ----
t h1 vm create g0 --cpus 1 --memory 128M --hotplug-ports 0 \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet" --net lan >/dev/null
t h1 vm start g0 >/dev/null
g0pid=$(vm_field h1 g0 .pid)
check "no root port on its command line" \
    bash -c "! tr '\0' ' ' </proc/$g0pid/cmdline | grep -q pcie-root-port"
check_err "a running vm without ports refuses an add" 1 \
    "has no free hot-plug port (it has 0" t h1 vm nic add g0 --net lan2
check_eq "and keeps its nic" "$(nics g0)" '[["lan",0]]'
t h1 vm stop g0 >/dev/null

# ---- running: plug, see, ping ----
t h1 vm start g1 >/dev/null
check "g1 boots" wait_for 180 console_has h1 g1 TERN-GUEST-READY
check "add while running" t h1 vm nic add g1 --net lan2
check_eq "running: on port 1" "$(nics g1)" '[["lan",0],["lan2",1]]'
# switch show names the hot-plugged NIC's own tap (by its MAC tag)
hp_tap=$(t h1 switch show lan2 --json | jq -r '.ports[] | select(.vm == "g1") | .tap')
check "switch show lan2 names its tap" bash -c "[ -n '$hp_tap' ] && [ '$hp_tap' != null ] && \
    [ \"\$($LAB_SH exec h1 cat /sys/class/net/$hp_tap/master/uevent 2>/dev/null | grep -o tb-lan2)\" = tb-lan2 ]"
lab exec h1 ip addr add 10.98.0.254/24 dev tb-lan2
# lan3 a subnet of its own: the host answers through the route of the
# bridge the address is on
lab exec h1 ip addr add 10.97.0.253/24 dev tb-lan3
lab exec h2 ip addr add 10.97.0.252/24 dev tb-lan3
pings() { qga "$1" g1 exec /bin/ping -c 2 -W 2 "$2" >/dev/null; }
no_ping() { ! pings "$@"; }
has_eth1() { qga "$1" g1 exec /bin/ls /sys/class/net | grep -q eth1; }
no_eth1() { qga "$1" g1 exec /bin/ls /sys/class/net >/dev/null && ! has_eth1 "$1"; }
lab stop h1 >/dev/null
check "the guest sees the new NIC" wait_for 30 has_eth1 h1
qga h1 g1 exec /sbin/ip addr add 10.98.0.2/24 dev eth1 >/dev/null
qga h1 g1 exec /sbin/ip addr add 10.97.0.2/24 dev eth1 >/dev/null
qga h1 g1 exec /sbin/ip link set eth1 up >/dev/null
check "the guest pings lan2's bridge through it" pings h1 10.98.0.254
check "control: not lan3's, where it is not" no_ping h1 10.97.0.253
lab start h1 >/dev/null

check "set --switch while running" t h1 vm nic set g1 nic1 --switch lan3
check_eq "recorded" "$(nics g1)" '[["lan",0],["lan3",1]]'
lab stop h1 >/dev/null
check "now it pings lan3's bridge" pings h1 10.97.0.253
check "and no longer lan2's" no_ping h1 10.98.0.254
lab start h1 >/dev/null

# ---- a live move carries it ----
check "move g1 to h2" t h1 vm move g1 --to h2
check_eq "h2 has both nics, the added one on port 1" \
    "$(t h2 vm show g1 --json | jq -c '[.nics[] | [.switch, .port]]')" \
    '[["lan",0],["lan3",1]]'
lab stop h2 >/dev/null
check "after the move the guest still has it" has_eth1 h2
check "and pings h2's lan3 through it" pings h2 10.97.0.252
lab start h2 >/dev/null

# ---- unplug ----
check "remove while running" t h2 vm nic remove g1 nic1
check_eq "one nic left" "$(t h2 vm show g1 --json | jq -c '[.nics[] | .switch]')" '["lan"]'
lab stop h2 >/dev/null
check "the guest no longer has it" no_eth1 h2
lab start h2 >/dev/null
e2e_openapi_check
e2e_finish
