# SPDX-License-Identifier: LGPL-2.1-or-later
# bench-lib.sh: shell functions the bench scripts share (sourced, not run). The caller sets
# builddir and srcdir, and calls bench_init NAME first.

# bench_init NAME: $work, a new directory under /dev/shm (when writable: the synthetic hosts
# take about 60 KiB per device and tmpfs builds them in seconds) or $tmpbase, removed on exit
# together with the processes started here.
bench_init() {
        bench_name=$1
        if [ -z "${tmpbase:-}" ]; then
                tmpbase=${TMPDIR:-/tmp}
                if [ -d /dev/shm ] && [ -w /dev/shm ]; then tmpbase=/dev/shm; fi
        fi
        work=$(mktemp -d "$tmpbase/vfio-$bench_name.XXXXXX")
        bus_pid=
        daemon_pid=
        trap bench_cleanup EXIT
        trap 'exit 130' INT TERM
}

bench_cleanup() {
        # Only the processes this script started, by their ids.
        bench_stop_daemon
        if [ -n "$bus_pid" ]; then
                kill -TERM "$bus_pid" 2>/dev/null || true
                wait "$bus_pid" 2>/dev/null || true
        fi
        if [ "${keep:-no}" = yes ]; then echo "bench: kept $work"; else rm -rf "$work"; fi
}

bench_die() {
        echo "$bench_name: $*" >&2
        exit 1
}

# bench_result KEY VALUE: one figure for run-all.sh's summary (when $results names a file).
bench_result() {
        [ -z "${results:-}" ] || echo "$1 $2" >>"$results"
}

# bench_host N: prints the path of a synthetic host of about N devices. With $hosts (a directory
# run-all.sh shares between the scripts) a tree built before is reused; otherwise it is built
# in $work. The build time goes to stderr and to the results.
bench_host() {
        dir=${hosts:-$work}/host-$1
        if [ ! -d "$dir/sys/bus/pci/devices" ]; then
                [ -x "$builddir/bench/mkbighost" ] || bench_die "$builddir/bench/mkbighost not built"
                rm -rf "$dir"
                t0=$(date +%s.%N)
                summary=$("$builddir/bench/mkbighost" --devices="$1" "$dir") ||
                        bench_die "mkbighost --devices=$1 failed"
                t1=$(date +%s.%N)
                secs=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')
                echo "bench: host: $summary ($secs s to build in $dir)" >&2
                bench_result "hostgen_$1_s" "$secs"
        fi
        echo "$dir"
}

# bench_median FILE: the median of the first column.
bench_median() {
        sort -g "$1" | awk '{ v[NR] = $1 }
                END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_start_bus: a private system bus (tests/test-system-bus.conf, which includes the shipped
# dbus/org.vfioassign1.conf); exports DBUS_SYSTEM_BUS_ADDRESS. --nofork keeps the bus our
# child, so it is reaped here and not left to whatever PID 1 is.
bench_start_bus() {
        conf=$srcdir/tests/test-system-bus.conf
        [ -f "$conf" ] || bench_die "$conf missing"
        dbus-daemon --config-file="$conf" --address="unix:path=$work/bus" --nofork --nopidfile \
                --print-address=1 >"$work/bus.address" 2>"$work/bus.log" &
        bus_pid=$!
        tries=0
        until [ -s "$work/bus.address" ]; do
                kill -0 "$bus_pid" 2>/dev/null || { cat "$work/bus.log" >&2; bus_pid=; exit 1; }
                tries=$((tries + 1))
                [ "$tries" -lt 200 ] || bench_die "dbus-daemon did not start"
                sleep 0.05
        done
        DBUS_SYSTEM_BUS_ADDRESS=$(sed -n 1p "$work/bus.address")
        export DBUS_SYSTEM_BUS_ADDRESS
}

bench_ping() {
        dbus-send --system --print-reply --dest=org.vfioassign1 /org/vfioassign1 \
                org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1
}

# bench_cdi_arg ASSIGND: its CDI spec in $work, never the host's /run/cdi; nothing for an older
# build, which writes none.
bench_cdi_arg() {
        if "$1" --help | grep -q -- --cdi-spec; then
                echo "--cdi-spec=$work/cdi/vfio-assignd.json"
        fi
}

# bench_start_daemon ASSIGND HOST [ARGS...]: the daemon on the tree, with its runtime, state and
# policy directories in $work (never the host's), waiting until it answers a Ping: it takes its
# name before it reads the host and answers calls only after. Sets $daemon_pid and
# $daemon_start_s (seconds until the first answer).
bench_start_daemon() {
        assignd=$1 host=$2
        shift 2
        mkdir -p "$work/run" "$work/state" "$work/policy.d"
        cp "$srcdir/policy/default.json" "$work/policy.d/"
        t0=$(date +%s.%N)
        "$assignd" --sysfs-root="$host" --dev-root="$host" --runtime-dir="$work/run" \
                --state-dir="$work/state" --policy-dir="$work/policy.d" $(bench_cdi_arg "$assignd") "$@" \
                >"$work/daemon.log" 2>&1 &
        daemon_pid=$!
        tries=0
        until bench_ping; do
                if ! kill -0 "$daemon_pid" 2>/dev/null; then
                        cat "$work/daemon.log" >&2
                        daemon_pid=
                        bench_die "vfio-assignd exited before answering on the bus"
                fi
                tries=$((tries + 1))
                [ "$tries" -lt 2400 ] || bench_die "vfio-assignd did not answer within 120 s"
                sleep 0.05
        done
        t1=$(date +%s.%N)
        daemon_start_s=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
}

bench_stop_daemon() {
        [ -n "${daemon_pid:-}" ] || return 0
        kill -TERM "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
        daemon_pid=
}

# bench_rss_kib FIELD: VmRSS or VmHWM of the running daemon, in KiB.
bench_rss_kib() {
        awk -v f="$1:" '$1 == f { print $2 }' "/proc/$daemon_pid/status"
}
