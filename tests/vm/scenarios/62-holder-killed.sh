#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 8: the VMM dies (SIGKILL) while it holds a claim of group 5 with its container and
# device fds. The daemon tracks the holder's bus connection and waits for the group's last
# close: the e1000e must be bound again within 1 s of the VMM's death, the device reset by the
# daemon before it is given back, and the lease gone. The reset is observed in the kernel with the function
# tracer: pci_try_reset_function called from vfio-pci's ioctl (VFIO_DEVICE_RESET), or
# pci_reset_function from the sysfs "reset" attribute, by the daemon's process.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
TRACE=/sys/kernel/tracing

require_daemon
require_host_clean
on_exit restore_host

start_holder "$TMP/hold.out" test-vmm claim "$ADDR" --hold
grep -q '^not ok' "$TMP/hold.out" && fail "the test VMM failed: $(grep -m 3 '^not ok' "$TMP/hold.out" | tr '\n' ' ')"
holder=$(sed -n 's/^lease .* holder=\([^ ]*\) .*/\1/p' "$TMP/hold.out")
lease=$(lease_of_group "$GROUP")
[[ -n $lease && $(jq -r '.[5]' <<<"$lease") == "$holder" ]] ||
        fail "ListLeases does not show the claim held by $holder: $(list_leases)"
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' while claimed"

# The function tracer, armed only now: opening a device fd resets it too (vfio_pci_core_enable),
# which must not count. Only the daemon's reset during the release is wanted.
tracing=
if [[ -w $TRACE/set_ftrace_filter ]] &&
   echo 'pci_try_reset_function pci_reset_function' > "$TRACE/set_ftrace_filter" 2>/dev/null; then
        on_exit "echo 0 > $TRACE/tracing_on; echo nop > $TRACE/current_tracer; echo > $TRACE/set_ftrace_filter; echo > $TRACE/trace"
        echo > "$TRACE/trace"
        echo function > "$TRACE/current_tracer" && echo 1 > "$TRACE/tracing_on" && tracing=1
fi
[[ -n $tracing ]] || log "function tracer not available: the reset is checked in the journal only"

cursor=$(journal_cursor)
log "SIGKILL to the test VMM (pid $HOLDER_PID, $holder)"
kill -KILL "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
dead=$EPOCHREALTIME
back=$(back_on "$ADDR" e1000e "$dead") || fail "$ADDR is not back on e1000e 10 s after its VMM died: $(host_state)"
wait_until 10 host_restored || fail "after the holder died: $(host_state)"
note "$ADDR back on e1000e ${back} ms after the VMM's death"
(( back <= 1000 )) || fail "$ADDR came back ${back} ms after the VMM's death, not within 1 s"

if [[ -n $tracing ]]; then
        echo 0 > "$TRACE/tracing_on"
        grep -v '^#' "$TRACE/trace" > "$TMP/trace" || true
        log "reset calls traced: $(tr '\n' '|' < "$TMP/trace")"
        # "vfio-assignd-305 [001] ..... 12.3: pci_try_reset_function <-vfio_pci_core_ioctl"
        grep -Eq 'vfio-assignd-[0-9]+ .*(pci_try_reset_function <-vfio_pci_[a-z_]*ioctl|pci_reset_function <-reset_store)' \
                "$TMP/trace" || fail "the daemon did not reset $ADDR before giving it back (no VFIO_DEVICE_RESET or sysfs reset in the trace: $(tr '\n' '|' < "$TMP/trace" | cut -c1-300))"
        note "reset seen in the kernel: $(grep -Eo '(pci_try_reset_function|pci_reset_function) <-[a-z_]+' "$TMP/trace" | sort -u | paste -sd, -)"
fi

journal_has "$cursor" "IOMMU group $GROUP: holder gone, released" ||
        fail "the daemon's journal does not say the holder's departure released group $GROUP: $(journal_since "$cursor" | tail -n 3 | tr '\n' ' ')"
journal_since "$cursor" > "$TMP/journal"
if grep -qi "reset" "$TMP/journal"; then
        note "the daemon's journal mentions the reset"
else
        note "the daemon's journal does not mention the reset"
        [[ -n $tracing ]] || fail "no evidence of a reset: no trace, and the journal does not mention one"
fi
pass
