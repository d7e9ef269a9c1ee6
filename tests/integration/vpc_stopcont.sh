#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cv-vpc's vhost-user-net face across a front-end's stop and cont: QEMU's
# QMP "stop"/"cont" make QEMU stop both rings (SET_VRING_ENABLE 0, then
# GET_VRING_BASE, whose answer is where the ring resumes) and start them
# again while the guest's driver keeps frames and buffers on them.  The
# net-face twin of vhost_user_stopcont.sh (the blk face).
#
# Debian's kernel under QEMU TCG, its own virtio_net on the real cv-vpc card
# (instance description from tests/tools/mkinstance, as boot_qemu.sh does),
# takes a DHCP lease from the card, then floods the gateway, which the card
# answers itself, with three busybox `ping -A` streams of different sizes
# (56, 512 and 1400 bytes) for several rounds; during each round
# tests/tools/qmp_stopcont.py stops and continues the VM 30 times.
#
# Ping has no acknowledgement, so "nothing acknowledged is lost" is checked
# as an exact count of what each side says it handed over, not as ping loss
# (a reply the card makes while QEMU has the RX ring stopped may be dropped,
# and counted as "undeliverable"; that is the network dropping a frame):
#  - every round ends (a lost used entry or a lost interrupt stalls a ring
#    and the loop's hang report prints the ring indices QEMU sees);
#  - TX (the card's counters asked of it on its control socket before it
#    stops, tools/lib/card_ctl.h): the frames the card took from the TX
#    ring ("from_guest") equal the
#    frames the guest driver saw completed (tx_packets): a used entry the
#    card lost leaves the driver one short and leaks a descriptor; and, once
#    the guest is idle, the TX ring's used.idx has caught up with avail.idx;
#  - RX: the frames the card put on the RX ring ("delivered") equal the
#    frames the driver received (rx_packets): a used entry lost there leaks
#    the buffer and the frame; an entry published twice shows as more;
#  - a last ping round after the loop gets every reply (a ring that stopped
#    working, or ran out of TX descriptors or RX buffers, fails it);
#  - no duplicate reply (a chain served twice), no checksum or header error
#    in the guest's stack (a reply written into a buffer the driver had taken
#    back), no "NETDEV WATCHDOG", tx timeout or broken virtqueue in the
#    guest's log, no drop or malformed chain in the card's counters, no
#    vhost-user request refused by the card, no vhost error from QEMU;
#  - each round's replies are a plausible share of its requests, and every
#    stop reached the card (GET_VRING_BASE on both rings, its --verbose log).
#
# -device virtio-net-pci,vectors=0: QEMU 7.2 under TCG dereferences a NULL
# pointer in msix_set_vector_notifiers when a vhost device starts with MSI-X
# (see vhost_user_qemu.sh).
#   STOPCONT_ROUNDS  rounds of traffic (default 3)
#   STOPCONT_CYCLES  stop/cont pairs per round (default 30)
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

QEMU=$(command -v qemu-system-x86_64 || true)
VPC=$BUILD/cv-vpc
MKINSTANCE=$BUILD/tests/tools/mkinstance
ROUNDS=${STOPCONT_ROUNDS:-3}
CYCLES=${STOPCONT_CYCLES:-30}
# Guest seconds of traffic per round.  The guest's clock stands still while
# QEMU is stopped, so 30 cycles (about 5 s of wall time, half of it stopped)
# take under 3 s of it: 8 s keep the round going past the last "cont".
SECS=8
MAC=02:00:0a:00:01:17
IP=10.0.1.23
GATEWAY=10.0.1.1
QOM=/machine/peripheral/net0/virtio-backend
vpc_pid='' qemu_pid='' loop_pid=''

cleanup() {
	local p
	for p in "$loop_pid" "$qemu_pid" "$vpc_pid"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] && echo "# kept $TMP"
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

what="vhost-user-net (cv-vpc) across QEMU stop/cont"
[ -n "$QEMU" ] || { skip "$what" "qemu-system-x86_64 not installed"; exit 0; }
for b in "$VPC" "$MKINSTANCE"; do
	[ -x "$b" ] || { not_ok "$what: $b is not built"; exit 0; }
done

