/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/virtio_pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <linux/virtio_ids.h>
#define VIRTIO_PCI_NO_LEGACY
#include <linux/virtio_pci.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "guest-abi/pci_ids.h"
#include "guest-abi/virtio.h"
#include "hv/msix.h"
#include "hv/vhost_user_client.h"
#include "tools/lib/log.h"

/* Queues a device type may ask for (struct virtio_pci_type's setup). */
#define VP_QUEUES_MAX VIRTIO_PCI_QUEUES_MAX
/* Largest queue offered; the driver may pick a smaller power of 2 (§4.1.4.3.2). */
#define VP_QUEUE_MAX 256
/* MSI-X: vector 0 for configuration changes, one per queue (as Linux asks). */
#define VP_VECTORS_MAX (1 + VP_QUEUES_MAX)

/* §4.1.2.1: modern devices are 0x1040 + the virtio device ID, revision >= 1. */
#define VP_DEVICE_ID_BASE 0x1040
#define VP_REVISION 1
/* §4.1.2.1 asks for a subsystem device ID of 0x40 or more; QEMU's value. */
#define VP_SUBSYSTEM_ID 0x1100

#define VP_MSIX_BAR 1
#define VP_MSIX_BAR_SIZE 0x1000
#define VP_MSIX_PBA_OFF 0x800
#define VP_BAR 4
#define VP_BAR_SIZE 0x4000
#define VP_REGION_SIZE 0x1000 /* one page per structure, as QEMU */
#define VP_COMMON_OFF 0x0000
#define VP_ISR_OFF 0x1000
#define VP_DEVICE_OFF 0x2000
#define VP_NOTIFY_OFF 0x3000
/* §4.1.4.4: each queue its own 4-byte notify address, so each its ioeventfd. */
#define VP_NOTIFY_MULT 4
/* struct virtio_pci_common_cfg through queue_device (no NOTIF_CONFIG_DATA, RING_RESET). */
#define VP_COMMON_LEN 0x38

/*
 * The ring layout options (§6) every device type passes through when the
 * back-end offers them; a type adds its own (struct virtio_pci_type).
 */
#define VP_RING_FEATURES                                                    \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | \
	 VIRTIO_BIT(VIRTIO_F_EVENT_IDX))

struct vp_queue {
	uint16_t size;
	uint16_t msix_vector;
	bool enable;
	uint64_t desc, driver, device; /* guest physical */
	int kick;                      /* KVM ioeventfd on the notify address */
	bool started;                  /* handed to the back-end */
};

struct virtio_pci {
	pthread_mutex_t lock; /* everything below; taken after the function's lock */
	char name[32];
	const struct virtio_pci_type *type;
	uint64_t backend_features; /* VP_RING_FEATURES and the type's */
	unsigned nr_queues, nr_vectors;
	struct pci_config cfg;
	int msix_cap, pci_cfg_cap;
	struct msix msix;
	int call[VP_VECTORS_MAX]; /* one per vector, bound as its irqfd */
	int call_sink;        /* for queues without a vector: never read */
	struct pci_bus *bus;
	unsigned slot;
	const struct guest_mem *mem;
	int vm_fd;
	bool notify_mapped;
	uint64_t notify_base;

	/* §4.1.4.3 common configuration. */
	uint64_t device_features, driver_features;
	uint32_t dfselect, gfselect;
	uint16_t msix_config;
	uint8_t status;
	uint8_t generation;
	uint16_t queue_select;
	uint8_t isr;
	struct vp_queue q[VP_QUEUES_MAX];
	uint8_t config[VIRTIO_PCI_CONFIG_MAX]; /* the type's device configuration (§4.1.4.6) */
	uint32_t config_len;

	/* The back-end. */
	char path[sizeof(((struct vuc *)0)->path)];
	struct vuc vu;
	bool outage_logged;
	uint64_t reconnects;
	pthread_t monitor;
	bool stopping;
};

/*
 * The device configuration (or the status, for DEVICE_NEEDS_RESET)
 * changed: a new generation, so a driver reading across it retries
 * (§4.1.4.3.1), and once the driver is up, a configuration change
 * notification (§4.1.5.3) on its vector with the ISR bit set.
 */
