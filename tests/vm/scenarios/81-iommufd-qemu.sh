#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: iommufd
#
# A stock QEMU (Debian 13's, >= 8.2) run by an unprivileged user (vmm, uid 1001) that has no
# access to /dev/iommu or any VFIO device node, with nothing but the fds the daemon hands out:
#   assignctl claim 0000:01:00.0 --backend iommufd --memlock 256M --exec \
#       sh -c 'exec qemu-system-x86_64 ... $VFIO_QEMU_ARGS ...'
# (1) Without --memlock QEMU cannot pin its 128 MiB (the default RLIMIT_MEMLOCK is 8 MiB, and the
# daemon has the pin charged to the process that maps it): it fails, assignctl names the limit,
# and the group goes back. (2) With --memlock the daemon raises assignctl's limit before the group
# moves, QEMU inherits it, and QMP query-pci shows the e1000e (8086:10d3) as device vfio0; the
# kernel charged the pin to QEMU (VmPin). After QEMU quits, the daemon resets the device (seen
# with the function tracer), the e1000e is back, and no process has a VFIO cdev open. (3) With
# --memory 128M --hugepages 2M, the command line of assignctl(1): the guest's RAM is a region of
# 2 MiB pages the daemon filled, which QEMU maps through /dev/fd (VFIO_QEMU_ARGS starts with it
# and has the -m, so the script gives none); the device is there, QEMU pinned its 128 MiB, the
# pages came from the hugetlb pool and go back to it after QEMU quits.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
VMM_USER=vmm
VMM_UID=1001

require_daemon
require_host_clean
on_exit restore_host
[[ $(id -u "$VMM_USER" 2>/dev/null) == "$VMM_UID" ]] || fail "no user $VMM_USER with uid $VMM_UID"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed in the guest"
qver=$(qemu-system-x86_64 --version | sed -n '1s/.*version \([0-9]*\.[0-9]*\).*/\1/p')
[[ ${qver%%.*} -gt 8 || $qver == 8.[2-9]* ]] || fail "QEMU $qver cannot take a cdev fd (8.2 or later can)"

allow_claims_by "$VMM_USER" "$ADDR"
AS_VMM=(setpriv --reuid="$VMM_UID" --regid="$VMM_UID" --init-groups --)

