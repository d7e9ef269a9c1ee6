/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/ebs/vfio_server.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/lib/fd.h"
#include "tools/lib/log.h"
#include "tools/lib/vfio_user.h"

/* Guest RAM is two regions (below and above the PCI hole); leave room. */
#define MAX_DMA_REGIONS 16

struct dma_region {
	uint64_t iova, size;
	uint8_t *host;
};

struct vfio_server {
	struct vfio_server_config cfg;
	struct vfio_server_ioeventfd *ioeventfds;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd, conn_fd, epfd;
	bool negotiated;
	/* What the client said it can take ("Version"). */
	uint32_t client_max_fds;
	struct dma_region dma[MAX_DMA_REGIONS];
	unsigned nr_dma;
	int *irq_fds;        /* one per MSI-X vector, -1 when none */
};

static const char *srv_name(const struct vfio_server *srv)
{
	return srv->cfg.name ? srv->cfg.name : "card";
}

/* ---- connection ---------------------------------------------------------- */

static void irq_fds_close(struct vfio_server *srv, unsigned start, unsigned count)
{
	for (unsigned v = start; v < start + count; v++) {
		if (srv->irq_fds[v] >= 0)
			close(srv->irq_fds[v]);
		srv->irq_fds[v] = -1;
	}
}

static void dma_unmap_all(struct vfio_server *srv)
{
	for (unsigned i = 0; i < srv->nr_dma; i++)
		munmap(srv->dma[i].host, srv->dma[i].size);
	srv->nr_dma = 0;
}

/* Forget the client: nothing it gave us (memory, eventfds) stays in use. */
static void drop_client(struct vfio_server *srv)
{
	if (srv->conn_fd < 0)
		return;
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, srv->conn_fd, NULL);
	close(srv->conn_fd);
	srv->conn_fd = -1;
	srv->negotiated = false;
	dma_unmap_all(srv);
	irq_fds_close(srv, 0, srv->cfg.msix_vectors);
	if (srv->cfg.ops->reset)
		srv->cfg.ops->reset(srv->cfg.opaque);
}

static void accept_client(struct vfio_server *srv)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* One client owns the function, as one VM owns a PCI slot. */
	if (srv->conn_fd >= 0) {
		cv_err_once("vfio-user: %s: a second client connected to %s, refused",
			    srv_name(srv), srv->path);
		close(fd);
		return;
	}
	ev.data.fd = fd;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		cv_err("vfio-user: %s: epoll: %s", srv_name(srv), strerror(errno));
		close(fd);
		return;
	}
	srv->conn_fd = fd;
	srv->client_max_fds = VFIO_USER_DEFAULT_MAX_MSG_FDS;
	cv_info("vfio-user: %s: client connected on %s", srv_name(srv), srv->path);
}

/* ---- VERSION ----------------------------------------------------------------- */

static int handle_version(struct vfio_server *srv, const struct vfu_msg *m)
{
	uint8_t buf[VFU_VERSION_SIZE];
	uint32_t max_xfer;
	uint16_t minor;
	int ret;

	if (srv->negotiated)
		return -EINVAL;
	ret = vfu_version_parse(m, &minor, &srv->client_max_fds, &max_xfer);
	if (ret)
		return ret;
	/* "The minor version in the reply must be equal to or less than" */
	ret = vfu_reply(srv->conn_fd, m, 0, buf,
			vfu_version_build(buf, minor < VFIO_USER_MINOR ? minor : VFIO_USER_MINOR),
			NULL, 0);
	if (!ret)
		srv->negotiated = true;
	return ret ?: 1;
}

/* ---- DMA ------------------------------------------------------------------- */

static bool dma_overlaps(const struct vfio_server *srv, uint64_t iova, uint64_t size)
{
	for (unsigned i = 0; i < srv->nr_dma; i++)
		if (iova < srv->dma[i].iova + srv->dma[i].size &&
		    srv->dma[i].iova < iova + size)
			return true;
	return false;
}