# The guest's /init: the boot tests' initramfs (busybox, the kernel
# package's virtio modules, tests/boot/udhcpc.script) with its own /init
# that reports in "cvnet:" lines.
cat >"$TMP/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }
rounds=$(arg cvnet_rounds) secs=$(arg cvnet_time)
for m in $(grep -v '^#' /etc/cvboot/modules); do
	insmod "/lib/modules/$(uname -r)/kernel/$m" || echo "cvnet: insmod $m failed"
done
n=/sys/class/net/eth0
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	[ -e $n ] && break
	sleep 0.5
done
if udhcpc -i eth0 -n -q -t 5 -T 2 -s /etc/cvboot/udhcpc.script >/tmp/udhcpc.log 2>&1 &&
   [ -s /tmp/dhcp.env ]; then
	echo "cvnet: lease $(cat /tmp/dhcp.env)"
else
	echo "cvnet: no lease: $(tail -n 1 /tmp/udhcpc.log)"
fi
gw=$(sed -n 's/.* router=\([0-9.]*\).*/\1/p' /tmp/dhcp.env 2>/dev/null)
# pings FILE...: "sent=N got=N dup=N" summed over busybox ping summaries
# ("N packets transmitted, N packets received, +N duplicates, ...").
pings() {
	cat "$@" | awk '/packets transmitted/ {
		s += $1; g += $4
		for (i = 5; i <= NF; i++) if ($i ~ /^\+[0-9]+$/) d += substr($i, 2)
	} END { printf "sent=%d got=%d dup=%d\n", s, g, d }'
}
ping -q -c 3 -W 2 "$gw" >/tmp/warmup 2>&1
echo "cvnet: warmup $(pings /tmp/warmup)"
r=1
while [ "$r" -le "$rounds" ]; do
	echo "cvnet: round $r start"
	# -A: the next request as soon as the reply is in (a flood), else
	# after 50 ms; three streams keep several chains on each ring.
	for s in 56 512 1400; do
		ping -q -A -i 0.05 -s $s -w "$secs" "$gw" >/tmp/ping.$r.$s 2>&1 &
	done
	wait
	echo "cvnet: round $r done $(pings /tmp/ping.$r.*)"
	r=$((r + 1))
done
echo "cvnet: final start"
ping -q -c 40 -i 0.05 -W 2 "$gw" >/tmp/final 2>&1
echo "cvnet: final done $(pings /tmp/final)"
# Late replies (to requests that sat in a stopped ring) land within a
# second; after that nothing moves and the counters are final.
sleep 1
st() { cat $n/statistics/$1; }
echo "cvnet: counters tx_packets=$(st tx_packets) rx_packets=$(st rx_packets)" \
	"tx_errors=$(st tx_errors) rx_errors=$(st rx_errors)" \
	"tx_dropped=$(st tx_dropped) rx_dropped=$(st rx_dropped)"
# snmp FILE PROTO FIELD: one counter of /proc/net/snmp or netstat.
snmp() {
	awk -v p="$2:" -v f="$3" '$1 == p { if (!h) { for (i = 2; i <= NF; i++)
		if ($i == f) c = i; h = 1 } else print $c }' "$1"
}
echo "cvnet: stack ip_hdr_errors=$(snmp /proc/net/snmp Ip InHdrErrors)" \
	"ip_csum_errors=$(snmp /proc/net/netstat IpExt InCsumErrors)" \
	"icmp_in_errors=$(snmp /proc/net/snmp Icmp InErrors)" \
	"icmp_csum_errors=$(snmp /proc/net/snmp Icmp InCsumErrors)" \
	"echo_replies=$(snmp /proc/net/snmp Icmp InEchoReps)"
# The kernel's log at every level (the console shows only errors under
# "quiet"): a stalled TX queue, a used entry for a head the driver does not
# have (virtio_ring's BAD_RING, which marks the queue broken), virtio_net's
# receive errors.
dmesg | grep -E 'NETDEV WATCHDOG|timed out|out of range|not a head|Unexpected TXQ|rx error|bad gso|BUG:|WARNING:|Call Trace|Oops' |
	sed 's/^/cvnet: dmesg: /'
echo "cvnet: dmesg scanned"
# The host reads the rings now and quits QEMU; power off if it never does.
echo "cvnet: idle"
sleep 60
echo "cvnet: powering off"
poweroff -f
EOF
boot_prepare "$what" "$TMP/init"

