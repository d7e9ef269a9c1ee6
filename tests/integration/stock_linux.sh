#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots Debian's stock cloud kernel (linux-image-cloud-amd64) with a busybox
# initramfs under cv-hv, via PVH (vmlinux) and via the 64-bit boot protocol
# (bzImage), and reports how far it got.  The PVH boot has an ENI and a new
# volume (`cardvisor run --nic --volume`): the kernel's own NVMe (built in)
# and virtio_net (a module from the same package) drivers talk to cv-ebs and
# cv-vpc, and /init (tests/boot/init, cvboot=net,mkfs) takes a DHCP lease,
# pings the gateway, asks the metadata service for the instance id, makes a
# filesystem on the volume and writes a file; a second boot on the same
# volume (new VM, new cards, same cv-storaged) reads it back.
# On hardware KVM all of that must pass.  On a software KVM (no VT-x/AMD-V)
# the full boot takes minutes and can only reach /init (docs/kvm-hosts.md):
# `make test` then boots only to the kernel's first console line and checks
# the workarounds were counted; `make test-boot-full` (STOCK_FULL=1) goes as
# far as that KVM allows and records where it stopped as a SKIP.  Linux user
# space under cv-hv is checked on every machine by nested.sh (kvm_amd
# nested under QEMU TCG).
#   STOCK_FULL             1: the full boot on a software KVM too
#   STOCK_BOOT_TIMEOUT     limit for each full PVH boot (default 600 s)
#   STOCK_BZIMAGE_TIMEOUT  limit for the bzImage entry check (default 120 s)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../boot/lib.sh"

STOCK_BOOT_TIMEOUT=${STOCK_BOOT_TIMEOUT:-600}
STOCK_BZIMAGE_TIMEOUT=${STOCK_BZIMAGE_TIMEOUT:-120}
boot=$BOOT_DIR
# The volume store and cv-storaged of this test alone (as in ebs.sh).
volume_env
trap 'storaged_kill; rm -rf "$TMP"' EXIT
# earlyprintk: the console shows how far the kernel got even when it stops
# before the 8250 driver registers.  panic=-1: a panic ends the VM at once
# instead of leaving it to the timeout.
cmdline="console=ttyS0 earlyprintk=serial,ttyS0,115200 panic=-1"

if ! have_kvm; then
	skip "stock kernel boot" "/dev/kvm is not usable here"
	exit 0
fi
boot_prepare "stock kernel boot"

if grep -qwE 'vmx|svm' /proc/cpuinfo; then
	hw_kvm=1; echo "# host KVM: hardware-assisted (VT-x/AMD-V)"
else
	hw_kvm=0; echo "# host KVM: software (no vmx/svm in /proc/cpuinfo)"
fi

# cv-hv's and the cards' log lines ("[ts] cv-hv: info: ...") and
# cardvisor's ("cardvisor: ...") share the output with the guest console;
# everything else is what the guest printed.
hv_log='^\[ *[0-9]+\.[0-9]+\] [a-z-]+: (error|warn|info|debug): |^cardvisor: '

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
# The last kernel message that is not part of an oops or lockup report
# (stack trace, registers, code bytes): where the boot itself had got to.
last_message() {
	console_of "$1" | grep -aE '^\[ *[0-9]+\.[0-9]+\] ' |
		grep -avE '^\[[^]]*\] ( |<|\? |Call Trace:|Code:|Modules linked|CPU: [0-9]+ PID|Hardware name:|Workqueue:|RIP:|RSP:|RAX:|RDX:|RBP:|R10:|R13:|FS:|CS:|CR2:|DR[0-9]:|PKRU:|watchdog: BUG: soft lockup|INFO: task |rcu: |task:|"echo 0 >|Sending NMI|NMI backtrace)' |
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

# now: CLOCK_MONOTONIC in seconds, the clock of cv-hv's log timestamps.
now() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }
# since START [END]: seconds from START to END (default: now), 2 decimals.
since() { awk -v a="${2:-$(now)}" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }

