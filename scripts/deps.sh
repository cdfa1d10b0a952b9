#!/usr/bin/env bash
# deps.sh - install what tern needs to build, run and test, from Debian 12's
# packages only.  Cheap when everything is already there.
set -euo pipefail

PKGS=(
	# build
	gcc meson ninja-build pkg-config
	libjansson-dev libsqlite3-dev libmicrohttpd-dev libgnutls28-dev
	libcurl4-gnutls-dev
	# run
	qemu-system-x86 qemu-utils
	# test tooling: the lab, the guest, raw API calls
	iproute2 curl jq sqlite3 gnutls-bin iputils-ping python3
	busybox-static qemu-guest-agent cpio gzip kmod
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

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	ensure_qemu_user
	exit 0
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
ensure_qemu_user
echo "deps: done"
