// SPDX-License-Identifier: Apache-2.0
#include "cards/vpc/router.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cards/vpc/arp.h"
#include "cards/vpc/dhcp.h"
#include "tools/lib/log.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int udp_socket(const struct sockaddr_in *bind_to)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (bind(fd, (const struct sockaddr *)bind_to, sizeof(*bind_to)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int vpc_router_init(struct vpc_router *r, const struct eni *eni, uint32_t vni,
		    enum vpc_encap encap, const struct sockaddr_in *underlay,
		    uint32_t conntrack_max, vpc_deliver_fn deliver, void *opaque)
{
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_addr = underlay->sin_addr };
	int ret;

	memset(r, 0, sizeof(*r));
	r->rx_fd = -1;
	for (unsigned i = 0; i < VPC_TX_SOCKETS; i++)
		r->tx_fd[i] = -1;
	r->eni = *eni;
	r->vni = vni;
	r->encap = encap;
	r->deliver = deliver;
	r->opaque = opaque;
	ret = vpc_filter_init(&r->filter, r->eni.id, conntrack_max, NULL);
	if (ret)
		return ret;
	ret = imds_init(&r->imds);
	if (ret)
		goto fail;
	r->rx_fd = udp_socket(underlay);
	if (r->rx_fd < 0) {
		ret = r->rx_fd;
		cv_err("eni %s: cannot bind the underlay socket to %s:%u: %s", eni->id,
		       inet_ntoa(underlay->sin_addr), ntohs(underlay->sin_port), strerror(-ret));
		goto fail;
	}
	for (unsigned i = 0; i < VPC_TX_SOCKETS; i++) {
		r->tx_fd[i] = udp_socket(&any);
		if (r->tx_fd[i] < 0) {
			ret = r->tx_fd[i];
			goto fail;
		}
	}
	return 0;
fail:
	vpc_router_destroy(r);
	return ret;
}

void vpc_router_destroy(struct vpc_router *r)
{
	if (r->rx_fd >= 0)
		close(r->rx_fd);
	for (unsigned i = 0; i < VPC_TX_SOCKETS; i++)
		if (r->tx_fd[i] >= 0)
			close(r->tx_fd[i]);
	r->rx_fd = -1;
	vpc_mapping_free(&r->map);
	vpc_filter_destroy(&r->filter);
}

/*
 * The IPv4 header of a frame with room for one, for the router's address
 * checks; the filter checks everything else about it (flow.c).
 */
static const struct ipv4_hdr *ipv4_of(const uint8_t *frame, size_t len)
{
	const struct eth_hdr *eth = (const void *)frame;

	return len >= ETH_HLEN + IPV4_HLEN && eth->type == htons(ETH_P_IPV4) ?
		       (const void *)(frame + ETH_HLEN) : NULL;
}

/* Why a frame without room for an IPv4 header is dropped. */
static enum vpc_drop non_ipv4_reason(const uint8_t *frame)
{
	return ((const struct eth_hdr *)frame)->type == htons(ETH_P_IPV4) ? VPC_DROP_IP_TRUNC
									  : VPC_DROP_ETHERTYPE;
}

static void drop(struct vpc_router *r, enum vpc_drop why)
{
	r->drops[why]++;
}

uint64_t vpc_router_drops(const struct vpc_router *r, enum vpc_drop reason)
{
	return r->drops[reason] + r->filter.drops[reason];
}

static void deliver(struct vpc_router *r, const uint8_t *frame, size_t len)
{
	/* vnet counts why a frame could not be delivered (no buffers, too big). */
	if (r->deliver(r->opaque, frame, len))
		r->stats.undeliverable++;
	else
		r->stats.delivered++;
}

