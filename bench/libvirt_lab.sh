#!/usr/bin/env bash
# libvirt_lab.sh - libvirt 9.0 (Debian 12) on a tern lab (tests/lab/lab.sh),
# as the operator's alternative the benchmarks set tern against: one
# monolithic libvirtd per lab host, in that host's network namespace,
# listening for TLS on the host's address only, driving the same test guest
# with `virsh migrate --live --p2p --tls [--copy-storage-all]` and
# `virsh blockcopy --pivot`.
#
# Source it (functions libvirt_*) or run it: libvirt_lab.sh COMMAND ARGS,
# COMMAND one of the functions without the libvirt_ prefix:
#   install                      install LIBVIRT_PKGS if missing (apt-get)
#   up LABDIR HOST...            CA and certs, config, one libvirtd per host
#   define_guest HOST NAME KERNEL INITRD CMDLINE DISK[,DISK...] MEM_MIB
#                                start NAME (transient) on HOST; console in
#                                LABDIR/libvirt/NAME.console (both hosts)
#   migrate SRC DST NAME [--copy-storage-all]
#                                one JSON line: ok, total_ms, downtime_ms, ...
#   blockcopy HOST NAME DISK DEST
#                                one JSON line: ok, total_ms, ...
#   alive HOST NAME              the guest agent answers guest-ping
#   virsh HOST ARGS...           virsh on HOST's daemon
#   down LABDIR                  guests and daemons killed by PID
# LABDIR is a lab that `lab.sh up` made; later commands find it in
# $TERN_LAB (default /tmp/tern-lab) once `up` ran.
#
# Why a private mount namespace per daemon: a libvirtd running as root
# (the only one that serves qemu:///system, and so migration between
# hosts) takes every path from build time: /etc/libvirt, /run/libvirt,
# /var/{lib,cache,log}/libvirt.  libvirt 9.0 reads XDG_* only for
# unprivileged session daemons, and the embedded driver (qemu:///embed,
# a root= of its own) has no daemon to migrate to.  Two
# daemons on one machine would share their sockets, pid files, domain
# state and capability cache.  So each libvirtd runs under
# `ip netns exec NS unshare -m`, with LABDIR/libvirt-hI/{etc,run,var}
# bind-mounted on /etc/libvirt, /run and /var; seen from outside its
# socket is LABDIR/libvirt-hI/run/libvirt/libvirt-sock, and virsh reaches
# it as qemu+unix:///system?socket=....  Certificates are not in /etc/pki
# (which this machine does not have): libvirtd.conf names the server's,
# the qemu+tls URI's pkipath= the client's, qemu.conf QEMU's.
#
# Guest equivalence with ternd's (src/vm/qemu.c): LIBVIRT_MACHINE, -cpu max
# (<cpu mode='maximum'/>), TCG, 1 vCPU, qcow2 on virtio-blk with threads
# AIO and the host page cache (cache='writeback'), kernel/initrd/cmdline,
# serial console to a file, a guest-agent channel, no NIC, no balloon,
# no USB, no display.  <acpi/> as QEMU's default: without it libvirt
# 9.0 passes -no-acpi, which QEMU 10 rejects ("invalid option").
#
# Migration as an operator runs it: `virsh migrate --live --p2p --tls`;
# libvirt's defaults (bandwidth unlimited, QEMU's 300 ms downtime limit,
# no auto-converge, no multifd, no postcopy).  Shared storage adds
# --unsafe: the lab's shared pool is a local directory, not a file
# system libvirt knows to be shared (NFS, GFS2, ...), and its disks use
# the page cache, so libvirt refuses without it; both namespaces share
# one page cache, so here it is safe.  A migration still running after
# LIBVIRT_MIGRATE_TIMEOUT (120) s is aborted (virsh domjobabort) and
# reported "ok": false.

# Packages this needs; benchmarks are not CI, so they are not in
# scripts/deps.sh: libvirt_install adds those missing.  No
# libvirt-daemon-system: its post-install would start a libvirtd for
# the whole machine.
LIBVIRT_PKGS=(libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
	gnutls-bin qemu-utils jq)
