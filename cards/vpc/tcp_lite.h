/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal TCP server (RFC 9293 subset) for the card's one-request,
 * one-response services: the guest connects, sends a request, gets the
 * response and a FIN.  No timers: lost segments are recovered when the
 * guest retransmits (its SYN or request again: we resend; a duplicate ACK:
 * we go back to its acknowledgment), the only case a virtio ring loses a
 * frame being a full receive ring.  No window scaling, SACK or timestamps
 * (not echoed in the SYN-ACK, so the guest uses none).  Connections are
 * bounded; a SYN beyond them takes over a connection idle for
 * idle_evict_s (a guest that rebooted mid-request never closes its
 * own), else gets RST, as does any segment for no connection.
 */
#ifndef CV_VPC_TCP_LITE_H
#define CV_VPC_TCP_LITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/eni.h"

#define TCP_LITE_MAX_CONN 16
#define TCP_LITE_REQ_MAX 2048
#define TCP_LITE_RESP_MAX 4096
/* RFC 9293 §3.7.1: the MSS a peer that sends no MSS option accepts. */
#define TCP_DEFAULT_MSS 536
#define TCP_LITE_IDLE_EVICT_S 60

/* Why serve() is called: more request bytes, the guest's FIN, a full buffer. */
enum tcp_lite_eof { TCP_LITE_MORE, TCP_LITE_FIN, TCP_LITE_FULL };

/*
 * The response to the @len request bytes received so far, written to
 * @resp: its length, or 0 to wait for more (only with TCP_LITE_MORE; with
 * the others a 0 closes the connection without a response).
 */
typedef size_t (*tcp_lite_serve_fn)(void *ctx, const struct eni *eni,
				    const char *req, size_t len,
				    enum tcp_lite_eof eof, char *resp,
				    size_t cap);

struct tcp_lite_conn {
	bool used;
	bool established;         /* our SYN is acknowledged */
	bool responded;           /* resp holds the whole response */
	bool fin_rcvd;
	bool ack_pending;
	uint16_t port;            /* the guest's, network order */
	uint16_t mss;             /* segment size we send */
	uint16_t snd_wnd;
	uint64_t last_active;     /* CLOCK_MONOTONIC seconds */
	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t irs, rcv_nxt;
	size_t req_len, resp_len;
	char req[TCP_LITE_REQ_MAX];
	char resp[TCP_LITE_RESP_MAX];
};

struct tcp_lite {
	uint32_t addr;            /* our address and port, network order */
	uint16_t port;
	tcp_lite_serve_fn serve;
	void *ctx;
	uint64_t isn_key;
	uint64_t isn_count;
	unsigned idle_evict_s;
	struct tcp_lite_conn *cur;   /* the connection tcp_lite_next() drains */
	struct tcp_lite_conn conn[TCP_LITE_MAX_CONN];
};

/* 0, or a negative errno if no random key for initial sequence numbers. */
int tcp_lite_init(struct tcp_lite *tl, uint32_t addr, uint16_t port,
		  tcp_lite_serve_fn serve, void *ctx);

/*
 * A TCP segment from the guest to tl->addr, in @p (checked by
 * pkt_ipv4_parse(), source already checked to be the ENI): the length of
 * the first reply frame written to @reply, 0 if none, -EINVAL for a
 * malformed TCP header, -ENOSPC if @cap cannot hold a segment.
 */
int tcp_lite_input(struct tcp_lite *tl, const struct eni *eni,
		   const struct pkt_ipv4 *p, uint8_t *reply, size_t cap);

/* The next reply frame for the same segment, 0 when there are no more. */
int tcp_lite_next(struct tcp_lite *tl, const struct eni *eni, uint8_t *reply,
		  size_t cap);

#endif /* CV_VPC_TCP_LITE_H */
