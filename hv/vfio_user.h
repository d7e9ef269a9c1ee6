/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A PCI function owned by a card over vfio-user (QEMU
 * docs/interop/vfio-user.rst): cv-hv is the client.  At open it negotiates,
 * DMA-maps all guest RAM by passing the memfd, learns the BARs and the
 * MSI-X capability from the card's config space, gives the card one eventfd
 * per MSI-X vector (SET_IRQS) and takes the card's doorbell ioeventfds
 * (GET_REGION_IO_FDS).  Once plugged, config and BAR accesses are forwarded
 * as REGION_READ/WRITE, except the MSI-X table and PBA, which cv-hv emulates
 * (hv/msix.c) as QEMU's vfio-pci does: the vector eventfds are KVM irqfds
 * while unmasked, and the doorbells KVM ioeventfds at the BAR's current guest
 * address, so neither the I/O fast path nor interrupts cross the socket.
 *
 * A card that dies (socket EOF or hang-up, error, or no answer within
 * VFU_IO_TIMEOUT_MS) is logged and its BARs read all ones (writes vanish)
 * while config reads come from a shadow of what the guest last saw; cv-hv
 * keeps running.  Once plugged, a monitor thread per function reconnects
 * to the same socket path every 100 ms: a card that answers as the same
 * function (regions, MSI-X layout) gets guest RAM mapped again, the same
 * vector eventfds (still KVM irqfds), and a replay of every config byte
 * cv-hv wrote (BARs, Command last, MSI-X Message Control); its doorbells
 * replace the old ones at the BAR's current address.  The new controller
 * starts from reset: the guest's driver sees all ones, and resets it.  A
 * card that is not the same function leaves the function dead (logged).
 */
#ifndef CV_HV_VFIO_USER_H
#define CV_HV_VFIO_USER_H

#include <stdbool.h>

#include "hv/irq.h"
#include "hv/memory.h"
#include "hv/pci.h"

struct vfio_user_dev;

struct vfio_user_params {
	const char *socket_path;
	const char *name;              /* for logs and the PCI bus */
	int vm_fd;                     /* for KVM_IOEVENTFD */
	const struct guest_mem *mem;   /* DMA-mapped whole */
	struct irq_routing *irq;       /* GSIs for the MSI-X vectors */
};

/* Connect and set the function up; 0 or a negative errno (logged). */
int vfio_user_dev_open(struct vfio_user_dev **out, const struct vfio_user_params *p);
/* Plug it at 00:@slot.@fn of @bus. */
int vfio_user_dev_plug(struct vfio_user_dev *d, struct pci_bus *bus,
		       unsigned slot, unsigned fn);
/* Unplug (if plugged), unbind every fd from KVM and disconnect. */
void vfio_user_dev_close(struct vfio_user_dev *d);
/* Whether the card is gone (its BARs read all ones) until a new one is set up. */
bool vfio_user_dev_dead(struct vfio_user_dev *d);

#endif /* CV_HV_VFIO_USER_H */
