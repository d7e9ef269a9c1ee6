/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-net device type (virtio 1.2 §5.1): one queue pair
 * (receiveq1, transmitq1) and no control queue, the net header's offloads
 * passed through from the back-end, and MAC and link status emulated here
 * in the device configuration.
 */
#include "hv/virtio_net.h"

#include <linux/virtio_ids.h>
#include <errno.h>
#include <string.h>

#include "guest-abi/pci_ids.h"
#include "guest-abi/virtio.h"

/*
 * §5.1.3: the offloads the back-end implements.  MQ and CTRL_VQ are not
 * among them: this device has one queue pair and no control queue.
 */
#define VNET_BACKEND_FEATURES                                                      \
	(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CSUM) |         \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |   \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) |    \
	 VIRTIO_BIT(VIRTIO_NET_F_GUEST_UFO) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |     \
	 VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) |      \
	 VIRTIO_BIT(VIRTIO_NET_F_HOST_UFO))

static int vnet_setup(struct vuc *vu, const void *mac, void *config, uint32_t *len,
		      unsigned *nr_queues)
{
	struct virtio_net_config *c = config;

	(void)vu;
	if (*len < sizeof(*c))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	memcpy(c->mac, mac, sizeof(c->mac));
	c->status = VIRTIO_NET_S_LINK_UP;
	*len = sizeof(*c);
	*nr_queues = 2;
	return 0;
}

/* The back-end is the wire: without it the link is down (§5.1.4, VIRTIO_NET_S_LINK_UP). */
static void vnet_link(void *config, bool up)
{
	((struct virtio_net_config *)config)->status = up ? VIRTIO_NET_S_LINK_UP : 0;
}

static const struct virtio_pci_type virtio_net_type = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = PCI_CLASS_NETWORK_ETHERNET,
	.backend_features = VNET_BACKEND_FEATURES,
	.frontend_features = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS),
	.setup = vnet_setup,
	.backend_link = vnet_link,
};

int virtio_net_pci_plug(struct virtio_pci **out, struct pci_bus *bus,
			struct irq_routing *irq, const struct guest_mem *mem,
			int vm_fd, unsigned slot, const char *socket_path,
			const uint8_t mac[6])
{
	return virtio_pci_plug(out, &virtio_net_type, mac, bus, irq, mem, vm_fd, slot,
			       socket_path);
}
