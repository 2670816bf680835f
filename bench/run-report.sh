#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-report.sh: times `vfio-assignd --report` on synthetic large hosts of each size against the
# baseline `lspci -D -nn -k -A linux-sysfs` on the same tree, in the same run, interleaved, and
# prints the medians, their ratio and the peak RSS of each. Targets (issue 11): ratio <= 0.5 at
# 9k and 36k devices, report peak RSS <= 32 MiB at 36k. Without a vfio-assignd binary only the
# baseline is measured.
#
# Options: --builddir=DIR (default .: where bench/mkbighost, bench/runstat, vfio-assignd are)
#          --vfio-assignd=PATH  --reps=N (7)  --devices=N[,N...] (1000,9000,36000)
#          --host=DIR (use this tree, one size; no mkbighost)  --hosts=DIR (reuse or keep the
#          trees host-N in DIR, as run-all.sh does)  --tmpdir=DIR (default /dev/shm when
#          writable, else $TMPDIR or /tmp)  --keep (leave the work directory behind)
#          --results=FILE (append "key value" figures for run-all.sh)
set -eu

builddir=.
srcdir=
assignd=
reps=7
sizes=1000,9000,36000
host=
hosts=
tmpbase=
keep=no
results=

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --vfio-assignd=*) assignd=${arg#*=} ;;
        --reps=*) reps=${arg#*=} ;;
        --devices=*) sizes=${arg#*=} ;;
        --host=*) host=${arg#*=} ;;
        --hosts=*) hosts=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        --keep) keep=yes ;;
        --results=*) results=${arg#*=} ;;
        -h|--help) sed -n '3,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-report.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
case "$reps" in ''|*[!0-9]*|0) echo "run-report.sh: --reps takes a positive number" >&2; exit 2 ;; esac
for n in $(echo "$sizes" | tr ',' ' '); do
        case "$n" in ''|*[!0-9]*) echo "run-report.sh: --devices takes numbers" >&2; exit 2 ;; esac
done
srcdir=$(cd "$(dirname "$0")/.." && pwd)
. "$srcdir/bench/bench-lib.sh"

runstat=$builddir/bench/runstat
[ -n "$assignd" ] || assignd=$builddir/vfio-assignd
[ -x "$runstat" ] || { echo "run-report.sh: $runstat not built (make bench/runstat)" >&2; exit 2; }
command -v lspci >/dev/null || { echo "run-report.sh: lspci (pciutils) is not installed" >&2; exit 2; }
have_assignd=yes
if [ ! -x "$assignd" ]; then
        have_assignd=no
        echo "bench: $assignd not found: measuring the lspci baseline only"
fi
bench_init bench-report

run_lspci() {
        "$runstat" -o "$work/lspci.out" -- lspci -D -nn -k -A linux-sysfs \
                -O "sysfs.path=$host/sys/bus/pci" 2>/dev/null
}
run_report() {
        "$runstat" -o "$work/report.out" -- "$assignd" --report --sysfs-root="$host" \
                --dev-root="$host"
}
# One sample: "wall_ms maxrss_kb" appended to FILE; the command must succeed.
sample() {
        what=$1 file=$2
        line=$(run_$what)
        case "$line" in
        *" exit=0") ;;
        *) echo "run-report.sh: $what failed: $line" >&2; exit 1 ;;
        esac
        echo "$line" | sed 's/wall_ms=\([^ ]*\) maxrss_kb=\([^ ]*\).*/\1 \2/' >>"$file"
}
peak_mib() { awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { printf "%.1f", m / 1024 }' "$1"; }

# measure SIZE: the interleaved runs on $host, SIZE naming the figures.
measure() {
        size=$1
        ndev=$(ls "$host/sys/bus/pci/devices" | wc -l)
        # Warm the page cache and check the outputs once, then measure, alternating which goes
        # first.
        sample lspci "$work/warm"
        listed=$(grep -c '^[0-9a-f]\{4\}:[0-9a-f]\{2\}:[0-9a-f]\{2\}\.[0-7] ' "$work/lspci.out" || true)
        [ "$listed" -eq "$ndev" ] || { echo "run-report.sh: lspci listed $listed of $ndev devices" >&2; exit 1; }
        if [ "$have_assignd" = yes ]; then
                sample report "$work/warm"
                [ -s "$work/report.out" ] || { echo "run-report.sh: empty report" >&2; exit 1; }
        fi
        : >"$work/lspci.txt"
        : >"$work/report.txt"
        i=0
        while [ "$i" -lt "$reps" ]; do
                if [ $((i % 2)) -eq 0 ] || [ "$have_assignd" = no ]; then
                        sample lspci "$work/lspci.txt"
                        [ "$have_assignd" = no ] || sample report "$work/report.txt"
                else
                        sample report "$work/report.txt"
                        sample lspci "$work/lspci.txt"
                fi
                i=$((i + 1))
        done

        l_med=$(bench_median "$work/lspci.txt")
        l_rss=$(peak_mib "$work/lspci.txt")
        printf 'bench: %d devices: lspci -D -nn -k (linux-sysfs): median %8.1f ms over %d runs, peak RSS %s MiB\n' \
                "$ndev" "$l_med" "$reps" "$l_rss"
        bench_result "lspci_${size}_ms" "$l_med"
        bench_result "lspci_${size}_rss_mib" "$l_rss"
        [ "$have_assignd" = yes ] || return 0
        r_med=$(bench_median "$work/report.txt")
        r_rss=$(peak_mib "$work/report.txt")
        ratio=$(echo "$r_med $l_med" | awk '{ printf "%.2f", $1 / $2 }')
        printf 'bench: %d devices: vfio-assignd --report:        median %8.1f ms over %d runs, peak RSS %s MiB\n' \
                "$ndev" "$r_med" "$reps" "$r_rss"
        printf 'bench: %d devices: ratio report/lspci = %s\n' "$ndev" "$ratio"
        bench_result "report_${size}_ms" "$r_med"
        bench_result "report_${size}_rss_mib" "$r_rss"
        bench_result "report_${size}_ratio" "$ratio"
}

if [ -n "$host" ]; then
        measure "$(ls "$host/sys/bus/pci/devices" | wc -l)"
else
        for n in $(echo "$sizes" | tr ',' ' '); do
                host=$(bench_host "$n")
                measure "$n"
                # A tree of our own goes as soon as it is measured: 36k devices take 2 GiB.
                [ -n "$hosts" ] || [ "$keep" = yes ] || rm -rf "$host"
        done
fi
