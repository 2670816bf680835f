#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: iommufd
#
# iommufd leases on the kernel with /dev/iommu and VFIO device cdevs, used the way QEMU's
# iommufd backend uses them. (a) The test VMM's own ClaimDevice of the e1000e (group 5) with
# backend "iommufd": Backend says so, OpenIommufd and OpenCdev give fds, the cdev binds to the
# iommufd, an IOAS is allocated, the device attached, 2 MiB mapped and unmapped, the MSI window
# refused, and the config space read through the bound cdev matches sysfs. (b) `assignctl claim
# 6 --backend iommufd --exec test-vmm fds`: group 6's two e1000 get one iommufd and a cdev each
# (VFIO_IOMMUFD_FD, VFIO_CDEV_FDS, and VFIO_QEMU_ARGS with a -device per member and none for the
# bridge), both bind and attach to one IOAS. Each release gives the devices back to e1000e/e1000.
# On this kernel the group's PCIe-to-PCI bridge 02:00.0 is bound to shpchp (Debian's 6.1 leaves
# it driverless), a driver that does not declare driver_managed_dma, so the kernel would refuse
# VFIO the group: the daemon must refuse it first, naming shpchp; with the bridge unbound, as an
# administrator would, the group is claimable.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0

require_daemon
require_host_clean
on_exit restore_host
[[ -c /dev/iommu ]] || fail "no /dev/iommu on $(uname -r)"

# check_iommufd OUT HOW ADDR...: the test VMM's iommufd checks all passed for these devices.
check_iommufd() {
        local out=$1 how=$2 want a
        shift 2
        if grep -q '^not ok' "$out"; then
                fail "$how: the test VMM failed: $(grep -m 3 '^not ok' "$out" | tr '\n' ' ')"
        fi
        for want in "^ok iommufd IOMMU_IOAS_ALLOC ioas=[0-9]+\$" \
                    "^ok iommufd IOMMU_IOAS_MAP ioas=[0-9]+ iova=0x40000000 size=0x200000\$" \
                    "^ok iommufd IOMMU_IOAS_UNMAP iova=0x40000000 unmapped=0x200000\$" \
                    "^ok iommufd IOMMU_IOAS_MAP into the MSI window iova=0xfee00000 refused: " \
                    "^summary: [0-9]+ ok, 0 not ok\$"; do
                grep -Eq "$want" "$out" || fail "$how: no line /$want/ from the test VMM"
        done
        for a in "$@"; do
                for want in "^ok $a VFIO_DEVICE_BIND_IOMMUFD devid=[0-9]+\$" \
                            "^ok $a VFIO_DEVICE_ATTACH_IOMMUFD_PT ioas=[0-9]+ hwpt=[0-9]+\$" \
                            "^ok $a driver=vfio-pci" \
                            "^ok $a VFIO_DEVICE_GET_INFO flags=0x[0-9a-f]+ regions=[0-9]+ irqs=[0-9]+ reset=" \
                            "^ok $a config vendor=0x8086 device=0x[0-9a-f]{4} sysfs vendor=0x8086 device=0x[0-9a-f]{4}\$"; do
                        grep -Eq "$want" "$out" || fail "$how: no line /$want/ from the test VMM"
                done
        done
}

# --- (a) the VMM's own ClaimDevice with backend iommufd ---------------------------------------
log "test-vmm claim-iommufd $ADDR"
rc=0
test-vmm claim-iommufd "$ADDR" > "$TMP/own.out" 2>&1 || rc=$?
cat "$TMP/own.out" >&2
[[ $rc -eq 0 ]] || fail "test-vmm claim-iommufd exited $rc: $(grep -m 3 '^not ok' "$TMP/own.out" | tr '\n' ' ')"
for want in "^lease /org/vfioassign1/lease/[0-9]+ group=5 uid=0 holder=:[0-9.]+ devices=$ADDR\$" \
            "^ok Backend iommufd\$" "^ok OpenIommufd\$" "^ok OpenCdev $ADDR\$" \
            "^ok Release /org/vfioassign1/lease/[0-9]+\$"; do
        grep -Eq "$want" "$TMP/own.out" || fail "test-vmm claim-iommufd: no line /$want/"
done
grep -q "^ok $ADDR config vendor=0x8086 device=0x10d3 " "$TMP/own.out" ||
        fail "the config space read through the cdev is not the e1000e's"
