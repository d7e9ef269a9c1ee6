/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-net device (virtio 1.2 §5.1) of the VPC card, served over
 * vhost-user: frames the guest transmits leave through the tx callback,
 * frames for the guest go in with vnet_rx().  No filtering here: security
 * groups, encapsulation, ARP and DHCP sit above this file.
 *
 * Offered: VERSION_1, MRG_RXBUF, INDIRECT_DESC, EVENT_IDX, MQ when more
 * than one queue pair is asked for, and the transmit offloads CSUM,
 * HOST_TSO4 and HOST_TSO6: offload.c completes the checksum and cuts a
 * TCP frame into its segments, so the tx callback still gets complete,
 * checksummed Ethernet frames of the guest's segment size, one call each,
 * as the SG and encapsulation layers need.  Not offered, on purpose:
 * GUEST_CSUM, GUEST_TSO4/6, GUEST_ECN, GUEST_UFO (frames for the guest
 * are complete and checksummed too), HOST_ECN, HOST_UFO, HOST_USO and
 * GUEST_HDRLEN (offload.h says why); MAC, STATUS and CTRL_VQ (the
 * front-end owns the config space and the control queue: QEMU and
 * virtio_user emulate them and pick the queue pairs with
 * SET_VRING_ENABLE).
 */
#ifndef CV_VPC_VNET_H
#define CV_VPC_VNET_H

#include <stddef.h>
#include <stdint.h>

#include "cards/lib/vhost_user.h"
#include "cards/vpc/offload.h"

/* Largest Ethernet frame carried either way (a TSO frame before it is cut). */
#define VNET_FRAME_MAX 65535
#define VNET_FRAME_MIN 14
#define VNET_MAX_PAIRS (VU_MAX_RINGS / 2)
/* Buffers one received frame may span with MRG_RXBUF. */
#define VNET_RX_MAX_BUFS 64

/* A frame the guest sent; valid only during the call, which may vnet_rx. */
typedef vpc_frame_fn vnet_tx_fn;

struct vnet_config {
	const char *path; /* vhost-user socket to listen on */
	unsigned pairs;   /* queue pairs, 1..VNET_MAX_PAIRS */
	vnet_tx_fn tx;
	void *opaque;
};

struct vnet_stats {
	uint64_t tx_frames, tx_bytes; /* chains, before segmentation */
	uint64_t tx_bad;        /* bad length, or a header offload.c refused */
	uint64_t rx_frames, rx_bytes;
	uint64_t rx_no_buffer;  /* guest posted too few buffers: dropped */
	uint64_t rx_too_big;    /* frame larger than what the guest can take */
	uint64_t rx_bad_buffer; /* RX buffer readable or smaller than the header */
	uint64_t rx_no_queue;   /* no RX queue live (driver not up) */
};

struct vnet {
	struct vu_dev vu;
	unsigned pairs;
	struct vnet_stats stats;
	struct vpc_offload offload; /* its stats: offloads done, refusals by reason */
	/* Separate, so the tx callback may call vnet_rx (an echo, a reply). */
	struct virtq_elem tx_elem, rx_elem, rx_first;
	uint8_t frame[VNET_FRAME_MAX];
};

int vnet_open(struct vnet *n, const struct vnet_config *cfg);
void vnet_close(struct vnet *n);

/* For the card's event loop: poll vnet_fd(), call vnet_process(). */
int vnet_fd(const struct vnet *n);
int vnet_process(struct vnet *n);

/*
 * Deliver @frame to the guest on the RX queue its flow hashes to: 0, or
 * -ENOTCONN (no RX queue live), -ENOBUFS (guest buffers short), -EMSGSIZE
 * (frame too big for the guest); every drop is counted.
 */
int vnet_rx(struct vnet *n, const uint8_t *frame, size_t len);

#endif /* CV_VPC_VNET_H */
