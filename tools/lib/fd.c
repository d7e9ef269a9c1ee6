// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/fd.h"

#include <stdio.h>
#include <string.h>
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