LIBVIRT_READY_TIMEOUT=${LIBVIRT_READY_TIMEOUT:-60}	# s, daemon answers
LIBVIRT_MIGRATE_TIMEOUT=${LIBVIRT_MIGRATE_TIMEOUT:-120}	# s, then aborted
LIBVIRT_COPY_TIMEOUT=${LIBVIRT_COPY_TIMEOUT:-600}	# s, blockcopy
LIBVIRT_MIG_PORT=${LIBVIRT_MIG_PORT:-49152}	# QEMU migration/NBD ports
# The guest's machine type; the benches pass the one tern gave its VM
# (`tern vm show --json` .machine); q35 is libvirt's newest pc-q35.
LIBVIRT_MACHINE=${LIBVIRT_MACHINE:-q35}

lv_die() { printf 'libvirt_lab: %s\n' "$*" >&2; return 1; }
lv_log() { printf 'libvirt_lab: %s\n' "$*" >&2; }
lv_ms() { date +%s%3N; }

# libvirt_install: the packages above, only those missing.
libvirt_install() {
	local p missing=()
	for p in "${LIBVIRT_PKGS[@]}"; do
		dpkg-query -W -f '${Status}' "$p" 2>/dev/null |
		    grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	lv_log "installing ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y \
	    --no-install-recommends "${missing[@]}" >&2 ||
	    { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
}

# lv_lab [LABDIR]: load the lab's lab.env into this shell.
lv_lab() {
	LV_LAB=$(realpath -m -- "${1:-${TERN_LAB:-/tmp/tern-lab}}")
	[ -f "$LV_LAB/lab.env" ] || lv_die "no lab at $LV_LAB (lab.sh up first)"
	# shellcheck source=/dev/null
	. "$LV_LAB/lab.env"
}

# lv_h HOST FIELD: lab.env's H<i>_FIELD for HOST (h1, h2...)
lv_h() { local v="H${1#h}_$2"; printf '%s' "${!v:?unknown host $1}"; }
lv_dir() { printf '%s/libvirt-%s' "$LV_LAB" "$1"; }
lv_sock() { printf '%s/run/libvirt/libvirt-sock' "$(lv_dir "$1")"; }

# libvirt_virsh HOST ARGS...: virsh on HOST's own daemon, in its namespace.
libvirt_virsh() {
	local h=$1
	shift
	[ -n "${LV_LAB:-}" ] || lv_lab
	ip netns exec "$(lv_h "$h" NS)" virsh -q \
	    -c "qemu+unix:///system?socket=$(lv_sock "$h")" "$@"
}

# lv_uri SRC DST: the URI SRC's daemon opens to DST's (p2p), with SRC's
# client certificate.
lv_uri() {
	printf 'qemu+tls://%s/system?pkipath=%s/pki/client' \
	    "$(lv_h "$2" ADDR)" "$(lv_dir "$1")"
}

# lv_cert DIR NAME CA TEMPLATE-LINES: DIR/NAME-key.pem, DIR/NAME-cert.pem
lv_cert() {
	local d=$1 n=$2 ca=$3
	printf '%s\n' "${@:4}" >"$d/$n.info"
	certtool --generate-privkey --outfile "$d/$n-key.pem" 2>/dev/null
	certtool --generate-certificate --load-privkey "$d/$n-key.pem" \
	    --load-ca-certificate "$ca/ca-cert.pem" \
	    --load-ca-privkey "$ca/ca-key.pem" --template "$d/$n.info" \
	    --outfile "$d/$n-cert.pem" 2>/dev/null
}

# lv_config HOST: certificates, libvirtd.conf, qemu.conf, the launcher.
lv_config() {
	local h=$1 d addr ca=$LV_LAB/libvirt/ca
	d=$(lv_dir "$h") addr=$(lv_h "$h" ADDR)
	mkdir -p "$d"/{etc,run,pki/server,pki/client,pki/qemu} \
	    "$d"/var/{lib/libvirt,cache/libvirt,log/libvirt,tmp}
	ln -sfn /run "$d/var/run"
	ln -sfn /run/lock "$d/var/lock"
	lv_cert "$d/pki" server "$ca" "organization = tern lab" "cn = $addr" \
	    "ip_address = $addr" tls_www_server encryption_key signing_key
	lv_cert "$d/pki" client "$ca" "organization = tern lab" \
	    "cn = libvirt-$h" tls_www_client encryption_key signing_key
	# libvirt's client wants cacert.pem, clientcert.pem, clientkey.pem;
	# QEMU ca-cert.pem, server-*.pem, client-*.pem.
	cp "$ca/ca-cert.pem" "$d/pki/client/cacert.pem"
	cp "$d/pki/client-cert.pem" "$d/pki/client/clientcert.pem"
	cp "$d/pki/client-key.pem" "$d/pki/client/clientkey.pem"
	cp "$ca/ca-cert.pem" "$d/pki/qemu/ca-cert.pem"
	cp "$d/pki"/{server,client}-{cert,key}.pem "$d/pki/qemu/"
	local loglevel=3
	[ -z "${LIBVIRT_LOG_FILTERS:-}" ] || loglevel=1
	cat >"$d/etc/libvirtd.conf" <<EOF
# written by bench/libvirt_lab.sh for $h
listen_tls = 1
listen_tcp = 0
listen_addr = "$addr"
ca_file = "$ca/ca-cert.pem"
cert_file = "$d/pki/server-cert.pem"
key_file = "$d/pki/server-key.pem"
auth_tls = "none"
auth_unix_rw = "none"
auth_unix_ro = "none"
unix_sock_group = "root"
log_outputs = "$loglevel:file:/var/log/libvirt/libvirtd.log"
EOF
	# LIBVIRT_LOG_FILTERS, e.g. "1:qemu.qemu_monitor": those debug logs
	[ -z "${LIBVIRT_LOG_FILTERS:-}" ] ||
	    echo "log_filters = \"$LIBVIRT_LOG_FILTERS 3:*\"" >>"$d/etc/libvirtd.conf"
	cat >"$d/etc/qemu.conf" <<EOF
# written by bench/libvirt_lab.sh for $h
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
default_tls_x509_cert_dir = "$d/pki/qemu"
default_tls_x509_verify = 1
migrate_tls_x509_cert_dir = "$d/pki/qemu"
migrate_tls_x509_verify = 1
migration_address = "$addr"
migration_host = "$addr"
migration_port_min = $LIBVIRT_MIG_PORT
migration_port_max = $((LIBVIRT_MIG_PORT + 63))
EOF
	# The launcher: a private mount namespace with this host's dirs
	# on the paths libvirtd was built with.  exec all the way down, so
	# the PID recorded is libvirtd's.
	cat >"$d/start.sh" <<EOF
#!/bin/sh
set -e
mount --make-rprivate /
mount --bind '$d/etc' /etc/libvirt
mount --bind '$d/run' /run
mount --bind '$d/var' /var
mount --bind '$d/passwd' /etc/passwd
mount --bind '$d/group' /etc/group
exec libvirtd --listen --pid-file /run/libvirtd.pid
EOF
	chmod +x "$d/start.sh"
	# libvirt 9.0 looks up its build-time QEMU user (libvirt-qemu on
	# Debian) before it reads qemu.conf's user = "root", and fails if it
	# does not exist; libvirt-daemon-system would add it to the
	# machine.  Here it exists only in the daemon's namespace.
	cp /etc/passwd "$d/passwd"
	cp /etc/group "$d/group"
	grep -q '^libvirt-qemu:' /etc/passwd || echo \
	    'libvirt-qemu:x:64055:64055:libvirt (tern lab):/nonexistent:/usr/sbin/nologin' \
	    >>"$d/passwd"
	grep -q '^libvirt-qemu:' /etc/group || echo 'libvirt-qemu:x:64055:' \
	    >>"$d/group"
}

# libvirt_up LABDIR HOST...: one libvirtd per HOST, ready (virsh answers
# locally, and each host reaches the others over TLS).
libvirt_up() {
	local h d pid ca deadline
	lv_lab "$1"
	shift
	if ! command -v libvirtd >/dev/null || ! command -v certtool >/dev/null
	then
		lv_die "libvirtd or certtool missing (libvirt_install)"
		return 1
	fi
	ca=$LV_LAB/libvirt/ca
	mkdir -p "$ca"
	if [ ! -f "$ca/ca-cert.pem" ]; then
		printf '%s\n' "cn = tern lab libvirt CA" ca cert_signing_key \
		    "expiration_days = 30" >"$ca/ca.info"
		certtool --generate-privkey --outfile "$ca/ca-key.pem" 2>/dev/null
		certtool --generate-self-signed --load-privkey "$ca/ca-key.pem" \
		    --template "$ca/ca.info" --outfile "$ca/ca-cert.pem" 2>/dev/null
	fi
	for h in "$@"; do
		d=$(lv_dir "$h")
		lv_config "$h"
		(
			exec </dev/null >>"$d/libvirtd.out" 2>&1
			exec setsid ip netns exec "$(lv_h "$h" NS)" \
			    unshare -m sh "$d/start.sh"
		) &
		echo $! >"$d/libvirtd.pid"
		echo "$h" >>"$LV_LAB/libvirt/hosts"
	done
	deadline=$((SECONDS + LIBVIRT_READY_TIMEOUT))
	for h in "$@"; do
		d=$(lv_dir "$h")
		pid=$(cat "$d/libvirtd.pid")
		until libvirt_virsh "$h" uri >/dev/null 2>&1; do
			kill -0 "$pid" 2>/dev/null || { tail -n 20 "$d/libvirtd.out" \
			    "$d/var/log/libvirt/libvirtd.log" >&2 || true
			    lv_die "$h: libvirtd exited"; return 1; }
			[ $SECONDS -lt $deadline ] ||
			    { lv_die "$h: libvirtd not ready"; return 1; }
			sleep 0.3
		done
		lv_log "$h: libvirtd $(libvirt_virsh "$h" version --daemon |
		    awk '/daemon/ {print $NF}') pid $pid, $(lv_h "$h" ADDR):16514"
	done
	# Each host reaches every other over TLS, with its client cert.
	local o
	for h in "$@"; do
		for o in "$@"; do
			[ "$h" != "$o" ] || continue
			ip netns exec "$(lv_h "$h" NS)" timeout 30 virsh -q \
			    -c "$(lv_uri "$h" "$o")" uri >/dev/null ||
			    { lv_die "$h cannot reach $o's libvirtd over TLS"
			    return 1; }
		done
	done
}

