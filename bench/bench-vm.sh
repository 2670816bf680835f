#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/bench-vm.sh: how much a daemon-managed group move costs on the real kernel, against the
# bare sysfs writes, measured in the same VM boot (tests/vm/, intremap=on). IOMMU group 6 (two
# e1000 behind a PCIe-to-PCI bridge) goes to vfio-pci and back N times:
#   daemon: `assignctl claim 6 --exec true` (polkit, policy, durable state, bind and verify,
#           viability, container and IOMMU, device fds, reset, restore and verify)
#   shell:  driver_override + unbind + drivers_probe, and back (bash builtins only)
# and prints both times and the ratio. TCG timings are only good for ratios.
#
# Usage: bench-vm.sh [--srcdir=DIR] [--builddir=DIR] [--rounds=N]     (`make bench-vm`)
# Needs root, like the VM level (exit 77 otherwise); VFIO_VM_* knobs of tests/vm/README.md apply.

set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$script_dir/.." && pwd)
builddir=$PWD
rounds=${VFIO_VM_BENCH_ROUNDS:-10}

for arg in "$@"; do
        case $arg in
        --srcdir=*) srcdir=$(cd "${arg#*=}" && pwd) ;;
        --builddir=*) builddir=$(cd "${arg#*=}" && pwd) ;;
        --rounds=*) rounds=${arg#*=} ;;
        -h|--help) sed -n '3,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-vm: unknown argument: $arg" >&2; exit 2 ;;
        esac
done
[[ $rounds =~ ^[1-9][0-9]{0,3}$ ]] || { echo "bench-vm: --rounds must be 1 to 9999" >&2; exit 2; }

log=$builddir/bench-vm.log
echo "bench-vm: $rounds rounds of group 6 in the VM (log: $log)" >&2
rc=0
# Each round takes about a second under TCG; give the scenario room for that.
VFIO_VM_FLAVOURS=on VFIO_VM_SCENARIOS=bench-group-move VFIO_VM_BENCH_ROUNDS=$rounds \
VFIO_VM_SCENARIO_TIMEOUT=$((120 + rounds * 10)) VFIO_VM_TIMEOUT=$((300 + rounds * 10)) \
        bash "$srcdir/tests/vm/run.sh" --srcdir="$srcdir" --builddir="$builddir" > "$log" 2>&1 || rc=$?
[[ $rc -ne 77 ]] || { grep SKIP "$log" >&2; exit 77; }

# The guest's INFO lines come back as "vm: [on] bench-group-move| ...".
line=$(sed -n 's/^vm: \[on\] bench-group-move| BENCH //p' "$log" | tail -n 1)
if [[ $rc -ne 0 || -z $line ]]; then
        grep -E '^(PASS|FAIL):' "$log" >&2 || true
        tail -n 30 "$log" >&2
        echo "bench-vm: the benchmark did not complete (exit $rc); log: $log" >&2
        exit 1
fi
declare -A v=()
for kv in $line; do
        v[${kv%%=*}]=${kv#*=}
done
printf 'group 6 to vfio-pci and back, %s rounds, one VM boot:\n' "${v[rounds]}"
printf '  daemon  %8.3f s  %8.1f ms/round\n' "${v[daemon_s]}" \
        "$(awk -v s="${v[daemon_s]}" -v n="${v[rounds]}" 'BEGIN { print s * 1000 / n }')"
printf '  shell   %8.3f s  %8.1f ms/round\n' "${v[shell_s]}" \
        "$(awk -v s="${v[shell_s]}" -v n="${v[rounds]}" 'BEGIN { print s * 1000 / n }')"
printf '  ratio daemon/shell: %s\n' "${v[ratio]}"
