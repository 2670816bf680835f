#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# The second hand-off of pre-pinned memory, for VMMs that take fds, type1's only (on an iommufd
# lease the daemon refuses {map}: memory-map-refused). The test VMM claims the e1000e
# 0000:01:00.0, has the daemon fill a 256 MiB region and DMA-map it into the lease's container
# (AllocateMemory(size, {map: 0x40000000})), waits for State "ready" and Mapped, and adopts the
# daemon's mapping: VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR, mmap of the memfd,
# VFIO_IOMMU_MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR (after VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR)).
# Timed against pinning as much fresh anonymous memory with a plain VFIO_IOMMU_MAP_DMA: INFO lines
# and "BENCH size_mb=.. adopt_s=.. pin_s=.. ratio=.." (pin/adopt; bench/bench-memory.sh reads
# it; no timing is asserted). The locked_vm charge (VmLck) of the test VMM and the daemon before
# and after the adoption is reported as the kernel shows it, not asserted: whether 6.1 moves it
# is the kernel's business. Then the device proves the adopted mapping works: the e1000e sends a
# frame from a TX descriptor ring inside the region (bus mastering on, TDBAL/TDBAH/TDLEN/TDH/TDT,
# TCTL.EN) and writes the descriptor back with DD set, read through the VMM's own mapping of the
# memfd. Region.Release and the lease's Release after; the region object is gone and the host
# clean.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
SIZE_MB=256

require_daemon
require_host_clean
on_exit restore_host

rc=0
timeout 300 test-vmm adopt "$ADDR" "$SIZE_MB" > "$TMP/vmm.out" 2>&1 || rc=$?
cat "$TMP/vmm.out" >&2
[[ $rc -eq 0 ]] || fail "test-vmm adopt exited $rc: $(grep -m 3 '^not ok' "$TMP/vmm.out" | tr '\n' ' ')"
grep -q '^ok .* DMA through the adopted mapping' "$TMP/vmm.out" || fail "no DMA through the adopted mapping"
bench=$(sed -n 's/^bench //p' "$TMP/vmm.out")
[[ -n $bench ]] || fail "test-vmm printed no timing"
region=$(sed -n 's/^ok AllocateMemory .*: \(\/org\/vfioassign1\/region\/[0-9]*\)$/\1/p' "$TMP/vmm.out")
[[ -n $region ]] || fail "no region path in test-vmm's output"
wait_until 10 region_gone "$region" || fail "region $region still there after Region.Release"
wait_until 10 host_restored || fail "after test-vmm adopt: $(host_state)"

sed -n 's/^info memlock /memlock /p' "$TMP/vmm.out" | while IFS= read -r line; do note "$line"; done
note "$(grep -m 1 'DMA through the adopted mapping' "$TMP/vmm.out" | sed 's/^ok //')"
declare -A b=()
for kv in $bench; do b[${kv%%=*}]=${kv#*=}; done
note "adopting ${b[size_mb]} MiB: ${b[adopt_s]} s; pinning as much fresh memory: ${b[pin_s]} s; ratio ${b[ratio]}x"
note "BENCH $bench"
pass
