/* SPDX-License-Identifier: Apache-2.0 */
#include "tests/guest/net.h"

#include "tests/guest/lib.h"
#include "tests/guest/tsc.h"

#define ETH_HLEN      14
#define ETH_P_IPV4    0x0800
#define ETH_P_ARP     0x0806
#define IP_HLEN       20
#define IP_DF         0x4000
#define IP_MF_OFFSET  0x3fff     /* MF flag and fragment offset */
#define IP_TTL        64
#define UDP_HLEN      8
#define TCP_HLEN      20
#define ARP_LEN       28
#define ICMP_ECHO_REPLY   0
#define ICMP_ECHO_REQUEST 8
#define ICMP_HLEN     8
#define ARP_TRIES     3

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_WINDOW    8192
#define TCP_RTO_MS    500
#define TCP_OPT_MSS   2

/* RFC 2131 §2 and RFC 2132. */
#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68
#define BOOTREQUEST   1
#define BOOTREPLY     2
#define DHCP_FIXED    236          /* op .. file */
#define DHCP_MAGIC    0x63825363u  /* §3: the options' magic cookie */
#define DHCP_OFF_XID     4
#define DHCP_OFF_YIADDR  16
#define DHCP_OFF_CHADDR  28
#define OPT_PAD 0
#define OPT_MASK 1
#define OPT_ROUTER 3
#define OPT_DNS 6
#define OPT_MTU 26
#define OPT_REQUESTED_IP 50
#define OPT_MSG_TYPE 53
#define OPT_SERVER_ID 54
#define OPT_PARAM_LIST 55
#define OPT_END 255
#define DHCPDISCOVER 1
#define DHCPOFFER 2
#define DHCPREQUEST 3
#define DHCPACK 5
#define DHCPNAK 6

static const uint8_t broadcast_mac[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint8_t rx_frame[VNET_FRAME_MAX];
static uint8_t tx_frame[VNET_FRAME_MAX];
static uint8_t arp_frame[ETH_HLEN + ARP_LEN];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* RFC 1071: one's-complement sum of big-endian 16-bit words. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
	for (; len > 1; p += 2, len -= 2)
		sum += get16(p);
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* RFC 768 / RFC 9293 §3.1: the pseudo-header's sum. */
static uint32_t csum_pseudo(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

static uint16_t l4_csum(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
			uint32_t len)
{
	return csum_fold(csum_add(csum_pseudo(src, dst, proto, len), l4, len));
}

bool net_parse_ip(const char *s, uint32_t *ip)
{
	uint32_t v = 0;

	for (int part = 0; part < 4; part++) {
		uint32_t x = 0;
		int digits = 0;

		for (; *s >= '0' && *s <= '9' && digits < 4; s++, digits++)
			x = x * 10 + (uint32_t)(*s - '0');
		if (!digits || x > 255 || *s != (part < 3 ? '.' : '\0'))
			return false;
		if (part < 3)
			s++;
		v = v << 8 | x;
	}
	*ip = v;
	return true;
}

void net_if_init(struct net_if *ni, struct vnet *dev)
{
	*ni = (struct net_if){ .dev = dev, .mtu = dev->mtu, .ip_id = (uint16_t)rdtsc() };
}

static void arp_learn(struct net_if *ni, uint32_t ip, const uint8_t *mac, bool add)
{
	for (unsigned int i = 0; i < NET_ARP_ENTRIES; i++)
		if (ni->arp[i].ip == ip) {
			memcpy(ni->arp[i].mac, mac, 6);
			return;
		}
	if (!add)
		return;
	ni->arp[ni->arp_next].ip = ip;
	memcpy(ni->arp[ni->arp_next].mac, mac, 6);
	ni->arp_next = (ni->arp_next + 1) % NET_ARP_ENTRIES;
}

static int send_frame(struct net_if *ni, uint8_t *f, const uint8_t *dst, uint16_t type,
		      uint32_t len)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, ni->dev->mac, 6);
	put16(f + 12, type);
	/* A full transmit queue drains as the device works: retry briefly. */
	uint64_t deadline = tsc_deadline_ms(100);
	int err;
	while ((err = vnet_send(ni->dev, f, len)) == -EBUSY && rdtsc() < deadline)
		vnet_idle(ni->dev);
	return err;
}

