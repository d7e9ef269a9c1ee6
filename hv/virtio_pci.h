/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A virtio-net device on the virtio-pci transport (virtio 1.2 §4.1, modern
 * only) whose virtqueues are served by a vhost-user back-end (cv-vpc, or
 * any vhost-user-net device).  cv-hv emulates the PCI function, the common
 * configuration, ISR and device configuration (MAC, link status); the
 * back-end gets guest memory and the rings.  Guest notifications are KVM
 * ioeventfds on each queue's notify address and back-end interrupts are
 * KVM irqfds on the queue's MSI-X vector, so the datapath never exits to
 * cv-hv.
 *
 * BAR1: MSI-X table and PBA.  BAR4 (64-bit, prefetchable, as QEMU lays it
 * out): common cfg, ISR, device cfg, notify (notify_off_multiplier 4).
 *
 * Back-end loss: the guest keeps running, the link reads down, and a
 * monitor thread reconnects; on reconnect the device state is replayed
 * (features, memory table, rings resumed at the used index) and the link
 * comes back up.  Only if the new back-end lacks a feature the driver
 * accepted, or refuses the replay, is DEVICE_NEEDS_RESET set (§2.1.2).
 */
#ifndef CV_HV_VIRTIO_PCI_H
#define CV_HV_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "hv/irq.h"
#include "hv/memory.h"
#include "hv/pci.h"

struct virtio_pci;

/* Delay between reconnection attempts while the back-end is away. */
#define VIRTIO_PCI_RECONNECT_MS 100

/*
 * Connect to the vhost-user-net back-end at @socket_path, build the
 * function and plug it at 00:@slot.0 of @bus.  @mac is the ENI's MAC
 * (VIRTIO_NET_F_MAC), from the instance description.  -ECONNREFUSED etc.
 * when the back-end cannot be reached, -EPROTO when it lacks VERSION_1.
 */
int virtio_net_pci_plug(struct virtio_pci **out, struct pci_bus *bus,
			struct irq_routing *irq, const struct guest_mem *mem,
			int vm_fd, unsigned slot, const char *socket_path,
			const uint8_t mac[6]);
/* Unplug, stop the back-end's rings, disconnect and free. */
void virtio_pci_unplug(struct virtio_pci *vp);

/* Whether the back-end is connected now (link up). */
bool virtio_pci_backend_connected(struct virtio_pci *vp);
/* Successful reconnections so far. */
uint64_t virtio_pci_reconnects(struct virtio_pci *vp);

#endif /* CV_HV_VIRTIO_PCI_H */
