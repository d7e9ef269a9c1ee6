/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2 §5.2) on the virtio-pci transport: a volume whose
 * queues cv-ebs's vhost-user-blk face serves.  The configuration space
 * (capacity, limits, queue count) is the back-end's, read once with
 * VHOST_USER_GET_CONFIG: the card knows the volume, cv-hv does not.
 */
#ifndef CV_HV_VIRTIO_BLK_H
#define CV_HV_VIRTIO_BLK_H

#include "hv/virtio_pci.h"

/*
 * Plug a virtio-blk function at 00:@slot.0 whose back-end is
 * @socket_path.  -EOPNOTSUPP when the back-end does not offer its
 * configuration space (PROTOCOL_F_CONFIG); otherwise as virtio_pci_plug().
 */
int virtio_blk_pci_plug(struct virtio_pci **out, struct pci_bus *bus,
			struct irq_routing *irq, const struct guest_mem *mem, int vm_fd,
			unsigned slot, const char *socket_path);

#endif /* CV_HV_VIRTIO_BLK_H */
