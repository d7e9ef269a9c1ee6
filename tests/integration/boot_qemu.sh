#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The cards serve QEMU too: Debian's stock cloud kernel (the one
# stock_linux.sh boots under cv-hv) runs under QEMU 7.2 with its own
# virtio_net driver on `-netdev vhost-user` to a real cv-vpc, guest RAM from
# memory-backend-memfd,share=on (vhost-user maps guest RAM through the
# memfd).  The initramfs's /init (tests/boot/init, cvboot=net) loads the
# kernel's modules, takes a DHCP lease from the card, pings the gateway and
# fetches its instance id from 169.254.169.254; each is one TAP line here.
# The cards' instance description comes from tests/tools/mkinstance
# (cardvisor launches only cv-hv).
#
# Accelerator: BOOT_QEMU_ACCEL=kvm|tcg; by default kvm where /dev/kvm is
# hardware-assisted, else tcg (this kernel reaches user space in ~2 s under
# TCG on the project's machines, minutes on their software KVM).
# Under TCG, -device virtio-net-pci,vectors=0: QEMU 7.2 dereferences a NULL
# pointer in msix_set_vector_notifiers when a vhost device starts with MSI-X
# and no irqfd (see vhost_user_qemu.sh); INTx takes the same path safely.
#
# With cv-ebs's vhost-user-blk face (cards/ebs/vblk.c; until it exists a
# SKIP line says so) the guest also gets a new volume as
# vhost-user-blk-pci, makes a filesystem on it with the kernel's virtio_blk
# and writes a file (cvboot=mkfs); a second VM with a new cv-ebs on the same
# volume and the same cv-storaged reads the file back (cvboot=verify).
#   BOOT_QEMU_TIMEOUT   limit per QEMU run (default 300 s)
#   BOOT_QEMU_CPU       -cpu model (default max; the project's software KVM
#                       refuses max's MSR 0x10a, qemu64 runs there)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../boot/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
BOOT_QEMU_TIMEOUT=${BOOT_QEMU_TIMEOUT:-300}
BOOT_QEMU_CPU=${BOOT_QEMU_CPU:-max}
VPC=$BUILD/cv-vpc
EBS=$BUILD/cv-ebs
MKINSTANCE=$BUILD/tests/tools/mkinstance
MAC=02:00:0a:00:01:17
SUBNET=10.0.1.0/24
IP=10.0.1.23
GATEWAY=10.0.1.1
# The volume store and cv-storaged of this test alone (as in ebs.sh).
export CARDVISOR_STATE=$TMP/state
port=$(tests/tools/free_port.py)
export CARDVISOR_STORAGED=127.0.0.1:$port
STORAGED_PID=$CARDVISOR_RUNDIR/storaged/pid
cards=()

