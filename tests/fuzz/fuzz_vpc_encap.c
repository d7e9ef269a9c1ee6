/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the VPC card does first with a datagram from the underlay
 * (cards/vpc/encap.c, flow.c): VXLAN or Geneve decapsulation (vpc_decap),
 * then the inner frame's flow key (vpc_flow_parse) and the outer source
 * port its flow hashes to (vpc_encap_src_port); and the way back, an
 * encapsulated frame decapsulated again.
 *
 * Input: a byte (bit 0: Geneve, else VXLAN; bit 1: make an inner IPv4
 * header checksum right), a VNI (u32) for the round trip, then the UDP
 * payload: the rest of the input, its own exact-size heap block.
 *
 * Invariants beyond "no crash":
 *  - a decapsulated frame lies inside the datagram, ends where it ends,
 *    holds at least an Ethernet header, and has a 24-bit VNI; a refusal
 *    names a drop reason, a success none;
 *  - a parsed flow's L4 part lies inside the frame;
 *  - the source port is in the dynamic range (49152-65535);
 *  - encapsulating a frame with a valid VNI and decapsulating it gives
 *    back that VNI and that frame.
 */
#include <stdlib.h>

#include "cards/vpc/encap.h"
#include "cards/vpc/flow.h"
#include "tests/fuzz/vpc_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = fuzz_in(data, size);
	uint8_t how = fuzz_u8(&in);
	enum vpc_encap kind = how & 1 ? VPC_ENCAP_GENEVE : VPC_ENCAP_VXLAN;
	uint32_t vni = fuzz_u32(&in);
	size_t len;
	const uint8_t *bytes = fuzz_take(&in, in.n, &len);
	uint8_t *dgram = malloc(len ? len : 1), *again;
	struct vpc_decap d;
	struct vpc_flow fl;
	enum vpc_drop reason;

	FUZZ_CHECK(dgram);
	memcpy(dgram, bytes, len);
	if (how & 2 && len > VPC_ENCAP_HLEN)
		fuzz_vpc_fix_ipv4(dgram + VPC_ENCAP_HLEN, len - VPC_ENCAP_HLEN);
	if (vpc_decap(kind, dgram, len, &d, &reason)) {
		FUZZ_CHECK(reason != VPC_DROP_NONE);
		free(dgram);
		return 0;
	}
	FUZZ_CHECK(reason == VPC_DROP_NONE && d.vni <= VPC_VNI_MAX);
	FUZZ_CHECK(d.len >= ETH_HLEN && d.frame > dgram && d.frame + d.len == dgram + len);
	if (vpc_flow_parse(d.frame, d.len, &fl, &reason) == 0)
		FUZZ_CHECK((size_t)fl.l4_off + fl.l4_len <= d.len);
	FUZZ_CHECK(vpc_encap_src_port(d.frame, d.len) >= 49152);

	/* The way out: the same frame behind our own header. */
	again = malloc(VPC_ENCAP_HLEN + d.len);
	FUZZ_CHECK(again);
	if (vpc_encap_hdr(kind, vni, again) == 0) {
		memcpy(again + VPC_ENCAP_HLEN, d.frame, d.len);
		FUZZ_CHECK(vpc_decap(kind, again, VPC_ENCAP_HLEN + d.len, &d, &reason) == 0);
		FUZZ_CHECK(d.vni == vni && d.frame == again + VPC_ENCAP_HLEN);
	} else {
		FUZZ_CHECK(vni > VPC_VNI_MAX);
	}
	free(again);
	free(dgram);
	return 0;
}
