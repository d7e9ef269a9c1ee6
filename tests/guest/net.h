/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A tiny IPv4 stack for the network workloads: Ethernet II, ARP (RFC 826),
 * IPv4 without options or fragments (RFC 791), ICMP echo (RFC 792), UDP
 * (RFC 768), a DHCP client (RFC 2131/2132) and "TCP-lite" (RFC 9293): one
 * active connection at a time, in-order data only, enough for one HTTP
 * GET.  Checksums are computed and checked in software (RFC 1071).
 * Addresses are kept in host byte order; only the wire is big-endian.
 * Every wait has a TSC deadline.
 */
#ifndef CVG_NET_H
#define CVG_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/guest/virtio_net.h"

#define NET_PROTO_ICMP 1
#define NET_PROTO_TCP  6
#define NET_PROTO_UDP  17
#define NET_ARP_ENTRIES 8

/* "%u.%u.%u.%u" arguments for a host-order address. */
#define NET_IP_FMT "%u.%u.%u.%u"
#define NET_IP_ARGS(a) (unsigned int)((a) >> 24), (unsigned int)(((a) >> 16) & 0xff), \
	(unsigned int)(((a) >> 8) & 0xff), (unsigned int)((a) & 0xff)

struct net_if {
	struct vnet *dev;
	uint32_t ip, mask, gw, dns;   /* 0 until configured */
	uint16_t mtu;
	uint16_t ip_id;
	struct {
		uint32_t ip;
		uint8_t mac[6];
	} arp[NET_ARP_ENTRIES];
	unsigned int arp_next;
	uint32_t arp_pending;         /* the address net_resolve asks about */
	bool sending;                 /* a packet is being built in net_l4_buf */
	uint64_t rx_dropped;          /* malformed or not for us */
};

/* An IPv4 packet handed to the caller by net_recv; valid until the next call. */
struct net_pkt {
	uint8_t src_mac[6];
	uint32_t src, dst;
	uint8_t proto;
	const uint8_t *l4;            /* after the IP header */
	uint32_t l4_len;
	/* UDP only: ports and payload (checksum already verified). */
	uint16_t sport, dport;
	const uint8_t *data;
	uint32_t data_len;
};

/* "A.B.C.D" to a host-order address; false if it is not one. */
bool net_parse_ip(const char *s, uint32_t *ip);

void net_if_init(struct net_if *ni, struct vnet *dev);

/*
 * The next IPv4 packet for this interface, until @deadline (TSC).  ARP
 * requests for our address and ICMP echo requests to us are answered here
 * and not returned.  -ETIMEDOUT at the deadline.
 */
int net_recv(struct net_if *ni, uint64_t deadline, struct net_pkt *p);

/* The MAC of @ip (on-link) or of the gateway; ARP with retries. */
int net_resolve(struct net_if *ni, uint32_t ip, uint8_t mac[6], uint32_t timeout_ms);

/*
 * Where a caller builds the transport header and payload of the next
 * packet (room for mtu - 20 bytes), and the send of it.  255.255.255.255
 * goes to the Ethernet broadcast address without ARP.
 */
uint8_t *net_l4_buf(struct net_if *ni);
int net_send_ip(struct net_if *ni, uint32_t dst, uint8_t proto, uint32_t l4_len);

int net_udp_send(struct net_if *ni, uint16_t sport, uint32_t dst, uint16_t dport,
		 const void *data, uint32_t len);
int net_icmp_echo(struct net_if *ni, uint32_t dst, uint16_t id, uint16_t seq,
		  uint32_t payload_len);

/* RFC 2131: DISCOVER, OFFER, REQUEST, ACK; fills ip, mask, gw, dns, mtu. */
int net_dhcp(struct net_if *ni, unsigned int tries, uint32_t timeout_ms, uint32_t *server);

/* One active TCP connection, client side (RFC 9293 §3.5, §3.10). */
struct tcp_conn {
	uint32_t peer;
	uint16_t lport, rport;
	uint32_t snd_nxt, snd_una, rcv_nxt;
	bool fin_rcvd;
	uint16_t mss;
	unsigned int retransmits;
	uint8_t *rbuf;                /* received data, in order */
	uint32_t rsize, rlen;
};

/* Active open with retransmitted SYNs; data received goes to @rbuf. */
int net_tcp_connect(struct net_if *ni, struct tcp_conn *c, uint32_t dst, uint16_t port,
		    uint8_t *rbuf, uint32_t rsize, uint32_t timeout_ms);
/* Sends @len bytes (at most one MSS) and waits for their ACK, retransmitting. */
int net_tcp_send(struct net_if *ni, struct tcp_conn *c, const void *data, uint32_t len,
		 uint32_t timeout_ms);
/* Receives until the peer's FIN (c->rlen bytes in c->rbuf), then sends ours. */
int net_tcp_recv_close(struct net_if *ni, struct tcp_conn *c, uint32_t timeout_ms);

#endif /* CVG_NET_H */
