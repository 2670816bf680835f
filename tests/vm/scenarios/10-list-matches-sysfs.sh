#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: on
#
# Scenario 1: `assignctl --json list` (and the Manager's ListGroups/ListDevices) say what the
# guest's own sysfs says: every group with its type and members, every device with its ids,
# driver, driver_override, group, bridge flag, NUMA node and root complex. The reference listing is made
# here with shell tools and jq, independently of the daemon's code.

. /usr/local/lib/vfio-vm/lib.sh

require_daemon

# --- the reference, from sysfs (Documentation/ABI/testing/sysfs-bus-pci,
#     sysfs-kernel-iommu_groups) ---------------------------------------------------------------
sysfs_devices() {
        local d a ov numa ht class bridge vendor device sv sd drv grp root p part
        local -A links=() parts=()
        # One find for every driver and iommu_group link (forks are slow under TCG).
        while IFS=$'\t' read -r d a; do
                links[$d]=${a##*/}
        done < <(find -H /sys/bus/pci/devices/* -mindepth 1 -maxdepth 1 \
                 \( -name driver -o -name iommu_group \) -printf '%h/%f\t%l\n')
        # Each device's own link names its path under /sys/devices, root complex included
        # ("../../../devices/pci0000:00/0000:00:1f.2").
        while IFS=$'\t' read -r a d; do
                parts[$a]=$d
        done < <(find /sys/bus/pci/devices -mindepth 1 -maxdepth 1 -printf '%f\t%l\n')
        for d in /sys/bus/pci/devices/*; do
                a=${d##*/}
                read -r vendor < "$d/vendor"
                read -r device < "$d/device"
                read -r sv < "$d/subsystem_vendor"
                read -r sd < "$d/subsystem_device"
                read -r class < "$d/class"
                ov=; read -r ov < "$d/driver_override" 2>/dev/null
                [[ $ov == "(null)" ]] && ov=
                numa=; read -r numa < "$d/numa_node" 2>/dev/null
                [[ $numa == -1 ]] && numa=
                drv=${links[$d/driver]-}
                # The first directory named as pci_register_host_bridge() names a root complex.
                root=
                IFS=/ read -ra part <<<"${parts[$a]-}"
                for p in "${part[@]}"; do
                        [[ $p =~ ^pci[0-9a-f]{4,8}:[0-9a-f]{2}$ ]] && { root=$p; break; }
                done
                grp=${links[$d/iommu_group]-}
                # Config header type (offset 0x0e, low 7 bits) 1 is a PCI-to-PCI bridge; the
                # class code 06/04 or 06/09 says so too.
                ht=$(od -An -tu1 -j14 -N1 "$d/config")
                bridge=0
                if (( (ht & 0x7f) == 1 )) || [[ ${class:0:6} == 0x0604 || ${class:0:6} == 0x0609 ]]; then
                        bridge=1
                fi
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$a" "$vendor" "$device" \
                        "$sv" "$sd" "$class" "$drv" "$ov" "$grp" "$bridge" "$numa" "$root"
        done | jq -R -s -c '
                def opt: if . == "" then null else . end;
                split("\n") | map(select(length > 0) | split("\t") | {
                        address: .[0], vendor: .[1], device: .[2], subsystem_vendor: .[3],
                        subsystem_device: .[4], class: .[5], driver: (.[6] | opt),
                        driver_override: (.[7] | opt), group: (.[8] | opt | if . then tonumber else null end),
                        bridge: (.[9] == "1"), numa_node: (.[10] | opt | if . then tonumber else null end),
                        pcie_root: (.[11] | opt)
                }) | sort_by(.address)'
}

sysfs_groups() {
        local g t members m
        for g in /sys/kernel/iommu_groups/*; do
                t=; read -r t < "$g/type" 2>/dev/null
                members=
                for m in "$g"/devices/*; do
                        members+="${members:+,}${m##*/}"
                done
                printf '%s\t%s\t%s\n' "${g##*/}" "$t" "$members"
        done | jq -R -s -c '
                split("\n") | map(select(length > 0) | split("\t") | {
                        id: (.[0] | tonumber), type: (if .[1] == "" then null else .[1] end),
                        devices: (.[2] | split(",") | sort)
                }) | sort_by(.id)'
}

# "what differs" between two lists of objects keyed by $key, for a readable FAIL line.
differences() {
        jq -n -r --argjson a "$1" --argjson b "$2" --arg key "$3" '
                ($a | map({key: (.[$key] | tostring), value: .}) | from_entries) as $A |
                ($b | map({key: (.[$key] | tostring), value: .}) | from_entries) as $B |
                [ ($A + $B | keys[]) as $k |
                  if $A[$k] == null then "\($k): missing from the daemon"
                  elif $B[$k] == null then "\($k): not in sysfs"
                  else ($B[$k] | keys[]) as $f | select($A[$k][$f] != $B[$k][$f]) |
                       "\($k) \($f): daemon=\($A[$k][$f] | tojson) sysfs=\($B[$k][$f] | tojson)"
                  end ] | .[:6] | join("; ")'
}

