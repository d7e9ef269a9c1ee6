#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The VPC card's local services against the kernel's real network stack:
# in a network namespace, a TAP device whose far end is tests/tools/
# vpc_tap_peer (the card's ARP, DHCP and metadata responders).  busybox
# udhcpc leases the ENI's address, busybox arping resolves the gateway, and
# busybox wget fetches metadata through the kernel's TCP, including a spot
# interruption notice scheduled while the "instance" runs.  tshark then
# decodes every frame of the exchange (the peer's pcap) and checks every
# checksum in it.
set -u
. "$(dirname "$0")/lib.sh"

PEER=$BUILD/tests/tools/vpc_tap_peer
MAC=0e:12:34:56:78:9a
ROUTER_MAC=0e:fe:ed:fa:ce:01
IID=i-0123456789abcdef0
NS=cv-vpcsvc-$$
TAP=cvtap0
peer_pid=

cleanup() {
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null && wait "$peer_pid" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

in_ns() { ip netns exec "$NS" timeout --kill-after=5 20 "$@"; }

if [ ! -x "$PEER" ]; then
	skip "vpc services" "$PEER not built"; exit 0
fi
if ! command -v busybox >/dev/null; then
	skip "vpc services" "busybox not installed (make deps)"; exit 0
fi
if ! ip netns add "$NS" 2>/dev/null; then
	skip "vpc services" "cannot create a network namespace (needs root/CAP_SYS_ADMIN)"; exit 0
fi
if [ ! -c /dev/net/tun ]; then
	skip "vpc services" "no /dev/net/tun"; exit 0
fi
ip -n "$NS" link set lo up

# ip netns exec execs the peer, so $! is its pid; it exits by itself after
# 120 s (VPC_TAP_PEER_TIMEOUT).
ip netns exec "$NS" "$PEER" "$TAP" "$MAC" 10.0.1.23/24 "$IID" "$TMP/link.pcap" \
	>"$TMP/peer.out" 2>&1 &
peer_pid=$!
for _ in $(seq 100); do
	grep -q ready "$TMP/peer.out" 2>/dev/null && break
	sleep 0.1
done
if ! grep -q ready "$TMP/peer.out"; then
	not_ok "vpc_tap_peer created $TAP"; sed 's/^/#   /' "$TMP/peer.out"; exit 0
fi
# The link comes up at the ENI's MTU, as a virtio-net device with
# VIRTIO_NET_F_MTU does.
ip -n "$NS" link set "$TAP" address "$MAC" mtu 9001 up

# The lease: udhcpc's script records what it got and configures the link
# as any distribution's script would.
cat >"$TMP/udhcpc.sh" <<SCRIPT
#!/bin/sh
[ "\$1" = bound ] || exit 0
env | grep -E '^(ip|mask|subnet|router|dns|domain|hostname|mtu|lease|serverid|broadcast)=' \
	| sort >"$TMP/lease"
ip link set dev "\$interface" mtu "\$mtu"
ip addr add "\$ip/\$mask" broadcast "\$broadcast" dev "\$interface"
ip route add default via "\$router" dev "\$interface"
SCRIPT
chmod +x "$TMP/udhcpc.sh"

in_ns busybox udhcpc -i "$TAP" -n -q -t 3 -T 2 -s "$TMP/udhcpc.sh" >"$TMP/udhcpc.out" 2>&1
check "udhcpc gets a lease from the card's DHCP server" [ -s "$TMP/lease" ]
expect_lease() {
	if grep -qx "$1" "$TMP/lease" 2>/dev/null; then
		ok "lease option $1"
	else
		not_ok "lease option $1"
		sed 's/^/#   /' "$TMP/lease" "$TMP/udhcpc.out" 2>/dev/null
	fi
}
expect_lease ip=10.0.1.23
expect_lease mask=24
expect_lease router=10.0.1.1
expect_lease serverid=10.0.1.1
expect_lease dns=10.0.1.2
expect_lease mtu=9001
expect_lease lease=3600
expect_lease hostname=ip-10-0-1-23
expect_lease domain=ec2.internal
check "the kernel has 10.0.1.23/24 on $TAP" \
	grep -q "inet 10.0.1.23/24" <(ip -n "$NS" -4 addr show dev "$TAP")

in_ns busybox arping -c 1 -w 3 -I "$TAP" 10.0.1.1 >"$TMP/arping.out" 2>&1
if grep -qi "reply from 10.0.1.1 \[$ROUTER_MAC\]" "$TMP/arping.out"; then
	ok "arping 10.0.1.1 is answered with the router's MAC"
else
	not_ok "arping 10.0.1.1 is answered with the router's MAC"
	sed 's/^/#   /' "$TMP/arping.out"
fi

# No wget -T: busybox 1.35's wget crashes with it; in_ns's timeout bounds it.
md() { in_ns busybox wget -q -O- "http://169.254.169.254/latest/meta-data/$1" 2>&1; }
got=$(md instance-id)
check "wget meta-data/instance-id through the kernel's TCP: '$got'" [ "$got" = "$IID" ]
got=$(md local-ipv4)
check "wget meta-data/local-ipv4: '$got'" [ "$got" = 10.0.1.23 ]
got=$(md network/interfaces/macs/$MAC/subnet-ipv4-cidr-block)
check "wget the ENI's subnet-ipv4-cidr-block: '$got'" [ "$got" = 10.0.1.0/24 ]
got=$(md spot/instance-action)
check "spot/instance-action is 404 before an interruption: '$got'" \
	grep -q 404 <<<"$got"
kill -USR1 "$peer_pid"
got=$(md spot/instance-action)
check "spot/instance-action after SIGUSR1: '$got'" grep -qE \
	'^\{"action": "terminate", "time": "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"\}$' <<<"$got"

kill "$peer_pid"; wait "$peer_pid"
peer_pid=
if grep -q "rejected 0$" "$TMP/peer.out"; then
	ok "the kernel sent no frame the services rejected"
else
	not_ok "the kernel sent no frame the services rejected"
	sed 's/^/#   /' "$TMP/peer.out"
fi

if ! command -v tshark >/dev/null; then
	skip "tshark decodes the exchange" "tshark not installed (make deps)"
	exit 0
fi
# decoded FILTER: how many frames of the exchange match FILTER (a message
# if tshark fails, so that no check passes on an unusable filter).
decoded() {
	local out
	if ! out=$(tshark -r "$TMP/link.pcap" -o ip.check_checksum:TRUE \
			-o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE \
			-Y "$1" 2>"$TMP/tshark.err"); then
		echo "tshark failed: $(head -n 1 "$TMP/tshark.err")"
		return
	fi
	printf '%s' "$out" | grep -c .
}
bad=$(decoded 'ip.checksum.status == "Bad" || udp.checksum.status == "Bad" ||
	tcp.checksum.status == "Bad" || _ws.malformed || _ws.expert.severity >= "Error"')
check "tshark: no bad checksum or malformed packet in the capture ($bad)" [ "$bad" = 0 ]
n=$(decoded 'dhcp.option.dhcp == 2 && eth.src == '$ROUTER_MAC)
check "tshark decodes the DHCP OFFER ($n)" [ "$n" -ge 1 ]
n=$(decoded 'dhcp.option.dhcp == 5 && dhcp.ip.your == 10.0.1.23')
check "tshark decodes the DHCP ACK for 10.0.1.23 ($n)" [ "$n" -ge 1 ]
n=$(decoded 'arp.opcode == 2 && arp.src.proto_ipv4 == 10.0.1.1')
check "tshark decodes the ARP reply for the gateway ($n)" [ "$n" -ge 1 ]
n=$(decoded 'http.response.code == 200 && ip.src == 169.254.169.254')
check "tshark decodes the metadata HTTP 200 responses ($n)" [ "$n" -ge 4 ]
