#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on iommufd
#
# Scenario 10: the daemon is killed (SIGKILL) while a claim of group 5 is active and its holder
# alive. systemd restarts it (Restart=on-failure); the new process must find the lease again
# from its state file (same id, same holder, active, the device still on vfio-pci) and track
# the holder again: when the holder then exits, the lease is released and the e1000e is back.
# The holder is alice (uid 1000): with ProtectProc=invisible the daemon cannot see her process
# in /proc, so only the pidfd it left in systemd's fd store can say she is the holder. The
# claim's container and group fds come back from the same store: after the restart the holder
# opens its device again (SIGUSR1 to test-vmm) and reads its config space.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
UNIT=vfio-assignd.service
USER_NAME=alice
USER_ID=1000

require_daemon
require_host_clean
on_exit restore_host
show() { systemctl show -P "$1" "$UNIT"; }
[[ $(show ProtectProc) == invisible ]] || fail "$UNIT runs with ProtectProc=$(show ProtectProc)"
[[ $(id -u "$USER_NAME" 2>/dev/null) == "$USER_ID" ]] || fail "no user $USER_NAME with uid $USER_ID in the guest"

allow_claims_by "$USER_NAME" "$ADDR"

# setpriv execs the test VMM: the holder is the process start_holder waits for and kills.
# On the iommufd boot, an iommufd lease: its iommufd comes back from the fd store instead.
mode=claim open=OpenDevice
[[ $FLAVOUR != iommufd ]] || mode=claim-iommufd open=OpenCdev
start_holder "$TMP/hold.out" setpriv --reuid="$USER_ID" --regid="$USER_ID" --init-groups -- \
        test-vmm "$mode" "$ADDR" --hold
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
[[ $(jq -r '.[6]' <<<"$after") == "$USER_ID" ]] || fail "the lease's uid is $(jq -r '.[6]' <<<"$after"), not alice's"
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' after the restart"
kill -0 "$HOLDER_PID" 2>/dev/null || fail "the holder died with the daemon"
backend=$(prop "$(jq -r '.[1]' <<<"$after")" "$LEASE_IFACE" Backend | jq -r .)
[[ $backend == "$([[ $FLAVOUR == iommufd ]] && echo iommufd || echo type1)" ]] ||
        fail "the lease's Backend is '$backend' after the restart"

# The claim's container and group came back from systemd's fd store: the lease still hands out
# fds, and a device fd opened now reads the device's config space.
kill -USR1 "$HOLDER_PID"
reopened() { grep -q '^REOPENED' "$TMP/hold.out"; }
wait_until 20 reopened || fail "the holder did not reopen its device: $(tail -n 5 "$TMP/hold.out" | tr '\n' ' ')"
grep -q '^REOPENED 0$' "$TMP/hold.out" ||
        fail "$open after the restart: $(grep -m 3 '^not ok' "$TMP/hold.out" | tr '\n' ' ')"
note "after the restart ($backend): $(grep -m 1 "^ok $open" "$TMP/hold.out"), config space read through the VMM's device fd"

# Still tracked: the holder's departure now releases it.
kill -TERM "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
wait_until 10 no_leases || fail "the restarted daemon did not release the lease when its holder exited: $(list_leases)"
wait_until 10 host_restored || fail "after the holder exited: $(host_state)"
pass