/* RFC 826 packet: Ethernet/IPv4, @op, sender us, target @tha/@tpa. */
static int arp_send(struct net_if *ni, uint16_t op, const uint8_t *dst_mac,
		    const uint8_t *tha, uint32_t tpa)
{
	uint8_t *a = arp_frame + ETH_HLEN;

	put16(a, 1);
	put16(a + 2, ETH_P_IPV4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, ni->dev->mac, 6);
	put32(a + 14, ni->ip);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tpa);
	return send_frame(ni, arp_frame, dst_mac, ETH_P_ARP, sizeof(arp_frame));
}

static void arp_input(struct net_if *ni, const uint8_t *a, uint32_t len)
{
	if (len < ARP_LEN || get16(a) != 1 || get16(a + 2) != ETH_P_IPV4 || a[4] != 6 ||
	    a[5] != 4) {
		ni->rx_dropped++;
		return;
	}
	uint32_t spa = get32(a + 14), tpa = get32(a + 24);
	bool for_us = ni->ip && tpa == ni->ip;

	if (spa)
		arp_learn(ni, spa, a + 8, for_us || spa == ni->arp_pending);
	if (for_us && get16(a + 6) == 1)
		arp_send(ni, 2, a + 8, a + 8, spa);
}

static void icmp_echo_reply(struct net_if *ni, const struct net_pkt *p)
{
	uint8_t *l4 = net_l4_buf(ni);
	uint32_t len = p->l4_len;

	if (len > (uint32_t)ni->mtu - IP_HLEN)
		return;
	memcpy(l4, p->l4, len);
	l4[0] = ICMP_ECHO_REPLY;
	put16(l4 + 2, 0);
	put16(l4 + 2, csum_fold(csum_add(0, l4, len)));
	net_send_ip(ni, p->src, NET_PROTO_ICMP, len);
}

/* Checks an IPv4 packet and its transport checksum; false to drop it. */
static bool ip_input(struct net_if *ni, const uint8_t *ip, uint32_t len, struct net_pkt *p)
{
	if (len < IP_HLEN || ip[0] >> 4 != 4)
		return false;
	uint32_t ihl = (ip[0] & 0xf) * 4u, tot = get16(ip + 2);
	if (ihl < IP_HLEN || tot < ihl || tot > len || csum_fold(csum_add(0, ip, ihl)) ||
	    (get16(ip + 6) & IP_MF_OFFSET))
		return false;
	p->src = get32(ip + 12);
	p->dst = get32(ip + 16);
	p->proto = ip[9];
	p->l4 = ip + ihl;
	p->l4_len = tot - ihl;
	bool bcast = p->dst == 0xffffffffu || (ni->mask && p->dst == (ni->ip | ~ni->mask));
	if (ni->ip && p->dst != ni->ip && !bcast)
		return false;

	switch (p->proto) {
	case NET_PROTO_ICMP:
		return p->l4_len >= ICMP_HLEN && !csum_fold(csum_add(0, p->l4, p->l4_len));
	case NET_PROTO_UDP: {
		uint32_t ulen = p->l4_len >= UDP_HLEN ? get16(p->l4 + 4) : 0;
		if (ulen < UDP_HLEN || ulen > p->l4_len)
			return false;
		/* RFC 768: a zero checksum means none was computed. */
		if (get16(p->l4 + 6) && l4_csum(p->src, p->dst, NET_PROTO_UDP, p->l4, ulen))
			return false;
		p->sport = get16(p->l4);
		p->dport = get16(p->l4 + 2);
		p->data = p->l4 + UDP_HLEN;
		p->data_len = ulen - UDP_HLEN;
		return true;
	}
	case NET_PROTO_TCP:
		return p->l4_len >= TCP_HLEN &&
		       !l4_csum(p->src, p->dst, NET_PROTO_TCP, p->l4, p->l4_len);
	default:
		return true;
	}
}

