/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/rundir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const rundir_files[] = { "instance.dtb", "control.sock", "console.sock", "pid" };

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

	for (size_t i = 0; i < sizeof(rundir_files) / sizeof(rundir_files[0]); i++)
		if (!rundir_path(id, rundir_files[i], path, sizeof(path)))
			unlink(path);
	snprintf(path, sizeof(path), "%s/%s", rundir_base(), id);
	rmdir(path);
}
