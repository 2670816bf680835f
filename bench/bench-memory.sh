#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# bench/bench-memory.sh: what pre-pinned guest memory saves, on the real kernel in the test VM
# (tests/vm/), two boots:
#   iommufd  scenario memory-qemu: QEMU 10 as an unprivileged user gets the e1000e with N MiB
#            of guest RAM three ways (cold anonymous RAM, a daemon-filled shmem region, a
#            daemon-filled hugetlb region); QMP device_add of the vfio-pci device realizes it,
#            which pins all guest RAM; the pin alone comes from QEMU's trace. Ratios: cold /
#            region.
#   on       scenario memory-adopt: the test VMM adopts a daemon-mapped 256 MiB region of a
#            type1 container (VFIO_DMA_UNMAP_FLAG_VADDR + VFIO_DMA_MAP_FLAG_VADDR) against
#            pinning as much fresh memory itself. Ratio: pin / adopt. (type1 only: the daemon
#            refuses to map a region on an iommufd lease.)
# Prints the figures and the issue's targets (hugetlb >= 50x, shmem >= 3x, adopt >= 1000x),
# for QEMU both for device_add as a whole and for the pin alone (QEMU's trace).
# TCG timings are only good for ratios. The scenarios are tests too (they run in `make check-vm`
# and assert correctness); here only their BENCH lines are read.
#
# Usage: bench-memory.sh [--srcdir=DIR] [--builddir=DIR] [--guest-mb=N]
#        (`make bench-memory [GUEST_MB=N]`)
# --guest-mb=N: QEMU's guest RAM in MiB (even, 64 to 9216; 512 by default, as in the test run).
# The test VM (VFIO_VM_MEM: 2 N + 1024 MiB, 2 GiB for 512) and its pool of 2 MiB hugepages
# (VFIO_VM_HUGEPAGES: N / 2 + 44, 300 for 512) are sized to fit, the timeouts scaled with N.
# Needs root, like the VM level (exit 77 otherwise); VFIO_VM_* knobs of tests/vm/README.md apply.

set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
srcdir=$(cd "$script_dir/.." && pwd)
builddir=$PWD
guest_mb=512

for arg in "$@"; do
        case $arg in
        --srcdir=*) srcdir=$(cd "${arg#*=}" && pwd) ;;
        --builddir=*) builddir=$(cd "${arg#*=}" && pwd) ;;
        --guest-mb=*) guest_mb=${arg#*=} ;;
        -h|--help) sed -n '3,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-memory: unknown argument: $arg" >&2; exit 2 ;;
        esac
done

if ! [[ $guest_mb =~ ^[1-9][0-9]{1,3}$ ]] || (( guest_mb % 2 || guest_mb < 64 || guest_mb > 9216 ))
then
        echo "bench-memory: --guest-mb=$guest_mb is not an even number of MiB, 64 to 9216" >&2
        exit 2
fi
# One QEMU at a time holds N MiB of 4 KiB pages (its own or a shmem region) beside the pool of
# hugepages the hugetlb region takes (N MiB and 88 MiB to spare); the rest of the guest keeps
# the 936 MiB it has at the defaults. The host has 24 GiB: 9216 MiB make a 19 GiB test VM.
vm_mem=$((2 * guest_mb + 1024))M
hugepages=$((guest_mb / 2 + 44))
# A cold pin of 512 MiB under TCG in TCG takes seconds, filling a region as long: room for three
# QEMUs, growing with the guest.
scale=$(( (guest_mb + 511) / 512 ))
scenario_timeout=${VFIO_VM_SCENARIO_TIMEOUT:-$((600 * scale))}
boot_timeout=${VFIO_VM_TIMEOUT:-$((300 + scenario_timeout))}

log=$builddir/bench-memory.log
echo "bench-memory: two VM boots, iommufd (QEMU, 3 x $guest_mb MiB; test VM $vm_mem," \
     "$hugepages hugepages) and on (adopt) (log: $log)" >&2
rc=0
VFIO_VM_FLAVOURS="iommufd on" VFIO_VM_SCENARIOS=memory-qemu,memory-adopt \
VFIO_VM_MEMORY_MB=$guest_mb VFIO_VM_MEM=$vm_mem VFIO_VM_HUGEPAGES=$hugepages \
VFIO_VM_SCENARIO_TIMEOUT=$scenario_timeout VFIO_VM_TIMEOUT=$boot_timeout \
        bash "$srcdir/tests/vm/run.sh" --srcdir="$srcdir" --builddir="$builddir" > "$log" 2>&1 || rc=$?
[[ $rc -ne 77 ]] || { grep SKIP "$log" >&2; exit 77; }

# The guest's INFO lines come back as "vm: [FLAVOUR] SCENARIO| ...".
qemu=$(sed -n 's/^vm: \[iommufd\] memory-qemu| BENCH //p' "$log" | tail -n 1)
adopt=$(sed -n 's/^vm: \[on\] memory-adopt| BENCH //p' "$log" | tail -n 1)
if [[ $rc -ne 0 || -z $qemu || -z $adopt ]]; then
        grep -E '^(PASS|FAIL):' "$log" >&2 || true
        tail -n 30 "$log" >&2
        echo "bench-memory: the benchmark did not complete (exit $rc); log: $log" >&2
        exit 1
fi
declare -A q=() a=()
for kv in $qemu; do q[${kv%%=*}]=${kv#*=}; done
for kv in $adopt; do a[${kv%%=*}]=${kv#*=}; done

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
printf 'claim (and fill the region) to QEMU start: cold %s s, shmem %s s, hugetlb %s s\n' \
        "${q[fill_cold_s]}" "${q[fill_shmem_s]}" "${q[fill_hugetlb_s]}"
printf 'type1 adopt of a daemon-mapped %s MiB region, on (Debian 6.1):\n' "${a[size_mb]}"
printf '  adopt (UNMAP_VADDR + mmap + MAP_VADDR)  %10.6f s\n' "${a[adopt_s]}"
printf '  pin as much fresh anonymous memory      %10.6f s\n' "${a[pin_s]}"
printf '  ratio pin/adopt: %sx  (target >= 1000x: %s)\n' "${a[ratio]}" "$(verdict "${a[ratio]}" 1000)"
grep -E '^vm: \[on\] memory-adopt\| memlock ' "$log" | sed 's/^vm: \[on\] memory-adopt| /  /' || true
