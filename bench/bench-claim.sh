#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-claim.sh: claim+release cycles per second of a three-function IOMMU group on the kernel
# model (tests/mock: vfio-assignd under LD_PRELOAD on a fake tree), against a baseline measured in
# the same run: a plain shell script, under the same preload, writing the same sysfs files in the
# same order (driver_override, unbind, drivers_probe for each function, then driver_override,
# unbind, bind back) with no checks, no state file, no VFIO and no D-Bus. Prints both rates and
# the ratio. Exits 77 when dbus-daemon or python-dbusmock (the polkit stand-in) is missing.
#
# Options: --builddir=DIR (vfio-assignd, assignctl, tests/mkhost, tests/mock/libvfio-mock.so)
#          --srcdir=DIR (tests/test-system-bus.conf, tests/data/hosts)  --cycles=N (200)
#          --tmpdir=DIR (default /dev/shm when writable: /run, where state.json lives, is tmpfs)
set -eu

builddir=.
srcdir=
cycles=200
tmpbase=
python=${DBUSMOCK_PYTHON:-/usr/bin/python3}

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --srcdir=*) srcdir=${arg#*=} ;;
        --cycles=*) cycles=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        -h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-claim.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
[ -n "$srcdir" ] || srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "$builddir" && pwd)
case "$cycles" in
''|*[!0-9]*|0) echo "bench-claim.sh: --cycles needs a positive number" >&2; exit 2 ;;
esac
conf=$srcdir/tests/test-system-bus.conf
mock=$builddir/tests/mock/libvfio-mock.so

command -v dbus-daemon >/dev/null ||
        { echo "bench-claim.sh: dbus-daemon missing: skipped"; exit 77; }
"$python" -c 'import dbusmock' 2>/dev/null ||
        { echo "bench-claim.sh: $python has no dbusmock (the polkit mock): skipped"; exit 77; }
for f in vfio-assignd assignctl tests/mkhost tests/mock/libvfio-mock.so; do
        [ -e "$builddir/$f" ] || { echo "bench-claim.sh: $builddir/$f not built" >&2; exit 2; }
done

