/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vhost-user wire format (QEMU docs/interop/vhost-user.rst): the messages a
 * front-end (cv-hv, QEMU, DPDK's net_virtio_user) and a back-end (cv-vpc)
 * exchange over a UNIX stream socket.  File descriptors travel as
 * SCM_RIGHTS ancillary data of the message's first byte.  Fields are in the
 * host's byte order ("Message Specification").
 */
#ifndef CV_GUEST_ABI_VHOST_USER_H
#define CV_GUEST_ABI_VHOST_USER_H

#include <stdint.h>

/* "Header": request, flags, payload size. */
struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));

#define VHOST_USER_VERSION 0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_REPLY_MASK (1U << 2)
#define VHOST_USER_NEED_REPLY_MASK (1U << 3)

/* "Front-end message types". */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_LOG_BASE = 6,
	VHOST_USER_SET_LOG_FD = 7,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_SEND_RARP = 19,
	VHOST_USER_NET_SET_MTU = 20,
	VHOST_USER_SET_BACKEND_REQ_FD = 21,
	VHOST_USER_IOTLB_MSG = 22,
	VHOST_USER_SET_VRING_ENDIAN = 23,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_SET_CONFIG = 25,
	VHOST_USER_GET_INFLIGHT_FD = 31,
	VHOST_USER_SET_INFLIGHT_FD = 32,
	VHOST_USER_RESET_DEVICE = 34,
	VHOST_USER_VRING_KICK = 35,
	VHOST_USER_GET_MAX_MEM_SLOTS = 36,
	VHOST_USER_ADD_MEM_REG = 37,
	VHOST_USER_REM_MEM_REG = 38,
	VHOST_USER_SET_STATUS = 39,
	VHOST_USER_GET_STATUS = 40,
};

/* Virtio feature bit 30: the back-end speaks the protocol feature messages. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
/* Virtio feature bit 26 (vhost's own): dirty-page logging for migration. */
#define VHOST_F_LOG_ALL 26

/* "Protocol features". */
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD 1
#define VHOST_USER_PROTOCOL_F_RARP 2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_PROTOCOL_F_NET_MTU 4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ 5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN 6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION 7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT 8
#define VHOST_USER_PROTOCOL_F_CONFIG 9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD 10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER 11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD 12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS 15
#define VHOST_USER_PROTOCOL_F_STATUS 16

/* "A vring state description": index and num (size, or the avail index). */
struct vhost_user_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

/*
 * "A vring address description": the three parts of a split ring as
 * front-end virtual addresses (translated through the memory table's
 * userspace_addr), plus the log address when flags has VHOST_VRING_F_LOG.
 */
#define VHOST_VRING_F_LOG 0
struct vhost_user_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
} __attribute__((packed));

/* "Memory region description" and "Multiple Memory regions description". */
struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

#define VHOST_MEMORY_BASELINE_NREGIONS 8
struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_MEMORY_BASELINE_NREGIONS];
} __attribute__((packed));

/*
 * The u64 payload of SET_VRING_KICK/CALL/ERR: the ring index in bits 0-7;
 * bit 8 set means no file descriptor accompanies the message.
 */
#define VHOST_USER_VRING_IDX_MASK 0xffULL
#define VHOST_USER_VRING_NOFD_MASK (1ULL << 8)

_Static_assert(sizeof(struct vhost_user_hdr) == 12, "vhost-user header is 12 bytes");
_Static_assert(sizeof(struct vhost_user_vring_addr) == 40, "vring address is 40 bytes");
_Static_assert(sizeof(struct vhost_user_mem_region) == 32, "memory region is 32 bytes");
_Static_assert(sizeof(struct vhost_user_memory) == 8 + 8 * 32, "memory table");

/*
 * "Device config space" payload of GET_CONFIG / SET_CONFIG: offset and
 * size of the window, flags (VHOST_SET_CONFIG_TYPE_*), then @size bytes.
 */
#define VHOST_USER_MAX_CONFIG_SIZE 256
#define VHOST_SET_CONFIG_TYPE_FRONTEND 0
#define VHOST_SET_CONFIG_TYPE_MIGRATION 1
struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
} __attribute__((packed));
#define VHOST_USER_CONFIG_HDR_SIZE 12

/*
 * "Inflight I/O tracking" (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD): the
 * payload of GET_INFLIGHT_FD / SET_INFLIGHT_FD, and the split-ring layout
 * of the shared buffer the back-end hands out and the front-end keeps, so
 * a restarted back-end finds which chains its predecessor had taken and
 * not completed.  One QueueRegionSplit per virtqueue, each holding one
 * DescStateSplit per descriptor of the queue.
 */
struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint8_t padding[4];
} __attribute__((packed));

struct vhost_user_desc_state_split {
	uint8_t inflight;   /* this head was taken and is not completed */
	uint8_t padding[5];
	uint16_t next;      /* the last batch of used heads, a list */
	uint64_t counter;   /* the order heads were taken in */
} __attribute__((packed));

#define VHOST_USER_INFLIGHT_VERSION 1
struct vhost_user_queue_region_split {
	uint64_t features;
	uint16_t version;   /* 0: a new (zeroed) buffer */
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;  /* used.idx once the last batch was cleared */
	struct vhost_user_desc_state_split desc[];
} __attribute__((packed));

_Static_assert(sizeof(struct vhost_user_inflight) == 24, "inflight payload is 24 bytes");
_Static_assert(sizeof(struct vhost_user_desc_state_split) == 16, "DescStateSplit is 16 bytes");
_Static_assert(sizeof(struct vhost_user_queue_region_split) == 16, "QueueRegionSplit header");

/* A request's name, for logs on either side of the socket. */
static inline const char *vhost_user_request_name(uint32_t request)
{
	static const char *const names[] = {
		[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
		[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
		[VHOST_USER_SET_OWNER] = "SET_OWNER",
		[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
		[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
		[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
		[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
		[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
		[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
		[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
		[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
		[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
		[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
		[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
		[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
		[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
		[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
		[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	};

	return request < sizeof(names) / sizeof(names[0]) && names[request] ?
		       names[request] : "unknown request";
}

#endif /* CV_GUEST_ABI_VHOST_USER_H */