/* 0: an IPv4 packet for the caller; 1: a frame handled or dropped here. */
static int poll_one(struct net_if *ni, uint64_t deadline, struct net_pkt *p)
{
	uint32_t len;
	int err = vnet_recv(ni->dev, rx_frame, sizeof(rx_frame), &len);

	if (err == -EAGAIN) {
		if (rdtsc() > deadline)
			return -ETIMEDOUT;
		err = vnet_idle(ni->dev);
		return err < 0 ? err : 1;
	}
	if (err)
		return err;
	if (len < ETH_HLEN || (memcmp(rx_frame, ni->dev->mac, 6) &&
			       memcmp(rx_frame, broadcast_mac, 6))) {
		ni->rx_dropped++;
		return 1;
	}
	uint16_t type = get16(rx_frame + 12);
	if (type == ETH_P_ARP) {
		arp_input(ni, rx_frame + ETH_HLEN, len - ETH_HLEN);
		return 1;
	}
	if (type != ETH_P_IPV4 || !ip_input(ni, rx_frame + ETH_HLEN, len - ETH_HLEN, p)) {
		ni->rx_dropped++;
		return 1;
	}
	memcpy(p->src_mac, rx_frame + 6, 6);
	if (p->proto == NET_PROTO_ICMP && p->l4[0] == ICMP_ECHO_REQUEST && ni->ip &&
	    p->dst == ni->ip) {
		/* Not while net_send_ip resolves for a packet already built in
		 * the one transmit buffer: the sender asks again. */
		if (!ni->sending)
			icmp_echo_reply(ni, p);
		return 1;
	}
	return 0;
}

int net_recv(struct net_if *ni, uint64_t deadline, struct net_pkt *p)
{
	for (;;) {
		int r = poll_one(ni, deadline, p);

		if (r <= 0)
			return r;
		if (rdtsc() > deadline)
			return -ETIMEDOUT;
	}
}

static bool arp_lookup(const struct net_if *ni, uint32_t ip, uint8_t mac[6])
{
	for (unsigned int i = 0; i < NET_ARP_ENTRIES; i++)
		if (ni->arp[i].ip == ip && ip) {
			memcpy(mac, ni->arp[i].mac, 6);
			return true;
		}
	return false;
}

int net_resolve(struct net_if *ni, uint32_t ip, uint8_t mac[6], uint32_t timeout_ms)
{
	static const uint8_t zero[6];
	uint32_t hop = ip;
	int err = -ETIMEDOUT;

	if (ni->mask && (ip & ni->mask) != (ni->ip & ni->mask))
		hop = ni->gw;
	if (!hop)
		return -ENODEV;
	if (arp_lookup(ni, hop, mac))
		return 0;
	/* Replies are learned only for the address asked about (or for
	 * requests aimed at us): nobody fills the cache unasked. */
	ni->arp_pending = hop;
	for (int t = 0; t < ARP_TRIES && err == -ETIMEDOUT; t++) {
		uint64_t deadline = tsc_deadline_ms(timeout_ms / ARP_TRIES + 1);
		struct net_pkt p;

		err = arp_send(ni, 1, broadcast_mac, zero, hop);
		if (err)
			break;
		err = -ETIMEDOUT;
		while (poll_one(ni, deadline, &p) >= 0)
			if (arp_lookup(ni, hop, mac)) {
				err = 0;
				break;
			}
	}
	ni->arp_pending = 0;
	return err;
}

uint8_t *net_l4_buf(struct net_if *ni)
{
	(void)ni;
	return tx_frame + ETH_HLEN + IP_HLEN;
}

