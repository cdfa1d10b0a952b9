#!/usr/bin/env bash
# test_libvirt_import.sh - "tern vm import-libvirt" with XML from a real
# `virsh dumpxml` (libvirt's test driver, no daemon) of a domain made from
# the test guest: its kernel, initrd and cmdline, its qcow2 disks in the
# lab's pool, a virtio NIC on the lab's switch.  Imported with --copy and
# with --register, each starts and its disk writer goes on with nothing
# acknowledged lost (the verifier).  Malformed XML, a disk outside the
# pools, a sata disk and a hostdev, an oversized file, a raw disk to
# register and a missing switch: each a clear error, exit 1, no change.
# A raw disk copied becomes a qcow2; a uuid in use here gets a new one.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup libvirt 132
command -v virsh >/dev/null || { echo "virsh missing (libvirt-clients)"; exit 1; }
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)
sdir=$(labenv H1_STATE_DIR)
X=$TERN_LAB/libvirt	# outside every pool
mkdir -p "$X" "$pool/lv"
t h1 switch create lan >/dev/null

acked_over() { [ "$(acked h1 "$1")" -gt "$2" ]; }
# dumpxml SRC OUT: define SRC in libvirt's test driver, write its dumpxml.
dumpxml() {
	local name
	name=$(sed -n 's|.*<name>\(.*\)</name>.*|\1|p' "$1" | head -n 1)
	virsh -q -c test:///default "define $1; dumpxml $name" |
	    sed '/^Domain .* defined from /d' >"$2"
	grep -q '<domain' "$2"
}
# domain NAME MAC VDA VDB [FMT_A] [BUS_B] [EXTRA_DEVICE] [BRIDGE]: a
# domain definition of the test guest, as an operator would write it.
domain() {
	cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <uuid>6f1c7a52-0b8e-4d3e-9a51-7c2b1e0d4a$2</uuid>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>$GUEST/vmlinuz</kernel>
    <initrd>$GUEST/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet tern.hostname=lv tern.workload=disk:/dev/vdb:50</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='host-passthrough'/>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='${5:-qcow2}'/>
      <source file='$3'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$4'/>
      <target dev='vdb' bus='${6:-virtio}'/>
    </disk>
    <interface type='bridge'>
      <mac address='52:54:00:6c:76:$2'/>
      <source bridge='${8:-lan}'/>
      <model type='virtio'/>
    </interface>
    <serial type='pty'/>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <graphics type='vnc' port='-1'/>
    <memballoon model='virtio'/>
    ${7:-}
  </devices>
</domain>
EOF
}

# 1. The source: the test guest run once in tern, its disks then copied
# into the pool as libvirt's files (a VM libvirt had been running).
check "the source guest is made" guest_create h1 g0 disk:/dev/vdb:50 --net lan
g0=$(vm_field h1 g0 .uuid)
check "it starts" t h1 vm start g0
check "its guest boots" wait_for 90 console_has h1 g0 TERN-GUEST-READY
check "its writer acknowledges" wait_for 60 acked_over g0 20
check "it stops" t h1 vm stop g0
old_log=$X/g0-console.log
cp "$sdir/vms/$g0/console.log" "$old_log"
acked0=$(acked h1 g0)
cp --sparse=always "$pool/g0-vda.qcow2" "$pool/lv/src-vda.qcow2"
cp --sparse=always "$pool/g0-vdb.qcow2" "$pool/lv/src-vdb.qcow2"
check "the source vm is deleted" t h1 vm delete g0
src_sum=$(sha256sum "$pool/lv/src-vdb.qcow2" | cut -c1-64)

domain lv 01 "$pool/lv/src-vda.qcow2" "$pool/lv/src-vdb.qcow2" >"$X/lv.src.xml"
check "virsh defines it and dumps its XML" dumpxml "$X/lv.src.xml" "$X/lv.xml"

# 2. --copy: new disks in the pool, the VM off, what it left out listed.
out=$(t h1 vm import-libvirt "$X/lv.xml" 2>&1) && rc=0 || rc=$?
check_eq "import-libvirt --copy (default) succeeds" "$rc" 0
echo "$out" | sed 's/^/#   /'
check_err "it says what it imported" 0 "vm 'lv' imported from libvirt" \
    echo "$out"
