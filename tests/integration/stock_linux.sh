#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots Debian's stock cloud kernel (linux-image-cloud-amd64) with a busybox
# initramfs under cv-hv, via PVH (vmlinux) and via the 64-bit boot protocol
# (bzImage), and reports how far it got.  On hardware KVM the PVH boot must
# reach /init and power off; on a software KVM (no VT-x/AMD-V) it goes as far
# as that KVM's instruction emulator allows, and the test records where it
# stopped as a SKIP.  See docs/kvm-hosts.md.
#   STOCK_BOOT_TIMEOUT     limit for the full PVH boot (default 600 s)
#   STOCK_BZIMAGE_TIMEOUT  limit for the bzImage entry check (default 120 s)
. "$(dirname "$0")/lib.sh"

STOCK_BOOT_TIMEOUT=${STOCK_BOOT_TIMEOUT:-600}
STOCK_BZIMAGE_TIMEOUT=${STOCK_BZIMAGE_TIMEOUT:-120}
boot=$BUILD/boot
# earlyprintk: the console shows how far the kernel got even when it stops
# before the 8250 driver registers.  panic=-1: a panic ends the VM at once
# instead of leaving it to the timeout.
cmdline="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1"

if ! have_kvm; then
	skip "stock kernel boot" "/dev/kvm is not usable here"
	exit 0
fi
# prepare WHAT COMMAND...: exit 77 from a step is a SKIP (offline, no deps).
prepare() {
	local what=$1 rc=0
	shift
	"$@" 2>"$TMP/prepare.err" || rc=$?
	[ "$rc" = 0 ] && return 0
	if [ "$rc" = 77 ]; then
		skip "stock kernel boot" "$(tail -n1 "$TMP/prepare.err")"
	else
		not_ok "stock kernel boot: $what failed (exit $rc)"
		sed 's/^/#   /' "$TMP/prepare.err"
	fi
	exit 0
}
prepare "fetching the kernel" tests/boot/fetch-kernel.sh "$boot"
prepare "building the initramfs" tests/boot/make-initramfs.sh "$boot/initramfs.cpio"
echo "# kernel: $(cat "$boot/version")"

if grep -qwE 'vmx|svm' /proc/cpuinfo; then
	hw_kvm=1; echo "# host KVM: hardware-assisted (VT-x/AMD-V)"
else
	hw_kvm=0; echo "# host KVM: software (no vmx/svm in /proc/cpuinfo)"
fi

# cv-hv's own log lines ("[ts] cv-hv: info: ...") share the output with the
# guest console; everything else is what the guest printed.
hv_log='^\[ *[0-9]+\.[0-9]+\] [a-z-]+: (error|warn|info|debug): '

console_of() {
	tr -d '\r' <"$TMP/$1.out" | grep -avE "$hv_log|^# $1: timed out" | grep -av '^[[:space:]]*$'
}
# The last line the kernel or /init printed (timestamped, or "cvboot:"),
# else whatever came last.
last_console_line() {
	local lines
	lines=$(console_of "$1")
	{ grep -aE '^\[ *[0-9]+\.[0-9]+\] |^cvboot: ' <<<"$lines" || echo "$lines"; } |
		tail -n1 | cut -c1-200
}
# The first error cv-hv logged, without its timestamp and tag.
stop_error() {
	grep -aE "$hv_log" "$TMP/$1.out" | grep -a -m1 ': error: ' |
		sed -E 's/^\[[^]]*\] [a-z-]+: error: //'
}
# The reason on cv-hv's last line, "stopped (REASON), exit status N".
stop_reason() {
	grep -aoP ': stopped \(\K.*(?=\), exit status)' "$TMP/$1.out" | tail -n1
}
# kernel_time LINE: the kernel's printk timestamp on LINE.
kernel_time() { sed -nE 's/^\[ *([0-9]+\.[0-9]+)\].*/\1/p' <<<"$1"; }
# insn_at RIP: the instruction at a kernel address, read from the vmlinux
# (a PVH boot runs the kernel at its link address).  KVM's emulator may
# report only the bytes it managed to decode, so this names the rest.
insn_at() {
	objdump -d --no-show-raw-insn --start-address="$1" --stop-address=$(($1 + 15)) \
		"$boot/vmlinux" 2>/dev/null | grep -m1 -E "^ *${1#0x}:" | cut -f2- | tr -s ' \t' ' '
}