ref_devices=$(sysfs_devices) || fail "cannot list sysfs devices"
ref_groups=$(sysfs_groups) || fail "cannot list sysfs groups"
log "sysfs: $(jq length <<<"$ref_devices") devices, $(jq length <<<"$ref_groups") groups"
[[ $(jq length <<<"$ref_groups") -ge 7 ]] || fail "sysfs shows fewer than 7 IOMMU groups"

# --- assignctl --json list -------------------------------------------------------------------
out=$(assignctl --json list 2> "$TMP/assignctl.err") ||
        fail "assignctl --json list exited $?: $(head -c 300 "$TMP/assignctl.err")"
jq -e 'type == "object" and (.groups | type) == "array" and (.devices | type) == "array"' \
        >/dev/null <<<"$out" || fail "assignctl --json list is not {groups:[...],devices:[...]}"
echo "$out" > "$TMP/list.json"

jq -e '(.groups | map(.id)) == (.groups | map(.id) | sort)' >/dev/null <<<"$out" ||
        fail "groups are not sorted by id"
jq -e '(.devices | map(.address)) == (.devices | map(.address) | sort)' >/dev/null <<<"$out" ||
        fail "devices are not sorted by address"

got_groups=$(jq -c '.groups | map({id, type, devices: (.devices | sort)}) | sort_by(.id)' <<<"$out")
if [[ $got_groups != "$ref_groups" ]]; then
        log "daemon groups: $got_groups"
        log "sysfs groups:  $ref_groups"
        fail "groups differ from sysfs: $(differences "$got_groups" "$ref_groups" id)"
fi

got_devices=$(jq -c '.devices | map({address, vendor, device, subsystem_vendor, subsystem_device,
        class, driver, driver_override, group, bridge, numa_node, pcie_root}) | sort_by(.address)' <<<"$out")
if [[ $got_devices != "$ref_devices" ]]; then
        log "daemon devices: $got_devices"
        log "sysfs devices:  $ref_devices"
        fail "devices differ from sysfs: $(differences "$got_devices" "$ref_devices" address)"
fi

# The layout under test is really there: the multi-device group behind the PCIe-to-PCI bridge.
jq -e '.groups[] | select(.id == 6) | .devices == ["0000:02:00.0", "0000:03:01.0", "0000:03:02.0"]' \
        >/dev/null <<<"$out" || fail "group 6 is not {02:00.0, 03:01.0, 03:02.0}"
jq -e '.devices[] | select(.address == "0000:02:00.0") | .bridge' >/dev/null <<<"$out" ||
        fail "02:00.0 (pcie-pci-bridge) is not marked as a bridge"

# --- the same through the bus API, by a client nobody here wrote (busctl) ---------------------
lg=$(busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" ListGroups) ||
        fail "ListGroups failed"
got=$(jq -c '.data[0] | map({id: .[0], path: .[1], devices: (.[3] | sort)}) | sort_by(.id)' <<<"$lg")
want=$(jq -c --arg p "$ROOT_PATH/group/" 'map({id, path: ($p + (.id | tostring)), devices})' \
        <<<"$ref_groups")
[[ $got == "$want" ]] || { log "ListGroups: $got"; fail "ListGroups differs from sysfs"; }
# ListGroups' assignable flag agrees with the report's.
got=$(jq -c '.data[0] | map([.[0], .[2]]) | sort' <<<"$lg")
want=$(jq -c '.groups | map([.id, .assignable]) | sort' <<<"$out")
[[ $got == "$want" ]] || fail "ListGroups assignable $got differs from the report's $want"

ld=$(busctl --system --json=short call "$BUS" "$ROOT_PATH" "$MANAGER" ListDevices) ||
        fail "ListDevices failed"
got=$(jq -c '.data[0] | map({address: .[0], path: .[1], driver: .[2], group: .[3]}) | sort_by(.address)' <<<"$ld")
# The object path is sd_bus_path_encode()d as in lib.sh's device_path (a leading digit d
# becomes _3d, so "_3" + the rest).
want=$(jq -c --arg root "$ROOT_PATH/device/" 'map({address,
        path: ($root + (.address | gsub(":"; "_3a") | gsub("\\."; "_2e") |
                        if test("^[0-9]") then "_3" + . else . end)),
        driver: (.driver // ""), group: (.group // -1)})' <<<"$ref_devices")
[[ $(jq -r '.[] | select(.address == "0000:03:01.0") | .path' <<<"$want") == "$(device_path 0000:03:01.0)" ]] ||
        fail "internal: the two path encoders of the test disagree"
if [[ $got != "$want" ]]; then
        log "ListDevices: $got"
        log "sysfs:       $want"
        fail "ListDevices differs from sysfs: $(differences "$got" "$want" address)"
fi

# Every device object answers with its sysfs driver.
for a in 0000:00:02.0 0000:03:01.0; do
        want=$(jq -c --arg a "$a" '.[] | select(.address == $a) | .driver // ""' <<<"$ref_devices")
        got=$(prop "$(device_path "$a")" "$DEVICE_IFACE" Driver) || fail "no Device object for $a"
        [[ $got == "$want" ]] || fail "Device $a Driver=$got, sysfs says $want"
done
pass