# --- the card -----------------------------------------------------------------
mkdir -p "$CARDVISOR_RUNDIR"
"$MKINSTANCE" "$TMP/instance.dtb" --kernel "$BOOT_DIR/bzImage" \
	--nic "$TMP/vpc.sock,10.0.1.0/24,$IP,$MAC" >"$TMP/mkinstance.out" 2>&1 || {
	not_ok "$what: mkinstance: $(tail -n1 "$TMP/mkinstance.out")"
	exit 0
}
timeout --kill-after=5 400 "$VPC" --instance "$TMP/instance.dtb" --nic eni-0 --verbose "${CARD_JAIL[@]}" \
	>"$TMP/vpc.log" 2>&1 &
vpc_pid=$!
for _ in $(seq 100); do [ -S "$TMP/vpc.sock" ] && break; sleep 0.1; done
if [ -S "$TMP/vpc.sock" ]; then
	ok "cv-vpc serves its vhost-user-net socket"
else
	not_ok "cv-vpc serves $TMP/vpc.sock"
	sed 's/^/#   /' "$TMP/vpc.log"
	exit 0
fi

# --- the VM and the stop/cont loop --------------------------------------------
start=$EPOCHREALTIME
timeout --kill-after=5 300 "$QEMU" -machine q35,accel=tcg -m 256M -smp 1 \
	-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
	-chardev "socket,id=c0,path=$TMP/vpc.sock" -netdev vhost-user,id=n0,chardev=c0 \
	-device "virtio-net-pci,id=net0,netdev=n0,mac=$MAC,vectors=0" \
	-kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet ipv6.disable=1 cvnet_rounds=$ROUNDS cvnet_time=$SECS" \
	-no-reboot -nodefaults -display none -serial "file:$TMP/net.out" -monitor none \
	-qmp "unix:$TMP/net.qmp,server=on,wait=off" </dev/null >"$TMP/net.qemu" 2>&1 &
qemu_pid=$!
python3 tests/tools/qmp_stopcont.py "$TMP/net.qmp" "$TMP/net.out" "$ROUNDS" "$CYCLES" \
	'^cvnet: round {r} start' '^cvnet: round {r} done' "$QOM" >"$TMP/net.loop" 2>&1 &
loop_pid=$!
# The loop waits up to 10 minutes for a round to start: end it as soon as
# QEMU is gone (a guest that never got that far).
while kill -0 "$loop_pid" 2>/dev/null; do
	if ! kill -0 "$qemu_pid" 2>/dev/null; then
		sleep 1
		kill "$loop_pid" 2>/dev/null
		break
	fi
	sleep 0.2
done
wait "$loop_pid"
loop_rc=$?
loop_pid=

# Once the guest is idle: the ring indices QEMU sees (the loop's own
# helpers), then quit.  Only queues 0 and 1 are the card's; 2 is QEMU's
# control queue.
if [ "$loop_rc" = 0 ]; then
	timeout 90 python3 - "$TMP/net.qmp" "$TMP/net.out" "$QOM" >"$TMP/net.idle" 2>&1 <<'EOF'
import sys
sys.path.insert(0, "tests/tools")
import qmp_stopcont as q

qmp_path, console, qom = sys.argv[1:4]
if not q.wait_for(console, r"^cvnet: idle", 60):
    print("idle: the guest never got idle")
    sys.exit(1)
qmp = q.Qmp(qmp_path)
for i in (0, 1):
    ring = qmp.cmd("x-query-virtio-vhost-queue-status", path=qom, queue=i)
    print("idle: queue %d num=%d %s" % (i, ring["num"], q.ring_indices(qmp, ring)))
sys.stdout.flush()
try:
    qmp.cmd("quit")
except RuntimeError:
    pass  # QEMU may close the socket before its answer
EOF
else
	kill "$qemu_pid" 2>/dev/null
fi
wait "$qemu_pid"
echo $? >"$TMP/net.rc"
qemu_pid=
echo "# VM ran $(awk -v a="$EPOCHREALTIME" -v b="$start" 'BEGIN { printf "%.1f", a - b }') s wall"
# The card's counters, asked of it while it runs (tools/lib/card_ctl.h).
"$BUILD"/tests/tools/ctl_call "$TMP/vpc.sock.ctl" >"$TMP/vpc.stats" 2>&1
kill -TERM "$vpc_pid" 2>/dev/null
wait "$vpc_pid" 2>/dev/null
vpc_rc=$?
vpc_pid=
tr -d '\r' <"$TMP/net.out" >"$TMP/console"