static void config_changed(struct virtio_pci *vp)
{
	vp->generation++;
	if (!(vp->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	vp->isr |= VIRTIO_PCI_ISR_CONFIG;
	if (vp->msix_config != VIRTIO_MSI_NO_VECTOR)
		msix_notify(&vp->msix, vp->msix_config);
}

/*
 * §2.1.2: an error only a reset recovers from.  With DRIVER_OK set the
 * driver must hear of it through a configuration change notification.
 * The caller has logged why.
 */
static void needs_reset(struct virtio_pci *vp)
{
	if (vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	vp->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	config_changed(vp);
}

static bool backend_up(const struct virtio_pci *vp)
{
	return vp->vu.fd >= 0 && !vp->vu.broken;
}

static int call_fd(const struct virtio_pci *vp, uint16_t vector)
{
	return vector < vp->nr_vectors ? vp->call[vector] : vp->call_sink;
}

static int backend_set_features(struct virtio_pci *vp)
{
	/* Acking PROTOCOL_FEATURES makes rings start disabled until SET_VRING_ENABLE. */
	return vuc_set_features(&vp->vu, (vp->driver_features & vp->backend_features) |
				(vp->vu.features &
				 VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)));
}

static int queue_start(struct virtio_pci *vp, unsigned i, uint16_t base)
{
	struct vp_queue *q = &vp->q[i];
	uintptr_t desc = (uintptr_t)guest_mem_ptr(vp->mem, q->desc, VIRTQ_DESC_SIZE(q->size));
	uintptr_t avail = (uintptr_t)guest_mem_ptr(vp->mem, q->driver,
						   VIRTQ_AVAIL_SIZE(q->size));
	uintptr_t used = (uintptr_t)guest_mem_ptr(vp->mem, q->device, VIRTQ_USED_SIZE(q->size));
	int r;

	/* The order QEMU's vhost_virtqueue_start uses. */
	r = vuc_set_vring_num(&vp->vu, i, q->size);
	if (!r)
		r = vuc_set_vring_base(&vp->vu, i, base);
	if (!r)
		r = vuc_set_vring_addr(&vp->vu, i, desc, avail, used);
	if (!r)
		r = vuc_set_vring_kick(&vp->vu, i, q->kick);
	if (!r)
		r = vuc_set_vring_call(&vp->vu, i, call_fd(vp, q->msix_vector));
	if (!r)
		r = vuc_set_vring_enable(&vp->vu, i, true);
	q->started = !r;
	return r;
}

/*
 * Hand memory and every enabled ring to the back-end.  A fresh start
 * begins at index 0; after a reconnect the old back-end's position is
 * lost, so rings resume at the used index (what QEMU does): buffers it
 * had taken but not returned are processed again.
 */
static int backend_start(struct virtio_pci *vp, bool resume)
{
	int r = vuc_set_mem_table(&vp->vu, vp->mem);

	for (unsigned i = 0; i < vp->nr_queues && !r; i++) {
		uint16_t base = 0;

		if (!vp->q[i].enable)
			continue;
		if (resume)
			r = guest_mem_read(vp->mem, vp->q[i].device +
					   offsetof(struct virtq_used, idx), &base, sizeof(base));
		if (!r)
			r = queue_start(vp, i, base);
	}
	return r;
}

/*
 * Stop every started ring.  GET_VRING_BASE returns only once the back-end
 * has stopped processing it (vhost-user.rst, "Starting and stopping
 * rings"), which is what a reset must wait for (§2.4).
 */
static void backend_stop(struct virtio_pci *vp)
{
	for (unsigned i = 0; i < vp->nr_queues; i++) {
		uint16_t base;

		if (!vp->q[i].started)
			continue;
		vp->q[i].started = false;
		/* A back-end that is gone has stopped everything already. */
		if (backend_up(vp) && (vuc_set_vring_enable(&vp->vu, i, false) ||
		    vuc_get_vring_base(&vp->vu, i, &base)))
			cv_warn("virtio-pci: %s: could not stop ring %u on the back-end",
				vp->name, i);
	}
}

static void device_reset(struct virtio_pci *vp)
{
	backend_stop(vp);
	if (backend_up(vp))
		vp->device_features = (vp->vu.features & vp->backend_features) |
				      vp->type->frontend_features;
	vp->driver_features = 0;
	vp->dfselect = vp->gfselect = 0;
	vp->msix_config = VIRTIO_MSI_NO_VECTOR;
	vp->status = 0;
	vp->queue_select = 0;
	vp->isr = 0;
	for (unsigned i = 0; i < vp->nr_queues; i++) {
		struct vp_queue *q = &vp->q[i];

		q->size = VP_QUEUE_MAX;
		q->msix_vector = VIRTIO_MSI_NO_VECTOR;
		q->enable = false;
		q->desc = q->driver = q->device = 0;
	}
}

/* §3.1.1 step 5: accept only what was offered, and VERSION_1 (§6.1). */
static bool features_ok(const struct virtio_pci *vp)
{
	return !(vp->driver_features & ~vp->device_features) &&
	       (vp->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1));
}

static void status_write(struct virtio_pci *vp, uint8_t v)
{
	uint8_t added;
	int r;

	if (!v) {
		device_reset(vp);
		return;
	}
	/* The device alone sets DEVICE_NEEDS_RESET; the driver echoes it back. */
	v = (uint8_t)((v & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
		      (vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	if (vp->status & ~v) {
		cv_err_once("virtio-pci: %s: driver cleared status bits (%#x -> %#x) "
			    "without a reset: ignored", vp->name, vp->status, v);
		return;
	}
	added = v & ~vp->status;
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !features_ok(vp)) {
		cv_err_once("virtio-pci: %s: driver features %#llx not a subset of "
			    "%#llx with VERSION_1: FEATURES_OK refused", vp->name,
			    (unsigned long long)vp->driver_features,
			    (unsigned long long)vp->device_features);
		v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		added &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK)) {
		cv_err_once("virtio-pci: %s: DRIVER_OK without FEATURES_OK: ignored",
			    vp->name);
		v &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
		added &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	}
	vp->status = v;
	/* A back-end away now gets all of this replayed when it returns. */
	if (!backend_up(vp))
		return;
	r = 0;
	if (added & VIRTIO_STATUS_FEATURES_OK)
		r = backend_set_features(vp);
	if (!r && (added & VIRTIO_STATUS_DRIVER_OK) &&
	    !(v & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		r = backend_start(vp, false);
	if (r && backend_up(vp)) {
		/* The driver can retry this at will: once. */
		cv_err_once("virtio-pci: %s: back-end refused the device set-up: "
			    "DEVICE_NEEDS_RESET", vp->name);
		needs_reset(vp);
	}
}

/* §2.7: the three parts of a split ring, aligned and in RAM. */
static bool queue_valid(const struct virtio_pci *vp, const struct vp_queue *q)
{
	return !(q->desc % VIRTQ_DESC_ALIGN) && !(q->driver % VIRTQ_AVAIL_ALIGN) &&
	       !(q->device % VIRTQ_USED_ALIGN) &&
	       guest_mem_ptr(vp->mem, q->desc, VIRTQ_DESC_SIZE(q->size)) &&
	       guest_mem_ptr(vp->mem, q->driver, VIRTQ_AVAIL_SIZE(q->size)) &&
	       guest_mem_ptr(vp->mem, q->device, VIRTQ_USED_SIZE(q->size));
}

static uint16_t vector_checked(struct virtio_pci *vp, uint32_t v)
{
	/* §4.1.5.1.2: a vector the device cannot use reads back NO_VECTOR. */
	if (v < vp->nr_vectors || v == VIRTIO_MSI_NO_VECTOR)
		return (uint16_t)v;
	cv_err_once("virtio-pci: %s: MSI-X vector %u of %u: NO_VECTOR", vp->name, v,
		    vp->nr_vectors);
	return VIRTIO_MSI_NO_VECTOR;
}

/* Natural width of the common configuration field at @off (§4.1.3.1). */
static unsigned common_width(uint64_t off)
{
	if (off < VIRTIO_PCI_COMMON_MSIX ||
	    (off >= VIRTIO_PCI_COMMON_Q_DESCLO && off < VP_COMMON_LEN))
		return 4;
	if (off == VIRTIO_PCI_COMMON_STATUS || off == VIRTIO_PCI_COMMON_CFGGENERATION)
		return 1;
	return off < VP_COMMON_LEN ? 2 : 0;
}

static uint32_t half(uint64_t v, unsigned sel)
{
	return sel < 2 ? (uint32_t)(v >> (32 * sel)) : 0;
}

static void set_half(uint64_t *v, unsigned sel, uint32_t val)
{
	*v = (*v & ~(0xffffffffULL << (32 * sel))) | (uint64_t)val << (32 * sel);
}

static uint32_t common_read(struct virtio_pci *vp, uint64_t off)
{
	struct vp_queue *q = vp->queue_select < vp->nr_queues ? &vp->q[vp->queue_select] : NULL;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: return vp->dfselect;
	case VIRTIO_PCI_COMMON_DF: return half(vp->device_features, vp->dfselect);
	case VIRTIO_PCI_COMMON_GFSELECT: return vp->gfselect;
	case VIRTIO_PCI_COMMON_GF: return half(vp->driver_features, vp->gfselect);
	case VIRTIO_PCI_COMMON_MSIX: return vp->msix_config;
	case VIRTIO_PCI_COMMON_NUMQ: return vp->nr_queues;
	case VIRTIO_PCI_COMMON_STATUS: return vp->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION: return vp->generation;
	case VIRTIO_PCI_COMMON_Q_SELECT: return vp->queue_select;
	}
	/* §4.1.4.3.2: a queue that does not exist reads queue_size 0. */
	if (!q)
		return 0;
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE: return q->size;
	case VIRTIO_PCI_COMMON_Q_MSIX: return q->msix_vector;
	case VIRTIO_PCI_COMMON_Q_ENABLE: return q->enable;
	case VIRTIO_PCI_COMMON_Q_NOFF: return vp->queue_select;
	case VIRTIO_PCI_COMMON_Q_DESCLO: return half(q->desc, 0);
	case VIRTIO_PCI_COMMON_Q_DESCHI: return half(q->desc, 1);
	case VIRTIO_PCI_COMMON_Q_AVAILLO: return half(q->driver, 0);
	case VIRTIO_PCI_COMMON_Q_AVAILHI: return half(q->driver, 1);
	case VIRTIO_PCI_COMMON_Q_USEDLO: return half(q->device, 0);
	case VIRTIO_PCI_COMMON_Q_USEDHI: return half(q->device, 1);
	}
	return 0;
}

static void queue_write(struct virtio_pci *vp, struct vp_queue *q, uint64_t off,
			uint32_t v)
{
	unsigned i = (unsigned)(q - vp->q);

	if (off == VIRTIO_PCI_COMMON_Q_MSIX) {
		q->msix_vector = vector_checked(vp, v);
		if (q->started && vuc_set_vring_call(&vp->vu, i, call_fd(vp, q->msix_vector)))
			cv_warn("virtio-pci: %s: queue %u's new vector not given to the back-end",
				vp->name, i);
		return;
	}
	/* §4.1.4.3.2: the rest is written before queue_enable, then fixed. */
	if (q->enable) {
		cv_err_once("virtio-pci: %s: write at %#llx to enabled queue %u ignored",
			    vp->name, (unsigned long long)off, i);
		return;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (!v || v > VP_QUEUE_MAX || (v & (v - 1)))
			cv_err_once("virtio-pci: %s: queue %u size %u (power of 2 up to %u) "
				    "ignored", vp->name, i, v, VP_QUEUE_MAX);
		else
			q->size = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (v != 1) {
			cv_err_once("virtio-pci: %s: queue_enable %u ignored", vp->name, v);
		} else if (!queue_valid(vp, q)) {
			cv_err_once("virtio-pci: %s: queue %u rings desc %#llx driver %#llx "
				    "device %#llx (size %u) misaligned or not RAM: "
				    "DEVICE_NEEDS_RESET", vp->name, i,
				    (unsigned long long)q->desc, (unsigned long long)q->driver,
				    (unsigned long long)q->device, q->size);
			needs_reset(vp);
		} else {
			q->enable = true;
		}
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO: set_half(&q->desc, 0, v); break;
	case VIRTIO_PCI_COMMON_Q_DESCHI: set_half(&q->desc, 1, v); break;
	case VIRTIO_PCI_COMMON_Q_AVAILLO: set_half(&q->driver, 0, v); break;
	case VIRTIO_PCI_COMMON_Q_AVAILHI: set_half(&q->driver, 1, v); break;
	case VIRTIO_PCI_COMMON_Q_USEDLO: set_half(&q->device, 0, v); break;
	case VIRTIO_PCI_COMMON_Q_USEDHI: set_half(&q->device, 1, v); break;
	default:
		cv_err_once("virtio-pci: %s: write to read-only queue_notify_off ignored",
			    vp->name);
	}
}

static void common_write(struct virtio_pci *vp, uint64_t off, uint32_t v)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT: vp->dfselect = v; return;
	case VIRTIO_PCI_COMMON_GFSELECT: vp->gfselect = v; return;
	case VIRTIO_PCI_COMMON_GF:
		if (vp->status & VIRTIO_STATUS_FEATURES_OK)
			cv_err_once("virtio-pci: %s: driver_feature written after FEATURES_OK: "
				    "ignored", vp->name);
		else if (vp->gfselect < 2)
			set_half(&vp->driver_features, vp->gfselect, v);
		return;
	case VIRTIO_PCI_COMMON_MSIX: vp->msix_config = vector_checked(vp, v); return;
	case VIRTIO_PCI_COMMON_STATUS: status_write(vp, (uint8_t)v); return;
	case VIRTIO_PCI_COMMON_Q_SELECT: vp->queue_select = (uint16_t)v; return;
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		cv_err_once("virtio-pci: %s: write to read-only common field %#llx ignored",
			    vp->name, (unsigned long long)off);
		return;
	}
	if (vp->queue_select >= vp->nr_queues) {
		cv_err_once("virtio-pci: %s: write to queue %u of %u ignored", vp->name,
			    vp->queue_select, vp->nr_queues);
		return;
	}
	queue_write(vp, &vp->q[vp->queue_select], off, v);
}

