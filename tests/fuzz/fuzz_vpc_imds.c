/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The instance metadata service (cards/vpc/imds.c over tcp_lite.c): its
 * TCP endpoint and HTTP request parsing, driven by guest TCP clients on up
 * to four ports whose segments come from the input.  The keys that would
 * be random (initial sequence numbers, token MACs) are fixed so that an
 * input means the same every time.
 *
 * Input: the ENI (tests/fuzz/vpc_env.h), a byte (bit 0: tokens required),
 * the room for a reply frame (u16), then segments until the input ends,
 * each a control byte and:
 *  - bit 0 set: a raw frame, a length (u16) and its bytes (bit 1: make its
 *    IPv4 header checksum right);
 *  - else a segment the harness lays out as a client would: port (bits
 *    1-2), TCP flags, window (u16), with an MSS option (bit 5, u16), the
 *    sequence number the client is at (bit 3) or any (u32), the
 *    acknowledgment of everything the service sent (bit 4) or any (u32),
 *    and data (u16 length, bytes).
 * Every reply to a segment is drained with imds_next().
 *
 * Invariants beyond "no crash":
 *  - every reply frame fits the room given and is IPv4/TCP from
 *    169.254.169.254:80 to the ENI, with checksums that verify
 *    (tests/fuzz/vpc_env.h) and a TCP header inside it;
 *  - a reply carries no more data than the ENI's MTU and the client's
 *    MSS allow (the largest it announced on that port, 536 without the
 *    option; not checked once a raw frame may have opened a connection);
 *  - the data at the start of the service's stream is an HTTP/1.1
 *    status line;
 *  - draining the replies to one segment ends (at most 4096 frames).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/imds.h"
#include "tests/fuzz/vpc_env.h"

#define PORTS 4
#define REPLIES_MAX 4096

struct client {
	uint32_t snd_nxt;      /* what the client sends next */
	uint32_t rcv_nxt;      /* all the service sent, as the client saw it */
	uint32_t iss;          /* the service's SYN, once seen */
	bool have_iss;
	uint16_t mss;          /* the most the client announced in a SYN */
};

static struct imds imds;
static struct client cl[PORTS];

static void check_reply(const struct eni *eni, const uint8_t *f, size_t len, size_t cap)
{
	const struct tcp_hdr *th;
	const struct ipv4_hdr *ip = (const void *)(f + ETH_HLEN);
	size_t l4_len, hlen, dlen;
	struct client *c;
	uint32_t seq;
	unsigned port;

	FUZZ_CHECK(len <= cap);
	th = (const void *)fuzz_vpc_check_reply(eni, f, len, IPPROTO_TCP_, &l4_len);
	FUZZ_CHECK(ip->saddr == htonl(IMDS_IPV4) && ip->daddr == eni->ipv4);
	FUZZ_CHECK(th->sport == htons(IMDS_PORT));
	hlen = (size_t)(th->doff >> 4) * 4;
	FUZZ_CHECK(hlen >= sizeof(*th) && hlen <= l4_len);
	dlen = l4_len - hlen;
	port = ntohs(th->dport) - 40000u;
	if (port >= PORTS)
		return; /* a reset for a raw segment's port */
	c = &cl[port];
	FUZZ_CHECK(dlen <= c->mss && dlen <= (size_t)eni->mtu - 40);
	seq = ntohl(th->seq);
	if (th->flags & TCP_SYN) {
		c->iss = seq;
		c->have_iss = true;
	}
	/* A small window may cut the status line anywhere. */
	if (dlen && c->have_iss && seq == c->iss + 1)
		FUZZ_CHECK(!memcmp((const uint8_t *)th + hlen, "HTTP/1.1 ", dlen < 9 ? dlen : 9));
	seq += (uint32_t)dlen + !!(th->flags & (TCP_SYN | TCP_FIN));
	if ((int32_t)(seq - c->rcv_nxt) > 0 || (th->flags & TCP_SYN))
		c->rcv_nxt = seq;
}

/* Send @frame, drain every reply. */
static void exchange(const struct eni *eni, const uint8_t *frame, size_t len, size_t cap)
{
	static uint8_t reply[16384];
	int r = imds_answer(&imds, eni, frame, len, reply, cap);

	for (int n = 0; r > 0; n++) {
		FUZZ_CHECK(n < REPLIES_MAX);
		check_reply(eni, reply, (size_t)r, cap);
		r = imds_next(&imds, eni, reply, cap);
	}
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EPERM || r == -ENOSPC);
}

