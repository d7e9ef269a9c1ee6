/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Volume file I/O on io_uring: one ring per daemon, its completions
 * signalled on an eventfd the event loop waits on.  A caller embeds a
 * struct bio per operation and gets bio->done(bio, res) from
 * backend_reap(), res being the bytes moved or a negative errno.
 */
#ifndef CV_STORAGED_BACKEND_H
#define CV_STORAGED_BACKEND_H

#include <liburing.h>
#include <stdint.h>

struct bio {
	void (*done)(struct bio *bio, int res);
};

struct backend {
	struct io_uring ring;
	int efd;                  /* readable when completions are ready */
	unsigned inflight;
};

int backend_init(struct backend *b, unsigned entries);
void backend_exit(struct backend *b);

/*
 * Queue an operation; backend_submit() hands everything queued to the
 * kernel.  flags for writes: RWF_DSYNC for FUA.
 */
void backend_read(struct backend *b, struct bio *bio, int fd, void *buf, uint32_t len,
		  uint64_t off);
void backend_write(struct backend *b, struct bio *bio, int fd, const void *buf,
		   uint32_t len, uint64_t off, int flags);
void backend_fdatasync(struct backend *b, struct bio *bio, int fd);
void backend_fallocate(struct backend *b, struct bio *bio, int fd, int mode, uint64_t off,
		       uint64_t len);
int backend_submit(struct backend *b);

/* Run done() for every completion ready; call when efd is readable. */
void backend_reap(struct backend *b);

#endif /* CV_STORAGED_BACKEND_H */
