#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The test guest's NVMe driver and workloads against a real, independent
# controller: QEMU's nvme device under TCG (no KVM needed).  It checks what
# cv-ebs's controller face must also do: reset and enable, Identify, Number
# of Queues, Doorbell Buffer Config, MSI-X and polled queues, PRP lists and
# SGLs, data that survives a reboot, random I/O verified by generation tags,
# and the spec's status for each malformed command.
. "$(dirname "$0")/lib.sh"

QEMU=${QEMU:-qemu-system-x86_64}
QEMU_TIMEOUT=${QEMU_TIMEOUT:-300}

if ! command -v "$QEMU" >/dev/null 2>&1; then
	skip "test guest NVMe driver under QEMU" "$QEMU is not installed"
	exit 0
fi
if [ ! -r "$TESTGUEST" ]; then
	not_ok "test guest NVMe driver under QEMU: $TESTGUEST is missing"
	exit 0
fi

# The guest powers off through cv's sleep control port 0x3c0; QEMU's
# isa-debug-exit there ends QEMU with status (value << 1) | 1, and the S5
# write (SLP_TYP 5, SLP_EN) makes that 105.
QEMU_POWEROFF_RC=105

# run_qemu NAME DISK "GUEST CMDLINE" [NVME DEVICE OPTIONS]: one boot, with a
# timeout; console in $TMP/NAME.out, exit status in $TMP/NAME.rc.
run_qemu() {
	local name=$1 disk=$2 cmdline=$3 devopts=${4:-}
	timeout --kill-after=10 "$QEMU_TIMEOUT" "$QEMU" -accel tcg -M q35 -m 256 \
		-nodefaults -display none -no-reboot -serial stdio \
		-kernel "$TESTGUEST" -append "$cmdline" \
		-drive "file=$disk,if=none,id=d0,format=raw" \
		-device "nvme,serial=cv0,drive=d0$devopts" \
		-device isa-debug-exit,iobase=0x3c0,iosize=1 \
		</dev/null >"$TMP/$name.out" 2>&1
	echo $? >"$TMP/$name.rc"
	# The guest's UART lines end in CR LF; keep "$" in patterns meaningful.
	sed -i 's/\r$//' "$TMP/$name.out"
	if [ "$(cat "$TMP/$name.rc")" = 124 ]; then
		echo "# $name: timed out after ${QEMU_TIMEOUT}s" >>"$TMP/$name.out"
	fi
}

# expect_positive NAME DESCRIPTION REGEX: the first capture group of REGEX in
# the output is a number greater than zero.
expect_positive() {
	local v
	v=$(sed -nE "s/$3/\\1/p" "$TMP/$1.out" | head -n 1)
	if [ -n "$v" ] && [ "$v" -gt 0 ]; then
		ok "$2"
	else
		not_ok "$2 (got '${v}')"
		tail -n 15 "$TMP/$1.out" | sed 's/^/#   /'
	fi
}

truncate -s 64M "$TMP/disk.img"

# --- identify, pattern write and read-back, MSI-X and shadow doorbells -----
run_qemu verify "$TMP/disk.img" "nvme"
expect_rc verify "nvme: guest powers off" "$QEMU_POWEROFF_RC"
expect verify "nvme: q35's ECAM is taken from its MCFG" '^cvguest: pci ecam 0xb0000000 ok'
expect verify "nvme: the controller is found and enabled" '^cvguest: nvme ready'
expect verify "nvme: Identify Controller is printed" '^cvguest: nvme ctrl model="QEMU NVMe Ctrl" serial="cv0" .*mdts=[0-9]+ oacs=0x'
expect verify "nvme: Identify Namespace gives size and LBA format" '^cvguest: nvme ns 1 blocks=131072 lba=512 '
expect verify "nvme: Doorbell Buffer Config is used when OACS bit 8 is set" '^cvguest: nvme dbbuf on'
expect verify "nvme: I/O queues with MSI-X" '^cvguest: nvme io queues=1 qsize=64 mode=msix sgl=1'
expect verify "nvme: the pattern reads back" '^cvguest: nvme verify ok blocks=1024 '
expect_positive verify "nvme: some transfers used SGLs" '^cvguest: nvme verify ok .* sgl=([0-9]+) .*'
expect_positive verify "nvme: MSI-X interrupts arrived" '^cvguest: nvme irqs=([0-9]+).*'
expect verify "nvme: guest result pass" '^cvguest: result pass'

# --- the data outlives the VM: a second boot checks it ---------------------
run_qemu check "$TMP/disk.img" "nvme-check"
expect check "nvme-check: a new boot reads the earlier boot's pattern" '^cvguest: nvme check ok blocks=1024 '
expect check "nvme-check: guest result pass" '^cvguest: result pass'

truncate -s 64M "$TMP/blank.img"
run_qemu blank "$TMP/blank.img" "nvme-check"
expect blank "nvme-check on a blank disk: the mismatch is named" '^cvguest: nvme check fail lba=0 word=0 got=0x0 '
expect blank "nvme-check on a blank disk: guest result fail" '^cvguest: result fail nvme'