check_err "and lists what it left out (graphics)" 0 "graphics vnc" echo "$out"
check_err "(the guest agent channel)" 0 "channel unix" echo "$out"
check_eq "it is off" "$(vm_field h1 lv .state)" off
check_eq "it keeps the domain's uuid" "$(vm_field h1 lv .uuid)" \
    6f1c7a52-0b8e-4d3e-9a51-7c2b1e0d4a01
check_eq "and its MAC, on the switch named as the bridge" \
    "$(vm_field h1 lv '.nics[0].mac + " " + .nics[0].switch')" \
    "52:54:00:6c:76:01 lan"
check_eq "1 vCPU, 256 MiB" "$(vm_field h1 lv '"\(.cpus) \(.memory_mib)"')" \
    "1 256"
check_eq "its disks are new files in the pool" \
    "$(vm_field h1 lv '[.disks[].path] | join(" ")')" \
    "$pool/lv-vda.qcow2 $pool/lv-vdb.qcow2"
check_eq "the job was vm.import-libvirt" \
    "$(t h1 job list --json | jq -r '.jobs[0] | .type + " " + .state')" \
    "vm.import-libvirt succeeded"
check_eq "libvirt's files are untouched" \
    "$(sha256sum "$pool/lv/src-vdb.qcow2" | cut -c1-64)" "$src_sum"
uuid=$(vm_field h1 lv .uuid)
check "the copy starts" t h1 vm start lv
check "its writer goes on past the source's last ack ($acked0)" \
    wait_for 90 acked_over lv "$acked0"
check "it stops" t h1 vm stop lv
check "verifier: the copy lost nothing acknowledged" \
    "$VERIFY" --image "$pool/lv-vdb.qcow2" --console "$old_log" \
    --console "$sdir/vms/$uuid/console.log"
check "delete the copy (its disks go, libvirt's stay)" bash -c \
    "$LAB_SH tern h1 vm delete lv >/dev/null && [ ! -e '$pool/lv-vdb.qcow2' ] &&
     [ -f '$pool/lv/src-vdb.qcow2' ]"

# 3. --register: libvirt's files become the VM's disks in place.
check "import-libvirt --register --name lvr" \
    t h1 vm import-libvirt "$X/lv.xml" --register --name lvr
check_eq "its disks are libvirt's files" \
    "$(vm_field h1 lvr '[.disks[].path] | join(" ")')" \
    "$pool/lv/src-vda.qcow2 $pool/lv/src-vdb.qcow2"
uuid=$(vm_field h1 lvr .uuid)
check "the registered vm starts" t h1 vm start lvr
check "its writer goes on past the source's last ack ($acked0)" \
    wait_for 90 acked_over lvr "$acked0"
check "it stops" t h1 vm stop lvr
check "verifier: the registered vm lost nothing acknowledged" \
    "$VERIFY" --image "$pool/lv/src-vdb.qcow2" --console "$old_log" \
    --console "$sdir/vms/$uuid/console.log"

# 4. Bad input: a clear error, exit 1, no VM row and no file.
snapshot() {
	{ t h1 vm list --json | jq -c '[.vms[] | {name, state, uuid}]'
	  ls -AR "$pool" "$sdir/vms"; } 2>&1
}
qemu-img convert -O raw "$pool/lv/src-vda.qcow2" "$pool/lv/raw-vda.img"
domain raw 04 "$pool/lv/raw-vda.img" "$pool/lv/src-vdb.qcow2" raw \
    >"$X/raw.src.xml"
dumpxml "$X/raw.src.xml" "$X/raw.xml"
domain nosw 05 "$pool/lv/src-vda.qcow2" "$pool/lv/src-vdb.qcow2" qcow2 \
    virtio "" br-nosuch >"$X/nosw.src.xml"
dumpxml "$X/nosw.src.xml" "$X/nosw.xml"
before=$(snapshot)
head -c 400 "$X/lv.xml" >"$X/trunc.xml"
check_err "malformed XML" 1 "the domain XML is not well formed: line" \
    t h1 vm import-libvirt "$X/trunc.xml" --name bad1
