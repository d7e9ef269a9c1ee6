// SPDX-License-Identifier: Apache-2.0
#include "tools/lib/volume_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/lib/dir_path.h"
#include "tools/lib/jail.h"
#include "tools/lib/nvme_tls_key.h"
#include "tools/lib/rundir.h"
#include "tools/lib/safe_file.h"
#include "tools/lib/size.h"

#define STORAGED_DEFAULT "127.0.0.1:4420"
#define STORAGED_START_MS 10000

const char *volume_store_base(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("CARDVISOR_STATE"), *home = getenv("HOME");

	if (env && *env)
		return env;
	if (!geteuid())
		return "/var/lib/cardvisor";
	snprintf(path, sizeof(path), "%s/.local/share/cardvisor", home ? home : "/tmp");
	return path;
}

bool volume_store_id_valid(const char *id)
{
	size_t n = strlen(id);

	return n && n <= VOLUME_STORE_ID_MAX &&
	       strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

static int spec_u64(const char *key, const char *val, uint64_t *out, char *err, size_t len)
{
	char *end;

	errno = 0;
	*out = strtoull(val, &end, 10);
	if (errno || end == val || *end || *val == '-') {
		snprintf(err, len, "%s=%s: expected a whole number", key, val);
		return -EINVAL;
	}
	return 0;
}

int volume_spec_parse(const char *s, struct volume_spec *v, char *err, size_t errlen)
{
	char buf[512], *save = NULL, *kv;
	uint64_t n;

	*v = (struct volume_spec){ .burst_s = 1, .queues = 2, .hold_s = 30 };
	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf)) {
		snprintf(err, errlen, "too long");
		return -EINVAL;
	}
	for (kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *val = strchr(kv, '=');

		if (!strcmp(kv, "boot")) {
			v->boot = true;
			continue;
		}
		if (!val) {
			snprintf(err, errlen, "\"%s\": expected key=value", kv);
			return -EINVAL;
		}
		*val++ = '\0';
		if (!strcmp(kv, "size")) {
			if (parse_size(val, &v->size) || !v->size || v->size % 4096) {
				snprintf(err, errlen, "size=%s: expected a size like 1G, a multiple of 4 KiB",
					 val);
				return -EINVAL;
			}
		} else if (!strcmp(kv, "id")) {
			if (!volume_store_id_valid(val)) {
				snprintf(err, errlen, "id=%s: 1 to 64 of A-Z a-z 0-9 _ -", val);
				return -EINVAL;
			}
			snprintf(v->id, sizeof(v->id), "%s", val);
		} else if (!strcmp(kv, "iops")) {
			if (spec_u64(kv, val, &v->iops, err, errlen))
				return -EINVAL;
		} else if (!strcmp(kv, "mbps")) {
			/* MB/s as EBS states throughput: 10^6 bytes. */
			if (spec_u64(kv, val, &n, err, errlen))
				return -EINVAL;
			if (n > UINT64_MAX / 1000000) {
				snprintf(err, errlen, "mbps=%s: too large", val);
				return -EINVAL;
			}
			v->bps = n * 1000000;
		} else if (!strcmp(kv, "burst")) {
			if (spec_u64(kv, val, &v->burst_s, err, errlen))
				return -EINVAL;
			if (!v->burst_s || v->burst_s > 3600) {
				snprintf(err, errlen, "burst=%s: 1 to 3600 seconds", val);
				return -EINVAL;
			}
		} else if (!strcmp(kv, "hold")) {
			if (spec_u64(kv, val, &v->hold_s, err, errlen))
				return -EINVAL;
			if (!v->hold_s || v->hold_s > 3600) {
				snprintf(err, errlen, "hold=%s: 1 to 3600 seconds", val);
				return -EINVAL;
			}
		} else if (!strcmp(kv, "queues")) {
			if (spec_u64(kv, val, &n, err, errlen))
				return -EINVAL;
			if (!n || n > 64) {
				snprintf(err, errlen, "queues=%s: 1 to 64", val);
				return -EINVAL;
			}
			v->queues = (unsigned)n;
		} else if (!strcmp(kv, "tls")) {
			if (strcmp(val, "on") && strcmp(val, "off")) {
				snprintf(err, errlen, "tls=%s: on or off", val);
				return -EINVAL;
			}
			v->no_tls = !strcmp(val, "off");
		} else if (!strcmp(kv, "face")) {
			if (strcmp(val, "nvme") && strcmp(val, "virtio-blk")) {
				snprintf(err, errlen, "face=%s: nvme or virtio-blk", val);
				return -EINVAL;
			}
			v->virtio_blk = !strcmp(val, "virtio-blk");
		} else if (!strcmp(kv, "epoch")) {
			if (spec_u64(kv, val, &v->epoch, err, errlen))
				return -EINVAL;
			if (!v->epoch) {
				snprintf(err, errlen, "epoch=%s: 1 or more", val);
				return -EINVAL;
			}
		} else if (!strcmp(kv, "boot")) {
			snprintf(err, errlen, "boot=%s: boot takes no value", val);
			return -EINVAL;
		} else {
			snprintf(err, errlen, "unknown key \"%s\" (size, id, iops, mbps, burst, queues, "
				 "hold, tls, face, epoch, boot)", kv);
			return -EINVAL;
		}
	}
	if (!v->size && !v->id[0]) {
		snprintf(err, errlen, "give size= for a new volume or id= for an existing one");
		return -EINVAL;
	}
	return 0;
}

