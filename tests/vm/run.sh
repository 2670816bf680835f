#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# tests/vm/run.sh: the real-kernel test level of vfio-assignd.
#
# Boots real kernels under QEMU TCG (q35 + emulated VT-d), each with a debootstrapped systemd
# guest that holds the project's Debian package (tests/build-deb.sh, installed with dpkg in the
# guest root as on a real host: its maintainer scripts make the user and enable the unit), runs
# the scenarios of
# tests/vm/scenarios/ inside the guest as a systemd unit and reads their PASS/FAIL lines back
# from the serial console. Three boots ("flavours"): Debian 12's kernel with interrupt
# remapping on and off (bookworm guest), and a 6.12 kernel built with iommufd and VFIO device
# cdevs (trixie guest, QEMU 10). See tests/vm/README.md.
#
# Usage: run.sh [--srcdir=DIR] [--builddir=DIR] [--interactive[=FLAVOUR]] [--prepare-only]
#        (knobs in the environment: VFIO_VM_SCENARIOS, VFIO_VM_FLAVOURS, ...; see README.md)
# Exit: 0 all passed, 1 a scenario failed or did not report, 77 cannot run here (not root).

set -euo pipefail
shopt -s nullglob

# Bump when the way the cached guest root is made changes (not its package list: that is
# hashed on its own), so that old caches are rebuilt instead of silently reused.
ROOTFS_VERSION=3
INITRAMFS_VERSION=2

# No qemu-system-x86: the emulator is the trixie guest root's (prepare_emulator).
HOST_PACKAGES=(busybox-static cpio kmod xz-utils zstd debootstrap e2fsprogs)
# The guest: systemd with a real system bus, udevd and polkit, the project's runtime
# libraries, and jq for the scenarios' JSON comparisons. libpam-systemd must be listed or
# polkitd fails to configure (vm-recipe.md). qemu-system-x86 is the unprivileged VMM of the
# qemu-grant scenario (about 150 MB installed, once in the cache), netcat-openbsd its QMP client;
# the trixie root's is also the emulator of every boot (prepare_emulator).
# iproute2: `ip -j -d link show`, the kernel's view of VF settings that vfnet-netdevsim compares
# with vfnet-check's (no other guest package pulls it in).
# libxml2: the libvirt hook's library (the package depends on it).
GUEST_PACKAGES=(systemd systemd-sysv dbus libpam-systemd polkitd udev kmod
                libsystemd0 libudev1 libpci3 libjson-c5 libxml2 pci.ids jq
                qemu-system-x86 netcat-openbsd iproute2)
# A suite's own additions: the clients of issue 15 on Debian 12's own versions, in the boot
# (flavour on) whose scenarios use them: libvirt 9.0 (libvirt-daemon-system: libvirtd, its socket
# units, the qemu driver; libvirt-clients: virsh) for the libvirt hook, podman 4.3.1 (crun,
# conmon; CDI spec version 0.5.0) for the CDI spec. netavark is named because debootstrap does
# not resolve virtual packages: golang-github-containers-common depends on
# container-network-stack, which it provides (the scenario runs with --network=none).
declare -A SUITE_PACKAGES=([bookworm]="libvirt-daemon-system libvirt-clients podman netavark"
                           [trixie]="")
# Unprivileged users of the scenarios: a polkit/policy subject and the VMM's own account.
GUEST_USERS=("alice 1000" "vmm 1001")
# What each boot runs: kernel (Debian's package or the custom build), guest suite, VT-d's
# interrupt remapping. Debian 12's kernels lack CONFIG_IOMMUFD and CONFIG_VFIO_DEVICE_CDEV, and
# bookworm's QEMU 7.2 cannot take a cdev fd (that needs 8.2): the iommufd boot has both newer.
declare -A FLAVOUR_KERNEL=([on]=debian [off]=debian [iommufd]=custom [sriov]=debian)
declare -A FLAVOUR_SUITE=([on]=bookworm [off]=bookworm [iommufd]=trixie [sriov]=bookworm)
declare -A FLAVOUR_INTREMAP=([on]=on [off]=off [iommufd]=on [sriov]=on)
# Devices a flavour adds to the layout. The sriov boot's NVMe controller with SR-IOV
# (../shared/kernel-facts.md, "SR-IOV in the test VM": QEMU's rules for the VF resources) sits
# behind a root port at 00:05.0, which takes a group number on bus 0 and so shifts every group
# after it: only that boot has it, and its scenarios find their devices by what they are.
declare -A FLAVOUR_DEVICES=([sriov]="-device nvme-subsys,id=subsys0
        -device pcie-root-port,id=rp9,chassis=9,addr=05.0
        -device nvme,bus=rp9,serial=deadbeef,subsys=subsys0,sriov_max_vfs=4,sriov_vq_flexible=8,sriov_vi_flexible=4,max_ioqpairs=10,msix_qsize=5")
# Loaded by the initramfs to reach the root disk: q35's built-in ICH9 AHCI (00:1f.2) carries
# the disk, so no extra PCI function shifts the IOMMU group numbers of the recipe's layout.
INITRAMFS_MODULES=(ahci sd_mod ext4 crc32c_generic)

die() { echo "vm: error: $*" >&2; exit 1; }
skip() { echo "vm: SKIP: $*" >&2; exit 77; }
info() { echo "vm: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$script_dir/../.." && pwd)
builddir=$PWD
interactive=
prepare_only=

for arg in "$@"; do
        case $arg in
        --srcdir=*) srcdir=$(cd "${arg#*=}" && pwd) ;;
        --builddir=*) builddir=$(cd "${arg#*=}" && pwd) ;;
        --interactive) interactive=on ;;
        --interactive=*) interactive=${arg#*=} ;;
        --prepare-only) prepare_only=1 ;;
        -h|--help) sed -n '3,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "vm: unknown argument: $arg" >&2; exit 2 ;;
        esac
