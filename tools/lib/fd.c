// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/fd.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool fd_is_eventfd(int fd)
{
	char link[64], target[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return !strcmp(target, "anon_inode:[eventfd]");
}

bool fd_peer_trusted(int fd, long *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	*uid = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred))
		return false;
	*uid = (long)cred.uid;
	return cred.uid == geteuid() || cred.uid == 0;
}
