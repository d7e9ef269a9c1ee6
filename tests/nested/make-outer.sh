#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the initramfs of the nested-KVM test's outer guest: Debian's kernel
# under QEMU TCG with AMD-V, whose own kvm_amd gives cv-hv a real
# (hardware-model) KVM.  The archive holds
#   /init                      tests/nested/init
#   /lib/modules/...           kvm, kvm-amd, irqbypass from the kernel package
#   /nested/bin/               this build's cardvisor, cv-hv and cards, with
#                              the shared libraries ldd names (ASan ones too),
#                              util-linux's blkdiscard, etcd and etcdctl
#   /nested/cv-testguest.elf   the test guest
#   /nested/vmlinux, bzImage   the inner guest's kernel (the same package)
#   /nested/initramfs.cpio     the inner guest's initramfs (tests/boot/init)
#   /nested/root.img           an ext4 root file system for a boot volume:
#                              static busybox, tests/nested/rootfs-init as
#                              /sbin/init (mke2fs -d)
#   /nested/scenarios.sh       what the outer guest runs (tests/nested/)
# and with WITH_QEMU=1 also this host's qemu-system-x86_64, its libraries
# and the firmware its microvm and q35 machines load (for `make bench`).
# usage: [WITH_QEMU=1] tests/nested/make-outer.sh BUILD BOOT_DIR OUT.cpio
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

tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
mkdir -p "$tree/nested/bin"

# copy_with_libs FILE DIR: FILE into the tree's DIR, with its libraries.
copy_with_libs() { "$here/../boot/copy-with-libs.sh" "$tree" "$2" "$1"; }
for bin in cardvisor cv-hv cv-ebs cv-vpc cv-storaged; do
	[ -x "$build/$bin" ] || { echo "make-outer: $build/$bin is missing (make)" >&2; exit 1; }
	copy_with_libs "$build/$bin" nested/bin
done
# The control-socket client the scenarios use (the outer guest has no Python).
copy_with_libs "$build/tests/tools/ctl_call" nested/bin
cp "$build/guest/cv-testguest.elf" "$boot/vmlinux" "$boot/bzImage" "$tree/nested/"
# util-linux's blkdiscard: busybox's cannot zero a range (BLKZEROOUT).
copy_with_libs "$(command -v blkdiscard)" nested/bin
# etcd for the fleet scenario (docs/fleet.md), where make deps installed it.
if command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
	copy_with_libs "$(command -v etcd)" nested/bin
	copy_with_libs "$(command -v etcdctl)" nested/bin
fi
if [ "${WITH_QEMU:-0}" = 1 ]; then
	qemu=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 is missing (make deps)"
	# At its own path: QEMU finds its firmware relative to the executable.
	copy_with_libs "$qemu" usr/bin
	# What -M microvm (qboot) and -M q35 (SeaBIOS, the Linux loader ROM) read.
	for f in /usr/share/qemu/qboot.rom /usr/share/qemu/bios-microvm.bin \
		 /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin \
		 /usr/share/seabios/bios-256k.bin; do
		[ -e "$f" ] || skip "$f is missing (make deps: qemu-system-x86)"
		mkdir -p "$tree$(dirname "$f")"
		cp -L "$f" "$tree$f"
	done
fi
install -m 0755 "$here/scenarios.sh" "$tree/nested/scenarios.sh"
command -v mke2fs >/dev/null || skip "mke2fs is missing (make deps: e2fsprogs)"
rootfs=$(mktemp -d)
trap 'rm -rf "$tree" "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/dev" "$rootfs/proc"
cp /bin/busybox "$rootfs/bin/busybox"
install -m 0755 "$here/rootfs-init" "$rootfs/sbin/init"
mke2fs -q -t ext4 -b 4096 -d "$rootfs" "$tree/nested/root.img" 8M >/dev/null
"$here/../boot/make-initramfs.sh" "$tree/nested/initramfs.cpio" "${debs[0]}"

INIT=$here/init MODULES=$here/modules EXTRA=$tree \
	"$here/../boot/make-initramfs.sh" "$out" "${debs[0]}"
