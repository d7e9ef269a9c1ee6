/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The card-side vfio-user server (cards/ebs/vfio_server) against a client
 * that is this test, over a real UNIX socket: one thread, the test sends,
 * lets the server process, then reads the reply.  Covers what a hostile or
 * buggy client can send: commands before VERSION, another major version,
 * unknown commands, region accesses out of bounds, DMA maps without fds or
 * overlapping, SET_IRQS that do not add up; and what a client leaving
 * undoes.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "cards/ebs/vfio_server.h"
#include "tools/lib/vfio_user.h"

#define BAR0_SIZE 0x1000
#define VECTORS   2
#define MEM_SIZE  (2u << 20)
#define MEM_IOVA  0x100000ULL

struct fixture {
	struct vfio_server *srv;
	char path[64];
	int sock;
	uint16_t id;
	uint8_t config[256], bar0[BAR0_SIZE];
	unsigned resets;
	int doorbell_fd;
	bool doorbell_unready;  /* what ioeventfds_ready says of BAR0 */
};

static int region_access(void *opaque, unsigned region, uint64_t off, void *data,
			 uint32_t len, bool is_write)
{
	struct fixture *f = opaque;
	uint8_t *r = region == VFIO_PCI_CONFIG_REGION_INDEX ? f->config : f->bar0;

	if (region != VFIO_PCI_CONFIG_REGION_INDEX && region != VFIO_PCI_BAR0_REGION_INDEX)
		return -EINVAL;
	if (is_write)
		memcpy(r + off, data, len);
	else
		memcpy(data, r + off, len);
	return 0;
}

static void reset(void *opaque)
{
	struct fixture *f = opaque;

	f->resets++;
}

static bool ioeventfds_ready(void *opaque, unsigned region)
{
	const struct fixture *f = opaque;

	return region != VFIO_PCI_BAR0_REGION_INDEX || !f->doorbell_unready;
}

static const struct vfio_server_ops ops = { .region_access = region_access, .reset = reset,
					    .ioeventfds_ready = ioeventfds_ready };

static void client_connect(struct fixture *f)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	strcpy(addr.sun_path, f->path);
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->sock >= 0);
	assert_int_equal(connect(f->sock, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(vfio_server_process(f->srv), 0);
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct vfio_server_ioeventfd db = {
		.region = VFIO_PCI_BAR0_REGION_INDEX, .offset = 0x800, .size = 4,
		.datamatch = true, .data = 3,
	};
	struct vfio_server_config cfg = {
		.name = "test", .ioeventfds = &db, .nr_ioeventfds = 1,
		.msix_vectors = VECTORS, .ops = &ops, .opaque = f,
	};

	f->doorbell_fd = eventfd(0, EFD_CLOEXEC);
	db.fd = f->doorbell_fd;
	cfg.region_size[VFIO_PCI_BAR0_REGION_INDEX] = BAR0_SIZE;
	cfg.region_size[VFIO_PCI_CONFIG_REGION_INDEX] = sizeof(f->config);
	snprintf(f->path, sizeof(f->path), "/tmp/cv-vfu-srv-%d.sock", getpid());
	assert_int_equal(vfio_server_create(&f->srv, f->path, &cfg), 0);
	client_connect(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->sock);
	vfio_server_destroy(f->srv);
	close(f->doorbell_fd);
	test_free(f);
	return 0;
}

/* Send a command, let the server run, return its error (0) and the reply. */
static int xact(struct fixture *f, unsigned cmd, const void *req, size_t len,
		const int *fds, unsigned nr_fds, struct vfu_msg *reply)
{
	struct vfio_user_header h = { .msg_id = ++f->id, .command = (uint16_t)cmd };
	struct vfu_msg r;

	assert_int_equal(vfu_send(f->sock, &h, req, len, fds, nr_fds), 0);
	assert_int_equal(vfio_server_process(f->srv), 0);
	assert_int_equal(vfu_recv(f->sock, &r), 0);
	assert_int_equal(r.hdr.msg_id, f->id);
	assert_int_equal(r.hdr.command, cmd);
	assert_int_equal(r.hdr.flags & VFIO_USER_F_TYPE_MASK, VFIO_USER_F_TYPE_REPLY);
	assert_int_equal(vfu_msg_check(&r), 0);
	if (r.hdr.flags & VFIO_USER_F_ERROR) {
		vfu_msg_release(&r);
		return -(int)r.hdr.error;
	}
	if (reply)
		*reply = r;
	else
		vfu_msg_release(&r);
	return 0;
}

static void negotiate(struct fixture *f)
{
	uint8_t buf[VFU_VERSION_SIZE];
	uint32_t fds, xfer;
	uint16_t minor;
	struct vfu_msg r;

	assert_int_equal(xact(f, VFIO_USER_VERSION, buf, vfu_version_build(buf, 7), NULL, 0,
			      &r), 0);
	assert_int_equal(vfu_version_parse(&r, &minor, &fds, &xfer), 0);
	/* Never above what the client proposed, never above what we speak. */
	assert_int_equal(minor, VFIO_USER_MINOR);
	assert_int_equal(fds, VFU_MAX_FDS);
	vfu_msg_release(&r);
	assert_true(vfio_server_connected(f->srv));
}

/* The server hung up on us. */
static void assert_dropped(struct fixture *f)
{
	char c;

	assert_int_equal(recv(f->sock, &c, 1, MSG_DONTWAIT), 0);
	assert_false(vfio_server_connected(f->srv));
}

static void test_version_first(void **state)
{
	struct fixture *f = *state;
	struct vfio_user_device_info q = { .argsz = sizeof(q) };
	uint8_t buf[VFU_VERSION_SIZE];
	struct vfio_user_version *v = (void *)buf;
	size_t len;

	/* Anything before VERSION is refused and ends the connection. */
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_INFO, &q, sizeof(q), NULL, 0, NULL),
			 -EINVAL);
	assert_dropped(f);
	close(f->sock);
	/* A major version we do not speak, likewise. */
	client_connect(f);
	len = vfu_version_build(buf, 1);
	v->major = 1;
	assert_int_equal(xact(f, VFIO_USER_VERSION, buf, len, NULL, 0, NULL), -ENOTSUP);
	assert_dropped(f);
	close(f->sock);
	/* Then a good client is served; a second VERSION is refused. */
	client_connect(f);
	negotiate(f);
	assert_int_equal(xact(f, VFIO_USER_VERSION, buf, vfu_version_build(buf, 1), NULL, 0,
			      NULL), -EINVAL);
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_INFO, &q, sizeof(q), NULL, 0, NULL), 0);
}

