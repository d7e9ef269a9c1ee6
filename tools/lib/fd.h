/* SPDX-License-Identifier: Apache-2.0 */
/* Checks on file descriptors a peer passed over a UNIX socket. */
#ifndef CV_FD_H
#define CV_FD_H

#include <stdbool.h>

/*
 * Whether @fd is an eventfd.  Cards write and read the fds a front-end
 * gives them on their one event-loop thread: anything else (a pipe, a
 * socket) could block it once full, or be read blindly.
 */
bool fd_is_eventfd(int fd);

#endif /* CV_FD_H */
