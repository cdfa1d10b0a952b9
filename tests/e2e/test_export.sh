#!/usr/bin/env bash
# test_export.sh - VM export and import with a real guest: its disk
# survives export, delete, import and a restart with no acknowledged write
# lost; a copy gets a new identity; registration uses files in place; every
# missing, malformed or tampered export is refused with no change of state;
# a ternd killed in the middle of a copy leaves nothing behind.
. "$(dirname "$0")/lib.sh"
e2e_lab_setup export 121
lab up 1 >/dev/null
pool=$(labenv H1_POOL_DIR)
sdir=$(labenv H1_STATE_DIR)
sock=$(labenv H1_SOCK)
X=$TERN_LAB/exports	# outside every pool
mkdir -p "$X"
t h1 switch create lan >/dev/null
lib=$(dirname "$0")/lib.sh

acked_over() { # acked_over VM N: the guest has acknowledged more than N
	[ "$(TERN_LAB=$TERN_LAB acked h1 "$1")" -gt "$2" ]
}
alloc() { echo $(( $(stat -c '%b * %B' "$1") )); }

# 1. Round trip: export, delete, import, start; the writer goes on.
check "vm create (disk-writer guest)" guest_create h1 e1 disk:/dev/vdb:50 --net lan
uuid=$(vm_field h1 e1 .uuid)
mac=$(vm_field h1 e1 '.nics[0].mac')
check "vm start" t h1 vm start e1
check "guest boots" wait_for 90 console_has h1 e1 TERN-GUEST-READY
check "disk writer acknowledges writes" wait_for 60 acked_over e1 20
check "vm stop" t h1 vm stop e1
old_log=$TERN_LAB/e1-console-1.log
cp "$sdir/vms/$uuid/console.log" "$old_log"
acked1=$(acked h1 e1)
check "verifier passes before the export" \
    "$VERIFY" --image "$pool/e1-vdb.qcow2" --console "$old_log"

check "vm export" t h1 vm export e1 "$X/e1"
job=$(t h1 job list --json | jq -c '.jobs[0]')
check_eq "export job succeeded" "$(jq -r '.type + " " + .state' <<<"$job")" \
    "vm.export succeeded"
check "its progress is in bytes, done == total > 0" jq -e \
    '.progress.unit == "bytes" and .progress.done == .progress.total and
     .progress.total > 0' <<<"$job"
m=$X/e1/vm.json
check "vm.json: format, version, identity, boot, disks, nics" jq -e \
    --arg u "$uuid" --arg mac "$mac" '.format == "tern-vm" and
     .version == 1 and .uuid == $u and .name == "e1" and .cpus == 1 and
     .memory_mib == 256 and .exported_from == "h1" and
     .kernel.file == "boot/vmlinuz" and .initrd.file == "boot/initrd.img" and
     (.cmdline | test("tern.workload=disk")) and
     [.disks[].name] == ["vda", "vdb"] and
     .disks[1].file == "disks/vdb.qcow2" and
     .disks[1].virtual_size == 67108864 and
     .nics == [{"mac": $mac, "switch": "lan"}] and .saved_state == null' "$m"
