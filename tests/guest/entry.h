/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What entry.S and the C code share.  entry.S cannot include the C headers
 * (cv_platform.h's constants carry ULL suffixes, pvh.h has structs), so the
 * few values it needs are repeated here and checked against the originals
 * with static asserts in main.c.
 */
#ifndef CVG_ENTRY_H
#define CVG_ENTRY_H

/* entry.S's GDT. */
#define KERNEL_CS   0x08  /* 64-bit code */
#define KERNEL_DS   0x10  /* flat data */
#define KERNEL_CS32 0x18  /* 32-bit code, for the way up to long mode */

/* == XEN_ELFNOTE_PHYS32_ENTRY (guest-abi/pvh.h). */
#define ENTRY_PVH_NOTE_TYPE 18

/*
 * == CV_PCI_HOLE_START: from here to 4 GiB is MMIO (PCI BARs, ECAM, IOAPIC,
 * LAPIC) and is mapped uncached.
 */
#define ENTRY_UC_START 0xc0000000

#ifndef __ASSEMBLER__
/* The 16-bit AP start-up code, copied below 1 MiB before the SIPIs. */
extern const char ap_trampoline[], ap_trampoline_end[];
#endif

#endif /* CVG_ENTRY_H */