static void common_access(struct virtio_pci *vp, uint64_t off, uint8_t *data,
			  uint32_t len, bool is_write)
{
	unsigned width = common_width(off);
	uint32_t v = 0;

	/* §4.1.3.1: 64-bit fields may also come as one access; split it. */
	if (len == 8 && width == 4 && off >= VIRTIO_PCI_COMMON_Q_DESCLO && !(off % 8)) {
		common_access(vp, off, data, 4, is_write);
		common_access(vp, off + 4, data + 4, 4, is_write);
		return;
	}
	if (!width || len != width || off % width) {
		cv_err_once("virtio-pci: %s: %u-byte access at common cfg %#llx ignored "
			    "(fields take their natural width)", vp->name, len,
			    (unsigned long long)off);
		return;
	}
	if (is_write) {
		memcpy(&v, data, len);
		common_write(vp, off, v);
	} else {
		v = common_read(vp, off);
		memcpy(data, &v, len);
	}
}

static void notify_access(struct virtio_pci *vp, uint64_t off, bool is_write)
{
	uint64_t one = 1;
	uint64_t i = off / VP_NOTIFY_MULT;

	/*
	 * Only reached when the ioeventfd did not take the write (an access
	 * size KVM did not match, or no KVM); it lands on the same eventfd.
	 */
	if (!is_write || i >= vp->nr_queues)
		return;
	if (write(vp->q[i].kick, &one, sizeof(one)) != sizeof(one))
		cv_err_once("virtio-pci: %s: kick of queue %llu lost", vp->name,
			    (unsigned long long)i);
}

