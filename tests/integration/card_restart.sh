#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A card that dies is a failed system check (design.md, "Lifecycle"):
# cardvisor starts it again and the device recovers without the guest
# noticing more than a delay.  Here cv-vpc is killed with SIGKILL while the
# test guest pings its gateway through it: cv-hv keeps running, reconnects
# to the new card and replays the virtqueues, and every ping is answered.
. "$(dirname "$0")/lib.sh"

if ! have_kvm; then
	skip "a killed card is restarted and its device recovers" "/dev/kvm is not usable here"
	exit 0
fi
port=$(tests/tools/free_port.py udp)

run_vm restart --guest "$TESTGUEST" --mem 128M --cmdline "net-dhcp net-ping count=4000" \
	--nic "subnet=10.0.1.0/24,underlay=127.0.0.1:$port" &
vm=$!
killed=$(kill_card_when restart 'i-*/eni-*.sock.pid' '^cvguest: net dhcp ip=')
wait "$vm"
check "cv-vpc was killed while the guest pinged through it" test -n "$killed"
expect restart "cardvisor saw the card die" "cv-vpc eni-[0-9a-f]+ died of signal Killed"
expect restart "and started it again" "system check failed: restarting cv-vpc"
expect restart "cv-hv reconnected to the new card without a guest reset" \
	"back-end .* reconnected; link up"
expect restart "every ping was answered" \
	'^cvguest: net ping host=10\.0\.1\.1 size=56 sent=4000 received=4000 '
expect restart "the driver needed no device reset" '^cvguest: net stats .* resets=0 '
expect_rc restart "the guest powers off normally" 0
