/* SPDX-License-Identifier: Apache-2.0 */
/* Checks on file descriptors a peer passed, and on the peer of a UNIX socket. */
#ifndef CV_FD_H
#define CV_FD_H

#include <stdbool.h>

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

#endif /* CV_FD_H */
