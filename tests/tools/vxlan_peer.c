/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VXLAN/Geneve endpoint built on cards/vpc/encap.c, for the integration
 * tests: it sends an encapsulated ARP request or ICMP echo request to a
 * tunnel peer (the Linux kernel's vxlan device) and checks, with our
 * decapsulation, the answer that comes back.
 *
 * usage: vxlan_peer [options] arp|ping|send
 *   --bind IP        our underlay address; we listen on IP:--port
 *   --peer IP        the tunnel peer's underlay address
 *   --port N         destination UDP port (default 4789, or 6081 with --geneve)
 *   --geneve         Geneve instead of VXLAN
 *   --vni N          (default 42)
 *   --ip IP          our inner address;  --target IP  the peer's inner address
 *   --timeout S      give up after S seconds (default 5)
 * arp:  ARP request for --target (repeated each second, like arping),
 *       expects the reply (prints the MAC).
 * ping: arp, then an ICMP echo request (repeated likewise), expects the echo reply with right
 *       id, seq, payload and checksums.  ARP requests for --ip are answered.
 * send: send one ARP request and one echo request and exit (for captures).
 * The outer source port is the inner flow's hash (RFC 7348 §5).
 * Exit status 0 on success, 1 on failure, 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cards/vpc/encap.h"
#include "cards/vpc/flow.h"
#include "tests/tools/vpc_frames.h"

#define ECHO_ID 0xc0de
#define ECHO_SEQ 1
#define ECHO_PAYLOAD 56

static struct {
	enum vpc_encap kind;
	uint32_t vni;
	struct sockaddr_in bind, peer;
	uint32_t ip, target;          /* host order */
	int timeout_s;
	int fd;
	uint8_t mac[ETH_ALEN];
	uint8_t target_mac[ETH_ALEN];
} cfg = { .vni = 42, .timeout_s = 5 };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Sends @frame to the peer.  The source port is the flow's hash: a socket
 * bound to it for this datagram, or the listening socket if that port is
 * taken.
 */
static int send_frame(const uint8_t *frame, size_t len)
{
	uint8_t hdr[VPC_ENCAP_HLEN];
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)frame, len } };
	struct msghdr msg = {
		.msg_name = &cfg.peer, .msg_namelen = sizeof(cfg.peer),
		.msg_iov = iov, .msg_iovlen = 2,
	};
	struct sockaddr_in src = cfg.bind;
	int fd, ret = 0;

	if (vpc_encap_hdr(cfg.kind, cfg.vni, hdr))
		return -EINVAL;
	src.sin_port = htons(vpc_encap_src_port(frame, len));
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (void *)&src, sizeof(src))) {
		if (fd >= 0)
			close(fd);
		fd = cfg.fd;
	}
	if (sendmsg(fd, &msg, 0) != (ssize_t)(sizeof(hdr) + len))
		ret = -errno;
	if (fd != cfg.fd)
		close(fd);
	return ret;
}

static int send_arp(uint16_t op, const uint8_t *tha, uint32_t tpa)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_arp(f, op, cfg.mac, cfg.ip, tha, tpa);

	return send_frame(f, len);
}

static int send_echo(void)
{
	uint8_t f[VF_FRAME_MAX];
	size_t len = vf_icmp_echo(f, cfg.ip, cfg.target, ICMP_ECHO_REQUEST,
				  ECHO_ID, ECHO_SEQ, ECHO_PAYLOAD);
	struct eth_hdr *eth = (void *)f;

	memcpy(eth->dst, cfg.target_mac, ETH_ALEN);
	memcpy(eth->src, cfg.mac, ETH_ALEN);
	return send_frame(f, len);
}

/* ARP requests for our address get an answer, as a real host's would. */
static void answer_arp(const uint8_t *f, size_t len)
{
	const struct arp_hdr *arp = (const void *)(f + ETH_HLEN);

	if (len >= ETH_HLEN + sizeof(*arp) &&
	    ntohs(arp->op) == ARP_OP_REQUEST && ntohl(arp->tpa) == cfg.ip)
		send_arp(ARP_OP_REPLY, arp->sha, ntohl(arp->spa));
}