QDIR=$TMP/qemu
chmod 711 "$TMP"     # vmm must reach its own directory below the scenario's private one
install -d -m 700 -o "$VMM_UID" -g "$VMM_UID" "$QDIR"
SOCK=$QDIR/qmp.sock
# What vmm runs under assignctl: first a record of which device nodes it could open (none of
# /dev/iommu, the cdevs, the group nodes; /dev/vfio/vfio is world-readable by design and holds
# nothing until a group is added), then QEMU with the lease's arguments, unquoted.
cat > "$TMP/start-qemu" <<'SCRIPT'
#!/bin/sh
for f in /dev/iommu /dev/vfio/devices/* /dev/vfio/[0-9]*; do
        [ -e "$f" ] || continue
        if [ -r "$f" ] || [ -w "$f" ]; then echo "can open $f"; fi
done > "$QDIR/access"
echo "$VFIO_QEMU_ARGS" > "$QDIR/args"
mem="-m 128"
[ -z "$VFIO_MEMFD" ] || mem=""
exec qemu-system-x86_64 -S -display none -machine q35 -accel tcg -nodefaults $mem \
        $VFIO_QEMU_ARGS -qmp "unix:$QDIR/qmp.sock,server=on,wait=off"
SCRIPT
chmod 755 "$TMP/start-qemu"
export QDIR

# --- (1) the default memlock: QEMU cannot pin its RAM -------------------------------------------
rc=0
timeout 60 "${AS_VMM[@]}" assignctl claim "$ADDR" --backend iommufd --exec "$TMP/start-qemu" \
        > "$TMP/small.out" 2> "$TMP/small.err" || rc=$?
cat "$TMP/small.out" "$TMP/small.err" >&2
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "QEMU with 128 MiB on the default RLIMIT_MEMLOCK: exit $rc"
grep -q 'Cannot allocate memory\|-12' "$TMP/small.err" ||
        fail "QEMU failed for another reason than the pin: $(grep -m 2 -i error "$TMP/small.err" | tr '\n' ' ')"
grep -q "the command ran with RLIMIT_MEMLOCK 8388608 bytes (8 MiB)" "$TMP/small.err" ||
        fail "assignctl did not name the memlock limit the command had"
wait_until 10 host_restored || fail "after QEMU failed: $(host_state)"
note "default memlock: $(grep -m 1 -o 'vfio_container_dma_map.*' "$TMP/small.err" | cut -c1-120)"

# --- (2) --memlock: QEMU runs with the device ------------------------------------------------
rm -f "$SOCK"
# setpriv execs assignctl: HOLDER_PID is assignctl, QEMU its child.
"${AS_VMM[@]}" assignctl claim "$ADDR" --backend iommufd --memlock 256M --exec "$TMP/start-qemu" \
        > "$TMP/qemu.out" 2> "$TMP/qemu.err" &
HOLDER_PID=$!
BG_PIDS+=("$HOLDER_PID")
qemu_up() { [[ -S $SOCK ]] || ! kill -0 "$HOLDER_PID" 2>/dev/null; }
wait_until 60 qemu_up || fail "QEMU made no QMP socket in 60 s: $(tail -n 3 "$TMP/qemu.err" | tr '\n' ' ')"
kill -0 "$HOLDER_PID" 2>/dev/null ||
        fail "assignctl/QEMU as $VMM_USER exited: $(tail -n 4 "$TMP/qemu.err" | tr '\n' ' ')"
[[ ! -s $QDIR/access ]] || fail "vmm could open device nodes: $(tr '\n' ' ' < "$QDIR/access")"
log "QEMU arguments: $(cat "$QDIR/args")"
qmp_connect "$SOCK" || fail "no QMP greeting from QEMU (got '$QMP_GREETING'): $(tail -n 3 "$TMP/qemu.err" | tr '\n' ' ')"
devices=$(qmp_pci_devices 32902 4307) || fail "query-pci got no reply: $(tail -n 3 "$TMP/qemu.err" | tr '\n' ' ')"
[[ $(jq -c '[.[].qdev_id]' <<<"$devices") == '["vfio0"]' ]] ||
        fail "query-pci does not show the e1000e as vfio0: $devices"
note "query-pci in QEMU $qver as $VMM_USER: $devices"
# The guest has no procps: QEMU is vmm's process named qemu-system-x86 (comm is cut at 15).
qemu_pid=
for p in /proc/[0-9]*; do
        [[ $(cat "$p/comm" 2>/dev/null) == qemu-system-x86 && $(stat -c %u "$p") == "$VMM_UID" ]] &&
                qemu_pid=${p#/proc/}
done
pin=$(awk '/^VmPin:/ { print $2 }' "/proc/$qemu_pid/status" 2>/dev/null)
[[ -n $pin ]] && (( pin >= 128 * 1024 )) || fail "QEMU (pid ${qemu_pid:-?}) has VmPin ${pin:-?} kB, not its 128 MiB"
note "the kernel charged the pin to QEMU: VmPin $pin kB; assignctl's RLIMIT_MEMLOCK $(prlimit --memlock -o SOFT --noheadings -p "$HOLDER_PID" 2>/dev/null)"
grep -q "^Claimed IOMMU group $GROUP " "$TMP/qemu.err" || fail "assignctl did not print its claim line"

# Armed only now: QEMU's own open reset the device too, which must not count.
start_reset_trace
qmp_quit
holder_gone() { dead "$HOLDER_PID"; }
wait_until 30 holder_gone || fail "QEMU and assignctl did not end after quit"
rc=0
wait "$HOLDER_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "assignctl claim --exec QEMU exited $rc: $(tail -n 3 "$TMP/qemu.err" | tr '\n' ' ')"
grep -q "^Released lease [0-9]* (IOMMU group $GROUP)" "$TMP/qemu.err" || fail "assignctl did not say it released"
wait_until 10 host_restored || fail "after QEMU quit: $(host_state)"
check_daemon_reset "$ADDR"
open=$(find /proc/[0-9]*/fd -lname '/dev/vfio/devices/*' 2>/dev/null)
[[ -z $open ]] || fail "VFIO cdevs still open after the release: $open"

