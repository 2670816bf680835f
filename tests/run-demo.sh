#!/bin/bash
# The README's demo: builds vfio-assignd, starts a private system bus and the daemon on a sample
# host from tests/data/hosts/ (workstation by default), and shows it with assignctl. The daemon
# runs under the kernel model (tests/mock, an LD_PRELOAD library that makes the fake sysfs react
# to driver_override/unbind/drivers_probe the way Linux does and fakes /dev/vfio), so the demo
# also claims a device's group for the run of a command, prepares and unprepares it, with
# python-dbusmock standing in for polkitd.
#
#   tests/run-demo.sh [HOST]          tests/data/hosts/HOST.host (default workstation)
#   DEMO_DEVICE=0000:BB:DD.F          the device to claim (default: the host's, below)
#   BUILD_DIR=DIR                     where to build (default _build/demo)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
host=${1:-workstation}
hostfile=$top/tests/data/hosts/$host.host
build=${BUILD_DIR:-$top/_build/demo}
python=${DBUSMOCK_PYTHON:-/usr/bin/python3} # pyenv's python3 on PATH has no dbusmock

if ! [ -f "$hostfile" ]; then
        hosts=
        for f in "$top"/tests/data/hosts/*.host; do
                f=${f##*/}
                hosts+=" ${f%.host}"
        done
        echo "run-demo: no sample host $hostfile; there are:$hosts" >&2
        exit 2
fi
# Each sample host's device to claim and what becomes of it. README.md ("Try it") lists the
# same. A host missing here is shown without a claim unless DEMO_DEVICE names a device.
case $host in
workstation)
        default=0000:01:00.0 about="the discrete GPU; its HDMI audio function shares the group" ;;
server)
        default=0000:3b:02.1 about="an SR-IOV VF of the X710 port 0000:3b:00.0, alone in its group" ;;
qemu-q35-vtd)
        default=0000:01:00.0 about="the e1000e alone in group 5, as in the VM level's claim-single" ;;
qemu-q35-vtd-intremap-off | no-ir)
        default=0000:01:00.0 about="a spare NIC; refused: the host has no interrupt remapping" ;;
amd)
        default=0000:0a:00.0 about="the GPU; refused: it is the boot VGA device, the host needs it" ;;
no-iommu)
        default=0000:01:00.0 about="the discrete GPU" ;;
*)
        default='' about='' ;;
esac
if [ -n "${DEMO_DEVICE:-}" ]; then
        device=$DEMO_DEVICE about="named by DEMO_DEVICE"
else
        device=$default
fi

"$top/tests/install-deps.sh" demo
echo "== building in $build"
# configure is regenerated only when missing or older than configure.ac; make regenerates the
# Makefiles by itself when a Makefile.am or *.mk changed.
if ! [ -x "$top/configure" ] || ! [ "$top/configure" -nt "$top/configure.ac" ]; then
        (cd "$top" && ./autogen.sh >/dev/null 2>&1)
fi
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$top/configure" --quiet
make -j"$(nproc)" --quiet vfio-assignd assignctl tests/mkhost tests/mock/libvfio-mock.so >/dev/null

tmp=$(mktemp -d /tmp/vfio-assignd-demo.XXXXXX)
daemon_pid='' bus_pid='' polkit_pid=
cleanup() {
        # Only the processes this script started, by pid.
        for pid in $daemon_pid $polkit_pid $bus_pid; do
                if kill "$pid" 2>/dev/null; then wait "$pid" 2>/dev/null || true; fi
        done
        rm -rf "$tmp"
}
trap cleanup EXIT

# Waits up to 10 s for a name on the private bus.
wait_name() {
        for _ in $(seq 200); do
                busctl --system status "$1" >/dev/null 2>&1 && return 0
                sleep 0.05
        done
        echo "run-demo: $1 did not appear on the bus; its log:" >&2
        cat "$2" >&2
        return 1
}

./tests/mkhost "$hostfile" "$tmp/host"
mkdir -p "$tmp/run" "$tmp/state" "$tmp/policy.d"
cp "$top/policy/default.json" "$tmp/policy.d/"
mkfifo "$tmp/uevents"
# --nofork: the bus stays our child, so that stopping it also reaps it.
dbus-daemon --config-file="$top/tests/test-system-bus.conf" --address="unix:path=$tmp/bus" \
        --nofork --nopidfile --print-address=3 3>"$tmp/bus.address" 2>"$tmp/bus.log" &
bus_pid=$!
for _ in $(seq 200); do
        [ -s "$tmp/bus.address" ] && break
        sleep 0.05
done
read -r DBUS_SYSTEM_BUS_ADDRESS <"$tmp/bus.address"
export DBUS_SYSTEM_BUS_ADDRESS

