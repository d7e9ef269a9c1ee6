/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/virtio.h"

#include "tests/guest/apic.h"
#include "tests/guest/idt.h"
#include "tests/guest/io.h"
#include "tests/guest/lib.h"
#include "tests/guest/pci.h"
#include "tests/guest/tsc.h"
#include "tests/guest/user.h"

#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_MODERN_BASE 0x1040  /* §4.1.2.1: 0x1040 + device type */
#define RESET_TIMEOUT_MS       1000
#define CONFIG_READ_TRIES      16

/* §4.1.4 struct virtio_pci_cap, as config-space offsets from the capability
 * (cfg_type is the top byte of its first dword). */
#define CAP_BAR      4
#define CAP_OFFSET   8
#define CAP_LENGTH   12
#define CAP_NOTIFY_MULTIPLIER 16  /* struct virtio_pci_notify_cap */
#define CAP_BARS     6            /* §4.1.4: values 0x0-0x5 name a BAR */

/* §4.1.4 cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4

/* §4.1.4.3 struct virtio_pci_common_cfg offsets. */
#define COMMON_DFSELECT      0
#define COMMON_DF            4
#define COMMON_GFSELECT      8
#define COMMON_GF            12
#define COMMON_MSIX          16
#define COMMON_NUMQ          18
#define COMMON_STATUS        20
#define COMMON_CFGGENERATION 21
#define COMMON_Q_SELECT      22
#define COMMON_Q_SIZE        24
#define COMMON_Q_MSIX        26
#define COMMON_Q_ENABLE      28
#define COMMON_Q_NOFF        30
#define COMMON_Q_DESCLO      32
#define COMMON_Q_DESCHI      36
#define COMMON_Q_AVAILLO     40
#define COMMON_Q_AVAILHI     44
#define COMMON_Q_USEDLO      48
#define COMMON_Q_USEDHI      52
#define COMMON_SIZE          56   /* through queue_device */

#define PAGE 4096u

/* Descriptor table, available ring and used ring of each queue, a page each. */
static uint8_t ring_mem[VIRTIO_MAX_QUEUES][3][PAGE] __attribute__((aligned(4096)));
static volatile uint64_t irq_count;

_Static_assert(VIRTQ_DESC_SIZE(VIRTQ_GUEST_MAX) <= PAGE &&
	       VIRTQ_AVAIL_SIZE(VIRTQ_GUEST_MAX) <= PAGE &&
	       VIRTQ_USED_SIZE(VIRTQ_GUEST_MAX) <= PAGE, "one page per ring part");

/* The common structure has 8- and 16-bit fields: accesses of their width. */
static uint8_t rd8(uintptr_t a)
{
	return *(volatile uint8_t *)a;
}

static uint16_t rd16(uintptr_t a)
{
	return *(volatile uint16_t *)a;
}

static void wr8(uintptr_t a, uint8_t v)
{
	*(volatile uint8_t *)a = v;
}

static void wr16(uintptr_t a, uint16_t v)
{
	*(volatile uint16_t *)a = v;
}

static void virtio_isr(struct isr_frame *f)
{
	(void)f;
	irq_count++;
	lapic_eoi();
}

uint64_t virtio_irq_count(void)
{
	return irq_count;
}

/*
 * §4.1.4.1: the structure lies in BAR @bar at @offset for @length bytes.
 * Reserved BAR numbers are skipped (the driver MUST ignore them); the
 * region must fit below 4 GiB, the identity map's reach.
 */
static uintptr_t cap_region(const struct virtio_dev *d, uint8_t cap, uint32_t min_len,
			    uint32_t *len_out)
{
	uint8_t bar = (uint8_t)pci_cfg_read32(0, d->dev, d->fn, cap + CAP_BAR);
	uint32_t off = pci_cfg_read32(0, d->dev, d->fn, cap + CAP_OFFSET);
	uint32_t len = pci_cfg_read32(0, d->dev, d->fn, cap + CAP_LENGTH);
	uint64_t base;

	if (bar >= CAP_BARS || len < min_len)
		return 0;
	base = pci_bar_mem(d->dev, d->fn, bar);
	if (!base || base + off + (uint64_t)len > 0x100000000ull)
		return 0;
	if (len_out)
		*len_out = len;
	return (uintptr_t)(base + off);
}

