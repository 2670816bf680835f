#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-uevent.sh: vfio-assignd on a private system bus and a synthetic host, fed uevents through
# --uevent-fifo by bench/uevent-client.py:
#  - latency: uevent -> PropertiesChanged of one device, p50 and p99 per round, against the
#    round trip of a Ping from the same client, interleaved (the medians of the rounds);
#  - storm: EVENTS change events for as many devices written as fast as the FIFO takes them
#    (what creating VFs on large SR-IOV cards produces), events handled per second and the
#    longest single write() (the writer blocked on a full FIFO); median of the runs.
# Targets (issue 11): p99 <= 5 ms at 9k devices; >= 2,000 events/s, no write blocked > 100 ms.
# Exits 77 when dbus-daemon or python3-dbus with GLib is missing.
#
# Options: --builddir=DIR  --vfio-assignd=PATH  --devices=N (9000)  --hosts=DIR (see
#          run-report.sh)  --rounds=N (5)  --samples=N (200 per round)  --events=N (5000)
#          --storms=N (5)  --tmpdir=DIR  --results=FILE
set -eu

builddir=.
assignd=
devices=9000
hosts=
rounds=5
samples=200
events=5000
storms=5
tmpbase=
results=
python=${DBUSMOCK_PYTHON:-/usr/bin/python3}

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --vfio-assignd=*) assignd=${arg#*=} ;;
        --devices=*) devices=${arg#*=} ;;
        --hosts=*) hosts=${arg#*=} ;;
        --rounds=*) rounds=${arg#*=} ;;
        --samples=*) samples=${arg#*=} ;;
        --events=*) events=${arg#*=} ;;
        --storms=*) storms=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        --results=*) results=${arg#*=} ;;
        -h|--help) sed -n '3,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-uevent.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
for n in "$devices" "$rounds" "$samples" "$events" "$storms"; do
        case "$n" in ''|*[!0-9]*|0) echo "run-uevent.sh: numbers must be positive" >&2; exit 2 ;; esac
done
srcdir=$(cd "$(dirname "$0")/.." && pwd)
. "$srcdir/bench/bench-lib.sh"
[ -n "$assignd" ] || assignd=$builddir/vfio-assignd
command -v dbus-daemon >/dev/null || { echo "run-uevent.sh: dbus-daemon missing: skipped"; exit 77; }
"$python" -c 'import dbus.mainloop.glib, gi.repository.GLib' 2>/dev/null ||
        { echo "run-uevent.sh: $python lacks dbus or gi (python3-dbus, python3-gi): skipped"; exit 77; }
[ -x "$assignd" ] || { echo "run-uevent.sh: $assignd not built" >&2; exit 2; }
bench_init bench-uevent
client="$python $srcdir/bench/uevent-client.py"

host=$(bench_host "$devices")
ndev=$(ls "$host/sys/bus/pci/devices" | wc -l)
mkfifo "$work/uevents"
bench_start_bus
bench_start_daemon "$assignd" "$host" --uevent-fifo="$work/uevents"
echo "bench: vfio-assignd answering after $daemon_start_s s ($ndev devices)"

$client latency "$host" "$work/uevents" "$rounds" "$samples" >"$work/latency"
for col in 1 2 3 4; do
        awk -v c=$col '{ print $c }' "$work/latency" >"$work/col"
        eval "lat$col=\$(bench_median \"\$work/col\")"
done
# shellcheck disable=SC2154 # lat1..lat4 are set by the eval above
printf 'bench: %d devices: uevent -> PropertiesChanged p50 %.2f ms, p99 %.2f ms; Ping p50 %.2f ms, p99 %.2f ms (medians of %d rounds of %d); ratio p50 %.1fx, p99 %.1fx\n' \
        "$ndev" "$lat1" "$lat2" "$lat3" "$lat4" "$rounds" "$samples" \
        "$(echo "$lat1 $lat3" | awk '{ print $1 / $2 }')" "$(echo "$lat2 $lat4" | awk '{ print $1 / $2 }')"
bench_result latency_p50_ms "$lat1"
bench_result latency_p99_ms "$lat2"
bench_result ping_p50_ms "$lat3"
bench_result ping_p99_ms "$lat4"

: >"$work/storm"
i=0
while [ "$i" -lt "$storms" ]; do
        $client storm "$host" "$work/uevents" "$events" >>"$work/storm"
        i=$((i + 1))
done
awk '{ print $1 / $2 }' "$work/storm" >"$work/col"
rate=$(bench_median "$work/col")
awk '{ print $3 }' "$work/storm" >"$work/col"
maxw=$(sort -g "$work/col" | tail -n 1)
mw=$(bench_median "$work/col")
over=$(awk '{ n += $4 } END { print n }' "$work/storm")
printf 'bench: %d devices: storm of %d change events: %.0f events/s (median of %d), longest write() %.1f ms (median %.1f ms), %d writes blocked > 100 ms\n' \
        "$ndev" "$events" "$rate" "$storms" "$maxw" "$mw" "$over"
bench_result storm_events_per_s "$rate"
bench_result storm_max_write_ms "$maxw"
bench_result storm_writes_over_100ms "$over"
kill -0 "$daemon_pid" 2>/dev/null || bench_die "vfio-assignd died during the storm"
