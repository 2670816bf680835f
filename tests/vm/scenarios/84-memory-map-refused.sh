#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: iommufd
#
# AllocateMemory's option map is type1's: on an iommufd lease the daemon refuses it with
# InvalidArgument saying why (iommufd pins pages only for an IOAS with a device attached, and the
# device's one binding is the VMM's) and makes no region. From assignctl (claim --memory --map:
# the error's name and message; the command never runs), and from a VMM holding an iommufd lease
# with a region already (assignctl claim --memory --exec, busctl against $VFIO_LEASE): the
# refusal, and the daemon's objects before and after it list the same one region.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
SIZE_MB=16
IOVA=0x40000000

require_daemon
require_host_clean
on_exit restore_host

rc=0
assignctl --json=short claim "$ADDR" --backend iommufd --memory "${SIZE_MB}M" --map "$IOVA" \
        --exec touch "$TMP/ran" > "$TMP/claim.out" 2> "$TMP/claim.err" || rc=$?
cat "$TMP/claim.out" "$TMP/claim.err" >&2
[[ $rc -ne 0 ]] || fail "assignctl claim --backend iommufd --memory --map succeeded"
[[ ! -e $TMP/ran ]] || fail "assignctl ran the command though AllocateMemory was refused"
name=$(error_name "$TMP/claim.err")
msg=$(error_message "$TMP/claim.err")
[[ $name == org.vfioassign1.Error.InvalidArgument ]] ||
        fail "claim --memory --map on an iommufd lease: error '$name', expected InvalidArgument: $msg"
[[ $msg == *iommufd* && $msg == *"device attached"* ]] || fail "the refusal does not say why: $msg"
note "assignctl claim --backend iommufd --memory ${SIZE_MB}M --map $IOVA (exit $rc): $msg"
wait_until 10 host_restored || fail "after the refused claim: $(host_state)"

# What the VMM runs under the claim: the daemon's region objects, AllocateMemory with map on its
# own lease, the objects again.
cat > "$TMP/try-map" <<'SCRIPT'
#!/bin/bash
regions() { busctl --system --list tree org.vfioassign1 | grep '^/org/vfioassign1/region/'; }
echo "$VFIO_REGION" > "$OUT/region"
regions > "$OUT/before"
busctl --system call org.vfioassign1 "$VFIO_LEASE" org.vfioassign1.Lease AllocateMemory \
        'ta{sv}' "$SIZE" 1 map t "$IOVA" > "$OUT/map.out" 2> "$OUT/map.err"
echo $? > "$OUT/map.rc"
regions > "$OUT/after"
SCRIPT
chmod 755 "$TMP/try-map"
OUT=$TMP IOVA=$((IOVA)) SIZE=$((SIZE_MB << 20)) timeout 120 assignctl claim "$ADDR" --backend iommufd \
        --memory "${SIZE_MB}M" --exec "$TMP/try-map" > "$TMP/held.out" 2> "$TMP/held.err" ||
        fail "claim --backend iommufd --memory --exec: $(tail -n 3 "$TMP/held.err" | tr '\n' ' ')"
cat "$TMP/held.out" "$TMP/held.err" "$TMP"/map.{out,err} >&2
region=$(< "$TMP/region")
[[ $region == "$ROOT_PATH"/region/* ]] || fail "VFIO_REGION is '$region', not a region object"
[[ $(< "$TMP/before") == "$region" ]] ||
        fail "the daemon's region objects under the lease: '$(tr '\n' ' ' < "$TMP/before")', want $region"
[[ $(< "$TMP/map.rc") -ne 0 ]] ||
        fail "AllocateMemory with map on the iommufd lease succeeded: $(< "$TMP/map.out")"
msg=$(< "$TMP/map.err")
[[ $msg == *iommufd* && $msg == *"device attached"* ]] || fail "busctl's AllocateMemory with map: $msg"
[[ $(< "$TMP/after") == "$region" ]] ||
        fail "a region appeared with the refusal: '$(tr '\n' ' ' < "$TMP/after")', before only $region"
wait_until 10 region_gone "$region" || fail "region $region outlived its lease"
wait_until 10 host_restored || fail "after the held claim: $(host_state)"
pass