if [ -z "$tmpbase" ]; then
        tmpbase=${TMPDIR:-/tmp}
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmpbase=/dev/shm; fi
fi
work=$(mktemp -d "$tmpbase/vfio-bench-claim.XXXXXX")
bus_pid=
polkit_pid=
daemon_pid=
cleanup() {
        # Only the processes this script started, by their ids.
        for pid in $daemon_pid $polkit_pid $bus_pid; do
                kill -TERM "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The q35 host plus a three-function NIC (igb, FLR) alone in IOMMU group 8 behind a root port.
group=8
functions="0000:04:00.0 0000:04:00.1 0000:04:00.2"
igb="vendor=0x8086 device=0x1521 class=0x020000 driver=igb reset=flr group=$group iommu=dmar0"
cat >"$work/bench.host" <<EOF
include $srcdir/tests/data/hosts/qemu-q35-vtd.host
device 0000:00:05.0 vendor=0x1b36 device=0x000c class=0x060400 driver=pcieport group=7 iommu=dmar0
device 0000:04:00.0 parent=0000:00:05.0 $igb mf=1
device 0000:04:00.1 parent=0000:00:05.0 $igb
device 0000:04:00.2 parent=0000:00:05.0 $igb
EOF
"$builddir/tests/mkhost" "$work/bench.host" "$work/host" >/dev/null
"$builddir/tests/mkhost" "$work/bench.host" "$work/baseline" >/dev/null
mkdir "$work/run" "$work/state" "$work/policy.d"
cp "$srcdir/policy/default.json" "$work/policy.d/"
mkfifo "$work/uevents"

now() { date +%s.%N; }
wait_name() {
        tries=0
        until busctl --system status "$1" >/dev/null 2>&1; do
                tries=$((tries + 1))
                if [ "$tries" -ge 400 ]; then
                        echo "bench-claim.sh: $1 did not appear:" >&2
                        cat "$2" >&2
                        exit 1
                fi
                sleep 0.05
        done
}

# --nofork keeps the bus our child, so it is reaped here.
dbus-daemon --config-file="$conf" --address="unix:path=$work/bus" --nofork --nopidfile \
        --print-address=1 >"$work/bus.address" 2>"$work/bus.log" &
bus_pid=$!
tries=0
until [ -s "$work/bus.address" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 200 ] || { echo "bench-claim.sh: dbus-daemon did not start" >&2; exit 1; }
        sleep 0.05
done
DBUS_SYSTEM_BUS_ADDRESS=$(sed -n 1p "$work/bus.address")
export DBUS_SYSTEM_BUS_ADDRESS

"$python" -m dbusmock --template polkitd >"$work/polkit.log" 2>&1 &
polkit_pid=$!
wait_name org.freedesktop.PolicyKit1 "$work/polkit.log"
busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
        org.freedesktop.DBus.Mock SetAllowed as 1 org.vfioassign1.claim

LD_PRELOAD=$mock VFIO_MOCK_ROOT=$work/host VFIO_MOCK_UEVENT_FIFO=$work/uevents \
        "$builddir/vfio-assignd" --sysfs-root="$work/host" --dev-root="$work/host" \
        --uevent-fifo="$work/uevents" --policy-dir="$work/policy.d" --runtime-dir="$work/run" \
        --state-dir="$work/state" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_name org.vfioassign1 "$work/daemon.log"

driver_of() { basename "$(readlink "$1/sys/bus/pci/devices/$2/driver")"; }
check_host_drivers() {
        for f in $functions; do
                d=$(driver_of "$1" "$f")
                [ "$d" = igb ] ||
                        { echo "bench-claim.sh: $f is on $d after the run ($1)" >&2; exit 1; }
        done
}

# 1. The daemon, driven by its own client: each cycle is `assignctl claim GROUP --exec true`
#    (claim, the container, group and three device fds, the command, release).
"$builddir/assignctl" claim "$group" --exec true 2>/dev/null # warm-up
t0=$(now)
i=0
while [ "$i" -lt "$cycles" ]; do
        "$builddir/assignctl" claim "$group" --exec true 2>/dev/null
        i=$((i + 1))
done
t1=$(now)
check_host_drivers "$work/host"

# 2. The daemon with one long-lived client (python-dbus): ClaimGroup + Release per cycle, so the
#    client's start-up is not counted.
t2=$(now)
"$python" - "$group" "$cycles" <<'EOF'
import sys
import dbus
bus = dbus.SystemBus()
manager = dbus.Interface(bus.get_object("org.vfioassign1", "/org/vfioassign1"),
                         "org.vfioassign1.Manager")
for _ in range(int(sys.argv[2])):
    none = dbus.Dictionary({}, signature="sv")
    path = manager.ClaimGroup(dbus.UInt32(int(sys.argv[1])), none)
    lease = dbus.Interface(bus.get_object("org.vfioassign1", path), "org.vfioassign1.Lease")
    lease.Release(none)
EOF
t3=$(now)
check_host_drivers "$work/host"

# 3. The baseline: the same writes from one shell process under the same preload, on a tree of
#    its own (no uevents: nobody listens).
cat >"$work/baseline.sh" <<'EOF'
sys=$1/sys/bus/pci
n=$2
shift 2
i=0
while [ "$i" -lt "$n" ]; do
        for f in "$@"; do
                echo vfio-pci >"$sys/devices/$f/driver_override"
                echo "$f" >"$sys/devices/$f/driver/unbind"
                echo "$f" >"$sys/drivers_probe"
        done
        for f in "$@"; do
                echo >"$sys/devices/$f/driver_override"
                echo "$f" >"$sys/drivers/vfio-pci/unbind"
                echo "$f" >"$sys/drivers/igb/bind"
        done
        i=$((i + 1))
done
EOF
# shellcheck disable=SC2086 # $functions is a list
LD_PRELOAD=$mock VFIO_MOCK_ROOT=$work/baseline \
        sh -e "$work/baseline.sh" "$work/baseline" 1 $functions
t4=$(now)
# shellcheck disable=SC2086
LD_PRELOAD=$mock VFIO_MOCK_ROOT=$work/baseline \
        sh -e "$work/baseline.sh" "$work/baseline" "$cycles" $functions
t5=$(now)
check_host_drivers "$work/baseline"

echo "$cycles $t0 $t1 $t2 $t3 $t4 $t5" | awk '
function line(what, rate) {
        printf "bench:   %-48s %8.1f cycles/s (%6.2f ms/cycle)\n", what, rate, 1000 / rate
}
{
        n = $1
        cli = n / ($3 - $2); one = n / ($5 - $4); base = n / ($7 - $6)
        printf "bench: claim+release of a 3-function IOMMU group, kernel model, %d cycles\n", n
        line("vfio-assignd, assignctl claim --exec true:", cli)
        line("vfio-assignd, one client (ClaimGroup+Release):", one)
        line("baseline, sh writing the same sysfs files:", base)
        printf "bench: ratio baseline/daemon: %.1fx (one client), %.1fx (assignctl)\n",
               base / one, base / cli
}'
