#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The EBS card's vhost-user-blk face under a real peer: QEMU's
# vhost-user-blk-pci front-end with Debian's stock kernel and its
# virtio_blk driver, booted under TCG from an initramfs whose /init is
# tests/boot/vblk-init.  cv-ebs runs on its own (no cardvisor run), from an
# instance description whose volume node says face = "vhost-user-blk", over
# NVMe/TCP to a cv-storaged started here.  Checked: QEMU's handshake (it
# needs the CONFIG protocol feature), the geometry the driver reads from
# the config space, a pattern written to /dev/vda and read back in the same
# boot and in a second one (two vCPUs, two virtqueues: VIRTIO_BLK_F_MQ over
# two NVMe/TCP queues), discard reading back as zeroes, and the volume file
# holding none of the plaintext.
#
# vhost-user-blk-pci,vectors=0: QEMU 7.2 under TCG dereferences a NULL
# pointer in msix_set_vector_notifiers when a vhost device starts with
# MSI-X (no irqfd without KVM); with INTx the same path works.
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

what="cv-ebs vhost-user-blk face under QEMU with a Linux guest"
vblk_test_begin "$what"
# The initramfs the boot tests use (busybox, the kernel package's virtio
# modules) with tests/boot/vblk-init as /init.
boot_prepare "$what" tests/boot/vblk-init

# The volume, the storage node serving it, and the card on its
# vhost-user-blk face.
vblk_card_start 64M

# boot_vm NAME MODE QUEUES: one VM with QUEUES vCPUs and virtqueues on the
# card (which offers two).
boot_vm() { vblk_qemu "$1" "$3" "cvvblk=$2"; }

boot_vm first write 1
expect_rc first "first VM: QEMU ran the guest to power-off" 0
sectors=$((64 << 20 >> 9))
expect first "the driver reads the capacity and 4 KiB blocks from the config space" \
	"cvvblk: sectors=$sectors lbs=4096 "
expect first "GET_ID answers the volume id as the serial" "cvvblk: serial=${vol//-/} "
expect first "FLUSH is offered: the guest sees a write-back cache" 'cvvblk: cache=write back'
expect first "the pattern written to /dev/vda reads back after the page cache is dropped" \
	'cvvblk: write ok md5='
expect first "a discarded range reads back as zeroes" 'cvvblk: discard ok'
expect first "the guest's init ran to its end" 'cvvblk: done'

boot_vm second verify 2
expect_rc second "second VM on the same card: QEMU ran the guest to power-off" 0
expect second "with two vCPUs the driver runs two virtqueues (VIRTIO_BLK_F_MQ)" \
	'cvvblk: cache=.* mq=2\b'
expect second "the second boot reads back what the first one wrote" 'cvvblk: verify ok md5='

# Counters by query (tools/lib/card_ctl.h), asked of the running card.
stats=$("$BUILD"/tests/tools/ctl_call "$TMP/vblk.sock.ctl" 2>&1)
json_check "the card's counters by query: every I/O of both guests completed, none failed or refused" \
	"$stats" 'r["ok"] and r["submitted"] > 0 and r["completed"] == r["submitted"]
	and r["errors"] == 0 and r["virtio_blk"]["requests"] >= r["submitted"]
	and r["virtio_blk"]["ioerr"] == r["virtio_blk"]["unsupp"] == 0 and r["nvmf"]["live"]'
echo "# cv-ebs: ${stats:0:240}"

kill -TERM "$ebs_pid" 2>/dev/null
wait "$ebs_pid" 2>/dev/null
ebs_pid=
check "QEMU read the config space with GET_CONFIG" \
	grep -q 'GET_CONFIG (24) size [0-9]* fds 0: ok' "$TMP/ebs.log"
check "the card served both VMs without refusing a vhost-user request" \
	bash -c "[ \$(grep -c 'front-end connected' '$TMP/ebs.log') = 2 ] &&
		! grep -q 'refused' '$TMP/ebs.log'"

# The pattern's lines begin "cvvblk pattern": none may be in the volume file.
check "the volume file holds ciphertext, none of the guest's plaintext" \
	python3 - "$volfile" <<'EOF'
import sys
data = open(sys.argv[1], 'rb').read()
written = data[256 * 4096:(256 + 512) * 4096]
if written.count(0) > len(written) // 64:
    sys.exit("the written range is mostly zeroes: nothing reached the volume")
sys.exit("plaintext found" if b'cvvblk pattern' in data else 0)
EOF
