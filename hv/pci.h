/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI bus 0 of the cardvisor machine: a host bridge at 00:00.0, the type-1
 * configuration mechanism at 0xcf8/0xcfc (PCI Local Bus 3.0, 3.2.2.3.2) and
 * PCIe ECAM (PCIe Base 4.0, 7.2.2).  The bus knows functions only through
 * struct pci_function_ops, so a function emulated in cv-hv (config space in
 * hv/pci_config) and one owned by a card over vfio-user (every access
 * forwarded) plug in the same way.  The bus assigns BAR addresses at plug
 * time as firmware would, and maps BARs on the PIO/MMIO iobus as the guest
 * enables decoding or moves them, whoever owns the config space.
 */
#ifndef CV_HV_PCI_H
#define CV_HV_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv/iobus.h"
#include "hv/memory.h"
#include "tools/lib/pci_config.h"

#define PCI_BUS_SLOTS 32
#define PCI_SLOT_FUNCS 8
#define PCI_BUS_DEVFNS (PCI_BUS_SLOTS * PCI_SLOT_FUNCS)

struct pci_function_ops {
	/*
	 * Config space access at @offset (< 4096) of @len 1, 2 or 4 bytes that
	 * never crosses a dword boundary; @val is right-aligned.  A function
	 * that cannot answer (its card died) reads all ones.
	 */
	void (*cfg_read)(void *opaque, uint32_t offset, uint32_t len, uint32_t *val);
	void (*cfg_write)(void *opaque, uint32_t offset, uint32_t len, uint32_t val);
	/*
	 * Guest access to mapped BAR @bar, @offset from its base; @data holds
	 * @len little-endian bytes (filled on reads).  Runs on vCPU threads,
	 * concurrently with other BAR accesses but never with a config access.
	 */
	void (*bar_access)(void *opaque, unsigned bar, uint64_t offset, void *data,
			   uint32_t len, bool is_write);
	/* Describe BAR @bar (size 0: not implemented).  Asked once, at plug. */
	void (*bar_desc)(void *opaque, unsigned bar, struct pci_bar_desc *desc);
	/*
	 * Optional: BAR @bar now decodes at @addr (@mapped) or no longer does.
	 * For what must follow a BAR the bus does not dispatch itself, such as
	 * KVM ioeventfds on doorbell registers.  Called with the bus lock held
	 * for writing and, but at plug, the function's lock too.
	 */
	void (*bar_mapped)(void *opaque, unsigned bar, uint64_t addr, bool mapped);
};

struct pci_bus;
struct pci_function;

struct pci_bar {
	struct pci_function *fn;  /* back pointer for the iobus handler */
	unsigned idx;
	struct pci_bar_desc desc;
	uint64_t addr;            /* last address seen in config space */
	bool mapped;              /* registered on the iobus at @addr */
};

struct pci_function {
	struct pci_bus *bus;
	bool present;
	uint8_t devfn;            /* slot << 3 | function */
	const struct pci_function_ops *ops;
	void *opaque;
	const char *name;
	struct pci_bar bars[PCI_STD_NUM_BARS];
	/*
	 * Its own accesses: BAR accesses share it, a config access (which may
	 * move or disable its BARs), unplug and a card's reattach
	 * (pci_function_lock) take it alone.  Held across the function's own
	 * I/O, a card's socket included, and never waited for with the bus
	 * lock held: a slow card stalls its own function, no other.  Taken
	 * before the bus lock when both are held.
	 */
	pthread_rwlock_t lock;
	unsigned users;           /* accesses between the two locks; unplug waits for none */
};

struct pci_bus {
	struct iobus *pio, *mmio;
	uint64_t ram_low_end;     /* RAM is [0, low) and [4 GiB, high) */
	uint64_t ram_high_end;
	/*
	 * The map: which functions are present and where their BARs decode.
	 * Plug, unplug and a BAR move take it for writing, a lookup for
	 * reading, each only for the bookkeeping, never across a function's
	 * I/O (but plug, at set-up, asks the function for its BARs under it).
	 * An unplugged function sees no access once pci_bus_unplug() returns.
	 */
	pthread_rwlock_t lock;
	pthread_mutex_t users_lock;
	pthread_cond_t users_gone;
	uint32_t config_address;  /* type-1 CONFIG_ADDRESS */
	struct pci_function fns[PCI_BUS_DEVFNS];
	struct pci_config host_bridge;
};

/*
 * Register CONFIG_ADDRESS/CONFIG_DATA on @pio and the ECAM on @mmio and plug
 * the host bridge at 00:00.0.  @mem tells which guest addresses are RAM,
 * where no BAR may go.
 */
int pci_bus_init(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio,
		 const struct guest_mem *mem);
/* Unplug everything and unregister from both buses. */
void pci_bus_destroy(struct pci_bus *bus);

/*
 * Plug a function at 00:@slot.@fn.  Its BARs get naturally aligned addresses
 * from the 32-bit MMIO window and the PCI I/O port window, written into its
 * config space through @ops->cfg_write; decoding stays off until the guest
 * sets COMMAND.IO/MEM.  -EINVAL for a bad slot or BAR, -EBUSY if taken,
 * -ENOSPC when a window is full.  @name is kept, for logs.
 */
int pci_bus_plug(struct pci_bus *bus, unsigned slot, unsigned fn,
		 const struct pci_function_ops *ops, void *opaque,
		 const char *name);
/*
 * Remove a function (hot-remove, or its card died): its BARs are unmapped
 * and it reads as absent.  -ENOENT if nothing is plugged there.
 */
int pci_bus_unplug(struct pci_bus *bus, unsigned slot, unsigned fn);
/*
 * Hold off every access to 00:@slot.@fn (a card being made current again
 * replays its config space) without holding off any other function.
 */
void pci_function_lock(struct pci_bus *bus, unsigned slot, unsigned fn);
void pci_function_unlock(struct pci_bus *bus, unsigned slot, unsigned fn);

#endif /* CV_HV_PCI_H */
