#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Boots the test guest under cv-hv with 1 and 2 vCPUs and checks what it
# reports on its serial console: PVH boot, ACPI CPU discovery, SMP bring-up,
# LAPIC timer interrupts, the PCI scan and its ECAM, and a clean power-off.
. "$(dirname "$0")/lib.sh"

if ! have_kvm; then
	skip "test guest boots" "/dev/kvm is not usable here"
	exit 0
fi

run_vm up1 --guest "$TESTGUEST" --vcpus 1 --mem 64M --cmdline "hello world"
expect_rc up1 "1 vCPU: guest powers off, exit status 0" 0
expect up1 "1 vCPU: PVH boot with the command line" '^cvguest: boot pvh magic=ok cmdline="hello world" mem=6[0-9]MiB'
expect up1 "1 vCPU: ACPI MADT lists 1 CPU" '^cvguest: acpi madt cpus=1 ioapic=0x?fec00000'
expect up1 "1 vCPU: all CPUs online" '^cvguest: smp 1/1 cpus online'
expect up1 "1 vCPU: LAPIC timer interrupts arrive" '^cvguest: lapic timer ok ticks=[0-9]+'
expect up1 "1 vCPU: PCI scan finds the host bridge" '^cvguest: pci 00:00\.0 1b36:0008 class 060000'
expect up1 "1 vCPU: PCI ECAM found through ACPI MCFG and agrees with type-1" '^cvguest: pci ecam 0xe0000000 ok'
expect up1 "1 vCPU: MXCSR loads and stores" '^cvguest: mxcsr ok'
expect up1 "1 vCPU: guest result pass" '^cvguest: result pass'
expect up1 "1 vCPU: cv-hv reports the power-off" 'guest powered off'

run_vm up2 --guest "$TESTGUEST" --vcpus 2 --mem 128M
expect_rc up2 "2 vCPUs: exit status 0" 0
expect up2 "2 vCPUs: ACPI MADT lists 2 CPUs" '^cvguest: acpi madt cpus=2 '
expect up2 "2 vCPUs: the AP reports in" '^cvguest: cpu 1 online apic=1'
expect up2 "2 vCPUs: all CPUs online" '^cvguest: smp 2/2 cpus online'
expect up2 "2 vCPUs: guest result pass" '^cvguest: result pass'

run_vm big --guest "$TESTGUEST" --vcpus 1 --mem 5G
expect_rc big "5 GiB RAM (above the PCI hole): exit status 0" 0
expect big "5 GiB RAM: the guest's memory map adds up" '^cvguest: boot pvh magic=ok .* mem=5[01][0-9][0-9]MiB'

run_vm tofile --guest "$TESTGUEST" --console "file:$TMP/console.log"
expect_rc tofile "--console file: exit status 0" 0
check "--console file: the guest's output goes to the file" \
	grep -q '^cvguest: result pass' "$TMP/console.log"
check "--console file: and not to the terminal" \
	bash -c "! grep -q '^cvguest:' '$TMP/tofile.out'"

run_vm fault --guest "$TESTGUEST" --cmdline fault
expect fault "a guest exception is reported by the guest's IDT" '^cvguest: exception 6 rip=0x[0-9a-f]+'
run_vm panic --guest "$TESTGUEST" --cmdline panic
expect panic "a failing guest says so" '^cvguest: result fail requested'

# On a software KVM, ldmxcsr at CPL0 is beyond KVM's emulator: cv-hv does it
# (quirk emulate-mxcsr, counted), and with --quirks none it stops with the
# instruction and RIP named.  A hardware KVM runs it natively.
if grep -qwE 'vmx|svm' /proc/cpuinfo; then
	skip "software-KVM workarounds" "this host has hardware virtualization"
else
	expect up1 "software KVM: ldmxcsr/stmxcsr emulated by cv-hv and counted" 'quirks used: .*emulate-mxcsr=2'
	run_vm noquirks --guest "$TESTGUEST" --quirks none
	expect_rc noquirks "software KVM, --quirks none: exit status 2" 2
	expect noquirks "software KVM, --quirks none: the error names ldmxcsr and its RIP" \
		'KVM cannot emulate `ldmxcsr` at RIP 0x[0-9a-f]+ \(instruction bytes: 0f ae'
fi