int virtio_pci_find(struct virtio_dev *d, uint16_t type, uint16_t transitional)
{
	uint16_t ids[2] = { (uint16_t)(VIRTIO_PCI_MODERN_BASE + type), transitional };
	int err = -ENODEV;

	*d = (struct virtio_dev){ 0 };
	for (unsigned int i = 0; i < 2 && err; i++) {
		err = pci_find_id(VIRTIO_PCI_VENDOR, ids[i], &d->dev, &d->fn);
		d->pci_device = ids[i];
	}
	if (err)
		return err;
	uint32_t cmd = pci_cfg_read32(0, d->dev, d->fn, PCI_COMMAND) & 0xffff;
	pci_cfg_write32(0, d->dev, d->fn, PCI_COMMAND,
			cmd | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);

	/*
	 * §4.1.4: the driver uses the first capability of each type it can
	 * use; later ones of the same type are alternatives.  At most 48
	 * capabilities fit in configuration space.
	 */
	uint8_t cap = 0;
	for (int n = 0; n < 48; n++) {
		cap = pci_next_cap(d->dev, d->fn, PCI_CAP_ID_VNDR, cap);
		if (!cap)
			break;
		uint8_t cfg_type = (uint8_t)(pci_cfg_read32(0, d->dev, d->fn, cap) >> 24);
		switch (cfg_type) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			if (!d->common)
				d->common = cap_region(d, cap, COMMON_SIZE, NULL);
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			if (!d->notify_base) {
				d->notify_base = cap_region(d, cap, 2, &d->notify_len);
				d->notify_mul = pci_cfg_read32(0, d->dev, d->fn,
							       cap + CAP_NOTIFY_MULTIPLIER);
			}
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			if (!d->isr)
				d->isr = cap_region(d, cap, 1, NULL);
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			if (!d->device_cfg)
				d->device_cfg = cap_region(d, cap, 1, &d->device_cfg_len);
			break;
		default:
			break;
		}
	}
	if (!d->common || !d->notify_base || !d->isr) {
		report("cvguest: virtio 00:%02x.%u %04x modern capabilities missing "
		       "common=%d notify=%d isr=%d\n", d->dev, d->fn, d->pci_device,
		       !!d->common, !!d->notify_base, !!d->isr);
		return -ENODEV;
	}
	return 0;
}

uint8_t virtio_status(const struct virtio_dev *d)
{
	return rd8(d->common + COMMON_STATUS);
}

static void status_set(struct virtio_dev *d, uint8_t bits)
{
	wr8(d->common + COMMON_STATUS, (uint8_t)(virtio_status(d) | bits));
}

