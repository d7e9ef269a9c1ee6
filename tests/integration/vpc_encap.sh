#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Our VXLAN is the Linux kernel's VXLAN: tests/tools/vxlan_peer (built on
# cards/vpc/encap.c) talks to a kernel vxlan device across a veth pair and
# decapsulates its answers; tshark decodes our VXLAN and Geneve (this host
# has no geneve module) with no malformed packets.
#
# Both ends live in private network namespaces: the root namespace is shared
# with concurrent test runs (and cv-vpc cards binding UDP 4789), so nothing
# there is touched.
. "$(dirname "$0")/lib.sh"

PEER_BIN=$BUILD/tests/tools/vxlan_peer
NS_A=cv-vpc-a-$$                # our side: vxlan_peer, tshark
NS_B=cv-vpc-b-$$                # the kernel's vxlan device
VETH_A=cvva$$ VETH_B=cvvb$$
UNDER_A=10.231.0.1 UNDER_B=10.231.0.2
INNER_A=10.9.0.1 INNER_B=10.9.0.2
TSHARK_PID=

cleanup() {
	if [ -n "$TSHARK_PID" ]; then
		kill "$TSHARK_PID" 2>/dev/null
		wait "$TSHARK_PID" 2>/dev/null
	fi
	netns_del "$NS_A" "$NS_B"
	rm -rf "$TMP"
}
trap cleanup EXIT

what="kernel vxlan answers our VXLAN ARP request"
if [ ! -x "$PEER_BIN" ]; then
	not_ok "$what ($PEER_BIN not built)"
	exit 1
fi
if ! command -v ip >/dev/null; then
	skip "$what" "iproute2 not installed"
	exit 0
fi
if ! veth_netns_pair "$NS_A" "$NS_B" "$VETH_A" "$VETH_B" "$UNDER_A/30" "$UNDER_B/30" \
	2>"$TMP/netns.err"; then
	skip "$what" "cannot set up two network namespaces and a veth pair: $(tail -n1 "$TMP/netns.err")"
	exit 0
fi
if ! ip -n "$NS_B" link add vx0 type vxlan id 42 dstport 4789 \
	remote "$UNDER_A" local "$UNDER_B" dev "$VETH_B" 2>"$TMP/vxlan.err"; then
	skip "$what" "no kernel vxlan device: $(head -n1 "$TMP/vxlan.err")"
	exit 0
fi
ip -n "$NS_B" addr add "$INNER_B/24" dev vx0
ip -n "$NS_B" link set vx0 up
VX_MAC=$(ip -n "$NS_B" -o link show vx0 | grep -o 'link/ether [0-9a-f:]*' | cut -d' ' -f2)

# Capture the underlay from before the first datagram to after the last.
have_tshark=
if command -v tshark >/dev/null; then
	have_tshark=1
	: >"$TMP/tshark.out"
	ip netns exec "$NS_A" timeout 120 tshark -i "$VETH_A" -f udp \
		-w "$TMP/cap.pcapng" >"$TMP/tshark.out" 2>&1 &
	TSHARK_PID=$!
	for _ in $(seq 300); do
		grep -q "Capturing on" "$TMP/tshark.out" && break
		kill -0 "$TSHARK_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "Capturing on" "$TMP/tshark.out"; then
		echo "# tshark did not start:"; sed 's/^/#   /' "$TMP/tshark.out"
		have_tshark=
	fi
fi

# peer NAME ARGS...: vxlan_peer in our namespace, output in $TMP/NAME.out
peer() {
	local name=$1; shift
	ip netns exec "$NS_A" timeout 30 "$PEER_BIN" --bind "$UNDER_A" \
		--peer "$UNDER_B" --ip "$INNER_A" --target "$INNER_B" "$@" \
		>"$TMP/$name.out" 2>&1
	echo $? >"$TMP/$name.rc"
}

peer arp --vni 42 arp
expect_rc arp "$what" 0
expect arp "the ARP reply names vx0's MAC ($VX_MAC) in VNI 42" \
	"^arp: $INNER_B is at $VX_MAC vni 42$"

peer ping --vni 42 ping
expect_rc ping "kernel vxlan answers our VXLAN ICMP echo request" 0
expect ping "the echo reply decapsulates in VNI 42 with good checksums" \
	"^ping: echo reply from $INNER_B .* vni 42, checksums ok$"

# The kernel has no device for VNI 43: it must not answer.
peer vni43 --vni 43 --timeout 2 arp
expect_rc vni43 "kernel vxlan ignores VNI 43" 1

peer geneve --geneve --vni 4242 send
expect_rc geneve "sent a Geneve-encapsulated ARP and echo request" 0

if [ -z "$have_tshark" ]; then
	skip "tshark decodes our VXLAN and Geneve" "tshark not available"
	exit 0
fi
sleep 0.5       # let the last datagrams reach the capture before stopping
kill -INT "$TSHARK_PID"
wait "$TSHARK_PID"
TSHARK_PID=

fields() { # FILTER FIELD...: one line per matching packet
	local filter=$1; shift
	tshark -r "$TMP/cap.pcapng" -Y "$filter" -T fields -E separator=' ' \
		"${@/#/-e}" 2>"$TMP/fields.err" ||
		{ echo "-Y '$filter': $(tail -n 3 "$TMP/fields.err")" >>"$TMP/fields.failed"; }
}

# Our datagrams: VNI 42, outer source port from the inner flow hash.
ours=$(fields "vxlan && ip.src == $UNDER_A && vxlan.vni == 42" udp.srcport)
n_ours=$(wc -w <<<"$ours")
bad_ports=$(for p in $ours; do [ "$p" -ge 49152 ] || echo "$p"; done)
check "tshark decodes our $n_ours VXLAN datagrams as VNI 42 from ports 49152-65535" \
	test "$n_ours" -ge 2 -a -z "$bad_ports"
kernel=$(fields "vxlan && ip.src == $UNDER_B && vxlan.vni == 42 && (arp.opcode == 2 || icmp.type == 0)" frame.number)
check "tshark decodes the kernel's VXLAN ARP reply and echo reply" \
	test "$(wc -w <<<"$kernel")" -ge 2
gen=$(fields "geneve && geneve.vni == 4242 && geneve.proto_type == 0x6558 && geneve.version == 0" frame.number)
inner=$(fields "geneve && (arp.opcode == 1 || icmp.type == 8)" frame.number)
check "tshark decodes our Geneve as VNI 4242 carrying Ethernet (ARP, ICMP)" \
	test "$(wc -w <<<"$gen")" -eq 2 -a "$(wc -w <<<"$inner")" -eq 2
# Expert severity >= warning (PI_WARN 0x00600000) or a malformed packet.
bad=$(fields "_ws.malformed || _ws.expert.severity >= 0x00600000" frame.number)
total=$(fields "udp" frame.number | wc -l)
check "none of the $total captured datagrams is malformed or has expert warnings" \
	test -z "$bad" -a "$total" -gt 0
if [ -n "$bad" ]; then
	tshark -r "$TMP/cap.pcapng" -V -Y "_ws.malformed || _ws.expert.severity >= 0x00600000" \
		2>/dev/null | head -n 60 | sed 's/^/#   /'
fi
# A filter tshark refused would have matched nothing and passed silently.
check "tshark accepted every display filter" test ! -e "$TMP/fields.failed"
[ -e "$TMP/fields.failed" ] && sed 's/^/#   /' "$TMP/fields.failed"
exit 0