# --- random I/O at queue depth 32 over 4 queue pairs, verified -------------
run_qemu rand "$TMP/disk.img" "nvme-rand qd=32 ops=20000 queues=4"
expect rand "nvme-rand: 4 I/O queue pairs" '^cvguest: nvme io queues=4 '
expect rand "nvme-rand: all operations complete" '^cvguest: nvme-rand done ops=20000 reads=[0-9]+ writes=[0-9]+ '
expect_positive rand "nvme-rand: reads after writes are verified" '^cvguest: nvme-rand done .* verified=([0-9]+) .*'
expect rand "nvme-rand: latency percentiles in TSC ticks" '^cvguest: nvme-rand lat_tsc min=[0-9]+ p50=[0-9]+ p99=[0-9]+ max=[0-9]+ samples=4096'
expect rand "nvme-rand: latency histogram" '^cvguest: nvme-rand hist_log2_tsc( [0-9]+:[0-9]+)+$'
expect rand "nvme-rand: the TSC frequency is reported" '^cvguest: tsc hz=[1-9][0-9]+ source='
expect rand "nvme-rand: guest result pass" '^cvguest: result pass'

# --- polled queues, SGLs, a 4 KiB LBA format, fewer vectors than queues ----
run_qemu poll "$TMP/disk.img" "nvme-rand qd=8 ops=3000 poll sgl"
expect poll "polled mode: no interrupts are used" '^cvguest: nvme-rand done ops=3000 .* irqs=0 '
expect poll "polled mode with SGLs: guest result pass" '^cvguest: result pass'

truncate -s 64M "$TMP/disk4k.img"
run_qemu lba4k "$TMP/disk4k.img" "nvme nvme-rand qd=16 ops=3000" \
	",logical_block_size=4096,physical_block_size=4096"
expect lba4k "4 KiB LBAs: the format is found" '^cvguest: nvme ns 1 blocks=16384 lba=4096 '
expect lba4k "4 KiB LBAs: pattern and random I/O pass" '^cvguest: result pass'

# QEMU's ioeventfd doorbells read the shadow doorbells and publish EventIdx,
# cv-ebs's fast path: every write must still be seen, none lost.
run_qemu ioeventfd "$TMP/disk.img" "nvme-rand qd=32 ops=5000 queues=2" ",ioeventfd=on"
expect ioeventfd "ioeventfd doorbells with shadow doorbells: guest result pass" '^cvguest: result pass'

run_qemu shared "$TMP/disk.img" "nvme-rand qd=32 ops=3000 queues=4" ",msix_qsize=2"
expect shared "2 MSI-X vectors for 5 queues: guest result pass" '^cvguest: result pass'

# --- malformed commands: the spec's status, and the controller lives on ----
run_qemu bad "$TMP/disk.img" "nvme-bad nvme-check"
for c in create-sq-qid-0:1/01 create-sq-qid-in-use:1/01 create-sq-qid-ffff:1/01 \
	create-sq-cq-missing:1/00 create-cq-qsize:1/02 create-sq-qsize:1/02 \
	prp2-offset:0/13 prp-list-offset:0/13 over-mdts:0/02 \
	lba-out-of-range:0/80 lba-straddles-end:0/80 nsid-inactive:0/0b \
	io-opcode-unknown:0/01 admin-opcode-unknown:0/01; do
	name=${c%%:*} code=${c#*:}
	expect bad "nvme-bad: $name answered $code" \
		"^cvguest: nvme-bad $name expect=$code got=$code ok$"
done
# QEMU reads DMA from an address nothing decodes as zeroes and reports
# success; the line must still be there, saying so.
expect bad "nvme-bad: PRP outside guest RAM is reported" \
	'^cvguest: nvme-bad prp-outside-ram expect=0/04 got=[0-9a-f/]+ (ok|accepted|differs)$'
expect bad "nvme-bad: a doorbell past the queue size raises Invalid Doorbell Write Value" \
	'^cvguest: nvme-bad sq-doorbell-past-size expect=aen:0/01/01 got=aen:0/01/01 .* ok$'
expect bad "nvme-bad: no case failed" '^cvguest: nvme-bad done ok=[0-9]+ differs=[0-9]+ fail=0 '
expect bad "nvme-bad: the controller still writes and reads" '^cvguest: nvme after-bad ok blocks=64 '
expect bad "nvme-bad: the earlier pattern is untouched" '^cvguest: nvme check ok blocks=1024 '
expect bad "nvme-bad: guest result pass" '^cvguest: result pass'

# --- the workloads at CPL 3 (the "user" word), polled ----------------------
run_qemu user "$TMP/disk.img" "nvme nvme-rand qd=16 ops=3000 queues=2 nvme-bad nvme-check user"
expect user "user: the workloads run at CPL 3" '^cvguest: nvme workloads at cpl=3$'
expect user "user: queues are polled" '^cvguest: nvme io queues=2 qsize=64 mode=poll '
expect user "user: pattern, random I/O, bad commands and check all pass" '^cvguest: result pass'

# The ring 3 round trip on the host's own KVM, which refuses port I/O and
# INT n from CPL 3: whatever NVMe cv-hv offers, the guest must get back to
# ring 0 and report.
if have_kvm && [ -x "$CARDVISOR" ]; then
	run_vm kvmuser --guest "$TESTGUEST" --mem 64M --cmdline "nvme user"
	expect kvmuser "user on KVM: the workloads start at CPL 3" '^cvguest: nvme workloads at cpl=3'
	expect kvmuser "user on KVM: the guest reports its result from ring 0" '^cvguest: result (pass|fail nvme)'
	check "user on KVM: no unexpected exception" \
		bash -c "! grep -q '^cvguest: exception' '$TMP/kvmuser.out'"
else
	skip "user mode on KVM" "/dev/kvm or $CARDVISOR is not usable here"
fi
