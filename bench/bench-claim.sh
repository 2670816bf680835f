#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-claim.sh: claim+release cycles per second of a three-function IOMMU group on the kernel
# model (tests/mock: vfio-assignd under LD_PRELOAD on a fake tree), against a baseline measured in
# the same run: a plain shell script, under the same preload, writing the same sysfs files in the
# same order (driver_override, unbind, drivers_probe for each function, then driver_override,
# unbind, bind back) with no checks, no state file, no VFIO and no D-Bus. Prints both rates and
# the ratio; the baseline and the daemon take turns in rounds, and the medians are compared.
# In each round, with one long-lived client: the cycle rate, and the latency of
# ListGroups while the daemon is idle and while a claim waits for a driver's probe that hangs
# (the mock's probe-hang, 2 s) against the idle latency of the same round; with --before, an
# older build's daemon is measured the same way in each round, alternating with this one.
# Exits 77 when dbus-daemon or python-dbusmock (the polkit stand-in) is missing.
#
# Options: --builddir=DIR (vfio-assignd, assignctl, tests/mkhost, tests/mock/libvfio-mock.so)
#          --srcdir=DIR (tests/test-system-bus.conf, tests/data/hosts)  --cycles=N (200)
#          --rounds=N (3)  --before=DIR (the build directory of an older vfio-assignd)
#          --tmpdir=DIR (default /dev/shm when writable: /run, where state.json lives, is tmpfs)
#          --results=FILE (append "key value" figures for run-all.sh)
set -eu

builddir=.
srcdir=
cycles=200
rounds=3
before=
tmpbase=
results=/dev/null
python=${DBUSMOCK_PYTHON:-/usr/bin/python3}

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --srcdir=*) srcdir=${arg#*=} ;;
        --cycles=*) cycles=${arg#*=} ;;
        --rounds=*) rounds=${arg#*=} ;;
        --before=*) before=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        --results=*) results=${arg#*=} ;;
        -h|--help) sed -n '3,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-claim.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
[ -n "$srcdir" ] || srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "$builddir" && pwd)
for n in "$cycles" "$rounds"; do
        case "$n" in
        ''|*[!0-9]*|0) echo "bench-claim.sh: --cycles and --rounds need a positive number" >&2; exit 2 ;;
        esac
done
if [ -n "$before" ]; then
        before=$(cd "$before" && pwd)
        [ -x "$before/vfio-assignd" ] || { echo "bench-claim.sh: $before/vfio-assignd not built" >&2; exit 2; }
fi
conf=$srcdir/tests/test-system-bus.conf
mock=$builddir/tests/mock/libvfio-mock.so
# For bench_cdi_arg alone: this script keeps its own $work and cleanup.
. "$srcdir/bench/bench-lib.sh"

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

# start_daemon BUILDDIR: its vfio-assignd on the tree; faults (the mock's VFIO_MOCK_CONFIG) empty.
: >"$work/faults"
start_daemon() {
        LD_PRELOAD=$mock VFIO_MOCK_ROOT=$work/host VFIO_MOCK_UEVENT_FIFO=$work/uevents \
                VFIO_MOCK_CONFIG=$work/faults \
                "$1/vfio-assignd" --sysfs-root="$work/host" --dev-root="$work/host" \
                --uevent-fifo="$work/uevents" --policy-dir="$work/policy.d" --runtime-dir="$work/run" \
                --state-dir="$work/state" $(bench_cdi_arg "$1/vfio-assignd") >"$work/daemon.log" 2>&1 &
        daemon_pid=$!
        wait_name org.vfioassign1 "$work/daemon.log"
}
stop_daemon() {
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=
        # The bus forgets the name a moment after the process is gone.
        tries=0
        while busctl --system status org.vfioassign1 >/dev/null 2>&1; do
                tries=$((tries + 1))
                [ "$tries" -lt 200 ] || { echo "bench-claim.sh: org.vfioassign1 stays on the bus" >&2; exit 1; }
                sleep 0.05
        done
}
start_daemon "$builddir"

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

# 2. Rounds with one long-lived client (python-dbus), so the client's start-up is not counted:
#    ClaimGroup + Release cycles; then ListGroups, idle and while a claim of the group waits for a
#    probe that hangs 2 s (samples started in the first 1.5 s of the hang). With --before, the
#    older daemon takes its turn in each round.
cat >"$work/round.py" <<'PYEOF'
import os
import statistics
import subprocess
import sys
import time
import dbus

