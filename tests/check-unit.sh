#!/bin/sh
# The shipped unit stays hardened: systemd-analyze's offline exposure score must not pass 1.9
# (the scale runs from 0 to 10, lower is better; vfio-assignd(8), SECURITY, says what each
# setting costs). The score is printed either way. A copy with ProtectKernelTunables= off must
# fail the same check: the threshold bites, and the settings that reach 1.9 are looked at.
set -eu
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
unit=${TOP_BUILDDIR:?}/systemd/vfio-assignd.service
# --threshold counts in tenths: the check fails above 19, i.e. 1.9.
threshold=19

# assess UNIT: prints its exposure line; fails, printing the settings that cost, above 1.9.
assess() {
        if out=$(systemd-analyze security --offline=true --threshold=$threshold "$1" 2>&1); then
                printf '%s\n' "$out" | grep 'Overall exposure'
                return 0
        fi
        printf '%s\n' "$out" | grep -v '✓'
        return 1
}

if ! line=$(assess "$unit"); then
        printf '%s\n' "$line"
        echo "FAIL: $unit is exposed above 1.9"
        exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed 's/^ProtectKernelTunables=yes$/ProtectKernelTunables=no/' "$unit" > "$tmp/vfio-assignd.service"
if cmp -s "$unit" "$tmp/vfio-assignd.service"; then
        echo "FAIL: $unit has no ProtectKernelTunables=yes line"
        exit 1
fi
if assess "$tmp/vfio-assignd.service" >/dev/null; then
        echo "FAIL: the unit with ProtectKernelTunables=no still passes the 1.9 threshold"
        exit 1
fi
echo "PASS: $line"
