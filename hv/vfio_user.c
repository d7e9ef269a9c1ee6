/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/vfio_user.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "guest-abi/cv_platform.h"
#include "hv/msix.h"
#include "tools/lib/fd.h"
#include "tools/lib/log.h"
#include "tools/lib/vfio_user.h"

/* The capability list lives in 0x40..0xff; a longer walk is a loop. */
#define CAP_WALK_MAX 48
/* How long a card has to start listening: 50 x 100 ms. */
#define CONNECT_TRIES    50
#define CONNECT_RETRY_MS 100

struct doorbell {
	unsigned bar;
	uint64_t offset;
	uint32_t size;
	uint32_t flags;          /* KVM_IOEVENTFD_FLAG_DATAMATCH */
	uint64_t datamatch;
	int fd;                  /* the card's eventfd (owned here) */
	bool assigned;
	uint64_t addr;           /* guest address while assigned */
};

/* The doorbells one card handed over (GET_REGION_IO_FDS). */
struct doorbells {
	struct doorbell *v;
	unsigned n;
};

struct vfio_user_dev {
	char *name, *path;
	int sock, vm_fd;
	const struct guest_mem *mem;
	struct irq_routing *irq;

	/*
	 * One request on the socket at a time.  Also guards the link state:
	 * @link_ok (the socket can carry a request) and @live (the guest's
	 * accesses go to the card; false while it is gone or being set up
	 * again).  Only the monitor thread replaces or closes @sock.
	 */
	pthread_mutex_t lock;
	uint16_t next_id;
	bool link_ok, live;
	uint32_t max_fds;        /* the card's max_msg_fds */

	uint32_t cfg_size;
	struct pci_bar_desc bars[PCI_STD_NUM_BARS];
	/*
	 * Config space as the card last answered the guest (@cfg_known bytes),
	 * and which bytes the guest or the bus wrote (@cfg_written): served
	 * while the card is gone, and replayed to the card that replaces it.
	 * Touched only on config accesses and during replay, both under the
	 * function's lock (hv/pci.h) for writing.
	 */
	uint8_t cfg_shadow[PCI_CFG_SPACE_EXP_SIZE];
	bool cfg_known[PCI_CFG_SPACE_EXP_SIZE];
	bool cfg_written[PCI_CFG_SPACE_EXP_SIZE];

	/* MSI-X, from the card's capability; emulated here. */
	bool has_msix;
	uint32_t msix_cap;
	unsigned table_bar, pba_bar;
	uint64_t table_off, pba_off;
	struct msix msix;
	int *vector_fds;         /* one eventfd per vector, the card's to signal */
	unsigned nr_vectors;

	/*
	 * Replaced whole under the function's lock (reattach); changed for one
	 * BAR by doorbells_refresh(), which runs under its read side from any
	 * vCPU and so also takes @db_lock.
	 */
	struct doorbells doorbells;
	pthread_mutex_t db_lock;
	/* Which BARs the card answers GET_REGION_IO_FDS for (set-up). */
	bool io_fds[PCI_STD_NUM_BARS];
	/* Where each BAR decodes, as bar_mapped() last said (the function's lock). */
	uint64_t bar_addr[PCI_STD_NUM_BARS];
	bool bar_on[PCI_STD_NUM_BARS];

	struct pci_bus *bus;
	unsigned slot, fn;
	bool plugged;

	/* Watches the socket and brings a restarted card back (vfio_user.h). */
	pthread_t monitor;
	bool monitoring;
	int stop_fd;             /* eventfd: close() asks the monitor to end */
};

/* ---- socket ---------------------------------------------------------------- */

/*
 * The socket can no longer be trusted (EOF, error, timeout, garbage): the
 * function reads all ones until the monitor has a new card set up.  The
 * shutdown wakes the monitor's poll; only the monitor closes the fd.
 */
static void link_lost(struct vfio_user_dev *d, int err, const char *during)
{
	if (d->live)
		cv_err("vfio-user: %s: card gone (%s on %s): its function reads all ones "
		       "until the card at %s is back", d->name, strerror(err), during, d->path);
	else
		cv_warn("vfio-user: %s: card at %s lost during set-up (%s on %s)",
			d->name, d->path, strerror(err), during);
	d->live = false;
	d->link_ok = false;
	shutdown(d->sock, SHUT_RDWR);
}

/*
 * One command and its reply.  0, or the -errno of the card's error reply,
 * or -ENODEV when there is no card: any transport failure ends the link,
 * since the stream can no longer be trusted.  A @guest access also needs
 * the function live, so none reaches a card that is still being set up.
 */
static int call(struct vfio_user_dev *d, bool guest, uint16_t cmd, const void *req,
		size_t len, const int *fds, unsigned nr_fds, struct vfu_msg *reply)
{
	int ret, error = 0;

	pthread_mutex_lock(&d->lock);
	if (!d->link_ok || (guest && !d->live)) {
		ret = -ENODEV;
		goto out;
	}
	ret = vfu_call(d->sock, d->next_id++, cmd, req, len, fds, nr_fds, reply, &error);
	if (ret) {
		link_lost(d, -ret, vfu_command_name(cmd));
		ret = -ENODEV;
	} else {
		ret = error;
	}
out:
	pthread_mutex_unlock(&d->lock);
	return ret;
}

static void all_ones(void *data, uint32_t len)
{
	memset(data, 0xff, len);
}

