#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A cv-ebs card that dies is a failed system check (design.md, "Lifecycle"):
# cardvisor starts it again, cv-hv reconnects over vfio-user to the same
# socket and replays the function's config state (BARs, Command, MSI-X
# Enable), and the guest's NVMe driver, having seen CSTS read all ones,
# resets the controller and submits its unanswered commands again.  Here the
# card is killed with SIGKILL in the middle of a random read/write workload
# whose every read checks the newest acknowledged generation of its unit.
. "$(dirname "$0")/lib.sh"

volume_env
trap 'storaged_kill; rm -rf "$TMP"' EXIT

if ! have_kvm; then
	skip "a killed cv-ebs is restarted and the guest's NVMe controller recovers" \
		"/dev/kvm is not usable here"
	exit 0
fi

# The workload runs in ring 3: on a software KVM ring 0 is emulated.
VM_TIMEOUT=300 run_vm restart --guest "$TESTGUEST" --mem 128M \
	--cmdline "nvme-rand user qd=8 ops=300000 queues=2" --volume size=64M,queues=2 &
vm=$!
killed=$(kill_card_when restart 'i-*/vol-*.sock.pid' '^cvguest: nvme-rand start')
wait "$vm"
check "cv-ebs was killed while the guest's workload ran through it" test -n "$killed"
expect restart "cardvisor saw the card die and started it again" \
	"system check failed: restarting cv-ebs"
expect restart "cv-hv reconnected to the new card and replayed its config space" \
	"vfio-user: .* card at .* is back: config replayed"
expect restart "the guest's driver reset the controller and recovered" \
	'^cvguest: nvme controller reset \(.*\) recovered in [0-9]+ ms'
expect restart "the workload completes" '^cvguest: nvme-rand done ops=300000 '
expect restart "with no failed command and no acknowledged write lost" '^cvguest: result pass'
expect_rc restart "the guest powers off normally" 0
