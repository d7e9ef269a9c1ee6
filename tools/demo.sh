#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: Debian's stock kernel under cv-hv with a network interface
# (cv-vpc) and a new volume (cv-ebs, cv-storaged).  Its /init
# (tests/boot/init) takes a DHCP lease, pings the gateway, asks the metadata
# service for the instance id, makes a filesystem on the NVMe volume, writes
# a file and reads it back, then powers off; the console shows each step.
# On a host without VT-x/AMD-V (whose KVM cannot run Linux user space) it
# runs inside the nested-KVM outer guest instead: kvm_amd under QEMU's TCG
# (docs/kvm-hosts.md), and says so.  Exits with cardvisor's status.
#
# usage: tools/demo.sh [BUILD]
set -u

BUILD=${1:-build}
top=$(dirname "$0")/..
BOOT_DIR=$BUILD/boot
# shellcheck source=tests/nested/lib.sh
. "$top/tests/nested/lib.sh"

die() { echo "demo: $*" >&2; exit 1; }
[ -r /dev/kvm ] && [ -w /dev/kvm ] || die "/dev/kvm is not usable here"
echo "demo: fetching Debian's kernel package (cached in $BOOT_DIR)"
"$top/tests/boot/fetch-kernel.sh" "$BOOT_DIR" || die "cannot fetch the kernel"
debs=("$BOOT_DIR"/linux-image-*.deb)
"$top/tests/boot/make-initramfs.sh" "$BOOT_DIR/initramfs.cpio" "${debs[0]}" ||
	die "cannot build the initramfs"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cv-demo.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

if grep -qwE 'vmx|svm' /proc/cpuinfo; then
	export CARDVISOR_STATE=$TMP/state CARDVISOR_RUNDIR=$TMP/run
	"$BUILD/cardvisor" run --kernel "$BOOT_DIR/vmlinux" --initrd "$BOOT_DIR/initramfs.cpio" \
		--vcpus 2 --mem 512M --nic subnet=10.0.1.0/24,underlay=127.0.0.1:0 \
		--volume size=256M --cmdline "console=ttyS0 ipv6.disable=1 quiet cvboot=net,mkfs"
	rc=$?
	pidfile=$CARDVISOR_RUNDIR/storaged/pid
	[ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
	exit "$rc"
fi

[ -n "$(nested_qemu)" ] || die "no VT-x/AMD-V here, and qemu-system-x86_64 is missing (make deps)"
echo "demo: this host has no VT-x/AMD-V, so cardvisor runs inside a QEMU TCG guest" \
     "with AMD-V, on its kvm_amd (docs/kvm-hosts.md); that takes a minute or two"
"$top/tests/nested/make-outer.sh" "$BUILD" "$BOOT_DIR" "$TMP/outer.cpio" ||
	die "cannot build the outer guest"
# The scenario's stream, live: what `cardvisor run` printed, then its status.
nested_boot "$TMP/outer.cpio" demo 600 "$TMP/console" stdio 2>/dev/null |
	tee "$TMP/data" | sed -u -e '/^cvnested: \(begin\|end\|done\|kvm\)/d' -e 's/\r$//'
rc=$(sed -n 's/^cvnested: end demo rc=\([0-9]*\).*/\1/p' "$TMP/data" | tr -d '\r')
[ -n "$rc" ] || { echo "demo: the outer guest stopped early:"; tail -n 5 "$TMP/console"; exit 1; }
exit "$rc"
