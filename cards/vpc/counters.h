/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Why the VPC card dropped a frame.  Every drop is counted under exactly one
 * reason so an operator can tell a malformed guest from a security-group
 * denial from a full connection table.
 */
#ifndef CV_VPC_COUNTERS_H
#define CV_VPC_COUNTERS_H

#define VPC_DROP_REASONS(X)                                                 \
	X(NONE, "none")                                                     \
	/* Frame parse (flow.c) */                                          \
	X(RUNT, "runt")                       /* shorter than Ethernet */   \
	X(ETHERTYPE, "ethertype")             /* not IPv4 or ARP */         \
	X(ARP_MALFORMED, "arp_malformed")     /* not Ethernet/IPv4 ARP */   \
	X(IP_TRUNC, "ip_trunc")               /* < 20 bytes of IPv4 */      \
	X(IP_VERSION, "ip_version")                                         \
	X(IP_IHL, "ip_ihl")                   /* IHL < 5 or past tot_len */ \
	X(IP_LEN, "ip_len")                   /* tot_len past the frame */  \
	X(IP_CSUM, "ip_csum")                                               \
	X(FRAG, "fragment")                   /* a non-first fragment */    \
	X(L4_TRUNC, "l4_trunc")               /* L4 header cut short */     \
	X(TCP_DOFF, "tcp_doff")                                             \
	X(UDP_LEN, "udp_len")                                               \
	/* Policy (sg.c, conntrack.c) */                                    \
	X(SG, "sg_denied")                    /* no rule allows it */       \
	X(TCP_FLAGS, "tcp_flags")             /* SYN+FIN, SYN+RST, none */ \
	X(CT_INVALID, "ct_invalid")           /* not valid for the state */ \
	X(CT_FULL, "ct_full")                 /* table full, none evictable */ \
	/* Encapsulation (encap.c) */                                       \
	X(ENCAP_TRUNC, "encap_trunc")                                       \
	X(VXLAN_FLAGS, "vxlan_flags")         /* I clear or other bits set */ \
	X(GENEVE_VERSION, "geneve_version")                                 \
	X(GENEVE_OPT, "geneve_opt")           /* option TLVs malformed */   \
	X(GENEVE_CRITICAL, "geneve_critical") /* critical option unknown */ \
	X(GENEVE_OAM, "geneve_oam")           /* O bit: control message */  \
	X(GENEVE_PROTO, "geneve_proto")       /* not Ethernet (0x6558) */   \
	X(VNI, "vni")                         /* not this ENI's VNI */      \
	X(NO_ROUTE, "no_route")               /* no mapping for the dest */ \
	/* Router (router.c) */                                             \
	X(SPOOF, "spoofed")                   /* guest's source not the ENI */ \
	X(LOCAL_MALFORMED, "local_malformed") /* bad ARP/DHCP/metadata frame */ \
	X(ARP_UNANSWERED, "arp_unanswered")   /* ARP the card need not relay */ \
	X(UNDERLAY_SPOOF, "underlay_spoof")   /* sender not the inner source's host */ \
	X(NOT_FOR_ENI, "not_for_eni")         /* inner destination not the ENI */ \
	X(TX_ERROR, "tx_error")               /* the underlay send failed */ \
	/* The guest's virtio-net header (offload.c, virtio 1.2 §5.1.6.2) */ \
	X(OFFLOAD_UNNEGOTIATED, "offload_unnegotiated") /* CSUM/TSO not negotiated */ \
	X(GSO_TYPE, "gso_type")               /* UDP, ECN or unknown: never offered */ \
	X(CSUM_RANGE, "csum_range")           /* csum_start/offset off the frame */ \
	X(GSO_HEADERS, "gso_headers")         /* not TCP over IPv4/IPv6, sane */ \
	X(GSO_SIZE, "gso_size")               /* 0, or too many segments */

#define VPC_DROP_ENUM_(name, str) VPC_DROP_##name,
enum vpc_drop { VPC_DROP_REASONS(VPC_DROP_ENUM_) VPC_DROP__COUNT };
#undef VPC_DROP_ENUM_

/* The reason's stable name, for logs and the card's counter dump. */
static inline const char *vpc_drop_name(enum vpc_drop r)
{
#define VPC_DROP_NAME_(name, str) [VPC_DROP_##name] = str,
	static const char *const names[] = { VPC_DROP_REASONS(VPC_DROP_NAME_) };
#undef VPC_DROP_NAME_
	return (unsigned)r < VPC_DROP__COUNT ? names[r] : "?";
}

#endif /* CV_VPC_COUNTERS_H */