# lv_xml: stdin escaped for an XML attribute or text
lv_xml() { sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g; s/'\''/\&apos;/g'; }

# libvirt_guest_xml NAME KERNEL INITRD CMDLINE DISK[,DISK...] MEM_MIB CONSOLE
libvirt_guest_xml() {
	local name=$1 kernel=$2 initrd=$3 cmdline=$4 disks=$5 mem=$6 con=$7
	local i=0 disk letters=abcdefghijklmnopqrstuvwxyz
	cat <<EOF
<domain type='qemu'>
  <name>$name</name>
  <memory unit='MiB'>$mem</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='$LIBVIRT_MACHINE'>hvm</type>
    <kernel>$(lv_xml <<<"$kernel")</kernel>
    <initrd>$(lv_xml <<<"$initrd")</initrd>
    <cmdline>$(lv_xml <<<"$cmdline")</cmdline>
  </os>
  <features><acpi/><apic/></features>
  <cpu mode='maximum' check='none'/>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
EOF
	local IFS=,
	for disk in $disks; do
		cat <<EOF
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='writeback' io='threads'/>
      <source file='$(lv_xml <<<"$disk")'/>
      <target dev='vd${letters:i:1}' bus='virtio'/>
    </disk>
EOF
		i=$((i + 1))
	done
	cat <<EOF
    <controller type='usb' model='none'/>
    <serial type='file'>
      <source path='$(lv_xml <<<"$con")' append='on'/>
      <target port='0'/>
    </serial>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# libvirt_define_guest HOST NAME KERNEL INITRD CMDLINE DISK[,DISK...] MEM_MIB:
# NAME started on HOST as a transient domain (a migrated domain is then
# transient on the other side too, and nothing is left behind).
libvirt_define_guest() {
	local h=$1 name=$2 xml
	[ -n "${LV_LAB:-}" ] || lv_lab
	xml=$LV_LAB/libvirt/$name.xml
	libvirt_guest_xml "$name" "$3" "$4" "$5" "$6" "$7" \
	    "$LV_LAB/libvirt/$name.console" >"$xml"
	libvirt_virsh "$h" create "$xml" >/dev/null
}

# lv_disks HOST NAME: "target path" lines of NAME's disks
lv_disks() {
	libvirt_virsh "$1" domblklist "$2" --details |
	    awk '$1 == "file" && $2 == "disk" {print $3, $4}'
}

# lv_jobinfo HOST NAME: the completed job's raw stats (`virsh domjobinfo
# --completed --rawstats`: "name: value" lines, times in ms, sizes in
# bytes) as a JSON object: {"time_elapsed": 1484, "downtime": 162, ...}.
lv_jobinfo() {
	libvirt_virsh "$1" domjobinfo "$2" --completed --rawstats 2>/dev/null |
	    awk '/^[a-z_]+: / { k = $1; sub(/:$/, "", k); v = $2
		if (v ~ /^-?[0-9]+(\.[0-9]+)?$/) printf "%s\"%s\":%s", s, k, v
		else printf "%s\"%s\":\"%s\"", s, k, v; s = "," }
		BEGIN { printf "{" } END { print "}" }'
}

# libvirt_migrate SRC DST NAME [--copy-storage-all]: one JSON line, from
# the completed incoming job on DST (domjobinfo --completed --rawstats):
# total_ms its time_elapsed ("Time elapsed": the source's job, start to
# finish), downtime_ms its downtime ("Total downtime": source paused ..
# destination running, wall clock), bytes its memory_processed, passes
# its memory_iteration; wall_ms: the virsh command; disk_bytes: DST's
# images' allocation after a copy (DST reports no disk figures); jobinfo:
# all of them.  Shared-nothing: the disks must be in SRC's lab pool dir;
# the same-sized empty images are created in DST's (libvirt copies into
# existing images only), the domain XML for DST names them, and after
# success SRC's are removed.
libvirt_migrate() {
	local src=$1 dst=$2 name=$3 copy=${4:-} t0 t1 pid rc=0 info
	local -a extra=(--unsafe)
	[ -n "${LV_LAB:-}" ] || lv_lab
	local out=$LV_LAB/libvirt/$name.migrate
	local sp dp path size
	if [ "$copy" = --copy-storage-all ]; then
		sp=$(lv_h "$src" POOL_DIR) dp=$(lv_h "$dst" POOL_DIR)
		local -a disks
		mapfile -t disks < <(lv_disks "$src" "$name" | cut -d' ' -f2-)
		for path in "${disks[@]}"; do
			[ "${path#"$sp"/}" != "$path" ] ||
			    { lv_die "$path is not in $sp"; return 1; }
		done
		for path in "${disks[@]}"; do
			size=$(qemu-img info --output=json -U "$path" |
			    jq '."virtual-size"')
			rm -f "$dp/${path#"$sp"/}"
			qemu-img create -q -f qcow2 "$dp/${path#"$sp"/}" "$size"
		done
		libvirt_virsh "$src" dumpxml --migratable "$name" |
		    sed "s|'$sp/|'$dp/|g; s|\"$sp/|\"$dp/|g" >"$out.xml"
		extra=(--copy-storage-all --xml "$out.xml")
	fi
	t0=$(lv_ms)
	libvirt_virsh "$src" migrate --live --p2p --tls "${extra[@]}" \
	    "$name" "$(lv_uri "$src" "$dst")" >"$out.log" 2>&1 &
	pid=$!
	local deadline=$((SECONDS + LIBVIRT_MIGRATE_TIMEOUT)) aborted=""
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$aborted" ] && [ $SECONDS -ge $deadline ]; then
			aborted="not completed after ${LIBVIRT_MIGRATE_TIMEOUT}s, aborted"
			libvirt_virsh "$src" domjobabort "$name" >/dev/null 2>&1 || true
		fi
		sleep 0.05
	done
	wait "$pid" || rc=$?
	t1=$(lv_ms)
	if [ "$rc" -ne 0 ]; then
		[ "$copy" != --copy-storage-all ] || for path in "${disks[@]}"; do
			rm -f "$dp/${path#"$sp"/}"
		done
		jq -nc --arg e "${aborted:-$(tr '\n' ' ' <"$out.log")}" \
		    --argjson w $((t1 - t0)) \
		    '{ok: false, wall_ms: $w, error: $e}'
		return 0
	fi
	info=$(lv_jobinfo "$dst" "$name")
	local disk_bytes=0
	if [ "$copy" = --copy-storage-all ]; then
		for path in "${disks[@]}"; do
			rm -f "$path"
			disk_bytes=$((disk_bytes +
			    $(stat -c %b "$dp/${path#"$sp"/}") * 512))
		done
	fi
	jq -c --argjson w $((t1 - t0)) --argjson db "$disk_bytes" '{ok: true,
	    total_ms: .time_elapsed, downtime_ms: .downtime, wall_ms: $w,
	    bytes: .memory_processed, passes: .memory_iteration,
	    disk_bytes: $db, jobinfo: .}' \
	    <<<"$info"
}

