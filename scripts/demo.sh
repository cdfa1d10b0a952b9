#!/usr/bin/env bash
# demo.sh - the main job, end to end, on a 3-host lab on this machine:
# ternds in network namespaces that trust each other, a real guest on
# a pool both mount, created, started, watched on its console and in the
# event log, paused, resumed, saved and restored, moved live to the other
# host and back, its disks moved to another pool while it runs, moved
# shared-nothing (disks copied) to the other host, backed up twice (full,
# then incremental) while it writes, a point restored as a new VM and
# proven exact, checkpointed, replicated to the other host (the replica
# proven exact up to its cycle), failed over to it (planned: no write
# lost) with replication reversed, turned off, and its disk writes
# verified.  Then the three hosts form a failover cluster on Corosync, a
# second guest is made highly available, drained off its host live and
# brought back (maintenance), its host is killed outright,
# and the guest restarts on another node once sanlock shows the dead
# node's lease expired, with every acknowledged write.  Between the two,
# the hosts' Prometheus metrics, the web console's address, a libvirt
# domain (virsh's XML) imported, a UEFI+TPM VM booted from an ISO, and a
# VM with dynamic memory getting a NIC plugged in and out.  Leaves the lab
# up to explore; prints how to take it down.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$REPO/build}
GUEST=$BUILD/guest
export TERN_LAB=${TERN_LAB:-/tmp/tern-demo} TERN_LAB_ID=${TERN_LAB_ID:-demo}
export LAB_NET=${LAB_NET:-90}
export TERND=$BUILD/src/daemon/ternd TERN=$BUILD/src/cli/tern
LAB=$REPO/tests/lab/lab.sh

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
t() { local h=$1; shift; printf '$ [%s] tern %s\n' "$h" "$*"; "$LAB" tern "$h" "$@"; }

if [ -f "$TERN_LAB/lab.env" ]; then
	say "Taking down the previous demo lab"
	"$LAB" down
fi
say "Bringing up a 3-host lab (network namespaces h1, h2, h3; one ternd each;"
say "h3 waits for the cluster at the end)"
# The web console's files (make demo builds them first): every ternd
# serves them on its HTTPS port.
echo "www-dir = $BUILD/www" >"$TERN_LAB.ternd.conf"
"$LAB" up 3 --shared-pool --config "$TERN_LAB.ternd.conf"
t h1 host info
t h2 host info

say "The two hosts trust each other (each pins the other's key)"
. "$TERN_LAB/lab.env"
fp1=$("$LAB" tern h1 host info --json | jq -r .fingerprint)
fp2=$("$LAB" tern h2 host info --json | jq -r .fingerprint)
t h1 peer add h2 "$H2_URL" --fingerprint "$fp2"
t h2 peer add h1 "$H1_URL" --fingerprint "$fp1"
t h1 pool list

say "A virtual switch on both, and a VM from the test guest on the shared pool"
say "(workloads: the disk writer and a memory dirtier)"
t h1 switch create lan
t h2 switch create lan
t h1 vm create demo1 --cpus 1 --memory 256M --disk 256M@shared \
    --disk 64M@shared --net lan --kernel "$GUEST/vmlinuz" \
    --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=demo1 tern.ip=192.0.2.10/24 tern.workload=disk:/dev/vdb:50+dirty:10:32"
t h1 vm start demo1
t h1 vm show demo1

say "Waiting for the guest to boot (TCG emulation: a few seconds)"
for _ in $(seq 1 120); do
	"$LAB" tern h1 vm console demo1 | grep -q TERN-GUEST-READY && break
	sleep 0.5
done
printf '$ [h1] tern vm console demo1 | tail\n'
"$LAB" tern h1 vm console demo1 | tail -n 8

say "What the guest reports through its agent (heartbeat, name, OS, IP)"
for _ in $(seq 1 60); do
	"$LAB" tern h1 vm show demo1 --json |
	    jq -e '.heartbeat == "ok" and (.guest.addresses | length > 0)' \
	    >/dev/null && break
	sleep 0.5
done
t h1 vm show demo1
t h1 vm kvp set demo1 role demo

say "Pause and resume (the guest does not notice)"
t h1 vm pause demo1
t h1 vm list
t h1 vm resume demo1

say "Save to a file next to the disks, then restore (same boot, writes go on)"
t h1 vm save demo1
t h1 vm list
t h1 vm start demo1
sleep 3

say "Live migration to h2 while it writes (the link is measured first)"
t h1 vm move demo1 --to h2
t h1 vm list
t h2 vm list
t h2 peer list
say "And back to h1"
t h2 vm move demo1 --to h1
sleep 2

