// SPDX-License-Identifier: Apache-2.0
/* The launcher's volume store (tools/lib/volume_store.c) in a temporary state dir. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/nvme_tls_key.h"
#include "tools/lib/volume_store.h"

static void test_spec_parse(void **state)
{
	struct volume_spec v;
	char err[128];

	(void)state;
	assert_int_equal(volume_spec_parse("size=1G", &v, err, sizeof(err)), 0);
	assert_int_equal(v.size, 1ull << 30);
	assert_string_equal(v.id, "");
	assert_int_equal(v.iops, 0);
	assert_int_equal(v.queues, 2);
	assert_int_equal(v.burst_s, 1);
	assert_int_equal(v.hold_s, 30);
	assert_false(v.boot);
	assert_int_equal(volume_spec_parse("id=vol-1,boot", &v, err, sizeof(err)), 0);
	assert_true(v.boot);
	assert_int_equal(volume_spec_parse("id=vol-1,boot=yes", &v, err, sizeof(err)), -EINVAL);
	assert_false(v.virtio_blk);
	assert_int_equal(volume_spec_parse("id=vol-1,face=virtio-blk", &v, err, sizeof(err)), 0);
	assert_true(v.virtio_blk);
	assert_int_equal(volume_spec_parse("id=vol-1,face=scsi", &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nvme or virtio-blk"));

	assert_int_equal(volume_spec_parse("iops=3000,mbps=125,id=vol-1,burst=5,queues=4",
					   &v, err, sizeof(err)), 0);
	assert_int_equal(v.size, 0);
	assert_string_equal(v.id, "vol-1");
	assert_int_equal(v.iops, 3000);
	assert_int_equal(v.bps, 125000000);
	assert_int_equal(v.burst_s, 5);
	assert_int_equal(v.queues, 4);

	assert_int_equal(volume_spec_parse("size=1G,hold=5", &v, err, sizeof(err)), 0);
	assert_int_equal(v.hold_s, 5);
	assert_int_equal(volume_spec_parse("size=1G,hold=0", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(volume_spec_parse("iops=5", &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "size="));
	assert_int_equal(volume_spec_parse("size=1000", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(volume_spec_parse("size=1G,iops=-1", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(volume_spec_parse("size=1G,queues=0", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(volume_spec_parse("size=1G,id=../x", &v, err, sizeof(err)), -EINVAL);
	assert_int_equal(volume_spec_parse("size=1G,colour=red", &v, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "colour"));
	assert_int_equal(volume_spec_parse("size", &v, err, sizeof(err)), -EINVAL);
}

/* `--volume id=@id` for the volume made before: it is found and prepared. */
static void attach_again(const char *id, struct volume_spec *again, char key[PATH_MAX],
			 char psk[PATH_MAX])
{
	char spec[VOLUME_STORE_ID_MAX + 8], err[128];

	snprintf(spec, sizeof(spec), "id=%s", id);
	assert_int_equal(volume_spec_parse(spec, again, err, sizeof(err)), 0);
	assert_int_equal(volume_store_prepare(again, key, psk, PATH_MAX), 0);
}

static void test_prepare_new_and_existing(void **state)
{
	char dir[] = "/tmp/cv-volstore.XXXXXX", key[PATH_MAX], psk[PATH_MAX], path[PATH_MAX];
	struct volume_spec v, again;
	struct nvme_tls_key k, k2;
	struct stat st;
	char err[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	setenv("CARDVISOR_STATE", dir, 1);
	assert_int_equal(volume_spec_parse("size=64M", &v, err, sizeof(err)), 0);
	assert_int_equal(volume_store_prepare(&v, key, psk, sizeof(key)), 0);
	assert_int_equal(strncmp(v.id, "vol-", 4), 0);
	assert_int_equal(strlen(v.id), 21);
	/* The key: 64 bytes, owner-only, apart from the volume files. */
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_size, VOLUME_STORE_KEY_LEN);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/volumes/%s.vol", dir, v.id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 64 << 20);
	assert_true(st.st_blocks * 512 < (1 << 20));  /* sparse */
	/* Its TLS PSK: the card's copy with the keys, cv-storaged's beside the volume. */
	snprintf(path, sizeof(path), "%s/keys/%s.psk", dir, v.id);
	assert_string_equal(psk, path);
	assert_int_equal(stat(psk, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(nvme_tls_key_load(psk, &k), 0);
	assert_int_equal(k.len, 32);
	assert_int_equal(k.hash, NVME_TLS_HASH_SHA256);
	snprintf(path, sizeof(path), "%s/volumes/%s.psk", dir, v.id);
	assert_int_equal(nvme_tls_key_load(path, &k2), 0);
	assert_memory_equal(k.key, k2.key, k.len);

	/* cv-storaged's copy lost: made again from the card's. */
	assert_int_equal(unlink(path), 0);
	attach_again(v.id, &again, key, psk);
	assert_int_equal(nvme_tls_key_load(path, &k2), 0);
	assert_memory_equal(k.key, k2.key, k.len);

	/* A volume from before TLS gets a PSK when next used; an existing one stays. */
	assert_int_equal(unlink(psk), 0);
	attach_again(v.id, &again, key, psk);
	assert_int_equal(nvme_tls_key_load(psk, &k2), 0);
	assert_memory_not_equal(k.key, k2.key, k.len);
	assert_int_equal(volume_store_prepare(&again, key, psk, sizeof(key)), 0);
	assert_int_equal(nvme_tls_key_load(psk, &k), 0);
	assert_memory_equal(k.key, k2.key, k.len);

	/* The same id again finds it; a different size is refused. */
	attach_again(v.id, &again, key, psk);
	assert_int_equal(again.size, 64 << 20);
	again.size = 32 << 20;
	assert_int_equal(volume_store_prepare(&again, key, psk, sizeof(key)), -EINVAL);

	/* Without its key a volume is useless: said, not silently re-keyed. */
	again.size = 0;
	assert_int_equal(unlink(key), 0);
	assert_int_equal(volume_store_prepare(&again, key, psk, sizeof(key)), -ENOKEY);
	assert_int_equal(volume_file_create(dir, "x", 4096), 0);
	assert_int_equal(volume_file_create(dir, "x", 4096), -EEXIST);
	assert_int_equal(volume_file_create(dir, "y", 4095), -EINVAL);

	/* Unknown id, no size: nothing to create. */
	assert_int_equal(volume_spec_parse("id=vol-missing", &again, err, sizeof(err)), 0);
	assert_int_equal(volume_store_prepare(&again, key, psk, sizeof(key)), -ENOENT);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_prepare_new_and_existing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