static void test_unknown_and_malformed(void **state)
{
	struct fixture *f = *state;
	struct vfio_user_region_access a = { .region = VFIO_PCI_BAR0_REGION_INDEX, .count = 4 };
	struct vfio_user_header h = { .msg_id = 99, .command = VFIO_USER_DEVICE_RESET,
				      .flags = VFIO_USER_F_NO_REPLY };
	struct vfu_msg r;
	int efd = eventfd(0, EFD_CLOEXEC);

	negotiate(f);
	/* Unknown or server-to-client commands: an error, and we go on. */
	assert_int_equal(xact(f, 14, NULL, 0, NULL, 0, NULL), -EOPNOTSUPP);
	assert_int_equal(xact(f, VFIO_USER_DMA_READ, &a, sizeof(a), NULL, 0, NULL), -EOPNOTSUPP);
	/* Too short, or an fd where none belongs. */
	assert_int_equal(xact(f, VFIO_USER_REGION_READ, &a, 8, NULL, 0, NULL), -EINVAL);
	assert_int_equal(xact(f, VFIO_USER_REGION_READ, &a, sizeof(a), &efd, 1, NULL), -EINVAL);
	assert_int_equal(xact(f, VFIO_USER_REGION_READ, &a, sizeof(a), NULL, 0, &r), 0);
	vfu_msg_release(&r);
	/* No_reply is honoured: the next reply we read is for the next command. */
	assert_int_equal(vfu_send(f->sock, &h, NULL, 0, NULL, 0), 0);
	assert_int_equal(vfio_server_process(f->srv), 0);
	assert_int_equal(f->resets, 1);
	assert_int_equal(xact(f, VFIO_USER_DEVICE_RESET, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(f->resets, 2);
	close(efd);
}

static int region_rw(struct fixture *f, unsigned region, uint64_t off, uint32_t count,
		     uint32_t data_len, bool is_write)
{
	uint8_t buf[sizeof(struct vfio_user_region_access) + 64] = { 0 };
	struct vfio_user_region_access *a = (void *)buf;

	*a = (struct vfio_user_region_access){ .offset = off, .region = region, .count = count };
	return xact(f, is_write ? VFIO_USER_REGION_WRITE : VFIO_USER_REGION_READ, buf,
		    sizeof(*a) + data_len, NULL, 0, NULL);
}

static void test_region_bounds(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[sizeof(struct vfio_user_region_access) + 4];
	struct vfio_user_region_access *a = (void *)buf;
	struct vfio_user_region_info qi = { .argsz = sizeof(qi), .index = VFIO_PCI_ROM_REGION_INDEX };
	struct vfu_msg r;
	uint32_t v = 0xa5a5a5a5;

	negotiate(f);
	*a = (struct vfio_user_region_access){ .offset = 0x10, .region = VFIO_PCI_BAR0_REGION_INDEX,
					       .count = 4 };
	memcpy(a->data, &v, 4);
	assert_int_equal(xact(f, VFIO_USER_REGION_WRITE, buf, sizeof(buf), NULL, 0, NULL), 0);
	assert_memory_equal(&f->bar0[0x10], &v, 4);
	assert_int_equal(xact(f, VFIO_USER_REGION_READ, a, sizeof(*a), NULL, 0, &r), 0);
	assert_int_equal(r.len, sizeof(*a) + 4);
	assert_memory_equal(((struct vfio_user_region_access *)r.payload)->data, &v, 4);
	vfu_msg_release(&r);
	/* Past the end, wrapping, empty, absent region, unknown region. */
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, BAR0_SIZE, 4, 0, false), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, BAR0_SIZE - 2, 4, 0, false), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, UINT64_MAX - 1, 4, 0, false), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, 0, 0, 0, false), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_BAR1_REGION_INDEX, 0, 4, 0, false), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_NUM_REGIONS, 0, 4, 0, false), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_CONFIG_REGION_INDEX, 252, 8, 0, false), -EINVAL);
	/* A write whose data is not count bytes. */
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, 0, 4, 2, true), -EINVAL);
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, 0, 4, 8, true), -EINVAL);
	/* A read request carrying data. */
	assert_int_equal(region_rw(f, VFIO_PCI_BAR0_REGION_INDEX, 0, 4, 4, false), -EINVAL);
	/* Region info: absent regions have size 0 and no access. */
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_INFO, &qi, sizeof(qi), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_region_info *)r.payload)->size, 0);
	assert_int_equal(((struct vfio_user_region_info *)r.payload)->flags, 0);
	vfu_msg_release(&r);
	qi.index = VFIO_PCI_NUM_REGIONS;
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_INFO, &qi, sizeof(qi), NULL, 0, NULL),
			 -EINVAL);
}

