/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC mapping table: where a private address lives on the underlay.
 * One file on one machine (an etcd prefix across many is the same table).
 *
 * One mapping per line, '#' starts a comment:
 *   VNI PRIVATE_IP UNDERLAY_IP[:PORT] [vxlan|geneve]
 * VNI is 0..16777215 (24 bits, RFC 7348 §5 / RFC 8926 §3.4); the
 * encapsulation defaults to vxlan, the port to the encapsulation's IANA
 * port (4789 or 6081).  A (VNI, private IP) pair appears once.
 */
#ifndef CV_VPC_MAPPING_H
#define CV_VPC_MAPPING_H

#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/encap.h"

#define VPC_MAPPING_MAX (1u << 20)

struct vpc_map_entry {
	uint32_t vni;
	uint32_t ip;              /* private address, network byte order */
	uint32_t underlay_ip;     /* network byte order */
	uint16_t port;            /* host byte order */
	enum vpc_encap encap;
	unsigned line;            /* where the file said so, for logs */
};

struct vpc_mapping {
	struct vpc_map_entry *e;  /* sorted by (vni, ip) */
	size_t n;
};

/*
 * Replace the table with the mappings in @text (@len bytes).  On error the
 * table is unchanged, -EINVAL (-E2BIG past VPC_MAPPING_MAX) is returned and
 * @err says "line N: why".
 */
int vpc_mapping_parse(struct vpc_mapping *m, const char *text, size_t len,
		      char *err, size_t errlen);
/* vpc_mapping_parse() on a file's contents; -errno if it cannot be read. */
int vpc_mapping_load(struct vpc_mapping *m, const char *path, char *err,
		     size_t errlen);
void vpc_mapping_free(struct vpc_mapping *m);

/* The mapping of private address @ip (network order) in @vni, or NULL. */
const struct vpc_map_entry *vpc_mapping_lookup(const struct vpc_mapping *m,
					       uint32_t vni, uint32_t ip);

#endif /* CV_VPC_MAPPING_H */
