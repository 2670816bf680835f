#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/bench-memory.sh: what pre-pinned guest memory saves, on the real kernel in the test VM
# (tests/vm/), two boots:
#   iommufd  scenario memory-qemu: QEMU 10 as an unprivileged user gets the e1000e with 512 MiB
#            of guest RAM three ways (cold anonymous RAM, a daemon-filled shmem region, a
#            daemon-filled hugetlb region); QMP device_add of the vfio-pci device realizes it,
#            which pins all guest RAM; the pin alone comes from QEMU's trace. Ratios: cold /
#            region.
#   on       scenario memory-adopt: the test VMM adopts a daemon-mapped 256 MiB region of a
#            type1 container (VFIO_DMA_UNMAP_FLAG_VADDR + VFIO_DMA_MAP_FLAG_VADDR) against
#            pinning as much fresh memory itself. Ratio: pin / adopt. (The iommufd boot runs it
#            too, with IOMMU_IOAS_COPY from the region's IOAS.)
# Prints the figures and the issue's targets (hugetlb >= 50x, shmem >= 3x, adopt >= 1000x),
# for QEMU both for device_add as a whole and for the pin alone (QEMU's trace).
# TCG timings are only good for ratios. The scenarios are tests too (they run in `make check-vm`
# and assert correctness); here only their BENCH lines are read.
#
# Usage: bench-memory.sh [--srcdir=DIR] [--builddir=DIR]     (`make bench-memory`)
# Needs root, like the VM level (exit 77 otherwise); VFIO_VM_* knobs of tests/vm/README.md apply.

set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$script_dir/.." && pwd)
builddir=$PWD

for arg in "$@"; do
        case $arg in
        --srcdir=*) srcdir=$(cd "${arg#*=}" && pwd) ;;
        --builddir=*) builddir=$(cd "${arg#*=}" && pwd) ;;
        -h|--help) sed -n '3,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-memory: unknown argument: $arg" >&2; exit 2 ;;
        esac
done

log=$builddir/bench-memory.log
echo "bench-memory: two VM boots, iommufd (QEMU, 3 x 512 MiB) and on (adopt) (log: $log)" >&2
rc=0
# A cold pin of 512 MiB under TCG in TCG takes tens of seconds: room for three QEMUs.
VFIO_VM_FLAVOURS="iommufd on" VFIO_VM_SCENARIOS=memory-qemu,memory-adopt \
VFIO_VM_SCENARIO_TIMEOUT=${VFIO_VM_SCENARIO_TIMEOUT:-600} VFIO_VM_TIMEOUT=${VFIO_VM_TIMEOUT:-900} \
        bash "$srcdir/tests/vm/run.sh" --srcdir="$srcdir" --builddir="$builddir" > "$log" 2>&1 || rc=$?
[[ $rc -ne 77 ]] || { grep SKIP "$log" >&2; exit 77; }

# The guest's INFO lines come back as "vm: [FLAVOUR] SCENARIO| ...".
qemu=$(sed -n 's/^vm: \[iommufd\] memory-qemu| BENCH //p' "$log" | tail -n 1)
adopt=$(sed -n 's/^vm: \[on\] memory-adopt| BENCH //p' "$log" | tail -n 1)
adopt_iommufd=$(sed -n 's/^vm: \[iommufd\] memory-adopt| BENCH //p' "$log" | tail -n 1)
if [[ $rc -ne 0 || -z $qemu || -z $adopt ]]; then
        grep -E '^(PASS|FAIL):' "$log" >&2 || true
        tail -n 30 "$log" >&2
        echo "bench-memory: the benchmark did not complete (exit $rc); log: $log" >&2
        exit 1
fi
declare -A q=() a=() i=()
for kv in $qemu; do q[${kv%%=*}]=${kv#*=}; done
for kv in $adopt; do a[${kv%%=*}]=${kv#*=}; done
for kv in $adopt_iommufd; do i[${kv%%=*}]=${kv#*=}; done

# verdict FIGURE TARGET: PASS when FIGURE >= TARGET.
verdict() { awk -v f="$1" -v t="$2" 'BEGIN { print (f >= t ? "PASS" : "MISS") }'; }

printf 'QEMU device ready (QMP device_add of vfio-pci: realize and pin), %s MiB guest RAM, iommufd:\n' \
        "${q[size_mb]}"
printf '  cold anonymous RAM  %8.3f s\n' "${q[cold_s]}"
printf '  shmem region        %8.3f s  %6sx faster  (target >= 3x: %s)\n' "${q[shmem_s]}" \
        "${q[ratio_shmem]}" "$(verdict "${q[ratio_shmem]}" 3)"
printf '  hugetlb region      %8.3f s  %6sx faster  (target >= 50x: %s)\n' "${q[hugetlb_s]}" \
        "${q[ratio_hugetlb]}" "$(verdict "${q[ratio_hugetlb]}" 50)"
printf 'of which the pin of the guest RAM alone (QEMU'"'"'s trace: first RAM section to last IOAS map):\n'
printf '  cold anonymous RAM  %8.3f s\n' "${q[pin_cold_s]}"
printf '  shmem region        %8.3f s  %6sx faster  (target >= 3x: %s)\n' "${q[pin_shmem_s]}" \
        "${q[pin_ratio_shmem]}" "$(verdict "${q[pin_ratio_shmem]}" 3)"
printf '  hugetlb region      %8.3f s  %6sx faster  (target >= 50x: %s)\n' "${q[pin_hugetlb_s]}" \
        "${q[pin_ratio_hugetlb]}" "$(verdict "${q[pin_ratio_hugetlb]}" 50)"
printf 'type1 adopt of a daemon-mapped %s MiB region, on (Debian 6.1):\n' "${a[size_mb]}"
printf '  adopt (UNMAP_VADDR + mmap + MAP_VADDR)  %10.6f s\n' "${a[adopt_s]}"
printf '  pin as much fresh anonymous memory      %10.6f s\n' "${a[pin_s]}"
printf '  ratio pin/adopt: %sx  (target >= 1000x: %s)\n' "${a[ratio]}" "$(verdict "${a[ratio]}" 1000)"
grep -E '^vm: \[on\] memory-adopt\| memlock ' "$log" | sed 's/^vm: \[on\] memory-adopt| /  /' || true
if [[ -n $adopt_iommufd ]]; then
        printf 'iommufd adopt (IOMMU_IOAS_COPY + mmap) of a daemon-mapped %s MiB region, 6.12:\n' \
                "${i[size_mb]}"
        printf '  adopt %10.6f s, pin %10.6f s, ratio %sx  (target >= 1000x: %s)\n' "${i[adopt_s]}" \
                "${i[pin_s]}" "${i[ratio]}" "$(verdict "${i[ratio]}" 1000)"
        grep -E '^vm: \[iommufd\] memory-adopt\| memlock ' "$log" | sed 's/^vm: \[iommufd\] memory-adopt| /  /' || true
fi