/* Ping of the gateway: answered by the card, as the VPC router does. */
static int gateway_echo(struct vpc_router *r, const uint8_t *frame, size_t len)
{
	struct pkt_ipv4 p;
	const struct icmp_hdr *req;
	struct icmp_hdr *rep;
	size_t out;

	if (pkt_ipv4_parse(frame, len, &p) || p.ip->proto != IPPROTO_ICMP_ ||
	    p.ip->daddr != r->eni.gateway || p.l4_len < sizeof(*req))
		return 0;
	req = (const void *)p.l4;
	if (req->type != ICMP_ECHO_REQUEST || req->code ||
	    p.l4_len > sizeof(r->reply) - ETH_HLEN - IPV4_HLEN)
		return 0;
	memcpy(r->reply + ETH_HLEN + IPV4_HLEN, p.l4, p.l4_len);
	rep = (void *)(r->reply + ETH_HLEN + IPV4_HLEN);
	rep->type = ICMP_ECHO_REPLY;
	rep->csum = 0;
	rep->csum = pkt_csum_fold(pkt_csum_add(0, rep, p.l4_len));
	out = pkt_ipv4_build(r->reply, r->eni.mac, r->eni.router_mac, r->eni.gateway,
			     p.ip->saddr, IPPROTO_ICMP_, 64, p.l4_len);
	return (int)out;
}

/*
 * The card's own services.  > 0: a reply of that length is in r->reply;
 * 0: not for them; < 0: dropped (counted).
 */
static int local_services(struct vpc_router *r, const uint8_t *frame, size_t len)
{
	int n = arp_answer(&r->eni, frame, len, r->reply, sizeof(r->reply));

	if (!n)
		n = dhcp_answer(&r->eni, frame, len, r->reply, sizeof(r->reply));
	if (!n)
		n = gateway_echo(r, frame, len);
	if (!n) {
		n = imds_answer(&r->imds, &r->eni, frame, len, r->reply, sizeof(r->reply));
		/* A response may take several segments: send all but the last here. */
		while (n > 0) {
			int more = imds_next(&r->imds, &r->eni, r->frame, sizeof(r->frame));

			if (more <= 0)
				break;
			deliver(r, r->reply, (size_t)n);
			memcpy(r->reply, r->frame, (size_t)more);
			n = more;
		}
	}
	if (n == -EPERM)
		drop(r, VPC_DROP_SPOOF);
	else if (n < 0)
		drop(r, VPC_DROP_LOCAL_MALFORMED);
	return n;
}

static void encapsulate(struct vpc_router *r, const struct vpc_map_entry *to,
			const uint8_t *frame, size_t len)
{
	uint8_t hdr[VPC_ENCAP_HLEN];
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(to->port),
				   .sin_addr.s_addr = to->underlay_ip };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)frame, len } };
	struct msghdr msg = { .msg_name = &dst, .msg_namelen = sizeof(dst),
			      .msg_iov = iov, .msg_iovlen = 2 };
	int fd = r->tx_fd[vpc_encap_src_port(frame, len) % VPC_TX_SOCKETS];

	if (vpc_encap_hdr(to->encap, r->vni, hdr) || sendmsg(fd, &msg, 0) < 0) {
		cv_err_once("eni %s: sending to the underlay host %s:%u failed: %s", r->eni.id,
			    inet_ntoa(dst.sin_addr), to->port, strerror(errno));
		drop(r, VPC_DROP_TX_ERROR);
		return;
	}
	r->stats.encapsulated++;
}

