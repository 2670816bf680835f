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
echo "PASS: dbus/org.vfioassign1.xml matches the vtables ($(grep -c '<interface' "$out") interfaces)"
