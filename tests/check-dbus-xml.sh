#!/bin/sh
# dbus/org.vfioassign1.xml must be exactly what the daemon's vtables say
# (regenerate with `make update-dbus-xml`).
set -eu
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$VFIO_ASSIGND" --bus-introspect >"$out"
if ! diff -u "$TOP_SRCDIR/dbus/org.vfioassign1.xml" "$out"; then
        echo "FAIL: dbus/org.vfioassign1.xml differs from vfio-assignd --bus-introspect; run make update-dbus-xml"
        exit 1
fi
# Every interface the daemon serves: a vtable left out of --bus-introspect is left out of both.
for iface in Manager Group Device Lease Region; do
        grep -q "<interface name=\"org.vfioassign1.$iface\">" "$out" ||
                { echo "FAIL: vfio-assignd --bus-introspect has no org.vfioassign1.$iface"; exit 1; }
done
echo "PASS: dbus/org.vfioassign1.xml matches the vtables ($(grep -c '<interface' "$out") interfaces)"
