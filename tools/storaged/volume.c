/* SPDX-License-Identifier: Apache-2.0 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tools/lib/host_epoch.h"
#include "tools/lib/log.h"
#include "tools/lib/safe_file.h"
#include "tools/storaged/volume.h"

int volume_id_from_nqn(const char *nqn, size_t field_len, char id[VOLUME_ID_MAX + 1])
{
	size_t plen = strlen(VOLUME_NQN_PREFIX);
	size_t n = strnlen(nqn, field_len);

	if (n == field_len || n <= plen || strncmp(nqn, VOLUME_NQN_PREFIX, plen) ||
	    n - plen > VOLUME_ID_MAX)
		return -EINVAL;
	memcpy(id, nqn + plen, n - plen);
	id[n - plen] = '\0';
	return volume_store_id_valid(id) ? 0 : -EINVAL;
}

int volume_open(struct volume *v, const char *dir, const char *id)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (!volume_store_id_valid(id))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s.vol", dir, id) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	v->direct = true;
	fd = open(path, O_RDWR | O_CLOEXEC | O_DIRECT);
	if (fd < 0 && errno == EINVAL) {
		/* tmpfs and some FUSE file systems refuse O_DIRECT. */
		cv_info("volume %s: file system refuses O_DIRECT, using the page cache", id);
		v->direct = false;
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size % VOLUME_LBA_SIZE ||
	    !st.st_size) {
		close(fd);
		return -EINVAL;
	}
	v->fd = fd;
	v->nsze = (uint64_t)st.st_size >> VOLUME_LBA_SHIFT;
	snprintf(v->id, sizeof(v->id), "%s", id);
	/* Stable across restarts and unique per id: the NQN's hash. */
	SHA256((const unsigned char *)id, strlen(id), md);
	memcpy(v->nguid, md, sizeof(v->nguid));
	return 0;
}

/* <dir>/<id><suffix> into @path. */
static int volume_path(char path[PATH_MAX], const char *dir, const char *id, const char *suffix)
{
	return snprintf(path, PATH_MAX, "%s/%s%s", dir, id, suffix) >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/*
 * <id>.epoch: one record, the highest epoch as 20 decimal digits and a
 * newline, written in place.  Never renamed or truncated: the daemon's
 * jail may create files beneath its directory but not remove or replace
 * them (Landlock, seccomp in main.c), and a 21-byte write at offset 0 lies
 * in one sector, which devices write whole.
 */
#define EPOCH_RECORD_LEN 21

int volume_epoch_get(const char *dir, const char *id, uint64_t *epoch)
{
	char path[PATH_MAX], text[EPOCH_RECORD_LEN + 1], *end;
	int ret = volume_path(path, dir, id, ".epoch"), fd;
	ssize_t n;

	*epoch = 0;
	if (ret)
		return ret;
	/* Its own record: any owner that can write the volumes can write it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = pread(fd, text, EPOCH_RECORD_LEN, 0);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret)
		return ret;
	/* Empty: a crash between its creation and its first record, before
	 * any Connect of that epoch was answered. */
	if (n == 0)
		return 0;
	text[n] = '\0';
	errno = 0;
	*epoch = strtoull(text, &end, 10);
	if (errno || end == text || (*end && strcmp(end, "\n"))) {
		cv_err("volume %s: %s is not an epoch record: it admits nobody", id, path);
		return -EBADMSG;
	}
	return 0;
}

int volume_epoch_set(const char *dir, const char *id, uint64_t epoch)
{
	char path[PATH_MAX], text[EPOCH_RECORD_LEN + 1];
	int ret = volume_path(path, dir, id, ".epoch"), fd, dfd;
	bool created = false;

	if (ret)
		return ret;
	snprintf(text, sizeof(text), "%020" PRIu64 "\n", epoch);
	fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		created = true;
	}
	if (fd < 0)
		return -errno;
	if (pwrite(fd, text, EPOCH_RECORD_LEN, 0) != EPOCH_RECORD_LEN || fdatasync(fd) < 0)
		ret = errno ? -errno : -EIO;
	close(fd);
	if (ret || !created)
		return ret;
	/* A new file: its directory entry must be durable too. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fdatasync(dfd) < 0)
		ret = -errno;
	if (dfd >= 0)
		close(dfd);
	return ret;
}

#define HOSTS_FILE_MAX (64 * 1024)

/* @line (NUL-terminated, trimmed here) names @nqn. */
static bool hosts_line_is(char *line, const char *nqn)
{
	char *end = line + strlen(line);

	while (isspace((unsigned char)*line))
		line++;
	while (end > line && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return *line && *line != '#' && !strcmp(line, nqn);
}

int volume_host_allowed(const char *dir, const char *id, const char *hostnqn)
{
	char path[PATH_MAX], host[256], *text, *save = NULL, *line;
	uint64_t epoch;
	size_t n;
	int ret;

	/* The list names hosts; an attachment's epoch is not who it is. */
	if (host_epoch_parse(hostnqn, &epoch, &n) || n >= sizeof(host))
		return -EACCES;
	memcpy(host, hostnqn, n);
	host[n] = '\0';
	hostnqn = host;
	ret = volume_path(path, dir, id, ".hosts");
	if (ret)
		return ret;
	text = malloc(HOSTS_FILE_MAX + 1);
	if (!text)
		return -ENOMEM;
	/* Whoever can write the list decides who attaches: only its owner may. */
	ret = safe_file_read("host list", path, SAFE_FILE_OPTIONAL, text, HOSTS_FILE_MAX, &n);
	if (ret == -ENOENT) {
		ret = 0;
	} else if (!ret) {
		text[n] = '\0';
		ret = -EACCES;
		for (line = strtok_r(text, "\n", &save); line && ret; line = strtok_r(NULL, "\n", &save))
			if (hosts_line_is(line, hostnqn))
				ret = 0;
	}
	free(text);
	return ret;
}

void volume_close(struct volume *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

uint64_t volume_blocks_used(const struct volume *v)
{
	struct stat st;

	if (fstat(v->fd, &st) < 0)
		return v->nsze;
	/* st_blocks counts 512-byte units. */
	return ((uint64_t)st.st_blocks * 512 + VOLUME_LBA_SIZE - 1) >> VOLUME_LBA_SHIFT;
}
