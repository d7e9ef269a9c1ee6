/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Security groups: the stateless half of the ENI's filter.  A rule allows
 * one direction, one protocol (tcp, udp, icmp or all), a port range or ICMP
 * type/code, and a remote CIDR; whatever no rule allows is denied.  The
 * stateful half (return traffic of allowed flows) is conntrack.h.
 *
 * Rule file, one rule per line, '#' starts a comment:
 *   DIR PROTO [SPEC] CIDR
 *   DIR   = ingress | egress          (ingress: towards the guest)
 *   PROTO = tcp | udp | icmp | all
 *   SPEC  = tcp/udp: PORT | LO-HI | all   (omitted: all ports)
 *           icmp:    TYPE | TYPE:CODE | all (omitted: all types)
 *           all:     none
 *   CIDR  = a.b.c.d/len or a.b.c.d (/32), host bits clear: the remote end,
 *           source for ingress, destination for egress.
 * Ports match the destination port: the guest's service for ingress, the
 * remote service for egress.
 */
#ifndef CV_VPC_SG_H
#define CV_VPC_SG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cards/vpc/flow.h"

enum vpc_dir {
	VPC_DIR_INGRESS,          /* underlay -> guest */
	VPC_DIR_EGRESS,           /* guest -> underlay */
};

enum vpc_sg_proto { VPC_SG_ALL, VPC_SG_TCP, VPC_SG_UDP, VPC_SG_ICMP };

#define VPC_SG_ANY (-1)           /* ICMP type or code wildcard */
#define VPC_SG_MAX_RULES 1024

struct vpc_sg_rule {
	enum vpc_dir dir;
	enum vpc_sg_proto proto;
	uint16_t port_lo, port_hi;  /* tcp/udp, inclusive */
	int16_t icmp_type, icmp_code;
	uint32_t net, mask;         /* host byte order */
};

struct vpc_sg {
	struct vpc_sg_rule *rules;
	size_t n;
};

/*
 * A new group holds the default rules, as a new AWS security group does:
 * all egress allowed, no ingress.
 */
int vpc_sg_init(struct vpc_sg *sg);
void vpc_sg_free(struct vpc_sg *sg);

/*
 * Replace the rules with the ones in @text (@len bytes; need not end in a
 * NUL).  The file is the whole rule set: without an egress line nothing
 * leaves.  On error the group is unchanged, -EINVAL (or -E2BIG past
 * VPC_SG_MAX_RULES) is returned and @err says "line N: why".
 */
int vpc_sg_parse(struct vpc_sg *sg, const char *text, size_t len, char *err,
		 size_t errlen);
/* vpc_sg_parse() on a file's contents; -errno if it cannot be read. */
int vpc_sg_load(struct vpc_sg *sg, const char *path, char *err, size_t errlen);

/* Whether any rule of direction @dir allows the IPv4 flow @fl. */
bool vpc_sg_allows(const struct vpc_sg *sg, enum vpc_dir dir,
		   const struct vpc_flow *fl);

#endif /* CV_VPC_SG_H */
