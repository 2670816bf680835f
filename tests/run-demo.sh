#!/bin/bash
# The README's demo: builds vfio-assignd, starts a private system bus and the daemon on the
# sample workstation host from tests/data/hosts/, and shows it with assignctl.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
host=${1:-workstation}
build=${BUILD_DIR:-$top/_build/demo}

"$top/tests/install-deps.sh"
echo "== building in $build"
(cd "$top" && ./autogen.sh >/dev/null 2>&1)
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$top/configure" --quiet
make -j"$(nproc)" --quiet vfio-assignd assignctl tests/mkhost >/dev/null

tmp=$(mktemp -d /tmp/vfio-assignd-demo.XXXXXX)
daemon_pid= bus_pid=
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
        [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
        rm -rf "$tmp"
}
trap cleanup EXIT

./tests/mkhost "$top/tests/data/hosts/$host.host" "$tmp/host"
{ read -r DBUS_SYSTEM_BUS_ADDRESS; read -r bus_pid; } < <(
        dbus-daemon --config-file="$top/tests/test-system-bus.conf" --address="unix:path=$tmp/bus" \
                --fork --print-address=1 --print-pid=1 2>/dev/null)
export DBUS_SYSTEM_BUS_ADDRESS
./vfio-assignd --sysfs-root "$tmp/host" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do
        busctl --system status org.vfioassign1 >/dev/null 2>&1 && break
        sleep 0.1
done

run() {
        echo
        echo "\$ $*"
        "$@"
}
echo "== sample host '$host': $top/tests/data/hosts/$host.host"
run ./assignctl status
run ./assignctl list
run ./assignctl show 0000:01:00.0
run busctl --system get-property org.vfioassign1 /org/vfioassign1 org.vfioassign1.Manager InterruptRemapping
