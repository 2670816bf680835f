#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/vm/build-kernel.sh: builds the kernel of the VM level's iommufd boot (VFIO_VM_FLAVOURS=iommufd) from
# Debian's linux-source-6.12 with tests/vm/custom-kernel.config merged over x86_64_defconfig
# (CONFIG_IOMMUFD=y, CONFIG_VFIO_DEVICE_CDEV=y). Cached by a hash of its inputs;
# 12 to 19 minutes on 2 cores, once.
#
# Usage: build-kernel.sh [--cache=DIR] [--jobs=N]
# Prints the kernel directory (DIR/kernel/custom-HASH, holding root/boot/vmlinuz-VER and
# root/lib/modules/VER) on stdout; progress goes to stderr, the build log into the cache.

set -euo pipefail
shopt -s nullglob

# Bump when the build steps change.
BUILD_VERSION=1
SOURCE_PACKAGE=linux-source-6.12
BUILD_PACKAGES=(build-essential bc bison flex libelf-dev libssl-dev cpio kmod xz-utils)

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${VFIO_VM_CACHE:-/var/cache/vfio-assignd-vm}
jobs=$(nproc)
for arg in "$@"; do
        case $arg in
        --cache=*) CACHE=${arg#*=} ;;
        --jobs=*) jobs=${arg#*=} ;;
        *) echo "build-kernel: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
[[ $jobs =~ ^[0-9]+$ && $jobs -ge 1 ]] || { echo "build-kernel: bad --jobs" >&2; exit 2; }

info() { echo "build-kernel: $*" >&2; }
die() { echo "build-kernel: error: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root (apt-get for the build dependencies)"

missing=()
for p in "${BUILD_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
        info "installing build dependencies: ${missing[*]}"
        apt-get -o DPkg::Lock::Timeout=900 install -y "${missing[@]}" >&2 ||
                die "cannot install ${missing[*]}"
fi

src_ver=$(apt-cache policy "$SOURCE_PACKAGE" 2>/dev/null | awk '$1 == "Candidate:" { print $2 }')
[[ -n $src_ver && $src_ver != "(none)" ]] || die "apt knows no $SOURCE_PACKAGE (apt-get update?)"
key=$( { echo "v$BUILD_VERSION $SOURCE_PACKAGE $src_ver"; cat "$script_dir/custom-kernel.config"; } |
       sha256sum | cut -c1-16)
out=$CACHE/kernel/custom-$key
if [[ -e $out/.done ]]; then
        echo "$out"
        exit 0
fi

mkdir -p "$CACHE/kernel"
exec 8>"$CACHE/.kernel-build.lock"
flock -n 8 || { info "waiting for another kernel build"; flock 8; }
if [[ -e $out/.done ]]; then
        echo "$out"
        exit 0
fi

work=$CACHE/kernel-src/$key
log=$work/build.log
mkdir -p "$work"
info "building $SOURCE_PACKAGE $src_ver (log: $log)"
if [[ ! -e $work/.unpacked ]]; then
        rm -rf "$work/deb" "$work/pkg" "$work/linux"
        mkdir -p "$work/deb"
        (cd "$work/deb" && apt-get -o APT::Sandbox::User=root download "$SOURCE_PACKAGE" >&2) ||
                die "apt-get download $SOURCE_PACKAGE failed"
        dpkg -x "$work"/deb/*.deb "$work/pkg"
        tarball=("$work"/pkg/usr/src/linux-source-*.tar.*)
        [[ ${#tarball[@]} -eq 1 ]] || die "no source tarball in $SOURCE_PACKAGE"
        mkdir -p "$work/linux"
        tar -xf "${tarball[0]}" -C "$work/linux" --strip-components=1
        rm -rf "$work/deb" "$work/pkg"
        touch "$work/.unpacked"
fi

cd "$work/linux"
{
        make x86_64_defconfig
        # merge_config.sh warns about every value defconfig overrides; the check below is
        # what counts.
        scripts/kconfig/merge_config.sh -m .config "$script_dir/custom-kernel.config"
        make olddefconfig
} > "$log" 2>&1 || die "configuring failed (log: $log)"

# Every option asked for must have survived olddefconfig (a missing dependency drops it).
while IFS= read -r line; do
        case $line in
        CONFIG_*=n) grep -qx "# ${line%=n} is not set" .config || die "${line%=n} is still set" ;;
        CONFIG_*=*) grep -qxF "$line" .config || die "$line did not survive olddefconfig" ;;
        esac
done < "$script_dir/custom-kernel.config"

t0=$(date +%s)
make -j"$jobs" bzImage modules >> "$log" 2>&1 || { tail -n 30 "$log" >&2; die "build failed (log: $log)"; }
kver=$(make -s kernelrelease)
tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp/root/boot"
make INSTALL_MOD_PATH="$tmp/root" INSTALL_MOD_STRIP=1 modules_install >> "$log" 2>&1 ||
        die "modules_install failed (log: $log)"
rm -f "$tmp/root/lib/modules/$kver/build" "$tmp/root/lib/modules/$kver/source"
cp arch/x86/boot/bzImage "$tmp/root/boot/vmlinuz-$kver"
cp .config "$tmp/root/boot/config-$kver"
depmod -b "$tmp/root" "$kver"
info "built $kver in $(( $(date +%s) - t0 )) s"
cp "$log" "$tmp/build.log"
touch "$tmp/.done"
rm -rf "$out"
mv "$tmp" "$out"
# One custom kernel is enough: drop what older inputs built.
for old in "$CACHE"/kernel/custom-*; do
        [[ $old == "$out" ]] || rm -rf "$old"
done
# The object tree is ~2 GB; keep it only when asked (faster rebuilds after config edits).
[[ -n ${VFIO_VM_KEEP_KERNEL_SRC:-} ]] || rm -rf "$work"
echo "$out"