check "every sha256 and size in vm.json matches its file" bash -c "cd '$X/e1' &&
    jq -r '(.disks[], .kernel, .initrd) | .sha256 + \"  \" + .file' vm.json |
      sha256sum --quiet -c - &&
    jq -r '(.disks[], .kernel, .initrd) | \"\\(.size) \\(.file)\"' vm.json |
      while read -r s f; do [ \"\$(stat -c %s \"\$f\")\" = \"\$s\" ]; done"
check "the disk copies are sparse (allocated < virtual)" bash -c \
    "[ $(alloc "$X/e1/disks/vdb.qcow2") -lt 67108864 ] &&
     [ $(alloc "$X/e1/disks/vda.qcow2") -lt 268435456 ]"
check_eq "the vm was left off" "$(vm_field h1 e1 .state)" off

check "vm delete" t h1 vm delete e1
check "vm import --copy" t h1 vm import "$X/e1" --copy
check_eq "it keeps its uuid" "$(vm_field h1 e1 .uuid)" "$uuid"
check_eq "and its MAC" "$(vm_field h1 e1 '.nics[0].mac')" "$mac"
check_eq "it is off" "$(vm_field h1 e1 .state)" off
check_eq "its disks are copies in the pool" \
    "$(vm_field h1 e1 '[.disks[].path] | join(" ")')" \
    "$pool/e1-vda.qcow2 $pool/e1-vdb.qcow2"
check "the imported vm starts" t h1 vm start e1
check "the writer goes on past the old highest ack ($acked1)" \
    wait_for 90 acked_over e1 "$acked1"
check "vm stop" t h1 vm stop e1
check "verifier: nothing acknowledged before or after the move is lost" \
    "$VERIFY" --image "$pool/e1-vdb.qcow2" --console "$old_log" \
    --console "$sdir/vms/$uuid/console.log"

# 2. A second copy of the same export while the first exists.
check "import --name e2 --new-id next to the original" \
    t h1 vm import "$X/e1" --name e2 --new-id
check "new uuid" test "$(vm_field h1 e2 .uuid)" != "$uuid"
check "new MAC" test "$(vm_field h1 e2 '.nics[0].mac')" != "$mac"
uuid2=$(vm_field h1 e2 .uuid)
check "boot files copied into the vm's own directory" \
    test -f "$sdir/vms/$uuid2/vmlinuz" -a -f "$sdir/vms/$uuid2/initrd.img"
check "delete removes every file the import made" bash -c \
    "$LAB_SH tern h1 vm delete e2 >/dev/null &&
     ! ls '$pool' | grep -q '^e2-' && [ ! -e '$sdir/vms/$uuid2' ]"

# 3. Register in place: only inside a pool.
mkdir -p "$pool/exports"
check "export into the pool" t h1 vm export e1 "$pool/exports/e1"
check "import --register --name e3 --new-id" \
    t h1 vm import "$pool/exports/e1" --register --name e3 --new-id
check_eq "its disks are the export's files" \
    "$(vm_field h1 e3 '.disks[1].path')" "$pool/exports/e1/disks/vdb.qcow2"
check "the registered vm starts" t h1 vm start e3
check "and its guest runs" wait_for 90 console_has h1 e3 TERN-DISK
check "vm stop" t h1 vm stop e3
check "delete leaves registered files" bash -c \
    "$LAB_SH tern h1 vm delete e3 >/dev/null &&
     [ -f '$pool/exports/e1/disks/vdb.qcow2' ] &&
     [ -f '$pool/exports/e1/boot/vmlinuz' ]"
check_err "register outside the pools is refused" 1 \
    "outside the storage pools" t h1 vm import "$X/e1" --register --name e4 \
    --new-id
check_err "--pool with --register is a usage error" 2 "--pool goes with" \
    t h1 vm import "$X/e1" --register --pool local

# 4. Bad input: a clear error, exit 1, nothing changed.
snapshot() {
	{ t h1 vm list --json | jq -c '[.vms[] | {name, state, uuid}]'
	  t h1 job list --json | jq -c '[.jobs[].id]'
	  ls -AR "$pool" "$sdir/vms"; } 2>&1
}
variant() { # variant NAME [JQ]: a copy of the export, vm.json edited
	rm -rf "${X:?}/$1"
	cp -a "$X/e1" "$X/$1"
	[ -z "${2:-}" ] || { jq "$2" "$X/e1/vm.json" >"$X/$1/vm.json"; }
}
before=$(snapshot)
imp() { t h1 vm import "$@" --name x1 --new-id; }

check_err "missing directory" 1 "does not exist" imp "$X/nope"
mkdir -p "$X/empty"
check_err "directory without vm.json" 1 "has no vm.json" imp "$X/empty"
variant bad-json; echo '{"format": "tern-vm", "vers' >"$X/bad-json/vm.json"
check_err "malformed vm.json" 1 "vm.json: malformed JSON" imp "$X/bad-json"
variant unknown '. + {"bogus": 1}'
check_err "unknown field" 1 "unknown field 'bogus'" imp "$X/unknown"
variant v99 '.version = 99'
check_err "newer format version" 1 "format version 99 is newer" imp "$X/v99"
variant dotdot '.disks[0].file = "../../etc/passwd"'
check_err "a file path with .." 1 "must be a relative path inside" \
    imp "$X/dotdot"
variant abs '.kernel.file = "/etc/passwd"'
check_err "an absolute file path" 1 "must be a relative path inside" \
    imp "$X/abs"
variant link; ln -sf /etc/passwd "$X/link/boot/initrd.img"
check_err "a symlink pointing outside" 1 "outside the export directory" \
    imp "$X/link"
variant trunc; truncate -s -65536 "$X/trunc/disks/vdb.qcow2"
check_err "a truncated disk" 1 "truncated or corrupt" imp "$X/trunc"
variant vsize '.disks[1].virtual_size = 1048576'
check_err "a disk whose virtual size does not match" 1 \
    "virtual size is 67108864 bytes, vm.json says 1048576" imp "$X/vsize"
variant backing
qemu-img create -q -f qcow2 -b /etc/hostname -F raw "$X/backing/disks/vdb.qcow2" 64M
sz=$(stat -c %s "$X/backing/disks/vdb.qcow2")
sum=$(sha256sum "$X/backing/disks/vdb.qcow2" | cut -c1-64)
jq --argjson sz "$sz" --arg s "$sum" '.disks[1].size = $sz | .disks[1].sha256 = $s' \
    "$X/e1/vm.json" >"$X/backing/vm.json"
check_err "a disk with a backing file on the host" 1 \
    "refers to a backing or data file outside itself" imp "$X/backing"
check_err "name clash" 1 "import under another name with --name" \
    t h1 vm import "$X/e1"
check_err "uuid clash" 1 "import a copy with --new-id" \
    t h1 vm import "$X/e1" --name x2
check_err "export into a directory that is not empty" 1 "is not empty" \
    t h1 vm export e1 "$X/e1"
check_err "export into a missing parent" 1 "parent directory" \
    t h1 vm export e1 "$X/no/such"
api() { # api METHOD PATH [BODY]: status and body of a raw request
	lab exec h1 curl -s -w ' %{http_code}' --unix-socket "$sock" -X "$1" \
	    ${3:+-H 'Content-Type: application/json' --data-binary "$3"} \
	    "http://tern$2"
}
check_err "import with an unknown field in the request" 0 \
    "unknown field 'bogus' in vm import request" \
    api POST /v1/imports "{\"dir\":\"$X/e1\",\"bogus\":1}"
check_err "import with a bad mode" 0 "must be 'copy' or 'register'" \
    api POST /v1/imports "{\"dir\":\"$X/e1\",\"mode\":\"move\"}"
check_eq "no state changed by any of it" "$(snapshot)" "$before"

check "start e1 for the next check" t h1 vm start e1
out=$(api POST /v1/vms/e1/export "{\"dir\":\"$X/running\"}")
check_eq "export of a running vm: 409" "${out##* }" 409
check_err "saying why" 0 "turn it off (or save it) before exporting" \
    echo "$out"
check "vm stop" t h1 vm stop e1
check "nothing made for the running vm" test ! -e "$X/running"
# A full file system in the middle of an export.  ternd runs in its own
# mount namespace (ip netns exec makes one): mount the small tmpfs there.
inns() { nsenter -t "$(cat "$(labenv H1_PIDFILE)")" -m "$@"; }
mkdir -p "$X/small"
if inns mount -t tmpfs -o size=64k tern-e2e-small "$X/small"; then
	out=$(t h1 vm export e1 "$X/small/e1" 2>&1) && rc=0 || rc=$?
	check_eq "an export that runs out of space fails" "$rc" 1
	check_err "and says why, with qemu-img's last line, not its progress" \
	    0 "failed (exit 1): qemu-img: " echo "$out"
	check_err "(no space left)" 0 "No space left on device" echo "$out"
	check "and removes what it wrote" test -z "$(inns ls -A "$X/small")"
	inns umount "$X/small"
else
	not_ok "cannot mount a small tmpfs for the out-of-space case"
fi

# A disk whose bytes were changed but whose size and header were not:
# only the sha256 can tell, in the job, which must leave nothing behind.
variant flip
off=$(( $(stat -c %s "$X/flip/disks/vdb.qcow2") / 2 ))
printf '\x5a' | dd of="$X/flip/disks/vdb.qcow2" bs=1 seek="$off" conv=notrunc status=none
snap_nojobs() { snapshot | sed 2d; }
before=$(snap_nojobs)
check_err "a tampered disk fails the import job" 1 "tampered or corrupt" \
    imp "$X/flip"
check_eq "and leaves nothing behind" "$(snap_nojobs)" "$before"
check "the failed job says so" bash -c "$LAB_SH tern h1 job list --json |
    jq -e '.jobs[0] | select(.type == \"vm.import\" and .state == \"failed\")'"

# 5. kill -9 of ternd in the middle of a copy: rolled back after restart.
died() { ! kill -0 "$(cat "$(labenv H1_PIDFILE)")" 2>/dev/null; }
lab kill h1 >/dev/null
TERN_FAILPOINT=vm.import.copy=kill lab start h1 >/dev/null
t h1 vm import "$X/e1" --name e5 --new-id --no-wait >/dev/null 2>&1 || true
check "ternd died copying the import" wait_for 30 died
check "it left a copied, unverified disk in the pool" test -f "$pool/e5-vda.qcow2"
lab start h1 >/dev/null
check "the import job is rolled back after restart" wait_for 30 bash -c \
    "$LAB_SH tern h1 job list --json | jq -e '.jobs[] |
     select(.type == \"vm.import\" and .vm == \"e5\" and .state == \"failed\")'"
check_err "no vm row" 1 "not found" t h1 vm show e5
check "no partial file in the pool" bash -c "! ls -A '$pool' | grep -q '^e5'"
check_eq "no vm directory left" "$(ls "$sdir/vms" | wc -l)" 1

lab kill h1 >/dev/null
TERN_FAILPOINT=vm.export.copy=kill lab start h1 >/dev/null
t h1 vm export e1 "$X/e6" --no-wait >/dev/null 2>&1 || true
check "ternd died copying the export" wait_for 30 died
check "it left a disk copy in the directory" test -f "$X/e6/disks/vda.qcow2"
lab start h1 >/dev/null
check "the export job is rolled back after restart" wait_for 30 bash -c \
    "$LAB_SH tern h1 job list --json | jq -e '.jobs[] |
     select(.type == \"vm.export\" and .state == \"failed\")'"
check "the export directory is gone" test ! -e "$X/e6"
check "vm e1 is off and can still be exported" t h1 vm export e1 "$X/e7"

# 6. A saved state, guest services and key/values travel with the VM.
# Their API is another branch's: set them in the database, ternd stopped.
db=$sdir/ternd.db
sql() { sqlite3 "$db" "$@"; }
head -c 1048576 /dev/urandom >"$pool/e1.state"
lab stop h1 >/dev/null
sql "UPDATE vms SET state='saved', state_file='$pool/e1.state',
     services='{\"heartbeat\":false}', kvp='{\"role\":\"web\"}'
     WHERE name='e1'"
lab start h1 >/dev/null
check "export of a saved vm" t h1 vm export e1 "$X/saved"
check "vm.json has the saved state, services and kvp" jq -e \
    '.saved_state.file == "state" and .services == {"heartbeat": false} and
     .kvp == {"role": "web"}' "$X/saved/vm.json"
check "the state file is a true copy" cmp "$pool/e1.state" "$X/saved/state"
check "import it as e8" t h1 vm import "$X/saved" --name e8 --new-id
check_eq "e8 comes back saved" "$(vm_field h1 e8 .state)" saved
check_eq "with its state copied into the pool, services and kvp" \
    "$(sql "SELECT state_file, services, kvp FROM vms WHERE name='e8'")" \
    "$pool/e8.state|{\"heartbeat\":false}|{\"role\":\"web\"}"
check "the state copy is intact" cmp "$pool/e1.state" "$pool/e8.state"
t h1 vm stop e8 >/dev/null 2>&1 || true	# saved -> off, whoever does it
check "delete removes the saved state the import made" bash -c \
    "$LAB_SH tern h1 vm delete e8 >/dev/null && [ ! -e '$pool/e8.state' ]"


# A VM really saved by ternd: export, delete, import, and start restores
# it: no reboot, the disk writer carries on, nothing acknowledged is lost.
guest_create h1 r1 >/dev/null
ruuid=$(vm_field h1 r1 .uuid)
rlog=$(labenv H1_STATE_DIR)/vms/$ruuid/console.log
t h1 vm start r1 >/dev/null
check "r1 boots" wait_for 90 console_has h1 r1 TERN-GUEST-READY
check "r1 writes" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 r1) -gt 20 ]"
check "save r1" t h1 vm save r1
cp "$rlog" "$X/r1-console-1.log"
r_acked=$(acked h1 r1)
check "export the saved r1" t h1 vm export r1 "$X/r1"
check "delete r1" t h1 vm delete r1
check "import it" t h1 vm import "$X/r1"
check_eq "back saved, same uuid" \
    "$(vm_field h1 r1 .state) $(vm_field h1 r1 .uuid)" "saved $ruuid"
check "start restores it" t h1 vm start r1
check "the writer carries on past the save" wait_for 60 bash -c \
    "[ \$(. $(dirname "$0")/lib.sh; TERN_LAB=$TERN_LAB acked h1 r1) -gt $r_acked ]"
check "restored, not rebooted: no boot on the new console" bash -c \
    "! grep -q TERN-GUEST-READY '$rlog'"
t h1 vm stop r1 >/dev/null
check "verifier across save, export, import and restore" \
    "$VERIFY" --image "$pool/r1-vdb.qcow2" --console "$X/r1-console-1.log" \
    --console "$rlog"

lab stop h1 >/dev/null
sql "UPDATE vms SET services='{\"heartbeat\":\"on\"}' WHERE name='e1'"
lab start h1 >/dev/null
check_err "an export that would not import fails, and says why" 1 \
    "services['heartbeat'] must be true or false" t h1 vm export e1 "$X/bad"
check "and leaves no directory" test ! -e "$X/bad"
e2e_openapi_check
e2e_finish
