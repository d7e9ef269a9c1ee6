/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-blk device type (virtio 1.2 §5.2): everything from the
 * back-end.  Its features pass through, its configuration space is read
 * with GET_CONFIG, and with VIRTIO_BLK_F_MQ its num_queues sets the queue
 * count (at most VIRTIO_PCI_QUEUES_MAX; the configuration the driver reads
 * says no more than that).
 */
#include "hv/virtio_blk.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <string.h>

#include "guest-abi/pci_ids.h"
#include "guest-abi/virtio.h"
#include "guest-abi/virtio_blk.h"
#include "hv/vhost_user_client.h"
#include "tools/lib/log.h"

/*
 * §5.2.3: what a volume's back-end may offer.  CONFIG_WCE is left out:
 * cv-hv keeps the configuration read-only (a write would need SET_CONFIG).
 */
#define VBLK_BACKEND_FEATURES                                                       \
	(VIRTIO_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) |        \
	 VIRTIO_BIT(VIRTIO_BLK_F_GEOMETRY) | VIRTIO_BIT(VIRTIO_BLK_F_RO) |             \
	 VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |          \
	 VIRTIO_BIT(VIRTIO_BLK_F_TOPOLOGY) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |             \
	 VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES))

static int vblk_setup(struct vuc *vu, const void *arg, void *config, uint32_t *len,
		      unsigned *nr_queues)
{
	struct virtio_blk_config *c = config;
	int r;

	(void)arg;
	if (*len < sizeof(*c))
		return -EINVAL;
	r = vuc_get_config(vu, 0, c, sizeof(*c));
	if (r)
		return r;
	*len = sizeof(*c);
	*nr_queues = 1;
	if (vu->features & VIRTIO_BIT(VIRTIO_BLK_F_MQ)) {
		if (!c->num_queues) {
			cv_err("virtio-blk: %s: MQ with num_queues 0", vu->path);
			return -EPROTO;
		}
		if (c->num_queues > VIRTIO_PCI_QUEUES_MAX)
			c->num_queues = VIRTIO_PCI_QUEUES_MAX;
		*nr_queues = c->num_queues;
	}
	return 0;
}

static const struct virtio_pci_type virtio_blk_type = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = PCI_CLASS_STORAGE_SCSI,
	.backend_features = VBLK_BACKEND_FEATURES,
	.setup = vblk_setup,
};

int virtio_blk_pci_plug(struct virtio_pci **out, struct pci_bus *bus,
			struct irq_routing *irq, const struct guest_mem *mem, int vm_fd,
			unsigned slot, const char *socket_path)
{
	return virtio_pci_plug(out, &virtio_blk_type, NULL, bus, irq, mem, vm_fd, slot,
			       socket_path);
}
