#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on off iommufd
#
# The harness itself: systemd reached "running", the emulated VT-d made the IOMMU groups of
# the recipe's layout, the unit's interrupt remapping matches the boot flavour, and the
# VFIO modules load. Needs no daemon.

. /usr/local/lib/vfio-vm/lib.sh

state=$(systemctl is-system-running)
[[ $state == running ]] ||
        fail "system is '$state'; failed units: $(systemctl --failed --no-legend --plain | tr '\n' ' ')"

[[ -d /sys/class/iommu/dmar0 ]] || fail "no /sys/class/iommu/dmar0: the emulated VT-d is not in use"
groups=(/sys/kernel/iommu_groups/*)
[[ ${#groups[@]} -ge 7 ]] || fail "expected at least 7 IOMMU groups, found ${#groups[@]}"

members() {
        local d out=()
        for d in /sys/kernel/iommu_groups/"$1"/devices/*; do
                out+=("$(basename "$d")")
        done
        echo "${out[*]}"
}
# vm-recipe.md's layout: 00:02.0 alone, 01:00.0 alone behind its root port, and the
# PCIe-to-PCI bridge with both conventional e1000 in one group (they share a requester ID).
g=$(basename "$(readlink /sys/bus/pci/devices/0000:00:02.0/iommu_group)")
[[ $(members "$g") == "0000:00:02.0" ]] || fail "00:02.0 is not alone in its group: $(members "$g")"
g=$(basename "$(readlink /sys/bus/pci/devices/0000:01:00.0/iommu_group)")
[[ $(members "$g") == "0000:01:00.0" ]] || fail "01:00.0 is not alone in its group: $(members "$g")"
g=$(basename "$(readlink /sys/bus/pci/devices/0000:03:02.0/iommu_group)")
[[ $g == 6 ]] || fail "03:02.0 is in group $g, expected 6"
[[ $(members 6) == "0000:02:00.0 0000:03:01.0 0000:03:02.0" ]] ||
        fail "group 6 is {$(members 6)}, expected {02:00.0 03:01.0 03:02.0}"

# ECAP bit 3 is Interrupt Remapping support (VT-d spec 11.4.3); QEMU's intremap= sets it.
ecap=$(cat /sys/class/iommu/dmar0/intel-iommu/ecap)
ir=$(( (0x$ecap >> 3) & 1 ))
log "ecap=$ecap ir=$ir flavour=$FLAVOUR intremap=$INTREMAP"
if [[ $INTREMAP == on ]]; then
        [[ $ir == 1 ]] || fail "intremap=on but ecap $ecap has no IR bit"
        dmesg | grep -q 'DMAR-IR: Enabled IRQ remapping' || fail "kernel did not enable IRQ remapping"
else
        [[ $ir == 0 ]] || fail "intremap=off but ecap $ecap has the IR bit"
        ! dmesg | grep -q 'DMAR-IR: Enabled IRQ remapping' || fail "IRQ remapping enabled on intremap=off"
fi

must modprobe vfio-pci
for m in vfio vfio_iommu_type1 vfio_pci; do
        [[ -d /sys/module/$m ]] || fail "module $m is not loaded"
done
[[ -c /dev/vfio/vfio ]] || fail "no /dev/vfio/vfio"
# Only the iommufd boot's kernel has iommufd and the VFIO device cdevs (vfio-pci makes one per
# bound device; the daemon finds it under vfio-dev/ in sysfs).
if [[ $FLAVOUR == iommufd ]]; then
        [[ -c /dev/iommu ]] || fail "the iommufd boot has no /dev/iommu"
        [[ -d /sys/class/vfio-dev ]] || fail "the iommufd boot has no /sys/class/vfio-dev (CONFIG_VFIO_DEVICE_CDEV)"
else
        [[ ! -e /dev/iommu ]] || fail "Debian's kernel $(uname -r) has /dev/iommu"
fi
note "kernel $(uname -r), iommufd: $([[ -c /dev/iommu ]] && echo yes || echo no), ecap $ecap"

# udev must be running for the hotplug scenarios: it loads the NIC drivers at coldplug. Nothing
# orders the scenarios after coldplug's probes (the package's unit starts the daemon before they
# are all done): wait for udev's queue, then for the driver.
e1000_bound() { [[ $(basename "$(readlink /sys/bus/pci/devices/0000:03:01.0/driver)") == e1000 ]]; }
udevadm settle --timeout=60 >/dev/null 2>&1 || true
wait_until 30 e1000_bound || fail "03:01.0 is not bound to e1000 after coldplug"
pass