static bool is_arp_reply(const uint8_t *f, size_t len)
{
	const struct arp_hdr *arp = (const void *)(f + ETH_HLEN);

	if (len < ETH_HLEN + sizeof(*arp) ||
	    ntohs(arp->op) != ARP_OP_REPLY || ntohl(arp->spa) != cfg.target ||
	    ntohl(arp->tpa) != cfg.ip || memcmp(arp->tha, cfg.mac, ETH_ALEN))
		return false;
	memcpy(cfg.target_mac, arp->sha, ETH_ALEN);
	printf("arp: %s is at %02x:%02x:%02x:%02x:%02x:%02x vni %u\n",
	       inet_ntoa((struct in_addr){ arp->spa }), arp->sha[0],
	       arp->sha[1], arp->sha[2], arp->sha[3], arp->sha[4], arp->sha[5],
	       cfg.vni);
	return true;
}

/* The echo reply to our request, with both checksums right (RFC 1071). */
static bool is_echo_reply(const uint8_t *f, size_t len, const struct vpc_flow *fl)
{
	const struct ipv4_hdr *ip = (const void *)(f + ETH_HLEN);
	const struct icmp_hdr *ih = (const void *)(f + fl->l4_off);
	uint8_t want[VF_FRAME_MAX];
	size_t wlen = vf_icmp_echo(want, cfg.ip, cfg.target, ICMP_ECHO_REQUEST,
				   ECHO_ID, ECHO_SEQ, ECHO_PAYLOAD);

	(void)len;
	if (fl->key.proto != IPPROTO_ICMP_ || fl->icmp_type != ICMP_ECHO_REPLY ||
	    ntohl(ip->saddr) != cfg.target || ntohl(ip->daddr) != cfg.ip)
		return false;
	if (pkt_csum_fold(pkt_csum_add(0, ih, fl->l4_len)) != 0) {
		fprintf(stderr, "vxlan_peer: echo reply with a bad ICMP checksum\n");
		return false;
	}
	if (ntohs(ih->id) != ECHO_ID || ntohs(ih->seq) != ECHO_SEQ ||
	    fl->l4_len != wlen - ETH_HLEN - 20 ||
	    memcmp(ih + 1, want + ETH_HLEN + 20 + sizeof(*ih), ECHO_PAYLOAD)) {
		fprintf(stderr, "vxlan_peer: echo reply does not echo our request\n");
		return false;
	}
	printf("ping: echo reply from %s id 0x%x seq %u, %u bytes, vni %u, checksums ok\n",
	       inet_ntoa((struct in_addr){ ip->saddr }), ECHO_ID, ECHO_SEQ,
	       fl->l4_len, cfg.vni);
	return true;
}

enum want { WANT_ARP_REPLY, WANT_ECHO_REPLY };

static int send_request(enum want want)
{
	return want == WANT_ARP_REPLY
		       ? send_arp(ARP_OP_REQUEST, (uint8_t[ETH_ALEN]){ 0 }, cfg.target)
		       : send_echo();
}

/*
 * Sends the request for @want, once a second like arping and ping (the
 * first may meet a link still coming up), until the answer arrives or the
 * deadline passes.
 */
