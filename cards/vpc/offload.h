/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest-to-host (TX) offloads of the VPC card's virtio-net device: what
 * the virtio-net header in front of a transmitted frame asks the device to
 * finish (virtio 1.2 §5.1.6.2), done here so that everything after it
 * (security groups, connection tracking, encapsulation) sees only complete,
 * checksummed Ethernet frames no larger than the guest's segments.
 *
 *  - VIRTIO_NET_F_CSUM: a frame with VIRTIO_NET_HDR_F_NEEDS_CSUM has the
 *    ones' complement sum from csum_start to its end stored at
 *    csum_start + csum_offset (the driver left the pseudo-header sum there).
 *  - VIRTIO_NET_F_HOST_TSO4 / HOST_TSO6: a frame with gso_type TCPV4 or
 *    TCPV6 is TCP over IPv4 or IPv6 whose payload is cut into gso_size
 *    (MSS) pieces, each sent with a copy of the headers made right for it
 *    (RFC 9293 sequence numbers and checksum, RFC 791 total length,
 *    identification and header checksum, RFC 8200 payload length).
 *
 * Not offered, so refused: UFO, USO, HOST_ECN, GUEST_HDRLEN.  Without
 * GUEST_HDRLEN, hdr_len is only a hint the device must not rely on
 * (§5.1.6.2.2; Linux puts the length of the skb's linear part there), so
 * the header length is read from the headers themselves.
 *
 * The input is untrusted: a header that asks for an offload the driver did
 * not negotiate, or that does not describe the frame, drops the frame,
 * counted by reason (counters.h) and logged once.
 */
#ifndef CV_VPC_OFFLOAD_H
#define CV_VPC_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/counters.h"
#include "guest-abi/virtio.h"

/*
 * Segments one GSO frame may become.  64 KiB at IPv4's smallest MSS (536,
 * RFC 9293 §3.7.1) is 123 segments; 1024 still takes an MSS of 64 bytes,
 * while bounding what one descriptor chain can make the card do (a
 * gso_size of 1 would be 65,000 frames through the security groups).
 */
#define VPC_OFFLOAD_MAX_SEGS 1024

/* A complete frame; valid only during the call. */
typedef void (*vpc_frame_fn)(void *opaque, const uint8_t *frame, size_t len);

struct vpc_offload_stats {
	uint64_t csum;      /* NEEDS_CSUM frames completed (no GSO) */
	uint64_t gso;       /* GSO frames segmented */
	uint64_t segments;  /* the frames they became */
	uint64_t drops[VPC_DROP__COUNT]; /* by the reasons offload.c gives */
};

struct vpc_offload {
	uint64_t features;  /* what the driver negotiated (§5.1.3) */
	vpc_frame_fn emit;
	void *opaque;
	const char *name;   /* who, in the log */
	struct vpc_offload_stats stats;
};

/*
 * Hands the frame the guest sent with @hdr to o->emit as complete frames:
 * once as it is (no offload asked), once with its checksum completed, or
 * once per segment.  @frame is rewritten in place.  0, or -EINVAL when
 * the frame is dropped (counted under its reason in o->stats.drops).
 */
int vpc_offload_tx(struct vpc_offload *o, const struct virtio_net_hdr_v1 *hdr,
		   uint8_t *frame, size_t len);

#endif /* CV_VPC_OFFLOAD_H */
