#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A card process plugged into a VM over vfio-user by `cardvisor run
# --vfio-user`: the test guest's PCI scan finds the function the card serves
# (tests/tools/vfu_testdev), the card sees cv-hv come and go, and a card
# that is not there stops cv-hv before the guest runs.  The data path
# (doorbell ioeventfds, DMA, MSI-X, card death) is tests/unit/test_vfio_user.
. "$(dirname "$0")/lib.sh"

TESTDEV=$BUILD/tests/tools/vfu_testdev
card=
trap '[ -n "$card" ] && kill "$card" 2>/dev/null; rm -rf "$TMP"' EXIT

if ! have_kvm; then
	skip "a vfio-user card plugs into the VM" "/dev/kvm is not usable here"
	exit 0
fi

# start_card NAME: a test card on $TMP/NAME.sock, its log in $TMP/NAME.card.
start_card() {
	timeout 120 "$TESTDEV" "$TMP/$1.sock" >"$TMP/$1.card" 2>&1 &
	card=$!
	for _ in $(seq 100); do
		grep -q ready "$TMP/$1.card" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

check "the test card listens" start_card card
run_vm card --guest "$TESTGUEST" --mem 64M --vfio-user "$TMP/card.sock"
expect_rc card "with a vfio-user card: guest powers off, exit status 0" 0
expect card "cv-hv sets the card up: its MSI-X vectors and doorbell" \
	'vfio-user@04\.0: card at .*: 2 MSI-X vectors, 1 doorbells'
expect card "the guest finds the card's function at 00:04.0 with its BAR" \
	'^cvguest: pci 00:04\.0 1b36:00fe class ff0000 bar0 mem 0x'
expect card "and the rest of the guest's checks pass" '^cvguest: result pass'
wait "$card"
check "the card saw cv-hv leave and exited cleanly" [ $? = 0 ]
card=
check "the card logged the client's connection" grep -q 'client connected' "$TMP/card.card"

run_vm nocard --guest "$TESTGUEST" --mem 64M --vfio-user "$TMP/absent.sock"
expect_rc nocard "a card that is not there: exit status 1 (setup)" 1
expect nocard "and cv-hv names the socket it could not reach" \
	'vfio-user@04\.0: connecting to .*absent\.sock'
