/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC's DHCP server (cards/vpc/dhcp.c, dhcp_answer) on any frame a
 * guest sends, for an ENI whose address, subnet, MTU and names vary too.
 *
 * Input: the ENI (tests/fuzz/vpc_env.h), a byte (bit 0: make the frame's
 * IPv4 header checksum right, so the parser behind it is reached), the
 * room for the reply (u16), then the frame: the rest of the input, its
 * own exact-size heap block.
 *
 * Invariants beyond "no crash":
 *  - a reply fits the room given and is an IPv4/UDP frame from the
 *    router's MAC, 67 -> 68, from the gateway, with a length and an IP
 *    and UDP checksum that verify (tests/fuzz/vpc_env.h);
 *  - its BOOTP part is a BOOTREPLY of at least 300 bytes with the magic
 *    cookie and the request's xid and chaddr (which is the ENI's MAC);
 *    its options run to an End inside the message and say OFFER, ACK
 *    or NAK; an OFFER gives the ENI's address, a NAK nothing.
 */
#include <errno.h>
#include <stdlib.h>

#include "cards/vpc/dhcp.h"
#include "tests/fuzz/vpc_env.h"

/* The reply's message type option; fails the input if the options are bad. */
static uint8_t reply_type(const uint8_t *opt, size_t len)
{
	uint8_t type = 0;
	size_t i = 0;

	while (i < len && opt[i] != DHCP_OPT_END) {
		if (opt[i] == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		FUZZ_CHECK(i + 2 <= len && i + 2 + opt[i + 1] <= len);
		if (opt[i] == DHCP_OPT_MSG_TYPE)
			type = opt[i + 2];
		i += 2 + (size_t)opt[i + 1];
	}
	FUZZ_CHECK(i < len);
	return type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[4096];
	struct fuzz_in in = fuzz_in(data, size);
	struct eni eni;
	size_t cap, len, l4_len;
	const uint8_t *bytes, *l4;
	const struct udp_hdr *udp;
	const struct dhcp_msg *m, *q;
	struct pkt_ipv4 p;
	uint8_t *frame, how, type;
	int r;

	fuzz_vpc_eni(&eni, &in);
	how = fuzz_u8(&in);
	cap = fuzz_u16(&in) % sizeof(reply);
	bytes = fuzz_take(&in, in.n, &len);
	frame = malloc(len ? len : 1);
	FUZZ_CHECK(frame);
	memcpy(frame, bytes, len);
	if (how & 1)
		fuzz_vpc_fix_ipv4(frame, len);

	r = dhcp_answer(&eni, frame, len, reply, cap);
	if (r <= 0) {
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EPERM || r == -ENOSPC);
		free(frame);
		return 0;
	}
	FUZZ_CHECK((size_t)r <= cap);
	l4 = fuzz_vpc_check_reply(&eni, reply, (size_t)r, IPPROTO_UDP_, &l4_len);
	udp = (const void *)l4;
	FUZZ_CHECK(l4_len >= sizeof(*udp) + 300 && ntohs(udp->len) == l4_len);
	FUZZ_CHECK(udp->sport == htons(DHCP_SERVER_PORT) && udp->dport == htons(DHCP_CLIENT_PORT));
	FUZZ_CHECK(((const struct ipv4_hdr *)(reply + ETH_HLEN))->saddr == eni.gateway);
	m = (const void *)(udp + 1);
	/* Answered, so the request holds a whole message behind its UDP header. */
	FUZZ_CHECK(pkt_ipv4_parse(frame, len, &p) == 0);
	q = (const void *)(p.l4 + sizeof(*udp));
	FUZZ_CHECK(m->op == DHCP_BOOTREPLY && m->cookie == htonl(DHCP_MAGIC_COOKIE));
	FUZZ_CHECK(m->xid == q->xid && !memcmp(m->chaddr, eni.mac, ETH_ALEN));
	type = reply_type((const uint8_t *)(m + 1), l4_len - sizeof(*udp) - sizeof(*m));
	FUZZ_CHECK(type == DHCPOFFER || type == DHCPACK || type == DHCPNAK);
	if (type == DHCPOFFER)
		FUZZ_CHECK(m->yiaddr == eni.ipv4);
	if (type == DHCPNAK)
		FUZZ_CHECK(m->yiaddr == 0 && m->ciaddr == 0);
	free(frame);
	return 0;
}
