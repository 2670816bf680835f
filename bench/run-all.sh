#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# run-all.sh: what `make bench` runs. Builds each synthetic host once (bench/mkbighost, under
# /dev/shm when writable), runs run-report.sh, run-uevent.sh, run-daemon-rss.sh and
# bench-claim.sh on them, then prints one summary block: every figure, each target of issue 11
# with PASS or MISS, and how long the whole run took.
#
# Options: --builddir=DIR (default .)  --reps=N (7, report runs per size)  --sizes=N,N,N
#          (1000,9000,36000: the report's hosts)  --devices=N (9000: the daemon's host; one of
#          the sizes)  --big=N (36000: GetManagedObjects; one of the sizes)  --rounds=N (5:
#          latency rounds, storms)  --claim-cycles=N (200)  --claim-rounds=N (5)
#          --before=DIR (an older build directory, for bench-claim.sh)  --tmpdir=DIR
set -eu

builddir=.
reps=7
sizes=1000,9000,36000
devices=9000
big=36000
rounds=5
claim_cycles=200
claim_rounds=5
before=
tmpbase=

for arg in "$@"; do
        case "$arg" in
        --builddir=*) builddir=${arg#*=} ;;
        --reps=*) reps=${arg#*=} ;;
        --sizes=*) sizes=${arg#*=} ;;
        --devices=*) devices=${arg#*=} ;;
        --big=*) big=${arg#*=} ;;
        --rounds=*) rounds=${arg#*=} ;;
        --claim-cycles=*) claim_cycles=${arg#*=} ;;
        --claim-rounds=*) claim_rounds=${arg#*=} ;;
        --before=*) before=${arg#*=} ;;
        --tmpdir=*) tmpbase=${arg#*=} ;;
        -h|--help) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-all.sh: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
srcdir=$(cd "$(dirname "$0")/.." && pwd)
builddir=$(cd "$builddir" && pwd)
. "$srcdir/bench/bench-lib.sh"
bench_init bench
start=$(date +%s.%N)
hosts=$work/hosts
results=$work/results
mkdir "$hosts"
: >"$results"

for n in $(echo "$sizes,$devices,$big" | tr ',' '\n' | sort -nu); do
        [ "$n" -eq 0 ] || bench_host "$n" >/dev/null
done

# step NAME SCRIPT ARGS...: a script's exit 77 (a tool missing) is a skip, not a failure.
failed=
step() {
        name=$1
        shift
        echo "bench: ---- $name"
        rc=0
        sh "$@" --builddir="$builddir" --results="$results" || rc=$?
        case "$rc" in
        0) ;;
        77) echo "skipped_$name 1" >>"$results" ;;
        *) failed="$failed $name"; echo "bench: $name failed (exit $rc)" ;;
        esac
}
step report "$srcdir/bench/run-report.sh" --hosts="$hosts" --reps="$reps" --devices="$sizes"
step uevent "$srcdir/bench/run-uevent.sh" --hosts="$hosts" --devices="$devices" \
        --rounds="$rounds" --storms="$rounds"
step rss "$srcdir/bench/run-daemon-rss.sh" --hosts="$hosts" --devices="$devices" --big="$big"
step claim "$srcdir/bench/bench-claim.sh" --srcdir="$srcdir" --cycles="$claim_cycles" \
        --rounds="$claim_rounds" ${before:+--before="$before"}