int net_send_ip(struct net_if *ni, uint32_t dst, uint8_t proto, uint32_t l4_len)
{
	uint8_t mac[6];
	uint8_t *ip = tx_frame + ETH_HLEN;
	int err;

	if (l4_len > (uint32_t)ni->mtu - IP_HLEN)
		return -EMSGSIZE;
	if (dst == 0xffffffffu || (ni->mask && dst == (ni->ip | ~ni->mask))) {
		memcpy(mac, broadcast_mac, 6);
	} else {
		ni->sending = true;
		err = net_resolve(ni, dst, mac, 1500);
		ni->sending = false;
		if (err)
			return err;
	}
	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(IP_HLEN + l4_len));
	put16(ip + 4, ni->ip_id++);
	put16(ip + 6, IP_DF);
	ip[8] = IP_TTL;
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, ni->ip);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, IP_HLEN)));
	return send_frame(ni, tx_frame, mac, ETH_P_IPV4, ETH_HLEN + IP_HLEN + l4_len);
}

int net_udp_send(struct net_if *ni, uint16_t sport, uint32_t dst, uint16_t dport,
		 const void *data, uint32_t len)
{
	uint8_t *u = net_l4_buf(ni);

	if (len > (uint32_t)ni->mtu - IP_HLEN - UDP_HLEN)
		return -EMSGSIZE;
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(UDP_HLEN + len));
	put16(u + 6, 0);
	memcpy(u + UDP_HLEN, data, len);
	uint16_t c = l4_csum(ni->ip, dst, NET_PROTO_UDP, u, UDP_HLEN + len);
	put16(u + 6, c ? c : 0xffff);
	return net_send_ip(ni, dst, NET_PROTO_UDP, UDP_HLEN + len);
}

int net_icmp_echo(struct net_if *ni, uint32_t dst, uint16_t id, uint16_t seq,
		  uint32_t payload_len)
{
	uint8_t *m = net_l4_buf(ni);

	if (payload_len > (uint32_t)ni->mtu - IP_HLEN - ICMP_HLEN)
		return -EMSGSIZE;
	m[0] = ICMP_ECHO_REQUEST;
	m[1] = 0;
	put16(m + 2, 0);
	put16(m + 4, id);
	put16(m + 6, seq);
	for (uint32_t i = 0; i < payload_len; i++)
		m[ICMP_HLEN + i] = (uint8_t)(i + seq);
	put16(m + 2, csum_fold(csum_add(0, m, ICMP_HLEN + payload_len)));
	return net_send_ip(ni, dst, NET_PROTO_ICMP, ICMP_HLEN + payload_len);
}

/* ---- DHCP (RFC 2131) ---- */

struct dhcp_reply {
	uint8_t type;
	uint32_t yiaddr, mask, router, dns, server;
	uint16_t mtu;
};

static uint32_t dhcp_build(const struct net_if *ni, uint8_t *m, uint32_t xid, uint8_t type,
			   uint32_t requested, uint32_t server)
{
	uint8_t *o = m + DHCP_FIXED;

	memset(m, 0, DHCP_FIXED);
	m[0] = BOOTREQUEST;
	m[1] = 1;   /* htype Ethernet */
	m[2] = 6;
	put32(m + DHCP_OFF_XID, xid);
	memcpy(m + DHCP_OFF_CHADDR, ni->dev->mac, 6);
	put32(o, DHCP_MAGIC);
	o += 4;
	*o++ = OPT_MSG_TYPE, *o++ = 1, *o++ = type;
	if (requested) {
		*o++ = OPT_REQUESTED_IP, *o++ = 4;
		put32(o, requested);
		o += 4;
		*o++ = OPT_SERVER_ID, *o++ = 4;
		put32(o, server);
		o += 4;
	}
	*o++ = OPT_PARAM_LIST, *o++ = 4;
	*o++ = OPT_MASK, *o++ = OPT_ROUTER, *o++ = OPT_DNS, *o++ = OPT_MTU;
	*o++ = OPT_END;
	return (uint32_t)(o - m);
}

