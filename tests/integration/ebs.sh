#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The EBS path end to end, as `cardvisor run --volume` wires it: the test
# guest's NVMe driver -> cv-hv (vfio-user, doorbell ioeventfds, MSI-X
# irqfds) -> cv-ebs (NVMe controller, QoS, AES-256-XTS) -> NVMe/TCP ->
# cv-storaged -> the volume file.  Checks that data written reads back, in
# the same boot and the next one; that the volume file holds no plaintext;
# that malformed commands get the spec's status and the controller goes on;
# that killing cv-storaged mid-workload loses no acknowledged write; and
# that tshark's nvme-tcp dissector finds nothing malformed on the wire.
. "$(dirname "$0")/lib.sh"

volume_env
capture=
cleanup() {
	[ -n "$capture" ] && kill "$capture" 2>/dev/null
	storaged_kill
	rm -rf "$TMP"
}
trap cleanup EXIT

if ! have_kvm; then
	skip "EBS volume end to end" "/dev/kvm is not usable here"
	exit 0
fi

# The guest's workloads run in ring 3: on a software KVM ring 0 is emulated.
GUEST=(--guest "$TESTGUEST" --mem 128M)

# nvme_tcp_capture NAME: tshark on lo for the storage port, in the background.
capture_start() {
	command -v tshark >/dev/null || return 1
	tshark -i lo -f "tcp port $port" -w "$TMP/$1.pcapng" -q >"$TMP/$1.tshark" 2>&1 &
	capture=$!
	for _ in $(seq 100); do
		grep -q 'Capturing on' "$TMP/$1.tshark" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
capture_stop() { kill -INT "$capture" 2>/dev/null; wait "$capture" 2>/dev/null; capture=; }

have_tshark=0
capture_start first && have_tshark=1
# The card's TLS session secrets, for tshark to decrypt what it captured.
SSLKEYLOGFILE=$TMP/keys.log run_vm first "${GUEST[@]}" --cmdline "nvme user blocks=2048" \
	--volume size=64M,queues=2
[ "$have_tshark" = 1 ] && capture_stop
expect_rc first "a new 64 MiB volume: the guest writes, verifies and powers off" 0
expect first "cardvisor started cv-storaged for it" "started cv-storaged on 127\.0\.0\.1:$port"
expect first "the card serves it on two queue pairs" 'volume vol-[0-9a-f]+ \(64 MiB, 2 queues\) served by'
expect first "the guest sees the cardvisor NVMe controller" \
	'nvme ctrl model="cardvisor Elastic Block Store" serial="vol[0-9a-f]+"'
expect first "with shadow doorbells (the ioeventfd fast path)" '^cvguest: nvme dbbuf on'
expect first "every block written reads back" '^cvguest: nvme verify ok blocks=2048'
vol=$(grep -oP 'volume \Kvol-[0-9a-f]+(?= \()' "$TMP/first.out" | head -n1)
volfile=$CARDVISOR_STATE/volumes/$vol.vol

# The pattern the guest wrote is a pure function of (LBA, word): recompute
# it and look for any 16 bytes of it anywhere in the file.
check "the volume file holds ciphertext, no 16 bytes of the guest's plaintext" \
	python3 - "$volfile" 2048 <<'EOF'
import struct, sys
path, blocks = sys.argv[1], int(sys.argv[2])
M = (1 << 64) - 1
def mix64(x):
    x = ((x ^ (x >> 30)) * 0xbf58476d1ce4e5b9) & M
    x = ((x ^ (x >> 27)) * 0x94d049bb133111eb) & M
    return x ^ (x >> 31)
SEED = 0x6376677565737431
plain = set()
for lba in range(0, blocks, 7):        # every 7th block: 300 blocks, 76800 chunks
    w = [mix64(((lba << 12) | i) ^ SEED) for i in range(512)]
    for i in range(0, 512, 2):
        plain.add(struct.pack('<QQ', w[i], w[i + 1]))
data = open(path, 'rb').read()
written = data[:blocks * 4096]
if written.count(0) > len(written) // 64:
    sys.exit("the written range is mostly zeroes: nothing reached the volume")
hits = sum(1 for off in range(0, len(data), 16) if data[off:off + 16] in plain)
sys.exit(f"{hits} plaintext chunks found" if hits else 0)
EOF

run_vm again "${GUEST[@]}" --cmdline "nvme-check user blocks=2048" --volume "id=$vol"
expect_rc again "a new VM on the same volume powers off cleanly" 0
expect again "and reads back what the first one wrote (the volume outlives the instance)" \
	'^cvguest: nvme check ok blocks=2048'

run_vm rand "${GUEST[@]}" --cmdline "nvme-rand user qd=32 ops=4000 queues=2" --volume "id=$vol"
expect rand "random 4 KiB reads and writes at QD 32 on 2 queues, every read verified" \
	'^cvguest: nvme-rand done ops=4000 .*verified=[1-9]'
expect_rc rand "and the guest powers off" 0

run_vm bad "${GUEST[@]}" --cmdline "nvme-bad user" --volume "id=$vol"
expect bad "malformed commands: each answered with the status the spec names" \
	'^cvguest: nvme-bad done ok=[0-9]+ differs=0 fail=0'
expect bad "PRPs outside guest RAM get Data Transfer Error" \
	'^cvguest: nvme-bad prp-outside-ram expect=0/04 got=0/04 ok'
expect bad "and the controller still reads and writes afterwards" '^cvguest: nvme after-bad ok'
expect_rc bad "the guest powers off" 0

# QoS: a volume limited to 500 IOPS with a one-second burst cannot run 3000
# operations faster than (3000 - 500) / 500 = 5 s, however fast the host.
# An upper bound only: a slow or busy machine just measures less.
run_vm qos "${GUEST[@]}" --cmdline "nvme-rand user qd=8 ops=3000 queues=2" \
	--volume "id=$vol,iops=500,burst=1"
expect qos "the card says the volume is rate-limited" 'volume vol-[0-9a-f]+ .*rate-limited'
qos_iops=$(grep -oP 'nvme-rand done ops=3000 .* tsc=\K[0-9]+ tsc_hz=[0-9]+' "$TMP/qos.out" |
	awk '{ split($2, hz, "="); if ($1 > 0) printf "%d", 3000 * hz[2] / $1 }')
check "iops=500: the guest sees at most 500 IOPS plus the burst (measured ${qos_iops:-none})" \
	test "${qos_iops:-999999}" -le 600

# Kill cv-storaged in the middle of a workload and bring it back: in-flight
# commands wait for the card to reconnect, and every read of a unit written
# before checks the newest acknowledged generation.
storaged_cmd=$(tr '\0' ' ' <"/proc/$(cat "$STORAGED_PID")/cmdline")
VM_TIMEOUT=300 run_vm crash "${GUEST[@]}" --cmdline "nvme-rand user qd=8 ops=300000 queues=2" \
	--volume "id=$vol" &
vm=$!
for _ in $(seq 600); do
	grep -q 'nvme-rand start' "$TMP/crash.out" 2>/dev/null && break
	sleep 0.1
done
sleep 1
kill -9 "$(cat "$STORAGED_PID")"
sleep 1
setsid $storaged_cmd >>"$TMP/storaged2.log" 2>&1 </dev/null &
wait "$vm"
expect crash "cv-storaged killed mid-workload and restarted: the workload completes" \
	'^cvguest: nvme-rand done ops=300000 '
expect crash "with no failed command and no acknowledged write lost" '^cvguest: result pass'
expect crash "the card reconnected" 'reconnect'

if [ "$have_tshark" = 1 ]; then
	hellos=$(tshark -r "$TMP/first.pcapng" -d "tcp.port==$port,tls" -Y 'tls.handshake.type == 2 &&
		tls.handshake.extensions.psk.identity.selected == 0' 2>/dev/null | wc -l)
	check "cv-ebs reaches cv-storaged over TLS 1.3 with the volume's PSK ($hellos handshakes)" \
		test "$hellos" -ge 3
	tests/tools/tls_plaintext.py "$TMP/first.pcapng" "$TMP/keys.log" "$port" \
		"$TMP/first-plain.pcap" >/dev/null 2>&1
	bad_pdus=$(tshark -r "$TMP/first-plain.pcap" -d "tcp.port==$port,nvme-tcp" \
		-Y '_ws.malformed || _ws.expert.severity >= error' 2>/dev/null | wc -l)
	pdus=$(tshark -r "$TMP/first-plain.pcap" -d "tcp.port==$port,nvme-tcp" -Y nvme-tcp \
		2>/dev/null | wc -l)
	check "tshark decrypts and decodes our NVMe/TCP ($pdus packets) and finds none malformed" \
		test "$pdus" -gt 100 -a "$bad_pdus" = 0
else
	skip "tshark decodes our NVMe/TCP" "tshark is not installed (make deps installs it)"
fi