static int store_path(const char *sub, const char *id, const char *ext, char *path,
		      size_t len)
{
	char dir[PATH_MAX];
	int ret;

	if (snprintf(dir, sizeof(dir), "%s/%s", volume_store_base(), sub) >= (int)sizeof(dir))
		return -ENAMETOOLONG;
	ret = dir_make_path(dir, 0700);
	if (ret)
		return ret;
	if (!id)
		return snprintf(path, len, "%s", dir) >= (int)len ? -ENAMETOOLONG : 0;
	return snprintf(path, len, "%s/%s%s", dir, id, ext) >= (int)len ? -ENAMETOOLONG : 0;
}

int volume_store_subdir(const char *sub, char *path, size_t len)
{
	return store_path(sub, NULL, NULL, path, len);
}

/*
 * Root's store, once cardvisor starts cv-storaged, is the store's ids'
 * (jail_store_ids): the volumes directory and every root-owned file in it,
 * so the daemon, jailed as them, opens its volumes as their owner.  A
 * user's store is the user's already.  Never through a symlink.
 */
static int store_take(const char *dir)
{
	struct dirent *e;
	uid_t uid;
	gid_t gid;
	DIR *d;
	int fd, ret;

	if (geteuid() != 0)
		return 0;
	ret = jail_store_ids(&uid, &gid);
	if (ret)
		return ret;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		return ret;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((e = readdir(d))) {
		struct stat st;

		if (!fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) && S_ISREG(st.st_mode) &&
		    !st.st_uid)
			fchownat(fd, e->d_name, uid, gid, AT_SYMLINK_NOFOLLOW);
	}
	closedir(d);
	return 0;
}

