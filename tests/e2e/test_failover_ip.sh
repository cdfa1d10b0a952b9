#!/usr/bin/env bash
# test_failover_ip.sh - the alternate IP at failover (Hyper-V's failover
# TCP/IP): --failover-ip set on the primary reaches the replica's row;
# bad values (address, prefix, gateway outside the prefix, DNS, unknown
# part, unknown NIC) are refused with the part named and nothing changed,
# on either host; an unreachable replica refuses it too (nothing changed);
# NIC=none removes it.  A test failover's VM then has the alternate IP:
# reported by its agent in `tern vm show`, the old one flushed, and,
# asked inside through the agent, the address, the default route via the
# gateway and resolv.conf with the DNS servers.  An unplanned failover's
# VM gets it too, its result in the row's failover JSON; apply-ip does it
# again by hand, and refuses a VM that is off.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup failip 106
lab up 2 >/dev/null
trust_both
t h1 switch create lan >/dev/null
t h2 switch create lan >/dev/null
t h2 replica server enable --allow h1=local >/dev/null

GUEST_EXTRA="tern.ip=192.0.2.10/24" guest_create h1 g idle --net lan >/dev/null
t h1 vm start g >/dev/null
check "guest agent answers" wait_for 90 bash -c \
    "[ \$($LAB_SH tern h1 vm show g --json | jq -r .heartbeat) = ok ]"
check "replication enabled" t h1 vm replication enable g --to h2
check "first cycle acknowledged" wait_for 180 bash -c \
    "[ \$($LAB_SH tern h1 vm replication show g --json | jq -r .state) = replicating ]"
check_eq "vm show names the NIC nic0" "$(vm_field h1 g '.nics[0].name')" nic0

fip() { t "$1" vm replication show g --json | jq -S -c '.settings.failover_ip // null'; }
set_ip() { local h=$1; shift; t "$h" vm replication set g --failover-ip "$@"; }
GOOD='nic0=198.51.100.7/24,gw=198.51.100.1,dns=198.51.100.53;9.9.9.9'
WANT='{"nic0":{"addr":"198.51.100.7","dns":["198.51.100.53","9.9.9.9"],"gw":"198.51.100.1","prefix":24}}'

# Bad values: refused, the part named, nothing changed.
check_err "an address without /PREFIX is refused" 1 "has no /PREFIX" \
    set_ip h1 nic0=198.51.100.7
check_err "a bad address is refused" 1 "address '198.51.100.700'" \
    set_ip h1 nic0=198.51.100.700/24
check_err "a bad prefix is refused" 1 "must be 1..32" \
    set_ip h1 nic0=198.51.100.7/40
check_err "a gateway outside the prefix is refused" 1 \
    "gateway '198.51.101.1' is outside 198.51.100.7/24" \
    set_ip h1 nic0=198.51.100.7/24,gw=198.51.101.1
check_err "a DNS server that is no address is refused" 1 \
    "DNS server 'dns.example'" set_ip h1 nic0=198.51.100.7/24,dns=dns.example
check_err "an unknown part is refused" 1 "'mtu=9000' is not gw=GW" \
    set_ip h1 nic0=198.51.100.7/24,mtu=9000
check_err "a NIC the VM does not have is refused" 1 "has no NIC 'nic3'" \
    set_ip h1 nic3=198.51.100.7/24
check_err "no NIC= is refused" 1 "give NIC=ADDR/PREFIX" \
    set_ip h1 198.51.100.7/24
check_err "bad values are refused on the replica host too" 1 "is outside" \
    set_ip h2 nic0=198.51.100.7/24,gw=10.0.0.1
check_eq "nothing changed on the primary" "$(fip h1)" null
check_eq "nothing changed on the replica" "$(fip h2)" null

# The replica unreachable: refused, nothing changed here.
lab stop h2 >/dev/null
check_err "refused while the replica server is unreachable" 1 \
    "nothing changed" set_ip h1 "$GOOD"
