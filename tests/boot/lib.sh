# SPDX-License-Identifier: Apache-2.0
# Shared by the stock-kernel boot tests (tests/integration/stock_linux.sh
# under cv-hv, boot_qemu.sh under QEMU), sourced after
# tests/integration/lib.sh: the kernel and initramfs they boot, and the TAP
# lines for what the guest's /init (tests/boot/init) reports.

BOOT_DIR=$BUILD/boot

# boot_prepare WHAT [INIT]: fetches the kernel into $BOOT_DIR (cached) and
# builds $TMP/initramfs.cpio with the package's modules and INIT (default
# tests/boot/init) as /init.  Offline or without the tools it prints a SKIP
# for WHAT and exits the test; any other failure is a "not ok".
boot_prepare() {
	local what=$1 debs
	boot_step "$what" "fetching the kernel" tests/boot/fetch-kernel.sh "$BOOT_DIR"
	debs=("$BOOT_DIR"/linux-image-*.deb)
	INIT=${2:-tests/boot/init} boot_step "$what" "building the initramfs" \
		tests/boot/make-initramfs.sh "$TMP/initramfs.cpio" "${debs[0]}"
	echo "# kernel: $(cat "$BOOT_DIR/version")"
}

# boot_step WHAT STEP COMMAND...: exit status 77 is the scripts' "skip".
boot_step() {
	local what=$1 step=$2 rc=0
	shift 2
	"$@" 2>"$TMP/prepare.err" || rc=$?
	[ "$rc" = 0 ] && return 0
	if [ "$rc" = 77 ]; then
		skip "$what" "$(tail -n1 "$TMP/prepare.err")"
	else
		not_ok "$what: $step failed (exit $rc)"
		sed 's/^/#   /' "$TMP/prepare.err"
	fi
	exit 0
}

# net_init FILE TAG: the head of an /init (busybox sh) that brings up a
# stock kernel's virtio_net on a vhost-user-net back-end: mounts, the
# modules in dependency order (modinfo -F depends), eth0 (up to 10 s) in
# $n and the features its driver negotiated printed as "TAG: features=BITS"
# (bit 0 first).  The caller appends the rest.
net_init() {
	cat >"$1" <<EOF
#!/bin/sh
/bin/busybox --install -s 2>/dev/null
export PATH=/bin
mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
exec </dev/console >/dev/console 2>&1
for m in failover net_failover virtio_ring virtio virtio_pci_legacy_dev \\
	virtio_pci_modern_dev virtio_pci virtio_net; do
	insmod "\$(find /lib/modules -name "\$m.ko")" || echo "$2: insmod \$m failed"
done
n=/sys/class/net/eth0
for i in 1 2 3 4 5 6 7 8 9 10; do [ -e \$n ] && break; sleep 1; done
echo "$2: features=\$(cat \$n/device/features)"
EOF
}

# cvboot_check NAME CHECK DESCRIPTION [REGEX]: one TAP line from the
# guest's "cvboot: check CHECK ok|fail DETAIL" line in $TMP/NAME.out, whose
# DETAIL must match REGEX.
cvboot_check() {
	local line
	line=$(tr -d '\r' <"$TMP/$1.out" | grep -a -m1 "^cvboot: check $2 ")
	if [[ $line == "cvboot: check $2 ok "* ]] &&
	   grep -qE -- "${4:-.}" <<<"${line#"cvboot: check $2 ok "}"; then
		ok "$3 (${line#"cvboot: check $2 ok "})"
	else
		not_ok "$3 (${line:-no \"cvboot: check $2\" line})"
		[ -n "$line" ] || tr -d '\r' <"$TMP/$1.out" | grep -av '^$' | tail -n 15 |
			sed 's/^/#   /'
	fi
}

# cvboot_net_checks NAME IPV4 GATEWAY INSTANCE-ID: what cvboot=net reports,
# against what the VPC card must have answered.
cvboot_net_checks() {
	cvboot_check "$1" modules "the kernel's own virtio modules load"
	cvboot_check "$1" eth0 "eth0 appears, driven by the kernel's virtio_net" 'driver=virtio_net'
	cvboot_check "$1" dhcp "DHCP lease from cv-vpc: the ENI's address, gateway .1, MTU 1450" \
		"ip=${2//./\\.} mask=24 router=${3//./\\.} mtu=1450 "
	cvboot_check "$1" ping "the guest pings the gateway $3, answered by the card" \
		'3 packets received'
	cvboot_check "$1" imds "the metadata service at 169.254.169.254 gives the instance id" \
		"instance-id=$4\$"
}

# cvboot_sha256: the checksum of the file /init writes.
cvboot_sha256() { seq 1 200000 | sha256sum | cut -d' ' -f1; }

# cvboot_volume_checks NAME DISK VOLUME-ID: what cvboot=mkfs reports.  The
# card gives the volume id without its dash as the serial, on either face.
cvboot_volume_checks() {
	cvboot_check "$1" disk "the guest finds its volume as $2, serial ${3/-/}" \
		"^$2 [0-9]+ MiB serial=${3/-/}\$"
	cvboot_check "$1" mkfs "mke2fs on the volume"
	cvboot_check "$1" write "the guest writes a file and syncs"
	cvboot_check "$1" readback "the file reads back from the volume with its checksum" \
		"sha256=$(cvboot_sha256)\$"
}