# libvirt_blockcopy HOST NAME DISK DEST: NAME's disk DISK (vda) copied
# live to the new image DEST and pivoted to it (`virsh blockcopy --wait
# --pivot`); the old image is removed.  One JSON line: total_ms (the
# virsh command: start, copy, pivot), bytes (DEST's allocation).
libvirt_blockcopy() {
	local h=$1 name=$2 disk=$3 dest=$4 old t0 t1 rc=0
	[ -n "${LV_LAB:-}" ] || lv_lab
	old=$(lv_disks "$h" "$name" | awk -v d="$disk" '$1 == d {print $2}')
	[ -n "$old" ] || { lv_die "$name has no disk $disk"; return 1; }
	t0=$(lv_ms)
	timeout "$LIBVIRT_COPY_TIMEOUT" ip netns exec "$(lv_h "$h" NS)" \
	    virsh -q -c "qemu+unix:///system?socket=$(lv_sock "$h")" \
	    blockcopy "$name" "$disk" --dest "$dest" --format qcow2 \
	    --transient-job --wait --pivot \
	    >"$LV_LAB/libvirt/$name.blockcopy" 2>&1 || rc=$?
	t1=$(lv_ms)
	if [ "$rc" -ne 0 ]; then
		libvirt_virsh "$h" blockjob "$name" "$disk" --abort \
		    >/dev/null 2>&1 || true
		jq -nc --arg e "$(tr '\n' ' ' <"$LV_LAB/libvirt/$name.blockcopy")" \
		    --argjson t $((t1 - t0)) '{ok: false, total_ms: $t, error: $e}'
		return 0
	fi
	rm -f "$old"
	jq -nc --argjson t $((t1 - t0)) --argjson b \
	    "$(($(stat -c %b "$dest") * 512))" '{ok: true, total_ms: $t, bytes: $b}'
}

