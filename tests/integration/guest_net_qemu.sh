#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test guest's virtio-net driver and network workloads against a real,
# independent device: QEMU's virtio-net-pci with user-mode networking
# (libslirp) under TCG.  slirp is the DHCP server (10.0.2.15, gateway
# 10.0.2.2, DNS 10.0.2.3), answers ARP and ping for the gateway, and
# carries the guest's TCP and UDP to 10.0.2.2:PORT to the host's
# 127.0.0.1:PORT, where this script runs an HTTP metadata stand-in and a
# UDP echo server.  What cv-vpc must also do is checked from the guest's
# side: the virtio 1.2 handshake, merged receive buffers, DHCP, ARP,
# ICMP, TCP, UDP, and DEVICE_NEEDS_RESET after malformed descriptor chains.
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-120}
PEER_TIMEOUT=$((QEMU_TIMEOUT * 4))

if ! command -v "$QEMU" >/dev/null 2>&1; then
	skip "test guest virtio-net driver under QEMU" "$QEMU is not installed"
	exit 0
fi
if ! command -v python3 >/dev/null 2>&1; then
	skip "test guest virtio-net driver under QEMU" "python3 (the host-side peers) is missing"
	exit 0
fi
if [ ! -r "$TESTGUEST" ]; then
	not_ok "test guest virtio-net driver under QEMU: $TESTGUEST is missing"
	exit 0
fi

# See guest_nvme_qemu.sh: isa-debug-exit at cv's sleep port makes S5 exit 105.
QEMU_POWEROFF_RC=105
INSTANCE_ID=i-0cvtest5e1f00d42

PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# The host side: an HTTP server for /latest/meta-data/instance-id and a UDP
# echo server, both on 127.0.0.1 with ports the kernel picks, written to
# $TMP/ports as "HTTP UDP".
mkdir -p "$TMP/www/latest/meta-data"
printf '%s\n' "$INSTANCE_ID" >"$TMP/www/latest/meta-data/instance-id"
timeout "$PEER_TIMEOUT" python3 - "$TMP/www" "$TMP/ports" <<'EOF' >"$TMP/peers.log" 2>&1 &
import functools, http.server, os, socket, sys, threading
www, ports = sys.argv[1], sys.argv[2]
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=www)
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
def echo():
    while True:
        data, addr = udp.recvfrom(65535)
        udp.sendto(data, addr)
threading.Thread(target=echo, daemon=True).start()
with open(ports + ".tmp", "w") as f:
    f.write("%d %d\n" % (httpd.server_address[1], udp.getsockname()[1]))
os.rename(ports + ".tmp", ports)
httpd.serve_forever()
EOF
PIDS+=($!)
for _ in $(seq 100); do [ -s "$TMP/ports" ] && break; sleep 0.1; done
if [ ! -s "$TMP/ports" ]; then
	not_ok "host-side HTTP and UDP peers start"
	sed 's/^/#   /' "$TMP/peers.log"
	exit 0
fi
read -r HTTP_PORT UDP_PORT <"$TMP/ports"

# A free host UDP port for slirp's forward to the guest's echo server.
FWD_PORT=$(tests/tools/free_port.py udp)

# run_qemu NAME "GUEST CMDLINE" [SLIRP OPTIONS] [DEVICE OPTIONS] [NETDEV]:
# one boot with a timeout; console in $TMP/NAME.out, exit status in
# $TMP/NAME.rc.  NETDEV replaces slirp ("user,id=n0...") altogether.
run_qemu() {
	local name=$1 cmdline=$2 netopts=${3:-} devopts=${4:-}
	local netdev=${5:-user,id=n0$netopts}
	timeout --kill-after=10 "$QEMU_TIMEOUT" "$QEMU" -accel tcg -M q35 -m 256 \
		-nodefaults -display none -no-reboot -serial stdio \
		-kernel "$TESTGUEST" -append "$cmdline" \
		-netdev "$netdev" -device "virtio-net-pci,netdev=n0$devopts" \
		-device isa-debug-exit,iobase=0x3c0,iosize=1 \
		</dev/null >"$TMP/$name.out" 2>&1
	echo $? >"$TMP/$name.rc"
	sed -i 's/\r$//' "$TMP/$name.out"
	if [ "$(cat "$TMP/$name.rc")" = 124 ]; then
		echo "# $name: timed out after ${QEMU_TIMEOUT}s" >>"$TMP/$name.out"
	fi
}