# --- (3) --memory: the guest's RAM from the daemon, 2 MiB pages ---------------------------------
hp_before=$(hugepages_in_use)
rm -f "$SOCK"
"${AS_VMM[@]}" assignctl claim "$ADDR" --backend iommufd --memlock 256M --memory 128M \
        --hugepages 2M --exec "$TMP/start-qemu" > "$TMP/mem.out" 2> "$TMP/mem.err" &
HOLDER_PID=$!
BG_PIDS+=("$HOLDER_PID")
wait_until 120 qemu_up || fail "--memory: QEMU made no QMP socket in 120 s: $(tail -n 3 "$TMP/mem.err" | tr '\n' ' ')"
kill -0 "$HOLDER_PID" 2>/dev/null ||
        fail "--memory: assignctl/QEMU as $VMM_USER exited: $(tail -n 4 "$TMP/mem.err" | tr '\n' ' ')"
grep -q '^-object memory-backend-file,id=vfio-ram,mem-path=/dev/fd/[0-9]*,share=on,size=134217728 -machine memory-backend=vfio-ram -m 128M -object iommufd,' "$QDIR/args" ||
        fail "--memory: VFIO_QEMU_ARGS does not start with the region: $(cat "$QDIR/args")"
log "QEMU arguments with --memory: $(cat "$QDIR/args")"
qmp_connect "$SOCK" || fail "--memory: no QMP greeting from QEMU (got '$QMP_GREETING'): $(tail -n 3 "$TMP/mem.err" | tr '\n' ' ')"
devices=$(qmp_pci_devices 32902 4307) || fail "--memory: query-pci got no reply: $(tail -n 3 "$TMP/mem.err" | tr '\n' ' ')"
[[ $(jq -c '[.[].qdev_id]' <<<"$devices") == '["vfio0"]' ]] ||
        fail "--memory: query-pci does not show the e1000e as vfio0: $devices"
qemu_pid=$(qemu_pid_of "$VMM_UID")
pin=$(status_kb "$qemu_pid" VmPin)
[[ -n $pin ]] && (( pin >= 128 * 1024 )) || fail "--memory: QEMU (pid ${qemu_pid:-?}) has VmPin ${pin:-?} kB, not its 128 MiB"
used=$(( $(hugepages_in_use) - hp_before ))
(( used >= 64 )) || fail "--memory: $used 2 MiB pages in use for QEMU's 128 MiB, not 64"
note "--memory 128M --hugepages 2M: query-pci $devices; VmPin $pin kB; $used hugepages in use"
qmp_quit
wait_until 30 holder_gone || fail "--memory: QEMU and assignctl did not end after quit"
rc=0
wait "$HOLDER_PID" || rc=$?
[[ $rc -eq 0 ]] || fail "--memory: assignctl claim --exec QEMU exited $rc: $(tail -n 3 "$TMP/mem.err" | tr '\n' ' ')"
wait_until 10 host_restored || fail "after QEMU with --memory quit: $(host_state)"
hugepages_back() { [[ $(hugepages_in_use) -eq $hp_before ]]; }
wait_until 10 hugepages_back || fail "--memory: $(( $(hugepages_in_use) - hp_before )) hugepages still in use after QEMU quit"
pass