/* RFC 2132: code, length, value; PAD and END alone. */
static bool dhcp_parse(const struct net_if *ni, const struct net_pkt *p, uint32_t xid,
		       struct dhcp_reply *r)
{
	const uint8_t *m = p->data;
	uint32_t len = p->data_len;

	if (p->proto != NET_PROTO_UDP || p->dport != DHCP_CLIENT_PORT ||
	    len < DHCP_FIXED + 4 || m[0] != BOOTREPLY || get32(m + DHCP_OFF_XID) != xid ||
	    memcmp(m + DHCP_OFF_CHADDR, ni->dev->mac, 6) || get32(m + DHCP_FIXED) != DHCP_MAGIC)
		return false;
	*r = (struct dhcp_reply){ .yiaddr = get32(m + DHCP_OFF_YIADDR) };
	for (uint32_t i = DHCP_FIXED + 4; i < len;) {
		uint8_t code = m[i];

		if (code == OPT_PAD) {
			i++;
			continue;
		}
		if (code == OPT_END || i + 1 >= len || i + 2 + m[i + 1] > len)
			break;
		const uint8_t *v = m + i + 2;
		uint8_t olen = m[i + 1];
		if (code == OPT_MSG_TYPE && olen >= 1)
			r->type = v[0];
		else if (code == OPT_MASK && olen >= 4)
			r->mask = get32(v);
		else if (code == OPT_ROUTER && olen >= 4)
			r->router = get32(v);
		else if (code == OPT_DNS && olen >= 4)
			r->dns = get32(v);
		else if (code == OPT_SERVER_ID && olen >= 4)
			r->server = get32(v);
		else if (code == OPT_MTU && olen >= 2)
			r->mtu = get16(v);
		i += 2u + olen;
	}
	return r->type != 0;
}

static int dhcp_exchange(struct net_if *ni, uint32_t xid, uint8_t type, uint32_t requested,
			 uint32_t server, uint8_t want, uint32_t timeout_ms,
			 struct dhcp_reply *r)
{
	static uint8_t msg[DHCP_FIXED + 64];
	uint32_t len = dhcp_build(ni, msg, xid, type, requested, server);
	int err = net_udp_send(ni, DHCP_CLIENT_PORT, 0xffffffffu, DHCP_SERVER_PORT, msg, len);
	uint64_t deadline = tsc_deadline_ms(timeout_ms);
	struct net_pkt p;

	if (err)
		return err;
	while (!(err = net_recv(ni, deadline, &p)))
		if (dhcp_parse(ni, &p, xid, r) && (r->type == want || r->type == DHCPNAK))
			return r->type == want ? 0 : -ECONNREFUSED;
	return err;
}

int net_dhcp(struct net_if *ni, unsigned int tries, uint32_t timeout_ms, uint32_t *server)
{
	struct dhcp_reply offer, ack;
	int err = -ETIMEDOUT;

	ni->ip = ni->mask = ni->gw = ni->dns = 0;
	for (unsigned int t = 0; t < tries; t++) {
		uint32_t xid = (uint32_t)mix64(rdtsc());

		err = dhcp_exchange(ni, xid, DHCPDISCOVER, 0, 0, DHCPOFFER, timeout_ms, &offer);
		if (err)
			continue;
		if (!offer.yiaddr || !offer.server) {
			err = -EPROTO;
			continue;
		}
		err = dhcp_exchange(ni, xid, DHCPREQUEST, offer.yiaddr, offer.server, DHCPACK,
				    timeout_ms, &ack);
		if (err)
			continue;
		ni->ip = ack.yiaddr ? ack.yiaddr : offer.yiaddr;
		ni->mask = ack.mask ? ack.mask : 0xffffff00u;
		ni->gw = ack.router;
		ni->dns = ack.dns;
		if (ack.mtu >= 68 && ack.mtu < ni->dev->mtu)
			ni->mtu = ack.mtu;
		*server = offer.server;
		return 0;
	}
	return err;
}

