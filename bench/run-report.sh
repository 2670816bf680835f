#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-report.sh: times `vfio-assignd --report` on a synthetic large host against the baseline
# `lspci -D -nn -k -A linux-sysfs` on the same tree, in the same run, interleaved, and prints
# the medians, their ratio and the peak RSS of each. Targets (docs/design notes): ratio <= 1.0,
# report peak RSS <= 32 MiB. Without a vfio-assignd binary only the baseline is measured.
#
# Options: --builddir=DIR (default .: where bench/mkbighost, bench/runstat, vfio-assignd are)
#          --vfio-assignd=PATH  --reps=N (7)  --devices=N (9000)  --host=DIR (use this tree;
#          no mkbighost)  --tmpdir=DIR (default /dev/shm when writable, else $TMPDIR or /tmp)
#          --keep (leave the generated host behind)
set -eu

builddir=.
assignd=
reps=7
devices=9000
host=
tmpbase=
keep=no

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --vfio-assignd=*) assignd=${arg#*=} ;;
        --reps=*) reps=${arg#*=} ;;
        --devices=*) devices=${arg#*=} ;;
        --host=*) host=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        --keep) keep=yes ;;
        -h|--help) sed -n '3,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-report.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
case "$reps" in ''|*[!0-9]*|0) echo "run-report.sh: --reps takes a positive number" >&2; exit 2 ;; esac

runstat=$builddir/bench/runstat
mkbighost=$builddir/bench/mkbighost
[ -n "$assignd" ] || assignd=$builddir/vfio-assignd
[ -x "$runstat" ] || { echo "run-report.sh: $runstat not built (make bench/runstat)" >&2; exit 2; }
command -v lspci >/dev/null || { echo "run-report.sh: lspci (pciutils) is not installed" >&2; exit 2; }

# A tmpfs keeps generation fast (~1 s for 9000 devices; minutes on a journalled disk); the
# tree takes about 60 KiB per device.
if [ -z "$tmpbase" ]; then
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmpbase=/dev/shm; else tmpbase=${TMPDIR:-/tmp}; fi
fi
work=$(mktemp -d "$tmpbase/vfio-bench.XXXXXX")
cleanup() {
        if [ "$keep" = yes ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$host" ]; then
        [ -x "$mkbighost" ] || { echo "run-report.sh: $mkbighost not built" >&2; exit 2; }
        host=$work/host
        t0=$(date +%s.%N)
        summary=$("$mkbighost" --devices="$devices" "$host")
        t1=$(date +%s.%N)
        echo "bench: host: $summary ($(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}') s to build in $host)"
fi
ndev=$(ls "$host/sys/bus/pci/devices" | wc -l)

have_assignd=yes
if [ ! -x "$assignd" ]; then
        have_assignd=no
        echo "bench: $assignd not found: measuring the lspci baseline only"
fi

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

# Warm the page cache and check the outputs once, then measure, alternating which goes first.
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

median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
peak_mib() { awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { printf "%.1f", m / 1024 }' "$1"; }

l_med=$(median "$work/lspci.txt")
printf 'bench: lspci -D -nn -k (linux-sysfs): median %8.1f ms over %d runs, peak RSS %s MiB\n' \
        "$l_med" "$reps" "$(peak_mib "$work/lspci.txt")"
if [ "$have_assignd" = yes ]; then
        r_med=$(median "$work/report.txt")
        r_rss=$(peak_mib "$work/report.txt")
        printf 'bench: vfio-assignd --report:        median %8.1f ms over %d runs, peak RSS %s MiB\n' \
                "$r_med" "$reps" "$r_rss"
        echo "$r_med $l_med $r_rss" | awk '{
                ratio = $1 / $2
                printf "bench: ratio report/lspci = %.2f (target <= 1.0: %s)\n", ratio, ratio <= 1.0 ? "met" : "NOT met"
                printf "bench: report peak RSS = %.1f MiB (target <= 32 MiB: %s)\n", $3, $3 <= 32 ? "met" : "NOT met"
        }'
fi