polkit=no
if "$python" -c 'import dbusmock' 2>/dev/null; then
        "$python" -m dbusmock --template polkitd >"$tmp/polkit.log" 2>&1 &
        polkit_pid=$!
        wait_name org.freedesktop.PolicyKit1 "$tmp/polkit.log"
        busctl --system call org.freedesktop.PolicyKit1 /org/freedesktop/PolicyKit1/Authority \
                org.freedesktop.DBus.Mock SetAllowed as 2 \
                org.vfioassign1.claim org.vfioassign1.prepare
        polkit=yes
fi

# The kernel model: sysfs writes under $tmp/host act like the kernel's, the /dev/vfio nodes are
# made and removed there too, and what changes is reported to the daemon as uevent lines on the
# FIFO.
LD_PRELOAD="$build/tests/mock/libvfio-mock.so" VFIO_MOCK_ROOT="$tmp/host" \
VFIO_MOCK_UEVENT_FIFO="$tmp/uevents" \
        ./vfio-assignd --sysfs-root "$tmp/host" --dev-root "$tmp/host" \
                --uevent-fifo "$tmp/uevents" --policy-dir "$tmp/policy.d" \
                --runtime-dir "$tmp/run" --state-dir "$tmp/state" \
                --cdi-spec "$tmp/cdi/vfio-assignd.json" 2>"$tmp/daemon.log" &
daemon_pid=$!
wait_name org.vfioassign1 "$tmp/daemon.log"

# Shows a command and runs it, leaving its exit status in $rc; a failure is shown, not fatal
# (a host may refuse the device).
run() {
        echo
        echo "\$ $*"
        rc=0
        "$@" || rc=$?
        [ "$rc" -eq 0 ] || echo "(exit status $rc)"
}
# Commands are shown as a user types them: assignctl from the build, the helpers from $tmp.
PATH=$build:$tmp:$PATH
echo "== sample host '$host': $hostfile"
run assignctl status
run assignctl list
run busctl --system get-property org.vfioassign1 /org/vfioassign1 org.vfioassign1.Manager \
        InterruptRemapping
if [ -z "$device" ]; then
        echo
        echo "== no device to claim on '$host' (DEMO_DEVICE=0000:BB:DD.F names one)"
        exit 0
fi
run assignctl show "$device"
if [ "$rc" -ne 0 ]; then
        echo "run-demo: $device is not a device of '$host'" >&2
        exit 1
fi

if [ "$polkit" = no ]; then
        echo
        echo "== $python has no dbusmock (python3-dbusmock): skipping claim, prepare and release"
        exit 0
fi
group=$(assignctl --json=short show "$device" | jq -r '.group // empty')
if [ -z "$group" ]; then
        echo
        echo "== $device ($about) is in no IOMMU group: skipping claim, prepare and release"
        exit 0
fi
members=$(assignctl --json=short show "$group" |
        jq -r '.devices[]? | if type == "object" then .address else . end' 2>/dev/null || true)
[ -n "$members" ] || members=$device
sysdev=$tmp/host/sys/bus/pci/devices
export group members sysdev

# The group's block of `assignctl list`, a command so that in-claim can run it too.
cat >"$tmp/list-group" <<'EOF'
#!/bin/sh
echo
echo "\$ assignctl list   # only IOMMU group $group"
assignctl list | awk -v g="$group" '!/^ / { p = ($1 == "Group" && $2 == g) } p'
EOF
# The command run while the group is claimed: what a VMM is given.
cat >"$tmp/in-claim" <<'EOF'
#!/bin/sh
echo "-- in-claim: the lease and its fds (on fake nodes of the kernel model)"
env | grep '^VFIO_' | sort
for fd in $VFIO_CONTAINER_FD $VFIO_GROUP_FD $(echo "$VFIO_DEVICE_FDS" | tr , ' '); do
        fd=${fd#*=}
        printf 'fd %s -> %s\n' "$fd" "$(readlink "/proc/$$/fd/$fd")"
done
echo "-- in-claim: the driver links"
for d in $members; do
        printf '%s -> %s\n' "$d" "$(readlink "$sysdev/$d/driver" || echo "(no driver)")"
done
list-group
EOF
chmod +x "$tmp/list-group" "$tmp/in-claim"

echo
echo "== claim: $device, $about"
echo "A granted claim puts IOMMU group $group on vfio-pci while in-claim runs, then gives it back."
list-group
run assignctl claim "$device" --exec in-claim
if [ "$rc" -eq 0 ]; then
        echo "-- after in-claim"
        list-group

        echo
        echo "== prepare: the group goes to vfio-pci with no holder, until unprepare"
        run assignctl prepare "$device"
        run assignctl leases
        list-group
        run assignctl unprepare "$device"
        run assignctl leases
        list-group
else
        echo
        echo "== the claim failed (see above): skipping prepare and unprepare"
fi

echo
echo "== the daemon's log"
cat "$tmp/daemon.log"
