/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS 1.3 with a pre-shared key under an NVMe/TCP connection (TCP
 * Transport 1.0, "Transport Layer Security", from TP 8011), through
 * OpenSSL: the handshake comes first on the connection, then ICReq and
 * every PDU go as TLS application data.
 *
 * As the spec asks: TLS 1.3 only, TLS_AES_128_GCM_SHA256 (SHA-384 keys:
 * TLS_AES_256_GCM_SHA384), the psk_dhe_ke key exchange (an ephemeral
 * (EC)DHE share with the PSK, so a key that leaks later opens no recorded
 * session), no certificates, no session tickets or resumption.  The PSK
 * identity names host and subsystem (tools/lib/nvme_tls_key.h): the
 * controller takes the key of the subsystem it names and must then hold
 * the Connect to those NQNs (nvme_tls_peer()).
 *
 * Non-blocking streams: nvme_tls_recv/readv/sendv behave like recv/readv/
 * sendmsg with MSG_DONTWAIT (a count, 0 at the peer's close, or -1 with
 * errno, EAGAIN when the socket must become ready first), with a NULL
 * struct nvme_tls meaning the plain socket, so one code path serves both.
 * A TLS record is decrypted whole: after a partial read, bytes may wait in
 * the library with nothing left on the socket (nvme_tls_pending()).
 *
 * SSLKEYLOGFILE (in the environment when the context is made) appends the
 * session secrets to that file in NSS key log format, for Wireshark: a
 * debugging aid the tests use, logged loudly when on.
 */
#ifndef CV_NVME_TLS_H
#define CV_NVME_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "tools/lib/nvme_tls_key.h"

typedef struct ssl_ctx_st SSL_CTX;
struct nvme_tls;

/*
 * The controller's way to the key for an identity: 0 and @k filled, or a
 * negative errno (no such subsystem, or no key for it) to refuse.
 */
typedef int (*nvme_tls_lookup_fn)(void *arg, const char *hostnqn, const char *subnqn,
				  struct nvme_tls_key *k);

/* One context per process and role, made before any sandbox (it may read files). */
SSL_CTX *nvme_tls_ctx_new(bool server);
void nvme_tls_ctx_free(SSL_CTX *ctx);

/* A host's session on connected socket @fd with @key for @hostnqn to @subnqn. */
int nvme_tls_client(SSL_CTX *ctx, int fd, const struct nvme_tls_key *key, const char *hostnqn,
		    const char *subnqn, struct nvme_tls **out);
/* A controller's session on accepted socket @fd; @lookup picks the key. */
int nvme_tls_server(SSL_CTX *ctx, int fd, nvme_tls_lookup_fn lookup, void *arg,
		    struct nvme_tls **out);
void nvme_tls_free(struct nvme_tls *t);

/*
 * Advance the handshake: 0 once done, -EAGAIN to be called again when the
 * socket is readable (or writable, if nvme_tls_want_write()), or -EACCES
 * (refused: no or a wrong key, or not TLS 1.3 with a PSK) and -EPROTO /
 * -ECONNRESET, with the reason for one log line in nvme_tls_error().
 */
int nvme_tls_handshake(struct nvme_tls *t);
bool nvme_tls_want_write(const struct nvme_tls *t);
const char *nvme_tls_error(const struct nvme_tls *t);
/* Once the handshake is done: the NQNs of the identity both ends proved. */
void nvme_tls_peer(const struct nvme_tls *t, const char **hostnqn, const char **subnqn);
/* "TLSv1.3 TLS_AES_128_GCM_SHA256", for the connect log line. */
const char *nvme_tls_describe(const struct nvme_tls *t);

ssize_t nvme_tls_recv(struct nvme_tls *t, int fd, void *buf, size_t len);
ssize_t nvme_tls_readv(struct nvme_tls *t, int fd, const struct iovec *iov, int cnt);
ssize_t nvme_tls_sendv(struct nvme_tls *t, int fd, const struct iovec *iov, int cnt);
/* Decrypted bytes not read yet (never any on a plain socket). */
bool nvme_tls_pending(const struct nvme_tls *t);

#endif /* CV_NVME_TLS_H */