done

CACHE=${VFIO_VM_CACHE:-/var/cache/vfio-assignd-vm}
FLAVOURS=${VFIO_VM_FLAVOURS:-on off iommufd sriov}
SCENARIO_FILTER=${VFIO_VM_SCENARIOS:-}
# A whole boot's bound: the on boot's 21 scenarios took 300 s of guest time under load in a
# clean-clone run (libvirt-hook and cdi-podman, 80 s of it, made 240 s too few).
BOOT_TIMEOUT=${VFIO_VM_TIMEOUT:-480}
SCENARIO_TIMEOUT=${VFIO_VM_SCENARIO_TIMEOUT:-120}
BENCH_ROUNDS=${VFIO_VM_BENCH_ROUNDS:-10}
VM_MEM=${VFIO_VM_MEM:-2G}
VM_SMP=${VFIO_VM_SMP:-2}
# 2 MiB hugepages the guest kernel reserves at boot (hugepages=), for the memory scenarios'
# hugetlb regions: 300 are 600 MiB of the guest's 2 GiB, enough for a 512 MiB region, and leave
# the rest room for a 512 MiB QEMU of 4 KiB pages beside a filled shmem region.
VM_HUGEPAGES=${VFIO_VM_HUGEPAGES:-300}
# The guest RAM of the memory-qemu scenario's QEMUs (MiB); more needs a larger VFIO_VM_MEM and
# VFIO_VM_HUGEPAGES (bench/bench-memory.sh --guest-mb=N sizes all three).
MEMORY_MB=${VFIO_VM_MEMORY_MB:-512}
vmdir=$builddir/tests/vm
workdir=$vmdir/work
logdir=$vmdir/logs
t_start=$(now)

for f in $FLAVOURS; do
        [[ -n ${FLAVOUR_KERNEL[$f]:-} ]] ||
                die "VFIO_VM_FLAVOURS: unknown flavour '$f' (on, off, iommufd, sriov)"
done
[[ $BOOT_TIMEOUT =~ ^[0-9]+$ && $SCENARIO_TIMEOUT =~ ^[0-9]+$ ]] ||
        die "VFIO_VM_TIMEOUT and VFIO_VM_SCENARIO_TIMEOUT must be whole seconds"
[[ $BENCH_ROUNDS =~ ^[1-9][0-9]{0,3}$ ]] || die "VFIO_VM_BENCH_ROUNDS must be 1 to 9999"
[[ $VM_HUGEPAGES =~ ^[0-9]{1,5}$ ]] || die "VFIO_VM_HUGEPAGES must be a count of 2 MiB pages"
[[ $MEMORY_MB =~ ^[1-9][0-9]{1,4}$ ]] && (( MEMORY_MB % 2 == 0 )) ||
        die "VFIO_VM_MEMORY_MB must be an even number of MiB"
[[ $SCENARIO_FILTER =~ ^[a-z0-9,\ -]*$ ]] || die "VFIO_VM_SCENARIOS: names are [a-z0-9-]"

# debootstrap chroots and the guest's files must be owned by root inside the image.
[[ $(id -u) -eq 0 ]] || skip "the VM level needs root (debootstrap, root-owned guest files)"

# --------------------------------------------------------------------------------------------
# Host tools

