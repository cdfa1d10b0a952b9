#!/usr/bin/env bash
# deps.sh - install what tern needs to build, run and test, from Debian 12's
# packages only.  Cheap when everything is already there.
set -euo pipefail

PKGS=(
	# build
	gcc meson ninja-build pkg-config
	libjansson-dev libsqlite3-dev libmicrohttpd-dev libgnutls28-dev
	libcurl4-gnutls-dev libxxhash-dev libnbd-dev libzstd-dev nettle-dev libwslay-dev
	libcpg-dev libquorum-dev libvotequorum-dev libcmap-dev
	libcorosync-common-dev libsanlock-dev libsystemd-dev
	# the Debian package and its checks (tests/e2e/test_package.sh):
	# dpkg-buildpackage, dh, lintian, systemd-analyze/-sysusers/-tmpfiles
	dpkg-dev debhelper lintian systemd
	# the rest of debian/control's Build-Depends (PAM login, libvirt XML
	# import, man pages, completion)
	libpam0g-dev libxml2-dev scdoc bash-completion
	# switches: rtnetlink (VLAN-filtering bridges, port VLANs) and an
	# isolated switch's nftables entry (libnftables; the nft program only
	# in the tests, to look)
	libmnl-dev libnftables-dev nftables
	# run: the cluster engine, its witness and the lease manager
	corosync corosync-qnetd corosync-qdevice sanlock
	# run: UEFI firmware, a TPM per VM, network boot ROMs, cloud-init
	# seeds (genisoimage), and the YAML check of a seed's user-data
	ovmf swtpm ipxe-qemu genisoimage libyaml-dev
	# run (qemu-system-x86 and qemu-utils come from bookworm-backports, below)
	# test tooling: the lab, the guest, raw API calls
	iproute2 curl jq sqlite3 gnutls-bin iputils-ping python3
	busybox-static cpio gzip kmod
	# test_cdrom.sh: a bootable ISO of the test guest (grub-mkrescue,
	# BIOS and EFI), isoinfo (genisoimage) to read the cloud-init seed
	grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools
	# the man pages (scdoc; groff renders them in their test) and the
	# bash completion's directory (pkg-config) and its test
	scdoc groff-base bash-completion
	# virsh's test driver writes the libvirt import's fixtures and e2e XML
	libvirt-clients
	# the web console's browser test (driven by playwright-core from npm)
	chromium
	# real guests in the tests (tests/guest/build-iso.sh, build-debian.sh,
	# screen_match.py): the ISO, the Debian image, the screen comparison,
	# UEFI firmware, the TPM emulator and NoCloud seeds
	grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools
	debootstrap fdisk dosfstools e2fsprogs python3-pil
	ovmf swtpm swtpm-tools cloud-image-utils
	# the OpenAPI checks (tests/openapi/)
	python3-yaml python3-jsonschema
	# test_metrics.sh: a real Prometheus (and promtool) scraping ternd
	prometheus
	# time-boxed fuzzing in CI
	clang libclang-rt-14-dev
)

# QEMU drops to this user once it has opened what it needs (qemu-user =
# auto in ternd picks it up).
ensure_qemu_user() {
	getent passwd tern-qemu >/dev/null && return 0
	echo "deps: creating system user tern-qemu"
	${SUDO:-} useradd --system --no-create-home --home-dir /nonexistent \
	    --shell /usr/sbin/nologin tern-qemu
}

# QEMU 10 (and the guest agent of the same build) from the bookworm-backports
# suite of the Debian archive this machine already uses; a sources file of
# our own, added only when no source names that suite yet.  Everything else
# stays on bookworm.
BPO_PKGS=(qemu-system-x86 qemu-utils qemu-guest-agent)
BPO_FILE=/etc/apt/sources.list.d/tern-bookworm-backports.sources

# The archive URI that already serves bookworm: deb822 "URIs:" of a stanza
# whose Suites has bookworm, else a one-line "deb URI bookworm ..." entry.
archive_uri() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		uri=$(awk 'BEGIN{RS=""} /(^|\n)Suites:[^\n]*[[:space:]]bookworm([[:space:]]|$)/ {
		    if (match($0, /URIs:[[:space:]]*[^[:space:]]+/)) {
		        u = substr($0, RSTART, RLENGTH); sub(/URIs:[[:space:]]*/, "", u);
		        print u; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return 0; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return 0; }
	done
	return 1
}

ensure_backports() {
	if grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' \
	    /etc/apt/sources.list /etc/apt/sources.list.d/; then
		return 0
	fi
	local uri
	uri=$(archive_uri) || {
		echo "deps: no apt source serves bookworm; add one, then re-run" >&2
		return 1
	}
	echo "deps: enabling bookworm-backports from $uri ($BPO_FILE)"
	printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	    "$uri" | $SUDO tee "$BPO_FILE" >/dev/null
	BPO_NEW=1
}

# True when package $1 is installed from a version the backports suite
# carries (its version string has "~bpo").
bpo_installed() {
	dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null |
	    grep -q "ok installed .*~bpo"
}

# The web console (www/) and its browser test (tests/browser/): Node and
# npm (Debian's when there is no node; Vite and playwright-core want node
# 20 or newer), then each tree's locked packages, once.
ensure_npm_trees() {
	local repo d
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		echo "deps: installing nodejs npm"
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
		    --no-install-recommends nodejs npm >/dev/null
	fi
	for d in www tests/browser; do
		[ -d "$repo/$d/node_modules" ] && continue
		echo "deps: npm ci in $d"
		(cd "$repo/$d" && npm ci --no-audit --no-fund --loglevel=error)
	done
}

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
BPO_NEW=0
ensure_backports
bpo_missing=()
for p in "${BPO_PKGS[@]}"; do
	bpo_installed "$p" || bpo_missing+=("$p")
done
if [ ${#bpo_missing[@]} -gt 0 ]; then
	echo "deps: installing ${bpo_missing[*]} from bookworm-backports"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends \
	    -t bookworm-backports "${bpo_missing[@]}" >/dev/null
fi
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	ensure_qemu_user
	ensure_npm_trees
	exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package starts a Prometheus on every address where systemd runs;
# the tests start their own, in a lab namespace, on loopback.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
	$SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
ensure_qemu_user
ensure_npm_trees
echo "deps: done"