static int handle_dma_map(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_dma_map *d = m->payload;
	struct stat st;
	uint64_t end;
	int prot = 0;
	void *p;

	/*
	 * The device reads and writes guest memory through
	 * vfio_server_dma_ptr(), which does not know a region's protection: a
	 * region it could not write would fault the card (found by fuzzing).
	 */
	if (d->argsz < sizeof(*d) ||
	    d->flags != (VFIO_USER_F_DMA_REGION_READ | VFIO_USER_F_DMA_REGION_WRITE) ||
	    !d->size || __builtin_add_overflow(d->address, d->size, &end) ||
	    d->size > SIZE_MAX)
		return -EINVAL;
	/* Without an fd the client would serve DMA_READ/WRITE: not supported. */
	if (m->nr_fds != 1)
		return -ENOTSUP;
	if (dma_overlaps(srv, d->address, d->size))
		return -EEXIST;
	if (srv->nr_dma == MAX_DMA_REGIONS)
		return -ENOSPC;
	/* Pages past the file's end would fault (SIGBUS) on first touch. */
	if (fstat(m->fds[0], &st) < 0 || !S_ISREG(st.st_mode) ||
	    d->offset > (uint64_t)st.st_size || d->size > (uint64_t)st.st_size - d->offset)
		return -EINVAL;
	if (d->flags & VFIO_USER_F_DMA_REGION_READ)
		prot |= PROT_READ;
	if (d->flags & VFIO_USER_F_DMA_REGION_WRITE)
		prot |= PROT_WRITE;
	p = mmap(NULL, d->size, prot, MAP_SHARED, m->fds[0], (off_t)d->offset);
	if (p == MAP_FAILED)
		return -errno;
	/* Guest memory stays out of a core dump, as in cv-hv (hv/memory.c). */
	madvise(p, d->size, MADV_DONTDUMP);
	srv->dma[srv->nr_dma++] = (struct dma_region){ d->address, d->size, p };
	cv_debug("vfio-user: %s: DMA map [%#llx, +%#llx)", srv_name(srv),
		 (unsigned long long)d->address, (unsigned long long)d->size);
	return 0;
}

static int handle_dma_unmap(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_dma_unmap *d = m->payload;

	/* Neither the dirty bitmap nor unmap-all is offered. */
	if (d->argsz < sizeof(*d) || d->flags)
		return -EINVAL;
	for (unsigned i = 0; i < srv->nr_dma; i++) {
		struct dma_region *r = &srv->dma[i];

		/* "must match exactly a previous mapping" */
		if (r->iova != d->address || r->size != d->size)
			continue;
		munmap(r->host, r->size);
		*r = srv->dma[--srv->nr_dma];
		return vfu_reply(srv->conn_fd, m, 0, d, sizeof(*d), NULL, 0) ?: 1;
	}
	return -ENOENT;
}

void *vfio_server_dma_ptr(struct vfio_server *srv, uint64_t iova, uint64_t len)
{
	for (unsigned i = 0; i < srv->nr_dma; i++) {
		const struct dma_region *r = &srv->dma[i];

		if (iova >= r->iova && iova - r->iova <= r->size &&
		    len <= r->size - (iova - r->iova))
			return r->host + (iova - r->iova);
	}
	return NULL;
}

/* ---- device, regions, IRQs ------------------------------------------------- */

static int handle_device_info(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_device_info *q = m->payload;
	struct vfio_user_device_info r = {
		.argsz = sizeof(r),
		.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
		.num_regions = VFIO_PCI_NUM_REGIONS,
		.num_irqs = VFIO_PCI_NUM_IRQS,
	};

	if (q->argsz < sizeof(r))
		return -EINVAL;
	return vfu_reply(srv->conn_fd, m, 0, &r, sizeof(r), NULL, 0) ?: 1;
}

