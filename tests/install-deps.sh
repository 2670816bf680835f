#!/bin/bash
# Installs what building, the demo and every test level need on Debian 12 (run as root).
set -euo pipefail

packages=(
        build-essential autoconf automake libtool pkg-config
        libsystemd-dev libudev-dev libpci-dev libjson-c-dev check
        dbus dbus-daemon systemd python3-dbusmock polkitd pciutils pci.ids jq
        valgrind clang libclang-rt-14-dev acpica-tools
        qemu-system-x86 busybox-static cpio kmod xz-utils zstd debootstrap e2fsprogs
)

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
                echo "install-deps: these packages are missing and installing them needs root: ${missing[*]}" >&2
                exit 1
        fi
        echo "install-deps: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get -o DPkg::Lock::Timeout=900 update -qq
        apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
