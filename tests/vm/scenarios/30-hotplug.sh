#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 3: hotplug through the real kernel and udevd. Removing 03:02.0 through sysfs and
# rescanning the bus makes the daemon emit InterfacesRemoved, then InterfacesAdded, for the
# device object (seen by `busctl monitor`), and group 6 lists the device again.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:03:02.0
DEV_PATH=$(device_path "$ADDR")
GROUP=6

require_daemon
[[ -e /sys/bus/pci/devices/$ADDR ]] || fail "$ADDR is not present before the test"

members() {
        prop "$(group_path $GROUP)" "$GROUP_IFACE" Devices
}
has_member() { members | jq -e --arg a "$ADDR" 'index([$a]) != null' >/dev/null; }
lacks_member() { members | jq -e --arg a "$ADDR" 'index([$a]) == null' >/dev/null; }

has_member || fail "group $GROUP does not list $ADDR before the test: $(members)"
sender=$(daemon_unique_name) || fail "cannot resolve the daemon's unique name"

MON=$TMP/monitor.json
start_monitor "$MON" \
        "type='signal',path='$ROOT_PATH',interface='org.freedesktop.DBus.ObjectManager'"

# One ObjectManager signal for our device from the daemon: prints its member names in order.
om_events() {
        jq -r -c --arg s "$sender" --arg p "$DEV_PATH" '
                select(.sender == $s and .interface == "org.freedesktop.DBus.ObjectManager"
                       and .payload.data[0] == $p) | .member' "$MON" 2>/dev/null | paste -sd' ' -
}
seen() { [[ " $(om_events) " == *" $1 "* ]]; }

restore() {
        [[ -e /sys/bus/pci/devices/$ADDR ]] && return 0
        log "restoring $ADDR with a rescan"
        echo 1 > /sys/bus/pci/rescan
}
on_exit restore

log "removing $ADDR"
echo 1 > "/sys/bus/pci/devices/$ADDR/remove" || fail "cannot write $ADDR/remove"
wait_until 10 test ! -e "/sys/bus/pci/devices/$ADDR" || fail "$ADDR did not go away"
wait_until 10 seen InterfacesRemoved ||
        fail "no InterfacesRemoved for $DEV_PATH within 10 s (saw: $(om_events))"
wait_until 10 lacks_member || fail "group $GROUP still lists $ADDR after removal: $(members)"
busctl --system introspect "$BUS" "$DEV_PATH" "$DEVICE_IFACE" >/dev/null 2>&1 &&
        fail "the Device object of $ADDR still exists after removal"

log "rescanning"
echo 1 > /sys/bus/pci/rescan || fail "cannot write /sys/bus/pci/rescan"
wait_until 10 test -e "/sys/bus/pci/devices/$ADDR" || fail "$ADDR did not come back on rescan"
wait_until 10 seen InterfacesAdded ||
        fail "no InterfacesAdded for $DEV_PATH within 10 s (saw: $(om_events))"
[[ $(om_events) == "InterfacesRemoved InterfacesAdded" ]] ||
        fail "ObjectManager signals for $ADDR were '$(om_events)', expected removed then added"
jq -e -c --arg s "$sender" --arg p "$DEV_PATH" '
        select(.sender == $s and .member == "InterfacesAdded" and .payload.data[0] == $p) |
        .payload.data[1] | has("org.vfioassign1.Device")' "$MON" >/dev/null ||
        fail "InterfacesAdded for $ADDR does not carry org.vfioassign1.Device"

wait_until 10 has_member || fail "group $GROUP does not list $ADDR again: $(members)"
[[ $(prop "$DEV_PATH" "$DEVICE_IFACE" Address) == "\"$ADDR\"" ]] ||
        fail "the Device object of $ADDR does not answer after the rescan"
[[ $(prop "$DEV_PATH" "$DEVICE_IFACE" Group) == "$GROUP" ]] ||
        fail "Device $ADDR Group=$(prop "$DEV_PATH" "$DEVICE_IFACE" Group), expected $GROUP"
# The kernel rebinds e1000 on rescan; the object follows (udev "bind" after "add").
driver_is_e1000() { [[ $(prop "$DEV_PATH" "$DEVICE_IFACE" Driver) == '"e1000"' ]]; }
wait_until 10 driver_is_e1000 ||
        fail "Device $ADDR Driver=$(prop "$DEV_PATH" "$DEVICE_IFACE" Driver) after rescan, expected e1000"
pass