say "Live storage migration on h1: its disks from the shared pool to h1's own"
t h1 vm move-storage demo1 --to local
t h1 vm show demo1

say "Shared-nothing live migration: h2 does not share h1's pool, so the disks"
say "are copied to h2's own pool while the guest runs, then the memory"
t h1 vm move demo1 --to h2 --pool local
t h2 vm show demo1
sleep 2

say "Backups while it writes, into a repository directory: the first point is"
say "full, the next only the blocks its change tracking (a dirty bitmap) marks"
repo=$TERN_LAB/backups
mkdir -p "$repo"
t h2 backup create demo1 --to "$repo"
sleep 3
acked() { "$LAB" tern h2 vm console demo1 | grep -ao 'TERN-ACK [0-9]*' |
    tail -n 1 | awk '{print $2+0}'; }
lo=$(acked)
t h2 backup create demo1 --to "$repo"
hi=$(($(acked) + 1))
t h2 backup list "$repo"
t h2 vm refpoint list demo1
point=$("$LAB" tern h2 backup list "$repo" --json | jq -r '.points[-1].point')

say "Restore that point as a new VM; it holds every write acknowledged before"
say "the point ($lo) and none made after it (above $hi)"
t h2 backup verify "$repo"
t h2 backup restore "$repo" --point "$point" --name demo1-restored
run "$GUEST/verify" --image "$H2_POOL_DIR/demo1-restored-vdb.qcow2" \
    --upto "$lo:$hi"

say "A checkpoint while it writes: its disks frozen, the guest writes on in"
say "new overlays; the tree shows where the VM is; deleting the checkpoint"
say "merges the overlays back while it runs (going back: checkpoint apply)"
t h2 vm checkpoint create demo1 before-upgrade
sleep 2
t h2 vm checkpoint list demo1
t h2 vm checkpoint delete demo1 before-upgrade

say "Replica: h1 accepts replication from h2 into its pool 'local'; demo1"
say "is replicated to h1 every 30 s (the replica VM there is never started by"
say "hand); each cycle sends only the changed blocks, checked and applied on h1"
t h1 replica server enable --allow h2=local
t h2 vm replication enable demo1 --to h1 --interval 30s
for _ in $(seq 1 240); do
	[ "$("$LAB" tern h2 vm replication show demo1 --json | jq -r .state)" = \
	    replicating ] && break
	sleep 0.5
done
lo=$(acked)
t h2 vm replication now demo1
hi=$(($(acked) + 1))
t h2 vm replication show demo1
t h1 replication list
say "The replica on h1 holds every write acknowledged before that cycle ($lo)"
say "and none after it (above $hi)"
run "$GUEST/verify" --image "$H1_POOL_DIR/demo1-vdb.qcow2" --upto "$lo:$hi"
say "The same proof without moving data: h1 reads every block of its point"
say "and h2 compares their checksums with its own (tern vm replication verify)"
t h2 vm replication verify demo1

say "Planned failover to h1: demo1 shut down on h2, one last cycle carries"
say "every write it made, h1 starts it from that point, and replication is"
say "reversed (h1 -> h2: h2's copy becomes the replica, only changed blocks"
say "sent).  h2 takes replication from h1 for that."
t h2 replica server enable --allow h1=local
for _ in $(seq 1 240); do	# the shutdown goes through the guest agent
	[ "$("$LAB" tern h2 vm show demo1 --json | jq -r .heartbeat)" = ok ] &&
	    [ "$("$LAB" tern h2 vm replication show demo1 --json |
	    jq -r .health)" = normal ] && break
	sleep 0.5
done
t h2 vm failover planned demo1
last=$(acked)
say "demo1 runs on h1 now; h2 holds the replica"
for _ in $(seq 1 240); do
	"$LAB" tern h1 vm console demo1 | grep -q TERN-GUEST-READY && break
	sleep 0.5
done
t h1 vm show demo1
for _ in $(seq 1 480); do
	[ "$("$LAB" tern h1 vm replication show demo1 --json | jq -r .state)" = \
	    replicating ] && break
	sleep 0.5
done
t h1 vm replication show demo1
say "The point h1 started from holds every write acknowledged on h2 ($last)"
vdb=$("$LAB" tern h1 vm show demo1 --json |
    jq -r '.disks[] | select(.name == "vdb") | .path')
run "$GUEST/verify" --image "$(qemu-img info -U --output=json "$vdb" |
    jq -r '."full-backing-filename"')" --upto "$last:$((last + 1))"

say "Turn it off and prove no acknowledged write was lost, on either host"
t h1 vm stop demo1
uuid=$("$LAB" tern h1 vm show demo1 --json | jq -r .uuid)
run "$GUEST/verify" --image "$vdb" \
    --console "$H1_STATE_DIR/vms/$uuid/console.log" \
    --console "$H2_STATE_DIR/vms/$uuid/console.log"