# boot_vm NAME LIMIT MARKER... -- RUN_ARGS...: run_vm in the background,
# noting the wall time (s) at which each MARKER first shows in the output.
boot_vm() {
	local name=$1 limit=$2 markers=() start=$SECONDS pid m t
	shift 2
	while [ "$1" != -- ]; do markers+=("$1"); shift; done
	shift

	: >"$TMP/$name.out"
	: >"$TMP/$name.seen"
	VM_TIMEOUT=$limit run_vm "$name" "$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for m in "${markers[@]}"; do
			grep -qF "$m	" "$TMP/$name.seen" && continue
			grep -aqF -- "$m" "$TMP/$name.out" &&
				printf '%s\t%s\n' "$m" $((SECONDS - start)) >>"$TMP/$name.seen"
		done
		sleep 1
	done
	wait "$pid"
	echo "# $name: cardvisor exit status $(rc_of "$name") after $((SECONDS - start)) s wall"
	while IFS=$'\t' read -r m t; do
		echo "# $name: \"$m\" after ${t} s wall, kernel time" \
			"$(kernel_time "$(console_of "$name" | grep -aF -m1 -- "$m")") s"
	done <"$TMP/$name.seen"
	t=$(kernel_time "$(last_console_line "$name")")
	[ -z "$t" ] || echo "# $name: last kernel line at kernel time $t s"
	grep -aoE 'quirks used: .*' "$TMP/$name.out" | sed "s/^/# $name: /"
	# Kept for whoever reads the result (CI artefact, docs/kvm-hosts.md).
	cp "$TMP/$name.out" "$boot/stock-$name.log"
	echo "# $name: full output in $boot/stock-$name.log"
}

markers=("Linux version" "x86/fpu:" "Memory:" "smp: Brought up" "Trying to unpack rootfs"
	 "Run /init" "cvboot: init reached" "reboot: Power down")

# --- PVH: the vmlinux, the whole way to /init and power-off -------------------
boot_vm pvh "$STOCK_BOOT_TIMEOUT" "${markers[@]}" -- \
	--kernel "$boot/vmlinux" --initrd "$boot/initramfs.cpio" \
	--vcpus 2 --mem 512M --cmdline "$cmdline"

expect pvh "stock kernel: cv-hv reached the kernel's first console line" 'Linux version [0-9]'
if grep -aq '^cvboot: init reached' <(tr -d '\r' <"$TMP/pvh.out"); then
	ok "stock kernel boot: init reached"
	expect pvh "stock kernel boot: /init sees 2 CPUs" '^cvboot: cpus=2'
	expect_rc pvh "stock kernel boot: powered off, exit status 0" 0
	expect pvh "stock kernel boot: cv-hv saw the ACPI power-off" 'guest powered off'
	grep -a '^cvboot: ' "$TMP/pvh.out" | tr -d '\r' | sed 's/^/# pvh: /'
else
	if [ "$(rc_of pvh)" = 124 ]; then
		where="timed out after ${STOCK_BOOT_TIMEOUT} s"
	else
		where=$(stop_error pvh)
		rip=$(grep -oE 'at RIP 0x[0-9a-f]+' <<<"$where" | cut -d' ' -f3)
		[ -z "$rip" ] || where="$where [vmlinux at $rip: $(insn_at "$rip")]"
		where=${where:-"exit status $(rc_of pvh): $(stop_reason pvh)"}
	fi
	where="$where; last console line: $(last_console_line pvh)"
	if [ "$hw_kvm" = 0 ]; then
		skip "stock kernel boot: stopped by this host's KVM" "$where"
	else
		not_ok "stock kernel boot: init reached ($where)"
		tail -n 15 "$TMP/pvh.out" | sed 's/^/#   /'
	fi
fi

# --- bzImage: cv-hv's 64-bit boot protocol entry ------------------------------
# The decompressor prints nothing unless it fails, and on a software KVM it
# alone takes minutes: running to the limit without an error counts as
# entered.
boot_vm bz "$STOCK_BZIMAGE_TIMEOUT" "Linux version" "cvboot: init reached" -- \
	--kernel "$boot/bzImage" --initrd "$boot/initramfs.cpio" \
	--vcpus 1 --mem 512M --cmdline "$cmdline"
what="stock kernel: cv-hv entered the bzImage through the 64-bit boot protocol"
rc=$(rc_of bz)
err=$(stop_error bz)
if ! grep -aq 'bzImage, boot protocol' "$TMP/bz.out" || [ "$rc" = 1 ]; then
	not_ok "$what (not loaded: ${err:-exit status $rc})"
	tail -n 15 "$TMP/bz.out" | sed 's/^/#   /'
elif grep -aq 'Linux version [0-9]' "$TMP/bz.out"; then
	ok "$what (the kernel proper started; last console line: $(last_console_line bz))"
elif [ "$rc" = 124 ] && [ -z "$err" ]; then
	ok "$what (still decompressing after ${STOCK_BZIMAGE_TIMEOUT} s, no error)"
elif [ "$hw_kvm" = 0 ] && grep -q 'cannot emulate' <<<"$err"; then
	ok "$what (stopped in the decompressor by this host's KVM: $err)"
else
	not_ok "$what (${err:-exit status $rc})"
	tail -n 15 "$TMP/bz.out" | sed 's/^/#   /'
fi