group, cycles, host, faults, addr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
bus = dbus.SystemBus()
manager = dbus.Interface(bus.get_object("org.vfioassign1", "/org/vfioassign1", introspect=False),
                         "org.vfioassign1.Manager")
none = dbus.Dictionary({}, signature="sv")


def list_ms():
    t = time.perf_counter()
    manager.ListGroups()
    return (time.perf_counter() - t) * 1000


def wait_for(what, check, seconds):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            sys.exit("bench-claim.sh: " + what)
        time.sleep(0.005)


t = time.perf_counter()
for _ in range(cycles):
    path = manager.ClaimGroup(dbus.UInt32(group), none)
    # No proxy per lease: a proxy costs the client a name lookup (and an Introspect).
    bus.call_blocking("org.vfioassign1", path, "org.vfioassign1.Lease", "Release", "a{sv}", [none])
rate = cycles / (time.perf_counter() - t)

# What a cycle costs that is not the daemon's: two round trips through the bus (a Ping each,
# from the same client) and the one polkit check of the claim (CheckAuthorization of the same
# action and details, asked of the same polkitd by this client). The release of the holder asks
# no one.
def timed_ms(call):
    t = time.perf_counter()
    call()
    return (time.perf_counter() - t) * 1000


authority = dbus.Interface(bus.get_object("org.freedesktop.PolicyKit1",
                                          "/org/freedesktop/PolicyKit1/Authority", introspect=False),
                           "org.freedesktop.PolicyKit1.Authority")
subject = ("system-bus-name", {"name": bus.get_unique_name()})
details = dbus.Dictionary({"group": str(group)}, signature="ss")
ping = [timed_ms(lambda: bus.call_blocking("org.vfioassign1", "/org/vfioassign1",
                                           "org.freedesktop.DBus.Peer", "Ping", "", []))
        for _ in range(min(cycles, 200))]
check = [timed_ms(lambda: authority.CheckAuthorization(subject, "org.vfioassign1.claim", details,
                                                       dbus.UInt32(0), ""))
         for _ in range(min(cycles, 200))]
floor = 2 * statistics.median(ping) + statistics.median(check)

idle = [list_ms() for _ in range(50)]

with open(faults, "w") as f:
    f.write(f"{addr} probe-hang 2\n")
