// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/dir_path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>

static int make_one(const char *dir, mode_t mode)
{
	return mkdir(dir, mode) < 0 && errno != EEXIST ? -errno : 0;
}

int dir_make_path(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	int ret = 0;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; !ret && *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		ret = make_one(buf, mode);
		*p = '/';
	}
	return ret ?: make_one(buf, mode);
}