say "What happened, from the event log and the jobs"
t h1 events --vm demo1
t h2 events --vm demo1
t h1 job list
t h2 job list

say "Each host's Prometheus metrics (GET /metrics: a trusted certificate, the"
say "local socket or a bearer token from metrics-token-file; docs/metrics.md)"
printf '$ [h1] curl /metrics | grep ...\n'
"$LAB" exec h1 curl -s --unix-socket "$H1_RUN_DIR/ternd.sock" \
    http://localhost/metrics | grep -E '^tern_(vms|jobs_finished_total|migration_downtime_seconds_(sum|count)|replication_(health|lag_seconds))[{ ]' |
    grep -v ' 0$' | head -n 14 || true

say "The web console is on every host's HTTPS port: $H1_URL/ (in h1's"
say "namespace: 'lab exec h1 ...'); log in as a member of tern-admin or"
say "tern-viewer (README, \"The web console\")"

say "Importing a libvirt domain: the XML virsh writes (its test driver, no"
say "daemon needed) for a guest whose disk is in h2's pool; --copy makes new"
say "disks and leaves libvirt's; what tern provides its own way is listed"
qemu-img create -q -f qcow2 "$H2_POOL_DIR/lv1.qcow2" 64M
cat >"$TERN_LAB/lv1.src.xml" <<EOF
<domain type='kvm'><name>lv1</name><memory unit='MiB'>256</memory>
<vcpu>1</vcpu><os><type arch='x86_64' machine='q35'>hvm</type>
<kernel>$GUEST/vmlinuz</kernel><initrd>$GUEST/initrd.img</initrd>
<cmdline>console=ttyS0 quiet tern.hostname=lv1</cmdline></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='$H2_POOL_DIR/lv1.qcow2'/><target dev='vda' bus='virtio'/></disk>
<interface type='bridge'><source bridge='lan'/><model type='virtio'/></interface>
<graphics type='vnc' port='-1'/><video><model type='virtio'/></video></devices>
</domain>
EOF
printf '$ virsh -c test:///default "define lv1.src.xml; dumpxml lv1" > lv1.xml\n'
virsh -q -c test:///default "define $TERN_LAB/lv1.src.xml; dumpxml lv1" |
    sed '/^Domain .* defined from /d' >"$TERN_LAB/lv1.xml"
t h2 vm import-libvirt "$TERN_LAB/lv1.xml" --copy
t h2 vm show lv1

say "A UEFI VM (OVMF) with a TPM, booted from an ISO (GRUB, then the test"
say "guest): its own NVRAM and swtpm state next to its disk, its screen a PNG"
say "(QMP screendump) and VNC on a unix socket that ternd relays"
cp "$GUEST/iso/tern-test.iso" "$H2_POOL_DIR/tern-test.iso"
chmod 644 "$H2_POOL_DIR/tern-test.iso"
t h2 vm create iso1 --cpus 1 --memory 512M --disk 1G --firmware uefi --tpm \
    --cdrom "$H2_POOL_DIR/tern-test.iso" --boot cdrom,disk
t h2 vm start iso1
sleep 8		# OVMF, then the ISO's GRUB menu (10 s) on the screen
t h2 vm screenshot iso1 "$TERN_LAB/iso1.png"
file "$TERN_LAB/iso1.png" 2>/dev/null || ls -l "$TERN_LAB/iso1.png"
t h2 vm vnc iso1		# where its screen is; --listen forwards a port
for _ in $(seq 1 180); do
	"$LAB" tern h2 vm console iso1 | grep -q TERN-GUEST-READY && break
	sleep 0.5
done
printf '$ [h2] tern vm console iso1 | tail -n 3\n'
"$LAB" tern h2 vm console iso1 | tail -n 3
ls "$H2_POOL_DIR" | grep '^iso1-'
t h2 vm stop iso1

say "Dynamic memory: dyn1 sees 512 MiB, and ternd's balloon keeps it between"
say "256 and 512 MiB from the guest's own figures (its demand plus 20 %)."
say "Then a NIC plugged into it while it runs, shown on its switch, and"
say "unplugged (uplinks, bonds and VLANs: see the README's switches)"
t h2 vm create dyn1 --cpus 1 --memory 256M..512M --net lan \
    --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=dyn1"
t h2 vm start dyn1
for _ in $(seq 1 120); do
	"$LAB" tern h2 vm console dyn1 | grep -q TERN-GUEST-READY && break
	sleep 0.5