/* REGION_READ/WRITE of @len bytes; a read that fails reads all ones. */
static int region_rw(struct vfio_user_dev *d, bool guest, unsigned region,
		     uint64_t offset, void *data, uint32_t len, bool is_write)
{
	/* Guest accesses are at most 8 bytes: config dwords, MMIO qwords. */
	uint64_t buf[(sizeof(struct vfio_user_region_access) + 8) / 8];
	struct vfio_user_region_access *q = (void *)buf;
	const struct vfio_user_region_access *r;
	struct vfu_msg reply;
	int ret;

	if (len > sizeof(buf) - sizeof(*q)) {
		ret = -EINVAL;
		goto fail;
	}
	*q = (struct vfio_user_region_access){ .offset = offset, .region = region,
					       .count = len };
	if (is_write)
		memcpy(q->data, data, len);
	ret = call(d, guest, is_write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ, q,
		   sizeof(*q) + (is_write ? len : 0), NULL, 0, &reply);
	if (ret)
		goto fail;
	r = reply.payload;
	if (r->offset != offset || r->region != region || r->count != len ||
	    reply.len != sizeof(*r) + (is_write ? 0 : len)) {
		cv_err_once("vfio-user: %s: reply to a %u-byte %s of region %u at %#llx does not match it",
			    d->name, len, is_write ? "write" : "read", region,
			    (unsigned long long)offset);
		ret = -EPROTO;
	} else if (!is_write) {
		memcpy(data, r->data, len);
	}
	vfu_msg_release(&reply);
	if (!ret)
		return 0;
fail:
	if (ret != -ENODEV)
		cv_err_once("vfio-user: %s: %u-byte %s of region %u at %#llx: %s", d->name,
			    len, is_write ? "write" : "read", region,
			    (unsigned long long)offset, strerror(-ret));
	if (!is_write)
		all_ones(data, len);
	return ret;
}

/* Set-up's config reads: the card's own values, never the shadow. */
static uint32_t cfg_get(struct vfio_user_dev *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	region_rw(d, false, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, len, false);
	return v;
}

/* ---- pci_function_ops ------------------------------------------------------ */

static void shadow_store(struct vfio_user_dev *d, uint32_t offset, uint32_t len,
			 uint32_t val)
{
	memcpy(&d->cfg_shadow[offset], &val, len);
	memset(&d->cfg_known[offset], true, len);
}

/* What the guest last saw, while the card is gone; all ones where it saw nothing. */
static void shadow_load(const struct vfio_user_dev *d, uint32_t offset, uint32_t len,
			uint32_t *val)
{
	for (uint32_t i = 0; i < len; i++)
		if (!d->cfg_known[offset + i]) {
			all_ones(val, len);
			return;
		}
	memcpy(val, &d->cfg_shadow[offset], len);
}

/*
 * A live card answers; a missing one is answered from the shadow, so the
 * function does not vanish from a rescan and the bus keeps seeing the BAR
 * addresses and Command register it mapped.
 */
