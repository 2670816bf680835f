#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on iommufd
#
# Scenario 8: the VMM dies (SIGKILL) while it holds a claim of group 5 with its container and
# device fds. The daemon tracks the holder's bus connection and waits for the group's last
# close: the e1000e must be bound again within 1 s of the VMM's death, the device reset by the
# daemon before it is given back, and the lease gone. The reset is observed in the kernel with the function
# tracer: pci_try_reset_function called from vfio-pci's ioctl (VFIO_DEVICE_RESET), or
# pci_reset_function from the sysfs "reset" attribute, by the daemon's process. On the iommufd
# boot the VMM holds an iommufd lease (its cdev bound and attached to an IOAS of its own), and the
# daemon resets through a cdev file it binds itself.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5

require_daemon
require_host_clean
on_exit restore_host

mode=claim
[[ $FLAVOUR != iommufd ]] || mode=claim-iommufd
start_holder "$TMP/hold.out" test-vmm "$mode" "$ADDR" --hold
grep -q '^not ok' "$TMP/hold.out" && fail "the test VMM failed: $(grep -m 3 '^not ok' "$TMP/hold.out" | tr '\n' ' ')"
holder=$(sed -n 's/^lease .* holder=\([^ ]*\) .*/\1/p' "$TMP/hold.out")
lease=$(lease_of_group "$GROUP")
[[ -n $lease && $(jq -r '.[5]' <<<"$lease") == "$holder" ]] ||
        fail "ListLeases does not show the claim held by $holder: $(list_leases)"
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' while claimed"

# Armed only now: the VMM's own open reset the device too, which must not count.
start_reset_trace

cursor=$(journal_cursor)
log "SIGKILL to the test VMM (pid $HOLDER_PID, $holder)"
kill -KILL "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
dead=$EPOCHREALTIME
back=$(back_on "$ADDR" e1000e "$dead") || fail "$ADDR is not back on e1000e 10 s after its VMM died: $(host_state)"
wait_until 10 host_restored || fail "after the holder died: $(host_state)"
note "$ADDR back on e1000e ${back} ms after the VMM's death"
(( back <= 1000 )) || fail "$ADDR came back ${back} ms after the VMM's death, not within 1 s"

check_daemon_reset "$ADDR"

journal_has "$cursor" "IOMMU group $GROUP: holder gone, released" ||
        fail "the daemon's journal does not say the holder's departure released group $GROUP: $(journal_since "$cursor" | tail -n 3 | tr '\n' ' ')"
journal_since "$cursor" > "$TMP/journal"
if grep -qi "reset" "$TMP/journal"; then
        note "the daemon's journal mentions the reset"
else
        note "the daemon's journal does not mention the reset"
        [[ -n $RESET_TRACE ]] || fail "no evidence of a reset: no trace, and the journal does not mention one"
fi
pass
