#!/bin/bash
# tests/build-deb.sh [--reuse] OUTDIR: builds the Debian package of this tree as a new user would,
# from a clean copy: the files git knows (tracked ones as they are in the working tree, and new
# ones it does not ignore) or, outside a git checkout, the tree as it is (an unpacked `make dist`
# tarball). The copy goes to OUTDIR/src and is built there with `dpkg-buildpackage -us -uc -b`;
# vfio-assignd_*.deb, .buildinfo and .changes land in OUTDIR, dpkg-buildpackage's output in
# OUTDIR/build.log. DEB_BUILD_OPTIONS passes through (nocheck: no `make check` in the build).
#
# --reuse: keep the .deb of an earlier build when its source was byte for byte the same (a hash
# over every file's path and contents, and DEB_BUILD_OPTIONS, in OUTDIR/source.sha256); any
# change to any file builds again.
#
# Prints the path of the .deb on stdout. Exit: 0 built (or reused), 1 failed.
set -euo pipefail

reuse=
if [[ ${1:-} == --reuse ]]; then
        reuse=1
        shift
fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--reuse] OUTDIR" >&2; exit 2; }
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
case $out/ in
"$top"/_build/* | "$top"/build/*) ;;
"$top"/*) echo "build-deb: OUTDIR must be outside the tree or under its _build/" >&2; exit 2 ;;
esac

# The clean copy, made afresh each time (an old one's leftovers must not leak into the build).
rm -rf "$out/src.new"
mkdir -p "$out/src.new"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # -c lists tracked files deleted in the working tree too: those are left out.
        git -C "$top" ls-files -z -co --exclude-standard |
                while IFS= read -r -d '' f; do
                        if [[ -e $top/$f || -L $top/$f ]]; then printf '%s\0' "$f"; fi
                done |
                tar -C "$top" --null -T - -cf - | tar -C "$out/src.new" -xf -
else
        tar -C "$top" --exclude=./_build --exclude=./build -cf - . | tar -C "$out/src.new" -xf -
fi

# A symbolic link counts by where it points (it may point to a directory: a fuzz corpus).
key=$( { echo "DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-}";
         cd "$out/src.new" && find . -type f -print0 | sort -z | xargs -0 sha256sum;
         find . -type l -printf '%p -> %l\n' | sort; } | sha256sum | cut -d' ' -f1)
debs=("$out"/vfio-assignd_*.deb)
if [[ -n $reuse && -e ${debs[0]} && ${#debs[@]} -eq 1 &&
      $(cat "$out/source.sha256" 2>/dev/null) == "$key" ]]; then
        rm -rf "$out/src.new"
        echo "build-deb: source unchanged, keeping ${debs[0]##*/}" >&2
        echo "${debs[0]}"
        exit 0
fi

rm -rf "$out/src" "$out"/vfio-assignd_* "$out"/vfio-assignd-dbgsym_* "$out/source.sha256"
mv "$out/src.new" "$out/src"
echo "build-deb: dpkg-buildpackage -us -uc -b in $out/src (log: $out/build.log)" >&2
if ! (cd "$out/src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1; then
        tail -n 40 "$out/build.log" >&2
        echo "build-deb: dpkg-buildpackage failed (log: $out/build.log)" >&2
        exit 1
fi
# dpkg-buildpackage writes its results next to the source directory.
debs=("$out"/vfio-assignd_*.deb)
[[ -e ${debs[0]} && ${#debs[@]} -eq 1 ]] || { echo "build-deb: no single .deb in $out" >&2; exit 1; }
echo "$key" > "$out/source.sha256"
echo "${debs[0]}"
