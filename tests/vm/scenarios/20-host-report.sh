#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on off iommufd
#
# Scenario 2: GetHostReport on the real kernel. IOMMU present; interrupt remapping "enabled"
# on the intremap=on boot (ECAP.IR and DMAR flag bit 0 set), not enabled with a reason on the
# intremap=off boot; the decoded DMAR matches the bytes of /sys/firmware/acpi/tables/DMAR
# read here with od. Manager.Backends is what the kernel offers: type1 alone on Debian's
# kernel, type1 and iommufd on the iommufd boot's.

. /usr/local/lib/vfio-vm/lib.sh

require_daemon

report=$(host_report) || fail "GetHostReport failed"
echo "$report" > "$TMP/report.json"
jq -e 'type == "object" and .api_version == 1' >/dev/null <<<"$report" ||
        fail "GetHostReport did not return a report object with api_version 1"
log "host: $(jq -c '.host | {iommu_present, iommu_kind, interrupt_remapping, interrupt_remapping_reasons, units}' <<<"$report")"

jq -e '.host.iommu_present == true' >/dev/null <<<"$report" || fail "iommu_present is not true"
jq -e '.host.iommu_kind == "intel"' >/dev/null <<<"$report" ||
        fail "iommu_kind is $(jq -c .host.iommu_kind <<<"$report"), expected \"intel\""

