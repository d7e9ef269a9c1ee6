/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plaintext images in and out of volumes (tools/lib/volume_image.c), on
 * real sparse files: the ciphertext is the card's (XTS, block index as
 * tweak), holes and zero blocks stay holes, a last partial block is
 * padded, and a source that ends early is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/volume_image.h"
#include "tools/lib/xts.h"

#define BS VOLUME_BLOCK_SIZE

static uint8_t key[XTS_KEY_LEN];

static int tmpfile_fd(void)
{
	char path[] = "/tmp/cv-test-volume-image-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static bool is_hole(int fd, uint64_t off)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	return (d < 0 && errno == ENXIO) || (d >= 0 && (uint64_t)d >= off + BS);
}

static void fill(uint8_t *b, uint8_t v)
{
	memset(b, v, BS);
}

static int setup(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 7 + 1);
	return 0;
}

/* Blocks 0 and 3 hold data, 1 is zeros written out, 2 a hole, 4 is half a block. */
static void test_import_layout(void **state)
{
	uint8_t b[BS], c[BS];
	int src = tmpfile_fd(), vol = tmpfile_fd();
	struct xts_key k;
	uint64_t size = 4 * BS + BS / 2;

	(void)state;
	fill(b, 0xa1);
	assert_int_equal(pwrite(src, b, BS, 0), BS);
	fill(b, 0);
	assert_int_equal(pwrite(src, b, BS, BS), BS);
	fill(b, 0xb2);
	assert_int_equal(pwrite(src, b, BS, 3 * BS), BS);
	assert_int_equal(pwrite(src, b, BS / 2, 4 * BS), BS / 2);
	assert_int_equal(ftruncate(vol, 5 * BS), 0);

	assert_int_equal(volume_image_import(src, size, vol, key, NULL, NULL), 0);
	assert_int_equal(xts_key_init(&k, key), 0);
	/* Block 0: the card's ciphertext of it, with tweak 0. */
	assert_int_equal(pread(vol, c, BS, 0), BS);
	fill(b, 0xa1);
	assert_memory_not_equal(b, c, BS);
	assert_int_equal(xts_decrypt(&k, 0, BS, c, c, BS), 0);
	assert_memory_equal(b, c, BS);
	/* Blocks 1 and 2: never written, whether zeros or a hole in the image. */
	assert_true(is_hole(vol, BS));
	assert_true(is_hole(vol, 2 * BS));
	/* Block 4: half the image's bytes, then zeros. */
	assert_int_equal(pread(vol, c, BS, 4 * BS), BS);
	assert_int_equal(xts_decrypt(&k, 4, BS, c, c, BS), 0);
	fill(b, 0xb2);
	memset(b + BS / 2, 0, BS / 2);
	assert_memory_equal(b, c, BS);
	xts_key_destroy(&k);
	close(src);
	close(vol);
}

/* Export gives the plaintext back, holes where nothing (or zeros) was written. */
static void test_round_trip(void **state)
{
	uint8_t b[BS], c[BS];
	int src = tmpfile_fd(), vol = tmpfile_fd(), dst = tmpfile_fd();

	(void)state;
	for (unsigned i = 0; i < 600; i += 3) { /* more than one 1 MiB chunk */
		fill(b, (uint8_t)(i + 1));
		assert_int_equal(pwrite(src, b, BS, (off_t)i * BS), BS);
	}
	assert_int_equal(ftruncate(src, 600 * BS), 0);
	assert_int_equal(ftruncate(vol, 600 * BS), 0);
	assert_int_equal(volume_image_import(src, 600 * BS, vol, key, NULL, NULL), 0);
	assert_int_equal(volume_image_export(vol, 600 * BS, dst, key, NULL, NULL), 0);
	assert_int_equal(lseek(dst, 0, SEEK_END), 600 * BS);
	for (unsigned i = 0; i < 600; i++) {
		assert_int_equal(pread(dst, c, BS, (off_t)i * BS), BS);
		if (i % 3) {
			fill(b, 0);
			assert_true(is_hole(dst, (uint64_t)i * BS));
		} else {
			fill(b, (uint8_t)(i + 1));
		}
		assert_memory_equal(b, c, BS);
	}
	close(src);
	close(vol);
	close(dst);
}

/* An image that ends before the size it claimed, or a ragged volume: errors. */
static void test_errors(void **state)
{
	uint8_t b[BS];
	int src = tmpfile_fd(), vol = tmpfile_fd(), dst = tmpfile_fd();

	(void)state;
	fill(b, 0x5a);
	assert_int_equal(pwrite(src, b, BS, 0), BS);
	assert_int_equal(ftruncate(vol, 4 * BS), 0);
	assert_int_equal(volume_image_import(src, 2 * BS, vol, key, NULL, NULL), -EIO);
	assert_int_equal(volume_image_export(vol, BS + 1, dst, key, NULL, NULL), -EINVAL);
	/* XTS refuses Key1 == Key2 (SP 800-38E): so does import. */
	memset(key, 0, sizeof(key));
	assert_int_equal(volume_image_import(src, BS, vol, key, NULL, NULL), -EINVAL);
	close(src);
	close(vol);
	close(dst);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_import_layout, setup),
		cmocka_unit_test_setup(test_round_trip, setup),
		cmocka_unit_test_setup(test_errors, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