# vblk_card_start SIZE|id=VOL [EBS-ARGS...]: a volume of SIZE in a volume
# store under $TMP, as `cardvisor run --volume` would make it (or volume
# VOL already there, with CARDVISOR_STATE=$TMP/state), a cv-storaged
# serving it on a free port of 127.0.0.1, and cv-ebs serving it on its
# vhost-user-blk face at $TMP/vblk.sock (for a QEMU front-end; no launcher
# writes an instance description for one, tests/tools/mkinstance does).
# Sets vol, volfile, storaged_pid and ebs_pid (cv-ebs's log: $TMP/ebs.log);
# vblk_card_stop ends both.  Any failure is a "not ok" and ends the test.
vblk_card_start() {
	local size=$1 port
	shift
	export CARDVISOR_STATE=$TMP/state
	port=$(tests/tools/free_port.py)
	if [[ $size == id=* ]]; then
		vol=${size#id=}
	else
		vol=$("$BUILD/cardvisor" volume create --size "$size" 2>"$TMP/volume.err")
		check "cardvisor volume create made a volume ($vol)" test -n "$vol"
		[ -n "$vol" ] || { sed 's/^/#   /' "$TMP/volume.err"; exit 0; }
	fi
	volfile=$CARDVISOR_STATE/volumes/$vol.vol
	timeout --kill-after=5 1200 "$BUILD/cv-storaged" --dir "$CARDVISOR_STATE/volumes" \
		--listen "127.0.0.1:$port" --pidfile "$TMP/storaged.pid" >"$TMP/storaged.log" 2>&1 &
	storaged_pid=$!
	for _ in $(seq 100); do [ -s "$TMP/storaged.pid" ] && break; sleep 0.1; done
	check "cv-storaged listens on 127.0.0.1:$port" test -s "$TMP/storaged.pid"
	CARDVISOR_STORAGED=127.0.0.1:$port "$BUILD/tests/tools/mkinstance" "$TMP/instance.dtb" \
		--kernel "$BOOT_DIR/bzImage" --volume "$TMP/vblk.sock,id=$vol" \
		--storaged "$BUILD/cv-storaged" >"$TMP/mkinstance.out" 2>&1
	check "an instance description with face = vhost-user-blk" test -s "$TMP/instance.dtb"
	vblk_card_restart "$@"
	if [ -S "$TMP/vblk.sock" ]; then
		ok "cv-ebs connected to cv-storaged and listens for a vhost-user front-end"
	else
		not_ok "cv-ebs serves $TMP/vblk.sock"
		sed 's/^/#   /' "$TMP/ebs.log"
		exit 0
	fi
}

# vblk_qemu NAME QUEUES WORDS: Debian's kernel under QEMU (TCG, 256 MiB)
# with $TMP/initramfs.cpio and the card's volume as vhost-user-blk-pci, on
# QUEUES vCPUs and virtqueues; WORDS join the kernel command line.  Console
# in $TMP/NAME.out, QEMU's exit status in $TMP/NAME.rc.  vectors=0: see
# ebs_vhost_blk.sh (QEMU 7.2 under TCG and MSI-X on a vhost device).
vblk_qemu() {
	timeout --kill-after=5 "$VM_TIMEOUT" "$QEMU" -machine q35,accel=tcg -m 256M -smp "$2" \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-chardev "socket,id=c0,path=$TMP/vblk.sock" \
		-device "vhost-user-blk-pci,chardev=c0,num-queues=$2,vectors=0" \
		-kernel "$BOOT_DIR/bzImage" -initrd "$TMP/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 quiet $3" -no-reboot -display none \
		-serial stdio -monitor none </dev/null >"$TMP/$1.out" 2>&1
	echo $? >"$TMP/$1.rc"
}

# vblk_card_restart [EBS-ARGS...]: (another) cv-ebs for the same volume,
# its log appended to $TMP/ebs.log; returns once its socket is there.
# ebs_pid is the time limit's pid; vblk_card_pid prints cv-ebs's own.
vblk_card_restart() {
	rm -f "$TMP/vblk.sock"
	timeout --kill-after=5 1200 "$BUILD/cv-ebs" --instance "$TMP/instance.dtb" \
		--volume "$vol" --verbose "$@" "${CARD_JAIL[@]}" >>"$TMP/ebs.log" 2>&1 &
	ebs_pid=$!
	for _ in $(seq 100); do [ -S "$TMP/vblk.sock" ] && break; sleep 0.1; done
}

vblk_card_pid() {
	cat "/proc/$ebs_pid/task/$ebs_pid/children" 2>/dev/null | awk '{ print $1 }'
}

# vblk_test_begin WHAT: what the vhost-user-blk tests under QEMU share
# before their volume: $QEMU (without it, a SKIP line for WHAT and the
# end), this build's cardvisor, cv-storaged and cv-ebs, and a clean-up at
# exit that stops the card and its storage node and removes $TMP (kept
# with KEEP_TMP set).
vblk_test_begin() {
	QEMU=$(command -v qemu-system-x86_64 || true)
	trap vblk_test_cleanup EXIT
	[ -n "$QEMU" ] || { skip "$1" "qemu-system-x86_64 not installed"; exit 0; }
	for b in cardvisor cv-storaged cv-ebs; do
		[ -x "$BUILD/$b" ] || { not_ok "$b built ($BUILD/$b missing)"; exit 0; }
	done
}
# shellcheck disable=SC2317  # called by the trap
vblk_test_cleanup() {
	vblk_card_stop
	[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"
}

vblk_card_stop() {
	[ -n "${ebs_pid:-}" ] && kill "$ebs_pid" 2>/dev/null
	[ -n "${storaged_pid:-}" ] && kill "$storaged_pid" 2>/dev/null
	wait 2>/dev/null
	ebs_pid= storaged_pid=
}