end=$(date +%s.%N)
echo "total_s $(echo "$start $end" | awk '{ printf "%.0f", $2 - $1 }')" >>"$results"
awk -v sizes="$sizes" -v dev="$devices" -v big="$big" '
{ v[$1] = $2 }
function has(k) { return k in v }
function verdict(ok) { return ok ? "PASS" : "MISS" }
function k(n) { return n >= 1000 ? sprintf("%gk", n / 1000) : n }
END {
        print "==================== vfio-assignd bench summary ===================="
        n = split(sizes, s, ",")
        line = ""
        for (i = 1; i <= n; i++)
                line = line sprintf(" %s: %s s", k(s[i]), v["hostgen_" s[i] "_s"])
        printf "hosts built (mkbighost):%s\n", line
        for (i = 1; i <= n; i++) {
                r = "report_" s[i]
                if (!has(r "_ms")) { printf "report vs lspci %4s: not measured\n", k(s[i]); continue }
                printf "report vs lspci %4s: %8.1f ms vs %8.1f ms = %.2fx", k(s[i]), v[r "_ms"],
                       v["lspci_" s[i] "_ms"], v[r "_ratio"]
                if (s[i] >= 9000)
                        printf "  (target <= 0.5x)  %s", verdict(v[r "_ratio"] <= 0.5)
                printf "\n"
                printf "report peak RSS %4s: %8.1f MiB (lspci %.1f MiB)", k(s[i]), v[r "_rss_mib"],
                       v["lspci_" s[i] "_rss_mib"]
                if (s[i] == big)
                        printf "  (target <= 32 MiB)  %s", verdict(v[r "_rss_mib"] <= 32)
                printf "\n"
        }
        if (has("latency_p50_ms")) {
                printf "uevent -> PropertiesChanged %s: p50 %.2f ms, p99 %.2f ms; Ping p50 %.2f ms, p99 %.2f ms; ratio p50 %.1fx, p99 %.1fx\n",
                       k(dev), v["latency_p50_ms"], v["latency_p99_ms"], v["ping_p50_ms"],
                       v["ping_p99_ms"], v["latency_p50_ms"] / v["ping_p50_ms"],
                       v["latency_p99_ms"] / v["ping_p99_ms"]
                printf "    p99 (target <= 5 ms)  %s\n", verdict(v["latency_p99_ms"] <= 5)
        } else
                print "uevent -> PropertiesChanged: not measured"
        if (has("storm_events_per_s")) {
                printf "event storm %s: %.0f events/s  (target >= 2000)  %s\n", k(dev),
                       v["storm_events_per_s"], verdict(v["storm_events_per_s"] >= 2000)
                printf "    longest write() %.1f ms, %d writes > 100 ms  (target <= 100 ms)  %s\n",
                       v["storm_max_write_ms"], v["storm_writes_over_100ms"],
                       verdict(v["storm_max_write_ms"] <= 100)
        } else
                print "event storm: not measured"
        if (has("claim_ratio")) {
                printf "claim+release: daemon %.1f/s (assignctl %.1f/s), shell %.1f/s: cost %.2fx the shell (assignctl %.2fx)  (target <= 1.5x)  %s\n",
                       v["claim_daemon_per_s"], v["claim_assignctl_per_s"], v["claim_shell_per_s"],
                       v["claim_ratio"], v["claim_ratio_assignctl"], verdict(v["claim_ratio"] <= 1.5)
                if (has("claim_env_ms"))
                        printf "    of a cycle, the bus and polkit alone %.2f ms (%.2fx the shell); the daemon itself %.2fx the shell\n",
                               v["claim_env_ms"], v["claim_env_ms"] * v["claim_shell_per_s"] / 1000,
                               v["claim_own_ratio"]
        } else
                print "claim+release: not measured"
        if (has("rss_after_reads_mib")) {
                printf "daemon RSS %s: settled %.1f MiB; after GetManagedObjects %.1f, GetHostReport %.1f, ListDevices %.1f; at most %.1f MiB (VmHWM %.1f)  (target <= 16 MiB)  %s\n",
                       k(dev), v["rss_steady_mib"], v["rss_after_GetManagedObjects_mib"],
                       v["rss_after_GetHostReport_mib"], v["rss_after_ListDevices_mib"],
                       v["rss_after_reads_mib"], v["rss_hwm_mib"], verdict(v["rss_after_reads_mib"] <= 16)
                fate = v["gmo_big_daemon"]
                gsub(/_/, " ", fate)
                if (has("gmo_big"))
                        printf "GetManagedObjects %s: %s, then the daemon %s (settled at %.1f MiB before)  (target: succeeds)  %s\n",
                               k(big), v["gmo_big"], fate,
                               v["rss_big_steady_mib"], verdict(v["gmo_big"] == "ok")
        } else
                print "daemon RSS: not measured"
        for (key in v)
                if (key ~ /^skipped_/)
                        printf "skipped (a tool missing): %s\n", substr(key, 9)
        printf "make bench took %d s\n", v["total_s"]
        print "===================================================================="
}' "$results"
[ -z "$failed" ] || { echo "bench: failed:$failed" >&2; exit 1; }