cleanup() {
	local p
	for p in "${cards[@]}"; do kill "$p" 2>/dev/null; done
	[ -s "$STORAGED_PID" ] && kill -9 "$(cat "$STORAGED_PID")" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

what="stock kernel under QEMU with the cards"
command -v "$QEMU" >/dev/null || { skip "$what" "$QEMU is not installed"; exit 0; }
for b in "$VPC" "$MKINSTANCE"; do
	[ -x "$b" ] || { not_ok "$what: $b is not built"; exit 0; }
done
vblk=0
[ -e cards/ebs/vblk.c ] && [ -x "$EBS" ] && vblk=1
mkdir -p "$CARDVISOR_RUNDIR"
boot_prepare "$what"

accel=${BOOT_QEMU_ACCEL:-}
if [ -z "$accel" ]; then
	if have_kvm && grep -qwE 'vmx|svm' /proc/cpuinfo; then accel=kvm; else accel=tcg; fi
fi
vectors=
[ "$accel" = tcg ] && vectors=,vectors=0
echo "# accelerator: $accel, cpu $BOOT_QEMU_CPU"

# card_start LOG SOCKET BINARY ARGS...: one card in the background, until
# it serves SOCKET; its log in $TMP/LOG.log, its pid last in ${cards[@]}.
card_start() {
	local log=$1 sock=$2
	shift 2
	timeout --kill-after=5 $((2 * BOOT_QEMU_TIMEOUT + 60)) "$@" --verbose \
		>"$TMP/$log.log" 2>&1 &
	cards+=($!)
	for _ in $(seq 100); do [ -S "$sock" ] && return 0; sleep 0.1; done
	not_ok "$what: ${1##*/} serves $sock"
	grep -av 'vhost-user' "$TMP/$log.log" | tail -n 15 | sed 's/^/#   /'
	exit 0
}
# qemu_boot NAME CVBOOT QEMU-ARGS...: one VM, console in $TMP/NAME.out,
# exit status in $TMP/NAME.rc, wall time to the first console line and to
# /init printed.
qemu_boot() {
	local name=$1 checks=$2 start pid m
	shift 2
	start=$EPOCHREALTIME
	: >"$TMP/$name.seen"
	timeout --kill-after=5 "$BOOT_QEMU_TIMEOUT" "$QEMU" -machine q35 -accel "$accel" \
		-cpu "$BOOT_QEMU_CPU" -m 512M -smp 1 \
		-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
		"$@" -kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 ipv6.disable=1 cvboot=$checks" \
		-no-reboot -nodefaults -display none -serial stdio -monitor none \
		</dev/null >"$TMP/$name.out" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for m in "Linux version" "cvboot: init reached"; do
			grep -qF "$m	" "$TMP/$name.seen" && continue
			grep -aqF "$m" "$TMP/$name.out" &&
				awk -v m="$m" -v a="$EPOCHREALTIME" -v b="$start" \
					'BEGIN { printf "%s\t%.2f\n", m, a - b }' >>"$TMP/$name.seen"
		done
		sleep 0.05
	done
	wait "$pid"
	echo $? >"$TMP/$name.rc"
	while IFS=$'\t' read -r m t; do
		echo "# $name: \"$m\" after $t s wall"
	done <"$TMP/$name.seen"
	tr -d '\r' <"$TMP/$name.out" | grep -a -m1 '^cvboot: kernel=' |
		sed "s/^cvboot: /# $name: \/init at /"
	if ! grep -aq '^cvboot: init reached' <(tr -d '\r' <"$TMP/$name.out"); then
		not_ok "$what: $name: /init reached under QEMU ($accel), exit status" \
			"$(cat "$TMP/$name.rc")"
		tr -d '\r' <"$TMP/$name.out" | grep -av '^$' | tail -n 15 | sed 's/^/#   /'
		exit 0
	fi
}

# --- first VM: cv-vpc, and cv-ebs with a new volume --------------------------
args=(--kernel "$BOOT_DIR/bzImage" --nic "$TMP/vpc.sock,$SUBNET,$IP,$MAC")
[ "$vblk" = 1 ] && args+=(--volume "$TMP/blk.sock,size=64M" --storaged "$BUILD/cv-storaged")
ids=$("$MKINSTANCE" "$TMP/first.dtb" "${args[@]}" 2>"$TMP/mkinstance.err") || {
	not_ok "$what: mkinstance $(tail -n1 "$TMP/mkinstance.err")"
	exit 0
}
id=$(sed -n 1p <<<"$ids")
vol=$(sed -n 2p <<<"$ids")
card_start vpc "$TMP/vpc.sock" "$VPC" --instance "$TMP/first.dtb" --nic eni-0 "${CARD_JAIL[@]}"
vpc_pid=${cards[-1]}
devices=(-chardev "socket,id=vpc,path=$TMP/vpc.sock" -netdev vhost-user,id=n0,chardev=vpc
	 -device "virtio-net-pci,netdev=n0,mac=$MAC$vectors")
checks=net
if [ "$vblk" = 1 ]; then
	card_start ebs "$TMP/blk.sock" "$EBS" --instance "$TMP/first.dtb" --volume "$vol" "${CARD_JAIL[@]}"
	ebs_pid=${cards[-1]}
	devices+=(-chardev "socket,id=blk,path=$TMP/blk.sock"
		  -device "vhost-user-blk-pci,chardev=blk$vectors")
	checks=net,mkfs
fi

qemu_boot first "$checks" "${devices[@]}"
ok "QEMU ($accel) booted the stock kernel to /init on the cards' vhost-user back-ends"
cvboot_net_checks first "$IP" "$GATEWAY" "$id"
[ "$vblk" = 1 ] && cvboot_volume_checks first vda "$vol"
check "the guest powered off (QEMU exit status 0)" [ "$(cat "$TMP/first.rc")" = 0 ]

# The card's counters, asked of it while it runs (tools/lib/card_ctl.h).
# Everything the guest sent was the card's to answer (DHCP, ARP, ping of the
# gateway, the metadata service, whose last ACK ends in the card too).
counters=$("$BUILD"/tests/tools/ctl_call "$TMP/vpc.sock.ctl" 2>&1)
kill -TERM "$vpc_pid" 2>/dev/null
wait "$vpc_pid" 2>/dev/null
json_check "cv-vpc answered the guest and dropped nothing (its counters by query)" "$counters" \
	'r["ok"] and r["answered"] > 0 and r["delivered"] > 0 and r["undeliverable"] == 0
	and not any(r["drops"].values()) and r["virtio_net"]["tx_bad"] == 0' ||
	grep -av 'vhost-user' "$TMP/vpc.log" | tail -n 15 | sed 's/^/#   /'
echo "# cv-vpc: ${counters:0:200}"

if [ "$vblk" = 0 ]; then
	skip "stock kernel under QEMU: volume checks over vhost-user-blk" \
		"cv-ebs has no vhost-user-blk face yet (cards/ebs/vblk.c)"
	exit 0
fi

# --- second VM: a new cv-ebs on the same volume, the same cv-storaged --------
kill -TERM "$ebs_pid" 2>/dev/null
wait "$ebs_pid" 2>/dev/null
"$MKINSTANCE" "$TMP/second.dtb" --kernel "$BOOT_DIR/bzImage" \
	--volume "$TMP/blk2.sock,id=$vol" --storaged "$BUILD/cv-storaged" \
	>/dev/null 2>"$TMP/mkinstance.err" || {
	not_ok "$what: mkinstance for the second VM: $(tail -n1 "$TMP/mkinstance.err")"
	exit 0
}
card_start ebs2 "$TMP/blk2.sock" "$EBS" --instance "$TMP/second.dtb" --volume "$vol" "${CARD_JAIL[@]}"
qemu_boot second verify -chardev "socket,id=blk,path=$TMP/blk2.sock" \
	-device "vhost-user-blk-pci,chardev=blk$vectors"
cvboot_check second persisted \
	"second VM, new cv-ebs, same cv-storaged: the file on $vol is intact" \
	"sha256=$(cvboot_sha256)\$"
check "the second guest powered off (QEMU exit status 0)" [ "$(cat "$TMP/second.rc")" = 0 ]