done
for _ in $(seq 1 40); do	# the guest's first balloon figures
	"$LAB" tern h2 vm show dyn1 --json |
	    jq -e '.dynamic_memory.demand_mib > 0' >/dev/null 2>&1 && break
	sleep 0.5
done
t h2 vm show dyn1
t h2 vm nic add dyn1 --net lan
t h2 switch show lan
t h2 vm nic remove dyn1 nic1
t h2 vm stop dyn1

say "A failover cluster of the three hosts on Corosync (h3 trusts the others"
say "and they it first); validate checks they can host each other's VMs"
fp3=$("$LAB" tern h3 host info --json | jq -r .fingerprint)
for h in h1 h2; do t $h peer add h3 "$H3_URL" --fingerprint "$fp3"; done
t h3 peer add h1 "$H1_URL" --fingerprint "$fp1"
t h3 peer add h2 "$H2_URL" --fingerprint "$fp2"
t h1 cluster create c1 --node h1 --node h2 --node h3
t h1 cluster show
t h1 cluster validate || true

say "A highly available guest on h1 (its disks on the shared pool), h3 its"
say "preferred owner; the cluster's state lists every VM once, everywhere"
t h1 vm create demo2 --cpus 1 --memory 256M --disk 256M@shared \
    --disk 64M@shared --kernel "$GUEST/vmlinuz" --initrd "$GUEST/initrd.img" \
    --cmdline "console=ttyS0 quiet tern.hostname=demo2 tern.workload=disk:/dev/vdb:50"
t h1 vm start demo2
for _ in $(seq 1 60); do	# published to the cluster every 2 s
	"$LAB" tern h1 vm ha enable demo2 --priority high --preferred h3 \
	    >/dev/null 2>&1 && break
	sleep 1
done
t h2 vm list --cluster
for _ in $(seq 1 120); do
	"$LAB" tern h1 vm console demo2 | grep -q TERN-ACK && break
	sleep 0.5
done

say "Maintenance of h1: drain moves demo2 live to another node and pauses h1"
say "(it takes no VMs); resume --failback brings demo2 back, its writer never"
say "stopping; balance --dry-run shows what load balancing would move"
t h1 cluster node drain h1
t h2 cluster show
t h2 vm list --cluster
t h2 cluster node resume h1 --failback
for _ in $(seq 1 240); do	# the failback waits 10 s for h1 to settle
	[ "$("$LAB" tern h1 vm show demo2 --json 2>/dev/null | jq -r .state)" = \
	    running ] && break
	sleep 0.5
done
t h2 vm list --cluster
t h2 cluster balance --dry-run --threshold 1

say "h1 dies: its ternd, Corosync, sanlock and QEMUs killed, its link cut."
say "h2 and h3 keep quorum; demo2 restarts on h3 once sanlock shows h1's"
say "lease expired (8 x 1 s + sanlock's fixed 60 s: about 70 s), never before"
uuid2=$("$LAB" tern h1 vm show demo2 --json | jq -r .uuid)
"$LAB" kill h1
kill -KILL "$(cat "$H1_STATE_DIR/corosync/run/corosync.pid")" \
    "$(cat "$H1_DIR/sanlock.pid")" 2>/dev/null || true
pkill -KILL -f -- "^qemu-system-x86_64 .*-uuid $uuid2" || true
"$LAB" cut h1
t0=$SECONDS
for _ in $(seq 1 480); do
	[ "$("$LAB" tern h3 vm show demo2 --json 2>/dev/null | jq -r .state)" = \
	    running ] && break
	sleep 0.5
done
say "demo2 runs on h3, $((SECONDS - t0)) s after the kill; its writer goes on"
for _ in $(seq 1 240); do
	"$LAB" tern h3 vm console demo2 | grep -q TERN-ACK && break
	sleep 0.5
done
sleep 3	# the cluster's state hears of it within a tick (2 s)
t h3 cluster show
t h3 vm list --cluster
t h3 vm stop demo2
say "Every write demo2 acknowledged on h1 or h3 is on its disk"
cons=()
for d in "$H1_STATE_DIR" "$H2_STATE_DIR" "$H3_STATE_DIR"; do
	[ -f "$d/vms/$uuid2/console.log" ] && cons+=(--console "$d/vms/$uuid2/console.log")
done
run "$GUEST/verify" --image "$LAB_SHARED_POOL/demo2-vdb.qcow2" "${cons[@]}"

say "Done.  The lab is still up (h1 is dead: 'lab restore h1', 'lab start h1'):"
echo "  TERN_LAB=$TERN_LAB $LAB tern h1 vm list      # explore"
echo "  TERN_LAB=$TERN_LAB $LAB down                 # tear it down"
