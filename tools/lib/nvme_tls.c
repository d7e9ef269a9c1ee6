// SPDX-License-Identifier: Apache-2.0
/* TLS 1.3 PSK sessions under NVMe/TCP: tools/lib/nvme_tls.h. */
#include "tools/lib/nvme_tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tools/lib/log.h"

/* Plaintext of one TLS record (RFC 8446, 5.1: 2^14 bytes): one write call's worth. */
#define STAGE_LEN 16384

struct nvme_tls {
	SSL *ssl;
	bool want_write;
	bool done;
	nvme_tls_lookup_fn lookup;      /* controller */
	void *arg;
	struct nvme_tls_key key;        /* host: its own; controller: the one looked up */
	char hostnqn[NVME_TLS_NQN_MAX + 1], subnqn[NVME_TLS_NQN_MAX + 1];
	char identity[NVME_TLS_IDENTITY_MAX];
	char err[NVME_TLS_NQN_MAX + 120];
	char desc[64];
	uint8_t stage[STAGE_LEN];
};

/* SSLKEYLOGFILE's descriptor, one per process (the contexts share it). */
static int keylog_fd = -1;

static void keylog(const SSL *ssl, const char *line)
{
	size_t n = strlen(line);
	char buf[512];

	(void)ssl;
	if (keylog_fd < 0 || n + 1 > sizeof(buf))
		return;
	memcpy(buf, line, n);
	buf[n++] = '\n';
	if (write(keylog_fd, buf, n) != (ssize_t)n)
		cv_err_once("SSLKEYLOGFILE: %s", strerror(errno));
}

SSL_CTX *nvme_tls_ctx_new(bool server)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	const char *kl = getenv("SSLKEYLOGFILE");

	if (!ctx)
		return NULL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384")) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/*
	 * No tickets and no cache: every connection proves the PSK afresh.  A
	 * peer that drops the TCP connection without close_notify (a killed
	 * card) is an end of stream like any other here.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* sendv() re-stages unsent bytes at a new address on each retry. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (kl && *kl && keylog_fd < 0) {
		keylog_fd = open(kl, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (keylog_fd < 0)
			cv_warn("SSLKEYLOGFILE %s: %s", kl, strerror(errno));
		else
			cv_warn("SSLKEYLOGFILE %s: TLS session secrets are written there (for "
				"debugging only)", kl);
	}
	if (keylog_fd >= 0)
		SSL_CTX_set_keylog_callback(ctx, keylog);
	return ctx;
}

void nvme_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* A resumable-looking session that carries the external PSK (OpenSSL's TLS 1.3 PSK API). */
static SSL_SESSION *psk_session(SSL *ssl, enum nvme_tls_hash hash, const uint8_t *psk,
				size_t len)
{
	static const unsigned char aes128_sha256[] = { 0x13, 0x01 }, aes256_sha384[] = { 0x13, 0x02 };
	const SSL_CIPHER *c = SSL_CIPHER_find(ssl, hash == NVME_TLS_HASH_SHA384 ? aes256_sha384
								     : aes128_sha256);
	SSL_SESSION *s = c ? SSL_SESSION_new() : NULL;

	if (s && (!SSL_SESSION_set1_master_key(s, psk, len) || !SSL_SESSION_set_cipher(s, c) ||
		  !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION))) {
		SSL_SESSION_free(s);
		s = NULL;
	}
	return s;
}

static int use_session(SSL *ssl, const EVP_MD *md, const unsigned char **id, size_t *idlen,
		       SSL_SESSION **sess)
{
	struct nvme_tls *t = SSL_get_app_data(ssl);
	uint8_t psk[NVME_TLS_KEY_MAX];
	SSL_SESSION *s;

	*sess = NULL;
	if (nvme_tls_psk_derive(&t->key, t->hostnqn, t->identity, psk))
		return 0;
	s = psk_session(ssl, nvme_tls_key_suite(&t->key), psk, t->key.len);
	explicit_bzero(psk, sizeof(psk));
	if (!s)
		return 0;
	/* After a HelloRetryRequest: offer the PSK only if its hash fits the suite chosen. */
	if (md && md != SSL_CIPHER_get_handshake_digest(SSL_SESSION_get0_cipher(s))) {
		SSL_SESSION_free(s);
		return 1;
	}
	*sess = s;
	*id = (const unsigned char *)t->identity;
	*idlen = strlen(t->identity);
	return 1;
}

