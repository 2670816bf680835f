#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 5: the daemon runs as the shipped unit (Type=notify, BusName=org.vfioassign1),
# started by systemd through D-Bus activation, answers on the system bus, shows as running in
# `systemctl status`, and `systemctl stop` ends it cleanly (exit 0, Result=success). A call
# afterwards activates it again.

. /usr/local/lib/vfio-vm/lib.sh

UNIT=vfio-assignd.service

show() { systemctl show -P "$1" "$UNIT"; }
owner_pid() {
        busctl --system --json=short call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus GetConnectionUnixProcessID s "$BUS" | jq -r '.data[0]'
}
has_owner() {
        [[ $(busctl --system --json=short call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus NameHasOwner s "$BUS" | jq -r '.data[0]') == true ]]
}
active() { [[ $(show ActiveState) == active ]]; }
inactive() { [[ $(show ActiveState) == inactive ]]; }

[[ -e /lib/systemd/system/$UNIT ]] || fail "$UNIT is not installed"
[[ -e /usr/share/dbus-1/system-services/org.vfioassign1.service ]] ||
        fail "the D-Bus activation file is not installed"
[[ -e /usr/share/dbus-1/system.d/org.vfioassign1.conf ]] || fail "the bus policy is not installed"
[[ $(show Type) == notify ]] || fail "$UNIT has Type=$(show Type), expected notify"
[[ $(show BusName) == "$BUS" ]] || fail "$UNIT has BusName=$(show BusName)"

# Earlier scenarios may have activated it already; make sure it is up either way.
require_daemon
wait_until 10 active || fail "$UNIT is $(show ActiveState) while the name answers"
[[ $(show SubState) == running ]] || fail "$UNIT SubState=$(show SubState)"
main_pid=$(show MainPID)
[[ $main_pid -gt 0 ]] || fail "$UNIT has no MainPID"
[[ $(owner_pid) == "$main_pid" ]] ||
        fail "org.vfioassign1 is owned by pid $(owner_pid), the unit's MainPID is $main_pid"
[[ $(readlink "/proc/$main_pid/exe") == */vfio-assignd ]] ||
        fail "MainPID $main_pid is $(readlink "/proc/$main_pid/exe")"
systemctl status --no-pager "$UNIT" > "$TMP/status.txt" 2>&1 ||
        fail "systemctl status $UNIT exited $?"
grep -q 'Active: active (running)' "$TMP/status.txt" ||
        fail "systemctl status does not say active (running): $(grep Active: "$TMP/status.txt")"
[[ $(prop "$ROOT_PATH" "$MANAGER" APIVersion) == 1 ]] || fail "APIVersion is not 1"

log "stopping $UNIT (MainPID $main_pid)"
cursor=$(journalctl -n 0 --show-cursor -q | sed -n 's/^-- cursor: //p')
must systemctl stop "$UNIT"
wait_until 10 inactive || fail "$UNIT is $(show ActiveState) after stop"
[[ $(show Result) == success ]] || fail "$UNIT Result=$(show Result) after stop"
[[ $(show ExecMainStatus) == 0 ]] || fail "$UNIT ExecMainStatus=$(show ExecMainStatus) after stop"
[[ $(show ExecMainCode) == 1 ]] ||
        fail "$UNIT ExecMainCode=$(show ExecMainCode) after stop (1 = exited, 2 = killed by a signal)"
wait_until 10 eval '! has_owner' || fail "org.vfioassign1 still has an owner after stop"
[[ ! -e /proc/$main_pid ]] || fail "pid $main_pid is still there after stop"
# systemd's own word, independent of `systemctl show`.
deactivated() {
        journalctl -q --after-cursor="$cursor" -u "$UNIT" -o cat |
                grep -qx "$UNIT: Deactivated successfully."
}
wait_until 10 deactivated ||
        fail "no 'Deactivated successfully' for $UNIT in the journal: $(journalctl -q --after-cursor="$cursor" -u "$UNIT" -o cat | tail -n 3 | tr '\n' ' ')"

log "activating again through the bus"
wait_until 30 daemon_up || fail "a call after stop did not activate the daemon again"
wait_until 10 active || fail "$UNIT is $(show ActiveState) after activation"
[[ $(show MainPID) != "$main_pid" && $(show MainPID) -gt 0 ]] ||
        fail "activation did not start a new process (MainPID $(show MainPID))"
pass
