// SPDX-License-Identifier: Apache-2.0
/* Keys from files: tools/lib/secret_file.h. */
#include "tools/lib/secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/lib/log.h"

int secret_file_read(const char *what, const char *path, void *buf, size_t max, size_t *len)
{
	struct stat st;
	ssize_t n;
	int err, fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0 || fstat(fd, &st) < 0) {
		err = -errno;
		cv_err("%s %s: %s", what, path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	if (!S_ISREG(st.st_mode) || (st.st_uid != geteuid() && st.st_uid != 0) ||
	    st.st_mode & 077) {
		cv_err("%s %s: want a file of uid %u (or root) with mode 0600; it is %s of uid %u, "
		       "mode %03o", what, path, (unsigned)geteuid(),
		       S_ISREG(st.st_mode) ? "a file" : "not a file", (unsigned)st.st_uid,
		       st.st_mode & 0777);
		close(fd);
		return -EPERM;
	}
	if ((size_t)st.st_size > max) {
		cv_err("%s %s: %lld bytes, more than a key has (%zu)", what, path,
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
