#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# NVMe/TCP against Linux's own host and target, the peers cv-storaged and
# cv-ebs must interoperate with (docs/storaged.md).  This host's kernel has
# no nvme-tcp or nvmet modules, so both run in the nested-KVM outer guest
# (Debian's kernel under QEMU TCG, tests/nested/), whose kernel has them:
#   nvmeof-host    Linux's nvme-tcp host, connected through /dev/nvme-fabrics,
#                  against cv-storaged: a bad NQN refused with the field
#                  Linux names, 2 I/O queues with header and data digests,
#                  identify, the whole volume written and read back (last
#                  block included) and found in the volume file, parallel
#                  writers, blkdiscard and Write Zeroes reading back zeroes,
#                  reset_controller, then 1 queue without digests
#   nvmeof-target  cv-ebs (the test guest's NVMe workloads) against Linux's
#                  nvmet-tcp serving the volume file, a second VM finding the
#                  data, and a reconnect when the target's port goes away
#                  for 3 s under a random workload
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../boot/lib.sh"
. "$(dirname "$0")/../nested/lib.sh"

what="NVMe/TCP against Linux's nvme-tcp host and nvmet-tcp target"
nested_prepare "$what"
echo "# where: Debian's $(cut -d' ' -f1 "$BOOT_DIR/version") under QEMU TCG (the nested-KVM outer guest)"
nested_run "$what" "$TMP/outer.cpio" nvmeof-host,nvmeof-target 900 nvmeof || exit 0

# --- Linux's host against cv-storaged ------------------------------------------
nqn=nqn.2026-11.io.cardvisor
if ran host; then
	check "Linux host: a Connect to an unknown subsystem is refused, and Linux names the subsystem NQN" \
		said host "bad nqn: .*Connect Invalid Data Parameter, subsysnqn \"$nqn:nosuchvol\""
	check "Linux host: a host not on the volume's list is refused with Connect Invalid Host, and Linux says the host is not allowed" \
		said host "not listed: .*Connect for subsystem $nqn:linuxvol is not allowed, hostnqn: nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-0000000000bb"
	check "Linux host: connects with 2 I/O queues, header and data digests; identify names the controller" \
		said host "connected with digests: transport=tcp subsysnqn=$nqn:linuxvol model=cardvisor Elastic Block Store io_queues=2 size=16777216"
	check "Linux host: the whole volume, last block included, reads back as written" \
		said host 'whole volume written and read back: same'
	check "Linux host: the volume file holds exactly what Linux wrote" \
		said host 'the volume file holds what Linux wrote: same'
	check "Linux host: four parallel O_DIRECT writers read back" said host 'parallel writers: same'
	check "Linux host: blkdiscard (Dataset Management, a 4 KiB range buffer) reads back as zeroes" \
		said host 'blkdiscard: no message; reads back: zeroes'
	check "Linux host: Write Zeroes (BLKZEROOUT) reads back as zeroes" \
		said host 'write zeroes .*: no message; reads back: zeroes'
	check "Linux host: nothing else on the volume changed" said host 'everything else intact: same'
	check "Linux host: reset_controller reconnects, data intact" \
		said host 'after reset_controller: state=live data same'
	check "Linux host: 1 I/O queue without digests, data intact" said host 'without digests: data same'
	check "cv-storaged stops cleanly and logged no error" \
		bash -c "grep -q '^cvnested: host: daemon exit status 0' '$TMP/host.out' &&
			! grep -q 'cv-storaged: error' '$TMP/host.out'"
	grep -a '^cvnested: host: daemon VmRSS' "$TMP/host.out" | sed 's/^cvnested: host:/#/'
fi

# --- cv-ebs against Linux's target ----------------------------------------------
if ran nvmet; then
	expect nvmet "cv-ebs to nvmet-tcp (digests on): the test guest's writes verify" \
		'^cvguest: nvme verify ok blocks=2048'
	expect_rc nvmet "cv-ebs to nvmet-tcp: exit status 0" 0
fi
if ran nvmet2; then
	expect nvmet2 "cv-ebs to nvmet-tcp: a second VM reads back what the first wrote" \
		'^cvguest: nvme check ok blocks=2048'
fi
if ran nvmetre; then
	check "nvmet-tcp's port removed under a random workload, and added back after 3 s" \
		said nvmetre 'port back'
	expect nvmetre "cv-ebs saw the association go and reconnected" 'reconnected after [0-9]+ ms'
	expect nvmetre "the workload completes, every read verified" '^cvguest: nvme-rand done ops=20000 '
	expect nvmetre "with no failed command" '^cvguest: result pass'
fi