void vpc_router_from_guest(void *opaque, const uint8_t *frame, size_t len)
{
	struct vpc_router *r = opaque;
	const struct eth_hdr *eth = (const void *)frame;
	const struct vpc_map_entry *to;
	const struct ipv4_hdr *ip;
	enum vpc_drop why;
	int n;

	r->stats.from_guest++;
	if (len < ETH_HLEN) {
		drop(r, VPC_DROP_RUNT);
		return;
	}
	if (memcmp(eth->src, r->eni.mac, ETH_ALEN)) {
		cv_err_once("eni %s: the guest sent a frame from another MAC", r->eni.id);
		drop(r, VPC_DROP_SPOOF);
		return;
	}
	n = local_services(r, frame, len);
	if (n > 0) {
		r->stats.answered++;
		deliver(r, r->reply, (size_t)n);
		return;
	}
	if (n < 0)
		return;
	if (eth->type == htons(ETH_P_ARP)) {
		/* The card answers every ARP the subnet needs; nothing to relay. */
		drop(r, VPC_DROP_ARP_UNANSWERED);
		return;
	}
	ip = ipv4_of(frame, len);
	if (!ip) {
		drop(r, non_ipv4_reason(frame));
		return;
	}
	/*
	 * The metadata address lives in the card: a segment its TCP endpoint
	 * needed no answer for (a last ACK) ends here, it is never routed.
	 */
	if (ip->daddr == htonl(IMDS_IPV4)) {
		r->stats.consumed++;
		return;
	}
	/* Before the filter: a forged source must not become a tracked flow. */
	if (ip->saddr != r->eni.ipv4) {
		cv_err_once("eni %s: the guest sent IPv4 from an address not its own", r->eni.id);
		drop(r, VPC_DROP_SPOOF);
		return;
	}
	if (vpc_filter(&r->filter, VPC_DIR_EGRESS, frame, len, now_ns(), &why))
		return;
	to = vpc_mapping_lookup(&r->map, r->vni, ip->daddr);
	if (!to) {
		drop(r, VPC_DROP_NO_ROUTE);
		return;
	}
	encapsulate(r, to, frame, len);
}

/* One datagram from the underlay, from @from. */
static void from_underlay(struct vpc_router *r, const uint8_t *dgram, size_t len,
			  const struct sockaddr_in *from)
{
	const struct vpc_map_entry *src;
	const struct ipv4_hdr *ip;
	struct vpc_decap d;
	struct eth_hdr *eth;
	enum vpc_drop why;

	r->stats.from_underlay++;
	if (vpc_decap(r->encap, dgram, len, &d, &why)) {
		drop(r, why);
		return;
	}
	if (d.vni != r->vni) {
		drop(r, VPC_DROP_VNI);
		return;
	}
	if (d.len < ETH_HLEN) {
		drop(r, VPC_DROP_RUNT);
		return;
	}
	/* Only IPv4 crosses the underlay: the card answers ARP on both sides. */
	ip = ipv4_of(d.frame, d.len);
	if (!ip) {
		drop(r, non_ipv4_reason(d.frame));
		return;
	}
	/* Only the host that owns the inner source address may send for it. */
	src = vpc_mapping_lookup(&r->map, r->vni, ip->saddr);
	if (!src || src->underlay_ip != from->sin_addr.s_addr) {
		cv_err_once("eni %s: underlay host %s sent for an address it does not own",
			    r->eni.id, inet_ntoa(from->sin_addr));
		drop(r, VPC_DROP_UNDERLAY_SPOOF);
		return;
	}
	if (ip->daddr != r->eni.ipv4) {
		drop(r, VPC_DROP_NOT_FOR_ENI);
		return;
	}
	/* From the VPC router to the ENI, whatever the sender's MACs were. */
	memcpy(r->frame, d.frame, d.len);
	eth = (void *)r->frame;
	memcpy(eth->dst, r->eni.mac, ETH_ALEN);
	memcpy(eth->src, r->eni.router_mac, ETH_ALEN);
	if (vpc_filter(&r->filter, VPC_DIR_INGRESS, r->frame, d.len, now_ns(), &why))
		return;
	deliver(r, r->frame, d.len);
}

void vpc_router_from_underlay(struct vpc_router *r)
{
	/* A bounded batch, so the guest's queues get their turn too. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t flen = sizeof(from);
		ssize_t n = recvfrom(r->rx_fd, r->dgram, sizeof(r->dgram), MSG_TRUNC,
				     (struct sockaddr *)&from, &flen);

		if (n < 0)
			return;
		if ((size_t)n > sizeof(r->dgram)) {
			drop(r, VPC_DROP_ENCAP_TRUNC);
			continue;
		}
		from_underlay(r, r->dgram, (size_t)n, &from);
	}
}
