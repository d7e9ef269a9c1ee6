/* SPDX-License-Identifier: Apache-2.0 */
#include "hv/vfio_user.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
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
#include "tools/lib/log.h"
#include "tools/lib/vfio_user.h"

/* The capability list lives in 0x40..0xff; a longer walk is a loop. */
#define CAP_WALK_MAX 48
/* How long a card has to start listening: 50 x 100 ms. */
#define CONNECT_TRIES    50
#define CONNECT_RETRY_NS 100000000L

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

struct vfio_user_dev {
	char *name;
	int sock, vm_fd;
	struct irq_routing *irq;

	pthread_mutex_t lock;    /* one request on the socket at a time */
	uint16_t next_id;
	bool dead;
	uint32_t max_fds;        /* the card's max_msg_fds */

	uint32_t cfg_size;
	struct pci_bar_desc bars[PCI_STD_NUM_BARS];

	/* MSI-X, from the card's capability; emulated here. */
	bool has_msix;
	uint32_t msix_cap;
	unsigned table_bar, pba_bar;
	uint64_t table_off, pba_off;
	struct msix msix;
	int *vector_fds;         /* one eventfd per vector, the card's to signal */
	unsigned nr_vectors;

	struct doorbell *doorbells;
	unsigned nr_doorbells;

	struct pci_bus *bus;
	unsigned slot, fn;
	bool plugged;
};

/* ---- socket ---------------------------------------------------------------- */

/*
 * One command and its reply.  0, or the -errno of the card's error reply,
 * or -ENODEV once the card is gone: any transport failure kills the
 * function, since the stream can no longer be trusted.
 */
