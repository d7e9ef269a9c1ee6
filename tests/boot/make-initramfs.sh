#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the stock-kernel boot test's initramfs: busybox-static,
# tests/boot/init as /init, its udhcpc script, and, given the kernel package,
# the modules tests/boot/modules lists, taken from that package (the guest
# runs the kernel's own virtio drivers), in an uncompressed newc cpio
# archive.  Needs no root: the one device node, /dev/console, is written
# straight into the archive instead of being created with mknod.
# Uncompressed because on a software KVM the kernel's ring-0 code is emulated
# instruction by instruction: inflating a 1 MiB gzip archive took ~120 s of
# the boot there, while copying 2 MiB costs next to nothing on any host.
# For the same reason the modules go in without their appended signatures:
# checking one is an RSA verification that took about two minutes of
# emulated ring 0 per module there.  Debian's kernel enforces module
# signatures only under UEFI Secure Boot, which these VMs do not have; it
# loads an unsigned module and marks itself tainted (E).
# usage: [INIT=FILE] [MODULES=FILE] [EXTRA=DIR] tests/boot/make-initramfs.sh OUT.cpio [KERNEL.deb]
# (INIT: another /init, for tests that check something else with the same
# kernel; MODULES: another list of the package's modules, in the format of
# tests/boot/modules; EXTRA: a tree copied over the archive's root, e.g. the
# nested-KVM test's binaries.)  Exits 77 with a one-line reason when a tool
# it needs is missing.
set -euo pipefail

out=${1:?usage: tests/boot/make-initramfs.sh OUT.cpio [KERNEL.deb]}
deb=${2:-}
here=$(dirname "$0")
init=${INIT:-$here/init}
modules=${MODULES:-$here/modules}
extra=${EXTRA:-}
busybox=/bin/busybox

skip() { echo "make-initramfs: $*" >&2; exit 77; }

[ -x "$busybox" ] || skip "$busybox is missing (run make deps: busybox-static)"
# A dynamically linked busybox would find no libc in the initramfs.
[ -z "$(readelf -l "$busybox" | grep -F 'Requesting program interpreter' || true)" ] ||
	skip "$busybox is not static (install busybox-static)"
command -v cpio >/dev/null || skip "cpio is missing (run make deps)"

# strip_module_signature FILE: cut the signature Linux's scripts/sign-file
# appends (include/linux/module_signature.h): the signature, a 12-byte
# struct module_signature whose last 4 bytes are the signature's length
# (big endian), then the 28-byte magic "~Module signature appended~\n".
strip_module_signature() {
	local f=$1 magic='~Module signature appended~' size siglen
	size=$(stat -c %s "$f")
	[ "$(tail -c 28 "$f" | head -c 27)" = "$magic" ] || return 0
	siglen=$((16#$(tail -c 32 "$f" | head -c 4 | od -An -tx1 | tr -d ' \n')))
	((siglen > 0 && siglen + 40 < size)) ||
		{ echo "make-initramfs: $f: implausible signature length $siglen" >&2; exit 1; }
	truncate -s $((size - siglen - 40)) "$f"
}

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,etc/cvboot}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
install -m 0755 "$init" "$stage/init"
install -m 0755 "$here/udhcpc.script" "$stage/etc/cvboot/udhcpc.script"
if [ -n "$deb" ]; then
	# Only the listed modules, not the package's 3000: the archive is copied,
	# not inflated, and stays small.
	mapfile -t mods < <(grep -v '^#' "$modules")
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$stage" --wildcards "${mods[@]/#/./lib/modules/*/kernel/}" ||
		{ echo "make-initramfs: $deb lacks a module of $modules" >&2; exit 1; }
	for m in "${mods[@]}"; do
		strip_module_signature "$stage"/lib/modules/*/kernel/"$m"
	done
	cp "$modules" "$stage/etc/cvboot/modules"
else
	: >"$stage/etc/cvboot/modules"
fi
[ -z "$extra" ] || cp -a "$extra/." "$stage/"

# newc_node NAME MODE RDEVMAJOR RDEVMINOR: one cpio "newc" entry with no
# data (Linux Documentation/driver-api/early-userspace/buffer-format.rst):
# "070701", thirteen 8-digit hex fields, the NUL-terminated name, padded to
# a multiple of 4 bytes.
ino=1000000
newc_node() {
	local namesize=$((${#1} + 1))
	printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\0' \
		$((ino++)) "$2" 0 0 1 0 0 0 0 "$3" "$4" "$namesize" 0 "$1"
	printf '%*s' $(((4 - (110 + namesize) % 4) % 4)) '' | tr ' ' '\0'
}

# The kernel unpacks concatenated archives in order (buffer-format.rst), so
# the node goes into a second one after the tree GNU cpio writes.
{
	(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0 --reproducible)
	newc_node dev/console $((0020600)) 5 1
	newc_node TRAILER!!! 0 0 0
} >"$out.tmp"
mv "$out.tmp" "$out"
