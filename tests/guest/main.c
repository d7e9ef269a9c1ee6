/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The test guest's script: each step prints one "cvguest:" line that the
 * integration tests parse, then the verdict, then the machine powers off.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest-abi/cv_platform.h"
#include "guest-abi/pvh.h"
#include "tests/guest/acpi.h"
#include "tests/guest/apic.h"
#include "tests/guest/entry.h"
#include "tests/guest/idt.h"
#include "tests/guest/kbd.h"
#include "tests/guest/lib.h"
#include "tests/guest/netwl.h"
#include "tests/guest/pci.h"
#include "tests/guest/power.h"
#include "tests/guest/serial.h"
#include "tests/guest/smp.h"
#include "tests/guest/tsc.h"
#include "tests/guest/user.h"
#include "tests/guest/virtio_blk.h"
#include "tests/guest/workload.h"

_Static_assert(ENTRY_PVH_NOTE_TYPE == XEN_ELFNOTE_PHYS32_ENTRY,
	       "entry.S's PVH note type");
_Static_assert(ENTRY_UC_START == CV_PCI_HOLE_START,
	       "entry.S maps the PCI hole uncached");

#define TIMER_CHECK_TICKS 5
#define AP_TIMEOUT_TICKS  APIC_TIMER_HZ   /* 1 s */

/* The start info is the VMM's word, but still bounded before use. */
#define MEMMAP_MAX_ENTRIES 128
#define BOOT_ADDR_LIMIT    0x100000000ULL

void main(const struct hvm_start_info *si) __attribute__((noreturn));

static bool boot_range_ok(uint64_t addr, uint64_t len)
{
	return addr && addr < BOOT_ADDR_LIMIT && len <= BOOT_ADDR_LIMIT - addr;
}

/* "" unless the command line is NUL-terminated within CV_CMDLINE_MAX. */
static const char *boot_cmdline(const struct hvm_start_info *si)
{
	const char *s = (const char *)(uintptr_t)si->cmdline_paddr;

	if (!boot_range_ok(si->cmdline_paddr, CV_CMDLINE_MAX))
		return "";
	for (size_t i = 0; i < CV_CMDLINE_MAX; i++)
		if (!s[i])
			return s;
	return "";
}

/* The memmap is valid from start info version 1 (guest-abi/pvh.h). */
static uint64_t ram_mib(const struct hvm_start_info *si)
{
	const struct hvm_memmap_table_entry *e =
		(const void *)(uintptr_t)si->memmap_paddr;
	uint64_t bytes = 0;

	if (si->version < 1 || si->memmap_entries > MEMMAP_MAX_ENTRIES ||
	    !boot_range_ok(si->memmap_paddr, si->memmap_entries * sizeof(*e)))
		return 0;
	for (uint32_t i = 0; i < si->memmap_entries; i++)
		if (e[i].type == HVM_MEMMAP_TYPE_RAM)
			bytes += e[i].size;
	return bytes >> 20;
}

/*
 * Load and store MXCSR (SSE control/status).  Plain kernel code does this
 * on every context switch, and software KVMs fail to emulate it at CPL0,
 * which cv-hv then completes itself (hv/emulate.c).
 */
static bool mxcsr_round_trip(void)
{
	const uint32_t in = 0x1f80 | (3u << 13); /* default masks, round toward zero */
	uint32_t out = 0;
	uint64_t cr4;

	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | (1u << 9))); /* CR4.OSFXSR */
	__asm__ volatile("ldmxcsr %0" : : "m"(in));
	__asm__ volatile("stmxcsr %0" : "=m"(out));
	return out == in;
}

void main(const struct hvm_start_info *si)
{
	serial_init();
	idt_init();

	if (si->magic != HVM_START_MAGIC_VALUE) {
		kprintf("cvguest: boot pvh magic=bad\n");
		fail("bad pvh magic");
	}
	const char *cmdline = boot_cmdline(si);
	kprintf("cvguest: boot pvh magic=ok cmdline=\"%s\" mem=%luMiB\n", cmdline,
		ram_mib(si));
	if (cmdline_has_word(cmdline, "panic"))
		fail("requested");
	if (cmdline_has_word(cmdline, "fault"))
		__asm__ volatile("ud2");

	struct madt_info madt;
	const char *err = acpi_read_madt(si->rsdp_paddr, &madt);
	if (err)
		fail(err);
	kprintf("cvguest: acpi madt cpus=%u ioapic=0x%x\n", madt.cpus,
		madt.ioapic_addr);

	/* The timer is the clock for every bounded wait that follows. */
	lapic_init();
	lapic_timer_start();
	if (!lapic_timer_counting())
		fail("lapic timer not counting");

	unsigned int online = smp_boot(madt.apic_ids, madt.apic_count,
				       AP_TIMEOUT_TICKS);
	kprintf("cvguest: smp %u/%u cpus online\n", online, madt.cpus);

	uint64_t start = lapic_ticks();
	lapic_wait_ticks(TIMER_CHECK_TICKS);
	kprintf("cvguest: lapic timer ok ticks=%lu\n", lapic_ticks() - start);

	pci_scan_bus0();
	uint64_t ecam = acpi_find_ecam(si->rsdp_paddr);
	if (!ecam)
		fail("no mcfg");
	if (!pci_ecam_agrees(ecam))
		fail("ecam mismatch");
	kprintf("cvguest: pci ecam 0x%lx ok\n", ecam);

	if (!mxcsr_round_trip())
		fail("mxcsr did not round-trip");
	kprintf("cvguest: mxcsr ok\n");

	/*
	 * The NVMe, then the network workloads; with "user" at CPL 3, where a
	 * software KVM runs them natively rather than emulating every
	 * instruction.
	 */
	bool nvme_wl = workload_requested(cmdline), net_wl = netwl_requested(cmdline);
	bool vblk_wl = vblk_requested(cmdline);
	bool user = cmdline_has_word(cmdline, "user");
	if (nvme_wl || net_wl || vblk_wl)
		tsc_init();
	if (nvme_wl && (user ? user_run(workload_run, cmdline) : workload_run(cmdline)))
		fail("nvme");
	if (net_wl && (user ? user_run(netwl_run, cmdline) : netwl_run(cmdline)))
		fail("net");
	/* virtio-blk: at ring 0 (PCI configuration), polled. */
	if (vblk_wl && vblk_run(cmdline))
		fail("vblk");

	if (online != madt.cpus)
		fail("cpus offline");
	kprintf("cvguest: result pass\n");
	/*
	 * "wait" keeps the machine up until Ctrl+Alt+Del, for the lifecycle
	 * tests; "nokbd" also leaves the keyboard unrouted, so the request goes
	 * unanswered and the host has to force the stop.
	 */
	if (cmdline_has_word(cmdline, "wait")) {
		if (!cmdline_has_word(cmdline, "nokbd"))
			kbd_init(madt.ioapic_addr);
		kprintf("cvguest: waiting for a shutdown request\n");
		while (!kbd_ctrl_alt_del())
			cpu_wait_irq();
		kprintf("cvguest: shutdown requested (ctrl-alt-del)\n");
	}
	if (cmdline_has_word(cmdline, "reboot") || cmdline_has_word(cmdline, "reboot-kbd"))
		reboot(cmdline_has_word(cmdline, "reboot-kbd"));
	power_off();
}
