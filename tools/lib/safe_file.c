// SPDX-License-Identifier: Apache-2.0
/* Files that decide something: tools/lib/safe_file.h. */
#include "tools/lib/safe_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/lib/log.h"

int safe_file_read(const char *what, const char *path, unsigned flags, void *buf, size_t max,
		   size_t *len)
{
	const mode_t deny = flags & SAFE_FILE_SECRET ? 077 : 022;
	struct stat st;
	ssize_t n;
	int err, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 && errno == ENOENT && flags & SAFE_FILE_OPTIONAL)
		return -ENOENT;
	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		cv_err("%s %s: %s", what, path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
	    st.st_mode & deny) {
		cv_err("%s %s: want a file of uid %u (or root) that no one else can %s; it is %s "
		       "of uid %u, mode %03o", what, path, (unsigned)geteuid(),
		       deny & 044 ? "read or write" : "write",
		       S_ISREG(st.st_mode) ? "a file" : "not a file", (unsigned)st.st_uid,
		       st.st_mode & 0777);
		close(fd);
		return -EPERM;
	}
	if ((size_t)st.st_size > max) {
		cv_err("%s %s: %lld bytes, more than the %zu it may have", what, path,
		       (long long)st.st_size, max);
		close(fd);
		return -EFBIG;
	}
	n = read(fd, buf, max);
	err = n < 0 ? -errno : 0;
	close(fd);
	if (err) {
		cv_err("%s %s: %s", what, path, strerror(-err));
		return err;
	}
	*len = (size_t)n;
	return 0;
}

int safe_file_create(const char *path, mode_t mode, const void *data, size_t len, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), ret = 0;

	if (fd < 0)
		return -errno;
	if ((len && write(fd, data, len) != (ssize_t)len) ||
	    (size && ftruncate(fd, (off_t)size) < 0) || fsync(fd) < 0)
		ret = errno ? -errno : -EIO;
	close(fd);
	if (ret)
		unlink(path);
	return ret;
}
