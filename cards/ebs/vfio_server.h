/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A vfio-user server (QEMU docs/interop/vfio-user.rst) that a card embeds to
 * be one PCI function of a VM: it listens on a UNIX socket, takes one client
 * (cv-hv, or QEMU's vfio-user-pci) at a time, and answers the device half of
 * the protocol.  The card supplies what the function is: its regions (PCI
 * config space at VFIO_PCI_CONFIG_REGION_INDEX, BARs), accessed through one
 * callback; the ioeventfds it wants the client to bind on ranges of a region
 * (doorbells); and how many MSI-X vectors it signals.  Guest memory arrives
 * as fd-backed DMA_MAP regions, mapped here, reached through
 * vfio_server_dma_ptr(); interrupts go out through vfio_server_irq() on the
 * eventfds the client gave with SET_IRQS.
 *
 * The card owns config space, including its MSI-X capability; the client
 * emulates the MSI-X table and PBA and never forwards those accesses.
 *
 * Non-blocking: vfio_server_fd() is one fd for the card's epoll loop (an
 * epoll set of its own over the listening and the connected socket), and
 * vfio_server_process() handles what is ready.  Everything, including
 * vfio_server_dma_ptr(), runs on the card's loop thread: a DMA_UNMAP is
 * answered only once the loop is back here, so a pointer is good until the
 * card returns to vfio_server_process().
 */
#ifndef CV_EBS_VFIO_SERVER_H
#define CV_EBS_VFIO_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "guest-abi/vfio_user.h"

struct vfio_server;

struct vfio_server_ops {
	/*
	 * Access @len bytes at @offset of region @region (bounds already
	 * checked against the region's size).  0 or a negative errno, which
	 * goes back to the client as the reply's error.
	 */
	int (*region_access)(void *opaque, unsigned region, uint64_t offset,
			     void *data, uint32_t len, bool is_write);
	/*
	 * Optional: DEVICE_RESET, and the client going away (its DMA maps
	 * and interrupt eventfds are already gone): stop all DMA.
	 */
	void (*reset)(void *opaque);
	/*
	 * Optional: whether the client may turn @region's ioeventfds into
	 * KVM ioeventfds now (absent: always).  A device that needs the
	 * values written to a register some of the time answers false then:
	 * GET_REGION_IO_FDS offers none for the region, and the writes come
	 * over the socket with their values.  The client asks again after
	 * each write it forwards (docs/vfio-user.md).
	 */
	bool (*ioeventfds_ready)(void *opaque, unsigned region);
};

/* One span the client should turn into a KVM ioeventfd on @fd. */
struct vfio_server_ioeventfd {
	unsigned region;
	uint64_t offset;
	uint32_t size;       /* 1, 2, 4 or 8 */
	bool datamatch;
	uint64_t data;
	int fd;              /* the card's eventfd; it reads it */
};

struct vfio_server_config {
	const char *name;    /* for logs */
	/* Region sizes by index (VFIO_PCI_*_REGION_INDEX); 0: absent. */
	uint64_t region_size[VFIO_PCI_NUM_REGIONS];
	const struct vfio_server_ioeventfd *ioeventfds;
	unsigned nr_ioeventfds;
	unsigned msix_vectors;
	const struct vfio_server_ops *ops;
	void *opaque;
};

/*
 * Listen on @socket_path (replacing a stale socket there).  @cfg is copied;
 * its ioeventfds' fds stay the card's.  0 or a negative errno.
 */
int vfio_server_create(struct vfio_server **out, const char *socket_path,
		       const struct vfio_server_config *cfg);
void vfio_server_destroy(struct vfio_server *srv);

/* Readable when vfio_server_process() has work. */
int vfio_server_fd(const struct vfio_server *srv);
/*
 * Accept a client, or handle its messages.  A client that breaks the
 * protocol is dropped (logged once), and the server listens again.  Returns
 * 0, or a negative errno when the server itself cannot go on.
 */
int vfio_server_process(struct vfio_server *srv);
/* Whether a client is connected and has negotiated. */
bool vfio_server_connected(const struct vfio_server *srv);

/*
 * Host address of DMA (guest physical) [@iova, @iova + @len), or NULL
 * unless all of it lies inside one mapped region.
 */
void *vfio_server_dma_ptr(struct vfio_server *srv, uint64_t iova, uint64_t len);

/*
 * Signal MSI-X vector @vector.  -EINVAL when out of range, -ENOENT when the
 * client gave no eventfd for it (not set up yet, or disabled).
 */
int vfio_server_irq(struct vfio_server *srv, unsigned vector);

#endif /* CV_EBS_VFIO_SERVER_H */
