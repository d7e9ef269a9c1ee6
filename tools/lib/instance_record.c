// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/instance_record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/instance.h"
#include "tools/lib/volume_store.h"

/* Every file a record may hold: rm removes exactly these. */
static const char *const record_files[] = { "console.log", "cardvisor.log", "exit", "lock" };

int instance_record_path(const char *id, const char *file, char *path, size_t len)
{
	int n;

	if (!instance_id_valid(id))
		return -EINVAL;
	n = file ? snprintf(path, len, "%s/instances/%s/%s", volume_store_base(), id, file)
		 : snprintf(path, len, "%s/instances/%s", volume_store_base(), id);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int lock_open(const char *id, int flags)
{
	char path[512];
	int fd, ret = instance_record_path(id, "lock", path, sizeof(path));

	if (ret)
		return ret;
	fd = open(path, flags | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

int instance_record_create(const char *id)
{
	char dir[512];
	int ret, fd;

	ret = volume_store_subdir("instances", dir, sizeof(dir));
	if (!ret)
		ret = instance_record_path(id, NULL, dir, sizeof(dir));
	if (!ret && mkdir(dir, 0700) < 0)
		ret = -errno;
	if (ret) {
		fprintf(stderr, "cardvisor: cannot create the record of %s (%s): %s\n", id, dir,
			strerror(-ret));
		return ret;
	}
	fd = lock_open(id, O_CREAT | O_EXCL);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = -errno;
		close(fd);
		fd = ret;
	}
	if (fd < 0)
		fprintf(stderr, "cardvisor: cannot lock the record of %s: %s\n", id,
			strerror(-fd));
	return fd;
}

bool instance_record_exists(const char *id)
{
	char path[512];
	struct stat st;

	return !instance_record_path(id, NULL, path, sizeof(path)) && !lstat(path, &st) &&
	       S_ISDIR(st.st_mode);
}

int instance_record_wait(const char *id, long timeout_ms)
{
	struct timespec tick = { .tv_nsec = 50 * 1000 * 1000 };
	int fd = lock_open(id, 0), ret = 0;

	if (fd < 0)
		return fd;
	if (timeout_ms < 0) {
		if (flock(fd, LOCK_SH) < 0)
			ret = -errno;
	} else {
		/* flock() has no time limit of its own: try every 50 ms. */
		while (flock(fd, LOCK_SH | LOCK_NB) < 0) {
			if (errno != EWOULDBLOCK) {
				ret = -errno;
				break;
			}
			if (timeout_ms <= 0) {
				ret = -ETIMEDOUT;
				break;
			}
			nanosleep(&tick, NULL);
			timeout_ms -= 50;
		}
	}
	close(fd);
	return ret;
}

bool instance_record_running(const char *id)
{
	int fd = lock_open(id, 0);
	bool running;

	if (fd < 0)
		return false;
	running = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return running;
}

int instance_record_set_exit(const char *id, int status)
{
	char path[512], tmp[520];
	FILE *f;
	int ret = instance_record_path(id, "exit", path, sizeof(path));

	if (ret)
		return ret;
	/* Written whole, then renamed: a reader sees a status or none. */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%d\n", status);
	if (fclose(f) || rename(tmp, path) < 0) {
		ret = -errno;
		unlink(tmp);
	}
	return ret;
}

int instance_record_exit(const char *id, int *status)
{
	char path[512];
	FILE *f;
	int ret = instance_record_path(id, "exit", path, sizeof(path));

	if (ret)
		return ret;
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ret = fscanf(f, "%d", status) == 1 ? 0 : -EINVAL;
	fclose(f);
	return ret;
}

int instance_record_remove(const char *id)
{
	char path[512];
	int fd = lock_open(id, 0), ret = 0;

	if (fd < 0 && fd != -ENOENT)
		return fd;
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0)
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		return ret;
	for (size_t i = 0; i < sizeof(record_files) / sizeof(record_files[0]); i++)
		if (!instance_record_path(id, record_files[i], path, sizeof(path)))
			unlink(path);
	ret = instance_record_path(id, NULL, path, sizeof(path));
	return ret ? ret : rmdir(path) < 0 ? -errno : 0;
}