# libvirt_alive HOST NAME: the guest agent answers within 5 s.
libvirt_alive() {
	libvirt_virsh "$1" qemu-agent-command "$2" --timeout 5 \
	    '{"execute":"guest-ping"}' >/dev/null 2>&1
}

# libvirt_down [LABDIR]: every guest's QEMU and every libvirtd that
# libvirt_up started, by PID (SIGTERM, then SIGKILL after 10 s).
libvirt_down() {
	local h d pid f pids=()
	lv_lab "${1:-}" 2>/dev/null || return 0
	[ -f "$LV_LAB/libvirt/hosts" ] || return 0
	for h in $(sort -u "$LV_LAB/libvirt/hosts"); do	# h1 h2...
		d=$(lv_dir "$h")
		for f in "$d"/run/libvirt/qemu/*.pid; do	# one a domain
			[ "${f##*/}" != driver.pid ] || continue	# libvirtd's
			[ -f "$f" ] && pids+=("$(cat "$f")")
		done
		[ -f "$d/libvirtd.pid" ] && pids+=("$(cat "$d/libvirtd.pid")")
	done
	((${#pids[@]})) || return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	local deadline=$((SECONDS + 10)) live
	while :; do
		live=()
		for pid in "${pids[@]}"; do
			[ -d "/proc/$pid" ] && [ "$(awk '{print $3}' \
			    "/proc/$pid/stat" 2>/dev/null)" != Z ] && live+=("$pid")
		done
		((${#live[@]})) || break
		if [ $SECONDS -ge $deadline ]; then
			kill -KILL "${live[@]}" 2>/dev/null || true
			sleep 0.5
			break
		fi
		sleep 0.2
	done
	for h in $(sort -u "$LV_LAB/libvirt/hosts"); do	# h1 h2...
		rm -f "$(lv_dir "$h")/libvirtd.pid"
	done
	rm -f "$LV_LAB/libvirt/hosts"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	cmd=${1:?usage: libvirt_lab.sh COMMAND ARGS (see its header)}
	shift
	case $cmd in
	up | down | install | guest_xml) "libvirt_$cmd" "$@" ;;
	*) declare -F "libvirt_$cmd" >/dev/null ||
	    { echo "libvirt_lab.sh: unknown command $cmd" >&2; exit 2; }
	   lv_lab; "libvirt_$cmd" "$@" ;;
	esac
fi
