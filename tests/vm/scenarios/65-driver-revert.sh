#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 11: while group 6 is claimed, an administrator takes 03:02.0 back by hand behind the
# daemon's back: clears its driver_override, unbinds it from vfio-pci and binds it to e1000.
# The kernel decides what is possible while VFIO owns the group's DMA; the daemon must put the
# member back on vfio-pci and say so with a DriverReverted signal (seen by busctl monitor). What
# the kernel did with each write is recorded (INFO lines). The holder is `assignctl claim`, which
# holds no device fd, so vfio-pci's unbind does not wait for one.

. /usr/local/lib/vfio-vm/lib.sh

GROUP=6
A=0000:03:01.0
B=0000:03:02.0
SYS=/sys/bus/pci/devices/$B

require_daemon
require_host_clean
on_exit restore_host

start_holder "$TMP/claim.out" assignctl claim "$GROUP"
bound_to "$A" vfio-pci && bound_to "$B" vfio-pci || fail "while claimed: $(host_state)"
lease=$(lease_of_group "$GROUP")
[[ -n $lease ]] || fail "no lease on group $GROUP"
sender=$(daemon_unique_name) || fail "cannot resolve the daemon's unique name"

MON=$TMP/monitor.json
start_monitor "$MON" "type='signal',interface='$MANAGER',member='DriverReverted'"
UEV=$TMP/uevents
start_uevent_monitor "$UEV"
dmesg_mark=$(wc -l < <(dmesg))

# The writes, back to back with no fork in between, so that the bind reaches the kernel before
# the daemon can react to the unbind's uevent; each one's error (if any) in its own file.
errtext() { [[ -s $1 ]] && sed -n '1s/.*: //p' "$1" || echo ok; }
echo 2> "$TMP/override.err" > "$SYS/driver_override"
echo "$B" 2> "$TMP/unbind.err" > /sys/bus/pci/drivers/vfio-pci/unbind
echo "$B" 2> "$TMP/bind.err" > /sys/bus/pci/drivers/e1000/bind
r_override=$(errtext "$TMP/override.err")
r_unbind=$(errtext "$TMP/unbind.err")
r_bind=$(errtext "$TMP/bind.err")
log "clear driver_override: $r_override; unbind from vfio-pci: $r_unbind; bind to e1000: $r_bind"
note "kernel: clear driver_override: $r_override; unbind from vfio-pci: $r_unbind; bind to e1000: $r_bind"

reverted() {
        jq -e -c --arg s "$sender" --arg a "$B" --argjson g "$GROUP" '
                select(.sender == $s and .member == "DriverReverted" and .payload.data[0] == $a and
                       .payload.data[2] == $g)' "$MON" >/dev/null 2>&1
}
wait_until 10 reverted ||
        fail "no DriverReverted signal for $B within 10 s ($B on '$(driver_of "$B")', override '$(override_of "$B")')"
wait_until 10 bound_to "$B" vfio-pci || fail "$B was not moved back to vfio-pci: $(host_state)"
signal=$(jq -c --arg a "$B" 'select(.member == "DriverReverted" and .payload.data[0] == $a) | .payload.data' "$MON" | head -n 1)
note "DriverReverted $signal"
[[ $(override_of "$B") == vfio-pci ]] || fail "$B is back on vfio-pci but its override is '$(override_of "$B")'"
bound_to "$A" vfio-pci || fail "the sibling $A left vfio-pci: $(host_state)"
[[ $(lease_of_group "$GROUP") == "$lease" ]] || fail "the lease changed: $(lease_of_group "$GROUP"), was $lease"
note "uevents of $B: $(uevents_for "$UEV" "$B")"
dmesg | tail -n +"$((dmesg_mark + 1))" | grep -E '03:02\.0|e1000|vfio' | tail -n 5 | while read -r line; do
        note "dmesg: $line"
done

# The lease still works as a whole: release gives both back to e1000.
kill -TERM "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
wait_until 10 host_restored || fail "after the release: $(host_state)"
pass