static int dma_map(struct fixture *f, uint64_t iova, uint64_t size, uint64_t offset, int fd)
{
	struct vfio_user_dma_map m = { .argsz = sizeof(m), .flags = 3, .offset = offset,
				       .address = iova, .size = size };

	return xact(f, VFIO_USER_DMA_MAP, &m, sizeof(m), &fd, fd >= 0 ? 1 : 0, NULL);
}

static int dma_unmap(struct fixture *f, uint64_t iova, uint64_t size)
{
	struct vfio_user_dma_unmap u = { .argsz = sizeof(u), .address = iova, .size = size };

	return xact(f, VFIO_USER_DMA_UNMAP, &u, sizeof(u), NULL, 0, NULL);
}

static void test_dma(void **state)
{
	struct fixture *f = *state;
	int mfd = memfd_create("guest", MFD_CLOEXEC);
	uint8_t *p;

	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, MEM_SIZE), 0);
	p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	assert_true(p != MAP_FAILED);
	p[0x1234] = 0x5a;
	negotiate(f);
	/* Without an fd the client would have to serve DMA_READ/WRITE. */
	assert_int_equal(dma_map(f, MEM_IOVA, MEM_SIZE, 0, -1), -ENOTSUP);
	assert_int_equal(dma_map(f, MEM_IOVA, 0, 0, mfd), -EINVAL);
	assert_int_equal(dma_map(f, UINT64_MAX - 0xfff, 0x2000, 0, mfd), -EINVAL);
	/* More than the file holds would fault on first touch. */
	assert_int_equal(dma_map(f, MEM_IOVA, MEM_SIZE, 0x1000, mfd), -EINVAL);
	assert_int_equal(dma_map(f, MEM_IOVA, 2 * MEM_SIZE, 0, mfd), -EINVAL);
	assert_int_equal(dma_map(f, MEM_IOVA, MEM_SIZE, 0, mfd), 0);
	assert_int_equal(dma_map(f, MEM_IOVA + MEM_SIZE - 0x1000, 0x2000, 0, mfd), -EEXIST);
	/* The same pages, through the translator, bounds-checked. */
	assert_ptr_not_equal(vfio_server_dma_ptr(f->srv, MEM_IOVA + 0x1234, 1), NULL);
	assert_int_equal(*(uint8_t *)vfio_server_dma_ptr(f->srv, MEM_IOVA + 0x1234, 1), 0x5a);
	assert_non_null(vfio_server_dma_ptr(f->srv, MEM_IOVA, MEM_SIZE));
	assert_non_null(vfio_server_dma_ptr(f->srv, MEM_IOVA + MEM_SIZE, 0));
	assert_null(vfio_server_dma_ptr(f->srv, MEM_IOVA - 1, 2));
	assert_null(vfio_server_dma_ptr(f->srv, MEM_IOVA + MEM_SIZE - 1, 2));
	assert_null(vfio_server_dma_ptr(f->srv, MEM_IOVA + 8, UINT64_MAX));
	assert_null(vfio_server_dma_ptr(f->srv, 0, 1));
	/* Unmap must name a mapping exactly. */
	assert_int_equal(dma_unmap(f, MEM_IOVA, MEM_SIZE / 2), -ENOENT);
	assert_int_equal(dma_unmap(f, MEM_IOVA, MEM_SIZE), 0);
	assert_null(vfio_server_dma_ptr(f->srv, MEM_IOVA + 0x1234, 1));
	/* A client that leaves takes its memory with it, and the card is reset. */
	assert_int_equal(dma_map(f, MEM_IOVA, MEM_SIZE, 0, mfd), 0);
	close(f->sock);
	assert_int_equal(vfio_server_process(f->srv), 0);
	assert_null(vfio_server_dma_ptr(f->srv, MEM_IOVA, 1));
	assert_int_equal(f->resets, 1);
	assert_false(vfio_server_connected(f->srv));
	/* And the server takes the next one. */
	client_connect(f);
	negotiate(f);
	munmap(p, MEM_SIZE);
	close(mfd);
}