ensure_host_tools() {
        local missing=() p
        for p in "${HOST_PACKAGES[@]}"; do
                dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' ||
                        missing+=("$p")
        done
        [[ ${#missing[@]} -eq 0 ]] && return 0
        info "installing host packages: ${missing[*]}"
        # Another apt may hold the lock for a while (unattended upgrades, a parallel job).
        if ! apt-get -o DPkg::Lock::Timeout=900 install -y "${missing[@]}" >&2; then
                apt-get -o DPkg::Lock::Timeout=900 update >&2 || true
                apt-get -o DPkg::Lock::Timeout=900 install -y "${missing[@]}" >&2 ||
                        die "cannot install host packages: ${missing[*]}"
        fi
}

# --------------------------------------------------------------------------------------------
# Cache: one lock for everything that builds into it, so parallel runs share one build.

lock_cache() {
        mkdir -p "$CACHE"
        exec 9>"$CACHE/.lock"
        if ! flock -n 9; then
                info "waiting for another run that holds $CACHE/.lock"
                flock 9
        fi
}

unlock_cache() { flock -u 9; }

apt_mirror() {
        if [[ -n ${VFIO_VM_MIRROR:-} ]]; then
                echo "$VFIO_VM_MIRROR"
                return
        fi
        local m
        # The first Debian archive of this machine's sources (deb822 or one-line format).
        m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
        [[ -n $m ]] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }')
        echo "${m:-http://deb.debian.org/debian}"
}

# --------------------------------------------------------------------------------------------
# Kernel: the Debian package unpacked into the cache (nothing goes to /boot), depmod'ed.

debian_kernel_package() {
        local pkg=${VFIO_VM_KERNEL_PKG:-}
        if [[ -z $pkg ]]; then
                pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
                      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
        fi
        if [[ -z $pkg ]]; then
                apt-get -o DPkg::Lock::Timeout=900 update >&2 || true
                pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
                      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
        fi
        echo "$pkg"
}

prepare_debian_kernel() {
        local pkg ver kdir tmp deb kver
        pkg=$(debian_kernel_package)
        if [[ -z $pkg ]]; then
                # Offline with no package lists: reuse whatever kernel the cache holds.
                local cached=("$CACHE"/kernel/linux-image-*/)
                [[ ${#cached[@]} -gt 0 ]] || die "cannot resolve linux-image-amd64 and no cached kernel"
                kdir=${cached[-1]}
                KDIR=${kdir%/}
                return
        fi
        ver=$(apt-cache policy "$pkg" | awk '$1 == "Candidate:" { print $2 }')
        kdir=$CACHE/kernel/${pkg}_${ver:-unknown}
        if [[ ! -e $kdir/.done ]]; then
                info "fetching kernel $pkg $ver"
                tmp=$kdir.tmp
                rm -rf "$tmp"
                mkdir -p "$tmp/deb"
                # -o APT::Sandbox::User=root: _apt could not write into a root-only cache.
                (cd "$tmp/deb" && apt-get -o APT::Sandbox::User=root download "$pkg" >&2) ||
                        die "apt-get download $pkg failed"
                deb=$(ls "$tmp"/deb/*.deb)
                dpkg -x "$deb" "$tmp/root"
                rm -rf "$tmp/deb"
                kver=$(ls "$tmp/root/lib/modules")
                depmod -b "$tmp/root" "$kver"
                touch "$tmp/.done"
                local old
                for old in "$CACHE"/kernel/linux-image-*; do
                        [[ $old == "$tmp" ]] || rm -rf "$old"
                done
                mv "$tmp" "$kdir"
        fi
        KDIR=$kdir
}

# prepare_kernel debian|custom: sets KERNEL_KIND, KDIR, KVER, VMLINUZ.
prepare_kernel() {
        KERNEL_KIND=$1
        if [[ $KERNEL_KIND == custom ]]; then
                KDIR=$("$script_dir/build-kernel.sh" --cache="$CACHE")
                [[ -e $KDIR/.done ]] || die "custom kernel build did not finish"
        else
                prepare_debian_kernel
        fi
        local mods=("$KDIR"/root/lib/modules/*)
        [[ ${#mods[@]} -eq 1 ]] || die "expected one module tree in $KDIR/root/lib/modules"
        KVER=$(basename "${mods[0]}")
        VMLINUZ=$KDIR/root/boot/vmlinuz-$KVER
        [[ -r $VMLINUZ ]] || die "no kernel image $VMLINUZ"
        info "kernel $KVER ($KERNEL_KIND) from $KDIR"
}

# --------------------------------------------------------------------------------------------
# Initramfs: static busybox + the modules that reach the root disk; mounts it, switch_root.

prepare_initramfs() {
        local key stage m line path list=()
        key=$( { echo "v$INITRAMFS_VERSION $KDIR $KVER ${INITRAMFS_MODULES[*]}";
                 cat "$script_dir/initramfs-init"; dpkg-query -W busybox-static; } | sha256sum | cut -c1-16)
        INITRD=$CACHE/initramfs/$KERNEL_KIND-$key.cpio.gz
        [[ -e $INITRD ]] && return 0
        info "building initramfs $key"
        stage=$(mktemp -d "$CACHE/initramfs-stage.XXXXXX")
        mkdir -p "$stage"/{bin,dev,proc,sys,newroot,lib/modules}
        cp /bin/busybox "$stage/bin/busybox"
        cp "$script_dir/initramfs-init" "$stage/init"
        chmod 755 "$stage/init"
        # The kernel opens /dev/console of the initramfs for init's stdio.
        mknod -m 600 "$stage/dev/console" c 5 1
        # Dependency order as kmod resolves it; built-ins need nothing.
        for m in "${INITRAMFS_MODULES[@]}"; do
                while read -r line; do
                        case $line in
                        insmod\ *) path=${line#insmod }; path=${path%% *}
                                   [[ " ${list[*]-} " == *" $path "* ]] || list+=("$path") ;;
                        esac
                done < <(modprobe -d "$KDIR/root" -S "$KVER" --show-depends "$m" 2>/dev/null || true)
        done
        : > "$stage/modules"
        for path in "${list[@]}"; do
                m=$(basename "$path")
                case $m in
                *.ko.xz) xz -dc "$path" > "$stage/lib/modules/${m%.xz}"; m=${m%.xz} ;;
                *.ko.zst) zstd -qdc "$path" > "$stage/lib/modules/${m%.zst}"; m=${m%.zst} ;;
                *.ko.gz) gzip -dc "$path" > "$stage/lib/modules/${m%.gz}"; m=${m%.gz} ;;
                *) cp "$path" "$stage/lib/modules/$m" ;;
                esac
                echo "$m" >> "$stage/modules"
        done
        mkdir -p "$CACHE/initramfs"
        # One per kernel kind: the files of older inputs go (and unprefixed ones, from before
        # there were two kinds).
        local old
        for old in "$CACHE"/initramfs/*.cpio.gz; do
                case ${old##*/} in
                "$KERNEL_KIND"-*) rm -f "$old" ;;
                debian-*|custom-*) ;;
                *) rm -f "$old" ;;
                esac
        done
        (cd "$stage" && find . -print0 | sort -z | cpio --null -o -H newc --quiet) |
                gzip -1 > "$INITRD.tmp"
        mv "$INITRD.tmp" "$INITRD"
        rm -rf "$stage"
}

# --------------------------------------------------------------------------------------------
# Guest root: debootstrap, cached by a hash of its inputs.

# guest_packages SUITE: the packages its guest root is made with, one per line.
guest_packages() {
        printf '%s\n' "${GUEST_PACKAGES[@]}" ${SUITE_PACKAGES[$1]:-}
}

rootfs_key() {
        { printf '%s\n' "v$ROOTFS_VERSION" "$1"; guest_packages "$1"; } | sha256sum | cut -c1-16
}

# prepare_rootfs SUITE: sets ROOTFS.
prepare_rootfs() {
        local suite=$1 key dir tmp mirror
        key=$(rootfs_key "$suite")
        dir=$CACHE/rootfs/$key
        ROOTFS=$dir/root
        [[ -e $dir/.done ]] && return 0
        mirror=$(apt_mirror)
        info "building guest root $key (debootstrap $suite from $mirror, one to two minutes)"
        tmp=$dir.tmp
        rm -rf "$tmp"
        mkdir -p "$tmp"
        local pkgs
        pkgs=$(guest_packages "$suite" | paste -sd,)
        if ! debootstrap --variant=minbase --include="$pkgs" "$suite" "$tmp/root" \
                        "$mirror" > "$tmp/debootstrap.log" 2>&1; then
                tail -n 30 "$tmp/debootstrap.log" >&2
                die "debootstrap failed (log: $tmp/debootstrap.log)"
        fi
        # Nothing in the guest reads documentation or the apt lists; a smaller image is
        # written and booted faster.
        rm -rf "$tmp"/root/usr/share/{doc,man,info,locale}/* "$tmp"/root/var/cache/apt/*.bin \
               "$tmp"/root/var/lib/apt/lists/* "$tmp"/root/var/cache/apt/archives/*.deb
        # Every boot starts from the same image: a fixed machine-id keeps it from being a
        # "first boot" (systemd-firstboot would prompt on the console).
        [[ -s $tmp/root/etc/machine-id ]] ||
                echo 5f1dcae0c1f94f6b9a6e0c5bd2b84a1e > "$tmp/root/etc/machine-id"
        cp "$tmp/debootstrap.log" "$tmp/root/var/log/vfio-vm-debootstrap.log"
        touch "$tmp/.done"
        # One guest root per suite is enough: drop the ones older inputs made.
        local old keep=" " f
        for f in "${!FLAVOUR_SUITE[@]}"; do
                keep+="$(rootfs_key "${FLAVOUR_SUITE[$f]}") "
        done
        for old in "$CACHE"/rootfs/*; do
                [[ $old == "$tmp" || $keep == *" ${old##*/} "* ]] || rm -rf "$old"
        done
        rm -rf "$dir"    # an unfinished one (no .done)
        mv "$tmp" "$dir"
}

# --------------------------------------------------------------------------------------------
# The project: its Debian package, built from a clean copy of the tree under the build tree. The
# package is rebuilt whenever any file of the tree differs from the last build's (build-deb.sh
# --reuse compares a hash over all of them); nocheck: the test command runs `make check` itself.

build_project() {
        info "building the Debian package for the guest"
        GUEST_DEB=$(DEB_BUILD_OPTIONS=nocheck "$srcdir/tests/build-deb.sh" --reuse "$vmdir/deb") ||
                die "the Debian package did not build (log: $vmdir/deb/build.log)"
}

# The test VMM of the claim scenarios: plain gcc against libsystemd, built on the host (the
# guest is the same Debian release) and copied in. Rebuilt when its source or headers change.
build_test_vmm() {
        local out=$vmdir/test-vmm src=$script_dir/test-vmm.c
        mkdir -p "$vmdir"
        if [[ -x $out && $out -nt $src && $out -nt $srcdir/common/macro.h &&
              $out -nt $srcdir/common/names.h && $out -nt $srcdir/common/iommufd-uapi.h ]]; then
                TEST_VMM=$out
                return 0
        fi
        info "building the test VMM"
        # shellcheck disable=SC2046 # pkg-config prints several words on purpose
        gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -I"$srcdir/common" -o "$out.tmp" "$src" \
                $(pkg-config --cflags --libs libsystemd) >&2 || die "cannot build $src"
        mv "$out.tmp" "$out"
        TEST_VMM=$out
}

# vfnet-check (the vfnet-netdevsim scenario): daemon/vfnet.c and what it links, built the same
# way with the project's warnings; rebuilt when one of its sources changes.
build_vfnet_check() {
        local out=$vmdir/vfnet-check f stale=
        local srcs=("$script_dir/vfnet-check.c" "$srcdir/daemon/vfnet.c" "$srcdir/daemon/sysfs.c"
                    "$srcdir/daemon/worker.c" "$srcdir/common/util.c" "$srcdir/common/bdf.c")
        mkdir -p "$vmdir"
        for f in "${srcs[@]}" "$srcdir"/daemon/{vfnet,vfnet-internal,nlmsg,sysfs,worker}.h \
                 "$srcdir"/common/{macro,util,bdf,names}.h; do
                [[ -x $out && $out -nt $f ]] || stale=1
        done
        if [[ -z $stale ]]; then
                VFNET_CHECK=$out
                return 0
        fi
        info "building vfnet-check"
        gcc -std=gnu11 -O2 -g -Wall -Wextra -Wno-unused-parameter -Werror -D_GNU_SOURCE \
                -I"$srcdir/common" -I"$srcdir/daemon" -o "$out.tmp" "${srcs[@]}" -pthread >&2 ||
                die "cannot build vfnet-check"
        mv "$out.tmp" "$out"
        VFNET_CHECK=$out
}

# --------------------------------------------------------------------------------------------
# Per-run root: a copy of the cached root + kernel modules + the package + harness files.

scenario_name() {
        local n
        n=$(basename "$1" .sh)
        echo "${n#[0-9][0-9]-}"
}

scenario_flavours() {
        sed -n '/^# vm-flavours: */{s///p;q}' "$1"
}

# "# vm-opt-in: yes" (benchmarks): runs only when VFIO_VM_SCENARIOS names it.
scenario_opt_in() {
        grep -q '^# vm-opt-in: yes' "$1"
}

# Prints the scenario names that flavour $1 runs, in order, filtered by VFIO_VM_SCENARIOS.
expected_scenarios() {
        local f name
        for f in "$script_dir"/scenarios/[0-9][0-9]-*.sh; do
                name=$(scenario_name "$f")
                [[ " $(scenario_flavours "$f") " == *" $1 "* ]] || continue
                if [[ -n $SCENARIO_FILTER ]]; then
                        [[ ",${SCENARIO_FILTER// /,}," == *",$name,"* ]] || continue
                elif scenario_opt_in "$f"; then
                        continue
                fi
                echo "$name"
        done
}

# Users with fixed uids, written straight into the copy's account files (no chroot): their
# names and ids are what the polkit rules and policy files of the scenarios name.
add_guest_users() {
        local root=$1 entry name id
        for entry in "${GUEST_USERS[@]}"; do
                read -r name id <<< "$entry"
                grep -q "^$name:" "$root/etc/passwd" && continue
                echo "$name:x:$id:$id::/home/$name:/bin/bash" >> "$root/etc/passwd"
                echo "$name:x:$id:" >> "$root/etc/group"
                # "*": no password can log in; runuser and setpriv as root need none.
                echo "$name:*:19000:0:99999:7:::" >> "$root/etc/shadow"
                echo "$name:*::" >> "$root/etc/gshadow"
                install -d -m 750 -o "$id" -g "$id" "$root/home/$name"
        done
}

# install_package ROOT: dpkg -i of the package inside the guest root, as apt would on the guest
# (its own dpkg and maintainer scripts: systemd-sysusers makes the user, deb-systemd-helper enables
# the unit; nothing starts, no systemd runs there). /proc is mounted while they run (trixie's
# systemd tools warn without it) and unmounted before anything deletes the root (cleanup).
install_package() {
        local root=$1 log=$vmdir/dpkg-install.log rc=0
        install -m 644 "$GUEST_DEB" "$root/tmp/vfio-assignd.deb"
        mount -t proc proc "$root/proc"
        chroot "$root" dpkg -i /tmp/vfio-assignd.deb > "$log" 2>&1 || rc=$?
        unmount_guest_proc
        rm -f "$root/tmp/vfio-assignd.deb"
        if [[ $rc -ne 0 ]]; then
                tail -n 30 "$log" >&2
                die "dpkg -i of ${GUEST_DEB##*/} in the guest root failed (log: $log)"
        fi
        # The package scenario purges it and installs it again, live.
        install -D -m 644 "$GUEST_DEB" "$root/usr/local/lib/vfio-vm/vfio-assignd.deb"
}

unmount_guest_proc() {
        if mountpoint -q "$workdir/root/proc"; then umount "$workdir/root/proc"; fi
}

# make_image IMAGE: the guest root of ROOTFS with KDIR's modules and the project, as a disk.
make_image() {
        local image=$1 root=$workdir/root lib=usr/local/lib/vfio-vm u
        unmount_guest_proc
        rm -rf "$root"
        mkdir -p "$workdir"
        cp -a "$ROOTFS" "$root"
        mkdir -p "$root/lib/modules"
        cp -a "$KDIR/root/lib/modules/$KVER" "$root/lib/modules/"
        if [[ -n $GUEST_DEB ]]; then
                install_package "$root"
        fi
        # Harness files: the runner, its unit, the scenarios.
        mkdir -p "$root/$lib/scenarios"
        install -m 755 "$script_dir/guest/run-scenarios" "$root/$lib/run-scenarios"
        install -m 644 "$script_dir/guest/lib.sh" "$root/$lib/lib.sh"
        for u in "$script_dir"/scenarios/[0-9][0-9]-*.sh; do
                install -m 755 "$u" "$root/$lib/scenarios/"
        done
        if [[ -n ${TEST_VMM:-} ]]; then
                install -D -m 755 "$TEST_VMM" "$root/usr/local/bin/test-vmm"
        fi
        if [[ -n ${VFNET_CHECK:-} ]]; then
                install -D -m 755 "$VFNET_CHECK" "$root/usr/local/bin/vfnet-check"
        fi
        add_guest_users "$root"
        install -m 644 "$script_dir/guest/vfio-vm-scenarios.service" "$root/etc/systemd/system/"
        install -D -m 644 "$script_dir/guest/journald.conf" \
                "$root/etc/systemd/journald.conf.d/vfio-vm.conf"
        echo vfio-vm > "$root/etc/hostname"
        mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
        ln -sf ../vfio-vm-scenarios.service \
                "$root/etc/systemd/system/multi-user.target.wants/vfio-vm-scenarios.service"
        # Keep the console for the results and boot fast: no gettys, no periodic jobs.
        rm -f "$root"/etc/systemd/system/timers.target.wants/* \
              "$root"/etc/systemd/system/getty.target.wants/*
        for u in serial-getty@ttyS0.service getty@tty1.service systemd-firstboot.service \
                 e2scrub_reap.service; do
                ln -sf /dev/null "$root/etc/systemd/system/$u"
        done
        if [[ -n $interactive ]]; then
                # Debugging: a root shell on the serial console instead of the scenarios.
                rm -f "$root/etc/systemd/system/serial-getty@ttyS0.service"
                install -D -m 644 "$script_dir/guest/autologin.conf" \
                        "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
                rm -f "$root/etc/systemd/system/multi-user.target.wants/vfio-vm-scenarios.service"
        fi
        mke2fs -q -t ext4 -L vfio-vm-root -d "$root" -F "$image" 2G
        rm -rf "$root"
}

# --------------------------------------------------------------------------------------------
# Boot. Every QEMU runs under `timeout` in its own process group, killed on any exit.

QEMU_PGID=
kill_qemu() {
        if [[ -n $QEMU_PGID ]] && kill -0 -- "-$QEMU_PGID" 2>/dev/null; then
                kill -TERM -- "-$QEMU_PGID" 2>/dev/null || true
                for _ in 1 2 3 4 5 6 7 8 9 10; do
                        kill -0 -- "-$QEMU_PGID" 2>/dev/null || break
                        sleep 0.2
                done
                kill -KILL -- "-$QEMU_PGID" 2>/dev/null || true
        fi
        QEMU_PGID=
}

cleanup() {
        local rc=$?
        kill_qemu
        unmount_guest_proc
        if [[ -z ${VFIO_VM_KEEP:-} && -z $prepare_only ]]; then
                rm -rf "$workdir"
        fi
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The "[...]" after each result: the interrupt remapping of the Debian kernel's boots of the
# recipe's layout, as before there were more, and every other boot by its name.
flavour_tag() {
        if [[ ${FLAVOUR_KERNEL[$1]} == debian && -z ${FLAVOUR_DEVICES[$1]:-} ]]; then
                echo "intremap=${FLAVOUR_INTREMAP[$1]}"
        else
                echo "$1"
        fi
}

# The image, kernel and initramfs a flavour boots (set up by prepare_flavour).
declare -A F_IMAGE F_VMLINUZ F_INITRD

# prepare_flavour FLAVOUR: its kernel, initramfs and guest root (cached), and its disk image
# (one per kernel and suite, shared by the flavours that boot the same).
prepare_flavour() {
        local f=$1 t image
        lock_cache
        t=$(now); prepare_kernel "${FLAVOUR_KERNEL[$f]}"; info "[$f] kernel ready ($(elapsed "$t") s)"
        t=$(now); prepare_initramfs; info "[$f] initramfs ready ($(elapsed "$t") s)"
        t=$(now); prepare_rootfs "${FLAVOUR_SUITE[$f]}"
        info "[$f] guest root ${FLAVOUR_SUITE[$f]} ready ($(elapsed "$t") s)"
        unlock_cache
        image=$workdir/$KERNEL_KIND-${FLAVOUR_SUITE[$f]}.img
        if [[ " ${F_IMAGE[*]-} " != *" $image "* ]]; then
                t=$(now); make_image "$image"; info "[$f] image ready ($(elapsed "$t") s)"
        fi
        F_IMAGE[$f]=$image
        F_VMLINUZ[$f]=$VMLINUZ
        F_INITRD[$f]=$INITRD
}

# The emulator every boot runs under: Debian 13's QEMU 10.0, the one the trixie guest root
# carries for the iommufd boot's VMM scenarios, started by that root's own dynamic loader with
# that root's libraries and firmware (no chroot: kernels, images and logs keep their paths).
# Bookworm's QEMU 7.2 under multi-threaded TCG now and then died mid-run, SIGSEGV in
# memory_region_dispatch_write() with no memory region, or SIGABRT; under QEMU 10.0 the boots
# also run faster (tests/vm/README.md, "The emulator").
prepare_emulator() {
        local root
        lock_cache
        prepare_rootfs trixie
        unlock_cache
        root=$ROOTFS
        EMULATOR=(env "QEMU_MODULE_DIR=$root/usr/lib/x86_64-linux-gnu/qemu"
                "$root/usr/lib64/ld-linux-x86-64.so.2" --argv0 qemu-system-x86_64
                --library-path "$root/usr/lib/x86_64-linux-gnu"
                "$root/usr/bin/qemu-system-x86_64"
                -L "$root/usr/share/qemu" -L "$root/usr/share/seabios")
        local version
        version=$("${EMULATOR[@]}" --version | head -n 1) ||
                die "the emulator of the trixie guest root ($root) does not run"
        info "emulator: $version (trixie guest root $root)"
}

qemu_args() {
        local flavour=$1
        # shellcheck disable=SC2054 # commas belong to QEMU's option syntax
        QEMU_ARGS=(-accel tcg,thread=multi -cpu max -machine q35 -m "$VM_MEM" -smp "$VM_SMP"
                -nodefaults -display none -no-reboot
                -device "intel-iommu,intremap=${FLAVOUR_INTREMAP[$flavour]},caching-mode=on"
                # Group 1: e1000e alone on the root bus.
                -device e1000e,addr=02.0
                # Group 5: e1000e alone behind a root port (QEMU's root ports have ACS).
                -device pcie-root-port,id=rp1,chassis=1,addr=03.0 -device e1000e,bus=rp1
                # Group 6: PCIe-to-PCI bridge + two conventional e1000 behind it.
                -device pcie-root-port,id=rp2,chassis=2,addr=04.0
                -device pcie-pci-bridge,id=br1,bus=rp2
                -device e1000,bus=br1,addr=01.0 -device e1000,bus=br1,addr=02.0
                # The root disk on q35's own AHCI (00:1f.2, group 4); snapshot=on: the
                # image is never written, so every flavour boots the same bytes.
                -drive "file=${F_IMAGE[$flavour]},if=none,id=root,format=raw,snapshot=on"
                -device ide-hd,drive=root,bus=ide.0
                -kernel "${F_VMLINUZ[$flavour]}" -initrd "${F_INITRD[$flavour]}")
        # shellcheck disable=SC2206 # the flavour's devices are words by design
        QEMU_ARGS+=(${FLAVOUR_DEVICES[$flavour]:-})
        local scen
        scen=$(expected_scenarios "$flavour" | paste -sd, -)
        QEMU_APPEND="console=ttyS0 intel_iommu=on loglevel=4 panic=-1 vfio_vm.root=/dev/sda"
        QEMU_APPEND+=" hugepagesz=2M hugepages=$VM_HUGEPAGES"
        QEMU_APPEND+=" vfio_vm.flavour=$flavour vfio_vm.intremap=${FLAVOUR_INTREMAP[$flavour]}"
        QEMU_APPEND+=" vfio_vm.timeout=$SCENARIO_TIMEOUT"
        QEMU_APPEND+=" vfio_vm.scenarios=${scen:-none} vfio_vm.bench_rounds=$BENCH_ROUNDS"
        QEMU_APPEND+=" vfio_vm.memory_mb=$MEMORY_MB"
}

boot() {
        local flavour=$1 log=$2
        qemu_args "$flavour"
        : > "$log"
        # setsid: qemu and timeout get a process group of their own that cleanup can kill.
        setsid timeout -k 10 "$BOOT_TIMEOUT" "${EMULATOR[@]}" "${QEMU_ARGS[@]}" \
                -append "$QEMU_APPEND" -chardev "file,id=con,path=$log" -serial chardev:con \
                < /dev/null > "$log.qemu" 2>&1 &
        QEMU_PGID=$!
        local rc=0
        wait "$QEMU_PGID" || rc=$?
        QEMU_PGID=
        return "$rc"
}

boot_interactive() {
        local flavour=$1
        qemu_args "$flavour"
        info "interactive boot ($flavour): root shell on this terminal; 'poweroff' or Ctrl-a x ends"
        QEMU_PGID=
        # --foreground keeps the terminal; still bounded (an hour unless told otherwise).
        timeout --foreground -k 10 "${VFIO_VM_INTERACTIVE_TIMEOUT:-3600}" \
                "${EMULATOR[@]}" "${QEMU_ARGS[@]}" -append "$QEMU_APPEND" -serial mon:stdio
}

# The emulator's early boot crash (kernel-facts.md, "TCG flake to know about"): under TCG with
# -smp 2 a guest kernel now and then dies with "Oops: int3" (in enqueue_timer or
# sched_clock_cpu) in its first seconds, before systemd, let alone a scenario, runs. Only that
# signature, with no marked line from the guest yet, earns a second boot; anything else, and
# any failure after the guest booted, counts as it is.
early_boot_crash() {
        local log=$1 at
        grep -q "$MARK" "$log" && return 1
        at=$(tr -d '\r' < "$log" |
             sed -n 's/^\[ *\([0-9]*\)\.[0-9]*\] Oops: int3.*/\1/p' | head -n 1)
        [[ -n $at && $at -lt 10 ]]
}

# --------------------------------------------------------------------------------------------
# Results

MARK='@@vfio-vm@@'
passed=0
failed=0
failed_logs=()

# How QEMU ended, for a guest that did not finish: its exit code, and what it means when it
# is timeout's 124 or a signal's 128 + N (the emulator, not the guest: prepare_emulator).
qemu_exit() {
        local rc=$1
        if [[ $rc == 124 ]]; then
                echo "qemu exit 124, timed out after ${BOOT_TIMEOUT}s"
        elif ((rc > 128 && rc < 160)); then
                echo "qemu exit $rc, killed by SIG$(kill -l $((rc - 128)))"
        else
                echo "qemu exit $rc"
        fi
}

collect() {
        local flavour=$1 log=$2 qrc=$3 name line seen=() status=ok tag
        tag=$(flavour_tag "$flavour")
        local clean=$log.results
        tr -d '\r' < "$log" | sed -n "s/.*$MARK //p" > "$clean" || true
        while read -r line; do
                case $line in
                PASS:\ *|FAIL:\ *)
                        name=${line#*: }; name=${name%%:*}
                        seen+=("$name")
                        echo "$line [$tag]"
                        if [[ $line == PASS:* ]]; then
                                passed=$((passed + 1))
                        else
                                failed=$((failed + 1)); status=fail
                        fi ;;
                BOOTED\ *) info "[$flavour] guest ${line#BOOTED }" ;;
                TIME\ *) info "[$flavour] ${line#TIME }" ;;
                INFO\ *) info "[$flavour] ${line#INFO }" ;;
                esac
        done < "$clean"
        while read -r name; do
                [[ -n $name ]] || continue
                if [[ " ${seen[*]-} " != *" $name "* ]]; then
                        echo "FAIL: $name: did not report ($(qemu_exit "$qrc")) [$tag]"
                        failed=$((failed + 1)); status=fail
                fi
        done < <(expected_scenarios "$flavour")
        if ! grep -q "^END" "$clean"; then
                info "[$flavour] the guest did not finish ($(qemu_exit "$qrc"))"
                # What the emulator said (an assertion, say) and the console's last words:
                # CI keeps only this output, not the logs.
                tail -n 20 "$log.qemu" 2>/dev/null | sed "s/^/vm: [$flavour] qemu| /" >&2 || true
                tr -d '\r' < "$log" | grep -v "$MARK" | tail -n 15 |
                        sed -e 's/\x1b\[[0-9;]*m//g' -e "s/^/vm: [$flavour] console| /" >&2 || true
                status=fail
        fi
        if [[ $status != ok ]]; then
                grep '^LOG ' "$clean" | sed "s/^LOG /vm: [$flavour] /" | tail -n 200 >&2 || true
                failed_logs+=("$log")
        fi
}

