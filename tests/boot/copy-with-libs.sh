#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Puts programs into a tree that becomes a guest's root file system: each
# FILE into ROOT/DIR, and every shared library it loads (ldd's "=> /path"
# lines and the loader) at its own path under ROOT, so the program runs
# in a guest that has nothing else.  Used for the nested-KVM test's
# binaries and QEMU, and for fio in the vhost-user-blk tests' guests.
# usage: tests/boot/copy-with-libs.sh ROOT DIR FILE...
set -euo pipefail

root=${1:?usage: copy-with-libs.sh ROOT DIR FILE...}
dir=${2:?usage: copy-with-libs.sh ROOT DIR FILE...}
shift 2
command -v ldd >/dev/null || { echo "copy-with-libs: ldd is missing" >&2; exit 77; }
mkdir -p "$root/$dir"
for f in "$@"; do
	cp "$f" "$root/$dir/"
	for lib in $(ldd "$f" | grep -oE '(=> )?/[^ ]+' | sed 's/^=> //'); do
		[ -e "$root$lib" ] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done
