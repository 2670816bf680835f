#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
# vm-opt-in: yes
#
# Benchmark (bench/bench-vm.sh, `make bench-vm`), not a test: IOMMU group 6 (two e1000 behind a
# PCIe-to-PCI bridge) moved to vfio-pci and back N times (VFIO_VM_BENCH_ROUNDS) by the daemon,
# `assignctl claim 6 --exec true` (polkit, policy, durable state, bind + verify, viability,
# container + IOMMU, device fds, reset, restore + verify), and by a plain shell loop doing only
# the driver_override/unbind/drivers_probe writes and back, in the same boot. One warm-up round
# each is not counted. Prints both times and their ratio as INFO lines, the last one
# machine-readable: "BENCH rounds=N daemon_s=X shell_s=Y ratio=Z".

. /usr/local/lib/vfio-vm/lib.sh

GROUP=6
MEMBERS=(0000:03:01.0 0000:03:02.0)
ROUNDS=${VFIO_VM_BENCH_ROUNDS:-10}
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || fail "VFIO_VM_BENCH_ROUNDS=$ROUNDS is not a count"

require_daemon
require_host_clean
on_exit restore_host

daemon_round() {
        assignctl claim "$GROUP" --exec true > /dev/null 2> "$TMP/claim.err" ||
                fail "assignctl claim $GROUP --exec true failed: $(tail -n 2 "$TMP/claim.err" | tr '\n' ' ')"
}

# Builtins only (echo, [[ -e ]]): no fork is timed. Binding happens inside the writes, so the
# driver links are there when they return (checked, never waited for).
shell_round() {
        local a
        for a in "${MEMBERS[@]}"; do
                echo vfio-pci > "/sys/bus/pci/devices/$a/driver_override" &&
                echo "$a" > "/sys/bus/pci/devices/$a/driver/unbind" &&
                echo "$a" > /sys/bus/pci/drivers_probe || fail "shell: moving $a to vfio-pci failed"
        done
        for a in "${MEMBERS[@]}"; do
                [[ -e /sys/bus/pci/drivers/vfio-pci/$a ]] || fail "shell: $a is not on vfio-pci"
        done
        for a in "${MEMBERS[@]}"; do
                echo > "/sys/bus/pci/devices/$a/driver_override" &&
                echo "$a" > "/sys/bus/pci/devices/$a/driver/unbind" &&
                echo "$a" > /sys/bus/pci/drivers/e1000/bind || fail "shell: giving $a back to e1000 failed"
        done
        for a in "${MEMBERS[@]}"; do
                [[ -e /sys/bus/pci/drivers/e1000/$a ]] || fail "shell: $a is not back on e1000"
        done
}

# timed FUNCTION: runs it ROUNDS times in this shell (so that its fail ends the scenario) and
# sets ELAPSED to the seconds taken ($EPOCHREALTIME: no fork is timed).
timed() {
        local i t0 t1
        t0=$EPOCHREALTIME
        for (( i = 0; i < ROUNDS; i++ )); do
                "$1"
        done
        t1=$EPOCHREALTIME
        ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

shell_round
host_restored || fail "after the warm-up shell round: $(host_state)"
timed shell_round
shell_s=$ELAPSED
host_restored || fail "after the shell's rounds: $(host_state)"

# The daemon learns of the shell's binds through udev; its claim records the drivers it knows,
# so it starts once it has seen the last bind.
daemon_caught_up() {
        local a
        for a in "${MEMBERS[@]}"; do
                [[ $(prop "$(device_path "$a")" "$DEVICE_IFACE" Driver) == '"e1000"' ]] || return 1
        done
}
wait_until 10 daemon_caught_up || fail "the daemon did not see the shell's last binds"
daemon_round
host_restored || fail "after the warm-up claim: $(host_state)"
timed daemon_round
daemon_s=$ELAPSED
host_restored || fail "after the daemon's rounds: $(host_state)"

ms() { awk -v s="$1" -v n="$ROUNDS" 'BEGIN { printf "%.1f", s * 1000 / n }'; }
ratio=$(awk -v d="$daemon_s" -v s="$shell_s" 'BEGIN { printf "%.2f", (s > 0 ? d / s : 0) }')
note "daemon (assignctl claim $GROUP --exec true): $ROUNDS rounds in ${daemon_s} s, $(ms "$daemon_s") ms each"
note "shell (driver_override/unbind/drivers_probe and back): $ROUNDS rounds in ${shell_s} s, $(ms "$shell_s") ms each"
note "ratio daemon/shell: $ratio"
note "BENCH rounds=$ROUNDS daemon_s=$daemon_s shell_s=$shell_s ratio=$ratio"
pass
