/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/rundir.h"

#include "tools/lib/instance.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


const char *rundir_base(void)
{
	static char base[256];
	const char *env = getenv("CARDVISOR_RUNDIR");
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (env && *env)
		snprintf(base, sizeof(base), "%s", env);
	else if (geteuid() == 0)
		snprintf(base, sizeof(base), "/run/cardvisor");
	else if (xdg && *xdg)
		snprintf(base, sizeof(base), "%s/cardvisor", xdg);
	else
		snprintf(base, sizeof(base), "/tmp/cardvisor-%u", (unsigned)geteuid());
	return base;
}

static int mkdir_p(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST) {
			*p = '/';
			return -errno;
		}
		*p = '/';
	}
	return mkdir(path, 0700) < 0 && errno != EEXIST ? -errno : 0;
}

int rundir_create(const char *id, char *dir, size_t len)
{
	if ((size_t)snprintf(dir, len, "%s/%s", rundir_base(), id) >= len)
		return -ENAMETOOLONG;
	return mkdir_p(dir);
}

int rundir_path(const char *id, const char *file, char *path, size_t len)
{
	if ((size_t)snprintf(path, len, "%s/%s/%s", rundir_base(), id, file) >= len)
		return -ENAMETOOLONG;
	return 0;
}

void rundir_remove(const char *id)
{
	char path[512];
	struct dirent *e;
	DIR *dir;

	if (!instance_id_valid(id) ||
	    snprintf(path, sizeof(path), "%s/%s", rundir_base(), id) >= (int)sizeof(path))
		return;
	/*
	 * The directory is the instance's alone: its description, sockets and
	 * pid files, and a card that died may have left its socket behind.
	 */
	dir = opendir(path);
	if (dir) {
		while ((e = readdir(dir)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(dir), e->d_name, 0);
		closedir(dir);
	}
	rmdir(path);
}