static int find_session(SSL *ssl, const unsigned char *id, size_t idlen, SSL_SESSION **sess)
{
	struct nvme_tls *t = SSL_get_app_data(ssl);
	enum nvme_tls_hash hash;
	uint8_t psk[NVME_TLS_KEY_MAX];
	int err;

	/* An identity we cannot use: no PSK, and the handshake fails (no certificate either). */
	*sess = NULL;
	if (idlen >= sizeof(t->identity) ||
	    nvme_tls_identity_parse((const char *)id, idlen, &hash, t->hostnqn, t->subnqn)) {
		snprintf(t->err, sizeof(t->err), "PSK identity is not an NVMe version 0 identity");
		return 1;
	}
	memcpy(t->identity, id, idlen);
	t->identity[idlen] = '\0';
	err = t->lookup(t->arg, t->hostnqn, t->subnqn, &t->key);
	if (err) {
		snprintf(t->err, sizeof(t->err), "no PSK for subsystem %s: %s", t->subnqn,
			 strerror(-err));
		return 1;
	}
	if (nvme_tls_key_suite(&t->key) != hash) {
		snprintf(t->err, sizeof(t->err), "PSK identity names hash %02u, the key of %s "
			 "is for %02u", (unsigned)hash, t->subnqn,
			 (unsigned)nvme_tls_key_suite(&t->key));
		return 1;
	}
	if (nvme_tls_psk_derive(&t->key, t->hostnqn, t->identity, psk))
		return 0;
	*sess = psk_session(ssl, hash, psk, t->key.len);
	explicit_bzero(psk, sizeof(psk));
	return *sess ? 1 : 0;
}

static int tls_new(SSL_CTX *ctx, int fd, struct nvme_tls **out)
{
	struct nvme_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->ssl = SSL_new(ctx);
	if (!t->ssl || !SSL_set_fd(t->ssl, fd)) {
		nvme_tls_free(t);
		return -ENOMEM;
	}
	SSL_set_app_data(t->ssl, t);
	*out = t;
	return 0;
}

int nvme_tls_client(SSL_CTX *ctx, int fd, const struct nvme_tls_key *key, const char *hostnqn,
		    const char *subnqn, struct nvme_tls **out)
{
	struct nvme_tls *t;
	int ret = tls_new(ctx, fd, &t);

	if (ret)
		return ret;
	t->key = *key;
	snprintf(t->hostnqn, sizeof(t->hostnqn), "%s", hostnqn);
	snprintf(t->subnqn, sizeof(t->subnqn), "%s", subnqn);
	ret = nvme_tls_identity(key, hostnqn, subnqn, t->identity, sizeof(t->identity));
	if (ret) {
		nvme_tls_free(t);
		return ret;
	}
	SSL_set_psk_use_session_callback(t->ssl, use_session);
	SSL_set_connect_state(t->ssl);
	*out = t;
	return 0;
}

int nvme_tls_server(SSL_CTX *ctx, int fd, nvme_tls_lookup_fn lookup, void *arg,
		    struct nvme_tls **out)
{
	struct nvme_tls *t;
	int ret = tls_new(ctx, fd, &t);

	if (ret)
		return ret;
	t->lookup = lookup;
	t->arg = arg;
	SSL_set_psk_find_session_callback(t->ssl, find_session);
	SSL_set_accept_state(t->ssl);
	*out = t;
	return 0;
}

void nvme_tls_free(struct nvme_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	explicit_bzero(t, sizeof(*t));
	free(t);
}

/*
 * What an OpenSSL call that returned @r means: -EAGAIN (and which way),
 * 0 for the peer's close, or an error with its reason kept for the log.
 */
static int tls_status(struct nvme_tls *t, int r)
{
	int e = SSL_get_error(t->ssl, r);
	unsigned long code;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->want_write = false;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = true;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (!errno)
			errno = ECONNRESET;
		if (!t->err[0])
			snprintf(t->err, sizeof(t->err), "%s", strerror(errno));
		ERR_clear_error();
		return -errno;
	default:
		code = ERR_peek_last_error();
		if (!t->err[0] || t->done)
			snprintf(t->err, sizeof(t->err), "%s", code ?
				 ERR_reason_error_string(code) ?: "TLS error" : "TLS error");
		ERR_clear_error();
		return t->done ? -EPROTO : -EACCES;
	}
}

