/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/vpc/tcp_lite.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "tools/lib/log.h"

#define TCP_HLEN 20
#define TCP_OPT_MSS 2             /* RFC 9293 §3.2: kind 2, length 4 */
#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_SEG_HDRS (ETH_HLEN + IPV4_HLEN + TCP_HLEN)

/* RFC 9293 §3.4: sequence numbers compare modulo 2^32. */
static bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

static bool seq_gt(uint32_t a, uint32_t b)
{
	return seq_lt(b, a);
}

int tcp_lite_init(struct tcp_lite *tl, uint32_t addr, uint16_t port,
		  tcp_lite_serve_fn serve, void *ctx)
{
	memset(tl, 0, sizeof(*tl));
	tl->addr = addr;
	tl->port = port;
	tl->serve = serve;
	tl->ctx = ctx;
	tl->idle_evict_s = TCP_LITE_IDLE_EVICT_S;
	if (getrandom(&tl->isn_key, sizeof(tl->isn_key), 0) !=
	    sizeof(tl->isn_key))
		return -errno;
	return 0;
}

/*
 * RFC 6528: the ISN is a keyed hash of the connection, so an off-path
 * host cannot guess it; a counter keeps successive connections on one
 * port apart (splitmix64 as the mixing function).
 */
static uint32_t tcp_lite_isn(struct tcp_lite *tl, uint16_t port, uint32_t irs)
{
	uint64_t z = tl->isn_key ^ ((uint64_t)port << 32 | irs) ^
		     (++tl->isn_count * 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return (uint32_t)(z ^ (z >> 31));
}

/*
 * The ENI's MTU less the IPv4 and TCP headers (RFC 9293 §3.7.1); an MTU
 * below IPv4's minimum datagram (RFC 791: 576) is a launcher's mistake.
 */
static uint16_t tcp_lite_our_mss(const struct eni *eni)
{
	uint16_t mtu = eni->mtu < 576 ? 576 : eni->mtu;

	return (uint16_t)(mtu - IPV4_HLEN - TCP_HLEN);
}

/* One segment to the guest: the headers, the SYN's MSS option, @data. */
static int tcp_lite_emit(const struct tcp_lite *tl, const struct eni *eni,
			 uint16_t dport, uint32_t seq, uint32_t ack,
			 uint8_t flags, uint16_t window, const void *data,
			 size_t len, uint8_t *reply, size_t cap)
{
	struct tcp_hdr *th = (void *)(reply + ETH_HLEN + IPV4_HLEN);
	size_t hlen = TCP_HLEN + (flags & TCP_SYN ? 4 : 0);
	uint8_t *opt = (uint8_t *)(th + 1);

	if (cap < ETH_HLEN + IPV4_HLEN + hlen + len)
		return -ENOSPC;
	*th = (struct tcp_hdr){
		.sport = tl->port,
		.dport = dport,
		.seq = htonl(seq),
		.ack = flags & TCP_ACK ? htonl(ack) : 0,
		.doff = (uint8_t)(hlen / 4 << 4),
		.flags = flags,
		.window = htons(window),
	};
	if (flags & TCP_SYN) {
		uint16_t mss = htons(tcp_lite_our_mss(eni));

		opt[0] = TCP_OPT_MSS;
		opt[1] = 4;
		memcpy(&opt[2], &mss, 2);
	}
	if (len)
		memcpy((uint8_t *)th + hlen, data, len);
	th->csum = pkt_l4_csum(tl->addr, eni->ipv4, IPPROTO_TCP_, th,
			       hlen + len);
	return (int)pkt_ipv4_build(reply, eni->mac, eni->router_mac, tl->addr,
				   eni->ipv4, IPPROTO_TCP_, 64, hlen + len);
}

/* RFC 9293 §3.10.7.1: the reset for a segment no connection owns. */
static int tcp_lite_reset(const struct tcp_lite *tl, const struct eni *eni,
			  const struct tcp_hdr *th, size_t seg_len,
			  uint8_t *reply, size_t cap)
{
	if (th->flags & TCP_RST)
		return 0;
	if (th->flags & TCP_ACK)
		return tcp_lite_emit(tl, eni, th->sport, ntohl(th->ack), 0,
				     TCP_RST, 0, NULL, 0, reply, cap);
	return tcp_lite_emit(tl, eni, th->sport, 0,
			     ntohl(th->seq) + (uint32_t)seg_len,
			     TCP_RST | TCP_ACK, 0, NULL, 0, reply, cap);
}

/* The MSS option of a SYN (RFC 9293 §3.2), or the default. */
static uint16_t tcp_peer_mss(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len && opt[i] != TCP_OPT_EOL) {
		if (opt[i] == TCP_OPT_NOP) {
			i++;
			continue;
		}
		if (i + 2 > len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			break;
		if (opt[i] == TCP_OPT_MSS && opt[i + 1] == 4) {
			uint16_t mss = (uint16_t)(opt[i + 2] << 8 | opt[i + 3]);

			/* A tiny MSS would only multiply our segments. */
			return mss < 64 ? 64 : mss;
		}
		i += opt[i + 1];
	}
	return TCP_DEFAULT_MSS;
}

static struct tcp_lite_conn *tcp_lite_find(struct tcp_lite *tl, uint16_t port)
{
	for (size_t i = 0; i < TCP_LITE_MAX_CONN; i++)
		if (tl->conn[i].used && tl->conn[i].port == port)
			return &tl->conn[i];
	return NULL;
}

static uint64_t tcp_lite_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

/*
 * A free slot; else one whose response and FIN the guest acknowledged;
 * else the longest idle, if idle for idle_evict_s.
 */
static struct tcp_lite_conn *tcp_lite_alloc(struct tcp_lite *tl, uint64_t now)
{
	struct tcp_lite_conn *done = NULL, *idle = NULL;

	for (size_t i = 0; i < TCP_LITE_MAX_CONN; i++) {
		struct tcp_lite_conn *c = &tl->conn[i];

		if (!c->used)
			return c;
		if (c->responded && c->snd_una == c->iss + 2 + c->resp_len)
			done = c;
		if (now - c->last_active >= tl->idle_evict_s &&
		    (!idle || c->last_active < idle->last_active))
			idle = c;
	}
	return done ? done : idle;
}

static void tcp_lite_open(struct tcp_lite *tl, const struct eni *eni,
			  struct tcp_lite_conn *c, const struct tcp_hdr *th,
			  const uint8_t *opt, size_t opt_len)
{
	uint16_t ours = tcp_lite_our_mss(eni);
	uint16_t theirs = tcp_peer_mss(opt, opt_len);

	/* Request and response buffers are big: no memset of them. */
	c->used = true;
	c->established = c->responded = c->fin_rcvd = c->ack_pending = false;
	c->req_len = c->resp_len = 0;
	c->port = th->sport;
	c->mss = theirs < ours ? theirs : ours;
	c->irs = ntohl(th->seq);
	c->rcv_nxt = c->irs + 1;
	c->iss = tcp_lite_isn(tl, th->sport, c->irs);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->snd_wnd = ntohs(th->window);
}

static uint16_t tcp_lite_rcv_wnd(const struct tcp_lite_conn *c)
{
	return (uint16_t)(c->responded ? TCP_LITE_REQ_MAX
				       : TCP_LITE_REQ_MAX - c->req_len);
}

/*
 * The next segment of @c: the SYN-ACK, response bytes within the guest's
 * window (the last with FIN), or an ACK owed; then frees @c once both
 * FINs are acknowledged.
 */
static int tcp_lite_output(struct tcp_lite *tl, const struct eni *eni,
			   struct tcp_lite_conn *c, uint8_t *reply, size_t cap)
{
	uint32_t fin_seq = c->iss + 1 + (uint32_t)c->resp_len;
	uint8_t flags = TCP_ACK;
	size_t off = 0, n = 0;
	int r = 0;

	if (c->snd_nxt == c->iss) {
		flags |= TCP_SYN;
	} else if (c->responded && seq_lt(c->snd_nxt, fin_seq + 1)) {
		uint32_t wnd_end = c->snd_una + c->snd_wnd;
		size_t room = cap > TCP_SEG_HDRS ? cap - TCP_SEG_HDRS : 0;

		off = c->snd_nxt - c->iss - 1;
		n = c->resp_len - off;
		if (n > c->mss)
			n = c->mss;
		if (n > room)
			n = room;
		if (!seq_gt(wnd_end, c->snd_nxt))
			n = 0;
		else if (n > wnd_end - c->snd_nxt)
			n = wnd_end - c->snd_nxt;
		if (n)
			flags |= TCP_PSH;
		if (off + n == c->resp_len)
			flags |= TCP_FIN;
		if (!(flags & (TCP_PSH | TCP_FIN)) && !c->ack_pending)
			goto done;
	} else if (!c->ack_pending) {
		goto done;
	}

	r = tcp_lite_emit(tl, eni, c->port, c->snd_nxt, c->rcv_nxt, flags,
			  tcp_lite_rcv_wnd(c), c->resp + off, n, reply, cap);
	if (r < 0)
		return r;
	c->ack_pending = false;
	c->snd_nxt += (uint32_t)n + !!(flags & (TCP_SYN | TCP_FIN));
	if (seq_gt(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
done:
	if (c->fin_rcvd && c->responded && c->snd_una == fin_seq + 1 &&
	    !c->ack_pending) {
		c->used = false;
		if (tl->cur == c)
			tl->cur = NULL;
	}
	return r;
}

/* RFC 9293 §3.10.7.4, fifth check: the ACK field of a synchronized conn. */
static int tcp_lite_ack(struct tcp_lite_conn *c, const struct tcp_hdr *th,
			size_t seg_len)
{
	uint32_t ack = ntohl(th->ack);
	uint16_t wnd = ntohs(th->window);

	if (!c->established) {
		if (ack != c->iss + 1)
			return -ECONNRESET;   /* <SEQ=SEG.ACK><CTL=RST> */
		c->established = true;
	}
	if (seq_gt(ack, c->snd_max)) {
		c->ack_pending = true;        /* acks what we never sent */
		return -EAGAIN;
	}
	if (seq_gt(ack, c->snd_una)) {
		c->snd_una = ack;
		if (seq_lt(c->snd_nxt, ack))
			c->snd_nxt = ack;
	} else if (ack == c->snd_una && seg_len == 0 && wnd == c->snd_wnd &&
		   c->snd_una != c->snd_max) {
		/* A duplicate ACK: the guest lost what followed; go back. */
		c->snd_nxt = c->snd_una;
	}
	c->snd_wnd = wnd;
	return 0;
}

/* The segment's text and FIN (RFC 9293 §3.10.7.4, seventh and eighth). */
static void tcp_lite_data(struct tcp_lite *tl, const struct eni *eni,
			  struct tcp_lite_conn *c, const struct tcp_hdr *th,
			  const uint8_t *data, size_t len)
{
	uint32_t seq = ntohl(th->seq);
	enum tcp_lite_eof eof = TCP_LITE_MORE;

	if (len || th->flags & TCP_FIN)
		c->ack_pending = true;
	if (seq_gt(seq, c->rcv_nxt))
		return;   /* out of order: the ACK tells what we expect */
	if (len && c->rcv_nxt - seq >= len) {
		/* Old text again: our ACK or response was lost; resend. */
		c->snd_nxt = c->snd_una;
	} else if (len) {
		size_t skip = c->rcv_nxt - seq, n = len - skip;

		if (!c->responded) {
			if (n > TCP_LITE_REQ_MAX - c->req_len)
				n = TCP_LITE_REQ_MAX - c->req_len;
			memcpy(c->req + c->req_len, data + skip, n);
			c->req_len += n;
		}
		/* After the response, further text is read and dropped. */
		c->rcv_nxt += (uint32_t)n;
	}
	if (th->flags & TCP_FIN && !c->fin_rcvd &&
	    c->rcv_nxt == seq + (uint32_t)len) {
		c->fin_rcvd = true;
		c->rcv_nxt++;
	}
	if (c->responded)
		return;
	if (c->fin_rcvd)
		eof = TCP_LITE_FIN;
	else if (c->req_len == TCP_LITE_REQ_MAX)
		eof = TCP_LITE_FULL;
	if (!c->req_len && eof == TCP_LITE_MORE)
		return;
	c->resp_len = tl->serve(tl->ctx, eni, c->req, c->req_len, eof, c->resp,
				sizeof(c->resp));
	if (c->resp_len || eof != TCP_LITE_MORE)
		c->responded = true;
}

int tcp_lite_input(struct tcp_lite *tl, const struct eni *eni,
		   const struct pkt_ipv4 *p, uint8_t *reply, size_t cap)
{
	const struct tcp_hdr *th = (const void *)p->l4;
	struct tcp_lite_conn *c;
	size_t hlen, len, seg_len;
	uint64_t now = tcp_lite_now();
	int r;

	if (p->l4_len < TCP_HLEN || (hlen = (size_t)(th->doff >> 4) * 4) <
	    TCP_HLEN || hlen > p->l4_len) {
		cv_err_once("vpc %s: malformed TCP header from the guest",
			    eni->id);
		return -EINVAL;
	}
	len = p->l4_len - hlen;
	seg_len = len + !!(th->flags & TCP_SYN) + !!(th->flags & TCP_FIN);
	tl->cur = NULL;
	if (th->dport != tl->port)
		return tcp_lite_reset(tl, eni, th, seg_len, reply, cap);
	c = tcp_lite_find(tl, th->sport);

	if (th->flags & TCP_RST) {
		uint32_t seq = ntohl(th->seq);

		/* RFC 5961 §3.2 in short: only an in-window reset counts. */
		if (c && !seq_lt(seq, c->rcv_nxt) &&
		    seq_lt(seq, c->rcv_nxt + tcp_lite_rcv_wnd(c)))
			c->used = false;
		return 0;
	}
	if (th->flags & TCP_SYN) {
		if (th->flags & TCP_ACK)
			return tcp_lite_reset(tl, eni, th, seg_len, reply, cap);
		if (c && c->irs == ntohl(th->seq)) {
			/* A retransmitted SYN: our SYN-ACK was lost. */
			if (!c->established)
				c->snd_nxt = c->iss;
			else
				c->ack_pending = true;
		} else {
			/* New, or the guest reused the port of a closed one. */
			if (!c)
				c = tcp_lite_alloc(tl, now);
			if (!c) {
				cv_err_once("vpc %s: all %d TCP connections "
					    "to the card busy, reset", eni->id,
					    TCP_LITE_MAX_CONN);
				return tcp_lite_reset(tl, eni, th, seg_len,
						      reply, cap);
			}
			tcp_lite_open(tl, eni, c, th, (const uint8_t *)(th + 1),
				      hlen - TCP_HLEN);
		}
	} else if (!c) {
		return tcp_lite_reset(tl, eni, th, seg_len, reply, cap);
	} else if (!(th->flags & TCP_ACK)) {
		return 0;     /* RFC 9293: no ACK bit, drop the segment */
	} else {
		r = tcp_lite_ack(c, th, len + !!(th->flags & TCP_FIN));
		if (r == -ECONNRESET)
			return tcp_lite_reset(tl, eni, th, seg_len, reply, cap);
		if (r == 0)
			tcp_lite_data(tl, eni, c, th, p->l4 + hlen, len);
	}
	c->last_active = now;
	tl->cur = c;
	return tcp_lite_output(tl, eni, c, reply, cap);
}

int tcp_lite_next(struct tcp_lite *tl, const struct eni *eni, uint8_t *reply,
		  size_t cap)
{
	if (!tl->cur)
		return 0;
	return tcp_lite_output(tl, eni, tl->cur, reply, cap);
}
