/* SPDX-License-Identifier: Apache-2.0 */
/*
 * VXLAN (RFC 7348) and Geneve (RFC 8926) encapsulation of the ENI's
 * Ethernet frames.  The outer IPv4 and UDP headers are the kernel's (the
 * card sends on an ordinary UDP socket), so encapsulating means writing the
 * 8-byte tunnel header that goes before the inner frame in the UDP payload,
 * and decapsulating means checking a received payload's tunnel header.
 */
#ifndef CV_VPC_ENCAP_H
#define CV_VPC_ENCAP_H

#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/counters.h"

#define VPC_VXLAN_PORT 4789       /* RFC 7348 §5, IANA */
#define VPC_GENEVE_PORT 6081      /* RFC 8926 §3.3, IANA */
#define VPC_ENCAP_HLEN 8          /* both base headers, Geneve without options */
#define VPC_VNI_MAX 0xffffffu
/* Geneve's protocol type for an Ethernet payload (RFC 8926 §3.4). */
#define ETH_P_TEB 0x6558

enum vpc_encap { VPC_ENCAP_VXLAN, VPC_ENCAP_GENEVE };

/* "vxlan" or "geneve" (an instance description, a mapping): 0 or -EINVAL. */
int vpc_encap_parse(const char *name, enum vpc_encap *kind);

/* RFC 7348 §5, "VXLAN Header". */
#define VXLAN_FLAG_I 0x08         /* VNI valid: the only flag defined */
struct vxlan_hdr {
	uint8_t flags;
	uint8_t reserved1[3];
	uint8_t vni[3];
	uint8_t reserved2;
} __attribute__((packed));

/* RFC 8926 §3.4, "Geneve Header". */
#define GENEVE_VER_SHIFT 6
#define GENEVE_OPT_LEN_MASK 0x3f  /* in 4-byte words */
#define GENEVE_FLAG_O 0x80        /* control (OAM) packet */
#define GENEVE_FLAG_C 0x40        /* critical options present */
struct geneve_hdr {
	uint8_t ver_opt_len;      /* Ver (2 bits) | Opt Len (6 bits) */
	uint8_t flags;            /* O | C | Rsvd (6 bits) */
	uint16_t protocol_type;
	uint8_t vni[3];
	uint8_t reserved;
} __attribute__((packed));

/* RFC 8926 §3.5, "Tunnel Options". */
#define GENEVE_OPT_TYPE_CRITICAL 0x80
#define GENEVE_OPT_LEN_MASK5 0x1f  /* data length in 4-byte words */
struct geneve_opt {
	uint16_t option_class;
	uint8_t type;
	uint8_t length;           /* R (3 bits) | Length (5 bits) */
} __attribute__((packed));

/*
 * Writes the tunnel header for @vni into @hdr; the inner frame follows it
 * in the UDP payload.  0, or -EINVAL for a VNI over 24 bits.
 */
int vpc_encap_hdr(enum vpc_encap kind, uint32_t vni,
		  uint8_t hdr[VPC_ENCAP_HLEN]);

/* A decapsulated frame: points into the datagram it came from. */
struct vpc_decap {
	uint32_t vni;
	const uint8_t *frame;
	size_t len;
};

/*
 * Checks the tunnel header of UDP payload @dgram and finds the inner frame.
 * 0, or -EINVAL with @reason: truncated, VXLAN flags or reserved bits set,
 * Geneve version != 0, options overrunning or malformed, an unknown
 * critical option, an OAM packet, a payload other than Ethernet.
 */
int vpc_decap(enum vpc_encap kind, const uint8_t *dgram, size_t len,
	      struct vpc_decap *out, enum vpc_drop *reason);

/*
 * The outer UDP source port for an inner frame: a hash of its flow (its
 * 5-tuple, or its MAC addresses if it is not IPv4) in the dynamic range
 * 49152-65535, as RFC 7348 §5 and RFC 8926 §3.3 recommend, so underlay
 * ECMP spreads flows while keeping each flow on one path.
 */
uint16_t vpc_encap_src_port(const uint8_t *frame, size_t len);

#endif /* CV_VPC_ENCAP_H */