# --------------------------------------------------------------------------------------------

main() {
        ensure_host_tools
        local t flavour log qrc scen boots=()
        if [[ -n $interactive ]]; then
                [[ -n ${FLAVOUR_KERNEL[$interactive]:-} ]] ||
                        die "--interactive: unknown flavour '$interactive' (on, off, iommufd, sriov)"
                boots=("$interactive")
        else
                # A flavour with nothing to run (VFIO_VM_SCENARIOS) is not even prepared.
                for flavour in $FLAVOURS; do
                        [[ -z $(expected_scenarios "$flavour") ]] || boots+=("$flavour")
                done
        fi
        GUEST_DEB=
        if [[ -n ${VFIO_VM_NO_PROJECT:-} ]]; then
                info "VFIO_VM_NO_PROJECT set: the guest gets no vfio-assignd (harness check only)"
        else
                t=$(now); build_project; build_test_vmm; build_vfnet_check; info "project built ($(elapsed "$t") s)"
        fi
        rm -rf "$workdir"
        t=$(now); prepare_emulator; info "emulator ready ($(elapsed "$t") s)"
        for flavour in "${boots[@]}"; do
                prepare_flavour "$flavour"
        done
        if [[ -n $prepare_only ]]; then
                for flavour in "${boots[@]}"; do
                        info "prepared [$flavour]: ${F_IMAGE[$flavour]}"
                done
                return 0
        fi
        if [[ -n $interactive ]]; then
                boot_interactive "$interactive"
                return 0
        fi
        mkdir -p "$logdir"
        for flavour in "${boots[@]}"; do
                scen=$(expected_scenarios "$flavour" | paste -sd' ' -)
                log=$logdir/console-$flavour.log
                info "[$flavour] booting (scenarios: $scen)"
                t=$(now)
                qrc=0
                boot "$flavour" "$log" || qrc=$?
                if early_boot_crash "$log"; then
                        mv "$log" "$log.early-crash"
                        info "[$flavour] the emulator's early boot crash (Oops: int3 before the" \
                             "guest ran anything, kept in $log.early-crash): booting once more"
                        qrc=0
                        boot "$flavour" "$log" || qrc=$?
                fi
                info "[$flavour] guest ran $(elapsed "$t") s"
                collect "$flavour" "$log" "$qrc"
        done
        echo "$passed passed, $failed failed"
        info "total $(elapsed "$t_start") s"
        if [[ ${#failed_logs[@]} -gt 0 ]]; then
                for log in "${failed_logs[@]}"; do
                        info "full console log kept: $log"
                done
                return 1
        fi
        [[ $failed -eq 0 ]]
}

main
