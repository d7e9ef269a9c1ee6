/* SPDX-License-Identifier: Apache-2.0 */
#include "cards/vpc/dhcp.h"

#include <errno.h>
#include <string.h>

#include "tools/lib/log.h"

#define DHCP_BROADCAST_IP 0xffffffffu
/* RFC 1542 §2.1: BOOTP messages are at least 300 bytes (a 64-byte vend). */
#define BOOTP_MIN_LEN 300
/* RFC 2131 §2: every client accepts 312 bytes of options (576-byte IP). */
#define DHCP_OPTIONS_MAX 312
#define DHCP_HDR_LEN (ETH_HLEN + IPV4_HLEN + (int)sizeof(struct udp_hdr))

/* The options of one request the server acts on; NULL when absent. */
struct dhcp_req {
	const struct dhcp_msg *msg;
	uint8_t type;
	const uint8_t *requested_ip;    /* 4 bytes, unaligned */
	const uint8_t *server_id;
};

static const uint8_t eth_broadcast[ETH_ALEN] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};

/*
 * RFC 2132 §2: options are code, length, data, except Pad (0) and End
 * (255).  An option whose length runs past the message is malformed; a
 * message without End ends where the UDP payload does.
 */
static int dhcp_parse_options(const uint8_t *opt, size_t len,
			      struct dhcp_req *req)
{
	size_t i = 0;

