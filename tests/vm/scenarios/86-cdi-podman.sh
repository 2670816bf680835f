#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# A container given a group through CDI. Prepare the e1000e's single-device group 5: the daemon
# lists it in /run/cdi/vfio-assignd.json as vfio-assignd.org/group=5 and
# vfio-assignd.org/group=0000_01_00.0. `podman run --device vfio-assignd.org/group=5` of an
# image built here from the guest's own files (test-vmm and the libraries ldd names, `podman
# import` of a tarball, no registry) runs the test VMM in the container: it opens /dev/vfio/vfio
# and /dev/vfio/5 itself (no bus in there), sets the IOMMU, takes the device from the group and
# reads its config space (8086:10d3, as sysfs says). The same by the address's name. Then the
# group is unprepared: the spec is gone and the same `podman run` fails, saying the device is
# unresolvable, and the e1000e is back.
#
# Needs in the guest (SUITE_PACKAGES in tests/vm/run.sh): podman (Debian 12: 4.3.1, with its CDI library 0.5.x; it pulls in conmon,
# crun and golang-github-containers-common). Podman's storage is the scenario's own (--root,
# --runroot under $TMP, removed at exit) with the vfs driver: no overlay module or
# fuse-overlayfs; --network=none: no netavark, CNI or slirp4netns.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
NAME=${ADDR//:/_}
SPEC=/run/cdi/vfio-assignd.json
IMAGE=localhost/vfio-assignd-test-vmm:latest

require_daemon
require_host_clean
on_exit restore_host
command -v podman >/dev/null || fail "podman is not installed in the guest"
[[ -x /usr/local/bin/test-vmm ]] || fail "/usr/local/bin/test-vmm is not installed in the guest"

STORE=$TMP/containers
podman_() {
        podman --root "$STORE/root" --runroot "$STORE/run" --storage-driver vfs "$@"
}
on_exit "podman --root '$STORE/root' --runroot '$STORE/run' --storage-driver vfs rmi -af >/dev/null 2>&1; rm -rf '$STORE'"

# --- the image: test-vmm and what the dynamic linker loads for it ------------------------------
ROOTFS=$TMP/image
mkdir -p "$ROOTFS"/{dev,proc,sys,tmp,etc}
cp --parents /usr/local/bin/test-vmm "$ROOTFS"
libs=$(ldd /usr/local/bin/test-vmm | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
[[ -n $libs ]] || fail "ldd named no libraries for test-vmm (a static build needs none; this is not one)"
for lib in $libs; do
        cp -L --parents "$lib" "$ROOTFS" || fail "cannot copy $lib into the image"
done
log "image files: $(cd "$ROOTFS" && find . -type f | sort | tr '\n' ' ')"
tar -C "$ROOTFS" -cf "$TMP/image.tar" . || fail "cannot make the image's tarball"
out=$(podman_ import "$TMP/image.tar" "$IMAGE" 2>&1) || fail "podman import failed: $out"
note "podman $(podman --version | awk '{ print $3 }'), image $IMAGE from $(wc -w <<<"$libs") libraries"

# run_vmm NAME OUT: the test VMM in a container given the CDI device NAME; its exit code.
# memlock: the 2 MiB DMA map of test-vmm's container check is charged to it, and the container's
# root has no CAP_IPC_LOCK.
run_vmm() {
        local rc=0
        podman_ run --rm --network=none --ulimit memlock=67108864:67108864 --device "$1" "$IMAGE" \
                /usr/local/bin/test-vmm open-group "$GROUP" "$ADDR" > "$2" 2>&1 || rc=$?
        cat "$2" >&2
        return "$rc"
}

check_vmm() {
        local out=$1 how=$2 want
        grep -q '^not ok' "$out" && fail "$how: the test VMM failed: $(grep -m 3 '^not ok' "$out" | tr '\n' ' ')"
        for want in "^ok open /dev/vfio/vfio\$" "^ok open /dev/vfio/$GROUP\$" \
                    "^ok group VFIO_GROUP_SET_CONTAINER\$" "^ok container VFIO_SET_IOMMU\\(TYPE1v2\\)\$" \
                    "^ok VFIO_GROUP_GET_DEVICE_FD $ADDR\$" \
                    "^ok group viable=yes container_set=yes" \
                    "^ok $ADDR config vendor=0x8086 device=0x10d3 sysfs vendor=0x8086 device=0x10d3\$" \
                    "^summary: [0-9]+ ok, 0 not ok\$"; do
                grep -Eq "$want" "$out" || fail "$how: no line /$want/ from the test VMM"
        done
}

# --- prepared: in the spec, and a container opens the group ------------------------------------
out=$(assignctl prepare "$ADDR" 2>&1) || fail "assignctl prepare $ADDR failed: $out"
log "$out"
grep -qx "CDI vfio-assignd.org/group=$GROUP vfio-assignd.org/group=$NAME" <<<"$out" ||
        fail "assignctl prepare does not show the CDI names: $out"
[[ -f $SPEC ]] || fail "no $SPEC after the prepare"
log "$SPEC: $(jq -c . "$SPEC")"
[[ $(jq -r '.cdiVersion + " " + .kind' "$SPEC") == "0.5.0 vfio-assignd.org/group" ]] ||
        fail "$SPEC: $(jq -c '{cdiVersion, kind}' "$SPEC")"
[[ $(jq -c '[.devices[].name]' "$SPEC") == "[\"$GROUP\",\"$NAME\"]" ]] ||
        fail "$SPEC lists $(jq -c '[.devices[].name]' "$SPEC")"
[[ $(jq -c --arg n "$GROUP" '[.devices[] | select(.name == $n) | .containerEdits.deviceNodes[].path]' "$SPEC") == \
   "[\"/dev/vfio/vfio\",\"/dev/vfio/$GROUP\"]" ]] || fail "$SPEC: the nodes of group $GROUP are wrong"
[[ $(stat -c %a "$SPEC") == 644 && $(stat -c %a /run/cdi) == 755 ]] ||
        fail "$SPEC is $(stat -c %a "$SPEC") in a $(stat -c %a /run/cdi) directory"

run_vmm "vfio-assignd.org/group=$GROUP" "$TMP/group.out" ||
        fail "podman run --device vfio-assignd.org/group=$GROUP exited $?: $(grep -m 3 -e '^not ok' -e '^Error' "$TMP/group.out" | tr '\n' ' ')"
check_vmm "$TMP/group.out" "by the group's name"
run_vmm "vfio-assignd.org/group=$NAME" "$TMP/address.out" ||
        fail "podman run --device vfio-assignd.org/group=$NAME exited $?: $(grep -m 3 -e '^not ok' -e '^Error' "$TMP/address.out" | tr '\n' ' ')"
check_vmm "$TMP/address.out" "by the device's name"
bound_to "$ADDR" vfio-pci || fail "after the containers: $ADDR is on $(driver_of "$ADDR")"

# --- given back: gone from the spec, and the same run fails saying so ---------------------------
must assignctl unprepare "$ADDR"
wait_until 10 host_restored || fail "after the unprepare: $(host_state)"
[[ ! -e $SPEC ]] || fail "$SPEC is still there with no group prepared: $(jq -c . "$SPEC")"
rc=0
run_vmm "vfio-assignd.org/group=$GROUP" "$TMP/after.out" || rc=$?
[[ $rc -ne 0 ]] || fail "podman run --device vfio-assignd.org/group=$GROUP worked after the release"
grep -q "unresolvable CDI devices vfio-assignd.org/group=$GROUP" "$TMP/after.out" ||
        fail "podman run after the release: $(tr '\n' ' ' < "$TMP/after.out" | cut -c1-300)"
grep -q '^ok ' "$TMP/after.out" && fail "the test VMM ran after the release"
note "after the release: $(grep -m 1 'unresolvable' "$TMP/after.out")"
pass
