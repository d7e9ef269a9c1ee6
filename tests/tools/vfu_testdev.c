/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vfu_testdev SOCKET: a tiny PCI function served over vfio-user by
 * cards/ebs/vfio_server, for the client/server tests.  BAR0 (16 KiB, 32-bit
 * memory) holds scratch registers, a doorbell served as an ioeventfd, a
 * DMA engine that checksums guest memory, an interrupt trigger, and the
 * MSI-X table and PBA (which the client emulates, so this card never sees
 * them).  Prints "ready" once listening; exits when its client leaves, or
 * after VFU_TESTDEV_TIMEOUT seconds whatever happens.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cards/ebs/vfio_server.h"
#include "tools/lib/pci_msix.h"
#include "tools/lib/pci_config.h"
#include "tests/tools/vfu_testdev.h"
#include "tools/lib/crc32c.h"
#include "tools/lib/log.h"

#define VFU_TESTDEV_TIMEOUT 120

struct testdev {
	struct vfio_server *srv;
	struct pci_config cfg;
	int doorbell_fd;
	uint32_t scratch[2];
	uint32_t doorbells, doorbells_socket, resets, doorbell_trapped;
	uint32_t dma_addr_lo, dma_addr_hi, dma_len, dma_result, dma_status;
	int32_t irq_result;
};

/* Doorbell writes counted so far, the eventfd's included. */
static void drain_doorbell(struct testdev *t)
{
	uint64_t n;

	if (read(t->doorbell_fd, &n, sizeof(n)) == sizeof(n))
		t->doorbells += (uint32_t)n;
}

static void dma_run(struct testdev *t)
{
	uint64_t addr = (uint64_t)t->dma_addr_hi << 32 | t->dma_addr_lo;
	const void *p = vfio_server_dma_ptr(t->srv, addr, t->dma_len);

	t->dma_status = p ? 0 : 1;
	t->dma_result = p ? crc32c(0, p, t->dma_len) : 0;
}

static uint32_t *reg(struct testdev *t, uint64_t off)
{
	switch (off) {
	case TD_SCRATCH0:     return &t->scratch[0];
	case TD_SCRATCH1:     return &t->scratch[1];
	case TD_DOORBELLS:    return &t->doorbells;
	case TD_DOORBELLS_SOCKET: return &t->doorbells_socket;
	case TD_DMA_ADDR_LO:  return &t->dma_addr_lo;
	case TD_DMA_ADDR_HI:  return &t->dma_addr_hi;
	case TD_DMA_LEN:      return &t->dma_len;
	case TD_DMA_RESULT:   return &t->dma_result;
	case TD_DMA_STATUS:   return &t->dma_status;
	case TD_IRQ_RESULT:   return (uint32_t *)&t->irq_result;
	case TD_RESETS:       return &t->resets;
	case TD_DOORBELL_TRAPPED: return &t->doorbell_trapped;
	default:              return NULL;
	}
}

static int bar0_access(struct testdev *t, uint64_t off, void *data, uint32_t len,
		       bool is_write)
{
	uint32_t v = 0, *r;

	if (len != 4 || off % 4)
		return -EINVAL;
	if (off == TD_DOORBELL) {
		/* Reached over the socket: the ioeventfd was not bound. */
		if (is_write) {
			t->doorbells++;
			t->doorbells_socket++;
		}
		return 0;
	}
	if (is_write) {
		memcpy(&v, data, 4);
		if (off == TD_DMA_GO)
			dma_run(t);
		else if (off == TD_IRQ)
			t->irq_result = vfio_server_irq(t->srv, v);
		else if (off <= TD_SCRATCH1 || (off >= TD_DMA_ADDR_LO && off <= TD_DMA_LEN) ||
			 off == TD_DOORBELL_TRAPPED)
			*reg(t, off) = v;
		return 0;
	}
	if (off == TD_DOORBELLS)
		drain_doorbell(t);
	r = reg(t, off);
	v = r ? *r : 0;
	memcpy(data, &v, 4);
	return 0;
}