# --- checks -------------------------------------------------------------------
# cvnet KEY: the guest's "cvnet: KEY ..." line, without its prefix.
cvnet() { grep -a -m1 "^cvnet: $1 " "$TMP/console" | sed "s/^cvnet: $1 //"; }
# field LINE NAME: NAME's number in "NAME=N" words.
field() { sed -n "s/.*\\b$2=\\([0-9]*\\).*/\\1/p" <<<"$1"; }
# guest_tail: the guest's last lines, once (several checks fail together).
tail_shown=
guest_tail() {
	[ -n "$tail_shown" ] && return
	tail_shown=1
	grep -av '^$' "$TMP/console" | tail -n 15 | sed 's/^/#   /'
}

lease=$(cvnet lease)
if [[ $lease == "ip=$IP mask=24 router=$GATEWAY "* ]]; then
	ok "the guest got its lease from the card ($lease)"
else
	not_ok "the guest got its lease from the card (${lease:-no lease line})"
	guest_tail
fi

for r in $(seq "$ROUNDS"); do
	line=$(grep -m1 "^stopcont: round $r " "$TMP/net.loop")
	if [[ $line == *" cycles=$CYCLES "*" overlapped=yes" ]]; then
		ok "round $r: $CYCLES stop/cont cycles while the guest pinged (${line#"stopcont: round $r "})"
	else
		not_ok "round $r: $CYCLES stop/cont cycles while the guest pinged (${line:-no report})"
		# The loop's hang report: the rings' indices as QEMU sees them.
		grep -v '^stopcont: round [0-9]* cycles' "$TMP/net.loop" | sed 's/^/#   /'
		guest_tail
		break
	fi
done

# Replies per round: the card answers every request it gets; what ping
# misses is mostly the requests in flight when -w ends it (their replies come
# after it exits; Icmp InEchoReps counts them).  Half is a bound no working
# ring misses; a duplicate is a chain served twice.
for r in $(seq "$ROUNDS"); do
	line=$(cvnet "round $r done")
	sent=$(field "$line" sent) got=$(field "$line" got) dup=$(field "$line" dup)
	if [ -n "$sent" ] && [ "$sent" -gt 0 ] && [ $((2 * got)) -ge "$sent" ] &&
	   [ "$dup" = 0 ]; then
		ok "round $r: replies to $got of $sent requests, no duplicate"
	else
		not_ok "round $r: replies and no duplicate (${line:-no \"round $r done\" line})"
	fi
done

line=$(cvnet "final done")
if [ -n "$line" ] && [ "$line" = "sent=40 got=40 dup=0" ]; then
	ok "after $((ROUNDS * CYCLES)) stop/cont cycles both rings still work: 40 of 40 pings answered"
else
	not_ok "after the stop/cont cycles both rings still work (${line:-no final ping line})"
	guest_tail
fi

counters=$(cvnet counters)
stack=$(cvnet stack)
# stat EXPR: one value of the card's counters by query, as Python reads
# the reply r; empty when the card did not answer.
stat() {
	python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' \
		"$TMP/vpc.stats" "$1" 2>/dev/null
}
echo "# guest: $counters"
echo "# guest: $stack"
echo "# card: $(head -c 400 "$TMP/vpc.stats")"
from_guest=$(stat "r['from_guest']")
delivered=$(stat "r['delivered']")
undeliverable=$(stat "r['undeliverable']")
dropped=$(stat "sum(r['drops'].values()) + r['virtio_net']['tx_bad'] + sum(r['virtio_net']['chains_dropped'].values())")
tx=$(field "$counters" tx_packets) rx=$(field "$counters" rx_packets)
if [ -n "$from_guest" ] && [ "$from_guest" = "$tx" ]; then
	ok "TX: every frame the card took from the ring came back to the driver ($tx)"
else
	not_ok "TX: the card took ${from_guest:-?} frames, the driver saw ${tx:-?} completed"
fi
if [ -n "$delivered" ] && [ "$delivered" = "$rx" ]; then
	ok "RX: every frame the card put on the ring reached the driver ($rx)"
else
	not_ok "RX: the card delivered ${delivered:-?} frames, the driver received ${rx:-?}"
fi
if [ "$dropped" = 0 ]; then
	ok "the card dropped nothing and found no malformed chain"
