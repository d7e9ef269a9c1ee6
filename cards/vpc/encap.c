/* SPDX-License-Identifier: Apache-2.0 */
/* VXLAN and Geneve tunnel headers: build, check, outer source port. */
#include "cards/vpc/encap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "cards/vpc/flow.h"
#include "cards/vpc/pkt.h"

#define DYNAMIC_PORT_BASE 49152   /* RFC 6335 §6 */

static void put_vni(uint8_t out[3], uint32_t vni)
{
	out[0] = (uint8_t)(vni >> 16);
	out[1] = (uint8_t)(vni >> 8);
	out[2] = (uint8_t)vni;
}

static uint32_t get_vni(const uint8_t in[3])
{
	return (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];
}

int vpc_encap_parse(const char *name, enum vpc_encap *kind)
{
	if (!strcmp(name, "vxlan"))
		*kind = VPC_ENCAP_VXLAN;
	else if (!strcmp(name, "geneve"))
		*kind = VPC_ENCAP_GENEVE;
	else
		return -EINVAL;
	return 0;
}

int vpc_encap_hdr(enum vpc_encap kind, uint32_t vni,
		  uint8_t hdr[VPC_ENCAP_HLEN])
{
	if (vni > VPC_VNI_MAX)
		return -EINVAL;
	memset(hdr, 0, VPC_ENCAP_HLEN);
	if (kind == VPC_ENCAP_VXLAN) {
		struct vxlan_hdr *vx = (void *)hdr;

		vx->flags = VXLAN_FLAG_I;
		put_vni(vx->vni, vni);
	} else {
		struct geneve_hdr *gn = (void *)hdr;

		/* Version 0, no options, not OAM, nothing critical. */
		gn->protocol_type = htons(ETH_P_TEB);
		put_vni(gn->vni, vni);
	}
	return 0;
}

static int drop(enum vpc_drop *reason, enum vpc_drop why)
{
	*reason = why;
	return -EINVAL;
}

/*
 * RFC 7348 §5 says reserved bits are ignored on receipt; like Linux's
 * vxlan_rcv() we refuse them instead: a set bit means an extension (GBP,
 * GPE's next protocol) whose payload we would misread as Ethernet.
 */
static int vxlan_check(const uint8_t *dgram, uint32_t *vni,
		       enum vpc_drop *reason)
{
	const struct vxlan_hdr *vx = (const void *)dgram;

	if (vx->flags != VXLAN_FLAG_I || vx->reserved1[0] ||
	    vx->reserved1[1] || vx->reserved1[2] || vx->reserved2)
		return drop(reason, VPC_DROP_VXLAN_FLAGS);
	*vni = get_vni(vx->vni);
	return 0;
}

/* RFC 8926 §3.5: the options must tile Opt Len exactly; we know none. */
static int geneve_options(const uint8_t *p, size_t len, enum vpc_drop *reason)
{
	while (len) {
		const struct geneve_opt *opt = (const void *)p;
		size_t olen;

		if (len < sizeof(*opt))
			return drop(reason, VPC_DROP_GENEVE_OPT);
		olen = sizeof(*opt) + (size_t)(opt->length & GENEVE_OPT_LEN_MASK5) * 4;
		if (olen > len)
			return drop(reason, VPC_DROP_GENEVE_OPT);
		/* §3.5.1: an unknown critical option MUST cause a drop. */
		if (opt->type & GENEVE_OPT_TYPE_CRITICAL)
			return drop(reason, VPC_DROP_GENEVE_CRITICAL);
		p += olen;
		len -= olen;
	}
	return 0;
}

/* RFC 8926 §3.4; Rsvd fields are ignored on receipt, as it says. */
static int geneve_check(const uint8_t *dgram, size_t len, size_t *hlen,
			uint32_t *vni, enum vpc_drop *reason)
{
	const struct geneve_hdr *gn = (const void *)dgram;
	size_t opt_len = (size_t)(gn->ver_opt_len & GENEVE_OPT_LEN_MASK) * 4;

	/* §3.4: "packets ... with an unknown version MUST be dropped". */
	if (gn->ver_opt_len >> GENEVE_VER_SHIFT)
		return drop(reason, VPC_DROP_GENEVE_VERSION);
	if (sizeof(*gn) + opt_len > len)
		return drop(reason, VPC_DROP_GENEVE_OPT);
	/* Control messages belong to a control plane this card lacks. */
	if (gn->flags & GENEVE_FLAG_O)
		return drop(reason, VPC_DROP_GENEVE_OAM);
	if (ntohs(gn->protocol_type) != ETH_P_TEB)
		return drop(reason, VPC_DROP_GENEVE_PROTO);
	if (geneve_options(dgram + sizeof(*gn), opt_len, reason))
		return -EINVAL;
	*vni = get_vni(gn->vni);
	*hlen = sizeof(*gn) + opt_len;
	return 0;
}

int vpc_decap(enum vpc_encap kind, const uint8_t *dgram, size_t len,
	      struct vpc_decap *out, enum vpc_drop *reason)
{
	size_t hlen = VPC_ENCAP_HLEN;
	int ret;

	*reason = VPC_DROP_NONE;
	if (len < VPC_ENCAP_HLEN)
		return drop(reason, VPC_DROP_ENCAP_TRUNC);
	ret = kind == VPC_ENCAP_VXLAN
		      ? vxlan_check(dgram, &out->vni, reason)
		      : geneve_check(dgram, len, &hlen, &out->vni, reason);
	if (ret)
		return ret;
	if (len - hlen < ETH_HLEN)
		return drop(reason, VPC_DROP_ENCAP_TRUNC);
	out->frame = dgram + hlen;
	out->len = len - hlen;
	return 0;
}

uint16_t vpc_encap_src_port(const uint8_t *frame, size_t len)
{
	/*
	 * A fixed key: the port spreads flows over paths, nobody gains by
	 * predicting it, and a restarted card keeps each flow on its path.
	 */
	static const struct vpc_hash_secret spread = {
		0x6361726476697372ULL, 0x7670632d73706f72ULL,
	};
	struct vpc_flow_key k = { 0 };
	struct vpc_flow fl;
	enum vpc_drop reason;

	if (!vpc_flow_parse(frame, len, &fl, &reason) &&
	    fl.ethertype == ETH_P_IPV4) {
		k = fl.key;
	} else if (len >= 12) {
		/* Not IPv4: its MAC addresses name the conversation. */
		memcpy(&k.saddr, frame, 4);
		memcpy(&k.daddr, frame + 6, 4);
		k.sport = (uint16_t)(frame[4] << 8 | frame[5]);
		k.dport = (uint16_t)(frame[10] << 8 | frame[11]);
	}
	return (uint16_t)(DYNAMIC_PORT_BASE +
			  vpc_flow_hash(&k, &spread) % (65536 - DYNAMIC_PORT_BASE));
}
