/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-pci transport (virtio 1.2 §4.1, modern only) for devices
 * whose virtqueues a vhost-user back-end serves (cv-vpc, cv-ebs's blk
 * face, any vhost-user device).  cv-hv emulates the PCI function, the
 * common configuration, ISR and device configuration; the back-end gets
 * guest memory and the rings.  Guest notifications are KVM ioeventfds on
 * each queue's notify address and back-end interrupts are KVM irqfds on
 * the queue's MSI-X vector, so the datapath never exits to cv-hv.  What
 * a device type adds (its id, features and configuration space) is a
 * struct virtio_pci_type in a file of its own, as kvmtool and Firecracker
 * keep transport and device apart: virtio_net.c, virtio_blk.c.
 *
 * BAR1: MSI-X table and PBA.  BAR4 (64-bit, prefetchable, as QEMU lays it
 * out): common cfg, ISR, device cfg, notify (notify_off_multiplier 4).
 *
 * Back-end loss: the guest keeps running (a NIC's link reads down), and a
 * monitor thread reconnects; on reconnect the device state is replayed
 * (features, memory table, rings resumed at the used index).  Only if the
 * new back-end lacks a feature the driver accepted, or refuses the replay,
 * is DEVICE_NEEDS_RESET set (§2.1.2).
 */
#ifndef CV_HV_VIRTIO_PCI_H
#define CV_HV_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "hv/irq.h"
#include "hv/memory.h"
#include "hv/pci.h"

struct virtio_pci;
struct vuc;

/* At most this many virtqueues per function, and bytes of device configuration. */
#define VIRTIO_PCI_QUEUES_MAX 8
#define VIRTIO_PCI_CONFIG_MAX 256

/* A device type on the transport. */
struct virtio_pci_type {
	const char *name;          /* "virtio-net": the function's name in logs */
	uint16_t device_id;        /* §5: VIRTIO_ID_NET, VIRTIO_ID_BLOCK, ... */
	uint32_t pci_class;        /* PCI class code, programming interface 0 */
	/* Device features passed through when the back-end offers them. */
	uint64_t backend_features;
	/* Features cv-hv emulates itself, offered whatever the back-end says. */
	uint64_t frontend_features;
	/*
	 * With the back-end connected, fill @config (up to *@len bytes; set
	 * *@len to its size) from @arg (the plug call's) or from the back-end,
	 * and set *@nr_queues (1 to VIRTIO_PCI_QUEUES_MAX).  0 or -errno.
	 */
	int (*setup)(struct vuc *vu, const void *arg, void *config, uint32_t *len,
		     unsigned *nr_queues);
	/* The back-end went (@up false) or came back: say so in @config.  May be NULL. */
	void (*backend_link)(void *config, bool up);
};

/* Delay between reconnection attempts while the back-end is away. */
#define VIRTIO_PCI_RECONNECT_MS 100

/*
 * Connect to the vhost-user back-end at @socket_path, let @type set the
 * device up (with @arg), build the function and plug it at 00:@slot.0 of
 * @bus.  -ECONNREFUSED etc. when the back-end cannot be reached, -EPROTO
 * when it lacks VERSION_1, the type's error when it cannot set up.
 */
int virtio_pci_plug(struct virtio_pci **out, const struct virtio_pci_type *type,
		    const void *arg, struct pci_bus *bus, struct irq_routing *irq,
		    const struct guest_mem *mem, int vm_fd, unsigned slot,
		    const char *socket_path);
/* Unplug, stop the back-end's rings, disconnect and free. */
void virtio_pci_unplug(struct virtio_pci *vp);

/* Whether the back-end is connected now (link up). */
bool virtio_pci_backend_connected(struct virtio_pci *vp);
/* Successful reconnections so far. */
uint64_t virtio_pci_reconnects(struct virtio_pci *vp);

#endif /* CV_HV_VIRTIO_PCI_H */
