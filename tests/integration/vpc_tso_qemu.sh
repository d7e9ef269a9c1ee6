#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cv-vpc's transmit offloads against a real driver and a real TCP peer:
# Debian's stock kernel under QEMU TCG, its own virtio_net on `-netdev
# vhost-user` to a real cv-vpc (instance description from
# tests/tools/mkinstance, as boot_qemu.sh does), writes 4 MiB of random
# bytes over one TCP connection to a peer behind a Linux kernel vxlan
# device in another network namespace, which the card reaches over the
# underlay (VXLAN, VNI 1).
#
# Checked:
#  - the guest's driver negotiated CSUM, HOST_TSO4 and HOST_TSO6 and none of
#    the receive offloads (/sys/class/net/eth0/device/features);
#  - the peer's own TCP stack received every byte, its SHA-256 the one the
#    guest computed (the peer's kernel checks every IP and TCP checksum and
#    drops a segment with a wrong one, so a bad segment would stall the
#    transfer);
#  - the card segmented: its counters (asked on its control socket) show GSO
#    frames from the guest, more segments than frames, no drop by any reason
#    and no refused header (tx_bad 0);
#  - tshark on the underlay: every inner TCP segment towards the peer is at
#    most the MTU the guest was given (1450), and none carries a bad IP or
#    TCP checksum by tshark's own check.
# Like boot_qemu.sh, without /dev/kvm it runs on TCG (-device
# virtio-net-pci,vectors=0: see vhost_user_qemu.sh for why).
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}
QEMU=$(command -v qemu-system-x86_64 || true)
CTL=$BUILD/tests/tools/ctl_call
VPC=$BUILD/cv-vpc
MKINSTANCE=$BUILD/tests/tools/mkinstance
BYTES=$((4 * 1024 * 1024))
MTU=1450
SUBNET=10.0.1.0/24 IP=10.0.1.23 MAC=02:00:0a:00:01:17
PEER=10.0.1.200 PEER_PORT=5001
ROUTER_MAC=02:c7:00:00:01:01    # VNI 1 (mkinstance), as the card makes it
NS_A=cv-tso-card-$$ NS_B=cv-tso-peer-$$ VETH_A=cvta$$ VETH_B=cvtb$$
UNDER_A=10.233.0.1 UNDER_B=10.233.0.2
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	netns_del "$NS_A" "$NS_B"
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

what="TCP from a Linux guest through cv-vpc's TSO"
[ -n "$QEMU" ] || { skip "$what" "qemu-system-x86_64 not installed"; exit 0; }
command -v tshark >/dev/null || { skip "$what" "tshark not installed (make deps)"; exit 0; }
[ "$(id -u)" = 0 ] || { skip "$what" "network namespaces need root"; exit 0; }
for b in "$VPC" "$MKINSTANCE" "$CTL"; do
	[ -x "$b" ] || { not_ok "$what: $b is not built"; exit 0; }
done

# The underlay: the card's side in NS_A, the kernel's vxlan device with the
# peer's address in NS_B; no ARP crosses it (docs/vpc.md), so the peer
# knows the guest's MAC from a static entry.
P_K=$(tests/tools/free_port.py udp)
if ! veth_netns_pair "$NS_A" "$NS_B" "$VETH_A" "$VETH_B" "$UNDER_A/29" "$UNDER_B/29" \
	2>"$TMP/netns.err" ||
   ! ip -n "$NS_B" link add vx0 type vxlan id 1 dstport "$P_K" remote "$UNDER_A" \
	local "$UNDER_B" dev "$VETH_B" 2>>"$TMP/netns.err"; then
	skip "$what" "no network namespaces or kernel vxlan: $(tail -n1 "$TMP/netns.err")"
	exit 0
