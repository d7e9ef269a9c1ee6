#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the initramfs of the nested-KVM test's outer guest: Debian's kernel
# under QEMU TCG with AMD-V, whose own kvm_amd gives cv-hv a real
# (hardware-model) KVM.  The archive holds
#   /init                      tests/nested/init
#   /lib/modules/...           kvm, kvm-amd, irqbypass from the kernel package
#   /nested/bin/               this build's cardvisor, cv-hv and cards, with
#                              the shared libraries ldd names (ASan ones too)
#   /nested/cv-testguest.elf   the test guest
#   /nested/vmlinux, bzImage   the inner guest's kernel (the same package)
#   /nested/initramfs.cpio     the inner guest's initramfs (tests/boot/init)
#   /nested/scenarios.sh       what the outer guest runs (tests/nested/)
# usage: tests/nested/make-outer.sh BUILD BOOT_DIR OUT.cpio
# BOOT_DIR is where tests/boot/fetch-kernel.sh put the kernel.  Exits 77
# with a one-line reason when something it needs is missing.
set -euo pipefail
shopt -s nullglob

build=${1:?usage: make-outer.sh BUILD BOOT_DIR OUT.cpio}
boot=${2:?usage: make-outer.sh BUILD BOOT_DIR OUT.cpio}
out=${3:?usage: make-outer.sh BUILD BOOT_DIR OUT.cpio}
here=$(dirname "$0")

skip() { echo "make-outer: $*" >&2; exit 77; }
debs=("$boot"/linux-image-*.deb)
[ ${#debs[@]} -gt 0 ] || skip "no kernel package in $boot (tests/boot/fetch-kernel.sh)"
command -v ldd >/dev/null || skip "ldd is missing"

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/nested/bin"

# copy_with_libs FILE DIR: FILE into DIR and each shared library it loads
# (ldd's "=> /path" lines and the loader) at its own path.
copy_with_libs() {
	local lib
	cp "$1" "$2/"
	for lib in $(ldd "$1" | grep -oE '(=> )?/[^ ]+' | sed 's/^=> //'); do
		[ -e "$tree$lib" ] && continue
		mkdir -p "$tree$(dirname "$lib")"
		cp -L "$lib" "$tree$lib"
	done
}
for bin in cardvisor cv-hv cv-ebs cv-vpc cv-storaged; do
	[ -x "$build/$bin" ] || { echo "make-outer: $build/$bin is missing (make)" >&2; exit 1; }
	copy_with_libs "$build/$bin" "$tree/nested/bin"
done
cp "$build/guest/cv-testguest.elf" "$boot/vmlinux" "$boot/bzImage" "$tree/nested/"
install -m 0755 "$here/scenarios.sh" "$tree/nested/scenarios.sh"
"$here/../boot/make-initramfs.sh" "$tree/nested/initramfs.cpio" "${debs[0]}"

INIT=$here/init MODULES=$here/modules EXTRA=$tree \
	"$here/../boot/make-initramfs.sh" "$out" "${debs[0]}"