/* BAR4: the four structures, each in its own page. */
static void bar4_access(struct virtio_pci *vp, uint64_t off, void *data, uint32_t len,
			bool is_write)
{
	uint64_t roff = off % VP_REGION_SIZE;

	if (!is_write)
		memset(data, 0, len);
	if (roff + len > VP_REGION_SIZE)
		return;
	pthread_mutex_lock(&vp->lock);
	switch (off - roff) {
	case VP_COMMON_OFF:
		common_access(vp, roff, data, len, is_write);
		break;
	case VP_ISR_OFF:
		/* §4.1.4.5: reading the ISR status clears it. */
		if (!is_write && !roff) {
			*(uint8_t *)data = vp->isr;
			vp->isr = 0;
		}
		break;
	case VP_DEVICE_OFF:
		if (is_write)
			cv_err_once("virtio-pci: %s: write to read-only device config %#llx "
				    "ignored", vp->name, (unsigned long long)roff);
		else if (roff + len <= vp->config_len)
			memcpy(data, vp->config + roff, len);
		break;
	case VP_NOTIFY_OFF:
		notify_access(vp, roff, is_write);
		break;
	}
	pthread_mutex_unlock(&vp->lock);
}

static void vp_bar_access(void *opaque, unsigned bar, uint64_t off, void *data,
			  uint32_t len, bool is_write)
{
	struct virtio_pci *vp = opaque;

	if (bar == VP_BAR)
		bar4_access(vp, off, data, len, is_write);
	else if (off < VP_MSIX_PBA_OFF)
		msix_table_access(&vp->msix, off, data, len, is_write);
	else
		msix_pba_access(&vp->msix, off - VP_MSIX_PBA_OFF, data, len, is_write);
}