/* ---- TCP-lite (RFC 9293) ---- */

static int tcp_out(struct net_if *ni, struct tcp_conn *c, uint32_t seq, uint8_t flags,
		   const void *data, uint32_t len)
{
	uint8_t *t = net_l4_buf(ni);
	uint32_t hlen = TCP_HLEN + (flags & TCP_SYN ? 4 : 0);

	put16(t, c->lport);
	put16(t + 2, c->rport);
	put32(t + 4, seq);
	put32(t + 8, flags & TCP_ACK ? c->rcv_nxt : 0);
	t[12] = (uint8_t)(hlen / 4 << 4);
	t[13] = flags;
	put16(t + 14, TCP_WINDOW);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (flags & TCP_SYN) {
		t[20] = TCP_OPT_MSS;
		t[21] = 4;
		put16(t + 22, (uint16_t)(ni->mtu - IP_HLEN - TCP_HLEN));
	}
	memcpy(t + hlen, data, len);
	put16(t + 16, l4_csum(ni->ip, c->peer, NET_PROTO_TCP, t, hlen + len));
	return net_send_ip(ni, c->peer, NET_PROTO_TCP, hlen + len);
}

/*
 * One segment of this connection: RST ends it, ACKs move snd_una, data at
 * rcv_nxt is kept (in order only; anything else is answered with an ACK
 * saying what we still expect), FIN is taken once everything before it is.
 */
static int tcp_input(struct net_if *ni, struct tcp_conn *c, const struct net_pkt *p)
{
	const uint8_t *t = p->l4;
	uint32_t doff = (uint32_t)(t[12] >> 4) * 4;

	if (p->proto != NET_PROTO_TCP || p->src != c->peer || get16(t) != c->rport ||
	    get16(t + 2) != c->lport || doff < TCP_HLEN || doff > p->l4_len)
		return 0;
	uint8_t flags = t[13];
	uint32_t seq = get32(t + 4), ack = get32(t + 8);
	if (flags & TCP_RST)
		return -ECONNRESET;
	if ((flags & TCP_ACK) && (int32_t)(ack - c->snd_una) > 0 &&
	    (int32_t)(ack - c->snd_nxt) <= 0)
		c->snd_una = ack;
	const uint8_t *data = t + doff;
	uint32_t len = p->l4_len - doff;
	bool in_order = seq == c->rcv_nxt;
	if (len && in_order && c->rlen + len <= c->rsize) {
		memcpy(c->rbuf + c->rlen, data, len);
		c->rlen += len;
		c->rcv_nxt += len;
	}
	if ((flags & TCP_FIN) && seq + len == c->rcv_nxt && !c->fin_rcvd) {
		c->fin_rcvd = true;
		c->rcv_nxt++;
	}
	if (len || (flags & TCP_FIN))
		return tcp_out(ni, c, c->snd_nxt, TCP_ACK, NULL, 0);
	return 0;
}

