#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 9: the real polkitd and the JSON policy, for an unprivileged user (alice, uid 1000)
# with no authentication agent. (1) No polkit rule: ClaimDevice is refused with AccessDenied
# (assignctl exit 4) at once, nothing is bound. (2) A rule in /etc/polkit-1/rules.d grants alice
# org.vfioassign1.claim: polkit passes and the policy decides: PolicyDenied, "no rule matches"
# (exit 5). (3) A policy file naming alice: the claim is allowed, and alice's own test VMM gets
# working fds through `assignctl claim --exec`.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
USER_NAME=alice
USER_ID=1000
RULES=/etc/polkit-1/rules.d/50-vfio-vm-alice.rules
POLICY_FILE=50-vfio-vm-alice.json

require_daemon
require_host_clean
on_exit restore_host
[[ $(id -u "$USER_NAME" 2>/dev/null) == "$USER_ID" ]] || fail "no user $USER_NAME with uid $USER_ID in the guest"
[[ -d /etc/polkit-1/rules.d ]] || fail "no /etc/polkit-1/rules.d: polkitd is not installed"
rm -f "$RULES"
on_exit "rm -f $RULES"

as_alice() {
        # No agent anywhere: --no-ask-password, and a bound in case the call waits anyway.
        timeout 30 runuser -u "$USER_NAME" -- "$@"
}

# claim_as_alice OUT ERR: assignctl's claim as alice, with --exec so nothing is held after it.
claim_as_alice() {
        local rc=0
        as_alice assignctl --json=short --no-ask-password claim "$ADDR" --exec true > "$1" 2> "$2" || rc=$?
        return "$rc"
}

# --- (1) no polkit rule -------------------------------------------------------------------------
rc=0
claim_as_alice "$TMP/1.out" "$TMP/1.err" || rc=$?
log "no rule: exit $rc: $(cat "$TMP/1.err")"
[[ $rc -ne 124 ]] || fail "the claim as $USER_NAME hung (30 s) instead of being refused without an agent"
[[ $rc -eq 4 ]] || fail "the claim as $USER_NAME without a polkit rule exited $rc, expected 4: $(cat "$TMP/1.err")"
[[ $(error_name "$TMP/1.err") == org.freedesktop.DBus.Error.AccessDenied ]] ||
        fail "error $(error_name "$TMP/1.err"), expected org.freedesktop.DBus.Error.AccessDenied"
# A client that allows interactive authorisation (busctl does by default) is refused as well.
rc=0
as_alice test-vmm claim "$ADDR" > "$TMP/1b.out" 2>&1 || rc=$?
[[ $rc -ne 124 ]] || fail "test-vmm's ClaimDevice as $USER_NAME hung"
grep -q "^not ok claim $ADDR: org.freedesktop.DBus.Error.AccessDenied:" "$TMP/1b.out" ||
        fail "test-vmm's ClaimDevice as $USER_NAME: $(head -n 2 "$TMP/1b.out" | tr '\n' ' ')"
host_restored || fail "a refused claim changed the host: $(host_state)"

# --- (2) polkit allows alice, the policy has no rule for her ---------------------------------
cat > "$RULES" <<'EOF'
/* vfio-assignd VM test: alice may claim, without authentication. */
polkit.addRule(function(action, subject) {
        if (action.id == "org.vfioassign1.claim" && subject.user == "alice")
                return polkit.Result.YES;
});
EOF
# polkitd reloads its rules on inotify; wait until a claim gets past polkit.
past_polkit() {
        claim_as_alice "$TMP/2.out" "$TMP/2.err"
        [[ $(error_name "$TMP/2.err") != org.freedesktop.DBus.Error.AccessDenied ]]
}
wait_until 20 past_polkit ||
        fail "polkitd did not apply $RULES within 20 s: $(error_message "$TMP/2.err")"
rc=0
claim_as_alice "$TMP/2.out" "$TMP/2.err" || rc=$?
log "polkit rule, no policy rule: exit $rc: $(cat "$TMP/2.err")"
[[ $rc -eq 5 ]] || fail "with the polkit rule the claim exited $rc, expected 5 (PolicyDenied): $(cat "$TMP/2.err")"
[[ $(error_name "$TMP/2.err") == org.vfioassign1.Error.PolicyDenied ]] ||
        fail "error $(error_name "$TMP/2.err"), expected org.vfioassign1.Error.PolicyDenied"
error_message "$TMP/2.err" | grep -q "no rule matches" ||
        fail "the PolicyDenied message does not say that no rule matches: $(error_message "$TMP/2.err")"
host_restored || fail "a claim denied by policy changed the host: $(host_state)"

# --- (3) a policy file names alice ------------------------------------------------------------
install_policy "$POLICY_FILE" '{ "version": 1, "rules": [
  { "description": "vfio-assignd VM test: alice may have the e1000e",
    "match": { "address": "0000:01:00.0" }, "action": "allow", "users": [ "alice" ] } ] }'
ex=$(assignctl --json=short policy explain "$ADDR" --user "$USER_NAME") || fail "policy explain failed"
jq -e --arg f "$POLICY_DIR/$POLICY_FILE" '.allowed == true and .uid == 1000 and .rule.file == $f' \
        >/dev/null <<<"$ex" || fail "policy explain for $USER_NAME: $ex"
rc=0
as_alice assignctl --no-ask-password claim "$ADDR" --exec test-vmm fds > "$TMP/3.out" 2> "$TMP/3.err" || rc=$?
cat "$TMP/3.out" "$TMP/3.err" >&2
[[ $rc -eq 0 ]] || fail "the claim as $USER_NAME with a policy rule exited $rc: $(tail -n 3 "$TMP/3.err" | tr '\n' ' ') $(grep -m 2 '^not ok' "$TMP/3.out" | tr '\n' ' ')"
grep -Eq "^lease /org/vfioassign1/lease/[0-9]+ group=5 uid=$USER_ID " "$TMP/3.out" ||
        fail "the lease is not $USER_NAME's (uid $USER_ID): $(grep '^lease' "$TMP/3.out")"
for want in "^ok container VFIO_IOMMU_MAP_DMA iova=0x40000000 size=0x200000\$" \
            "^ok $ADDR config vendor=0x8086 device=0x10d3 " "^summary: [0-9]+ ok, 0 not ok\$"; do
        grep -Eq "$want" "$TMP/3.out" || fail "$USER_NAME's test VMM: no line /$want/"
done
host_restored || fail "after $USER_NAME's claim: $(host_state)"
pass
