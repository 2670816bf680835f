#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Early prepare (issue 14): a persistent prepare of the e1000e 0000:01:00.0 survives a boot with
# the host driver never bound. The guest cannot reboot inside a scenario, so the boot is what
# the kernel and udev do at one: with the daemon stopped, the device is powered off
# (override cleared, vfio-pci unbound, /run's state.json gone, as after a reboot), removed, and
# e1000e unloaded (at boot the module is not loaded yet: udev's 80-drivers.rules loads it for the
# device's modalias; a driver already loaded would bind inside the kernel's device_add, before
# any uevent, which no rule can prevent). Then a rescan sends the device's "add": the shipped
# 70-vfio-assignd.rules asks vfio-assignd-early, which finds the card in the daemon's
# early-prepare.conf, sets driver_override to vfio-pci, and its --probe binds vfio-pci; e1000e's
# module is loaded and never probes the device. Proof: the kernel log has no line of e1000e for
# the device (its probe prints the MAC address), the device has no net/ directory, and the one
# driver uevent between the add and the daemon's start is vfio-pci's bind. The daemon started
# afterwards adopts the device as its persistent prepare (restore_probe in state.json: no host
# driver was recorded), GetHostReport says "prepared", and unprepare gives it to e1000e through
# drivers_probe.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
UNIT=vfio-assignd.service
SYS=/sys/bus/pci/devices/$ADDR
CONF=/var/lib/vfio-assignd/early-prepare.conf

require_daemon
require_host_clean
rule=
for d in /etc/udev/rules.d /run/udev/rules.d /usr/lib/udev/rules.d /lib/udev/rules.d; do
        [[ -e $d/70-vfio-assignd.rules ]] && { rule=$d/70-vfio-assignd.rules; break; }
done
[[ -n $rule ]] || fail "70-vfio-assignd.rules is not installed where udev reads rules"
[[ -x /usr/libexec/vfio-assignd-early ]] || fail "/usr/libexec/vfio-assignd-early is not installed"

# Whatever happens: the device back (rescan, e1000e loaded), the daemon running, nothing
# prepared, the host as the other scenarios expect it.
put_back() {
        [[ -e $SYS ]] || echo 1 > /sys/bus/pci/rescan
        modprobe e1000e
        udevadm settle
        systemctl start "$UNIT"
        wait_until 30 daemon_up
        [[ -n $(lease_of_group "$GROUP") ]] && assignctl unprepare "$ADDR" >&2
}
on_exit restore_host
on_exit put_back

must assignctl prepare "$ADDR" --persistent
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' after the persistent prepare"
grep -Eq "^$ADDR 8086 10d3 [0-9a-f]{4} [0-9a-f]{4} vfio-pci\$" "$CONF" ||
        fail "$CONF does not list $ADDR: $(grep -v '^#' "$CONF" 2>&1 | head -n 3 | tr '\n' ' ')"
note "$CONF: $(grep "^$ADDR" "$CONF")"

# Power off, with the daemon stopped (its lease stays in the state files).
systemctl stop "$UNIT" || fail "cannot stop $UNIT"
echo > "$SYS/driver_override"
echo "$ADDR" > /sys/bus/pci/drivers/vfio-pci/unbind
rm -f /run/vfio-assignd/state.json
echo 1 > "$SYS/remove"
wait_until 10 test ! -e "$SYS" || fail "$ADDR was not removed"
modprobe -r e1000e || fail "cannot unload e1000e: $(lsmod | grep -w e1000e)"
udevadm settle

# The boot's "add".
UEV=$TMP/uevents
udevadm monitor --kernel --property --subsystem-match=pci > "$UEV" 2>&1 &
BG_PIDS+=($!)
wait_until 10 grep -q 'KERNEL - the kernel uevent' "$UEV" || fail "udevadm monitor did not start"
kcursor=$(journalctl -k -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p')
echo 1 > /sys/bus/pci/rescan
wait_until 20 test -e "$SYS" || fail "the rescan did not bring $ADDR back"
udevadm settle --timeout=30
wait_until 20 bound_to "$ADDR" vfio-pci ||
        fail "after the add $ADDR is on '$(driver_of "$ADDR")' (override '$(override_of "$ADDR")'); the rule's helper says: $(/usr/libexec/vfio-assignd-early "$ADDR" "$(cat "$SYS/vendor")" "$(cat "$SYS/device")" "$(cat "$SYS/subsystem_vendor")" "$(cat "$SYS/subsystem_device")" 2>&1)"
[[ $(override_of "$ADDR") == vfio-pci ]] || fail "the override of $ADDR is '$(override_of "$ADDR")'"
lsmod | grep -qw e1000e || fail "udev did not load e1000e for the device's modalias: the boot was not like a boot"
uevent_sync "$UEV"
[[ ! -e $SYS/net ]] || fail "e1000e probed $ADDR: it has $(ls "$SYS/net")"
if journalctl -k -q --after-cursor="$kcursor" -o cat | grep -F "e1000e $ADDR"; then
        fail "e1000e probed $ADDR (kernel log above)"
fi
# Every driver uevent of the device since the add: vfio-pci's bind alone.
drivers=$(awk -v dev="/$ADDR" '
        /^KERNEL\[/ { action = $2; path = $3 }
        /^DRIVER=/ && path ~ dev "$" && action == "bind" { print substr($0, 8) }' "$UEV" | paste -sd' ' -)
[[ $drivers == vfio-pci ]] || fail "the driver binds of $ADDR since the add were '$drivers', not vfio-pci alone"
note "after the add: $ADDR on vfio-pci by the udev rule, e1000e loaded and never bound (binds: $drivers)"

# The daemon adopts it.
systemctl start "$UNIT" || fail "cannot start $UNIT"
wait_until 30 daemon_up || fail "the daemon did not come back"
lease=$(lease_of_group "$GROUP")
[[ -n $lease && $(jq -r '.[3]' <<<"$lease") == prepare ]] ||
        fail "no prepare of group $GROUP after the start: $(list_leases)"
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' after the daemon's start"
jq -e --arg a "$ADDR" '.leases[].devices[] | select(.address == $a) |
        .original_driver == null and .restore_probe == true' /run/vfio-assignd/state.json >/dev/null ||
        fail "state.json does not say the release probes: $(tr -d ' \n' < /run/vfio-assignd/state.json | cut -c1-300)"
state=$(host_report | jq -r --arg a "$ADDR" '.persistent[] | select(.address == $a) | .state')
[[ $state == prepared ]] || fail "GetHostReport says '$state' for the persistent prepare of $ADDR"

must assignctl unprepare "$ADDR"
ms=$(back_on "$ADDR" e1000e "$EPOCHREALTIME") || fail "after unprepare: $(host_state)"
! grep -q "^$ADDR " "$CONF" || fail "$CONF still lists $ADDR after unprepare"
note "unprepare gave $ADDR to e1000e through drivers_probe in $ms ms"
pass