mkdir -p "$X/outside"
qemu-img create -q -f qcow2 "$X/outside/o.qcow2" 64M
domain out 02 "$X/outside/o.qcow2" "$pool/lv/src-vdb.qcow2" >"$X/out.src.xml"
dumpxml "$X/out.src.xml" "$X/out.xml"
check_err "a disk outside the pools" 1 \
    "disk vda: $X/outside/o.qcow2 is outside this host's pools: add its directory as a pool (tern pool create)" \
    t h1 vm import-libvirt "$X/out.xml" --register
check_err "(with --copy too)" 1 "is outside this host's pools" \
    t h1 vm import-libvirt "$X/out.xml"
domain sata 03 "$pool/lv/src-vda.qcow2" "$pool/lv/src-vdb.qcow2" qcow2 sata \
    "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev>" \
    >"$X/sata.src.xml"
dumpxml "$X/sata.src.xml" "$X/sata.xml"
out=$(t h1 vm import-libvirt "$X/sata.xml" 2>&1) && rc=0 || rc=$?
echo "$out" | sed 's/^/#   /'
check_eq "a sata disk and a hostdev: refused" "$rc" 1
check_err "naming the sata disk" 0 "disk vdb: bus sata" echo "$out"
check_err "and the hostdev" 0 "hostdev pci" echo "$out"
head -c 600000 /dev/zero | tr '\0' ' ' >"$X/big.xml"
check_err "an oversized file" 1 "is larger than 512 KiB" \
    t h1 vm import-libvirt "$X/big.xml"
check_err "a raw disk to register" 1 "use --copy, which converts it" \
    t h1 vm import-libvirt "$X/raw.xml" --register
check_err "a bridge with no switch of its name" 1 \
    "no switch 'br-nosuch' on this host" \
    t h1 vm import-libvirt "$X/nosw.xml" --copy
check_err "a MAC in use here" 1 "that MAC is in use by vm 'lvr'" \
    t h1 vm import-libvirt "$X/lv.xml" --register --name lvx
check_err "--pool with --register is a usage error" 2 "--pool goes with" \
    t h1 vm import-libvirt "$X/lv.xml" --register --pool local
check_eq "no state changed by any of it" "$(snapshot)" "$before"

# 5. A raw disk copied: converted into a qcow2 of the VM's own.
check "import-libvirt --copy of a raw disk" \
    t h1 vm import-libvirt "$X/raw.xml" --copy --name lvraw
check_eq "its vda is a qcow2 copy" \
    "$(qemu-img info --output=json "$pool/lvraw-vda.qcow2" | jq -r .format)" \
    qcow2
check_eq "of the same contents" \
    "$(qemu-img compare -q "$pool/lv/raw-vda.img" "$pool/lvraw-vda.qcow2" && echo same)" \
    same

# 6. A uuid in use here (lvr has the domain's): a new one, said so.
sed "s/52:54:00:6c:76:01/52:54:00:6c:76:09/" "$X/lv.xml" >"$X/lvu.xml"
out=$(t h1 vm import-libvirt "$X/lvu.xml" --name lvu 2>&1) && rc=0 || rc=$?
check_eq "a domain whose uuid a vm here has is imported" "$rc" 0
check_err "saying it gets a new uuid" 0 \
    "uuid 6f1c7a52-0b8e-4d3e-9a51-7c2b1e0d4a01: in use here, the VM gets a new one" \
    echo "$out"
check "and it has one" test "$(vm_field h1 lvu .uuid)" != \
    6f1c7a52-0b8e-4d3e-9a51-7c2b1e0d4a01

# 7. A libvirt name tern cannot use: refused, unless --name gives one.
sed "s|<name>lv</name>|<name>lv copy</name>|; s/52:54:00:6c:76:01/52:54:00:6c:76:0a/" \
    "$X/lv.xml" >"$X/lvname.xml"
before=$(snapshot)
check_err "a domain name tern cannot use" 1 "import it with --name" \
    t h1 vm import-libvirt "$X/lvname.xml"
check_eq "changes nothing" "$(snapshot)" "$before"
check "--name gives it one" t h1 vm import-libvirt "$X/lvname.xml" --name lvn

e2e_openapi_check
echo "$E2E_PASS passed, $E2E_FAIL failed"
[ "$E2E_FAIL" = 0 ]