fi
ip -n "$NS_B" link set vx0 address "$ROUTER_MAC" mtu "$MTU"
# Over a veth the peer's kernel would leave its inner TCP checksums to an
# offload nothing performs (the skb crosses as CHECKSUM_PARTIAL), and the
# guest, which has no GUEST_CSUM, would rightly drop its SYN+ACK.  So vx0
# checksums in software: ETHTOOL_STXCSUM (0x17) off through SIOCETHTOOL
# (0x8946), for want of ethtool(8).
if ! ip netns exec "$NS_B" python3 -c 'import ctypes, fcntl, socket, struct, sys
ev = ctypes.create_string_buffer(struct.pack("II", 0x17, 0), 8)
ifr = struct.pack("16sQ16x", sys.argv[1].encode(), ctypes.addressof(ev))
s = socket.socket()
fcntl.ioctl(s.fileno(), 0x8946, ifr)' vx0 2>>"$TMP/netns.err"; then
	not_ok "$what: vx0's checksum offload off: $(tail -n1 "$TMP/netns.err")"
	exit 0
fi
ip -n "$NS_B" addr add "$PEER/24" dev vx0
ip -n "$NS_B" link set vx0 up
ip -n "$NS_B" neigh add "$IP" lladdr "$MAC" dev vx0 nud permanent
echo "1 $PEER $UNDER_B:$P_K vxlan" >"$TMP/peer.map"

# The peer: reads BYTES, says how many and their SHA-256, closes.
ip netns exec "$NS_B" timeout "$QEMU_TIMEOUT" python3 - "$PEER" "$PEER_PORT" "$BYTES" \
	>"$TMP/peer.out" 2>&1 <<'EOF' &
import hashlib, socket, sys
ip, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((ip, port))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
h, got = hashlib.sha256(), 0
while got < want:
    d = c.recv(1 << 16)
    if not d:
        break
    h.update(d)
    got += len(d)
c.close()
print("received %d sha256=%s" % (got, h.hexdigest()), flush=True)
EOF
pids+=($!)
wait_line "$TMP/peer.out" '^listening' 10 || { not_ok "$what: the peer listens"; exit 0; }

ip netns exec "$NS_A" timeout "$QEMU_TIMEOUT" tshark -i "$VETH_A" -f "udp port $P_K" \
	-w "$TMP/underlay.pcapng" -q >"$TMP/tshark.out" 2>&1 &
capture=$!
pids+=($capture)
wait_line "$TMP/tshark.out" 'Capturing on' 10 || sleep 2

# The guest: virtio_net, the MTU the card's DHCP would give, then the write.
net_init "$TMP/init" cvtso
cat >>"$TMP/init" <<EOF
ip link set eth0 mtu $MTU up
ip addr add $IP/24 dev eth0
head -c $BYTES /dev/urandom >/tmp/data
echo "cvtso: sending sha256=\$(sha256sum </tmp/data | cut -d' ' -f1)"
timeout 200 nc $PEER $PEER_PORT </tmp/data
echo "cvtso: nc exit \$? tx=\$(cat \$n/statistics/tx_packets)"
poweroff -f
EOF
boot_prepare "$what" "$TMP/init"

"$MKINSTANCE" "$TMP/instance.dtb" --kernel "$BOOT_DIR/bzImage" \
	--nic "$TMP/vpc.sock,$SUBNET,$IP,$MAC,$UNDER_A:$P_K,$TMP/peer.map" \
	>/dev/null 2>"$TMP/mkinstance.err" || {
	not_ok "$what: mkinstance $(tail -n1 "$TMP/mkinstance.err")"
	exit 0
}
ip netns exec "$NS_A" timeout --kill-after=5 $((QEMU_TIMEOUT + 60)) "$VPC" \
	--instance "$TMP/instance.dtb" --nic eni-0 --verbose "${CARD_JAIL[@]}" >"$TMP/vpc.log" 2>&1 &
vpc_pid=$!
pids+=($vpc_pid)
for _ in $(seq 100); do [ -S "$TMP/vpc.sock" ] && break; sleep 0.1; done
[ -S "$TMP/vpc.sock" ] || {
	not_ok "$what: cv-vpc serves $TMP/vpc.sock"
	tail -n 15 "$TMP/vpc.log" | sed 's/^/#   /'
	exit 0
}

timeout --kill-after=5 "$QEMU_TIMEOUT" "$QEMU" -machine q35,accel=tcg -m 256M -smp 1 \
	-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
	-chardev "socket,id=c,path=$TMP/vpc.sock" -netdev vhost-user,id=n,chardev=c \
	-device "virtio-net-pci,netdev=n,mac=$MAC,vectors=0" \
	-kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet ipv6.disable=1" -no-reboot -display none \
	-serial stdio -monitor none </dev/null >"$TMP/guest.out" 2>&1
