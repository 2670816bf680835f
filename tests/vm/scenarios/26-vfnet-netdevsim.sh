#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: iommufd
#
# A VF's network settings over the real kernel's rtnetlink (daemon/vfnet.c, through
# /usr/local/bin/vfnet-check): netdevsim (CONFIG_NETDEVSIM=m in the custom kernel; Debian's have
# none) with 2 VFs in legacy mode, whose ndo_set_vf_*/ndo_get_vf_config keep MAC, VLAN + QoS,
# spoof check and trust per VF. VF 1 is set, read back and compared with iproute2's independent
# view (`ip -j -d link show`, its vfinfo_list), VF 0 left alone, then everything set back to what
# was read first and compared again; one attribute alone changes only itself; a VF number the
# PF does not have gives netdevsim's EINVAL on a set and vfnet.c's ENOENT on a read. The
# netdevsim device is deleted at the end, whatever happened.

. /usr/local/lib/vfio-vm/lib.sh

command -v vfnet-check >/dev/null || fail "vfnet-check is not installed in the guest"
command -v ip >/dev/null || fail "ip (iproute2) is not installed in the guest"
modprobe netdevsim 2>"$TMP/modprobe.err" ||
        fail "modprobe netdevsim: $(head -c 200 "$TMP/modprobe.err")"

ID=11
NSIM=/sys/bus/netdevsim/devices/netdevsim$ID
on_exit "echo $ID > /sys/bus/netdevsim/del_device 2>/dev/null"
echo "$ID 1" > /sys/bus/netdevsim/new_device || fail "cannot create netdevsim$ID"

# The port's netdev, once udev has given it its final name.
IF=
nsim_netdev() {
        local n=("$NSIM"/net/*)
        [[ ${#n[@]} == 1 ]] || return 1
        IF=${n[0]##*/}
}
wait_until 10 nsim_netdev || fail "netdevsim$ID has no netdev"
udevadm settle -t 10 || log "udevadm settle timed out"
nsim_netdev || fail "netdevsim$ID's netdev went away"
log "netdevsim$ID's netdev: $IF"
echo 2 > "$NSIM/sriov_numvfs" || fail "cannot enable 2 VFs on netdevsim$ID"

# ip_vf N: VF N as iproute2 sees it, in vfnet-check's format. iproute2 prints the VLAN and QoS
# from IFLA_VF_VLAN_LIST when the kernel sends it (vlan_list) and leaves out zeros; spoofchk and
# trust are booleans, absent when the driver reports none.
ip_vf() {
        ip -j -d link show dev "$IF" | jq -r --argjson n "$1" '
                def onoff: if . == null then "-" elif . then "on" else "off" end;
                .[0].vfinfo_list[] | select(.vf == $n) |
                "mac=\(.address) vlan=\(.vlan_list[0].vlan // .vlan // 0)" +
                " qos=\(.vlan_list[0].qos // .qos // 0)" +
                " spoofchk=\(.spoofchk | onoff) trust=\(.trust | onoff)"'
}

# agree N WHAT: vfnet-check and iproute2 read VF N alike; the line is in $VF (not printed: a
# fail in a command substitution would only end the subshell).
VF=
agree() {
        local theirs
        VF=$(vfnet-check "$IF" "$1" get 2>"$TMP/err") ||
                fail "vfnet-check $IF $1 get ($2): $(cat "$TMP/err")"
        theirs=$(ip_vf "$1") || fail "ip -j -d link show dev $IF failed ($2)"
        [[ -n $theirs && $VF == "$theirs" ]] ||
                fail "VF $1 $2: vfnet-check says '$VF', ip says '$theirs'"
}

agree 0 "at the start"
before0=$VF
agree 1 "at the start"
before=$VF
log "VF 1 at the start: $before"

must vfnet-check "$IF" 1 set mac=52:54:00:12:34:01 vlan=100 qos=3 spoofchk=on trust=on
want="mac=52:54:00:12:34:01 vlan=100 qos=3 spoofchk=on trust=on"
agree 1 "after the set"
[[ $VF == "$want" ]] || fail "VF 1 after the set: '$VF', not '$want'"
agree 0 "after VF 1's set"
[[ $VF == "$before0" ]] || fail "VF 0 changed with VF 1: '$VF', was '$before0'"

# One attribute alone.
must vfnet-check "$IF" 1 set spoofchk=off
want="mac=52:54:00:12:34:01 vlan=100 qos=3 spoofchk=off trust=on"
agree 1 "after spoofchk=off"
[[ $VF == "$want" ]] || fail "VF 1 after spoofchk=off alone: '$VF', not '$want'"

# Back to what it was, as a release restores it (the all-zero MAC included); "-" (not
# reported) is nothing to set.
read -ra restore <<<"$before"
args=()
for a in "${restore[@]}"; do
        [[ $a == *=- ]] || args+=("$a")
done
must vfnet-check "$IF" 1 set "${args[@]}"
agree 1 "after the restore"
[[ $VF == "$before" ]] || fail "VF 1 after the restore: '$VF', was '$before'"

# VF 2 does not exist: netdevsim refuses the set (EINVAL), the read finds no VF 2.
if vfnet-check "$IF" 2 set trust=on 2>"$TMP/err"; then
        fail "a set of VF 2 of 2 VFs succeeded"
fi
grep -q "(errno 22)" "$TMP/err" || fail "a set of VF 2 failed otherwise: $(cat "$TMP/err")"
if vfnet-check "$IF" 2 get >/dev/null 2>"$TMP/err"; then
        fail "a read of VF 2 of 2 VFs succeeded"
fi
grep -q "(errno 2)" "$TMP/err" || fail "a read of VF 2 failed otherwise: $(cat "$TMP/err")"
note "netdevsim $IF VF 1: set, read and restored through vfnet.c, as ip sees it ($before)"

echo 0 > "$NSIM/sriov_numvfs" || fail "cannot disable netdevsim$ID's VFs"
echo "$ID" > /sys/bus/netdevsim/del_device || fail "cannot delete netdevsim$ID"
[[ ! -e $NSIM ]] || fail "netdevsim$ID is still there"
pass
