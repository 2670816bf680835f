#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 6: the single-device group of the e1000e 0000:01:00.0 (group 5) claimed both ways a
# VMM gets its fds over D-Bus: (a) `assignctl claim --exec test-vmm fds`, which passes the
# container, group and device fds it opened through the lease; (b) the test VMM's own
# ClaimDevice + OpenContainer/OpenGroup/OpenDevice + Release. Each time the test VMM uses them
# on the real kernel: VFIO_DEVICE_GET_INFO, the config region's vendor/device ids against
# sysfs, a 2 MiB VFIO_IOMMU_MAP_DMA + UNMAP, EINVAL for the MSI window. Release puts the e1000e
# back, and the kernel's uevents show the round trip.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5

require_daemon
require_host_clean
on_exit restore_host

UEV=$TMP/uevents
start_uevent_monitor "$UEV"

# The test VMM's report: every check passed, and the ones that matter are there.
check_vmm() {
        local out=$1 how=$2 want
        if grep -q '^not ok' "$out"; then
                fail "$how: the test VMM failed: $(grep -m 3 '^not ok' "$out" | tr '\n' ' ')"
        fi
        for want in "^lease /org/vfioassign1/lease/[0-9]+ group=$GROUP uid=0 holder=:[0-9.]+ devices=$ADDR\$" \
                    "^ok group viable=yes container_set=yes" \
                    "^ok $ADDR driver=vfio-pci" \
                    "^ok $ADDR VFIO_DEVICE_GET_INFO flags=0x[0-9a-f]+ regions=[0-9]+ irqs=[0-9]+ reset=yes" \
                    "^ok $ADDR config vendor=0x8086 device=0x10d3 sysfs vendor=0x8086 device=0x10d3\$" \
                    "^ok container VFIO_IOMMU_MAP_DMA iova=0x40000000 size=0x200000\$" \
                    "^ok container VFIO_IOMMU_UNMAP_DMA iova=0x40000000 unmapped=0x200000\$" \
                    "^ok container VFIO_IOMMU_MAP_DMA into the MSI window iova=0xfee00000 refused: Invalid argument" \
                    "^summary: [0-9]+ ok, 0 not ok\$"; do
                grep -Eq "$want" "$out" || fail "$how: no line /$want/ from the test VMM"
        done
}

# --- (a) assignctl claim --exec: the fds arrive as VFIO_*_FD ----------------------------------
log "claim $ADDR --exec test-vmm fds"
rc=0
assignctl claim "$ADDR" --exec test-vmm fds > "$TMP/exec.out" 2> "$TMP/exec.err" || rc=$?
cat "$TMP/exec.out" "$TMP/exec.err" >&2
[[ $rc -eq 0 ]] || fail "assignctl claim --exec test-vmm fds exited $rc: $(tail -n 3 "$TMP/exec.err" | tr '\n' ' ')"
grep -q "^Claimed IOMMU group $GROUP (devices $ADDR) as lease [0-9]* " "$TMP/exec.err" ||
        fail "assignctl did not print its claim line on stderr"
grep -Eq "^info VFIO_LEASE=/org/vfioassign1/lease/[0-9]+ VFIO_CONTAINER_FD=[0-9]+ VFIO_GROUP_FD=[0-9]+ VFIO_DEVICE_FDS=$ADDR=[0-9]+\$" \
        "$TMP/exec.out" || fail "the command did not get VFIO_LEASE/VFIO_*_FD(S) as documented"
check_vmm "$TMP/exec.out" "claim --exec"
# The release happens before assignctl exits.
host_restored || fail "after claim --exec: not restored: $(host_state)"

# --- (b) the VMM's own ClaimDevice + Open* + Release ------------------------------------------
log "test-vmm claim $ADDR"
rc=0
test-vmm claim "$ADDR" > "$TMP/own.out" 2>&1 || rc=$?
cat "$TMP/own.out" >&2
[[ $rc -eq 0 ]] || fail "test-vmm claim exited $rc: $(grep -m 3 '^not ok' "$TMP/own.out" | tr '\n' ' ')"
for want in "^ok holder :[0-9.]+ is this connection" "^ok OpenContainer\$" "^ok OpenGroup\$" \
            "^ok OpenDevice $ADDR\$" "^ok Release /org/vfioassign1/lease/[0-9]+\$"; do
        grep -Eq "$want" "$TMP/own.out" || fail "test-vmm claim: no line /$want/"
done
check_vmm "$TMP/own.out" "own ClaimDevice"
wait_until 10 host_restored || fail "after the VMM's Release: not restored: $(host_state)"

# Two round trips through vfio-pci, as the kernel saw them: e1000e -> vfio-pci -> e1000e, twice.
ev=$(uevents_for "$UEV" "$ADDR")
log "uevents of $ADDR: $ev"
[[ $ev == "unbind bind unbind bind unbind bind unbind bind" ]] ||
        fail "the kernel's uevents for $ADDR were '$ev', expected two round trips (unbind bind x4)"
pass
