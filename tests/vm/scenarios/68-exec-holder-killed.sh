#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 16: `assignctl claim --exec` is killed (SIGKILL) while the VMM it started still runs
# with the device fds. The holder (assignctl's bus connection) is gone, so the daemon gives the
# group back; but vfio-pci's unbind waits in the kernel until the VMM closes its device fd
# ("blocked until released by user"), holding the device's lock meanwhile. The daemon must stay
# responsive through this (ListLeases answers within 2 s at any time), and once the VMM is gone
# the daemon must give the e1000e back by itself within 1 s (it waits for the group's last
# close, not for a timer or a retried release).
# While the unbind is pending, nothing here touches 01:00.0's locked sysfs attributes
# (driver_override would block): only the driver link and the daemon are asked.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5

require_daemon
require_host_clean
on_exit restore_host

start_holder "$TMP/exec.out" assignctl claim "$ADDR" --exec test-vmm fds --hold
grep -q '^not ok' "$TMP/exec.out" && fail "the test VMM failed: $(grep -m 3 '^not ok' "$TMP/exec.out" | tr '\n' ' ')"
VMM_PID=$(cat "/proc/$HOLDER_PID/task/$HOLDER_PID/children" 2>/dev/null)
VMM_PID=${VMM_PID%% *}
[[ $VMM_PID =~ ^[0-9]+$ ]] || fail "cannot find the VMM that assignctl started"
BG_PIDS+=("$VMM_PID")
[[ -n $(lease_of_group "$GROUP") ]] || fail "no lease on group $GROUP"

# ListLeases round trip in ms (bounded: a daemon that does not answer gives about 3000).
latency_ms() {
        local t0=$EPOCHREALTIME
        timeout 3 busctl --system call "$BUS" "$ROOT_PATH" "$MANAGER" ListLeases > "$TMP/leases.txt" 2>&1
        awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'
}

log "SIGKILL to assignctl (pid $HOLDER_PID); its VMM (pid $VMM_PID) keeps the fds"
kill -KILL "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
# Probe the daemon back to back for 12 s, longer than one of its sysfs writes may take (10 s)
# before it gives up on it.
worst=0
end=$(( ${EPOCHREALTIME%.*} + 12 ))
while (( ${EPOCHREALTIME%.*} < end )); do
        ms=$(latency_ms)
        (( ms > worst )) && worst=$ms
done
if leases=$(timeout 3 busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" ListLeases); then
        state=$(jq -r --argjson g "$GROUP" '.data[0][] | select(.[2] == $g) | .[4]' <<<"$leases")
        state=${state:-gone}
else
        state="unknown (no answer)"
fi
# The driver link goes at the start of an unbind: "" here while vfio-pci's remove still waits.
note "with the VMM still holding its device fd: slowest ListLeases ${worst} ms, lease $state, $ADDR driver link '$(driver_of "$ADDR")'"
kill -0 "$VMM_PID" 2>/dev/null || fail "the VMM died with assignctl"

# The VMM dies: the daemon sees the group's last close. (It is not our child: its death is
# polled in /proc, 10 ms apart.)
kill -KILL "$VMM_PID"
until dead "$VMM_PID"; do sleep 0.01; done
died=$EPOCHREALTIME
back=$(back_on "$ADDR" e1000e "$died") || fail "$ADDR is not back on e1000e 10 s after its VMM died: $(host_state)"
wait_until 15 host_restored || fail "after the VMM died: $(host_state)"
note "$ADDR back on e1000e ${back} ms after the VMM's death"
(( back <= 1000 )) || fail "$ADDR came back ${back} ms after the VMM's death, not within 1 s"
(( worst < 2000 )) ||
        fail "the daemon did not answer ListLeases for ${worst} ms (the probe's limit is 3 s) while vfio-pci's unbind waited for the VMM's fd (lease $state)"
pass
