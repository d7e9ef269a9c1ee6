/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfio-user protocol messages (QEMU docs/interop/vfio-user.rst, version 0.1),
 * the wire format between cv-hv (client) and a card (server).  All fields are
 * in host byte order: both ends run on one host.  Region and IRQ indices,
 * region/IRQ flag bits and SET_IRQS actions are those of <linux/vfio.h>, which
 * the protocol reuses.
 */
#ifndef CV_GUEST_ABI_VFIO_USER_H
#define CV_GUEST_ABI_VFIO_USER_H

#include <linux/vfio.h>
#include <stdint.h>

#define VFIO_USER_MAJOR 0
#define VFIO_USER_MINOR 1

/* Defaults a peer assumes when the other side names no value ("Version"). */
#define VFIO_USER_DEFAULT_MAX_MSG_FDS   1
#define VFIO_USER_DEFAULT_MAX_DATA_XFER (1u << 20)

/* "Commands" */
enum vfio_user_command {
	VFIO_USER_VERSION = 1,
	VFIO_USER_DMA_MAP = 2,
	VFIO_USER_DMA_UNMAP = 3,
	VFIO_USER_DEVICE_GET_INFO = 4,
	VFIO_USER_DEVICE_GET_REGION_INFO = 5,
	VFIO_USER_DEVICE_GET_REGION_IO_FDS = 6,
	VFIO_USER_DEVICE_GET_IRQ_INFO = 7,
	VFIO_USER_DEVICE_SET_IRQS = 8,
	VFIO_USER_REGION_READ = 9,
	VFIO_USER_REGION_WRITE = 10,
	VFIO_USER_DMA_READ = 11,
	VFIO_USER_DMA_WRITE = 12,
	VFIO_USER_DEVICE_RESET = 13,
	VFIO_USER_REGION_WRITE_MULTI = 15,
	VFIO_USER_DEVICE_FEATURE = 16,
	VFIO_USER_MIG_DATA_READ = 17,
	VFIO_USER_MIG_DATA_WRITE = 18,
};

/* "Header": Flags */
#define VFIO_USER_F_TYPE_MASK    0xfu
#define VFIO_USER_F_TYPE_COMMAND 0x0u
#define VFIO_USER_F_TYPE_REPLY   0x1u
#define VFIO_USER_F_NO_REPLY     (1u << 4)
#define VFIO_USER_F_ERROR        (1u << 5)

struct vfio_user_header {
	uint16_t msg_id;
	uint16_t command;
	uint32_t msg_size;  /* whole message, header included */
	uint32_t flags;
	uint32_t error;     /* errno, in an error reply */
};

/* "VFIO_USER_VERSION": followed by an optional NUL-terminated JSON object. */
struct vfio_user_version {
	uint16_t major;
	uint16_t minor;
	char data[];
};

/* "VFIO_USER_DMA_MAP": the region's fd, if mappable, rides as SCM_RIGHTS. */
#define VFIO_USER_F_DMA_REGION_READ  (1u << 0)
#define VFIO_USER_F_DMA_REGION_WRITE (1u << 1)

struct vfio_user_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t offset;    /* into the fd */
	uint64_t address;   /* DMA (guest physical) address */
	uint64_t size;
};

/* "VFIO_USER_DMA_UNMAP": the reply echoes the request. */
struct vfio_user_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t address;
	uint64_t size;
};

/* "VFIO_USER_DEVICE_GET_INFO" */
struct vfio_user_device_info {
	uint32_t argsz;
	uint32_t flags;     /* VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_FLAGS_PCI */
	uint32_t num_regions;
	uint32_t num_irqs;
};

/* "VFIO_USER_DEVICE_GET_REGION_INFO" */
struct vfio_user_region_info {
	uint32_t argsz;
	uint32_t flags;     /* VFIO_REGION_INFO_FLAG_* */
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
};

/* "VFIO_USER_DEVICE_GET_REGION_IO_FDS" */
struct vfio_user_region_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;     /* sub-regions that follow in the reply */
};

#define VFIO_USER_IO_FD_TYPE_IOEVENTFD  0
#define VFIO_USER_IO_FD_TYPE_IOREGIONFD 1

/* "Sub-Region IO FD info format (ioeventfd)"; flags are KVM_IOEVENTFD_FLAG_*. */
struct vfio_user_sub_region_ioeventfd {
	uint64_t offset;
	uint64_t size;
	uint32_t fd_index;
	uint32_t type;
	uint32_t flags;
	uint32_t padding;
	uint64_t datamatch;
};

/* "VFIO_USER_DEVICE_GET_IRQ_INFO" */
struct vfio_user_irq_info {
	uint32_t argsz;
	uint32_t flags;     /* VFIO_IRQ_INFO_* */
	uint32_t index;     /* VFIO_PCI_*_IRQ_INDEX */
	uint32_t count;
};

/* "VFIO_USER_DEVICE_SET_IRQS": eventfds ride as SCM_RIGHTS, one per sub-index. */
struct vfio_user_irq_set {
	uint32_t argsz;
	uint32_t flags;     /* VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_* */
	uint32_t index;
	uint32_t start;
	uint32_t count;
	uint8_t data[];     /* VFIO_IRQ_SET_DATA_BOOL only */
};

/* "VFIO_USER_REGION_READ" / "VFIO_USER_REGION_WRITE" */
struct vfio_user_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[];     /* read reply, write request */
};

_Static_assert(sizeof(struct vfio_user_header) == 16, "vfio-user header");
_Static_assert(sizeof(struct vfio_user_dma_map) == 32, "DMA_MAP");
_Static_assert(sizeof(struct vfio_user_dma_unmap) == 24, "DMA_UNMAP");
_Static_assert(sizeof(struct vfio_user_region_info) == 32, "REGION_INFO");
_Static_assert(sizeof(struct vfio_user_sub_region_ioeventfd) == 40, "IO_FDS entry");
_Static_assert(sizeof(struct vfio_user_irq_set) == 20, "SET_IRQS");
_Static_assert(sizeof(struct vfio_user_region_access) == 16, "REGION_READ/WRITE");

#endif /* CV_GUEST_ABI_VFIO_USER_H */