# boot_vm NAME LIMIT MARKER... -- RUN_ARGS...: run_vm in the background,
# noting the wall time (s) at which each MARKER first shows in the output,
# and when cv-hv started the vCPUs (its "vm ID: N vCPU" line, logged just
# before the first guest instruction).  With STOP_AT=MARKER set, the VM is
# stopped by force once that marker shows.
boot_vm() {
	local name=$1 limit=$2 markers=() start pid m t
	shift 2
	while [ "$1" != -- ]; do markers+=("$1"); shift; done
	shift

	: >"$TMP/$name.out"
	: >"$TMP/$name.seen"
	start=$(now)
	VM_TIMEOUT=$limit run_vm "$name" "$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for m in "${markers[@]}"; do
			grep -qF "$m	" "$TMP/$name.seen" && continue
			grep -aqF -- "$m" "$TMP/$name.out" &&
				printf '%s\t%s\n' "$m" "$(since "$start")" >>"$TMP/$name.seen"
		done
		if [ -n "${STOP_AT:-}" ] && grep -qF "$STOP_AT	" "$TMP/$name.seen"; then
			"$CARDVISOR" stop --force "$(instance_of "$name")" >/dev/null
			STOP_AT=
		fi
		sleep 0.2
	done
	wait "$pid"
	echo "# $name: cardvisor exit status $(rc_of "$name") after $(since "$start") s wall"
	t=$(grep -aoP '^\[ *\K[0-9.]+(?=\] cv-hv: info: vm i-[0-9a-f]+: [0-9]+ vCPU)' \
		"$TMP/$name.out" | head -n1)
	[ -z "$t" ] || echo "# $name: first guest instruction after $(since "$start" "$t") s wall"
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

instance_of() { grep -aoP 'instance \Ki-[0-9a-f]+(?= started)' "$TMP/$1.out" | head -n1; }
init_reached() { grep -aq '^cvboot: init reached' <(tr -d '\r' <"$TMP/$1.out"); }
# The guest kernel's panic message, if it panicked (panic=-1 then resets,
# which ends the VM: cv-hv's own stop reason says less than this).
panic_of() { console_of "$1" | grep -aoP 'Kernel panic - not syncing: \K.*' | head -n1 | cut -c1-120; }

# where_stopped NAME LIMIT: how far a boot that did not reach /init got.
where_stopped() {
	local where rip panic
	panic=$(panic_of "$1")
	if [ "$(rc_of "$1")" = 124 ]; then
		where="timed out after $2 s"
	elif [ -n "$panic" ]; then
		where="guest kernel panic: $panic"
		# On kvm_pvm a SYSCALL from CPL 3 reaches the kernel's entry with the
		# user CS still loaded, and the kernel kills the process at its own
		# entry point (docs/kvm-hosts.md).
		! console_of "$1" | grep -aq 'RIP: 0033:entry_SYSCALL_64' ||
			where="$where, after /init's first system call entered entry_SYSCALL_64 still at CPL 3 (this KVM delivers SYSCALL from user mode without the switch to CPL 0)"
	else
		where=$(stop_error "$1")
		rip=$(grep -oE 'at RIP 0x[0-9a-f]+' <<<"$where" | cut -d' ' -f3)
		[ -z "$rip" ] || where="$where [vmlinux at $rip: $(insn_at "$rip")]"
		where=${where:-"exit status $(rc_of "$1"): $(stop_reason "$1")"}
	fi
	where="$where; last console line: $(last_console_line "$1")"
	[ "$(last_message "$1")" = "$(last_console_line "$1")" ] ||
		where="$where; last message outside oops/lockup reports: $(last_message "$1")"
	echo "$where"
}

markers=("Linux version" "x86/fpu:" "Memory:" "smp: Brought up" "Trying to unpack rootfs"
	 "nvme nvme0: " "Run /init" "cvboot: init reached" "cvboot: checks done"
	 "reboot: Power down")
# ipv6.disable=1: the VPC is IPv4 only (docs/vpc.md); the guest's IPv6
# router solicitations would only be counted as drops.
pvh_args=(--kernel "$boot/vmlinux" --initrd "$TMP/initramfs.cpio" --vcpus 2 --mem 512M
	  --nic subnet=10.0.1.0/24,underlay=127.0.0.1:0)
pvh_cmdline="$cmdline ipv6.disable=1"

# --- PVH: the vmlinux with an ENI and a volume, to /init and power-off -------
# On a software KVM `make test` stops it at the kernel's first console line.
stop_at=
[ "$hw_kvm" = 0 ] && [ "${STOCK_FULL:-0}" != 1 ] && stop_at="Linux version"
STOP_AT=$stop_at boot_vm pvh "$STOCK_BOOT_TIMEOUT" "${markers[@]}" -- "${pvh_args[@]}" \
	--volume size=64M --cmdline "$pvh_cmdline cvboot=net,mkfs"

expect pvh "stock kernel: cv-hv reached the kernel's first console line" 'Linux version [0-9]'
expect pvh "stock kernel: cv-hv plugged cv-ebs's NVMe function" 'vfio-user@[0-9a-f:.]+: card at '
expect pvh "stock kernel: cv-hv plugged cv-vpc's virtio-net function" 'virtio-net@[0-9a-f:.]+: back-end '
if [ -n "$stop_at" ]; then
	expect pvh "stock kernel: the software-KVM workarounds it needed are named and counted" \
		'quirks used: [a-z0-9-]+=[0-9]+'
	expect_rc pvh "stock kernel: stopped on request, exit status 0" 0
	skip "stock kernel: the full boot on this host's software KVM" \
		"minutes long, and only to /init: make test-boot-full; Linux user space runs under nested KVM (nested.sh)"
	exit 0
fi
vol=$(grep -aoP 'volume \Kvol-[0-9a-f]+(?= \()' "$TMP/pvh.out" | head -n1)
ip=$(grep -aoP 'nic eni-[0-9a-f]+ \(\K[0-9.]+(?= in )' "$TMP/pvh.out" | head -n1)
iid=$(grep -aoP 'instance \Ki-[0-9a-f]+(?= started)' "$TMP/pvh.out" | head -n1)
if init_reached pvh; then
	ok "stock kernel boot: init reached"
	expect pvh "stock kernel boot: /init sees 2 CPUs" '^cvboot: cpus=2'
	cvboot_net_checks pvh "$ip" 10.0.1.1 "$iid"
	cvboot_volume_checks pvh nvme0n1 "$vol"
	expect_rc pvh "stock kernel boot: powered off, exit status 0" 0
	expect pvh "stock kernel boot: cv-hv saw the ACPI power-off" 'guest powered off'
	grep -a '^cvboot: ' "$TMP/pvh.out" | tr -d '\r' | sed 's/^/# pvh: /'

	# The same volume in a new VM with new cards: the file must be there.
	boot_vm again "$STOCK_BOOT_TIMEOUT" "${markers[@]}" -- "${pvh_args[@]}" \
		--volume "id=$vol" --cmdline "$pvh_cmdline cvboot=verify"
	if init_reached again; then
		cvboot_check again persisted \
			"second boot, new cards, same cv-storaged: the file on $vol is intact" \
			"sha256=$(cvboot_sha256)\$"
		expect_rc again "second boot: powered off, exit status 0" 0
	else
		not_ok "second boot on $vol: init reached ($(where_stopped again "$STOCK_BOOT_TIMEOUT"))"
	fi
else
	where=$(where_stopped pvh "$STOCK_BOOT_TIMEOUT")
	why="/init not reached on this host's software KVM"
	if grep -aq 'Run /init as init process' "$TMP/pvh.out"; then
		ok "stock kernel: the kernel finished its initialisation and started /init"
		why="/init started, but no Linux user space runs on this host's software KVM"
	elif [ "$hw_kvm" = 0 ]; then
		skip "stock kernel: the kernel finished its initialisation and started /init" \
			"not on this host's KVM"
	fi
	if [ "$hw_kvm" = 0 ]; then
		skip "stock kernel boot: stopped by this host's KVM" "$where"
		skip "stock kernel boot: network, volume and second-boot checks" "$why"
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
	--kernel "$boot/bzImage" --initrd "$TMP/initramfs.cpio" \
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