static int call(struct vfio_user_dev *d, uint16_t cmd, const void *req, size_t len,
		const int *fds, unsigned nr_fds, struct vfu_msg *reply)
{
	int ret, error = 0;

	pthread_mutex_lock(&d->lock);
	if (d->dead) {
		ret = -ENODEV;
		goto out;
	}
	ret = vfu_call(d->sock, d->next_id++, cmd, req, len, fds, nr_fds, reply, &error);
	if (ret) {
		d->dead = true;
		cv_err("vfio-user: %s: card gone (%s on %s): its function reads all ones now",
		       d->name, strerror(-ret), vfu_command_name(cmd));
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
static int region_rw(struct vfio_user_dev *d, unsigned region, uint64_t offset,
		     void *data, uint32_t len, bool is_write)
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
	ret = call(d, is_write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ, q,
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

static uint32_t cfg_get(struct vfio_user_dev *d, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	region_rw(d, VFIO_PCI_CONFIG_REGION_INDEX, off, &v, len, false);
	return v;
}

/* ---- pci_function_ops ------------------------------------------------------ */

static void vu_cfg_read(void *opaque, uint32_t offset, uint32_t len, uint32_t *val)
{
	struct vfio_user_dev *d = opaque;

	*val = 0;
	if (offset >= d->cfg_size || len > d->cfg_size - offset) {
		all_ones(val, len);
		return;
	}
	region_rw(d, VFIO_PCI_CONFIG_REGION_INDEX, offset, val, len, false);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static void vu_cfg_write(void *opaque, uint32_t offset, uint32_t len, uint32_t val)
{
	struct vfio_user_dev *d = opaque;

	if (offset >= d->cfg_size || len > d->cfg_size - offset)
		return;
	region_rw(d, VFIO_PCI_CONFIG_REGION_INDEX, offset, &val, len, true);
	/* The card decides what Message Control holds; we act on its value. */
	if (d->has_msix && overlaps(offset, len, d->msix_cap + PCI_MSIX_FLAGS, 2))
		msix_control_write(&d->msix,
				   (uint16_t)cfg_get(d, d->msix_cap + PCI_MSIX_FLAGS, 2));
}

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
	region_rw(d, VFIO_PCI_BAR0_REGION_INDEX + bar, offset, data, len, is_write);
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

/* Doorbells follow their BAR: KVM matches guest addresses, not BAR offsets. */
static void vu_bar_mapped(void *opaque, unsigned bar, uint64_t addr, bool mapped)
{
	struct vfio_user_dev *d = opaque;

	for (unsigned i = 0; i < d->nr_doorbells; i++) {
		struct doorbell *db = &d->doorbells[i];
		int ret;

		if (db->bar != bar)
			continue;
		if (db->assigned) {
			doorbell_ioctl(d, db, db->addr, false);
			db->assigned = false;
		}
		if (!mapped)
			continue;
		ret = doorbell_ioctl(d, db, addr + db->offset, true);
		if (ret) {
			/* The write still reaches the card, over the socket. */
			cv_err_once("vfio-user: %s: ioeventfd at %#llx (BAR%u + %#llx): %s",
				    d->name, (unsigned long long)(addr + db->offset), bar,
				    (unsigned long long)db->offset, strerror(-ret));
			continue;
		}
		db->assigned = true;
		db->addr = addr + db->offset;
	}
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
	int ret = call(d, VFIO_USER_VERSION, buf, vfu_version_build(buf, VFIO_USER_MINOR),
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
	int ret = call(d, VFIO_USER_DEVICE_GET_INFO, &q, sizeof(q), NULL, 0, &reply);

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
	int ret = call(d, VFIO_USER_DEVICE_GET_REGION_INFO, &q, sizeof(q), NULL, 0, &reply);

	if (ret)
		return ret;
	r = reply.payload;
	*size = r->index == index ? r->size : 0;
	if (r->index != index)
		ret = -EPROTO;
	vfu_msg_release(&reply);
	return ret;
}

/* Each BAR's kind comes from its register's low bits, its size from REGION_INFO. */
static int load_bars(struct vfio_user_dev *d)
{
	uint64_t size;
	int ret = region_size(d, VFIO_PCI_CONFIG_REGION_INDEX, &size);

	if (ret)
		return ret;
	if (size != PCI_CFG_SPACE_SIZE && size != PCI_CFG_SPACE_EXP_SIZE)
		return -EPROTO;
	d->cfg_size = (uint32_t)size;
	for (unsigned i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct pci_bar_desc *b = &d->bars[i];
		uint32_t reg;

		ret = region_size(d, VFIO_PCI_BAR0_REGION_INDEX + i, &size);
		if (ret)
			return ret;
		if (!size)
			continue;
		if (i && d->bars[i - 1].mem64)
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

static int dma_map(struct vfio_user_dev *d, const struct guest_mem *mem,
		   uint64_t gpa, uint64_t offset, uint64_t size)
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
	ret = call(d, VFIO_USER_DMA_MAP, &m, sizeof(m), &mem->memfd, 1, &reply);
	if (!ret)
		vfu_msg_release(&reply);
	return ret;
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
	int ret = call(d, VFIO_USER_DEVICE_GET_IRQ_INFO, &q, sizeof(q), NULL, 0, &reply);

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
	int ret = call(d, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), d->vector_fds + start,
		       n, &reply);

	if (!ret)
		vfu_msg_release(&reply);
	return ret;
}

static int setup_msix(struct vfio_user_dev *d, struct irq_routing *irq)
{
	uint32_t table, pba, count, nr, chunk;
	int ret;

	d->msix_cap = find_msix_cap(d);
	if (!d->msix_cap)
		return 0;
	nr = (cfg_get(d, d->msix_cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1;
	table = cfg_get(d, d->msix_cap + PCI_MSIX_TABLE, 4);
	pba = cfg_get(d, d->msix_cap + PCI_MSIX_PBA, 4);
	d->table_bar = table & PCI_MSIX_TABLE_BIR;
	d->table_off = table & PCI_MSIX_TABLE_OFFSET;
	d->pba_bar = pba & PCI_MSIX_PBA_BIR;
	d->pba_off = pba & PCI_MSIX_PBA_OFFSET;
	ret = irq_count(d, VFIO_PCI_MSIX_IRQ_INDEX, &count);
	if (ret)
		return ret;
	if (count != nr || !msix_area_ok(d, d->table_bar, d->table_off, msix_table_size(nr)) ||
	    !msix_area_ok(d, d->pba_bar, d->pba_off, msix_pba_size(nr))) {
		cv_err("vfio-user: %s: MSI-X capability (%u vectors, table BAR%u+%#llx, PBA BAR%u+%#llx) "
		       "does not fit the card's BARs or its %u interrupts",
		       d->name, nr, d->table_bar, (unsigned long long)d->table_off, d->pba_bar,
		       (unsigned long long)d->pba_off, count);
		return -EPROTO;
	}
	ret = msix_init(&d->msix, irq, nr, d->name);
	if (ret)
		return ret;
	d->has_msix = true;
	d->vector_fds = malloc(nr * sizeof(int));
	if (!d->vector_fds)
		return -ENOMEM;
	d->nr_vectors = nr;
	for (unsigned v = 0; v < nr; v++)
		d->vector_fds[v] = -1;
	for (unsigned v = 0; v < nr; v++) {
		d->vector_fds[v] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->vector_fds[v] < 0)
			return -errno;
		ret = msix_vector_bind(&d->msix, v, d->vector_fds[v]);
		if (ret)
			return ret;
	}
	/* The card takes at most max_msg_fds fds per message. */
	chunk = d->max_fds < VFU_MAX_FDS ? d->max_fds : VFU_MAX_FDS;
	for (unsigned v = 0; v < nr && !ret; v += chunk)
		ret = set_irqs(d, v, nr - v < chunk ? nr - v : chunk);
	return ret;
}

/* Check one doorbell the card asked for: it must be one KVM can match. */
static int doorbell_take(struct vfio_user_dev *d, unsigned bar,
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
	db = &d->doorbells[d->nr_doorbells];
	*db = (struct doorbell){
		.bar = bar, .offset = e->offset, .size = (uint32_t)e->size,
		.flags = e->flags & KVM_IOEVENTFD_FLAG_DATAMATCH,
		.datamatch = e->datamatch,
		.fd = fcntl(reply->fds[e->fd_index], F_DUPFD_CLOEXEC, 0),
	};
	if (db->fd < 0)
		return -errno;
	d->nr_doorbells++;
	return 0;
}

static int load_doorbells(struct vfio_user_dev *d, unsigned bar)
{
	struct vfio_user_region_io_fds q = {
		.argsz = sizeof(q) + VFU_MAX_FDS * sizeof(struct vfio_user_sub_region_ioeventfd),
		.index = VFIO_PCI_BAR0_REGION_INDEX + bar,
	};
	const struct vfio_user_region_io_fds *r;
	const struct vfio_user_sub_region_ioeventfd *e;
	struct doorbell *grown;
	struct vfu_msg reply;
	int ret = call(d, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, &reply);

	/* A card that offers no fast path still works, through the socket. */
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
	grown = realloc(d->doorbells, (d->nr_doorbells + r->count + 1) * sizeof(*grown));
	if (!grown) {
		ret = -ENOMEM;
		goto out;
	}
	d->doorbells = grown;
	for (unsigned i = 0; i < r->count && !ret; i++)
		ret = doorbell_take(d, bar, &e[i], &reply);
out:
	vfu_msg_release(&reply);
	return ret;
}

static int connect_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * A card started alongside cv-hv may not listen yet: give it a
	 * bounded while, then report it missing.
	 */
	for (unsigned tries = 1; connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0;
	     tries++) {
		int ret = -errno;

		if ((ret != -ENOENT && ret != -ECONNREFUSED) || tries == CONNECT_TRIES) {
			close(fd);
			return ret;
		}
		nanosleep(&(struct timespec){ .tv_nsec = CONNECT_RETRY_NS }, NULL);
	}
	/* Non-blocking, so a stuck card costs a bounded wait (vfio_user.h). */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static int setup(struct vfio_user_dev *d, const struct vfio_user_params *p)
{
	const struct guest_mem *mem = p->mem;
	int ret = negotiate(d);

	if (!ret)
		ret = get_device_info(d);
	if (!ret)
		ret = load_bars(d);
	if (!ret)
		ret = dma_map(d, mem, 0, 0, mem->low_size);
	if (!ret)
		ret = dma_map(d, mem, CV_HIGHMEM_START, mem->low_size, mem->high_size);
	if (!ret)
		ret = setup_msix(d, p->irq);
	for (unsigned i = 0; i < PCI_STD_NUM_BARS && !ret; i++)
		if (d->bars[i].size)
			ret = load_doorbells(d, i);
	return ret;
}

int vfio_user_dev_open(struct vfio_user_dev **out, const struct vfio_user_params *p)
{
	struct vfio_user_dev *d = calloc(1, sizeof(*d));
	int ret;

	if (!d)
		return -ENOMEM;
	d->vm_fd = p->vm_fd;
	d->irq = p->irq;
	d->name = strdup(p->name);
	pthread_mutex_init(&d->lock, NULL);
	d->sock = connect_socket(p->socket_path);
	if (!d->name || d->sock < 0) {
		ret = d->name ? d->sock : -ENOMEM;
		cv_err("vfio-user: %s: connecting to %s: %s", p->name, p->socket_path,
		       strerror(-ret));
		goto fail;
	}
	ret = setup(d, p);
	if (ret) {
		cv_err("vfio-user: %s: setting up the card at %s: %s", p->name,
		       p->socket_path, strerror(-ret));
		goto fail;
	}
	cv_info("vfio-user: %s: card at %s: %u MSI-X vectors, %u doorbells", d->name,
		p->socket_path, d->has_msix ? d->msix.nr : 0, d->nr_doorbells);
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
	return 0;
}

bool vfio_user_dev_dead(struct vfio_user_dev *d)
{
	bool dead;

	pthread_mutex_lock(&d->lock);
	dead = d->dead;
	pthread_mutex_unlock(&d->lock);
	return dead;
}

void vfio_user_dev_close(struct vfio_user_dev *d)
{
	if (!d)
		return;
	/* Unplugging unmaps the BARs, which takes the doorbells out of KVM. */
	if (d->plugged)
		pci_bus_unplug(d->bus, d->slot, d->fn);
	for (unsigned i = 0; i < d->nr_doorbells; i++)
		close(d->doorbells[i].fd);
	free(d->doorbells);
	if (d->has_msix)
		msix_destroy(&d->msix);
	for (unsigned v = 0; v < d->nr_vectors; v++)
		if (d->vector_fds[v] >= 0)
			close(d->vector_fds[v]);
	free(d->vector_fds);
	if (d->sock >= 0)
		close(d->sock);
	pthread_mutex_destroy(&d->lock);
	free(d->name);
	free(d);
}
