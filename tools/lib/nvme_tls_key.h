/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NVMe/TCP pre-shared keys (NVM Express TCP Transport 1.0, "Transport
 * Layer Security", from TP 8011): the configured PSK an operator gives
 * both ends, in the spec's PSK interchange format, and the two derivations
 * that turn it into the key TLS 1.3 uses for one host and one subsystem.
 *
 *   interchange   "NVMeTLSkey-1:HH:" base64(key || CRC-32 of key, LE) ":"
 *                 HH the hash of the retained-PSK transform: 00 none,
 *                 01 SHA-256, 02 SHA-384; the key 32 or 48 bytes
 *   retained PSK  HKDF-Expand-Label(HKDF-Extract(0, configured), "HostNQN",
 *                 host NQN, key length), or the configured key for HH 00
 *   identity      "NVMe0R" two-digit hash " " host NQN " " subsystem NQN
 *                 (version 0, a retained PSK); the hash is HH, or for HH 00
 *                 the one the key's length selects
 *   TLS PSK       HKDF-Expand-Label(HKDF-Extract(0, retained), "nvme-tls-psk",
 *                 identity, key length), with the identity's hash
 *
 * The identity's hash also picks the cipher suite: TLS_AES_128_GCM_SHA256
 * for SHA-256, TLS_AES_256_GCM_SHA384 for SHA-384.  nvme-cli's
 * `gen-tls-key` and `check-tls-key` read and write the same format.
 */
#ifndef CV_NVME_TLS_KEY_H
#define CV_NVME_TLS_KEY_H

#include <stddef.h>
#include <stdint.h>

#define NVME_TLS_KEY_MAX      48
/* "NVMeTLSkey-1:02:" + base64 of 52 bytes + ":" + NUL */
#define NVME_TLS_KEY_TEXT_MAX 96
#define NVME_TLS_NQN_MAX      223   /* Base 2.0, "NVMe Qualified Names" */
/* "NVMe0R01 " host NQN " " subsystem NQN, NUL */
#define NVME_TLS_IDENTITY_MAX (9 + NVME_TLS_NQN_MAX + 1 + NVME_TLS_NQN_MAX + 1)

enum nvme_tls_hash {
	NVME_TLS_HASH_NONE = 0,     /* the configured PSK is the retained one */
	NVME_TLS_HASH_SHA256 = 1,
	NVME_TLS_HASH_SHA384 = 2,
};

/* A configured PSK. */
struct nvme_tls_key {
	enum nvme_tls_hash hash;    /* the retained-PSK transform */
	size_t len;                 /* 32 or 48 */
	uint8_t key[NVME_TLS_KEY_MAX];
};

/* Parse the interchange format; -EINVAL if malformed, -EBADMSG on a CRC mismatch. */
int nvme_tls_key_parse(const char *text, struct nvme_tls_key *k);
/* Write it; -ENOSPC if @len is short. */
int nvme_tls_key_format(const struct nvme_tls_key *k, char *text, size_t len);
/* A new random key of @len bytes (32 or 48) with @hash. */
int nvme_tls_key_generate(struct nvme_tls_key *k, enum nvme_tls_hash hash, size_t len);

/*
 * Read a key file: the interchange format and an optional newline, a
 * regular file (not through a symlink) owned by this uid or root and
 * readable by no one else.  0, or a negative errno after one log line.
 */
int nvme_tls_key_load(const char *path, struct nvme_tls_key *k);
/* Write a new key file, mode 0600, durably; -EEXIST if @path exists. */
int nvme_tls_key_save(const char *path, const struct nvme_tls_key *k);

/* The hash of identity and cipher suite: HH, or what the length selects for HH 00. */
enum nvme_tls_hash nvme_tls_key_suite(const struct nvme_tls_key *k);

/* The version 0 PSK identity; -ENAMETOOLONG if an NQN is too long. */
int nvme_tls_identity(const struct nvme_tls_key *k, const char *hostnqn, const char *subnqn,
		      char *id, size_t len);
/*
 * Split an identity into its hash and NQNs (which name the key to use);
 * -EINVAL unless it is a version 0 identity of a retained PSK.
 */
int nvme_tls_identity_parse(const char *id, size_t id_len, enum nvme_tls_hash *hash,
			    char hostnqn[NVME_TLS_NQN_MAX + 1],
			    char subnqn[NVME_TLS_NQN_MAX + 1]);

/* The TLS PSK (k->len bytes) for @hostnqn and @identity. */
int nvme_tls_psk_derive(const struct nvme_tls_key *k, const char *hostnqn, const char *identity,
			uint8_t psk[NVME_TLS_KEY_MAX]);

#endif /* CV_NVME_TLS_KEY_H */