static int handle_region_info(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_region_info *q = m->payload;
	struct vfio_user_region_info r = { .argsz = sizeof(r) };

	if (q->argsz < sizeof(r) || q->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	r.index = q->index;
	r.size = srv->cfg.region_size[q->index];
	if (r.size)
		r.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	return vfu_reply(srv->conn_fd, m, 0, &r, sizeof(r), NULL, 0) ?: 1;
}

static int handle_io_fds(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_region_io_fds *q = m->payload;
	struct {
		struct vfio_user_region_io_fds h;
		struct vfio_user_sub_region_ioeventfd e[VFU_MAX_FDS];
	} r = { .h = { .index = q->index } };
	int fds[VFU_MAX_FDS];
	unsigned nr_fds = 0, n = 0;
	bool ready;

	if (q->index >= VFIO_PCI_NUM_REGIONS || q->flags || q->count)
		return -EINVAL;
	/* None while the device needs the region's written values (vfio_server.h). */
	ready = !srv->cfg.ops->ioeventfds_ready ||
		srv->cfg.ops->ioeventfds_ready(srv->cfg.opaque, q->index);
	for (unsigned i = 0; ready && i < srv->cfg.nr_ioeventfds; i++) {
		const struct vfio_server_ioeventfd *io = &srv->ioeventfds[i];
		unsigned f;

		if (io->region != q->index)
			continue;
		/* Sub-regions may share an fd ("fd_index ... may be shared"). */
		for (f = 0; f < nr_fds && fds[f] != io->fd; f++)
			;
		if (f == nr_fds)
			fds[nr_fds++] = io->fd;
		r.e[n++] = (struct vfio_user_sub_region_ioeventfd){
			.offset = io->offset, .size = io->size, .fd_index = f,
			.type = VFIO_USER_IO_FD_TYPE_IOEVENTFD,
			.flags = io->datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0,
			.datamatch = io->data,
		};
	}
	if (nr_fds > srv->client_max_fds)
		return -E2BIG;
	r.h.argsz = (uint32_t)(sizeof(r.h) + n * sizeof(r.e[0]));
	/* Too small a buffer: say how much is needed, as VFIO ioctls do. */
	if (q->argsz < r.h.argsz)
		return vfu_reply(srv->conn_fd, m, 0, &r.h, sizeof(r.h), NULL, 0) ?: 1;
	r.h.count = n;
	return vfu_reply(srv->conn_fd, m, 0, &r, r.h.argsz, fds, nr_fds) ?: 1;
}

static int handle_irq_info(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_irq_info *q = m->payload;
	struct vfio_user_irq_info r = { .argsz = sizeof(r), .index = q->index };

	if (q->argsz < sizeof(r) || q->index >= VFIO_PCI_NUM_IRQS)
		return -EINVAL;
	/* MSI-X only: cardvisor functions have no INTx pin and no MSI. */
	if (q->index == VFIO_PCI_MSIX_IRQ_INDEX) {
		r.count = srv->cfg.msix_vectors;
		r.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
	}
	return vfu_reply(srv->conn_fd, m, 0, &r, sizeof(r), NULL, 0) ?: 1;
}

static int trigger(struct vfio_server *srv, unsigned v)
{
	uint64_t one = 1;

	if (srv->irq_fds[v] < 0)
		return -ENOENT;
	/* A full counter means the guest already has this one pending. */
	return write(srv->irq_fds[v], &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

static int handle_set_irqs(struct vfio_server *srv, const struct vfu_msg *m)
{
	const struct vfio_user_irq_set *s = m->payload;
	uint32_t data = s->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
	uint32_t action = s->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	unsigned nr = s->index == VFIO_PCI_MSIX_IRQ_INDEX ? srv->cfg.msix_vectors : 0;
	uint64_t end = (uint64_t)s->start + s->count;

	/* Exactly one data type and one action (vfio_irq_set). */
	if (s->argsz < sizeof(*s) || s->index >= VFIO_PCI_NUM_IRQS ||
	    (s->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) ||
	    __builtin_popcount(data) != 1 || __builtin_popcount(action) != 1)
		return -EINVAL;
	/* Not VFIO_IRQ_INFO_MASKABLE: the client masks MSI-X itself. */
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER)
		return -EINVAL;
	if (!s->count) {
		/* "a count (and start) of 0 ... disables all interrupts of the index" */
		if (s->start || data != VFIO_IRQ_SET_DATA_NONE || m->nr_fds)
			return -EINVAL;
		if (nr)
			irq_fds_close(srv, 0, nr);
		return 0;
	}
	if (end > nr)
		return -EINVAL;
	switch (data) {
	case VFIO_IRQ_SET_DATA_EVENTFD:
		/* No fds de-assigns; else one per sub-index. */
		if (m->nr_fds && m->nr_fds != s->count)
			return -EINVAL;
		for (unsigned i = 0; i < m->nr_fds; i++)
			if (!fd_is_eventfd(m->fds[i]))
				return -EINVAL;
		irq_fds_close(srv, s->start, s->count);
		for (unsigned i = 0; i < m->nr_fds; i++) {
			srv->irq_fds[s->start + i] = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 0);
			if (srv->irq_fds[s->start + i] < 0)
				return -errno;
		}
		return 0;
	case VFIO_IRQ_SET_DATA_BOOL:
		if (m->nr_fds || s->argsz < sizeof(*s) + s->count ||
		    m->len < sizeof(*s) + s->count)
			return -EINVAL;
		for (unsigned i = 0; i < s->count; i++)
			if (s->data[i])
				trigger(srv, s->start + i);
		return 0;
	default: /* VFIO_IRQ_SET_DATA_NONE */
		if (m->nr_fds)
			return -EINVAL;
		for (unsigned i = 0; i < s->count; i++)
			trigger(srv, s->start + i);
		return 0;
	}
}

int vfio_server_irq(struct vfio_server *srv, unsigned vector)
{
	if (vector >= srv->cfg.msix_vectors)
		return -EINVAL;
	return trigger(srv, vector);
}

static int handle_region_rw(struct vfio_server *srv, const struct vfu_msg *m,
			    bool is_write)
{
	const struct vfio_user_region_access *a = m->payload;
	struct vfio_user_region_access *r;
	uint64_t size;
	int ret;

	if (a->region >= VFIO_PCI_NUM_REGIONS || !a->count ||
	    a->count > VFU_MAX_DATA_XFER)
		return -EINVAL;
	size = srv->cfg.region_size[a->region];
	if (a->offset >= size || a->count > size - a->offset)
		return -EINVAL;
	if (is_write) {
		if (m->len != sizeof(*a) + a->count)
			return -EINVAL;
		ret = srv->cfg.ops->region_access(srv->cfg.opaque, a->region, a->offset,
						  (void *)a->data, a->count, true);
		if (ret)
			return ret;
		return vfu_reply(srv->conn_fd, m, 0, a, sizeof(*a), NULL, 0) ?: 1;
	}
	if (m->len != sizeof(*a))
		return -EINVAL;
	r = calloc(1, sizeof(*r) + a->count);
	if (!r)
		return -ENOMEM;
	*r = *a;
	ret = srv->cfg.ops->region_access(srv->cfg.opaque, a->region, a->offset,
					  r->data, a->count, false);
	if (!ret)
		ret = vfu_reply(srv->conn_fd, m, 0, r, sizeof(*r) + a->count, NULL, 0) ?: 1;
	free(r);
	return ret;
}

/*
 * Run one command.  Returns 1 when the handler replied itself, 0 for an
 * empty success reply, or a negative errno for an error reply.
 */
static int dispatch(struct vfio_server *srv, const struct vfu_msg *m)
{
	if (m->hdr.command == VFIO_USER_VERSION)
		return handle_version(srv, m);
	if (!srv->negotiated)
		return -EINVAL;
	switch (m->hdr.command) {
	case VFIO_USER_DMA_MAP:                  return handle_dma_map(srv, m);
	case VFIO_USER_DMA_UNMAP:                return handle_dma_unmap(srv, m);
	case VFIO_USER_DEVICE_GET_INFO:          return handle_device_info(srv, m);
	case VFIO_USER_DEVICE_GET_REGION_INFO:   return handle_region_info(srv, m);
	case VFIO_USER_DEVICE_GET_REGION_IO_FDS: return handle_io_fds(srv, m);
	case VFIO_USER_DEVICE_GET_IRQ_INFO:      return handle_irq_info(srv, m);
	case VFIO_USER_DEVICE_SET_IRQS:          return handle_set_irqs(srv, m);
	case VFIO_USER_REGION_READ:              return handle_region_rw(srv, m, false);
	case VFIO_USER_REGION_WRITE:             return handle_region_rw(srv, m, true);
	case VFIO_USER_DEVICE_RESET:
		if (srv->cfg.ops->reset)
			srv->cfg.ops->reset(srv->cfg.opaque);
		return 0;
	default:
		return -ENOTSUP;
	}
}

static void serve_message(struct vfio_server *srv)
{
	struct vfu_msg m;
	int ret = vfu_recv(srv->conn_fd, &m);

	if (ret) {
		if (ret == -ECONNRESET)
			cv_info("vfio-user: %s: client disconnected", srv_name(srv));
		else
			cv_err_once("vfio-user: %s: receiving from the client: %s, dropped",
				    srv_name(srv), strerror(-ret));
		drop_client(srv);
		return;
	}
	ret = vfu_msg_check(&m);
	if (!ret && (m.hdr.flags & VFIO_USER_F_TYPE_MASK) != VFIO_USER_F_TYPE_COMMAND)
		ret = -EINVAL;  /* we never send a command, so expect no reply */
	if (ret)
		cv_err_once("vfio-user: %s: bad message (command %u %s, id %u, %u bytes, %u fds): %s",
			    srv_name(srv), m.hdr.command, vfu_command_name(m.hdr.command),
			    m.hdr.msg_id, m.hdr.msg_size, m.nr_fds, strerror(-ret));
	else
		ret = dispatch(srv, &m);
	if (ret < 0 && m.hdr.command == VFIO_USER_VERSION)
		cv_err("vfio-user: %s: version negotiation failed: %s", srv_name(srv),
		       strerror(-ret));
	if (ret <= 0 && !(m.hdr.flags & VFIO_USER_F_NO_REPLY))
		ret = vfu_reply(srv->conn_fd, &m, ret, NULL, 0, NULL, 0) ?: ret;
	/* A client that cannot negotiate has nothing else to say to us. */
	if ((ret < 0 && !srv->negotiated) || ret == -EPIPE || ret == -ECONNRESET ||
	    ret == -ETIMEDOUT)
		drop_client(srv);
	vfu_msg_release(&m);
}

/* ---- life cycle ------------------------------------------------------------ */

int vfio_server_process(struct vfio_server *srv)
{
	struct epoll_event ev[2];
	int n = epoll_wait(srv->epfd, ev, 2, 0);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.fd == srv->listen_fd)
			accept_client(srv);
		else if (ev[i].data.fd == srv->conn_fd)
			serve_message(srv);
	}
	return 0;
}

