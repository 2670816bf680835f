#!/bin/bash
# The README's test command (and CI's, through .ci/run): installs what is needed, builds from
# scratch with -Werror, and runs every level: unit + integration (make check), the same under
# ASan/UBSan and under valgrind, the fuzz targets briefly, make distcheck, the Debian package
# (built, then lintian), and the real-kernel VM level (which installs that package). Prints
# Check's summary line per suite and a final "N passed, M failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${BUILD_DIR:-$top/_build}
jobs=$(nproc)
passed=0 failed=0 failures=()
# Test counts for the closing line: Check's checks, plain test scripts and VM scenarios.
tests_passed=0 tests_failed=0

"$top/tests/install-deps.sh" || exit 1

step() {
        local name=$1
        shift
        local t0=$SECONDS
        echo "=== $name"
        if "$@"; then
                passed=$((passed + 1))
                echo "=== $name: ok ($((SECONDS - t0)) s)"
        else
                failed=$((failed + 1))
                failures+=("$name")
                echo "=== $name: FAILED ($((SECONDS - t0)) s)"
        fi
}

summaries() {
        # Check writes "NN%: Checks: N, Failures: N, Errors: N" into each test's log.
        find "$1/tests" -name '*.log' ! -name test-suite.log -print0 | sort -z |
                xargs -0 grep -H '%: Checks' | sed "s|^$1/||"
}

# Adds the Check counts of a build's logs (and scripts without Check, by their result) to the
# closing line's totals.
count_tests() {
        local log trs n f e
        while IFS= read -r -d '' log; do
                trs=${log%.log}.trs
                if read -r n f e < <(sed -n 's/.*%: Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$log" | tail -n 1); then
                        tests_passed=$((tests_passed + n - f - e))
                        tests_failed=$((tests_failed + f + e))
                elif [ -f "$trs" ] && grep -q '^:test-result: PASS' "$trs"; then
                        tests_passed=$((tests_passed + 1))
                elif [ -f "$trs" ] && grep -qE '^:test-result: (FAIL|ERROR)' "$trs"; then
                        tests_failed=$((tests_failed + 1))
                fi
        done < <(find "$1/tests" -name '*.log' ! -name test-suite.log ! -name '*.valgrind.log' -print0)
}

configure_in() {
        local dir=$1
        shift
        rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" && "$top/configure" --quiet --enable-werror "$@"
}

# One named line per Check test ("PASS: claim: test_holder_exit_releases_fast"), from the
# verbose logs: Check writes "file:line:P:tcase:test:iteration: Passed" for each.
named_results() {
        find "$1/tests" -name '*.log' ! -name test-suite.log ! -name '*.valgrind.log' -print0 | sort -z |
                xargs -0 sed -n 's/^[^:]*:[0-9]*:\([PFE]\):\([^:]*\):\([^:]*\):\([0-9]*\):.*/\1 \2: \3 \4/p' |
                awk '{ r = $1 == "P" ? "PASS" : "FAIL"; n = $3; if ($4 != "0") n = n "#" $4; print r ": " $2 " " n }'
}

check_plain() {
        configure_in "$out/check" && make -j"$jobs" --quiet >/dev/null &&
                CK_VERBOSITY=verbose make -j"$jobs" check VERBOSE=1 >make-check.out 2>&1
        local rc=$?
        grep -E '^(PASS|FAIL|SKIP|XFAIL|ERROR):|^# ' "$out/check/make-check.out"
        named_results "$out/check"
        summaries "$out/check"
        count_tests "$out/check"
        [ $rc -eq 0 ] || tail -n 200 "$out/check/make-check.out"
        return $rc
}

check_sanitizers() {
        configure_in "$out/asan" \
                CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
                LDFLAGS="-fsanitize=address,undefined" && make -j"$jobs" --quiet >/dev/null &&
                make -j"$jobs" check VERBOSE=1 >make-check.out 2>&1
        local rc=$?
        summaries "$out/asan"
        [ $rc -eq 0 ] || tail -n 200 "$out/asan/make-check.out"
        return $rc
}

check_valgrind() {
        local rc=0 t
        cd "$out/check" || return 1
        for t in tests/unit/test-*; do
                [ -x "$t" ] || continue
                case "$t" in *.o | *.log | *.trs) continue ;; esac
                # The environment of make check (tests/tests.mk's AM_TESTS_ENVIRONMENT).
                TEST_DATA_DIR="$top/tests/data" MKHOST="$out/check/tests/mkhost" CK_FORK=no \
                        TOP_SRCDIR="$top" TOP_BUILDDIR="$out/check" TEST_BUS_CONF="$top/tests/test-system-bus.conf" \
                        VFIO_ASSIGND="$out/check/vfio-assignd" ASSIGNCTL="$out/check/assignctl" \
                        valgrind -q --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
                        "$t" >"$t.valgrind.log" 2>&1
                local r=$?
                grep -H '%: Checks' "$t.valgrind.log"
                if [ $r -ne 0 ]; then
                        echo "valgrind: $t exited $r"
                        tail -n 40 "$t.valgrind.log"
                        rc=1
                fi
        done
        return $rc
}

