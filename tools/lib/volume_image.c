// SPDX-License-Identifier: Apache-2.0
/*
 * Plaintext images in and out of encrypted volumes (volume_image.h): a
 * chunk at a time, each block encrypted or decrypted with its own index
 * as tweak, and only the blocks that hold something written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/lib/fd.h"
#include "tools/lib/volume_image.h"
#include "tools/lib/xts.h"

/* 1 MiB per read: few system calls, little memory. */
#define CHUNK_BLOCKS 256u
#define CHUNK (CHUNK_BLOCKS * VOLUME_BLOCK_SIZE)

bool volume_block_unwritten(const void *block)
{
	const uint64_t *w = block;

	for (size_t i = 0; i < VOLUME_BLOCK_SIZE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/*
 * Write the blocks of @buf (@nblocks, starting at byte @off of @fd) that
 * @keep says to write, each run of them in one pwrite; the others stay
 * holes.  keep[i] is whether block i holds something.
 */
static int write_runs(int fd, const uint8_t *buf, const bool *keep, unsigned nblocks, uint64_t off)
{
	for (unsigned i = 0; i < nblocks;) {
		unsigned j = i;
		int ret;

		if (!keep[i]) {
			i++;
			continue;
		}
		while (j < nblocks && keep[j])
			j++;
		ret = fd_pwrite_full(fd, buf + (size_t)i * VOLUME_BLOCK_SIZE,
				     (size_t)(j - i) * VOLUME_BLOCK_SIZE,
				     off + (uint64_t)i * VOLUME_BLOCK_SIZE);
		if (ret)
			return ret;
		i = j;
	}
	return 0;
}

/*
 * The next offset at or after @off where @fd has data: @end if only a hole
 * is left, @off itself where SEEK_DATA does not work (a block device).
 */
static uint64_t next_data(int fd, uint64_t off, uint64_t end)
{
	off_t d = lseek(fd, (off_t)off, SEEK_DATA);

	if (d < 0)
		return errno == ENXIO ? end : off; /* ENXIO: only a hole is left */
	return (uint64_t)d < end ? (uint64_t)d : end;
}

/*
 * @in to @out, a chunk at a time, each block encrypted (@encrypt) or
 * decrypted with its index as tweak.  A block of zeros on the way in (a
 * hole of the image, or an unwritten block of the volume) is not written,
 * nor is one that is zeros on the way out, so holes stay holes both ways;
 * a last partial block of @in is padded with zeros.
 */
static int convert(int in, uint64_t size, int out, const uint8_t *key, bool encrypt,
		   volume_image_progress_fn *progress, void *opaque)
{
	uint8_t *buf = malloc(CHUNK);
	bool keep[CHUNK_BLOCKS];
	struct xts_key k;
	uint64_t off = 0;
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = xts_key_init(&k, key);
	while (!ret && off < size) {
		size_t len;
		unsigned nblocks;

		off = next_data(in, off, size) & ~(uint64_t)(VOLUME_BLOCK_SIZE - 1);
		if (off >= size)
			break;
		len = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		nblocks = (unsigned)((len + VOLUME_BLOCK_SIZE - 1) / VOLUME_BLOCK_SIZE);
		memset(buf + len, 0, (size_t)nblocks * VOLUME_BLOCK_SIZE - len);
		ret = fd_pread_full(in, buf, len, off);
		for (unsigned i = 0; !ret && i < nblocks; i++) {
			uint8_t *b = buf + (size_t)i * VOLUME_BLOCK_SIZE;
			uint64_t lba = (off >> VOLUME_BLOCK_SHIFT) + i;

			keep[i] = !volume_block_unwritten(b);
			if (!keep[i])
				continue;
			ret = encrypt ? xts_encrypt(&k, lba, VOLUME_BLOCK_SIZE, b, b, VOLUME_BLOCK_SIZE)
				      : xts_decrypt(&k, lba, VOLUME_BLOCK_SIZE, b, b, VOLUME_BLOCK_SIZE);
			keep[i] = !ret && !volume_block_unwritten(b);
		}
		if (!ret)
			ret = write_runs(out, buf, keep, nblocks, off);
		off += len;
		if (!ret && progress && off < size)
			progress(opaque, off, size);
	}
	/* The end, also when it was a hole. */
	if (!ret && progress)
		progress(opaque, size, size);
	xts_key_destroy(&k);
	free(buf);
	return ret;
}

int volume_image_import(int src, uint64_t size, int vol, const uint8_t *key,
			volume_image_progress_fn *progress, void *opaque)
{
	int ret = convert(src, size, vol, key, true, progress, opaque);

	return !ret && fsync(vol) < 0 ? -errno : ret;
}

int volume_image_export(int vol, uint64_t size, int dst, const uint8_t *key,
			volume_image_progress_fn *progress, void *opaque)
{
	int ret;

	if (size % VOLUME_BLOCK_SIZE)
		return -EINVAL;
	ret = convert(vol, size, dst, key, false, progress, opaque);
	if (!ret && (ftruncate(dst, (off_t)size) < 0 || fsync(dst) < 0))
		ret = -errno;
	return ret;
}