bool virtio_needs_reset(const struct virtio_dev *d)
{
	return virtio_status(d) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

int virtio_reset(struct virtio_dev *d)
{
	uint64_t deadline = tsc_deadline_ms(RESET_TIMEOUT_MS);

	wr8(d->common + COMMON_STATUS, 0);
	while (virtio_status(d)) {
		if (rdtsc() > deadline)
			return -ETIMEDOUT;
		cpu_relax();
	}
	return 0;
}

int virtio_negotiate(struct virtio_dev *d, uint64_t wanted)
{
	int err = virtio_reset(d);

	if (err) {
		report("cvguest: virtio reset timed out status=0x%x\n", virtio_status(d));
		return err;
	}
	status_set(d, VIRTIO_STATUS_ACKNOWLEDGE);
	status_set(d, VIRTIO_STATUS_DRIVER);

	uint64_t offered = 0;
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_write32(d->common + COMMON_DFSELECT, sel);
		offered |= (uint64_t)mmio_read32(d->common + COMMON_DF) << (32 * sel);
	}
	d->features = offered & wanted;
	report("cvguest: virtio features offered=0x%lx accepted=0x%lx\n", offered, d->features);
	/* §6.1: a driver MUST accept VERSION_1 if offered; without it the
	 * device is legacy-only, which this driver does not speak. */
	if (!(d->features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		virtio_fail(d);
		report("cvguest: virtio device lacks VERSION_1\n");
		return -EIO;
	}
	for (uint32_t sel = 0; sel < 2; sel++) {
		mmio_write32(d->common + COMMON_GFSELECT, sel);
		mmio_write32(d->common + COMMON_GF, (uint32_t)(d->features >> (32 * sel)));
	}
	status_set(d, VIRTIO_STATUS_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_fail(d);
		report("cvguest: virtio device refused FEATURES_OK\n");
		return -EIO;
	}
	d->num_queues = rd16(d->common + COMMON_NUMQ);
	return 0;
}

bool virtio_msix_setup(struct virtio_dev *d, unsigned int queues)
{
	struct pci_msix m;

	d->irq = false;
	if (pci_msix_find(d->dev, d->fn, &m) || m.size < queues + 1)
		return false;
	for (unsigned int i = 0; i <= queues; i++) {
		idt_set_handler((uint8_t)(VIRTIO_IRQ_VECTOR_BASE + i), virtio_isr);
		pci_msix_route(&m, (uint16_t)i, lapic_id(), (uint8_t)(VIRTIO_IRQ_VECTOR_BASE + i));
	}
	pci_msix_enable(d->dev, d->fn, &m, true);
	/* §4.1.5.1.2: the device answers NO_VECTOR when it cannot map one. */
	wr16(d->common + COMMON_MSIX, 0);
	if (rd16(d->common + COMMON_MSIX) == VIRTIO_MSI_NO_VECTOR) {
		pci_msix_enable(d->dev, d->fn, &m, false);
		return false;
	}
	d->irq = true;
	return true;
}

static void vq_reset_state(struct virtq *vq)
{
	vq->avail_idx = vq->last_used = 0;
	vq->free_head = 0;
	vq->num_free = vq->size;
	for (uint16_t i = 0; i < vq->size; i++) {
		vq->next[i] = (uint16_t)(i + 1);
		vq->chain_len[i] = 0;
		vq->token[i] = NULL;
	}
	memset(vq->desc, 0, VIRTQ_DESC_SIZE(vq->size));
	memset(vq->avail, 0, VIRTQ_AVAIL_SIZE(vq->size));
	memset((void *)vq->used, 0, VIRTQ_USED_SIZE(vq->size));
}

int virtio_queue_setup(struct virtio_dev *d, uint16_t index, uint16_t max_size, bool irq)
{
	struct virtq *vq;

	if (index >= VIRTIO_MAX_QUEUES || index >= d->num_queues)
		return -EINVAL;
	vq = &d->vq[index];
	wr16(d->common + COMMON_Q_SELECT, index);
	uint16_t dev_size = rd16(d->common + COMMON_Q_SIZE);
	if (!dev_size) {
		report("cvguest: virtio queue %u not available\n", index);
		return -ENODEV;
	}
	uint16_t size = VIRTQ_GUEST_MAX;
	while (size > max_size || size > dev_size)
		size >>= 1;
	if (!size)
		return -EINVAL;
	vq->index = index;
	vq->size = size;
	vq->desc = (struct virtq_desc *)ring_mem[index][0];
	vq->avail = (struct virtq_avail *)ring_mem[index][1];
	vq->used = (volatile struct virtq_used *)ring_mem[index][2];
	vq_reset_state(vq);

	wr16(d->common + COMMON_Q_SIZE, size);
	mmio_write32(d->common + COMMON_Q_DESCLO, (uint32_t)(uintptr_t)vq->desc);
	mmio_write32(d->common + COMMON_Q_DESCHI, 0);
	mmio_write32(d->common + COMMON_Q_AVAILLO, (uint32_t)(uintptr_t)vq->avail);
	mmio_write32(d->common + COMMON_Q_AVAILHI, 0);
	mmio_write32(d->common + COMMON_Q_USEDLO, (uint32_t)(uintptr_t)vq->used);
	mmio_write32(d->common + COMMON_Q_USEDHI, 0);
	if (irq) {
		wr16(d->common + COMMON_Q_MSIX, (uint16_t)(1 + index));
		if (rd16(d->common + COMMON_Q_MSIX) == VIRTIO_MSI_NO_VECTOR)
			report("cvguest: virtio queue %u got no MSI-X vector\n", index);
	}
	/* §4.1.4.4: queue_notify_off * notify_off_multiplier into the
	 * notification structure, which must hold the 16-bit write. */
	uint64_t noff = (uint64_t)rd16(d->common + COMMON_Q_NOFF) * d->notify_mul;
	if (noff + 2 > d->notify_len) {
		report("cvguest: virtio queue %u notify offset 0x%lx outside the %u-byte "
		       "structure\n", index, noff, d->notify_len);
		return -EINVAL;
	}
	vq->notify = d->notify_base + (uintptr_t)noff;
	wr16(d->common + COMMON_Q_ENABLE, 1);
	return 0;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	status_set(d, VIRTIO_STATUS_DRIVER_OK);
}

void virtio_fail(struct virtio_dev *d)
{
	status_set(d, VIRTIO_STATUS_FAILED);
}

int virtio_read_config(const struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
	uint8_t *out = buf;

	if (!d->device_cfg || off > d->device_cfg_len || len > d->device_cfg_len - off)
		return -EINVAL;
	for (int tries = 0; tries < CONFIG_READ_TRIES; tries++) {
		uint8_t gen = rd8(d->common + COMMON_CFGGENERATION);

		for (uint32_t i = 0; i < len; i++)
			out[i] = rd8(d->device_cfg + off + i);
		if (rd8(d->common + COMMON_CFGGENERATION) == gen)
			return 0;
	}
	return -EIO;
}

int virtq_alloc(struct virtq *vq, unsigned int n, uint16_t *ids)
{
	if (!n || n > vq->num_free)
		return -EBUSY;
	for (unsigned int i = 0; i < n; i++) {
		ids[i] = vq->free_head;
		vq->free_head = vq->next[ids[i]];
	}
	for (unsigned int i = 0; i + 1 < n; i++)
		vq->next[ids[i]] = ids[i + 1];
	vq->num_free = (uint16_t)(vq->num_free - n);
	vq->chain_len[ids[0]] = (uint16_t)n;
	return 0;
}

void virtq_publish(struct virtq *vq, uint16_t head, void *token)
{
	vq->token[head] = token;
	vq->avail->ring[vq->avail_idx % vq->size] = head;
	/* §2.7.13: the ring entry before the index.  x86 keeps stores in
	 * order; the barrier keeps the compiler from reordering them. */
	__asm__ volatile("" ::: "memory");
	vq->avail_idx++;
	*(volatile uint16_t *)&vq->avail->idx = vq->avail_idx;
}

void virtq_kick(struct virtq *vq)
{
	/* §2.7.13.4: the index store must be visible before the used flags
	 * are read, a store-load order x86 keeps only with a fence. */
	__asm__ volatile("mfence" ::: "memory");
	if (!(vq->used->flags & VIRTQ_USED_F_NO_NOTIFY))
		wr16(vq->notify, vq->index);
}

int virtq_add(struct virtq *vq, const struct virtq_buf *bufs, unsigned int n, void *token)
{
	uint16_t ids[VIRTQ_GUEST_MAX];

	if (n > vq->size || virtq_alloc(vq, n, ids))
		return -EBUSY;
	for (unsigned int i = 0; i < n; i++)
		vq->desc[ids[i]] = (struct virtq_desc){
			.addr = (uintptr_t)bufs[i].addr,
			.len = bufs[i].len,
			.flags = (uint16_t)((bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			.next = i + 1 < n ? ids[i + 1] : 0,
		};
	virtq_publish(vq, ids[0], token);
	return ids[0];
}

uint16_t virtq_used_pending(const struct virtq *vq)
{
	return (uint16_t)(vq->used->idx - vq->last_used);
}

int virtq_get_used(struct virtq *vq, uint32_t *len, void **token)
{
	uint16_t pending = virtq_used_pending(vq);

	if (!pending)
		return -EAGAIN;
	/* §2.7.14: read the entry only after seeing the index move. */
	__asm__ volatile("" ::: "memory");
	struct virtq_used_elem e = vq->used->ring[vq->last_used % vq->size];
	vq->last_used++;
	if (pending > vq->size || e.id >= vq->size || !vq->chain_len[e.id]) {
		static bool said;
		if (!said)
			report("cvguest: virtio queue %u bad used entry id=%u len=%u pending=%u\n",
			       vq->index, e.id, e.len, pending);
		said = true;
		return -EPROTO;
	}
	uint16_t head = (uint16_t)e.id, last = head;
	for (uint16_t i = 1; i < vq->chain_len[head]; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->num_free = (uint16_t)(vq->num_free + vq->chain_len[head]);
	vq->chain_len[head] = 0;
	*len = e.len;
	*token = vq->token[head];
	vq->token[head] = NULL;
	return 0;
}
