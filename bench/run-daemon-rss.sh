#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-daemon-rss.sh: vfio-assignd on a private system bus (tests/test-system-bus.conf, which
# includes the shipped dbus/org.vfioassign1.conf) and a synthetic host. On the first size: VmRSS
# once it answers and has settled, then after each read call of a sequence (GetManagedObjects,
# GetHostReport, ListDevices, twice over) and VmHWM at the end. On the second size: whether
# GetManagedObjects succeeds, and whether the daemon still answers on its name afterwards.
# Targets (issue 11): RSS <= 16 MiB at 9k devices after any sequence of read calls;
# GetManagedObjects at 36k succeeds. Exits 77 when dbus-daemon or busctl is missing.
#
# Options: --builddir=DIR  --vfio-assignd=PATH  --devices=N (9000)  --big=N (36000; 0: skip)
#          --hosts=DIR (see run-report.sh)  --tmpdir=DIR  --settle=SECONDS (2)  --results=FILE
set -eu

builddir=.
assignd=
devices=9000
big=36000
hosts=
tmpbase=
settle=2
results=

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --srcdir=*) ;; # accepted for older callers: the scripts find their sources themselves
        --vfio-assignd=*) assignd=${arg#*=} ;;
        --devices=*) devices=${arg#*=} ;;
        --big=*) big=${arg#*=} ;;
        --hosts=*) hosts=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        --settle=*) settle=${arg#*=} ;;
        --results=*) results=${arg#*=} ;;
        -h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-daemon-rss.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
for n in "$devices" "$big" "$settle"; do
        case "$n" in ''|*[!0-9]*) echo "run-daemon-rss.sh: numbers expected" >&2; exit 2 ;; esac
done
srcdir=$(cd "$(dirname "$0")/.." && pwd)
. "$srcdir/bench/bench-lib.sh"
[ -n "$assignd" ] || assignd=$builddir/vfio-assignd
command -v dbus-daemon >/dev/null || { echo "run-daemon-rss.sh: dbus-daemon missing: skipped"; exit 77; }
command -v busctl >/dev/null || { echo "run-daemon-rss.sh: busctl missing: skipped"; exit 77; }
[ -x "$assignd" ] || { echo "run-daemon-rss.sh: $assignd not built" >&2; exit 2; }
bench_init bench-rss

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# call METHOD: one read call of the daemon through busctl; "ok in MS ms (...)" with the size of
# busctl's text of the reply (not the wire size), or "failed after MS ms: the error".
call() {
        case "$1" in
        GetManagedObjects) iface=org.freedesktop.DBus.ObjectManager ;;
        *) iface=org.vfioassign1.Manager ;;
        esac
        t0=$(date +%s.%N)
        if busctl --system --timeout=120 call org.vfioassign1 /org/vfioassign1 "$iface" "$1" \
                >"$work/reply" 2>"$work/reply.err"; then
                t1=$(date +%s.%N)
                echo "ok in $(echo "$t0 $t1" | awk '{ printf "%.0f", ($2 - $1) * 1000 }') ms ($(wc -c <"$work/reply") bytes as busctl prints it)"
        else
                t1=$(date +%s.%N)
                echo "failed after $(echo "$t0 $t1" | awk '{ printf "%.0f", ($2 - $1) * 1000 }') ms: $(head -c 200 "$work/reply.err")"
        fi
}

bench_start_bus

host=$(bench_host "$devices")
ndev=$(ls "$host/sys/bus/pci/devices" | wc -l)
bench_start_daemon "$assignd" "$host"
sleep "$settle"
rss=$(bench_rss_kib VmRSS)
echo "bench: $ndev devices: vfio-assignd answering after $daemon_start_s s; VmRSS $(mib "$rss") MiB settled"
bench_result rss_steady_mib "$(mib "$rss")"
max=$rss
for round in 1 2; do
        for m in GetManagedObjects GetHostReport ListDevices; do
                res=$(call "$m")
                rss=$(bench_rss_kib VmRSS)
                [ "$rss" -le "$max" ] || max=$rss
                echo "bench: $ndev devices: $m: $res; VmRSS after it $(mib "$rss") MiB"
                case "$res" in ok*) ;; *) bench_die "$m failed at $ndev devices" ;; esac
                [ "$round" -gt 1 ] || bench_result "rss_after_$m"_mib "$(mib "$rss")"
        done
done
hwm=$(bench_rss_kib VmHWM)
echo "bench: $ndev devices: VmRSS at most $(mib "$max") MiB after the read calls, VmHWM $(mib "$hwm") MiB"
bench_result rss_after_reads_mib "$(mib "$max")"
bench_result rss_hwm_mib "$(mib "$hwm")"
bench_stop_daemon

[ "$big" -gt 0 ] || exit 0
# The trees only the first size needed can go: the big one takes 2 GiB.
[ -n "$hosts" ] || rm -rf "$host"
host=$(bench_host "$big")
ndev=$(ls "$host/sys/bus/pci/devices" | wc -l)
bench_start_daemon "$assignd" "$host"
rss=$(bench_rss_kib VmRSS)
echo "bench: $ndev devices: vfio-assignd answering after $daemon_start_s s; VmRSS $(mib "$rss") MiB"
bench_result rss_big_steady_mib "$(mib "$rss")"
res=$(call GetManagedObjects)
case "$res" in ok*) gmo=ok ;; *) gmo=failed ;; esac
# A daemon that lost its bus connection should exit (and systemd restart it): give it a moment.
sleep 1
state=$(awk '{ print $3 }' "/proc/$daemon_pid/stat" 2>/dev/null || echo gone)
if [ "$state" = Z ] || [ "$state" = gone ]; then
        rc=0
        wait "$daemon_pid" || rc=$?
        daemon_pid=
        alive="exited with status $rc"
elif bench_ping; then
        alive="still answers on its name, VmRSS $(mib "$(bench_rss_kib VmRSS)") MiB"
else
        alive="is still running without answering on its name"
fi
echo "bench: $ndev devices: GetManagedObjects: $res; the daemon $alive"
bench_result gmo_big "$gmo"
bench_result gmo_big_daemon "$(echo "$alive" | cut -d, -f1 | tr ' ' _)"