int nvme_tls_handshake(struct nvme_tls *t)
{
	int r;

	if (t->done)
		return 0;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->done = true;
		t->err[0] = '\0';
		snprintf(t->desc, sizeof(t->desc), "%s %s", SSL_get_version(t->ssl),
			 SSL_get_cipher_name(t->ssl));
		/* OpenSSL lets a handshake without the PSK through only with a certificate. */
		return SSL_session_reused(t->ssl) ? 0 : -EACCES;
	}
	r = tls_status(t, r);
	return r ? r : -ECONNRESET;
}

bool nvme_tls_want_write(const struct nvme_tls *t)
{
	return t->want_write;
}

const char *nvme_tls_error(const struct nvme_tls *t)
{
	return t->err[0] ? t->err : "handshake failed";
}

void nvme_tls_peer(const struct nvme_tls *t, const char **hostnqn, const char **subnqn)
{
	*hostnqn = t->hostnqn;
	*subnqn = t->subnqn;
}

const char *nvme_tls_describe(const struct nvme_tls *t)
{
	return t->desc;
}

/* The end of an SSL_*_ex call: bytes, 0 (peer closed), or -1 and errno. */
static ssize_t io_result(struct nvme_tls *t, int ok, size_t n)
{
	int r;

	if (ok)
		return (ssize_t)n;
	r = tls_status(t, 0);
	if (!r)
		return 0;
	errno = -r;
	return -1;
}

ssize_t nvme_tls_recv(struct nvme_tls *t, int fd, void *buf, size_t len)
{
	size_t n = 0;
	int ok;

	if (!t)
		return recv(fd, buf, len, MSG_DONTWAIT);
	ERR_clear_error();
	errno = 0;
	ok = SSL_read_ex(t->ssl, buf, len, &n);
	return io_result(t, ok, n);
}

ssize_t nvme_tls_readv(struct nvme_tls *t, int fd, const struct iovec *iov, int cnt)
{
	ssize_t total = 0;

	if (!t)
		return readv(fd, iov, cnt);
	for (int i = 0; i < cnt; i++) {
		ssize_t n = nvme_tls_recv(t, fd, iov[i].iov_base, iov[i].iov_len);

		if (n <= 0)
			return total ? total : n;
		total += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return total;
}

/*
 * Gather the iovecs into one record's worth and write that: each record
 * costs a header, a tag and a write(), so a PDU's small header must not
 * become a record of its own.  A write cut short by a full socket stays in
 * OpenSSL, which takes it back on the next call from a copy at the same
 * stream position (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER): the caller sends
 * the same unsent bytes again, as after a short sendmsg().
 */
ssize_t nvme_tls_sendv(struct nvme_tls *t, int fd, const struct iovec *iov, int cnt)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt };
	ssize_t total = 0;
	int i = 0;
	size_t skip = 0;

	if (!t)
		return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (i < cnt) {
		size_t staged = 0, off = 0;
		int j = i;
		size_t sk = skip;

		for (; j < cnt && staged < STAGE_LEN; j++, sk = 0) {
			size_t take = iov[j].iov_len - sk;

			if (take > STAGE_LEN - staged)
				take = STAGE_LEN - staged;
			memcpy(t->stage + staged, (const uint8_t *)iov[j].iov_base + sk, take);
			staged += take;
			if (sk + take < iov[j].iov_len)
				break;
		}
		if (!staged)
			break;
		while (off < staged) {
			size_t n = 0;
			int ok;

			ERR_clear_error();
			errno = 0;
			ok = SSL_write_ex(t->ssl, t->stage + off, staged - off, &n);
			if (!ok) {
				ssize_t r = io_result(t, ok, n);

				if (total)
					return total;
				if (!r) {
					errno = EPIPE;
					return -1;
				}
				return r;
			}
			off += n;
			total += (ssize_t)n;
		}
		/* Move past what was staged. */
		for (size_t left = staged; left;) {
			size_t in = iov[i].iov_len - skip;

			if (left >= in) {
				left -= in;
				i++;
				skip = 0;
			} else {
				skip += left;
				left = 0;
			}
		}
		while (i < cnt && !iov[i].iov_len)
			i++;
	}
	return total;
}

bool nvme_tls_pending(const struct nvme_tls *t)
{
	return t && SSL_pending(t->ssl) > 0;
}