IP='[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+'

# --- DHCP and ping on the transitional device, MSI-X ------------------------
run_qemu dhcp "net-dhcp net-ping count=5"
expect_rc dhcp "net-dhcp: guest powers off" "$QEMU_POWEROFF_RC"
expect dhcp "transitional 1af4:1000 is driven through its modern capabilities" \
	'^cvguest: net virtio 00:[0-9a-f]{2}\.[0-7] 1af4:1000 mac=52:54:00:12:34:56 mtu=1500 link=up mrg_rxbuf=1 rxbuf=2048 qsize=256/256 mode=msix$'
expect dhcp "no offload features are accepted, VERSION_1 is" \
	'^cvguest: virtio features offered=0x[0-9a-f]+ accepted=0x100018020$'
expect dhcp "net-dhcp: slirp's lease is printed" \
	'^cvguest: net dhcp ip=10\.0\.2\.15 gw=10\.0\.2\.2 mask=255\.255\.255\.0 dns=10\.0\.2\.3 mtu=1500 server=10\.0\.2\.2 '
expect dhcp "net-ping: the gateway's MAC comes from ARP" '^cvguest: net arp 10\.0\.2\.2 is 52:55:0a:00:02:02$'
expect dhcp "net-ping: every echo is answered" \
	'^cvguest: net ping host=10\.0\.2\.2 size=56 sent=5 received=5 rtt_tsc min=[0-9]+ avg=[0-9]+ max=[0-9]+ '
expect dhcp "MSI-X interrupts arrived" '^cvguest: net stats .* irqs=[1-9][0-9]*$'
expect dhcp "net-dhcp: guest result pass" '^cvguest: result pass'

# --- the modern-only device, polled, merged small receive buffers -----------
run_qemu modern "net-ping size=1400 count=3 poll rxbuf=128" "" ",disable-legacy=on"
expect modern "modern-only 1af4:1041 is found" '^cvguest: net virtio 00:[0-9a-f.]+ 1af4:1041 .* rxbuf=128 .* mode=poll$'
expect modern "1400-byte echoes across 128-byte buffers (num_buffers > 1)" \
	'^cvguest: net ping host=10\.0\.2\.2 size=1400 sent=3 received=3 '
expect modern "frames spanning several buffers were merged" '^cvguest: net stats .* rx_merged=[1-9][0-9]* rx_dropped=0 .* irqs=0$'
expect modern "modern, polled: guest result pass" '^cvguest: result pass'

run_qemu nomrg "net-ping nomrg qsize=64 rxbuf=128" "" ",mrg_rxbuf=off"
expect nomrg "without MRG_RXBUF: buffers of at least 1526 bytes, a 64-entry queue" \
	'^cvguest: net virtio .* mrg_rxbuf=0 rxbuf=1526 qsize=64/64 '
expect nomrg "without MRG_RXBUF: ping passes" '^cvguest: net ping host=10\.0\.2\.2 size=56 sent=4 received=4 '

# The device's MTU (VIRTIO_NET_F_MTU) bounds every packet the guest sends.
run_qemu mtu "net-ping size=1472 count=2" "" ",host_mtu=1400"
expect mtu "VIRTIO_NET_F_MTU: the device's MTU is taken" '^cvguest: net virtio .* mtu=1400 link=up '
expect mtu "VIRTIO_NET_F_MTU: echoes are cut to fit it" '^cvguest: net ping host=10\.0\.2\.2 size=1372 sent=2 received=2 '