int net_tcp_connect(struct net_if *ni, struct tcp_conn *c, uint32_t dst, uint16_t port,
		    uint8_t *rbuf, uint32_t rsize, uint32_t timeout_ms)
{
	uint64_t end = tsc_deadline_ms(timeout_ms);
	uint32_t iss = (uint32_t)mix64(rdtsc());
	struct net_pkt p;

	*c = (struct tcp_conn){
		.peer = dst, .rport = port, .lport = (uint16_t)(49152 + (iss & 0x3fff)),
		.snd_una = iss, .snd_nxt = iss + 1, .rbuf = rbuf, .rsize = rsize,
		.mss = (uint16_t)(ni->mtu - IP_HLEN - TCP_HLEN),
	};
	while (rdtsc() < end) {
		int err = tcp_out(ni, c, iss, TCP_SYN, NULL, 0);
		uint64_t rto = tsc_deadline_ms(TCP_RTO_MS << (c->retransmits < 3 ? c->retransmits : 3));

		if (err)
			return err;
		while (!(err = net_recv(ni, rto < end ? rto : end, &p))) {
			const uint8_t *t = p.l4;
			if (p.proto != NET_PROTO_TCP || p.src != dst || get16(t) != port ||
			    get16(t + 2) != c->lport)
				continue;
			if (t[13] & TCP_RST)
				return -ECONNREFUSED;
			if ((t[13] & (TCP_SYN | TCP_ACK)) != (TCP_SYN | TCP_ACK) ||
			    get32(t + 8) != iss + 1)
				continue;
			c->snd_una = iss + 1;
			c->rcv_nxt = get32(t + 4) + 1;
			/* RFC 9293 §3.7.1: the peer's MSS option, if any. */
			uint32_t doff = (uint32_t)(t[12] >> 4) * 4;
			for (uint32_t i = TCP_HLEN; i + 4 <= doff && i + 4 <= p.l4_len;) {
				if (t[i] == 0)
					break;
				if (t[i] == 1) {
					i++;
					continue;
				}
				if (t[i] == TCP_OPT_MSS && t[i + 1] == 4 && get16(t + i + 2) < c->mss &&
				    get16(t + i + 2))
					c->mss = get16(t + i + 2);
				if (t[i + 1] < 2)
					break;
				i += t[i + 1];
			}
			return tcp_out(ni, c, c->snd_nxt, TCP_ACK, NULL, 0);
		}
		if (err != -ETIMEDOUT)
			return err;
		c->retransmits++;
	}
	return -ETIMEDOUT;
}

int net_tcp_send(struct net_if *ni, struct tcp_conn *c, const void *data, uint32_t len,
		 uint32_t timeout_ms)
{
	uint64_t end = tsc_deadline_ms(timeout_ms);
	uint32_t seq = c->snd_nxt;
	struct net_pkt p;

	if (len > c->mss)
		return -EMSGSIZE;
	c->snd_nxt += len;
	while (rdtsc() < end) {
		uint64_t rto = tsc_deadline_ms(TCP_RTO_MS);
		int err = tcp_out(ni, c, seq, TCP_ACK | TCP_PSH, data, len);

		if (err)
			return err;
		while (!(err = net_recv(ni, rto < end ? rto : end, &p))) {
			err = tcp_input(ni, c, &p);
			if (err)
				return err;
			if (c->snd_una == c->snd_nxt)
				return 0;
		}
		if (err != -ETIMEDOUT)
			return err;
		c->retransmits++;
	}
	return -ETIMEDOUT;
}

int net_tcp_recv_close(struct net_if *ni, struct tcp_conn *c, uint32_t timeout_ms)
{
	uint64_t end = tsc_deadline_ms(timeout_ms);
	struct net_pkt p;
	int err = 0;

	while (!c->fin_rcvd && !(err = net_recv(ni, end, &p)))
		err = tcp_input(ni, c, &p);
	if (err)
		return err;
	/* Our FIN; its ACK is waited for briefly (the peer may be gone). */
	for (int t = 0; t < 3 && c->snd_una != c->snd_nxt + 1; t++) {
		uint64_t rto = tsc_deadline_ms(TCP_RTO_MS);

		err = tcp_out(ni, c, c->snd_nxt, TCP_FIN | TCP_ACK, NULL, 0);
		if (err)
			return err;
		while (c->snd_una != c->snd_nxt + 1 && !net_recv(ni, rto, &p)) {
			const uint8_t *tt = p.l4;
			if (p.proto == NET_PROTO_TCP && p.src == c->peer && get16(tt) == c->rport &&
			    get16(tt + 2) == c->lport && (tt[13] & TCP_ACK) &&
			    get32(tt + 8) == c->snd_nxt + 1)
				c->snd_una = c->snd_nxt + 1;
		}
	}
	return 0;
}
