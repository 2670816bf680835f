#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 10: the daemon is killed (SIGKILL) while a claim of group 5 is active and its holder
# alive. systemd restarts it (Restart=on-failure); the new process must find the lease again
# from its state file (same id, same holder, active, the device still on vfio-pci) and track
# the holder again: when the holder then exits, the lease is released and the e1000e is back.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
UNIT=vfio-assignd.service

require_daemon
require_host_clean
on_exit restore_host
show() { systemctl show -P "$1" "$UNIT"; }

start_holder "$TMP/hold.out" test-vmm claim "$ADDR" --hold
grep -q '^not ok' "$TMP/hold.out" && fail "the test VMM failed: $(grep -m 3 '^not ok' "$TMP/hold.out" | tr '\n' ' ')"
before=$(lease_of_group "$GROUP")
[[ -n $before ]] || fail "no lease on group $GROUP after the claim: $(list_leases)"
log "lease before: $before; state file: $(tr -d ' \n' < /run/vfio-assignd/state.json 2>&1 | cut -c1-300)"

old_pid=$(show MainPID)
restarts=$(show NRestarts)
[[ $old_pid -gt 0 ]] || fail "$UNIT has no MainPID"
log "SIGKILL to the daemon (pid $old_pid)"
kill -KILL "$old_pid"
restarted() {
        local pid
        pid=$(show MainPID)
        [[ $pid -gt 0 && $pid != "$old_pid" && $(show ActiveState) == active ]] && daemon_up
}
wait_until 30 restarted ||
        fail "systemd did not restart the daemon within 30 s: $(show ActiveState)/$(show SubState), MainPID $(show MainPID)"
[[ $(show NRestarts) -gt $restarts ]] ||
        fail "the daemon came back, but not through Restart= (NRestarts $(show NRestarts))"
note "restarted as pid $(show MainPID) after SIGKILL of $old_pid"

after=$(lease_of_group "$GROUP")
log "lease after: ${after:-none}; state file: $(tr -d ' \n' < /run/vfio-assignd/state.json 2>&1 | cut -c1-300)"
if [[ -z $after ]]; then
        journalctl -b -u "$UNIT" -o cat -n 15 >&2
        fail "the lease on group $GROUP was lost across the restart (ListLeases $(list_leases), $ADDR on '$(driver_of "$ADDR")', /run/vfio-assignd/state.json: $(tr -d ' \n' < /run/vfio-assignd/state.json 2>&1 | cut -c1-120))"
fi
[[ $(jq -c '[.[0], .[2], .[3], .[5], .[6]]' <<<"$after") == "$(jq -c '[.[0], .[2], .[3], .[5], .[6]]' <<<"$before")" ]] ||
        fail "the lease changed across the restart: before $before, after $after"
[[ $(jq -r '.[4]' <<<"$after") == active ]] || fail "the lease is $(jq -r '.[4]' <<<"$after") after the restart"
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' after the restart"
kill -0 "$HOLDER_PID" 2>/dev/null || fail "the holder died with the daemon"

# Still tracked: the holder's departure now releases it.
kill -TERM "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
wait_until 10 no_leases || fail "the restarted daemon did not release the lease when its holder exited: $(list_leases)"
wait_until 10 host_restored || fail "after the holder exited: $(host_state)"
pass
