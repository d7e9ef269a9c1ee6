/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AES-256-XTS sector encryption (IEEE Std 1619-2007, NIST SP 800-38E): every
 * block is encrypted before it leaves the card, so storage nodes hold only
 * ciphertext.  The data unit sequence number (the tweak) is the sector's LBA
 * as a 128-bit little-endian integer (IEEE 1619-2007 5.1): dm-crypt's
 * "plain64" IV (with its iv_large_sectors option for 4 KiB sectors).
 *
 * Threading: a struct xts_key is NOT shared between threads.  Each I/O queue
 * calls xts_key_init() once with the volume's key and owns the result.  The
 * OpenSSL context holds the current tweak, so a shared one would need a lock
 * or an EVP_CIPHER_CTX_copy() per I/O (a malloc and both key schedules:
 * ~100 ns, 15% of a 4 KiB sector's 680 ns on a VAES host); contexts owned by
 * each queue cost that once and nothing per I/O.
 */
#ifndef CV_XTS_H
#define CV_XTS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

/* Key1 (data) then Key2 (tweak), each an AES-256 key: SP 800-38E, 5.1. */
#define XTS_KEY_LEN 64

struct xts_key {
	EVP_CIPHER_CTX *enc; /* both keys scheduled to encrypt */
	EVP_CIPHER_CTX *dec; /* Key1 scheduled to decrypt, Key2 to encrypt */
};

/*
 * Schedule @key for one I/O queue.  -EINVAL when Key1 == Key2 (SP 800-38E,
 * 5.1 requires them to differ), -EIO when OpenSSL cannot set it up.  On failure
 * nothing is left to destroy.
 */
int xts_key_init(struct xts_key *k, const uint8_t key[XTS_KEY_LEN]);
/* Free and wipe the schedules; safe on a zeroed or already destroyed key. */
void xts_key_destroy(struct xts_key *k);

/*
 * A volume's key file: exactly XTS_KEY_LEN bytes that only this uid (or
 * root) owns and can read (tools/lib/safe_file.h).  0, or a negative errno
 * after one log line (-EINVAL for the wrong length).
 */
int xts_key_file_read(const char *path, uint8_t key[XTS_KEY_LEN]);

/*
 * Encrypt / decrypt the len / sector_size consecutive sectors of @in starting
 * at @lba into @out, each sector with its own LBA as tweak.  @in == @out is
 * allowed; other overlaps are not.  -EINVAL (nothing written) unless
 * sector_size is a multiple of 16 in [16, 16 MiB] (IEEE 1619-2007 5.1 caps a
 * data unit at 2^20 blocks), len is a multiple of sector_size and the last
 * LBA does not wrap past 2^64 - 1; -EIO if OpenSSL fails.
 */
int xts_encrypt(struct xts_key *k, uint64_t lba, uint32_t sector_size,
		const void *in, void *out, size_t len);
int xts_decrypt(struct xts_key *k, uint64_t lba, uint32_t sector_size,
		const void *in, void *out, size_t len);

#endif /* CV_XTS_H */
