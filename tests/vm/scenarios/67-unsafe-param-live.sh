#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 15: the interrupt-remapping gate follows vfio_iommu_type1.allow_unsafe_interrupts as
# it is NOW, not as it was when the daemon started. An administrator (or another tool) sets it
# by hand on a host with interrupt remapping: the default policy (require_interrupt_remapping)
# must refuse claims because the kernel accepts unsafe interrupts, and the host report must say
# so; cleared again, claims are allowed and the report follows.

. /usr/local/lib/vfio-vm/lib.sh

GROUP=5
PARAM=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts

require_daemon
require_host_clean
on_exit restore_host
[[ $(cat "$PARAM") == N ]] || fail "allow_unsafe_interrupts is $(cat "$PARAM") before the test"
on_exit "echo N > $PARAM"

reported() {
        [[ $(assignctl --json=short status | jq -r '.host.unsafe_interrupts_allowed') == "$1" ]]
}
claim_group() {
        local rc=0
        assignctl --json=short claim "$GROUP" --exec true > "$TMP/claim.out" 2> "$TMP/claim.err" || rc=$?
        return "$rc"
}

echo Y > "$PARAM"
log "allow_unsafe_interrupts set to Y by hand"
wait_until 5 reported true ||
        fail "the host report still says unsafe_interrupts_allowed=$(assignctl --json=short status | jq -c '.host.unsafe_interrupts_allowed') after the parameter was set to Y: the daemon reads it only at start"
rc=0
claim_group || rc=$?
[[ $rc -eq 5 && $(error_name "$TMP/claim.err") == org.vfioassign1.Error.InterruptRemappingRequired ]] ||
        fail "with allow_unsafe_interrupts=Y set by hand, the default policy let ClaimGroup $GROUP through (exit $rc, $(error_name "$TMP/claim.err")): it still believes the parameter is off"
error_message "$TMP/claim.err" | grep -q "already accepts unsafe interrupts" ||
        fail "the refusal does not say that the kernel accepts unsafe interrupts: $(error_message "$TMP/claim.err")"
host_restored || fail "a refused claim changed the host: $(host_state)"

echo N > "$PARAM"
log "allow_unsafe_interrupts set back to N"
wait_until 5 reported false ||
        fail "the host report still says unsafe_interrupts_allowed=true after the parameter was set back to N"
rc=0
claim_group || rc=$?
[[ $rc -eq 0 ]] || fail "with the parameter back to N, ClaimGroup $GROUP exited $rc: $(error_message "$TMP/claim.err")"
host_restored || fail "after the claim: $(host_state)"
pass