static void vp_bar_desc(void *opaque, unsigned bar, struct pci_bar_desc *desc)
{
	struct virtio_pci *vp = opaque;

	pci_config_bar_desc(&vp->cfg, bar, desc);
}

static void ioeventfds(struct virtio_pci *vp, bool assign)
{
	for (unsigned i = 0; i < vp->nr_queues; i++) {
		/* The driver writes the 16-bit queue index (§4.1.5.2). */
		struct kvm_ioeventfd io = {
			.addr = vp->notify_base + VP_NOTIFY_OFF + i * VP_NOTIFY_MULT,
			.len = 2,
			.fd = vp->q[i].kick,
			.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};

		if (ioctl(vp->vm_fd, KVM_IOEVENTFD, &io) < 0)
			cv_err_once("virtio-pci: %s: %s ioeventfd at %#llx: %s", vp->name,
				    assign ? "assigning" : "deassigning",
				    (unsigned long long)io.addr, strerror(errno));
	}
}

static void vp_bar_mapped(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = opaque;

	if (bar != VP_BAR)
		return;
	pthread_mutex_lock(&vp->lock);
	if (vp->notify_mapped)
		ioeventfds(vp, false);
	vp->notify_mapped = mapped;
	vp->notify_base = addr;
	if (mapped)
		ioeventfds(vp, true);
	pthread_mutex_unlock(&vp->lock);
}

static bool overlaps(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
	return off < start + n && start < off + len;
}

/*
 * §4.1.4.9 VIRTIO_PCI_CAP_PCI_CFG: an access to pci_cfg_data becomes an
 * access of `length` bytes at `offset` in BAR `bar`.
 */
static void pci_cfg_window(struct virtio_pci *vp, bool is_write)
{
	uint32_t cap = (uint32_t)vp->pci_cfg_cap;
	uint32_t data = cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data);
	uint32_t bar = pci_config_get(&vp->cfg, cap + VIRTIO_PCI_CAP_BAR, 1);
	uint32_t off = pci_config_get(&vp->cfg, cap + VIRTIO_PCI_CAP_OFFSET, 4);
	uint32_t len = pci_config_get(&vp->cfg, cap + VIRTIO_PCI_CAP_LENGTH, 4);
	uint32_t v = pci_config_get(&vp->cfg, data, 4);

	if (bar != VP_BAR || (len != 1 && len != 2 && len != 4) || off % len ||
	    off >= VP_BAR_SIZE) {
		cv_err_once("virtio-pci: %s: PCI_CFG window on BAR%u offset %#x length %u "
			    "ignored", vp->name, bar, off, len);
		return;
	}
	bar4_access(vp, off, &v, len, is_write);
	if (!is_write)
		pci_config_set(&vp->cfg, data, len, v);
}

