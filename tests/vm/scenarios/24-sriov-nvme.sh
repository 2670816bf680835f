#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: sriov
#
# SR-IOV on the real kernel (vfio-assignd(8), "SR-IOV"): QEMU's NVMe controller with 4 VFs
# (the sriov boot's layout) on Debian's nvme driver. `assignctl sriov PF 2 --vfio` creates two
# VFs that never meet the nvme driver (sriov_drivers_autoprobe is off while they appear, their
# overrides name vfio-pci before it is back on), each in an IOMMU group of its own, each
# prepared; autoprobe is back on after. The count cannot change while a VF is prepared
# (Busy, nothing written). One VF, unprepared, is claimed by `assignctl claim --exec test-vmm
# fds` (vfio-pci shows the VF's ids in its config space) and released; then the PF goes back to
# 0 VFs: no VF left, the PF still on nvme, no change left recorded in sriov.json.

. /usr/local/lib/vfio-vm/lib.sh

require_daemon

PF=
for d in /sys/bus/pci/devices/*; do
        [[ -e $d/sriov_totalvfs && $(cat "$d/class") == 0x010802 ]] && PF=${d##*/}
done
[[ -n $PF ]] || fail "the sriov boot has no NVMe PF"
[[ $(driver_of "$PF") == nvme ]] || fail "$PF is on '$(driver_of "$PF")', not nvme"
[[ $(cat "/sys/bus/pci/devices/$PF/sriov_totalvfs") == 4 ]] || fail "$PF: sriov_totalvfs is not 4"
pf_group=$(basename "$(readlink "/sys/bus/pci/devices/$PF/iommu_group")")

UEV=$TMP/uevents
start_uevent_monitor "$UEV"

out=$(assignctl sriov "$PF") || fail "assignctl sriov $PF exited $?"
[[ $out == "$PF (nvme): 0 of 4 VFs" ]] || fail "assignctl sriov $PF said: $out"

t0=$EPOCHREALTIME
out=$(assignctl sriov "$PF" 2 --vfio) || fail "assignctl sriov $PF 2 --vfio exited $?: $out"
note "SetNumVfs 2 --vfio took $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s"
log "$out"
mapfile -t VFS < <(for i in 0 1; do basename "$(readlink "/sys/bus/pci/devices/$PF/virtfn$i")"; done)
[[ ${#VFS[@]} == 2 && -n ${VFS[0]} && -n ${VFS[1]} ]] || fail "no virtfn0/virtfn1 links on $PF"
[[ $(cat "/sys/bus/pci/devices/$PF/sriov_numvfs") == 2 ]] || fail "sriov_numvfs is not 2"
[[ $(cat "/sys/bus/pci/devices/$PF/sriov_drivers_autoprobe") == 1 ]] ||
        fail "sriov_drivers_autoprobe was not put back to 1"
groups=()
for vf in "${VFS[@]}"; do
        [[ $(driver_of "$vf") == vfio-pci ]] || fail "VF $vf is on '$(driver_of "$vf")', not vfio-pci"
        [[ $(override_of "$vf") == vfio-pci ]] || fail "VF $vf: driver_override is '$(override_of "$vf")'"
        g=$(basename "$(readlink "/sys/bus/pci/devices/$vf/iommu_group")")
        [[ $g != "$pf_group" ]] || fail "VF $vf shares the PF's group $g"
        [[ $(ls "/sys/kernel/iommu_groups/$g/devices") == "$vf" ]] || fail "VF $vf is not alone in group $g"
        groups+=("$g")
        # (The daemon's view of the driver follows the bind's uevent: sysfs above is the proof.)
        grep -q "^  $vf  group $g " <<<"$out" || fail "assignctl did not list $vf in group $g"
        [[ $(lease_of_group "$g" | jq -r '.[3]') == prepare ]] || fail "group $g of VF $vf is not prepared"
done
uevent_sync "$UEV"
# The kernel's word: each VF was added and bound once, to vfio-pci (a probe by nvme first would
# show as "add bind unbind bind").
for vf in "${VFS[@]}"; do
        ev=$(uevents_for "$UEV" "$vf")
        log "uevents of VF $vf: $ev"
        [[ ${ev//change /} == "add bind" ]] ||
                fail "the kernel's uevents for VF $vf were '$ev', expected 'add bind' (and changes)"
done
note "VFs ${VFS[*]} in groups ${groups[*]}, PF $PF in group $pf_group"

# While a VF is prepared the count stays.
rc=0
assignctl sriov "$PF" 0 2> "$TMP/busy.err" || rc=$?
[[ $rc == 1 ]] || fail "assignctl sriov $PF 0 with prepared VFs exited $rc"
grep -q "Busy: VF ${VFS[0]} of $PF is in lease" "$TMP/busy.err" || fail "no Busy naming VF ${VFS[0]}: $(cat "$TMP/busy.err")"
[[ $(cat "/sys/bus/pci/devices/$PF/sriov_numvfs") == 2 ]] || fail "the refused call changed sriov_numvfs"

# One VF for a VMM: unprepared (it had no host driver: left unbound), claimed, used, released.
assignctl unprepare "${VFS[0]}" >&2 || fail "assignctl unprepare ${VFS[0]} failed"
[[ -z $(driver_of "${VFS[0]}") && -z $(override_of "${VFS[0]}") ]] ||
        fail "unprepared VF ${VFS[0]}: driver '$(driver_of "${VFS[0]}")', override '$(override_of "${VFS[0]}")'"
rc=0
assignctl claim "${VFS[0]}" --exec test-vmm fds > "$TMP/vmm.out" 2> "$TMP/vmm.err" || rc=$?
cat "$TMP/vmm.out" "$TMP/vmm.err" >&2
[[ $rc == 0 ]] || fail "assignctl claim ${VFS[0]} --exec test-vmm fds exited $rc"
grep -Eq "^ok ${VFS[0]} config vendor=0x1b36 device=0x0010 sysfs vendor=0x1b36 device=0x0010\$" "$TMP/vmm.out" ||
        fail "the test VMM did not read the VF's ids through its device fd"
grep -q '^summary: [0-9]* ok, 0 not ok$' "$TMP/vmm.out" || fail "the test VMM failed a check"
[[ -z $(driver_of "${VFS[0]}") ]] || fail "released VF ${VFS[0]} is on $(driver_of "${VFS[0]}")"

assignctl unprepare "${VFS[1]}" >&2 || fail "assignctl unprepare ${VFS[1]} failed"
out=$(assignctl sriov "$PF" 0) || fail "assignctl sriov $PF 0 exited $?: $out"
[[ $out == "$PF (nvme): 0 of 4 VFs" ]] || fail "after sriov 0: $out"
for vf in "${VFS[@]}"; do
        [[ ! -e /sys/bus/pci/devices/$vf ]] || fail "VF $vf is still there"
done
[[ $(driver_of "$PF") == nvme ]] || fail "$PF is on '$(driver_of "$PF")' after the VFs went"
[[ ! -e /run/vfio-assignd/sriov.json ]] || fail "a change is still recorded: $(cat /run/vfio-assignd/sriov.json)"
no_leases || fail "leases left: $(list_leases)"
pass
