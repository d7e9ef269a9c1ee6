#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The VPC card's vhost-user-net back-end under QEMU's vhost-user front-end
# with a real Linux virtio-net driver: Debian's stock kernel (the one the
# stock boot test fetches) boots under TCG from an initramfs built here,
# loads virtio_net, brings eth0 up and pings; tests/tools/vnet_echo serves
# the socket and echoes every frame, so the guest's own frames come back.
# Checked: QEMU's handshake and memory table, the features the guest
# driver ends up with, frames both ways, and a second VM reconnecting to
# the same back-end after the first powered off.
#
# -device virtio-net-pci,vectors=0: QEMU 7.2 under TCG dereferences a NULL
# pointer in msix_set_vector_notifiers when a vhost device starts with
# MSI-X (no irqfd without KVM); with INTx the same path works.
set -u
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/boot/lib.sh
. tests/boot/lib.sh

ECHO=$BUILD/tests/tools/vnet_echo
QEMU=$(command -v qemu-system-x86_64 || true)
echo_pid=

cleanup() {
	[ -n "$echo_pid" ] && kill "$echo_pid" 2>/dev/null
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT

what="QEMU vhost-user front-end with a Linux guest"
[ -n "$QEMU" ] || { skip "$what" "qemu-system-x86_64 not installed"; exit 0; }
[ -x "$ECHO" ] || { not_ok "vnet_echo built ($ECHO missing)"; exit 0; }
# The initramfs the boot tests use (busybox, the kernel package's virtio
# modules) with an /init that reports in "cvnet:" lines and powers off.
net_init "$TMP/init" cvnet
cat >>"$TMP/init" <<'EOF'
ip link set eth0 up
ip addr add 10.9.0.2/24 dev eth0
ping -c 3 -W 1 10.9.0.1 >/dev/null 2>&1
echo "cvnet: tx=$(cat $n/statistics/tx_packets) rx=$(cat $n/statistics/rx_packets)"
poweroff -f
EOF
boot_prepare "$what" "$TMP/init"

rm -f "$TMP/vu.sock"
VERBOSE=1 timeout --kill-after=5 600 "$ECHO" "$TMP/vu.sock" >"$TMP/echo.out" 2>&1 &
echo_pid=$!
for _ in $(seq 50); do [ -S "$TMP/vu.sock" ] && break; sleep 0.1; done

# boot NAME: one VM on the back-end, console in $TMP/NAME.out.
boot_vm() {
	timeout --kill-after=5 "$VM_TIMEOUT" "$QEMU" -machine q35,accel=tcg -m 256M -smp 1 \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-chardev "socket,id=c,path=$TMP/vu.sock" -netdev vhost-user,id=n,chardev=c \
		-device virtio-net-pci,netdev=n,mac=52:54:00:12:34:56,vectors=0 \
		-kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet" -no-reboot -display none \
		-serial stdio -monitor none </dev/null >"$TMP/$1.out" 2>&1
	echo $? >"$TMP/$1.rc"
}

# guest_stat NAME KEY: tx or rx as the guest counted them.
guest_stat() {
	sed -n "s/.*cvnet: tx=\([0-9]*\) rx=\([0-9]*\).*/\1 \2/p" "$TMP/$1.out" |
		awk -v k="$2" '{ print (k == "tx") ? $1 : $2; exit }'
}

check_vm() { # NAME WHAT
	local rc tx rx features
	rc=$(cat "$TMP/$1.rc")
	features=$(sed -n 's/.*cvnet: features=\([01]*\).*/\1/p' "$TMP/$1.out")
	tx=$(guest_stat "$1" tx) rx=$(guest_stat "$1" rx)
	check "$2: QEMU ran the guest to power-off (exit $rc)" [ "$rc" = 0 ]
	# /sys/.../features: one character per bit, bit 0 first.
	# Transmit offloads (CSUM 0, HOST_TSO4 11, HOST_TSO6 12) negotiated,
	# none for receive (GUEST_CSUM 1, GUEST_TSO4 7): cards/vpc/vnet.h.
	if [ "${features:15:1}" = 1 ] && [ "${features:32:1}" = 1 ] &&
	   [ "${features:0:1}" = 1 ] && [ "${features:11:1}" = 1 ] && [ "${features:12:1}" = 1 ] &&
	   [ "${features:1:1}" = 0 ] && [ "${features:7:1}" = 0 ]; then
		ok "$2: the guest driver runs VERSION_1 + MRG_RXBUF with CSUM and HOST_TSO4/6, no receive offload"
	else
		not_ok "$2: guest features '${features}'"
		grep -v '^busybox' "$TMP/$1.out" | tail -n 15 | sed 's/^/#   /'
	fi
	if [ "${tx:-0}" -gt 0 ] && [ "${rx:-0}" -gt 0 ]; then
		ok "$2: the guest sent $tx frames and received $rx back"
	else
		not_ok "$2: guest tx '${tx}' rx '${rx}'"
		grep -v '^busybox' "$TMP/$1.out" | tail -n 15 | sed 's/^/#   /'
	fi
}

boot_vm first
check_vm first "first VM"
boot_vm second
check_vm second "second VM on the same back-end"

kill -TERM "$echo_pid" 2>/dev/null
wait "$echo_pid" 2>/dev/null
echo_pid=
stats=$(grep '^vnet_echo: connects' "$TMP/echo.out")
check "QEMU set up the memory table and rings without a refusal" \
	grep -q 'SET_MEM_TABLE (5) size [0-9]* fds [0-9]*: ok' "$TMP/echo.out"
check "back-end served both VMs, refused nothing ($stats)" \
	grep -q '^vnet_echo: connects 2 tx [1-9][0-9]* rx [1-9][0-9]* rx_dropped [0-9]* tx_bad 0 rejected 0$' \
	"$TMP/echo.out"
