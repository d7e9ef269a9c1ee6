/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Virtio 1.2 over PCI, modern interface only (§4.1.4 "Virtio Structure PCI
 * Capabilities"), with split virtqueues (§2.7).  Device-independent: the
 * status handshake (§3.1.1), feature negotiation, queue set-up, MSI-X
 * vectors and DEVICE_NEEDS_RESET.  Memory is identity mapped, so a
 * buffer's address is its bus address.  Every value the device hands back
 * (used ring entries, queue sizes, capability offsets) is checked before use.
 */
#ifndef CVG_VIRTIO_H
#define CVG_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-abi/virtio.h"

/* The largest queue the guest sets up: one page of descriptors. */
#define VIRTQ_GUEST_MAX 256
#define VIRTIO_MAX_QUEUES 2
/* MSI-X entry 0 is configuration changes, entry 1 + q is queue q; they
 * raise IDT vectors from here (NVMe uses 0x50.., the LAPIC timer 0x40). */
#define VIRTIO_IRQ_VECTOR_BASE 0x60

/* §4.1.4.3 "no vector" for config_msix_vector and queue_msix_vector. */
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* A split virtqueue (§2.7) and the driver's own record of its chains. */
struct virtq {
	uint16_t index;
	uint16_t size;            /* entries, a power of 2 */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	volatile struct virtq_used *used;
	uintptr_t notify;         /* where the queue index is written (§4.1.4.4) */
	uint16_t avail_idx;       /* next avail->idx */
	uint16_t last_used;       /* used->idx consumed so far */
	uint16_t free_head, num_free;
	/* Shadows: the device may not write the descriptor table, but the
	 * driver does not read its own chains back from shared memory. */
	uint16_t next[VIRTQ_GUEST_MAX];
	uint16_t chain_len[VIRTQ_GUEST_MAX];  /* at a published head, else 0 */
	void *token[VIRTQ_GUEST_MAX];
};

struct virtio_dev {
	uint8_t dev, fn;
	uint16_t pci_device;
	uintptr_t common, isr, device_cfg;  /* mapped structures (§4.1.4) */
	uint32_t device_cfg_len;
	uintptr_t notify_base;
	uint32_t notify_len;
	uint32_t notify_mul;      /* notify_off_multiplier */
	uint64_t features;        /* negotiated */
	uint16_t num_queues;
	bool irq;                 /* MSI-X vectors assigned */
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

/*
 * Finds the first function on bus 0 with vendor 1af4 and the modern
 * device ID 0x1040 + @type, or the transitional ID @transitional, with
 * the modern capabilities; turns on memory decoding and bus mastering and
 * maps the common, notify, ISR and device structures.
 */
int virtio_pci_find(struct virtio_dev *d, uint16_t type, uint16_t transitional);

/*
 * §3.1.1 steps 1-6: reset, ACKNOWLEDGE, DRIVER, then accept @wanted & the
 * device's features (VIRTIO_F_VERSION_1 must be among them) and check
 * FEATURES_OK.  Sets FAILED and returns -EIO when the device refuses.
 */
int virtio_negotiate(struct virtio_dev *d, uint64_t wanted);

/*
 * Sets up queue @index with at most @max_size entries (a power of 2 not
 * above the device's size) and, if @irq, its MSI-X vector; enables it.
 */
int virtio_queue_setup(struct virtio_dev *d, uint16_t index, uint16_t max_size, bool irq);

/*
 * Programs MSI-X entries for the configuration vector and @queues queues
 * (see VIRTIO_IRQ_VECTOR_BASE) and enables MSI-X; false when the function
 * has too few entries (the driver then polls).
 */
bool virtio_msix_setup(struct virtio_dev *d, unsigned int queues);

/* §3.1.1 step 8; and FAILED, when set-up went wrong after negotiation. */
void virtio_driver_ok(struct virtio_dev *d);
void virtio_fail(struct virtio_dev *d);
uint8_t virtio_status(const struct virtio_dev *d);
/* Writes 0 and waits for the device to read back 0 (§4.1.4.3.2). */
int virtio_reset(struct virtio_dev *d);
/* Whether the device has set DEVICE_NEEDS_RESET (§2.1.2). */
bool virtio_needs_reset(const struct virtio_dev *d);

/*
 * Copies @len bytes of the device configuration at @off, retried while
 * config_generation moves (§4.1.4.3.1); -EINVAL beyond the structure.
 */
int virtio_read_config(const struct virtio_dev *d, uint32_t off, void *buf, uint32_t len);

/* Interrupts taken on any virtio vector. */
uint64_t virtio_irq_count(void);

/*
 * Descriptor chains.  virtq_alloc takes @n free descriptors and records
 * them as one chain ids[0] -> ids[1] -> ...; the caller fills the
 * descriptor table (it may lie there on purpose) and publishes the head.
 * The device returns the head in the used ring; virtq_get_used frees the
 * chain as the driver recorded it.
 */
int virtq_alloc(struct virtq *vq, unsigned int n, uint16_t *ids);
void virtq_publish(struct virtq *vq, uint16_t head, void *token);
/* Tells the device about new available entries unless it said not to. */
void virtq_kick(struct virtq *vq);

/* One buffer of a chain: device-readable, or writable with @write. */
struct virtq_buf {
	const void *addr;
	uint32_t len;
	bool write;
};

/* virtq_alloc, fill and publish in one: returns the head or -EBUSY. */
int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned int n, void *token);

/*
 * Takes the next used entry, if the device has posted one.  An entry
 * naming a descriptor that is not the head of a published chain is a
 * device error: reported once, skipped, and -EPROTO returned.
 */
int virtq_get_used(struct virtq *vq, uint32_t *len, void **token);
/* Used entries posted and not yet taken. */
uint16_t virtq_used_pending(const struct virtq *vq);

#endif /* CVG_VIRTIO_H */
