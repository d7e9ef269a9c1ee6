/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VPC mapping table: where a private address lives on the underlay.
 * Filled from a file at start and/or by live updates from the host's fleet
 * agent over the card's control socket (mapping-set, mapping-remove,
 * mapping-prune: docs/vpc.md, docs/fleet.md).
 *
 * One mapping per line of the file, '#' starts a comment:
 *   VNI PRIVATE_IP UNDERLAY_IP[:PORT] [vxlan|geneve]
 * VNI is 0..16777215 (24 bits, RFC 7348 §5 / RFC 8926 §3.4); the
 * encapsulation defaults to vxlan, the port to the encapsulation's IANA
 * port (4789 or 6081).  A (VNI, private IP) pair appears once.
 *
 * An open-addressing hash table keyed by (VNI, private IP): linear
 * probing, deletion by backward shift (no tombstones, so lookups of absent
 * keys stay short however many updates came before), a power-of-two
 * capacity that doubles at 70% load.  The card is single-threaded (its
 * control socket is served from the same epoll loop as the datapath), so
 * updates and lookups need no lock.  A pointer vpc_mapping_lookup()
 * returns is valid until the next update.
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
	uint16_t port;            /* host byte order; never 0 (0 marks a free slot) */
	enum vpc_encap encap;
	unsigned line;            /* where the file said so, for logs; 0: a live update */
	uint64_t gen;             /* the update's generation (mapping-prune); 0 from the file */
};

struct vpc_mapping {
	struct vpc_map_entry *slot;  /* cap slots, free ones with port 0 */
	size_t cap;                  /* 0 or a power of two */
	size_t n;                    /* entries in use */
};

/*
 * Replace the table with the mappings in @text (@len bytes).  On error the
 * table is unchanged, -EINVAL (-E2BIG past VPC_MAPPING_MAX, -ENOMEM) is
 * returned and @err says "line N: why".
 */
int vpc_mapping_parse(struct vpc_mapping *m, const char *text, size_t len,
		      char *err, size_t errlen);
/* vpc_mapping_parse() on a file's contents; -errno if it cannot be read. */
int vpc_mapping_load(struct vpc_mapping *m, const char *path, char *err,
		     size_t errlen);
void vpc_mapping_free(struct vpc_mapping *m);

/*
 * The underlay half of a mapping as the file and the control socket both
 * spell it: @addr "a.b.c.d[:PORT]" and @encap "vxlan", "geneve" or NULL
 * (vxlan), into @e's underlay_ip, port (the encapsulation's IANA port
 * unless @addr names one) and encap.  0; -EINVAL for a bad address or
 * port; -EPROTONOSUPPORT for an unknown encapsulation.
 */
int vpc_mapping_parse_underlay(struct vpc_map_entry *e, const char *addr,
			       const char *encap);

/* The mapping of private address @ip (network order) in @vni, or NULL. */
const struct vpc_map_entry *vpc_mapping_lookup(const struct vpc_mapping *m,
					       uint32_t vni, uint32_t ip);
/*
 * Insert @e, or replace the entry with its (vni, ip) (an ENI that moved).
 * 0; -EINVAL for a VNI past 24 bits, port 0 or an unknown encapsulation;
 * -E2BIG when the table holds VPC_MAPPING_MAX entries already; -ENOMEM.
 * The table is unchanged on error.
 */
int vpc_mapping_set(struct vpc_mapping *m, const struct vpc_map_entry *e);
/* 1 when (@vni, @ip) was mapped and is no more, 0 when it was not mapped. */
int vpc_mapping_remove(struct vpc_mapping *m, uint32_t vni, uint32_t ip);
/* Removes every entry whose gen is below @below; how many. */
size_t vpc_mapping_prune(struct vpc_mapping *m, uint64_t below);

#endif /* CV_VPC_MAPPING_H */