# A function without MSI-X (vectors=0): the driver polls.
run_qemu nomsix "net-ping count=2" "" ",vectors=0"
expect nomsix "no MSI-X capability: polled queues" '^cvguest: net virtio .* mode=poll$'
expect nomsix "no MSI-X capability: ping passes" '^cvguest: net ping host=10\.0\.2\.2 size=56 sent=2 received=2 '

# --- TCP: one HTTP GET to the metadata stand-in -----------------------------
run_qemu imds "net-imds host=10.0.2.2 port=$HTTP_PORT"
expect imds "net-imds: HTTP 200 over TCP-lite" '^cvguest: net imds http status=200 '
expect imds "net-imds: the instance ID is the body" "^cvguest: net imds instance-id=$INSTANCE_ID\$"
expect imds "net-imds: guest result pass" '^cvguest: result pass'

# slirp's net can be 169.254/16 with itself at .254: the default address.
run_qemu imds254 "net-imds port=$HTTP_PORT" ",net=169.254.0.0/16,host=169.254.169.254"
expect imds254 "net-imds at 169.254.169.254 (the default address)" \
	"^cvguest: net imds instance-id=$INSTANCE_ID\$"

# A closed port: slirp answers the SYN with a RST; the guest says so and
# stops, it does not hang.
run_qemu imdsrst "net-imds host=10.0.2.2 port=1"
expect imdsrst "net-imds to a closed port: a clear failure line" \
	'^cvguest: net imds fail host=10\.0\.2\.2 port=1 err=-111$'
expect imdsrst "net-imds to a closed port: guest result fail net" '^cvguest: result fail net'
expect_rc imdsrst "net-imds to a closed port: guest still powers off" "$QEMU_POWEROFF_RC"

# --- UDP: echo client, echo server, flood -----------------------------------
run_qemu udp "net-udp-echo peer=10.0.2.2 port=$UDP_PORT count=20 size=1000 net-flood flood-port=30000 flows=64"
expect udp "net-udp-echo: every datagram comes back intact" \
	"^cvguest: net udp-echo peer=10\\.0\\.2\\.2 port=$UDP_PORT size=1000 sent=20 received=20 lost=0 bad=0 rtt_tsc min=[0-9]+ avg=[0-9]+ max=[0-9]+ tsc=[0-9]+ tsc_hz=[0-9]+\$"
expect udp "net-flood: 64 flows to distinct ports are sent" \
	'^cvguest: net flood peer=10\.0\.2\.2 ports=30000-30063 flows=64 sent=64 replies=[0-9]+ tsc=[0-9]+$'
expect udp "UDP: guest result pass" '^cvguest: result pass'

# The guest serves; a host client reaches it through slirp's hostfwd and
# resends each datagram until it is echoed (the guest may still be booting).
timeout "$QEMU_TIMEOUT" python3 - "$FWD_PORT" 5 >"$TMP/client.out" 2>&1 <<'EOF' &
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
got = 0
for i in range(count):
    msg = b"cv-%d-" % i + bytes(range(64))
    for _ in range(300):
        s.sendto(msg, ("127.0.0.1", port))
        try:
            if s.recvfrom(2048)[0] == msg:
                got += 1
                break
        except socket.timeout:
            pass
print("received=%d" % got)
EOF
CLIENT=$!
PIDS+=($CLIENT)
run_qemu serve "net-udp-serve port=7 count=5 wait=60" ",hostfwd=udp:127.0.0.1:$FWD_PORT-:7"
wait "$CLIENT"
expect serve "net-udp-serve: ready line with the leased address" '^cvguest: net udp-serve port=7 ready ip=10\.0\.2\.15$'
expect serve "net-udp-serve: five datagrams echoed" '^cvguest: net udp-serve port=7 echoed=5 tsc=[0-9]+$'
check "net-udp-serve: the host client got its five echoes" grep -qx 'received=5' "$TMP/client.out"