claim = subprocess.Popen(["busctl", "--system", "call", "org.vfioassign1", "/org/vfioassign1",
                          "org.vfioassign1.Manager", "ClaimGroup", "ua{sv}", str(group), "0"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
link = f"{host}/sys/bus/pci/devices/{addr}/driver"
# Unbound from igb: the claim is in the drivers_probe that hangs.
wait_for(f"{addr} never left igb", lambda: not os.path.lexists(link), 10)
blocked = []
end = time.monotonic() + 1.5
while time.monotonic() < end:
    blocked.append(list_ms())
with open(faults, "w") as f:
    f.write("")
_, err = claim.communicate(timeout=30)
if claim.returncode != 0:
    sys.exit(f"bench-claim.sh: the claim behind the hung probe failed: {err.decode().strip()}")
# busctl was the holder: its exit gives the group back.
wait_for("the hung claim's lease stays", lambda: len(manager.ListLeases()) == 0, 10)
print(f"{rate:.1f} {statistics.median(idle):.3f} {max(idle):.3f} "
      f"{statistics.median(blocked):.3f} {max(blocked):.3f} {len(blocked)} {floor:.3f}")
PYEOF
# 3. The baseline: the same writes from one shell process under the same preload, on a tree of
#    its own (no uevents: nobody listens), run in each round before the daemon's turn.
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
baseline_rate() {
        b0=$(now)
        # shellcheck disable=SC2086
        LD_PRELOAD=$mock VFIO_MOCK_ROOT=$work/baseline \
                sh -e "$work/baseline.sh" "$work/baseline" "$cycles" $functions
        b1=$(now)
        check_host_drivers "$work/baseline"
        echo "$cycles $b0 $b1" | awk '{ printf "%.1f", $1 / ($3 - $2) }'
}

: >"$work/rounds"
r=0
while [ "$r" -lt "$rounds" ]; do
        echo "base $(baseline_rate)" >>"$work/rounds"
        for build in after ${before:+before}; do
                if [ "$build" = before ]; then
                        stop_daemon
                        start_daemon "$before"
                fi
                echo "$build $("$python" "$work/round.py" "$group" "$cycles" "$work/host" \
                        "$work/faults" "${functions%% *}")" >>"$work/rounds"
                check_host_drivers "$work/host"
                if [ "$build" = before ]; then
                        stop_daemon
                        start_daemon "$builddir"
                fi
        done
        r=$((r + 1))
done

# The medians of the rounds per build, then everything against its baseline.
{
        echo "cycles $cycles $t0 $t1"
        cat "$work/rounds"
} | awk -v results="$results" '
function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++)
                for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function line(what, rate) {
        printf "bench:   %-48s %8.1f cycles/s (%6.2f ms/cycle)\n", what, rate, 1000 / rate
}
$1 == "cycles" { n = $2; cli = n / ($4 - $3); next }
$1 == "base" { baserate[++nbase] = $2; next }
{
        k = ++count[$1]
        rate[$1, k] = $2; idle[$1, k] = $3; idlemax[$1, k] = $4; blk[$1, k] = $5; blkmax[$1, k] = $6
        samples[$1, k] = $7; envfloor[$1, k] = $8
}
END {
        for (b in count) {
                for (i = 1; i <= count[b]; i++) {
                        r[i] = rate[b, i]; x[i] = idle[b, i]; y[i] = blk[b, i]; f[i] = envfloor[b, i]
                        mx[b] = idlemax[b, i] > mx[b] ? idlemax[b, i] : mx[b]
                        my[b] = blkmax[b, i] > my[b] ? blkmax[b, i] : my[b]
                        ns[b] += samples[b, i]
                }
                mrate[b] = median(r, count[b]); midle[b] = median(x, count[b]); mblk[b] = median(y, count[b])
                mfloor[b] = median(f, count[b])
        }
        base = median(baserate, nbase)
        printf "bench: claim+release of a 3-function IOMMU group, kernel model, %d cycles, medians of %d rounds\n", n, nbase
        line("vfio-assignd, assignctl claim --exec true:", cli)
        line("vfio-assignd, one client (ClaimGroup+Release):", mrate["after"])
        line("baseline, sh writing the same sysfs files:", base)
        printf "bench: ratio baseline/daemon: %.1fx (one client), %.1fx (assignctl)\n",
               base / mrate["after"], base / cli
        # The part of a cycle that is the bus and polkit, and what is left for the daemon.
        own = 1000 / mrate["after"] - mfloor["after"]
        printf "bench:   of a cycle, the bus and polkit (2 round trips + 1 CheckAuthorization): %.2f ms (%.1fx the baseline alone)\n",
               mfloor["after"], mfloor["after"] / (1000 / base)
        printf "bench:   the rest, the daemon itself (cycle - bus and polkit): %.2f ms, %.1fx the baseline\n",
               own, own / (1000 / base)
        printf "claim_env_ms %.3f\nclaim_own_ratio %.2f\n", mfloor["after"], own / (1000 / base) >>results
        printf "claim_daemon_per_s %.1f\nclaim_assignctl_per_s %.1f\nclaim_shell_per_s %.1f\n",
               mrate["after"], cli, base >>results
        printf "claim_ratio %.2f\nclaim_ratio_assignctl %.2f\n", base / mrate["after"], base / cli >>results
        if ("before" in count) {
                line("the older build (--before), one client:", mrate["before"])
                printf "bench: ratio this build/older build: %.2fx cycles/s (median of %d interleaved rounds)\n",
                       mrate["after"] / mrate["before"], count["after"]
        }
        print "bench: ListGroups latency, idle and while a claim waits 2 s for a hung probe (medians of the rounds):"
        for (b in count)
                printf "bench:   %-6s idle p50 %7.2f ms (max %7.2f), blocked p50 %8.2f ms (max %8.2f, %d calls in 1.5 s), ratio blocked/idle %.1fx\n",
                       b == "after" ? "this" : "older", midle[b], mx[b], mblk[b], my[b], ns[b] / count[b],
                       mblk[b] / midle[b]
}'