static int set_irqs(struct fixture *f, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const int *fds, unsigned nr_fds)
{
	struct vfio_user_irq_set s = { .argsz = sizeof(s), .flags = flags, .index = index,
				       .start = start, .count = count };

	return xact(f, VFIO_USER_DEVICE_SET_IRQS, &s, sizeof(s), fds, nr_fds, NULL);
}

static void test_irqs(void **state)
{
	const uint32_t efd_trigger = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	struct fixture *f = *state;
	struct vfio_user_irq_info qi = { .argsz = sizeof(qi), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfu_msg r;
	int efd[2] = { eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	uint64_t n;

	negotiate(f);
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_IRQ_INFO, &qi, sizeof(qi), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_irq_info *)r.payload)->count, VECTORS);
	assert_true(((struct vfio_user_irq_info *)r.payload)->flags & VFIO_IRQ_INFO_EVENTFD);
	vfu_msg_release(&r);
	assert_int_equal(vfio_server_irq(f->srv, 0), -ENOENT);
	/* Past the vectors, fd count not matching, two actions, masking. */
	assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_MSIX_IRQ_INDEX, 1, 2, efd, 2), -EINVAL);
	assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, efd, 1), -EINVAL);
	assert_int_equal(set_irqs(f, efd_trigger | VFIO_IRQ_SET_ACTION_MASK,
				  VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, efd, 2), -EINVAL);
	assert_int_equal(set_irqs(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
				  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0), -EINVAL);
	assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, efd, 1), -EINVAL);
	assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_NUM_IRQS, 0, 1, efd, 1), -EINVAL);
	/* Only eventfds: a pipe could block the card's loop once full. */
	{
		int p[2];

		assert_int_equal(pipe(p), 0);
		assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &p[1], 1),
				 -EINVAL);
		close(p[0]);
		close(p[1]);
	}
	assert_int_equal(vfio_server_irq(f->srv, 0), -ENOENT);
	/* Both vectors, then each fires its own eventfd. */
	assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, efd, 2), 0);
	assert_int_equal(vfio_server_irq(f->srv, 1), 0);
	assert_int_equal(read(efd[1], &n, sizeof(n)), sizeof(n));
	assert_int_equal(read(efd[0], &n, sizeof(n)), -1);
	assert_int_equal(vfio_server_irq(f->srv, VECTORS), -EINVAL);
	/* The client may trigger too (DATA_NONE / DATA_BOOL). */
	assert_int_equal(set_irqs(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0), 0);
	assert_int_equal(read(efd[0], &n, sizeof(n)), sizeof(n));
	/* No fds de-assigns; count 0 with DATA_NONE disables them all. */
	assert_int_equal(set_irqs(f, efd_trigger, VFIO_PCI_MSIX_IRQ_INDEX, 1, 1, NULL, 0), 0);
	assert_int_equal(vfio_server_irq(f->srv, 1), -ENOENT);
	assert_int_equal(vfio_server_irq(f->srv, 0), 0);
	assert_int_equal(set_irqs(f, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				  VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0), 0);
	assert_int_equal(vfio_server_irq(f->srv, 0), -ENOENT);
	close(efd[0]);
	close(efd[1]);
}

