/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (virtio 1.2 §5.1) on the virtio-pci transport: an ENI whose
 * queues its cv-vpc card serves over vhost-user.
 */
#ifndef CV_HV_VIRTIO_NET_H
#define CV_HV_VIRTIO_NET_H

#include <stdint.h>

#include "hv/virtio_pci.h"

/*
 * Plug a virtio-net function at 00:@slot.0 whose back-end is
 * @socket_path; @mac is the ENI's MAC (VIRTIO_NET_F_MAC), from the
 * instance description.  Errors as virtio_pci_plug().
 */
int virtio_net_pci_plug(struct virtio_pci **out, struct pci_bus *bus,
			struct irq_routing *irq, const struct guest_mem *mem,
			int vm_fd, unsigned slot, const char *socket_path,
			const uint8_t mac[6]);

#endif /* CV_HV_VIRTIO_NET_H */
