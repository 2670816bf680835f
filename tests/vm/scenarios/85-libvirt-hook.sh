#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# The libvirt hook (vfio-assignd(8), LIBVIRT) with Debian's libvirt: a small domain (type qemu,
# q35, 64 MiB, no disks) with the single-device group's e1000e as
# <hostdev type='pci' managed='no'>. `virsh start --paused` (QEMU with -S: no guest code runs,
# nested TCG is slow) runs the hook's "prepare begin", which claims group 5 for the owner key
# libvirt:UUID before libvirt checks that the device is on vfio-pci; QEMU's query-pci shows the
# device (8086:10d3). `virsh destroy` runs "release end": the e1000e is back on its driver and
# no lease is left. A second domain with the e1000e and a host-critical device (the one holding
# "/", found in the report) does not start: virsh prints the daemon's HostCritical reason, and
# the e1000e the hook claimed first is back on its driver.
#
# Needs in the guest, besides the layout's packages: libvirt-daemon-system (libvirtd, its socket
# units and the qemu driver through libvirt-daemon's dependency on libvirt-daemon-driver-qemu),
# libvirt-clients (virsh) and libxml2 (the hook's library; libvirt depends on it too):
# SUITE_PACKAGES in tests/vm/run.sh.

. /usr/local/lib/vfio-vm/lib.sh

ADDR=0000:01:00.0
GROUP=5
HOOK=/etc/libvirt/hooks/qemu.d/vfio-assignd
DOM=vfio-hook-test
DOM_CRITICAL=vfio-hook-critical
# What `virsh` may take: libvirt probes QEMU's capabilities on its first use, slow under TCG.
VIRSH_TIMEOUT=180

require_daemon
require_host_clean
on_exit restore_host
command -v virsh >/dev/null || fail "virsh is not installed in the guest (libvirt-clients)"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed in the guest"
[[ -x $HOOK ]] || fail "$HOOK is not installed (make install puts it there)"

virsh_() {
        timeout "$VIRSH_TIMEOUT" virsh --connect qemu:///system "$@"
}

# libvirt looks for hooks when its daemon starts (virHookInitialize()): a daemon that ran before
# the hook was installed has not seen it. Debian 12 runs the monolithic libvirtd, socket
# activated; later releases may run the modular virtqemud instead.
for unit in virtqemud.service libvirtd.service; do
        if systemctl is-active --quiet "$unit"; then
                log "restarting $unit so that it finds $HOOK"
                systemctl restart "$unit" || fail "systemctl restart $unit failed"
        fi
done
virsh_ version >&2 || fail "virsh cannot reach libvirt's qemu driver: $(virsh_ version 2>&1 | tail -n 1)"

# domain_xml NAME ADDRESS...: the domain with each address as an unmanaged PCI hostdev, each on
# the root bus (slot 5 on): libvirt would put it behind a pcie-root-port of its own, whose
# secondary bus the firmware numbers only when the guest runs, and a paused QEMU's query-pci
# lists nothing behind a bridge that has no bus number yet.
domain_xml() {
        local name=$1 a slot=5
        shift
        printf '%s\n' "<domain type='qemu'>" "  <name>$name</name>" \
                "  <memory unit='MiB'>64</memory>" "  <vcpu>1</vcpu>" \
                "  <os><type arch='x86_64' machine='q35'>hvm</type></os>" \
                "  <devices>" "    <emulator>/usr/bin/qemu-system-x86_64</emulator>" \
                "    <controller type='usb' model='none'/>" "    <memballoon model='none'/>"
        for a in "$@"; do
                printf '%s\n' "    <hostdev mode='subsystem' type='pci' managed='no'>" \
                        "      <source><address domain='0x${a:0:4}' bus='0x${a:5:2}'" \
                        "        slot='0x${a:8:2}' function='0x${a:11:1}'/></source>" \
                        "      <address type='pci' domain='0x0000' bus='0x00' slot='$((slot++))'" \
                        "        function='0x0'/>" \
                        "    </hostdev>"
        done
        printf '%s\n' "  </devices>" "</domain>"
}

