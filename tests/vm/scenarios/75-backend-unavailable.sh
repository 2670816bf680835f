#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Debian 12's kernel has no iommufd (no /dev/iommu): a claim with backend "iommufd" is refused
# with BackendUnavailable naming what is missing, from assignctl and from a VMM's own
# ClaimDevice, and nothing changes: no lease, and the kernel sends no uevent for the e1000e
# (it was never unbound). Manager.Backends says type1 only (20-host-report checks that).

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0

require_daemon
require_host_clean
on_exit restore_host
[[ ! -e /dev/iommu ]] || fail "this kernel has /dev/iommu: the scenario needs one without"

UEV=$TMP/uevents
start_uevent_monitor "$UEV"

rc=0
assignctl --json=short claim "$ADDR" --backend iommufd --exec true > "$TMP/claim.out" 2> "$TMP/claim.err" || rc=$?
cat "$TMP/claim.out" "$TMP/claim.err" >&2
[[ $rc -ne 0 ]] || fail "assignctl claim --backend iommufd succeeded on $(uname -r)"
[[ $(error_name "$TMP/claim.err") == org.vfioassign1.Error.BackendUnavailable ]] ||
        fail "assignctl claim --backend iommufd: error '$(error_name "$TMP/claim.err")', expected BackendUnavailable"
msg=$(error_message "$TMP/claim.err")
[[ $msg == *"/dev/iommu"*"CONFIG_IOMMUFD"* ]] || fail "the error does not say what is missing: $msg"
note "assignctl claim --backend iommufd (exit $rc): $msg"

rc=0
test-vmm claim-iommufd "$ADDR" > "$TMP/vmm.out" 2>&1 || rc=$?
cat "$TMP/vmm.out" >&2
[[ $rc -ne 0 ]] || fail "the test VMM's ClaimDevice with backend iommufd succeeded"
grep -q "^not ok claim $ADDR: org.vfioassign1.Error.BackendUnavailable: " "$TMP/vmm.out" ||
        fail "ClaimDevice with backend iommufd: $(grep -m 1 '^not ok' "$TMP/vmm.out")"

host_restored || fail "a refused claim changed the host: $(host_state)"
uevent_sync "$UEV"
ev=$(uevents_for "$UEV" "$ADDR")
[[ -z $ev ]] || fail "the kernel sent uevents for $ADDR during refused claims: $ev"
pass
