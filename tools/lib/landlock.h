/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Landlock (Documentation/userspace-api/landlock.rst): the kernel's
 * unprivileged access control, a layer under the jail and the system call
 * filter.  Once set up, a process restricts itself to what it still needs:
 *
 *   files  none (a jailed card, whose root is empty anyway), or reading
 *          and writing files beneath one directory (cv-storaged's volumes)
 *          and removing files beneath another (its pid file's); nothing
 *          executed, created, linked or renamed anywhere
 *   TCP    no bind; a connect only to one port (cv-ebs to its storage
 *          node), or none                                     (ABI 4, 6.7)
 *   scope  no signal to a process outside the domain, no connect to an
 *          abstract UNIX socket made outside it               (ABI 6, 6.12)
 *
 * Each right the running kernel's ABI lacks is left out, and a kernel
 * without Landlock (ENOSYS, or not in the LSM list: EOPNOTSUPP) leaves the
 * jail and filter to stand alone: one log line says which.  Landlock binds
 * the calling thread and the threads it creates later: call it before any
 * other thread exists.
 */
#ifndef CV_LANDLOCK_H
#define CV_LANDLOCK_H

#include <stdbool.h>
#include <stdint.h>

struct landlock_policy {
	const char *rw_dir;          /* files beneath it may be opened read-write and
					created, never removed; NULL: none */
	int rm_dirfd;                /* files beneath this directory (an O_PATH fd: it may lie
					outside a jail) may be removed (a pid file's); 0: none */
	uint16_t tcp_connect_port;   /* the one TCP port it may connect to; 0: none */
};

/* 0 (restricted, or no Landlock here), or a negative errno after one log line. */
int landlock_restrict(const struct landlock_policy *p);

/*
 * The test hook behind a card's {"cmd":"landlock-probe"} (with the
 * system call filter off, which would end the card first): whether it can
 * still open /proc/self/status for reading, and connect a TCP socket to
 * 127.0.0.1:@port (refused by no one listening counts as allowed: the
 * kernel let the connect go out).
 */
void landlock_probe(uint16_t port, bool *file_open, bool *tcp_connect);

#endif /* CV_LANDLOCK_H */
