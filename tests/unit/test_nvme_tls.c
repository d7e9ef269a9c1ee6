// SPDX-License-Identifier: Apache-2.0
/*
 * NVMe/TCP TLS: the PSK interchange format against keys nvme-cli 2.3's
 * `gen-tls-key` wrote, the identity, the key derivation against values a
 * separate RFC 5869 implementation (Python's hmac) computed, and the
 * TLS 1.3 handshake and stream over a socket pair: the right key gets
 * through, a wrong one or an unknown subsystem does not.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/lib/nvme_tls.h"
#include "tools/lib/nvme_tls_key.h"

/* Written by `nvme gen-tls-key -m 1` and `-m 2` (nvme-cli 2.3, libnvme 1.3). */
#define CLI_KEY_SHA256 "NVMeTLSkey-1:01:EvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo:"
#define CLI_KEY_SHA384 "NVMeTLSkey-1:02:ZZ5RGJDhVe7qGK14RlPWesUrUdRR16mzpOv92gQWyB7+C2vSTOtkS9yhQQynbSfLJoynkw==:"
#define HOSTNQN "nqn.2014-08.org.nvmexpress:uuid:00000000-0000-0000-0000-000000000001"
#define SUBNQN  "nqn.2026-11.io.cardvisor:vol-1"

static void test_interchange_format(void **state)
{
	static const uint8_t first[4] = { 0x12, 0xf9, 0x59, 0x3a };
	struct nvme_tls_key k;
	char text[NVME_TLS_KEY_TEXT_MAX];

	(void)state;
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA256, &k), 0);
	assert_int_equal(k.len, 32);
	assert_int_equal(k.hash, NVME_TLS_HASH_SHA256);
	assert_memory_equal(k.key, first, sizeof(first));
	assert_int_equal(nvme_tls_key_format(&k, text, sizeof(text)), 0);
	assert_string_equal(text, CLI_KEY_SHA256);
	/* 52 bytes: base64 with padding, which must not count as key bytes. */
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA384, &k), 0);
	assert_int_equal(k.len, 48);
	assert_int_equal(k.hash, NVME_TLS_HASH_SHA384);
	assert_int_equal(nvme_tls_key_format(&k, text, sizeof(text)), 0);
	assert_string_equal(text, CLI_KEY_SHA384);
	assert_int_equal(nvme_tls_key_format(&k, text, 40), -ENOSPC);

	/* One base64 digit changed: the CRC-32 catches it. */
	assert_int_equal(nvme_tls_key_parse(
		"NVMeTLSkey-1:01:FvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo:", &k), -EBADMSG);
	/* Not the format. */
	assert_int_equal(nvme_tls_key_parse(
		"NVMeTLSkey-1:03:EvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo:", &k), -EINVAL);
	assert_int_equal(nvme_tls_key_parse(
		"NVMeTLSkey-1:01:EvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo", &k), -EINVAL);
	assert_int_equal(nvme_tls_key_parse(
		"NVMeTLSkey-2:01:EvlZOryz0SSkakGdEc8kBuKPbrAk5piVtML/B3zqsit1Zzyo:", &k), -EINVAL);
	assert_int_equal(nvme_tls_key_parse("NVMeTLSkey-1:01:AAAA:", &k), -EINVAL);
	assert_int_equal(nvme_tls_key_parse("NVMeTLSkey-1:01:*vlZOryz0SSkakGdEc8kBuKPbrAk5piV"
					    "tML/B3zqsit1Zzyo:", &k), -EINVAL);
	assert_int_equal(nvme_tls_key_parse("", &k), -EINVAL);

	/* A generated key survives its own format. */
	struct nvme_tls_key g;

	assert_int_equal(nvme_tls_key_generate(&g, NVME_TLS_HASH_SHA256, 32), 0);
	assert_int_equal(nvme_tls_key_format(&g, text, sizeof(text)), 0);
	assert_int_equal(nvme_tls_key_parse(text, &k), 0);
	assert_memory_equal(k.key, g.key, 32);
	assert_int_equal(nvme_tls_key_generate(&g, NVME_TLS_HASH_SHA256, 16), -EINVAL);
}

