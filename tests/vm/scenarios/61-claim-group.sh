#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 7: the multi-device group 6 = {02:00.0 pcie-pci-bridge, 03:01.0 e1000, 03:02.0 e1000}.
# (a) ClaimGroup 6 by the test VMM: both e1000 on vfio-pci and usable through their device fds,
# the bridge left exactly as it was (no driver, no override); ListLeases and the Lease object
# show the claim; `assignctl release 6` gives both back to e1000. (b) A claim of 03:01.0 by
# address moves its sibling 03:02.0 too (a group is viable only whole) and gives both back.

. /usr/local/lib/vfio-vm/lib.sh

GROUP=6
BRIDGE=0000:02:00.0
A=0000:03:01.0
B=0000:03:02.0

require_daemon
require_host_clean
on_exit restore_host

bridge_driver=$(driver_of "$BRIDGE")
bridge_override=$(override_of "$BRIDGE")
log "bridge $BRIDGE: driver '$bridge_driver', override '$bridge_override'"
bridge_untouched() {
        [[ $(driver_of "$BRIDGE") == "$bridge_driver" && $(override_of "$BRIDGE") == "$bridge_override" ]]
}

vmm_ok() {
        local out=$1 how=$2 want
        if grep -q '^not ok' "$out"; then
                fail "$how: the test VMM failed: $(grep -m 3 '^not ok' "$out" | tr '\n' ' ')"
        fi
        for want in "^ok $A driver=vfio-pci\$" "^ok $B driver=vfio-pci\$" \
                    "^ok $A config vendor=0x8086 device=0x100e sysfs vendor=0x8086 device=0x100e\$" \
                    "^ok $B config vendor=0x8086 device=0x100e sysfs vendor=0x8086 device=0x100e\$" \
                    "^ok container VFIO_IOMMU_MAP_DMA iova=0x40000000 size=0x200000\$" \
                    "^ok container VFIO_IOMMU_MAP_DMA into the MSI window iova=0xfee00000 refused: Invalid argument"; do
                grep -Eq "$want" "$out" || fail "$how: no line /$want/ from the test VMM"
        done
}

# --- (a) the whole group, held by the test VMM ----------------------------------------------
start_holder "$TMP/hold.out" test-vmm claim-group "$GROUP" --hold
cat "$TMP/hold.out" >&2
vmm_ok "$TMP/hold.out" "ClaimGroup $GROUP"
grep -q "^info $BRIDGE is a bridge: no device fd" "$TMP/hold.out" ||
        fail "the test VMM did not see $BRIDGE as a bridge (Device.Bridge)"
holder=$(sed -n 's/^lease .* holder=\([^ ]*\) .*/\1/p' "$TMP/hold.out")
path=$(sed -n 's/^lease \([^ ]*\) .*/\1/p' "$TMP/hold.out")
[[ -n $holder && -n $path ]] || fail "the test VMM printed no lease line"

bound_to "$A" vfio-pci && bound_to "$B" vfio-pci ||
        fail "while claimed: $(host_state)"
bridge_untouched ||
        fail "the bridge $BRIDGE changed: driver '$(driver_of "$BRIDGE")' override '$(override_of "$BRIDGE")'"

# ListLeases: [id, path, group, kind, state, holder, uid]
leases=$(list_leases)
log "ListLeases: $leases"
jq -e --arg p "$path" --arg h "$holder" --argjson g "$GROUP" \
        'length == 1 and .[0][1] == $p and .[0][2] == $g and .[0][3] == "claim" and
         .[0][4] == "active" and .[0][5] == $h and .[0][6] == 0' >/dev/null <<<"$leases" ||
        fail "ListLeases is $leases, expected one active claim of group $GROUP held by $holder"
devices=$(prop "$path" "$LEASE_IFACE" Devices)
[[ $devices == "[\"$BRIDGE\",\"$A\",\"$B\"]" ]] || fail "Lease.Devices is $devices"
[[ $(prop "$path" "$LEASE_IFACE" State) == '"active"' ]] || fail "Lease.State is not active"
assignctl --json=short leases > "$TMP/leases.json" || fail "assignctl leases failed"
jq -e --argjson g "$GROUP" '.leases | length == 1 and .[0].group == $g and .[0].kind == "claim"' \
        "$TMP/leases.json" >/dev/null || fail "assignctl leases: $(cat "$TMP/leases.json")"

# The holder keeps its fds: the release comes from someone else (root, org.vfioassign1.manage).
# vfio-pci's unbind waits for the holder's device fds, so the holder goes first.
kill -TERM "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
# Its connection went with it: the daemon releases on its own (scenario holder-killed proves
# that); here either that or our release must leave the group on e1000.
if ! no_leases; then
        out=$(assignctl release "$GROUP" 2>&1) || log "assignctl release $GROUP: $out"
fi
wait_until 10 host_restored || fail "after release: $(host_state)"
bridge_untouched || fail "the bridge $BRIDGE changed after the release"

# --- (a') assignctl release while the holder stays ------------------------------------------
start_holder "$TMP/claim.out" assignctl claim "$GROUP"
grep -q "^Claimed IOMMU group $GROUP (devices $BRIDGE $A $B) as lease " "$TMP/claim.out" ||
        fail "assignctl claim $GROUP printed: $(head -n 2 "$TMP/claim.out")"
bound_to "$A" vfio-pci && bound_to "$B" vfio-pci || fail "assignctl claim $GROUP: $(host_state)"
out=$(assignctl release "$GROUP" 2>&1) || fail "assignctl release $GROUP failed: $out"
[[ $out == "Released lease "*" (IOMMU group $GROUP)." ]] || fail "assignctl release printed '$out'"
wait_until 10 host_restored || fail "after assignctl release: $(host_state)"
# The holder learns that someone else released its lease and exits 1 (assignctl(1)).
holder_done() { ! kill -0 "$HOLDER_PID" 2>/dev/null; }
wait_until 10 holder_done || fail "assignctl claim did not notice the release"
rc=0
wait "$HOLDER_PID" || rc=$?
[[ $rc -eq 1 ]] || fail "assignctl claim exited $rc after its lease was released by root, expected 1"
grep -q "was released by someone else" "$TMP/claim.out" || fail "assignctl claim did not say why it ended"

# --- (b) one device by address: its sibling moves with it -----------------------------------
bound_to "$B" e1000 || fail "$B is not on e1000 before the address claim"
rc=0
assignctl claim "$A" --exec test-vmm fds > "$TMP/exec.out" 2> "$TMP/exec.err" || rc=$?
cat "$TMP/exec.out" "$TMP/exec.err" >&2
[[ $rc -eq 0 ]] || fail "assignctl claim $A --exec test-vmm fds exited $rc: $(tail -n 3 "$TMP/exec.err" | tr '\n' ' ')"
grep -Eq "^info VFIO_LEASE=.* VFIO_DEVICE_FDS=$A=[0-9]+,$B=[0-9]+\$" "$TMP/exec.out" ||
        fail "claiming $A did not hand out a device fd for its sibling $B too"
vmm_ok "$TMP/exec.out" "claim $A"
host_restored || fail "after the claim of $A: $(host_state)"
bridge_untouched || fail "the bridge $BRIDGE changed after the claim of $A"
pass