static void test_io_fds(void **state)
{
	struct fixture *f = *state;
	struct vfio_user_region_io_fds q = {
		.argsz = 256, .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	const struct vfio_user_sub_region_ioeventfd *e;
	struct vfu_msg r;
	uint64_t one = 1, n = 0;

	negotiate(f);
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_region_io_fds *)r.payload)->count, 1);
	assert_int_equal(r.len, sizeof(q) + sizeof(*e));
	assert_int_equal(r.nr_fds, 1);
	e = (const void *)((uint8_t *)r.payload + sizeof(q));
	assert_int_equal(e->offset, 0x800);
	assert_int_equal(e->size, 4);
	assert_int_equal(e->fd_index, 0);
	assert_int_equal(e->type, VFIO_USER_IO_FD_TYPE_IOEVENTFD);
	assert_int_equal(e->datamatch, 3);
	/* The fd is the card's own eventfd. */
	assert_int_equal(write(r.fds[0], &one, sizeof(one)), sizeof(one));
	assert_int_equal(read(f->doorbell_fd, &n, sizeof(n)), sizeof(n));
	assert_int_equal(n, 1);
	vfu_msg_release(&r);
	/* Too small a buffer: the size needed, and nothing else. */
	q.argsz = sizeof(q);
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_region_io_fds *)r.payload)->argsz, sizeof(q) + sizeof(*e));
	assert_int_equal(((struct vfio_user_region_io_fds *)r.payload)->count, 0);
	assert_int_equal(r.nr_fds, 0);
	vfu_msg_release(&r);
	/* A region without any. */
	q.argsz = 256;
	q.index = VFIO_PCI_CONFIG_REGION_INDEX;
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_region_io_fds *)r.payload)->count, 0);
	vfu_msg_release(&r);
	q.index = VFIO_PCI_NUM_REGIONS;
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, NULL),
			 -EINVAL);
}

/*
 * A device that needs a doorbell's values for a while (cv-ebs before
 * Doorbell Buffer Config) offers none then, and offers it again after.
 */
static void test_io_fds_follow_device(void **state)
{
	struct fixture *f = *state;
	struct vfio_user_region_io_fds q = {
		.argsz = 256, .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	struct vfu_msg r;

	negotiate(f);
	f->doorbell_unready = true;
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_region_io_fds *)r.payload)->count, 0);
	assert_int_equal(r.len, sizeof(q));
	assert_int_equal(r.nr_fds, 0);
	vfu_msg_release(&r);
	f->doorbell_unready = false;
	assert_int_equal(xact(f, VFIO_USER_DEVICE_GET_REGION_IO_FDS, &q, sizeof(q), NULL, 0, &r), 0);
	assert_int_equal(((struct vfio_user_region_io_fds *)r.payload)->count, 1);
	assert_int_equal(r.nr_fds, 1);
	vfu_msg_release(&r);
}

static void test_config_checked(void **state)
{
	struct vfio_server_ioeventfd db = { .region = VFIO_PCI_BAR0_REGION_INDEX,
					    .offset = BAR0_SIZE - 2, .size = 4, .fd = 0 };
	struct vfio_server_config cfg = { .ops = &ops, .ioeventfds = &db, .nr_ioeventfds = 1 };
	struct vfio_server *srv;

	(void)state;
	cfg.region_size[VFIO_PCI_BAR0_REGION_INDEX] = BAR0_SIZE;
	/* No config space. */
	assert_int_equal(vfio_server_create(&srv, "/tmp/cv-vfu-x.sock", &cfg), -EINVAL);
	cfg.region_size[VFIO_PCI_CONFIG_REGION_INDEX] = 256;
	/* An ioeventfd running past its region, or of a size KVM cannot match. */
	assert_int_equal(vfio_server_create(&srv, "/tmp/cv-vfu-x.sock", &cfg), -EINVAL);
	db.offset = 0;
	db.size = 3;
	assert_int_equal(vfio_server_create(&srv, "/tmp/cv-vfu-x.sock", &cfg), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_and_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_fds_follow_device, setup, teardown),
		cmocka_unit_test(test_config_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