/* A file root made in the volumes directory takes the directory's owner. */
static int store_give(const char *dir, const char *id, const char *ext)
{
	char name[VOLUME_STORE_ID_MAX + 8];
	struct stat st;
	int fd, ret = 0;

	if (geteuid() != 0)
		return 0;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(name, sizeof(name), "%s%s", id, ext);
	if (fstat(fd, &st) < 0 ||
	    (st.st_uid && fchownat(fd, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0))
		ret = -errno;
	close(fd);
	return ret;
}

int volume_file_create(const char *dir, const char *id, uint64_t size)
{
	char path[PATH_MAX];

	if (!volume_store_id_valid(id) || !size || size % 4096 || size > INT64_MAX)
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s.vol", dir, id) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	return safe_file_create(path, 0600, NULL, 0, size);
}

int volume_psk_prepare(const char *dir, const char *id, char *path, size_t len)
{
	struct nvme_tls_key k;
	int ret;

	if (!volume_store_id_valid(id))
		return -EINVAL;
	if (snprintf(path, len, "%s/%s.psk", dir, id) >= (int)len)
		return -ENAMETOOLONG;
	if (!access(path, F_OK))
		return 0;
	ret = nvme_tls_key_generate(&k, NVME_TLS_HASH_SHA256, 32);
	if (!ret)
		ret = nvme_tls_key_save(path, &k);
	explicit_bzero(&k, sizeof(k));
	return ret == -EEXIST ? 0 : ret;
}

static int new_id(char id[VOLUME_STORE_ID_MAX + 1])
{
	uint8_t r[9];

	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		return -errno;
	snprintf(id, VOLUME_STORE_ID_MAX + 1, "vol-%01x%02x%02x%02x%02x%02x%02x%02x%02x",
		 r[0] & 0xf, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
	return 0;
}

bool volume_store_exists(const char *id)
{
	char path[PATH_MAX];

	return id[0] && !store_path("volumes", id, ".vol", path, sizeof(path)) &&
	       !access(path, F_OK);
}

int volume_store_data_path(const char *id, char *path, size_t len)
{
	return volume_store_id_valid(id) ? store_path("volumes", id, ".vol", path, len) : -EINVAL;
}

int volume_store_key_path(const char *id, char *path, size_t len)
{
	return volume_store_id_valid(id) ? store_path("keys", id, ".key", path, len) : -EINVAL;
}

int volume_store_remove(const char *id)
{
	static const struct {
		const char *sub, *ext;
	} files[] = {
		{ "keys", ".key" }, { "keys", ".psk" }, { "volumes", ".psk" }, { "volumes", ".vol" },
	};
	char path[PATH_MAX];
	int ret = 0;

	if (!volume_store_id_valid(id))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int err = store_path(files[i].sub, id, files[i].ext, path, sizeof(path));

		if (!err && unlink(path) < 0 && errno != ENOENT)
			err = -errno;
		if (!ret)
			ret = err;
	}
	return ret;
}

/*
 * The volume's PSK in both places: the card's copy, keys/<id>.psk (root's
 * with the XTS key, read before the card's jail), and cv-storaged's,
 * volumes/<id>.psk (the store's).  The card's copy is the reference; a
 * volume from before TLS gets a new key in both.
 */
static int psk_copies(const char *id, const char *dir, char *psk_path, size_t len)
{
	char sd_path[PATH_MAX];
	struct nvme_tls_key k;
	bool have;
	int ret;

	ret = store_path("keys", id, ".psk", psk_path, len);
	if (!ret && snprintf(sd_path, sizeof(sd_path), "%s/%s.psk", dir, id) >= (int)sizeof(sd_path))
		ret = -ENAMETOOLONG;
	if (ret)
		return ret;
	have = !access(psk_path, F_OK);
	ret = have ? nvme_tls_key_load(psk_path, &k) :
		     nvme_tls_key_generate(&k, NVME_TLS_HASH_SHA256, 32);
	if (!ret && !have)
		ret = nvme_tls_key_save(psk_path, &k);
	/* cv-storaged's copy: made again from the card's when it is not the same file. */
	if (!ret && (!have || access(sd_path, F_OK))) {
		unlink(sd_path);
		ret = nvme_tls_key_save(sd_path, &k);
	}
	explicit_bzero(&k, sizeof(k));
	return ret ?: store_give(dir, id, ".psk");
}

int volume_store_prepare(struct volume_spec *v, char *key_path, char *psk_path, size_t len)
{
	char vol[PATH_MAX], dir[PATH_MAX];
	uint8_t key[VOLUME_STORE_KEY_LEN];
	struct stat st;
	int ret;

	psk_path[0] = '\0';
	if (!v->id[0] && (ret = new_id(v->id)))
		return ret;
	ret = store_path("volumes", NULL, NULL, dir, sizeof(dir));
	if (!ret)
		ret = store_path("volumes", v->id, ".vol", vol, sizeof(vol));
	if (!ret)
		ret = store_path("keys", v->id, ".key", key_path, len);
	if (ret) {
		fprintf(stderr, "cardvisor: volume store %s: %s\n", volume_store_base(),
			strerror(-ret));
		return ret;
	}
	if (!stat(vol, &st)) {
		if (v->size && (uint64_t)st.st_size != v->size) {
			fprintf(stderr, "cardvisor: volume %s has %llu bytes, not size=%llu\n",
				v->id, (unsigned long long)st.st_size,
				(unsigned long long)v->size);
			return -EINVAL;
		}
		if (access(key_path, R_OK)) {
			fprintf(stderr, "cardvisor: volume %s has no key %s: its data cannot be read\n",
				v->id, key_path);
			return -ENOKEY;
		}
		v->size = (uint64_t)st.st_size;
		/* A volume made before TLS gets its PSK now. */
		ret = psk_copies(v->id, dir, psk_path, len);
		if (ret)
			fprintf(stderr, "cardvisor: volume %s: TLS PSK: %s\n", v->id, strerror(-ret));
		return ret;
	}
	if (!v->size) {
		fprintf(stderr, "cardvisor: no volume %s in %s\n", v->id, dir);
		return -ENOENT;
	}
	/* Key1 and Key2 of XTS must differ: 512 random bits make that certain. */
	if (getrandom(key, sizeof(key), 0) != sizeof(key))
		return -errno;
	ret = safe_file_create(key_path, 0600, key, sizeof(key), 0);
	explicit_bzero(key, sizeof(key));
	if (!ret) {
		ret = psk_copies(v->id, dir, psk_path, len);
		if (!ret)
			ret = volume_file_create(dir, v->id, v->size);
		if (!ret)
			ret = store_give(dir, v->id, ".vol");
		/* A volume not made leaves nothing behind, cv-storaged's PSK copy included. */
		if (ret)
			volume_store_remove(v->id);
	}
	if (ret)
		fprintf(stderr, "cardvisor: cannot create volume %s: %s\n", v->id, strerror(-ret));
	return ret;
}

/*
 * <rundir>/storaged/, the daemon's own (the store's ids when root), where
 * it writes its pid file and, jailed, can still remove it; the file's path
 * in @pidfile.
 */
static int storaged_pid_dir(char *pidfile, size_t len)
{
	char dir[PATH_MAX];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/storaged", rundir_base());
	if (snprintf(pidfile, len, "%s/pid", dir) >= (int)len)
		return -ENAMETOOLONG;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (uid == 0)
		ret = jail_store_ids(&uid, &gid);
	if (!ret && (lchown(dir, uid, gid) < 0 || chmod(dir, 0700) < 0))
		ret = -errno;
	return ret;
}

/* Whether something accepts TCP connections at "host:port". */
static bool storaged_answers(const char *target)
{
	char host[256];
	const char *colon = strrchr(target, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	bool ok = false;
	int fd;

	if (!colon || (size_t)(colon - target) >= sizeof(host))
		return false;
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return false;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		ok = !connect(fd, ai->ai_addr, ai->ai_addrlen);
		close(fd);
	}
	freeaddrinfo(ai);
	return ok;
}

int volume_store_storaged(const char *binary, char *target, size_t len)
{
	const char *env = getenv("CARDVISOR_STORAGED");
	char dir[PATH_MAX], pidfile[PATH_MAX], log[PATH_MAX];
	pid_t pid;
	int ret, status;

	if (snprintf(target, len, "%s", env && *env ? env : STORAGED_DEFAULT) >= (int)len)
		return -ENAMETOOLONG;
	if (storaged_answers(target))
		return 0;
	ret = store_path("volumes", NULL, NULL, dir, sizeof(dir));
	if (!ret)
		ret = store_take(dir);
	if (!ret)
		ret = rundir_base_create();
	if (!ret)
		ret = storaged_pid_dir(pidfile, sizeof(pidfile));
	if (ret) {
		fprintf(stderr, "cardvisor: cannot prepare cv-storaged's directories: %s\n",
			strerror(-ret));
		return ret;
	}
	snprintf(log, sizeof(log), "%s/storaged.log", rundir_base());
	/* Twice forked and in its own session: it outlives this instance. */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || null < 0 || setsid() < 0)
			_exit(1);
		if (fork())
			_exit(0);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		/* Jailed as the volumes' owner (root's store: the store id's). */
		execl(binary, binary, "--dir", dir, "--listen", target, "--pidfile", pidfile,
		      "--jail", (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	for (int ms = 0; ms < STORAGED_START_MS; ms += 20) {
		struct timespec ts = { 0, 20 * 1000000 };

		if (storaged_answers(target)) {
			fprintf(stderr, "cardvisor: started cv-storaged on %s (volumes in %s, log %s)\n",
				target, dir, log);
			return 0;
		}
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "cardvisor: cv-storaged did not start on %s: see %s\n", target, log);
	return -ETIMEDOUT;
}
