#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-daemon-rss.sh: starts a private system bus (tests/test-system-bus.conf, which includes
# the shipped dbus/org.vfioassign1.conf) and `vfio-assignd --sysfs-root=DIR` on it, waits until
# it owns org.vfioassign1, lets it settle, and prints VmRSS and VmHWM from /proc/PID/status.
# Target: steady RSS <= 16 MiB. Exits 77 when dbus-daemon is missing.
#
# Options: --builddir=DIR (vfio-assignd, bench/mkbighost)  --srcdir=DIR (tests/test-system-bus.conf)
#          --vfio-assignd=PATH  --host=DIR (default: a new mkbighost tree)  --devices=N (9000)
#          --tmpdir=DIR  --settle=SECONDS (2)
set -eu

builddir=.
srcdir=
assignd=
host=
devices=9000
tmpbase=
settle=2

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --srcdir=*) srcdir=${arg#*=} ;;
        --vfio-assignd=*) assignd=${arg#*=} ;;
        --host=*) host=${arg#*=} ;;
        --devices=*) devices=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        --settle=*) settle=${arg#*=} ;;
        -h|--help) sed -n '3,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-daemon-rss.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
[ -n "$srcdir" ] || srcdir=$(cd "$(dirname "$0")/.." && pwd)
[ -n "$assignd" ] || assignd=$builddir/vfio-assignd
conf=$srcdir/tests/test-system-bus.conf

command -v dbus-daemon >/dev/null || { echo "run-daemon-rss.sh: dbus-daemon missing: skipped"; exit 77; }
[ -f "$conf" ] || { echo "run-daemon-rss.sh: $conf missing" >&2; exit 2; }
[ -x "$assignd" ] || { echo "run-daemon-rss.sh: $assignd not built: skipped"; exit 77; }

if [ -z "$tmpbase" ]; then
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmpbase=/dev/shm; else tmpbase=${TMPDIR:-/tmp}; fi
fi
work=$(mktemp -d "$tmpbase/vfio-bench-rss.XXXXXX")
bus_pid=
daemon_pid=
cleanup() {
        # Only the two processes this script started, by their ids.
        [ -z "$daemon_pid" ] || kill -TERM "$daemon_pid" 2>/dev/null || true
        [ -z "$daemon_pid" ] || wait "$daemon_pid" 2>/dev/null || true
        [ -z "$bus_pid" ] || kill -TERM "$bus_pid" 2>/dev/null || true
        [ -z "$bus_pid" ] || wait "$bus_pid" 2>/dev/null || true
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$host" ]; then
        mkbighost=$builddir/bench/mkbighost
        [ -x "$mkbighost" ] || { echo "run-daemon-rss.sh: $mkbighost not built" >&2; exit 2; }
        host=$work/host
        echo "bench: host: $("$mkbighost" --devices="$devices" "$host")"
fi

# testing-recipes.md §2: the address option overrides the config's <listen>. --nofork keeps
# the bus our child, so it is reaped here and not left to whatever PID 1 is.
dbus-daemon --config-file="$conf" --address="unix:path=$work/system_bus_socket" \
        --nofork --print-address=1 >"$work/bus" 2>"$work/bus.err" &
bus_pid=$!
tries=0
until [ -s "$work/bus" ]; do
        kill -0 "$bus_pid" 2>/dev/null || { cat "$work/bus.err" >&2; bus_pid=; exit 1; }
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || { echo "run-daemon-rss.sh: dbus-daemon did not start" >&2; exit 1; }
        sleep 0.05
done
address=$(sed -n 1p "$work/bus")
export DBUS_SYSTEM_BUS_ADDRESS="$address"

"$assignd" --sysfs-root="$host" --dev-root="$host" >"$work/daemon.log" 2>&1 &
daemon_pid=$!

# The daemon takes its name before it reads the host and answers calls only after: a Ping
# answered is a daemon that has read all of it.
has_owner() {
        dbus-send --bus="$address" --print-reply --dest=org.vfioassign1 /org/vfioassign1 \
                org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1
}

t0=$(date +%s.%N)
tries=0
until has_owner; do
        if ! kill -0 "$daemon_pid" 2>/dev/null; then
                echo "run-daemon-rss.sh: vfio-assignd exited before owning org.vfioassign1:" >&2
                cat "$work/daemon.log" >&2
                daemon_pid=
                exit 1
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 1200 ] || { echo "run-daemon-rss.sh: no org.vfioassign1 after 60 s" >&2; exit 1; }
        sleep 0.05
done
t1=$(date +%s.%N)
sleep "$settle"

rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status")
hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon_pid/status")
echo "$t0 $t1 $rss $hwm $(ls "$host/sys/bus/pci/devices" | wc -l)" | awk '{
        printf "bench: vfio-assignd answering on the bus after %.2f s (%d devices)\n", $2 - $1, $5
        printf "bench: daemon VmRSS = %.1f MiB, VmHWM = %.1f MiB (target steady RSS <= 16 MiB: %s)\n",
               $3 / 1024, $4 / 1024, $3 / 1024 <= 16 ? "met" : "NOT met"
}'