static void vu_cfg_read(void *opaque, uint32_t offset, uint32_t len, uint32_t *val)
{
	struct vfio_user_dev *d = opaque;

	*val = 0;
	if (offset >= d->cfg_size || len > d->cfg_size - offset) {
		all_ones(val, len);
		return;
	}
	if (region_rw(d, true, VFIO_PCI_CONFIG_REGION_INDEX, offset, val, len, false))
		shadow_load(d, offset, len, val);
	else
		shadow_store(d, offset, len, *val);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/*
 * Forwarded, then read back: the card decides which bits stick, and the
 * shadow keeps what it decided for a replay.  A write while the card is
 * gone vanishes, as on a function that does not answer.
 */
static void vu_cfg_write(void *opaque, uint32_t offset, uint32_t len, uint32_t val)
{
	struct vfio_user_dev *d = opaque;

	if (offset >= d->cfg_size || len > d->cfg_size - offset)
		return;
	if (region_rw(d, true, VFIO_PCI_CONFIG_REGION_INDEX, offset, &val, len, true) ||
	    region_rw(d, true, VFIO_PCI_CONFIG_REGION_INDEX, offset, &val, len, false))
		return;
	shadow_store(d, offset, len, val);
	memset(&d->cfg_written[offset], true, len);
	/* The card decides what Message Control holds; we act on its value. */
	if (d->has_msix && overlaps(offset, len, d->msix_cap + PCI_MSIX_FLAGS, 2))
		msix_control_write(&d->msix,
				   (uint16_t)cfg_get(d, d->msix_cap + PCI_MSIX_FLAGS, 2));
}

static void doorbells_refresh(struct vfio_user_dev *d, unsigned bar);

static void vu_bar_access(void *opaque, unsigned bar, uint64_t offset, void *data,
			  uint32_t len, bool is_write)
{
	struct vfio_user_dev *d = opaque;

	if (d->has_msix && bar == d->table_bar &&
	    overlaps(offset, len, d->table_off, msix_table_size(d->msix.nr))) {
		msix_table_access(&d->msix, offset - d->table_off, data, len, is_write);
		return;
	}
	if (d->has_msix && bar == d->pba_bar &&
	    overlaps(offset, len, d->pba_off, msix_pba_size(d->msix.nr))) {
		msix_pba_access(&d->msix, offset - d->pba_off, data, len, is_write);
		return;
	}
	if (!region_rw(d, true, VFIO_PCI_BAR0_REGION_INDEX + bar, offset, data, len, is_write) &&
	    is_write)
		doorbells_refresh(d, bar);
}

static void vu_bar_desc(void *opaque, unsigned bar, struct pci_bar_desc *desc)
{
	struct vfio_user_dev *d = opaque;

	*desc = d->bars[bar];
}

static int doorbell_ioctl(struct vfio_user_dev *d, struct doorbell *db,
			  uint64_t addr, bool assign)
{
	struct kvm_ioeventfd io = {
		.datamatch = db->datamatch,
		.addr = addr,
		.len = db->size,
		.fd = db->fd,
		.flags = db->flags | (d->bars[db->bar].io ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};

	return ioctl(d->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* Take @db out of KVM, then put it at BAR @bar's address if that decodes. */
static void doorbell_place(struct vfio_user_dev *d, struct doorbell *db)
{
	uint64_t addr = d->bar_addr[db->bar] + db->offset;
	int ret;

	if (db->assigned) {
		doorbell_ioctl(d, db, db->addr, false);
		db->assigned = false;
	}
	if (!d->bar_on[db->bar])
		return;
	ret = doorbell_ioctl(d, db, addr, true);
	if (ret) {
		/* The write still reaches the card, over the socket. */
		cv_err_once("vfio-user: %s: ioeventfd at %#llx (BAR%u + %#llx): %s",
			    d->name, (unsigned long long)addr, db->bar,
			    (unsigned long long)db->offset, strerror(-ret));
		return;
	}
	db->assigned = true;
	db->addr = addr;
}

/* Doorbells follow their BAR: KVM matches guest addresses, not BAR offsets. */
static void vu_bar_mapped(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct vfio_user_dev *d = opaque;

	d->bar_addr[bar] = addr;
	d->bar_on[bar] = mapped;
	for (unsigned i = 0; i < d->doorbells.n; i++)
		if (d->doorbells.v[i].bar == bar)
			doorbell_place(d, &d->doorbells.v[i]);
}

static const struct pci_function_ops vu_ops = {
	.cfg_read = vu_cfg_read,
	.cfg_write = vu_cfg_write,
	.bar_access = vu_bar_access,
	.bar_desc = vu_bar_desc,
	.bar_mapped = vu_bar_mapped,
};

/* ---- set-up ---------------------------------------------------------------- */

static int negotiate(struct vfio_user_dev *d)
{
	uint8_t buf[VFU_VERSION_SIZE];
	struct vfu_msg reply;
	uint32_t max_xfer;
	uint16_t minor;
	int ret = call(d, false, VFIO_USER_VERSION, buf, vfu_version_build(buf, VFIO_USER_MINOR),
		       NULL, 0, &reply);

	if (ret)
		return ret;
	ret = vfu_version_parse(&reply, &minor, &d->max_fds, &max_xfer);
	vfu_msg_release(&reply);
	/* Our accesses are 8 bytes at most, so any max_data_xfer_size will do. */
	if (!ret && minor > VFIO_USER_MINOR)
		ret = -EPROTO;
	return ret;
}

static int get_device_info(struct vfio_user_dev *d)
{
	struct vfio_user_device_info q = { .argsz = sizeof(q) }, *r;
	struct vfu_msg reply;
	int ret = call(d, false, VFIO_USER_DEVICE_GET_INFO, &q, sizeof(q), NULL, 0, &reply);

	if (ret)
		return ret;
	r = reply.payload;
	if (!(r->flags & VFIO_DEVICE_FLAGS_PCI) ||
	    r->num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
	    r->num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX)
		ret = -EPROTO;
	vfu_msg_release(&reply);
	return ret;
}

static int region_size(struct vfio_user_dev *d, unsigned index, uint64_t *size)
{
	struct vfio_user_region_info q = { .argsz = sizeof(q), .index = index }, *r;
	struct vfu_msg reply;
	int ret = call(d, false, VFIO_USER_DEVICE_GET_REGION_INFO, &q, sizeof(q), NULL, 0, &reply);

	if (ret)
		return ret;
	r = reply.payload;
	*size = r->index == index ? r->size : 0;
	if (r->index != index)
		ret = -EPROTO;
	vfu_msg_release(&reply);
	return ret;
}

/*
 * Each BAR's kind comes from its register's low bits, its size from
 * REGION_INFO: into @bars and @cfg_size, so a restarted card can be
 * compared with the one the guest knows.
 */
static int load_bars(struct vfio_user_dev *d, struct pci_bar_desc *bars, uint32_t *cfg_size)
{
	uint64_t size;
	int ret = region_size(d, VFIO_PCI_CONFIG_REGION_INDEX, &size);

	if (ret)
		return ret;
	if (size != PCI_CFG_SPACE_SIZE && size != PCI_CFG_SPACE_EXP_SIZE)
		return -EPROTO;
	*cfg_size = (uint32_t)size;
	memset(bars, 0, PCI_STD_NUM_BARS * sizeof(*bars));
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct pci_bar_desc *b = &bars[i];
		uint32_t reg;

		ret = region_size(d, VFIO_PCI_BAR0_REGION_INDEX + i, &size);
		if (ret)
			return ret;
		if (!size)
			continue;
		if (i && bars[i - 1].mem64)
			return -EPROTO;  /* the upper half of a 64-bit BAR has no region */
		reg = cfg_get(d, PCI_BASE_ADDRESS_0 + 4 * i, 4);
		b->size = size;
		b->io = reg & PCI_BASE_ADDRESS_SPACE_IO;
		b->mem64 = !b->io && (reg & PCI_BASE_ADDRESS_MEM_TYPE_MASK) ==
					     PCI_BASE_ADDRESS_MEM_TYPE_64;
		b->prefetch = !b->io && (reg & PCI_BASE_ADDRESS_MEM_PREFETCH);
		if (!pci_bar_desc_valid(i, b))
			return -EPROTO;
	}
	return 0;
}

static int dma_map(struct vfio_user_dev *d, uint64_t gpa, uint64_t offset, uint64_t size)
{
	struct vfio_user_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE,
		.offset = offset, .address = gpa, .size = size,
	};
	struct vfu_msg reply;
	int ret;

	if (!size)
		return 0;
	ret = call(d, false, VFIO_USER_DMA_MAP, &m, sizeof(m), &d->mem->memfd, 1, &reply);
	if (!ret)
		vfu_msg_release(&reply);
	return ret;
}

/* All guest RAM: [0, low) at file offset 0, [4 GiB, 4 GiB + high) after it. */
static int dma_map_ram(struct vfio_user_dev *d)
{
	int ret = dma_map(d, 0, 0, d->mem->low_size);

	return ret ? ret : dma_map(d, CV_HIGHMEM_START, d->mem->low_size, d->mem->high_size);
}

/* The MSI-X capability's offset, 0 if none; the list is the card's: bounded walk. */
static uint32_t find_msix_cap(struct vfio_user_dev *d)
{
	uint32_t pos;

	if (!(cfg_get(d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST))
		return 0;
	pos = cfg_get(d, PCI_CAPABILITY_LIST, 1) & ~3u;
	for (unsigned n = 0; pos >= PCI_STD_HEADER_SIZEOF && n < CAP_WALK_MAX; n++) {
		uint32_t hdr = cfg_get(d, pos, 2);

		if ((hdr & 0xff) == PCI_CAP_ID_MSIX)
			return pos;
		pos = (hdr >> 8) & 0xfc;
	}
	return 0;
}

/* A table or PBA of @size at @off in BAR @bar must lie in that memory BAR. */
static bool msix_area_ok(const struct vfio_user_dev *d, unsigned bar, uint64_t off,
			 uint64_t size)
{
	const struct pci_bar_desc *b;

	if (bar >= PCI_STD_NUM_BARS)
		return false;
	b = &d->bars[bar];
	return b->size && !b->io && off < b->size && size <= b->size - off;
}

static int irq_count(struct vfio_user_dev *d, unsigned index, uint32_t *count)
{
	struct vfio_user_irq_info q = { .argsz = sizeof(q), .index = index }, *r;
	struct vfu_msg reply;
	int ret = call(d, false, VFIO_USER_DEVICE_GET_IRQ_INFO, &q, sizeof(q), NULL, 0, &reply);

	if (ret)
		return ret;
	r = reply.payload;
	*count = r->count;
	if (r->index != index || (r->count && !(r->flags & VFIO_IRQ_INFO_EVENTFD)))
		ret = -EPROTO;
	vfu_msg_release(&reply);
	return ret;
}

/* Give the card vector eventfds [start, start + n) in one SET_IRQS. */
static int set_irqs(struct vfio_user_dev *d, unsigned start, unsigned n)
{
	struct vfio_user_irq_set s = {
		.argsz = sizeof(s),
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX, .start = start, .count = n,
	};
	struct vfu_msg reply;
	int ret = call(d, false, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s),
		       d->vector_fds + start, n, &reply);

	if (!ret)
		vfu_msg_release(&reply);
	return ret;
}

/* Every vector's eventfd, in chunks of at most the card's max_msg_fds. */
static int set_all_irqs(struct vfio_user_dev *d)
{
	uint32_t chunk = d->max_fds < VFU_MAX_FDS ? d->max_fds : VFU_MAX_FDS;
	int ret = 0;

	if (!chunk)
		return -EPROTO;
	for (unsigned v = 0; v < d->nr_vectors && !ret; v += chunk)
		ret = set_irqs(d, v, d->nr_vectors - v < chunk ? d->nr_vectors - v : chunk);
	return ret;
}

/* Where the card's MSI-X capability puts things, and how many vectors. */
struct msix_layout {
	uint32_t cap, nr;
	unsigned table_bar, pba_bar;
	uint64_t table_off, pba_off;
};

static int read_msix_layout(struct vfio_user_dev *d, struct msix_layout *l)
{
	uint32_t table, pba, count;
	int ret;

	*l = (struct msix_layout){ .cap = find_msix_cap(d) };
	if (!l->cap)
		return 0;
	l->nr = (cfg_get(d, l->cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
	table = cfg_get(d, l->cap + PCI_MSIX_TABLE, 4);
	pba = cfg_get(d, l->cap + PCI_MSIX_PBA, 4);
	l->table_bar = table & PCI_MSIX_TABLE_BIR;
	l->table_off = table & PCI_MSIX_TABLE_OFFSET;
	l->pba_bar = pba & PCI_MSIX_PBA_BIR;
	l->pba_off = pba & PCI_MSIX_PBA_OFFSET;
	ret = irq_count(d, VFIO_PCI_MSIX_IRQ_INDEX, &count);
	if (ret)
		return ret;
	if (count != l->nr || !msix_area_ok(d, l->table_bar, l->table_off, msix_table_size(l->nr)) ||
	    !msix_area_ok(d, l->pba_bar, l->pba_off, msix_pba_size(l->nr))) {
		cv_err("vfio-user: %s: MSI-X capability (%u vectors, table BAR%u+%#llx, PBA BAR%u+%#llx) "
		       "does not fit the card's BARs or its %u interrupts",
		       d->name, l->nr, l->table_bar, (unsigned long long)l->table_off, l->pba_bar,
		       (unsigned long long)l->pba_off, count);
		return -EPROTO;
	}
	return 0;
}

static int setup_msix(struct vfio_user_dev *d)
{
	struct msix_layout l;
	int ret = read_msix_layout(d, &l);

	if (ret || !l.cap)
		return ret;
	d->msix_cap = l.cap;
	d->table_bar = l.table_bar;
	d->table_off = l.table_off;
	d->pba_bar = l.pba_bar;
	d->pba_off = l.pba_off;
	ret = msix_init(&d->msix, d->irq, l.nr, d->name);
	if (ret)
		return ret;
	d->has_msix = true;
	d->vector_fds = malloc(l.nr * sizeof(int));
	if (!d->vector_fds)
		return -ENOMEM;
	d->nr_vectors = l.nr;
	for (unsigned v = 0; v < l.nr; v++)
		d->vector_fds[v] = -1;
	for (unsigned v = 0; v < l.nr; v++) {
		d->vector_fds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->vector_fds[v] < 0)
			return -errno;
		ret = msix_vector_bind(&d->msix, v, d->vector_fds[v]);
		if (ret)
			return ret;
	}
	return set_all_irqs(d);
}

/* Check one doorbell the card asked for: it must be one KVM can match. */
static int doorbell_take(struct vfio_user_dev *d, struct doorbells *dbs, unsigned bar,
			 const struct vfio_user_sub_region_ioeventfd *e,
			 const struct vfu_msg *reply)
{
	uint32_t allowed = KVM_IOEVENTFD_FLAG_DATAMATCH |
			   (d->bars[bar].io ? KVM_IOEVENTFD_FLAG_PIO : 0);
	struct doorbell *db;

	if (e->type != VFIO_USER_IO_FD_TYPE_IOEVENTFD || (e->flags & ~allowed) ||
	    (e->size != 1 && e->size != 2 && e->size != 4 && e->size != 8) ||
	    e->offset >= d->bars[bar].size || e->size > d->bars[bar].size - e->offset ||
	    e->fd_index >= reply->nr_fds ||
	    (d->has_msix && bar == d->table_bar &&
	     overlaps(e->offset, e->size, d->table_off, msix_table_size(d->msix.nr))) ||
	    (d->has_msix && bar == d->pba_bar &&
	     overlaps(e->offset, e->size, d->pba_off, msix_pba_size(d->msix.nr)))) {
		cv_err("vfio-user: %s: ioeventfd BAR%u+%#llx (%llu bytes, type %u, flags %#x) refused",
		       d->name, bar, (unsigned long long)e->offset,
		       (unsigned long long)e->size, e->type, e->flags);
		return -EPROTO;
	}
	db = &dbs->v[dbs->n];
	*db = (struct doorbell){
		.bar = bar, .offset = e->offset, .size = (uint32_t)e->size,
		.flags = e->flags & KVM_IOEVENTFD_FLAG_DATAMATCH,
		.datamatch = e->datamatch,
		.fd = fcntl(reply->fds[e->fd_index], F_DUPFD_CLOEXEC, 0),
	};
	if (db->fd < 0)
		return -errno;
	dbs->n++;
	return 0;
}

static int load_doorbells(struct vfio_user_dev *d, struct doorbells *dbs, unsigned bar)
{
	struct vfio_user_region_io_fds q = {
		.argsz = sizeof(q) + VFU_MAX_FDS * sizeof(struct vfio_user_sub_region_ioeventfd),
		.index = VFIO_PCI_BAR0_REGION_INDEX + bar,
	};
	const struct vfio_user_region_io_fds *r;
	const struct vfio_user_sub_region_ioeventfd *e;
	struct doorbell *grown;
	struct vfu_msg reply;
	int ret = call(d, false, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0,
		       &reply);

	/* A card that offers no fast path still works, through the socket. */
	d->io_fds[bar] = !ret;
	if (ret == -ENOTSUP || ret == -EINVAL)
		return 0;
	if (ret)
		return ret;
	r = reply.payload;
	e = (const void *)(r + 1);
	if (r->index != q.index || r->count > VFU_MAX_FDS ||
	    reply.len != sizeof(*r) + r->count * sizeof(*e)) {
		ret = -EPROTO;
		goto out;
	}
	grown = realloc(dbs->v, (dbs->n + r->count + 1) * sizeof(*grown));
	if (!grown) {
		ret = -ENOMEM;
		goto out;
	}
	dbs->v = grown;
	for (unsigned i = 0; i < r->count && !ret; i++)
		ret = doorbell_take(d, dbs, bar, &e[i], &reply);
out:
	vfu_msg_release(&reply);
	return ret;
}

static int load_all_doorbells(struct vfio_user_dev *d, struct doorbells *dbs)
{
	int ret = 0;

	for (unsigned i = 0; i < PCI_STD_NUM_BARS && !ret; i++)
		if (d->bars[i].size)
			ret = load_doorbells(d, dbs, i);
	return ret;
}

/* Out of KVM (if there) and closed. */
static void doorbells_release(struct vfio_user_dev *d, struct doorbells *dbs)
{
	for (unsigned i = 0; i < dbs->n; i++) {
		if (dbs->v[i].assigned)
			doorbell_ioctl(d, &dbs->v[i], dbs->v[i].addr, false);
		close(dbs->v[i].fd);
	}
	free(dbs->v);
	*dbs = (struct doorbells){ 0 };
}

/* Whether @fresh holds the same doorbells of @bar as @dbs, in the same order. */
static bool doorbells_same(const struct doorbells *dbs, const struct doorbells *fresh,
			   unsigned bar)
{
	unsigned j = 0;

	for (unsigned i = 0; i < dbs->n; i++) {
		const struct doorbell *a = &dbs->v[i], *b;

		if (a->bar != bar)
			continue;
		if (j == fresh->n)
			return false;
		b = &fresh->v[j++];
		if (a->offset != b->offset || a->size != b->size || a->flags != b->flags ||
		    a->datamatch != b->datamatch)
			return false;
	}
	return j == fresh->n;
}

/*
 * A card may change which doorbells it hands over: cv-ebs offers its NVMe
 * I/O doorbells only while it can read their values from shadow doorbells
 * (cards/ebs/vfio_server.h, ioeventfds_ready).  After each write of the
 * guest's that reached the card, ask again; if @bar's set differs, its
 * doorbells leave KVM and the new ones take their place.  A failed query
 * keeps what is bound: the writes still reach the card either way.
 */
static void doorbells_refresh(struct vfio_user_dev *d, unsigned bar)
{
	struct doorbells fresh = { 0 }, *dbs = &d->doorbells;
	struct doorbell *grown;
	unsigned kept = 0, before = 0;

	if (!d->io_fds[bar] || load_doorbells(d, &fresh, bar))
		goto out;
	pthread_mutex_lock(&d->db_lock);
	if (doorbells_same(dbs, &fresh, bar)) {
		pthread_mutex_unlock(&d->db_lock);
		goto out;
	}
	grown = realloc(dbs->v, (dbs->n + fresh.n + 1) * sizeof(*grown));
	if (!grown) {
		pthread_mutex_unlock(&d->db_lock);
		goto out;
	}
	dbs->v = grown;
	for (unsigned i = 0; i < dbs->n; i++) {
		struct doorbell *db = &dbs->v[i];

		if (db->bar != bar) {
			dbs->v[kept++] = *db;
			continue;
		}
		before++;
		if (db->assigned)
			doorbell_ioctl(d, db, db->addr, false);
		close(db->fd);
	}
	dbs->n = kept;
	for (unsigned i = 0; i < fresh.n; i++) {
		dbs->v[dbs->n] = fresh.v[i];
		doorbell_place(d, &dbs->v[dbs->n++]);
	}
	pthread_mutex_unlock(&d->db_lock);
	cv_info("vfio-user: %s: BAR%u: the card hands over %u doorbells as ioeventfds (was %u)",
		d->name, bar, fresh.n, before);
	fresh.n = 0;
out:
	doorbells_release(d, &fresh);
}

/*
 * Connect to the card's socket, trying @tries times CONNECT_RETRY_MS apart
 * while nobody listens there yet (a card started alongside cv-hv, or one
 * cardvisor is restarting).
 */
static int connect_socket(const char *path, unsigned tries)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	long uid;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	for (unsigned n = 1; connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0; n++) {
		int ret = -errno;

		if ((ret != -ENOENT && ret != -ECONNREFUSED) || n >= tries) {
			close(fd);
			return ret;
		}
		nanosleep(&(struct timespec){ .tv_nsec = CONNECT_RETRY_MS * 1000000L }, NULL);
	}
	/* Guest memory goes only to a card of ours, whatever sits at the path. */
	if (!fd_peer_trusted(fd, &uid)) {
		cv_err("vfio-user: %s is served by uid %ld, not by a card of this VM's owner: "
		       "not connecting", path, uid);
		close(fd);
		return -EPERM;
	}
	/* Non-blocking, so a stuck card costs a bounded wait (vfio_user.h). */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static int setup(struct vfio_user_dev *d)
{
	int ret = negotiate(d);

	if (!ret)
		ret = get_device_info(d);
	if (!ret)
		ret = load_bars(d, d->bars, &d->cfg_size);
	if (!ret)
		ret = dma_map_ram(d);
	if (!ret)
		ret = setup_msix(d);
	if (!ret)
		ret = load_all_doorbells(d, &d->doorbells);
	return ret;
}

/* ---- a restarted card ------------------------------------------------------- */

/*
 * Replay the written bytes of [@lo, @hi) in naturally aligned dwords, words
 * or bytes: the widths the guest used, as far as the shadow can tell.
 */
static int replay_range(struct vfio_user_dev *d, uint32_t lo, uint32_t hi)
{
	for (uint32_t off = lo, len; off < hi; off += len) {
		uint32_t v = 0;
		int ret;

		len = 1;
		if (!d->cfg_written[off])
			continue;
		if (!(off % 4) && off + 4 <= hi && d->cfg_written[off + 1] &&
		    d->cfg_written[off + 2] && d->cfg_written[off + 3])
			len = 4;
		else if (!(off % 2) && off + 2 <= hi && d->cfg_written[off + 1])
			len = 2;
		memcpy(&v, &d->cfg_shadow[off], len);
		ret = region_rw(d, false, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, len, true);
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether the card now holds what the shadow says for the written bytes of [@off, +@len). */
static bool replayed(struct vfio_user_dev *d, uint32_t off, uint32_t len, uint32_t mask)
{
	uint32_t want = 0, wmask = 0;

	for (uint32_t i = 0; i < len; i++)
		if (d->cfg_written[off + i])
			wmask |= 0xffu << (8 * i);
	memcpy(&want, &d->cfg_shadow[off], len);
	return !((cfg_get(d, off, len) ^ want) & wmask & mask);
}

/*
 * The new card starts from reset; the guest's view of the function must
 * not change.  So everything cv-hv wrote to its config space before is
 * written again from the shadow: BARs and the rest first, the Command
 * register (decoding, bus mastering) last, as firmware orders it.  Then
 * the state cv-hv acts on is checked: BAR addresses, Command's decode and
 * master bits, MSI-X Enable and Function Mask.
 */
static int replay_config(struct vfio_user_dev *d)
{
	int ret = replay_range(d, 0, PCI_COMMAND);

	if (!ret)
		ret = replay_range(d, PCI_COMMAND + 2, d->cfg_size);
	if (!ret)
		ret = replay_range(d, PCI_COMMAND, PCI_COMMAND + 2);
	if (ret)
		return ret;
	if (!replayed(d, PCI_COMMAND, 2, PCI_COMMAND_IO | PCI_COMMAND_MEMORY |
					 PCI_COMMAND_MASTER))
		return -EPROTO;
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++)
		if (d->bars[i].size &&
		    (!replayed(d, PCI_BASE_ADDRESS_0 + 4 * i, 4, ~0u) ||
		     (d->bars[i].mem64 && !replayed(d, PCI_BASE_ADDRESS_0 + 4 * i + 4, 4, ~0u))))
			return -EPROTO;
	if (d->has_msix && !replayed(d, d->msix_cap + PCI_MSIX_FLAGS, 2,
				     PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL))
		return -EPROTO;
	return 0;
}

/* The new card must be the same function the guest knows: -EPROTO if not. */
static int same_function(struct vfio_user_dev *d)
{
	struct pci_bar_desc bars[PCI_STD_NUM_BARS];
	struct msix_layout l;
	uint32_t cfg_size;
	int ret = load_bars(d, bars, &cfg_size);

	if (ret)
		return ret;
	if (cfg_size != d->cfg_size || memcmp(bars, d->bars, sizeof(bars)))
		return -EPROTO;
	ret = read_msix_layout(d, &l);
	if (ret)
		return ret;
	if (l.cap != (d->has_msix ? d->msix_cap : 0) ||
	    (l.cap && (l.nr != d->msix.nr || l.table_bar != d->table_bar ||
		       l.table_off != d->table_off || l.pba_bar != d->pba_bar ||
		       l.pba_off != d->pba_off)))
		return -EPROTO;
	return 0;
}

/*
 * Set up the card that answered on @d's fresh socket as the old one was,
 * reusing the vector eventfds (they stay KVM irqfds) and taking its new
 * doorbells; then let the guest's accesses through.  -ENODEV if the link
 * broke (try again), another error if this card cannot stand in.
 */
static int reattach(struct vfio_user_dev *d)
{
	struct doorbells dbs = { 0 };
	int ret = negotiate(d);

	if (!ret)
		ret = get_device_info(d);
	if (!ret)
		ret = same_function(d);
	if (!ret)
		ret = dma_map_ram(d);
	if (!ret && d->has_msix)
		ret = set_all_irqs(d);
	if (!ret)
		ret = load_all_doorbells(d, &dbs);
	if (ret)
		goto fail;
	/* No access to the function while the card is made current; other functions go on. */
	pci_function_lock(d->bus, d->slot, d->fn);
	ret = replay_config(d);
	if (!ret) {
		doorbells_release(d, &d->doorbells);
		d->doorbells = dbs;
		dbs = (struct doorbells){ 0 };
		for (unsigned i = 0; i < d->doorbells.n; i++)
			doorbell_place(d, &d->doorbells.v[i]);
		pthread_mutex_lock(&d->lock);
		d->live = d->link_ok;
		ret = d->live ? 0 : -ENODEV;
		pthread_mutex_unlock(&d->lock);
	}
	pci_function_unlock(d->bus, d->slot, d->fn);
fail:
	doorbells_release(d, &dbs);
	/* What a broken link made look wrong (all ones read back) says nothing of the card. */
	pthread_mutex_lock(&d->lock);
	if (ret && !d->link_ok)
		ret = -ENODEV;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

/* Sleep @ms unless close() asks the monitor to stop: true then. */
static bool stop_requested(struct vfio_user_dev *d, int ms)
{
	struct pollfd p = { .fd = d->stop_fd, .events = POLLIN };

	while (poll(&p, 1, ms) < 0)
		if (errno != EINTR)
			return true;
	return p.revents;
}

/*
 * While the link is up: wait for the card to hang up (POLLRDHUP only, so
 * replies to the vCPUs' requests do not wake it).  While it is down: close
 * the old socket and try the path every CONNECT_RETRY_MS until a card
 * answers and reattach() succeeds, or one that is not the same function
 * answers (then the function stays all ones: logged once).
 */
static void *monitor(void *opaque)
{
	struct vfio_user_dev *d = opaque;

	for (;;) {
		struct pollfd p[2] = { { .events = POLLRDHUP },
				       { .fd = d->stop_fd, .events = POLLIN } };
		bool up;
		int ret;

		pthread_mutex_lock(&d->lock);
		up = d->link_ok;
		p[0].fd = d->sock;
		if (!up && d->sock >= 0) {
			close(d->sock);
			d->sock = -1;
		}
		pthread_mutex_unlock(&d->lock);
		if (up) {
			if (poll(p, 2, -1) < 0 && errno != EINTR)
				break;
			if (p[1].revents)
				break;
			if (!p[0].revents)
				continue;
			pthread_mutex_lock(&d->lock);
			if (d->link_ok)
				link_lost(d, ECONNRESET, "the idle socket");
			pthread_mutex_unlock(&d->lock);
			continue;
		}
		if (stop_requested(d, CONNECT_RETRY_MS))
			break;
		ret = connect_socket(d->path, 1);
		if (ret < 0)
			continue;
		pthread_mutex_lock(&d->lock);
		d->sock = ret;
		d->link_ok = true;
		d->next_id = 0;
		pthread_mutex_unlock(&d->lock);
		ret = reattach(d);
		if (!ret) {
			cv_info("vfio-user: %s: card at %s is back: config replayed, %u MSI-X "
				"vectors, %u doorbells; the guest's driver resets the device",
				d->name, d->path, d->nr_vectors, d->doorbells.n);
			continue;
		}
		if (ret == -ENODEV)
			continue;
		cv_err("vfio-user: %s: the card now at %s is not the function the guest "
		       "knows (%s): it stays all ones", d->name, d->path, strerror(-ret));
		pthread_mutex_lock(&d->lock);
		d->link_ok = false;
		close(d->sock);
		d->sock = -1;
		pthread_mutex_unlock(&d->lock);
		break;
	}
	return NULL;
}

/* ---- life cycle -------------------------------------------------------------- */

int vfio_user_dev_open(struct vfio_user_dev **out, const struct vfio_user_params *p)
{
	struct vfio_user_dev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->vm_fd = p->vm_fd;
	d->mem = p->mem;
	d->irq = p->irq;
	d->stop_fd = -1;
	d->name = strdup(p->name);
	d->path = strdup(p->socket_path);
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->db_lock, NULL);
	d->sock = connect_socket(p->socket_path, CONNECT_TRIES);
	if (!d->name || !d->path || d->sock < 0) {
		ret = d->name && d->path ? d->sock : -ENOMEM;
		cv_err("vfio-user: %s: connecting to %s: %s", p->name, p->socket_path,
		       strerror(-ret));
		goto fail;
	}
	d->link_ok = true;
	ret = setup(d);
	if (ret) {
		cv_err("vfio-user: %s: setting up the card at %s: %s", p->name,
		       p->socket_path, strerror(-ret));
		goto fail;
	}
	d->live = true;
	cv_info("vfio-user: %s: card at %s: %u MSI-X vectors, %u doorbells", d->name,
		p->socket_path, d->has_msix ? d->msix.nr : 0, d->doorbells.n);
	*out = d;
	return 0;
fail:
	vfio_user_dev_close(d);
	return ret;
}

int vfio_user_dev_plug(struct vfio_user_dev *d, struct pci_bus *bus, unsigned slot,
		       unsigned fn)
{
	int ret = pci_bus_plug(bus, slot, fn, &vu_ops, d, d->name);

	if (ret) {
		cv_err("vfio-user: %s: plugging at 00:%02x.%u: %s", d->name, slot, fn,
		       strerror(-ret));
		return ret;
	}
	d->bus = bus;
	d->slot = slot;
	d->fn = fn;
	d->plugged = true;
	/* From here a card that dies can be brought back (it needs the bus). */
	d->stop_fd = eventfd(0, EFD_CLOEXEC);
	ret = d->stop_fd < 0 ? -errno : -pthread_create(&d->monitor, NULL, monitor, d);
	if (ret) {
		cv_warn("vfio-user: %s: no monitor thread (%s): a card that dies stays dead",
			d->name, strerror(-ret));
		return 0;
	}
	d->monitoring = true;
	return 0;
}

bool vfio_user_dev_dead(struct vfio_user_dev *d)
{
	bool dead;

	pthread_mutex_lock(&d->lock);
	dead = !d->live;
	pthread_mutex_unlock(&d->lock);
	return dead;
}

void vfio_user_dev_close(struct vfio_user_dev *d)
{
	if (!d)
		return;
	if (d->monitoring) {
		eventfd_write(d->stop_fd, 1);
		pthread_join(d->monitor, NULL);
	}
	if (d->stop_fd >= 0)
		close(d->stop_fd);
	/* Unplugging unmaps the BARs, which takes the doorbells out of KVM. */
	if (d->plugged)
		pci_bus_unplug(d->bus, d->slot, d->fn);
	doorbells_release(d, &d->doorbells);
	if (d->has_msix)
		msix_destroy(&d->msix);
	for (unsigned v = 0; v < d->nr_vectors; v++)
		if (d->vector_fds[v] >= 0)
			close(d->vector_fds[v]);
	free(d->vector_fds);
	if (d->sock >= 0)
		close(d->sock);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->db_lock);
	free(d->path);
	free(d->name);
	free(d);
}