undefine() {
        virsh_ destroy "$1" >&2 || true
        virsh_ undefine "$1" >&2 || true
}

domain_xml "$DOM" "$ADDR" > "$TMP/$DOM.xml"
on_exit "undefine $DOM"
must virsh_ define "$TMP/$DOM.xml"
uuid=$(virsh_ domuuid "$DOM") || fail "virsh domuuid $DOM failed"
uuid=${uuid//[[:space:]]/}
owner=libvirt:$uuid

out=$(virsh_ start --paused "$DOM" 2>&1) || fail "virsh start --paused $DOM failed: $out"
log "virsh start: $out"
bound_to "$ADDR" vfio-pci || fail "$ADDR is on '$(driver_of "$ADDR")' with $DOM running"
path=$(lease_of_group "$GROUP" | jq -r '.[1]')
[[ -n $path && $path != null ]] || fail "no lease on group $GROUP with $DOM running: $(list_leases)"
[[ $(prop "$path" "$LEASE_IFACE" Owner) == "\"$owner\"" ]] ||
        fail "the lease of group $GROUP is owned by $(prop "$path" "$LEASE_IFACE" Owner), not $owner"
found=$(busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" FindLease s "$owner" |
        jq -r '.data[0]') || fail "FindLease($owner) failed"
[[ $found == "$path" ]] || fail "FindLease($owner) gave $found, not $path"
note "$DOM ($owner) holds $path"

pci=$(virsh_ qemu-monitor-command "$DOM" '{"execute": "query-pci"}') ||
        fail "query-pci through virsh failed"
n=$(jq '[.return[].devices[] | recurse(.pci_bridge.devices[]?) |
        select(.id.vendor == 32902 and .id.device == 4307)] | length' <<<"$pci")
[[ $n == 1 ]] || fail "QEMU's query-pci shows $n 8086:10d3, expected 1: $pci"
note "QEMU under libvirt sees the e1000e"

out=$(virsh_ destroy "$DOM" 2>&1) || fail "virsh destroy $DOM failed: $out"
wait_until 30 host_restored || fail "after virsh destroy: $(host_state)"
log "after destroy: $(host_state)"

critical=$(host_report | jq -r '[.devices[] | select(.host_critical != null) | .address][0]')
[[ -n $critical && $critical != null ]] || fail "the report names no host-critical device"
critical_driver=$(driver_of "$critical")
domain_xml "$DOM_CRITICAL" "$ADDR" "$critical" > "$TMP/$DOM_CRITICAL.xml"
on_exit "undefine $DOM_CRITICAL"
must virsh_ define "$TMP/$DOM_CRITICAL.xml"
if out=$(virsh_ start --paused "$DOM_CRITICAL" 2>&1); then
        fail "virsh start of a domain with the host-critical $critical succeeded"
fi
log "virsh start $DOM_CRITICAL: $out"
[[ $out == *"Hook script execution failed"* && $out == *"cannot claim $critical"* &&
        $out == *org.vfioassign1.Error.HostCritical* ]] ||
        fail "virsh start with $critical did not give the daemon's reason: $out"
[[ $(virsh_ domstate "$DOM_CRITICAL" 2>/dev/null) == *"shut off"* ]] ||
        fail "$DOM_CRITICAL is $(virsh_ domstate "$DOM_CRITICAL" 2>&1) after the refused start"
wait_until 30 host_restored || fail "after the refused start: $(host_state)"
bound_to "$critical" "$critical_driver" ||
        fail "$critical is on '$(driver_of "$critical")', not $critical_driver, after the refused start"
note "virsh start with $critical: $(grep -o 'vfio-assignd: .*' <<<"$out" | head -n 1)"
pass
