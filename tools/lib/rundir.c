/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/lib/rundir.h"

#include "tools/lib/dir_path.h"
#include "tools/lib/instance.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* A directory of ours that no one else can write (see rundir_base_create). */
static int dir_safe(const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return -ENOTDIR;
	return st->st_uid == geteuid() && !(st->st_mode & 022) ? 0 : -EPERM;
}

static int dir_check(const char *path)
{
	struct stat st;
	int ret;

	if (lstat(path, &st) < 0) {
		ret = -errno;
		fprintf(stderr, "cardvisor: run directory %s: %s\n", path, strerror(-ret));
		return ret;
	}
	ret = dir_safe(&st);
	if (ret == -ENOTDIR)
		fprintf(stderr, "cardvisor: run directory %s is not a directory (a symlink?): "
			"refusing to use it\n", path);
	else if (ret)
		fprintf(stderr, "cardvisor: run directory %s belongs to uid %u with mode %04o; "
			"it must be this user's (uid %u) and writable by no one else: refusing "
			"to use it\n", path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
			(unsigned)geteuid());
	return ret;
}

int rundir_base_create(void)
{
	char base[256];
	int ret;

	snprintf(base, sizeof(base), "%s", rundir_base());
	ret = dir_make_path(base, 0700);
	if (ret) {
		fprintf(stderr, "cardvisor: cannot create run directory %s: %s\n", base,
			strerror(-ret));
		return ret;
	}
	return dir_check(base);
}

int rundir_create(const char *id, char *dir, size_t len)
{
	int ret;

	if ((size_t)snprintf(dir, len, "%s/%s", rundir_base(), id) >= len)
		return -ENAMETOOLONG;
	ret = rundir_base_create();
	if (ret)
		return ret;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		fprintf(stderr, "cardvisor: cannot create %s: %s\n", dir, strerror(-ret));
		return ret;
	}
	return dir_check(dir);
}

int rundir_path(const char *id, const char *file, char *path, size_t len)
{
	if ((size_t)snprintf(path, len, "%s/%s/%s", rundir_base(), id, file) >= len)
		return -ENAMETOOLONG;
	return 0;
}

void rundir_remove(const char *id)
{
	struct dirent *e;
	struct stat st;
	int base, fd;
	DIR *dir;

	if (!instance_id_valid(id))
		return;
	base = open(rundir_base(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (base < 0)
		return;
	fd = openat(base, id, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || dir_safe(&st)) {
		if (fd >= 0)
			close(fd);
		close(base);
		return;
	}
	/*
	 * The directory is the instance's alone: its description, sockets and
	 * pid files, and a card that died may have left its socket behind.
	 * unlinkat removes a symlink itself, never what it points at.
	 */
	dir = fdopendir(fd);
	if (dir) {
		while ((e = readdir(dir)))
			if (e->d_name[0] != '.')
				unlinkat(dirfd(dir), e->d_name, 0);
		closedir(dir);
	} else {
		close(fd);
	}
	unlinkat(base, id, AT_REMOVEDIR);
	close(base);
}
