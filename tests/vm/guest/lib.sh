# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash disable=SC2034  # the variables are for the scenarios that source this
#
# Sourced by every scenario in the guest. A scenario prints exactly one line on stdout,
# `PASS: <name>` or `FAIL: <name>: <why>`, and writes its trace to stderr (shown by the
# runner only when it failed). <name> is the file name without the NN- prefix and .sh.

set -u
shopt -s nullglob

SCENARIO=$(basename "$0" .sh)
SCENARIO=${SCENARIO#[0-9][0-9]-}
FLAVOUR=${VFIO_VM_FLAVOUR:-on}
BUS=org.vfioassign1
ROOT_PATH=/org/vfioassign1
MANAGER=org.vfioassign1.Manager
GROUP_IFACE=org.vfioassign1.Group
DEVICE_IFACE=org.vfioassign1.Device
TMP=$(mktemp -d /run/vfio-vm/"$SCENARIO".XXXXXX)
BG_PIDS=()
EXIT_HOOKS=()

# on_exit COMMAND: run at exit, last registered first. Scenarios use it to put the machine
# back (rescan a removed device, rebind a driver) even when they fail half-way, so that a
# failure does not cascade into the scenarios after it.
on_exit() {
        EXIT_HOOKS+=("$1")
}

cleanup_scenario() {
        local p i
        for p in "${BG_PIDS[@]}"; do
                kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        for (( i = ${#EXIT_HOOKS[@]} - 1; i >= 0; i-- )); do
                eval "${EXIT_HOOKS[i]}" >&2 || true
        done
        return 0
}
trap cleanup_scenario EXIT

pass() {
        echo "PASS: $SCENARIO"
        exit 0
}

fail() {
        echo "FAIL: $SCENARIO: $*"
        exit 1
}

log() {
        echo "[$SCENARIO] $*" >&2
}

# A fact worth seeing in every run (the harness prints it, pass or fail).
note() {
        echo "INFO: $*"
}

# Runs "$@" and fails the scenario with its stderr when it fails.
must() {
        local err
        if ! err=$("$@" 2>&1 >/dev/null); then
                fail "'$*' failed: $(echo "$err" | tr '\n' ' ' | cut -c1-200)"
        fi
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds; returns 1 when
# SECONDS have passed. Events are waited for this way, never with a fixed sleep.
wait_until() {
        local limit=$1 deadline now
        shift
        deadline=$(awk -v u="$(cut -d' ' -f1 /proc/uptime)" -v l="$limit" \
                   'BEGIN { printf "%d", (u + l) * 100 }')
        while ! "$@"; do
                now=$(awk '{ printf "%d", $1 * 100 }' /proc/uptime)
                [[ $now -lt $deadline ]] || return 1
                sleep 0.1
        done
        return 0
}

# sd_bus_path_encode() of a PCI address: every byte but [A-Za-z0-9] becomes _xx, and so does
# a leading digit (systemd's bus_label_escape()): 0000:03:01.0 -> _30000_3a03_3a01_2e0.
device_path() {
        local a=$1 first
        a=${a//:/_3a}
        a=${a//./_2e}
        first=${a:0:1}
        if [[ $first == [0-9] ]]; then
                a=_3$first${a:1}
        fi
        echo "$ROOT_PATH/device/$a"
}

group_path() {
        echo "$ROOT_PATH/group/$1"
}

# prop OBJECT IFACE NAME: the property's value as compact JSON (busctl --json=short).
prop() {
        busctl --system --json=short get-property "$BUS" "$1" "$2" "$3" | jq -c '.data'
}

# The JSON text returned by GetHostReport.
host_report() {
        busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" GetHostReport |
                jq -r '.data[0]'
}

# Makes sure the daemon answers (D-Bus activation starts it on the first call).
daemon_up() {
        busctl --system get-property "$BUS" "$ROOT_PATH" "$MANAGER" APIVersion >/dev/null 2>&1
}

require_daemon() {
        command -v assignctl >/dev/null || fail "assignctl is not installed in the guest"
        [[ -x /usr/sbin/vfio-assignd ]] || fail "/usr/sbin/vfio-assignd is not installed"
        wait_until 30 daemon_up || fail "org.vfioassign1 does not answer on the system bus"
}

# start_monitor FILE MATCH...: `busctl monitor` (JSON, one message a line) in the
# background, returning once it is known to see messages: a marker signal we emit
# ourselves must have come through.
start_monitor() {
        local file=$1 m args=()
        shift
        for m in "$@"; do
                args+=("--match=$m")
        done
        args+=("--match=type='signal',path='/org/vfioassign1/vmtest/sync'")
        busctl --system --json=short monitor "${args[@]}" > "$file" 2> "$file.err" &
        BG_PIDS+=($!)
        wait_until 15 monitor_synced "$file" ||
                fail "busctl monitor did not start: $(head -c 300 "$file.err")"
}

# Emits a marker signal and says whether the monitor writing to $1 has seen one yet.
monitor_synced() {
        busctl --system emit /org/vfioassign1/vmtest/sync org.vfioassign1.VmTest Sync 2>/dev/null
        grep -q '"member":"Sync"' "$1"
}

# Unique bus name of the daemon (signals in a monitor log carry it as "sender").
daemon_unique_name() {
        busctl --system --json=short call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus GetNameOwner s "$BUS" | jq -r '.data[0]'
}
