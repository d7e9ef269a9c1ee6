/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tools/lib/log.h"
#include "tools/storaged/backend.h"

/*
 * The ring may do what the backend asks of it and nothing else: io_uring
 * operations bypass the seccomp filter (tools/storaged/main.c), so the
 * ring is made disabled, restricted to these opcodes (and no further
 * registrations), then enabled.
 */
static const uint8_t backend_ops[] = {
	IORING_OP_READ, IORING_OP_WRITE, IORING_OP_FSYNC, IORING_OP_FALLOCATE,
};

/*
 * The raw system call: Debian 12's liburing.so (2.3) declares
 * io_uring_register_restrictions and io_uring_enable_rings but does not
 * export them.
 */
static int ring_register(struct io_uring *ring, unsigned op, void *arg, unsigned n)
{
	return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

static int ring_restrict(struct io_uring *ring)
{
	struct io_uring_restriction res[sizeof(backend_ops)];
	int err;

	for (size_t i = 0; i < sizeof(backend_ops); i++)
		res[i] = (struct io_uring_restriction){ .opcode = IORING_RESTRICTION_SQE_OP,
							.sqe_op = backend_ops[i] };
	err = ring_register(ring, IORING_REGISTER_RESTRICTIONS, res, sizeof(backend_ops));
	return err ? err : ring_register(ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
}

int backend_init(struct backend *b, unsigned entries)
{
	int err;

	b->inflight = 0;
	err = io_uring_queue_init(entries, &b->ring, IORING_SETUP_R_DISABLED);
	if (err < 0)
		return err;
	b->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->efd < 0) {
		err = -errno;
		io_uring_queue_exit(&b->ring);
		return err;
	}
	err = io_uring_register_eventfd(&b->ring, b->efd);
	if (!err)
		err = ring_restrict(&b->ring);
	if (err < 0) {
		close(b->efd);
		io_uring_queue_exit(&b->ring);
	}
	return err;
}

void backend_exit(struct backend *b)
{
	io_uring_queue_exit(&b->ring);
	close(b->efd);
}

/* An SQE, making room by submitting what is queued when the ring is full. */
static struct io_uring_sqe *get_sqe(struct backend *b, struct bio *bio)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&b->ring))) {
		int err = io_uring_submit(&b->ring);

		/* -EBUSY: the CQ is full; reap to make the kernel take more. */
		if (err == -EBUSY || err == -EAGAIN)
			backend_reap(b);
	}
	io_uring_sqe_set_data(sqe, bio);
	b->inflight++;
	return sqe;
}

void backend_read(struct backend *b, struct bio *bio, int fd, void *buf, uint32_t len,
		  uint64_t off)
{
	io_uring_prep_read(get_sqe(b, bio), fd, buf, len, off);
}

void backend_write(struct backend *b, struct bio *bio, int fd, const void *buf,
		   uint32_t len, uint64_t off, int flags)
{
	struct io_uring_sqe *sqe = get_sqe(b, bio);

	io_uring_prep_write(sqe, fd, buf, len, off);
	sqe->rw_flags = flags;
}

void backend_fdatasync(struct backend *b, struct bio *bio, int fd)
{
	io_uring_prep_fsync(get_sqe(b, bio), fd, IORING_FSYNC_DATASYNC);
}

void backend_fallocate(struct backend *b, struct bio *bio, int fd, int mode, uint64_t off,
		       uint64_t len)
{
	io_uring_prep_fallocate(get_sqe(b, bio), fd, mode, off, len);
}

int backend_submit(struct backend *b)
{
	int err = io_uring_submit(&b->ring);

	return err < 0 ? err : 0;
}

void backend_reap(struct backend *b)
{
	struct io_uring_cqe *cqe;
	eventfd_t n;

	eventfd_read(b->efd, &n);
	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		struct bio *bio = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&b->ring, cqe);
		b->inflight--;
		bio->done(bio, res);
	}
}
