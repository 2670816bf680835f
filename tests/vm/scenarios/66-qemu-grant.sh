#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 12: an unprivileged QEMU (user vmm, uid 1001) that opens the VFIO paths itself. Root
# claims group 5 and calls Lease.GrantAccess(1001), refused until a policy rule gives vmm the
# device (the grantee gets what a claim of its own would); QEMU then starts with
# -device vfio-pci,host=0000:01:00.0 (-S: no guest code runs, nested TCG is slow) and its QMP
# query-pci must show the device (8086:10d3). quit, release, the e1000e is back and
# /dev/vfio/5 is gone. RLIMIT_MEMLOCK covers the 64 MiB of guest RAM QEMU pins for DMA.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
VMM_USER=vmm
VMM_UID=1001
MEMLOCK=$((256 << 20))

require_daemon
require_host_clean
on_exit restore_host
[[ $(id -u "$VMM_USER" 2>/dev/null) == "$VMM_UID" ]] || fail "no user $VMM_USER with uid $VMM_UID"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed in the guest"

start_holder "$TMP/claim.out" assignctl claim "$ADDR"
path=$(lease_of_group "$GROUP" | jq -r '.[1]')
[[ -n $path && $path != null ]] || fail "no lease on group $GROUP: $(list_leases)"
# The node gives vmm what a claim of its own would: without a policy rule for it, refused.
if out=$(busctl --system call "$BUS" "$path" "$LEASE_IFACE" GrantAccess 'ua{sv}' "$VMM_UID" 0 2>&1); then
        fail "GrantAccess($VMM_UID) with no policy rule for $VMM_USER succeeded"
fi
[[ $out == *"no rule matches"* ]] || fail "GrantAccess($VMM_UID) with no rule: $out"
[[ $(stat -c %u "/dev/vfio/$GROUP") == 0 ]] || fail "a refused GrantAccess changed /dev/vfio/$GROUP's owner"
log "GrantAccess($VMM_UID) without a rule: $out"
install_policy 50-vfio-vm-vmm.json '{ "version": 1, "rules": [
  { "description": "vfio-assignd VM test: the unprivileged QEMU may have the e1000e",
    "match": { "address": "'"$ADDR"'" }, "action": "allow", "users": [ "'"$VMM_USER"'" ] } ] }'
out=$(busctl --system call "$BUS" "$path" "$LEASE_IFACE" GrantAccess 'ua{sv}' "$VMM_UID" 0 2>&1) ||
        fail "GrantAccess($VMM_UID) on $path failed: $out"
[[ $(stat -c %u "/dev/vfio/$GROUP") == "$VMM_UID" ]] ||
        fail "/dev/vfio/$GROUP belongs to uid $(stat -c %u "/dev/vfio/$GROUP") after GrantAccess($VMM_UID)"
log "/dev/vfio: $(ls -ln /dev/vfio | tr '\n' ' ')"

QDIR=$TMP/qemu
chmod 711 "$TMP"     # vmm must reach its own directory below the scenario's private one
install -d -m 700 -o "$VMM_UID" -g "$VMM_UID" "$QDIR"
SOCK=$QDIR/qmp.sock
# prlimit as root raises the limit; setpriv then drops to vmm with it.
prlimit --memlock="$MEMLOCK:$MEMLOCK" \
        setpriv --reuid="$VMM_UID" --regid="$VMM_UID" --init-groups -- \
        qemu-system-x86_64 -machine q35 -accel tcg -m 64 -nodefaults -display none -S \
                -device "vfio-pci,host=$ADDR" -qmp "unix:$SOCK,server=on,wait=off" \
        > "$QDIR/qemu.log" 2>&1 &
QEMU_PID=$!
BG_PIDS+=("$QEMU_PID")
qemu_up() { [[ -S $SOCK ]] || ! kill -0 "$QEMU_PID" 2>/dev/null; }
# QEMU listens on the socket first and sets up the devices after: it may still die.
qemu_died() {
        local rc=0
        wait_until 30 eval '! kill -0 "$QEMU_PID" 2>/dev/null' || return 1
        wait "$QEMU_PID" || rc=$?
        cat "$QDIR/qemu.log" >&2
        note "qemu: $(head -n 2 "$QDIR/qemu.log" | tr '\n' ' ')"
        fail "QEMU as $VMM_USER exited $rc: $(head -n 3 "$QDIR/qemu.log" | tr '\n' ' ')"
}
wait_until 60 qemu_up || fail "QEMU made no QMP socket in 60 s: $(tail -n 3 "$QDIR/qemu.log" | tr '\n' ' ')"
kill -0 "$QEMU_PID" 2>/dev/null || qemu_died

if ! qmp_connect "$SOCK"; then
        log "QMP: '$QMP_GREETING'"
        qemu_died
        fail "no QMP greeting from QEMU (got '$QMP_GREETING')"
fi
devices=$(qmp_pci_devices 32902 4307) || fail "query-pci got no reply"
[[ $(jq length <<<"$devices") == 1 ]] || fail "query-pci does not show one 8086:10d3: $devices"
note "query-pci in the nested QEMU: $devices"
qmp_quit
qemu_gone() { ! kill -0 "$QEMU_PID" 2>/dev/null; }
wait_until 30 qemu_gone || fail "QEMU did not quit"
wait "$QEMU_PID" 2>/dev/null

# Release (assignctl claim releases on SIGTERM): the grant is revoked with the lease.
kill -TERM "$HOLDER_PID"
wait "$HOLDER_PID" 2>/dev/null
wait_until 10 host_restored || fail "after the release: $(host_state)"
[[ ! -e /dev/vfio/$GROUP ]] || fail "/dev/vfio/$GROUP is still there after the release"
pass
