#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `cardvisor volume import` and `export`: disk images in and out of
# encrypted volumes, proved against the real reader and writer of a
# volume.  An ext4 image made with `mke2fs -d` is imported; Debian's
# kernel under QEMU (TCG) mounts it through cv-ebs's vhost-user-blk face
# and cv-storaged, reads every file the host put there and writes one of
# its own; `volume export` then gives back an image in which e2fsck finds
# nothing wrong and debugfs reads the guest's file.  Also: qcow2 through
# qemu-img (and the message without it), sparse files on both sides, no
# plaintext in the volume file, --size, and failures leaving no volume.
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

what="volume import/export with a Linux guest reading and writing the volume"
vblk_test_begin "$what"
for t in mke2fs e2fsck debugfs qemu-img; do
	command -v "$t" >/dev/null || { skip "$what" "$t not installed (make deps)"; exit 0; }
done
boot_prepare "$what" tests/boot/vblk-init
export CARDVISOR_STATE=$TMP/state
CV=$BUILD/cardvisor

# The image: a text file, a random MiB, an empty directory, 32 MiB in all
# with most of it never written (holes).
mkdir -p "$TMP/tree/dir/empty"
echo "cardvisor import marker: plaintext that must not reach the volume file" >"$TMP/tree/marker.txt"
head -c 1048576 /dev/urandom >"$TMP/tree/dir/random.bin"
mke2fs -q -t ext4 -b 4096 -d "$TMP/tree" "$TMP/disk.img" 32M >/dev/null
img_kib=$(du -k "$TMP/disk.img" | cut -f1)

vol=$("$CV" volume import "$TMP/disk.img" 2>"$TMP/import.err")
check "volume import of a raw ext4 image prints the new volume's id ($vol)" \
	grep -qE '^vol-[0-9a-f]{17}$' <<<"$vol"
[ -n "$vol" ] || { sed 's/^/#   /' "$TMP/import.err"; exit 0; }
volfile=$CARDVISOR_STATE/volumes/$vol.vol
check "the volume is the image's size (32 MiB)" test "$(stat -c %s "$volfile")" = $((32 << 20))
check "the volume file holds none of the image's plaintext" \
	bash -c "! grep -qa 'cardvisor import marker' '$volfile'"
check "the image's holes stay holes: the volume file uses no more blocks than the image ($(du -k "$volfile" | cut -f1) KiB for $img_kib KiB)" \
	test "$(du -k "$volfile" | cut -f1)" -le "$img_kib"
check "no progress line when standard error is not a terminal" test ! -s "$TMP/import.err"

# --- the guest reads the imported files and writes one -----------------------
vblk_card_start "id=$vol"
vblk_qemu guest 1 cvvblk=image
expect_rc guest "QEMU ran the guest to power-off" 0
for f in marker.txt dir/random.bin; do
	sum=$(sha256sum <"$TMP/tree/$f" | cut -d' ' -f1)
	expect guest "the guest reads $f of the imported image as the host wrote it" \
		"cvvblk: file $sum  \./$f"
done
expect guest "the guest wrote a file of its own and unmounted" 'cvvblk: image ok'
vblk_card_stop

# --- export: what the guest wrote is in the image ------------------------------
"$CV" volume export "$vol" "$TMP/out.img" 2>"$TMP/export.err"
check "volume export exits 0" test $? = 0
check "the exported image is the volume's size and the owner's only (mode 600)" \
	test "$(stat -c '%s %a' "$TMP/out.img")" = "$((32 << 20)) 600"
check "e2fsck finds the exported file system clean" \
	bash -c "e2fsck -fn '$TMP/out.img' >/dev/null 2>&1"
check "debugfs reads the file the guest wrote from the exported image" \
	bash -c "debugfs -R 'cat /from-guest.txt' '$TMP/out.img' 2>/dev/null | grep -qx 'written by the guest through cv-ebs'"
check "the exported image is sparse too" \
	test "$(du -k "$TMP/out.img" | cut -f1)" -lt $((32 << 10))

# --- qcow2, --size, and round trips --------------------------------------------
qemu-img convert -f raw -O qcow2 "$TMP/disk.img" "$TMP/disk.qcow2"
vol2=$("$CV" volume import --size 64M "$TMP/disk.qcow2" imported-qcow2 2>"$TMP/import2.err")
check "a qcow2 image is imported through qemu-img, under the id asked for" test "$vol2" = imported-qcow2
check "--size makes the volume larger than the image" \
	test "$(stat -c %s "$CARDVISOR_STATE/volumes/imported-qcow2.vol")" = $((64 << 20))
"$CV" volume export imported-qcow2 "$TMP/back.img" 2>/dev/null
truncate -s 32M "$TMP/back.img"
check "export gives back exactly the image that was imported" cmp "$TMP/disk.img" "$TMP/back.img"
check "the volume list has both" \
	bash -c "'$CV' volume list | grep -q '^$vol ' && '$CV' volume list | grep -q '^imported-qcow2 '"

# mistake NAME WANT ARGS...: refused with one line matching WANT, exit 1,
# no new volume in the store.
mistake() {
	local name=$1 want=$2 before after rc
	shift 2
	before=$(ls "$CARDVISOR_STATE/volumes" "$CARDVISOR_STATE/keys" | sort)
	"$@" >"$TMP/m.out" 2>"$TMP/m.err"
	rc=$?
	after=$(ls "$CARDVISOR_STATE/volumes" "$CARDVISOR_STATE/keys" | sort)
	if [ "$rc" = 1 ] && grep -qE -- "$want" "$TMP/m.err" && [ "$before" = "$after" ] &&
		[ ! -s "$TMP/m.out" ]; then
		ok "$name: refused, nothing left behind"
	else
		not_ok "$name: refused, nothing left behind (exit $rc)"
		sed 's/^/#   /' "$TMP/m.err" | head -n 5
	fi
}
mistake "qcow2 without qemu-img" 'qcow2 image and qemu-img is not installed \(Debian: qemu-utils\)' \
	env PATH=/nonexistent "$CV" volume import "$TMP/disk.qcow2"
printf 'QFI\373 not really qcow2' >"$TMP/bad.qcow2"
mistake "a broken qcow2 image" 'qemu-img could not convert' "$CV" volume import "$TMP/bad.qcow2"
mistake "--size smaller than the image" 'is smaller than the image' \
	"$CV" volume import --size 16M "$TMP/disk.img"
mistake "an id that exists" 'imported-qcow2 exists' "$CV" volume import "$TMP/disk.img" imported-qcow2
mistake "export onto an existing file" 'out.img: File exists' "$CV" volume export "$vol" "$TMP/out.img"
mistake "export of no such volume" 'no volume "vol-none"' "$CV" volume export vol-none "$TMP/x.img"
check "a failed export leaves no file" test ! -e "$TMP/x.img"
