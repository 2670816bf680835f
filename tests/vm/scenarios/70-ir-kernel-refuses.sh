#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: off
#
# Scenario 13, on the intremap=off boot: (1) with the default policy, ClaimGroup 5 is refused
# with InterruptRemappingRequired by the policy, before anything is bound (the kernel sends no
# bind/unbind uevent for 01:00.0). (2) With require_interrupt_remapping false but
# allow_unsafe_interrupts false, the policy lets the claim through and the KERNEL refuses:
# VFIO_SET_IOMMU fails with EPERM ("No interrupt remapping support" in dmesg); the daemon rolls
# the group back to e1000e and returns InterruptRemappingRequired saying the kernel refused.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
PARAM=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts

require_daemon
require_host_clean
on_exit restore_host
[[ $(cat "$PARAM") == N ]] || fail "vfio_iommu_type1.allow_unsafe_interrupts is $(cat "$PARAM") before the test"

UEV=$TMP/uevents
start_uevent_monitor "$UEV"

# claim_group OUT ERR: assignctl's ClaimGroup, released at once if it ever succeeds.
claim_group() {
        local rc=0
        assignctl --json=short claim "$GROUP" --exec true > "$1" 2> "$2" || rc=$?
        return "$rc"
}

# --- (1) the default policy refuses, before any bind -------------------------------------------
rc=0
claim_group "$TMP/1.out" "$TMP/1.err" || rc=$?
log "default policy: exit $rc: $(cat "$TMP/1.err")"
[[ $rc -eq 5 ]] || fail "ClaimGroup $GROUP with the default policy exited $rc, expected 5: $(cat "$TMP/1.err")"
[[ $(error_name "$TMP/1.err") == org.vfioassign1.Error.InterruptRemappingRequired ]] ||
        fail "error $(error_name "$TMP/1.err"), expected org.vfioassign1.Error.InterruptRemappingRequired"
error_message "$TMP/1.err" | grep -q "host.allow_unsafe_interrupts" ||
        fail "the refusal does not name host.allow_unsafe_interrupts: $(error_message "$TMP/1.err")"
# The same through the bus by the test VMM (a client of its own).
test-vmm claim-group "$GROUP" > "$TMP/1b.out" 2>&1
grep -q "^not ok claim $GROUP: org.vfioassign1.Error.InterruptRemappingRequired:" "$TMP/1b.out" ||
        fail "test-vmm's ClaimGroup $GROUP: $(head -n 1 "$TMP/1b.out")"
uevent_sync "$UEV"
ev=$(uevents_for "$UEV" "$ADDR")
[[ -z $ev ]] || fail "a claim refused by policy still touched $ADDR: uevents '$ev'"
host_restored || fail "after the refusal: $(host_state)"

# --- (2) the policy lets it through, the kernel refuses --------------------------------------
install_policy 50-vfio-vm-no-ir.json '{ "version": 1, "host": {
  "require_interrupt_remapping": false, "allow_unsafe_interrupts": false } }'
ex=$(assignctl --json=short policy explain "$ADDR") || fail "policy explain failed"
jq -e '.allowed == true' >/dev/null <<<"$ex" || fail "the policy still refuses: $ex"
dmesg_mark=$(wc -l < <(dmesg))
rc=0
claim_group "$TMP/2.out" "$TMP/2.err" || rc=$?
log "require_interrupt_remapping=false: exit $rc: $(cat "$TMP/2.err")"
[[ $rc -ne 0 ]] || fail "the claim succeeded: the kernel accepted a type1 IOMMU without interrupt remapping"
[[ $(error_name "$TMP/2.err") == org.vfioassign1.Error.InterruptRemappingRequired ]] ||
        fail "error $(error_name "$TMP/2.err") ($(error_message "$TMP/2.err")), expected org.vfioassign1.Error.InterruptRemappingRequired"
error_message "$TMP/2.err" | grep -qi "kernel refused" ||
        fail "the message does not say that the kernel refused: $(error_message "$TMP/2.err")"
[[ $rc -eq 5 ]] || fail "assignctl exited $rc for InterruptRemappingRequired, expected 5"
dmesg | tail -n +"$((dmesg_mark + 1))" > "$TMP/dmesg"
grep -q "No interrupt remapping support" "$TMP/dmesg" ||
        fail "no 'No interrupt remapping support' from vfio_iommu_type1 in dmesg: $(tail -n 3 "$TMP/dmesg" | tr '\n' ' ')"
note "kernel: $(grep -m1 -o 'vfio_iommu_type1_attach_group: No interrupt remapping support[^.]*' "$TMP/dmesg")"
wait_until 10 host_restored || fail "not rolled back: $(host_state)"
# It really went to vfio-pci and back: e1000e unbound, vfio-pci bound, unbound, e1000e bound.
ev=$(uevents_for "$UEV" "$ADDR")
log "uevents of $ADDR: $ev"
[[ $ev == "unbind bind unbind bind" ]] || fail "uevents of $ADDR were '$ev', expected one round trip through vfio-pci"
[[ $(cat "$PARAM") == N ]] || fail "allow_unsafe_interrupts became $(cat "$PARAM")"
pass
