/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe/TCP TLS parsers (tools/lib/nvme_tls_key.c): the PSK identity a
 * host sends in its ClientHello, which cv-storaged parses before it knows
 * who is talking, and the PSK interchange format of key files.
 *
 * Input: one byte choosing the parser (even: identity, odd: key), then
 * the bytes, in an exact-size heap block (the identity parser takes a
 * length and must not read past it).
 *
 * Invariants beyond "no crash":
 *  - an identity that parses is formed again, byte for byte, from its
 *    hash and NQNs by nvme_tls_identity();
 *  - a key that parses has 32 or 48 bytes and a hash 0 to 2, and its
 *    formatted text parses to the same key.
 */
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "tools/lib/nvme_tls_key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char host[NVME_TLS_NQN_MAX + 1], sub[NVME_TLS_NQN_MAX + 1];
	char text[NVME_TLS_KEY_TEXT_MAX], again[NVME_TLS_IDENTITY_MAX];
	struct nvme_tls_key k, back;
	enum nvme_tls_hash h;
	char *buf;

	if (!size)
		return 0;
	buf = malloc(size);
	FUZZ_CHECK(buf);
	memcpy(buf, data + 1, size - 1);
	if (!(data[0] & 1)) {
		if (!nvme_tls_identity_parse(buf, size - 1, &h, host, sub)) {
			k = (struct nvme_tls_key){ .hash = h, .len = h == NVME_TLS_HASH_SHA384 ? 48 : 32 };
			if (!nvme_tls_identity(&k, host, sub, again, sizeof(again))) {
				FUZZ_CHECK(strlen(again) == size - 1);
				FUZZ_CHECK(!memcmp(again, buf, size - 1));
			}
		}
	} else {
		buf[size - 1] = '\0';
		if (!nvme_tls_key_parse(buf, &k)) {
			FUZZ_CHECK(k.len == 32 || k.len == 48);
			FUZZ_CHECK(k.hash <= NVME_TLS_HASH_SHA384);
			FUZZ_CHECK(!nvme_tls_key_format(&k, text, sizeof(text)));
			FUZZ_CHECK(!nvme_tls_key_parse(text, &back));
			FUZZ_CHECK(back.len == k.len && back.hash == k.hash &&
				   !memcmp(back.key, k.key, k.len));
		}
	}
	free(buf);
	return 0;
}
