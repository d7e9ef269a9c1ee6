/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio network device (virtio 1.2 §5.1) on virtio.c's transport:
 * one receive and one transmit queue, no offloads (checksums are the
 * stack's job), MAC, STATUS, MTU and MRG_RXBUF taken when offered.
 */
#ifndef CVG_VIRTIO_NET_H
#define CVG_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/guest/virtio.h"

#define VNET_TX_SLOTS   32
#define VNET_BUF_MAX    2048u   /* receive buffer and transmit slot size */
#define VNET_HDR_LEN    12u     /* struct virtio_net_hdr_v1 (§5.1.6) */
#define VNET_FRAME_MAX  1518u   /* Ethernet frame without FCS, one VLAN tag */

/* PCI device IDs (§4.1.2.1): modern 0x1040 + 1, transitional 0x1000. */
#define VIRTIO_ID_NET         1
#define VIRTIO_NET_PCI_TRANSITIONAL 0x1000

struct vnet_options {
	bool poll;               /* no interrupts */
	uint16_t qsize;          /* entries per queue, at most VIRTQ_GUEST_MAX */
	uint32_t rxbuf;          /* receive buffer bytes; below 1526 needs MRG_RXBUF */
	bool no_mrg;             /* refuse MRG_RXBUF */
};

struct vnet_stats {
	uint64_t tx, rx, rx_merged, rx_dropped, tx_busy, resets;
};

struct vnet {
	struct virtio_dev vd;
	struct vnet_options o;
	uint8_t mac[6];
	uint16_t mtu;
	bool link_up;
	bool mrg;                /* MRG_RXBUF negotiated */
	uint32_t rxbuf_len;
	/* A merged frame being collected across receive buffers. */
	uint32_t rx_have, rx_left;
	uint64_t next_status_check;
	struct vnet_stats st;
};

/*
 * Finds the device, negotiates, sets up both queues, fills the receive
 * queue and sets DRIVER_OK; prints "cvguest: net virtio ...".  Ring 0
 * only (PCI configuration); may be called again to start over.
 */
int vnet_init(struct vnet *n, const struct vnet_options *o);

/*
 * Queues one Ethernet frame (@len bytes, no FCS) for transmission;
 * -EBUSY when every slot is still in flight after reclaiming, -EMSGSIZE
 * when it does not fit a slot.
 */
int vnet_send(struct vnet *n, const void *frame, uint32_t len);

/*
 * Copies the next received frame to @frame (at most @size bytes) and sets
 * *len; -EAGAIN when none is complete yet.  Malformed used entries and
 * headers are counted as drops; the buffers go back to the device.
 */
int vnet_recv(struct vnet *n, void *frame, uint32_t size, uint32_t *len);

/*
 * Takes back finished transmit chains; true when the chain published with
 * @watch (a token of the caller's) came back among them.
 */
bool vnet_tx_reclaim(struct vnet *n, const void *watch);

/*
 * Waits a little (an interrupt in MSI-X mode, a pause when polling) and
 * every 10 ms looks at the device status: a device that set
 * DEVICE_NEEDS_RESET is reset and set up again (from either ring).
 * Returns 1 when it did so, 0 otherwise, or a negative errno.
 */
int vnet_idle(struct vnet *n);

/* The same recovery on demand; ring 0 or 3. */
int vnet_restart(struct vnet *n);

#endif /* CVG_VIRTIO_NET_H */