static void vp_cfg_read(void *opaque, uint32_t off, uint32_t len, uint32_t *val)
{
	struct virtio_pci *vp = opaque;

	if (overlaps(off, len, (uint32_t)vp->pci_cfg_cap +
		     offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 4))
		pci_cfg_window(vp, false);
	pci_config_read(&vp->cfg, off, len, val);
}

static void vp_cfg_write(void *opaque, uint32_t off, uint32_t len, uint32_t val)
{
	struct virtio_pci *vp = opaque;
	uint32_t flags = (uint32_t)vp->msix_cap + PCI_MSIX_FLAGS;

	pci_config_write(&vp->cfg, off, len, val);
	if (overlaps(off, len, (uint32_t)vp->pci_cfg_cap +
		     offsetof(struct virtio_pci_cfg_cap, pci_cfg_data), 4))
		pci_cfg_window(vp, true);
	if (overlaps(off, len, flags, 2))
		msix_control_write(&vp->msix, (uint16_t)pci_config_get(&vp->cfg, flags, 2));
}

static const struct pci_function_ops vp_ops = {
	.cfg_read = vp_cfg_read,
	.cfg_write = vp_cfg_write,
	.bar_access = vp_bar_access,
	.bar_desc = vp_bar_desc,
	.bar_mapped = vp_bar_mapped,
};

/* §4.1.4: a vendor capability pointing at a structure in BAR4. */
static int vendor_cap(struct pci_config *cfg, uint8_t type, uint8_t len, uint32_t off,
		      uint32_t length)
{
	int cap = pci_config_add_cap(cfg, PCI_CAP_ID_VNDR, len);

	if (cap < 0)
		return cap;
	pci_config_set(cfg, (uint32_t)cap + VIRTIO_PCI_CAP_LEN, 1, len);
	pci_config_set(cfg, (uint32_t)cap + VIRTIO_PCI_CAP_CFG_TYPE, 1, type);
	pci_config_set(cfg, (uint32_t)cap + VIRTIO_PCI_CAP_BAR, 1, VP_BAR);
	pci_config_set(cfg, (uint32_t)cap + VIRTIO_PCI_CAP_OFFSET, 4, off);
	pci_config_set(cfg, (uint32_t)cap + VIRTIO_PCI_CAP_LENGTH, 4, length);
	return cap;
}

static int build_config(struct virtio_pci *vp)
{
	struct pci_config *c = &vp->cfg;
	int r, cap;

	r = pci_config_init(c, PCI_CFG_SPACE_SIZE, CV_PCI_VENDOR_QUMRANET,
			    VP_DEVICE_ID_BASE + vp->type->device_id, vp->type->pci_class,
			    VP_REVISION);
	if (r)
		return r;
	pci_config_set(c, PCI_SUBSYSTEM_VENDOR_ID, 2, CV_PCI_VENDOR_QUMRANET);
	pci_config_set(c, PCI_SUBSYSTEM_ID, 2, VP_SUBSYSTEM_ID);
	r = pci_config_set_bar(c, VP_MSIX_BAR, &(struct pci_bar_desc){ .size = VP_MSIX_BAR_SIZE });
	if (!r)
		r = pci_config_set_bar(c, VP_BAR, &(struct pci_bar_desc){
			.size = VP_BAR_SIZE, .mem64 = true, .prefetch = true });
	if (r)
		return r;
	vp->msix_cap = msix_cap_add(c, vp->nr_vectors, VP_MSIX_BAR, 0, VP_MSIX_BAR,
				    VP_MSIX_PBA_OFF);
	if (vp->msix_cap < 0)
		return vp->msix_cap;
	if ((r = vendor_cap(c, VIRTIO_PCI_CAP_COMMON_CFG, sizeof(struct virtio_pci_cap),
			    VP_COMMON_OFF, VP_COMMON_LEN)) < 0 ||
	    (r = vendor_cap(c, VIRTIO_PCI_CAP_ISR_CFG, sizeof(struct virtio_pci_cap),
			    VP_ISR_OFF, 1)) < 0 ||
	    (r = vendor_cap(c, VIRTIO_PCI_CAP_DEVICE_CFG, sizeof(struct virtio_pci_cap),
			    VP_DEVICE_OFF, vp->config_len)) < 0)
		return r;
	cap = vendor_cap(c, VIRTIO_PCI_CAP_NOTIFY_CFG, sizeof(struct virtio_pci_notify_cap),
			 VP_NOTIFY_OFF, vp->nr_queues * VP_NOTIFY_MULT);
	if (cap < 0)
		return cap;
	pci_config_set(c, (uint32_t)cap + VIRTIO_PCI_NOTIFY_CAP_MULT, 4, VP_NOTIFY_MULT);
	/* §4.1.4.9: bar, offset, length and data are the driver's to write. */
	cap = vendor_cap(c, VIRTIO_PCI_CAP_PCI_CFG, sizeof(struct virtio_pci_cfg_cap), 0, 0);
	if (cap < 0)
		return cap;
	pci_config_set(c, (uint32_t)cap + VIRTIO_PCI_CAP_BAR, 1, 0);
	pci_config_set_masks(c, (uint32_t)cap + VIRTIO_PCI_CAP_BAR, 1, 0xff, 0);
	pci_config_set_masks(c, (uint32_t)cap + VIRTIO_PCI_CAP_OFFSET, 4, 0xffffffff, 0);
	pci_config_set_masks(c, (uint32_t)cap + VIRTIO_PCI_CAP_LENGTH, 4, 0xffffffff, 0);
	pci_config_set_masks(c, (uint32_t)cap + offsetof(struct virtio_pci_cfg_cap, pci_cfg_data),
			     4, 0xffffffff, 0);
	vp->pci_cfg_cap = cap;
	return 0;
}