static void test_identity(void **state)
{
	char id[NVME_TLS_IDENTITY_MAX], host[NVME_TLS_NQN_MAX + 1], sub[NVME_TLS_NQN_MAX + 1];
	char longnqn[NVME_TLS_NQN_MAX + 2];
	enum nvme_tls_hash h;
	struct nvme_tls_key k = { .hash = NVME_TLS_HASH_NONE, .len = 48 };

	(void)state;
	/* HH 00: the length picks the hash, SHA-384 for 48 bytes. */
	assert_int_equal(nvme_tls_identity(&k, HOSTNQN, SUBNQN, id, sizeof(id)), 0);
	assert_string_equal(id, "NVMe0R02 " HOSTNQN " " SUBNQN);
	assert_int_equal(nvme_tls_identity_parse(id, strlen(id), &h, host, sub), 0);
	assert_int_equal(h, NVME_TLS_HASH_SHA384);
	assert_string_equal(host, HOSTNQN);
	assert_string_equal(sub, SUBNQN);

	assert_int_equal(nvme_tls_identity_parse("NVMe1R01 a b", 12, &h, host, sub), -EINVAL);
	assert_int_equal(nvme_tls_identity_parse("NVMe0R03 a b", 12, &h, host, sub), -EINVAL);
	assert_int_equal(nvme_tls_identity_parse("NVMe0R01 a", 10, &h, host, sub), -EINVAL);
	assert_int_equal(nvme_tls_identity_parse("NVMe0R01 a b c", 14, &h, host, sub), -EINVAL);
	assert_int_equal(nvme_tls_identity_parse("NVMe0R01 a \0b", 13, &h, host, sub), -EINVAL);
	assert_int_equal(nvme_tls_identity_parse("NVMe0R01  b", 11, &h, host, sub), -EINVAL);
	/* Too long for the HkdfLabel context (255 bytes), and over an NQN's 223. */
	memset(longnqn, 'a', sizeof(longnqn) - 1);
	longnqn[sizeof(longnqn) - 1] = '\0';
	assert_int_equal(nvme_tls_identity(&k, longnqn, SUBNQN, id, sizeof(id)), -ENAMETOOLONG);
	longnqn[NVME_TLS_NQN_MAX] = '\0';
	assert_int_equal(nvme_tls_identity(&k, longnqn, SUBNQN, id, sizeof(id)), -ENAMETOOLONG);
}

/* The values Python's hmac module gives for RFC 5869 with TLS 1.3's HkdfLabel. */
static void test_derivation(void **state)
{
	static const uint8_t want[32] = {
		0x38, 0x1d, 0xd0, 0xcb, 0x3a, 0x3b, 0x97, 0x52, 0xcf, 0x7f, 0x25, 0xfd,
		0x1c, 0x3b, 0x2f, 0x64, 0x08, 0xf8, 0x87, 0xa0, 0x24, 0x8d, 0x1e, 0x98,
		0x66, 0x97, 0xba, 0x50, 0x76, 0x14, 0x29, 0x72,
	};
	struct nvme_tls_key k;
	char id[NVME_TLS_IDENTITY_MAX];
	uint8_t psk[NVME_TLS_KEY_MAX], other[NVME_TLS_KEY_MAX];

	(void)state;
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA256, &k), 0);
	assert_int_equal(nvme_tls_identity(&k, HOSTNQN, SUBNQN, id, sizeof(id)), 0);
	assert_int_equal(nvme_tls_psk_derive(&k, HOSTNQN, id, psk), 0);
	assert_memory_equal(psk, want, sizeof(want));
	/* Another host gets another key from the same configured one. */
	assert_int_equal(nvme_tls_psk_derive(&k, "nqn.2014-08.org.nvmexpress:uuid:other", id,
					     other), 0);
	assert_memory_not_equal(psk, other, 32);
	/* HH 00: the configured key is the retained one. */
	k.hash = NVME_TLS_HASH_NONE;
	assert_int_equal(nvme_tls_psk_derive(&k, HOSTNQN, id, other), 0);
	assert_memory_not_equal(psk, other, 32);
}

/* ---- handshake and stream over a socket pair ---- */

static struct nvme_tls_key server_key;
static int lookups;

static int lookup(void *arg, const char *hostnqn, const char *subnqn, struct nvme_tls_key *k)
{
	(void)arg;
	(void)hostnqn;
	lookups++;
	if (strcmp(subnqn, SUBNQN))
		return -ENOENT;
	*k = server_key;
	return 0;
}

struct pair {
	int sv[2];
	SSL_CTX *cctx, *sctx;
	struct nvme_tls *c, *s;
	int rc, rs;
};

static void pair_open(struct pair *p, const struct nvme_tls_key *ckey, const char *subnqn)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->sv), 0);
	p->cctx = nvme_tls_ctx_new(false);
	p->sctx = nvme_tls_ctx_new(true);
	assert_non_null(p->cctx);
	assert_non_null(p->sctx);
	assert_int_equal(nvme_tls_client(p->cctx, p->sv[0], ckey, HOSTNQN, subnqn, &p->c), 0);
	assert_int_equal(nvme_tls_server(p->sctx, p->sv[1], lookup, NULL, &p->s), 0);
	p->rc = p->rs = -EAGAIN;
	for (int i = 0; i < 50 && (p->rc == -EAGAIN || p->rs == -EAGAIN); i++) {
		if (p->rc == -EAGAIN)
			p->rc = nvme_tls_handshake(p->c);
		if (p->rs == -EAGAIN)
			p->rs = nvme_tls_handshake(p->s);
	}
}

static void pair_close(struct pair *p)
{
	nvme_tls_free(p->c);
	nvme_tls_free(p->s);
	nvme_tls_ctx_free(p->cctx);
	nvme_tls_ctx_free(p->sctx);
	close(p->sv[0]);
	close(p->sv[1]);
}

