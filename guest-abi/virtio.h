/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtio 1.2 (OASIS, 2022) layouts shared by the device side (cv-vpc) and
 * any driver (the test guest): feature bits (§6), split virtqueue rings
 * (§2.7), and the network device's header and feature bits (§5.1).
 * Every multi-byte field is little-endian (§1.4: VERSION_1 devices are
 * little-endian); x86-64 is too, so the structs are used in place.
 * The packed ring (§2.8) is not described: cardvisor does not offer
 * VIRTIO_F_RING_PACKED.
 */
#ifndef CV_GUEST_ABI_VIRTIO_H
#define CV_GUEST_ABI_VIRTIO_H

#include <stdint.h>

/* §6 Reserved feature bits (device-independent). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35
#define VIRTIO_F_ORDER_PLATFORM 36
#define VIRTIO_F_SR_IOV 37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_NOTIF_CONFIG_DATA 39
#define VIRTIO_F_RING_RESET 40

#define VIRTIO_BIT(b) (1ULL << (b))

/* §2.1 Device status field. */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* §2.6 A split virtqueue holds at most 32768 entries, a power of 2. */
#define VIRTQ_MAX_SIZE 32768

/* §2.7.5 The Virtqueue Descriptor Table. */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc {
	uint64_t addr; /* guest physical */
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* §2.7.6 The Virtqueue Available Ring; used_event follows ring[size]. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

/* §2.7.8 The Virtqueue Used Ring; avail_event follows ring[size]. */
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_used_elem {
	uint32_t id;  /* head of the chain, uint32 for padding reasons */
	uint32_t len; /* bytes written into the device-writable part */
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
};

/* §2.7 alignment and size of each part for a queue of @n entries. */
#define VIRTQ_DESC_ALIGN 16
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_USED_ALIGN 4
#define VIRTQ_DESC_SIZE(n) (16ULL * (n))
#define VIRTQ_AVAIL_SIZE(n) (6ULL + 2ULL * (n))
#define VIRTQ_USED_SIZE(n) (6ULL + 8ULL * (n))

/* §5.1.3 Network device feature bits. */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_CTRL_GUEST_OFFLOADS 2
#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10
#define VIRTIO_NET_F_HOST_TSO4 11
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_HOST_ECN 13
#define VIRTIO_NET_F_HOST_UFO 14
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16
#define VIRTIO_NET_F_CTRL_VQ 17
#define VIRTIO_NET_F_CTRL_RX 18
#define VIRTIO_NET_F_CTRL_VLAN 19
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21
#define VIRTIO_NET_F_MQ 22
#define VIRTIO_NET_F_CTRL_MAC_ADDR 23

/* §5.1.4 Device configuration layout (the fields up to mtu). */
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

struct virtio_net_config {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

/*
 * §5.1.2 Virtqueues: receiveq1, transmitq1, ... receiveqN, transmitqN, then
 * the controlq.  Queue 2k receives for pair k, queue 2k+1 transmits.
 */
#define VIRTIO_NET_RXQ(pair) (2U * (pair))
#define VIRTIO_NET_TXQ(pair) (2U * (pair) + 1U)
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN 1
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX 0x8000

/* §5.1.6 Device Operation: the header before every frame, both ways. */
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_F_RSC_INFO 4

#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN 0x80

struct virtio_net_hdr_v1 {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers; /* RX with MRG_RXBUF: buffers this frame spans */
} __attribute__((packed));

_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");
_Static_assert(sizeof(struct virtq_used_elem) == 8, "used element is 8 bytes");
_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 is 12 bytes");

#endif /* CV_GUEST_ABI_VIRTIO_H */