# --- two guests on one wire (a QEMU UDP socket netdev each way) -----------
# Static addresses: B pings A and runs the echo client against A's server;
# A answers B's ARP and ICMP itself while it serves.
read -r P1 P2 < <(python3 -c 'import socket
ss = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
run_qemu vmA "net-udp-serve ip=192.168.7.1 port=9 count=10 wait=60" "" ",mac=52:54:00:00:07:01" \
	"socket,id=n0,udp=127.0.0.1:$P2,localaddr=127.0.0.1:$P1" &
VMA=$!
PIDS+=($VMA)
for _ in $(seq 300); do
	grep -qs '^cvguest: net udp-serve port=9 ready' "$TMP/vmA.out" && break
	sleep 0.1
done
run_qemu vmB "net-ping host=192.168.7.1 net-udp-echo peer=192.168.7.1 port=9 count=10 size=512 ip=192.168.7.2" \
	"" ",mac=52:54:00:00:07:02" "socket,id=n0,udp=127.0.0.1:$P1,localaddr=127.0.0.1:$P2"
wait "$VMA"
expect vmA "two guests: A takes its static address" '^cvguest: net static ip=192\.168\.7\.1 gw=0\.0\.0\.0 mask=255\.255\.255\.0$'
expect vmB "two guests: B resolves A by ARP" '^cvguest: net arp 192\.168\.7\.1 is 52:54:00:00:07:01$'
# (count= and size= serve both workloads of this boot)
expect vmB "two guests: A answers B's pings while serving" '^cvguest: net ping host=192\.168\.7\.1 size=512 sent=10 received=10 '
expect vmB "two guests: B's datagrams all come back" '^cvguest: net udp-echo peer=192\.168\.7\.1 port=9 size=512 sent=10 received=10 lost=0 bad=0 '
expect vmA "two guests: A echoed all ten" '^cvguest: net udp-serve port=9 echoed=10 '
expect vmA "two guests: A's result pass" '^cvguest: result pass'

# --- malformed descriptor chains; traffic flows after each ------------------
run_qemu bad "net-bad"
for c in desc-loop next-out-of-range chain-longer-than-queue zero-length empty-frame; do
	expect bad "net-bad $c: QEMU sets DEVICE_NEEDS_RESET, the driver resets, traffic flows" \
		"^cvguest: net-bad $c sent=\".*\" device=needs-reset resets=1 traffic=ok\$"
done
for c in addr-outside-ram oversized-frame; do
	expect bad "net-bad $c: reported, traffic flows" \
		"^cvguest: net-bad $c sent=\".*\" device=(used|needs-reset|silent) resets=[01] traffic=ok\$"
done
expect bad "net-bad: no case broke the device" '^cvguest: net-bad done ok=7 fail=0 '
expect bad "net-bad: guest result pass" '^cvguest: result pass'

# --- the workloads at CPL 3 --------------------------------------------------
run_qemu user "net-ping net-imds host=10.0.2.2 port=$HTTP_PORT net-bad user"
expect user "user: the workloads run at CPL 3, polled" '^cvguest: net workloads at cpl=3$'
expect user "user: ping, HTTP and bad chains pass" '^cvguest: net-bad done ok=7 fail=0 '
expect user "user: guest result pass" '^cvguest: result pass'

# --- no device: a clear line, no hang ----------------------------------------
timeout --kill-after=10 "$QEMU_TIMEOUT" "$QEMU" -accel tcg -M q35 -m 256 -nodefaults \
	-display none -no-reboot -serial stdio -kernel "$TESTGUEST" -append "net-dhcp" \
	-device isa-debug-exit,iobase=0x3c0,iosize=1 </dev/null 2>&1 | sed 's/\r$//' >"$TMP/nodev.out"
expect nodev "no virtio-net device: said so" '^cvguest: net no virtio-net device found$'
expect nodev "no virtio-net device: guest result fail net" '^cvguest: result fail net'

# --- nobody on the wire: DHCP gives up after bounded retries ----------------
# A hub port with no other port: every frame the guest sends goes nowhere.
run_qemu nodhcp "net-dhcp dhcp-tries=2" "" "" "hubport,id=n0,hubid=7"
expect nodhcp "no DHCP server: a failure line after the retries" '^cvguest: net dhcp fail tries=2 err=-110$'
expect nodhcp "no DHCP server: guest result fail net" '^cvguest: result fail net'
expect_rc nodhcp "no DHCP server: guest still powers off" "$QEMU_POWEROFF_RC"

# --- cv-hv on this host's KVM, ring 3, no NIC --------------------------------
# The probe and set-up run at CPL 0 through user_kcall (port I/O faults at
# CPL 3 on the project's software KVM); without a device the guest must
# still get back to ring 0, say so and report.  (The workloads against
# cv-vpc, through `cardvisor run --nic`, belong with the VPC card's tests.)
if have_kvm && [ -x "$CARDVISOR" ]; then
	run_vm kvmuser --guest "$TESTGUEST" --mem 64M --cmdline "net-dhcp user"
	expect kvmuser "user on KVM, no NIC: the workloads start at CPL 3" '^cvguest: net workloads at cpl=3'
	expect kvmuser "user on KVM, no NIC: the guest says so from ring 0" \
		'^cvguest: net no virtio-net device found'
	check "user on KVM, no NIC: no unexpected exception" \
		bash -c "! grep -q '^cvguest: exception' '$TMP/kvmuser.out'"
else
	skip "network workloads at CPL 3 on KVM" "/dev/kvm or $CARDVISOR is not usable here"
fi

# --- cv-hv and cv-vpc (cardvisor run --nic), ring 3 --------------------------
# The project's own device: cv-hv's virtio-net function, its queues served
# by cv-vpc, which answers DHCP, ARP, ping to the gateway and the instance
# metadata itself, and drops malformed chains without DEVICE_NEEDS_RESET.
NIC=subnet=10.0.1.0/24,underlay=127.0.0.1:0
if have_kvm && [ -x "$CARDVISOR" ] && [ -x "$BUILD/cv-vpc" ]; then
	run_vm vpc --guest "$TESTGUEST" --mem 64M --cmdline "net-dhcp net-ping net-imds user" --nic "$NIC"
	expect vpc "cv-vpc: the modern function is driven at CPL 3" \
		'^cvguest: net virtio 00:[0-9a-f]{2}\.0 1af4:1041 .* mode=poll'
	expect vpc "cv-vpc: DHCP lease in the ENI's subnet" \
		'^cvguest: net dhcp ip=10\.0\.1\.[0-9]+ gw=10\.0\.1\.1 mask=255\.255\.255\.0 dns=[0-9.]+ mtu=[0-9]+ '
	expect vpc "cv-vpc: the gateway answers ARP and ping" '^cvguest: net ping host=10\.0\.1\.1 size=56 sent=4 received=4 '
	expect vpc "cv-vpc: IMDS at 169.254.169.254 gives the instance ID" '^cvguest: net imds instance-id=i-[0-9a-f]+'
	expect vpc "cv-vpc: guest result pass" '^cvguest: result pass'
	run_vm vpcbad --guest "$TESTGUEST" --mem 64M --cmdline "net-bad user" --nic "$NIC"
	expect vpcbad "cv-vpc: every malformed chain is survived, traffic flows" \
		'^cvguest: net-bad done ok=7 fail=0 '
else
	skip "network workloads on cv-hv and cv-vpc" "/dev/kvm, $CARDVISOR or $BUILD/cv-vpc is not usable here"
fi
