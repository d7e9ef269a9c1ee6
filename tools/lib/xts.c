/* SPDX-License-Identifier: Apache-2.0 */
/* AES-256-XTS per sector through OpenSSL's EVP interface: see xts.h. */
#include "tools/lib/xts.h"

#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "tools/lib/log.h"
#include "tools/lib/safe_file.h"

#define XTS_BLOCK 16
/* IEEE 1619-2007 5.1: at most 2^20 128-bit blocks in one data unit. */
#define XTS_MAX_SECTOR (XTS_BLOCK << 20)

static EVP_CIPHER_CTX *xts_ctx_new(const uint8_t key[XTS_KEY_LEN], int enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_xts(), NULL, key, NULL, enc) == 1)
		return ctx;
	EVP_CIPHER_CTX_free(ctx);
	return NULL;
}

int xts_key_init(struct xts_key *k, const uint8_t key[XTS_KEY_LEN])
{
	*k = (struct xts_key){ 0 };
	/*
	 * SP 800-38E 5.1 and Rogaway's XEX analysis need Key1 != Key2; OpenSSL
	 * enforces it only for encryption outside FIPS mode, so check here for both.
	 */
	if (CRYPTO_memcmp(key, key + XTS_KEY_LEN / 2, XTS_KEY_LEN / 2) == 0) {
		cv_err("xts: key1 == key2, refused (SP 800-38E 5.1)");
		return -EINVAL;
	}
	k->enc = xts_ctx_new(key, 1);
	k->dec = xts_ctx_new(key, 0);
	if (!k->enc || !k->dec) {
		cv_err("xts: cannot schedule AES-256-XTS key");
		xts_key_destroy(k);
		return -EIO;
	}
	return 0;
}

void xts_key_destroy(struct xts_key *k)
{
	/* EVP_CIPHER_CTX_free() cleanses the key schedules before freeing. */
	EVP_CIPHER_CTX_free(k->enc);
	EVP_CIPHER_CTX_free(k->dec);
	k->enc = NULL;
	k->dec = NULL;
}

static int xts_crypt(EVP_CIPHER_CTX *ctx, uint64_t lba, uint32_t sector_size,
		     const uint8_t *in, uint8_t *out, size_t len)
{
	size_t sectors;

	if (sector_size < XTS_BLOCK || sector_size > XTS_MAX_SECTOR ||
	    sector_size % XTS_BLOCK || len % sector_size) {
		cv_err_once("xts: rejected sector size %u, length %zu", sector_size, len);
		return -EINVAL;
	}
	sectors = len / sector_size;
	/* A wrapped LBA would reuse sector 0's tweak for different data. */
	if (sectors && lba + (sectors - 1) < lba) {
		cv_err_once("xts: lba 0x%llx + %zu sectors wraps",
			    (unsigned long long)lba, sectors);
		return -EINVAL;
	}
	for (size_t i = 0; i < sectors; i++, lba++) {
		/* IEEE 1619-2007 5.1: the tweak is the data unit number, little endian. */
		uint8_t tweak[XTS_BLOCK] = { 0 };
		int outl;

		for (int b = 0; b < 8; b++)
			tweak[b] = lba >> (8 * b);
		/* One update per data unit: XTS restarts its tweak chain at each IV. */
		if (EVP_CipherInit_ex(ctx, NULL, NULL, NULL, tweak, -1) != 1 ||
		    EVP_CipherUpdate(ctx, out, &outl, in, sector_size) != 1 ||
		    (uint32_t)outl != sector_size) {
			cv_err_once("xts: OpenSSL failed on lba 0x%llx",
				    (unsigned long long)lba);
			return -EIO;
		}
		in += sector_size;
		out += sector_size;
	}
	return 0;
}

int xts_encrypt(struct xts_key *k, uint64_t lba, uint32_t sector_size,
		const void *in, void *out, size_t len)
{
	return xts_crypt(k->enc, lba, sector_size, in, out, len);
}

int xts_decrypt(struct xts_key *k, uint64_t lba, uint32_t sector_size,
		const void *in, void *out, size_t len)
{
	return xts_crypt(k->dec, lba, sector_size, in, out, len);
}

int xts_key_file_read(const char *path, uint8_t key[XTS_KEY_LEN])
{
	size_t n;
	int err = safe_file_read("volume key", path, SAFE_FILE_SECRET, key, XTS_KEY_LEN, &n);

	if (!err && n != XTS_KEY_LEN) {
		cv_err("volume key %s: expected exactly %d bytes", path, XTS_KEY_LEN);
		err = -EINVAL;
	}
	return err;
}