static int exchange(enum want want, uint64_t deadline)
{
	uint64_t resend = 0;
	uint8_t d[65536];

	for (;;) {
		struct pollfd pfd = { .fd = cfg.fd, .events = POLLIN };
		uint64_t t = now_ms(), until;
		struct vpc_decap dc;
		struct vpc_flow fl;
		enum vpc_drop reason;
		ssize_t n;

		if (t >= deadline)
			return -ETIMEDOUT;
		if (t >= resend) {
			int ret = send_request(want);

			if (ret)
				return ret;
			resend = t + 1000;
		}
		until = resend < deadline ? resend : deadline;
		if (poll(&pfd, 1, (int)(until - t)) <= 0)
			continue;
		n = recv(cfg.fd, d, sizeof(d), 0);
		if (n < 0)
			return -errno;
		if (vpc_decap(cfg.kind, d, (size_t)n, &dc, &reason)) {
			fprintf(stderr, "vxlan_peer: rejected a datagram: %s\n",
				vpc_drop_name(reason));
			return -EPROTO;
		}
		if (dc.vni != cfg.vni) {
			fprintf(stderr, "vxlan_peer: VNI %u, expected %u\n",
				dc.vni, cfg.vni);
			return -EPROTO;
		}
		if (vpc_flow_parse(dc.frame, dc.len, &fl, &reason))
			continue;       /* e.g. IPv6 neighbour discovery */
		if (fl.ethertype == ETH_P_ARP) {
			if (want == WANT_ARP_REPLY && is_arp_reply(dc.frame, dc.len))
				return 0;
			answer_arp(dc.frame, dc.len);
		} else if (want == WANT_ECHO_REPLY &&
			   is_echo_reply(dc.frame, dc.len, &fl)) {
			return 0;
		}
	}
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	sa->sin_family = AF_INET;
	return inet_pton(AF_INET, s, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: vxlan_peer --bind IP --peer IP --ip IP --target IP "
			"[--port N] [--geneve] [--vni N] [--timeout S] arp|ping|send\n");
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "peer", required_argument, NULL, 'p' },
		{ "port", required_argument, NULL, 'P' },
		{ "geneve", no_argument, NULL, 'g' },
		{ "vni", required_argument, NULL, 'v' },
		{ "ip", required_argument, NULL, 'i' },
		{ "target", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ 0 },
	};
	int c, port = 0, ret = 0;
	bool have_bind = false, have_peer = false;
	const char *cmd;
	uint64_t deadline;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'b': have_bind = !parse_addr(optarg, &cfg.bind); break;
		case 'p': have_peer = !parse_addr(optarg, &cfg.peer); break;
		case 'P': port = atoi(optarg); break;
		case 'g': cfg.kind = VPC_ENCAP_GENEVE; break;
		case 'v': cfg.vni = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'i': if (parse_ip(optarg, &cfg.ip)) return usage(); break;
		case 't': if (parse_ip(optarg, &cfg.target)) return usage(); break;
		case 'T': cfg.timeout_s = atoi(optarg); break;
		default: return usage();
		}
	}
	if (optind != argc - 1 || !have_bind || !have_peer || !cfg.ip ||
	    !cfg.target || port < 0 || port > 65535 || cfg.vni > VPC_VNI_MAX ||
	    cfg.timeout_s <= 0)
		return usage();
	cmd = argv[optind];
	if (!port)
		port = cfg.kind == VPC_ENCAP_GENEVE ? VPC_GENEVE_PORT : VPC_VXLAN_PORT;
	cfg.bind.sin_port = htons((uint16_t)port);
	cfg.peer.sin_port = htons((uint16_t)port);
	/* A locally administered MAC derived from our inner address. */
	cfg.mac[0] = 0x02;
	cfg.mac[1] = 0xcf;
	for (int i = 0; i < 4; i++)
		cfg.mac[2 + i] = (uint8_t)(cfg.ip >> (24 - 8 * i));

	cfg.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (cfg.fd < 0 || bind(cfg.fd, (void *)&cfg.bind, sizeof(cfg.bind))) {
		perror("vxlan_peer: bind");
		return 1;
	}
	deadline = now_ms() + (uint64_t)cfg.timeout_s * 1000;
	if (!strcmp(cmd, "send")) {
		memset(cfg.target_mac, 0xff, ETH_ALEN);
		ret = send_request(WANT_ARP_REPLY);
		if (!ret)
			ret = send_request(WANT_ECHO_REPLY);
	} else if (!strcmp(cmd, "arp") || !strcmp(cmd, "ping")) {
		ret = exchange(WANT_ARP_REPLY, deadline);
		if (!ret && !strcmp(cmd, "ping"))
			ret = exchange(WANT_ECHO_REPLY, deadline);
	} else {
		return usage();
	}
	if (ret) {
		fprintf(stderr, "vxlan_peer: %s: %s\n", cmd, strerror(-ret));
		return 1;
	}
	return 0;
}