else
	not_ok "the card dropped nothing and found no malformed chain (${dropped:-no counters})"
	grep -av 'vhost-user' "$TMP/vpc.log" | tail -n 15 | sed 's/^/#   /'
fi
# A reply is undeliverable only when it finds the RX ring stopped or out of
# buffers.  QEMU pauses the vCPU before it stops the rings, so only the
# requests already on the TX ring can meet a stopped RX ring: at most one
# per stream per stop.  More means RX buffers went missing.
if [ -n "$undeliverable" ] && [ "$undeliverable" -le $((3 * ROUNDS * CYCLES)) ]; then
	ok "replies the card could not deliver: $undeliverable (at most 3 per stop)"
else
	not_ok "replies the card could not deliver: ${undeliverable:-?} (more than 3 per stop)"
fi
if [ -n "$counters" ] &&
   [[ $counters == *" tx_errors=0 rx_errors=0 tx_dropped=0 rx_dropped=0" ]] &&
   [[ $stack == "ip_hdr_errors=0 ip_csum_errors=0 icmp_in_errors=0 icmp_csum_errors=0 "* ]]; then
	ok "every frame arrived intact: no driver error or drop, no bad header or checksum"
else
	not_ok "every frame arrived intact (${counters:-no counters}; ${stack:-no stack line})"
fi

bad=$(grep -aE 'NETDEV WATCHDOG|timed out|out of range|not a head|Unexpected TXQ|rx error|bad gso|BUG:|WARNING:|Call Trace|Oops|^cvnet: dmesg:' \
	"$TMP/console")
if [ -z "$bad" ] && grep -aq '^cvnet: dmesg scanned' "$TMP/console"; then
	ok "the guest's kernel logged no TX timeout, watchdog or broken virtqueue"
else
	not_ok "the guest's kernel logged no TX timeout, watchdog or broken virtqueue"
	printf '%s\n' "${bad:-no \"cvnet: dmesg scanned\" line}" | head -n 20 | sed 's/^/#   /'
fi

# Idle rings: the driver has no TX chain left with the card, and its RX
# ring holds buffers (virtio_net refills only once more than 32 are free, so
# up to 32 may be missing; half is the bound).
txq=$(grep -m1 '^idle: queue 1 ' "$TMP/net.idle" 2>/dev/null)
rxq=$(grep -m1 '^idle: queue 0 ' "$TMP/net.idle" 2>/dev/null)
a=$(field "$txq" avail.idx) u=$(field "$txq" used.idx)
if [ -n "$a" ] && [ -n "$u" ] && [ "$a" = "$u" ]; then
	ok "idle TX ring: used.idx caught up with avail.idx ($a)"
else
	not_ok "idle TX ring: used.idx caught up with avail.idx (${txq:-no reading})"
	sed 's/^/#   /' "$TMP/net.idle" 2>/dev/null
fi
a=$(field "$rxq" avail.idx) u=$(field "$rxq" used.idx) num=$(field "$rxq" num)
held=$(((${a:-0} - ${u:-0}) & 0xffff))
if [ -n "$a" ] && [ -n "$u" ] && [ -n "$num" ] && [ "$held" -le "$num" ] &&
   [ "$held" -ge $((num / 2)) ]; then
	ok "idle RX ring: the card holds $held of $num buffers"
else
	not_ok "idle RX ring: the card holds its buffers (${rxq:-no reading})"
fi

check "QEMU exited cleanly (exit status $(cat "$TMP/net.rc"))" [ "$(cat "$TMP/net.rc")" = 0 ]
check "the card ran until it was told to stop (exit status $vpc_rc)" [ "$vpc_rc" = 0 ]
check "the card refused no vhost-user request" \
	bash -c "! grep -q 'refused' '$TMP/vpc.log'"
# The card logs each request (--verbose): every "stop" must have reached it
# as GET_VRING_BASE on both rings, or the loop stopped nothing that matters.
stops=$(grep -ac 'GET_VRING_BASE' "$TMP/vpc.log")
check "every stop reached the card: GET_VRING_BASE $stops times for $((ROUNDS * CYCLES)) stops of 2 rings" \
	[ "$stops" -ge $((2 * ROUNDS * CYCLES)) ]
check "QEMU reported no vhost or virtio error" \
	bash -c "! grep -qiE 'vhost|virtio' '$TMP/net.qemu'"
