/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading a key from a file: a volume's XTS key, a TLS PSK.  The file must
 * be a regular file (not reached through a symlink), owned by this uid or
 * root, and readable by no one else, so no other user can have planted,
 * swapped or read it.
 */
#ifndef CV_SECRET_FILE_H
#define CV_SECRET_FILE_H

#include <stddef.h>

/*
 * Read all of @path, at most @max bytes, into @buf; its size in *@len.
 * 0, or a negative errno after one log line naming @what and @path
 * (-EPERM for the wrong owner or mode, -EFBIG for a longer file).
 */
int secret_file_read(const char *what, const char *path, void *buf, size_t max, size_t *len);

#endif /* CV_SECRET_FILE_H */
