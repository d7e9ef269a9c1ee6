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