static void test_handshake_and_stream(void **state)
{
	static uint8_t big[100000], back[100000];
	uint8_t hdr[24] = { 4, 0, 24 };
	struct iovec iov[3] = { { hdr, sizeof(hdr) }, { big, sizeof(big) }, { hdr, 4 } };
	size_t sent = 0, got = 0, total = sizeof(hdr) + sizeof(big) + 4;
	const char *host, *sub;
	struct pair p;
	int small = 4096;

	(void)state;
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA256, &server_key), 0);
	pair_open(&p, &server_key, SUBNQN);
	assert_int_equal(p.rc, 0);
	assert_int_equal(p.rs, 0);
	nvme_tls_peer(p.s, &host, &sub);
	assert_string_equal(host, HOSTNQN);
	assert_string_equal(sub, SUBNQN);
	assert_string_equal(nvme_tls_describe(p.s), "TLSv1.3 TLS_AES_128_GCM_SHA256");

	/*
	 * A small socket buffer, so writes stop part-way through records and
	 * must be taken up again from the caller's unsent bytes.
	 */
	setsockopt(p.sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 3);
	memcpy(back, "x", 1);
	while (got < total) {
		uint8_t buf[7000];
		struct iovec rest[3];
		int n = 0;
		size_t skip = sent;
		ssize_t r;

		for (int i = 0; i < 3; i++) {
			if (skip >= iov[i].iov_len) {
				skip -= iov[i].iov_len;
				continue;
			}
			rest[n].iov_base = (uint8_t *)iov[i].iov_base + skip;
			rest[n++].iov_len = iov[i].iov_len - skip;
			skip = 0;
		}
		if (n) {
			r = nvme_tls_sendv(p.c, p.sv[0], rest, n);
			if (r < 0)
				assert_int_equal(errno, EAGAIN);
			else
				sent += (size_t)r;
		}
		r = nvme_tls_recv(p.s, p.sv[1], buf, sizeof(buf));
		if (r < 0) {
			assert_int_equal(errno, EAGAIN);
			continue;
		}
		assert_true(r > 0);
		for (ssize_t i = 0; i < r; i++, got++) {
			if (got >= sizeof(hdr) && got < sizeof(hdr) + sizeof(big))
				back[got - sizeof(hdr)] = buf[i];
		}
	}
	assert_int_equal(sent, total);
	assert_memory_equal(back, big, sizeof(big));
	/* The peer's close is an end of stream. */
	shutdown(p.sv[0], SHUT_RDWR);
	assert_int_equal(nvme_tls_recv(p.s, p.sv[1], back, 10), 0);
	pair_close(&p);
}

static void test_handshake_refused(void **state)
{
	struct nvme_tls_key wrong;
	struct pair p;

	(void)state;
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA256, &server_key), 0);
	/* Another key for the same identity: each end fails, neither hangs. */
	assert_int_equal(nvme_tls_key_generate(&wrong, NVME_TLS_HASH_SHA256, 32), 0);
	pair_open(&p, &wrong, SUBNQN);
	assert_true(p.rc < 0 && p.rc != -EAGAIN);
	assert_int_equal(p.rs, -EACCES);
	pair_close(&p);

	/* A subsystem the controller has no key for. */
	lookups = 0;
	pair_open(&p, &server_key, "nqn.2026-11.io.cardvisor:vol-2");
	assert_int_equal(lookups, 1);
	assert_true(p.rc < 0 && p.rc != -EAGAIN);
	assert_int_equal(p.rs, -EACCES);
	assert_non_null(strstr(nvme_tls_error(p.s), "no PSK for subsystem"));
	pair_close(&p);

	/* The key's hash must be the identity's: a SHA-384 key for a SHA-256 one. */
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA384, &server_key), 0);
	assert_int_equal(nvme_tls_key_parse(CLI_KEY_SHA256, &wrong), 0);
	pair_open(&p, &wrong, SUBNQN);
	assert_int_equal(p.rs, -EACCES);
	assert_non_null(strstr(nvme_tls_error(p.s), "names hash 01"));
	pair_close(&p);
}

static void test_key_file(void **state)
{
	char dir[] = "/tmp/cv-tlskey.XXXXXX", path[64], cmd[96];
	struct nvme_tls_key k, back;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k.psk", dir);
	assert_int_equal(nvme_tls_key_generate(&k, NVME_TLS_HASH_SHA384, 48), 0);
	assert_int_equal(nvme_tls_key_save(path, &k), 0);
	assert_int_equal(nvme_tls_key_save(path, &k), -EEXIST);
	assert_int_equal(nvme_tls_key_load(path, &back), 0);
	assert_memory_equal(back.key, k.key, 48);
	/* Readable by others: refused, as a planted or exposed key would be. */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(nvme_tls_key_load(path, &back), -EPERM);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interchange_format),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_derivation),
		cmocka_unit_test(test_handshake_and_stream),
		cmocka_unit_test(test_handshake_refused),
		cmocka_unit_test(test_key_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