# --- units: the report's ECAP is the kernel's --------------------------------------------------
units=(/sys/class/iommu/*)
[[ $(jq '.host.units | length' <<<"$report") == "${#units[@]}" ]] ||
        fail "report has $(jq '.host.units | length' <<<"$report") units, sysfs ${#units[@]}"
for u in "${units[@]}"; do
        name=$(basename "$u")
        sys_ecap=$(cat "$u/intel-iommu/ecap")
        rep_ecap=$(jq -r --arg n "$name" '.host.units[] | select(.name == $n) | .ecap' <<<"$report")
        [[ -n $rep_ecap && $rep_ecap != null ]] || fail "unit $name missing from the report"
        (( 0x$sys_ecap == rep_ecap )) || fail "unit $name ecap $rep_ecap, sysfs says 0x$sys_ecap"
        # ECAP bit 3: Interrupt Remapping support (VT-d spec 11.4.3).
        want=false; (( (0x$sys_ecap >> 3) & 1 )) && want=true
        got=$(jq -c --arg n "$name" '.host.units[] | select(.name == $n) | .interrupt_remapping' <<<"$report")
        [[ $got == "$want" ]] || fail "unit $name interrupt_remapping=$got, ecap IR bit says $want"
done

# --- the verdict, by flavour -----------------------------------------------------------------
ir=$(jq -r .host.interrupt_remapping <<<"$report")
reasons=$(jq -c .host.interrupt_remapping_reasons <<<"$report")
if [[ $INTREMAP == on ]]; then
        [[ $ir == enabled ]] || fail "interrupt_remapping=$ir (reasons $reasons) on intremap=on"
else
        [[ $ir == disabled || $ir == unsupported ]] ||
                fail "interrupt_remapping=$ir on intremap=off, expected disabled or unsupported"
        jq -e '.host.interrupt_remapping_reasons | length > 0 and all(type == "string" and length > 0)' \
                >/dev/null <<<"$report" || fail "interrupt_remapping=$ir without a reason"
fi
note "interrupt_remapping=$ir reasons=$reasons"
prop_ir=$(prop "$ROOT_PATH" "$MANAGER" InterruptRemapping) || fail "no InterruptRemapping property"
[[ $prop_ir == "\"$ir\"" ]] || fail "InterruptRemapping property $prop_ir, report says $ir"
prop_present=$(prop "$ROOT_PATH" "$MANAGER" IommuPresent) || fail "no IommuPresent property"
[[ $prop_present == true ]] || fail "IommuPresent property is $prop_present"

# assignctl status is built from the same report.
st=$(assignctl --json status 2>/dev/null) || fail "assignctl --json status failed"
[[ $(jq -r .host.interrupt_remapping <<<"$st") == "$ir" ]] ||
        fail "assignctl status says interrupt_remapping=$(jq -r .host.interrupt_remapping <<<"$st")"
assignctl status > "$TMP/status.txt" 2>&1 || fail "assignctl status (text) failed"

# --- the DMAR table, byte by byte ------------------------------------------------------------
table=/sys/firmware/acpi/tables/DMAR
[[ -r $table ]] || fail "no $table"
mapfile -t b < <(od -An -v -tu1 "$table" | tr -s ' ' '\n' | sed '/^$/d')
len=${#b[@]}
(( len >= 48 )) || fail "DMAR is only $len bytes"
u16() { echo $(( b[$1] | b[$1 + 1] << 8 )); }
u64() {
        local i v=0
        for i in 7 6 5 4 3 2 1 0; do v=$(( (v << 8) | b[$1 + i] )); done
        printf '0x%x' "$v"
}
# ACPI header: revision at 8, OEMID at 10..15; DMAR: HAW at 36, flags at 37 (VT-d spec 8.1).
t_rev=${b[8]}
t_oem=$(for i in 10 11 12 13 14 15; do printf '%b' "\\$(printf '%03o' "${b[$i]}")"; done)
t_haw=${b[36]}
t_flags=${b[37]}
# Remapping structures from offset 48: u16 type, u16 length; DRHD (type 0) has flags at +4,
# segment at +6, register base at +8 and device scopes (length at +1 of each) from +16.
drhd=()
off=48
while (( off + 4 <= len )); do
        type=$(u16 "$off")
        slen=$(u16 $((off + 2)))
        (( slen >= 4 && off + slen <= len )) || fail "DMAR structure at $off has bad length $slen"
        if (( type == 0 )); then
                n=0
                p=$((off + 16))
                while (( p + 2 <= off + slen )); do
                        (( b[p + 1] >= 6 )) || fail "DMAR scope at $p has bad length ${b[p + 1]}"
                        n=$((n + 1))
                        p=$((p + b[p + 1]))
                done
                drhd+=("$(jq -n -c --argjson f "${b[off + 4]}" --argjson s "$(u16 $((off + 6)))" \
                        --arg base "$(u64 $((off + 8)))" --argjson n "$n" \
                        '{flags: $f, segment: $s, register_base: $base, scopes: $n}')")
        fi
        off=$((off + slen))
done
log "DMAR: rev=$t_rev oem='$t_oem' haw=$t_haw flags=$t_flags drhd=${drhd[*]}"

jq -e '.dmar | type == "object" and has("error") == false' >/dev/null <<<"$report" ||
        fail "report has no decoded dmar: $(jq -c .dmar <<<"$report" | head -c 200)"
d=$(jq -c .dmar <<<"$report")
[[ $(jq .revision <<<"$d") == "$t_rev" ]] || fail "dmar.revision $(jq .revision <<<"$d"), table $t_rev"
rep_oem=$(jq -r .oem_id <<<"$d")
[[ ${rep_oem%"${rep_oem##*[! ]}"} == "${t_oem%"${t_oem##*[! ]}"}" ]] ||
        fail "dmar.oem_id '$rep_oem', table '$t_oem'"
# The report gives address bits: the HAW field is "width - 1" (VT-d spec 8.1).
[[ $(jq .host_address_width <<<"$d") == $((t_haw + 1)) ]] ||
        fail "dmar.host_address_width $(jq .host_address_width <<<"$d"), table field $t_haw (+1 bits)"
[[ $(jq .flags <<<"$d") == "$t_flags" ]] || fail "dmar.flags $(jq .flags <<<"$d"), table $t_flags"
# DMAR flag bit 0 is INTR_REMAP: set by QEMU exactly when intremap=on.
if [[ $INTREMAP == on ]]; then
        (( t_flags & 1 )) || fail "DMAR flags $t_flags lack INTR_REMAP on intremap=on"
else
        (( (t_flags & 1) == 0 )) || fail "DMAR flags $t_flags have INTR_REMAP on intremap=off"
fi
(( ${#drhd[@]} >= 1 )) || fail "the table has no DRHD"

backends=$(prop "$ROOT_PATH" "$MANAGER" Backends) || fail "no Backends property"
if [[ $FLAVOUR == iommufd ]]; then
        [[ $backends == '["type1","iommufd"]' ]] || fail "Backends is $backends on $(uname -r), which has /dev/iommu"
else
        [[ $backends == '["type1"]' ]] || fail "Backends is $backends on $(uname -r), which has no iommufd"
fi
note "Backends $backends"
got=$(jq -c '[.structures[] | select(.type == "DRHD") |
        {flags, segment, register_base, scopes: (.scopes | length)}]' <<<"$d")
want=$(printf '%s\n' "${drhd[@]}" | jq -s -c .)
[[ $got == "$want" ]] || fail "DRHDs in the report $got, table $want"
pass
