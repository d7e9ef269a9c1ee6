/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks on file descriptors a peer passed, and on the peer of a UNIX
 * socket; passing fds (SCM_RIGHTS) for the three socket protocols;
 * connecting to a UNIX socket; whole reads and writes at an offset.
 */
#ifndef CV_FD_H
#define CV_FD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Whether @fd is an eventfd.  Cards write and read the fds a front-end
 * gives them on their one event-loop thread: anything else (a pipe, a
 * socket) could block it once full, or be read blindly.
 */
bool fd_is_eventfd(int fd);

/*
 * Whether the process at the other end of UNIX socket @fd (SO_PEERCRED)
 * runs as this process's effective uid or as root: the only peers
 * cardvisor's processes answer (cv-hv's control and console sockets) or
 * hand guest memory to (a card's socket, which anyone able to write the
 * run directory could otherwise replace).  A socket's file mode alone is
 * not that boundary: a careless umask makes it 0777.  False, with the
 * peer's uid in *@uid (or -1), otherwise.
 */
bool fd_peer_trusted(int fd, long *uid);

/*
 * SCM_RIGHTS, the one way fds travel on vhost-user (cards/lib, and cv-hv's
 * front-end) and vfio-user (tools/lib/vfio_user.c).
 *
 * fd_pass_attach: @nfds fds of @fds as one SCM_RIGHTS message of @mh, built
 * in the caller's control buffer @ctl of @ctl_len bytes (aligned for a
 * struct cmsghdr).  -EINVAL when it cannot hold them.
 */
int fd_pass_attach(struct msghdr *mh, void *ctl, size_t ctl_len, const int *fds,
		   unsigned nfds);
/*
 * fd_pass_take: every fd the kernel put in @mh's SCM_RIGHTS messages,
 * appended to @fds, which holds *@nr of at most @max.  Each fd is kept or
 * closed, never leaked: one that does not fit is closed.  -EBADMSG when
 * one did not fit or the kernel truncated the control data (MSG_CTRUNC:
 * it closed those itself), else 0.
 */
int fd_pass_take(struct msghdr *mh, int *fds, unsigned *nr, unsigned max);

/* A connected AF_UNIX stream socket to @path: its fd, or a negative errno. */
int fd_unix_connect(const char *path);

/*
 * Exactly @len bytes at offset @off, retried across short transfers and
 * EINTR.  0, a negative errno, or -EIO when the file ends first (a read)
 * or takes nothing (a write).
 */
int fd_pread_full(int fd, void *buf, size_t len, uint64_t off);
int fd_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

#endif /* CV_FD_H */