	while (i < len && opt[i] != DHCP_OPT_END) {
		uint8_t code = opt[i], olen;

		if (code == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		if (i + 2 > len || i + 2 + opt[i + 1] > len)
			return -EINVAL;
		olen = opt[i + 1];
		switch (code) {
		case DHCP_OPT_MSG_TYPE:
			if (olen != 1)
				return -EINVAL;
			req->type = opt[i + 2];
			break;
		case DHCP_OPT_REQUESTED_IP:
		case DHCP_OPT_SERVER_ID:
			if (olen != 4)
				return -EINVAL;
			if (code == DHCP_OPT_REQUESTED_IP)
				req->requested_ip = &opt[i + 2];
			else
				req->server_id = &opt[i + 2];
			break;
		}
		i += 2 + (size_t)olen;
	}
	return req->type ? 0 : -EINVAL;
}

static uint32_t get_ip(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

struct dhcp_opts {
	uint8_t buf[DHCP_OPTIONS_MAX];
	size_t len;
};

static void opt_put(struct dhcp_opts *o, uint8_t code, const void *data,
		    size_t len)
{
	/* Callers stay far below the 312 bytes; a long string is cut. */
	if (len > 255)
		len = 255;
	if (len == 0 || o->len + 2 + len > sizeof(o->buf) - 1)
		return;
	o->buf[o->len] = code;
	o->buf[o->len + 1] = (uint8_t)len;
	memcpy(&o->buf[o->len + 2], data, len);
	o->len += 2 + len;
}

static void opt_put32(struct dhcp_opts *o, uint8_t code, uint32_t be)
{
	opt_put(o, code, &be, 4);
}

/* The lease and the network's configuration (RFC 2132 §3-§5, §9). */
static void dhcp_put_config(const struct eni *eni, struct dhcp_opts *o,
			    bool lease)
{
	uint16_t mtu = htons(eni->mtu);

	if (lease) {
		opt_put32(o, DHCP_OPT_LEASE_TIME, htonl(DHCP_LEASE_SECS));
		opt_put32(o, DHCP_OPT_T1, htonl(DHCP_LEASE_SECS / 2));
		opt_put32(o, DHCP_OPT_T2, htonl(DHCP_LEASE_SECS / 8 * 7));
	}
	opt_put32(o, DHCP_OPT_SUBNET_MASK, eni_netmask(eni));
	opt_put32(o, DHCP_OPT_BROADCAST, eni->subnet | ~eni_netmask(eni));
	opt_put32(o, DHCP_OPT_ROUTER, eni->gateway);
	opt_put32(o, DHCP_OPT_DNS, eni->dns);
	opt_put(o, DHCP_OPT_HOSTNAME, eni->hostname,
		strnlen(eni->hostname, sizeof(eni->hostname)));
	opt_put(o, DHCP_OPT_DOMAIN_NAME, eni->domain,
		strnlen(eni->domain, sizeof(eni->domain)));
	opt_put(o, DHCP_OPT_MTU, &mtu, 2);
}

/*
 * The reply to @req of @type.  Addressing follows RFC 2131 §4.1: NAKs are
 * broadcast; a client with an address (ciaddr: RENEWING, REBINDING,
 * INFORM) gets unicast to it; otherwise broadcast if the client set the
 * BROADCAST flag (it cannot receive unicast before it has an address),
 * else unicast to yiaddr and chaddr.
 */
static int dhcp_reply(const struct eni *eni, const struct dhcp_req *req,
		      uint8_t type, uint8_t *reply, size_t cap)
{
	const struct dhcp_msg *in = req->msg;
	struct dhcp_opts o = { .len = 0 };
	struct dhcp_msg *out;
	struct udp_hdr *udp;
	size_t payload, l4;
	const uint8_t *dst_mac = in->chaddr;
	uint32_t dst_ip;

	opt_put(&o, DHCP_OPT_MSG_TYPE, &type, 1);
	opt_put32(&o, DHCP_OPT_SERVER_ID, eni->gateway);
	if (type == DHCPNAK) {
		static const char why[] = "requested address is not this ENI's";

		opt_put(&o, DHCP_OPT_MESSAGE, why, sizeof(why) - 1);
	} else {
		dhcp_put_config(eni, &o, req->type != DHCPINFORM);
	}
	o.buf[o.len++] = DHCP_OPT_END;

	payload = sizeof(*out) + o.len;
	if (payload < BOOTP_MIN_LEN)
		payload = BOOTP_MIN_LEN;
	l4 = sizeof(*udp) + payload;
	if (cap < DHCP_HDR_LEN + payload)
		return -ENOSPC;

	/* RFC 2131 §4.3.1 Table 3: the fields of OFFER, ACK and NAK. */
	out = (void *)(reply + DHCP_HDR_LEN);
	memset(out, 0, payload);
	out->op = DHCP_BOOTREPLY;
	out->htype = ARP_HTYPE_ETHER;
	out->hlen = ETH_ALEN;
	out->xid = in->xid;
	out->flags = in->flags;
	out->giaddr = in->giaddr;
	memcpy(out->chaddr, in->chaddr, sizeof(out->chaddr));
	out->cookie = htonl(DHCP_MAGIC_COOKIE);
	memcpy(out + 1, o.buf, o.len);
	if (type != DHCPNAK) {
		out->ciaddr = in->ciaddr;
		if (req->type != DHCPINFORM)
			out->yiaddr = eni->ipv4;
	}

	if (type == DHCPNAK) {
		dst_ip = DHCP_BROADCAST_IP;
		dst_mac = eth_broadcast;
	} else if (in->ciaddr) {
		dst_ip = in->ciaddr;
	} else if (in->flags & htons(DHCP_FLAG_BROADCAST)) {
		dst_ip = DHCP_BROADCAST_IP;
		dst_mac = eth_broadcast;
	} else {
		dst_ip = out->yiaddr;
	}

	udp = (void *)(reply + ETH_HLEN + IPV4_HLEN);
	*udp = (struct udp_hdr){
		.sport = htons(DHCP_SERVER_PORT),
		.dport = htons(DHCP_CLIENT_PORT),
		.len = htons((uint16_t)l4),
	};
	udp->csum = pkt_l4_csum(eni->gateway, dst_ip, IPPROTO_UDP_, udp, l4);
	if (udp->csum == 0)
		udp->csum = 0xffff;    /* RFC 768: 0 means "no checksum" */
	return (int)pkt_ipv4_build(reply, dst_mac, eni->router_mac,
				   eni->gateway, dst_ip, IPPROTO_UDP_, 64, l4);
}

/* RFC 2131 §4.3.2: which state the client is in decides the check. */
static int dhcp_request(const struct eni *eni, const struct dhcp_req *req,
			uint8_t *reply, size_t cap)
{
	uint32_t want;

	if (req->server_id) {
		/* SELECTING: a REQUEST naming another server declines us. */
		if (get_ip(req->server_id) != eni->gateway)
			return 0;
		if (!req->requested_ip)
			return -EINVAL;
		want = get_ip(req->requested_ip);
	} else if (req->requested_ip) {
		want = get_ip(req->requested_ip);   /* INIT-REBOOT */
	} else if (req->msg->ciaddr) {
		want = req->msg->ciaddr;            /* RENEWING, REBINDING */
	} else {
		return -EINVAL;
	}
	if (want != eni->ipv4) {
		cv_err_once("vpc %s: DHCP client asked for an address not its "
			    "own, NAK", eni->id);
		return dhcp_reply(eni, req, DHCPNAK, reply, cap);
	}
	return dhcp_reply(eni, req, DHCPACK, reply, cap);
}

int dhcp_answer(const struct eni *eni, const uint8_t *frame, size_t len,
		uint8_t *reply, size_t cap)
{
	struct dhcp_req req = { .msg = NULL };
	const struct udp_hdr *udp;
	const struct dhcp_msg *msg;
	struct pkt_ipv4 p;
	size_t ulen;
	int r;

	r = pkt_ipv4_parse(frame, len, &p);
	if (r)
		return r < 0 ? r : 0;
	if (p.ip->proto != IPPROTO_UDP_ || p.l4_len < sizeof(*udp))
		return 0;
	udp = (const void *)p.l4;
	if (udp->dport != htons(DHCP_SERVER_PORT) ||
	    (p.ip->daddr != DHCP_BROADCAST_IP && p.ip->daddr != eni->gateway))
		return 0;

	/*
	 * The UDP checksum is not verified here: a guest using checksum
	 * offload leaves only the pseudo-header sum (virtio 1.2 §5.1.6.2),
	 * and the datapath has already completed or checked it.
	 */
	ulen = ntohs(udp->len);
	if (ulen < sizeof(*udp) || ulen > p.l4_len ||
	    ulen - sizeof(*udp) < sizeof(*msg))
		goto malformed;
	msg = (const void *)(udp + 1);
	if (msg->op != DHCP_BOOTREQUEST || msg->htype != ARP_HTYPE_ETHER ||
	    msg->hlen != ETH_ALEN || msg->cookie != htonl(DHCP_MAGIC_COOKIE))
		goto malformed;
	req.msg = msg;
	if (dhcp_parse_options((const uint8_t *)(msg + 1),
			       ulen - sizeof(*udp) - sizeof(*msg), &req))
		goto malformed;
	if (memcmp(msg->chaddr, eni->mac, ETH_ALEN)) {
		cv_err_once("vpc %s: DHCP request from a client other than the "
			    "ENI", eni->id);
		return -EPERM;
	}
	if (msg->giaddr) {
		/* No relay agent sits between an ENI and its VPC router. */
		cv_err_once("vpc %s: relayed DHCP request ignored", eni->id);
		return 0;
	}

	switch (req.type) {
	case DHCPDISCOVER:
		return dhcp_reply(eni, &req, DHCPOFFER, reply, cap);
	case DHCPREQUEST:
		return dhcp_request(eni, &req, reply, cap);
	case DHCPINFORM:
		/* §4.4.3: an INFORM comes from the client's own address. */
		if (msg->ciaddr != eni->ipv4) {
			cv_err_once("vpc %s: DHCPINFORM from an address not "
				    "the ENI's", eni->id);
			return -EPERM;
		}
		return dhcp_reply(eni, &req, DHCPACK, reply, cap);
	case DHCPDECLINE:
		/* The guest saw its address in use: a mapping table error. */
		cv_err_once("vpc %s: guest declined its DHCP address", eni->id);
		return 0;
	case DHCPRELEASE:
		/* The lease is the ENI's for life; nothing to free. */
		return 0;
	}
malformed:
	cv_err_once("vpc %s: malformed DHCP message from the guest", eni->id);
	return -EINVAL;
}