/* The back-end came or went: the type's configuration says so (a link), if it can. */
static void backend_link(struct virtio_pci *vp, bool up)
{
	if (!vp->type->backend_link)
		return;
	vp->type->backend_link(vp->config, up);
	config_changed(vp);
}

/* The back-end went away: the guest keeps running (a NIC's link down). */
static void backend_lost(struct virtio_pci *vp)
{
	cv_warn("virtio-pci: %s: back-end %s gone; %sreconnecting", vp->name, vp->path,
		vp->type->backend_link ? "link down, " : "");
	vuc_close(&vp->vu);
	for (unsigned i = 0; i < vp->nr_queues; i++)
		vp->q[i].started = false;
	backend_link(vp, false);
	vp->outage_logged = false;
}

/*
 * Replay what the driver set up to a new back-end: features, memory, and
 * the rings from their used index.  What cannot be replayed (a feature the
 * driver accepted is no longer offered, or a refusal) needs a reset.
 */
static void backend_replay(struct virtio_pci *vp)
{
	uint64_t missing = vp->driver_features & vp->backend_features & ~vp->vu.features;
	int r = 0;

	if (missing) {
		cv_err("virtio-pci: %s: new back-end lacks features %#llx the driver "
		       "accepted: DEVICE_NEEDS_RESET", vp->name, (unsigned long long)missing);
		needs_reset(vp);
	} else {
		if (vp->status & VIRTIO_STATUS_FEATURES_OK)
			r = backend_set_features(vp);
		if (!r && (vp->status & VIRTIO_STATUS_DRIVER_OK) &&
		    !(vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
			r = backend_start(vp, true);
		if (r && !backend_up(vp))
			return; /* lost again: the monitor starts over */
		if (r) {
			cv_err("virtio-pci: %s: new back-end refused the replayed state: "
			       "DEVICE_NEEDS_RESET", vp->name);
			needs_reset(vp);
		}
	}
	vp->reconnects++;
	cv_info("virtio-pci: %s: back-end %s reconnected%s", vp->name, vp->path,
		vp->type->backend_link ? "; link up" : "");
	backend_link(vp, true);
}

static void backend_reconnect(struct virtio_pci *vp)
{
	int r = vuc_connect(&vp->vu, vp->path);

	if (r) {
		if (!vp->outage_logged)
			cv_warn("virtio-pci: %s: back-end %s: %s; retrying every %u ms",
				vp->name, vp->path, strerror(-r), VIRTIO_PCI_RECONNECT_MS);
		vp->outage_logged = true;
		return;
	}
	backend_replay(vp);
}

/*
 * Watches the socket for hang-up and reconnects.  It alone closes the
 * connection, so the fd it polls stays valid; requests that fail on a vCPU
 * only mark it broken.
 */
static void *monitor(void *arg)
{
	struct virtio_pci *vp = arg;

	while (!__atomic_load_n(&vp->stopping, __ATOMIC_ACQUIRE)) {
		struct pollfd pfd = { .events = POLLRDHUP };

		pthread_mutex_lock(&vp->lock);
		if (vp->vu.fd >= 0 && vuc_dead(&vp->vu))
			backend_lost(vp);
		if (vp->vu.fd < 0)
			backend_reconnect(vp);
		pfd.fd = vp->vu.fd;
		pthread_mutex_unlock(&vp->lock);
		/* fd -1 is skipped by poll: then this is the retry delay. */
		poll(&pfd, 1, VIRTIO_PCI_RECONNECT_MS);
	}
	return NULL;
}

static int make_eventfds(struct virtio_pci *vp)
{
	for (unsigned i = 0; i < vp->nr_queues; i++)
		if ((vp->q[i].kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return -errno;
	for (unsigned v = 0; v < vp->nr_vectors; v++)
		if ((vp->call[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return -errno;
	vp->call_sink = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return vp->call_sink < 0 ? -errno : 0;
}

static void vp_free(struct virtio_pci *vp, bool msix)
{
	if (msix)
		msix_destroy(&vp->msix);
	for (unsigned i = 0; i < VP_QUEUES_MAX; i++)
		if (vp->q[i].kick >= 0)
			close(vp->q[i].kick);
	for (unsigned v = 0; v < VP_VECTORS_MAX; v++)
		if (vp->call[v] >= 0)
			close(vp->call[v]);
	if (vp->call_sink >= 0)
		close(vp->call_sink);
	vuc_close(&vp->vu);
	pthread_mutex_destroy(&vp->lock);
	free(vp);
}

int virtio_pci_plug(struct virtio_pci **out, const struct virtio_pci_type *type,
		    const void *arg, struct pci_bus *bus, struct irq_routing *irq,
		    const struct guest_mem *mem, int vm_fd, unsigned slot,
		    const char *socket_path)
{
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	bool msix = false;
	int r;

	if (!vp)
		return -ENOMEM;
	pthread_mutex_init(&vp->lock, NULL);
	vp->vu.fd = vp->call_sink = -1;
	for (unsigned i = 0; i < VP_QUEUES_MAX; i++)
		vp->q[i].kick = -1;
	for (unsigned v = 0; v < VP_VECTORS_MAX; v++)
		vp->call[v] = -1;
	snprintf(vp->name, sizeof(vp->name), "%s@00:%02x.0", type->name, slot);
	snprintf(vp->path, sizeof(vp->path), "%s", socket_path);
	vp->type = type;
	vp->backend_features = VP_RING_FEATURES | type->backend_features;
	vp->bus = bus;
	vp->slot = slot;
	vp->mem = mem;
	vp->vm_fd = vm_fd;

	r = vuc_connect(&vp->vu, socket_path);
	if (r) {
		cv_err("virtio-pci: %s: back-end %s: %s", vp->name, socket_path, strerror(-r));
		goto fail;
	}
	if (!(vp->vu.features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		cv_err("virtio-pci: %s: back-end %s offers %#llx without VERSION_1: a modern "
		       "device needs it", vp->name, socket_path,
		       (unsigned long long)vp->vu.features);
		r = -EPROTO;
		goto fail;
	}
	/* The type fills its configuration and says how many queues it has. */
	vp->config_len = sizeof(vp->config);
	r = type->setup(&vp->vu, arg, vp->config, &vp->config_len, &vp->nr_queues);
	if (!r && (!vp->nr_queues || vp->nr_queues > VP_QUEUES_MAX ||
		   vp->config_len > sizeof(vp->config)))
		r = -EINVAL;
	if (r) {
		cv_err("virtio-pci: %s: back-end %s: no device configuration: %s", vp->name,
		       socket_path, strerror(-r));
		goto fail;
	}
	vp->nr_vectors = 1 + vp->nr_queues;
	r = build_config(vp);
	if (r)
		goto fail;
	r = msix_init(&vp->msix, irq, vp->nr_vectors, vp->name);
	if (r)
		goto fail;
	msix = true;
	r = make_eventfds(vp);
	for (unsigned v = 0; v < vp->nr_vectors && !r; v++)
		r = msix_vector_bind(&vp->msix, v, vp->call[v]);
	if (r)
		goto fail;
	device_reset(vp);

	r = pci_bus_plug(bus, slot, 0, &vp_ops, vp, vp->name);
	if (r)
		goto fail;
	r = -pthread_create(&vp->monitor, NULL, monitor, vp);
	if (r) {
		pci_bus_unplug(bus, slot, 0);
		goto fail;
	}
	cv_info("virtio-pci: %s: back-end %s, %u queues, features %#llx", vp->name, socket_path,
		vp->nr_queues, (unsigned long long)vp->device_features);
	*out = vp;
	return 0;
fail:
	vp_free(vp, msix);
	return r;
}

void virtio_pci_unplug(struct virtio_pci *vp)
{
	__atomic_store_n(&vp->stopping, true, __ATOMIC_RELEASE);
	pthread_join(vp->monitor, NULL);
	pci_bus_unplug(vp->bus, vp->slot, 0);
	pthread_mutex_lock(&vp->lock);
	backend_stop(vp);
	pthread_mutex_unlock(&vp->lock);
	vp_free(vp, true);
}

bool virtio_pci_backend_connected(struct virtio_pci *vp)
{
	bool up;

	pthread_mutex_lock(&vp->lock);
	up = backend_up(vp);
	pthread_mutex_unlock(&vp->lock);
	return up;
}

uint64_t virtio_pci_reconnects(struct virtio_pci *vp)
{
	uint64_t n;

	pthread_mutex_lock(&vp->lock);
	n = vp->reconnects;
	pthread_mutex_unlock(&vp->lock);
	return n;
}