rc=$?
counters=$("$CTL" "$TMP/vpc.sock.ctl" 2>&1)
sleep 0.5       # the last datagrams reach the capture
kill -INT "$capture" 2>/dev/null
wait "$capture" 2>/dev/null
tail_guest() { grep -av '^busybox' "$TMP/guest.out" | tail -n 15 | sed 's/^/#   /'; }

check "the guest ran to power-off under QEMU (exit $rc)" [ "$rc" = 0 ] || tail_guest
# /sys/.../features: one character per bit, bit 0 first.
features=$(sed -n 's/.*cvtso: features=\([01]*\).*/\1/p' "$TMP/guest.out")
if [ "${features:0:1}" = 1 ] && [ "${features:11:1}" = 1 ] && [ "${features:12:1}" = 1 ] &&
   [ "${features:1:1}" = 0 ] && [ "${features:7:1}" = 0 ] && [ "${features:8:1}" = 0 ]; then
	ok "Linux's virtio_net negotiated CSUM, HOST_TSO4 and HOST_TSO6, no receive offload"
else
	not_ok "guest features '${features}'"
	tail_guest
fi
sent=$(sed -n 's/.*cvtso: sending sha256=\([0-9a-f]*\).*/\1/p' "$TMP/guest.out")
if grep -q "^received $BYTES sha256=${sent:-none}\$" "$TMP/peer.out"; then
	ok "the peer's TCP took all $BYTES bytes, SHA-256 as sent"
else
	not_ok "the peer's TCP took all $BYTES bytes: $(tail -n1 "$TMP/peer.out"), guest sent ${sent:-nothing}"
	tail_guest
fi
json_check "cv-vpc cut GSO frames into segments and dropped nothing" "$counters" \
	'r["ok"] and r["virtio_net"]["tx_gso"] > 0
	and r["virtio_net"]["tx_gso_segments"] > r["virtio_net"]["tx_gso"]
	and r["virtio_net"]["tx_bad"] == 0 and not any(r["drops"].values())
	and r["encapsulated"] >= r["virtio_net"]["tx_gso_segments"]' ||
	grep -av 'vhost-user' "$TMP/vpc.log" | tail -n 15 | sed 's/^/#   /'
echo "# cv-vpc: $(python3 -c 'import json, sys; v = json.loads(sys.argv[1])["virtio_net"]
print("tx_gso", v["tx_gso"], "tx_gso_segments", v["tx_gso_segments"], "tx_csum", v["tx_csum"])' \
	"$counters" 2>/dev/null)"

# The inner segments towards the peer: their IP lengths (the inner one is
# the last ip.len) and checksum verdicts, tshark checking both.
tshark -r "$TMP/underlay.pcapng" -d "udp.port==$P_K,vxlan" \
	-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-Y "vxlan && ip.dst == $PEER && tcp.dstport == $PEER_PORT && tcp.len > 0" \
	-T fields -e ip.len -e tcp.len >"$TMP/segments.txt" 2>"$TMP/tshark.err"
read -r n_seg max_len payload < <(awk -F'\t' '{ n = split($1, l, ","); if (l[n] > m) m = l[n];
	p += $2 } END { print NR, m + 0, p + 0 }' "$TMP/segments.txt")
check "tshark: $n_seg TCP segments on the underlay carry $payload bytes, each at most $MTU (largest $max_len)" \
	test "$n_seg" -gt 0 -a "$max_len" -le "$MTU" -a "$max_len" -gt $((MTU - 100)) \
	-a "$payload" -ge "$BYTES"
n_bad=$(tshark -r "$TMP/underlay.pcapng" -d "udp.port==$P_K,vxlan" \
	-o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE \
	-Y "vxlan && ip.dst == $PEER && (tcp.checksum.status == 0 || ip.checksum.status == 0)" \
	2>/dev/null | wc -l)
check "tshark: no inner IP or TCP checksum is bad ($n_bad bad)" test "$n_bad" = 0