check_eq "nothing changed on the primary" "$(fip h1)" null
lab start h2 >/dev/null

check "failover IP set on the primary" set_ip h1 "$GOOD"
check_eq "the primary's row has it" "$(fip h1)" "$WANT"
check_eq "the replica's row has it" "$(fip h2)" "$WANT"
check "replication show prints it" bash -c "$LAB_SH tern h2 vm replication \
    show g | grep -q 'failover IP.*nic0  198.51.100.7/24 gw 198.51.100.1'"
check "NIC=none removes it (both rows)" set_ip h1 nic0=none
check_eq "gone from the replica's row" "$(fip h2)" null
check "set again" set_ip h1 "$GOOD"
check_eq "the replica's row has it again" "$(fip h2)" "$WANT"

# A test failover: its VM gets the alternate IP through its agent.
check "a cycle" t h1 vm replication now g
check "test failover on the replica host" t h2 vm failover test g
check_eq "the test VM runs" "$(vm_field h2 g-test .state)" running
check "the alternate IP is applied (event)" wait_for 150 bash -c \
    "$LAB_SH tern h2 events --vm g-test | grep -q 'alternate IP applied'"
check "the test VM's agent reports the alternate IP" wait_for 60 bash -c \
    "$LAB_SH tern h2 vm show g-test --json | jq -e '.guest.addresses[] |
     select(.nic==\"eth0\") | .ips | index(\"198.51.100.7/24\")'"
check "vm show prints it" bash -c \
    "$LAB_SH tern h2 vm show g-test | grep -q 'guest address.*198.51.100.7/24'"
check "the old address is flushed" bash -c \
    "! $LAB_SH tern h2 vm show g-test --json | jq -e '.guest.addresses[] |
     .ips | index(\"192.0.2.10/24\")'"
lab kill h2 >/dev/null
addr=$(qga h2 g-test exec /sbin/ip addr show eth0 2>&1) || true
route=$(qga h2 g-test exec /sbin/ip route 2>&1) || true
resolv=$(qga h2 g-test exec /bin/cat /etc/resolv.conf 2>&1) || true
check "inside: eth0 has the address" grep -q 'inet 198.51.100.7/24' <<<"$addr"
check "inside: the default route via the gateway" \
    grep -q 'default via 198.51.100.1 dev eth0' <<<"$route"
check "inside: resolv.conf names the first DNS server" \
    grep -qx 'nameserver 198.51.100.53' <<<"$resolv"
check "inside: and the second" grep -qx 'nameserver 9.9.9.9' <<<"$resolv"
lab start h2 >/dev/null
check "test failover stopped" t h2 vm failover test-stop g
check "the primary still replicates" t h1 vm replication now g

# An unplanned failover (the primary's VM turned off first): the replica
# VM itself gets the alternate IP, recorded in its row's failover JSON.
t h1 vm stop g >/dev/null
check "unplanned failover on the replica host" t h2 vm failover g
check "the alternate IP is applied to g (event)" wait_for 150 bash -c \
    "$LAB_SH tern h2 events --vm g | grep -q 'alternate IP applied'"
check_eq "recorded in the row's failover" \
    "$(t h2 vm replication show g --json | jq -r .failover.altip)" applied
check "g's agent reports the alternate IP" wait_for 60 bash -c \
    "$LAB_SH tern h2 vm show g --json | jq -e '.guest.addresses[] |
     select(.nic==\"eth0\") | .ips | index(\"198.51.100.7/24\")'"
check_err "apply-ip refuses a VM that is off (h1's)" 1 "start it before" \
    t h1 vm failover apply-ip g
n1=$(t h2 events --vm g | grep -c 'alternate IP applied' || true)
check "apply-ip applies it again by hand" t h2 vm failover apply-ip g
check "a second 'applied' event" wait_for 60 bash -c \
    "[ \$($LAB_SH tern h2 events --vm g | grep -c 'alternate IP applied') -gt $n1 ]"
check "cancel the failover" t h2 vm failover cancel g
e2e_openapi_check
e2e_finish