static int region_access(void *opaque, unsigned region, uint64_t off, void *data,
			 uint32_t len, bool is_write)
{
	struct testdev *t = opaque;
	uint32_t v = 0;

	if (region == VFIO_PCI_BAR0_REGION_INDEX)
		return bar0_access(t, off, data, len, is_write);
	if (region != VFIO_PCI_CONFIG_REGION_INDEX || (len != 1 && len != 2 && len != 4) ||
	    (off & 3) + len > 4)
		return -EINVAL;
	if (is_write) {
		memcpy(&v, data, len);
		pci_config_write(&t->cfg, (uint32_t)off, len, v);
	} else {
		pci_config_read(&t->cfg, (uint32_t)off, len, &v);
		memcpy(data, &v, len);
	}
	return 0;
}

static void reset(void *opaque)
{
	struct testdev *t = opaque;

	t->resets++;
}

/* While TD_DOORBELL_TRAPPED is set, the doorbell's writes must come with values. */
static bool ioeventfds_ready(void *opaque, unsigned region)
{
	const struct testdev *t = opaque;

	return region != VFIO_PCI_BAR0_REGION_INDEX || !t->doorbell_trapped;
}

static const struct vfio_server_ops ops = {
	.region_access = region_access,
	.reset = reset,
	.ioeventfds_ready = ioeventfds_ready,
};

static int build_config(struct testdev *t)
{
	int cap;

	pci_config_init(&t->cfg, PCI_CFG_SPACE_SIZE, TD_VENDOR, TD_DEVICE,
			TD_CLASS, TD_REVISION);
	if (pci_config_set_bar(&t->cfg, 0, &(struct pci_bar_desc){ .size = TD_BAR0_SIZE }))
		return -EINVAL;
	cap = msix_cap_add(&t->cfg, TD_VECTORS, 0, TD_MSIX_TABLE, 0, TD_MSIX_PBA);
	return cap < 0 ? cap : 0;
}

int main(int argc, char **argv)
{
	static struct testdev t;
	struct vfio_server_ioeventfd db = {
		.region = VFIO_PCI_BAR0_REGION_INDEX, .offset = TD_DOORBELL, .size = 4,
	};
	struct vfio_server_config cfg = {
		.name = "vfu-testdev",
		.ioeventfds = &db, .nr_ioeventfds = 1,
		.msix_vectors = TD_VECTORS,
		.ops = &ops, .opaque = &t,
	};
	struct epoll_event ev = { .events = EPOLLIN };
	bool had_client = false;
	int ep, ret;

	cv_log_init("vfu-testdev", false);
	if (argc != 2) {
		fprintf(stderr, "usage: vfu_testdev SOCKET\n");
		return 2;
	}
	alarm(VFU_TESTDEV_TIMEOUT);
	t.doorbell_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	db.fd = t.doorbell_fd;
	cfg.region_size[VFIO_PCI_BAR0_REGION_INDEX] = TD_BAR0_SIZE;
	cfg.region_size[VFIO_PCI_CONFIG_REGION_INDEX] = PCI_CFG_SPACE_SIZE;
	if (t.doorbell_fd < 0 || build_config(&t))
		return 1;
	ret = vfio_server_create(&t.srv, argv[1], &cfg);
	if (ret) {
		fprintf(stderr, "vfu_testdev: %s\n", strerror(-ret));
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = vfio_server_fd(t.srv);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		return 1;
	ev.data.fd = t.doorbell_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
		return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		if (epoll_wait(ep, &ev, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (ev.data.fd == t.doorbell_fd) {
			drain_doorbell(&t);
			continue;
		}
		if (vfio_server_process(t.srv))
			return 1;
		if (vfio_server_connected(t.srv))
			had_client = true;
		else if (had_client)
			break;
	}
	vfio_server_destroy(t.srv);
	return 0;
}
