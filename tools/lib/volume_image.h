/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A volume's bytes at rest, and plaintext disk images in and out of them.
 *
 * The file cv-storaged serves holds, in block i (4 KiB), AES-256-XTS of
 * the block's plaintext under the volume's key with i as tweak
 * (tools/lib/xts.h).  A block whose ciphertext is all zero bytes was never
 * written (a hole of the sparse file) and reads as zeros, so a new volume
 * reads as zeros without a byte written.  cv-ebs encrypts and decrypts in
 * flight; `cardvisor volume import` and `export` convert a raw image
 * offline, keeping holes and zero blocks as holes on both sides.
 */
#ifndef CV_VOLUME_IMAGE_H
#define CV_VOLUME_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VOLUME_BLOCK_SHIFT 12
#define VOLUME_BLOCK_SIZE  (1u << VOLUME_BLOCK_SHIFT)

/* Whether @block (VOLUME_BLOCK_SIZE bytes of ciphertext) was never written. */
bool volume_block_unwritten(const void *block);

/* Called after every chunk, and once at the end, with the bytes done so far and in all; may be NULL. */
typedef void volume_image_progress_fn(void *opaque, uint64_t done, uint64_t total);

/*
 * Encrypt the first @size bytes of plaintext image @src (a file; its holes
 * are skipped) into volume file @vol, which holds at least @size rounded
 * up to a block and reads as zeros (new), with the volume's 64-byte XTS
 * @key.  A last partial block is padded with zeros; zero blocks are not
 * written.  0 or a negative errno (-EIO for a short read: @src shrank).
 */
int volume_image_import(int src, uint64_t size, int vol, const uint8_t *key,
			volume_image_progress_fn *progress, void *opaque);

/*
 * Decrypt the @size bytes (a multiple of a block) of volume file @vol into
 * @dst, an empty file that ends @size bytes long, zero blocks left as holes.
 * 0 or a negative errno.
 */
int volume_image_export(int vol, uint64_t size, int dst, const uint8_t *key,
			volume_image_progress_fn *progress, void *opaque);

#endif
