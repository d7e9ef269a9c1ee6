/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A type-0 PCI configuration space, for the functions cv-hv emulates itself
 * (the host bridge, virtio-pci transports) and those a card owns over
 * vfio-user (cv-ebs's NVMe function): both sides build theirs here.  Each
 * byte has a write mask and an RW1C mask, so read-only fields, BAR sizing
 * (PCI Local Bus 3.0, 6.2.5.1) and status bits that software clears by
 * writing 1 all fall out of one write rule.  Not locked: the owner
 * serialises accesses (the PCI bus holds its lock around every config access).
 */
#ifndef CV_LIB_PCI_CONFIG_H
#define CV_LIB_PCI_CONFIG_H

#include <linux/pci_regs.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * What a BAR decodes.  @size is a power of two; 0 means the BAR is not
 * implemented (and is what the upper half of a 64-bit BAR reports).
 */
struct pci_bar_desc {
	uint64_t size;
	bool io;        /* I/O space, else memory space */
	bool mem64;     /* 64-bit memory BAR: takes this slot and the next */
	bool prefetch;  /* prefetchable memory */
};

struct pci_config {
	uint32_t size;      /* PCI_CFG_SPACE_SIZE or PCI_CFG_SPACE_EXP_SIZE */
	uint8_t cap_next;   /* offset of the byte that links the next capability */
	uint16_t cap_free;  /* first free byte for the next capability */
	struct pci_bar_desc bars[PCI_STD_NUM_BARS];
	uint8_t data[PCI_CFG_SPACE_EXP_SIZE];
	uint8_t wmask[PCI_CFG_SPACE_EXP_SIZE];   /* bits the guest may write */
	uint8_t w1cmask[PCI_CFG_SPACE_EXP_SIZE]; /* bits a 1 clears (RW1C) */
};

/*
 * Whether @desc is a BAR PCI allows at slot @idx: a power-of-two size, I/O
 * BARs of 4 to 256 bytes, memory BARs of at least 16 bytes (PCI Local Bus
 * 3.0, 6.2.5.1), 32-bit ones no larger than 2 GiB, and a 64-bit one not in
 * the last slot, where its upper half would have no room.
 */
bool pci_bar_desc_valid(unsigned idx, const struct pci_bar_desc *desc);

/*
 * Build a type-0 header: IDs, 24-bit class code, revision, and the writable
 * COMMAND/STATUS/cache line/interrupt line fields.  Interrupt pin is 0: the
 * functions cardvisor emulates signal with MSI-X only.
 */
int pci_config_init(struct pci_config *cfg, uint32_t size, uint16_t vendor,
		    uint16_t device, uint32_t class_code, uint8_t revision);

/* Declare BAR @idx (a 64-bit one also takes @idx + 1); -EINVAL if not valid. */
int pci_config_set_bar(struct pci_config *cfg, unsigned idx,
		       const struct pci_bar_desc *desc);
/* The description given to pci_config_set_bar(), or size 0 if none. */
void pci_config_bar_desc(const struct pci_config *cfg, unsigned idx,
			 struct pci_bar_desc *desc);

/*
 * Append a capability of @len bytes with ID @cap_id to the list (PCI Local
 * Bus 3.0, 6.7) in the 0x40..0xff area, dword aligned, and link it from the
 * previous one (or from PCI_CAPABILITY_LIST).  Returns its offset, or
 * -ENOSPC.  Its bytes start zero and read-only past the ID/next header.
 */
int pci_config_add_cap(struct pci_config *cfg, uint8_t cap_id, uint8_t len);

/* Change which bits of [@off, @off + @len) are writable and which are RW1C. */
void pci_config_set_masks(struct pci_config *cfg, uint32_t off, uint32_t len,
			  uint32_t wmask, uint32_t w1cmask);

/*
 * Guest-facing access: @len 1, 2 or 4 at any @off below 4096.  Bytes past
 * the end of a 256-byte space read as all ones and ignore writes, as the
 * extended space of a conventional function does through ECAM.
 */
void pci_config_read(const struct pci_config *cfg, uint32_t off, uint32_t len,
		     uint32_t *val);
void pci_config_write(struct pci_config *cfg, uint32_t off, uint32_t len,
		      uint32_t val);

/* Raw little-endian accessors for the owner, bypassing the masks. */
static inline uint32_t pci_config_get(const struct pci_config *cfg,
				      uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)cfg->data[off + i] << (8 * i);
	return v;
}

static inline void pci_config_set(struct pci_config *cfg, uint32_t off,
				  uint32_t len, uint32_t val)
{
	for (uint32_t i = 0; i < len; i++)
		cfg->data[off + i] = (uint8_t)(val >> (8 * i));
}

#endif /* CV_LIB_PCI_CONFIG_H */
