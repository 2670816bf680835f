#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: off
#
# Scenario 14, on the intremap=off boot: `assignctl policy explain 0000:01:00.0` and a
# ClaimDevice are refused with InterruptRemappingRequired (assignctl exit 5), naming the key
# host.allow_unsafe_interrupts. A policy file in /etc/vfio-assignd/policy.d that sets it, loaded
# with `assignctl policy reload`, lets the claim through: the daemon sets
# vfio_iommu_type1.allow_unsafe_interrupts (Y while the claim runs) and the test VMM's DMA map
# works. On release the daemon clears the parameter again (N): no lease relies on it. Then the
# policy file goes, and the daemon is restarted so that nothing it cached outlives the test.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
PARAM=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts
KEY=host.allow_unsafe_interrupts

require_daemon
require_host_clean
[[ $(cat "$PARAM") == N ]] || fail "vfio_iommu_type1.allow_unsafe_interrupts is $(cat "$PARAM") before the test"
claimed=
restore_param() {
        [[ $(cat "$PARAM") == N ]] || echo N > "$PARAM"
        [[ -n $claimed ]] || return 0
        log "cleanup: allow_unsafe_interrupts is N, restarting the daemon"
        systemctl restart vfio-assignd.service
}
# Last registered runs first: drivers back, then the policy file (install_policy), then this.
on_exit restore_param
on_exit restore_host

# --- refused: explain and claim name the key --------------------------------------------------
out=$(assignctl policy explain "$ADDR" 2>&1) || fail "assignctl policy explain exited $?: $out"
log "explain: $out"
grep -q "DENIED (interrupt-remapping)" <<<"$out" || fail "policy explain does not say DENIED (interrupt-remapping): $(head -n 1 <<<"$out")"
grep -q "$KEY" <<<"$out" || fail "policy explain does not name $KEY"
ex=$(assignctl --json=short policy explain "$ADDR") || fail "policy explain --json failed"
jq -e --arg k "$KEY" '.allowed == false and .code == "interrupt-remapping" and .policy_key == $k' \
        >/dev/null <<<"$ex" || fail "policy explain --json: $ex"

rc=0
assignctl --json=short claim "$ADDR" --exec true > "$TMP/1.out" 2> "$TMP/1.err" || rc=$?
log "claim: exit $rc: $(cat "$TMP/1.err")"
[[ $rc -eq 5 ]] || fail "the claim exited $rc, expected 5: $(cat "$TMP/1.err")"
[[ $(error_name "$TMP/1.err") == org.vfioassign1.Error.InterruptRemappingRequired ]] ||
        fail "error $(error_name "$TMP/1.err"), expected org.vfioassign1.Error.InterruptRemappingRequired"
error_message "$TMP/1.err" | grep -q "$KEY" || fail "the refusal does not name $KEY: $(error_message "$TMP/1.err")"
test-vmm claim "$ADDR" > "$TMP/1b.out" 2>&1
grep -q "^not ok claim $ADDR: org.vfioassign1.Error.InterruptRemappingRequired: .*$KEY" "$TMP/1b.out" ||
        fail "ClaimDevice by the test VMM: $(head -n 1 "$TMP/1b.out")"
host_restored || fail "a refused claim changed the host: $(host_state)"
[[ $(cat "$PARAM") == N ]] || fail "a refused claim set allow_unsafe_interrupts"

# --- a lab policy accepts the risk ------------------------------------------------------------
install_policy 50-vfio-vm-unsafe.json '{ "version": 1, "host": { "allow_unsafe_interrupts": true } }'
ex=$(assignctl --json=short policy explain "$ADDR") || fail "policy explain failed"
jq -e '.allowed == true and .set_unsafe_interrupts == true' >/dev/null <<<"$ex" ||
        fail "with $KEY true, policy explain says: $ex"
cursor=$(journal_cursor)
claimed=1
rc=0
assignctl claim "$ADDR" --exec bash -c "echo \"param \$(cat $PARAM)\"; exec test-vmm fds" \
        > "$TMP/2.out" 2> "$TMP/2.err" || rc=$?
cat "$TMP/2.out" "$TMP/2.err" >&2
[[ $rc -eq 0 ]] || fail "the claim with $KEY true exited $rc: $(tail -n 3 "$TMP/2.err" | tr '\n' ' ') $(grep -m 2 '^not ok' "$TMP/2.out" | tr '\n' ' ')"
grep -qx "param Y" "$TMP/2.out" || fail "allow_unsafe_interrupts was not Y while claimed: $(grep '^param' "$TMP/2.out")"
for want in "^ok container VFIO_IOMMU_MAP_DMA iova=0x40000000 size=0x200000\$" \
            "^ok $ADDR config vendor=0x8086 device=0x10d3 " "^summary: [0-9]+ ok, 0 not ok\$"; do
        grep -Eq "$want" "$TMP/2.out" || fail "the test VMM: no line /$want/"
done
journal_has "$cursor" "allow_unsafe_interrupts" ||
        fail "the daemon did not log that it set allow_unsafe_interrupts"
host_restored || fail "after the claim: $(host_state)"
[[ $(cat "$PARAM") == N ]] || fail "allow_unsafe_interrupts is $(cat "$PARAM") after the last lease that needed it ended"
journal_has "$cursor" "allow_unsafe_interrupts cleared: no lease relies on it any more" ||
        fail "the daemon did not log that it cleared allow_unsafe_interrupts"
seen=$(assignctl --json=short status | jq -r '.host.unsafe_interrupts_allowed')
[[ $seen == false ]] || fail "after the release the daemon's report says unsafe_interrupts_allowed=$seen"
pass