int vfio_server_fd(const struct vfio_server *srv)
{
	return srv->epfd;
}

bool vfio_server_connected(const struct vfio_server *srv)
{
	return srv->conn_fd >= 0 && srv->negotiated;
}

static int check_config(const struct vfio_server_config *cfg)
{
	if (!cfg->ops || !cfg->ops->region_access ||
	    !cfg->region_size[VFIO_PCI_CONFIG_REGION_INDEX] ||
	    cfg->nr_ioeventfds > VFU_MAX_FDS || cfg->msix_vectors > 2048)
		return -EINVAL;
	for (unsigned i = 0; i < cfg->nr_ioeventfds; i++) {
		const struct vfio_server_ioeventfd *io = &cfg->ioeventfds[i];
		uint32_t s = io->size;

		if (io->region >= VFIO_PCI_NUM_REGIONS || io->fd < 0 ||
		    (s != 1 && s != 2 && s != 4 && s != 8) ||
		    io->offset >= cfg->region_size[io->region] ||
		    s > cfg->region_size[io->region] - io->offset)
			return -EINVAL;
	}
	return 0;
}

int vfio_server_create(struct vfio_server **out, const char *socket_path,
		       const struct vfio_server_config *cfg)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct vfio_server *srv;
	int ret = check_config(cfg);

	if (ret)
		return ret;
	if (strlen(socket_path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->cfg = *cfg;
	srv->listen_fd = srv->conn_fd = srv->epfd = -1;
	srv->ioeventfds = calloc(cfg->nr_ioeventfds + 1, sizeof(*srv->ioeventfds));
	srv->irq_fds = malloc((cfg->msix_vectors + 1) * sizeof(int));
	if (!srv->ioeventfds || !srv->irq_fds) {
		ret = -ENOMEM;
		goto fail;
	}
	if (cfg->nr_ioeventfds)
		memcpy(srv->ioeventfds, cfg->ioeventfds,
		       cfg->nr_ioeventfds * sizeof(*srv->ioeventfds));
	srv->cfg.ioeventfds = srv->ioeventfds;
	for (unsigned v = 0; v < cfg->msix_vectors; v++)
		srv->irq_fds[v] = -1;
	strcpy(addr.sun_path, socket_path);
	strcpy(srv->path, socket_path);
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->listen_fd < 0 || srv->epfd < 0) {
		ret = -errno;
		goto fail;
	}
	unlink(socket_path);
	ev.data.fd = srv->listen_fd;
	if (bind(srv->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(srv->listen_fd, 1) < 0 ||
	    epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) < 0) {
		ret = -errno;
		cv_err("vfio-user: %s: listening on %s: %s", srv_name(srv), socket_path,
		       strerror(-ret));
		goto fail;
	}
	*out = srv;
	return 0;
fail:
	vfio_server_destroy(srv);
	return ret;
}

void vfio_server_destroy(struct vfio_server *srv)
{
	if (!srv)
		return;
	if (srv->irq_fds)
		drop_client(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		unlink(srv->path);
	}
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv->irq_fds);
	free(srv->ioeventfds);
	free(srv);
}
