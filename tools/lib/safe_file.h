/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Files whose content decides something: a volume's XTS key, a TLS PSK,
 * a volume's host list.  One read that trusts a file only if it is a
 * regular file, not reached through a symlink, owned by this uid or root,
 * and that no one else can read (a key) or write (a list), so no other
 * user can have planted, swapped or read it; and one creation of a new
 * file that is durable or gone.
 */
#ifndef CV_SAFE_FILE_H
#define CV_SAFE_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SAFE_FILE_SECRET   1u  /* no one else may read it (mode 0600); else write it */
#define SAFE_FILE_OPTIONAL 2u  /* absent: -ENOENT, without a log line */

/*
 * Read all of @path, at most @max bytes, into @buf; its size in *@len.
 * 0, or a negative errno after one log line naming @what and @path
 * (-EPERM for the wrong owner or mode, -EFBIG for a longer file).
 */
int safe_file_read(const char *what, const char *path, unsigned flags, void *buf, size_t max,
		   size_t *len);

/*
 * A new file @path of @mode holding @len bytes of @data and, if @size,
 * that long (sparse): fsync()ed, or removed on failure.  -EEXIST if it exists.
 */
int safe_file_create(const char *path, mode_t mode, const void *data, size_t len, uint64_t size);

#endif /* CV_SAFE_FILE_H */
