/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PVH boot ABI (Xen's "HVM direct boot", used by Linux, QEMU, Firecracker
 * and Cloud Hypervisor to start an ELF kernel in 32-bit protected mode).
 * Layout from xen/include/public/arch-x86/hvm/start_info.h, version 1.
 *
 * Entry state: 32-bit protected mode, paging off, CS/DS/ES/SS flat 4 GiB,
 * EBX = guest physical address of struct hvm_start_info.
 */
#ifndef CV_PVH_H
#define CV_PVH_H

#include <stdint.h>

/* ELF note (name "Xen") carrying the 32-bit physical entry point. */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

#define HVM_START_MAGIC_VALUE    0x336ec578u

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;        /* 1: memmap fields are valid */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;  /* struct hvm_modlist_entry[nr_modules] */
	uint64_t cmdline_paddr;  /* NUL-terminated */
	uint64_t rsdp_paddr;     /* ACPI RSDP */
	uint64_t memmap_paddr;   /* struct hvm_memmap_table_entry[memmap_entries] */
	uint32_t memmap_entries;
	uint32_t reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
} __attribute__((packed));

/* Types follow e820. */
#define HVM_MEMMAP_TYPE_RAM      1
#define HVM_MEMMAP_TYPE_RESERVED 2
#define HVM_MEMMAP_TYPE_ACPI     3

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
} __attribute__((packed));

#endif /* CV_PVH_H */
