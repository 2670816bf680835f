#!/bin/sh
# The early-prepare helper (daemon/early.c) and the udev rule that runs it: the helper prints
# VFIO_ASSIGND_DRIVER=... for exactly the card the daemon's file lists (ids as sysfs spells them,
# "*" subsystem ids unchecked), nothing for another card or address, nothing when the file is
# missing; --probe writes drivers_probe only for a device without a driver; the rule calls the
# helper with the arguments it takes and uses the variable it prints. udevadm verify (systemd
# 254 and later) checks the rule's syntax where it exists.
set -eu
early=${TOP_BUILDDIR:?}/vfio-assignd-early
rule=${TOP_BUILDDIR:?}/systemd/udev/70-vfio-assignd.rules
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect() { # expect WANT ARGS...: the helper's stdout is WANT
        want=$1; shift
        got=$("$early" --file="$dir/early-prepare.conf" "$@" 2>/dev/null) || fail "exit $? for $*"
        [ "$got" = "$want" ] || fail "$*: printed '$got', expected '$want'"
}

cat > "$dir/early-prepare.conf" <<CONF
# address vendor device subsystem_vendor subsystem_device driver
0000:01:00.0 8086 10d3 8086 0000 vfio-pci
0000:03:00.0 10de 1b80 * * vfio-pci
0000:04:00.0 15b3 101e 15b3 0001 mlx5_vfio_pci
not a line
CONF
expect "VFIO_ASSIGND_DRIVER=vfio-pci" 0000:01:00.0 0x8086 0x10d3 0x8086 0x0000
expect "VFIO_ASSIGND_DRIVER=mlx5_vfio_pci" 0000:04:00.0 0x15b3 0x101e 0x15b3 0x0001
# Another subsystem_device (another card in the slot): no override.
expect "" 0000:01:00.0 0x8086 0x10d3 0x8086 0x1234
expect "" 0000:01:00.0 0x8086 0x10d4 0x8086 0x0000
# An entry of an older file: the subsystem ids are not checked, vendor and device are.
expect "VFIO_ASSIGND_DRIVER=vfio-pci" 0000:03:00.0 0x10de 0x1b80 0x1043 0x8671
expect "" 0000:03:00.0 0x10de 0x1b81 0x1043 0x8671
expect "" 0000:05:00.0 0x8086 0x10d3 0x8086 0x0000
err=$("$early" --file="$dir/early-prepare.conf" 0000:01:00.0 0x8086 0x10d3 0x8086 0x1234 2>&1 >/dev/null)
case $err in *"another card than the persistent prepare recorded"*) ;; *) fail "no reason: $err" ;; esac
rm "$dir/early-prepare.conf"
expect "" 0000:01:00.0 0x8086 0x10d3 0x8086 0x0000
if "$early" 0000:01:00.0 0x8086 >/dev/null 2>&1; then fail "a short command line was taken"; fi
if "$early" 01:00.0 0x8086 0x10d3 0x8086 0x0000 >/dev/null 2>&1; then fail "a short address was taken"; fi

# --probe on a fake tree: an unbound device is probed, a bound one is left to the daemon.
mkdir -p "$dir/sys/bus/pci/devices/0000:01:00.0" "$dir/sys/bus/pci/devices/0000:02:00.0" \
        "$dir/sys/bus/pci/drivers/e1000e"
ln -s ../../drivers/e1000e "$dir/sys/bus/pci/devices/0000:02:00.0/driver"
: > "$dir/sys/bus/pci/drivers_probe"
"$early" --probe --sysfs-root="$dir" 0000:02:00.0 || fail "--probe of a bound device"
[ ! -s "$dir/sys/bus/pci/drivers_probe" ] || fail "a bound device was probed"
"$early" --probe --sysfs-root="$dir" 0000:01:00.0 || fail "--probe of an unbound device"
[ "$(cat "$dir/sys/bus/pci/drivers_probe")" = "0000:01:00.0" ] || fail "drivers_probe not written"

# The rule and the helper agree on the interface.
grep -qx 'ACTION!="add", GOTO="vfio_assignd_end"' "$rule" || fail "rule: no ACTION match"
grep -qx 'SUBSYSTEM!="pci", GOTO="vfio_assignd_end"' "$rule" || fail "rule: no SUBSYSTEM match"
grep -q "^IMPORT{program}=\"[^ ]*/vfio-assignd-early \$kernel \$attr{vendor} \$attr{device} \$attr{subsystem_vendor} \$attr{subsystem_device}\"\$" "$rule" ||
        fail "rule: the helper's arguments"
grep -qx 'ATTR{driver_override}="$env{VFIO_ASSIGND_DRIVER}"' "$rule" || fail "rule: no override"
grep -q '^RUN+="[^ ]*/vfio-assignd-early --probe $kernel"$' "$rule" || fail "rule: no probe"
if udevadm verify --help >/dev/null 2>&1; then
        udevadm verify --no-summary "$rule" || fail "udevadm verify $rule"
else
        echo "udevadm verify not available (systemd < 254): syntax not checked"
fi
echo "PASS: the early-prepare helper and rule"