check_fuzz() {
        configure_in "$out/fuzz" CC=clang --enable-fuzzing && make -j"$jobs" --quiet >/dev/null || return 1
        local rc=0 f
        for f in tests/fuzz/fuzz-*; do
                [ -x "$f" ] || continue
                local name=${f##*/}
                local corpus=$top/tests/fuzz/corpus/${name#fuzz-}
                mkdir -p "work-$name"
                # -max_len: inputs as large as the largest the parsers accept (a policy file, 64 KiB).
                if ! "$f" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=65536 -print_final_stats=1 "work-$name" \
                        $( [ -d "$corpus" ] && echo "$corpus" ) >"$name.log" 2>&1; then
                        echo "fuzz: $name found a crash"
                        tail -n 60 "$name.log"
                        rc=1
                else
                        echo "fuzz: $name: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$name.log")"
                fi
        done
        return $rc
}

# The D-Bus fuzzer (tests/fuzz/fuzz-bus.c) briefly, against the ASan build: random and malformed
# calls to every member, from root and from nobody, on two sample hosts. A reply that is not a
# named error, a change made by a refused call, a leak or a crash of the daemon fails it; the
# seed is printed (BUS_FUZZ_SEED reruns one, BUS_FUZZ_CALLS sets the number of calls per host).
check_bus_fuzz() {
        cd "$out/asan" && make -j"$jobs" --quiet tests/fuzz/fuzz-bus >/dev/null || return 1
        local seed=${BUS_FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')} rc=0 r host line
        for host in qemu-q35-vtd server; do
                tests/fuzz/fuzz-bus --seed "$seed" --calls "${BUS_FUZZ_CALLS:-4000}" \
                        --host "hosts/$host.host" >"bus-fuzz-$host.log" 2>&1
                r=$?
                line=$(grep '^bus-fuzz: [0-9]* calls' "bus-fuzz-$host.log" | tail -n 1)
                if [ $r -eq 77 ]; then
                        echo "SKIP: bus-fuzz: $host.host: $(grep -m1 '^SKIP' "bus-fuzz-$host.log")"
                elif [ $r -eq 0 ]; then
                        echo "PASS: bus-fuzz: $host.host: ${line#bus-fuzz: }"
                        tests_passed=$((tests_passed + 1))
                else
                        echo "FAIL: bus-fuzz: $host.host: ${line:-no summary} (log: $out/asan/bus-fuzz-$host.log)"
                        grep -A4 '^FINDING' "bus-fuzz-$host.log" | head -n 60
                        tail -n 40 "bus-fuzz-$host.log"
                        tests_failed=$((tests_failed + 1))
                        rc=1
                fi
        done
        return $rc
}

check_distcheck() {
        cd "$out/check" && make -j"$jobs" distcheck >distcheck.out 2>&1
        local rc=$?
        grep -E 'archives ready|is ready for distribution' "$out/check/distcheck.out"
        [ $rc -eq 0 ] || tail -n 100 "$out/check/distcheck.out"
        return $rc
}

# The Debian package as a new user builds it (tests/build-deb.sh: dpkg-buildpackage -us -uc -b
# in a clean copy of the tree), then lintian on the result: an error or a warning that
# debian/vfio-assignd.lintian-overrides does not justify fails. DEB_BUILD_OPTIONS=nocheck: the
# package's build would run `make check` again, which the first step ran already.
check_deb() {
        local dir=$out/deb deb
        if ! deb=$(DEB_BUILD_OPTIONS=nocheck "$top/tests/build-deb.sh" "$dir"); then
                echo "FAIL: debian-package: dpkg-buildpackage (log: $dir/build.log)"
                tests_failed=$((tests_failed + 1))
                return 1
        fi
        echo "PASS: debian-package: dpkg-buildpackage (${deb##*/})"
        tests_passed=$((tests_passed + 1))
        if ! lintian --fail-on error,warning "$dir"/vfio-assignd_*.changes >"$dir/lintian.log" 2>&1; then
                grep -E '^[EW]: ' "$dir/lintian.log" || tail -n 20 "$dir/lintian.log"
                echo "FAIL: debian-package: lintian (log: $dir/lintian.log)"
                tests_failed=$((tests_failed + 1))
                return 1
        fi
        echo "PASS: debian-package: lintian (no error or warning but the overridden ones)"
        tests_passed=$((tests_passed + 1))
}

check_vm() {
        local rc n f
        cd "$out/check" && make check-vm 2>&1 | tee "$out/check-vm.out"
        rc=${PIPESTATUS[0]}
        if read -r n f < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$out/check-vm.out" | tail -n 1); then
                tests_passed=$((tests_passed + n))
                tests_failed=$((tests_failed + f))
        fi
        return "$rc"
}

(cd "$top" && ./autogen.sh >/dev/null 2>&1) || { echo "autogen.sh failed"; exit 1; }
step "make check" check_plain
step "make check under ASan/UBSan" check_sanitizers
step "unit tests under valgrind" check_valgrind
step "fuzz targets" check_fuzz
step "D-Bus fuzzer under ASan" check_bus_fuzz
step "make distcheck" check_distcheck
step "Debian package" check_deb
if [ "${SKIP_VM:-0}" != 1 ]; then
        step "VM level (real kernel)" check_vm
fi

echo
for f in "${failures[@]}"; do echo "failed step: $f"; done
echo "levels: $passed of $((passed + failed)) ok"
# A step that failed without a test to blame (a build, distcheck, a fuzz crash) counts too.
[ "$failed" -gt 0 ] && [ "$tests_failed" -eq 0 ] && tests_failed=$failed
echo "$tests_passed passed, $tests_failed failed"
[ "$failed" -eq 0 ]
