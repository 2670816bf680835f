#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 4: a driver unbound and rebound by hand (driver/unbind, then drivers_probe). The
# Device object's Driver property follows ("" then "e1000") and PropertiesChanged carries it.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:03:01.0
DEV_PATH=$(device_path "$ADDR")
SYS=/sys/bus/pci/devices/$ADDR

require_daemon
[[ $(basename "$(readlink "$SYS/driver")") == e1000 ]] || fail "$ADDR is not on e1000 before the test"
driver() { prop "$DEV_PATH" "$DEVICE_IFACE" Driver; }
[[ $(driver) == '"e1000"' ]] || fail "Device $ADDR Driver=$(driver) before the test, expected e1000"
sender=$(daemon_unique_name) || fail "cannot resolve the daemon's unique name"

MON=$TMP/monitor.json
start_monitor "$MON" \
        "type='signal',path='$DEV_PATH',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'"

# The Driver values announced so far, in order: a changed value, or "?" when only invalidated.
announced() {
        jq -r --arg s "$sender" '
                select(.sender == $s and .member == "PropertiesChanged" and
                       .payload.data[0] == "org.vfioassign1.Device") |
                if (.payload.data[1] | has("Driver")) then (.payload.data[1].Driver.data | if . == "" then "<none>" else . end)
                elif (.payload.data[2] | index(["Driver"])) != null then "?"
                else empty end' "$MON" 2>/dev/null | paste -sd' ' -
}
driver_is() { [[ $(driver) == "\"$1\"" ]]; }
announced_last() { [[ " $(announced) " == *" $1 " ]]; }

restore() {
        [[ -e $SYS/driver ]] && return 0
        log "restoring the driver of $ADDR"
        echo "$ADDR" > /sys/bus/pci/drivers_probe
}
on_exit restore

log "unbinding $ADDR"
echo "$ADDR" > "$SYS/driver/unbind" || fail "cannot write $ADDR/driver/unbind"
wait_until 10 test ! -e "$SYS/driver" || fail "$ADDR still has a driver after unbind"
wait_until 10 driver_is "" || fail "Driver=$(driver) 10 s after unbind, expected \"\""
wait_until 10 announced_last "<none>" || wait_until 1 announced_last "?" ||
        fail "no PropertiesChanged with Driver=\"\" (announced: $(announced))"

log "probing $ADDR"
echo "$ADDR" > /sys/bus/pci/drivers_probe || fail "cannot write drivers_probe"
wait_until 10 test -e "$SYS/driver" || fail "$ADDR did not bind on drivers_probe"
[[ $(basename "$(readlink "$SYS/driver")") == e1000 ]] ||
        fail "$ADDR bound to $(basename "$(readlink "$SYS/driver")"), not e1000"
wait_until 10 driver_is e1000 || fail "Driver=$(driver) 10 s after drivers_probe, expected e1000"
wait_until 10 announced_last e1000 || wait_until 1 announced_last "?" ||
        fail "no PropertiesChanged with Driver=e1000 (announced: $(announced))"

a=$(announced)
log "Driver announcements: $a"
[[ $a == "<none> e1000" || $a == "? ?" ]] ||
        fail "Driver announcements were '$a', expected exactly \"\" then e1000"
pass
