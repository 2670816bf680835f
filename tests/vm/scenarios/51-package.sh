#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# vm-flavours: off
#
# On the `off` boot (the recipe's layout, four scenarios, about a minute): the `on` boot runs the
# most scenarios and comes closest to the boot timeout. ir-kernel-refuses and ir-unsafe-policy
# run after it, against the daemon its dpkg -i started.
# The Debian package as a user gets it: the harness installed it with dpkg in the guest root, and
# its maintainer scripts made the user and enabled the unit, which systemd started at boot. The
# service is active and enabled, runs as the user vfio-assignd with exactly the unit's four
# capabilities, scores at most 1.9 on systemd-analyze security as systemd runs it, `assignctl
# status` answers, and `dpkg -L` lists what `make install` puts in place. Then `dpkg --purge`
# takes it all away (the service stopped, its files, state directories and enablement symlinks
# gone, the bus name free), and `dpkg -i` of the same .deb on the running system brings the
# service back, started by the postinst; the scenarios after this one use that daemon.

. /usr/local/lib/vfio-vm/lib.sh

UNIT=vfio-assignd.service
DEB=/usr/local/lib/vfio-vm/vfio-assignd.deb
WANTS=/etc/systemd/system/multi-user.target.wants/$UNIT
ALIAS=/etc/systemd/system/dbus-org.vfioassign1.service
# CAP_CHOWN (0), CAP_DAC_OVERRIDE (1), CAP_NET_ADMIN (12), CAP_SYS_RESOURCE (24):
# linux/capability.h.
CAPS=$(printf '%016x' $(((1 << 0) | (1 << 1) | (1 << 12) | (1 << 24))))

show() { systemctl show -P "$1" "$UNIT"; }
active() { [[ $(show ActiveState) == active ]]; }
installed() { [[ $(dpkg-query -W -f='${Status}' vfio-assignd 2>/dev/null) == "install ok installed" ]]; }
has_owner() {
        [[ $(busctl --system --json=short call org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus NameHasOwner s "$BUS" | jq -r '.data[0]') == true ]]
}
# status_line KEY PID: the value of a /proc/PID/status line (fields joined by one space).
status_line() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$2/status"; }
# listed PATH: dpkg -L names PATH; units and udev rules may be under /lib (bookworm's systemd.pc)
# or /usr/lib (trixie's), depending on the release the package was built on.
listed() { grep -qxE "(/usr)?${1//./\\.}" "$TMP/files"; }

# service_ok WHEN: the unit is enabled and running as the package's user with the unit's
# capabilities, owns the bus name, and assignctl status answers.
service_ok() {
        local when=$1 pid uid
        wait_until 30 active ||
                fail "$when: $UNIT is $(show ActiveState)/$(show SubState)"
        [[ $(systemctl is-enabled "$UNIT") == enabled ]] ||
                fail "$when: $UNIT is $(systemctl is-enabled "$UNIT"), not enabled"
        [[ -L $WANTS && -L $ALIAS ]] || fail "$when: no $WANTS or $ALIAS"
        pid=$(show MainPID)
        uid=$(id -u vfio-assignd 2>/dev/null) || fail "$when: no user vfio-assignd"
        [[ $(status_line Uid "$pid") == "$uid $uid $uid $uid" ]] ||
                fail "$when: the daemon (pid $pid) runs with uids $(status_line Uid "$pid"), not vfio-assignd's $uid"
        [[ $(status_line CapEff "$pid") == "$CAPS" && $(status_line CapBnd "$pid") == "$CAPS" ]] ||
                fail "$when: capabilities effective $(status_line CapEff "$pid"), bounding $(status_line CapBnd "$pid"), expected $CAPS"
        wait_until 10 has_owner || fail "$when: nobody owns $BUS"
        assignctl status > "$TMP/status.out" 2> "$TMP/status.err" ||
                fail "$when: assignctl status exited $?: $(head -c 300 "$TMP/status.err")"
        grep -qi 'iommu' "$TMP/status.out" ||
                fail "$when: assignctl status says nothing of the IOMMU: $(head -c 300 "$TMP/status.out")"
}

installed || fail "the package vfio-assignd is not installed"
[[ -r $DEB ]] || fail "no $DEB in the guest"
on_exit "installed || dpkg -i $DEB >&2"

service_ok "after boot"
# The running unit as systemd sees it, not only the file the build tree's check reads.
systemd-analyze security --threshold=19 "$UNIT" > "$TMP/security.out" 2>&1 ||
        fail "$UNIT is exposed above 1.9 as it runs: $(grep 'Overall' "$TMP/security.out")"
note "$(grep -o 'Overall exposure level.*' "$TMP/security.out")"

dpkg -L vfio-assignd > "$TMP/files"
for f in /lib/systemd/system/$UNIT /usr/share/dbus-1/system.d/org.vfioassign1.conf \
         /usr/share/dbus-1/system-services/org.vfioassign1.service \
         /usr/share/polkit-1/actions/org.vfioassign1.policy \
         /lib/udev/rules.d/70-vfio-assignd.rules /usr/libexec/vfio-assignd-early \
         /usr/lib/sysusers.d/vfio-assignd.conf /usr/lib/modules-load.d/vfio-assignd.conf \
         /usr/share/vfio-assignd/policy.d/00-default.json /usr/sbin/vfio-assignd /usr/bin/assignctl \
         /usr/share/man/man8/vfio-assignd.8.gz /usr/share/man/man1/assignctl.1.gz \
         /usr/share/man/man5/org.vfioassign1.5.gz /usr/share/man/man5/vfio-assignd.policy.5.gz; do
        listed "$f" || fail "dpkg -L vfio-assignd does not list $f"
done

log "dpkg --purge vfio-assignd"
dpkg --purge vfio-assignd > "$TMP/purge.out" 2>&1 || fail "dpkg --purge exited $?: $(tail -n 3 "$TMP/purge.out" | tr '\n' ' ')"
! installed || fail "vfio-assignd is still installed after the purge"
[[ $(systemctl is-active "$UNIT") != active ]] || fail "$UNIT still runs after the purge"
wait_until 10 eval '! has_owner' || fail "$BUS still has an owner after the purge"
for f in /lib/systemd/system/$UNIT /usr/sbin/vfio-assignd /usr/share/dbus-1/system.d/org.vfioassign1.conf \
         /var/lib/vfio-assignd /run/vfio-assignd "$WANTS" "$ALIAS"; do
        [[ ! -e $f && ! -L $f ]] || fail "$f is still there after the purge"
done
# The user stays, as Debian leaves system users (its uid may own files elsewhere).
id -u vfio-assignd >/dev/null || fail "the purge removed the user vfio-assignd"

log "dpkg -i $DEB on the running system"
dpkg -i "$DEB" > "$TMP/install.out" 2>&1 || fail "dpkg -i exited $?: $(tail -n 3 "$TMP/install.out" | tr '\n' ' ')"
service_ok "after dpkg -i"
[[ -d /var/lib/vfio-assignd && $(stat -c %U /var/lib/vfio-assignd) == vfio-assignd ]] ||
        fail "/var/lib/vfio-assignd is not the daemon's user's after the install"
pass
