#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on iommufd
#
# The VFIO variant drivers as the shipped unit sees them (vfio-assignd(8), "VFIO VARIANT
# DRIVERS"): ProtectKernelModules= hides /usr/lib/modules from the daemon, so the unit's
# privileged ExecStartPre copies the vfio_pci lines of the running kernel's modules.alias into
# /run/vfio-assignd/modules.alias. The copy has exactly the kernel's vfio_pci aliases (Debian's
# 6.1 ships mlx5_vfio_pci and hisi_acc_vfio_pci besides vfio-pci's own catch-all; a kernel
# without modules.alias gives an empty file), the daemon says how many variants it read, and the
# emulated e1000e, which no variant names, shows VfioDriver "vfio-pci" in the report and on the
# bus (the catch-all alias of vfio_pci matched everything once: it is no variant).

. /usr/local/lib/vfio-vm/lib.sh

require_daemon

ADDR=0000:01:00.0
copy=/run/vfio-assignd/modules.alias
kernel=/lib/modules/$(uname -r)/modules.alias
[[ -f $copy ]] || fail "the unit made no $copy"
want=0
[[ -f $kernel ]] && want=$(grep -c '^alias vfio_pci:' "$kernel" || true)
got=$(grep -c '^alias vfio_pci:' "$copy" || true)
[[ $got == "$want" && $(wc -l < "$copy") == "$want" ]] ||
        fail "$copy has $got vfio_pci aliases ($(wc -l < "$copy") lines), the kernel's modules.alias $want"
# vfio-pci's own catch-all ("vfio_pci:v*d*... vfio_pci") is no variant.
variants=$(awk '$3 != "vfio_pci"' "$copy" | wc -l)
if (( variants > 0 )); then
        journalctl -q -b -u vfio-assignd -o cat | grep -q "^$variants VFIO variant driver aliases" ||
                fail "the daemon did not say it read $variants VFIO variant driver aliases"
fi
note "$want vfio_pci aliases in $(uname -r)'s modules.alias: $(cut -d' ' -f3 "$copy" | sort -u | tr '\n' ' ')"

report=$(host_report) || fail "GetHostReport failed"
[[ $(jq -r --arg a "$ADDR" '.devices[] | select(.address == $a) | .vfio_driver' <<<"$report") == vfio-pci ]] ||
        fail "the report's vfio_driver of $ADDR is not vfio-pci"
[[ $(prop "$(device_path "$ADDR")" "$DEVICE_IFACE" VfioDriver) == '"vfio-pci"' ]] ||
        fail "Device.VfioDriver of $ADDR is $(prop "$(device_path "$ADDR")" "$DEVICE_IFACE" VfioDriver)"
[[ $(jq -c '.host.errors' <<<"$report") != *"VFIO variant drivers"* ]] ||
        fail "the report has an error about the variants: $(jq -c '.host.errors' <<<"$report")"
pass