/* A client's segment, laid out as test_vpc_imds.c's send_from() does. */
static size_t client_segment(struct fuzz_in *in, uint8_t ctl, const struct eni *eni,
			     uint8_t *f)
{
	static const uint8_t router[ETH_ALEN] = { 0x0e, 0xfe, 0xed, 0xfa, 0xce, 0x01 };
	unsigned port = ctl >> 1 & 3;
	struct client *c = &cl[port];
	uint8_t flags = fuzz_u8(in), tcp[20 + 4 + 2048];
	uint16_t win = fuzz_u16(in), mss = ctl & 0x20 ? fuzz_u16(in) : 0;
	uint32_t seq = ctl & 0x08 ? c->snd_nxt : fuzz_u32(in);
	uint32_t ack = ctl & 0x10 ? c->rcv_nxt : fuzz_u32(in);
	size_t hlen = mss ? 24 : 20, dlen = fuzz_u16(in) % 2048, tot;
	uint16_t csum;

	memset(tcp, 0, hlen);
	*(struct tcp_hdr *)tcp = (struct tcp_hdr){
		.sport = htons((uint16_t)(40000 + port)), .dport = htons(IMDS_PORT),
		.seq = htonl(seq), .ack = htonl(ack), .doff = (uint8_t)(hlen / 4 << 4),
		.flags = flags, .window = htons(win),
	};
	if (mss) {
		tcp[20] = 2, tcp[21] = 4;
		tcp[22] = (uint8_t)(mss >> 8), tcp[23] = (uint8_t)mss;
	}
	fuzz_bytes(in, tcp + hlen, dlen);
	/* tcp_lite takes the MSS of a SYN that opens, not of a retransmission. */
	if (flags & TCP_SYN) {
		uint16_t announced = mss ? (mss < 64 ? 64 : mss) : 536;

		if (announced > c->mss)
			c->mss = announced;
	}
	c->snd_nxt = seq + (uint32_t)dlen + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
	csum = pkt_l4_csum(eni->ipv4, htonl(IMDS_IPV4), IPPROTO_TCP_, tcp, hlen + dlen);
	memcpy(tcp + 16, &csum, 2);
	tot = pkt_ipv4_build(f, router, eni->mac, eni->ipv4, htonl(IMDS_IPV4), IPPROTO_TCP_, 64,
			     hlen + dlen);
	memcpy(f + ETH_HLEN + IPV4_HLEN, tcp, hlen + dlen);
	return tot;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t frame[ETH_HLEN + IPV4_HLEN + 24 + 2048];
	struct fuzz_in in = fuzz_in(data, size);
	struct eni eni;
	uint8_t how;
	size_t cap;

	fuzz_vpc_eni(&eni, &in);
	how = fuzz_u8(&in);
	cap = fuzz_u16(&in) % 16384;
	FUZZ_CHECK(imds_init(&imds) == 0);
	/* Random at start-up in the card; fixed here so inputs replay. */
	imds.tcp.isn_key = 0x6361726476697372ull;
	memset(imds.token_key, 0x5a, sizeof(imds.token_key));
	imds.tokens_required = how & 1;
	for (unsigned i = 0; i < PORTS; i++)
		cl[i] = (struct client){ .mss = 536 };

	while (!fuzz_empty(&in)) {
		uint8_t ctl = fuzz_u8(&in);
		size_t len;

		if (ctl & 1) {
			const uint8_t *raw = fuzz_take(&in, fuzz_u16(&in) % sizeof(frame), &len);
			uint8_t *copy = malloc(len ? len : 1);

			FUZZ_CHECK(copy);
			memcpy(copy, raw, len);
			if (ctl & 2)
				fuzz_vpc_fix_ipv4(copy, len);
			/* It may open a connection on a client's port, any MSS. */
			for (unsigned i = 0; i < PORTS; i++)
				cl[i].mss = UINT16_MAX;
			exchange(&eni, copy, len, cap);
			free(copy);
		} else {
			len = client_segment(&in, ctl, &eni, frame);
			exchange(&eni, frame, len, cap);
		}
	}
	return 0;
}
