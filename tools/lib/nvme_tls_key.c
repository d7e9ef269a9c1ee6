// SPDX-License-Identifier: Apache-2.0
/* NVMe/TCP pre-shared keys: tools/lib/nvme_tls_key.h. */
#include "tools/lib/nvme_tls_key.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <zlib.h>

#include "tools/lib/log.h"
#include "tools/lib/safe_file.h"

#define PREFIX     "NVMeTLSkey-1:"
#define CRC_LEN    4

static size_t hash_len(enum nvme_tls_hash h)
{
	return h == NVME_TLS_HASH_SHA256 ? 32 : h == NVME_TLS_HASH_SHA384 ? 48 : 0;
}

enum nvme_tls_hash nvme_tls_key_suite(const struct nvme_tls_key *k)
{
	if (k->hash != NVME_TLS_HASH_NONE)
		return k->hash;
	return k->len == 48 ? NVME_TLS_HASH_SHA384 : NVME_TLS_HASH_SHA256;
}

int nvme_tls_key_parse(const char *text, struct nvme_tls_key *k)
{
	/* base64 of at most 48 + 4 bytes, and what EVP_DecodeBlock may add */
	uint8_t raw[NVME_TLS_KEY_MAX + CRC_LEN + 3];
	const char *b64, *end;
	size_t b64_len, pad = 0;
	uint32_t crc;
	int n;

	if (strncmp(text, PREFIX, strlen(PREFIX)))
		return -EINVAL;
	text += strlen(PREFIX);
	if (text[0] != '0' || text[1] < '0' || text[1] > '2' || text[2] != ':')
		return -EINVAL;
	k->hash = (enum nvme_tls_hash)(text[1] - '0');
	b64 = text + 3;
	end = strchr(b64, ':');
	if (!end || end[1])
		return -EINVAL;
	b64_len = (size_t)(end - b64);
	if (!b64_len || b64_len % 4 || b64_len / 4 * 3 > sizeof(raw))
		return -EINVAL;
	while (pad < 2 && b64[b64_len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)b64_len);
	if (n < 0)
		return -EINVAL;
	n -= (int)pad;          /* EVP_DecodeBlock counts the padding as zero bytes */
	if (n != 32 + CRC_LEN && n != 48 + CRC_LEN)
		return -EINVAL;
	k->len = (size_t)n - CRC_LEN;
	crc = (uint32_t)raw[k->len] | (uint32_t)raw[k->len + 1] << 8 |
	      (uint32_t)raw[k->len + 2] << 16 | (uint32_t)raw[k->len + 3] << 24;
	if (crc32(0, raw, (uInt)k->len) != crc) {
		explicit_bzero(raw, sizeof(raw));
		return -EBADMSG;
	}
	memcpy(k->key, raw, k->len);
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

int nvme_tls_key_format(const struct nvme_tls_key *k, char *text, size_t len)
{
	uint8_t raw[NVME_TLS_KEY_MAX + CRC_LEN];
	char b64[(sizeof(raw) + 2) / 3 * 4 + 1];
	uint32_t crc;
	int n;

	if ((k->len != 32 && k->len != 48) || k->hash > NVME_TLS_HASH_SHA384)
		return -EINVAL;
	crc = (uint32_t)crc32(0, k->key, (uInt)k->len);
	memcpy(raw, k->key, k->len);
	for (int i = 0; i < CRC_LEN; i++)
		raw[k->len + i] = (uint8_t)(crc >> (8 * i));
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)(k->len + CRC_LEN));
	explicit_bzero(raw, sizeof(raw));
	n = snprintf(text, len, PREFIX "%02u:%s:", (unsigned)k->hash, b64);
	explicit_bzero(b64, sizeof(b64));
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int nvme_tls_key_generate(struct nvme_tls_key *k, enum nvme_tls_hash hash, size_t len)
{
	if ((len != 32 && len != 48) || hash > NVME_TLS_HASH_SHA384)
		return -EINVAL;
	k->hash = hash;
	k->len = len;
	return getrandom(k->key, len, 0) == (ssize_t)len ? 0 : -EIO;
}

int nvme_tls_key_load(const char *path, struct nvme_tls_key *k)
{
	char text[NVME_TLS_KEY_TEXT_MAX + 1];
	size_t n;
	int err = safe_file_read("TLS PSK", path, SAFE_FILE_SECRET, text, sizeof(text) - 1, &n);

	if (err)
		return err;
	text[n] = '\0';
	if (n && text[n - 1] == '\n')
		text[n - 1] = '\0';
	err = nvme_tls_key_parse(text, k);
	explicit_bzero(text, sizeof(text));
	if (err)
		cv_err("TLS PSK %s: %s", path, err == -EBADMSG ? "CRC mismatch: the key is damaged"
		       : "not a key in the PSK interchange format (NVMeTLSkey-1:HH:...:)");
	return err;
}

