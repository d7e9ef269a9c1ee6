#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fetches Debian's stock cloud kernel and unpacks it for the boot test:
#   OUTDIR/bzImage  the kernel as shipped (64-bit boot protocol)
#   OUTDIR/vmlinux  the ELF inside it, which carries the Xen PVH entry note
#   OUTDIR/version  the package it came from
# usage: tests/boot/fetch-kernel.sh OUTDIR
# Exits 77 (the "skip" status) with a one-line reason when the package cannot
# be had, e.g. offline.  Nothing is redone when the outputs already exist.
set -euo pipefail
shopt -s nullglob

out=${1:?usage: tests/boot/fetch-kernel.sh OUTDIR}
meta=linux-image-cloud-amd64

skip() { echo "fetch-kernel: $*" >&2; exit 77; }
die()  { echo "fetch-kernel: $*" >&2; exit 1; }

if [ -s "$out/bzImage" ] && [ -s "$out/vmlinux" ] && [ -s "$out/version" ]; then
	exit 0
fi
mkdir -p "$out"

for tool in apt-cache apt-get dpkg-deb readelf od; do
	command -v "$tool" >/dev/null || skip "$tool is missing (run make deps)"
done

# The metapackage's candidate depends on exactly one versioned image package.
pkg=$(apt-cache depends "$meta" 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
[ -n "$pkg" ] || skip "apt-cache knows no $meta (run make deps: apt-get update)"

debs=("$out/${pkg}"_*.deb)
if [ ${#debs[@]} -eq 0 ]; then
	# apt-get download writes into the current directory; a download cut
	# short must not be taken for a cached package next time.
	rm -rf "$out/dl" && mkdir "$out/dl"
	(cd "$out/dl" && apt-get download -q "$pkg" >../download.log 2>&1) ||
		skip "apt-get download $pkg failed: $(grep -m1 '^E:' "$out/download.log" || echo offline?)"
	mv "$out"/dl/*.deb "$out/" && rmdir "$out/dl"
	debs=("$out/${pkg}"_*.deb)
fi
deb=${debs[0]}

rm -rf "$out/pkg"
dpkg-deb -x "$deb" "$out/pkg"
images=("$out"/pkg/boot/vmlinuz-*)
image=${images[0]:-}
[ -n "$image" ] || die "$deb holds no /boot/vmlinuz-*"

# le32/le8 OFFSET FILE: the little-endian 32/8-bit value at OFFSET.
le32() { od -An -tu4 -j "$1" -N4 "$2" | tr -d ' '; }
le8()  { od -An -tu1 -j "$1" -N1 "$2" | tr -d ' '; }

# Linux Documentation/arch/x86/boot.rst: "HdrS" at 0x202; the protected-mode
# part starts after (setup_sects + 1) 512-byte sectors, and from protocol 2.08
# payload_offset (0x248) / payload_length (0x24c) locate the compressed kernel
# inside it.
[ "$(dd if="$image" bs=1 skip=$((0x202)) count=4 status=none)" = HdrS ] ||
	die "$image is not a bzImage (no HdrS)"
setup_sects=$(le8 $((0x1f1)) "$image")
[ "$setup_sects" -ne 0 ] || setup_sects=4   # boot.rst: 0 means 4
start=$(( (setup_sects + 1) * 512 + $(le32 $((0x248)) "$image") ))
len=$(le32 $((0x24c)) "$image")
payload=$out/payload
dd if="$image" of="$payload" iflag=skip_bytes,count_bytes skip="$start" count="$len" status=none

# The kernel build appends the decompressed size as a le32 after the
# compressed stream (scripts/Makefile.lib, size_append): strip it, and use it
# to check the result.
size=$(le32 $((len - 4)) "$payload")
truncate -s $((len - 4)) "$payload"

# Which compressor: by the magic at the start of the stream
# (xz 6.2 "FD 37 7A 58 5A 00", lz4 legacy frame "02 21 4C 18",
#  zstd "28 B5 2F FD", gzip "1F 8B").
magic=$(od -An -tx1 -N6 "$payload" | tr -d ' \n')
case $magic in
fd377a585a00*) decomp="xz -dc" ;;
02214c18*)     decomp="lz4 -dc" ;;
28b52ffd*)     decomp="zstd -dcq" ;;
1f8b*)         decomp="gzip -dc" ;;
*) die "unknown compression of the kernel payload (magic $magic)" ;;
esac
command -v "${decomp%% *}" >/dev/null || skip "${decomp%% *} is missing (run make deps)"
$decomp <"$payload" >"$out/vmlinux.tmp" || die "$decomp failed on the kernel payload"
rm -f "$payload"

got=$(stat -c %s "$out/vmlinux.tmp")
[ "$got" -eq "$size" ] || die "decompressed $got bytes, the kernel says $size"
[ "$(od -An -tx1 -N4 "$out/vmlinux.tmp" | tr -d ' ')" = 7f454c46 ] ||
	die "the decompressed kernel is not an ELF file"
# The PVH entry point: an ELF note owned by "Xen", type
# XEN_ELFNOTE_PHYS32_ENTRY (18 = 0x12), xen/include/public/elfnote.h.
notes=$(readelf -n "$out/vmlinux.tmp")
grep -qE '^[[:space:]]+Xen[[:space:]]+0x[0-9a-f]+[[:space:]].*\(0x00000012\)' <<<"$notes" ||
	die "the vmlinux has no Xen PVH entry note (type 0x12): cannot boot it via PVH"

mv "$out/vmlinux.tmp" "$out/vmlinux"
cp "$image" "$out/bzImage"
rm -rf "$out/pkg"
echo "$pkg $(basename "$deb") ${decomp%% *}" >"$out/version"
