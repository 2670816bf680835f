#!/bin/bash
# Installs the Debian 12 packages that are missing for a set of jobs (run as root):
#
#   tests/install-deps.sh demo        building and tests/run-demo.sh
#   tests/install-deps.sh [all]       also every level of tests/run-tests.sh
set -euo pipefail

# Building: compiler, autotools, and the libraries configure.ac asks for. check is here
# although the demo runs no test: configure stops without it.
build=(
        build-essential autoconf automake pkg-config
        libsystemd-dev libudev-dev libpci-dev libjson-c-dev check libxml2-dev
)
# The demo: a private bus (dbus-daemon), busctl (in systemd), python3-dbusmock standing in for
# polkitd, pci.ids for device names, jq to read assignctl's JSON.
demo=(dbus-daemon systemd python3-dbusmock pci.ids jq)
# The rest of the test command: valgrind, clang with its libFuzzer runtime for the fuzz
# targets, pciutils for the benchmarks' lspci, debhelper (dpkg-dev, dh-autoreconf) and lintian
# for the Debian package (debian/control's Build-Depends are in the lists above), and the VM
# level's host tools (the list of HOST_PACKAGES in tests/vm/run.sh). dbus, libtool, polkitd and acpica-tools are kept from
# the first list although no script or build file uses them (the build has no libtool).
tests=(
        valgrind clang libclang-rt-14-dev pciutils debhelper lintian
        busybox-static cpio kmod xz-utils zstd debootstrap e2fsprogs
        dbus libtool polkitd acpica-tools
)

case ${1:-all} in
demo) packages=("${build[@]}" "${demo[@]}") ;;
all) packages=("${build[@]}" "${demo[@]}" "${tests[@]}") ;;
*)
        echo "usage: $0 [demo|all]" >&2
        exit 2
        ;;
esac

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