int nvme_tls_key_save(const char *path, const struct nvme_tls_key *k)
{
	char text[NVME_TLS_KEY_TEXT_MAX];
	size_t len;
	int ret = nvme_tls_key_format(k, text, sizeof(text));

	if (ret)
		return ret;
	len = strlen(text);
	text[len++] = '\n';
	ret = safe_file_create(path, 0600, text, len, 0);
	explicit_bzero(text, sizeof(text));
	return ret;
}

int nvme_tls_identity(const struct nvme_tls_key *k, const char *hostnqn, const char *subnqn,
		      char *id, size_t len)
{
	int n;

	if (strlen(hostnqn) > NVME_TLS_NQN_MAX || strlen(subnqn) > NVME_TLS_NQN_MAX)
		return -ENAMETOOLONG;
	n = snprintf(id, len, "NVMe0R%02u %s %s", (unsigned)nvme_tls_key_suite(k), hostnqn,
		     subnqn);
	/* It is the HkdfLabel context of the TLS PSK: at most 255 bytes (RFC 8446, 7.1). */
	return n < 0 || (size_t)n >= len || n > 255 ? -ENAMETOOLONG : 0;
}

int nvme_tls_identity_parse(const char *id, size_t id_len, enum nvme_tls_hash *hash,
			    char hostnqn[NVME_TLS_NQN_MAX + 1],
			    char subnqn[NVME_TLS_NQN_MAX + 1])
{
	const char *host, *sp, *end = id + id_len;
	size_t hl, sl;

	if (id_len < 10 || memcmp(id, "NVMe0R0", 7) || (id[7] != '1' && id[7] != '2') ||
	    id[8] != ' ' || memchr(id, '\0', id_len))
		return -EINVAL;
	*hash = (enum nvme_tls_hash)(id[7] - '0');
	host = id + 9;
	sp = memchr(host, ' ', (size_t)(end - host));
	if (!sp)
		return -EINVAL;
	hl = (size_t)(sp - host);
	sl = (size_t)(end - sp - 1);
	if (!hl || !sl || hl > NVME_TLS_NQN_MAX || sl > NVME_TLS_NQN_MAX ||
	    memchr(sp + 1, ' ', sl))
		return -EINVAL;
	memcpy(hostnqn, host, hl);
	hostnqn[hl] = '\0';
	memcpy(subnqn, sp + 1, sl);
	subnqn[sl] = '\0';
	return 0;
}

/*
 * HKDF-Expand-Label(HKDF-Extract(0, @in), @label, @ctx, @out_len) with
 * @hash: RFC 5869 through OpenSSL's HKDF, the info being TLS 1.3's
 * HkdfLabel (RFC 8446, section 7.1) with the "tls13 " prefix.
 */
static int hkdf_label(enum nvme_tls_hash hash, const uint8_t *in, size_t in_len,
		      const char *label, const char *ctx, uint8_t *out, size_t out_len)
{
	uint8_t info[2 + 1 + 255 + 1 + 255];
	size_t ll = strlen("tls13 ") + strlen(label), cl = strlen(ctx), n = 0;
	OSSL_PARAM params[5];
	EVP_KDF_CTX *kctx;
	EVP_KDF *kdf;
	int ret;

	if (ll > 255 || cl > 255 || out_len > 0xffff)
		return -EINVAL;
	info[n++] = (uint8_t)(out_len >> 8);
	info[n++] = (uint8_t)out_len;
	info[n++] = (uint8_t)ll;
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, ll - 6);
	n += ll;
	info[n++] = (uint8_t)cl;
	memcpy(info + n, ctx, cl);
	n += cl;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
		hash == NVME_TLS_HASH_SHA384 ? "SHA384" : "SHA256", 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)in, in_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[3] = OSSL_PARAM_construct_end();
	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	/* No salt: HKDF-Extract(0, ...) is a salt of HashLen zero bytes (RFC 5869, 2.2). */
	ret = kctx && EVP_KDF_derive(kctx, out, out_len, params) > 0 ? 0 : -EIO;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int nvme_tls_psk_derive(const struct nvme_tls_key *k, const char *hostnqn, const char *identity,
			uint8_t psk[NVME_TLS_KEY_MAX])
{
	uint8_t retained[NVME_TLS_KEY_MAX];
	int ret = 0;

	if (!hash_len(nvme_tls_key_suite(k)) || (k->len != 32 && k->len != 48))
		return -EINVAL;
	if (k->hash == NVME_TLS_HASH_NONE)
		memcpy(retained, k->key, k->len);
	else
		ret = hkdf_label(k->hash, k->key, k->len, "HostNQN", hostnqn, retained, k->len);
	if (!ret)
		ret = hkdf_label(nvme_tls_key_suite(k), retained, k->len, "nvme-tls-psk",
				 identity, psk, k->len);
	explicit_bzero(retained, sizeof(retained));
	return ret;
}