# The PCIe e1000e has a function reset; the conventional e1000 of group 6 have none.
grep -Eq "^ok $ADDR VFIO_DEVICE_GET_INFO .* reset=yes" "$TMP/own.out" || fail "no reset for $ADDR through its cdev"
check_iommufd "$TMP/own.out" "own ClaimDevice" "$ADDR"
wait_until 10 host_restored || fail "after the VMM's Release: not restored: $(host_state)"
note "$(grep -m 1 'VFIO_DEVICE_BIND_IOMMUFD' "$TMP/own.out"); $(grep -m 1 'ATTACH_IOMMUFD_PT' "$TMP/own.out")"

# --- (b) group 6 through assignctl claim --backend iommufd --exec --------------------------------
BRIDGE=0000:02:00.0
[[ $(driver_of "$BRIDGE") == shpchp ]] || fail "the bridge $BRIDGE is on '$(driver_of "$BRIDGE")', not shpchp"
rc=0
assignctl --json=short claim 6 --backend iommufd --exec true > "$TMP/shpc.out" 2> "$TMP/shpc.err" || rc=$?
[[ $rc -ne 0 && $(error_name "$TMP/shpc.err") == org.vfioassign1.Error.GroupNotViable ]] ||
        fail "claim 6 with $BRIDGE on shpchp: exit $rc, error '$(error_name "$TMP/shpc.err")'"
[[ $(error_message "$TMP/shpc.err") == *"$BRIDGE is on shpchp"* ]] ||
        fail "the refusal does not name the bridge's driver: $(error_message "$TMP/shpc.err")"
host_restored || fail "a refused claim of group 6 changed the host: $(host_state)"
note "with the bridge on shpchp: $(error_message "$TMP/shpc.err")"
on_exit "echo $BRIDGE > /sys/bus/pci/drivers/shpchp/bind 2>/dev/null"
echo "$BRIDGE" > /sys/bus/pci/drivers/shpchp/unbind || fail "cannot unbind $BRIDGE from shpchp"

log "claim 6 --backend iommufd --exec test-vmm fds"
rc=0
assignctl claim 6 --backend iommufd --exec test-vmm fds > "$TMP/exec.out" 2> "$TMP/exec.err" || rc=$?
cat "$TMP/exec.out" "$TMP/exec.err" >&2
[[ $rc -eq 0 ]] || fail "assignctl claim 6 --backend iommufd --exec test-vmm fds exited $rc: $(tail -n 3 "$TMP/exec.err" | tr '\n' ' ')"
env_line=$(grep -E '^info VFIO_LEASE=/org/vfioassign1/lease/[0-9]+ VFIO_IOMMUFD_FD=[0-9]+ VFIO_CDEV_FDS=' "$TMP/exec.out") ||
        fail "the command did not get VFIO_LEASE/VFIO_IOMMUFD_FD/VFIO_CDEV_FDS as documented"
ifd=$(sed -n 's/.* VFIO_IOMMUFD_FD=\([0-9]*\) .*/\1/p' <<<"$env_line")
c1=$(sed -n 's/.*0000:03:01\.0=\([0-9]*\).*/\1/p' <<<"$env_line")
c2=$(sed -n 's/.*0000:03:02\.0=\([0-9]*\).*/\1/p' <<<"$env_line")
[[ -n $c1 && -n $c2 && $env_line != *0000:02:00.0* ]] ||
        fail "VFIO_CDEV_FDS should hold 03:01.0 and 03:02.0 and not the bridge: $env_line"
qemu_line=$(sed -n 's/^info VFIO_QEMU_ARGS=//p' "$TMP/exec.out")
want="-object iommufd,id=vfio-iommufd,fd=$ifd -device vfio-pci,iommufd=vfio-iommufd,fd=$c1,id=vfio0 -device vfio-pci,iommufd=vfio-iommufd,fd=$c2,id=vfio1"
[[ $qemu_line == "$want" ]] || fail "VFIO_QEMU_ARGS is '$qemu_line', expected '$want'"
check_iommufd "$TMP/exec.out" "claim 6 --exec" 0000:03:01.0 0000:03:02.0
[[ $(grep -Ec '^ok iommufd IOMMU_IOAS_ALLOC' "$TMP/exec.out") == 1 ]] || fail "more than one IOAS for one group"
host_restored || fail "after claim 6 --exec: not restored: $(host_state)"
note "VFIO_QEMU_ARGS for group 6: $qemu_line"
pass
